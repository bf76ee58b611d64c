import type { KnnEngine, Metric, Neighbours } from '../engines/engine.js';
import { COSINE, L1, LINF, LP, metricKind, SQ } from '../engines/cpu/brute.js';
import { CpuEngine } from '../engines/cpu/cpu-engine.js';
import { keyToDistance, metricSpec } from '../engines/metrics.js';
import { usageError } from '../errors.js';
import { affineBase, fitScaler, transform, type ScalerName } from '../features/scalers.js';
import { Matrix } from '../matrix.js';

/**
 * Leave-one-out neighbours in linear time.
 *
 * Leave-one-out fits the scaler on the n - 1 other rows of each fold, so done as written it
 * refits and searches n times: n^2 work, minutes at 10^4 rows and days at 10^6. This module
 * gives every row's k nearest among the other rows, in the space of ITS fold's scaler, from one
 * search over all rows, for the scalers and metrics where that can be done exactly:
 *
 *  - Stateless scalers (none, row-l2) transform a row alone, so each fold's space is the whole
 *    set's: one search with k + 1 that skips each row itself (as the novelty calibration does).
 *  - Offset-and-scale scalers (zscore, log-zscore, minmax) under a coordinate metric (all but
 *    cosine): the offset cancels in a difference, so the gap between two rows in fold i's space
 *    is their gap in the whole set's space times s_c / s_ic per feature c (s: the whole set's
 *    scale, s_i: fold i's). With r_i the smallest of those ratios, no row can be nearer in fold
 *    space than r_i^degree times its distance in the whole set's space. Each row is searched in
 *    the whole set's space with some spare neighbours; the candidates are measured again in
 *    fold i's space and ranked by (distance, index), as an engine ranks them; and the first k
 *    are fold i's k nearest when the k-th is nearer than the bound of every row not listed
 *    (r_i^degree times the last listed distance). Rows that fail are searched again with four
 *    times the neighbours, and a row that still fails is measured against every row in its
 *    fold's space.
 *    A fold's offsets and scales come from running sums with the row taken out (mean and
 *    population sd; the two smallest and two largest values per feature for minmax). They
 *    differ from a refit over the n - 1 rows only by rounding; where taking a row out cancels
 *    most of a feature's variance the refit is done exactly. (So under zscore and log-zscore,
 *    distinct rows at exactly the same true distance, which the refit itself orders by the
 *    rounding of its scaled values, can come in the other order; minmax's fold figures are the
 *    refit's own numbers.)
 *
 * Quantile scaling (not offset-and-scale) and cosine with a fitted scaler (the offset does not
 * cancel in an angle) have no such bound: their leave-one-out runs fold by fold (see
 * looShortcut), on the given engine.
 *
 * The one search runs in float64 on the CPU engine whatever engine is given: the bound compares
 * distances to within 1e-9, and a float32 engine (or auto, which hands big searches to a GPU)
 * can rank an unlisted row above a listed one by more than that.
 *
 * Neighbour indices are rows of the whole set (a fold's training row j is row j, or j + 1 from
 * row i on), distances are in fold space, float64.
 */

export type LooShortcut = 'stateless' | 'affine';

/** How leave-one-out of this scaler and metric is done in one search, or null: fold by fold. */
export function looShortcut(scaler: ScalerName, metric: Metric): LooShortcut | null {
  switch (scaler) {
    case 'none':
    case 'row-l2':
      return 'stateless';
    case 'zscore':
    case 'log-zscore':
    case 'minmax':
      return metricSpec(metric).family === 'angle' ? null : 'affine';
    case 'quantile':
      return null;
  }
}

/** Leave-one-out's fold i: every row but i (ascending), and row i. */
export function looFold(n: number, i: number): { readonly train: Int32Array; readonly test: Int32Array } {
  const train = new Int32Array(n - 1);
  for (let j = 0; j < n - 1; j++) train[j] = j < i ? j : j + 1;
  return { train, test: Int32Array.of(i) };
}

/** Query rows per search at 2k + 8 candidates: bounds the neighbour lists held at once (fewer rows a search with more candidates). */
const CHUNK_ROWS = 16_384;
/** Beyond this many candidates a row is measured against every row instead. */
const MAX_CANDIDATES = 4096;
/** Where taking one row out leaves less than this share of a feature's sum of squares, its scale is refitted exactly. */
const CANCELLATION = 1e-3;

export interface LooOptions {
  /** Rows done so far, of `total`. */
  readonly onRows?: (done: number, total: number) => void;
  /** Most candidates a row is searched with before it is measured against every row (default 4096). */
  readonly maxCandidates?: number;
}

/** Counts of how the rows were settled, for tests and benchmarks. */
export interface LooStats {
  /** The shortcut taken, or null: the folds were run one by one. */
  readonly shortcut: LooShortcut | null;
  /** Engine searches run. */
  readonly searches: number;
  /** Candidate list lengths tried, in order. */
  readonly rounds: { readonly candidates: number; readonly rows: number }[];
  /** Rows measured against every other row. */
  readonly exhaustive: number;
}

/**
 * Each row's k nearest other rows in its leave-one-out fold's scaled space (see the module
 * comment): from one search where the scaler and metric have a shortcut, else fold by fold.
 */
export async function leaveOneOutNeighbours(
  raw: Matrix,
  scaler: ScalerName,
  metric: Metric,
  k: number,
  engine: KnnEngine,
  options: LooOptions = {},
): Promise<Neighbours & { readonly stats: LooStats }> {
  const n = raw.rows;
  if (n < 2) throw usageError('leave-one-out needs at least 2 labelled rows');
  if (!Number.isInteger(k) || k < 1) throw usageError(`k must be a whole number >= 1, got ${k}`);
  if (k > n - 1) throw usageError(`k = ${k} is more than the ${n - 1} training rows of a leave-one-out fold`, `use k <= ${n - 1}`);
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  const out = { queries: n, k, indices, distances };
  const shortcut = looShortcut(scaler, metric);
  if (!shortcut) {
    await foldByFold(raw, scaler, metric, k, engine, out, options);
    return { ...out, stats: { shortcut, searches: n, rounds: [], exhaustive: 0 } };
  }
  const cpu = engine instanceof CpuEngine ? engine : new CpuEngine();
  let searches = 0;
  const exact: KnnEngine = {
    name: cpu.name,
    capabilities: cpu.capabilities,
    search: (train, queries, kk, m) => {
      searches++;
      return cpu.search(train, queries, kk, m);
    },
    dispose: async () => undefined,
  };
  try {
    const settled = shortcut === 'stateless' ? await stateless(transform(fitScaler(scaler, raw), raw), metric, k, exact, out, options) : await affine(raw, scaler as AffineScaler, metric, k, exact, out, options);
    return { ...out, stats: { shortcut, searches, ...settled } };
  } finally {
    if (cpu !== engine) await cpu.dispose();
  }
}

/**
 * Leave-one-out as written, where there is no shortcut (quantile scaling, cosine after a fitted
 * scaler): fold i (built when it runs: all n folds at once are n^2 indices) refits the scaler on
 * every row but i and searches row i on the given engine.
 */
async function foldByFold(raw: Matrix, scaler: ScalerName, metric: Metric, k: number, engine: KnnEngine, out: Out, options: LooOptions): Promise<void> {
  const n = raw.rows;
  for (let i = 0; i < n; i++) {
    const fold = looFold(n, i);
    const train = raw.take(fold.train);
    const params = fitScaler(scaler, train);
    const nb = await engine.search(transform(params, train), transform(params, raw.take(fold.test)), k, metric);
    for (let j = 0; j < k; j++) {
      const t = nb.indices[j]!;
      out.indices[i * k + j] = t < i ? t : t + 1;
      out.distances[i * k + j] = nb.distances[j]!;
    }
    options.onRows?.(i + 1, n);
  }
}

type Settled = Pick<LooStats, 'rounds' | 'exhaustive'>;

interface Out {
  readonly indices: Int32Array;
  readonly distances: Float64Array;
}

function chunkOf(space: Matrix, from: number, to: number): Matrix {
  return new Matrix(space.data.subarray(from * space.cols, to * space.cols), to - from, space.cols);
}

async function stateless(space: Matrix, metric: Metric, k: number, engine: KnnEngine, out: Out, options: LooOptions): Promise<Settled> {
  const n = space.rows;
  const K = k + 1;
  for (let from = 0; from < n; from += CHUNK_ROWS) {
    const to = Math.min(n, from + CHUNK_ROWS);
    const nb = await engine.search(space, chunkOf(space, from, to), K, metric);
    for (let q = 0; q < to - from; q++) {
      const self = from + q;
      let taken = 0;
      // Skip the row itself; when k + 1 exact duplicates of lower index push it off the list,
      // the first k are the fold's k nearest anyway (all at distance 0, lower indices first).
      for (let j = 0; j < K && taken < k; j++) {
        const idx = nb.indices[q * K + j]!;
        if (idx === self) continue;
        out.indices[self * k + taken] = idx;
        out.distances[self * k + taken] = nb.distances[q * K + j]!;
        taken++;
      }
    }
    options.onRows?.(to, n);
  }
  return { rounds: [{ candidates: K, rows: n }], exhaustive: 0 };
}

type AffineScaler = 'zscore' | 'log-zscore' | 'minmax';

/**
 * Fold i's offsets and scales from the whole set's running figures. zscore/log-zscore: mean and
 * population sd of the n - 1 other rows (a zero sd keeps scale 1, as the scaler does); minmax:
 * the smallest and largest of the other rows (a zero range keeps scale 1).
 */
class FoldScales {
  private readonly n: number;
  private readonly d: number;
  private readonly sum?: Float64Array;
  private readonly mean?: Float64Array;
  private readonly squares?: Float64Array;
  private readonly lo?: { first: Float64Array; at: Int32Array; second: Float64Array };
  private readonly hi?: { first: Float64Array; at: Int32Array; second: Float64Array };

  constructor(
    private readonly base: Matrix,
    private readonly scaler: AffineScaler,
  ) {
    const { rows: n, cols: d, data } = base;
    this.n = n;
    this.d = d;
    if (scaler === 'minmax') {
      const lo = { first: new Float64Array(d).fill(Infinity), at: new Int32Array(d).fill(-1), second: new Float64Array(d).fill(Infinity) };
      const hi = { first: new Float64Array(d).fill(-Infinity), at: new Int32Array(d).fill(-1), second: new Float64Array(d).fill(-Infinity) };
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < d; c++) {
          const v = data[i * d + c]!;
          if (v < lo.first[c]!) {
            lo.second[c] = lo.first[c]!;
            lo.first[c] = v;
            lo.at[c] = i;
          } else if (v < lo.second[c]!) lo.second[c] = v;
          if (v > hi.first[c]!) {
            hi.second[c] = hi.first[c]!;
            hi.first[c] = v;
            hi.at[c] = i;
          } else if (v > hi.second[c]!) hi.second[c] = v;
        }
      }
      this.lo = lo;
      this.hi = hi;
    } else {
      const sum = new Float64Array(d);
      const squares = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) sum[c]! += data[i * d + c]!;
      const mean = sum.map((s) => s / n);
      for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) squares[c]! += (data[i * d + c]! - mean[c]!) ** 2;
      this.sum = sum;
      this.mean = mean;
      this.squares = squares;
    }
  }

  /** Fold i's offsets and scales into the given arrays. `exact`: refit over the other rows. */
  fold(i: number, offset: Float64Array, scale: Float64Array, exact = false): void {
    const { n, d } = this;
    const data = this.base.data;
    for (let c = 0; c < d; c++) {
      const v = data[i * d + c]!;
      if (this.scaler === 'minmax') {
        const lo = this.lo!.at[c] === i ? this.lo!.second[c]! : this.lo!.first[c]!;
        const hi = this.hi!.at[c] === i ? this.hi!.second[c]! : this.hi!.first[c]!;
        offset[c] = lo;
        scale[c] = hi > lo ? hi - lo : 1;
        continue;
      }
      const whole = this.squares![c]!;
      const gap = v - this.mean![c]!;
      const rest = whole - (gap * gap * n) / (n - 1);
      if (exact || rest < whole * CANCELLATION) {
        this.refit(i, c, offset, scale);
        continue;
      }
      offset[c] = (this.sum![c]! - v) / (n - 1);
      const sd = Math.sqrt(rest / (n - 1));
      scale[c] = sd > 0 ? sd : 1;
    }
  }

  /** Mean and population sd of feature c over every row but i, as the scaler fits them. */
  private refit(i: number, c: number, offset: Float64Array, scale: Float64Array): void {
    const { n, d } = this;
    const data = this.base.data;
    let sum = 0;
    for (let r = 0; r < n; r++) if (r !== i) sum += data[r * d + c]!;
    const mean = sum / (n - 1);
    let ss = 0;
    for (let r = 0; r < n; r++) if (r !== i) ss += (data[r * d + c]! - mean) ** 2;
    const sd = Math.sqrt(ss / (n - 1));
    offset[c] = mean;
    scale[c] = sd > 0 ? sd : 1;
  }
}

/** A metric's key (see engines/metrics.ts) between the query's fold-space row and row r scaled with the fold's offsets and scales. */
function foldKey(kind: number, p: number, query: Float64Array, base: Float64Array, r: number, offset: Float64Array, scale: Float64Array): number {
  const d = query.length;
  const o = r * d;
  let key = 0;
  for (let c = 0; c < d; c++) {
    const gap = query[c]! - (base[o + c]! - offset[c]!) / scale[c]!;
    switch (kind) {
      case SQ:
        key += gap * gap;
        break;
      case L1:
        key += Math.abs(gap);
        break;
      case LINF: {
        const a = Math.abs(gap);
        if (a > key) key = a;
        break;
      }
      case LP:
        key += Math.abs(gap) ** p;
        break;
      default:
        throw new Error(`foldKey: metric kind ${kind} has no per-coordinate key`);
    }
  }
  return key;
}

/** A running top-k by (key, index), the engines' order. */
class TopK {
  readonly keys: Float64Array;
  readonly idx: Int32Array;
  count = 0;
  constructor(readonly k: number) {
    this.keys = new Float64Array(k);
    this.idx = new Int32Array(k);
  }
  reset(): void {
    this.count = 0;
  }
  offer(key: number, index: number): void {
    const { k, keys, idx } = this;
    if (this.count === k) {
      const worst = keys[k - 1]!;
      if (key > worst || (key === worst && index > idx[k - 1]!)) return;
    }
    let pos = this.count < k ? this.count : k - 1;
    while (pos > 0 && (keys[pos - 1]! > key || (keys[pos - 1] === key && idx[pos - 1]! > index))) {
      keys[pos] = keys[pos - 1]!;
      idx[pos] = idx[pos - 1]!;
      pos--;
    }
    keys[pos] = key;
    idx[pos] = index;
    if (this.count < k) this.count++;
  }
}

async function affine(raw: Matrix, scaler: AffineScaler, metric: Metric, k: number, engine: KnnEngine, out: Out, options: LooOptions): Promise<Settled> {
  const n = raw.rows;
  const d = raw.cols;
  const base = affineBase(scaler, raw);
  const folds = new FoldScales(base, scaler);
  // log-zscore is zscore of the log1p values: fitted and applied to the base, log1p runs once
  const params = fitScaler(scaler === 'log-zscore' ? 'zscore' : scaler, base);
  const space = transform(params, base);
  const whole = params.scale;
  const kind = metricKind(metric);
  if (kind === COSINE) throw new Error('cosine has no leave-one-out bound');
  const p = metric.p ?? 2;
  const degree = metricSpec(metric).degree;
  // A non-candidate is farther than the bound by a margin above the rounding of both searches
  // (float64: the search runs on the CPU engine, see leaveOneOutNeighbours).
  const tolerance = 1e-9;
  const offset = new Float64Array(d);
  const scale = new Float64Array(d);
  const query = new Float64Array(d);
  const top = new TopK(k);
  const rounds: { candidates: number; rows: number }[] = [];
  let done = 0;

  /** Measures row i's candidates in its fold's space; true (and the row written) when they settle it. */
  const settle = (i: number, listed: Int32Array, listedDistances: Float64Array, from: number, K: number, everyRow: boolean): boolean => {
    folds.fold(i, offset, scale);
    let ratio = Infinity;
    for (let c = 0; c < d; c++) {
      query[c] = (base.data[i * d + c]! - offset[c]!) / scale[c]!;
      const r = whole[c]! / scale[c]!;
      if (r < ratio) ratio = r;
    }
    top.reset();
    for (let j = 0; j < K; j++) {
      const r = listed[from + j]!;
      if (r !== i) top.offer(foldKey(kind, p, query, base.data, r, offset, scale), r);
    }
    if (top.count < k) return false;
    const kth = keyToDistance(top.keys[k - 1]!, metric);
    const last = listedDistances[from + K - 1]!;
    // Settled: every row was listed; or the k-th is at distance 0 (a row at fold distance 0 is
    // at distance 0 in the whole space too, and unlisted ones there come after the listed ones
    // in index order); or nearer than any unlisted row can be in fold space.
    if (!(everyRow || kth === 0 || kth < ratio ** degree * last * (1 - tolerance))) return false;
    for (let j = 0; j < k; j++) {
      out.indices[i * k + j] = top.idx[j]!;
      out.distances[i * k + j] = keyToDistance(top.keys[j]!, metric);
    }
    return true;
  };

  const cap = Math.min(n, options.maxCandidates ?? MAX_CANDIDATES);
  let K = Math.min(cap, 2 * k + 8);
  let pending: Int32Array | null = null;
  for (;;) {
    const rows = pending ?? null;
    const count = rows ? rows.length : n;
    const failed: number[] = [];
    const chunk = Math.max(64, Math.floor((CHUNK_ROWS * (2 * k + 8)) / K));
    for (let from = 0; from < count; from += chunk) {
      const to = Math.min(count, from + chunk);
      const queries = rows ? space.take(rows.subarray(from, to)) : chunkOf(space, from, to);
      const nb = await engine.search(space, queries, K, metric);
      for (let q = 0; q < to - from; q++) {
        const i = rows ? rows[from + q]! : from + q;
        if (settle(i, nb.indices, nb.distances, q * K, K, K >= n)) done++;
        else failed.push(i);
      }
      options.onRows?.(done, n);
    }
    rounds.push({ candidates: K, rows: count });
    if (failed.length === 0) return { rounds, exhaustive: 0 };
    pending = Int32Array.from(failed);
    if (K >= cap) break;
    K = Math.min(cap, K * 4);
  }
  // What no candidate list settled: every other row, in the fold's space refitted exactly.
  for (const i of pending) {
    folds.fold(i, offset, scale, true);
    for (let c = 0; c < d; c++) query[c] = (base.data[i * d + c]! - offset[c]!) / scale[c]!;
    top.reset();
    for (let r = 0; r < n; r++) if (r !== i) top.offer(foldKey(kind, p, query, base.data, r, offset, scale), r);
    for (let j = 0; j < k; j++) {
      out.indices[i * k + j] = top.idx[j]!;
      out.distances[i * k + j] = keyToDistance(top.keys[j]!, metric);
    }
    done++;
    options.onRows?.(done, n);
  }
  return { rounds, exhaustive: pending.length };
}
