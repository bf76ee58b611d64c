import { Field, Float64, Int32, Utf8, type Data, type RecordBatch, type Table } from 'apache-arrow';
import { excerpt, inputError, usageError } from '../errors.js';
import { buildTable, numberColumn, stringColumn, withMetadata, type ColumnValues, type Schema } from '../schema/arrow.js';
import { SCHEMA_VERSION, utcMillis, type FlowColumns } from '../schema/tables.js';
import { TextCache } from '../schema/text-cache.js';
import { NFDUMP_STAT7 } from './feature-set.js';
import { PrefixCache, parsePrefixLengths, prefixLengthsText, type AddressPrefix } from './prefix.js';

/**
 * Aggregation of flow records into the seven nfdump statistics features, per key and per time
 * window, with nfdump's own definitions and rounding, so that aggregating the raw flows of an
 * nfcapd file gives exactly what `nfdump -s dstip/pps/bps -n 0 -o csv` prints for it.
 *
 * nfdump 1.7.1, src/nfdump/nfstat.c (phaag/nfdump; same code in 1.7.x up to the current
 * release, which only adds a `msecFirst && msecLast` guard):
 * - AddElementStat(): a flow record adds to the element of its key (`-s dstip`: its destination
 *   address; `-s srcip`: its source): flows += `aggr_flows ? aggr_flows : 1`; in/out packets and
 *   bytes summed; msecFirst = min, msecLast = max over the records.
 * - order table: `pps`, `bps`, `packets`, `bytes`, `bpp` use INOUT counters (in + out);
 *   `ipps`, `ibps`, ... use in, `opps`, ... out. Files made by nfpcapd have out = 0.
 * - PrintCvsStatLine(): duration = (msecLast - msecFirst) / 1000.0 (a double, printed `%.3f`);
 *   pps = (uint64_t)((double)packets / duration), bps = (uint64_t)((double)(8 * bytes) /
 *   duration), both 0 when duration == 0; bpp = (uint32_t)(bytes / packets) (integer
 *   division), 0 when packets == 0. I.e. truncation, never rounding.
 * - Sorting (StatTopN) uses other, integer, formulas: pps_element = 1000 * packets /
 *   duration_ms, bps_element = 8000 * bytes / duration_ms (uint64 division, 0 when the duration
 *   is 0). Top-N here sorts by the same values; nfdump's order among equal values is unspecified
 *   (hash order), here it is the key's.
 * - `-l N` / `-L N` (1.7.1; gone later) drop aggregates with packets (bytes) <= N before
 *   sorting; minPackets / minBytes keep aggregates with at least that many (so `-l 1000` is
 *   minPackets 1001).
 *
 * Time windows are aligned to the epoch (UTC): a flow belongs to the window holding its first
 * seen, whole, even if it lasts longer (nfcapd files, too, hold whole flows). `whole` puts every
 * flow of the input in one window.
 */

/**
 * Fields a key may join. `router` is not in the flow records: it is the router (exporter) whose
 * archive a file lies in (src/ingest/archive.ts routerOf: NfSen's `live/<router>/...`), given to
 * the aggregator (`AggregateOptions.router`) or, for partial aggregates, as a column.
 */
export const KEY_FIELDS = ['srcip', 'dstip', 'proto', 'srcport', 'dstport', 'router'] as const;
export type KeyField = (typeof KEY_FIELDS)[number];

export interface KeySpec {
  readonly fields: readonly KeyField[];
  /** Per field: the prefix its addresses are cut to (`dstip/24`), undefined for whole values. */
  readonly prefixes: readonly (AddressPrefix | undefined)[];
  /** Canonical name, e.g. `dstip+proto`, `dstip/24`. */
  readonly name: string;
}

/**
 * `dstip`, `srcip`, `dstip+proto`, `dstip+dstport`, `srcip+dstip`, ...: fields joined with `+`,
 * each at most once, kept in the given order. An address field may take prefix lengths:
 * `dstip/24` (IPv4 /24, IPv6 /64) or `dstip/24/48`, and its value is then the prefix.
 */
export function parseKeySpec(spec: string | readonly KeyField[]): KeySpec {
  const parts = typeof spec === 'string' ? spec.split('+').map((p) => p.trim().toLowerCase()) : [...spec];
  if (parts.length === 0 || parts.some((p) => p === '')) throw usageError(`aggregation key: expected fields joined with +, like dstip or dstip+proto, got "${excerpt(String(spec))}"`);
  const fields: KeyField[] = [];
  const prefixes: (AddressPrefix | undefined)[] = [];
  const names: string[] = [];
  for (const part of parts) {
    const slash = part.indexOf('/');
    const p = slash < 0 ? part : part.slice(0, slash);
    if (!(KEY_FIELDS as readonly string[]).includes(p)) {
      throw usageError(`aggregation key: unknown field "${excerpt(p)}"; expected ${KEY_FIELDS.join(', ')} (joined with +; srcip and dstip may take a prefix, like dstip/24)`);
    }
    if (fields.includes(p as KeyField)) throw usageError(`aggregation key: field "${excerpt(p)}" given twice`);
    let prefix: AddressPrefix | undefined;
    if (slash >= 0) {
      if (p !== 'srcip' && p !== 'dstip') throw usageError(`aggregation key: only srcip and dstip take a prefix length, got "${excerpt(part)}"`);
      const parsed = parsePrefixLengths(part.slice(slash + 1));
      if (typeof parsed === 'string') throw usageError(`aggregation key "${excerpt(part)}": ${parsed}`);
      prefix = parsed;
    }
    fields.push(p as KeyField);
    prefixes.push(prefix);
    names.push(prefix ? `${p}/${prefixLengthsText(prefix)}` : p);
  }
  return { fields, prefixes, name: names.join('+') };
}

export type WindowSpec = number | 'whole';

/** `300`, `300s`, `5m`, `1h`, `whole` -> seconds or `whole`. */
export function parseWindow(text: string | number): WindowSpec {
  if (text === 'whole') return 'whole';
  const m = typeof text === 'number' ? [String(text), String(text), 's'] : /^(\d+)\s*([smh]?)$/u.exec(text.trim());
  const value = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] ?? '']! : Number.NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw usageError(`time window: expected whole seconds > 0 (300, 300s, 5m, 1h) or "whole", got "${excerpt(String(text))}"`);
  return value;
}

export type Counters = 'inout' | 'in' | 'out';
export type RankBy = 'pps' | 'bps';

export interface AggregateOptions {
  /** Default `dstip`. */
  key?: string | readonly KeyField[];
  /** Seconds (aligned windows) or `whole`; default 300. */
  window?: WindowSpec | string;
  /** Which packet/byte counters to sum: in + out (nfdump's pps/bps orders; default), in, out. */
  counters?: Counters;
  /** Keep aggregates with at least this many packets / bytes / flows. */
  minPackets?: number;
  minBytes?: number;
  minFlows?: number;
  /** Keep the top n aggregates of each window by pps or bps (nfdump's sort values). */
  top?: { n: number; by: RankBy };
  /** Order of the rows within a window (default: `top.by`, else pps), descending. */
  orderBy?: RankBy;
  /** The router of every record added without a `router` column (the key's `router` field). */
  router?: string;
}

/** One aggregate: key, window and nfdump's seven features. */
export interface AggregateRow {
  windowStart: number | null;
  key: string;
  values: readonly (string | number)[];
  firstSeen: number;
  lastSeen: number;
  durationMs: number;
  flows: number;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
  bpp: number;
}

interface Acc {
  values: (string | number)[];
  flows: number;
  packets: number;
  bytes: number;
  first: number;
  last: number;
}

/**
 * An aggregate's duration as nfdump's statistics compute it (1.7.8, nfstat.c): 0 when its first
 * or last seen is 0, i.e. when it holds a record without times; nfdump's rates use that 0 (its
 * text table alone prints the raw difference, decades). So the host's pps and bps are 0, as
 * nfdump says, and its duration is not stretched to 1970.
 */
export function nfdumpDurationMs(firstMs: number, lastMs: number): number {
  return firstMs === 0 || lastMs === 0 ? 0 : lastMs - firstMs;
}

/** pps, bps and bpp exactly as nfdump's statistics print them (see the file comment). */
export function nfdumpRates(packets: number, bytes: number, durationMs: number): { pps: number; bps: number; bpp: number } {
  const duration = durationMs / 1000;
  const pps = duration !== 0 ? Math.floor(packets / duration) : 0;
  const bps = duration !== 0 ? Math.floor((8 * bytes) / duration) : 0;
  const bpp = packets !== 0 ? Math.floor(bytes / packets) % 4294967296 : 0;
  return { pps, bps, bpp };
}

/** nfdump's sort value for an order (pps_element / bps_element): integer arithmetic. */
export function nfdumpSortValue(by: RankBy, packets: number, bytes: number, durationMs: number): number {
  if (durationMs === 0) return 0;
  const factor = by === 'pps' ? 1000 : 8000;
  const value = by === 'pps' ? packets : bytes;
  const product = factor * value;
  if (product <= Number.MAX_SAFE_INTEGER) return Math.floor(product / durationMs);
  return Number((BigInt(factor) * BigInt(value)) / BigInt(durationMs));
}

/** The duration as nfdump's statistics CSV prints it (`%.3f` of seconds). */
export function nfdumpDuration(durationMs: number): string {
  return (durationMs / 1000).toFixed(3);
}

/** The `aggregate` table: key fields (null where not part of the key), window, seven features. */
export const AGGREGATE_FIELDS: Field[] = [
  /** Start of the aligned window (UTC); null for `whole`. */
  new Field('window_start', utcMillis(), true),
  /** The key's values joined with `|` (a single field: as nfdump prints it, e.g. `10.0.0.10`). */
  new Field('key', new Utf8(), false),
  new Field('src_addr', new Utf8(), true),
  new Field('dst_addr', new Utf8(), true),
  new Field('proto', new Utf8(), true),
  new Field('src_port', new Int32(), true),
  new Field('dst_port', new Int32(), true),
  /** The router whose archive the flows came from (key field `router`; the nightly job fills it always). */
  new Field('router', new Utf8(), true),
  new Field('first_seen', utcMillis(), false),
  new Field('last_seen', utcMillis(), false),
  // NFDUMP_STAT7, in its order
  new Field('duration_s', new Float64(), false),
  new Field('flows', new Float64(), false),
  new Field('packets', new Float64(), false),
  new Field('bytes', new Float64(), false),
  new Field('pps', new Float64(), false),
  new Field('bps', new Float64(), false),
  new Field('bpp', new Float64(), false),
];

const KEY_COLUMN: Record<KeyField, string> = { srcip: 'src_addr', dstip: 'dst_addr', proto: 'proto', srcport: 'src_port', dstport: 'dst_port', router: 'router' };

export function aggregateSchema(meta: Record<string, string>): Schema {
  return withMetadata(AGGREGATE_FIELDS, { 'flowknn.kind': 'aggregate', 'flowknn.schema_version': SCHEMA_VERSION, 'flowknn.feature_set': NFDUMP_STAT7.name, ...meta });
}

/** The flow columns the aggregator reads: FlowColumns, or the same columns from an Arrow table. */
interface FlowView {
  readonly length: number;
  readonly first_seen: ArrayLike<number>;
  readonly last_seen: ArrayLike<number>;
  readonly src_addr: ArrayLike<string | null>;
  readonly dst_addr: ArrayLike<string | null>;
  readonly proto: ArrayLike<string | null>;
  readonly src_port: ArrayLike<number>;
  readonly dst_port: ArrayLike<number>;
  readonly flows: ArrayLike<number>;
  readonly in_packets: ArrayLike<number>;
  readonly in_bytes: ArrayLike<number>;
  readonly out_packets: ArrayLike<number | null>;
  readonly out_bytes: ArrayLike<number | null>;
  /** Partial aggregates of several routers' files (the key's `router`); else AggregateOptions.router. */
  readonly router?: ArrayLike<string | null>;
}

/**
 * Streaming aggregation: feed flow batches with `add`, then take the rows or the table. Memory
 * grows with the number of (window, key) groups, not with the number of flows.
 */
/** What FlowAggregator.add takes of its records (see there). */
export interface AddScope {
  /** The records are partial aggregates; the keys of those not added are put here. */
  readonly partials?: Set<string>;
  /** Only the records of these keys are added. */
  readonly only?: ReadonlySet<string>;
}

export class FlowAggregator {
  readonly key: KeySpec;
  readonly window: WindowSpec;
  readonly counters: Counters;
  private readonly windowMs: number;
  private readonly groups = new Map<number | null, Map<string, Acc>>();
  private readonly prefixCaches: readonly (PrefixCache | undefined)[];
  private flowsSeen = 0;
  private untimedSeen = 0;


  constructor(
    private readonly options: AggregateOptions = {},
    private readonly texts = new TextCache(),
  ) {
    this.key = parseKeySpec(options.key ?? 'dstip');
    this.prefixCaches = this.key.prefixes.map((p) => (p ? new PrefixCache(p) : undefined));
    this.window = parseWindow(options.window ?? 300);
    this.windowMs = this.window === 'whole' ? 0 : this.window * 1000;
    this.counters = options.counters ?? 'inout';
    if (!['inout', 'in', 'out'].includes(this.counters)) throw usageError(`counters: expected inout, in or out, got "${excerpt(String(this.counters))}"`);
    for (const [name, v] of [['minPackets', options.minPackets], ['minBytes', options.minBytes], ['minFlows', options.minFlows]] as const) {
      if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw usageError(`${name}: expected a number >= 0, got ${v}`);
    }
    if (options.top && (!Number.isInteger(options.top.n) || options.top.n < 1 || !['pps', 'bps'].includes(options.top.by))) {
      throw usageError(`top: expected n >= 1 and by pps or bps, got ${JSON.stringify(options.top)}`);
    }
  }

  /** Flows added so far (a record's `flows` when it counts more than one, as nfdump counts them). */
  get flowCount(): number {
    return this.flowsSeen;
  }

  /**
   * Flow records without a time: first seen 0 (1970-01-01), as a record is stored whose
   * exporter or collector set no times (seen from softflowd's IPFIX into nfcapd 1.7.8). They
   * count as nfdump counts them (see rows()); how many there were is reported.
   */
  get untimedCount(): number {
    return this.untimedSeen;
  }

  /** An empty aggregator with the same key, window, counters and filters (and text cache); `router` for its flows, when given. */
  emptyLike(router?: string): FlowAggregator {
    return new FlowAggregator(router === undefined ? this.options : { ...this.options, router }, this.texts);
  }

  /**
   * Takes in another aggregator's groups (same settings: made with emptyLike). An input is
   * aggregated on its own and merged only once it was read whole, so an input that fails part
   * way leaves nothing in the result, while memory stays bounded by the groups, not the flows.
   */
  merge(other: FlowAggregator): void {
    if (other.key.name !== this.key.name || other.window !== this.window || other.counters !== this.counters) {
      throw new Error(`merging aggregators of different settings (${other.key.name}/${other.window}/${other.counters} into ${this.key.name}/${this.window}/${this.counters})`);
    }
    for (const [win, theirs] of other.groups) {
      let mine = this.groups.get(win);
      if (!mine) {
        this.groups.set(win, theirs);
        continue;
      }
      for (const [key, acc] of theirs) {
        const m = mine.get(key);
        if (!m) {
          mine.set(key, acc);
          continue;
        }
        m.flows += acc.flows;
        m.packets += acc.packets;
        m.bytes += acc.bytes;
        if (acc.first < m.first) m.first = acc.first;
        if (acc.last > m.last) m.last = acc.last;
      }
    }
    this.flowsSeen += other.flowsSeen;
    this.untimedSeen += other.untimedSeen;
    other.groups.clear();
  }

  /**
   * Adds flow records (FlowColumns from a parser or a FlowBatch's columns). With `scope`:
   * - `partials`: the records are partial aggregates of one key each (nfdump -A of a file):
   *   `flows` counts the flows each sums, and flowCount grows by them. A partial whose flows
   *   may fall in more than one window (its first and last seen lie in different windows) or
   *   that holds flows without a time (first seen 0) is not added: its key goes into
   *   `partials`, for the caller to add that key's flows themselves (scope `only`).
   * - `only`: adds only the records of these keys, and counts none (their file was counted
   *   with its partials).
   */
  add(cols: FlowColumns | FlowView, file?: string, scope?: AddScope): void {
    const n = cols.length;
    const partials = scope?.partials;
    const only = scope?.only;
    const fields = this.key.fields;
    const getters = fields.map((f, j) => keyGetter(cols, f, this.prefixCaches[j], this.options.router));
    const single = getters.length === 1 ? getters[0]! : undefined;
    const useIn = this.counters !== 'out';
    const useOut = this.counters !== 'in';
    let untimed = 0;
    let counted = 0;
    for (let i = 0; i < n; i++) {
      const first = cols.first_seen[i]!;
      const last = cols.last_seen[i]!;
      if (!Number.isFinite(first) || !Number.isFinite(last) || last < first) {
        throw inputError(`flow record ${i + 1}: first/last seen ${first}/${last} are not a valid time span`, { file });
      }
      const win = this.windowMs === 0 ? null : Math.floor(first / this.windowMs) * this.windowMs;
      const values = single ? undefined : getters.map((g) => g(i));
      const key = single ? String(single(i)) : values!.join('|');
      if (!only) {
        // flows, as nfdump counts them: a record of an aggregated file (nfdump -A -w) counts its flows
        const fl = cols.flows[i]!;
        counted += fl > 0 ? fl : 1;
      }
      if (partials) {
        if (first === 0 || (win !== null && Math.floor(last / this.windowMs) * this.windowMs !== win)) {
          partials.add(key);
          continue;
        }
      } else if (only && !only.has(key)) continue;
      if (first === 0) untimed++;
      let map = this.groups.get(win);
      if (!map) {
        map = new Map();
        this.groups.set(win, map);
      }
      let acc = map.get(key);
      if (!acc) {
        acc = { values: values ?? [single!(i)], flows: 0, packets: 0, bytes: 0, first, last };
        map.set(key, acc);
      }
      this.accumulate(acc, cols, i, first, last, useIn, useOut);
    }
    this.flowsSeen += only ? 0 : counted;
    this.untimedSeen += untimed;
  }

  private accumulate(acc: Acc, cols: FlowView | FlowColumns, i: number, first: number, last: number, useIn: boolean, useOut: boolean): void {
    const fl = cols.flows[i]!;
    acc.flows += fl > 0 ? fl : 1;
    if (useIn) {
      acc.packets += cols.in_packets[i]!;
      acc.bytes += cols.in_bytes[i]!;
    }
    if (useOut) {
      acc.packets += cols.out_packets[i] ?? 0;
      acc.bytes += cols.out_bytes[i] ?? 0;
    }
    if (first < acc.first) acc.first = first;
    if (last > acc.last) acc.last = last;
  }

  /**
   * Adds the rows of a record batch of the `flow` schema, as every input format gives them,
   * reading its buffers directly (numbers from the typed arrays, times from their int64 words,
   * only the key's text columns decoded): the path of every aggregation of flow inputs.
   */
  addBatch(batch: RecordBatch, file?: string, scope?: AddScope): void {
    const n = batch.numRows;
    const child = (name: string) => {
      const c = batch.getChild(name);
      if (!c) throw inputError(`not a flow table: no column "${name}"`, { file });
      return c.data[0]!;
    };
    const needs = new Set(this.key.fields);
    const empty = new Array<null>(n).fill(null);
    const zeros = new Float64Array(n);
    this.add(
      {
        length: n,
        first_seen: int64Values(child('first_seen'), n),
        last_seen: int64Values(child('last_seen'), n),
        src_addr: needs.has('srcip') ? utf8Values(child('src_addr'), n, this.texts) : empty,
        dst_addr: needs.has('dstip') ? utf8Values(child('dst_addr'), n, this.texts) : empty,
        proto: needs.has('proto') ? utf8Values(child('proto'), n, this.texts) : empty,
        src_port: needs.has('srcport') ? numericValues(child('src_port'), n) : zeros,
        dst_port: needs.has('dstport') ? numericValues(child('dst_port'), n) : zeros,
        flows: numericValues(child('flows'), n),
        in_packets: numericValues(child('in_packets'), n),
        in_bytes: numericValues(child('in_bytes'), n),
        out_packets: numericValues(child('out_packets'), n),
        out_bytes: numericValues(child('out_bytes'), n),
      },
      file,
      scope,
    );
  }

  /** Adds the rows of an Arrow `flow` table (e.g. from `readInput` of an nfdump flow CSV). */
  addTable(table: Table, file?: string): void {
    const num = (name: string, nullable = false) => {
      const c = numberColumn(table, name);
      if (!c) {
        if (nullable) return new Float64Array(table.numRows);
        throw inputError(`not a flow table: no column "${name}"`, { file });
      }
      if (nullable) for (let i = 0; i < c.length; i++) if (Number.isNaN(c[i])) c[i] = 0;
      return c;
    };
    const str = (name: string) => {
      const c = stringColumn(table, name);
      if (!c) throw inputError(`not a flow table: no column "${name}"`, { file });
      return c;
    };
    const needs = new Set(this.key.fields);
    const empty = new Array<null>(table.numRows).fill(null);
    const zeros = new Float64Array(table.numRows);
    this.add(
      {
        length: table.numRows,
        first_seen: num('first_seen'),
        last_seen: num('last_seen'),
        src_addr: needs.has('srcip') ? str('src_addr') : empty,
        dst_addr: needs.has('dstip') ? str('dst_addr') : empty,
        proto: needs.has('proto') ? str('proto') : empty,
        src_port: needs.has('srcport') ? num('src_port') : zeros,
        dst_port: needs.has('dstport') ? num('dst_port') : zeros,
        flows: num('flows', true),
        in_packets: num('in_packets'),
        in_bytes: num('in_bytes'),
        out_packets: num('out_packets', true),
        out_bytes: num('out_bytes', true),
      },
      file,
    );
  }

  /** The aggregates: windows in time order; within a window by orderBy (descending), then key. */
  rows(): AggregateRow[] {
    const o = this.options;
    const by: RankBy = o.orderBy ?? o.top?.by ?? 'pps';
    const out: AggregateRow[] = [];
    const windows = [...this.groups.keys()].sort((a, b) => (a ?? 0) - (b ?? 0));
    for (const win of windows) {
      // The window's kept groups, ordered by index (a sort of objects costs several times more).
      const group = this.groups.get(win)!;
      const accs: Acc[] = [];
      const keys: string[] = [];
      const sortValues = new Float64Array(group.size);
      for (const [key, acc] of group) {
        if (acc.packets > Number.MAX_SAFE_INTEGER || acc.bytes > Number.MAX_SAFE_INTEGER || acc.flows > Number.MAX_SAFE_INTEGER) {
          throw inputError(`aggregate ${key}: packet, byte or flow sums beyond 2^53 cannot be exact`);
        }
        if (acc.packets < (o.minPackets ?? 0) || acc.bytes < (o.minBytes ?? 0) || acc.flows < (o.minFlows ?? 0)) continue;
        sortValues[keys.length] = nfdumpSortValue(by, acc.packets, acc.bytes, nfdumpDurationMs(acc.first, acc.last));
        accs.push(acc);
        keys.push(key);
      }
      const order = new Array<number>(keys.length);
      for (let i = 0; i < order.length; i++) order[i] = i;
      order.sort((a, b) => sortValues[b]! - sortValues[a]! || (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
      const kept = o.top ? order.slice(0, o.top.n) : order;
      for (const i of kept) {
        const acc = accs[i]!;
        const durationMs = nfdumpDurationMs(acc.first, acc.last);
        const rates = nfdumpRates(acc.packets, acc.bytes, durationMs);
        out.push({
          windowStart: win,
          key: keys[i]!,
          values: acc.values,
          firstSeen: acc.first,
          lastSeen: acc.last,
          durationMs,
          flows: acc.flows,
          packets: acc.packets,
          bytes: acc.bytes,
          pps: rates.pps,
          bps: rates.bps,
          bpp: rates.bpp,
        });
      }
    }
    return out;
  }

  /** The aggregates as an Arrow `aggregate` table whose feature columns are NFDUMP_STAT7's. */
  table(meta: Record<string, string> = {}): Table {
    const rows = this.rows();
    const n = rows.length;
    const cols = aggregateColumns(rows, this.key.fields);
    const o = this.options;
    const schema = aggregateSchema({
      'flowknn.key': this.key.name,
      'flowknn.window_s': String(this.window),
      'flowknn.counters': this.counters,
      ...(o.top ? { 'flowknn.top': `${o.top.n}/${o.top.by}` } : {}),
      ...(o.minPackets ? { 'flowknn.min_packets': String(o.minPackets) } : {}),
      ...(o.minBytes ? { 'flowknn.min_bytes': String(o.minBytes) } : {}),
      ...(o.minFlows ? { 'flowknn.min_flows': String(o.minFlows) } : {}),
      ...meta,
    });
    return buildTable(schema, cols, n);
  }
}

/** An `aggregate` table of no rows. */
export function emptyAggregateTable(meta: Record<string, string> = {}): Table {
  return buildTable(aggregateSchema(meta), aggregateColumns([], []), 0);
}

/** The columns of the `aggregate` table for rows grouped by `keyFields` (other key columns null). */
export function aggregateColumns(rows: readonly AggregateRow[], keyFields: readonly KeyField[]): Record<string, ColumnValues> {
  const cols: Record<string, ColumnValues> = {
    window_start: rows.map((r) => r.windowStart),
    key: rows.map((r) => r.key),
    first_seen: rows.map((r) => r.firstSeen),
    last_seen: rows.map((r) => r.lastSeen),
    duration_s: floats(rows, (r) => r.durationMs / 1000),
    flows: floats(rows, (r) => r.flows),
    packets: floats(rows, (r) => r.packets),
    bytes: floats(rows, (r) => r.bytes),
    pps: floats(rows, (r) => r.pps),
    bps: floats(rows, (r) => r.bps),
    bpp: floats(rows, (r) => r.bpp),
  };
  for (const f of KEY_FIELDS) {
    const at = keyFields.indexOf(f);
    cols[KEY_COLUMN[f]] = rows.map((r) => (at < 0 ? null : r.values[at]!));
  }
  return cols;
}

/** One number per row (a loop: Float64Array.from with a map function is several times slower in V8). */
function floats(rows: readonly AggregateRow[], value: (r: AggregateRow) => number): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = value(rows[i]!);
  return out;
}

function keyGetter(cols: FlowColumns | FlowView, field: KeyField, prefix?: PrefixCache, router?: string): (i: number) => string | number {
  const text = (arr: ArrayLike<string | null>, name: string) => {
    const value = (i: number) => {
      const v = arr[i];
      if (v === null || v === undefined || v === '') throw inputError(`flow record ${i + 1}: no ${name} to aggregate by`);
      return v;
    };
    if (!prefix) return value;
    // an address cut to its prefix (dstip/24); decided once per batch, not per record
    return (i: number) => {
      const v = value(i);
      const cut = prefix.of(v);
      if (cut === undefined) throw inputError(`flow record ${i + 1}: ${name} "${excerpt(v)}" is not an IP address, expected one to take its /${prefixLengthsText(prefix.prefix)} prefix`);
      return cut;
    };
  };
  switch (field) {
    case 'srcip':
      return text(cols.src_addr, 'source address');
    case 'dstip':
      return text(cols.dst_addr, 'destination address');
    case 'proto':
      return text(cols.proto, 'protocol');
    case 'router': {
      const column = 'router' in cols ? cols.router : undefined;
      if (column) return text(column, 'router');
      if (router === undefined || router === '') throw usageError('aggregation key "router": no router given for these flows (it comes from the archive folder a file lies in)');
      return () => router;
    }
    case 'srcport':
      return (i) => cols.src_port[i]!;
    case 'dstport':
      return (i) => cols.dst_port[i]!;
  }
}

/** True where the value of row i is not null. */
function valid(data: Data, i: number): boolean {
  if (data.nullCount === 0 || !data.nullBitmap) return true;
  const j = data.offset + i;
  return ((data.nullBitmap[j >> 3]! >> (j & 7)) & 1) === 1;
}

/** A numeric column (Float64, Int32, ...) as numbers; nulls read as 0. */
function numericValues(data: Data, n: number): ArrayLike<number> {
  const values = data.values as ArrayLike<number | bigint>;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) return int64Values(data, n);
  const view = (values as Float64Array).subarray(data.offset, data.offset + n);
  if (data.nullCount === 0) return view;
  const out = Float64Array.from(view);
  for (let i = 0; i < n; i++) if (!valid(data, i)) out[i] = 0;
  return out;
}

/** An int64 column (timestamps in ms) as numbers, from its 32-bit words: no BigInt per value. */
function int64Values(data: Data, n: number): Float64Array {
  const values = data.values as BigInt64Array | Int32Array | Float64Array;
  const out = new Float64Array(n);
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    const words = new Int32Array(values.buffer, values.byteOffset + data.offset * 8, n * 2);
    for (let i = 0; i < n; i++) out[i] = words[2 * i + 1]! * 4294967296 + (words[2 * i]! >>> 0);
  } else {
    for (let i = 0; i < n; i++) out[i] = Number(values[data.offset + i]);
  }
  for (let i = 0; i < n; i++) if (!valid(data, i)) out[i] = Number.NaN;
  return out;
}

/** A Utf8 column as strings, each distinct run of bytes decoded once (see TextCache). */
function utf8Values(data: Data, n: number, cache: TextCache): (string | null)[] {
  const offsets = data.valueOffsets as Int32Array;
  const bytes = data.values as Uint8Array;
  const out: (string | null)[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = valid(data, i) ? cache.get(bytes, offsets[data.offset + i]!, offsets[data.offset + i + 1]!) : null;
  return out;
}

/** Something that yields flow batches: readNfcapdFlows(...), or plain FlowColumns. */
export type FlowSource = AsyncIterable<{ columns: FlowColumns; file?: string } | FlowColumns> | Iterable<{ columns: FlowColumns; file?: string } | FlowColumns>;

/** Aggregates every batch of a source (e.g. `readNfcapdFlows(file)`) into an `aggregate` table. */
export async function aggregateFlows(source: FlowSource, options: AggregateOptions = {}, meta: Record<string, string> = {}): Promise<Table> {
  const agg = new FlowAggregator(options);
  for await (const item of source as AsyncIterable<{ columns: FlowColumns; file?: string } | FlowColumns>) {
    if ('columns' in item) agg.add(item.columns, item.file);
    else agg.add(item);
  }
  return agg.table(meta);
}
