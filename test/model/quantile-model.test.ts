import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../../src/engines/engine.js';
import { TfjsEngine } from '../../src/engines/tfjs/tfjs-engine.js';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { FlowknnError } from '../../src/errors.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { fitModel, predict } from '../../src/knn/model.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { modelJsonDigest, readModel } from '../../src/model/folder.js';
import { runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * A model trained with the quantile scaler keeps its fitted quantiles in model.json and, read
 * back, predicts what the freshly fitted model predicts, on every engine that runs here (webgpu
 * on a software adapter such as lavapipe, tfjs on its CPU backend).
 */
const probe = await WebGpuEngine.probe();
const skipGpu = !probe.usable && process.env.CI !== 'true';

let dir: string;
let cleanup: () => Promise<void>;
let modelDir: string;
const engines: Record<string, KnnEngine> = {};

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-quantile-model-'));
  modelDir = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'quantile', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', modelDir, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  engines.cpu = new CpuEngine({ threads: 1 });
  engines.tfjs = await TfjsEngine.create({ backend: 'cpu' });
  if (!skipGpu) engines.webgpu = await WebGpuEngine.create({ allowSoftware: true });
}, 120_000);
afterAll(async () => {
  await Promise.all(Object.values(engines).map((e) => e.dispose()));
  await cleanup?.();
});

describe('a model with the quantile scaler', () => {
  it(`stores its quantiles and predicts the same after load, on cpu, tfjs and webgpu${skipGpu ? ` (webgpu skipped: ${probe.reason})` : ''}`, async () => {
    const json = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as { scaler: { name: string; offset: number[]; quantiles: number[][] } };
    expect(json.scaler.name).toBe('quantile');
    expect(json.scaler.offset).toEqual([]);
    expect(json.scaler.quantiles).toHaveLength(7);
    for (const q of json.scaler.quantiles) expect(q).toHaveLength(380);

    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    const fresh = fitModel(set, { scaler: 'quantile', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
    const loaded = (await readModel(modelDir)).model;
    expect(loaded.scaler).toEqual(fresh.scaler);
    expect(Array.from(loaded.space.data)).toEqual(Array.from(fresh.space.data));
    // every training row and the held-out class the model never saw
    const nfs = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { include: ['nfs'] });
    for (const queries of [set.features, nfs.features]) {
      const want = await predict(fresh, queries, engines.cpu!);
      for (const [name, engine] of Object.entries(engines)) {
        const got = await predict(loaded, queries, engine);
        const differ = Array.from(want.votes.predicted).flatMap((p, i) => (got.votes.predicted[i] === p ? [] : [`row ${i}: fresh cpu ${set.classes[p]}, loaded ${name} ${set.classes[got.votes.predicted[i]!]}`]));
        expect(differ, `${name} predictions that differ`).toEqual([]);
      }
    }
  }, 120_000);

  it('quantiles that are damaged or belong to no quantile scaler are refused, even with a matching checksum', async () => {
    const original = await readFile(join(modelDir, 'model.json'), 'utf8');
    const cases: [(j: { scaler: { name: string; quantiles?: number[][] } }) => void, RegExp][] = [
      [(j) => void j.scaler.quantiles![2]!.reverse(), /scaler\.quantiles\[2\]\[1\] is .*: expected finite values in non-decreasing order/u],
      [(j) => void j.scaler.quantiles!.pop(), /scaler quantile needs 7 lists of quantiles, one per feature; it has 6/u],
      [(j) => void j.scaler.quantiles![4]!.pop(), /scaler\.quantiles\[4\] has 379 values, scaler\.quantiles\[0\] 380/u],
      [(j) => delete j.scaler.quantiles, /scaler quantile needs 7 lists of quantiles, one per feature; it has 0/u],
      [(j) => void (j.scaler.name = 'row-l2'), /scaler row-l2 has quantiles: only scaler quantile keeps them/u],
    ];
    try {
      for (const [damage, message] of cases) {
        const json = JSON.parse(original) as { sha256?: string; scaler: { name: string; quantiles?: number[][] } };
        damage(json);
        json.sha256 = modelJsonDigest(json as unknown as Record<string, unknown>);
        await writeFile(join(modelDir, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
        const err = await readModel(modelDir).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(err).toBeInstanceOf(FlowknnError);
        expect(err!.message, String(message)).toMatch(message);
        // the message names the file and the line of the quantiles
        expect((err as FlowknnError).file).toBe(join(modelDir, 'model.json'));
        expect((err as FlowknnError).line).toBeGreaterThan(1);
      }
    } finally {
      await writeFile(join(modelDir, 'model.json'), original);
    }
  });
});
