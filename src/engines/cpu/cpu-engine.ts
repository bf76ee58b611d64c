import { usableCores } from '../../io/cores.js';
import { usageError, wholeNumber } from '../../errors.js';
import { Matrix } from '../../matrix.js';
import { DEFAULT_BATCH_QUERIES, MAX_BATCH_QUERIES, METRICS, type EngineCapabilities, type KnnEngine, type Metric, type Neighbours } from '../engine.js';
import { validateSearch } from '../validate.js';
import { bruteSearchRange } from './brute.js';
import type { SharedSearchJob } from './jobs.js';
import { buildKdTree, kdSearchRange, kdTreeBuffers, type KdTree } from './kdtree.js';
import { WorkerPool } from './pool.js';
import { metricSpec } from '../metrics.js';

export const CPU_ALGORITHMS = ['auto', 'tree', 'brute'] as const;
export type CpuAlgorithm = (typeof CPU_ALGORITHMS)[number];

export interface CpuEngineOptions {
  /** Search threads (default: the machine's cores). 1 searches on the calling thread. */
  threads?: number;
  /** tree: exact k-d tree; brute: fused brute force; auto: chosen per search (see choose()). */
  algorithm?: CpuAlgorithm;
  /**
   * Estimated distance evaluations below which a search stays on the calling thread (handing
   * it to threads costs more than it saves). Tests set 0 to exercise the threads on small data.
   */
  threadMinWork?: number;
}

const THREAD_MIN_WORK = 4e6;

/**
 * The reference engine: exact, float64, always available. Brute force or a k-d tree give the
 * same neighbours (ties by lower training index) and bit-identical distances; threads split the
 * queries and share the training data and tree through SharedArrayBuffers.
 */
export class CpuEngine implements KnnEngine {
  readonly name = 'cpu' as const;
  readonly capabilities: EngineCapabilities = { metrics: METRICS, maxK: Number.MAX_SAFE_INTEGER, precision: 'f64' };
  readonly threads: number;
  readonly algorithm: CpuAlgorithm;
  private readonly threadMinWork: number;

  get deviceName(): string {
    return `CPU, ${this.threads} thread${this.threads === 1 ? '' : 's'}, ${this.algorithm === 'auto' ? 'k-d tree or brute force' : this.algorithm}, float64`;
  }
  private pool?: WorkerPool;
  /** Trees and shared copies per training matrix, so repeated searches on one model reuse them. */
  private readonly prepared = new WeakMap<Matrix, { tree?: KdTree; shared?: Float64Array }>();

  constructor(options: CpuEngineOptions = {}) {
    const threads = options.threads ?? usableCores();
    wholeNumber('--threads', threads, 1);
    this.threads = threads;
    this.algorithm = options.algorithm ?? 'auto';
    this.threadMinWork = options.threadMinWork ?? THREAD_MIN_WORK;
  }

  /**
   * auto: a k-d tree for the metrics it bounds (all but cosine) in low dimensions, where its
   * pruning wins; brute force for cosine, for many dimensions (a tree prunes little past ~16)
   * and for small training sets.
   */
  choose(train: Matrix, metric: Metric): 'tree' | 'brute' {
    if (this.algorithm === 'tree') {
      if (!metricSpec(metric).boxBound) throw usageError(`--algorithm tree does not support the ${metric.name} metric`, 'use --algorithm brute or auto');
      return 'tree';
    }
    if (this.algorithm === 'brute') return 'brute';
    return metricSpec(metric).boxBound && train.cols <= 16 && train.rows >= 64 ? 'tree' : 'brute';
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    validateSearch(train, queries, k, metric);
    const algorithm = this.choose(train, metric);
    const m = queries.rows;
    // Estimated distance evaluations: a tree visits a few leaves per query.
    const work = algorithm === 'tree' ? m * Math.min(train.rows, 64 * (k + 16)) : m * train.rows;
    const threaded = this.threads > 1 && work >= this.threadMinWork && m >= 2 * this.threads;
    const prep = this.prepare(train, algorithm, threaded);
    if (!threaded) {
      const indices = new Int32Array(m * k);
      const distances = new Float64Array(m * k);
      if (algorithm === 'tree') kdSearchRange(prep.tree!, train, queries, k, metric, 0, m, indices, distances);
      else bruteSearchRange(train, queries, k, metric, 0, m, indices, distances);
      return { queries: m, k, indices, distances };
    }
    this.pool ??= new WorkerPool(this.threads);
    const indices = new Int32Array(new SharedArrayBuffer(m * k * 4));
    const distances = new Float64Array(new SharedArrayBuffer(m * k * 8));
    const job: SharedSearchJob = {
      id: this.pool.newJobId(),
      k,
      metric,
      d: train.cols,
      queries: toShared(queries.data),
      outIndices: indices,
      outDistances: distances,
      ...(algorithm === 'tree'
        ? { tree: { buffers: kdTreeBuffers(prep.tree!), meta: prep.tree! } }
        : { train: prep.shared! }),
    };
    // Chunks small enough to balance uneven tree costs, large enough to keep messages rare.
    const chunk = Math.max(16, Math.min(4096, Math.ceil(m / (this.threads * 16))));
    await this.pool.run(job, m, chunk);
    return { queries: m, k, indices, distances };
  }

  /** DEFAULT_BATCH_QUERIES, or 4096 per thread on machines with more than 16 threads. */
  async batchQueries(): Promise<number> {
    return Math.min(MAX_BATCH_QUERIES, Math.max(DEFAULT_BATCH_QUERIES, this.threads * 4096));
  }

  private prepare(train: Matrix, algorithm: 'tree' | 'brute', threaded: boolean): { tree?: KdTree; shared?: Float64Array } {
    let prep = this.prepared.get(train);
    if (!prep) {
      prep = {};
      this.prepared.set(train, prep);
    }
    if (algorithm === 'tree' && (!prep.tree || (threaded && !isShared(prep.tree.points)))) {
      prep.tree = buildKdTree(train, threaded ? { alloc: sharedAlloc } : {});
    }
    if (algorithm === 'brute' && threaded && !prep.shared) prep.shared = toShared(train.data);
    return prep;
  }

  /** Starts the search threads now rather than at the first large search (servers, benchmarks). */
  async start(): Promise<void> {
    if (this.threads < 2) return;
    this.pool ??= new WorkerPool(this.threads);
    await this.pool.start();
  }

  async dispose(): Promise<void> {
    await this.pool?.dispose();
    this.pool = undefined;
  }
}

function isShared(a: Float64Array | Int32Array): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

function toShared(a: Float64Array): Float64Array {
  if (isShared(a)) return a;
  const out = new Float64Array(new SharedArrayBuffer(a.length * 8));
  out.set(a);
  return out;
}

/** Allocates the tree's arrays directly in shared memory: no second copy for the threads. */
function sharedAlloc<T extends Int32Array | Float64Array>(type: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number): T {
  return new type(new SharedArrayBuffer(length * type.BYTES_PER_ELEMENT));
}
