import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../../src/engines/engine.js';
import { TfjsEngine } from '../../src/engines/tfjs/tfjs-engine.js';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { PROTOCOLS } from '../../src/eval/splits.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { SCALERS } from '../../src/features/scalers.js';
import { loadLabelled } from '../../src/model/labelled.js';

// classify and evaluate give the same predictions whichever engine searches: on the seed data,
// every protocol of the foundation and every scaler, webgpu (lavapipe here) and tfjs (its CPU
// backend) against the cpu engine. A difference fails with the row and the two predictions.
const set = await loadLabelled('data/seed-2015/labels', NFDUMP_STAT7, { exclude: ['nfs'] });
const probe = await WebGpuEngine.probe();
const skipGpu = !probe.usable && process.env.CI !== 'true';

describe('seed predictions are the same on every engine', () => {
  const engines: Record<string, KnnEngine> = {};
  beforeAll(async () => {
    engines.cpu = new CpuEngine({ threads: 1 });
    engines.tfjs = await TfjsEngine.create({ backend: 'cpu' });
    if (!skipGpu) engines.webgpu = await WebGpuEngine.create({ allowSoftware: true });
  });
  afterAll(async () => {
    await Promise.all(Object.values(engines).map((e) => e.dispose()));
  });

  it.each(PROTOCOLS.flatMap((protocol) => SCALERS.map((scaler) => [protocol, scaler] as const)))(
    `%s, %s: cpu = tfjs = webgpu${skipGpu ? ` (webgpu skipped: ${probe.reason})` : ''}`,
    async (protocol, scaler) => {
      const config = { scaler, k: 5, metric: { name: 'euclidean' as const }, weights: 'uniform' as const };
      const want = await evaluate(set, config, { name: protocol, seed: 11, folds: 10 }, engines.cpu!);
      for (const name of ['tfjs', 'webgpu']) {
        const engine = engines[name];
        if (!engine) continue;
        const got = await evaluate(set, config, { name: protocol, seed: 11, folds: 10 }, engine);
        const differ = Array.from(want.rows).filter((_, i) => got.predicted[i] !== want.predicted[i]);
        expect(
          differ.map((r) => `row ${r} (${set.sourceFile[r]}:${set.sourceLine[r]}): cpu ${set.classes[want.predicted[want.rows.indexOf(r)]!]}, ${name} ${set.classes[got.predicted[got.rows.indexOf(r)]!]}`),
          `${name} predictions that differ from cpu`,
        ).toEqual([]);
      }
    },
    120_000,
  );
});
