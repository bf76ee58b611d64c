import type { Metric } from '../engine.js';
import type { KdTreeMeta } from './kdtree.js';

/**
 * One search as the worker threads see it: every array is a view on a SharedArrayBuffer, so
 * training data, tree, queries and outputs exist once in memory however many threads read or
 * write them. Each thread writes only its own rows of the outputs.
 */
export interface SharedSearchJob {
  readonly id: number;
  readonly k: number;
  readonly metric: Metric;
  readonly d: number;
  readonly queries: Float64Array;
  readonly outIndices: Int32Array;
  readonly outDistances: Float64Array;
  /** brute force: the training rows (row-major). */
  readonly train?: Float64Array;
  /** k-d tree: its arrays and shape. */
  readonly tree?: { buffers: Record<string, Int32Array | Float64Array>; meta: KdTreeMeta };
}

export type ToWorker = { type: 'chunk'; job: SharedSearchJob; start: number; end: number };
export type FromWorker = { type: 'ready'; id?: undefined } | { type: 'done'; id: number; start: number; end: number } | { type: 'error'; id: number; message: string; stack?: string };
