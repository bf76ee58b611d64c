import { tableFromIPC } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { auroc, calibrateNovelty, kthDistances, leaveOneOutScores, quantile } from '../../src/knn/novelty.js';
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
    const scores = await leaveOneOutScores(model, engine);
    // each duplicate's 2 other nearest rows are the other two duplicates: 0; row 3: 4 then 4; row 4: 4 then 8
    expect(Array.from(scores)).toEqual([0, 0, 0, 4, 8]);
  });

  it('on the seed data with nfs held out, the nfs rows score as novel (AUROC >= 0.90, >= 60% flagged at the 0.95 quantile)', async () => {
    const known = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    const nfs = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['nfs'] });
    const model = fitModel(known, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
    const looScores = await leaveOneOutScores(model, engine);
    const calibration = await calibrateNovelty(model, engine, 0.95);
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
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8')) as { novelty: { quantile: number; threshold: number; k: number } };
    expect(json.novelty.quantile).toBe(0.95);
    expect(json.novelty.k).toBe(3);
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
});
