import {
  Field,
  List,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  Vector,
  type DataType,
} from 'apache-arrow';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { inputError, usageError } from '../errors.js';
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
  return vectorFromArray(Array.from(values as ArrayLike<unknown>), field.type as DataType);
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
  try {
    return tableFromIPC(bytes);
  } catch (err) {
    throw inputError(`not an Arrow IPC file (${(err as Error).message})`, { file: path }, 'write one with `flowknn ingest ... --out FILE.arrow`');
  }
}

/** The file's bytes, in shared memory so the checking thread reads them without a copy. */
async function readBytes(path: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`);
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
export function joinTables(parts: readonly Table[], metadata: Record<string, string>): Table {
  const schema = withMetadata(parts[0]!.schema.fields, metadata);
  return new Table(parts.flatMap((t) => t.batches.map((b) => new RecordBatch(schema, b.data))));
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
