import type { RecordBatch, Schema } from 'apache-arrow';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip, type Gunzip, type ZlibOptions } from 'node:zlib';
import { FlowknnError, inputError, unreadableFile } from '../../errors.js';
import type { FileRejects } from '../rejects.js';
import { BlockReader, type Block } from './blocks.js';
import { DEFAULT_HIGH_WATER_MARK, FlowCsvParser, type FlowCsvStats, type FlowCsvStreamOptions } from './parser.js';
import { csvWorkerPool, type ParsedBlock } from './workers.js';

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
 * Output: writeFlowArrowStream (src/io/arrow-stream.ts) writes the batches to an Arrow IPC file under a temporary name
 * and renames it when complete; a failure, an abort or SIGINT/SIGTERM/SIGHUP removes it.
 */


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
    throw unreadableFile(file, err);
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
    const pool = threads > 1 ? csvWorkerPool() : undefined;
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

