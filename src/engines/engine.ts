import type { Matrix } from '../matrix.js';

export const METRICS = ['euclidean', 'sqeuclidean', 'manhattan', 'chebyshev', 'minkowski', 'cosine'] as const;
export type MetricName = (typeof METRICS)[number];

/** A distance. `p` is the Minkowski order (p >= 1; p = 1 is manhattan, p = 2 euclidean). */
export interface Metric {
  readonly name: MetricName;
  readonly p?: number;
}

export const ENGINE_NAMES = ['cpu', 'webgpu', 'tfjs'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/**
 * The k nearest training rows of each query, nearest first: query q's j-th neighbour is
 * indices[q * k + j] at distance distances[q * k + j]. Equal distances are ordered by lower
 * training index, so every engine returns the same lists.
 */
export interface Neighbours {
  readonly queries: number;
  readonly k: number;
  readonly indices: Int32Array;
  readonly distances: Float64Array;
}

export interface EngineCapabilities {
  readonly metrics: readonly MetricName[];
  readonly maxK: number;
  readonly precision: 'f32' | 'f64';
}

/**
 * Most queries an engine asks for in one search (batchQueries): a batch's predictions, with
 * their neighbours, stay within a few hundred megabytes of host memory however fast the device.
 */
export const MAX_BATCH_QUERIES = 2 ** 19;

/**
 * Queries per search for engines without a rule of their own, and the CPU engine's: enough for
 * each thread to take many chunks (tree searches vary in cost per query), few enough that a
 * batch's working set stays in tens of megabytes. Measured on the nightly job's classify stage
 * (bench/RESULTS.md, "Nights of any size").
 */
export const DEFAULT_BATCH_QUERIES = 65_536;

/**
 * Exact k-nearest-neighbour search. Engines validate their inputs the same way (see
 * validateSearch) so that bad input gives the same error whichever engine runs.
 *
 * A training matrix must not change once searched: engines keep what they prepare from it (a
 * k-d tree, a copy on the GPU) by the Matrix object, for the next search on the same rows.
 */
export interface KnnEngine {
  readonly name: EngineName;
  readonly capabilities: EngineCapabilities;
  search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours>;
  /**
   * Queries per search that keep this engine busy at little cost per search, for a caller that
   * cuts `total` queries against `train` into several searches (the nightly job's batches):
   * a GPU takes many per dispatch, the CPU engine's threads fewer. At most MAX_BATCH_QUERIES.
   * Engines without it get the caller's own batch size.
   */
  batchQueries?(train: Matrix, k: number, metric: Metric, total: number): Promise<number>;
  dispose(): Promise<void>;
  /**
   * Searches and queries answered by each engine, for an engine that hands searches on to
   * others (auto, a large-k fallback): its `name` is then the engine that answered most queries.
   */
  usage?(): EngineUsage;
  /** What the searches run on, in words (a GPU adapter, CPU threads, a TensorFlow.js backend), for run manifests. */
  readonly deviceName?: string;
}

/** Searches and queries answered, by engine. */
export type EngineUsage = Partial<Record<EngineName, { searches: number; queries: number }>>;

/**
 * What each engine behind one that hands searches on has answered. `main` is the engine that
 * answered the most queries (on a tie the later one; before any search, the first engine): a
 * night whose last, short batch went to the CPU is still named by the GPU that ran the rest.
 */
export class SearchTally {
  private readonly by = new Map<KnnEngine, { searches: number; queries: number }>();
  private last: KnnEngine;

  constructor(first: KnnEngine) {
    this.last = first;
  }

  add(engine: KnnEngine, queries: number): void {
    const t = this.by.get(engine) ?? { searches: 0, queries: 0 };
    t.searches++;
    t.queries += queries;
    this.by.set(engine, t);
    this.last = engine;
  }

  get main(): KnnEngine {
    let best = this.last;
    let most = this.by.get(best)?.queries ?? 0;
    for (const [engine, t] of this.by) {
      if (t.queries > most) {
        best = engine;
        most = t.queries;
      }
    }
    return best;
  }

  usage(): EngineUsage {
    return sumUsage([...this.by].map(([engine, t]) => ({ [engine.name]: t }))) ?? {};
  }
}

/** Usages summed by engine name (a night's shards); undefined where none was counted. */
export function sumUsage(all: readonly (EngineUsage | undefined)[]): EngineUsage | undefined {
  if (all.every((u) => u === undefined)) return undefined;
  const out: EngineUsage = {};
  for (const u of all) {
    for (const [name, t] of Object.entries(u ?? {}) as [EngineName, { searches: number; queries: number }][]) {
      const o = (out[name] ??= { searches: 0, queries: 0 });
      o.searches += t.searches;
      o.queries += t.queries;
    }
  }
  return out;
}

/** The engine that answered the most queries in a usage (the first listed on a tie). */
export function mostUsed(usage: EngineUsage | undefined): EngineName | undefined {
  let best: EngineName | undefined;
  let most = -1;
  for (const [name, t] of Object.entries(usage ?? {}) as [EngineName, { queries: number }][]) {
    if (t.queries > most) {
      best = name;
      most = t.queries;
    }
  }
  return best;
}

/** What `flowknn engines` shows of an engine: whether it can run here, why not, and on what. */
export interface EngineProbe {
  readonly name: EngineName;
  readonly usable: boolean;
  /** Why it cannot run here (when not usable), in words a user can act on. */
  readonly reason?: string;
  /** The device or backend it runs on: vendor, device, limits, backend name... */
  readonly details: Record<string, unknown>;
}

/**
 * The queries per search `engine` asks for (batchQueries, else DEFAULT_BATCH_QUERIES), from 1
 * to MAX_BATCH_QUERIES, for a job of `total` queries (a smaller job is one search).
 */
export async function queriesPerSearch(engine: KnnEngine, train: Matrix, k: number, metric: Metric, total: number): Promise<number> {
  const wanted = (await engine.batchQueries?.(train, k, metric, total)) ?? DEFAULT_BATCH_QUERIES;
  return Math.max(1, Math.min(wanted, MAX_BATCH_QUERIES));
}
