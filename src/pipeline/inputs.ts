import { Field, Utf8, type Table } from 'apache-arrow';
import { AGGREGATE_FIELDS, aggregateColumns, KEY_FIELDS, FlowAggregator, nfdumpSortValue, type AggregateRow, type KeyField, parseKeySpec } from '../features/aggregate.js';
import { FlowknnError, inputError } from '../errors.js';
import { routerOf, type ArchiveFile } from '../ingest/archive.js';
import type { Reject } from '../ingest/issues.js';
import type { NfdumpOptions, NfdumpOutcome } from '../ingest/nfdump/run.js';
import { detectInputFormat } from '../ingest/registry.js';
import { aggregateFlowInput } from '../ingest/aggregate-input.js';
import { sha256OfFile } from '../io/checksum.js';
import { buildTable, numberColumn, stringColumn, withMetadata } from '../schema/arrow.js';
import { SCHEMA_VERSION } from '../schema/tables.js';
import { NFDUMP_STAT7 } from '../features/feature-set.js';
import type { NightlyConfig } from './config.js';

/**
 * One input of a nightly run: an nfcapd file turned into per-host aggregates. The nightly
 * `aggregates` table is the `aggregate` table plus the input each row came from (its path
 * below the archive root), so rows stay traceable and shard outputs merge in a fixed order, and
 * its `router` is always filled: the router whose archive the input lies in (routerOf), so the
 * rows of several routers' archives read together say whose they are.
 */
export const NIGHTLY_AGGREGATE_FIELDS: Field[] = [...AGGREGATE_FIELDS, new Field('source_file', new Utf8(), false)];

export function nightlyAggregateTable(rows: readonly AggregateRow[], keyFields: readonly KeyField[], sourceFile: readonly string[], meta: Record<string, string>, routers: readonly string[] = Array<string>(rows.length).fill('')): Table {
  const cols = { ...aggregateColumns(rows, keyFields), source_file: sourceFile, router: routers };
  const schema = withMetadata(NIGHTLY_AGGREGATE_FIELDS, { 'flowknn.kind': 'aggregate', 'flowknn.schema_version': SCHEMA_VERSION, 'flowknn.feature_set': NFDUMP_STAT7.name, ...meta });
  return buildTable(schema, cols, rows.length);
}

/**
 * The night's aggregates from the inputs' partial aggregates (flows source), in input order:
 * each partial goes into one aggregator as a flow record of its counts and time span, so the
 * groups, nfdump's formulas, the minimums and top-n are the aggregator's own. A partial's first
 * seen lies in its window, so it lands in the same window again. `source_file` names the first
 * input of a row, and how many more it spans; `router` the routers of its inputs (comma-separated,
 * sorted: one, when the key has `router`).
 */
export async function mergePartials(parts: AsyncIterable<Table> | Iterable<Table>, config: NightlyConfig, meta: Record<string, string>): Promise<Table> {
  const a = config.aggregate;
  const agg = new FlowAggregator({ key: a.key, window: a.window, minPackets: a.minPackets, minBytes: a.minBytes, top: a.top ?? undefined });
  const fileOf = new Map<string, { first: string; more: number; routers: string[] }>();
  for await (const t of parts) {
    const n = t.numRows;
    const num = (name: string) => numberColumn(t, name) ?? new Float64Array(n);
    const str = (name: string) => stringColumn(t, name) ?? new Array<null>(n).fill(null);
    const windows = num('window_start');
    const keys = str('key');
    const files = str('source_file');
    const routers = str('router');
    for (let i = 0; i < n; i++) {
      const group = `${windows[i]}|${keys[i]}`;
      const router = routers[i] ?? '';
      const seen = fileOf.get(group);
      if (!seen) fileOf.set(group, { first: files[i] ?? '', more: 0, routers: [router] });
      else {
        if (seen.first !== files[i]) seen.more++;
        if (!seen.routers.includes(router)) seen.routers.push(router);
      }
    }
    agg.add({
      length: n,
      first_seen: num('first_seen'),
      last_seen: num('last_seen'),
      src_addr: str('src_addr'),
      dst_addr: str('dst_addr'),
      proto: str('proto'),
      src_port: num('src_port'),
      dst_port: num('dst_port'),
      flows: num('flows'),
      in_packets: num('packets'),
      in_bytes: num('bytes'),
      out_packets: new Float64Array(n),
      out_bytes: new Float64Array(n),
      router: routers,
    });
  }
  const rows = agg.rows();
  const groups = rows.map((r) => fileOf.get(`${r.windowStart ?? Number.NaN}|${r.key}`));
  const sources = groups.map((f) => (f ? (f.more > 0 ? `${f.first} (+${f.more} more)` : f.first) : ''));
  const routers = groups.map((f) => (f ? f.routers.sort().join(',') : ''));
  return nightlyAggregateTable(rows, agg.key.fields, sources, meta, routers);
}

export interface InputResult {
  readonly table: Table;
  readonly rejects: Reject[];
  /** Lines of nfdump output parsed (for the reject fraction and the progress display). */
  readonly lines: number;
  /** Flow records read (flows source) or aggregated by nfdump (nfdump source: the summed flows). */
  readonly flows: number;
  readonly nfdumpArgs: string;
  readonly sha256: string;
  /** nfcapd files: which nfdump read it, its harmless warnings, how the rows were checked. */
  readonly nfdump?: NfdumpOutcome;
  /** nfdump's harmless warnings and what the reading left out, counted. */
  readonly warnings: { message: string; count: number }[];
}


/**
 * Aggregates one input of the archive as the config says, checking the reject threshold. Its
 * format comes from the input registry: the nfdump source needs a format nfdump aggregates
 * itself (nfcapd files); the flows source reads any flow format. Throws a FlowknnError naming
 * the file when it fails (nfdump's error, too many bad lines, a time limit, ...).
 */
export async function aggregateInput(file: ArchiveFile, config: NightlyConfig, options: { nfdump?: NfdumpOptions; signal?: AbortSignal } = {}): Promise<InputResult> {
  const a = config.aggregate;
  const maxRejects = config.limits.maxRejects ?? Number.MAX_SAFE_INTEGER;
  const digest = sha256OfFile(file.path);
  digest.catch(() => undefined);
  let rows: AggregateRow[];
  let rejects: Reject[];
  let lines: number;
  let flows = 0;
  let keyFields: readonly KeyField[];
  let nfdumpArgs: string;
  let outcome: NfdumpOutcome | undefined;
  const warnings: { message: string; count: number }[] = [];
  const format = await detectInputFormat(file.path);
  const router = routerOf(file.path);
  const nfdump = { ...options.nfdump, signal: options.signal ?? options.nfdump?.signal };
  if (a.source === 'nfdump') {
    if (!format.statistics) {
      throw inputError(`aggregate.source "nfdump" reads nfcapd files (nfdump aggregates them itself); this is ${format.description}`, { file: file.path }, 'use "source": "flows" for flow dumps, or keep only nfcapd files in the archive');
    }
    const order = a.top?.by ?? 'pps';
    // The scanner keeps only aggregates above the minimums; `flows` is the file's flow count
    // (nfdump's Summary trailer, or the file's own totals), checked against the rows when every
    // aggregate is listed.
    const r = await format.statistics(file.path, { ...nfdump, stat: a.key, order, top: a.top?.n ?? 0, minPackets: a.minPackets, minBytes: a.minBytes, maxRejects });
    outcome = r.outcome;
    // nfdump's statistic names for these are the key fields' own (dstip, dstport, proto...)
    const stat = a.key.replace(/:p$/u, '');
    const field = (KEY_FIELDS as readonly string[]).includes(stat) ? (stat as KeyField) : undefined;
    keyFields = field ? [field] : [];
    rows = r.key.map((key, i) => ({
      windowStart: file.slotStartMs,
      key,
      values: [field === 'dstport' || field === 'srcport' ? Number(key) : key],
      firstSeen: r.firstSeen[i]!,
      lastSeen: r.lastSeen[i]!,
      durationMs: Math.round(r.durationS[i]! * 1000),
      flows: r.flows[i]!,
      packets: r.packets[i]!,
      bytes: r.bytes[i]!,
      pps: r.pps[i]!,
      bps: r.bps[i]!,
      bpp: r.bpp[i]!,
    }));
    // nfdump lists equal sort values in its hash table's order, which differs between releases:
    // the rows are put in the aggregator's order (sort value descending, then key), so a night
    // gives the same outputs whichever nfdump read it.
    const sortValue = (x: AggregateRow) => nfdumpSortValue(order, x.packets, x.bytes, x.durationMs);
    rows.sort((x, y) => sortValue(y) - sortValue(x) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    flows = r.fileFlows;
    rejects = r.rejects;
    lines = r.lines;
    nfdumpArgs = JSON.stringify(r.args.slice(2));
  } else {
    // Partial aggregates of this file, unfiltered: a host's flows in one window are spread over
    // several files (a window longer than a file; flows exported in the file after the one their
    // first packet fell in), so minimums and top-n apply only once the night's partials are
    // merged (mergePartials).
    const agg = new FlowAggregator({ key: a.key, window: a.window, router });
    keyFields = parseKeySpec(a.key).fields;
    if (format.kind !== 'flow') {
      throw inputError(`aggregate.source "flows" reads flow records; this is ${format.description}`, { file: file.path });
    }
    // Every reject as it is found, to the end of the input. nfcapd files whose key nfdump
    // aggregates itself are read as nfdump's partial aggregates of the file (aggregate-input.ts).
    const found: Reject[] = [];
    const read = await aggregateFlowInput(file.path, format, agg, { maxRejects, nfdump, signal: options.signal, rejects: { add: (r) => found.push(r) } });
    rejects = found;
    flows = agg.flowCount;
    // The reject fraction is of the file's flows, however few lines nfdump's aggregates took.
    lines = (read.via === 'flows' ? read.records : Math.max(read.records, flows)) + rejects.length;
    rows = agg.rows();
    nfdumpArgs = read.via === 'flows' ? (read.refused ? `flows (nfdump -A refused: ${read.refused})` : 'flows') : `flows via nfdump ${read.via}`;
    outcome = read.summary.nfdump;
    if (agg.untimedCount > 0) warnings.push({ message: "flow records without a time (first seen 0): their hosts' duration and rates are 0, as nfdump computes them", count: agg.untimedCount });
  }
  const fraction = config.limits.maxRejectFraction;
  if (rejects.length > 0 && rejects.length > fraction * Math.max(1, lines)) {
    const first = rejects[0]!;
    throw inputError(
      `${rejects.length} of ${lines} lines of nfdump's output rejected (limit ${fraction * 100}%); first at line ${first.line}: ${first.reason}`,
      { file: file.path },
      'look at the file with nfdump -r; raise limits.maxRejectFraction to accept it',
    );
  }
  const table = nightlyAggregateTable(
    rows,
    keyFields,
    Array<string>(rows.length).fill(file.relPath),
    { 'flowknn.source': file.relPath, 'flowknn.key': a.key, 'flowknn.window_s': a.source === 'nfdump' ? 'file' : String(a.window) },
    Array<string>(rows.length).fill(router),
  );
  let sha256: string;
  try {
    sha256 = await digest;
  } catch (err) {
    throw new FlowknnError('input', `cannot read it (${(err as Error).message})`, { file: file.path, cause: err });
  }
  return { table, rejects, lines, flows, nfdumpArgs, sha256, nfdump: outcome, warnings: [...(outcome?.warnings ?? []), ...warnings] };
}
