import { Field, makeData, RecordBatch, Struct, type Schema } from 'apache-arrow';
import { TWO32 } from './bytes.js';

/**
 * The column builders of the flow CSV parser: typed arrays and Arrow Utf8 buffers filled row by
 * row, handed out as RecordBatches without copying (toBatch), moved between threads as plain
 * pieces (FlowPiece), and reused once the consumer hands a batch back.
 */

/** Copies a printable-ASCII cell (already trimmed); false at any other byte. */
export function asciiInto(col: Utf8Builder, buf: Uint8Array, a: number, b: number, r: number): boolean {
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
export class Utf8Builder {
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

export interface Utf8Piece {
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
export class FlowBatchBuilder {
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
export interface Present {
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

export function toBatch(schema: Schema, b: FlowBatchBuilder, present: Present): RecordBatch {
  const n = b.n;
  const fields = schema.fields as Field[];
  if (fields.length !== FIELD_ORDER.length || fields.some((f, i) => f.name !== FIELD_ORDER[i])) {
    throw new Error('FLOW_FIELDS changed: update toBatch in src/ingest/flow-csv/columns.ts');
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
