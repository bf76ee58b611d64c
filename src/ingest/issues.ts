import { excerpt, inputError } from '../errors.js';
import type { WallClockZone } from '../io/time-zone.js';

export interface ParseOptions {
  /**
   * How many bad lines a file may have before the whole file fails. 0 (the default) fails on
   * the first one: a training set or a report built on silently dropped rows is worse than an
   * error. Larger values keep the good rows and list the rejected ones.
   */
  maxRejects?: number;
  /** Where every rejected line goes as it is found (e.g. a RejectsWriter), besides `rejects`. */
  rejects?: { add(reject: Reject): void };
  /** The zone nfdump printed its local times in; absent: UTC. */
  zone?: WallClockZone;
}

export interface Reject {
  file: string;
  line: number;
  reason: string;
  raw: string;
}

/** Collects rejected lines of one file and decides when the file as a whole fails. */
export class LineIssues {
  readonly rejects: Reject[] = [];
  private readonly maxRejects: number;
  private readonly sink: ParseOptions['rejects'];

  constructor(
    readonly file: string,
    options: ParseOptions,
  ) {
    this.maxRejects = options.maxRejects ?? 0;
    this.sink = options.rejects;
  }

  reject(line: number, reason: string, raw: string, hint?: string): void {
    const r = { file: this.file, line, reason, raw };
    this.rejects.push(r);
    this.sink?.add(r);
    if (this.rejects.length > this.maxRejects) {
      const more = this.maxRejects > 0 ? ` (${this.rejects.length} bad lines, more than the ${this.maxRejects} allowed)` : '';
      throw inputError(`${reason}${more}`, { file: this.file, line }, hint ?? (raw.trim() ? `line: ${excerpt(raw, 100)}` : undefined));
    }
  }

  /**
   * An input with no rows at all is an error (it is empty, or not what the caller thinks),
   * unless nfdump itself said it found nothing (`empty`: `No matching flows`, or totals of 0).
   */
  finish(rows: number, expected: string, empty = false): void {
    if (rows === 0 && !empty) {
      const first = this.rejects[0];
      const why = first ? `all ${this.rejects.length} data lines were rejected (the first, line ${first.line}: ${first.reason})` : 'no data lines';
      throw inputError(`${why}; expected ${expected}`, { file: this.file, line: this.rejects[0]?.line });
    }
  }
}
