import { AsyncByteQueue, RecordBatchFileWriter, RecordBatchReader, type RecordBatch, type Schema } from 'apache-arrow';
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { environmentError } from '../errors.js';
import { ensureDir } from './atomic.js';
import { removeOnInterrupt } from './interrupt.js';

/**
 * Arrow IPC files written from a stream of record batches, under a temporary name until
 * complete, removed on failure or on SIGINT/SIGTERM/SIGHUP.
 */

type ArrayBufferViewInput = Parameters<AsyncByteQueue['write']>[0];


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
export async function writeArrowStream(
  file: string,
  batches: AsyncIterable<RecordBatch>,
  options: { signal?: AbortSignal; schema?: Schema } = {},
): Promise<WriteArrowResult> {
  const dir = dirname(file);
  await ensureDir(dir);
  const tmp = join(dir, `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let interrupted: NodeJS.Signals | undefined;
  let out: FileHandle | undefined;
  const check = () => {
    if (interrupted) throw environmentError(`interrupted by ${interrupted}: ${file} not written`);
    if (options.signal?.aborted) throw environmentError(`stopped: ${file} not written`);
  };
  const release = removeOnInterrupt(tmp, (signal) => {
    interrupted = signal;
  });
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
      if (!schema) throw new Error('writeArrowStream: no batches and no schema');
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
    release();
  }
}

/**
 * Reads back an Arrow IPC file flowknn has just written, batch by batch (its own, complete
 * output: no guard needed): `use` gets its schema and its batches, and the file is closed after.
 */
export async function withArrowFileBatches<T>(path: string, use: (schema: Schema, batches: AsyncIterable<RecordBatch>) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r');
  try {
    const reader = await RecordBatchReader.from(handle);
    await reader.open();
    return await use(reader.schema, reader);
  } finally {
    await handle.close().catch(() => undefined);
  }
}
