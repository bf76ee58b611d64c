import { excerpt, inputError } from '../../errors.js';

/**
 * nfdump's JSON outputs cut into their records, as bytes arrive. nfdump writes one JSON object
 * per record: `-o json` as a pretty-printed array (`[`, objects separated by `,`, `]`; 1.6 puts
 * the comma on a line of its own), `-o ndjson` (1.7.5+) and the JSON statistics one object per
 * line. When nothing matches it prints the bare line `No matching flows` where a record would
 * be, which is not JSON: so the output is not handed to a JSON parser whole. Each object is
 * found by its braces (strings and escapes respected) and parsed on its own; between objects
 * only `[`, `]`, `,`, blanks and that line may stand.
 */

/** Longest record accepted (a flow record is under 2 KiB). */
const MAX_OBJECT_BYTES = 1 << 20;
const NO_MATCH = /^\s*No match(?:ing|ed) flows\s*$/iu;

export interface JsonRecord {
  /** The parsed object, or the reason it is not one. */
  readonly value: Record<string, unknown> | { error: string };
  /** Line of its opening brace. */
  readonly line: number;
  /** Its text (for rejects). */
  readonly text: string;
}

export class JsonObjectSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private object: string[] = [];
  private objectBytes = 0;
  private objectLine = 0;
  private line = 1;
  /** Text between objects on the current line (must be blank, `[`, `]`, `,` or No matching flows). */
  private between = '';
  /** Set when the output said `No matching flows`. */
  noMatch = false;
  /** Records found so far. */
  count = 0;

  constructor(private readonly file: string) {}

  /** Feeds text; returns the records completed by it. */
  push(text: string): JsonRecord[] {
    const out: JsonRecord[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.depth === 0) {
        if (c === 0x7b) {
          // {
          this.checkBetween();
          this.depth = 1;
          this.objectLine = this.line;
          start = i;
          continue;
        }
        if (c === 0x0a) {
          this.checkBetween(true);
          this.line++;
          continue;
        }
        this.between += text[i];
        if (this.between.length > 200) this.checkBetween();
        continue;
      }
      if (c === 0x0a) this.line++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          this.object.push(text.slice(start, i + 1));
          out.push(this.finishObject());
          start = i + 1;
        }
      }
    }
    if (this.depth > 0) {
      this.object.push(text.slice(start));
      this.objectBytes += text.length - start;
      if (this.objectBytes > MAX_OBJECT_BYTES) {
        throw inputError(`a JSON record longer than ${MAX_OBJECT_BYTES} bytes: not nfdump JSON output`, { file: this.file, line: this.objectLine });
      }
    }
    return out;
  }

  /** The end of the output: an object still open was cut short. */
  end(): void {
    this.checkBetween(true);
    if (this.depth > 0) {
      throw inputError('the output ends inside a JSON record: cut short?', { file: this.file, line: this.objectLine });
    }
  }

  private finishObject(): JsonRecord {
    const text = this.object.join('');
    this.object = [];
    this.objectBytes = 0;
    this.depth = 0;
    this.count++;
    let value: JsonRecord['value'];
    try {
      const v = JSON.parse(text) as unknown;
      value = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { error: 'expected a JSON object' };
    } catch (err) {
      value = { error: `not valid JSON (${(err as Error).message})` };
    }
    return { value, line: this.objectLine, text };
  }

  private checkBetween(lineEnd = false): void {
    const t = this.between;
    if (lineEnd && NO_MATCH.test(t)) {
      this.noMatch = true;
      this.between = '';
      return;
    }
    // Partial text of a line may be the start of "No matching flows": wait for its end.
    if (!lineEnd && /^\s*No\b/iu.test(t) && t.length < 40) return;
    if (/^[\s[\],]*$/u.test(t)) {
      this.between = '';
      return;
    }
    throw inputError(`expected nfdump JSON records ({...}) separated by commas or new lines, got "${excerpt(t.trim(), 60)}"`, { file: this.file, line: this.line });
  }
}
