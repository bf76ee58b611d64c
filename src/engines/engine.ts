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

/** Exact k-nearest-neighbour search. Engines validate their inputs the same way (see
 *  validateSearch) so that bad input gives the same error whichever engine runs. */
export interface KnnEngine {
  readonly name: EngineName;
  readonly capabilities: EngineCapabilities;
  search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours>;
  dispose(): Promise<void>;
  /** What the searches run on, in words (a GPU adapter, CPU threads, a TensorFlow.js backend), for run manifests. */
  readonly deviceName?: string;
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
