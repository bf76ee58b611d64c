import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { environmentError, excerpt, inputError, usageError } from '../errors.js';
import { ensureDir } from '../io/atomic.js';
import { csvField } from '../io/csv.js';
import type { Reject } from './issues.js';

/**
 * Bad rows of big inputs: counted per file, a per-file threshold (a count or a fraction of the
 * data lines) that fails the file with a message naming it and its first bad lines, and a
 * rejects CSV (`file,line,reason,raw`) written under a temporary name and renamed into place
 * only when the run commits it, so a failed or interrupted run leaves no half-written file.
 *
 * Memory stays bounded whatever the number of bad rows: a file keeps only its first few
 * rejects (for the message); the others go straight to the sink.
 */

export type { Reject };

export interface RejectThreshold {
  /** Bad lines a file may have; one more fails it. Default 0 (any bad line fails the file),
   *  unless only `maxRejectFraction` is given. */
  maxRejects?: number;
  /** Largest share of a file's data lines (0..1) that may be bad; checked when the file ends. */
  maxRejectFraction?: number;
}

/** Where rejected rows go as they are found (a RejectsWriter, or a test's array). */
export interface RejectSink {
  add(reject: Reject): void;
}

/** How many of a file's first rejects the failure message lists. */
export const FIRST_REJECTS_SHOWN = 3;
const KEEP_FIRST = 10;

export function validateThreshold(t: RejectThreshold): void {
  if (t.maxRejects !== undefined && !(Number.isInteger(t.maxRejects) && t.maxRejects >= 0)) {
    throw usageError(`the reject limit must be a whole number >= 0, got ${t.maxRejects}`);
  }
  if (t.maxRejectFraction !== undefined && !(t.maxRejectFraction >= 0 && t.maxRejectFraction <= 1)) {
    throw usageError(`the reject fraction must be between 0 and 1, got ${t.maxRejectFraction}`);
  }
}

/** The rejects of one input file: counts them, keeps the first few, enforces the threshold. */
export class FileRejects {
  count = 0;
  /** The first rejects (at most 10), in order. */
  readonly first: Reject[] = [];
  private readonly maxCount: number;
  private readonly maxFraction: number | undefined;

  constructor(
    readonly file: string,
    threshold: RejectThreshold = {},
    private readonly sink?: RejectSink,
  ) {
    validateThreshold(threshold);
    this.maxFraction = threshold.maxRejectFraction;
    this.maxCount = threshold.maxRejects ?? (threshold.maxRejectFraction === undefined ? 0 : Number.POSITIVE_INFINITY);
  }

  /** Records a bad line; throws (failing the file) once there are more than the count allows. */
  add(line: number, reason: string, raw: string): void {
    const r: Reject = { file: this.file, line, reason, raw };
    this.count++;
    if (this.first.length < KEEP_FIRST) this.first.push(r);
    this.sink?.add(r);
    if (this.count > this.maxCount) {
      const what = this.maxCount === 0 ? 'a bad line (no bad lines allowed)' : `${this.count} bad lines, more than the ${this.maxCount} allowed`;
      throw this.failure(what, line);
    }
  }

  /** At the end of the file: the fraction check. `dataLines` counts good and bad data lines. */
  finish(dataLines: number): void {
    if (this.maxFraction === undefined || this.count === 0) return;
    const share = this.count / Math.max(1, dataLines);
    if (share > this.maxFraction) {
      throw this.failure(
        `${this.count} of ${dataLines} data lines are bad (${(share * 100).toPrecision(3)}%), more than the ${(this.maxFraction * 100).toPrecision(3)}% allowed`,
        this.first[0]?.line,
      );
    }
  }

  private failure(what: string, line: number | undefined) {
    const shown = this.first.slice(0, FIRST_REJECTS_SHOWN).map((r) => `line ${r.line}: ${r.reason}`);
    const more = this.count > shown.length ? `; ${this.count - shown.length} more` : '';
    const head = this.first[0];
    return inputError(
      `${what}; the file is not used. First bad lines: ${shown.join('; ')}${more}`,
      { file: this.file, line },
      head && head.raw.trim() !== '' ? `line ${head.line}: ${excerpt(head.raw, 100)}` : undefined,
    );
  }
}

export const REJECTS_HEADER = 'file,line,reason,raw';

export function rejectsCsvLine(r: Reject): string {
  return `${csvField(r.file)},${r.line},${csvField(r.reason)},${csvField(r.raw)}\n`;
}

/**
 * Writes the rejects CSV of a run. Lines go to a temporary file in the target's folder as
 * they come (64 KiB buffer); `commit` syncs and renames it to the target, `abort` removes it.
 * Until `commit` the target is untouched.
 */
export class RejectsWriter implements RejectSink {
  private fd: number | undefined;
  private buffer: string[] = [];
  private buffered = 0;
  count = 0;

  private constructor(
    readonly path: string,
    readonly tmp: string,
  ) {}

  static async open(path: string): Promise<RejectsWriter> {
    await ensureDir(dirname(path));
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const w = new RejectsWriter(path, tmp);
    try {
      w.fd = openSync(tmp, 'w');
    } catch (err) {
      throw environmentError(`cannot write the rejects file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose a writable folder', err);
    }
    w.push(`${REJECTS_HEADER}\n`);
    return w;
  }

  add(r: Reject): void {
    this.count++;
    this.push(rejectsCsvLine(r));
  }

  private push(line: string): void {
    if (this.fd === undefined) throw new Error(`rejects file ${this.path} is closed`);
    this.buffer.push(line);
    this.buffered += line.length;
    if (this.buffered >= 65536) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0 || this.fd === undefined) return;
    const data = Buffer.from(this.buffer.join(''), 'utf8');
    this.buffer = [];
    this.buffered = 0;
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off);
  }

  /** Writes what is buffered, then renames the file into place. */
  async commit(): Promise<void> {
    try {
      this.flush();
      if (this.fd !== undefined) {
        fsyncSync(this.fd);
        closeSync(this.fd);
        this.fd = undefined;
      }
      renameSync(this.tmp, this.path);
    } catch (err) {
      await this.abort();
      throw environmentError(`cannot write the rejects file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose a writable folder with free space', err);
    }
  }

  /** Drops the temporary file; the target stays as it was. */
  async abort(): Promise<void> {
    this.buffer = [];
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    rmSync(this.tmp, { force: true });
  }
}
