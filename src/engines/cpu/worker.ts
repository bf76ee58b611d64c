import { parentPort } from 'node:worker_threads';
import { Matrix } from '../../matrix.js';
import { bruteSearchRange } from './brute.js';
import type { FromWorker, SharedSearchJob, ToWorker } from './jobs.js';
import { kdSearchRange, kdTreeFromBuffers, type KdTree } from './kdtree.js';

/** A search thread: runs query ranges of shared jobs with the same kernels as the main thread. */
if (!parentPort) throw new Error('worker.ts runs only as a worker thread');
const port = parentPort;

// The tree view of the job last seen, so a job's chunks do not rebuild it.
let cached: { id: number; tree: KdTree } | undefined;

function treeOf(job: SharedSearchJob): KdTree {
  if (cached?.id !== job.id) cached = { id: job.id, tree: kdTreeFromBuffers(job.tree!.buffers, job.tree!.meta) };
  return cached.tree;
}

port.postMessage({ type: 'ready' });

port.on('message', (msg: ToWorker) => {
  const { job, start, end } = msg;
  let reply: FromWorker;
  try {
    const queries = new Matrix(job.queries, job.queries.length / job.d, job.d);
    if (job.tree) {
      const tree = treeOf(job);
      kdSearchRange(tree, new Matrix(tree.points, tree.n, tree.d), queries, job.k, job.metric, start, end, job.outIndices, job.outDistances);
    } else {
      const train = new Matrix(job.train!, job.train!.length / job.d, job.d);
      bruteSearchRange(train, queries, job.k, job.metric, start, end, job.outIndices, job.outDistances);
    }
    reply = { type: 'done', id: job.id, start, end };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { type: 'error', id: job.id, message: e.message, stack: e.stack };
  }
  port.postMessage(reply);
});
