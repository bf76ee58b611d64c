import { Field, Float64, Int32, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { withMetadata, type Schema } from './arrow.js';

/**
 * The Arrow schemas flowknn writes. Each table kind has exactly one schema; units are in the
 * field names (`duration_s`) or types (timestamps in ms, UTC). Schema metadata carries the
 * kind, the schema version and where the rows came from.
 */

export const SCHEMA_VERSION = '1';

/** Rows per record batch of the flow readers (nfdump's own output and flow CSV files) unless told otherwise. */
export const DEFAULT_BATCH_ROWS = 65_536;

/**
 * Timestamps are epoch milliseconds in UTC, and say so (`timestamp[ms, "UTC"]`): readers such
 * as polars, DuckDB and pyarrow then show instants, not naive local times.
 */
export function utcMillis(): TimestampMillisecond {
  return new TimestampMillisecond('UTC');
}

export type TableKind = 'stat' | 'flow' | 'predictions';

/**
 * `stat`: one row per aggregate as nfdump's statistics print them (`-s dstip/pps/bps`), from
 * text or CSV output. The seven feature columns come straight from nfdump.
 */
export const STAT_FIELDS: Field[] = [
  new Field('first_seen', utcMillis(), true),
  new Field('last_seen', utcMillis(), true),
  new Field('duration_s', new Float64(), false),
  new Field('proto', new Utf8(), true),
  /** The aggregated element: an address (possibly masked), a port, ...; as nfdump printed it. */
  new Field('key', new Utf8(), false),
  new Field('flows', new Float64(), false),
  new Field('flows_pct', new Float64(), true),
  new Field('packets', new Float64(), false),
  new Field('packets_pct', new Float64(), true),
  new Field('bytes', new Float64(), false),
  new Field('bytes_pct', new Float64(), true),
  new Field('pps', new Float64(), false),
  new Field('bps', new Float64(), false),
  new Field('bpp', new Float64(), false),
  /** nfdump prints one table per order (`-s dstip/pps/bps` gives a pps and a bps table, with
   *  the same hosts): the table's 0-based position in the file, and its order when printed. */
  new Field('section', new Int32(), false),
  new Field('ordered_by', new Utf8(), true),
  /** Free text after `#` on a data line (the seed's probe descriptions). */
  new Field('note', new Utf8(), true),
  new Field('source_file', new Utf8(), false),
  new Field('source_line', new Int32(), false),
];

/** `flow`: one row per flow record (`nfdump -o csv`). In/out counters as nfdump names them. */
export const FLOW_FIELDS: Field[] = [
  new Field('first_seen', utcMillis(), false),
  new Field('last_seen', utcMillis(), false),
  new Field('duration_s', new Float64(), false),
  new Field('src_addr', new Utf8(), false),
  new Field('dst_addr', new Utf8(), false),
  new Field('src_port', new Int32(), false),
  new Field('dst_port', new Int32(), false),
  new Field('proto', new Utf8(), false),
  new Field('tcp_flags', new Utf8(), true),
  /** Flow records this row stands for (nfdump 1.7.5+ prints it; 1 for unaggregated records). */
  new Field('flows', new Float64(), false),
  new Field('in_packets', new Float64(), false),
  new Field('in_bytes', new Float64(), false),
  new Field('out_packets', new Float64(), true),
  new Field('out_bytes', new Float64(), true),
  new Field('source_line', new Int32(), false),
];

export function statSchema(meta: Record<string, string>): Schema {
  return withMetadata(STAT_FIELDS, { 'flowknn.kind': 'stat', 'flowknn.schema_version': SCHEMA_VERSION, ...meta });
}

export function flowSchema(meta: Record<string, string>): Schema {
  return withMetadata(FLOW_FIELDS, { 'flowknn.kind': 'flow', 'flowknn.schema_version': SCHEMA_VERSION, ...meta });
}

/** Column-wise rows of a `stat` table while a parser collects them. */
export class StatColumns {
  first_seen: (number | null)[] = [];
  last_seen: (number | null)[] = [];
  duration_s: number[] = [];
  proto: (string | null)[] = [];
  key: string[] = [];
  flows: number[] = [];
  flows_pct: (number | null)[] = [];
  packets: number[] = [];
  packets_pct: (number | null)[] = [];
  bytes: number[] = [];
  bytes_pct: (number | null)[] = [];
  pps: number[] = [];
  bps: number[] = [];
  bpp: number[] = [];
  section: number[] = [];
  ordered_by: (string | null)[] = [];
  note: (string | null)[] = [];
  source_file: string[] = [];
  source_line: number[] = [];

  get length(): number {
    return this.key.length;
  }
}

export class FlowColumns {
  first_seen: number[] = [];
  last_seen: number[] = [];
  duration_s: number[] = [];
  src_addr: string[] = [];
  dst_addr: string[] = [];
  src_port: number[] = [];
  dst_port: number[] = [];
  proto: string[] = [];
  tcp_flags: (string | null)[] = [];
  flows: number[] = [];
  in_packets: number[] = [];
  in_bytes: number[] = [];
  out_packets: (number | null)[] = [];
  out_bytes: (number | null)[] = [];
  source_line: number[] = [];

  get length(): number {
    return this.src_addr.length;
  }
}
