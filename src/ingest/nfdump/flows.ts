import type { Table } from 'apache-arrow';
import { FlowknnError, inputError, usageError } from '../../errors.js';
import { buildTable, type ColumnValues } from '../../schema/arrow.js';
import { DEFAULT_BATCH_ROWS, FlowColumns, flowSchema } from '../../schema/tables.js';
import { FLOW_FMT, FLOW_FMT_DATES, FlowFmtReader } from '../flow-fmt.js';
import type { ParseOptions, Reject } from '../issues.js';
import { FileRejects, type RejectSink, type RejectThreshold } from '../rejects.js';
import { checkTotals, NfdumpRun, nfdumpVersionOf, prepareNfcapdInput, prepareNfcapdRun, type NfdumpOptions, type NfdumpOutcome } from './run.js';
import type { NfdumpDialect, NfdumpVersion } from './version.js';

/**
 * The flow records of an nfcapd file, read through the real nfdump (`-o fmt:`), parsed as a
 * stream chunk by chunk with backpressure: memory holds one batch of rows, whatever the file's
 * size.
 *
 * Facts about nfdump this relies on (checked against 1.6.25, 1.7.1 and 1.7.8):
 * - `-o 'fmt:...'` prints a header line, one line per flow (`No matching flows` when a file or
 *   filter has none), and a trailer whose `Summary: total flows: N, total bytes: N, total
 *   packets: N` line (plain numbers with -N) counts what it printed.
 * - `%tsr` is first seen as `seconds.mmm` since the epoch (no time zone involved; 1.6.17+; older
 *   releases get `%ts`, see FLOW_FMT_DATES). `%ter` is NOT usable for milliseconds: 1.7.1
 *   prints `msecLast % 100` after the point (10:10:05.465 -> `...805.065`). Last seen is
 *   therefore first seen + `%td`, which `-N` prints as seconds `%.3f` of (msecLast -
 *   msecFirst) / 1000.0, so it carries the exact milliseconds; the whole seconds of `%ter`
 *   are kept as a cross-check.
 * - `-N` prints plain numbers (no `1.3 M`) and protocol numbers; `-6` prints IPv6 addresses in
 *   full (`inet_ntop`) instead of condensed `2001:db..c0:ffee`.
 * - Completeness: the rows read must add up to that Summary line; an output cut short has none.
 *   (Checking against the file's own totals, `nfdump -I`, would cost a second nfdump per file:
 *   the statistics of 1.7.5+, which print no totals, need it; flows do not.)
 */

export interface FlowReadOptions extends NfdumpOptions, ParseOptions, RejectThreshold {
  /** Rows per batch (default 65536). */
  batchRows?: number;
  /**
   * nfdump aggregates the file's flows by these fields itself (`-A`) and prints one record per
   * key: first seen the earliest, last seen the latest, the counters summed, `flows` counting
   * them. The other address, port and protocol fields are printed as zeros.
   */
  aggregate?: readonly NfdumpAggregationField[];
  /** Where rejected lines go as they are found (e.g. a RejectsWriter). */
  rejects?: RejectSink;
  /**
   * Read these nfcapd files, in this order, in one nfdump run (`-R`, see prepareNfcapdRun)
   * instead of the file: it then only names them in messages. One run's totals cover them all.
   */
  together?: readonly string[];
}

/** One batch of flow records, columns as the flow CSV parser collects them. */
export interface FlowBatch {
  readonly file: string;
  readonly columns: FlowColumns;
  /** Lines of nfdump's output rejected so far in this file; when the options name a `rejects`
   *  sink, which gets every one, only the first ten. */
  readonly rejects: readonly Reject[];
}

/**
 * Key fields nfdump's `-A` aggregates on exactly as flowknn's aggregator does (their names are
 * nfdump's too). Address prefixes are not among them: `-A dstip4/24,dstip6/64` mixes the two
 * families' records up in 1.7.1 and 1.7.8 (seen: IPv4 flows summed under 0.0.0.0).
 */
export const NFDUMP_AGGREGATION_FIELDS = ['srcip', 'dstip', 'proto', 'srcport', 'dstport'] as const;
export type NfdumpAggregationField = (typeof NFDUMP_AGGREGATION_FIELDS)[number];

/** The tokens of FLOW_FMT that print a key field, and what is printed in their place when nfdump does not aggregate on it. */
const FIELD_TOKENS: Record<NfdumpAggregationField, { token: string; zero: string }> = {
  proto: { token: '%pr', zero: '0' },
  srcip: { token: '%sa', zero: '0.0.0.0' },
  srcport: { token: '%sp', zero: '0' },
  dstip: { token: '%da', zero: '0.0.0.0' },
  dstport: { token: '%dp', zero: '0' },
};

/**
 * nfdump's arguments for flow mode (exported for tests and for the docs). With `aggregate`,
 * `-A` and a format whose fields outside the key are literal zeros: nfdump 1.7.8 refuses to
 * print a field it does not aggregate on ("Output token %sa not allowed with current
 * aggregation"), and the lines keep the 13 fields the reader expects.
 */
export function flowArgs(file: string | { folder: string }, filter?: string, dialect?: Pick<NfdumpDialect, 'rawFirstSeen'>, aggregate?: readonly NfdumpAggregationField[]): string[] {
  let fmt = dialect === undefined || dialect.rawFirstSeen ? FLOW_FMT : FLOW_FMT_DATES;
  // No -q: the trailer's Summary line counts the flows, packets and bytes nfdump printed.
  // A folder (prepareNfcapdRun) is read whole, its files in name order.
  const args = [...(typeof file === 'string' ? ['-r', file] : ['-R', file.folder]), '-N', '-6'];
  if (aggregate !== undefined) {
    if (aggregate.length === 0) throw new Error('flowArgs: aggregate by at least one field');
    for (const [field, { token, zero }] of Object.entries(FIELD_TOKENS)) {
      if (!aggregate.includes(field as NfdumpAggregationField)) fmt = fmt.replace(token, zero);
    }
    args.push('-A', aggregate.join(','));
  }
  args.push('-o', fmt);
  if (filter !== undefined && filter.trim() !== '') args.push(filter);
  return args;
}

/**
 * The flow records of one nfcapd file in batches. nfdump's verdict (an error on stderr, totals
 * that disagree) is known only when it ends, so the LAST step of the iteration may throw after
 * batches were yielded: a caller must treat the file's rows as valid only once the iteration
 * completes; then `outcome` says which nfdump read it, its warnings and how it was checked.
 * Breaking out of the loop early kills nfdump.
 */
export class NfcapdFlows implements AsyncIterable<FlowBatch> {
  outcome: NfdumpOutcome | undefined;

  constructor(
    readonly file: string,
    private readonly options: FlowReadOptions = {},
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<FlowBatch> {
    const { options } = this;
    const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    if (!Number.isInteger(batchRows) || batchRows < 1) throw usageError(`batchRows must be a positive integer, got ${batchRows}`);
    const version = await nfdumpVersionOf(options);
    const run = options.together === undefined ? undefined : await prepareNfcapdRun(options.together, version);
    try {
      yield* this.read(version, run, batchRows);
      await run?.verify();
    } catch (err) {
      // nfdump names the links it read: name the files instead
      if (run && err instanceof FlowknnError) throw new FlowknnError(err.kind, run.named(err.message), { file: err.file, line: err.line, hint: err.hint, cause: err.cause });
      throw err;
    } finally {
      await run?.dispose();
    }
  }

  private async *read(version: NfdumpVersion, together: { folder: string; dialect: NfdumpDialect } | undefined, batchRows: number): AsyncGenerator<FlowBatch> {
    const { file, options } = this;
    const { path, header, dialect } = together === undefined ? await prepareNfcapdInput(file, version) : { path: { folder: together.folder }, header: undefined, dialect: together.dialect };
    const opts = { ...options, version };
    const kept: Reject[] = [];
    const rejects = new FileRejects(file, { maxRejects: options.maxRejects, maxRejectFraction: options.maxRejectFraction }, options.rejects ?? { add: (r) => kept.push(r) });
    const shown = options.rejects ? rejects.first : kept;
    // nfdump's stdout is parsed as bytes (src/ingest/flow-fmt.ts), chunk by chunk, each chunk
    // as far as the batch being filled allows.
    const reader = new FlowFmtReader(rejects);
    const sums = { flows: 0, packets: 0, bytes: 0 };
    const count = (c: FlowColumns) => {
      for (let i = 0; i < c.length; i++) {
        sums.flows += c.flows[i]!;
        sums.packets += c.in_packets[i]! + (c.out_packets[i] ?? 0);
        sums.bytes += c.in_bytes[i]! + (c.out_bytes[i] ?? 0);
      }
    };
    let cols = new FlowColumns();
    const run = new NfdumpRun(file, opts, flowArgs(path, options.filter, dialect, options.aggregate), { header });
    try {
      for await (const chunk of run.chunks()) {
        let at = 0;
        while (at < chunk.length) {
          at = reader.feed(chunk, at, cols, batchRows);
          if (cols.length >= batchRows) {
            count(cols);
            yield { file, columns: cols, rejects: shown };
            cols = new FlowColumns();
          }
        }
      }
      reader.end(cols);
      const warnings = await run.finish();
      rejects.finish(reader.rows + rejects.count);
      count(cols);
      const summary = reader.trailer.summary;
      if (!summary) {
        throw inputError("nfdump's output ended without its Summary line (total flows, bytes, packets)", { file, line: reader.lineNo }, 'was it cut short? run nfdump -r FILE by hand to see');
      }
      // Rows left out as rejects (within the threshold) make the sums short by design.
      if (rejects.count === 0) checkTotals(file, sums, summary, "nfdump's Summary line", summary.line);
      this.outcome = { nfdump: version.version, warnings, totalsCheck: rejects.count === 0 ? 'Summary line' : 'none (lines rejected)', filtered: reader.trailer.filtered };
      if (cols.length > 0) yield { file, columns: cols, rejects: shown };
    } finally {
      await run.dispose();
    }
  }
}

/** Reads the flow records of one nfcapd file in batches (see NfcapdFlows). */
export function readNfcapdFlows(file: string, options: FlowReadOptions = {}): NfcapdFlows {
  return new NfcapdFlows(file, options);
}

/** The warnings of several nfdump runs on one file, counted once each (the larger count). */
export function mergeWarnings(...lists: readonly { message: string; count: number }[][]): { message: string; count: number }[] {
  const out = new Map<string, number>();
  for (const list of lists) for (const w of list) out.set(w.message, Math.max(out.get(w.message) ?? 0, w.count));
  return [...out].map(([message, count]) => ({ message, count }));
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
export async function readNfcapdFlowTable(file: string, options: FlowReadOptions = {}): Promise<{ table: Table; rejects: Reject[]; outcome: NfdumpOutcome }> {
  const tables: Table[] = [];
  let rejects: readonly Reject[] = [];
  const flows = readNfcapdFlows(file, options);
  for await (const batch of flows) {
    tables.push(flowBatchTable(batch));
    rejects = batch.rejects;
  }
  const outcome = flows.outcome!;
  if (tables.length === 0) {
    return { table: buildTable(flowSchema(flowMeta(file)), new FlowColumns() as unknown as Record<string, ColumnValues>, 0), rejects: [], outcome };
  }
  const [first, ...rest] = tables;
  return { table: rest.length === 0 ? first! : first!.concat(...rest), rejects: [...rejects], outcome };
}
