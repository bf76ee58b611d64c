/**
 * One error type for the whole tool. Every failure a user can cause or meet carries a kind,
 * which fixes the process exit status (see README "Exit codes"), and, where it comes from a
 * file, the file and line, so the message can say exactly where and what was expected.
 */

/** input: a file's content is wrong (the job ran, this input failed): exit 1.
 *  usage: a bad flag, argument, config value or missing path: exit 2.
 *  environment: something outside the data is missing or broken (a tool, a device, a
 *  writable folder): exit 3. */
export type ErrorKind = 'input' | 'usage' | 'environment';

export const EXIT_CODES: Readonly<Record<ErrorKind, number>> = {
  input: 1,
  usage: 2,
  environment: 3,
};

export interface ErrorLocation {
  file?: string;
  line?: number;
}

export class FlowknnError extends Error {
  readonly kind: ErrorKind;
  readonly file?: string;
  readonly line?: number;
  /** What the user can do about it, printed after the message. */
  readonly hint?: string;

  constructor(kind: ErrorKind, message: string, options: ErrorLocation & { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlowknnError';
    this.kind = kind;
    this.file = options.file;
    this.line = options.line;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** `file:line: message` (the form compilers use, so editors can jump to it). */
  format(): string {
    const where = this.file === undefined ? '' : this.line === undefined ? `${this.file}: ` : `${this.file}:${this.line}: `;
    return printable(`${where}${this.message}${this.hint ? `\n  hint: ${this.hint}` : ''}`);
  }
}

export function inputError(message: string, where: ErrorLocation = {}, hint?: string): FlowknnError {
  return new FlowknnError('input', message, { ...where, hint });
}

export function usageError(message: string, hint?: string): FlowknnError {
  return new FlowknnError('usage', message, { hint });
}

/**
 * A whole-number option checked against its range: the value, or a usage error naming the
 * option, the range (and what it counts, when `unit` says) and what it got.
 */
export function wholeNumber(option: string, value: number, min = -Infinity, max = Infinity, unit?: string): number {
  if (Number.isInteger(value) && value >= min && value <= max) return value;
  const what = unit === undefined ? 'a whole number' : `a whole number of ${unit}`;
  const range = Number.isFinite(max) ? ` from ${min} to ${max}` : Number.isFinite(min) ? ` >= ${min}` : '';
  throw usageError(`${option} must be ${what}${range}, got ${value}`);
}

/**
 * Why a file could not be opened or read, in the words every reader uses: "no such file", "is a
 * folder, expected a file", or "cannot read (CODE)".
 */
export function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a folder, expected a file';
  return `cannot read (${code ?? String(err)})`;
}

/** The usage error for an input file that could not be opened or read, naming the file. */
export function unreadableFile(file: string, err: unknown): FlowknnError {
  return new FlowknnError('usage', unreadable(err), { file });
}

export function environmentError(message: string, hint?: string, cause?: unknown): FlowknnError {
  return new FlowknnError('environment', message, { hint, cause });
}

/** The most characters of input an error message quotes: enough to recognise a line or a
 *  field, never a whole multi-megabyte field on someone's terminal. */
export const EXCERPT_MAX = 200;

/**
 * Input text as an error message quotes it: trailing white space dropped, control characters
 * (and the Unicode ones that reorder or break lines) written as escapes, so raw bytes from a file
 * never reach the terminal, and at most `max` characters (default EXCERPT_MAX) in all, ending in
 * "..." when cut. Works on the head of the text only, so a huge field costs no more than a short one.
 */
export function excerpt(text: string, max = EXCERPT_MAX): string {
  // Trailing white space is dropped as before; past a bound the text is cut anyway, and
  // trimming a huge field would cost time for nothing.
  const body = text.length <= 64 * max ? text.trimEnd() : text;
  const out: string[] = [];
  let length = 0;
  let cutAt = -1;
  for (let at = 0; at < body.length; ) {
    const cp = body.codePointAt(at)!;
    const ch = String.fromCodePoint(cp);
    const shown = visible(ch, cp);
    if (length + shown.length > max - 3 && cutAt < 0) cutAt = out.length;
    if (length + shown.length > max) return `${out.slice(0, cutAt).join('')}...`;
    out.push(shown);
    length += shown.length;
    at += ch.length;
  }
  return out.join('');
}

const ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides and
 *  isolates (which can make a terminal show text in another order than it is). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

function visible(ch: string, cp: number): string {
  if (!CONTROL.test(ch)) return ch;
  return ESCAPES[ch] ?? (cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`);
}

/** The longest line a message prints: a backstop for messages that quote input without excerpt. */
const MESSAGE_LINE_MAX = 2000;

/**
 * A message as it is printed: control characters other than line breaks escaped, and each line
 * cut at MESSAGE_LINE_MAX characters. Messages are meant to quote input through excerpt(); this
 * keeps a path that forgot from writing raw bytes or a whole field to the terminal.
 */
export function printable(message: string): string {
  return message
    .split('\n')
    .map((line) => {
      const cut = line.length > MESSAGE_LINE_MAX ? `${line.slice(0, MESSAGE_LINE_MAX)}... (${line.length - MESSAGE_LINE_MAX} more characters)` : line;
      return CONTROL.test(cut) ? Array.from(cut, (ch) => visible(ch, ch.codePointAt(0)!)).join('') : cut;
    })
    .join('\n');
}
