import type { KnnEngine } from '../engines/engine.js';
import { classificationReport, confusionMatrix } from '../eval/metrics.js';
import { leaveOneOutNeighbours } from '../eval/loo.js';
import { makeFolds, type Protocol } from '../eval/splits.js';
import { vote } from '../knn/classifier.js';
import { subset, type LabelledSet } from '../knn/labelled-set.js';
import { fitModel, predict, type ModelConfig } from '../knn/model.js';
import { rowIdentity } from './labels.js';

/**
 * The promotion guard: the current and the new version scored on the same rows (the new
 * version's labelled rows) under the same folds, and the difference judged by McNemar's test
 * on those shared rows together with a tolerance. Comparing two figures made on different rows
 * (each version's own training rows) says little: new labels of hard rows lower a version's own
 * score while it classifies better.
 */

export const DEFAULT_PROMOTION_ALPHA = 0.05;

export interface PromotionInput {
  /** Per shared row: whether the current version got it right. */
  readonly current: ArrayLike<boolean>;
  /** Per shared row, in the same order: whether the new version got it right. */
  readonly candidate: ArrayLike<boolean>;
  /** Largest drop in accuracy on the shared rows that still promotes. */
  readonly tolerance: number;
  /** Significance level of McNemar's test: a drop is beyond noise when p < alpha. */
  readonly alpha: number;
}

export interface PromotionDecision {
  readonly promote: boolean;
  /** Why, in words: the figures, the test, the rule that decided. */
  readonly reasons: string[];
  readonly rows: number;
  readonly currentAccuracy: number;
  readonly candidateAccuracy: number;
  /** Rows the current version got right and the new one wrong (McNemar's b), and the reverse (c). */
  readonly currentOnly: number;
  readonly candidateOnly: number;
  /** currentAccuracy - candidateAccuracy */
  readonly drop: number;
  /** Two-sided exact McNemar p-value of the discordant rows. */
  readonly pValue: number;
}

/** ln(n!) by summing logs: exact enough for the counts of labelled rows, and no gamma function. */
function logFactorials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) out[i] = out[i - 1]! + Math.log(i);
  return out;
}

/**
 * McNemar's exact test: under "both versions are as good", each of the b + c rows that only
 * one version gets right is equally likely to be either's, so min(b, c) is binomial(b + c, 1/2);
 * the two-sided p-value is twice its lower tail, at most 1. No discordant row gives 1.
 */
export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const lf = logFactorials(n);
  const low = Math.min(b, c);
  let tail = 0;
  for (let i = 0; i <= low; i++) tail += Math.exp(lf[n]! - lf[i]! - lf[n - i]! - n * Math.LN2);
  return Math.min(1, 2 * tail);
}

const f3 = (x: number) => x.toFixed(3);
const p3 = (p: number) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

/**
 * Promote unless the new version is worse on the shared rows by more than the tolerance AND
 * that drop is beyond noise (McNemar p < alpha, more rows right only for the current version):
 * a drop within the tolerance is accepted however sure, a larger one that a few rows' luck
 * explains is not held against the new version. A hair of slack keeps an unchanged score from
 * being refused for float rounding.
 */
export function decidePromotion(input: PromotionInput): PromotionDecision {
  const { current, candidate, tolerance, alpha } = input;
  if (current.length !== candidate.length) throw new Error(`decidePromotion: ${current.length} current and ${candidate.length} new results; both must cover the same rows`);
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw new Error(`decidePromotion: tolerance must be a number >= 0, got ${tolerance}`);
  if (!(alpha > 0 && alpha < 1)) throw new Error(`decidePromotion: alpha must be in (0, 1), got ${alpha}`);
  const rows = current.length;
  let cur = 0;
  let cand = 0;
  let b = 0;
  let c = 0;
  for (let i = 0; i < rows; i++) {
    if (current[i]) cur++;
    if (candidate[i]) cand++;
    if (current[i] && !candidate[i]) b++;
    if (!current[i] && candidate[i]) c++;
  }
  if (rows === 0) {
    return { promote: false, reasons: ['no shared rows to compare the versions on: promote by hand'], rows, currentAccuracy: Number.NaN, candidateAccuracy: Number.NaN, currentOnly: 0, candidateOnly: 0, drop: Number.NaN, pValue: 1 };
  }
  const currentAccuracy = cur / rows;
  const candidateAccuracy = cand / rows;
  const drop = currentAccuracy - candidateAccuracy;
  const pValue = mcnemarExact(b, c);
  const reasons = [`accuracy on the ${rows} shared rows ${f3(candidateAccuracy)} against ${f3(currentAccuracy)}`, `${b} right only for the current version, ${c} only for the new one (McNemar p = ${p3(pValue)})`];
  const beyondTolerance = drop > tolerance + 1e-12;
  const beyondNoise = b > c && pValue < alpha;
  let promote = true;
  if (!beyondTolerance) reasons.push(drop > 0 ? `a drop of ${f3(drop)}, within the tolerance ${tolerance}` : 'not lower');
  else if (!beyondNoise) reasons.push(`a drop of ${f3(drop)}, more than the tolerance ${tolerance} but within noise (p >= ${alpha})`);
  else {
    promote = false;
    reasons.push(`a drop of ${f3(drop)}, more than the tolerance ${tolerance} and beyond noise (p < ${alpha})`);
  }
  return { promote, reasons, rows, currentAccuracy, candidateAccuracy, currentOnly: b, candidateOnly: c, drop, pValue };
}

export interface SideResult {
  /** Per evaluated row (PairedEvaluation.rows), the class name predicted. */
  readonly predicted: string[];
  readonly correct: boolean[];
  readonly accuracy: number;
  readonly macroF1: number;
}

export interface PairedEvaluation {
  /** The rows of the new set that were predicted (all rows, but for holdout: its test rows). */
  readonly rows: Int32Array;
  readonly folds: number;
  readonly candidate: SideResult;
  readonly current: SideResult;
}

function side(set: LabelledSet, rows: Int32Array, predicted: string[], extraClasses: string[]): SideResult {
  const classes = [...set.classes, ...extraClasses];
  const truth = Int32Array.from(rows, (r) => set.labels[r]!);
  const pred = Int32Array.from(predicted, (p) => classes.indexOf(p));
  const correct = predicted.map((p, i) => p === set.classes[truth[i]!]);
  const report = classificationReport(confusionMatrix(truth, pred, classes));
  // macro F1 over the new version's classes: a class only the current version has is no truth
  const own = report.classes.slice(0, set.classes.length);
  return { predicted, correct, accuracy: report.accuracy, macroF1: own.reduce((s, c) => s + c.f1, 0) / own.length };
}

/**
 * Both versions on the new version's rows, fold by fold: the new version's settings fitted on
 * the fold's training rows, the current version's settings fitted on its own training rows less
 * those of the fold's test rows (by row identity, so a row is never classified by a model that
 * saw it), and both classify the fold's test rows. Under resubstitution each keeps all its rows.
 */
export async function pairedEvaluation(
  set: LabelledSet,
  config: ModelConfig,
  currentSet: LabelledSet,
  currentConfig: ModelConfig,
  protocol: Protocol,
  engine: KnnEngine,
  onFold?: (done: number, total: number) => void,
): Promise<PairedEvaluation> {
  const idOf = (s: LabelledSet, i: number) => rowIdentity({ key: s.keys[i] ?? '', windowStart: s.windowStart?.[i] ?? null, firstSeen: s.firstSeen?.[i] ?? null, features: Array.from(s.features.row(i)) });
  const currentIds = Array.from({ length: currentSet.features.rows }, (_, i) => idOf(currentSet, i));
  const newIds = Array.from({ length: set.features.rows }, (_, i) => idOf(set, i));
  if (protocol.name === 'loo') {
    return pairedLeaveOneOut(set, config, currentSet, currentConfig, currentIds, newIds, engine, onFold);
  }
  const folds = makeFolds(set.labels, set.classes.length, protocol);
  const candPred = new Array<string | undefined>(set.features.rows);
  const curPred = new Array<string | undefined>(set.features.rows);
  for (const [f, fold] of folds.entries()) {
    const queries = set.features.take(fold.test);
    const cand = await predict(fitModel(subset(set, fold.train), config), queries, engine);
    fold.test.forEach((row, j) => (candPred[row] = set.classes[cand.votes.predicted[j]!]!));
    const held = protocol.name === 'resubstitution' ? new Set<string>() : new Set(Array.from(fold.test, (r) => newIds[r]!));
    const keep = Int32Array.from(currentIds.keys()).filter((i) => !held.has(currentIds[i]!));
    if (keep.length <= currentConfig.k) throw new Error(`the current version keeps ${keep.length} rows in a fold, not more than its k = ${currentConfig.k}`);
    const cur = await predict(fitModel(subset(currentSet, keep), currentConfig), queries, engine);
    fold.test.forEach((row, j) => (curPred[row] = currentSet.classes[cur.votes.predicted[j]!]!));
    onFold?.(f + 1, folds.length);
  }
  const rows = Int32Array.from(candPred.keys()).filter((i) => candPred[i] !== undefined);
  const extra = currentSet.classes.filter((c) => !set.classes.includes(c));
  return {
    rows,
    folds: folds.length,
    candidate: side(set, rows, Array.from(rows, (r) => candPred[r]!), extra),
    current: side(set, rows, Array.from(rows, (r) => curPred[r]!), extra),
  };
}

/**
 * pairedEvaluation under leave-one-out from each version's leave-one-out neighbours
 * (eval/loo.ts: one search where the scaler and metric allow, else fold by fold). Fold r holds
 * out new row r; the current version then keeps its rows of another identity, so row r is
 * predicted by:
 *  - the current version whole, when it has no row of r's identity (one search for all such rows);
 *  - its leave-one-out neighbours of row j, when exactly one current row j has r's identity and
 *    the same features (a model without row j, asked about row j's features);
 *  - a model refitted without the matching rows otherwise (several rows of one identity, or
 *    features that changed since the current version): one fold, as pairedEvaluation runs it.
 */
async function pairedLeaveOneOut(
  set: LabelledSet,
  config: ModelConfig,
  currentSet: LabelledSet,
  currentConfig: ModelConfig,
  currentIds: string[],
  newIds: string[],
  engine: KnnEngine,
  onFold?: (done: number, total: number) => void,
): Promise<PairedEvaluation> {
  const n = set.features.rows;
  const m = currentSet.features.rows;
  const cand = vote(await leaveOneOutNeighbours(set.features, config.scaler, config.metric, config.k, engine), set.labels, set.classes.length, config.weights).predicted;
  const byId = new Map<string, number[]>();
  currentIds.forEach((id, j) => {
    const list = byId.get(id);
    if (list) list.push(j);
    else byId.set(id, [j]);
  });
  const curPred = new Array<string>(n);
  const whole: number[] = [];
  const held: { row: number; current: number }[] = [];
  const refit: number[] = [];
  for (let r = 0; r < n; r++) {
    const matches = byId.get(newIds[r]!);
    if (!matches) whole.push(r);
    else if (matches.length === 1 && sameRow(set, r, currentSet, matches[0]!)) held.push({ row: r, current: matches[0]! });
    else refit.push(r);
  }
  const tooFew = (keep: number) => new Error(`the current version keeps ${keep} rows in a fold, not more than its k = ${currentConfig.k}`);
  if (whole.length > 0) {
    if (m <= currentConfig.k) throw tooFew(m);
    const { votes } = await predict(fitModel(currentSet, currentConfig), set.features.take(whole), engine);
    whole.forEach((r, j) => (curPred[r] = currentSet.classes[votes.predicted[j]!]!));
  }
  if (held.length > 0) {
    if (m - 1 <= currentConfig.k) throw tooFew(m - 1);
    const loo = vote(await leaveOneOutNeighbours(currentSet.features, currentConfig.scaler, currentConfig.metric, currentConfig.k, engine), currentSet.labels, currentSet.classes.length, currentConfig.weights).predicted;
    for (const h of held) curPred[h.row] = currentSet.classes[loo[h.current]!]!;
  }
  let done = n - refit.length;
  onFold?.(done, n);
  for (const r of refit) {
    const out = new Set(byId.get(newIds[r]!)!);
    const keep = Int32Array.from({ length: m }, (_, j) => j).filter((j) => !out.has(j));
    if (keep.length <= currentConfig.k) throw tooFew(keep.length);
    const { votes } = await predict(fitModel(subset(currentSet, keep), currentConfig), set.features.take([r]), engine);
    curPred[r] = currentSet.classes[votes.predicted[0]!]!;
    onFold?.(++done, n);
  }
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const extra = currentSet.classes.filter((c) => !set.classes.includes(c));
  return {
    rows,
    folds: n,
    candidate: side(set, rows, Array.from(cand, (c) => set.classes[c]!), extra),
    current: side(set, rows, curPred, extra),
  };
}

function sameRow(a: LabelledSet, i: number, b: LabelledSet, j: number): boolean {
  const d = a.features.cols;
  if (b.features.cols !== d) return false;
  for (let c = 0; c < d; c++) if (a.features.data[i * d + c] !== b.features.data[j * d + c]) return false;
  return true;
}
