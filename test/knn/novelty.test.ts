import { tableFromIPC } from 'apache-arrow';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { auroc, calibrateNovelty, kthDistances, leaveOneOutScores, noveltyScores, noveltyShare, quantile } from '../../src/knn/novelty.js';
import { modelJsonDigest, readModel, storedNovelty } from '../../src/model/folder.js';
import { Matrix } from '../../src/matrix.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { fitModel, predict } from '../../src/knn/model.js';
import { runMain } from '../helpers/cli.js';
import { SEED_LABELS, SEED_PROBES } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('novelty scores', () => {
  const engine = new CpuEngine({ threads: 1 });
  afterAll(() => engine.dispose());

  it('quantile interpolates between order statistics like numpy', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.95)).toBeCloseTo(4.8, 12);
    expect(quantile([7], 0.95)).toBe(7);
    expect(quantile([1, 2, 3], 1)).toBe(3);
  });

  it('auroc is the chance that a positive outscores a negative, ties counting half', () => {
    expect(auroc([3, 4], [1, 2])).toBe(1);
    expect(auroc([1, 2], [3, 4])).toBe(0);
    expect(auroc([1, 1], [1, 1])).toBe(0.5);
    expect(auroc([2, 5], [1, 3])).toBe(0.75);
  });

  it('leave-one-out scores never count a row as its own neighbour, also among duplicates', async () => {
    // rows 0-2 identical, row 3 and 4 farther out on a line
    const set = { ...(await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['smtp'] })) };
    const features = Matrix.fromRows([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 5], [1, 1, 1, 1, 1, 1, 9]]);
    const model = fitModel({ ...set, features, labels: new Int32Array(5), keys: Array(5).fill('h'), sourceFile: Array(5).fill('f'), sourceLine: new Int32Array(5) }, { scaler: 'none', k: 2, metric: { name: 'euclidean' }, weights: 'uniform' });
    const scores = await leaveOneOutScores(model, engine, 'kth');
    // each duplicate's 2 other nearest rows are the other two duplicates: 0; row 3: 4 then 4; row 4: 4 then 8
    expect(Array.from(scores)).toEqual([0, 0, 0, 4, 8]);
    // the mean form: the mean of the same two distances
    expect(Array.from(await leaveOneOutScores(model, engine, 'mean'))).toEqual([0, 0, 0, 4, 6]);
  });

  it('the mean form averages the first k distances; the kth form takes the k-th', () => {
    const nb = { queries: 2, k: 3, indices: new Int32Array([0, 1, 2, 3, 4, 5]), distances: new Float64Array([1, 2, 6, 0, 0, 9]) };
    expect(Array.from(noveltyScores(nb, 3, 'mean'))).toEqual([3, 3]);
    expect(Array.from(noveltyScores(nb, 2, 'mean'))).toEqual([1.5, 0]);
    expect(Array.from(noveltyScores(nb, 3, 'kth'))).toEqual([6, 9]);
  });

  it('a night far above the expected novel share is drift, with the words an operator acts on; near it, or with few rows, is not', () => {
    const far = noveltyShare(31, 100, 0.95);
    expect(far).toMatchObject({ rows: 100, novel: 31, share: 0.31, drift: true });
    expect(far.expected).toBeCloseTo(0.05, 12);
    expect(far.warning).toBe("31% novel against 5.0% expected: tonight's traffic is far from the training data; label some rows (flowknn label suggest)");
    expect(noveltyShare(8, 100, 0.95)).toMatchObject({ drift: false, warning: null });
    // 3 of 5 rows is a high share but too few rows to call it a trend
    expect(noveltyShare(3, 5, 0.95).drift).toBe(false);
    expect(noveltyShare(0, 0, 0.95)).toMatchObject({ share: 0, drift: false });
  });

  it('on the seed data with nfs held out, the nfs rows score as novel (AUROC >= 0.90, >= 60% flagged at the 0.95 quantile)', async () => {
    const known = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    const nfs = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['nfs'] });
    const model = fitModel(known, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
    const looScores = await leaveOneOutScores(model, engine, 'kth');
    const calibration = await calibrateNovelty(model, engine, 0.95, 'kth');
    expect(calibration.threshold).toBe(quantile(looScores, 0.95));
    const { neighbours } = await predict(model, nfs.features, engine);
    const nfsScores = kthDistances(neighbours, 3);
    const area = auroc(nfsScores, looScores);
    const flagged = nfsScores.filter((s) => s > calibration.threshold).length / nfsScores.length;
    console.log(`seed novelty: ${nfs.features.rows} nfs rows vs ${known.features.rows} known rows: AUROC ${area.toFixed(3)}, flagged ${(100 * flagged).toFixed(1)}% at threshold ${calibration.threshold.toFixed(4)}`);
    expect(area).toBeGreaterThanOrEqual(0.9);
    expect(flagged).toBeGreaterThanOrEqual(0.6);
    // about 5% of the known rows lie beyond their own threshold (by construction of the quantile)
    const knownFlagged = looScores.filter((s) => s > calibration.threshold).length / looScores.length;
    expect(knownFlagged).toBeLessThanOrEqual(0.06);
  });

  it('on the same data the mean form (the default) tells nfs apart better than the k-th distance', async () => {
    const known = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    const nfs = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['nfs'] });
    const model = fitModel(known, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
    const { neighbours } = await predict(model, nfs.features, engine);
    const area = Object.fromEntries(
      await Promise.all((['kth', 'mean'] as const).map(async (form) => [form, auroc(noveltyScores(neighbours, 3, form), await leaveOneOutScores(model, engine, form))] as const)),
    );
    const mean = await calibrateNovelty(model, engine, 0.95);
    expect(mean.score).toBe('mean');
    const flagged = noveltyScores(neighbours, 3, 'mean').filter((s) => s > mean.threshold).length / nfs.features.rows;
    console.log(`seed novelty, k = 3: AUROC kth ${area.kth!.toFixed(3)}, mean ${area.mean!.toFixed(3)}; mean flags ${(100 * flagged).toFixed(1)}% of nfs`);
    expect(area.mean!).toBeGreaterThan(area.kth!);
    expect(flagged).toBeGreaterThanOrEqual(0.6);
  });
});

describe('novelty through the CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await makeTempDir()));
  afterAll(() => cleanup());

  it('train stores the threshold; classify scores rows, flags them, and can label them unknown', async () => {
    const model = join(dir, 'model');
    const trained = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', model]);
    expect(trained.code, trained.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8')) as { novelty: { quantile: number; threshold: number; k: number; score: string } };
    expect(json.novelty.quantile).toBe(0.95);
    expect(json.novelty.k).toBe(3);
    expect(json.novelty.score).toBe('mean');
    expect(json.novelty.threshold).toBeGreaterThan(0);

    const nfsFile = join(SEED_LABELS, 'nfs.raw');
    const nfs16Rows = (await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['nfs'] })).features.rows;
    const out = join(dir, 'nfs');
    const run = await runMain(['classify', nfsFile, join(SEED_PROBES, 'test-samples.raw'), '--model', model, '--engine', 'cpu', '--out', out, '--unknown-label', 'unknown']);
    expect(run.code, run.stderr).toBe(0);
    const table = tableFromIPC(await readFile(join(out, 'predictions.arrow')));
    const novel = table.getChild('novel')!.toArray() as boolean[];
    const score = table.getChild('novelty')!.toArray() as Float64Array;
    const predicted = table.getChild('predicted')!.toArray() as string[];
    const voted = table.getChild('voted')!.toArray() as string[];
    const source = table.getChild('source_file')!.toArray() as string[];
    let nfsRows = 0;
    let nfsNovel = 0;
    for (let i = 0; i < table.numRows; i++) {
      expect(novel[i]).toBe(score[i]! > json.novelty.threshold);
      expect(predicted[i]).toBe(novel[i] ? 'unknown' : voted[i]);
      if (source[i]!.endsWith('nfs.raw')) {
        nfsRows++;
        if (novel[i]) nfsNovel++;
      }
    }
    expect(nfsRows).toBe(nfs16Rows);
    expect(nfsNovel / nfsRows).toBeGreaterThanOrEqual(0.6);
    expect(run.stderr).toMatch(/novel: \d+ of \d+ rows/u);
  });

  it('train --novelty-score kth stores the form; a model.json without the field reads as the k-th distance', async () => {
    const model = join(dir, 'kth');
    const trained = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--novelty-score', 'kth', '--protocol', 'none', '--engine', 'cpu', '--out', model]);
    expect(trained.code, trained.stderr).toBe(0);
    const file = join(model, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & { novelty: Record<string, unknown> };
    expect(json.novelty.score).toBe('kth');
    expect(storedNovelty((await readModel(model)).json)?.score).toBe('kth');
    // as flowknn wrote it before the form was a choice: no score field, sealed by its checksum
    const { score: _gone, ...older } = json.novelty;
    const old: Record<string, unknown> = { ...json, novelty: older };
    old.sha256 = modelJsonDigest(old);
    await writeFile(file, `${JSON.stringify(old, null, 2)}\n`);
    const loaded = await readModel(model);
    expect(loaded.warnings ?? []).toEqual([]);
    expect(storedNovelty(loaded.json)).toMatchObject({ score: 'kth', threshold: json.novelty.threshold });
  });
});
