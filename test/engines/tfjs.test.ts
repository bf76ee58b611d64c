import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { METRICS, type Metric, type Neighbours } from '../../src/engines/engine.js';
import { exactTopK, TopKMerger } from '../../src/engines/tfjs/prepare.js';
import { planTiles, probeTfjs, TFJS_MAX_K, TfjsEngine } from '../../src/engines/tfjs/tfjs-engine.js';
import { FlowknnError } from '../../src/errors.js';
import { Matrix } from '../../src/matrix.js';
import { gridMatrix, mulberry32, randomMatrix, testSeed } from '../helpers/random.js';
import { referenceDistance, referenceKnn } from '../helpers/reference.js';

/**
 * The tfjs engine computes in float32. Against the float64 reference:
 * - the reported distance of each neighbour is within 1e-5 relative (plus an absolute floor
 *   for distances near 0, from float32's rounding of the inputs) of that row's float64 distance;
 * - the j-th neighbour may differ from the reference's j-th only where the two rows' float64
 *   distances are within float32 rounding of each other (relative (d + 2) 2^-24, about 1e-6 at
 *   d = 32, plus the same floor), and the failure message then names the query, both rows and
 *   their distances;
 * - on small-integer data every float32 step is exact, so the Lp metrics must give exactly the
 *   reference's lists, ties by lower training index included.
 */

const metrics: Metric[] = METRICS.map((name) => (name === 'minkowski' ? { name, p: 3 } : { name }));
const CI = process.env.CI === 'true' || process.env.CI === '1';
const F32_EPS = 2 ** -24;

interface Tolerance {
  /** Relative error of float32 accumulation over d terms. */
  rel: number;
  /** Absolute error from rounding the inputs to float32 (in distance units). */
  abs: number;
}

function tolerance(train: Matrix, queries: Matrix, metric: Metric): Tolerance {
  const d = train.cols;
  if (metric.name === 'cosine') return { rel: (d + 2) * F32_EPS, abs: (d + 2) * 2 * F32_EPS };
  let scale = 0;
  for (const m of [train, queries]) for (const v of m.data) scale = Math.max(scale, Math.abs(v));
  // Each coordinate is rounded to float32 after an integer shift within the data's range:
  // errors of at most 2^-24 of twice the data's magnitude per coordinate, d coordinates.
  return { rel: (d + 2) * F32_EPS, abs: d * 2 * F32_EPS * 2 * scale };
}

/** |a - b| small enough that float32 could not tell the two distances apart. */
function tiesInFloat32(a: number, b: number, tol: Tolerance, metric: Metric): boolean {
  if (metric.name === 'sqeuclidean') return tiesInFloat32(Math.sqrt(a), Math.sqrt(b), tol, { name: 'euclidean' });
  return Math.abs(a - b) <= 2 * (tol.rel * Math.max(a, b) + tol.abs);
}

/** The reported distance agrees with the float64 one: 1e-5 relative, or the absolute floor. */
function distanceAgrees(got: number, want: number, tol: Tolerance, metric: Metric): boolean {
  if (metric.name === 'sqeuclidean') return Math.abs(Math.sqrt(got) - Math.sqrt(want)) <= 0.5e-5 * Math.sqrt(want) + tol.abs;
  return Math.abs(got - want) <= 1e-5 * want + tol.abs;
}

function expectMatchesReference(got: Neighbours, train: Matrix, queries: Matrix, k: number, metric: Metric, exact = false): void {
  const want = referenceKnn(train, queries, k, metric);
  const tol = tolerance(train, queries, metric);
  const label = `${metric.name}, ${train.rows} x ${train.cols} training rows, k = ${k}`;
  expect(got.k).toBe(k);
  expect(got.queries).toBe(queries.rows);
  expect(got.indices.length).toBe(queries.rows * k);
  expect(got.distances.length).toBe(queries.rows * k);
  for (let q = 0; q < queries.rows; q++) {
    const gotIdx = Array.from(got.indices.subarray(q * k, q * k + k));
    const gotDist = Array.from(got.distances.subarray(q * k, q * k + k));
    const wantIdx = want.indices[q]!;
    const wantDist = want.distances[q]!;
    if (exact) expect(gotIdx, `${label}: query ${q} (exact data: identical lists expected)`).toEqual(wantIdx);
    expect(new Set(gotIdx).size, `${label}: query ${q} has a training row twice: ${gotIdx.join(',')}`).toBe(k);
    const trueDist = gotIdx.map((i) => {
      expect(Number.isInteger(i) && i >= 0 && i < train.rows, `${label}: query ${q} got training row ${i}`).toBe(true);
      return referenceDistance(queries.row(q), train.row(i), metric);
    });
    for (let j = 0; j < k; j++) {
      if (!distanceAgrees(gotDist[j]!, trueDist[j]!, tol, metric)) {
        expect.fail(`${label}: query ${q}, neighbour ${j} (training row ${gotIdx[j]}): reported distance ${gotDist[j]} but float64 gives ${trueDist[j]}`);
      }
      if (gotIdx[j] !== wantIdx[j] && !tiesInFloat32(trueDist[j]!, wantDist[j]!, tol, metric)) {
        expect.fail(
          `${label}: query ${q}, neighbour ${j}: engine has training row ${gotIdx[j]} (float64 distance ${trueDist[j]}), ` +
            `reference has training row ${wantIdx[j]} (float64 distance ${wantDist[j]}); they differ by more than float32 rounding`,
        );
      }
      if (j > 0) {
        expect(gotDist[j]! >= gotDist[j - 1]!, `${label}: query ${q}: distances not sorted at ${j}: ${gotDist[j - 1]} then ${gotDist[j]}`).toBe(true);
        if (gotDist[j] === gotDist[j - 1]) {
          expect(gotIdx[j]! > gotIdx[j - 1]!, `${label}: query ${q}: equal distances ${gotDist[j]} with rows ${gotIdx[j - 1]} before ${gotIdx[j]}`).toBe(true);
        }
      }
    }
    // A row in the engine's set but not the reference's must tie with the one it displaced.
    const extra = gotIdx.filter((i) => !wantIdx.includes(i));
    const missing = wantIdx.filter((i) => !gotIdx.includes(i));
    extra.forEach((row, x) => {
      const other = missing[x]!;
      const a = referenceDistance(queries.row(q), train.row(row), metric);
      const b = referenceDistance(queries.row(q), train.row(other), metric);
      if (!tiesInFloat32(a, b, tol, metric)) {
        expect.fail(`${label}: query ${q}: engine chose training row ${row} (float64 distance ${a}) over row ${other} (float64 distance ${b}): not a float32 tie`);
      }
    });
  }
}

function describeBackend(backend: 'cpu' | 'webgpu', sizes: readonly (readonly [number, number, number, number])[]) {
  let engine: TfjsEngine;
  beforeAll(async () => {
    engine = await TfjsEngine.create({ backend });
  });
  afterAll(() => engine?.dispose());

  it(`runs on the ${backend} backend`, () => {
    expect(engine.name).toBe('tfjs');
    expect(engine.backend).toBe(backend);
    expect(engine.capabilities).toEqual({ metrics: METRICS, maxK: TFJS_MAX_K, precision: 'f32' });
  });

  it.each(metrics.map((m) => [m.name, m] as const))('%s on random data (several sizes, d 1..32, k 1..128 and k = rows)', async (_name, metric) => {
    const random = mulberry32(testSeed(`tfjs ${backend} ${metric.name}`));
    for (const [n, m, d, k] of sizes) {
      const train = randomMatrix(n, d, random);
      const queries = randomMatrix(m, d, random);
      expectMatchesReference(await engine.search(train, queries, k, metric), train, queries, k, metric);
    }
  });

  it.each(metrics.map((m) => [m.name, m] as const))('%s breaks ties by lower training index (small-integer data)', async (_name, metric) => {
    const random = mulberry32(testSeed(`tfjs ${backend} ties ${metric.name}`));
    // Values 0..2 in 3 dimensions: at most 27 distinct rows among 120, so most distances tie.
    const train = gridMatrix(120, 3, random);
    const queries = gridMatrix(15, 3, random);
    const got = await engine.search(train, queries, 40, metric);
    expectMatchesReference(got, train, queries, 40, metric, metric.name !== 'cosine');
  });

  it('duplicate training rows come back in index order', async () => {
    const train = Matrix.fromRows([[5, 5], [1, 1], [1, 1], [0, 0], [1, 1]]);
    const got = await engine.search(train, Matrix.fromRows([[1, 1]]), 4, { name: 'euclidean' });
    expect(Array.from(got.indices)).toEqual([1, 2, 4, 3]);
    expect(Array.from(got.distances)).toEqual([0, 0, 0, Math.SQRT2]);
    const many = Matrix.fromRows(Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? [2, 2] : [7, 7])));
    const got2 = await engine.search(many, Matrix.fromRows([[2, 2]]), 12, { name: 'manhattan' });
    expect(Array.from(got2.indices)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 1, 2]);
  });

  it('one query', async () => {
    const random = mulberry32(testSeed(`tfjs ${backend} one query`));
    const train = randomMatrix(300, 6, random);
    const query = randomMatrix(1, 6, random);
    for (const metric of metrics) expectMatchesReference(await engine.search(train, query, 7, metric), train, query, 7, metric);
  });

  it('cosine treats a zero vector as distance 1 from everything', async () => {
    const train = Matrix.fromRows([[0, 0], [1, 0], [0, 2]]);
    const got = await engine.search(train, Matrix.fromRows([[0, 0]]), 3, { name: 'cosine' });
    expect(Array.from(got.indices)).toEqual([0, 1, 2]);
    expect(Array.from(got.distances)).toEqual([1, 1, 1]);
    const got2 = await engine.search(train, Matrix.fromRows([[3, 0]]), 3, { name: 'cosine' });
    expect(Array.from(got2.indices)).toEqual([1, 0, 2]);
    expect(Array.from(got2.distances)).toEqual([0, 1, 1]);
  });

  it('unscaled traffic counters (1e9 + small differences) rank as in float64', async () => {
    const random = mulberry32(testSeed(`tfjs ${backend} counters`));
    // float32 alone cannot tell 1e9 from 1e9 + 40; the engine's integer shift keeps them apart.
    const counters = (rows: number) => Matrix.fromRows(Array.from({ length: rows }, () => [1e9 + Math.floor(random() * 1000), 5e6 + Math.floor(random() * 300), 1e12 + Math.floor(random() * 5000)]));
    const train = counters(200);
    const queries = counters(10);
    for (const metric of metrics.filter((m) => m.name !== 'cosine')) {
      expectMatchesReference(await engine.search(train, queries, 5, metric), train, queries, 5, metric, true);
    }
  });

  it('queries far outside the training data', async () => {
    const random = mulberry32(testSeed(`tfjs ${backend} far queries`));
    const train = randomMatrix(300, 5, random);
    const queries = randomMatrix(40, 5, random, 50, 1000);
    for (const metric of metrics) expectMatchesReference(await engine.search(train, queries, 7, metric), train, queries, 7, metric);
  });

  it('many small tiles (k larger than a training tile) merge to the same answer', async () => {
    const tiny = await TfjsEngine.create({ backend, tileBytes: 256 }); // 64 floats: 16 training rows x 1 query at d = 4
    try {
      const random = mulberry32(testSeed(`tfjs ${backend} tiles`));
      const train = randomMatrix(100, 4, random);
      const queries = randomMatrix(6, 4, random);
      for (const metric of metrics) expectMatchesReference(await tiny.search(train, queries, 40, metric), train, queries, 40, metric);
      const gTrain = gridMatrix(90, 4, random);
      const gQueries = gridMatrix(5, 4, random);
      for (const metric of metrics.filter((m) => m.name !== 'cosine')) {
        expectMatchesReference(await tiny.search(gTrain, gQueries, 30, metric), gTrain, gQueries, 30, metric, true);
      }
    } finally {
      await tiny.dispose();
    }
  });

  it('no tensors leak across 20 searches', async () => {
    const random = mulberry32(testSeed(`tfjs ${backend} leak`));
    const train = randomMatrix(150, 5, random);
    const queries = randomMatrix(20, 5, random);
    await engine.search(train, queries, 3, { name: 'euclidean' }); // warm-up
    const before = tf.memory();
    for (let i = 0; i < 20; i++) await engine.search(train, queries, 1 + (i % 10), metrics[i % metrics.length]!);
    await expect(engine.search(train, queries, 0, { name: 'euclidean' })).rejects.toThrow(FlowknnError);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
  });

  describe('rejects bad input with the cpu engine\'s errors', () => {
    const cpu = new CpuEngine({ threads: 1 });
    const train = Matrix.fromRows([[0, 0], [1, 1], [2, 2]]);
    const q = Matrix.fromRows([[0, 1]]);
    type Search = (e: { search: CpuEngine['search'] }) => Promise<unknown>;
    const cases: [string, Search, RegExp, string][] = [
      ['k < 1', (e) => e.search(train, q, 0, { name: 'euclidean' }), /k must be a whole number >= 1/, 'usage'],
      ['k not whole', (e) => e.search(train, q, 1.5, { name: 'euclidean' }), /k must be a whole number >= 1/, 'usage'],
      ['k > rows', (e) => e.search(train, q, 4, { name: 'euclidean' }), /k = 4 is more than the 3 training rows/, 'usage'],
      ['NaN feature', (e) => e.search(train, Matrix.fromRows([[0, Number.NaN]]), 1, { name: 'euclidean' }), /query row 0 feature 1 is NaN/, 'input'],
      ['Infinity feature', (e) => e.search(Matrix.fromRows([[Infinity, 0]]), q, 1, { name: 'euclidean' }), /training row 0 feature 0 is Infinity/, 'input'],
      ['empty training set', (e) => e.search(Matrix.zeros(0, 2), q, 1, { name: 'euclidean' }), /training set is empty/, 'input'],
      ['empty queries', (e) => e.search(train, Matrix.zeros(0, 2), 1, { name: 'euclidean' }), /input to classify is empty/, 'input'],
      ['dimension mismatch', (e) => e.search(train, Matrix.fromRows([[1, 2, 3]]), 1, { name: 'euclidean' }), /training rows have 2 features, queries have 3/, 'input'],
      ['minkowski without p', (e) => e.search(train, q, 1, { name: 'minkowski' }), /minkowski needs p >= 1/, 'usage'],
      ['unknown metric', (e) => e.search(train, q, 1, { name: 'hamming' as Metric['name'] }), /unknown metric "hamming"/, 'usage'],
    ];
    afterAll(() => cpu.dispose());
    it.each(cases)('%s', async (_name, run, message, kind) => {
      const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
      const before = tf.memory().numTensors;
      const err = await caught(run(engine));
      const cpuErr = await caught(run(cpu));
      expect(err).toBeInstanceOf(FlowknnError);
      expect((err as FlowknnError).message).toMatch(message);
      expect((err as FlowknnError).kind).toBe(kind);
      expect((err as FlowknnError).message).toBe((cpuErr as FlowknnError).message);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`k above maxK (${TFJS_MAX_K}) is a usage error`, async () => {
      const big = Matrix.zeros(TFJS_MAX_K + 1, 1);
      await expect(engine.search(big, Matrix.zeros(1, 1), TFJS_MAX_K + 1, { name: 'euclidean' })).rejects.toThrow(/more than the tfjs engine allows/);
    });
  });
}

describe('tfjs engine on its cpu backend', () => {
  describeBackend('cpu', [
    [1, 1, 1, 1],
    [17, 5, 1, 17],
    [64, 9, 7, 5],
    [200, 13, 32, 128],
    [50, 4, 3, 50],
    [1000, 30, 2, 10],
  ]);
});

// Named explicitly, the webgpu backend runs on whatever adapter Dawn finds: Mesa's lavapipe
// (a software Vulkan driver) here and in CI. Where it cannot start, the reason is the failure
// in CI; elsewhere (no Vulkan driver at all) the tests are skipped with the reason in the name.
const webgpuStart = await TfjsEngine.create({ backend: 'webgpu' }).then(
  async (e) => {
    const info = e.device;
    await e.dispose();
    return { ok: true as const, info };
  },
  (err: unknown) => ({ ok: false as const, reason: err instanceof Error ? err.message : String(err) }),
);

describe(`tfjs engine on its webgpu backend, named explicitly${webgpuStart.ok ? ` (${webgpuStart.info?.vendor} ${webgpuStart.info?.device})` : ''}`, () => {
  // Outside CI a machine without any Vulkan driver skips, with the reason in the test's name;
  // in CI (lavapipe is installed there) a failure to start fails, and says why.
  const skipStart = !webgpuStart.ok && !CI;
  it.skipIf(skipStart)(`initialises (on a software adapter too, when named)${skipStart ? ` (skipped: ${webgpuStart.reason})` : ''}`, () => {
    expect(webgpuStart.ok ? 'initialised' : webgpuStart.reason).toBe('initialised');
  });
  describe.skipIf(!webgpuStart.ok)('searches', () => {
    describeBackend('webgpu', [
      [1, 1, 1, 1],
      [17, 5, 1, 17],
      [64, 9, 7, 5],
      [200, 13, 32, 128],
      [50, 4, 3, 50],
    ]);

    it('an invalid tile (a binding above the device limit) fails the search instead of returning garbage', async () => {
      const limit = webgpuStart.ok ? webgpuStart.info!.maxStorageBufferBindingSize : 0;
      const d = 16;
      // One tile of n x m x d floats just above the limit.
      const n = 4096;
      const m = Math.ceil(limit / (4 * n * d)) + 1;
      if (m * n * d * 4 > 2 ** 30) return; // a device with a very large limit: nothing to provoke here
      const engine = await TfjsEngine.create({ backend: 'webgpu', tileBytes: 2 ** 31 });
      try {
        const random = mulberry32(1);
        const err = await engine.search(randomMatrix(n, d, random), randomMatrix(m, d, random), 3, { name: 'sqeuclidean' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(FlowknnError);
        expect((err as FlowknnError).kind).toBe('environment');
        expect((err as FlowknnError).message).toMatch(/tfjs webgpu backend failed/);
      } finally {
        await engine.dispose();
      }
    });
  });
});

describe('tfjs backend selection', () => {
  it('the probe names the backend it would use and why each other one was not used', async () => {
    const probe = await probeTfjs();
    expect(probe.name).toBe('tfjs');
    expect(probe.usable).toBe(true);
    const details = probe.details as { backend: string; tried: { name: string; ok: boolean; reason: string }[] };
    expect(details.tried.map((t) => t.name)).toEqual([
      '@tensorflow/tfjs-node-gpu',
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-backend-cpu',
    ]);
    for (const t of details.tried) expect(t.reason.length, t.name).toBeGreaterThan(0);
    expect(details.tried.filter((t) => t.ok)).toHaveLength(1);
    const webgpu = details.tried[2]!;
    if (webgpuStart.ok && webgpuStart.info?.software) {
      // auto never takes a software adapter (lavapipe here)
      expect(webgpu.ok).toBe(false);
      expect(webgpu.reason).toMatch(/software rasteriser/);
    }
    const chosen = details.tried.find((t) => t.ok)!;
    expect(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-cpu']).toContain(chosen.name);
    console.log(`[tfjs probe] ${details.backend}: ${details.tried.map((t) => `${t.name} ${t.ok ? 'ok' : 'no'} (${t.reason})`).join('; ')}`);
  });

  it('auto creates an engine on the probed backend', async () => {
    const probe = await probeTfjs();
    const engine = await TfjsEngine.create();
    try {
      expect(engine.backend).toBe((probe.details as { backend: string }).backend);
    } finally {
      await engine.dispose();
    }
  });

  it('an unknown backend is a usage error; a missing optional one an environment error with the reason', async () => {
    await expect(TfjsEngine.create({ backend: 'wasm' })).rejects.toThrow(/unknown tfjs backend "wasm"/);
    const probe = await probeTfjs();
    const node = (probe.details as { tried: { name: string; reason: string }[] }).tried.slice(0, 2);
    if (node.every((t) => /not installed/.test(t.reason))) {
      const err = await TfjsEngine.create({ backend: 'tensorflow' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FlowknnError);
      expect((err as FlowknnError).kind).toBe('environment');
      expect((err as FlowknnError).message).toMatch(/@tensorflow\/tfjs-node-gpu: not installed.*@tensorflow\/tfjs-node: not installed/);
    }
  });

  it('the k-th place tie fix-up and the tile merge keep the lowest indices among equal scores', () => {
    const exact = exactTopK([1, 3, 3, 2, 3, 3], 3);
    expect(Array.from(exact.indices)).toEqual([1, 2, 4]);
    expect(Array.from(exact.scores)).toEqual([3, 3, 3]);
    const merger = new TopKMerger(1, 3);
    merger.merge(0, 1, 2, [-1, -2], [1, 0], 0); // tile 0: rows 0 and 1, given in topk order
    merger.advance(2);
    merger.merge(0, 1, 2, [-1, -1], [1, 0], 10); // tile 1: rows 10 and 11 tie with row 1
    merger.advance(2);
    expect(Array.from(merger.indices)).toEqual([1, 10, 11]);
    expect(Array.from(merger.scores)).toEqual([-1, -1, -1]);
  });

  it('tiles bound the largest intermediate tensor to 64 MiB', () => {
    const random = mulberry32(testSeed('tfjs tile plan'));
    for (let i = 0; i < 200; i++) {
      const n = 1 + Math.floor(random() * 300000);
      const m = 1 + Math.floor(random() * 50000);
      const d = 1 + Math.floor(random() * 300);
      for (const metric of [{ name: 'euclidean' }, { name: 'cosine' }] as Metric[]) {
        const { trainTile, queryTile } = planTiles(n, m, d, metric);
        const perPair = metric.name === 'cosine' ? 1 : d;
        expect(trainTile).toBeGreaterThanOrEqual(1);
        expect(trainTile).toBeLessThanOrEqual(Math.min(n, 8192));
        expect(queryTile).toBeGreaterThanOrEqual(1);
        expect(queryTile).toBeLessThanOrEqual(m);
        expect(queryTile * trainTile * perPair * 4).toBeLessThanOrEqual(64 * 2 ** 20);
      }
    }
    expect(planTiles(100000, 5000, 32, { name: 'euclidean' })).toEqual({ trainTile: 8192, queryTile: 64 });
    expect(planTiles(100000, 5000, 32, { name: 'cosine' })).toEqual({ trainTile: 8192, queryTile: 2048 });
  });
});
