import { describe, expect, it } from 'vitest';
import { makeFolds } from '../../src/eval/splits.js';
import { mulberry32, testSeed } from '../helpers/random.js';

// 3 classes: 23, 10 and 4 rows, interleaved.
const labels = Int32Array.from({ length: 37 }, (_, i) => (i < 23 ? 0 : i < 33 ? 1 : 2));
const count = (rows: Int32Array, c: number) => Array.from(rows).filter((r) => labels[r] === c).length;

describe('evaluation protocols', () => {
  it('resubstitution trains and tests on every row', () => {
    const folds = makeFolds(labels, 3, { name: 'resubstitution' });
    expect(folds).toHaveLength(1);
    expect(folds[0]!.train.length).toBe(37);
    expect(Array.from(folds[0]!.test)).toEqual(Array.from(folds[0]!.train));
  });

  it('leave-one-out: n folds, each row tested once and never in its own training set', () => {
    const folds = makeFolds(labels, 3, { name: 'loo' });
    expect(folds).toHaveLength(37);
    folds.forEach((f, i) => {
      expect(Array.from(f.test)).toEqual([i]);
      expect(f.train.length).toBe(36);
      expect(Array.from(f.train)).not.toContain(i);
    });
  });

  it('stratified k-fold: every row tested exactly once, classes spread evenly, fold sizes within one', () => {
    const folds = makeFolds(labels, 3, { name: 'kfold', folds: 5, seed: 7 });
    expect(folds).toHaveLength(5);
    const tested = folds.flatMap((f) => Array.from(f.test)).sort((a, b) => a - b);
    expect(tested).toEqual(Array.from({ length: 37 }, (_, i) => i));
    for (const f of folds) {
      expect(f.train.length + f.test.length).toBe(37);
      expect(Array.from(f.train).some((r) => f.test.includes(r))).toBe(false);
    }
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const c of [0, 1, 2]) {
      const perFold = folds.map((f) => count(f.test, c));
      expect(Math.max(...perFold) - Math.min(...perFold), `class ${c}`).toBeLessThanOrEqual(1);
    }
  });

  it('k-fold is reproducible for a seed and differs between seeds', () => {
    const a = makeFolds(labels, 3, { name: 'kfold', folds: 5, seed: 7 }).map((f) => Array.from(f.test));
    const b = makeFolds(labels, 3, { name: 'kfold', folds: 5, seed: 7 }).map((f) => Array.from(f.test));
    const c = makeFolds(labels, 3, { name: 'kfold', folds: 5, seed: 8 }).map((f) => Array.from(f.test));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('holdout: stratified share per class, seeded, disjoint', () => {
    const [f] = makeFolds(labels, 3, { name: 'holdout', testFraction: 0.25, seed: 3 });
    expect(count(f!.test, 0)).toBe(6); // round(23 * 0.25)
    expect(count(f!.test, 1)).toBe(3); // round(10 * 0.25)
    expect(count(f!.test, 2)).toBe(1);
    expect(f!.train.length + f!.test.length).toBe(37);
    expect(Array.from(f!.train).some((r) => f!.test.includes(r))).toBe(false);
    const [g] = makeFolds(labels, 3, { name: 'holdout', testFraction: 0.25, seed: 3 });
    expect(Array.from(g!.test)).toEqual(Array.from(f!.test));
  });

  it('rejects impossible settings', () => {
    expect(() => makeFolds(labels, 3, { name: 'kfold', folds: 1 })).toThrow(/--folds must be a whole number >= 2/);
    expect(() => makeFolds(labels, 3, { name: 'kfold', folds: 38 })).toThrow(/more than the 37 labelled rows/);
    expect(() => makeFolds(labels, 3, { name: 'holdout', testFraction: 1 })).toThrow(/between 0 and 1/);
  });
});

describe('stratified k-fold at scale', () => {
  it('deals the same folds as a plain filter of the fold assignment (random labels and fold counts)', () => {
    const seed = testSeed('kfold split');
    const random = mulberry32(seed);
    for (let t = 0; t < 20; t++) {
      const n = 2 + Math.floor(random() * 500);
      const classes = 1 + Math.floor(random() * 6);
      const labels = Int32Array.from({ length: n }, () => Math.floor(random() * classes));
      const folds = Math.min(n, 2 + Math.floor(random() * 12));
      const foldSeed = Math.floor(random() * 1000);
      const got = makeFolds(labels, classes, { name: 'kfold', folds, seed: foldSeed });
      // the reference: which fold holds each row, then a filter per fold
      const foldOf = new Int32Array(n).fill(-1);
      got.forEach((f, fi) => f.test.forEach((i) => (foldOf[i] = fi)));
      expect(foldOf.every((f) => f >= 0)).toBe(true);
      const all = Array.from({ length: n }, (_, i) => i);
      got.forEach((f, fi) => {
        expect(Array.from(f.test)).toEqual(all.filter((i) => foldOf[i] === fi));
        expect(Array.from(f.train)).toEqual(all.filter((i) => foldOf[i] !== fi));
      });
      // and the assignment is the seeded stratified deal: per class, shuffled, folds in turn
      const r2 = mulberry32(foldSeed);
      const want = new Int32Array(n);
      let next = 0;
      for (let c = 0; c < classes; c++) {
        const rows = all.filter((i) => labels[i] === c);
        for (let i = rows.length - 1; i > 0; i--) {
          const j = Math.floor(r2() * (i + 1));
          [rows[i], rows[j]] = [rows[j]!, rows[i]!];
        }
        for (const r of rows) {
          want[r] = next;
          next = (next + 1) % folds;
        }
      }
      expect(Array.from(foldOf)).toEqual(Array.from(want));
    }
  });
});
