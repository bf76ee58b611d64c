import type { Matrix } from '../../matrix.js';
import type { Metric } from '../engine.js';
import { keyToDistance, metricSpec } from '../metrics.js';
import { L1, LINF, LP, metricKind, SQ } from './brute.js';

/**
 * Exact k-d tree search in float64, returning exactly what `bruteSearchRange` returns: the same
 * neighbours in the same order (equal distances by lower training index) and bit-identical
 * distances.
 *
 * Why the results are identical, not just close:
 * - a point's ranking key is computed with the arithmetic of brute.ts (sum over c = 0..d-1 of
 *   (q - t)^2, |q - t|, |q - t|^p, or the max of |q - t|), so two points tie here exactly when
 *   they tie there; the distance comes from the same `keyToDistance`;
 * - the running top-k is ordered by (key, training index), and a candidate equal to the k-th key
 *   enters when its index is lower, so the visiting order of the tree does not matter;
 * - a node's lower bound is the same sum over its bounding box gaps (lo - q or q - hi, else 0),
 *   which is, term by term, at most the computed |q - t| of any point in the box (rounding is
 *   monotone), and IEEE addition, multiplication and max are monotone, so the bound never exceeds
 *   the computed key of a point inside. A node is pruned only when its bound is strictly greater
 *   than the k-th key, so a point at exactly the k-th key with a lower index is never lost. For
 *   minkowski, `**` is not guaranteed monotone to the last bit, so that bound is shrunk by a
 *   relative 1e-12 (and a few subnormals) before comparing.
 *
 * The tree is flat typed arrays only (no per-node objects), so it can be handed to worker
 * threads as views on SharedArrayBuffers: see `kdTreeBuffers` / `kdTreeFromBuffers`.
 */
export interface KdTree {
  /** training rows */
  readonly n: number;
  /** features per row */
  readonly d: number;
  /** the most points a leaf holds */
  readonly leafSize: number;
  readonly nodeCount: number;
  /** the deepest node's depth (root 0): the search stack needs depth + 1 entries */
  readonly depth: number;
  /**
   * 3 ints per node, nodes in depth-first pre-order: start and end (exclusive) of its points in
   * leaf order, and its right child (0 for a leaf; an inner node's left child is node + 1).
   */
  readonly nodes: Int32Array;
  /** 2d values per node: the d minima, then the d maxima of its points (a tight bounding box) */
  readonly bounds: Float64Array;
  /** the original training index of each point, in leaf order */
  readonly order: Int32Array;
  /** the training rows in leaf order (row-major n x d): a leaf's points are contiguous */
  readonly points: Float64Array;
}

/** What `kdTreeFromBuffers` needs besides the arrays (a KdTree itself is one). */
export interface KdTreeMeta {
  readonly n: number;
  readonly d: number;
  readonly leafSize: number;
  readonly nodeCount: number;
  readonly depth: number;
}

export interface KdTreeOptions {
  /** the most points per leaf (default DEFAULT_LEAF_SIZE); a node with more is split */
  leafSize?: number;
  /**
   * split dimension: the one of largest spread in the node's box (default), or depth mod d.
   * Measured: the same on uniform data, cycling 35-40% slower on clustered log-scaled data.
   */
  split?: 'spread' | 'cycle';
  /**
   * Allocates each array the tree keeps (nodes, bounds, order, points), zero-filled, e.g. on a
   * SharedArrayBuffer so worker threads can read the tree without a copy. Default: plain arrays.
   */
  alloc?: KdArrayAlloc;
}

export type KdArrayAlloc = <T extends Int32Array | Float64Array>(type: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number) => T;

/**
 * Chosen by measurement (bench/kdtree-probe.ts, euclidean, d = 7, k = 5, 131072 rows, 16384
 * queries, one thread): leaves of 32 were fastest or within noise of it on both uniform and
 * clustered data (16: +0-10%, 64: +10-15%, 8: +10-25%, 128: +30-40%). A node splits while it holds
 * more than this, so leaves hold between leafSize / 2 and leafSize points.
 */
export const DEFAULT_LEAF_SIZE = 32;

export function buildKdTree(train: Matrix, options: KdTreeOptions = {}): KdTree {
  const leafSize = options.leafSize ?? DEFAULT_LEAF_SIZE;
  if (!Number.isInteger(leafSize) || leafSize < 1) throw new Error(`k-d tree leaf size must be a whole number >= 1, got ${leafSize}`);
  const cycle = options.split === 'cycle';
  const n = train.rows;
  const d = train.cols;
  const data = train.data;

  let nodeCount = 0;
  let depth = 0;
  const countNodes = (m: number, level: number): void => {
    nodeCount++;
    if (level > depth) depth = level;
    if (m <= leafSize) return;
    const half = m >> 1;
    countNodes(half, level + 1);
    countNodes(m - half, level + 1);
  };
  countNodes(n, 0);

  const alloc = options.alloc;
  const nodes = alloc ? alloc(Int32Array, 3 * nodeCount) : new Int32Array(3 * nodeCount);
  const bounds = alloc ? alloc(Float64Array, 2 * d * nodeCount) : new Float64Array(2 * d * nodeCount);
  const order = alloc ? alloc(Int32Array, n) : new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // The rows themselves move with `order` as nodes are split, so every node's scans (its box,
  // its split values) read its rows in sequence rather than through the permutation: at 10^6
  // rows the permuted reads were cache misses at every level. At the end they are in leaf order.
  const points = alloc ? alloc(Float64Array, n * d) : new Float64Array(n * d);
  points.set(data.subarray(0, n * d));
  const vals = new Float64Array(n);

  let next = 0;
  const build = (start: number, end: number, level: number): number => {
    const node = next++;
    nodes[3 * node] = start;
    nodes[3 * node + 1] = end;
    nodes[3 * node + 2] = 0;
    const bo = 2 * d * node;
    for (let c = 0; c < d; c++) {
      bounds[bo + c] = Infinity;
      bounds[bo + d + c] = -Infinity;
    }
    for (let i = start; i < end; i++) {
      const ro = i * d;
      for (let c = 0; c < d; c++) {
        const v = points[ro + c]!;
        if (v < bounds[bo + c]!) bounds[bo + c] = v;
        if (v > bounds[bo + d + c]!) bounds[bo + d + c] = v;
      }
    }
    if (end - start <= leafSize) return node;

    let dim = 0;
    if (cycle) dim = level % d;
    else {
      let spread = -1;
      for (let c = 0; c < d; c++) {
        const s = bounds[bo + d + c]! - bounds[bo + c]!;
        if (s > spread) {
          spread = s;
          dim = c;
        }
      }
    }
    for (let i = start; i < end; i++) vals[i] = points[i * d + dim]!;
    const mid = start + ((end - start) >> 1);
    select(order, vals, points, d, start, end - 1, mid);
    build(start, mid, level + 1);
    nodes[3 * node + 2] = build(mid, end, level + 1);
    return node;
  };
  build(0, n, 0);
  return { n, d, leafSize, nodeCount, depth, nodes, bounds, order, points };
}

/**
 * Reorders order[lo..hi] (and vals and the d-wide rows of points alongside) so that position
 * kth holds the element that would be there if sorted by vals, smaller-or-equal ones before it
 * and greater-or-equal ones after.
 * Hoare partitioning around a median-of-three value: many equal values split evenly.
 */
function select(order: Int32Array, vals: Float64Array, points: Float64Array, d: number, lo: number, hi: number, kth: number): void {
  while (hi > lo) {
    const a = vals[lo]!;
    const b = vals[(lo + hi) >> 1]!;
    const c = vals[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (vals[i]! < pivot) i++;
      while (vals[j]! > pivot) j--;
      if (i <= j) {
        const tv = vals[i]!;
        vals[i] = vals[j]!;
        vals[j] = tv;
        const to = order[i]!;
        order[i] = order[j]!;
        order[j] = to;
        const pi = i * d;
        const pj = j * d;
        for (let c = 0; c < d; c++) {
          const tp = points[pi + c]!;
          points[pi + c] = points[pj + c]!;
          points[pj + c] = tp;
        }
        i++;
        j--;
      }
    }
    if (kth <= j) hi = j;
    else if (kth >= i) lo = i;
    else return;
  }
}

/** Every typed array of the tree, by name (to copy into SharedArrayBuffers and send). */
export function kdTreeBuffers(tree: KdTree): Record<string, Int32Array | Float64Array> {
  return { nodes: tree.nodes, bounds: tree.bounds, order: tree.order, points: tree.points };
}

/** The tree around the given arrays (e.g. views on SharedArrayBuffers from `kdTreeBuffers`). */
export function kdTreeFromBuffers(buffers: Record<string, Int32Array | Float64Array>, meta: KdTreeMeta): KdTree {
  const { n, d, leafSize, nodeCount, depth } = meta;
  const get = <T extends Int32Array | Float64Array>(name: string, type: new (n: number) => T, length: number): T => {
    const b = buffers[name];
    if (!(b instanceof type)) throw new Error(`k-d tree buffer ${name} is missing or not a ${type.name}`);
    if (b.length !== length) throw new Error(`k-d tree buffer ${name} has ${b.length} values, expected ${length}`);
    return b as T;
  };
  return {
    n,
    d,
    leafSize,
    nodeCount,
    depth,
    nodes: get('nodes', Int32Array, 3 * nodeCount),
    bounds: get('bounds', Float64Array, 2 * d * nodeCount),
    order: get('order', Int32Array, n),
    points: get('points', Float64Array, n * d),
  };
}

/**
 * The k nearest training rows of queries qStart..qEnd-1, written like `bruteSearchRange` writes
 * them: query q's j-th neighbour at outIndices[q * k + j], distance at outDistances[q * k + j].
 * `train` must be the matrix the tree was built from (only its shape is read: the tree holds its
 * own copy of the rows). Cosine is not supported (no box bound): use brute force.
 */
export function kdSearchRange(
  tree: KdTree,
  train: Matrix,
  queries: Matrix,
  k: number,
  metric: Metric,
  qStart: number,
  qEnd: number,
  outIndices: Int32Array,
  outDistances: Float64Array,
): void {
  const kind = metricKind(metric);
  if (!metricSpec(metric).boxBound) throw new Error(`k-d tree search does not support the ${metric.name} metric`);
  const p = metric.p ?? 2;
  if (kind === LP && !(p >= 1)) throw new Error(`minkowski needs p >= 1, got ${metric.p}`);
  if (train.rows !== tree.n || train.cols !== tree.d) throw new Error(`k-d tree was built on ${tree.n} x ${tree.d} rows, not ${train.rows} x ${train.cols}`);
  if (queries.cols !== tree.d) throw new Error(`k-d tree has ${tree.d} features, queries have ${queries.cols}`);
  if (!Number.isInteger(k) || k < 1 || k > tree.n) throw new Error(`k = ${k} must be a whole number in 1..${tree.n}`);
  if (qStart < 0 || qEnd > queries.rows || qStart > qEnd) throw new Error(`query range ${qStart}..${qEnd} is outside 0..${queries.rows}`);

  const keys = new Float64Array(k);
  const idx = new Int32Array(k);
  const stackNode = new Int32Array(tree.depth + 2);
  const stackBound = new Float64Array(tree.depth + 2);
  const q = new Float64Array(tree.d);
  const qd = queries.data;
  const d = tree.d;
  for (let r = qStart; r < qEnd; r++) {
    for (let c = 0; c < d; c++) q[c] = qd[r * d + c]!;
    search(tree, q, k, kind, p, keys, idx, stackNode, stackBound);
    const o = r * k;
    for (let j = 0; j < k; j++) {
      outIndices[o + j] = idx[j]!;
      outDistances[o + j] = keyToDistance(keys[j]!, metric);
    }
  }
}

/**
 * One query: depth first, the nearer child first, the farther one pushed with its bound; a node
 * whose bound is above the k-th key is skipped. Leaves keys/idx sorted by (key, index). The
 * metric is dispatched once per box and once per leaf, so the per-point loops stay specialised
 * (a metric switch per point cost about 20% on squared euclidean).
 */
function search(tree: KdTree, q: Float64Array, k: number, kind: number, p: number, keys: Float64Array, idx: Int32Array, stackNode: Int32Array, stackBound: Float64Array): void {
  const { d, nodes, bounds, points, order } = tree;
  const d2 = 2 * d;
  let count = 0;
  let worst = Infinity;
  let sp = 0;
  let node = 0;
  let bound = 0;
  for (;;) {
    if (bound <= worst) {
      let right = nodes[3 * node + 2]!;
      while (right !== 0) {
        const left = node + 1;
        const bl = boxBound(kind, p, q, bounds, d2 * left, d);
        const br = boxBound(kind, p, q, bounds, d2 * right, d);
        if (bl <= br) {
          if (br <= worst) {
            stackNode[sp] = right;
            stackBound[sp++] = br;
          }
          node = left;
          bound = bl;
        } else {
          if (bl <= worst) {
            stackNode[sp] = left;
            stackBound[sp++] = bl;
          }
          node = right;
          bound = br;
        }
        if (bound > worst) break;
        right = nodes[3 * node + 2]!;
      }
      if (right === 0 && bound <= worst) {
        const start = nodes[3 * node]!;
        const end = nodes[3 * node + 1]!;
        if (kind === SQ) count = scanSq(q, points, order, start, end, d, k, keys, idx, count);
        else if (kind === L1) count = scanL1(q, points, order, start, end, d, k, keys, idx, count);
        else count = scanOther(kind, p, q, points, order, start, end, d, k, keys, idx, count);
        if (count === k) worst = keys[k - 1]!;
      }
    }
    if (sp === 0) return;
    sp--;
    node = stackNode[sp]!;
    bound = stackBound[sp]!;
  }
}

/**
 * The least key any point in the box at bounds[bo..] can have: the gaps (lo - x or x - hi, else
 * 0) combined as the metric combines differences. For minkowski, `**` may be a last-bit
 * non-monotone, so that bound is shrunk a little (see the top of this file).
 */
function boxBound(kind: number, p: number, q: Float64Array, bounds: Float64Array, bo: number, d: number): number {
  let b = 0;
  for (let c = 0; c < d; c++) {
    const x = q[c]!;
    const lo = bounds[bo + c]!;
    let g = 0;
    if (x < lo) g = lo - x;
    else {
      const hi = bounds[bo + d + c]!;
      if (x > hi) g = x - hi;
    }
    if (kind === SQ) b += g * g;
    else if (kind === L1) b += g;
    else if (kind === LINF) {
      if (g > b) b = g;
    } else b += g ** p;
  }
  return kind === LP ? b * (1 - 1e-12) - 4 * d * Number.MIN_VALUE : b;
}

/**
 * Puts the point (key, training index oi) into the running top-k, kept sorted by (key, index),
 * unless it is not before the k-th entry. Returns the new count of kept entries.
 */
function insertTopK(keys: Float64Array, idx: Int32Array, count: number, k: number, key: number, oi: number): number {
  if (count === k) {
    const worst = keys[k - 1]!;
    if (key > worst || (key === worst && oi > idx[k - 1]!)) return count;
  }
  let pos = count < k ? count++ : k - 1;
  while (pos > 0) {
    const pk = keys[pos - 1]!;
    if (pk < key || (pk === key && idx[pos - 1]! < oi)) break;
    keys[pos] = pk;
    idx[pos] = idx[pos - 1]!;
    pos--;
  }
  keys[pos] = key;
  idx[pos] = oi;
  return count;
}

/** A leaf's points under squared euclidean; returns the new count. */
function scanSq(q: Float64Array, pts: Float64Array, order: Int32Array, start: number, end: number, d: number, k: number, keys: Float64Array, idx: Int32Array, count: number): number {
  let worst = count === k ? keys[k - 1]! : Infinity;
  for (let i = start; i < end; i++) {
    const po = i * d;
    let key = 0;
    for (let c = 0; c < d; c++) {
      const diff = q[c]! - pts[po + c]!;
      key += diff * diff;
    }
    if (key > worst) continue;
    count = insertTopK(keys, idx, count, k, key, order[i]!);
    if (count === k) worst = keys[k - 1]!;
  }
  return count;
}

/** A leaf's points under manhattan; returns the new count. */
function scanL1(q: Float64Array, pts: Float64Array, order: Int32Array, start: number, end: number, d: number, k: number, keys: Float64Array, idx: Int32Array, count: number): number {
  let worst = count === k ? keys[k - 1]! : Infinity;
  for (let i = start; i < end; i++) {
    const po = i * d;
    let key = 0;
    for (let c = 0; c < d; c++) key += Math.abs(q[c]! - pts[po + c]!);
    if (key > worst) continue;
    count = insertTopK(keys, idx, count, k, key, order[i]!);
    if (count === k) worst = keys[k - 1]!;
  }
  return count;
}

/** A leaf's points under chebyshev or minkowski; returns the new count. */
function scanOther(kind: number, p: number, q: Float64Array, pts: Float64Array, order: Int32Array, start: number, end: number, d: number, k: number, keys: Float64Array, idx: Int32Array, count: number): number {
  let worst = count === k ? keys[k - 1]! : Infinity;
  for (let i = start; i < end; i++) {
    const po = i * d;
    let key = 0;
    if (kind === LINF) {
      for (let c = 0; c < d; c++) {
        const a = Math.abs(q[c]! - pts[po + c]!);
        if (a > key) key = a;
      }
    } else {
      for (let c = 0; c < d; c++) key += Math.abs(q[c]! - pts[po + c]!) ** p;
    }
    if (key > worst) continue;
    count = insertTopK(keys, idx, count, k, key, order[i]!);
    if (count === k) worst = keys[k - 1]!;
  }
  return count;
}
