import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import type { KnnEngine, Metric, Neighbours } from '../../src/engines/engine.js';
import { FlowknnError } from '../../src/errors.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { leaveOneOutNeighbours, looShortcut } from '../../src/eval/loo.js';
import { sweep } from '../../src/eval/sweep.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { fitScaler, transform, type ScalerName } from '../../src/features/scalers.js';
import { vote } from '../../src/knn/classifier.js';
import type { LabelledSet } from '../../src/knn/labelled-set.js';
import { Matrix } from '../../src/matrix.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { gridMatrix, mulberry32, testSeed } from '../helpers/random.js';

const engine = new CpuEngine({ threads: 1 });
afterAll(() => engine.dispose());

let seedSet: LabelledSet;
beforeAll(async () => {
  seedSet = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
});

/**
 * Leave-one-out as defined: for each row i, the scaler refitted on every other row, the others
 * searched in that space; indices mapped back to rows of the whole set.
 */
async function refitted(raw: Matrix, scaler: ScalerName, metric: Metric, k: number): Promise<Neighbours> {
  const n = raw.rows;
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const others = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i);
    const params = fitScaler(scaler, raw.take(others));
    const nb = await engine.search(transform(params, raw.take(others)), transform(params, raw.take([i])), k, metric);
    indices.set(Array.from(nb.indices, (t) => others[t]!), i * k);
    distances.set(nb.distances, i * k);
  }
  return { queries: n, k, indices, distances };
}

function expectSame(fast: Neighbours, slow: Neighbours, what: string): void {
  expect(fast.queries).toBe(slow.queries);
  expect(Array.from(fast.indices), what).toEqual(Array.from(slow.indices));
  for (let j = 0; j < slow.distances.length; j++) {
    const a = fast.distances[j]!;
    const b = slow.distances[j]!;
    expect(Math.abs(a - b), `${what}: distance ${j}: ${a} against ${b}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  }
}

/** Every (scaler, metric) case at every k: the one-search neighbours against refitting per fold. */
async function expectRefitted(raw: Matrix, cases: [ScalerName, Metric][], ks: number[], seed: number): Promise<void> {
  for (const [scaler, metric] of cases) {
    for (const k of ks) {
      const fast = await leaveOneOutNeighbours(raw, scaler, metric, k, engine);
      expect(fast.stats.shortcut, `${scaler} ${metric.name}`).not.toBeNull();
      expectSame(fast, await refitted(raw, scaler, metric, k), `${scaler} ${metric.name} k=${k} seed ${seed}`);
    }
  }
}

/** Positive features spread over several orders of magnitude, as flow aggregates are, with a few far outliers. */
function trafficLike(n: number, d: number, random: () => number): Matrix {
  const m = Matrix.zeros(n, d);
  for (let i = 0; i < m.data.length; i++) m.data[i] = Math.exp(random() * 8) - 1 + random();
  for (let o = 0; o < 3; o++) m.data[Math.floor(random() * n) * d + Math.floor(random() * d)] = 1e7 * (1 + random());
  return m;
}

const COORDINATE: Metric[] = [{ name: 'euclidean' }, { name: 'sqeuclidean' }, { name: 'manhattan' }, { name: 'chebyshev' }, { name: 'minkowski', p: 3 }];

describe('leave-one-out in one search', () => {
  it('which scalers and metrics have a shortcut', () => {
    expect(looShortcut('none', { name: 'cosine' })).toBe('stateless');
    expect(looShortcut('row-l2', { name: 'euclidean' })).toBe('stateless');
    expect(looShortcut('log-zscore', { name: 'manhattan' })).toBe('affine');
    expect(looShortcut('minmax', { name: 'minkowski', p: 3 })).toBe('affine');
    expect(looShortcut('zscore', { name: 'cosine' })).toBeNull();
    expect(looShortcut('quantile', { name: 'euclidean' })).toBeNull();
  });

  it('equals refitting the scaler for every fold: offset-and-scale scalers, every coordinate metric, random data', async () => {
    const seed = testSeed('loo affine');
    const random = mulberry32(seed);
    const raw = trafficLike(160, 7, random);
    const cases = (['zscore', 'log-zscore', 'minmax'] as const).flatMap((scaler) => COORDINATE.map((metric): [ScalerName, Metric] => [scaler, metric]));
    await expectRefitted(raw, cases, [1, 4, 15], seed);
  });

  it('equals refitting on tie-heavy data (small integers, duplicate rows): minmax, none, row-l2, cosine', async () => {
    const seed = testSeed('loo ties');
    const random = mulberry32(seed);
    const raw = gridMatrix(120, 5, random, 3);
    // minmax's fold offsets and scales are the other rows' minimum and range, the same numbers a refit finds
    const cases: [ScalerName, Metric][] = [
      ['minmax', { name: 'euclidean' }],
      ['minmax', { name: 'chebyshev' }],
      ['none', { name: 'manhattan' }],
      ['row-l2', { name: 'euclidean' }],
      ['none', { name: 'cosine' }],
    ];
    await expectRefitted(raw, cases, [1, 3, 8], seed);
  });

  it('rows with more exact duplicates than the candidates searched are settled at distance 0', async () => {
    const seed = testSeed('loo duplicates');
    const random = mulberry32(seed);
    // the other rows continuous: distinct rows at exactly equal distances would be ordered by
    // rounding, differently under a refitted scale than under the running one
    const raw = Matrix.zeros(80, 3);
    for (let i = 0; i < 80; i++) raw.data.set(i < 60 ? [5, 6, 7] : [100 * random(), 100 * random(), 100 * random()], i * 3);
    const fast = await leaveOneOutNeighbours(raw, 'zscore', { name: 'euclidean' }, 3, engine);
    expect(fast.stats.exhaustive).toBe(0);
    expectSame(fast, await refitted(raw, 'zscore', { name: 'euclidean' }, 3), `duplicates seed ${seed}`);
    // row 10's nearest others: the lowest-index copies of it
    expect(Array.from(fast.indices.subarray(30, 33))).toEqual([0, 1, 2]);
  });

  it('a row whose removal changes the scale a lot is searched again with more candidates, or against every row', async () => {
    const seed = testSeed('loo retries');
    const random = mulberry32(seed);
    const raw = trafficLike(300, 4, random);
    // one far row carries most of feature 0's range: without it, minmax's fold scale shrinks a thousandfold
    raw.data[7 * 4] = 1e12;
    const fast = await leaveOneOutNeighbours(raw, 'minmax', { name: 'euclidean' }, 5, engine);
    expect(fast.stats.rounds.length, JSON.stringify(fast.stats)).toBeGreaterThan(1);
    expectSame(fast, await refitted(raw, 'minmax', { name: 'euclidean' }, 5), `retries seed ${seed}`);
    // at most 16 candidates: what they do not settle is measured against every row
    const capped = await leaveOneOutNeighbours(raw, 'minmax', { name: 'euclidean' }, 5, engine, { maxCandidates: 16 });
    expect(capped.stats.exhaustive, JSON.stringify(capped.stats)).toBeGreaterThan(0);
    expectSame(capped, await refitted(raw, 'minmax', { name: 'euclidean' }, 5), `every row seed ${seed}`);
  });

  it('a feature that only the left-out row moves: its scale is refitted exactly', async () => {
    const raw = Matrix.zeros(50, 2);
    for (let i = 0; i < 50; i++) raw.data.set([i === 20 ? 9 : 1, (i * 37) % 11], i * 2);
    for (const scaler of ['zscore', 'log-zscore'] as const) {
      const fast = await leaveOneOutNeighbours(raw, scaler, { name: 'euclidean' }, 4, engine);
      expectSame(fast, await refitted(raw, scaler, { name: 'euclidean' }, 4), scaler);
    }
  });

  it('the seed data: evaluate() and sweep agree with refitting for every fold', async () => {
    const raw = seedSet.features;
    for (const [scaler, metric, k] of [
      ['log-zscore', { name: 'euclidean' }, 3],
      ['zscore', { name: 'manhattan' }, 7],
      ['minmax', { name: 'chebyshev' }, 1],
    ] as [ScalerName, Metric, number][]) {
      const slow = await refitted(raw, scaler, metric, k);
      const ev = await evaluate(seedSet, { scaler, metric, k, weights: 'distance' }, { name: 'loo' }, engine);
      expect(ev.folds).toBe(raw.rows);
      expect(Array.from(ev.predicted), `${scaler} ${metric.name}`).toEqual(Array.from(vote(slow, seedSet.labels, seedSet.classes.length, 'distance').predicted));
    }
    const res = await sweep(seedSet, { ks: [1, 5], metrics: [{ name: 'euclidean' }], weights: ['uniform'], scalers: ['log-zscore'] }, { name: 'loo' }, engine);
    expect(res.searches).toBe(1);
    const slow = await refitted(raw, 'log-zscore', { name: 'euclidean' }, 5);
    for (const c of res.configurations) {
      const expected = vote(slow, seedSet.labels, seedSet.classes.length, 'uniform', c.config.k).predicted;
      expect(Array.from(c.predicted[0]!), `k = ${c.config.k}`).toEqual(Array.from(expected));
    }
  });

  it('quantile scaling has no shortcut: evaluate() and sweep run it fold by fold, with the same predictions', async () => {
    const set: LabelledSet = { ...seedSet };
    const res = await sweep(set, { ks: [2], metrics: [{ name: 'euclidean' }], weights: ['uniform'], scalers: ['quantile'] }, { name: 'loo' }, engine);
    expect(res.searches).toBe(set.labels.length);
    const ev = await evaluate(set, { scaler: 'quantile', metric: { name: 'euclidean' }, k: 2, weights: 'uniform' }, { name: 'loo' }, engine);
    const expected = Array.from(vote(await refitted(set.features, 'quantile', { name: 'euclidean' }, 2), set.labels, set.classes.length, 'uniform').predicted);
    expect(Array.from(res.configurations[0]!.predicted[0]!)).toEqual(expected);
    expect(Array.from(ev.predicted)).toEqual(expected);
  });

  it('runs its one search in float64 on the CPU engine whatever engine it is given', async () => {
    const seed = testSeed('loo engine');
    const raw = trafficLike(200, 5, mulberry32(seed));
    // an engine that would answer in float32: its distances are never used for the bound
    const rounded: KnnEngine = {
      name: 'webgpu',
      capabilities: { ...engine.capabilities, precision: 'f32' },
      search: async (t, q, k, m) => {
        const nb = await engine.search(t, q, k, m);
        return { ...nb, distances: Float64Array.from(nb.distances, (v) => Math.fround(v) * (1 + 1e-6)) };
      },
      dispose: async () => {},
    };
    for (const scaler of ['log-zscore', 'none'] as const) {
      const fast = await leaveOneOutNeighbours(raw, scaler, { name: 'euclidean' }, 4, rounded);
      expectSame(fast, await refitted(raw, scaler, { name: 'euclidean' }, 4), `${scaler} seed ${seed}`);
    }
  });

  it('k beyond a fold\'s rows, and too few rows, are usage errors', async () => {
    const raw = Matrix.fromRows([
      [1, 2],
      [3, 4],
      [5, 7],
    ]);
    await expect(leaveOneOutNeighbours(raw, 'zscore', { name: 'euclidean' }, 3, engine)).rejects.toThrow(/k = 3 is more than the 2 training rows of a leave-one-out fold/u);
    await expect(leaveOneOutNeighbours(raw, 'zscore', { name: 'euclidean' }, 3, engine)).rejects.toBeInstanceOf(FlowknnError);
    await expect(leaveOneOutNeighbours(Matrix.fromRows([[1, 2]]), 'none', { name: 'euclidean' }, 1, engine)).rejects.toThrow(/at least 2 labelled rows/u);
  });
});
