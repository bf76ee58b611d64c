import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { FlowknnError } from '../../errors.js';
import { startWorker } from '../../io/worker.js';
import type { Block } from './blocks.js';
import { FlowBatchBuilder, type FlowPiece } from './columns.js';
import { FlowCsvParser, type BlockResult, type HeaderConfig } from './parser.js';

/**
 * Parse threads: blocks of whole lines out, parsed pieces back. The stream (stream.ts) puts the
 * pieces back in order, so batches, line numbers, rejects and errors do not depend on how many
 * threads parse.
 */

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
export class CsvWorkerPool {
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
  return startWorker(new URL(import.meta.url), { workerData: { flowknnCsvWorker: true } });
}

let sharedPool: CsvWorkerPool | undefined;

/** The process's parse threads (none started until a stream or startFlowCsvWorkers asks). */
export function csvWorkerPool(): CsvWorkerPool {
  sharedPool ??= new CsvWorkerPool();
  return sharedPool;
}

/** Starts (or grows to) `threads` parse threads; a stream starts them itself when needed. */
export async function startFlowCsvWorkers(threads: number): Promise<void> {
  await csvWorkerPool().start(threads);
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

