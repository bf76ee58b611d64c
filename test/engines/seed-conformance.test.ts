import { afterAll, describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { METRICS, type Metric } from '../../src/engines/engine.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { SCALERS } from '../../src/features/scalers.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { fitModel } from '../../src/knn/model.js';
import { SEED_DIR } from '../helpers/paths.js';

// The tree and the threads change speed, never answers: on the real seed data, every scaler
// and metric, the same neighbours and distances as single-threaded brute force.
const set = await loadLabelled(`${SEED_DIR}/labels`, NFDUMP_STAT7);
const brute = new CpuEngine({ threads: 1, algorithm: 'brute' });
const fast = [new CpuEngine({ threads: 1, algorithm: 'auto' }), new CpuEngine({ threads: 2, algorithm: 'auto', threadMinWork: 0 })];
afterAll(async () => {
  await Promise.all([brute, ...fast].map((e) => e.dispose()));
});

const metrics: Metric[] = METRICS.map((name) => (name === 'minkowski' ? { name, p: 3 } : { name }));

describe('seed data: tree and threads agree with brute force', () => {
  it.each(SCALERS.flatMap((scaler) => metrics.map((metric) => [scaler, metric.name, metric] as const)))('%s, %s', async (scaler, _name, metric) => {
    const model = fitModel(set, { scaler, k: 15, metric, weights: 'uniform' });
    const want = await brute.search(model.space, model.space, 15, metric);
    for (const engine of fast) {
      const got = await engine.search(model.space, model.space, 15, metric);
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      expect(Array.from(got.distances)).toEqual(Array.from(want.distances));
    }
  });

  it.each(['resubstitution', 'holdout', 'kfold', 'loo'] as const)('%s evaluation gives the same predictions', async (name) => {
    const config = { scaler: 'log-zscore' as const, k: 3, metric: { name: 'euclidean' as const }, weights: 'distance' as const };
    const want = await evaluate(set, config, { name, seed: 3 }, brute);
    const got = await evaluate(set, config, { name, seed: 3 }, fast[1]!);
    expect(Array.from(got.predicted)).toEqual(Array.from(want.predicted));
  });
});
