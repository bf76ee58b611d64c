import { describe, expect, it } from 'vitest';
import type { Metric } from '../../src/engines/engine.js';
import { select, simplicityOrder, type Scored } from '../../src/eval/selection.js';
import { correctedStandardError, meanSd } from '../../src/eval/stats.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../../src/knn/model.js';
import { DEFAULT_MODEL_CONFIG } from '../../src/model/retrain.js';
import { mulberry32, testSeed } from '../helpers/random.js';

/**
 * The selection rule on configurations whose fold scores are made up, so that each case is
 * known: the one-standard-error bar, the simplicity order, and the default kept unless a
 * choice beats it beyond noise.
 */
const METRICS: Metric[] = [{ name: 'euclidean' }, { name: 'manhattan' }, { name: 'chebyshev' }];
const GRID = { scalers: ['none', 'zscore', 'log-zscore', 'quantile'], metrics: METRICS };
const FOLDS = 50;
const RATIO = 1 / 9;

function cfg(over: Partial<ModelConfig>): ModelConfig {
  return { ...DEFAULT_CONFIG, ...over };
}

/** A configuration scoring `level` + the shared mean on average, with its own per-fold noise
 *  of width `noise` around it (centred, so that the ranking of the levels is exact). */
function scored(config: ModelConfig, level: number, shared: Float64Array, noise: number, random: () => number): Omit<Scored, 'rank'> {
  const own = Float64Array.from(shared, () => noise * (random() - 0.5));
  const centre = meanSd(own).mean;
  const macroF1 = Float64Array.from(shared, (s, f) => level + s + own[f]! - centre);
  return { config, macroF1: { mean: meanSd(macroF1).mean }, accuracy: { mean: meanSd(macroF1).mean - 0.05 }, foldScores: { macroF1, accuracy: macroF1.map((v) => v - 0.05) }, predicted: [] };
}

function ranked(list: Omit<Scored, 'rank'>[]): Scored[] {
  return [...list].sort((a, b) => b.macroF1.mean - a.macroF1.mean).map((c, i) => ({ ...c, rank: i + 1 }));
}

describe('simplicity order', () => {
  it('the default first, then fewer changes, uniform votes, k near 3, the default scaler, then the default metric, then list order', () => {
    const order = simplicityOrder(GRID.scalers, METRICS);
    const configs = [
      cfg({ k: 9, weights: 'distance', metric: { name: 'chebyshev' } }),
      cfg({ scaler: 'quantile' }),
      cfg({ k: 4 }),
      cfg({ k: 2 }),
      cfg({ weights: 'distance' }),
      cfg({ scaler: 'zscore' }),
      cfg({ metric: { name: 'manhattan' } }),
      cfg({ k: 15 }),
      DEFAULT_CONFIG,
      cfg({ scaler: 'quantile', k: 1 }),
    ];
    const sorted = [...configs].sort(order);
    const label = (c: ModelConfig) => `${c.scaler} ${c.metric.name} ${c.weights} ${c.k}`;
    expect(sorted.map(label)).toEqual([
      'log-zscore euclidean uniform 3',
      'log-zscore manhattan uniform 3',
      'zscore euclidean uniform 3',
      'quantile euclidean uniform 3',
      'log-zscore euclidean uniform 2',
      'log-zscore euclidean uniform 4',
      'log-zscore euclidean uniform 15',
      'log-zscore euclidean distance 3',
      'quantile euclidean uniform 1',
      'log-zscore chebyshev distance 9',
    ]);
  });

  it('the default of a sweep is the default train uses', () => {
    expect(DEFAULT_CONFIG).toEqual(DEFAULT_MODEL_CONFIG);
  });
});

describe('one-standard-error rule and the paired guard', () => {
  const seed = testSeed('selection');
  const random = mulberry32(seed);
  // fold difficulty shared by every configuration (the same folds), as in a real sweep
  const shared = Float64Array.from({ length: FOLDS }, () => 0.1 * (random() - 0.5));

  it('a best within one standard error of the default: the default is chosen and kept', () => {
    const list = ranked([
      scored(cfg({ scaler: 'quantile', k: 1 }), 0.87, shared, 0.08, random),
      scored(cfg({ k: 9, metric: { name: 'chebyshev' } }), 0.868, shared, 0.08, random),
      scored(DEFAULT_CONFIG, 0.866, shared, 0.08, random),
      scored(cfg({ scaler: 'none' }), 0.6, shared, 0.08, random),
    ]);
    const sel = select(list, GRID, [], 'folds', RATIO);
    const best = list[0]!;
    expect(sel.best).toBe(best);
    const se = correctedStandardError(meanSd(best.foldScores.macroF1).sd, FOLDS, RATIO);
    expect(sel.se).toBeCloseTo(se, 15);
    expect(sel.bar).toBeCloseTo(best.macroF1.mean - se, 15);
    expect(sel.within).toBe(list.filter((c) => c.macroF1.mean >= best.macroF1.mean - se).length);
    expect(sel.pick.config).toEqual(DEFAULT_CONFIG);
    expect(sel.baseline.config).toEqual(DEFAULT_CONFIG);
    expect(sel.baselineIsDefault).toBe(true);
    expect(sel.kept.config).toEqual(DEFAULT_CONFIG);
    expect(sel.reason).toBe('the default is within one standard error of the best');
    expect(sel.bestVsBaseline.kind).toBe('folds');
  });

  it('a configuration far better than the default on every fold is chosen and kept, the gain beyond noise', () => {
    const list = ranked([scored(cfg({ scaler: 'quantile', k: 1 }), 0.95, shared, 0.01, random), scored(cfg({ scaler: 'quantile' }), 0.9, shared, 0.01, random), scored(DEFAULT_CONFIG, 0.8, shared, 0.01, random)]);
    const sel = select(list, GRID, [], 'folds', RATIO);
    expect(sel.pick.config).toEqual(cfg({ scaler: 'quantile', k: 1 }));
    expect(sel.kept).toBe(sel.pick);
    expect(sel.pickVsBaseline.kind === 'folds' && sel.pickVsBaseline.macroF1.p).toBeLessThan(0.05);
    expect(sel.reason).toMatch(/^its gain over the default is beyond noise \(p = \S+ < 0\.05\)$/u);
  });

  it('a pick outside one standard error of the best but not beyond noise against the default: the default is kept', () => {
    // the best is steady (small standard error); the default, just under the bar, is noisy
    const steady = scored(cfg({ metric: { name: 'manhattan' }, k: 5 }), 0.87, shared, 0.002, random);
    // 0.015 below the best on average, 0.2 above or below it fold by fold
    const swings = steady.foldScores.macroF1.map((v, f) => v - 0.015 + (f % 2 === 0 ? 0.2 : -0.2));
    const noisy = { ...steady, config: DEFAULT_CONFIG, macroF1: { mean: meanSd(swings).mean }, foldScores: { macroF1: swings, accuracy: swings } };
    const list = ranked([steady, noisy]);
    const sel = select(list, GRID, [], 'folds', RATIO);
    expect(sel.within).toBe(1);
    expect(sel.pick).toBe(sel.best);
    expect(sel.pickVsBaseline.kind === 'folds' && sel.pickVsBaseline.macroF1.p).toBeGreaterThan(0.05);
    expect(sel.kept.config).toEqual(DEFAULT_CONFIG);
    expect(sel.reason).toMatch(/^the gain of the simplest configuration within one standard error over the default is within noise \(p = [\d.]+\), so the default is kept$/u);
  });

  it('--select best takes the best, and still keeps the default when its gain is noise', () => {
    const list = ranked([scored(cfg({ k: 9, weights: 'distance', metric: { name: 'chebyshev' } }), 0.866, shared, 0.08, random), scored(DEFAULT_CONFIG, 0.86, shared, 0.08, random)]);
    const sel = select(list, GRID, [], 'folds', RATIO, 'best');
    expect(sel.rule).toBe('best');
    expect(sel.se).toBeUndefined();
    expect(sel.pick).toBe(list[0]);
    expect(sel.kept.config).toEqual(DEFAULT_CONFIG);
  });

  it('a grid without the default compares with its simplest configuration', () => {
    const list = ranked([scored(cfg({ scaler: 'quantile', k: 7 }), 0.87, shared, 0.05, random), scored(cfg({ scaler: 'zscore', k: 5 }), 0.86, shared, 0.05, random)]);
    const sel = select(list, GRID, [], 'folds', RATIO);
    expect(sel.baselineIsDefault).toBe(false);
    expect(sel.baseline.config).toEqual(cfg({ scaler: 'zscore', k: 5 }));
  });

  it('leave-one-out: the best, compared with the default on the rows by McNemar', () => {
    const truth = Int32Array.from({ length: 40 }, (_, i) => i % 2);
    const right = Int32Array.from(truth);
    const wrongOn = (n: number) => Int32Array.from(truth, (t, i) => (i < n ? 1 - t : t));
    const row = (config: ModelConfig, predicted: Int32Array, f1: number): Omit<Scored, 'rank'> => ({ config, macroF1: { mean: f1 }, accuracy: { mean: f1 }, foldScores: { macroF1: new Float64Array(0), accuracy: new Float64Array(0) }, predicted: [predicted] });
    const near = select(ranked([row(cfg({ k: 5 }), wrongOn(2), 0.95), row(DEFAULT_CONFIG, wrongOn(4), 0.9)]), GRID, truth, 'rows', 1 / 39);
    expect(near.rule).toBe('best');
    expect(near.note).toMatch(/leave-one-out has no per-fold scores/u);
    expect(near.pickVsBaseline).toMatchObject({ kind: 'rows', mcnemar: { onlyA: 2, onlyB: 0 } });
    expect(near.kept.config).toEqual(DEFAULT_CONFIG);
    const far = select(ranked([row(cfg({ k: 5 }), right, 1), row(DEFAULT_CONFIG, wrongOn(20), 0.5)]), GRID, truth, 'rows', 1 / 39);
    expect(far.kept.config).toEqual(cfg({ k: 5 }));
  });
});
