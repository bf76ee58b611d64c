import type { Metric } from '../../src/engines/engine.js';
import type { Matrix } from '../../src/matrix.js';

/**
 * The plainest possible exact kNN in float64, written independently of the engines: every
 * distance from its textbook definition, then a full sort by (distance, training index).
 */
export function referenceDistance(a: Float64Array, b: Float64Array, metric: Metric): number {
  const d = a.length;
  switch (metric.name) {
    case 'euclidean':
      return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));
    case 'sqeuclidean':
      return a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
    case 'manhattan':
      return a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0);
    case 'chebyshev':
      return a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i]!)), 0);
    case 'minkowski':
      return a.reduce((s, v, i) => s + Math.abs(v - b[i]!) ** metric.p!, 0) ** (1 / metric.p!);
    case 'cosine': {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < d; i++) {
        dot += a[i]! * b[i]!;
        na += a[i]! ** 2;
        nb += b[i]! ** 2;
      }
      if (na === 0 || nb === 0) return 1;
      return Math.min(2, Math.max(0, 1 - dot / (Math.sqrt(na) * Math.sqrt(nb))));
    }
  }
}

export function referenceKnn(train: Matrix, queries: Matrix, k: number, metric: Metric): { indices: number[][]; distances: number[][] } {
  const indices: number[][] = [];
  const distances: number[][] = [];
  for (let q = 0; q < queries.rows; q++) {
    const all = Array.from({ length: train.rows }, (_, i) => ({ i, d: referenceDistance(queries.row(q), train.row(i), metric) }));
    all.sort((x, y) => x.d - y.d || x.i - y.i);
    indices.push(all.slice(0, k).map((e) => e.i));
    distances.push(all.slice(0, k).map((e) => e.d));
  }
  return { indices, distances };
}
