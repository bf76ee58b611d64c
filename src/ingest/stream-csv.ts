import { AsyncByteQueue, Field, makeData, RecordBatch, RecordBatchFileWriter, Struct, type Schema } from 'apache-arrow';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createGunzip, type Gunzip, type ZlibOptions } from 'node:zlib';
import { environmentError, excerpt, FlowknnError, inputError } from '../errors.js';
import { ensureDir } from '../io/atomic.js';
import { flowSchema } from '../schema/tables.js';
import { csvKind, FLOW_CSV_COLUMNS, isLegacyFlowRow, LEGACY_FLOW_HEADER, normaliseHeader, protoName, type ColumnSpec } from './csv.js';
import { parseDateTime, parsePlainNumber } from './fields.js';
import { FileRejects, type RejectSink, type RejectThreshold } from './rejects.js';

type ArrayBufferViewInput = Parameters<AsyncByteQueue['write']>[0];

/**
 * Streaming reader of nfdump flow CSV (`nfdump -o csv`, plain or gzip): bytes in, Arrow record
 * batches of the `flow` schema out, with memory bounded by the batch size and the read chunk,
 * not by the file.
 *
 * The layouts, header aliases, header-less `-q` output and the Summary trailer are those of
 * parseFlowCsv (src/ingest/csv.ts), and on valid rows the values are the same, bit for bit.
 * It also rejects values parseFlowCsv lets through: negative durations or counts, counts that
 * are not whole numbers or above 2^53 - 1 (a double no longer holds them exactly), ICMP
 * type.code outside 0..255, dates past the range of JavaScript dates, and text fields that are
 * not valid UTF-8 or hold control characters.
 *
 * The hot path works on bytes: lines are cut with Buffer.indexOf, fields by a comma scan (four
 * bytes at a time) into a reused Int32Array, numbers and dates are read from char codes, and
 * text fields are copied as bytes into the Arrow Utf8 buffers; no JavaScript string is made
 * for a valid row. Anything the fast path does not recognise goes through the same field
 * readers as parseFlowCsv (fields.ts), so the two agree on every input the fast path declines.
 *
 * Memory: the file is read in blocks cut at line ends into a few reused buffers; rows go into
 * typed-array column builders of `batchRows` rows, handed out as RecordBatches (zero-copy) and
 * reused once the consumer hands them back (`recycle`, as writeFlowArrowStream does). With
 * `threads` > 1 the blocks are parsed by worker threads (at most 2 per thread in flight) and
 * put back in order here, so batches, line numbers, rejects and errors do not depend on it.
 *
 * Output: writeFlowArrowStream writes the batches to an Arrow IPC file under a temporary name
 * and renames it when complete; a failure, an abort or SIGINT/SIGTERM/SIGHUP removes it.
 */

export interface FlowCsvStreamOptions extends RejectThreshold {
  /** Rows per record batch (default 65536). */
  batchRows?: number;
  /** Bytes per read from the file on one thread (default 1 MiB). */
  highWaterMark?: number;
  /**
   * Parse threads (default 1: this thread). With more, the file is cut into blocks at line
   * ends, parsed by worker threads, and put back in order here; batches, line numbers,
   * rejects and errors are the same as with one thread.
   */
  threads?: number;
  /** Bytes per block handed to a parse thread (default 4 MiB). */
  blockBytes?: number;
  /** Longest line accepted (default 1 MiB); a longer data line is rejected unread. */
  maxLineBytes?: number;
  /** Where rejected rows go as they are found (e.g. a RejectsWriter). */
  rejects?: RejectSink;
  /** Stops reading; the iteration ends with a FlowknnError. */
  signal?: AbortSignal;
  /** The name used in messages and the rejects file (default: the path). */
  displayName?: string;
}

export type FlowCsvLayout = 'nfdump-1.6/1.7.4' | 'nfdump-1.6/1.7.4 -q (no header)' | 'nfdump-1.7.5+' | 'other';

export interface FlowCsvStats {
  file: string;
  layout?: FlowCsvLayout;
  gzip: boolean;
  /** Bytes read from the file (compressed size for .gz) and bytes of CSV text parsed. */
  fileBytes: number;
  textBytes: number;
  lines: number;
  /** Data lines seen (rows + rejected). */
  dataLines: number;
  rows: number;
  rejected: number;
  batches: number;
  summary?: Record<string, number>;
}

/** The flow CSV columns and every name nfdump has used for them: the same table as the whole-text parser's. */
const FLOW_COLUMNS = FLOW_CSV_COLUMNS;

type ColumnKey = keyof typeof FLOW_COLUMNS;
type Positions = Record<ColumnKey, number>;

function locateColumns(header: string[], file: string, line: number): Positions {
  const names = header.map(normaliseHeader);
  const out = {} as Positions;
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(FLOW_COLUMNS) as [ColumnKey, ColumnSpec][]) {
    const at = names.findIndex((n) => spec.aliases.includes(n));
    if (at < 0 && spec.required) missing.push(`${spec.name} (${spec.aliases.slice(0, 2).join(' or ')})`);
    out[key] = at;
  }
  if (missing.length > 0) {
    throw inputError(`flow CSV header lacks ${missing.join(', ')}; got "${excerpt(header.join(','), 100)}"`, { file, line });
  }
  return out;
}

export const DEFAULT_BATCH_ROWS = 65536;
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/** Longest duration taken as a flow's (10 years); longer ones are broken timestamps. */
const MAX_DURATION_S = 10 * 365 * 86400;
/** The range of JavaScript dates (and of parseDateTime). */
const MAX_TIME_MS = 8.64e15;
const POW10 = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const TWO32 = 4294967296;

const utf8 = new TextDecoder('utf-8');
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

function decode(buf: Uint8Array, a: number, b: number): string {
  return utf8.decode(buf.subarray(a, b));
}

/** Trims blanks and tabs: the cells nfdump pads (cl, sl, al) use blanks. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** Moves `a` past leading blanks (the cells nfdump pads, cl, sl and al, use blanks). */
function trimStart(buf: Uint8Array, a: number, b: number): number {
  while (a < b && buf[a] === 32) a++;
  return a;
}

function trimEnd(buf: Uint8Array, a: number, b: number): number {
  while (b > a && buf[b - 1] === 32) b--;
  return b;
}

/*
 * The fast field readers write their value into out[r] and return true, or return false for
 * anything they do not recognise (the slow path then decides). Values never travel as return
 * values: a double returned from a function that is not inlined is a heap allocation.
 */

/** A whole number of at most 15 digits. */
function uintInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n === 0 || n > 15) return false;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  out[r] = v;
  return true;
}

/**
 * `123` or `123.456` (at most 15 digits in all): the integer of all digits divided by a power
 * of ten. Both are exact doubles and IEEE division rounds correctly, so this is the double
 * nearest the decimal, as Number() gives.
 */
function decimalInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  if (b - a === 0 || b - a > 16) return false;
  let v = 0;
  let i = a;
  for (; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  if (i === a) return false;
  if (i === b) {
    if (b - a > 15) return false;
    out[r] = v;
    return true;
  }
  if (buf[i] !== 46 || i + 1 === b) return false;
  const fracStart = ++i;
  for (; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  out[r] = v / POW10[b - fracStart]!;
  return true;
}

function digit2(buf: Uint8Array, i: number): number {
  const a = buf[i]! - 48;
  const b = buf[i + 1]! - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Day numbers of the last date seen: dumps hold few distinct dates. */
let lastDateKey = -1;
let lastDateDays = 0;

/**
 * `YYYY-MM-DD hh:mm:ss[.f[f[f]]]` (or `T` between) as epoch ms, read as UTC; false when the
 * text is not that, or not a real date and time (parseDateTime then gives the message).
 */
function timeInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n !== 19 && (n < 21 || n > 23)) return false;
  const c = buf[a + 10];
  if (buf[a + 4] !== 45 || buf[a + 7] !== 45 || (c !== 32 && c !== 84) || buf[a + 13] !== 58 || buf[a + 16] !== 58) return false;
  const y1 = digit2(buf, a);
  const y2 = digit2(buf, a + 2);
  const mo = digit2(buf, a + 5);
  const d = digit2(buf, a + 8);
  const h = digit2(buf, a + 11);
  const mi = digit2(buf, a + 14);
  const s = digit2(buf, a + 17);
  if ((y1 | y2 | mo | d | h | mi | s) < 0) return false;
  if (h > 23 || mi > 59 || s > 59) return false;
  const key = (y1 * 100 + y2) * 10000 + mo * 100 + d;
  let days = lastDateDays;
  if (key !== lastDateKey) {
    const y = y1 * 100 + y2;
    // Date.UTC reads years 0..99 as 1900..1999, so parseDateTime refuses them.
    if (y < 100 || mo < 1 || mo > 12 || d < 1) return false;
    const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
    if (d > DAYS_IN_MONTH[mo]! + (leap ? 1 : 0)) return false;
    days = daysFromCivil(y, mo, d);
    lastDateKey = key;
    lastDateDays = days;
  }
  let ms = 0;
  if (n > 19) {
    if (buf[a + 19] !== 46) return false;
    let scale = 100;
    for (let i = a + 20; i < b; i++) {
      const x = buf[i]! - 48;
      if (x < 0 || x > 9) return false;
      ms += x * scale;
      scale /= 10;
    }
  }
  out[r] = days * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + ms;
  return true;
}

/** A port `0`..`65535` of at most 5 digits (not ICMP's type.code: the slow path reads it). */
function portInto(buf: Uint8Array, a: number, b: number, out: Int32Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n === 0 || n > 5) return false;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  if (v > 65535) return false;
  out[r] = v;
  return true;
}

/** Copies a printable-ASCII cell (already trimmed); false at any other byte. */
function asciiInto(col: Utf8Builder, buf: Uint8Array, a: number, b: number, r: number): boolean {
  const len = b - a;
  if (col.end + len > col.data.length) col.grow(col.end + len);
  const d = col.data;
  let o = col.end;
  for (let i = a; i < b; i++) {
    const c = buf[i]!;
    if (c < 33 || c > 126) return false;
    d[o++] = c;
  }
  col.end = o;
  col.offsets[r + 1] = o;
  return true;
}

/** Growable Utf8 column: offsets and bytes, as Arrow lays them out. */
class Utf8Builder {
  offsets: Int32Array;
  data: Uint8Array;
  end = 0;

  constructor(rows: number, bytes: number, reuse?: Utf8Piece) {
    this.offsets = reuse ? reuse.offsets : new Int32Array(rows + 1);
    this.data = reuse ? reuse.data : new Uint8Array(Math.max(64, bytes));
  }

  grow(need: number): void {
    let cap = this.data.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.data.subarray(0, this.end));
    this.data = next;
  }

  /** Appends rows [from, from + count) of another column (offsets rebased). */
  append(src: Utf8Piece, from: number, count: number, at: number): void {
    const a = src.offsets[from]!;
    const b = src.offsets[from + count]!;
    if (this.end + (b - a) > this.data.length) this.grow(this.end + (b - a));
    this.data.set(src.data.subarray(a, b), this.end);
    const shift = this.end - a;
    const o = this.offsets;
    const so = src.offsets;
    for (let i = 1; i <= count; i++) o[at + i] = so[from + i]! + shift;
    this.end += b - a;
  }
}

interface Utf8Piece {
  offsets: Int32Array;
  data: Uint8Array;
  end: number;
}

/** Rows parsed by a worker, as plain typed arrays (moved, not copied, between threads). */
export interface FlowPiece {
  n: number;
  first: Float64Array;
  last: Float64Array;
  duration: Float64Array;
  src: Utf8Piece;
  dst: Utf8Piece;
  srcPort: Int32Array;
  dstPort: Int32Array;
  proto: Utf8Piece;
  flags: Utf8Piece;
  flows: Float64Array;
  inPackets: Float64Array;
  inBytes: Float64Array;
  outPackets: Float64Array;
  outBytes: Float64Array;
  line: Int32Array;
}

/** The columns of the batch being filled. */
class FlowBatchBuilder {
  n = 0;
  readonly first: Float64Array;
  readonly last: Float64Array;
  readonly duration: Float64Array;
  readonly src: Utf8Builder;
  readonly dst: Utf8Builder;
  readonly srcPort: Int32Array;
  readonly dstPort: Int32Array;
  readonly proto: Utf8Builder;
  readonly flags: Utf8Builder;
  readonly flows: Float64Array;
  readonly inPackets: Float64Array;
  readonly inBytes: Float64Array;
  readonly outPackets: Float64Array;
  readonly outBytes: Float64Array;
  readonly line: Int32Array;
  /** The first and last seen times as int64 words, made by toBatch (main thread only). */
  words: [Int32Array, Int32Array] | undefined = undefined;

  /** New arrays for `cap` rows, or (in a parse thread) the arrays of a piece sent back. */
  constructor(
    readonly cap: number,
    textHint: number,
    reuse?: FlowPiece,
  ) {
    const f64 = (a: Float64Array | undefined) => a ?? new Float64Array(cap);
    const i32 = (a: Int32Array | undefined) => a ?? new Int32Array(cap);
    this.first = f64(reuse?.first);
    this.last = f64(reuse?.last);
    this.duration = f64(reuse?.duration);
    this.src = new Utf8Builder(cap, textHint * 14, reuse?.src);
    this.dst = new Utf8Builder(cap, textHint * 14, reuse?.dst);
    this.srcPort = i32(reuse?.srcPort);
    this.dstPort = i32(reuse?.dstPort);
    this.proto = new Utf8Builder(cap, textHint * 4, reuse?.proto);
    this.flags = new Utf8Builder(cap, textHint * 8, reuse?.flags);
    this.flows = f64(reuse?.flows);
    this.inPackets = f64(reuse?.inPackets);
    this.inBytes = f64(reuse?.inBytes);
    this.outPackets = f64(reuse?.outPackets);
    this.outBytes = f64(reuse?.outBytes);
    this.line = i32(reuse?.line);
  }

  /** The filled part, for postMessage, and the buffers to transfer. */
  toPiece(): { piece: FlowPiece; transfer: ArrayBuffer[] } {
    const n = this.n;
    const str = (s: Utf8Builder): Utf8Piece => ({ offsets: s.offsets, data: s.data, end: s.end });
    const piece: FlowPiece = {
      n,
      first: this.first,
      last: this.last,
      duration: this.duration,
      src: str(this.src),
      dst: str(this.dst),
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      proto: str(this.proto),
      flags: str(this.flags),
      flows: this.flows,
      inPackets: this.inPackets,
      inBytes: this.inBytes,
      outPackets: this.outPackets,
      outBytes: this.outBytes,
      line: this.line,
    };
    const transfer = [
      this.first,
      this.last,
      this.duration,
      this.src.offsets,
      this.src.data,
      this.dst.offsets,
      this.dst.data,
      this.srcPort,
      this.dstPort,
      this.proto.offsets,
      this.proto.data,
      this.flags.offsets,
      this.flags.data,
      this.flows,
      this.inPackets,
      this.inBytes,
      this.outPackets,
      this.outBytes,
      this.line,
    ].map((a) => a.buffer as ArrayBuffer);
    return { piece, transfer };
  }

  /** Appends rows [from, from + count) of a piece; line numbers shifted by `lineBase`. */
  append(p: FlowPiece, from: number, count: number, lineBase: number): void {
    const at = this.n;
    const to = from + count;
    this.first.set(p.first.subarray(from, to), at);
    this.last.set(p.last.subarray(from, to), at);
    this.duration.set(p.duration.subarray(from, to), at);
    this.srcPort.set(p.srcPort.subarray(from, to), at);
    this.dstPort.set(p.dstPort.subarray(from, to), at);
    this.flows.set(p.flows.subarray(from, to), at);
    this.inPackets.set(p.inPackets.subarray(from, to), at);
    this.inBytes.set(p.inBytes.subarray(from, to), at);
    this.outPackets.set(p.outPackets.subarray(from, to), at);
    this.outBytes.set(p.outBytes.subarray(from, to), at);
    const line = this.line;
    const pl = p.line;
    for (let i = 0; i < count; i++) line[at + i] = pl[from + i]! + lineBase;
    this.src.append(p.src, from, count, at);
    this.dst.append(p.dst, from, count, at);
    this.proto.append(p.proto, from, count, at);
    this.flags.append(p.flags, from, count, at);
    this.n = at + count;
  }
}

/** Which optional columns a file has (the others are all null). */
interface Present {
  tcp_flags: boolean;
  out_packets: boolean;
  out_bytes: boolean;
}

/** Whole numbers (|x| < 2^53) as int64, written as two 32-bit words: no BigInt per value. */
function int64Of(values: Float64Array, n: number, into?: Int32Array): BigInt64Array {
  const words = into !== undefined && into.length >= 2 * n ? into : new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const hi = Math.floor(v / TWO32);
    words[2 * i] = (v - hi * TWO32) | 0;
    words[2 * i + 1] = hi;
  }
  return new BigInt64Array(words.buffer, 0, n);
}

const FIELD_ORDER = [
  'first_seen',
  'last_seen',
  'duration_s',
  'src_addr',
  'dst_addr',
  'src_port',
  'dst_port',
  'proto',
  'tcp_flags',
  'flows',
  'in_packets',
  'in_bytes',
  'out_packets',
  'out_bytes',
  'source_line',
];

function toBatch(schema: Schema, b: FlowBatchBuilder, present: Present): RecordBatch {
  const n = b.n;
  const fields = schema.fields as Field[];
  if (fields.length !== FIELD_ORDER.length || fields.some((f, i) => f.name !== FIELD_ORDER[i])) {
    throw new Error('FLOW_FIELDS changed: update toBatch in src/ingest/stream-csv.ts');
  }
  const type = (i: number) => fields[i]!.type;
  const num = (i: number, values: Float64Array | Int32Array) => makeData({ type: type(i), length: n, nullCount: 0, data: values.subarray(0, n) } as never);
  // The int64 words live with the builder, so a recycled builder reuses them too.
  b.words ??= [new Int32Array(2 * b.cap), new Int32Array(2 * b.cap)];
  const words = b.words;
  const time = (i: number, ms: Float64Array, w: Int32Array) => makeData({ type: type(i), length: n, nullCount: 0, data: int64Of(ms, n, w) } as never);
  const str = (i: number, s: Utf8Builder) =>
    makeData({ type: type(i), length: n, nullCount: 0, valueOffsets: s.offsets.subarray(0, n + 1), data: s.data.subarray(0, s.end) } as never);
  const nulls = () => new Uint8Array((n + 7) >> 3);
  const allNullNum = (i: number, values: Float64Array) => makeData({ type: type(i), length: n, nullCount: n, nullBitmap: nulls(), data: values.fill(0, 0, n).subarray(0, n) } as never);
  const children = [
    time(0, b.first, words[0]),
    time(1, b.last, words[1]),
    num(2, b.duration),
    str(3, b.src),
    str(4, b.dst),
    num(5, b.srcPort),
    num(6, b.dstPort),
    str(7, b.proto),
    present.tcp_flags
      ? str(8, b.flags)
      : makeData({ type: type(8), length: n, nullCount: n, nullBitmap: nulls(), valueOffsets: new Int32Array(n + 1), data: new Uint8Array(0) } as never),
    num(9, b.flows),
    num(10, b.inPackets),
    num(11, b.inBytes),
    present.out_packets ? num(12, b.outPackets) : allNullNum(12, b.outPackets),
    present.out_bytes ? num(13, b.outBytes) : allNullNum(13, b.outBytes),
    num(14, b.line),
  ];
  const data = makeData({ type: new Struct(fields), length: n, nullCount: 0, children });
  return new RecordBatch(schema, data);
}

const STATE_HEADER = 0;
const STATE_DATA = 1;
const STATE_TRAILER = 2;

/** Encoded protocol names for the numbers nfdump 1.7.5+ prints (protoName of csv.ts). */
const PROTO_BY_NUMBER: (Uint8Array | undefined)[] = Array.from({ length: 256 }, (_, i) => {
  const name = protoName(String(i));
  return name === String(i) ? undefined : new TextEncoder().encode(name);
});

/** The header a worker parses with (found by the main thread). */
export interface HeaderConfig {
  file: string;
  cells: string[];
  layout: FlowCsvLayout;
  maxLineBytes: number;
}

/** What a worker found in one block, line numbers counted from the block's first line. */
export interface BlockResult {
  lines: number;
  dataLines: number;
  rows: number;
  pieces: FlowPiece[];
  rejects: { line: number; reason: string; raw: string }[];
  /** Set when the block holds the `Summary` line: the (block) line of it and what followed. */
  trailer?: { line: number; lines: string[]; lineNos: number[] };
}

/** Used by the worker threads: pieces and rejects go back to the main thread. */
interface WorkerHooks {
  newBuilder(rows: number, textHint: number): FlowBatchBuilder;
  onPiece(b: FlowBatchBuilder): void;
  onReject(line: number, reason: string, raw: string): void;
}

/**
 * The byte-level parser. Feed it chunks with `push` (any split, lines may straddle chunks),
 * then `end`; full batches are handed to `onBatch` as they complete. Throws FlowknnError for
 * a file that fails (header, Summary, rejects over the threshold); rows it cannot use go to
 * the FileRejects.
 */
export class FlowCsvParser {
  readonly stats: FlowCsvStats;
  readonly schema: Schema;
  readonly rejects: FileRejects;
  private state = STATE_HEADER;
  private at: Positions | undefined;
  private width = 0;
  private cap = 0;
  private starts = new Int32Array(64);
  private present: Present = { tcp_flags: false, out_packets: false, out_bytes: false };
  private headerText = '';
  private headerCells: string[] = [];
  private builder: FlowBatchBuilder | undefined;
  private carry = new Uint8Array(0);
  private carryLen = 0;
  private discarding = false;
  private discardHead = '';
  private trailer: string[] = [];
  private trailerLines: number[] = [];
  private trailerAt = 0;
  private readonly sums = new Float64Array(5);
  private sawBom = false;
  private batchRows: number;
  private readonly maxLine: number;
  private textHint: number;
  /** The reason of the last slow-path failure. */
  private why = '';
  /** Builders whose batch the consumer has handed back (recycle), and each batch's builder. */
  private readonly free: FlowBatchBuilder[] = [];
  private readonly builderOf = new WeakMap<RecordBatch, FlowBatchBuilder>();
  /** The Int32 words over a buffer's memory, for the comma scan. */
  private words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private wordsOf: ArrayBufferLike | undefined;

  constructor(
    readonly file: string,
    options: FlowCsvStreamOptions,
    private readonly onBatch: (batch: RecordBatch) => void,
    private readonly hooks?: WorkerHooks,
  ) {
    this.batchRows = Math.max(1, Math.floor(options.batchRows ?? DEFAULT_BATCH_ROWS));
    this.maxLine = Math.max(256, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.textHint = Math.min(this.batchRows, 4096);
    this.rejects = new FileRejects(file, hooks ? {} : options, hooks ? undefined : options.rejects);
    this.schema = flowSchema({ 'flowknn.source': file, 'flowknn.format': 'flow-csv' });
    this.stats = { file, gzip: false, fileBytes: 0, textBytes: 0, lines: 0, dataLines: 0, rows: 0, rejected: 0, batches: 0 };
  }

  /** The header as the workers need it; undefined before the header is read. */
  get headerConfig(): HeaderConfig | undefined {
    if (this.state === STATE_HEADER || this.stats.layout === undefined) return undefined;
    return { file: this.file, cells: this.headerCells, layout: this.stats.layout, maxLineBytes: this.maxLine };
  }

  /** Reading data rows, with no partial line pending: the next block may go to a worker. */
  get clean(): boolean {
    return this.state === STATE_DATA && this.carryLen === 0 && !this.discarding;
  }

  /** Parses the complete lines of `chunk`; keeps a line cut at its end for the next chunk. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.stats.textBytes += buf.length;
    let start = 0;
    if (!this.sawBom && buf.length > 0) {
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      this.sawBom = true;
    }
    if (this.carryLen > 0 || this.discarding) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) {
        this.keep(buf, start, buf.length);
        return;
      }
      this.keep(buf, start, nl);
      this.finishCarried();
      start = nl + 1;
    }
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      this.line(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) this.keep(buf, start, buf.length);
  }

  /** The end of the input: the last line (without a newline), the checks, the last batch. */
  end(): void {
    if (this.carryLen > 0 || this.discarding) this.finishCarried();
    if (this.state === STATE_HEADER) {
      throw inputError('no CSV header: the file is empty or not nfdump CSV output', { file: this.file, line: 1 });
    }
    // The last batch goes out before the checks: a consumer takes batches only after `end`
    // returns (FlowCsvStream), so a failing check still leaves nothing behind.
    this.flush();
    if (this.state === STATE_TRAILER) this.checkSummary();
    this.rejects.finish(this.stats.dataLines);
    if (this.stats.rows === 0) {
      const why = this.rejects.count > 0 ? `all ${this.rejects.count} data lines were rejected` : 'no data lines';
      throw inputError(`${why}; expected flow records after the header`, { file: this.file, line: this.rejects.first[0]?.line });
    }
  }

  // ---- worker side ----

  /** A worker's parser: the header comes from the main thread. */
  configure(h: HeaderConfig): void {
    this.setHeader(h.cells, 0, h.layout);
    this.sawBom = true;
  }

  /** Parses one block of whole lines (the last one may lack its newline when `final`). */
  parseBlock(buf: Buffer, final: boolean, rowsHint: number): BlockResult {
    const st = this.stats;
    st.lines = 0;
    st.dataLines = 0;
    st.rows = 0;
    st.rejected = 0;
    this.state = STATE_DATA;
    this.trailer = [];
    this.trailerLines = [];
    this.carryLen = 0;
    this.discarding = false;
    this.batchRows = Math.max(64, Math.min(DEFAULT_BATCH_ROWS, rowsHint));
    this.textHint = Math.min(this.batchRows, 4096);
    this.push(buf);
    if (final && (this.carryLen > 0 || this.discarding)) this.finishCarried();
    this.flush();
    return {
      lines: st.lines,
      dataLines: st.dataLines,
      rows: st.rows,
      pieces: [],
      rejects: [],
      trailer: this.state === STATE_TRAILER ? { line: this.trailerAt, lines: this.trailer, lineNos: this.trailerLines } : undefined,
    };
  }

  // ---- main side, taking a worker's block ----

  /** Applies a worker's block: rejects (threshold checked), rows, counts, a trailer. */
  applyBlock(res: BlockResult): void {
    const base = this.stats.lines;
    if (base + res.lines > 0x7fffffff) throw inputError('more than 2^31 - 1 lines: split the file', { file: this.file });
    for (const r of res.rejects) {
      this.stats.rejected++;
      this.rejects.add(base + r.line, r.reason, r.raw);
    }
    for (const p of res.pieces) this.appendPiece(p, base);
    this.stats.lines += res.lines;
    this.stats.dataLines += res.dataLines;
    if (res.trailer) {
      this.state = STATE_TRAILER;
      this.trailer = res.trailer.lines;
      this.trailerLines = res.trailer.lineNos.map((n) => base + n);
    }
  }

  private appendPiece(p: FlowPiece, lineBase: number): void {
    let from = 0;
    while (from < p.n) {
      let b = this.builder;
      if (b === undefined) b = this.builder = this.newBuilder();
      const count = Math.min(p.n - from, this.batchRows - b.n);
      b.append(p, from, count, lineBase);
      from += count;
      this.stats.rows += count;
      if (b.n === this.batchRows) this.flush();
    }
  }

  private newBuilder(): FlowBatchBuilder {
    if (this.hooks) return this.hooks.newBuilder(this.batchRows, this.textHint);
    const b = this.free.pop();
    if (b === undefined || b.cap !== this.batchRows) return new FlowBatchBuilder(this.batchRows, this.textHint);
    b.n = 0;
    b.src.end = 0;
    b.dst.end = 0;
    b.proto.end = 0;
    b.flags.end = 0;
    return b;
  }

  /**
   * Takes back a batch this parser made once the consumer is done with it (written to disk,
   * say): its arrays are reused for a later batch, so a long file does not allocate and fault
   * in fresh memory for every batch. The batch must not be read afterwards.
   */
  recycle(batch: RecordBatch): void {
    const b = this.builderOf.get(batch);
    if (b === undefined) return;
    this.builderOf.delete(batch);
    if (this.free.length < 2) this.free.push(b);
  }

  // ---- lines ----

  private keep(buf: Uint8Array, a: number, b: number): void {
    if (this.discarding) return;
    const need = this.carryLen + (b - a);
    if (need > this.maxLine) {
      const head = decode(this.carry, 0, Math.min(this.carryLen, 200));
      this.discardHead = head.length >= 200 ? head : head + decode(buf, a, Math.min(b, a + 200 - head.length));
      this.discarding = true;
      this.carryLen = 0;
      return;
    }
    if (need > this.carry.length) {
      const next = new Uint8Array(Math.min(this.maxLine, Math.max(need, this.carry.length * 2, 1024)));
      next.set(this.carry.subarray(0, this.carryLen));
      this.carry = next;
    }
    this.carry.set(buf.subarray(a, b), this.carryLen);
    this.carryLen = need;
  }

  private finishCarried(): void {
    if (this.discarding) {
      this.discarding = false;
      this.stats.lines++;
      this.tooLong(this.discardHead);
      return;
    }
    const buf = Buffer.from(this.carry.buffer, 0, this.carryLen);
    this.carryLen = 0;
    this.line(buf, 0, buf.length);
    if (this.carry.length > 65536) this.carry = new Uint8Array(0);
  }

  private tooLong(head: string): void {
    if (this.state === STATE_HEADER) {
      throw inputError(`line ${this.stats.lines} is longer than ${this.maxLine} bytes: not nfdump CSV output`, { file: this.file, line: this.stats.lines });
    }
    if (this.state === STATE_TRAILER) return;
    this.stats.dataLines++;
    this.reject(`the line is longer than ${this.maxLine} bytes (not an nfdump flow record)`, `${head}...`);
  }

  /** One line, without its newline. */
  private line(buf: Buffer, s: number, e: number): void {
    const lineNo = ++this.stats.lines;
    if (lineNo > 0x7fffffff) throw inputError('more than 2^31 - 1 lines: split the file', { file: this.file });
    if (e > s && buf[e - 1] === 13) e--;
    if (e - s > this.maxLine) {
      this.tooLong(decode(buf, s, s + 200));
      return;
    }
    let p = s;
    while (p < e && isBlank(buf[p]!)) p++;
    if (p === e) return;
    const c = buf[p]!;
    if (this.state === STATE_DATA && c >= 48 && c <= 57) {
      this.row(buf, s, e);
      return;
    }
    this.otherLine(buf, s, e);
  }

  /** Lines other than plain data rows: the header, repeated headers, headings, the trailer. */
  private otherLine(buf: Buffer, s: number, e: number): void {
    const raw = decode(buf, s, e);
    const line = raw.trim();
    if (this.state === STATE_TRAILER) {
      // As readSummary in csv.ts: the first two non-empty lines after `Summary`; the rest is
      // ignored.
      if (line !== '' && this.trailer.length < 2) {
        this.trailer.push(line);
        this.trailerLines.push(this.stats.lines);
      }
      return;
    }
    if (line === '' || line.startsWith('#')) return;
    if (/^summary\b/iu.test(line)) {
      if (this.state === STATE_HEADER) {
        throw inputError('no CSV header: the file is empty or not nfdump CSV output', { file: this.file, line: 1 });
      }
      this.state = STATE_TRAILER;
      this.trailerAt = this.stats.lines;
      return;
    }
    if (this.state === STATE_HEADER) {
      if (csvKind(line) === undefined && isLegacyFlowRow(line)) {
        this.setHeader(LEGACY_FLOW_HEADER.split(','), 0, 'nfdump-1.6/1.7.4 -q (no header)');
        this.row(buf, s, e);
        return;
      }
      if (csvKind(line) !== 'flow-csv') {
        throw inputError(`expected the nfdump flow CSV header (ts,te,td,sa,da,sp,dp,pr,...), got "${excerpt(line, 80)}"`, { file: this.file, line: this.stats.lines });
      }
      const layout: FlowCsvLayout = line.startsWith('ts,te,td,sa,da,') ? 'nfdump-1.6/1.7.4' : line.startsWith('firstSeen,') ? 'nfdump-1.7.5+' : 'other';
      this.setHeader(line.split(','), this.stats.lines, layout);
      return;
    }
    if (line === this.headerText || csvKind(line) === 'flow-csv') return;
    if (/^top\s+\d+\s/iu.test(line) || /^no matched flows/iu.test(line)) return;
    this.row(buf, s, e);
  }

  private setHeader(cells: string[], lineNo: number, layout: FlowCsvLayout): void {
    this.at = locateColumns(cells, this.file, lineNo);
    this.headerCells = cells;
    this.headerText = cells.join(',');
    this.width = cells.length;
    const maxIdx = Math.max(...Object.values(this.at));
    this.cap = maxIdx + 2;
    if (this.starts.length < this.cap + 1) this.starts = new Int32Array(this.cap + 1);
    this.present = { tcp_flags: this.at.tcp_flags >= 0, out_packets: this.at.out_packets >= 0, out_bytes: this.at.out_bytes >= 0 };
    this.stats.layout = layout;
    this.state = STATE_DATA;
  }

  private reject(reason: string, raw: string): void {
    this.stats.rejected++;
    if (this.hooks) this.hooks.onReject(this.stats.lines, reason, raw);
    else this.rejects.add(this.stats.lines, reason, raw);
  }

  private rejectRow(buf: Buffer, s: number, e: number, reason: string): void {
    this.reject(reason, decode(buf, s, e));
  }

  /**
   * Finds the commas of [s, e): the start of each field up to the last one needed goes to
   * `starts` (and the end of the line after the last field), and the count of fields is
   * returned. Whole 4-byte words are tested for commas at once (SWAR: a byte of x = w ^ ',,,,'
   * is zero where the comma is), so most words cost a few integer operations.
   */
  private split(buf: Buffer, s: number, e: number): number {
    const st = this.starts;
    const cap = this.cap;
    st[0] = s;
    let nf = 1;
    const off = buf.byteOffset;
    if (this.wordsOf !== buf.buffer) {
      this.wordsOf = buf.buffer;
      this.words = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
    }
    const W = this.words;
    let i = s;
    const headEnd = Math.min(e, s + ((4 - ((off + s) & 3)) & 3));
    for (; i < headEnd; i++) {
      if (buf[i] === 44) {
        if (nf < cap) st[nf] = i + 1;
        nf++;
      }
    }
    const jEnd = (off + e) >> 2;
    let j = (off + i) >> 2;
    // Positions, until the last field needed.
    for (; j < jEnd && nf < cap; j++) {
      const x = W[j]! ^ 0x2c2c2c2c;
      let t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      if (t === 0) continue;
      const base = j * 4 - off + 1;
      do {
        const low = t & -t;
        if (nf < cap) st[nf] = base + ((31 - Math.clz32(low)) >> 3);
        nf++;
        t ^= low;
      } while (t !== 0);
    }
    // Then only the count (the width check), two words a step, without branches: the high
    // bit of each comma byte, summed by a multiply.
    for (; j + 1 < jEnd; j += 2) {
      const x = W[j]! ^ 0x2c2c2c2c;
      const y = W[j + 1]! ^ 0x2c2c2c2c;
      const tx = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      const ty = ~(((y & 0x7f7f7f7f) + 0x7f7f7f7f) | y | 0x7f7f7f7f);
      nf += (Math.imul(tx >>> 7, 0x01010101) >>> 24) + (Math.imul(ty >>> 7, 0x01010101) >>> 24);
    }
    if (j < jEnd) {
      const x = W[j]! ^ 0x2c2c2c2c;
      const t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      nf += Math.imul(t >>> 7, 0x01010101) >>> 24;
    }
    for (i = Math.max(i, jEnd * 4 - off); i < e; i++) {
      if (buf[i] === 44) {
        if (nf < cap) st[nf] = i + 1;
        nf++;
      }
    }
    if (nf < cap) st[nf] = e + 1;
    return nf;
  }

  /** A data row: comma positions first, then each column. */
  private row(buf: Buffer, s: number, e: number): void {
    const at = this.at!;
    this.stats.dataLines++;
    const nf = this.split(buf, s, e);
    if (nf < this.width) {
      this.rejectRow(buf, s, e, `expected ${this.width} comma-separated fields as in the header, got ${nf} (truncated line?)`);
      return;
    }
    const st = this.starts;
    let b = this.builder;
    if (b === undefined) b = this.builder = this.newBuilder();
    const r = b.n;
    let k = at.first_seen;
    let x = st[k]!;
    let y = st[k + 1]! - 1;
    if (!timeInto(buf, x, y, b.first, r) && !this.slowTime(buf, x, y, 'first seen', b.first, r)) return this.rejectRow(buf, s, e, this.why);
    k = at.duration_s;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if ((!decimalInto(buf, x, y, b.duration, r) || b.duration[r]! > MAX_DURATION_S) && !this.slowDuration(buf, x, y, b.duration, r)) {
      return this.rejectRow(buf, s, e, this.why);
    }
    k = at.last_seen;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!timeInto(buf, x, y, b.last, r) && !this.slowTime(buf, x, y, 'last seen', b.last, r)) return this.rejectRow(buf, s, e, this.why);
    } else {
      b.last[r] = b.first[r]! + Math.round(b.duration[r]! * 1000);
    }
    k = at.src_port;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!portInto(buf, x, y, b.srcPort, r) && !this.slowPort(buf, x, y, 'source port', b.srcPort, r)) return this.rejectRow(buf, s, e, this.why);
    k = at.dst_port;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!portInto(buf, x, y, b.dstPort, r) && !this.slowPort(buf, x, y, 'destination port', b.dstPort, r)) return this.rejectRow(buf, s, e, this.why);
    k = at.flows;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.flows, r) && !this.slowCount(buf, x, y, 'flows', b.flows, r)) return this.rejectRow(buf, s, e, this.why);
    } else {
      b.flows[r] = 1;
    }
    k = at.in_packets;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!uintInto(buf, x, y, b.inPackets, r) && !this.slowCount(buf, x, y, 'packets', b.inPackets, r)) return this.rejectRow(buf, s, e, this.why);
    k = at.in_bytes;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!uintInto(buf, x, y, b.inBytes, r) && !this.slowCount(buf, x, y, 'bytes', b.inBytes, r)) return this.rejectRow(buf, s, e, this.why);
    k = at.out_packets;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.outPackets, r) && !this.slowCount(buf, x, y, 'out packets', b.outPackets, r)) return this.rejectRow(buf, s, e, this.why);
    }
    k = at.out_bytes;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.outBytes, r) && !this.slowCount(buf, x, y, 'out bytes', b.outBytes, r)) return this.rejectRow(buf, s, e, this.why);
    }
    // Text columns, copied as bytes. A row that fails here is rolled back (ends restored).
    const srcEnd = b.src.end;
    const dstEnd = b.dst.end;
    const protoEnd = b.proto.end;
    if (
      !this.text(b.src, buf, st[at.src_addr]!, st[at.src_addr + 1]! - 1, 'source address', r) ||
      !this.text(b.dst, buf, st[at.dst_addr]!, st[at.dst_addr + 1]! - 1, 'destination address', r)
    ) {
      return this.rollback(buf, s, e, b, srcEnd, dstEnd, protoEnd);
    }
    if (b.src.end === srcEnd || b.dst.end === dstEnd) {
      this.why = 'expected source and destination addresses, got an empty field';
      return this.rollback(buf, s, e, b, srcEnd, dstEnd, protoEnd);
    }
    if (!this.protoText(b.proto, buf, st[at.proto]!, st[at.proto + 1]! - 1, r)) return this.rollback(buf, s, e, b, srcEnd, dstEnd, protoEnd);
    k = at.tcp_flags;
    if (k >= 0 && !this.text(b.flags, buf, st[k]!, st[k + 1]! - 1, 'flags', r)) return this.rollback(buf, s, e, b, srcEnd, dstEnd, protoEnd);
    b.line[r] = this.stats.lines;
    b.n = r + 1;
    this.stats.rows++;
    if (b.n === b.cap) this.flush();
  }

  private rollback(buf: Buffer, s: number, e: number, b: FlowBatchBuilder, srcEnd: number, dstEnd: number, protoEnd: number): void {
    b.src.end = srcEnd;
    b.dst.end = dstEnd;
    b.proto.end = protoEnd;
    this.rejectRow(buf, s, e, this.why);
  }

  /**
   * Appends a text cell (trimmed) to a Utf8 column and sets its end offset for row r.
   * Printable ASCII is copied as is; anything else is checked as UTF-8 (fatal decoder) and
   * trimmed as String.prototype.trim does, as parseFlowCsv's cells are.
   */
  private text(col: Utf8Builder, buf: Buffer, a: number, b: number, name: string, r: number): boolean {
    a = trimStart(buf, a, b);
    b = trimEnd(buf, a, b);
    if (asciiInto(col, buf, a, b, r)) return true;
    const t = this.unusual(buf, a, b, name);
    if (t === undefined) return false;
    return this.put(col, t, r);
  }

  /** The protocol: 1.7.5+ prints numbers; they become the names 1.7.1 printed (protoName). */
  private protoText(col: Utf8Builder, buf: Buffer, a: number, b: number, r: number): boolean {
    a = trimStart(buf, a, b);
    b = trimEnd(buf, a, b);
    const n = b - a;
    if (n >= 1 && n <= 3 && (n === 1 || buf[a] !== 48)) {
      let v = 0;
      let i = a;
      for (; i < b; i++) {
        const d = buf[i]! - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      const name = i === b && v < 256 ? PROTO_BY_NUMBER[v] : undefined;
      if (name !== undefined) return asciiInto(col, name, 0, name.length, r);
    }
    if (asciiInto(col, buf, a, b, r)) return true;
    const t = this.unusual(buf, a, b, 'protocol');
    if (t === undefined) return false;
    return this.put(col, protoName(t), r);
  }

  /** A cell with blanks inside or bytes outside printable ASCII: checked, decoded, trimmed. */
  private unusual(buf: Buffer, a: number, b: number, name: string): string | undefined {
    let text: string;
    try {
      text = utf8Fatal.decode(buf.subarray(a, b));
    } catch {
      this.why = `${name}: not valid UTF-8 text ("${excerpt(decode(buf, a, b), 40)}")`;
      return undefined;
    }
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/u.test(text)) {
      this.why = `${name}: control characters in ${JSON.stringify(excerpt(text, 40))}`;
      return undefined;
    }
    return text.trim();
  }

  private put(col: Utf8Builder, text: string, r: number): boolean {
    const bytes = Buffer.from(text, 'utf8');
    if (col.end + bytes.length > col.data.length) col.grow(col.end + bytes.length);
    col.data.set(bytes, col.end);
    col.end += bytes.length;
    col.offsets[r + 1] = col.end;
    return true;
  }

  private fail(why: string): false {
    this.why = why;
    return false;
  }

  /** The slow readers: parseFlowCsv's own field readers, then this parser's extra checks. */
  private slowTime(buf: Buffer, a: number, b: number, name: string, out: Float64Array, r: number): boolean {
    const t = decode(buf, a, b).trim();
    let v: number;
    if (/^\d{10,}$/u.test(t)) {
      // Later nfdump releases may print epoch milliseconds (as csv.ts reads them).
      v = Number(t) * (t.length <= 10 ? 1000 : 1);
    } else {
      const p = parseDateTime(t);
      if (!p.ok) return this.fail(`${name}: expected ${p.expected}`);
      v = p.value;
    }
    if (!(v <= MAX_TIME_MS)) return this.fail(`${name}: "${excerpt(t, 30)}" is past the year 275760`);
    out[r] = v;
    return true;
  }

  private slowDuration(buf: Buffer, a: number, b: number, out: Float64Array, r: number): boolean {
    const t = decode(buf, a, b).trim();
    const p = parsePlainNumber(t);
    if (!p.ok) return this.fail(`duration: expected ${p.expected}`);
    if (p.value < 0) return this.fail(`duration: negative (${excerpt(t, 30)} s)`);
    if (!(p.value <= MAX_DURATION_S)) return this.fail(`duration: ${excerpt(t, 30)} s is more than 10 years (a broken timestamp?)`);
    out[r] = p.value;
    return true;
  }

  private slowCount(buf: Buffer, a: number, b: number, name: string, out: Float64Array, r: number): boolean {
    const t = decode(buf, a, b).trim();
    const p = parsePlainNumber(t);
    if (!p.ok) return this.fail(`${name}: expected ${p.expected}`);
    const v = p.value;
    if (v < 0) return this.fail(`${name}: negative (${excerpt(t, 30)})`);
    if (!(v <= MAX_COUNT)) return this.fail(`${name}: ${excerpt(t, 30)} is above 2^53 - 1 (9007199254740991), the largest count a double holds exactly`);
    if (!Number.isInteger(v)) return this.fail(`${name}: expected a whole number, got "${excerpt(t, 30)}"`);
    out[r] = v;
    return true;
  }

  private slowPort(buf: Buffer, a: number, b: number, name: string, out: Int32Array, r: number): boolean {
    const t = decode(buf, a, b).trim();
    const icmp = /^(\d+)\.(\d+)$/u.exec(t);
    if (icmp) {
      // ICMP type.code (1.7.5+) as nfdump stores it: type * 256 + code.
      const type = Number(icmp[1]);
      const code = Number(icmp[2]);
      if (!(type <= 255 && code <= 255)) return this.fail(`${name}: expected an ICMP type.code with both parts 0..255, got "${excerpt(t, 30)}"`);
      out[r] = type * 256 + code;
      return true;
    }
    if (!/^\d+$/u.test(t) || Number(t) > 65535) return this.fail(`${name}: expected a port 0..65535, got "${excerpt(t, 30)}"`);
    out[r] = Number(t);
    return true;
  }

  private flush(): void {
    const b = this.builder;
    if (b === undefined || b.n === 0) return;
    this.builder = undefined;
    // Size the next batch's text buffers from this one.
    this.textHint = Math.max(this.textHint, Math.ceil((b.src.end + b.dst.end) / 28));
    if (this.hooks) {
      this.hooks.onPiece(b);
      return;
    }
    const sums = this.sums;
    for (let i = 0; i < b.n; i++) {
      sums[0]! += b.flows[i]!;
      sums[1]! += b.inPackets[i]!;
      sums[2]! += b.inBytes[i]!;
      sums[3]! += b.outPackets[i]!;
      sums[4]! += b.outBytes[i]!;
    }
    this.stats.batches++;
    const batch = toBatch(this.schema, b, this.present);
    this.builderOf.set(batch, b);
    this.onBatch(batch);
  }

  /** The Summary trailer against what was read (as parseFlowCsv, plus packets and bytes). */
  private checkSummary(): void {
    if (this.trailer.length < 2) return;
    const names = this.trailer[0]!.split(',').map(normaliseHeader);
    const values = this.trailer[1]!.split(',');
    const where = { file: this.file, line: this.trailerLines[1] };
    if (names.length !== values.length) throw inputError(`Summary trailer has ${names.length} names but ${values.length} values`, where);
    const summary: Record<string, number> = {};
    names.forEach((n, i) => {
      const v = parsePlainNumber(values[i]!);
      if (!v.ok) throw inputError(`Summary trailer ${n}: expected ${v.expected}`, where);
      summary[n] = v.value;
    });
    this.stats.summary = summary;
    const [flows, inPackets, inBytes, outPackets, outBytes] = this.sums as unknown as number[];
    const rows = this.stats.rows;
    if (this.rejects.count === 0) {
      if (summary.flows !== undefined && summary.flows !== flows) {
        throw inputError(
          `the Summary trailer counts ${summary.flows} flows but the ${rows} records read hold ${flows} (a truncated or concatenated file?)`,
          where,
        );
      }
      // nfdump's totals add in and out counters; outputs without out counters have in only.
      for (const [key, inSum, outSum] of [
        ['packets', inPackets!, outPackets!],
        ['bytes', inBytes!, outBytes!],
      ] as const) {
        const want = summary[key];
        if (want !== undefined && want !== inSum && want !== inSum + outSum) {
          throw inputError(`the Summary trailer counts ${want} ${key} but the ${rows} records read hold ${inSum + outSum} (a truncated or edited file?)`, where);
        }
      }
    } else if (this.at!.flows < 0 && summary.flows !== undefined && summary.flows !== this.stats.dataLines) {
      // One record per line: the trailer still counts the lines, rejected ones included.
      throw inputError(
        `the Summary trailer counts ${summary.flows} flows but the file has ${this.stats.dataLines} record lines (${rows} read, ${this.rejects.count} rejected): a truncated or concatenated file?`,
        where,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------
// Blocks: the input cut at line ends into reused buffers.

interface Block {
  buf: Buffer;
  /** Bytes of the block (the buffer may be longer). */
  len: number;
  /** The last block of the input (its last line may lack a newline). */
  final: boolean;
  /** A block with no line end at all (part of a line longer than a block). */
  partial: boolean;
}

/**
 * Reads the input into blocks that end at a newline (the bytes after the last newline start
 * the next block), in buffers that are handed back with `release` and reused: reading a big
 * file allocates a few blocks, not one buffer per read.
 */
class BlockReader {
  private readonly free: ArrayBuffer[] = [];
  private carry: Buffer;
  private carryLen = 0;
  private eof = false;
  private pending: Buffer | undefined;
  private pendingAt = 0;
  private iterator: AsyncIterator<Uint8Array> | undefined;

  constructor(
    private readonly blockSize: number,
    private readonly source: { handle?: FileHandle; chunks?: AsyncIterable<Uint8Array> },
    /** Free buffers kept for reuse (the blocks in flight at once, plus one). */
    private readonly keepFree = 3,
  ) {
    this.carry = Buffer.alloc(blockSize);
    this.iterator = source.chunks?.[Symbol.asyncIterator]();
  }

  release(buffer: ArrayBufferLike): void {
    if (buffer.byteLength === this.blockSize && this.free.length < this.keepFree && buffer instanceof ArrayBuffer) this.free.push(buffer);
  }

  private async fill(target: Buffer, at: number): Promise<number> {
    if (this.source.handle) {
      const { bytesRead } = await this.source.handle.read(target, at, target.length - at, null);
      return bytesRead;
    }
    if (this.pending === undefined || this.pendingAt >= this.pending.length) {
      const next = await this.iterator!.next();
      if (next.done) return 0;
      const c = next.value;
      this.pending = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      this.pendingAt = 0;
    }
    const n = Math.min(target.length - at, this.pending.length - this.pendingAt);
    this.pending.copy(target, at, this.pendingAt, this.pendingAt + n);
    this.pendingAt += n;
    return n;
  }

  async next(): Promise<Block | undefined> {
    if (this.eof) return undefined;
    const buf = Buffer.from(this.free.pop() ?? new ArrayBuffer(this.blockSize));
    let len = 0;
    if (this.carryLen > 0) {
      this.carry.copy(buf, 0, 0, this.carryLen);
      len = this.carryLen;
      this.carryLen = 0;
    }
    while (len < buf.length) {
      const n = await this.fill(buf, len);
      if (n === 0) {
        this.eof = true;
        break;
      }
      len += n;
    }
    if (this.eof) {
      if (len === 0) {
        this.release(buf.buffer);
        return undefined;
      }
      return { buf, len, final: true, partial: false };
    }
    const nl = buf.lastIndexOf(10, len - 1);
    if (nl < 0) return { buf, len, final: false, partial: true };
    this.carryLen = len - nl - 1;
    buf.copy(this.carry, 0, nl + 1, len);
    return { buf, len: nl + 1, final: false, partial: false };
  }

  async close(): Promise<void> {
    await this.iterator?.return?.();
  }
}

// ---------------------------------------------------------------------------------------
// Worker threads: blocks out, parsed pieces back.

type ToCsvWorker = { type: 'parse'; id: number; header: HeaderConfig; buf: ArrayBuffer; len: number; final: boolean; rowsHint: number; recycle: FlowPiece[] };
type FromCsvWorker =
  | { type: 'ready' }
  | { type: 'result'; id: number; buf: ArrayBuffer; result: BlockResult }
  | { type: 'error'; id: number; message: string; flowknn?: { kind: FlowknnError['kind']; file?: string; line?: number } };

export interface ParsedBlock {
  buf: ArrayBuffer;
  result: BlockResult;
  /** Hands the pieces back to the thread that made them, for reuse. */
  done(): void;
}

interface Pending {
  resolve: (r: ParsedBlock) => void;
  reject: (e: Error) => void;
  worker: PoolWorker;
}

interface PoolWorker {
  w: Worker;
  busy: number;
  /** Pieces this thread sent, copied here, to go back with its next block for reuse. */
  recycle: FlowPiece[];
}

/** The ArrayBuffers of a piece (to transfer). */
function pieceBuffers(p: FlowPiece): ArrayBuffer[] {
  return [
    p.first,
    p.last,
    p.duration,
    p.src.offsets,
    p.src.data,
    p.dst.offsets,
    p.dst.data,
    p.srcPort,
    p.dstPort,
    p.proto.offsets,
    p.proto.data,
    p.flags.offsets,
    p.flags.data,
    p.flows,
    p.inPackets,
    p.inBytes,
    p.outPackets,
    p.outBytes,
    p.line,
  ].map((a) => a.buffer as ArrayBuffer);
}

/** Parse threads shared by every stream of the process; idle threads keep no process alive. */
class CsvWorkerPool {
  private workers: PoolWorker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  get size(): number {
    return this.workers.length;
  }

  async start(size: number): Promise<void> {
    const started: Promise<void>[] = [];
    while (this.workers.length < size) {
      const w = spawnCsvWorker();
      const pw: PoolWorker = { w, busy: 0, recycle: [] };
      this.workers.push(pw);
      started.push(
        new Promise<void>((resolve, reject) => {
          const onReady = (m: FromCsvWorker) => {
            if (m.type !== 'ready') return;
            w.off('message', onReady);
            w.off('error', reject);
            if (pw.busy === 0) w.unref();
            resolve();
          };
          w.on('message', onReady);
          w.once('error', reject);
        }),
      );
      w.on('message', (m: FromCsvWorker) => this.onMessage(m));
      w.on('error', (err) => this.fail(pw, err));
      w.on('exit', (code) => this.fail(pw, new Error(`CSV parse thread exited (code ${code})`)));
    }
    await Promise.all(started);
  }

  private onMessage(m: FromCsvWorker): void {
    if (m.type === 'ready') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (--p.worker.busy === 0) p.worker.w.unref();
    const pw = p.worker;
    if (m.type === 'result') {
      p.resolve({
        buf: m.buf,
        result: m.result,
        done: () => {
          if (pw.recycle.length < 8) pw.recycle.push(...m.result.pieces);
        },
      });
    }
    else if (m.flowknn) p.reject(new FlowknnError(m.flowknn.kind, m.message, { file: m.flowknn.file, line: m.flowknn.line }));
    else p.reject(new Error(`CSV parse thread failed: ${m.message}`));
  }

  private fail(pw: PoolWorker, err: Error): void {
    this.workers = this.workers.filter((x) => x !== pw);
    for (const [id, p] of this.pending) {
      if (p.worker !== pw) continue;
      this.pending.delete(id);
      p.reject(new Error(`CSV parse thread crashed: ${err.message}`));
    }
  }

  parse(header: HeaderConfig, block: Block, rowsHint: number): Promise<ParsedBlock> {
    const pw = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: pw });
      if (pw.busy++ === 0) pw.w.ref();
      const ab = block.buf.buffer as ArrayBuffer;
      const recycle = pw.recycle.splice(0);
      const msg: ToCsvWorker = { type: 'parse', id, header, buf: ab, len: block.len, final: block.final, rowsHint, recycle };
      pw.w.postMessage(msg, [ab, ...recycle.flatMap(pieceBuffers)]);
    });
  }

  async stop(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((pw) => pw.w.terminate()));
  }
}

function spawnCsvWorker(): Worker {
  const url = import.meta.url;
  const data = { flowknnCsvWorker: true };
  if (!url.endsWith('.ts')) return new Worker(new URL(url), { workerData: data });
  // Under the test runner and tsx the sources are TypeScript: register tsx in the thread first
  // (Node 20 workers take no --import flag).
  const pkg = createRequire(url).resolve('tsx/package.json');
  const api = new URL('./dist/esm/api/index.mjs', pathToFileURL(pkg)).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(boot, { eval: true, workerData: data });
}

let sharedPool: CsvWorkerPool | undefined;

/** Starts (or grows to) `threads` parse threads; a stream starts them itself when needed. */
export async function startFlowCsvWorkers(threads: number): Promise<void> {
  sharedPool ??= new CsvWorkerPool();
  await sharedPool.start(threads);
}

export async function stopFlowCsvWorkers(): Promise<void> {
  const p = sharedPool;
  sharedPool = undefined;
  await p?.stop();
}

/** The body of a parse thread. */
function runCsvWorker(): void {
  const port = parentPort!;
  const parsers = new Map<string, { parser: FlowCsvParser; pieces: FlowBatchBuilder[]; rejects: BlockResult['rejects']; rowBytes: number }>();
  const free: FlowPiece[] = [];
  const newBuilder = (rows: number, textHint: number) => {
    // A piece sent back is reused when it holds at least as many rows as asked for.
    const at = free.findIndex((p) => p.line.length >= rows);
    if (at >= 0) {
      const p = free.splice(at, 1)[0]!;
      return new FlowBatchBuilder(p.line.length, textHint, p);
    }
    return new FlowBatchBuilder(rows, textHint);
  };
  port.on('message', (m: ToCsvWorker) => {
    free.push(...m.recycle);
    if (free.length > 8) free.splice(0, free.length - 8);
    try {
      const key = JSON.stringify(m.header);
      let st = parsers.get(key);
      if (!st) {
        if (parsers.size > 16) parsers.clear();
        const pieces: FlowBatchBuilder[] = [];
        const rejects: BlockResult['rejects'] = [];
        const parser = new FlowCsvParser(m.header.file, { maxLineBytes: m.header.maxLineBytes }, () => undefined, {
          newBuilder,
          onPiece: (b) => pieces.push(b),
          onReject: (line, reason, raw) => rejects.push({ line, reason, raw }),
        });
        parser.configure(m.header);
        st = { parser, pieces, rejects, rowBytes: 64 };
        parsers.set(key, st);
      }
      const buf = Buffer.from(m.buf, 0, m.len);
      const hint = Math.ceil((m.len / st.rowBytes) * 1.05) + 16;
      const result = st.parser.parseBlock(buf, m.final, hint);
      if (result.dataLines > 16) st.rowBytes = Math.max(16, m.len / result.lines);
      const transfer: ArrayBuffer[] = [m.buf];
      for (const b of st.pieces) {
        const { piece, transfer: t } = b.toPiece();
        result.pieces.push(piece);
        transfer.push(...t);
      }
      result.rejects = st.rejects.splice(0);
      st.pieces.length = 0;
      port.postMessage({ type: 'result', id: m.id, buf: m.buf, result } satisfies FromCsvWorker, transfer);
    } catch (err) {
      const f = err instanceof FlowknnError ? { kind: err.kind, file: err.file, line: err.line } : undefined;
      port.postMessage({ type: 'error', id: m.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err), flowknn: f } satisfies FromCsvWorker);
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromCsvWorker);
}

if (!isMainThread && (workerData as { flowknnCsvWorker?: boolean } | undefined)?.flowknnCsvWorker) runCsvWorker();

// ---------------------------------------------------------------------------------------
// The stream.

function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

async function openInput(file: string): Promise<FileHandle> {
  try {
    const handle = await open(file, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw new FlowknnError('usage', 'is a folder, expected a file', { file });
    }
    return handle;
  } catch (err) {
    if (err instanceof FlowknnError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code ?? String(err)})`;
    throw new FlowknnError('usage', why, { file });
  }
}

/** Bytes per block handed to a parse thread. */
export const DEFAULT_BLOCK_BYTES = 4 << 20;

/** The record batches of one flow CSV file, with its counts once the iteration has ended. */
export class FlowCsvStream implements AsyncIterable<RecordBatch> {
  readonly schema: Schema;
  private readonly parser: FlowCsvParser;
  private started = false;
  private readonly ready: RecordBatch[] = [];

  constructor(
    readonly file: string,
    private readonly options: FlowCsvStreamOptions = {},
    private readonly source?: AsyncIterable<Uint8Array>,
  ) {
    this.parser = new FlowCsvParser(options.displayName ?? file, options, (b) => this.ready.push(b));
    this.schema = this.parser.schema;
  }

  get stats(): FlowCsvStats {
    return this.parser.stats;
  }

  get rejects(): FileRejects {
    return this.parser.rejects;
  }

  /** Hands back a batch the consumer is done with, for reuse of its memory (see FlowCsvParser.recycle). */
  recycle(batch: RecordBatch): void {
    this.parser.recycle(batch);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    if (this.started) throw new Error('a FlowCsvStream can be iterated once');
    this.started = true;
    const parser = this.parser;
    const name = parser.file;
    const opts = this.options;
    const signal = opts.signal;
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const blockSize = Math.max(16, opts.blockBytes ?? (threads > 1 ? DEFAULT_BLOCK_BYTES : (opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK)));
    const keepFree = threads > 1 ? 2 * threads + 2 : 3;
    let handle: FileHandle | undefined;
    let gunzip: Gunzip | undefined;
    let raw: ReturnType<FileHandle['createReadStream']> | undefined;
    let reader: BlockReader;
    if (this.source) {
      reader = new BlockReader(blockSize, { chunks: this.source }, keepFree);
    } else {
      handle = await openInput(this.file);
      const head = Buffer.alloc(2);
      const { bytesRead } = await handle.read(head, 0, 2, 0);
      if (isGzip(head.subarray(0, bytesRead))) {
        parser.stats.gzip = true;
        raw = handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
        // Large chunks and a readable buffer of a few blocks: inflating runs ahead (on the libuv
        // pool) while blocks are parsed.
        gunzip = createGunzip({ chunkSize: 1 << 20, readableHighWaterMark: 2 * blockSize } as ZlibOptions);
        raw.on('error', (err) => gunzip!.destroy(err));
        raw.pipe(gunzip);
        reader = new BlockReader(blockSize, { chunks: gzipChunks(gunzip, name) }, keepFree);
      } else {
        reader = new BlockReader(blockSize, { handle }, keepFree);
      }
    }
    const pool = threads > 1 ? (sharedPool ??= new CsvWorkerPool()) : undefined;
    if (pool && pool.size < threads) await pool.start(threads);
    type Task = { block: Block; result?: Promise<ParsedBlock> };
    const tasks: Task[] = [];
    const maxInflight = pool ? 2 * threads : 0;
    let offset = 0;
    let lastPartial = false;
    let rowBytes = 64;
    const aborted = () => inputError('reading stopped (interrupted)', { file: name });
    const parseHere = (buf: Buffer) => {
      parser.push(buf);
      reader.release(buf.buffer);
      if (parser.stats.dataLines > 16) rowBytes = parser.stats.textBytes / parser.stats.lines;
    };
    const settle = async (t: Task) => {
      if (!t.result) {
        parseHere(t.block.buf.subarray(0, t.block.len));
        return;
      }
      const parsed = await t.result;
      const { buf, result } = parsed;
      const bytes = Buffer.from(buf, 0, t.block.len);
      if (!parser.clean) {
        // An earlier block ended in the trailer: read this one here, as trailer lines.
        parseHere(bytes);
        return;
      }
      parser.stats.textBytes += t.block.len;
      parser.applyBlock(result);
      parsed.done();
      if (result.dataLines > 16) rowBytes = t.block.len / result.lines;
      reader.release(buf);
    };
    let reading: Promise<Block | undefined> | undefined = reader.next();
    try {
      for (;;) {
        if (signal?.aborted) throw aborted();
        const block: Block | undefined = reading ? await reading : undefined;
        reading = block && !block.final ? reader.next() : undefined;
        if (block) {
          const nul = block.buf.subarray(0, block.len).indexOf(0);
          if (nul >= 0) {
            throw inputError(`binary data (a NUL byte at byte ${offset + nul}): expected nfdump CSV output (an nfcapd file must be read through nfdump)`, { file: name });
          }
          offset += block.len;
          const header = parser.headerConfig;
          const toWorker = pool !== undefined && header !== undefined && parser.clean && !block.partial && !lastPartial;
          lastPartial = block.partial;
          if (toWorker) {
            tasks.push({ block, result: pool.parse(header, block, Math.ceil((block.len / rowBytes) * 1.05) + 16) });
          } else if (tasks.length === 0) {
            parseHere(block.buf.subarray(0, block.len));
          } else {
            tasks.push({ block });
          }
        }
        // Take finished blocks in order: all of them at the end, else while too many are out.
        while (tasks.length > 0 && (!block || tasks.length > maxInflight || !tasks[0]!.result)) {
          await settle(tasks.shift()!);
          while (this.ready.length > 0) yield this.ready.shift()!;
        }
        while (this.ready.length > 0) yield this.ready.shift()!;
        if (!block && tasks.length === 0) break;
      }
      if (signal?.aborted) throw aborted();
      parser.end();
      while (this.ready.length > 0) yield this.ready.shift()!;
    } finally {
      this.ready.length = 0;
      // Let reads and parse threads still out finish before the file closes.
      await Promise.allSettled([reading, ...tasks.map((t) => t.result)]);
      raw?.destroy();
      gunzip?.destroy();
      await reader.close().catch(() => undefined);
      if (handle) {
        parser.stats.fileBytes = (await handle.stat().catch(() => ({ size: 0 }))).size;
        await handle.close().catch(() => undefined);
      } else {
        parser.stats.fileBytes = parser.stats.textBytes;
      }
    }
  }
}

async function* gzipChunks(gunzip: Gunzip, file: string): AsyncGenerator<Buffer> {
  try {
    for await (const c of gunzip) yield c as Buffer;
  } catch (err) {
    if (err instanceof FlowknnError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw inputError(`gzip data is corrupt or truncated (${e.message})`, { file });
  }
}

/** Reads a flow CSV file (plain or gzip, told by its first bytes) as Arrow record batches. */
export function readFlowCsvStream(file: string, options: FlowCsvStreamOptions = {}): FlowCsvStream {
  return new FlowCsvStream(file, options);
}

/** The same from any byte source (a child process's stdout, a test's chunks). */
export function readFlowCsvFrom(source: AsyncIterable<Uint8Array>, name: string, options: FlowCsvStreamOptions = {}): FlowCsvStream {
  return new FlowCsvStream(name, { ...options, displayName: options.displayName ?? name }, source);
}

/**
 * Parses in-memory bytes on this thread, cut into chunks of `chunkBytes` (tests, the fuzz
 * test). Same parser as the stream; throws as the stream would.
 */
export function parseFlowCsvChunks(
  bytes: Uint8Array,
  name: string,
  options: FlowCsvStreamOptions = {},
  chunkBytes = bytes.length,
): { batches: RecordBatch[]; stats: FlowCsvStats; rejects: FileRejects } {
  const batches: RecordBatch[] = [];
  const parser = new FlowCsvParser(name, options, (b) => batches.push(b));
  if (bytes.indexOf(0) >= 0) throw inputError(`binary data (a NUL byte at byte ${bytes.indexOf(0)}): expected nfdump CSV output`, { file: name });
  const step = Math.max(1, chunkBytes);
  for (let i = 0; i < bytes.length; i += step) parser.push(bytes.subarray(i, Math.min(bytes.length, i + step)));
  parser.end();
  return { batches, stats: parser.stats, rejects: parser.rejects };
}

// ---------------------------------------------------------------------------------------
// Writing: Arrow IPC file, under a temporary name until complete.

/** Collects what the Arrow writer emits, to be written to the file after each batch. */
class ChunkSink extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  bytes = 0;

  override write(value: ArrayBufferViewInput | Uint8Array): void {
    const v = value as Uint8Array;
    if (v && v.byteLength > 0) {
      this.chunks.push(v);
      this.bytes += v.byteLength;
    }
  }
}

interface ActiveWrite {
  tmp: string;
  interrupt(signal: NodeJS.Signals): void;
}

const activeWrites = new Set<ActiveWrite>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * On SIGINT/SIGTERM/SIGHUP while a write is open: its temporary file is removed at once
 * (synchronously: the process may end right after), the write fails, and when no other
 * handler listens the signal is raised again so the process ends as it would have.
 */
function onSignal(signal: NodeJS.Signals): void {
  for (const w of activeWrites) {
    try {
      rmSync(w.tmp, { force: true, recursive: true });
    } catch {
      // best effort: the process is going down
    }
    w.interrupt(signal);
  }
  activeWrites.clear();
  uninstallSignals();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let signalsInstalled = false;

function installSignals(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallSignals(): void {
  if (!signalsInstalled) return;
  signalsInstalled = false;
  for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * Removes `path` (a temporary file or folder) if the process gets SIGINT, SIGTERM or SIGHUP
 * before the returned function is called, as an open writeFlowArrowStream does with its
 * temporary file; `onInterrupt` is told the signal, so that work in progress can stop.
 */
export function removeOnInterrupt(path: string, onInterrupt?: (signal: NodeJS.Signals) => void): () => void {
  const entry: ActiveWrite = { tmp: path, interrupt: (s) => onInterrupt?.(s) };
  activeWrites.add(entry);
  installSignals();
  return () => {
    activeWrites.delete(entry);
    if (activeWrites.size === 0) uninstallSignals();
  };
}

export interface WriteArrowResult {
  file: string;
  rows: number;
  batches: number;
  bytes: number;
}

/**
 * Writes record batches to an Arrow IPC file as they come (RecordBatchFileWriter), under a
 * temporary name in the same folder, renamed to `file` once complete and synced. If the
 * batches fail (a parse error, a reject threshold), the write is aborted, or the process gets
 * SIGINT/SIGTERM/SIGHUP, the temporary file is removed and `file` is left as it was.
 * One batch is written while the next is parsed; when `batches` has a `recycle` method (a
 * FlowCsvStream), each batch goes back to it once its bytes are written.
 */
export async function writeFlowArrowStream(
  file: string,
  batches: AsyncIterable<RecordBatch>,
  options: { signal?: AbortSignal; schema?: Schema } = {},
): Promise<WriteArrowResult> {
  const dir = dirname(file);
  await ensureDir(dir);
  const tmp = join(dir, `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let interrupted: NodeJS.Signals | undefined;
  const active: ActiveWrite = {
    tmp,
    interrupt: (s) => {
      interrupted = s;
    },
  };
  let out: FileHandle | undefined;
  const check = () => {
    if (interrupted) throw environmentError(`interrupted by ${interrupted}: ${file} not written`);
    if (options.signal?.aborted) throw environmentError(`stopped: ${file} not written`);
  };
  activeWrites.add(active);
  installSignals();
  try {
    try {
      out = await open(tmp, 'wx');
    } catch (err) {
      throw environmentError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose an output path in a writable folder with free space', err);
    }
    const sink = new ChunkSink();
    const writer = new RecordBatchFileWriter();
    writer.reset(sink as never);
    let rows = 0;
    let count = 0;
    let bytes = 0;
    const recycle = (batches as { recycle?: (b: RecordBatch) => void }).recycle?.bind(batches);
    const drain = async () => {
      const chunks = sink.chunks;
      sink.chunks = [];
      for (let i = 0; i < chunks.length; i += 512) {
        const group = chunks.slice(i, i + 512);
        let { bytesWritten } = await out!.writev(group);
        const total = group.reduce((a, c) => a + c.byteLength, 0);
        // A short write: finish what is left of the group one chunk at a time.
        if (bytesWritten < total) {
          const rest = Buffer.concat(group).subarray(bytesWritten);
          while (bytesWritten < total) {
            const r = await out!.write(rest, bytesWritten - (total - rest.length));
            bytesWritten += r.bytesWritten;
          }
        }
        bytes += total;
      }
    };
    // One write in flight while the next batch is parsed; a batch's memory goes back to the
    // parser once its bytes are written.
    let writing: Promise<void> | undefined;
    for await (const batch of batches) {
      check();
      await writing;
      writer.write(batch);
      rows += batch.numRows;
      count++;
      writing = drain().then(() => recycle?.(batch));
      writing.catch(() => undefined);
      check();
    }
    await writing;
    if (count === 0) {
      const schema = options.schema ?? (batches as { schema?: Schema }).schema;
      if (!schema) throw new Error('writeFlowArrowStream: no batches and no schema');
      writer.reset(sink as never, schema);
    }
    writer.finish();
    await drain();
    await out.sync();
    await out.close();
    out = undefined;
    check();
    try {
      await rename(tmp, file);
    } catch (err) {
      throw environmentError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose an output path in a writable folder', err);
    }
    return { file, rows, batches: count, bytes };
  } catch (err) {
    await out?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    activeWrites.delete(active);
    if (activeWrites.size === 0) uninstallSignals();
  }
}
