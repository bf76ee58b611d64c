import { Field, Utf8, type Table } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { AGGREGATE_FIELDS, aggregateColumns, FlowAggregator, type AggregateRow, type KeyField, parseKeySpec } from '../features/aggregate.js';
import { FlowknnError, inputError } from '../errors.js';
import type { ArchiveFile } from '../ingest/archive.js';
import type { Reject } from '../ingest/issues.js';
import { readNfcapdFlows } from '../ingest/nfcapd.js';
import { scanNfcapdStats } from '../ingest/nfcapd-stat.js';
import { buildTable, withMetadata } from '../schema/arrow.js';
import { SCHEMA_VERSION } from '../schema/tables.js';
import { NFDUMP_STAT7 } from '../features/feature-set.js';
import type { NightlyConfig } from './config.js';

/**
 * One input of a nightly run: an nfcapd file turned into per-host aggregates. The nightly
 * `aggregates` table is the `aggregate` table plus the input each row came from (its path
 * below the archive root), so rows stay traceable and shard outputs merge in a fixed order.
 */
export const NIGHTLY_AGGREGATE_FIELDS: Field[] = [...AGGREGATE_FIELDS, new Field('source_file', new Utf8(), false)];

export function nightlyAggregateTable(rows: readonly AggregateRow[], keyFields: readonly KeyField[], sourceFile: readonly string[], meta: Record<string, string>): Table {
  const cols = { ...aggregateColumns(rows, keyFields), source_file: sourceFile };
  const schema = withMetadata(NIGHTLY_AGGREGATE_FIELDS, { 'flowknn.kind': 'aggregate', 'flowknn.schema_version': SCHEMA_VERSION, 'flowknn.feature_set': NFDUMP_STAT7.name, ...meta });
  return buildTable(schema, cols, rows.length);
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
}

/** nfdump statistic names whose values are one key field of the aggregate table. */
const STAT_KEY_FIELD: Record<string, KeyField | undefined> = { dstip: 'dstip', srcip: 'srcip', dstport: 'dstport', srcport: 'srcport', proto: 'proto' };

export function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => hash.update(b))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}

/**
 * Aggregates one nfcapd file as the config says, checking the reject threshold. Throws a
 * FlowknnError naming the file when it fails (nfdump's error, too many bad lines, ...).
 */
export async function aggregateInput(file: ArchiveFile, config: NightlyConfig, options: { nfdump?: string; signal?: AbortSignal } = {}): Promise<InputResult> {
  const a = config.aggregate;
  const maxRejects = config.limits.maxRejects ?? Number.MAX_SAFE_INTEGER;
  const digest = sha256File(file.path);
  digest.catch(() => undefined);
  let rows: AggregateRow[];
  let rejects: Reject[];
  let lines: number;
  let flows = 0;
  let keyFields: readonly KeyField[];
  let nfdumpArgs: string;
  if (a.source === 'nfdump') {
    const order = a.top?.by ?? 'pps';
    // The scanner keeps only aggregates above the minimums; `flows` is the file's flow count
    // from nfdump's Summary (with a top n only the top rows are listed, so their sum is less),
    // checked against the rows when every aggregate is listed.
    const r = await scanNfcapdStats(file.path, { stat: a.key, order, top: a.top?.n ?? 0, minPackets: a.minPackets, minBytes: a.minBytes, maxRejects, nfdump: options.nfdump, signal: options.signal });
    const field = STAT_KEY_FIELD[a.key.replace(/:p$/u, '')];
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
    flows = r.fileFlows;
    rejects = r.rejects;
    lines = r.lines;
    nfdumpArgs = JSON.stringify(r.args.slice(2));
  } else {
    const agg = new FlowAggregator({ key: a.key, window: a.window, minPackets: a.minPackets, minBytes: a.minBytes, top: a.top ?? undefined });
    keyFields = parseKeySpec(a.key).fields;
    // Every reject as it is found: a batch carries the rejects seen up to it, and those after
    // the last batch (a file of whole batches, or of no rows) would be lost.
    const found: Reject[] = [];
    lines = 0;
    for await (const batch of readNfcapdFlows(file.path, { maxRejects, nfdump: options.nfdump, signal: options.signal, rejects: { add: (r) => found.push(r) } })) {
      agg.add(batch.columns, file.relPath);
      lines += batch.columns.length;
    }
    rejects = found;
    flows = agg.flowCount;
    lines += rejects.length;
    rows = agg.rows();
    nfdumpArgs = 'flows';
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
  const table = nightlyAggregateTable(rows, keyFields, Array<string>(rows.length).fill(file.relPath), {
    'flowknn.source': file.relPath,
    'flowknn.key': a.key,
    'flowknn.window_s': a.source === 'nfdump' ? 'file' : String(a.window),
  });
  let sha256: string;
  try {
    sha256 = await digest;
  } catch (err) {
    throw new FlowknnError('input', `cannot read it (${(err as Error).message})`, { file: file.path, cause: err });
  }
  return { table, rejects, lines, flows, nfdumpArgs, sha256 };
}
