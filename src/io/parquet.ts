import { RecordBatch, Table, tableToIPC, type Schema } from 'apache-arrow';
import { withArrowFileBatches } from './arrow-stream.js';
import type { RecordBatch as WasmRecordBatch, WriterProperties } from 'parquet-wasm';
import { TOOL_VERSION } from '../version.js';
import { writeChunksAtomic } from './atomic.js';

/**
 * Parquet copies of the Arrow tables flowknn writes, for tools that read Parquet (DuckDB,
 * Spark, pandas, polars). The conversion is Apache Arrow's own Rust writer (arrow-rs, through
 * parquet-wasm): every Arrow type the tables use maps to its Parquet logical type, so
 * timestamp[ms, "UTC"] becomes TIMESTAMP(MILLIS, isAdjustedToUTC) and lists stay lists; the
 * Arrow schema (with flowknn's metadata) is embedded as `ARROW:schema`, and the `flowknn.*`
 * metadata is also written as plain key-value metadata for readers that ignore the Arrow schema.
 * Written under a temporary name and renamed, as every output is.
 */

/** The Parquet file written beside an Arrow one: `x.arrow` -> `x.parquet` (`x` -> `x.parquet`). */
export function parquetPathFor(arrowPath: string): string {
  return /\.arrow$/iu.test(arrowPath) ? arrowPath.replace(/\.arrow$/iu, '.parquet') : `${arrowPath}.parquet`;
}

type ParquetWasm = typeof import('parquet-wasm');

let loading: Promise<ParquetWasm> | undefined;

/** The WebAssembly writer, loaded (5 MB compiled) only by a command that writes a table. */
function parquetWasm(): Promise<ParquetWasm> {
  return (loading ??= import('parquet-wasm'));
}

/**
 * Starts loading the writer now, for a command that will write a table once it has read its
 * inputs: the compilation then overlaps the reading. A failure surfaces at the write.
 */
export function preloadParquet(): void {
  parquetWasm().catch(() => {});
}

/** Rows per row group: large enough for column statistics to prune well, bounded in memory. */
const ROW_GROUP_ROWS = 128 * 1024;

function properties(pw: ParquetWasm, schema: Schema): WriterProperties {
  const metadata = new Map<string, string>();
  for (const [k, v] of schema.metadata) if (k.startsWith('flowknn.')) metadata.set(k, v);
  // Snappy: the codec every Parquet reader has.
  return new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setMaxRowGroupSize(ROW_GROUP_ROWS)
    .setCreatedBy(`flowknn ${TOOL_VERSION} (parquet-wasm)`)
    .setKeyValueMetadata(metadata)
    .build();
}

/** Writes a whole table as Parquet. */
export async function writeParquetFile(path: string, table: Table): Promise<void> {
  const pw = await parquetWasm();
  // writeParquet takes the WebAssembly table over (and frees it).
  const bytes = pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, 'stream')), properties(pw, table.schema));
  await writeFileAtomic(path, bytes);
}

/**
 * Writes record batches as Parquet as they come, memory bounded by a row group: for the flow
 * tables ingest streams, which may not fit in memory.
 */
export async function writeParquetBatches(path: string, schema: Schema, batches: AsyncIterable<RecordBatch>): Promise<{ rows: number }> {
  const iterator = batches[Symbol.asyncIterator]();
  const first = await iterator.next();
  // Parquet takes its schema from the first batch: a table without one is written whole.
  if (first.done) {
    await writeParquetFile(path, new Table(schema));
    return { rows: 0 };
  }
  const pw = await parquetWasm();
  let rows = 0;
  let pending: IteratorResult<RecordBatch> | undefined = first;
  const source = new ReadableStream<WasmRecordBatch>({
    pull: async (controller) => {
      const next = pending ?? (await iterator.next());
      pending = undefined;
      if (next.done) {
        controller.close();
        return;
      }
      const batch = new RecordBatch(schema, next.value.data);
      rows += batch.numRows;
      const wasm = pw.Table.fromIPCStream(tableToIPC(new Table([batch]), 'stream'));
      try {
        for (const b of wasm.recordBatches()) controller.enqueue(b);
      } finally {
        wasm.free();
      }
    },
  });
  const parquet = await pw.transformParquetStream(source, properties(pw, schema));
  await writeChunksAtomic(path, async (write) => {
    const reader = (parquet as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await write(value);
    }
  });
  return { rows };
}

/**
 * The Parquet copy of an Arrow IPC file flowknn has just written, read back batch by batch.
 */
export async function writeParquetFromArrowFile(arrowPath: string, parquetPath: string): Promise<{ rows: number }> {
  return withArrowFileBatches(arrowPath, (schema, batches) => writeParquetBatches(parquetPath, schema, batches));
}

async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await writeChunksAtomic(path, (write) => write(bytes));
}
