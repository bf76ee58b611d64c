import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArgumentsCamelCase } from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridFrom, parseKs, sweepCommand, type SweepArgs } from '../../src/cli/commands/sweep.js';
import { makeContext } from '../../src/cli/context.js';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import type { Metric } from '../../src/engines/engine.js';
import { FlowknnError } from '../../src/errors.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { classificationReport, confusionMatrix } from '../../src/eval/metrics.js';
import { makeFolds } from '../../src/eval/splits.js';
import { kPrefix, nestedSweep, sweep, type SweepGrid, type SweepProtocol, type SweepResult } from '../../src/eval/sweep.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { SCALERS } from '../../src/features/scalers.js';
import { readModel } from '../../src/model/folder.js';
import { type LabelledSet } from '../../src/knn/labelled-set.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { Collector, runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { gridMatrix, mulberry32, testSeed } from '../helpers/random.js';
import { makeTempDir } from '../helpers/tmp.js';

const engine = new CpuEngine({ threads: 1 });
afterAll(() => engine.dispose());

let seedSet: LabelledSet;
beforeAll(async () => {
  seedSet = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
});

const THREE: Metric[] = [{ name: 'euclidean' }, { name: 'manhattan' }, { name: 'chebyshev' }];
/** The default grid: k 1..15, three metrics, both weightings, all six scalers. */
const FULL: SweepGrid = { ks: Array.from({ length: 15 }, (_, i) => i + 1), metrics: THREE, weights: ['uniform', 'distance'], scalers: SCALERS };

/** Small integer features: many equal distances (and duplicate rows, distance 0) to exercise the tie rules. */
function tiedSet(seed: number): LabelledSet {
  const random = mulberry32(seed);
  const n = 90;
  const features = gridMatrix(n, 7, random, 3);
  const labels = Int32Array.from({ length: n }, (_, i) => (i < 40 ? 0 : i < 70 ? 1 : 2));
  return {
    featureSet: NFDUMP_STAT7,
    features,
    labels,
    classes: ['a', 'b', 'c'],
    keys: Array.from({ length: n }, (_, i) => `r${i}`),
    sourceFile: Array.from({ length: n }, () => 'synthetic'),
    sourceLine: Int32Array.from({ length: n }, (_, i) => i + 1),
  };
}

/** Every configuration of the sweep against a separate evaluate() per configuration and repeat. */
async function expectSameAsEvaluate(set: LabelledSet, grid: SweepGrid, protocol: SweepProtocol): Promise<SweepResult> {
  const res = await sweep(set, grid, protocol, engine, undefined, { keepPredictions: true });
  expect(res.configurations).toHaveLength(grid.ks.length * grid.metrics.length * grid.weights.length * grid.scalers.length);
  // Without kept predictions (the k-fold default) everything else is the same, ranking included.
  const lean = await sweep(set, grid, protocol, engine);
  expect(lean.configurations.map((c) => c.gridIndex)).toEqual(res.configurations.map((c) => c.gridIndex));
  expect(lean.chosen.gridIndex).toBe(res.chosen.gridIndex);
  expect(lean.selection.reason).toBe(res.selection.reason);
  expect(lean.testOverTrain).toBe(res.testOverTrain);
  lean.configurations.forEach((c, i) => {
    const full = res.configurations[i]!;
    expect(c.predicted).toHaveLength(protocol.name === 'loo' ? 1 : 0);
    expect({ ...c, predicted: [] }).toEqual({ ...full, predicted: [] });
  });
  for (const c of res.configurations) {
    for (let r = 0; r < res.repeats; r++) {
      const ev = await evaluate(set, c.config, protocol.name === 'loo' ? { name: 'loo' } : { name: 'kfold', folds: protocol.folds, seed: protocol.seed + r }, engine);
      expect(Array.from(ev.rows)).toEqual(Array.from({ length: set.labels.length }, (_, i) => i));
      expect(Array.from(c.predicted[r]!), `${JSON.stringify(c.config)} repeat ${r}`).toEqual(Array.from(ev.predicted));
      expect(c.confusion[r]!.matrix).toEqual(ev.confusion.matrix);
      expect(c.reports[r]!.accuracy).toBe(ev.report.accuracy);
      expect(c.reports[r]!.macroAvg.f1).toBe(ev.report.macroAvg.f1);
      // per-fold scores: the fold's own report, macro F1 over the classes present in it
      const folds = protocol.name === 'loo' ? makeFolds(set.labels, set.classes.length, { name: 'loo' }) : makeFolds(set.labels, set.classes.length, { name: 'kfold', folds: protocol.folds, seed: protocol.seed + r });
      folds.forEach((fold, f) => {
        const truth = Int32Array.from(fold.test, (i) => set.labels[i]!);
        const predicted = Int32Array.from(fold.test, (i) => ev.predicted[i]!);
        const report = classificationReport(confusionMatrix(truth, predicted, set.classes));
        const present = report.classes.filter((_, k) => truth.includes(k) || predicted.includes(k));
        const at = r * folds.length + f;
        expect(c.foldScores.accuracy[at], `fold ${at} accuracy`).toBeCloseTo(report.accuracy, 14);
        expect(c.foldScores.macroF1[at], `fold ${at} macro F1`).toBeCloseTo(present.reduce((sum, k) => sum + k.f1, 0) / present.length, 14);
      });
    }
  }
  return res;
}

describe('k-prefix of a neighbour list', () => {
  it('equals a search with the smaller k, ties included', async () => {
    const random = mulberry32(testSeed('kPrefix'));
    const train = gridMatrix(200, 4, random, 3);
    const queries = gridMatrix(50, 4, random, 3);
    for (const metric of [...THREE, { name: 'minkowski', p: 3 } as Metric]) {
      const all = await engine.search(train, queries, 20, metric);
      for (const k of [1, 2, 7, 19, 20]) {
        const direct = await engine.search(train, queries, k, metric);
        const view = kPrefix(all, k);
        expect(view.k).toBe(k);
        expect(Array.from(view.indices)).toEqual(Array.from(direct.indices));
        expect(Array.from(view.distances)).toEqual(Array.from(direct.distances));
      }
    }
    expect(() => kPrefix({ queries: 1, k: 2, indices: new Int32Array(2), distances: new Float64Array(2) }, 3)).toThrow(RangeError);
  });
});

describe('sweep predictions are exactly those of evaluate() per configuration', () => {
  it('stratified k-fold with repeats, seed data', async () => {
    const grid: SweepGrid = { ks: [1, 2, 5, 9], metrics: [{ name: 'manhattan' }, { name: 'chebyshev' }], weights: ['uniform', 'distance'], scalers: ['log-zscore', 'row-l2'] };
    const res = await expectSameAsEvaluate(seedSet, grid, { name: 'kfold', folds: 5, repeats: 2, seed: 11 });
    expect(res.seeds).toEqual([11, 12]);
    expect(res.searches).toBe(5 * 2 * 2 * 2);
  });

  it('leave-one-out, seed data', async () => {
    await expectSameAsEvaluate(seedSet, { ks: [1, 4, 6], metrics: [{ name: 'euclidean' }], weights: ['uniform', 'distance'], scalers: ['zscore'] }, { name: 'loo' });
  });

  it('tie-heavy data (equal distances, duplicate rows), k-fold and leave-one-out', async () => {
    const set = tiedSet(testSeed('sweep ties'));
    const grid: SweepGrid = { ks: [1, 3, 4, 8], metrics: [{ name: 'euclidean' }, { name: 'chebyshev' }], weights: ['uniform', 'distance'], scalers: ['none', 'minmax'] };
    await expectSameAsEvaluate(set, grid, { name: 'kfold', folds: 4, repeats: 2, seed: 3 });
    await expectSameAsEvaluate(set, { ...grid, scalers: ['none'] }, { name: 'loo' });
  });
});

describe('ranking', () => {
  it('is deterministic and follows macro F1, accuracy, then the simpler configuration', async () => {
    const grid: SweepGrid = { ks: [1, 2, 3, 5, 8], metrics: THREE, weights: ['uniform', 'distance'], scalers: ['log-zscore', 'none'] };
    const protocol: SweepProtocol = { name: 'kfold', folds: 5, repeats: 2, seed: 4 };
    const a = await sweep(seedSet, grid, protocol, engine);
    const b = await sweep(seedSet, grid, protocol, engine);
    const summary = (r: SweepResult) => r.configurations.map((c) => [c.rank, c.gridIndex, c.macroF1.mean, c.accuracy.mean]);
    expect(summary(b)).toEqual(summary(a));
    expect(a.selection.best).toBe(a.configurations[0]);
    expect(a.chosen).toBe(a.selection.kept);
    // k = 1 under both weightings predicts the same: uniform must come first
    const k1 = a.configurations.filter((c) => c.config.k === 1 && c.config.scaler === 'log-zscore' && c.config.metric.name === 'euclidean');
    expect(k1.map((c) => c.config.weights)).toEqual(['uniform', 'distance']);
    for (let i = 1; i < a.configurations.length; i++) {
      const [p, q] = [a.configurations[i - 1]!, a.configurations[i]!];
      expect(q.rank).toBe(p.rank + 1);
      expect(q.macroF1.mean).toBeLessThanOrEqual(p.macroF1.mean + 1e-12);
      if (Math.abs(q.macroF1.mean - p.macroF1.mean) < 1e-12) {
        expect(q.accuracy.mean).toBeLessThanOrEqual(p.accuracy.mean + 1e-12);
        if (Math.abs(q.accuracy.mean - p.accuracy.mean) < 1e-12) expect(q.config.k).toBeGreaterThanOrEqual(p.config.k);
      }
    }
    // mean and sd are over the repeats' pooled scores
    const c = a.chosen;
    const accs = c.reports.map((r) => r.accuracy);
    const mean = (accs[0]! + accs[1]!) / 2;
    expect(c.accuracy.mean).toBeCloseTo(mean, 15);
    expect(c.accuracy.std).toBeCloseTo(Math.abs(accs[0]! - accs[1]!) / 2, 15);
    expect(c.recall).toHaveLength(seedSet.classes.length);
  });
});

describe('the seed sweep (k 1..15, three metrics, both weightings, six scalers, 10 x 5 folds)', () => {
  it('10-fold x 5: the best is not beyond noise against the default, which is kept, and scores leave-one-out accuracy >= 0.81 and macro F1 >= 0.86', async () => {
    const res = await sweep(seedSet, FULL, { name: 'kfold', folds: 10, repeats: 5, seed: 1 }, engine);
    expect(res.rows).toBe(380);
    expect(res.configurations).toHaveLength(540);
    expect(res.searches).toBe(10 * 5 * 6 * 3);
    const sel = res.selection;
    expect(sel.best).toBe(res.configurations[0]);
    expect(sel.baselineIsDefault).toBe(true);
    // the same 50 folds for every configuration: per-fold scores whose mean is close to the pooled one
    expect(sel.best.foldScores.macroF1).toHaveLength(50);
    expect(Math.abs(sel.best.foldScores.accuracy.reduce((a, b) => a + b, 0) / 50 - sel.best.accuracy.mean)).toBeLessThan(0.01);
    console.log(`[sweep] best ${JSON.stringify(sel.best.config)} macro F1 ${sel.best.macroF1.mean}; se ${sel.se}; ${sel.within} within; kept ${JSON.stringify(res.chosen.config)}: ${sel.reason}`);
    expect(sel.bestVsBaseline.kind === 'folds' && sel.bestVsBaseline.macroF1.p).toBeGreaterThan(0.05);
    expect(res.chosen.config).toEqual({ scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
    const loo = await evaluate(seedSet, res.chosen.config, { name: 'loo' }, engine);
    console.log(`[sweep] chosen ${JSON.stringify(res.chosen.config)}: sweep macro F1 ${res.chosen.macroF1.mean} sd ${res.chosen.macroF1.std}; LOO accuracy ${loo.report.accuracy}, macro F1 ${loo.report.macroAvg.f1}`);
    expect(loo.report.accuracy).toBeGreaterThanOrEqual(0.81);
    expect(loo.report.macroAvg.f1).toBeGreaterThanOrEqual(0.86);
  });
});

describe('nested sweep', () => {
  it('runs folds x repeats outer folds and gives scores between 0 and 1', async () => {
    const grid: SweepGrid = { ks: [1, 3, 5, 9], metrics: [{ name: 'euclidean' }, { name: 'manhattan' }], weights: ['uniform', 'distance'], scalers: ['log-zscore', 'row-l2'] };
    const progress: number[] = [];
    const n = await nestedSweep(seedSet, grid, { name: 'kfold', folds: 5, repeats: 2, seed: 1 }, engine, (done) => progress.push(done));
    expect(n.outer).toEqual({ folds: 5, repeats: 2, seed: 3 });
    expect(n.outerFolds).toHaveLength(10);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(n.outerFolds.reduce((s, o) => s + o.testRows, 0)).toBe(2 * 380);
    for (const s of [n.accuracy, n.macroF1, n.pooled.accuracy, n.pooled.macroF1]) {
      expect(s.mean).toBeGreaterThan(0.5);
      expect(s.mean).toBeLessThanOrEqual(1);
      expect(s.std).toBeGreaterThanOrEqual(0);
      expect(s.std).toBeLessThan(0.5);
    }
    for (const o of n.outerFolds) {
      expect(o.accuracy).toBeGreaterThanOrEqual(0);
      expect(o.accuracy).toBeLessThanOrEqual(1);
      expect(o.macroF1).toBeGreaterThanOrEqual(0);
      expect(o.macroF1).toBeLessThanOrEqual(1);
    }
    expect(n.choices.reduce((s, c) => s + c.count, 0)).toBe(10);
    expect(n.choices.map((c) => c.count)).toEqual([...n.choices.map((c) => c.count)].sort((a, b) => b - a));
  });
});

function args(over: Partial<SweepArgs>): ArgumentsCamelCase<SweepArgs> {
  return {
    _: ['sweep'],
    $0: 'flowknn',
    labels: SEED_LABELS,
    exclude: ['nfs'],
    k: ['1..15'],
    metrics: ['euclidean,manhattan,chebyshev'],
    weights: ['uniform,distance'],
    scalers: [SCALERS.join(',')],
    protocol: 'kfold',
    folds: 10,
    repeats: 5,
    seed: 1,
    nested: false,
    'novelty-quantile': 0.95,
    format: 'text',
    top: 20,
    engine: 'cpu',
    threads: 1,
    algorithm: 'auto',
    ...over,
  } as ArgumentsCamelCase<SweepArgs>;
}

async function runHandler(over: Partial<SweepArgs>) {
  const stdout = new Collector();
  const stderr = new Collector();
  const ctx = makeContext(stdout, stderr, true);
  await sweepCommand(ctx).handler(args(over));
  return { stdout: stdout.text, stderr: stderr.text };
}

async function usage(over: Partial<SweepArgs>): Promise<FlowknnError> {
  try {
    await runHandler(over);
  } catch (err) {
    expect(err).toBeInstanceOf(FlowknnError);
    return err as FlowknnError;
  }
  throw new Error(`no error for ${JSON.stringify(over)}`);
}

describe('flowknn sweep (command handler)', () => {
  it('k lists and ranges', () => {
    expect(parseKs(['1..15'])).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(parseKs(['5,1..3', '3', 9])).toEqual([1, 2, 3, 5, 9]);
    expect(gridFrom({ k: ['2'], metrics: ['minkowski,euclidean'], p: 3, weights: ['distance'], scalers: ['zscore'] }).metrics).toEqual([{ name: 'minkowski', p: 3 }, { name: 'euclidean' }]);
  });

  it('bad grid values are usage errors (exit 2) naming the flag and what is allowed', async () => {
    const cases: [Partial<SweepArgs>, RegExp][] = [
      [{ k: ['0..3'] }, /--k/u],
      [{ k: ['9..2'] }, /--k/u],
      [{ k: ['x'] }, /--k/u],
      [{ k: ['1,,2'] }, /--k/u],
      [{ k: ['500'] }, /--k: 500 is more than the 342 training rows/u],
      [{ metrics: ['euclidean,hamming'] }, /--metrics: unknown value "hamming"/u],
      [{ metrics: ['minkowski'] }, /--metrics minkowski needs --p/u],
      [{ metrics: ['minkowski'], p: 0.5 }, /--metrics minkowski needs --p \(a number >= 1\)/u],
      [{ p: 2 }, /--p applies only/u],
      [{ weights: ['uniform,majority'] }, /--weights: unknown value "majority"/u],
      [{ weights: ['uniform,uniform'] }, /--weights: uniform is listed twice/u],
      [{ scalers: ['zscore,pca'] }, /--scalers: unknown value "pca"/u],
      [{ scalers: [''] }, /--scalers: give at least one value/u],
      [{ folds: 1 }, /--folds/u],
      [{ repeats: 0 }, /--repeats/u],
      [{ top: -1 }, /--top/u],
    ];
    for (const [over, message] of cases) {
      const err = await usage(over);
      expect(err.kind, JSON.stringify(over)).toBe('usage');
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(message);
    }
    expect((await usage({ metrics: ['hamming'] })).hint).toMatch(/euclidean, sqeuclidean, manhattan, chebyshev, minkowski, cosine/u);
    expect((await usage({ scalers: ['pca'] })).hint).toMatch(/none, zscore, minmax, log-zscore, row-l2, quantile/u);
    const loo = await usage({ protocol: 'loo', select: 'one-se' });
    expect(loo.message).toBe('--select one-se needs per-fold scores, which --protocol loo does not give');
    expect(loo.hint).toMatch(/--protocol kfold, or --select best/u);
    expect((await usage({ weights: ['x'] })).hint).toMatch(/uniform, distance/u);
  });

  it('prints the ranked table and the chosen configuration; writes CSV, JSON and the model folder', async () => {
    const tmp = await makeTempDir('flowknn-sweep-');
    try {
      const csv = join(tmp.dir, 'sweep.csv');
      const json = join(tmp.dir, 'sweep.json');
      const model = join(tmp.dir, 'model');
      const over: Partial<SweepArgs> = { k: ['1..5'], metrics: ['euclidean'], scalers: ['log-zscore,zscore'], folds: 5, repeats: 2, top: 3, csv, out: json, 'save-model': model };
      const { stdout } = await runHandler(over);
      expect(stdout).toMatch(/^sweep: stratified 5-fold x 2 repeats \(seeds 1\.\.2\); 380 rows, 5 classes; 20 configurations/mu);
      expect(stdout).toMatch(/^rank +scaler +metric +weights +k +macro F1 +sd +accuracy +sd +smtp +http +tivoli +small-flood +incoming-floods$/mu);
      expect(stdout).toMatch(/^ +3 +\S+ +euclidean/mu);
      expect(stdout).not.toMatch(/^ +4 +\S+ +euclidean/mu);
      expect(stdout).toMatch(/\(17 more: --top 0 prints all/u);
      const chosen = /^chosen: scaler (\S+), euclidean, (\w+) votes, k = (\d+)/mu.exec(stdout)!;
      expect(chosen).not.toBeNull();
      interface Row { rank: number; scaler: string; weights: string; k: number }
      const parsed = JSON.parse(await readFile(json, 'utf8')) as {
        chosen: Row & { macro_f1: { mean: number } };
        configurations: unknown[];
        selection: { rule: string; best: Row & { macro_f1: number }; baseline: Row & { is_default: boolean }; kept: Row; reason: string; best_vs_baseline: { folds: number; macro_f1: { p: number } } };
        saved_model: { reason: string; evaluation: { protocol: string; accuracy: number } };
        honest_estimate: string;
      };
      expect(parsed.configurations).toHaveLength(20);
      expect([parsed.chosen.scaler, parsed.chosen.weights, String(parsed.chosen.k)]).toEqual(chosen.slice(1, 4));
      // what is kept is the rule's choice or the default, for the reason printed and stored
      expect(parsed.selection.rule).toBe('one-se');
      expect(parsed.selection.baseline).toMatchObject({ scaler: 'log-zscore', weights: 'uniform', k: 3, is_default: true });
      expect(parsed.selection.kept.rank).toBe(parsed.chosen.rank);
      expect(parsed.selection.best_vs_baseline.folds).toBe(10);
      expect(parsed.saved_model.reason).toBe(parsed.selection.reason);
      expect(stdout).toContain(`\n  because ${parsed.selection.reason}\n`);
      expect(stdout).toMatch(/^best: scaler \S+, euclidean, \w+ votes, k = \d+/mu);
      expect(stdout).toMatch(/^one-standard-error rule: the best's macro F1 [\d.]+ less the standard error of its 10 fold scores/mu);
      expect(stdout).toMatch(/^against the default \(the same 10 folds, per-fold difference: mean, corrected standard error, paired t-test\):$/mu);
      expect(stdout).toMatch(/^the scores above are optimistic for the chosen configuration .*--nested gives the honest figure/mu);
      expect(stdout).toContain(`saved model ${model}: scaler ${parsed.chosen.scaler}, euclidean, ${parsed.chosen.weights} votes, k = ${parsed.chosen.k}, because ${parsed.selection.reason}; leave-one-out`);
      expect(parsed.honest_estimate).toMatch(/^none: .*--nested/u);
      const lines = (await readFile(csv, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(21);
      expect(lines[0]).toBe('rank,scaler,metric,p,weights,k,macro_f1_mean,macro_f1_std,accuracy_mean,accuracy_std,recall_smtp,recall_http,recall_tivoli,recall_small-flood,recall_incoming-floods');
      const best = parsed.selection.best;
      expect(lines[1]!.split(',').slice(0, 7)).toEqual(['1', best.scaler, 'euclidean', '', best.weights, String(best.k), String(best.macro_f1)]);
      expect(lines[parsed.chosen.rank]!.split(',').slice(0, 7)).toEqual([String(parsed.chosen.rank), parsed.chosen.scaler, 'euclidean', '', parsed.chosen.weights, String(parsed.chosen.k), String(parsed.chosen.macro_f1.mean)]);
      const loaded = await readModel(model);
      expect(loaded.model.config).toEqual({ scaler: parsed.chosen.scaler, metric: { name: 'euclidean' }, weights: parsed.chosen.weights, k: parsed.chosen.k });
      expect(loaded.json.evaluation?.protocol).toBe('loo');
      expect(loaded.json.evaluation?.accuracy).toBe(parsed.saved_model.evaluation.accuracy);
      const ev = await evaluate(seedSet, loaded.model.config, { name: 'loo' }, engine);
      expect(loaded.json.evaluation?.accuracy).toBe(ev.report.accuracy);
      // the novelty threshold train would store for the same configuration (without one, a
      // nightly job's alertOnNovel never fires)
      const trained = join(tmp.dir, 'trained');
      const t = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', parsed.chosen.scaler, '--weights', parsed.chosen.weights, '--k', String(parsed.chosen.k), '--protocol', 'none', '--engine', 'cpu', '--out', trained, '--quiet']);
      expect(t.code, t.stderr).toBe(0);
      const fromTrain = (await readModel(trained)).json.novelty;
      expect(fromTrain).not.toBeNull();
      expect(loaded.json.novelty).toEqual(fromTrain);
    } finally {
      await tmp.cleanup();
    }
  });

  it('--nested leads with the honest estimate and counts the outer folds that kept the default', async () => {
    const { stdout } = await runHandler({ k: ['1..5'], metrics: ['euclidean'], scalers: ['log-zscore,quantile'], folds: 3, repeats: 1, nested: true });
    expect(stdout).toMatch(/^nested estimate \(the honest headline figure: every choice made inside the training folds\): accuracy [\d.]+ \(sd [\d.]+\), macro F1 [\d.]+ \(sd [\d.]+\) over 3 outer folds$/mu);
    expect(stdout).toMatch(/one-standard-error rule choose, against its baseline as --save-model would; .*the baseline was kept in \d of 3$/mu);
    expect(stdout).not.toMatch(/the scores above are optimistic/u);
  });

  it('--format json with --nested and --protocol loo', async () => {
    const { stdout } = await runHandler({ k: ['1,3'], metrics: ['manhattan'], weights: ['uniform'], scalers: ['log-zscore'], protocol: 'loo', folds: 3, repeats: 1, nested: true, format: 'json' });
    const json = JSON.parse(stdout) as {
      protocol: { name: string; folds: number };
      nested: { outer_folds: number; outer: { seeds: number[] }; accuracy: { mean: number }; choices: { count: number }[]; select: string; kept_baseline: number; folds: { kept_baseline: boolean }[] };
      honest_estimate: string;
    };
    expect(json.honest_estimate).toMatch(/^nested: every choice made inside the outer training folds/u);
    expect(json.nested.select).toBe('best');
    expect(json.nested.kept_baseline).toBe(json.nested.folds.filter((f) => f.kept_baseline).length);
    expect(json.protocol).toEqual({ name: 'loo', folds: 380, repeats: 1 });
    expect(json.nested.outer_folds).toBe(3);
    expect(json.nested.outer.seeds).toEqual([2]);
    expect(json.nested.accuracy.mean).toBeGreaterThan(0.5);
    expect(json.nested.choices.reduce((s, c) => s + c.count, 0)).toBe(3);
    // left to the default, leave-one-out takes the best, and says so
    const sel = (json as unknown as { selection: { rule: string; note: string; best_vs_baseline: { test: string; rows: number } } }).selection;
    expect(sel.rule).toBe('best');
    expect(sel.note).toMatch(/^leave-one-out has no per-fold scores/u);
    expect(sel.best_vs_baseline).toMatchObject({ test: 'McNemar exact, on the rows', rows: 380 });
  });
});
