import type { Neighbours } from '../engines/engine.js';
import { usageError, excerpt } from '../errors.js';

export const WEIGHTS = ['uniform', 'distance'] as const;
export type Weights = (typeof WEIGHTS)[number];

export interface Votes {
  /** Predicted class index per query. */
  readonly predicted: Int32Array;
  /** queries x classes, each row summing to 1. */
  readonly probabilities: Float64Array;
  readonly classes: number;
}

export function parseWeights(name: string): Weights {
  if ((WEIGHTS as readonly string[]).includes(name)) return name as Weights;
  throw usageError(`unknown weights "${excerpt(name)}"`, `choose one of ${WEIGHTS.join(', ')}`);
}

/**
 * kNN votes. uniform: each neighbour counts 1. distance: each counts 1/d; when some neighbours
 * are at distance 0 only those count, 1 each (scikit-learn's rule, which avoids dividing by 0).
 * Equal vote totals go to the class first in class order (lowest class index), the seed's and
 * scikit-learn's rule: argmax keeps the first maximum.
 *
 * k (default: all neighbours of each list) votes with the first k of each list: the k nearest
 * under the engines' (distance, index) order, so a sweep votes for every smaller k from one
 * search with the largest without copying the lists (kPrefix in eval/sweep.ts gives the same).
 */
export function vote(neighbours: Neighbours, trainLabels: Int32Array, classes: number, weights: Weights, k = neighbours.k): Votes {
  const { queries, indices, distances } = neighbours;
  const stride = neighbours.k;
  if (!Number.isInteger(k) || k < 1 || k > stride) throw new RangeError(`vote: k = ${k} outside 1..${stride}`);
  const predicted = new Int32Array(queries);
  const probabilities = new Float64Array(queries * classes);
  const tally = new Float64Array(classes);
  for (let q = 0; q < queries; q++) {
    tally.fill(0);
    const o = q * stride;
    let exact = false;
    if (weights === 'distance') {
      for (let j = 0; j < k; j++) if (distances[o + j] === 0) exact = true;
    }
    for (let j = 0; j < k; j++) {
      const label = trainLabels[indices[o + j]!]!;
      let w = 1;
      if (weights === 'distance') w = exact ? (distances[o + j] === 0 ? 1 : 0) : 1 / distances[o + j]!;
      tally[label]! += w;
    }
    let total = 0;
    let best = 0;
    for (let c = 0; c < classes; c++) {
      total += tally[c]!;
      if (tally[c]! > tally[best]!) best = c;
    }
    predicted[q] = best;
    for (let c = 0; c < classes; c++) probabilities[q * classes + c] = tally[c]! / total;
  }
  return { predicted, probabilities, classes };
}
