import type { Table } from 'apache-arrow';
import { spawn, type ChildProcess } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { environmentError, excerpt, FlowknnError, inputError, usageError } from '../errors.js';
import { buildTable, type ColumnValues } from '../schema/arrow.js';
import { FlowColumns, flowSchema, StatColumns, statSchema } from '../schema/tables.js';
import { parseStatCsv } from './csv.js';
import { FLOW_FMT, FlowFmtReader } from './flow-fmt.js';
import type { ParseOptions, Reject } from './issues.js';
import { FileRejects, type RejectSink, type RejectThreshold } from './rejects.js';

export { FLOW_FMT };

/**
 * nfcapd files read through the real `nfdump`, run as a child process (never through a shell:
 * `spawn(binary, [args...], { shell: false })`, so file names and filters reach nfdump exactly as
 * given). Its output is parsed as a stream, chunk by chunk, with backpressure: memory holds one
 * batch of rows (flow mode) or one statistics table (stat mode), whatever the file's size.
 *
 * Facts about nfdump 1.7.1 this relies on (checked against the installed binary):
 * - `-o 'fmt:...'` with `-q` prints one line per flow and nothing else; a file with no flows
 *   prints the single line `No matching flows`.
 * - `%tsr` is first seen as `seconds.mmm` since the epoch (no time zone involved). `%ter` is NOT
 *   usable for milliseconds: 1.7.1 prints `msecLast % 100` after the point (10:10:05.465 ->
 *   `...805.065`). Last seen is therefore first seen + `%td`, which `-N` prints as seconds
 *   `%16.3f` of (msecLast - msecFirst) / 1000.0, so it carries the exact milliseconds; the
 *   whole seconds of `%ter` are kept as a cross-check.
 * - `-N` prints plain numbers (no `1.3 M`) and protocol numbers; `-6` prints IPv6 addresses in
 *   full (`inet_ntop`, as the statistics CSV prints them) instead of condensed `2001:db..c0:ffee`.
 * - A truncated or corrupt file makes nfdump 1.7.1 print an error on stderr ("appendix offset
 *   error", "Short read from file") and still EXIT 0 with `No matching flows`; so any text on
 *   stderr fails the file, as does a non-zero exit status or a signal.
 */

/** Options shared by both modes. */
export interface NfdumpOptions {
  /** The nfdump binary: a path, or a name looked up on PATH (default `nfdump`). */
  nfdump?: string;
  /** An nfdump filter expression (e.g. `proto tcp and packets > 999`), passed as one argument. */
  filter?: string;
  /** Environment of the child; TZ=UTC and LC_ALL=C are always set on top of it. */
  env?: NodeJS.ProcessEnv;
  /** Aborting kills nfdump and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface FlowReadOptions extends NfdumpOptions, ParseOptions, RejectThreshold {
  /** Rows per batch (default 65536). */
  batchRows?: number;
  /** Where rejected lines go as they are found (e.g. a RejectsWriter). */
  rejects?: RejectSink;
}

/** One batch of flow records, columns as the flow CSV parser collects them. */
export interface FlowBatch {
  readonly file: string;
  readonly columns: FlowColumns;
  /** Lines of nfdump's output rejected so far in this file; when the options name a `rejects`
   *  sink, which gets every one, only the first ten. */
  readonly rejects: readonly Reject[];
}

export const DEFAULT_BATCH_ROWS = 65_536;

/** nfdump's arguments for flow mode (exported for tests and for the docs). */
export function flowArgs(file: string, filter?: string): string[] {
  const args = ['-r', file, '-q', '-N', '-6', '-o', FLOW_FMT];
  if (filter !== undefined && filter.trim() !== '') args.push(filter);
  return args;
}

/**
 * Reads the flow records of one nfcapd file in batches. The nfdump error (if any) is known only
 * when nfdump ends, so the LAST step of the iteration may throw after batches were yielded: a
 * caller must treat the file's rows as valid only once the iteration completes. Breaking out of
 * the loop early kills nfdump.
 */
export async function* readNfcapdFlows(file: string, options: FlowReadOptions = {}): AsyncGenerator<FlowBatch, void, undefined> {
  const path = await checkInputFile(file);
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1) throw usageError(`batchRows must be a positive integer, got ${batchRows}`);
  const kept: Reject[] = [];
  const rejects = new FileRejects(file, { maxRejects: options.maxRejects, maxRejectFraction: options.maxRejectFraction }, options.rejects ?? { add: (r) => kept.push(r) });
  const shown = options.rejects ? rejects.first : kept;
  // nfdump's stdout is parsed as bytes (src/ingest/flow-fmt.ts), chunk by chunk, each chunk
  // as far as the batch being filled allows.
  const reader = new FlowFmtReader(rejects);
  let cols = new FlowColumns();
  const run = new NfdumpRun(file, options, flowArgs(path, options.filter));
  try {
    for await (const chunk of run.chunks()) {
      let at = 0;
      while (at < chunk.length) {
        at = reader.feed(chunk, at, cols, batchRows);
        if (cols.length >= batchRows) {
          yield { file, columns: cols, rejects: shown };
          cols = new FlowColumns();
        }
      }
    }
    reader.end(cols);
    await run.finish();
    rejects.finish(reader.rows + rejects.count);
    if (cols.length > 0) yield { file, columns: cols, rejects: shown };
  } finally {
    await run.dispose();
  }
}

/** Metadata of flow tables read from nfcapd files. */
function flowMeta(file: string): Record<string, string> {
  return { 'flowknn.source': file, 'flowknn.format': 'nfcapd' };
}

/** A batch as an Arrow `flow` table (one record batch). */
export function flowBatchTable(batch: FlowBatch): Table {
  return buildTable(flowSchema(flowMeta(batch.file)), batch.columns as unknown as Record<string, ColumnValues>, batch.columns.length);
}

/**
 * The whole file as one Arrow `flow` table (its record batches are the batches read). Holds all
 * rows in memory: for archives, iterate `readNfcapdFlows` instead.
 */
export async function readNfcapdFlowTable(file: string, options: FlowReadOptions = {}): Promise<{ table: Table; rejects: Reject[] }> {
  const tables: Table[] = [];
  let rejects: readonly Reject[] = [];
  for await (const batch of readNfcapdFlows(file, options)) {
    tables.push(flowBatchTable(batch));
    rejects = batch.rejects;
  }
  if (tables.length === 0) {
    return { table: buildTable(flowSchema(flowMeta(file)), new FlowColumns() as unknown as Record<string, ColumnValues>, 0), rejects: [] };
  }
  const [first, ...rest] = tables;
  return { table: rest.length === 0 ? first! : first!.concat(...rest), rejects: [...rejects] };
}

// ---------------------------------------------------------------------------------------------
// statistics mode

export interface StatReadOptions extends NfdumpOptions, ParseOptions {
  /** nfdump's statistic, e.g. `dstip` (default), `srcip`, `dstip:p` (per protocol), `dstport`. */
  stat?: string;
  /** Print orders (default `['pps', 'bps']`): one table per order, the same aggregates in each. */
  orders?: readonly string[];
  /** `-n`: rows per order (default 0 = all). */
  top?: number;
  /**
   * Keep only flow RECORDS with at least this many packets: added to the filter as
   * `packets >= N`. Note this filters flows before aggregation, unlike nfdump 1.7's `-l N`
   * (gone in later releases), which drops AGGREGATES with packets <= N; for that use minPackets.
   */
  minFlowPackets?: number;
  /** Keep only aggregates with at least this many packets (what `-l N-1` did: packets > N-1). */
  minPackets?: number;
  /** Keep only aggregates with at least this many bytes (`-L N-1`). */
  minBytes?: number;
}

export interface StatReadResult {
  readonly file: string;
  readonly table: Table;
  readonly columns: StatColumns;
  readonly rejects: Reject[];
}

const STAT_NAME = /^[a-z][a-z0-9]*(?::p)?$/u;
const ORDER_NAME = /^[a-z]+(?::[ad])?$/u;

/** nfdump's arguments for stat mode (exported for tests and for the docs). */
export function statArgs(file: string, options: StatReadOptions = {}): string[] {
  const stat = options.stat ?? 'dstip';
  const orders = options.orders ?? ['pps', 'bps'];
  if (!STAT_NAME.test(stat)) throw usageError(`nfdump statistic: expected a name like dstip, srcip, dstip:p or dstport, got "${stat}"`);
  if (orders.length === 0 || orders.some((o) => !ORDER_NAME.test(o))) {
    throw usageError(`nfdump print orders: expected names like pps, bps, flows, packets, bytes, got "${orders.join('/')}"`);
  }
  const top = options.top ?? 0;
  if (!Number.isInteger(top) || top < 0) throw usageError(`top: expected a whole number >= 0, got ${top}`);
  // No -q: 1.7.1 then adds only the Summary trailer (skipped), and no release can drop the
  // headers that separate the print orders.
  const args = ['-r', file, '-s', `${stat}/${orders.join('/')}`, '-n', String(top), '-o', 'csv'];
  const filter = combineFilter(options.filter, options.minFlowPackets);
  if (filter !== undefined) args.push(filter);
  return args;
}

function combineFilter(filter: string | undefined, minFlowPackets: number | undefined): string | undefined {
  const parts: string[] = [];
  if (filter !== undefined && filter.trim() !== '') parts.push(`(${filter})`);
  if (minFlowPackets !== undefined) {
    if (!Number.isSafeInteger(minFlowPackets) || minFlowPackets < 0) throw usageError(`minimum flow packets: expected a whole number >= 0, got ${minFlowPackets}`);
    parts.push(`packets >= ${minFlowPackets}`);
  }
  return parts.length === 0 ? undefined : parts.join(' and ');
}

/**
 * nfdump's own statistics of one nfcapd file (`-s dstip/pps/bps -n 0 -o csv`), parsed with the
 * statistics CSV parser one table (section) at a time; `section` is the order's index and
 * `ordered_by` its name. A filter that matches nothing gives an empty table, not an error.
 */
export async function readNfcapdStats(file: string, options: StatReadOptions = {}): Promise<StatReadResult> {
  const path = await checkInputFile(file);
  const args = statArgs(path, options);
  const orders = options.orders ?? ['pps', 'bps'];
  const minPackets = options.minPackets ?? 0;
  const minBytes = options.minBytes ?? 0;
  const out = new StatColumns();
  const rejects: Reject[] = [];
  let section = -1;
  let buffer: string[] = [];
  let bufferStart = 0;

  const flush = () => {
    const rows = buffer.length - 1;
    if (section >= 0 && rows > 0) {
      const maxRejects = options.maxRejects === undefined ? undefined : Math.max(0, options.maxRejects - rejects.length);
      let parsed: ReturnType<typeof parseStatCsv>;
      try {
        parsed = parseStatCsv(buffer.join('\n'), file, { maxRejects });
      } catch (err) {
        if (err instanceof FlowknnError && err.line !== undefined) {
          throw new FlowknnError(err.kind, err.message, { file, line: err.line + bufferStart - 1, hint: err.hint, cause: err });
        }
        throw err;
      }
      for (const r of parsed.issues.rejects) rejects.push({ ...r, line: r.line + bufferStart - 1 });
      const c = parsed.columns;
      for (let i = 0; i < c.length; i++) {
        if (c.packets[i]! < minPackets || c.bytes[i]! < minBytes) continue;
        for (const name of STAT_COLUMN_NAMES) (out[name] as unknown[]).push((c[name] as unknown[])[i]);
        out.section[out.length - 1] = section;
        out.ordered_by[out.length - 1] = orders[section] ?? null;
        out.source_line[out.length - 1] = c.source_line[i]! + bufferStart - 1;
      }
    }
    buffer = [];
  };

  const run = new NfdumpRun(file, options, args);
  try {
    let done = false;
    for await (const { line, lineNo } of run.lines()) {
      if (done) continue; // drain
      const t = line.trim();
      if (t === '' || t === 'No matching flows') {
        flush();
        continue;
      }
      if (/^summary\b/iu.test(t)) {
        flush();
        done = true;
        continue;
      }
      if (/^ts,te,td,/u.test(t)) {
        flush();
        section++;
        bufferStart = lineNo;
        buffer.push(t);
        continue;
      }
      if (section < 0) {
        throw inputError(`unexpected nfdump output before the statistics CSV header: "${excerpt(t, 80)}"`, { file, line: lineNo });
      }
      buffer.push(line);
    }
    flush();
    await run.finish();
  } finally {
    await run.dispose();
  }
  const meta = { 'flowknn.source': file, 'flowknn.format': 'nfcapd-stat', 'flowknn.nfdump_args': JSON.stringify(args.slice(2)) };
  const table = buildTable(statSchema(meta), out as unknown as Record<string, ColumnValues>, out.length);
  return { file, table, columns: out, rejects };
}

const STAT_COLUMN_NAMES = Object.keys(new StatColumns()) as Exclude<keyof StatColumns, 'length'>[];

/**
 * True when the file starts like an nfcapd file: magic 0xA50C (little endian) and layout
 * version 1 (nfdump 1.6) or 2 (1.7). For format detection; nfdump itself checks the rest.
 */
export async function looksLikeNfcapd(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head.readUInt16LE(0) === 0xa50c && [1, 2].includes(head.readUInt16LE(2));
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// the child process

export async function checkInputFile(file: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FlowknnError('usage', code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`, { file });
  }
  if (!info.isFile()) throw new FlowknnError('usage', 'is not a regular file, expected an nfcapd file', { file });
  // Absolute: nfdump never sees a name starting with `-`, and the cwd does not matter.
  return resolve(file);
}

const STDERR_LIMIT = 16 * 1024;
const KILL_GRACE_MS = 2_000;

/** One nfdump child: its stdout as numbered lines, its stderr kept (up to 16 KiB), its end. */
export class NfdumpRun {
  private readonly child: ChildProcess;
  private readonly binary: string;
  private stderr = '';
  private spawnError: Error | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    private readonly file: string,
    options: NfdumpOptions,
    readonly args: string[],
  ) {
    this.binary = options.nfdump ?? 'nfdump';
    this.signal = options.signal;
    this.child = spawn(this.binary, args, {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...(options.env ?? process.env), TZ: 'UTC', LC_ALL: 'C' },
      signal: options.signal,
      killSignal: 'SIGKILL',
    });
    this.closed = new Promise((resolveClose) => {
      this.child.once('error', (err) => {
        this.spawnError ??= err;
        // A failed spawn emits no 'close' in some Node versions when no stdio was created.
        if (this.child.pid === undefined) resolveClose({ code: null, signal: null });
      });
      this.child.once('close', (code, signal) => resolveClose({ code, signal }));
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      if (this.stderr.length < STDERR_LIMIT) this.stderr += chunk.slice(0, STDERR_LIMIT - this.stderr.length);
    });
  }

  /** stdout as it comes; honours backpressure (the stream is read only as chunks are used). */
  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    try {
      for await (const chunk of this.child.stdout!) yield chunk as Buffer;
    } catch (err) {
      // stdout fails when the spawn failed or the run was aborted: report that instead.
      await this.closed;
      this.throwIfFailed();
      throw err;
    }
  }

  /** stdout split into lines; honours backpressure (the stream is read only as lines are used). */
  async *lines(): AsyncGenerator<{ line: string; lineNo: number }, void, undefined> {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let lineNo = 0;
    try {
      for await (const chunk of this.child.stdout!) {
        const text = rest + decoder.write(chunk as Buffer);
        let start = 0;
        for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
          lineNo++;
          yield { line: text.slice(start, nl).replace(/\r$/u, ''), lineNo };
          start = nl + 1;
        }
        rest = text.slice(start);
      }
    } catch (err) {
      // stdout fails when the spawn failed or the run was aborted: report that instead.
      await this.closed;
      this.throwIfFailed();
      throw err;
    }
    rest += decoder.end();
    if (rest !== '') yield { line: rest, lineNo: lineNo + 1 };
  }

  /** Waits for nfdump to end; throws if it failed or said anything on stderr. */
  async finish(): Promise<void> {
    const { code, signal } = await this.closed;
    this.throwIfFailed();
    const message = this.stderr.trim().replace(/\s*\n\s*/gu, '; ');
    if (signal !== null) {
      throw inputError(`nfdump was killed by ${signal}${message ? `: ${excerpt(message, 400)}` : ''}`, { file: this.file });
    }
    if (code !== 0) {
      throw inputError(`nfdump failed (exit status ${code})${message ? `: ${excerpt(message, 400)}` : ''}`, { file: this.file }, 'is it an nfcapd file, complete and readable?');
    }
    if (message !== '') {
      // nfdump 1.7.1 exits 0 on a truncated or corrupt file, with the error on stderr.
      throw inputError(`nfdump reported an error: ${excerpt(message, 400)}`, { file: this.file }, 'a truncated or corrupt nfcapd file? (nfdump -v FILE checks it)');
    }
  }

  private throwIfFailed(): void {
    const err = this.spawnError;
    if (!err) return;
    if (err.name === 'AbortError') throw this.signal?.reason ?? err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw environmentError(
        `nfdump not found (tried "${this.binary}"${this.binary.includes('/') ? '' : ' on PATH'}); it is needed to read nfcapd file ${this.file}`,
        'install it (Debian/Ubuntu: apt-get install nfdump), or give the binary\'s path',
        err,
      );
    }
    if (code === 'EACCES' || code === 'ENOEXEC') {
      throw environmentError(`cannot run nfdump "${this.binary}" (${code})`, 'check that the nfdump binary is executable', err);
    }
    throw environmentError(`cannot run nfdump "${this.binary}": ${err.message}`, undefined, err);
  }

  /** Ends the child if it still runs (early exit of the consumer, or an error) and waits for it. */
  async dispose(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.stdout?.destroy();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      try {
        await this.closed;
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
