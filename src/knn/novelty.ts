import type { KnnEngine, Neighbours } from '../engines/engine.js';
import { usageError } from '../errors.js';
import type { KnnModel } from './model.js';

/**
 * Novelty: how unlike the training data a row is. The score is a distance, in model space
 * (after the model's scaler, under its metric), from the row to its k nearest training rows,
 * k being the model's k, in one of two forms chosen at training:
 *  - `mean`: the mean of the k distances (the default: it averages out one lucky neighbour, and
 *    on the seed data with nfs held out it tells nfs from the known rows better, see README);
 *  - `kth`: the distance to the k-th neighbour alone (models trained before the choice existed).
 * A row is novel when its score is beyond what is usual between training rows themselves.
 *
 * "Usual" is calibrated when the model is trained: each training row's score among the OTHER
 * training rows (leave-one-out, so a row is never its own neighbour), and the threshold is a
 * quantile of those scores (default 0.95: about 5% of training rows would be called novel
 * themselves, so about 5% of a night drawn from the training data's traffic is expected novel).
 */
export const NOVELTY_SCORES = ['mean', 'kth'] as const;
export type NoveltyScore = (typeof NOVELTY_SCORES)[number];
export const DEFAULT_NOVELTY_SCORE: NoveltyScore = 'mean';
/** What a model.json without the field was calibrated with. */
export const LEGACY_NOVELTY_SCORE: NoveltyScore = 'kth';

export interface NoveltyCalibration {
  /** Quantile of the leave-one-out scores used as the threshold, in (0, 1]. */
  readonly quantile: number;
  /** Rows scoring above this are novel. */
  readonly threshold: number;
  /** The neighbour whose distance is the score (the model's k). */
  readonly k: number;
  /** Training rows the calibration saw. */
  readonly rows: number;
  /** The score's form. */
  readonly score: NoveltyScore;
}

export const DEFAULT_NOVELTY_QUANTILE = 0.95;

export function checkQuantile(q: number, what = '--novelty-quantile'): number {
  if (!(Number.isFinite(q) && q > 0 && q <= 1)) throw usageError(`${what} must be a number in (0, 1], got ${q}`, 'e.g. 0.95: the threshold is exceeded by about 5% of training rows');
  return q;
}

/** The score's form in words, for reports and table metadata. */
export function noveltyScoreName(score: NoveltyScore, k: number): string {
  return score === 'mean' ? `mean distance to the ${k} nearest training rows (model space)` : `distance to the k-th nearest training row (k = ${k}, model space)`;
}

/** Each query's score of the given form over its first k neighbours (neighbours must hold at least k per query). */
export function noveltyScores(neighbours: Neighbours, k: number, score: NoveltyScore): Float64Array {
  if (score === 'kth') return kthDistances(neighbours, k);
  if (k < 1 || k > neighbours.k) throw new Error(`k = ${k} is outside the ${neighbours.k} neighbours searched`);
  return Float64Array.from({ length: neighbours.queries }, (_, q) => {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += neighbours.distances[q * neighbours.k + j]!;
    return sum / k;
  });
}

/** The k-th neighbour's distance of each query: neighbours must hold at least k per query. */
export function kthDistances(neighbours: Neighbours, k: number): Float64Array {
  if (k < 1 || k > neighbours.k) throw new Error(`k = ${k} is outside the ${neighbours.k} neighbours searched`);
  return Float64Array.from({ length: neighbours.queries }, (_, q) => neighbours.distances[q * neighbours.k + k - 1]!);
}

/**
 * Leave-one-out scores within the training rows: each row is searched with k + 1 neighbours and
 * its own index is skipped. When exact duplicates push a row's own index out of its k + 1
 * nearest (ties go to lower indices), the first k of the list are taken, which is what the
 * row's k other nearest rows give anyway (a duplicate is at distance 0 like the row itself).
 */
export async function leaveOneOutScores(model: KnnModel, engine: KnnEngine, score: NoveltyScore): Promise<Float64Array> {
  const k = model.config.k;
  const n = model.space.rows;
  if (n < k + 1) throw usageError(`novelty needs more training rows than k: ${n} rows, k = ${k}`);
  const nb = await engine.search(model.space, model.space, k + 1, model.config.metric);
  const out = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let seen = 0;
    let sum = 0;
    for (let j = 0; j <= k; j++) {
      if (nb.indices[q * (k + 1) + j] === q) continue;
      seen++;
      sum += nb.distances[q * (k + 1) + j]!;
      if (seen === k) {
        out[q] = score === 'kth' ? nb.distances[q * (k + 1) + j]! : sum / k;
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

export async function calibrateNovelty(model: KnnModel, engine: KnnEngine, q = DEFAULT_NOVELTY_QUANTILE, score: NoveltyScore = DEFAULT_NOVELTY_SCORE): Promise<NoveltyCalibration> {
  checkQuantile(q);
  const scores = await leaveOneOutScores(model, engine, score);
  return { quantile: q, threshold: quantile(scores, q), k: model.config.k, rows: scores.length, score };
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

/**
 * A night's novel share against what the calibration expects: a share of about 1 - quantile of
 * rows drawn from the training data's traffic lie beyond the threshold (5% at 0.95). Far above
 * it, most of the night is unlike anything the model was trained on: its votes say "closest
 * to", not "is", and the model needs labels of this network.
 */
export interface NoveltyShare {
  readonly rows: number;
  readonly novel: number;
  /** novel / rows (0 for a night without rows). */
  readonly share: number;
  /** 1 - quantile: the share of training rows beyond their own threshold. */
  readonly expected: number;
  /** The share is at least DRIFT_FACTOR times the expected one, over at least DRIFT_MIN_ROWS novel rows. */
  readonly drift: boolean;
  /** What to tell the operator when drift is true; null otherwise. */
  readonly warning: string | null;
}

/** How many times the expected share a night's novel share must reach to be called drift. */
export const DRIFT_FACTOR = 3;
/** Novel rows a night needs for drift: a few novel rows in a small night are not a trend. */
export const DRIFT_MIN_ROWS = 10;

const percent = (x: number) => `${x >= 0.1 || x === 0 ? (100 * x).toFixed(0) : (100 * x).toPrecision(2)}%`;

export function noveltyShare(novel: number, rows: number, quantileUsed: number): NoveltyShare {
  const share = rows === 0 ? 0 : novel / rows;
  // rounded: 1 - 0.95 is 0.050000000000000044 in floating point
  const expected = Math.round((1 - quantileUsed) * 1e12) / 1e12;
  const drift = novel >= DRIFT_MIN_ROWS && share >= DRIFT_FACTOR * expected;
  const warning = drift ? `${percent(share)} novel against ${percent(expected)} expected: tonight's traffic is far from the training data; label some rows (flowknn label suggest)` : null;
  return { rows, novel, share, expected, drift, warning };
}
