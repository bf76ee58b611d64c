import {
  DataType,
  Field,
  Float64,
  List,
  makeData,
  makeVector,
  Precision,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  TimeUnit,
  vectorFromArray,
  Vector,
} from 'apache-arrow';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { excerpt, inputError, usageError, unreadable } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { sha256 } from '../io/checksum.js';

/** Column values as the parsers collect them: typed arrays for dense numbers, plain arrays
 *  (with nulls) for everything else, or a ready vector of the field's type. */
export type ColumnValues = Float64Array | Int32Array | readonly unknown[] | Vector;

/**
 * Builds a table that has exactly the given schema (field order, types, nullability and
 * metadata), so every writer of a kind produces the same columns.
 */
export function buildTable(schema: Schema, columns: Record<string, ColumnValues>, length: number): Table {
  const children = schema.fields.map((field) => {
    const values = columns[field.name];
    if (values === undefined) throw new Error(`column ${field.name} missing for schema`);
    if (values.length !== length) throw new Error(`column ${field.name} has ${values.length} values, expected ${length}`);
    return toVector(field, values).data[0]!;
  });
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}

function toVector(field: Field, values: ColumnValues): Vector {
  if (values instanceof Vector) return values;
  if (values instanceof Float64Array || values instanceof Int32Array) {
    if (length0(values) || sameArrayType(field.type, values)) return makeVector(values);
  }
  const fast = directVector(field.type as DataType, values as ArrayLike<unknown>, field.nullable);
  if (fast) return fast;
  return vectorFromArray(Array.from(values as ArrayLike<unknown>), field.type as DataType);
}

/**
 * The columns the parsers fill (numbers, times in epoch ms, text, with nulls), laid out as Arrow
 * buffers directly: vectorFromArray infers and converts value by value (about 15 us a row for a
 * flow table), which made reading nfcapd files through Arrow batches 50 times slower than
 * parsing them. Undefined for other types, which take the general path.
 */
function directVector(type: DataType, values: ArrayLike<unknown>, nullable: boolean): Vector | undefined {
  // A field that is not nullable holds no nulls (the parsers fill every row): not scanned for them.
  const nulls = nullable ? nullsOf(values) : NO_NULLS;
  if (DataType.isFloat(type) && (type as { precision: number }).precision === Precision.DOUBLE) return numbers(type, values as ArrayLike<number | null>, new Float64Array(values.length), nulls);
  if (DataType.isInt(type) && (type as { bitWidth: number }).bitWidth === 32 && (type as { isSigned: boolean }).isSigned) return numbers(type, values as ArrayLike<number | null>, new Int32Array(values.length), nulls);
  if (DataType.isTimestamp(type) && (type as { unit: TimeUnit }).unit === TimeUnit.MILLISECOND) return millis(type, values as ArrayLike<number | null>, nulls);
  if (DataType.isUtf8(type)) return asciiStrings(type, values as ArrayLike<string | null>, nulls);
  return undefined;
}

type Nulls = { nullCount: number; nullBitmap?: Uint8Array };
const NO_NULLS: Nulls = { nullCount: 0 };

function nullsOf(values: ArrayLike<unknown>): Nulls {
  const n = values.length;
  let nulls = 0;
  for (let i = 0; i < n; i++) if (values[i] === null || values[i] === undefined) nulls++;
  return nulls === 0 ? { nullCount: 0 } : { nullCount: nulls, nullBitmap: validity(values, n) };
}

function numbers(type: DataType, values: ArrayLike<number | null>, data: Float64Array | Int32Array, nulls: Nulls): Vector {
  const n = values.length;
  for (let i = 0; i < n; i++) data[i] = values[i] ?? 0;
  return makeVector(makeData({ type, length: n, ...nulls, data } as never));
}

/** Timestamps in ms as int64, written as two 32-bit words each: no BigInt per value. */
function millis(type: DataType, values: ArrayLike<number | null>, nulls: Nulls): Vector | undefined {
  const n = values.length;
  const words = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const v = values[i] ?? 0;
    if (!Number.isSafeInteger(v)) return undefined;
    const hi = Math.floor(v / 4294967296);
    words[2 * i] = (v - hi * 4294967296) | 0;
    words[2 * i + 1] = hi;
  }
  return makeVector(makeData({ type, length: n, ...nulls, data: new BigInt64Array(words.buffer) } as never));
}

/**
 * Text that is all ASCII (addresses, protocol names, flags): its bytes are its char codes, so
 * the column is the strings joined and encoded once (latin1, a native copy).
 */
function asciiStrings(type: DataType, values: ArrayLike<string | null>, nulls: Nulls): Vector | undefined {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  const parts: string[] = new Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string') {
      parts[i] = v;
      at += v.length;
    } else if (v !== null && v !== undefined) return undefined;
    else parts[i] = '';
    offsets[i + 1] = at;
  }
  const joined = parts.join('');
  if (/[^\x00-\x7f]/u.test(joined)) return undefined;
  const data = Buffer.from(joined, 'latin1');
  return makeVector(makeData({ type, length: n, ...nulls, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } as never));
}

function validity(values: ArrayLike<unknown>, n: number): Uint8Array {
  const bits = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (values[i] !== null && values[i] !== undefined) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}

function length0(values: ArrayLike<unknown>): boolean {
  return values.length === 0;
}

function sameArrayType(type: DataType, values: Float64Array | Int32Array): boolean {
  const name = String(type);
  return (name === 'Float64' && values instanceof Float64Array) || (name === 'Int32' && values instanceof Int32Array);
}

export function withMetadata(fields: Field[], metadata: Record<string, string>): Schema {
  return new Schema(fields, new Map(Object.entries(metadata)));
}

export async function writeArrowFile(path: string, table: Table): Promise<void> {
  await writeFileAtomic(path, tableToIPC(table, 'file'));
}

export interface ReadArrowOptions {
  /**
   * The sha256 the file was written with (a committed part, a model's train.arrow): a file
   * that matches is decoded directly; one that does not is refused, naming it.
   */
  readonly sha256?: string;
  /** Time the guarded decoding of an unchecked file may take (default: 20 s plus 1 s per 8 MiB). */
  readonly timeoutMs?: number;
}

/**
 * Reads an Arrow IPC file. Every Arrow file flowknn reads comes through here, because the
 * apache-arrow JS reader does not check the lengths in a file's metadata: a damaged file can
 * make it loop for hours over a vector length read from garbage (apache/arrow-js#315; seen
 * here on about 2% of single-byte corruptions of a small file) or index past its buffers. A file
 * whose sha256 is known and matches is what flowknn wrote and is decoded directly; any other
 * is first checked for its IPC framing (magic at both ends, a footer inside the file), then
 * decoded once in a worker thread with a time and memory limit that also checks every
 * column's buffers against its length. Only a file that passes is decoded here.
 */
export async function readArrowFile(path: string, options: ReadArrowOptions = {}): Promise<Table> {
  const bytes = await readBytes(path);
  if (options.sha256 !== undefined) {
    if (sha256(bytes) !== options.sha256) throw inputError('does not match the sha256 recorded for it when it was written: the file is damaged or was changed', { file: path });
  } else {
    checkIpcFraming(bytes, path);
    await checkInWorker(bytes, path, options.timeoutMs ?? 20_000 + Math.ceil(bytes.byteLength / (8 << 20)) * 1000);
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw inputError(`not an Arrow IPC file (${excerpt((err as Error).message)})`, { file: path }, 'write one with `flowknn ingest ... --out FILE.arrow`');
  }
  return exactDoubles(table, path);
}

/**
 * Int64 and Uint64 columns (other tools write counters so) come back from Arrow JS as BigInt,
 * which the rest of flowknn, and every join of tables, takes for doubles: each such column is
 * read as Float64 when every value is exact in a double (|v| <= 2^53 - 1), else the file is
 * refused naming the column and row, rather than rounding a count silently.
 */
function exactDoubles(table: Table, path: string): Table {
  const wide = table.schema.fields.map((f) => DataType.isInt(f.type) && f.type.bitWidth === 64);
  if (!wide.includes(true)) return table;
  const schema = new Schema(
    table.schema.fields.map((f, j) => (wide[j] ? new Field(f.name, new Float64(), f.nullable, f.metadata) : f)),
    table.schema.metadata,
  );
  let base = 0;
  const batches = table.batches.map((batch) => {
    const children = batch.data.children.map((child, j) => {
      if (!wide[j]) return child;
      const field = table.schema.fields[j]!;
      const col = makeVector(child);
      const values: (number | null)[] = new Array(child.length);
      for (let i = 0; i < child.length; i++) {
        const v = col.get(i) as bigint | null;
        if (v === null) {
          values[i] = null;
          continue;
        }
        if (v > MAX_EXACT || v < -MAX_EXACT) {
          throw inputError(
            `column ${field.name} (${String(field.type)}) holds ${v} in row ${base + i + 1}, beyond 2^53 - 1, the largest whole number a double holds exactly`,
            { file: path },
            `flowknn reads every number as a double: store ${field.name} as Float64, or as Int64 within +/- 9007199254740991`,
          );
        }
        values[i] = Number(v);
      }
      return vectorFromArray(values, new Float64()).data[0]!;
    });
    base += batch.numRows;
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);


/** The file's bytes, in shared memory so the checking thread reads them without a copy. */
async function readBytes(path: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw usageError(`${path}: ${unreadable(err)}`);
  }
  try {
    const size = (await fh.stat()).size;
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(bytes, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === size ? bytes : bytes.subarray(0, at);
  } finally {
    await fh.close();
  }
}

const MAGIC = 'ARROW1';

/**
 * The IPC file format's framing (Arrow columnar format, "IPC File Format"): `ARROW1` and
 * padding, the stream, the footer, the footer's int32 length, `ARROW1`. A cut or overwritten
 * end is the commonest damage and is told here, before any decoding, by name.
 */
export function checkIpcFraming(bytes: Uint8Array, path: string): void {
  const text = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  const bad = (what: string) => inputError(`not a whole Arrow IPC file: ${what}`, { file: path }, 'the file is damaged or cut short; write it again');
  if (bytes.byteLength < 8 + 4 + 6 || text(0, 6) !== MAGIC) throw bad(bytes.byteLength < 18 ? `${bytes.byteLength} bytes` : 'no ARROW1 magic at the start');
  if (text(bytes.byteLength - 6, bytes.byteLength) !== MAGIC) throw bad('no ARROW1 magic at the end (cut short?)');
  const footer = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(bytes.byteLength - 10, true);
  if (footer <= 0 || footer > bytes.byteLength - 8 - 10) throw bad(`a footer length of ${footer} in a file of ${bytes.byteLength} bytes`);
}

/**
 * The checking thread: decodes the table and walks every column's data, checking that its
 * buffers hold what its length says (offsets, values, validity), so that reading the table
 * later cannot run past a buffer. Plain JavaScript, so it runs the same from src/ and dist/.
 */
const CHECKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { tableFromIPC } = require(workerData.arrow);
const problems = [];
function check(data, name) {
  const n = data.length;
  if (!Number.isSafeInteger(n) || n < 0) return problems.push(name + ': length ' + n);
  if (data.nullCount > 0 && data.nullBitmap && data.nullBitmap.byteLength * 8 < data.offset + n) problems.push(name + ': validity bitmap shorter than its ' + n + ' rows');
  const values = data.values;
  if (data.valueOffsets) {
    const o = data.valueOffsets;
    if (o.length < n + 1) return problems.push(name + ': ' + o.length + ' offsets for ' + n + ' rows');
    for (let i = 0; i < n; i++) if (o[i + 1] < o[i] || o[i] < 0) return problems.push(name + ': offsets out of order at row ' + i);
    const end = Number(o[n]);
    if (values && ArrayBuffer.isView(values) && end > values.length) return problems.push(name + ': offsets reach ' + end + ', past ' + values.length + ' values');
    if (!values && data.children && data.children[0] && end > data.children[0].length) return problems.push(name + ': offsets reach ' + end + ', past ' + data.children[0].length + ' child rows');
  } else if (values && ArrayBuffer.isView(values) && !(data.children && data.children.length)) {
    const need = data.typeId === 6 ? Math.ceil((data.offset + n) / 8) : (data.offset + n) * (data.stride || 1);
    if (values.length < need) problems.push(name + ': ' + values.length + ' values for ' + n + ' rows');
  }
  (data.children || []).forEach((c, i) => check(c, name + '.' + i));
}
try {
  const table = tableFromIPC(workerData.bytes);
  table.schema.fields.forEach((f, i) => {
    for (const d of table.getChildAt(i).data) check(d, f.name);
  });
  parentPort.postMessage({ ok: problems.length === 0, problem: problems[0] || null });
} catch (err) {
  parentPort.postMessage({ ok: false, problem: String((err && err.message) || err) });
}
`;

function checkInWorker(bytes: Uint8Array, path: string, timeoutMs: number): Promise<void> {
  // the CommonJS build (an eval'd thread is a CommonJS script), found as this module finds its own
  const arrow = createRequire(import.meta.url).resolve('apache-arrow');
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(CHECKER, {
      eval: true,
      workerData: { bytes, arrow },
      // A loop over a garbage length also allocates as it goes: stop it at a bound, not at the machine's memory.
      resourceLimits: { maxOldGenerationSizeMb: 256 + Math.ceil((bytes.byteLength * 4) / (1 << 20)) },
    });
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (err) reject(err);
      else resolvePromise();
    };
    const timer = setTimeout(
      () => finish(inputError(`reading it did not finish within ${Math.round(timeoutMs / 1000)} s: its metadata is damaged (the apache-arrow reader loops on such files, apache/arrow-js#315)`, { file: path }, 'the file is damaged; write it again')),
      timeoutMs,
    );
    worker.on('message', (m: { ok: boolean; problem: string | null }) => finish(m.ok ? undefined : inputError(`not a valid Arrow IPC file (${m.problem})`, { file: path }, 'the file is damaged; write it again')));
    worker.on('error', (e) => finish(inputError(`not a valid Arrow IPC file (${(e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'its metadata asks for more memory than the file could hold' : e.message})`, { file: path }, 'the file is damaged; write it again')));
    worker.on('exit', () => finish(inputError('not a valid Arrow IPC file (the checking thread ended)', { file: path })));
  });
}

/** Reads a float64 column (any numeric Arrow type) into a Float64Array; nulls become NaN. */
export function numberColumn(table: Table, name: string): Float64Array | undefined {
  const col = table.getChild(name);
  if (!col) return undefined;
  const out = new Float64Array(table.numRows);
  for (let i = 0; i < out.length; i++) {
    const v = col.get(i) as number | bigint | null;
    out[i] = v === null || v === undefined ? Number.NaN : Number(v);
  }
  return out;
}

export function stringColumn(table: Table, name: string): (string | null)[] | undefined {
  const col = table.getChild(name);
  if (!col) return undefined;
  const out: (string | null)[] = new Array(table.numRows);
  for (let i = 0; i < out.length; i++) {
    const v = col.get(i) as unknown;
    out[i] = v === null || v === undefined ? null : String(v);
  }
  return out;
}

/**
 * A list column of `rows` lists of exactly `k` items each (neighbours of each query), built from
 * one flat vector of the items without a JavaScript array per row.
 */
export function fixedLengthLists(field: Field, items: Vector, rows: number, k: number): Vector {
  const valueOffsets = Int32Array.from({ length: rows + 1 }, (_, i) => i * k);
  return makeVector(makeData({ type: field.type as List, length: rows, nullCount: 0, valueOffsets, child: items.data[0]! }));
}

/**
 * Tables of one schema as one table, without copying their data: the first table's fields with
 * `metadata` (the joined table's, replacing the parts' own).
 */
/**
 * A column type for joining: timestamps in ms are one type whether they name their zone or not
 * (flowknn's were always UTC; tables written before they said so join those written after).
 */
function typeKey(type: DataType): string {
  return DataType.isTimestamp(type) ? `Timestamp<${TimeUnit[(type as { unit: TimeUnit }).unit]}>` : String(type);
}

export function joinTables(parts: readonly Table[], metadata: Record<string, string>): Table {
  const schema = withMetadata(parts[0]!.schema.fields, metadata);
  return new Table(parts.flatMap((t, p) => batchesUnder(schema, t, p)));
}

/**
 * A part's batches taken under the joined table's schema as they are (joinTables, and the
 * nightly job's outputs streamed part by part). A column of another type would have its bytes
 * read as the schema's type (an Int64 count as a tiny double): that is an error naming the part.
 */
export function batchesUnder(schema: Schema, part: Table, index: number): RecordBatch[] {
  const fields = part.schema.fields;
  const differ = schema.fields.findIndex((f, j) => fields[j]?.name !== f.name || typeKey(fields[j]!.type) !== typeKey(f.type));
  if (differ >= 0 || fields.length !== schema.fields.length) {
    const f = schema.fields[differ >= 0 ? differ : Math.min(fields.length, schema.fields.length)];
    const other = fields[differ >= 0 ? differ : Math.min(fields.length, schema.fields.length)];
    throw usageError(
      `cannot join these tables: column ${f ? `${f.name} (${String(f.type)})` : '(none)'} of the first is ${other ? `${other.name} (${String(other.type)})` : 'missing'} in input ${index + 1}`,
      'join tables of the same columns and types (as flowknn ingest writes them), or ingest them into separate files',
    );
  }
  return part.batches.map((b) => new RecordBatch(schema, b.data));
}

/** The given rows of a table, same schema and metadata. */
export function takeRows(table: Table, rows: readonly number[]): Table {
  const columns: Record<string, unknown[]> = {};
  for (const field of table.schema.fields) {
    const col = table.getChild(field.name)!;
    columns[field.name] = rows.map((i) => {
      const v = col.get(i) as unknown;
      if (typeof v === 'bigint') return Number(v);
      // list cells come back as vectors: plain arrays rebuild them
      if (v !== null && typeof v === 'object' && 'toArray' in v) return Array.from((v as { toArray(): ArrayLike<unknown> }).toArray());
      return v;
    });
  }
  return buildTable(table.schema, columns, rows.length);
}

export { Field, Schema, Table };
