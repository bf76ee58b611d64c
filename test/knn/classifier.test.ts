import { describe, expect, it } from 'vitest';
import type { Neighbours } from '../../src/engines/engine.js';
import { vote } from '../../src/knn/classifier.js';
import { mulberry32, testSeed } from '../helpers/random.js';

function neighbours(rows: [number, number][][]): Neighbours {
  const k = rows[0]!.length;
  return {
    queries: rows.length,
    k,
    indices: Int32Array.from(rows.flat().map(([i]) => i)),
    distances: Float64Array.from(rows.flat().map(([, d]) => d)),
  };
}

// Training rows 0..5 with labels: 0 -> class 0, 1 -> 1, 2 -> 1, 3 -> 2, 4 -> 0, 5 -> 2
const labels = Int32Array.of(0, 1, 1, 2, 0, 2);

describe('kNN votes', () => {
  it('uniform: majority wins, probabilities are vote shares', () => {
    const v = vote(neighbours([[[1, 0.1], [0, 0.2], [2, 0.3]]]), labels, 3, 'uniform');
    expect(v.predicted[0]).toBe(1);
    expect(Array.from(v.probabilities)).toEqual([1 / 3, 2 / 3, 0]);
  });

  it('equal votes go to the class first in class order, wherever its neighbours stand', () => {
    // class 2 is nearest, but classes 0 and 2 tie with one vote each... and class 1 too:
    const v = vote(neighbours([[[3, 0.1], [1, 0.2], [0, 0.3]]]), labels, 3, 'uniform');
    expect(v.predicted[0]).toBe(0);
    const w = vote(neighbours([[[3, 0.1], [1, 0.2], [5, 0.3], [2, 0.4]]]), labels, 3, 'uniform');
    expect(w.predicted[0]).toBe(1);
  });

  it('distance: weights 1/d, so one close neighbour can outvote two far ones', () => {
    const v = vote(neighbours([[[3, 0.1], [1, 1], [2, 1]]]), labels, 3, 'distance');
    expect(v.predicted[0]).toBe(2);
    expect(v.probabilities[2]).toBeCloseTo(10 / 12, 14);
    expect(v.probabilities[1]).toBeCloseTo(2 / 12, 14);
  });

  it('distance: neighbours at distance 0 take all the weight, 1 each', () => {
    const v = vote(neighbours([[[1, 0], [3, 0], [5, 0.5], [0, 0.1]]]), labels, 3, 'distance');
    expect(Array.from(v.probabilities)).toEqual([0, 0.5, 0.5]);
    expect(v.predicted[0]).toBe(1);
  });

  it('handles many queries independently', () => {
    const v = vote(neighbours([[[0, 1], [4, 1]], [[3, 1], [5, 2]]]), labels, 3, 'uniform');
    expect(Array.from(v.predicted)).toEqual([0, 2]);
  });
});

describe('votes of the first k neighbours', () => {
  /** A plain reference: each query's first k neighbours tallied afresh, ties to the lowest class. */
  function reference(n: Neighbours, labels: Int32Array, classes: number, weights: 'uniform' | 'distance', k: number): number[] {
    return Array.from({ length: n.queries }, (_, q) => {
      const near = Array.from({ length: k }, (_, j) => ({ label: labels[n.indices[q * n.k + j]!]!, d: n.distances[q * n.k + j]! }));
      const exact = weights === 'distance' && near.some((x) => x.d === 0);
      const tally = new Array<number>(classes).fill(0);
      for (const x of near) tally[x.label]! += weights === 'uniform' ? 1 : exact ? (x.d === 0 ? 1 : 0) : 1 / x.d;
      return tally.indexOf(Math.max(...tally));
    });
  }

  it('equal a vote over lists cut to k, for every k and both weightings (random lists, ties and zero distances)', () => {
    const seed = testSeed('vote prefix');
    const random = mulberry32(seed);
    const train = 40;
    const classes = 4;
    const trainLabels = Int32Array.from({ length: train }, () => Math.floor(random() * classes));
    const queries = 200;
    const K = 9;
    const indices = new Int32Array(queries * K);
    const distances = new Float64Array(queries * K);
    for (let q = 0; q < queries; q++) {
      // ascending, from a few values so that equal distances and zeros occur
      const ds = Array.from({ length: K }, () => Math.floor(random() * 4) / 2).sort((a, b) => a - b);
      for (let j = 0; j < K; j++) {
        indices[q * K + j] = Math.floor(random() * train);
        distances[q * K + j] = ds[j]!;
      }
    }
    const all: Neighbours = { queries, k: K, indices, distances };
    for (const weights of ['uniform', 'distance'] as const) {
      for (let k = 1; k <= K; k++) {
        const cut: Neighbours = {
          queries,
          k,
          indices: Int32Array.from({ length: queries * k }, (_, i) => indices[Math.floor(i / k) * K + (i % k)]!),
          distances: Float64Array.from({ length: queries * k }, (_, i) => distances[Math.floor(i / k) * K + (i % k)]!),
        };
        const got = vote(all, trainLabels, classes, weights, k);
        const want = vote(cut, trainLabels, classes, weights);
        expect(Array.from(got.predicted), `${weights} k = ${k}`).toEqual(Array.from(want.predicted));
        expect(Array.from(got.probabilities)).toEqual(Array.from(want.probabilities));
        expect(Array.from(got.predicted)).toEqual(reference(all, trainLabels, classes, weights, k));
      }
    }
    expect(() => vote(all, trainLabels, classes, 'uniform', K + 1)).toThrow(RangeError);
    expect(() => vote(all, trainLabels, classes, 'uniform', 0)).toThrow(RangeError);
  });
});
