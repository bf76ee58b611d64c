import type { Matrix } from '../../matrix.js';
import type { Metric } from '../engine.js';
import { metricSpec } from '../metrics.js';

/**
 * The float64 -> float32 boundary of the tfjs engine, and the bookkeeping around the device's
 * float32 results: tile sizes, the turning of ranking keys into distances, and the merge of
 * per-tile top-k lists.
 */

/** Largest intermediate tensor of one tile, in bytes (see planTiles). */
export const TILE_BYTES = 64 * 2 ** 20;
/** Training rows per tile at most: keeps each tile's top-k and its readback small. */
export const MAX_TRAIN_TILE = 8192;
/** The largest k the engine accepts: each training tile hands min(k, tile rows) candidates per
 *  query back to JavaScript, so k up to half a full tile keeps that readback below the
 *  distance matrix it summarises. */
export const TFJS_MAX_K = 4096;

export interface TilePlan {
  /** Training rows per tile (the last tile may be smaller). */
  readonly trainTile: number;
  /** Query rows per tile (the last tile may be smaller). */
  readonly queryTile: number;
}

/**
 * Tile rule: a tile of mq queries x nt training rows builds, for the Lp metrics, the
 * mq x nt x d tensor of differences (q - t) (then |.|, ^2 or ^p of it, then a reduction over
 * d), and for cosine the mq x nt matrix of dot products. Each such tensor, and the top-k's
 * index buffer (which the webgpu backend pads to the next power of two of nt), holds at most
 * `budgetBytes` / 4 float32 values (64 MiB by default; at most two are alive at once). nt is
 * at most MAX_TRAIN_TILE; the rule gives way only where one query row against one training row
 * already needs more (d > 16 M).
 */
export function planTiles(n: number, m: number, d: number, metric: Metric, budgetBytes = TILE_BYTES): TilePlan {
  const budget = Math.max(1, Math.floor(budgetBytes / 4));
  const perPair = metricSpec(metric).family === 'angle' ? 1 : Math.max(1, d);
  const trainTile = Math.max(1, Math.min(n, MAX_TRAIN_TILE, Math.floor(budget / perPair)));
  const perQuery = Math.max(trainTile * perPair, nextPow2(trainTile));
  const queryTile = Math.max(1, Math.min(m, Math.floor(budget / perQuery)));
  return { trainTile, queryTile };
}

export function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

export interface PreparedData {
  readonly train: Float32Array;
  readonly queries: Float32Array;
  /** Lp metrics: the data were divided by this power of two (distances are multiplied back). */
  readonly scale: number;
}

/**
 * The float32 copies the device works on.
 *
 * Lp metrics are translation invariant and homogeneous, so the data are first shifted by an
 * integer per column (the training mean, rounded) and divided by a power of two that brings
 * every value into [-0.5, 0.5]: unscaled traffic counters (1e9 bytes...) keep their small
 * differences after rounding to float32, and |q - t|^p cannot overflow. Integer shifts and
 * power-of-two scales are exact: integer-valued data stay integers, so exact ties stay exact.
 *
 * Cosine is scale invariant per row: rows are normalised to unit length here, in float64
 * (no overflow of |x|^2 in float32), so the device only takes dot products. A zero row stays
 * zero: its dot product with anything is 0, distance 1, the zero-vector rule.
 */
export function prepare(train: Matrix, queries: Matrix, metric: Metric): PreparedData {
  if (metricSpec(metric).family === 'angle') return { train: unitRows(train), queries: unitRows(queries), scale: 1 };
  const d = train.cols;
  const center = new Float64Array(d);
  for (let i = 0; i < train.rows; i++) for (let c = 0; c < d; c++) center[c] = center[c]! + train.data[i * d + c]!;
  for (let c = 0; c < d; c++) center[c] = Math.round(center[c]! / train.rows);
  let maxAbs = 0;
  for (const m of [train, queries]) {
    for (let i = 0; i < m.data.length; i++) {
      const a = Math.abs(m.data[i]! - center[i % d]!);
      if (a > maxAbs) maxAbs = a;
    }
  }
  // maxAbs / scale in [0.25, 0.5]: |differences| <= 1, so sum |diff|^p <= d for every p.
  const scale = maxAbs > 0 && Number.isFinite(maxAbs) ? 2 ** (Math.floor(Math.log2(maxAbs)) + 2) : 1;
  const shift = (m: Matrix) => {
    const out = new Float32Array(m.data.length);
    for (let i = 0; i < out.length; i++) out[i] = (m.data[i]! - center[i % d]!) / scale;
    return out;
  };
  return { train: shift(train), queries: shift(queries), scale };
}

function unitRows(m: Matrix): Float32Array {
  const d = m.cols;
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    const o = i * d;
    let max = 0;
    for (let c = 0; c < d; c++) max = Math.max(max, Math.abs(m.data[o + c]!));
    if (max === 0) continue; // zero vector: stays zero (distance 1 from everything)
    let s = 0;
    for (let c = 0; c < d; c++) s += (m.data[o + c]! / max) ** 2;
    const norm = Math.sqrt(s);
    for (let c = 0; c < d; c++) out[o + c] = m.data[o + c]! / max / norm;
  }
  return out;
}

/**
 * The reported distance from the device's score (larger = nearer): for the Lp metrics the
 * score is -key, key being the sum of squares / of |diff| / of |diff|^p or the max |diff| of the
 * scaled data; for cosine it is the dot product of unit rows, clipped to [-1, 1].
 */
export function scoreToDistance(score: number, metric: Metric, scale: number): number {
  const spec = metricSpec(metric);
  if (spec.family === 'angle') return 1 - score;
  return spec.distance(-score, metric) * scale ** spec.degree;
}

/**
 * The running k nearest of every query, merged tile by tile. Training tiles arrive in index
 * order, so on equal scores a kept entry (from an earlier tile, lower index) stays ahead of a
 * new one; within a tile, candidates are sorted by (score descending, index ascending).
 */
export class TopKMerger {
  readonly scores: Float64Array;
  readonly indices: Int32Array;
  /** Entries kept so far per query (the same for every query). */
  private filled = 0;
  private readonly candScores: Float64Array;
  private readonly candIndices: Int32Array;
  private readonly tmpScores: Float64Array;
  private readonly tmpIndices: Int32Array;

  constructor(
    readonly queries: number,
    readonly k: number,
  ) {
    this.scores = new Float64Array(queries * k);
    this.indices = new Int32Array(queries * k);
    this.candScores = new Float64Array(k);
    this.candIndices = new Int32Array(k);
    this.tmpScores = new Float64Array(k);
    this.tmpIndices = new Int32Array(k);
  }

  /**
   * Merges one tile's candidates: for query q0 + r, `kk` (score, tile-local index) pairs at
   * r * kk in `scores`/`local`, in any order (a topk's sorted output makes the sort below a
   * single pass); `offset` turns a local index into a training row.
   */
  merge(q0: number, rows: number, kk: number, scores: ArrayLike<number>, local: ArrayLike<number>, offset: number): void {
    const k = this.k;
    const cs = this.candScores;
    const ci = this.candIndices;
    const filled = this.filled;
    const total = Math.min(k, filled + kk);
    for (let r = 0; r < rows; r++) {
      const base = r * kk;
      // Insertion sort by (score descending, index ascending).
      for (let j = 0; j < kk; j++) {
        const s = scores[base + j]!;
        const idx = offset + local[base + j]!;
        let pos = j;
        while (pos > 0 && (cs[pos - 1]! < s || (cs[pos - 1] === s && ci[pos - 1]! > idx))) {
          cs[pos] = cs[pos - 1]!;
          ci[pos] = ci[pos - 1]!;
          pos--;
        }
        cs[pos] = s;
        ci[pos] = idx;
      }
      const o = (q0 + r) * k;
      if (filled === 0) {
        this.scores.set(cs.subarray(0, total), o);
        this.indices.set(ci.subarray(0, total), o);
        continue;
      }
      let i = 0;
      let j = 0;
      for (let w = 0; w < total; w++) {
        // On equal scores the kept entry (an earlier tile: a lower index) goes first.
        if (j >= kk || (i < filled && this.scores[o + i]! >= cs[j]!)) {
          this.tmpScores[w] = this.scores[o + i]!;
          this.tmpIndices[w] = this.indices[o + i]!;
          i++;
        } else {
          this.tmpScores[w] = cs[j]!;
          this.tmpIndices[w] = ci[j]!;
          j++;
        }
      }
      this.scores.set(this.tmpScores.subarray(0, total), o);
      this.indices.set(this.tmpIndices.subarray(0, total), o);
    }
  }

  /** Call once per training tile, after every query tile of it was merged. */
  advance(kk: number): void {
    this.filled = Math.min(this.k, this.filled + kk);
  }
}

/**
 * The exact top `kk` of one row of scores: greatest first, ties by lower index. Used for the
 * rows where the backend's top-k had to choose among equal scores at its k-th place (a backend
 * need not keep the lowest indices there; the webgpu one's bitonic sort does not promise to).
 */
export function exactTopK(row: ArrayLike<number>, kk: number): { scores: Float64Array; indices: Int32Array } {
  const order = Array.from({ length: row.length }, (_, i) => i);
  order.sort((a, b) => row[b]! - row[a]! || a - b);
  const scores = new Float64Array(kk);
  const indices = new Int32Array(kk);
  for (let j = 0; j < kk; j++) {
    scores[j] = row[order[j]!]!;
    indices[j] = order[j]!;
  }
  return { scores, indices };
}
