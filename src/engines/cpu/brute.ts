import type { Matrix } from '../../matrix.js';
import type { Metric } from '../engine.js';
import { cosineDistance, keyToDistance, metricSpec, unreachable } from '../metrics.js';

/**
 * Exact brute-force kNN in float64, distance and top-k selection fused in one pass over the
 * training rows, so no query x train distance matrix is ever built.
 *
 * Ranking uses a monotone "key" of the distance (squared for euclidean, the p-th power sum for
 * minkowski), turned into the distance only for the k kept entries. The running top-k is a
 * sorted array per query: a candidate enters only if strictly smaller than the current k-th,
 * and is placed after every kept entry with an equal key. Training rows are visited in index
 * order, so among equal distances the lower training index always comes first (the tie rule of
 * scikit-learn's brute force, and of every flowknn engine).
 */
export function bruteSearchRange(
  train: Matrix,
  queries: Matrix,
  k: number,
  metric: Metric,
  qStart: number,
  qEnd: number,
  outIndices: Int32Array,
  outDistances: Float64Array,
): void {
  const d = train.cols;
  const n = train.rows;
  const t = train.data;
  const qd = queries.data;
  const keys = new Float64Array(k);
  const idx = new Int32Array(k);
  const kind = metricKind(metric);
  const p = metric.p ?? 2;
  const trainNorms = kind === COSINE ? rowNorms(train) : undefined;

  for (let q = qStart; q < qEnd; q++) {
    const qo = q * d;
    let count = 0;
    let worst = Infinity;
    let qNorm = 0;
    if (kind === COSINE) {
      for (let c = 0; c < d; c++) qNorm += qd[qo + c]! * qd[qo + c]!;
      qNorm = Math.sqrt(qNorm);
    }
    for (let i = 0; i < n; i++) {
      const to = i * d;
      let key = 0;
      switch (kind) {
        case SQ:
          for (let c = 0; c < d; c++) {
            const diff = qd[qo + c]! - t[to + c]!;
            key += diff * diff;
          }
          break;
        case L1:
          for (let c = 0; c < d; c++) key += Math.abs(qd[qo + c]! - t[to + c]!);
          break;
        case LINF:
          for (let c = 0; c < d; c++) {
            const a = Math.abs(qd[qo + c]! - t[to + c]!);
            if (a > key) key = a;
          }
          break;
        case LP:
          for (let c = 0; c < d; c++) key += Math.abs(qd[qo + c]! - t[to + c]!) ** p;
          break;
        default: {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += qd[qo + c]! * t[to + c]!;
          key = cosineDistance(dot, qNorm, trainNorms![i]!);
        }
      }
      if (count === k && !(key < worst)) continue;
      // Insertion point: after all kept keys <= key (keeps lower indices first on ties).
      let pos = count < k ? count : k - 1;
      while (pos > 0 && keys[pos - 1]! > key) {
        keys[pos] = keys[pos - 1]!;
        idx[pos] = idx[pos - 1]!;
        pos--;
      }
      keys[pos] = key;
      idx[pos] = i;
      if (count < k) count++;
      worst = keys[k - 1]!;
      if (count < k) worst = Infinity;
    }
    const o = q * k;
    for (let j = 0; j < k; j++) {
      outIndices[o + j] = idx[j]!;
      outDistances[o + j] = keyToDistance(keys[j]!, metric);
    }
  }
}

/** The metric families (src/engines/metrics.ts) as the loops' small integers: shared by brute force and the k-d tree. */
export const SQ = 0;
export const L1 = 1;
export const LINF = 2;
export const LP = 3;
export const COSINE = 4;

export function metricKind(metric: Metric): number {
  const family = metricSpec(metric).family;
  switch (family) {
    case 'squares':
      return SQ;
    case 'absolute':
      return L1;
    case 'maximum':
      return LINF;
    case 'power':
      return LP;
    case 'angle':
      return COSINE;
    default:
      return unreachable(family, 'metric family');
  }
}

function rowNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let c = 0; c < m.cols; c++) s += m.data[i * m.cols + c]! ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}
