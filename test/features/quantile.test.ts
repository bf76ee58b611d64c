import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { normalQuantile, QUANTILE_CLIP } from '../../src/features/quantile.js';
import { fitScaler, transform } from '../../src/features/scalers.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { Matrix } from '../../src/matrix.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { mulberry32, testSeed } from '../helpers/random.js';

/**
 * The quantile scaler against scikit-learn's QuantileTransformer(output_distribution='normal')
 * fitted on the same rows: the same transformed values for the training rows and for rows it
 * never saw (inside, between and beyond the training values, on ties and at the ends).
 */
const PYTHON = '/usr/bin/python3';
const sklearn = spawnSync(PYTHON, ['-c', 'import sklearn'], { stdio: 'ignore' }).status === 0;

function sklearnQuantile(train: Matrix, queries: Matrix): number[][] {
  const script = [
    'import json, sys',
    'import numpy as np',
    'from sklearn.preprocessing import QuantileTransformer',
    'd = json.load(sys.stdin)',
    "t = QuantileTransformer(output_distribution='normal', n_quantiles=min(1000, len(d['train']))).fit(np.array(d['train'], dtype=float))",
    "print(json.dumps(t.transform(np.array(d['queries'], dtype=float)).tolist()))",
  ].join('\n');
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify({ train: train.toArrays(), queries: queries.toArrays() }), encoding: 'utf8' })) as number[][];
}

function expectClose(ours: Matrix, theirs: number[][], what: string): void {
  expect(ours.rows).toBe(theirs.length);
  let worst = 0;
  ours.toArrays().forEach((row, i) =>
    row.forEach((v, j) => {
      const want = theirs[i]![j]!;
      const diff = Math.abs(v - want);
      worst = Math.max(worst, diff);
      expect(diff, `${what}: row ${i} feature ${j}: flowknn ${v}, scikit-learn ${want}`).toBeLessThanOrEqual(1e-12);
    }),
  );
  console.log(`[quantile] ${what}: largest difference from scikit-learn ${worst}`);
}

/** Traffic-like columns: heavy tails, many zeros and repeated small counts. */
function trafficMatrix(rows: number, random: () => number): Matrix {
  const m = Matrix.zeros(rows, 7);
  for (let i = 0; i < rows; i++) {
    const flows = 1 + Math.floor(random() ** 3 * 50);
    const packets = flows * (1 + Math.floor(random() * 20));
    const bytes = packets * (40 + Math.floor(random() * 1460));
    const duration = random() < 0.3 ? 0 : Math.round(random() ** 2 * 3600 * 1000) / 1000;
    m.data.set([duration, flows, packets, bytes, duration > 0 ? packets / duration : 0, duration > 0 ? (8 * bytes) / duration : 0, bytes / packets], i * 7);
  }
  return m;
}

describe.skipIf(!sklearn && process.env.CI !== 'true')(`quantile scaler against scikit-learn's QuantileTransformer${sklearn ? '' : ' (skipped: python3 with sklearn is not installed)'}`, () => {
  it('seed data: fitted on the training rows, the same values for them and for held-out rows', async () => {
    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7);
    const odd = Array.from({ length: set.features.rows }, (_, i) => i).filter((i) => i % 3 !== 0);
    const held = Array.from({ length: set.features.rows }, (_, i) => i).filter((i) => i % 3 === 0);
    const train = set.features.take(odd);
    const queries = set.features.take(held);
    const params = fitScaler('quantile', train);
    expect(params.quantiles).toHaveLength(7);
    expect(params.quantiles![0]).toHaveLength(train.rows);
    expectClose(transform(params, train), sklearnQuantile(train, train), 'seed training rows');
    expectClose(transform(params, queries), sklearnQuantile(train, queries), 'seed held-out rows');
  });

  it('random traffic with ties and zeros, more rows than 1000 quantiles, and rows beyond the training range', () => {
    const random = mulberry32(testSeed('quantile scaler'));
    const train = trafficMatrix(1500, random);
    const queries = trafficMatrix(300, random);
    // beyond both ends, and exactly on training values
    queries.data.set([0, 0, 0, 0, 0, 0, 0], 0);
    queries.data.set([1e9, 1e6, 1e9, 1e12, 1e7, 1e10, 1e5], 7);
    queries.data.set(train.row(17), 14);
    const params = fitScaler('quantile', train);
    expect(params.quantiles![3]).toHaveLength(1000);
    expectClose(transform(params, train), sklearnQuantile(train, train), 'random training rows');
    expectClose(transform(params, queries), sklearnQuantile(train, queries), 'random queries');
  });

  it('a constant feature and a single training row, as scikit-learn maps them', () => {
    const train = Matrix.fromRows([
      [5, 1],
      [5, 2],
      [5, 2],
      [5, 9],
    ]);
    const queries = Matrix.fromRows([
      [4, 0],
      [5, 2],
      [6, 10],
    ]);
    expectClose(transform(fitScaler('quantile', train), queries), sklearnQuantile(train, queries), 'constant feature');
    const one = Matrix.fromRows([[3, 3]]);
    expectClose(transform(fitScaler('quantile', one), queries), sklearnQuantile(one, queries), 'one training row');
  });

  it("the normal quantile function matches scipy's norm.ppf to 1e-15 relative", () => {
    const ps = [1e-300, 1e-20, 1e-7, 1e-3, 0.02425, 0.1, 0.3, 0.425, 0.5, 0.574, 0.925, 0.97575, 0.999, 1 - 1e-7, 1 - 1e-12];
    const theirs = JSON.parse(
      execFileSync(PYTHON, ['-c', 'import json, sys; from scipy.stats import norm; print(json.dumps([float(norm.ppf(p)) for p in json.load(sys.stdin)]))'], { input: JSON.stringify(ps), encoding: 'utf8' }),
    ) as number[];
    ps.forEach((p, i) => expect(Math.abs(normalQuantile(p) - theirs[i]!), `p = ${p}`).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(theirs[i]!))));
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(QUANTILE_CLIP.low).toBeCloseTo(-5.199337582605575, 12);
  });
});

describe('quantile scaler without a reference', () => {
  it('keeps the order of every feature, centres the training rows and refuses data of another width', () => {
    const random = mulberry32(testSeed('quantile order'));
    const train = trafficMatrix(400, random);
    const params = fitScaler('quantile', train);
    const out = transform(params, train);
    for (let j = 0; j < 7; j++) {
      const order = Array.from({ length: train.rows }, (_, i) => i).sort((a, b) => train.data[a * 7 + j]! - train.data[b * 7 + j]!);
      for (let t = 1; t < order.length; t++) expect(out.data[order[t]! * 7 + j]!).toBeGreaterThanOrEqual(out.data[order[t - 1]! * 7 + j]!);
    }
    expect(Math.abs(out.data.reduce((s, v) => s + v, 0) / out.data.length)).toBeLessThan(1);
    for (const v of out.data) {
      expect(v).toBeGreaterThanOrEqual(QUANTILE_CLIP.low);
      expect(v).toBeLessThanOrEqual(QUANTILE_CLIP.high);
    }
    expect(() => transform(params, Matrix.fromRows([[1, 2]]))).toThrow(/fitted on 7 features, data has 2/u);
  });
});
