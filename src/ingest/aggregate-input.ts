import type { AddScope, FlowAggregator } from '../features/aggregate.js';
import { FlowknnError, usageError } from '../errors.js';
import type { InputFormat, InputKind, InputReader, OpenOptions, ReadSummary } from './format.js';
import type { Reject } from './issues.js';
import { NFDUMP_AGGREGATION_FIELDS, type NfdumpAggregationField } from './nfdump/flows.js';
import { nfdumpVersionOf } from './nfdump/run.js';

/**
 * One flow input into an aggregator, the cheapest exact way its format allows.
 *
 * nfcapd files whose key nfdump can aggregate itself (srcip, dstip, proto, srcport, dstport and
 * their combinations, no prefixes) are read as nfdump's own aggregates of the file (`-A`): one
 * line per key instead of one per flow, with the flows counted, the counters summed, first seen
 * the earliest and last seen the latest. Such a partial is exact for flowknn's windows when all
 * its flows fall in one window: when its first and last seen do (a flow's first seen lies
 * between them), or always for `whole`. The keys of the other partials (flows that started in an
 * earlier window and were exported in this file; flows without a time) are read again as flows,
 * from a second nfdump that prints only theirs where a filter can say so, and added flow by flow.
 * The aggregates are the same, value for value, as from the file's flows.
 *
 * An address in the key needs nfdump 1.7.8+, or 1.7.0-1.7.4 with the flows of IPv4-compatible
 * IPv6 addresses kept out of its aggregates and read as flows (see compatibleV6); 1.6.x reads
 * such keys as flows.
 *
 * Every other input (flow dumps, keys nfdump lacks, prefixes) is read as flows.
 */

export interface FlowInputRead {
  /** The read's summary: the flow records' (one pass) or nfdump's aggregates' (then `partials`). */
  readonly summary: ReadSummary;
  /** The format the input was read as (e.g. `nfcapd`), and its kind (`none`: nfdump found no flows). */
  readonly format: string;
  readonly kind: InputKind;
  /** Records read over all passes: flows, or nfdump's aggregates and the flows read again. */
  readonly records: number;
  /** How it was read: `flows`, or nfdump's arguments for its aggregates, e.g. `-A dstip`. */
  readonly via: string;
  /** Partials that spanned windows and whose keys were read again as flows (0 when none or read as flows). */
  readonly reread: number;
  /** Why nfdump's aggregates were not used, when the key allowed them but a line was refused. */
  readonly refused?: string;
}

/** nfdump's `-A` fields for the aggregator's key, or undefined when nfdump cannot aggregate it exactly. */
export function nfdumpAggregation(aggregator: FlowAggregator): NfdumpAggregationField[] | undefined {
  const key = aggregator.key;
  if (key.prefixes.some((p) => p !== undefined)) return undefined;
  // the router is one per file (the aggregator's own): nfdump aggregates the rest
  const fields = key.fields.filter((f) => f !== 'router');
  if (fields.length === 0 || !fields.every((f) => (NFDUMP_AGGREGATION_FIELDS as readonly string[]).includes(f))) return undefined;
  // inout counters only: nfdump sums in and out of each record alike
  if (aggregator.counters !== 'inout') return undefined;
  return fields as NfdumpAggregationField[];
}

/**
 * Reads one input into `into`, which must be an aggregator of this input alone (emptyLike), merged
 * by the caller once this returns: a failure part way leaves it half filled. Throws what the
 * reader throws; the input is valid only when this returns.
 */
export async function aggregateFlowInput(
  file: string,
  format: InputFormat,
  into: FlowAggregator,
  options: OpenOptions,
): Promise<FlowInputRead> {
  if (options.together !== undefined && format.name !== 'nfcapd') throw new Error(`aggregateFlowInput: only nfcapd files are read together, not ${format.name}`);
  let fields = format.aggregated ? nfdumpAggregation(into) : undefined;
  // Flows of IPv4-compatible IPv6 addresses that an nfdump before 1.7.8 would sum into the IPv4
  // address's aggregate: left out of its -A pass, read as flows after it (see compatibleV6).
  let exclude: string | undefined;
  if (fields && fields.some((f) => f === 'srcip' || f === 'dstip')) {
    const version = await nfdumpVersionOf(options.nfdump ?? {});
    options = { ...options, nfdump: { ...options.nfdump, version } };
    const v = version.major * 10_000 + version.minor * 100 + version.patch;
    if (v >= 10_700 && v < 10_705) exclude = compatibleV6(fields);
    else if (v < 10_708) fields = undefined;
  }
  const asFlows = async (refused?: string): Promise<FlowInputRead> => {
    const reader = await format.open(file, options);
    if (reader.kind !== 'flow' && reader.kind !== 'none') throw usageError(`aggregating needs flow records; ${file} holds ${reader.kind} rows`, 'give nfcapd files or flow records (nfdump -o csv, csv-fast, json or ndjson)');
    const records = await drain(reader, into, file);
    return { summary: reader.summary!, format: reader.format, kind: reader.kind, records, via: 'flows', reread: 0, refused };
  };
  if (!fields) return asFlows();
  const spanning = new Set<string>();
  // nfdump's aggregates go into an aggregator of their own, taken in only when every line was
  // one: a line the reader refuses (e.g. a key whose flows with and without times nfdump summed,
  // printed with last seen but no duration) sends the whole file through the flow reader, whose
  // rules for bad lines, thresholds and errors are the input's.
  const partial = into.emptyLike();
  let reader: InputReader;
  let records: number;
  const userFilter = options.nfdump?.filter !== undefined && options.nfdump.filter.trim() !== '' ? options.nfdump.filter : undefined;
  const within = (own: string) => (userFilter === undefined ? own : `(${userFilter}) and (${own})`);
  const aOptions = exclude === undefined ? options : { ...options, nfdump: { ...options.nfdump, filter: within(`not (${exclude})`) } };
  // Only a refused line sends the file through the flow reader: nfdump's own failures (an error,
  // the time limit) would only fail again there, in twice the time.
  let refusedLine: Reject | undefined;
  try {
    reader = await format.aggregated!(file, fields, { ...aOptions, maxRejects: 0, rejects: { add: (r) => (refusedLine ??= r) } });
    records = await drain(reader, partial, file, { partials: spanning });
  } catch (err) {
    if (refusedLine === undefined || !(err instanceof FlowknnError) || err.kind !== 'input') throw err;
    return asFlows(`line ${refusedLine.line}: ${refusedLine.reason}`);
  }
  into.merge(partial);
  let summary = reader.summary!;
  let via = `-A ${fields.join(',')}`;
  const more = (s: ReadSummary) => {
    summary = { ...summary, rejected: summary.rejected + s.rejected, rejects: [...summary.rejects, ...s.rejects].slice(0, 10) };
  };
  if (spanning.size > 0) {
    // Within 1.7.1's filter, `dst ip in [ 10.0.0.1 ]` takes ::10.0.0.1's flows too: kept out here as well.
    const keys = keyFilter(into.key.fields, spanning, undefined);
    const own = [keys, exclude === undefined ? undefined : `not (${exclude})`].filter((f) => f !== undefined);
    const filter = own.length === 0 ? userFilter : within(own.join(' and '));
    const again = await format.open(file, { ...options, nfdump: { ...options.nfdump, filter } });
    records += await drain(again, into, file, { only: spanning });
    more(again.summary!);
    via += `, then the flows of ${spanning.size} key${spanning.size === 1 ? '' : 's'} spanning windows`;
  }
  // nfdump says whether its filter left any flow out (1.7.x: processed and passed); with a
  // filter of the caller's own it cannot say which one did, so the flows are asked for.
  const f = summary.nfdump?.filtered;
  if (exclude !== undefined && (userFilter !== undefined || f === undefined || f.processed !== f.passed)) {
    const again = await format.open(file, { ...options, nfdump: { ...options.nfdump, filter: within(exclude) } });
    const before = into.flowCount;
    records += await drain(again, into, file);
    more(again.summary!);
    if (into.flowCount > before) via += ', then the flows of IPv4-compatible IPv6 addresses (::/96)';
  }
  return { summary, format: reader.format, kind: reader.kind, records, via, reread: spanning.size };
}

/**
 * nfdump 1.6.x and 1.7.0-1.7.4 keep an IPv4 address in the low 32 bits of the 128 it keeps for
 * IPv6, so `-A dstip` sums the flows of ::10.0.0.1 (IPv6, ::/96) into 10.0.0.1's aggregate and
 * prints the IPv4 address (flowknn, and 1.7.8, keep them apart); its filter `dst ip in [ ... ]`
 * matches both, too. The flows of the key's address fields in ::/96, as an nfdump filter.
 * (1.6.x's trailer does not say how many flows a filter left out, so 1.6.x reads such keys as
 * flows; 1.7.5-1.7.7 are untested and do the same.)
 */
function compatibleV6(fields: readonly NfdumpAggregationField[]): string {
  const nets = fields.filter((f) => f === 'srcip' || f === 'dstip').map((f) => `${f === 'dstip' ? 'dst' : 'src'} net ::/96`);
  return `ipv6 and (${nets.join(' or ')})`;
}

/** Reads an input through, each batch into `into` (as parsed columns where the reader has them); returns its rows. */
async function drain(reader: InputReader, into: FlowAggregator, file: string, scope?: AddScope): Promise<number> {
  let rows = 0;
  if (reader.columns) {
    for await (const cols of reader.columns()) {
      into.add(cols, file, scope);
      rows += cols.length;
    }
    return rows;
  }
  for await (const batch of reader) {
    into.addBatch(batch, file, scope);
    rows += batch.numRows;
    reader.recycle?.(batch);
  }
  return rows;
}

/** Longest filter handed to nfdump as one argument (Linux takes 128 KiB per argument). */
const MAX_FILTER_CHARS = 64 * 1024;

/**
 * An nfdump filter that keeps the flows of these keys, or of a few more (the aggregator keeps
 * only the keys asked for): the key's address field's values as `dst ip in [ ... ]` when the key
 * has one, else the caller's filter alone (all flows). Within the caller's filter, if any.
 */
export function keyFilter(fields: readonly string[], keys: ReadonlySet<string>, userFilter: string | undefined): string | undefined {
  const user = userFilter !== undefined && userFilter.trim() !== '' ? userFilter : undefined;
  const at = fields.findIndex((f) => f === 'dstip' || f === 'srcip');
  if (at < 0) return user;
  const values = new Set<string>();
  for (const key of keys) {
    const value = fields.length === 1 ? key : key.split('|')[at]!;
    // Flows without a time have a key like any other; an address nfdump would not parse is not filtered on
    if (!/^[0-9a-fA-F:.]+$/u.test(value)) return user;
    values.add(value);
  }
  const own = `${fields[at] === 'dstip' ? 'dst' : 'src'} ip in [ ${[...values].join(' ')} ]`;
  if (own.length > MAX_FILTER_CHARS) return user;
  return user === undefined ? own : `(${user}) and (${own})`;
}

/** An input as readRuns sees it: nfcapd or not, its slot start (from its name) and router, where known. */
export interface RunCandidate {
  readonly nfcapd: boolean;
  readonly slotStartMs?: number;
  readonly router?: string;
}

/**
 * Which inputs one nfdump can read together (`-R`, FlowReadOptions.together) when aggregating:
 * nfcapd files of the same window by their slot start (and the same router when the key has
 * one), so that nfdump's partials seldom span windows (for `whole`, every such file), in runs of
 * consecutive files of at most a job's share of all of them. Returns lists of the inputs'
 * indexes, in input order; a list of one is read alone. One nfdump per run instead of per file saves a process
 * start and an output trailer per file: most of the time of a day of small files.
 */
export function runsOfInputs(inputs: readonly RunCandidate[], aggregator: FlowAggregator, jobs: number): number[][] {
  const byRouter = aggregator.key.fields.includes('router');
  const windowMs = aggregator.window === 'whole' ? undefined : aggregator.window * 1000;
  const runs: number[][] = [];
  const buckets = new Map<string, number[]>();
  for (const [i, input] of inputs.entries()) {
    if (!input.nfcapd || (windowMs !== undefined && input.slotStartMs === undefined) || (byRouter && input.router === undefined)) {
      runs.push([i]);
      continue;
    }
    const win = windowMs === undefined ? '' : String(Math.floor(input.slotStartMs! / windowMs));
    const bucket = `${byRouter ? input.router : ''}\n${win}`;
    let list = buckets.get(bucket);
    if (!list) buckets.set(bucket, (list = []));
    list.push(i);
  }
  // Runs of at most a job's share of the files, so that a window as long as the input (whole,
  // 1d) still keeps every job busy; any split of a window's files is exact (merged partials).
  const share = Math.max(2, Math.ceil([...buckets.values()].reduce((n, l) => n + l.length, 0) / Math.max(1, jobs)));
  for (const list of buckets.values()) {
    const size = Math.ceil(list.length / Math.ceil(list.length / share));
    for (let at = 0; at < list.length; at += size) runs.push(list.slice(at, at + size));
  }
  return runs.sort((a, b) => a[0]! - b[0]!);
}
