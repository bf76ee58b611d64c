import { usageError } from '../errors.js';
import { METRICS, type Metric, type MetricName } from './engine.js';

/**
 * The one table of distances. Every engine ranks neighbours by a monotone "key" of the distance
 * (cheaper than the distance itself) and turns the k kept keys into distances at the end; what
 * the key is, how a kernel accumulates it, how a distance follows from it and whether a k-d tree
 * can prune with it are written here once, per metric. An engine switches over `family` (the
 * accumulation), and such switches end in `unreachable`, so a new metric fails to compile in
 * every engine until each handles it.
 *
 * Families (the key of a query q and a training row t over the d features):
 *   squares   sum (q_c - t_c)^2
 *   absolute  sum |q_c - t_c|
 *   maximum   max |q_c - t_c|
 *   power     sum |q_c - t_c|^p
 *   angle     1 - cos(q, t), from dot products and norms (0 for a zero vector's cosine)
 */
export type MetricFamily = 'squares' | 'absolute' | 'maximum' | 'power' | 'angle';

export interface MetricSpec {
  readonly name: MetricName;
  readonly family: MetricFamily;
  /**
   * Whether the k-d tree can bound the key of every row in a box from the query's distance to
   * the box (true for the coordinate-wise families; cosine is not a function of coordinate gaps).
   */
  readonly boxBound: boolean;
  /** The reported distance from a kept key. */
  distance(key: number, metric: Metric): number;
  /** The distance of rows multiplied by s is s^degree times theirs (engines that rescale the data use it). */
  readonly degree: number;
  /**
   * WGSL: the statement that folds one dimension's query value `q` and training value `t` into
   * the f32 variable `key` (started at 0; for `angle` it accumulates the dot product, the kernel
   * turns it into the distance with both norms).
   */
  wgslStep(q: string, t: string, key: string): string;
}

const identity = (key: number): number => key;

export const METRIC_TABLE: { readonly [M in MetricName]: MetricSpec & { readonly name: M } } = {
  euclidean: {
    name: 'euclidean',
    degree: 1,
    family: 'squares',
    boxBound: true,
    distance: (key) => Math.sqrt(key),
    wgslStep: (q, t, key) => `{ let g = ${q} - ${t}; ${key} = fma(g, g, ${key}); }`,
  },
  sqeuclidean: {
    name: 'sqeuclidean',
    degree: 2,
    family: 'squares',
    boxBound: true,
    distance: identity,
    wgslStep: (q, t, key) => `{ let g = ${q} - ${t}; ${key} = fma(g, g, ${key}); }`,
  },
  manhattan: {
    name: 'manhattan',
    degree: 1,
    family: 'absolute',
    boxBound: true,
    distance: identity,
    wgslStep: (q, t, key) => `${key} += abs(${q} - ${t});`,
  },
  chebyshev: {
    name: 'chebyshev',
    degree: 1,
    family: 'maximum',
    boxBound: true,
    distance: identity,
    wgslStep: (q, t, key) => `${key} = max(${key}, abs(${q} - ${t}));`,
  },
  minkowski: {
    name: 'minkowski',
    degree: 1,
    family: 'power',
    boxBound: true,
    distance: (key, metric) => key ** (1 / (metric.p ?? 2)),
    // pow(0, p) is undefined in WGSL: a zero gap adds 0.
    wgslStep: (q, t, key) => `{ let a = abs(${q} - ${t}); ${key} += select(pow(a, params.p), 0.0, a == 0.0); }`,
  },
  cosine: {
    name: 'cosine',
    degree: 0,
    family: 'angle',
    boxBound: false,
    distance: identity,
    wgslStep: (q, t, key) => `${key} = fma(${q}, ${t}, ${key});`,
  },
};

export function metricSpec(metric: Metric | MetricName): MetricSpec {
  const name = typeof metric === 'string' ? metric : metric.name;
  const spec = (METRIC_TABLE as Record<string, MetricSpec | undefined>)[name];
  if (!spec) throw usageError(`unknown metric "${String(name)}"`, `choose one of ${METRICS.join(', ')}`);
  return spec;
}

/** The parameter checks every engine applies (through validateSearch). */
export function checkMetric(metric: Metric): void {
  const spec = metricSpec(metric);
  if (spec.family === 'power' && !(typeof metric.p === 'number' && Number.isFinite(metric.p) && metric.p >= 1)) {
    throw usageError(`minkowski needs p >= 1 (a finite number), got ${String(metric.p)}`, 'pass --p 3, for example');
  }
}

/**
 * How a metric is written wherever a person reads it: `euclidean`, `minkowski p=3`. Takes what a
 * stored file says, too (a name this version does not know is shown as it is).
 */
export function metricLabel(metric: { readonly name: string; readonly p?: number }): string {
  const spec = (METRIC_TABLE as Record<string, MetricSpec | undefined>)[metric.name];
  return spec?.family === 'power' && metric.p !== undefined ? `${metric.name} p=${metric.p}` : metric.name;
}

/** The kept key as the reported distance. */
export function keyToDistance(key: number, metric: Metric): number {
  return metricSpec(metric).distance(key, metric);
}

/**
 * 1 - cos(q, t). A zero vector has no direction: its cosine similarity is taken as 0 (distance
 * 1), as scikit-learn's cosine_distances does. Clipped to [0, 2] against rounding.
 */
export function cosineDistance(dot: number, normA: number, normB: number): number {
  if (normA === 0 || normB === 0) return 1;
  const dist = 1 - dot / (normA * normB);
  return dist < 0 ? 0 : dist > 2 ? 2 : dist;
}

/** For the end of an exhaustive switch over a union: a new member fails to compile here. */
export function unreachable(value: never, what: string): never {
  throw new Error(`unhandled ${what}: ${String(value)}`);
}
