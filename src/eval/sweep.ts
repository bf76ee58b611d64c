import { METRICS, type KnnEngine, type Metric, type Neighbours } from '../engines/engine.js';
import { excerpt, usageError, wholeNumber } from '../errors.js';
import { fitScaler, SCALERS, transform, type ScalerName } from '../features/scalers.js';
import { vote, WEIGHTS, type Weights } from '../knn/classifier.js';
import { subset, type LabelledSet } from '../knn/labelled-set.js';
import { fitModel, predict, type ModelConfig } from '../knn/model.js';
import { classificationReport, confusionMatrix, type ClassificationReport, type ConfusionMatrix } from './metrics.js';
import { select, type Selection, type SelectRule } from './selection.js';
import { makeFolds } from './splits.js';
import { leaveOneOutNeighbours } from './loo.js';
import { metricLabel } from '../engines/metrics.js';

/**
 * Model selection over a grid of kNN configurations.
 *
 * For every fold and every (scaler, metric) of the grid the scaler is fitted on the fold's
 * training rows only and ONE neighbour search runs with the largest k of the grid. Engines
 * return neighbours sorted by (distance, training index), so the k nearest under that order are
 * exactly the first k of the list for the largest k: every smaller k is a prefix of it (see
 * kPrefix), and both weightings vote from the same neighbours. The predictions are therefore
 * identical to running evaluate() once per configuration, at a fraction of the cost.
 *
 * Scores. A repeat is one full cross-validation (k-fold: one seeded stratified partition;
 * leave-one-out: the only one). Each repeat's score is computed from its pooled predictions
 * (every row predicted once, by the fold that held it out: exactly what evaluate() reports for
 * that protocol and seed). The table gives the mean and the standard deviation over the
 * repeats of those scores (population sd, ddof 0, as scikit-learn's std_test_score); it is the
 * spread due to the choice of partition, not the (larger) spread between single folds.
 * Leave-one-out has one repeat, so its sd is 0.
 *
 * Each configuration also keeps its score on every fold (the same folds for all of them):
 * selection.ts takes the standard error of the one-standard-error rule from them and pairs
 * them with the default's to decide whether a choice beats the default beyond noise.
 *
 * Memory follows the rows, not rows x configurations: a repeat's pooled scores need only its
 * confusion matrix (classes x classes counts, summed over the folds), so per-row predictions
 * are kept only where something reads them: leave-one-out, whose selection pairs two
 * configurations row by row (McNemar), or when asked (options.keepPredictions); and then as
 * one byte per row while the classes fit in one. (Kept for every configuration and repeat, the
 * default grid's 540 configurations x 5 repeats took 10 GB at 10^6 rows.) The folds of a repeat
 * are dealt when the repeat starts, and leave-one-out's one at a time.
 */

export interface SweepGrid {
  /** Neighbour counts (any order; evaluated ascending, duplicates dropped). */
  readonly ks: readonly number[];
  readonly metrics: readonly Metric[];
  readonly weights: readonly Weights[];
  readonly scalers: readonly ScalerName[];
}

export type SweepProtocol =
  /** Stratified k-fold, `repeats` times; repeat r uses seed `seed + r`. */
  | { readonly name: 'kfold'; readonly folds: number; readonly repeats: number; readonly seed: number }
  | { readonly name: 'loo' };

/** The outer cross-validation of a nested sweep: stratified k-fold, repeat r with seed `seed + r`. */
export interface OuterProtocol {
  readonly folds: number;
  readonly repeats: number;
  readonly seed: number;
}

export interface Score {
  readonly mean: number;
  /** Population standard deviation (ddof 0). */
  readonly std: number;
}

export interface ConfigResult {
  readonly config: ModelConfig;
  /** 1 = chosen. */
  readonly rank: number;
  /** Position in the grid (scaler, metric, weights, k nested in that order). */
  readonly gridIndex: number;
  readonly accuracy: Score;
  readonly macroF1: Score;
  /** Mean over the repeats of each class's recall, in class order. */
  readonly recall: number[];
  /** Per repeat: the report of its pooled predictions. */
  readonly reports: ClassificationReport[];
  /** Per repeat: the confusion matrix of its pooled predictions (matrix[true][predicted]). */
  readonly confusion: ConfusionMatrix[];
  /**
   * Per repeat: the predicted class of every row of the set (row order), where kept
   * (leave-one-out, or SweepOptions.keepPredictions); otherwise empty.
   */
  readonly predicted: ClassIds[];
  /** Per fold (repeats one after the other): accuracy and macro F1 over the classes present in
   *  the fold's truth or predictions (scikit-learn's f1_score default). */
  readonly foldScores: { readonly accuracy: Float64Array; readonly macroF1: Float64Array };
}

export interface SweepResult {
  readonly protocol: SweepProtocol;
  /** The grid as evaluated (ks ascending, without duplicates). */
  readonly grid: SweepGrid;
  readonly rows: number;
  readonly classes: string[];
  /** Folds per repeat. */
  readonly folds: number;
  readonly repeats: number;
  /** Seeds of the repeats (k-fold), empty for leave-one-out. */
  readonly seeds: number[];
  /** Engine searches run: folds x repeats x scalers x metrics; under leave-one-out, what eval/loo.ts ran per scaler and metric. */
  readonly searches: number;
  /** Ranked, best first. */
  readonly configurations: ConfigResult[];
  /** Mean over the folds of test rows / training rows (for the corrected standard errors). */
  readonly testOverTrain: number;
  /** The rule, the baseline, the paired comparisons and what is kept (selection.ts). */
  readonly selection: Selection<ConfigResult>;
  /** What is kept: what --save-model writes and a nested sweep scores (selection.kept). */
  readonly chosen: ConfigResult;
}

export interface SweepOptions {
  /** How the table becomes one configuration (default one-se; leave-one-out takes the best). */
  readonly select?: SelectRule;
  /**
   * Keep every configuration's per-row predictions of every repeat (ConfigResult.predicted):
   * rows x configurations x repeats class ids. Default: only under leave-one-out, whose
   * selection compares configurations row by row.
   */
  readonly keepPredictions?: boolean;
}

/** Class ids per row: one byte each while the classes fit in one. */
export type ClassIds = Uint8Array | Uint16Array | Int32Array;

/** An array for `rows` class ids of `classes` classes, in the narrowest type that holds them. */
export function classIdArray(classes: number, rows: number): ClassIds {
  return classes <= 256 ? new Uint8Array(rows) : classes <= 65536 ? new Uint16Array(rows) : new Int32Array(rows);
}

export interface OuterFoldResult {
  readonly repeat: number;
  readonly fold: number;
  readonly seed: number;
  readonly trainRows: number;
  readonly testRows: number;
  /** The configuration the inner sweep kept on this fold's training rows. */
  readonly config: ModelConfig;
  readonly keptBaseline: boolean;
  readonly accuracy: number;
  /** Macro F1 over the classes present in this fold's truth or predictions (scikit-learn's f1_score default). */
  readonly macroF1: number;
}

export interface NestedResult {
  readonly inner: SweepProtocol;
  readonly outer: OuterProtocol;
  readonly rows: number;
  readonly classes: string[];
  readonly outerFolds: OuterFoldResult[];
  /** The rule each inner sweep applied. */
  readonly select: SelectRule;
  /** Outer folds whose inner sweep kept its baseline (the default when the grid has it). */
  readonly keptBaseline: number;
  /** Mean and sd over the outer folds (folds x repeats values). */
  readonly accuracy: Score;
  readonly macroF1: Score;
  /** Mean and sd over the outer repeats of each repeat's pooled outer predictions. */
  readonly pooled: { readonly accuracy: Score; readonly macroF1: Score };
  /** How often each configuration was chosen, most often first (then grid order). */
  readonly choices: { readonly config: ModelConfig; readonly count: number }[];
}

/** A view of the first k neighbours of each query (k <= n.k): the k nearest, same tie rule. */
export function kPrefix(n: Neighbours, k: number): Neighbours {
  if (!Number.isInteger(k) || k < 1 || k > n.k) throw new RangeError(`kPrefix: k = ${k} outside 1..${n.k}`);
  if (k === n.k) return n;
  const indices = new Int32Array(n.queries * k);
  const distances = new Float64Array(n.queries * k);
  for (let q = 0; q < n.queries; q++) {
    indices.set(n.indices.subarray(q * n.k, q * n.k + k), q * k);
    distances.set(n.distances.subarray(q * n.k, q * n.k + k), q * k);
  }
  return { queries: n.queries, k, indices, distances };
}

export { metricLabel };

export function configLabel(c: ModelConfig): string {
  return `scaler ${c.scaler}, ${metricLabel(c.metric)}, ${c.weights} votes, k = ${c.k}`;
}

function sameMetric(a: Metric, b: Metric): boolean {
  return a.name === b.name && (a.name !== 'minkowski' || a.p === b.p);
}

/** Checks a grid (usage errors name the flag) and returns it with ks ascending and distinct. */
export function checkGrid(grid: SweepGrid): SweepGrid {
  if (grid.ks.length === 0) throw usageError('--k: give at least one k', 'a range such as 1..15, or a list such as 1,3,5');
  for (const k of grid.ks) {
    if (!Number.isInteger(k) || k < 1) throw usageError(`--k: ${k} is not a whole number >= 1`, 'a range such as 1..15, or a list such as 1,3,5');
  }
  const ks = [...new Set(grid.ks)].sort((a, b) => a - b);
  const lists: [string, readonly unknown[], readonly string[], (v: unknown) => string][] = [
    ['--metrics', grid.metrics.map((m) => m.name), METRICS, String],
    ['--weights', grid.weights, WEIGHTS, String],
    ['--scalers', grid.scalers, SCALERS, String],
  ];
  for (const [flag, values, allowed] of lists) {
    if (values.length === 0) throw usageError(`${flag}: give at least one value`, `choose from ${allowed.join(', ')}`);
    for (const v of values) if (!allowed.includes(v as string)) throw usageError(`${flag}: unknown value "${excerpt(String(v))}"`, `choose from ${allowed.join(', ')}`);
  }
  for (const m of grid.metrics) {
    if (m.name === 'minkowski' && !(typeof m.p === 'number' && Number.isFinite(m.p) && m.p >= 1)) {
      throw usageError(`--metrics minkowski needs --p (a number >= 1), got ${String(m.p)}`, 'pass --p 3, for example');
    }
  }
  grid.metrics.forEach((m, i) => {
    if (grid.metrics.findIndex((o) => sameMetric(o, m)) !== i) throw usageError(`--metrics: ${metricLabel(m)} is listed twice`);
  });
  grid.weights.forEach((w, i) => {
    if (grid.weights.indexOf(w) !== i) throw usageError(`--weights: ${w} is listed twice`);
  });
  grid.scalers.forEach((s, i) => {
    if (grid.scalers.indexOf(s) !== i) throw usageError(`--scalers: ${s} is listed twice`);
  });
  return { ks, metrics: [...grid.metrics], weights: [...grid.weights], scalers: [...grid.scalers] };
}

function protocolRepeats(protocol: SweepProtocol): { repeats: number; seeds: number[] } {
  if (protocol.name === 'loo') return { repeats: 1, seeds: [] };
  const { repeats, seed } = protocol;
  wholeNumber('--repeats', repeats, 1);
  wholeNumber('--seed', seed);
  return { repeats, seeds: Array.from({ length: repeats }, (_, r) => seed + r) };
}

/** Training and test rows of each fold of a repeat, without keeping the folds. */
function partitionSizes(set: LabelledSet, protocol: SweepProtocol, seed: number | undefined): { train: number; test: number }[] {
  const n = set.labels.length;
  if (protocol.name === 'loo') {
    if (n < 2) throw usageError('leave-one-out needs at least 2 labelled rows');
    return Array.from({ length: n }, () => ({ train: n - 1, test: 1 }));
  }
  return makeFolds(set.labels, set.classes.length, { name: 'kfold', folds: protocol.folds, seed }).map((f) => ({ train: f.train.length, test: f.test.length }));
}

const meanStd = (values: readonly number[]): Score => {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
};

/** A ranking key: scores rounded to 1e-12, so that values equal but for float noise tie. */
const key = (x: number): number => Math.round(x * 1e12);

/**
 * The grid under a protocol: every configuration's scores, ranked best first by mean macro F1,
 * then mean accuracy, then the simpler configuration: smaller k, uniform before distance
 * votes, then the order of the scaler list, then the order of the metric list; and the
 * selection (options.select) that turns the ranking into the configuration kept.
 * onProgress(done, total) counts folds (over all repeats).
 */
export async function sweep(
  set: LabelledSet,
  gridIn: SweepGrid,
  protocol: SweepProtocol,
  engine: KnnEngine,
  onProgress?: (done: number, total: number) => void,
  options: SweepOptions = {},
): Promise<SweepResult> {
  const grid = checkGrid(gridIn);
  const { repeats, seeds } = protocolRepeats(protocol);
  const n = set.labels.length;
  const classes = set.classes.length;
  const { ks, metrics, weights, scalers } = grid;
  const kMax = ks[ks.length - 1]!;
  const configs: ModelConfig[] = [];
  for (const scaler of scalers) for (const metric of metrics) for (const w of weights) for (const k of ks) configs.push({ scaler, metric, weights: w, k });
  const keep = options.keepPredictions ?? protocol.name === 'loo';
  const predicted: ClassIds[][] = configs.map(() => (keep ? Array.from({ length: repeats }, () => classIdArray(classes, n)) : []));
  // matrix[true][predicted] per configuration and repeat, flat: the pooled scores need only these
  const confusion: Float64Array[][] = configs.map(() => Array.from({ length: repeats }, () => new Float64Array(classes * classes)));

  // Fold sizes first (the k check must come before any work); each repeat's folds are dealt
  // again when it runs, so only one repeat's folds are held at a time.
  const sizes = Array.from({ length: repeats }, (_, r) => partitionSizes(set, protocol, seeds[r]));
  const foldCount = sizes.reduce((s, p) => s + p.length, 0);
  const foldAcc = configs.map(() => new Float64Array(foldCount));
  const foldF1 = configs.map(() => new Float64Array(foldCount));
  // summed in fold order, as a list of the ratios would be
  let ratioSum = 0;
  let minTrain = Infinity;
  for (const p of sizes) {
    for (const f of p) {
      ratioSum += f.test / f.train;
      if (f.train < minTrain) minTrain = f.train;
    }
  }
  const testOverTrain = ratioSum / foldCount;
  if (kMax > minTrain) {
    throw usageError(`--k: ${kMax} is more than the ${minTrain} training rows of the smallest fold`, `use k <= ${minTrain}`);
  }
  const total = foldCount;
  let done = 0;
  let searches = 0;
  if (protocol.name === 'loo') {
    // One pass per (scaler, metric) over all n folds: every row's kMax nearest in its fold's
    // space (eval/loo.ts: one search where it has a shortcut, else fold by fold), then each (weights, k)
    // votes for all rows at once. A fold is one row: its accuracy and macro F1 are 1 when the
    // row is predicted right and 0 otherwise (what foldScore gives a one-row fold).
    const passes = scalers.length * metrics.length;
    let pass = 0;
    let c = 0;
    for (const scaler of scalers) {
      for (const metric of metrics) {
        const report = (rows: number) => onProgress?.(Math.floor((pass * n + rows) / passes), total);
        const all = await leaveOneOutNeighbours(set.features, scaler, metric, kMax, engine, { onRows: report });
        searches += all.stats.searches;
        for (const w of weights) {
          for (const k of ks) {
            const votes = vote(all, set.labels, classes, w, k).predicted;
            if (keep) predicted[c]![0]!.set(votes);
            const cm = confusion[c]![0]!;
            for (let i = 0; i < n; i++) {
              const t = set.labels[i]!;
              cm[t * classes + votes[i]!]!++;
              foldAcc[c]![i] = foldF1[c]![i] = votes[i] === t ? 1 : 0;
            }
            c++;
          }
        }
        pass++;
      }
    }
  } else {
    for (let r = 0; r < repeats; r++) {
      // one repeat's folds at a time
      const folds = makeFolds(set.labels, set.classes.length, { name: 'kfold', folds: protocol.folds, seed: seeds[r] });
      for (const fold of folds) {
        const trainRaw = set.features.take(fold.train);
        const testRaw = set.features.take(fold.test);
        const trainLabels = Int32Array.from(fold.train, (i) => set.labels[i]!);
        const truth = Int32Array.from(fold.test, (i) => set.labels[i]!);
        const counts = foldCounts(classes);
        let c = 0;
        for (const scaler of scalers) {
          const params = fitScaler(scaler, trainRaw);
          const trainSpace = transform(params, trainRaw);
          const testSpace = transform(params, testRaw);
          for (const metric of metrics) {
            const all = await engine.search(trainSpace, testSpace, kMax, metric);
            searches++;
            for (const w of weights) {
              for (const k of ks) {
                // every smaller k votes with the first k of the largest k's lists (see kPrefix)
                const votes = vote(all, trainLabels, classes, w, k);
                if (keep) {
                  const out = predicted[c]![r]!;
                  fold.test.forEach((row, j) => {
                    out[row] = votes.predicted[j]!;
                  });
                }
                const cm = confusion[c]![r]!;
                for (let j = 0; j < truth.length; j++) cm[truth[j]! * classes + votes.predicted[j]!]!++;
                foldScore(truth, votes.predicted, counts);
                foldAcc[c]![done] = counts.accuracy;
                foldF1[c]![done] = counts.macroF1;
                c++;
              }
            }
          }
        }
        // outside the call: onProgress?.(++done) skips the increment when there is no callback
        done++;
        onProgress?.(done, total);
      }
    }
  }

  const unranked = configs.map((config, gridIndex) => {
    const matrices = confusion[gridIndex]!.map((flat): ConfusionMatrix => ({
      labels: set.classes,
      matrix: set.classes.map((_, t) => Array.from(flat.subarray(t * classes, (t + 1) * classes))),
    }));
    const reports = matrices.map((cm) => classificationReport(cm));
    return {
      config,
      gridIndex,
      accuracy: meanStd(reports.map((rep) => rep.accuracy)),
      macroF1: meanStd(reports.map((rep) => rep.macroAvg.f1)),
      recall: set.classes.map((_, ci) => reports.reduce((s, rep) => s + rep.classes[ci]!.recall, 0) / reports.length),
      reports,
      confusion: matrices,
      predicted: predicted[gridIndex]!,
      foldScores: { accuracy: foldAcc[gridIndex]!, macroF1: foldF1[gridIndex]! },
    };
  });
  const scalerPos = (c: ModelConfig) => scalers.indexOf(c.scaler);
  const metricPos = (c: ModelConfig) => metrics.findIndex((m) => sameMetric(m, c.metric));
  const weightPos = (c: ModelConfig) => WEIGHTS.indexOf(c.weights);
  unranked.sort(
    (a, b) =>
      key(b.macroF1.mean) - key(a.macroF1.mean) ||
      key(b.accuracy.mean) - key(a.accuracy.mean) ||
      a.config.k - b.config.k ||
      weightPos(a.config) - weightPos(b.config) ||
      scalerPos(a.config) - scalerPos(b.config) ||
      metricPos(a.config) - metricPos(b.config),
  );
  const configurations: ConfigResult[] = unranked.map((c, i) => ({ ...c, rank: i + 1 }));
  const selection = select(configurations, grid, set.labels, protocol.name === 'loo' ? 'rows' : 'folds', testOverTrain, options.select);
  return {
    protocol,
    grid,
    rows: n,
    classes: set.classes,
    folds: sizes[0]!.length,
    repeats,
    seeds,
    searches,
    configurations,
    testOverTrain,
    selection,
    chosen: selection.kept,
  };
}

interface FoldCounts {
  readonly right: Int32Array;
  readonly truth: Int32Array;
  readonly predicted: Int32Array;
  accuracy: number;
  macroF1: number;
}

function foldCounts(classes: number): FoldCounts {
  return { right: new Int32Array(classes), truth: new Int32Array(classes), predicted: new Int32Array(classes), accuracy: 0, macroF1: 0 };
}

/**
 * Accuracy and macro F1 of one fold, as presentMacroF1 computes them but without building a
 * report (a sweep scores every configuration on every fold): F1 of a class is
 * 2 tp / (true + predicted), averaged over the classes present in the truth or the predictions.
 */
function foldScore(truth: Int32Array, predicted: Int32Array, out: FoldCounts): void {
  out.right.fill(0);
  out.truth.fill(0);
  out.predicted.fill(0);
  let right = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    out.truth[t]!++;
    out.predicted[p]!++;
    if (t === p) {
      out.right[t]!++;
      right++;
    }
  }
  let sum = 0;
  let present = 0;
  for (let c = 0; c < out.right.length; c++) {
    const n = out.truth[c]! + out.predicted[c]!;
    if (n === 0) continue;
    present++;
    sum += (2 * out.right[c]!) / n;
  }
  out.accuracy = right / truth.length;
  out.macroF1 = sum / present;
}

/** Macro F1 over the classes that occur in the truth or the predictions (scikit-learn's default labels). */
function presentMacroF1(truth: Int32Array, predicted: Int32Array, classes: string[]): { accuracy: number; macroF1: number } {
  const report = classificationReport(confusionMatrix(truth, predicted, classes));
  const present = new Set([...truth, ...predicted]);
  const f1s = report.classes.filter((_, c) => present.has(c)).map((c) => c.f1);
  return { accuracy: report.accuracy, macroF1: f1s.reduce((s, v) => s + v, 0) / f1s.length };
}

/**
 * Nested cross-validation: how good is choosing by sweep? Outer stratified k-fold (repeat r
 * with seed outer.seed + r; by default the inner protocol's folds and repeats, with seeds
 * starting after the inner ones: seed + repeats); inside each outer training part the whole
 * sweep runs (its own inner folds on those rows only), its chosen configuration is trained on
 * the outer training part and scored on the outer test fold. onProgress counts outer folds.
 */
export async function nestedSweep(
  set: LabelledSet,
  gridIn: SweepGrid,
  protocol: SweepProtocol,
  engine: KnnEngine,
  onProgress?: (done: number, total: number) => void,
  outerIn?: OuterProtocol,
  options: SweepOptions = {},
): Promise<NestedResult> {
  const grid = checkGrid(gridIn);
  const outer: OuterProtocol =
    outerIn ??
    (protocol.name === 'kfold'
      ? { folds: protocol.folds, repeats: protocol.repeats, seed: protocol.seed + protocol.repeats }
      : { folds: 10, repeats: 5, seed: 1 });
  wholeNumber('--repeats', outer.repeats, 1);
  const partitions = Array.from({ length: outer.repeats }, (_, r) =>
    makeFolds(set.labels, set.classes.length, { name: 'kfold', folds: outer.folds, seed: outer.seed + r }),
  );
  const total = partitions.reduce((s, p) => s + p.length, 0);
  const outerFolds: OuterFoldResult[] = [];
  const pooledAcc: number[] = [];
  const pooledF1: number[] = [];
  const counts = new Map<number, { config: ModelConfig; count: number }>();
  let applied: SelectRule = options.select ?? 'one-se';
  const gridIndexOf = (c: ModelConfig) =>
    ((grid.scalers.indexOf(c.scaler) * grid.metrics.length + grid.metrics.findIndex((m) => sameMetric(m, c.metric))) * grid.weights.length + grid.weights.indexOf(c.weights)) *
      grid.ks.length +
    grid.ks.indexOf(c.k);
  for (let r = 0; r < outer.repeats; r++) {
    const pooled = new Int32Array(set.labels.length).fill(-1);
    for (const [f, fold] of partitions[r]!.entries()) {
      const train = subset(set, fold.train);
      const inner = await sweep(train, grid, protocol, engine, undefined, options);
      const config = inner.chosen.config;
      const keptBaseline = inner.chosen === inner.selection.baseline;
      applied = inner.selection.rule;
      const model = fitModel(train, config);
      const { votes } = await predict(model, set.features.take(fold.test), engine);
      fold.test.forEach((row, j) => {
        pooled[row] = votes.predicted[j]!;
      });
      const truth = Int32Array.from(fold.test, (i) => set.labels[i]!);
      const scores = presentMacroF1(truth, votes.predicted, set.classes);
      outerFolds.push({ repeat: r, fold: f, seed: outer.seed + r, trainRows: fold.train.length, testRows: fold.test.length, config, keptBaseline, ...scores });
      const gi = gridIndexOf(config);
      const entry = counts.get(gi) ?? { config, count: 0 };
      entry.count++;
      counts.set(gi, entry);
      onProgress?.(outerFolds.length, total);
    }
    const rep = classificationReport(confusionMatrix(set.labels, pooled, set.classes));
    pooledAcc.push(rep.accuracy);
    pooledF1.push(rep.macroAvg.f1);
  }
  const choices = [...counts.entries()].sort((a, b) => b[1].count - a[1].count || a[0] - b[0]).map(([, v]) => v);
  return {
    inner: protocol,
    outer,
    rows: set.labels.length,
    classes: set.classes,
    outerFolds,
    select: applied,
    keptBaseline: outerFolds.filter((o) => o.keptBaseline).length,
    accuracy: meanStd(outerFolds.map((o) => o.accuracy)),
    macroF1: meanStd(outerFolds.map((o) => o.macroF1)),
    pooled: { accuracy: meanStd(pooledAcc), macroF1: meanStd(pooledF1) },
    choices,
  };
}
