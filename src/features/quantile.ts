import type { Matrix } from '../matrix.js';

/**
 * The quantile-normal transform: each feature through its empirical distribution function on
 * the training rows, then through the inverse of the standard normal's. Traffic counters span
 * many orders of magnitude and pile up on a few values (0 s, 1 flow); after this transform
 * every feature is spread like a standard normal whatever its shape, so no single counter
 * dominates a distance.
 *
 * It follows scikit-learn's QuantileTransformer(output_distribution='normal') step for step,
 * so the two give the same numbers on the same rows:
 * - fit: min(1000, rows) quantiles per feature at evenly spaced levels 0..1, by linear
 *   interpolation between the sorted values (numpy's default percentile), made non-decreasing;
 * - transform: the level of a value, interpolated between the quantiles, taken as the mean of
 *   the interpolations from the left and from the right (a value repeated over several
 *   quantiles gets the middle of their levels); a value less than 1e-7 above the lowest
 *   quantile (or below it) is level 0, one less than 1e-7 below the highest (or above it)
 *   level 1; then the normal quantile function, clipped to the
 *   quantiles of 1e-7 and 1 - 1e-7 (about -5.2 and 5.2) so that the ends stay finite.
 */

export const QUANTILE_LEVELS = 1000;
const THRESHOLD = 1e-7;
const BOUND = THRESHOLD - Number.EPSILON;
/** Where the transform clips: the normal quantiles of 1e-7 and 1 - 1e-7. */
export const QUANTILE_CLIP = { low: normalQuantile(BOUND), high: normalQuantile(1 - BOUND) } as const;

/** The levels of n quantiles as numpy's linspace(0, 1, n) makes them (the last exactly 1). */
function levels(n: number): Float64Array {
  if (n === 1) return Float64Array.of(0);
  const step = 1 / (n - 1);
  return Float64Array.from({ length: n }, (_, i) => (i === n - 1 && n > 1 ? 1 : i * step));
}

/**
 * min(1000, rows) quantiles of each column: column j in out[j]. The arithmetic is numpy's
 * (percentile p = level * 100, its index (rows - 1) * p / 100, and its lerp that works from the
 * upper value when the fraction is 0.5 or more), so that values that tie in the data give the
 * same, or the same nearly equal, quantiles as scikit-learn fits: a tie broken by one ulp
 * changes a level by a whole step.
 */
export function fitQuantiles(m: Matrix, count = QUANTILE_LEVELS): number[][] {
  const n = Math.min(count, m.rows);
  const at = levels(n).map((level) => ((level * 100) / 100) * (m.rows - 1));
  const out: number[][] = [];
  const column = new Float64Array(m.rows);
  for (let j = 0; j < m.cols; j++) {
    for (let i = 0; i < m.rows; i++) column[i] = m.data[i * m.cols + j]!;
    column.sort();
    const q: number[] = [];
    for (let l = 0; l < n; l++) {
      const x = at[l]!;
      let v: number;
      if (x >= m.rows - 1) {
        v = column[m.rows - 1]!;
      } else {
        const lo = Math.floor(x);
        const t = x - lo;
        const a = column[lo]!;
        const b = column[lo + 1]!;
        v = t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
      }
      // non-decreasing, as interpolation in floating point may not be (scikit-learn does the same)
      q.push(l > 0 && v < q[l - 1]! ? q[l - 1]! : v);
    }
    out.push(q);
  }
  return out;
}

/**
 * The level of x among sorted quantiles q, as scikit-learn takes it: the mean of numpy's interp
 * from below (the last quantile <= x) and from above (the first quantile >= x).
 */
function level(x: number, q: readonly number[], r: Float64Array): number {
  const n = q.length;
  // scikit-learn's bounds, within 1e-7 of the ends (the bottom wins for a constant feature)
  if (x - THRESHOLD < q[0]!) return 0;
  if (x + THRESHOLD > q[n - 1]!) return 1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (q[mid]! >= x) hi = mid;
    else lo = mid + 1;
  }
  const first = lo;
  lo = 0;
  hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (q[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  const last = lo;
  const up = q[last] === x ? r[last]! : r[last]! + ((r[last + 1]! - r[last]!) / (q[last + 1]! - q[last]!)) * (x - q[last]!);
  const down = q[first] === x ? r[first]! : r[first]! - ((r[first]! - r[first - 1]!) / (q[first]! - q[first - 1]!)) * (q[first]! - x);
  return 0.5 * (up + down);
}

/** Column j of m through quantiles[j] and the normal quantile function. */
export function quantileNormal(m: Matrix, quantiles: readonly (readonly number[])[], out: Matrix): void {
  const r = levels(quantiles[0]?.length ?? 1);
  for (let j = 0; j < m.cols; j++) {
    const q = quantiles[j]!;
    for (let i = 0; i < m.rows; i++) {
      const at = i * m.cols + j;
      const z = normalQuantile(level(m.data[at]!, q, r));
      out.data[at] = Math.min(QUANTILE_CLIP.high, Math.max(QUANTILE_CLIP.low, z));
    }
  }
}

/**
 * The standard normal quantile function (inverse CDF): Wichura's algorithm AS 241 (PPND16,
 * Applied Statistics 37, 1988), relative error about 1e-16. p = 0 gives -Infinity, 1 Infinity.
 */
export function normalQuantile(p: number): number {
  if (p <= 0) return p === 0 ? -Infinity : Number.NaN;
  if (p >= 1) return p === 1 ? Infinity : Number.NaN;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (
      (q *
        (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r + 13731.693765509461125) * r +
          1971.5909503065514427) *
          r +
          133.14166789178437745) *
          r +
          3.387132872796366608)) /
      (((((((5226.495278852545925 * r + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r + 5394.1960214247511077) * r +
        687.1870074920579083) *
        r +
        42.313330701600911252) *
        r +
        1)
    );
  }
  let r = q < 0 ? p : 1 - p;
  r = Math.sqrt(-Math.log(r));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    x =
      (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r + 3.64784832476320460504) * r +
        5.7694972214606914055) *
        r +
        4.6303378461565452959) *
        r +
        1.42343711074968357734) /
      (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r + 0.68976733498510000455) * r +
        1.6763848301838038494) *
        r +
        2.05319162663775882187) *
        r +
        1);
  } else {
    r -= 5;
    x =
      (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r + 0.026532189526576123093) * r + 0.29656057182850489123) * r +
        1.7848265399172913358) *
        r +
        5.4637849111641143699) *
        r +
        6.6579046435011037772) /
      (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r +
        0.13692988092273580531) *
        r +
        0.59983220655588793769) *
        r +
        1);
  }
  return q < 0 ? -x : x;
}
