import type { FileHandle } from 'node:fs/promises';

/**
 * The input cut at line ends into reused buffers: the unit a parse thread gets (workers.ts) or
 * the stream parses here (stream.ts).
 */


export interface Block {
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
export class BlockReader {
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

