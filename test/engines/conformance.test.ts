import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { METRICS, type EngineName, type KnnEngine, type Metric, type Neighbours } from '../../src/engines/engine.js';
import { LargeKFallback } from '../../src/engines/fallback.js';
import { ENGINE_SPECS, engineSpec } from '../../src/engines/registry.js';
import { WebGpuEngine, type WebGpuOptions } from '../../src/engines/webgpu/webgpu-engine.js';
import { FlowknnError } from '../../src/errors.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { SCALERS } from '../../src/features/scalers.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { fitModel } from '../../src/knn/model.js';
import { Matrix } from '../../src/matrix.js';
import { SEED_DIR } from '../helpers/paths.js';
import { gridMatrix, mulberry32, randomMatrix, testSeed } from '../helpers/random.js';
import { referenceDistance, referenceKnn } from '../helpers/reference.js';

/**
 * Every engine against the float64 reference. float32 engines may order two neighbours
 * differently only where their float64 distances tie within float32 rounding; each such case
 * must be explained by the distances, and the failure message names the query, the rows and
 * their distances.
 */

interface Candidate {
  name: string;
  make: () => Promise<KnnEngine>;
  /** Why it cannot run here, or undefined. */
  unavailable: () => Promise<string | undefined>;
}

/**
 * Every engine of the registry's list, as `--engine NAME` makes it (k above an engine's maxK on
 * the cpu engine), with test settings: two cpu threads that split even tiny searches, the webgpu
 * engine poisoning its outputs, tfjs on its cpu backend (its webgpu backend has its own suite).
 * Plus a webgpu kernel variant other than the default.
 */
const testEngine = async (name: EngineName, options: WebGpuOptions = {}): Promise<KnnEngine> => {
  switch (name) {
    case 'cpu':
      return new CpuEngine({ threads: 2, threadMinWork: 0 });
    case 'webgpu':
      return new LargeKFallback(await WebGpuEngine.create({ allowSoftware: true, poison: true, ...options }), new CpuEngine({ threads: 1 }));
    case 'tfjs': {
      const { TfjsEngine } = await import('../../src/engines/tfjs/tfjs-engine.js');
      return new LargeKFallback(await TfjsEngine.create({ backend: 'cpu' }), new CpuEngine({ threads: 1 }));
    }
  }
};
const gpuReason = async (): Promise<string | undefined> => {
  const probe = await engineSpec('webgpu').probe();
  return probe.usable ? undefined : probe.reason;
};

const candidates: Candidate[] = [
  ...ENGINE_SPECS.map((spec) => ({ name: spec.name, make: () => testEngine(spec.name), unavailable: spec.name === 'webgpu' ? gpuReason : async () => undefined })),
  {
    // Several queries per invocation, the unrolled top-k, an odd workgroup and tile.
    name: 'webgpu (variant)',
    make: () => testEngine('webgpu', { queriesPerInvocation: 4, insertion: 'unrolled', workgroup: 32, tile: 100 }),
    unavailable: gpuReason,
  },
];

// In CI every engine must run: a missing driver there is a failure, not a skip.
const reasons = await Promise.all(candidates.map((c) => c.unavailable()));
const table = candidates.map((c, i) => [`${c.name}${reasons[i] ? ` (skipped: ${reasons[i]})` : ''}`, c, reasons[i]] as const);

const metrics: Metric[] = METRICS.map((name) => (name === 'minkowski' ? { name, p: 3 } : { name }));

/** float32 inputs carry a relative error of 2^-24 per coordinate; the distance inherits it
 *  scaled by the coordinates' size, so ties are judged against the data's scale. */
function tieTolerance(scale: number): number {
  return 1e-5 * Math.max(1, scale);
}

function expectConforms(engine: KnnEngine, got: Neighbours, train: Matrix, queries: Matrix, k: number, metric: Metric): void {
  const want = referenceKnn(train, queries, k, metric);
  let scale = 0;
  for (const v of train.data) scale = Math.max(scale, Math.abs(v));
  for (const v of queries.data) scale = Math.max(scale, Math.abs(v));
  const exact = engine.capabilities.precision === 'f64';
  for (let q = 0; q < queries.rows; q++) {
    const gotIdx = Array.from(got.indices.subarray(q * k, q * k + k));
    const gotDist = Array.from(got.distances.subarray(q * k, q * k + k));
    const wantIdx = want.indices[q]!;
    const kth = want.distances[q]![k - 1]!;
    if (exact) {
      expect(gotIdx, `query ${q}`).toEqual(wantIdx);
    } else {
      const missing = gotIdx.filter((i) => !wantIdx.includes(i));
      for (const i of missing) {
        const d = referenceDistance(queries.row(q), train.row(i), metric);
        const other = wantIdx.find((j) => !gotIdx.includes(j))!;
        expect(
          Math.abs(d - kth) <= tieTolerance(scale) * Math.max(1, kth),
          `query ${q}: engine chose training row ${i} (float64 distance ${d}) where the reference has row ${other} (k-th distance ${kth}); not a float32 tie`,
        ).toBe(true);
      }
      expect(new Set(gotIdx).size, `query ${q}: repeated neighbours ${gotIdx}`).toBe(k);
    }
    gotDist.forEach((d, j) => {
      const ref = referenceDistance(queries.row(q), train.row(gotIdx[j]!), metric);
      expect(Math.abs(d - ref), `query ${q} neighbour ${j} (row ${gotIdx[j]}): distance ${d}, float64 ${ref}`).toBeLessThanOrEqual(1e-5 * Math.abs(ref) + 1e-6 * Math.max(1, scale));
    });
    for (let j = 1; j < k; j++) expect(gotDist[j]! >= gotDist[j - 1]! - 1e-6 * Math.max(1, scale), `query ${q}: distances out of order`).toBe(true);
  }
}

describe.each(table)('engine conformance: %s', (_label, candidate, reason) => {
  const skip = reason !== undefined && process.env.CI !== 'true';
  let engine: KnnEngine;
  beforeAll(async () => {
    if (!skip) engine = await candidate.make();
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it.skipIf(skip).each(metrics.map((m) => [m.name, m] as const))('%s: random data, several sizes, d 1..32, k 1..128', async (_name, metric) => {
    const random = mulberry32(testSeed(`${candidate.name} ${metric.name}`));
    for (const [n, m, d, k] of [
      [1, 1, 1, 1],
      [40, 7, 1, 3],
      [300, 33, 7, 5],
      [700, 20, 32, 128],
      [129, 9, 4, 129],
      [2000, 70, 3, 17],
    ] as const) {
      const train = randomMatrix(n, d, random);
      const queries = randomMatrix(m, d, random);
      expectConforms(engine, await engine.search(train, queries, k, metric), train, queries, k, metric);
    }
  });

  it.skipIf(skip)('the seed data in every scaler: same neighbours as the reference', async () => {
    const set = await loadLabelled(`${SEED_DIR}/labels`, NFDUMP_STAT7);
    for (const scaler of SCALERS) {
      const model = fitModel(set, { scaler, k: 10, metric: { name: 'euclidean' }, weights: 'uniform' });
      expectConforms(engine, await engine.search(model.space, model.space, 10, { name: 'euclidean' }), model.space, model.space, 10, { name: 'euclidean' });
    }
  });

  it.skipIf(skip)('edge cases: k = training rows, duplicate rows, one query', async () => {
    const random = mulberry32(testSeed(`${candidate.name} edges`));
    const train = randomMatrix(64, 5, random);
    const queries = randomMatrix(10, 5, random);
    expectConforms(engine, await engine.search(train, queries, 64, { name: 'euclidean' }), train, queries, 64, { name: 'euclidean' });
    const dup = Matrix.fromRows([[1, 1], [0, 0], [1, 1], [1, 1], [2, 2]]);
    const res = await engine.search(dup, Matrix.fromRows([[1, 1]]), 3, { name: 'euclidean' });
    expect(Array.from(res.indices)).toEqual([0, 2, 3]);
    const grid = gridMatrix(200, 3, random);
    const one = gridMatrix(1, 3, random);
    expectConforms(engine, await engine.search(grid, one, 30, { name: 'manhattan' }), grid, one, 30, { name: 'manhattan' });
  });

  it.skipIf(skip)('more queries than 65535 workgroups x 64 invocations', async () => {
    const m = 65535 * 64 + 333;
    const train = Matrix.fromRows([[0], [10], [20]]);
    const queries = Matrix.zeros(m, 1);
    for (let i = 0; i < m; i++) queries.data[i] = (i % 30) - 5;
    const res = await engine.search(train, queries, 2, { name: 'euclidean' });
    for (const q of [0, 1, 17, 65535 * 64 - 1, 65535 * 64, m - 1]) {
      const v = queries.data[q]!;
      const order = [0, 1, 2].sort((a, b) => Math.abs(v - a * 10) - Math.abs(v - b * 10) || a - b);
      expect(Array.from(res.indices.subarray(q * 2, q * 2 + 2)), `query ${q} (${v})`).toEqual(order.slice(0, 2));
    }
  });

  const bad: [string, (e: KnnEngine) => Promise<unknown>, RegExp][] = [
    ['k < 1', (e) => e.search(Matrix.fromRows([[0], [1]]), Matrix.fromRows([[0]]), 0, { name: 'euclidean' }), /k must be a whole number >= 1/],
    ['k > rows', (e) => e.search(Matrix.fromRows([[0], [1]]), Matrix.fromRows([[0]]), 3, { name: 'euclidean' }), /k = 3 is more than the 2 training rows/],
    ['NaN', (e) => e.search(Matrix.fromRows([[0], [1]]), Matrix.fromRows([[Number.NaN]]), 1, { name: 'euclidean' }), /query row 0 feature 0 is NaN/],
    ['Infinity', (e) => e.search(Matrix.fromRows([[0], [Infinity]]), Matrix.fromRows([[0]]), 1, { name: 'euclidean' }), /training row 1 feature 0 is Infinity/],
    ['empty', (e) => e.search(Matrix.zeros(0, 1), Matrix.fromRows([[0]]), 1, { name: 'euclidean' }), /training set is empty/],
    ['dimension mismatch', (e) => e.search(Matrix.fromRows([[0, 1]]), Matrix.fromRows([[0]]), 1, { name: 'euclidean' }), /training rows have 2 features, queries have 1/],
  ];
  it.skipIf(skip).each(bad)('the same error as every engine for bad input: %s', async (_name, run, message) => {
    const err = await run(engine).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlowknnError);
    expect((err as Error).message).toMatch(message);
  });
});
