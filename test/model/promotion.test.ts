import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { readModel, storedNovelty } from '../../src/model/folder.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { decidePromotion, mcnemarExact, pairedEvaluation } from '../../src/model/promotion.js';
import { readVersionJson, versionDir } from '../../src/model/registry.js';
import { trainVersion } from '../../src/model/retrain.js';
import { rowIdentity } from '../../src/model/labels.js';
import { subset, type LabelledSet } from '../../src/knn/labelled-set.js';
import { fitModel, predict, type ModelConfig } from '../../src/knn/model.js';
import { Matrix } from '../../src/matrix.js';
import { mulberry32 } from '../../src/random.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Per-row correctness of two versions: the current right on `share` of the rows, the new one flipping `flips` of them. */
function outcomes(seed: number, rows: number, share: number, flip: (random: () => number, right: boolean) => boolean) {
  const random = mulberry32(seed);
  const current = Array.from({ length: rows }, () => random() < share);
  const candidate = current.map((right) => flip(random, right));
  return { current, candidate };
}

describe('decidePromotion', () => {
  const seed = Number(process.env.FLOWKNN_TEST_SEED ?? Date.now() % 100_000);
  console.log(`promotion guard: random outcomes with seed ${seed} (FLOWKNN_TEST_SEED=${seed} to repeat)`);

  it("McNemar's exact p-value is twice the binomial tail of the smaller discordant count", () => {
    expect(mcnemarExact(0, 0)).toBe(1);
    expect(mcnemarExact(5, 5)).toBe(1);
    expect(mcnemarExact(10, 0)).toBeCloseTo(2 / 1024, 12);
    // scipy.stats.binomtest(3, 15).pvalue = 0.03515625
    expect(mcnemarExact(3, 12)).toBeCloseTo(0.03515625, 10);
    expect(mcnemarExact(12, 3)).toBeCloseTo(0.03515625, 10);
  });

  it('refuses a version worse on the shared rows, beyond the tolerance and beyond noise', () => {
    // the new version loses a fifth of the rows the current one got right, and gains none
    const { current, candidate } = outcomes(seed, 400, 0.85, (random, right) => right && random() >= 0.2);
    const d = decidePromotion({ current, candidate, tolerance: 0.02, alpha: 0.05 });
    expect(d.promote).toBe(false);
    expect(d.candidateOnly).toBe(0);
    expect(d.currentOnly).toBeGreaterThan(30);
    expect(d.pValue).toBeLessThan(1e-6);
    expect(d.drop).toBeCloseTo(d.currentOnly / 400, 12);
    expect(d.reasons.at(-1)).toMatch(/^a drop of 0\.\d{3}, more than the tolerance 0\.02 and beyond noise \(p < 0\.05\)$/u);
  });

  it('accepts a version better on the shared rows', () => {
    // the new version gets half of the current one's mistakes right and keeps what it had
    const { current, candidate } = outcomes(seed + 1, 400, 0.7, (random, right) => right || random() < 0.5);
    const d = decidePromotion({ current, candidate, tolerance: 0.02, alpha: 0.05 });
    expect(d.promote).toBe(true);
    expect(d.candidateAccuracy).toBeGreaterThan(d.currentAccuracy);
    expect(d.reasons.at(-1)).toBe('not lower');
  });

  it('a drop beyond the tolerance that a few rows explain is noise; a sure drop within the tolerance is accepted', () => {
    // 20 rows: 3 lost, 1 gained: a drop of 0.1, p = 0.625
    const current = [...Array(16).fill(true), false, true, true, true];
    const candidate = [...Array(16).fill(true), true, false, false, false];
    const few = decidePromotion({ current, candidate, tolerance: 0.02, alpha: 0.05 });
    expect(few).toMatchObject({ promote: true, currentOnly: 3, candidateOnly: 1 });
    expect(few.reasons.at(-1)).toContain('within noise');
    // 10 000 rows: 150 lost, 50 gained: a drop of 0.01, far beyond noise, within the tolerance
    const many = decidePromotion({
      current: Array.from({ length: 10_000 }, (_, i) => i >= 50),
      candidate: Array.from({ length: 10_000 }, (_, i) => i < 50 || i >= 200),
      tolerance: 0.02,
      alpha: 0.05,
    });
    expect(many.pValue).toBeLessThan(1e-6);
    expect(many).toMatchObject({ promote: true, currentOnly: 150, candidateOnly: 50 });
    expect(many.reasons.at(-1)).toBe('a drop of 0.010, within the tolerance 0.02');
  });

  it('refuses outcomes of different rows', () => {
    expect(() => decidePromotion({ current: [true], candidate: [true, false], tolerance: 0.02, alpha: 0.05 })).toThrow(/same rows/u);
  });
});

describe('the promotion guard of train --registry', () => {
  const engine = new CpuEngine({ threads: 1 });
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await makeTempDir('flowknn-promotion-')));
  afterAll(async () => {
    await engine.dispose();
    await cleanup();
  });

  it('scores both versions on the same rows and folds, records both, refuses worse settings and takes better labels', async () => {
    const root = join(dir, 'models');
    const protocol = { name: 'kfold' as const, folds: 5, seed: 3 };
    await trainVersion({ root, name: 'seed', labels: { path: SEED_LABELS, selection: { exclude: ['nfs'] } }, protocol, engine });
    // unscaled features: bytes and bps swamp the rest
    const worse = await trainVersion({ root, name: 'seed', config: { scaler: 'none' }, engine });
    expect(worse.current).toBe(1);
    const info = (await readVersionJson(versionDir(root, 'seed', 2)))!;
    expect(info.promoted).toBe(false);
    expect(info.paired).toMatchObject({ protocol: 'kfold', folds: 5, rows: 380, current: { version: 1 }, alpha: 0.05, promote: false });
    const p = info.paired!;
    expect(p.candidate.accuracy).toBeLessThan(p.current.accuracy - 0.02);
    expect(p.current.correct - p.candidate.correct).toBe(p.current_only - p.candidate_only);
    expect(p.p_value).toBeLessThan(0.05);
    expect(info.reason).toMatch(/^kfold on v2's 380 rows, the same folds: accuracy 0\.\d{3} against v1's 0\.\d{3}, macro F1 .*McNemar p = .*beyond noise/u);
    // the new version's figure is its own evaluation under those folds
    expect(info.evaluation!.accuracy).toBeCloseTo(p.candidate.accuracy, 12);
    console.log(`guard: scaler none ${p.candidate.accuracy.toFixed(3)} against log-zscore ${p.current.accuracy.toFixed(3)} on 380 rows, p = ${p.p_value.toExponential(2)}`);

    // nfs rows labelled: v1 cannot name them, v3 can; v3 starts from v2's rows, back to log-zscore
    const better = await trainVersion({ root, name: 'seed', from: 1, labels: { path: SEED_LABELS, selection: { include: ['nfs'] } }, engine });
    expect(better.current).toBe(3);
    const v3 = (await readVersionJson(versionDir(root, 'seed', 3)))!;
    expect(v3.paired).toMatchObject({ rows: 396, current: { version: 1 }, promote: true });
    expect(v3.paired!.candidate_only).toBeGreaterThanOrEqual(v3.paired!.current_only);
  });

  it("a later version keeps its base version's novelty score form and quantile unless given", async () => {
    const root = join(dir, 'novelty');
    await trainVersion({ root, name: 'm', labels: { path: SEED_LABELS, selection: { exclude: ['nfs'] } }, protocol: 'none', noveltyScore: 'kth', noveltyQuantile: 0.9, engine });
    const v2 = await trainVersion({ root, name: 'm', labels: { path: SEED_LABELS, selection: { include: ['nfs'] } }, forcePromote: true, engine });
    expect(v2.novelty).toMatchObject({ score: 'kth', quantile: 0.9 });
    const v3 = await trainVersion({ root, name: 'm', config: { k: 5 }, noveltyScore: 'mean', forcePromote: true, engine });
    expect(v3.novelty).toMatchObject({ score: 'mean', quantile: 0.9, k: 5 });
    expect(storedNovelty((await readModel(v3.dir)).json)).toMatchObject({ score: 'mean', quantile: 0.9 });
  });

  it('a row held out of a fold is held out of the current version too', async () => {
    // the same rows and settings on both sides: identical predictions, row by row
    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    const config = { scaler: 'log-zscore' as const, k: 3, metric: { name: 'euclidean' as const }, weights: 'uniform' as const };
    const pe = await pairedEvaluation(set, config, set, config, { name: 'loo' }, engine);
    expect(pe.current.predicted).toEqual(pe.candidate.predicted);
    // and as leave-one-out scores them: no row is its own neighbour on either side
    const loo = await evaluate(set, config, { name: 'loo' }, engine);
    expect(pe.current.accuracy).toBe(loo.report.accuracy);
    expect(pe.current.predicted).toEqual(Array.from(loo.predicted, (c) => set.classes[c]));
  });

  it('leave-one-out without a refit per row gives the predictions of refitting both versions per fold', async () => {
    const seed = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    // rows named by host and window, as a night's are: a row keeps its identity when its features change
    const set: LabelledSet = { ...seed, keys: seed.keys.map((_, i) => `10.0.${i >> 8}.${i & 255}`), windowStart: seed.keys.map((_, i) => Date.UTC(2026, 10, 1) + i * 300_000) };
    // the current version: rows 0..299 (80 new rows it never had), row 10 twice (one identity,
    // two rows), and every third row of the first 60 with another row's features (its identity
    // kept, its features changed)
    const base = subset(set, [...Array.from({ length: 300 }, (_, i) => i), 10]);
    const features = new Matrix(Float64Array.from(base.features.data), base.features.rows, base.features.cols);
    for (let r = 0; r < 60; r += 3) for (let c = 0; c < features.cols; c++) features.data[r * features.cols + c] = features.data[((r * 7 + 100) % 300) * features.cols + c]!;
    const current: LabelledSet = { ...base, features };
    const config: ModelConfig = { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' };
    const currentConfig: ModelConfig = { scaler: 'zscore', k: 5, metric: { name: 'manhattan' }, weights: 'distance' };
    const pe = await pairedEvaluation(set, config, current, currentConfig, { name: 'loo' }, engine);
    expect(pe.folds).toBe(380);
    // the definition: fold r leaves out new row r, and every current row of its identity
    const id = (s: LabelledSet, i: number) => rowIdentity({ key: s.keys[i] ?? '', windowStart: s.windowStart?.[i] ?? null, firstSeen: s.firstSeen?.[i] ?? null, features: Array.from(s.features.row(i)) });
    const currentIds = Array.from({ length: current.features.rows }, (_, j) => id(current, j));
    const candidate: string[] = [];
    const cur: string[] = [];
    for (let r = 0; r < 380; r++) {
      const others = Array.from({ length: 380 }, (_, i) => i).filter((i) => i !== r);
      const c = await predict(fitModel(subset(set, others), config), set.features.take([r]), engine);
      candidate.push(set.classes[c.votes.predicted[0]!]!);
      const keep = currentIds.flatMap((cid, j) => (cid === id(set, r) ? [] : [j]));
      const p = await predict(fitModel(subset(current, keep), currentConfig), set.features.take([r]), engine);
      cur.push(current.classes[p.votes.predicted[0]!]!);
    }
    expect(pe.candidate.predicted).toEqual(candidate);
    expect(pe.current.predicted).toEqual(cur);
  });
});
