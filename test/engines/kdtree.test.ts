import { describe, expect, it } from 'vitest';
import { bruteSearchRange } from '../../src/engines/cpu/brute.js';
import { buildKdTree, kdSearchRange, kdTreeBuffers, kdTreeFromBuffers, type KdTree } from '../../src/engines/cpu/kdtree.js';
import type { Metric } from '../../src/engines/engine.js';
import { Matrix } from '../../src/matrix.js';
import { gridMatrix, mulberry32, randomMatrix, testSeed } from '../helpers/random.js';
import { referenceKnn } from '../helpers/reference.js';

const metrics: Metric[] = [
  { name: 'euclidean' },
  { name: 'sqeuclidean' },
  { name: 'manhattan' },
  { name: 'chebyshev' },
  { name: 'minkowski', p: 3 },
  { name: 'minkowski', p: 1.5 },
];
const label = (m: Metric) => (m.p === undefined ? m.name : `${m.name} p=${m.p}`);

function search(tree: KdTree, train: Matrix, queries: Matrix, k: number, metric: Metric, kd: boolean) {
  const indices = new Int32Array(queries.rows * k).fill(-1);
  const distances = new Float64Array(queries.rows * k).fill(Number.NaN);
  if (kd) kdSearchRange(tree, train, queries, k, metric, 0, queries.rows, indices, distances);
  else bruteSearchRange(train, queries, k, metric, 0, queries.rows, indices, distances);
  return { indices, distances };
}

/** Indices equal and distances bit-identical (toBe / Object.is) to the brute-force kernel. */
function expectSameAsBrute(train: Matrix, queries: Matrix, k: number, metric: Metric, what: string, tree = buildKdTree(train)) {
  const got = search(tree, train, queries, k, metric, true);
  const want = search(tree, train, queries, k, metric, false);
  for (let q = 0; q < queries.rows; q++) {
    const s = q * k;
    const context = `${what}, ${label(metric)}, n ${train.rows}, d ${train.cols}, k ${k}, query ${q}`;
    expect(Array.from(got.indices.subarray(s, s + k)), `${context}: indices`).toEqual(Array.from(want.indices.subarray(s, s + k)));
    for (let j = 0; j < k; j++) expect(got.distances[s + j], `${context}: distance ${j}`).toBe(want.distances[s + j]);
  }
}

/** Queries spread over and far beyond the data range: some inside, some at 10x, some at 1000x. */
function mixedQueries(rows: number, d: number, random: () => number): Matrix {
  const m = randomMatrix(rows, d, random);
  for (let i = 0; i < rows; i++) {
    const scale = i % 3 === 0 ? 1 : i % 3 === 1 ? 10 : 1000;
    for (let c = 0; c < d; c++) m.data[i * d + c]! *= scale;
  }
  return m;
}

describe('k-d tree search equals brute force exactly', () => {
  it.each(metrics.map((m) => [label(m), m] as const))('%s on random data: n 1..5000, d 1..16, k 1..n', (name, metric) => {
    const random = mulberry32(testSeed(`kdtree ${name}`));
    const cases: [number, number, number, number][] = [
      // n, d, k, queries
      [1, 1, 1, 3],
      [1, 5, 1, 3],
      [2, 1, 2, 6],
      [17, 1, 17, 9],
      [40, 2, 3, 12],
      [100, 3, 100, 9],
      [257, 4, 7, 30],
      [600, 7, 5, 60],
      [1000, 16, 10, 30],
      [2000, 5, 1, 60],
      [5000, 7, 5, 60],
      [5000, 3, 5000, 3],
      [3000, 16, 64, 12],
    ];
    for (const [n, d, k, m] of cases) {
      const train = randomMatrix(n, d, random);
      expectSameAsBrute(train, mixedQueries(m, d, random), k, metric, 'random');
    }
  });

  it.each(metrics.map((m) => [label(m), m] as const))('%s on grid data with heavy ties and duplicate rows', (name, metric) => {
    const random = mulberry32(testSeed(`kdtree ties ${name}`));
    for (const [n, d, values, k] of [
      [120, 3, 3, 40],
      [2000, 2, 4, 50],
      [3000, 4, 3, 7],
      [1500, 7, 2, 20],
      [800, 1, 5, 800],
    ] as const) {
      const train = gridMatrix(n, d, random, values);
      // queries on and between the grid points, and far off it
      const queries = gridMatrix(20, d, random, values + 2);
      for (let i = 0; i < 5; i++) queries.data[i] = queries.data[i]! - 0.5;
      for (const leafSize of [1, 16, n + 1]) expectSameAsBrute(train, queries, k, metric, `grid leaf ${leafSize}`, buildKdTree(train, { leafSize }));
    }
  });

  it.each(metrics.map((m) => [label(m), m] as const))('%s with many copies of a few rows', (name, metric) => {
    const random = mulberry32(testSeed(`kdtree duplicates ${name}`));
    const distinct = randomMatrix(5, 4, random);
    const train = distinct.take(Array.from({ length: 1000 }, () => Math.floor(random() * 5)));
    const queries = Matrix.fromRows([...distinct.toArrays(), ...mixedQueries(10, 4, random).toArrays()]);
    for (const k of [1, 3, 199, 200, 201, 1000]) expectSameAsBrute(train, queries, k, metric, 'duplicates');
  });

  it.each(metrics.map((m) => [label(m), m] as const))('%s with leaf size 1, leaf size > n, and the cycling split', (name, metric) => {
    const random = mulberry32(testSeed(`kdtree leaf sizes ${name}`));
    for (const [n, d, k] of [
      [1, 3, 1],
      [2, 2, 1],
      [3, 2, 3],
      [333, 5, 9],
      [1000, 9, 4],
    ] as const) {
      const train = randomMatrix(n, d, random);
      const queries = mixedQueries(15, d, random);
      for (const options of [{ leafSize: 1 }, { leafSize: 2 }, { leafSize: n }, { leafSize: n + 7 }, { split: 'cycle' as const }]) {
        expectSameAsBrute(train, queries, k, metric, `options ${JSON.stringify(options)}`, buildKdTree(train, options));
      }
    }
  });

  it('tie example: duplicate rows come back in index order, by either engine', () => {
    const train = Matrix.fromRows([[5, 5], [1, 1], [1, 1], [0, 0], [1, 1]]);
    const tree = buildKdTree(train, { leafSize: 1 });
    const got = search(tree, train, Matrix.fromRows([[1, 1]]), 4, { name: 'euclidean' }, true);
    expect(Array.from(got.indices)).toEqual([1, 2, 4, 3]);
    expect(Array.from(got.distances)).toEqual([0, 0, 0, Math.SQRT2]);
  });

  it('matches the independent reference too', () => {
    const random = mulberry32(testSeed('kdtree reference'));
    const train = gridMatrix(300, 3, random);
    const queries = mixedQueries(20, 3, random);
    for (const metric of metrics) {
      const got = search(buildKdTree(train, { leafSize: 4 }), train, queries, 25, metric, true);
      const want = referenceKnn(train, queries, 25, metric);
      for (let q = 0; q < queries.rows; q++) {
        expect(Array.from(got.indices.subarray(q * 25, q * 25 + 25)), `${label(metric)} query ${q}`).toEqual(want.indices[q]);
        Array.from(got.distances.subarray(q * 25, q * 25 + 25)).forEach((d, j) => expect(d).toBeCloseTo(want.distances[q]![j]!, 12));
      }
    }
  });

  it('searches a query sub-range, writing only its slots', () => {
    const random = mulberry32(testSeed('kdtree range'));
    const train = randomMatrix(500, 6, random);
    const queries = randomMatrix(40, 6, random);
    const tree = buildKdTree(train);
    const k = 6;
    const all = search(tree, train, queries, k, { name: 'euclidean' }, false);
    const indices = new Int32Array(40 * k).fill(-1);
    const distances = new Float64Array(40 * k).fill(-1);
    kdSearchRange(tree, train, queries, k, { name: 'euclidean' }, 10, 25, indices, distances);
    for (let i = 0; i < 40 * k; i++) {
      const inside = i >= 10 * k && i < 25 * k;
      expect(indices[i]).toBe(inside ? all.indices[i] : -1);
      expect(distances[i]).toBe(inside ? all.distances[i] : -1);
    }
  });
});

describe('k-d tree structure and sharing', () => {
  it('holds every row once, in leaf order, inside its nodes boxes', () => {
    const random = mulberry32(testSeed('kdtree structure'));
    const train = gridMatrix(1000, 3, random, 7);
    for (const leafSize of [1, 5, 16, 2000]) {
      const tree = buildKdTree(train, { leafSize });
      const { n, d, nodes, bounds, order, points } = tree;
      expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      for (let i = 0; i < n; i++) expect(Array.from(points.subarray(i * d, i * d + d))).toEqual(Array.from(train.row(order[i]!)));
      let leafPoints = 0;
      for (let node = 0; node < tree.nodeCount; node++) {
        const [start, end, right] = [nodes[3 * node]!, nodes[3 * node + 1]!, nodes[3 * node + 2]!];
        if (right === 0) {
          expect(end - start).toBeLessThanOrEqual(leafSize);
          leafPoints += end - start;
        } else {
          expect(nodes[3 * (node + 1)]).toBe(start);
          expect(nodes[3 * (node + 1) + 1]).toBe(nodes[3 * right]);
          expect(nodes[3 * right + 1]).toBe(end);
        }
        for (let i = start; i < end; i++)
          for (let c = 0; c < d; c++) {
            expect(points[i * d + c]).toBeGreaterThanOrEqual(bounds[2 * d * node + c]!);
            expect(points[i * d + c]).toBeLessThanOrEqual(bounds[2 * d * node + d + c]!);
          }
      }
      expect(leafPoints).toBe(n);
    }
  });

  it('rebuilds around copies of its buffers on SharedArrayBuffers', () => {
    const random = mulberry32(testSeed('kdtree buffers'));
    const train = randomMatrix(2000, 7, random);
    const queries = randomMatrix(50, 7, random);
    const tree = buildKdTree(train);
    const shared: Record<string, Int32Array | Float64Array> = {};
    for (const [name, array] of Object.entries(kdTreeBuffers(tree))) {
      const copy = array instanceof Int32Array ? new Int32Array(new SharedArrayBuffer(array.byteLength)) : new Float64Array(new SharedArrayBuffer(array.byteLength));
      copy.set(array);
      shared[name] = copy;
    }
    const { n, d, leafSize, nodeCount, depth } = tree;
    const rebuilt = kdTreeFromBuffers(shared, { n, d, leafSize, nodeCount, depth });
    expectSameAsBrute(train, queries, 5, { name: 'euclidean' }, 'shared buffers', rebuilt);
    expect(() => kdTreeFromBuffers({ ...shared, order: new Int32Array(3) }, tree)).toThrow(/order has 3 values/);
    expect(() => kdTreeFromBuffers({ ...shared, points: new Int32Array(n * d) }, tree)).toThrow(/points is missing or not a Float64Array/);
  });

  it('allocates its arrays through options.alloc (e.g. shared memory)', () => {
    const random = mulberry32(testSeed('kdtree alloc'));
    const train = randomMatrix(1500, 5, random);
    const queries = randomMatrix(40, 5, random);
    const tree = buildKdTree(train, {
      alloc: (type, length) => new type(new SharedArrayBuffer(length * type.BYTES_PER_ELEMENT)),
    });
    for (const array of Object.values(kdTreeBuffers(tree))) expect(array.buffer).toBeInstanceOf(SharedArrayBuffer);
    const plain = buildKdTree(train);
    for (const [name, array] of Object.entries(kdTreeBuffers(plain))) expect(Array.from(kdTreeBuffers(tree)[name]!), name).toEqual(Array.from(array));
    expectSameAsBrute(train, queries, 7, { name: 'manhattan' }, 'shared alloc', tree);
  });

  it('rejects cosine, a wrong k, and a mismatched matrix', () => {
    const train = Matrix.fromRows([[0, 0], [1, 1], [2, 2]]);
    const tree = buildKdTree(train);
    const q = Matrix.fromRows([[0, 1]]);
    const run = (k: number, metric: Metric, t = train, qs = q) => () => kdSearchRange(tree, t, qs, k, metric, 0, qs.rows, new Int32Array(qs.rows * Math.max(k, 0)), new Float64Array(qs.rows * Math.max(k, 0)));
    expect(run(1, { name: 'cosine' })).toThrow(/does not support the cosine metric/);
    expect(run(0, { name: 'euclidean' })).toThrow(/k = 0/);
    expect(run(4, { name: 'euclidean' })).toThrow(/k = 4/);
    expect(run(1, { name: 'minkowski', p: 0.5 })).toThrow(/p >= 1/);
    expect(run(1, { name: 'euclidean' }, Matrix.fromRows([[0, 0], [1, 1]]))).toThrow(/built on 3 x 2/);
    expect(run(1, { name: 'euclidean' }, train, Matrix.fromRows([[0, 1, 2]]))).toThrow(/queries have 3/);
    expect(() => buildKdTree(train, { leafSize: 0 })).toThrow(/leaf size/);
  });
});
