import { tableToIPC, type Table } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { environmentError, FlowknnError, inputError } from '../errors.js';
import type { ArchiveFile } from '../ingest/archive.js';
import type { NfdumpOptions } from '../ingest/nfdump/run.js';
import { writeFileAtomic } from '../io/atomic.js';
import { sha256, sha256OfFile } from '../io/checksum.js';
import type { LoadedConfig } from './config.js';
import { aggregateInput } from './inputs.js';
import { readJson, type ManifestInput } from './outputs.js';

/**
 * One input of a day, committed on its own under out/.flowknn/<date>/inputs/ (day.ts): its
 * aggregates (`<id>.arrow`), its rejects (`<id>.rejects.json`) and, written last, its record
 * (`<id>.json`) with the sha256 of both. The nightly job commits its inputs this way, and so
 * does the per-file pass of `flowknn watch` (live.ts): an input committed by either is reused
 * by the other as long as its record matches the file and the config.
 */

export interface InputRecord extends ManifestInput {
  digest: string;
  /** sha256 of the part's files (its aggregates and its rejects), checked before reuse. */
  parts?: { arrow: string; rejects: string };
}

/** An input to read: the file and what its committed record must match to be reused. */
export interface PlannedInput {
  readonly file: ArchiveFile;
  readonly size: number;
  readonly mtime: number;
  readonly digest: string;
}

export function workId(relPath: string): string {
  return relPath.replace(/[^A-Za-z0-9._-]/gu, '_');
}

/** The columns of a committed part: a part of another layout (before `router`, 2) is read again, not reused. */
const PART_LAYOUT = 2;

/**
 * Plans one input: its committed record when that can be reused (it matches the file's size
 * and modification time and the config, and its part is whole), else what to read.
 */
export async function planInput(f: ArchiveFile, workDir: string, configDigest: string, log: (m: string) => void): Promise<{ reuse: InputRecord } | { read: PlannedInput }> {
  // A file gone since discovery is not reused; reading it fails it, as one input, by name.
  const st = await stat(f.path).catch(() => ({ size: -1, mtimeMs: 0 }));
  // whole milliseconds: copies and backups keep no more than that of a file's time
  const mtime = Math.floor(st.mtimeMs);
  const digest = createHash('sha256').update(JSON.stringify([PART_LAYOUT, configDigest, f.relPath, st.size, mtime])).digest('hex');
  const rec = await readJson<InputRecord>(join(workDir, `${workId(f.relPath)}.json`)).catch(() => undefined);
  if (rec && rec.status === 'ok' && rec.digest === digest) {
    // A committed part is reused only as it was written: a damaged one is read again from
    // its input, and the log names it.
    const damaged = await damagedPart(workDir, rec);
    if (damaged === null) return { reuse: rec };
    log(`${damaged}: the committed part of ${f.relPath} is damaged (${rec.parts ? 'sha256 differs from its record' : 'its record has no checksum'}); reading the input again`);
  }
  return { read: { file: f, size: st.size, mtime, digest } };
}

/** An input read but not yet written: its part and record, or the input's own error. */
export type ReadInput = { readonly input: PlannedInput; readonly record: InputRecord; readonly arrow?: Uint8Array; readonly rejectsText?: string; readonly table?: Table };

/**
 * Reads one input (nfdump and the aggregation), writing nothing: an `ok` record with its part,
 * or a `failed` record naming the input's error (nfdump's, too many bad lines, a time limit).
 * What is not about the input (a full disk, nfdump gone) is thrown as an environment error:
 * the caller stops taking inputs.
 */
export async function readInput(input: PlannedInput, p: { config: LoadedConfig; nfdump: NfdumpOptions; log: (m: string) => void }): Promise<ReadInput> {
  const { file, size, mtime, digest } = input;
  const t = performance.now();
  const base: Omit<InputRecord, 'status' | 'error' | 'rows' | 'flows' | 'rejects' | 'sha256' | 'nfdump_args' | 'elapsed_ms'> = {
    path: file.relPath,
    size,
    mtime_ms: mtime,
    slot_start: new Date(file.slotStartMs).toISOString(),
    digest,
  };
  try {
    const r = await aggregateInput(file, p.config.config, { nfdump: p.nfdump });
    const arrow = tableToIPC(r.table, 'file');
    const rejectsText = JSON.stringify(r.rejects.map((x) => ({ ...x, file: file.relPath })));
    const record: InputRecord = {
      ...base,
      sha256: r.sha256,
      status: 'ok',
      error: null,
      rows: r.table.numRows,
      flows: r.flows,
      rejects: r.rejects.length,
      nfdump_args: r.nfdumpArgs,
      elapsed_ms: Math.round(performance.now() - t),
      nfdump: r.nfdump?.nfdump ?? null,
      warnings: r.warnings,
      totals_check: r.nfdump?.totalsCheck ?? null,
      parts: { arrow: sha256(arrow), rejects: sha256(rejectsText) },
    };
    if (record.warnings!.length > 0) p.log(`${file.relPath}: warnings (counted, not fatal): ${record.warnings!.map((w) => `${w.message} x${w.count}`).join('; ')}`);
    return { input, record, arrow, rejectsText, table: r.table };
  } catch (err) {
    if (!(err instanceof FlowknnError)) {
      // Not about the input (a full disk, too many open files).
      const code = (err as NodeJS.ErrnoException).code;
      throw environmentError(`${file.relPath}: ${code ? `${code}: ` : ''}${(err as Error).message ?? String(err)}`, 'the inputs finished so far are kept; rerun when the cause is fixed', err);
    }
    if (err.kind === 'environment') throw err;
    const record: InputRecord = { ...base, sha256: null, status: 'failed', error: err.format(), rows: 0, flows: 0, rejects: 0, nfdump_args: null, elapsed_ms: Math.round(performance.now() - t), nfdump: p.nfdump.version?.version ?? null, warnings: [], totals_check: null };
    p.log(`failed: ${err.format()}`);
    return { input, record };
  }
}

/**
 * Commits an input read by readInput: its part's files, then its record (written last, with
 * the sha256 of each), each atomically. The caller holds the day's lock.
 */
export async function writeInput(read: ReadInput, workDir: string): Promise<InputRecord> {
  const id = workId(read.input.file.relPath);
  if (read.arrow !== undefined && read.rejectsText !== undefined) {
    // both before the record; either order between them
    await Promise.all([writeFileAtomic(join(workDir, `${id}.arrow`), read.arrow), writeFileAtomic(join(workDir, `${id}.rejects.json`), read.rejectsText)]);
  }
  await writeFileAtomic(join(workDir, `${id}.json`), `${JSON.stringify(read.record)}\n`);
  return read.record;
}

/** Reads one input and commits it (readInput, then writeInput). */
export async function commitInput(input: PlannedInput, p: { config: LoadedConfig; nfdump: NfdumpOptions; workDir: string; log: (m: string) => void }): Promise<InputRecord> {
  return writeInput(await readInput(input, p), p.workDir);
}

/**
 * The file of a committed part that does not match the sha256 in its record (or any, for a
 * record written before parts had checksums), or null when the part is whole.
 */
export async function damagedPart(workDir: string, rec: InputRecord): Promise<string | null> {
  const id = workId(rec.path);
  const files: [string, string | undefined][] = [
    [join(workDir, `${id}.arrow`), rec.parts?.arrow],
    [join(workDir, `${id}.rejects.json`), rec.parts?.rejects],
  ];
  for (const [file, expected] of files) {
    const actual = await sha256OfFile(file).catch(() => null);
    if (expected === undefined || actual !== expected) return file;
  }
  return null;
}

/** A committed part's JSON, checked against its record's sha256. */
export async function readPartJson<T>(file: string, expected: string | undefined): Promise<T> {
  const bytes = await readFile(file).catch(() => {
    throw inputError('missing: a committed part of the night is gone', { file }, 'rerun the day with --force');
  });
  if (expected !== undefined && sha256(bytes) !== expected) throw inputError('does not match the sha256 of its record: the committed part is damaged', { file }, 'rerun the day: a damaged part is read again from its input');
  return JSON.parse(bytes.toString('utf8')) as T;
}
