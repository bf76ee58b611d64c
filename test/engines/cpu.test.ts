import { afterAll, describe, expect, it } from 'vitest';
import { CpuEngine, type CpuEngineOptions } from '../../src/engines/cpu/cpu-engine.js';
import type { SharedSearchJob } from '../../src/engines/cpu/jobs.js';
import { WorkerPool } from '../../src/engines/cpu/pool.js';
import { METRICS, type Metric } from '../../src/engines/engine.js';
import { FlowknnError } from '../../src/errors.js';
import { Matrix } from '../../src/matrix.js';
import { gridMatrix, mulberry32, randomMatrix, testSeed } from '../helpers/random.js';
import { referenceKnn } from '../helpers/reference.js';

const metrics: Metric[] = METRICS.map((name) => (name === 'minkowski' ? { name, p: 3 } : { name }));

// Every way the CPU engine can run; each must give the reference's answers. threadMinWork 0
// hands even small searches to the threads.
const configurations: [string, CpuEngineOptions][] = [
  ['brute force, 1 thread', { threads: 1, algorithm: 'brute' }],
  ['k-d tree (auto), 1 thread', { threads: 1, algorithm: 'auto' }],
  ['brute force, 2 threads', { threads: 2, algorithm: 'brute', threadMinWork: 0 }],
  ['auto, 3 threads', { threads: 3, algorithm: 'auto', threadMinWork: 0 }],
];

describe.each(configurations)('cpu engine: %s', (_label, options) => {
const engine = new CpuEngine(options);
afterAll(() => engine.dispose());

async function expectMatchesReference(train: Matrix, queries: Matrix, k: number, metric: Metric) {
  const got = await engine.search(train, queries, k, metric);
  const want = referenceKnn(train, queries, k, metric);
  expect(got.k).toBe(k);
  expect(got.queries).toBe(queries.rows);
  for (let q = 0; q < queries.rows; q++) {
    expect(Array.from(got.indices.subarray(q * k, q * k + k)), `query ${q} indices`).toEqual(want.indices[q]);
    const dist = Array.from(got.distances.subarray(q * k, q * k + k));
    dist.forEach((d, j) => expect(d).toBeCloseTo(want.distances[q]![j]!, 12));
  }
}

describe('against a float64 brute-force reference', () => {
  it.each(metrics.map((m) => [m.name, m] as const))('%s on random data (several sizes, d 1..32, k 1..rows)', async (_name, metric) => {
    const seed = testSeed(`cpu ${metric.name}`);
    const random = mulberry32(seed);
    for (const [n, m, d, k] of [
      [1, 1, 1, 1],
      [17, 5, 1, 17],
      [64, 9, 7, 5],
      [200, 13, 32, 128],
      [50, 4, 3, 50],
    ] as const) {
      await expectMatchesReference(randomMatrix(n, d, random), randomMatrix(m, d, random), k, metric);
    }
  });

  it.each(metrics.map((m) => [m.name, m] as const))('%s breaks ties by lower training index', async (_name, metric) => {
    const seed = testSeed(`cpu ties ${metric.name}`);
    const random = mulberry32(seed);
    // Values 0..2 in 3 dimensions: at most 27 distinct rows among 120, so most distances tie.
    const train = gridMatrix(120, 3, random);
    const queries = gridMatrix(15, 3, random);
    await expectMatchesReference(train, queries, 40, metric);
  });

  it('duplicate training rows come back in index order', async () => {
    const train = Matrix.fromRows([[5, 5], [1, 1], [1, 1], [0, 0], [1, 1]]);
    const got = await engine.search(train, Matrix.fromRows([[1, 1]]), 4, { name: 'euclidean' });
    expect(Array.from(got.indices)).toEqual([1, 2, 4, 3]);
    expect(Array.from(got.distances)).toEqual([0, 0, 0, Math.SQRT2]);
  });

  it('minkowski with p = 1 and p = 2 equals manhattan and euclidean', async () => {
    const random = mulberry32(testSeed('minkowski p'));
    const train = randomMatrix(80, 7, random);
    const queries = randomMatrix(10, 7, random);
    const l1 = await engine.search(train, queries, 6, { name: 'manhattan' });
    const p1 = await engine.search(train, queries, 6, { name: 'minkowski', p: 1 });
    expect(Array.from(p1.indices)).toEqual(Array.from(l1.indices));
    const l2 = await engine.search(train, queries, 6, { name: 'euclidean' });
    const p2 = await engine.search(train, queries, 6, { name: 'minkowski', p: 2 });
    expect(Array.from(p2.indices)).toEqual(Array.from(l2.indices));
    p2.distances.forEach((d, i) => expect(d).toBeCloseTo(l2.distances[i]!, 12));
  });

  it('queries far outside the training data', async () => {
    const random = mulberry32(testSeed('cpu far queries'));
    for (const metric of metrics) await expectMatchesReference(randomMatrix(300, 5, random), randomMatrix(40, 5, random, 50, 1000), 7, metric);
  });

  it('cosine treats a zero vector as distance 1 from everything', async () => {
    const train = Matrix.fromRows([[0, 0], [1, 0], [0, 2]]);
    const got = await engine.search(train, Matrix.fromRows([[0, 0]]), 3, { name: 'cosine' });
    expect(Array.from(got.distances)).toEqual([1, 1, 1]);
    const got2 = await engine.search(train, Matrix.fromRows([[3, 0]]), 3, { name: 'cosine' });
    expect(Array.from(got2.indices)).toEqual([1, 0, 2]);
    expect(Array.from(got2.distances)).toEqual([0, 1, 1]);
  });
});

describe('rejects bad input with clear errors', () => {
  const train = Matrix.fromRows([[0, 0], [1, 1], [2, 2]]);
  const q = Matrix.fromRows([[0, 1]]);
  const cases: [string, () => Promise<unknown>, RegExp, string][] = [
    ['k < 1', () => engine.search(train, q, 0, { name: 'euclidean' }), /k must be a whole number >= 1/, 'usage'],
    ['k > rows', () => engine.search(train, q, 4, { name: 'euclidean' }), /k = 4 is more than the 3 training rows/, 'usage'],
    ['NaN feature', () => engine.search(train, Matrix.fromRows([[0, Number.NaN]]), 1, { name: 'euclidean' }), /query row 0 feature 1 is NaN/, 'input'],
    ['Infinity feature', () => engine.search(Matrix.fromRows([[Infinity, 0]]), q, 1, { name: 'euclidean' }), /training row 0 feature 0 is Infinity/, 'input'],
    ['empty training set', () => engine.search(Matrix.zeros(0, 2), q, 1, { name: 'euclidean' }), /training set is empty/, 'input'],
    ['empty queries', () => engine.search(train, Matrix.zeros(0, 2), 1, { name: 'euclidean' }), /input to classify is empty/, 'input'],
    ['dimension mismatch', () => engine.search(train, Matrix.fromRows([[1, 2, 3]]), 1, { name: 'euclidean' }), /training rows have 2 features, queries have 3/, 'input'],
    ['minkowski without p', () => engine.search(train, q, 1, { name: 'minkowski' }), /minkowski needs p >= 1/, 'usage'],
  ];
  it.each(cases)('%s', async (_name, run, message, kind) => {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlowknnError);
    expect((err as FlowknnError).message).toMatch(message);
    expect((err as FlowknnError).kind).toBe(kind);
  });
});
});

describe('cpu search threads', () => {
  it('an error inside a thread fails the search with that error, and the pool recovers', async () => {
    const pool = new WorkerPool(2);
    try {
      const shared = (n: number) => new Float64Array(new SharedArrayBuffer(n * 8));
      const bad: SharedSearchJob = {
        id: pool.newJobId(),
        k: 1,
        metric: { name: 'euclidean' },
        d: 2,
        queries: shared(8),
        outIndices: new Int32Array(new SharedArrayBuffer(16)),
        outDistances: shared(4),
        // a tree whose arrays do not fit its shape: the thread cannot rebuild it
        tree: { buffers: { nodes: new Int32Array(3), bounds: shared(4), order: new Int32Array(1), points: shared(2) }, meta: { n: 5, d: 2, leafSize: 32, nodeCount: 1, depth: 0 } },
      };
      await expect(pool.run(bad, 4, 2)).rejects.toThrow(/cpu search thread failed: k-d tree buffer/);
      const train = shared(6);
      train.set([0, 0, 1, 1, 5, 5]);
      const good: SharedSearchJob = { ...bad, id: pool.newJobId(), tree: undefined, train, queries: shared(8).fill(1) };
      await pool.run(good, 4, 2);
      expect(Array.from(good.outIndices)).toEqual([1, 1, 1, 1]);
    } finally {
      await pool.dispose();
    }
  });

  it('threads share one copy of the training data: the tree lives in shared memory', async () => {
    const engine = new CpuEngine({ threads: 2, threadMinWork: 0 });
    try {
      const random = mulberry32(testSeed('shared tree'));
      const train = randomMatrix(500, 7, random);
      const a = await engine.search(train, randomMatrix(50, 7, random), 5, { name: 'euclidean' });
      expect(a.indices.buffer).toBeInstanceOf(SharedArrayBuffer);
      const b = await engine.search(train, randomMatrix(50, 7, random), 5, { name: 'manhattan' });
      expect(b.queries).toBe(50);
    } finally {
      await engine.dispose();
    }
  });
});
