import { describe, expect, it } from 'vitest';
import type { Neighbours } from '../../src/engines/engine.js';
import { vote } from '../../src/knn/classifier.js';

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
