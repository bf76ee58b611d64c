/**
 * The statistics a sweep's choice rests on: the spread of per-fold scores, a paired t-test over
 * folds that accounts for repeated cross-validation reusing its rows, and McNemar's exact test
 * for two classifiers that predicted the same rows.
 */

/** Mean and sample standard deviation (ddof 1; 0 for fewer than two values). */
export function meanSd(values: ArrayLike<number>): { mean: number; sd: number } {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  if (n < 2) return { mean, sd: 0 };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return { mean, sd: Math.sqrt(ss / (n - 1)) };
}

/**
 * The standard error of a mean over the J folds of repeated k-fold cross-validation, with
 * Nadeau and Bengio's correction (Machine Learning 52, 2003; as "corrected repeated k-fold cv
 * test" in Bouckaert and Frank, PAKDD 2004): sd * sqrt(1/J + n_test/n_train). The folds share
 * training rows, so their scores are correlated, and the plain sd / sqrt(J) would shrink with
 * every repeat though no new data comes in; the correction keeps the error of one partition.
 */
export function correctedStandardError(sd: number, folds: number, testOverTrain: number): number {
  return sd * Math.sqrt(1 / folds + testOverTrain);
}

export interface PairedTest {
  /** Mean over folds of (a - b). */
  readonly mean: number;
  /** Corrected standard error of that mean (correctedStandardError). */
  readonly se: number;
  readonly t: number;
  readonly df: number;
  /** Two-sided p-value of Student's t with df degrees of freedom. */
  readonly p: number;
}

/** The corrected resampled t-test of a against b, scored on the same folds (same order). */
export function pairedFoldTest(a: ArrayLike<number>, b: ArrayLike<number>, testOverTrain: number): PairedTest {
  if (a.length !== b.length || a.length < 2) throw new RangeError(`pairedFoldTest: ${a.length} and ${b.length} folds (need the same number, at least 2)`);
  const diff = Float64Array.from({ length: a.length }, (_, i) => a[i]! - b[i]!);
  const { mean, sd } = meanSd(diff);
  const se = correctedStandardError(sd, diff.length, testOverTrain);
  const df = diff.length - 1;
  // The same scores on every fold are no difference; one difference on every fold, no spread.
  if (Math.abs(mean) < 1e-15) return { mean, se, t: 0, df, p: 1 };
  if (se === 0) return { mean, se, t: Math.sign(mean) * Infinity, df, p: 0 };
  const t = mean / se;
  return { mean, se, t, df, p: studentTwoSided(t, df) };
}

export interface McNemarTest {
  /** Rows a got right and b wrong. */
  readonly onlyA: number;
  /** Rows b got right and a wrong. */
  readonly onlyB: number;
  /** Exact two-sided p-value: the discordant rows as Binomial(onlyA + onlyB, 1/2). */
  readonly p: number;
}

/** McNemar's exact test on rows both classifiers predicted: which one is right where they differ. */
export function mcnemarExact(truth: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>): McNemarTest {
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < truth.length; i++) {
    const ra = a[i] === truth[i];
    const rb = b[i] === truth[i];
    if (ra && !rb) onlyA++;
    else if (rb && !ra) onlyB++;
  }
  const n = onlyA + onlyB;
  const low = Math.min(onlyA, onlyB);
  // P(X <= low) for X ~ Binomial(n, 1/2), summed in log space
  let tail = 0;
  for (let i = 0; i <= low; i++) tail += Math.exp(logChoose(n, i) - n * Math.LN2);
  return { onlyA, onlyB, p: n === 0 ? 1 : Math.min(1, 2 * tail) };
}

function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** P(|T| >= |t|) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2). */
export function studentTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** ln Gamma(x) for x > 0: Lanczos' approximation (g = 7, 9 terms), relative error about 1e-15. */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return (front * h) / a;
}
