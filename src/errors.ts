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
    return `${where}${this.message}${this.hint ? `\n  hint: ${this.hint}` : ''}`;
  }
}

export function inputError(message: string, where: ErrorLocation = {}, hint?: string): FlowknnError {
  return new FlowknnError('input', message, { ...where, hint });
}

export function usageError(message: string, hint?: string): FlowknnError {
  return new FlowknnError('usage', message, { hint });
}

export function environmentError(message: string, hint?: string, cause?: unknown): FlowknnError {
  return new FlowknnError('environment', message, { hint, cause });
}

/** Shortens a raw line for an error message, so one huge line does not flood the terminal. */
export function excerpt(text: string, max = 120): string {
  const oneLine = text.replace(/\s+$/u, '');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}...`;
}
