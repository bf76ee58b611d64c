import type { KnnEngine, Neighbours } from '../engines/engine.js';
import { usageError } from '../errors.js';
import type { KnnModel } from './model.js';

/**
 * Novelty: how unlike the training data a row is. The score is the distance, in model space
 * (after the model's scaler, under its metric), from the row to its k-th nearest training row,
 * k being the model's k: a row is novel when even its k-th neighbour is farther away than is
 * usual between training rows themselves.
 *
 * "Usual" is calibrated when the model is trained: each training row's k-th neighbour distance
 * among the OTHER training rows (leave-one-out, so a row is never its own neighbour), and the
 * threshold is a quantile of those scores (default 0.95: about 5% of training rows would be
 * called novel themselves).
 */
export interface NoveltyCalibration {
  /** Quantile of the leave-one-out scores used as the threshold, in (0, 1]. */
  readonly quantile: number;
  /** Rows scoring above this are novel. */
  readonly threshold: number;
  /** The neighbour whose distance is the score (the model's k). */
  readonly k: number;
  /** Training rows the calibration saw. */
  readonly rows: number;
}

export const DEFAULT_NOVELTY_QUANTILE = 0.95;

export function checkQuantile(q: number, what = '--novelty-quantile'): number {
  if (!(Number.isFinite(q) && q > 0 && q <= 1)) throw usageError(`${what} must be a number in (0, 1], got ${q}`, 'e.g. 0.95: the threshold is exceeded by about 5% of training rows');
  return q;
}

/** The k-th neighbour's distance of each query: neighbours must hold at least k per query. */
export function kthDistances(neighbours: Neighbours, k: number): Float64Array {
  if (k < 1 || k > neighbours.k) throw new Error(`k = ${k} is outside the ${neighbours.k} neighbours searched`);
  return Float64Array.from({ length: neighbours.queries }, (_, q) => neighbours.distances[q * neighbours.k + k - 1]!);
}

/**
 * Leave-one-out k-th neighbour distances within the training rows: each row is searched with
 * k + 1 neighbours and its own index is skipped. When exact duplicates push a row's own index
 * out of its k + 1 nearest (ties go to lower indices), its k-th distance is the k-th of the list,
 * which is what the row's k other nearest rows give anyway.
 */
export async function leaveOneOutScores(model: KnnModel, engine: KnnEngine): Promise<Float64Array> {
  const k = model.config.k;
  const n = model.space.rows;
  if (n < k + 1) throw usageError(`novelty needs more training rows than k: ${n} rows, k = ${k}`);
  const nb = await engine.search(model.space, model.space, k + 1, model.config.metric);
  const out = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let seen = 0;
    for (let j = 0; j <= k; j++) {
      if (nb.indices[q * (k + 1) + j] === q) continue;
      seen++;
      if (seen === k) {
        out[q] = nb.distances[q * (k + 1) + j]!;
        break;
      }
    }
  }
  return out;
}

/** Quantile with linear interpolation between order statistics (numpy's default method). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export async function calibrateNovelty(model: KnnModel, engine: KnnEngine, q = DEFAULT_NOVELTY_QUANTILE): Promise<NoveltyCalibration> {
  checkQuantile(q);
  const scores = await leaveOneOutScores(model, engine);
  return { quantile: q, threshold: quantile(scores, q), k: model.config.k, rows: scores.length };
}

/**
 * Area under the ROC curve of scores that should be high (`positive`) against scores that
 * should be low (`negative`): the probability that a random positive outscores a random
 * negative, ties counting one half (the Mann-Whitney statistic).
 */
export function auroc(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  const all = [...Array.from(positive, (v) => ({ v, p: 1 })), ...Array.from(negative, (v) => ({ v, p: 0 }))].sort((a, b) => a.v - b.v);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.v === all[i]!.v) j++;
    const midRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t]!.p === 1) rankSum += midRank;
    i = j;
  }
  const np = positive.length;
  const nn = negative.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}
