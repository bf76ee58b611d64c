import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../io/worker.js';
import type { FromWorker, SharedSearchJob, ToWorker } from './jobs.js';

/**
 * Search threads. A job's queries are cut into chunks handed out one at a time, so a thread
 * that finishes early takes the next chunk (tree searches vary in cost per query). The threads
 * are started on first use and kept for later jobs; they do not keep the process alive while
 * idle. A thread that crashes fails the job with its error and is replaced at the next job.
 */
export class WorkerPool {
  private workers: Worker[] = [];
  private readonly ready = new WeakSet<Worker>();
  private nextJobId = 1;
  private busy = false;

  constructor(readonly size: number) {}

  /** Starts the threads and waits until each has loaded its code. */
  async start(): Promise<void> {
    this.spawn();
    await Promise.all(this.workers.map((w) => (this.ready.has(w) ? undefined : new Promise<void>((resolve, reject) => {
      const onMessage = (msg: { type: string }) => {
        if (msg.type !== 'ready') return;
        this.ready.add(w);
        w.off('message', onMessage);
        w.off('error', reject);
        w.unref();
        resolve();
      };
      w.on('message', onMessage);
      w.once('error', reject);
      w.ref();
    }))));
  }

  private spawn(): void {
    if (this.workers.length === this.size) return;
    // Under the test runner the sources are TypeScript; the built package runs dist/*.js.
    const fromTs = import.meta.url.endsWith('.ts');
    const url = new URL(fromTs ? './worker.ts' : './worker.js', import.meta.url);
    while (this.workers.length < this.size) {
      const w = startWorker(url);
      w.unref();
      this.workers.push(w);
    }
  }

  newJobId(): number {
    return this.nextJobId++;
  }

  /** Runs rows [0, rows) of the job in chunks of `chunk` rows across the threads. */
  async run(job: SharedSearchJob, rows: number, chunk: number): Promise<void> {
    if (this.busy) throw new Error('WorkerPool.run is not re-entrant: one search at a time per engine');
    this.busy = true;
    this.spawn();
    const workers = this.workers;
    let next = 0;
    let pending = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const cleanups: (() => void)[] = [];
        const finish = (err?: Error) => {
          if (failed) return;
          if (err) failed = true;
          if (err || (pending === 0 && next >= rows)) {
            cleanups.forEach((c) => c());
            if (err) reject(err);
            else resolve();
          }
        };
        const give = (w: Worker) => {
          if (next >= rows) return;
          const start = next;
          next = Math.min(rows, next + chunk);
          pending++;
          w.postMessage({ type: 'chunk', job, start, end: next } satisfies ToWorker);
        };
        for (const w of workers) {
          const onMessage = (msg: FromWorker) => {
            if (msg.id !== job.id) return;
            pending--;
            if (msg.type === 'error') {
              finish(new Error(`cpu search thread failed: ${msg.message}`));
              return;
            }
            give(w);
            finish();
          };
          const onError = (err: Error) => {
            this.workers = this.workers.filter((x) => x !== w);
            finish(new Error(`cpu search thread crashed: ${err.message}`));
          };
          const onExit = (code: number) => {
            this.workers = this.workers.filter((x) => x !== w);
            finish(new Error(`cpu search thread exited (code ${code}) during a search`));
          };
          w.on('message', onMessage);
          w.on('error', onError);
          w.on('exit', onExit);
          w.ref();
          cleanups.push(() => {
            w.off('message', onMessage);
            w.off('error', onError);
            w.off('exit', onExit);
            w.unref();
          });
        }
        for (const w of workers) give(w);
        finish();
      });
    } finally {
      this.busy = false;
    }
  }

  async dispose(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

