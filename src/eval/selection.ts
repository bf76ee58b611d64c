import type { Metric } from '../engines/engine.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../knn/model.js';
import { correctedStandardError, mcnemarExact, meanSd, pairedFoldTest, type McNemarTest, type PairedTest } from './stats.js';

/**
 * How a sweep turns its ranked table into one configuration, so that noise between folds does
 * not pick a configuration that only looked better.
 *
 * 1. The one-standard-error rule (Breiman et al., Classification and Regression Trees, 1984;
 *    Hastie et al., The Elements of Statistical Learning, 7.10): the best configuration's mean
 *    macro F1 minus the standard error of its per-fold scores is the bar; of the configurations
 *    at or above it, the simplest is taken. The standard error is corrected for repeated folds
 *    (stats.ts): repeats add no data. Leave-one-out has no per-fold macro F1, so under it the
 *    best is taken.
 * 2. The baseline is the default configuration (log-zscore, euclidean, k = 3, uniform votes),
 *    or the simplest configuration of the grid when the grid leaves the default out. The chosen
 *    configuration is compared with it on the same folds: the per-fold differences with the
 *    corrected resampled t-test (k-fold), or McNemar's exact test on the rows (leave-one-out).
 * 3. What is kept (what `--save-model` writes, and what a nested sweep scores): the rule's
 *    choice when it is the baseline or better than it beyond noise (a gain in macro F1, or in
 *    rows right for leave-one-out, with p < 0.05); otherwise the baseline.
 *
 * Simplicity order (the default first): fewer settings changed from the default (scaler,
 * metric, vote weighting, k); then uniform before distance votes; then k nearer the default's
 * (the smaller on a tie); then the scaler, the default's first, then the grid's list order;
 * then the metric likewise.
 */

export const SELECT_RULES = ['one-se', 'best'] as const;
export type SelectRule = (typeof SELECT_RULES)[number];
/** The p-value under which a difference from the baseline is taken as beyond noise. */
export const SELECTION_ALPHA = 0.05;

/** What selection needs of a scored configuration (src/eval/sweep.ts ConfigResult fits). */
export interface Scored {
  readonly config: ModelConfig;
  readonly rank: number;
  readonly macroF1: { readonly mean: number };
  readonly accuracy: { readonly mean: number };
  /** Per fold, repeats one after the other, the same folds for every configuration. */
  readonly foldScores: { readonly accuracy: Float64Array; readonly macroF1: Float64Array };
  /** Per repeat: the predicted class of every row; read only for row-paired comparisons (kind 'rows'). */
  readonly predicted: readonly ArrayLike<number>[];
}

export type Comparison =
  | { readonly kind: 'folds'; readonly folds: number; readonly macroF1: PairedTest; readonly accuracy: PairedTest }
  | { readonly kind: 'rows'; readonly rows: number; readonly accuracy: number; readonly mcnemar: McNemarTest };

export interface Selection<C extends Scored = Scored> {
  /** The rule as applied (leave-one-out applies best whatever was asked). */
  readonly rule: SelectRule;
  readonly note?: string;
  readonly best: C;
  /** one-se: the corrected standard error of the best's per-fold macro F1, and the bar. */
  readonly se?: number;
  readonly bar?: number;
  /** Configurations at or above the bar (one-se), or 1. */
  readonly within: number;
  /** The rule's choice. */
  readonly pick: C;
  readonly baseline: C;
  readonly baselineIsDefault: boolean;
  /** The best against the baseline, and the rule's choice against it (same folds or rows). */
  readonly bestVsBaseline: Comparison;
  readonly pickVsBaseline: Comparison;
  /** What is kept: pick or baseline. */
  readonly kept: C;
  readonly reason: string;
}

function sameMetric(a: Metric, b: Metric): boolean {
  return a.name === b.name && (a.name !== 'minkowski' || a.p === b.p);
}

export function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return a.scaler === b.scaler && a.k === b.k && a.weights === b.weights && sameMetric(a.metric, b.metric);
}

/** Compares configurations by simplicity (negative: a is simpler), the default first. */
export function simplicityOrder(scalers: readonly string[], metrics: readonly Metric[], base: ModelConfig = DEFAULT_CONFIG): (a: ModelConfig, b: ModelConfig) => number {
  const changes = (c: ModelConfig) => Number(c.scaler !== base.scaler) + Number(!sameMetric(c.metric, base.metric)) + Number(c.weights !== base.weights) + Number(c.k !== base.k);
  const scalerPos = (c: ModelConfig) => (c.scaler === base.scaler ? -1 : scalers.indexOf(c.scaler));
  const metricPos = (c: ModelConfig) => (sameMetric(c.metric, base.metric) ? -1 : metrics.findIndex((m) => sameMetric(m, c.metric)));
  const votes = (c: ModelConfig) => (c.weights === 'uniform' ? 0 : 1);
  return (a, b) =>
    changes(a) - changes(b) ||
    votes(a) - votes(b) ||
    Math.abs(a.k - base.k) - Math.abs(b.k - base.k) ||
    a.k - b.k ||
    scalerPos(a) - scalerPos(b) ||
    metricPos(a) - metricPos(b);
}

export function compare(a: Scored, b: Scored, truth: ArrayLike<number>, kind: 'folds' | 'rows', testOverTrain: number): Comparison {
  if (kind === 'rows') {
    if (a.predicted.length === 0 || b.predicted.length === 0) throw new Error('a row-paired comparison needs per-row predictions (sweep keeps them under leave-one-out)');
    const mcnemar = mcnemarExact(truth, a.predicted[0]!, b.predicted[0]!);
    return { kind, rows: truth.length, accuracy: (mcnemar.onlyA - mcnemar.onlyB) / truth.length, mcnemar };
  }
  return {
    kind,
    folds: a.foldScores.macroF1.length,
    macroF1: pairedFoldTest(a.foldScores.macroF1, b.foldScores.macroF1, testOverTrain),
    accuracy: pairedFoldTest(a.foldScores.accuracy, b.foldScores.accuracy, testOverTrain),
  };
}

/** Whether a comparison shows a gain beyond noise (p < SELECTION_ALPHA, in a's favour). */
export function beyondNoise(c: Comparison): boolean {
  return c.kind === 'folds' ? c.macroF1.mean > 0 && c.macroF1.p < SELECTION_ALPHA : c.mcnemar.onlyA > c.mcnemar.onlyB && c.mcnemar.p < SELECTION_ALPHA;
}

/**
 * Applies the rule to configurations ranked best first. kind: 'folds' for k-fold (per-fold
 * scores), 'rows' for leave-one-out; testOverTrain: mean test rows over training rows of a fold.
 */
export function select<C extends Scored>(
  ranked: readonly C[],
  grid: { readonly scalers: readonly string[]; readonly metrics: readonly Metric[] },
  truth: ArrayLike<number>,
  kind: 'folds' | 'rows',
  testOverTrain: number,
  asked: SelectRule = 'one-se',
): Selection<C> {
  const best = ranked[0]!;
  const simpler = simplicityOrder(grid.scalers, grid.metrics);
  const bySimplicity = [...ranked].sort((a, b) => simpler(a.config, b.config) || a.rank - b.rank);
  const baseline = bySimplicity[0]!;
  const baselineIsDefault = sameConfig(baseline.config, DEFAULT_CONFIG);
  let rule = asked;
  let note: string | undefined;
  let se: number | undefined;
  let bar: number | undefined;
  let pick = best;
  let within = 1;
  if (asked === 'one-se' && kind === 'rows') {
    rule = 'best';
    note = 'leave-one-out has no per-fold scores to take a standard error over: the best is taken';
  } else if (asked === 'one-se') {
    const scores = best.foldScores.macroF1;
    se = correctedStandardError(meanSd(scores).sd, scores.length, testOverTrain);
    bar = best.macroF1.mean - se;
    // scores equal but for float noise count as at the bar
    const candidates = bySimplicity.filter((c) => c.macroF1.mean >= bar! - 1e-12);
    within = candidates.length;
    pick = candidates[0]!;
  }
  const bestVsBaseline = compare(best, baseline, truth, kind, testOverTrain);
  const pickVsBaseline = pick === best ? bestVsBaseline : compare(pick, baseline, truth, kind, testOverTrain);
  const base = baselineIsDefault ? 'the default' : 'the baseline (the simplest configuration of the grid; the default is not in it)';
  let kept: C;
  let reason: string;
  if (pick === baseline) {
    kept = baseline;
    reason = pick === best ? `${base} is the best` : `${base} is within one standard error of the best`;
  } else if (beyondNoise(pickVsBaseline)) {
    kept = pick;
    reason = `its gain over ${base} is beyond noise (${pValue(pickVsBaseline)} < ${SELECTION_ALPHA})`;
  } else {
    kept = baseline;
    reason = `the gain of ${rule === 'one-se' ? 'the simplest configuration within one standard error' : 'the best'} over ${base} is within noise (${pValue(pickVsBaseline)}), so ${base} is kept`;
  }
  return { rule, ...(note ? { note } : {}), best, ...(se !== undefined ? { se, bar } : {}), within, pick, baseline, baselineIsDefault, bestVsBaseline, pickVsBaseline, kept, reason };
}

function pValue(c: Comparison): string {
  const p = c.kind === 'folds' ? c.macroF1.p : c.mcnemar.p;
  return `p = ${p < 0.001 ? p.toExponential(1) : p.toFixed(3)}`;
}
