/**
 * The classify stage of a big night fed to each engine in batches: how many rows per search,
 * and whether the webgpu engine keeps the training rows on the device between searches.
 *
 * A night of --rows traffic-like aggregates (bench/data.ts) is classified batch after batch as
 * the nightly job does (scale, search, vote per batch; src/knn/model.ts predict), against two
 * models: the seed labels without nfs (380 rows, log-zscore, k = 3, as bench/nightly.ts trains
 * it) and --big generated traffic rows with labels drawn at random (the same shape of search, a
 * training set the size operators reach after months of labelling). Per engine and model:
 *
 *   - cpu: batches of 65,536 (its own choice; the baseline);
 *   - webgpu "before": batches of 65,536, the training rows uploaded for every search (the
 *     previous behaviour for searches of one pass, as here: resident false);
 *   - webgpu at 65,536, 131,072 and 262,144 rows per search with the rows kept on the device;
 *   - webgpu at the engine's own choice (batchQueries), as the nightly job now feeds it.
 *
 * Times are the stage's wall time over the whole night (best of --reps after a warm-up batch
 * that compiles the pipelines); `same votes` counts rows whose vote equals the cpu engine's.
 *
 *   npm run bench:gpu-batches -- [--rows 1000000] [--big 100000] [--reps 2] [--software]
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../src/engines/engine.js';
import { WebGpuEngine } from '../src/engines/webgpu/webgpu-engine.js';
import { NFDUMP_STAT7 } from '../src/features/feature-set.js';
import type { LabelledSet } from '../src/knn/labelled-set.js';
import { fitModel, predict, type KnnModel } from '../src/knn/model.js';
import { Matrix } from '../src/matrix.js';
import { loadLabelled } from '../src/model/labelled.js';
import { mulberry32 } from '../src/random.js';
import { traffic } from './data.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    big: { type: 'string', default: '100000' },
    reps: { type: 'string', default: '2' },
    software: { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const BIG = Number(values.big);
const REPS = Number(values.reps);
const SEED = 20261206;

const raw = (m: Matrix) => new Matrix(m.data.map((v) => Math.expm1(v)), m.rows, m.cols);
const night = raw(traffic(ROWS, mulberry32(SEED)));

const seedSet = await loadLabelled('data/seed-2015/labels', NFDUMP_STAT7, { exclude: ['nfs'] });
const config = { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' } as const;
const models: [string, KnnModel][] = [[`seed (${seedSet.features.rows} rows)`, fitModel(seedSet, config)]];
if (BIG > 0) {
  const random = mulberry32(SEED + 1);
  const features = raw(traffic(BIG, random));
  const classes = seedSet.classes;
  const big: LabelledSet = {
    featureSet: seedSet.featureSet,
    features,
    labels: Int32Array.from({ length: BIG }, () => Math.floor(random() * classes.length)),
    classes,
    keys: Array.from({ length: BIG }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
    sourceFile: Array.from({ length: BIG }, () => 'generated'),
    sourceLine: Int32Array.from({ length: BIG }, (_, i) => i + 2),
  };
  models.push([`generated (${BIG.toLocaleString('en-US')} rows)`, fitModel(big, config)]);
}

/** The night classified batch after batch: the stage's wall time and the votes. */
async function stage(model: KnnModel, engine: KnnEngine, batch: number): Promise<{ ms: number; votes: Int32Array }> {
  const votes = new Int32Array(ROWS);
  const t0 = performance.now();
  for (let at = 0; at < ROWS; at += batch) {
    const end = Math.min(ROWS, at + batch);
    const rows = Array.from({ length: end - at }, (_, i) => at + i);
    const p = await predict(model, night.take(rows), engine);
    votes.set(p.votes.predicted, at);
  }
  return { ms: performance.now() - t0, votes };
}

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${new Date().toISOString()}`);
const cpu = new CpuEngine({ threads: availableParallelism() });
await cpu.start();
let gpu: WebGpuEngine | undefined;
let before: WebGpuEngine | undefined;
try {
  gpu = await WebGpuEngine.create({ allowSoftware: values.software });
  before = await WebGpuEngine.create({ allowSoftware: values.software, resident: false });
  console.log(`adapter: ${gpu.deviceName}`);
} catch (err) {
  console.log(`no webgpu adapter: ${(err as Error).message}; the cpu engine only`);
}
console.log(`night: ${ROWS.toLocaleString('en-US')} traffic-like rows, k = 3, euclidean, log-zscore`);
console.log('');
console.log('| model | engine | rows per search | stage (s) | rows/s | vs webgpu before | same votes as cpu |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, model] of models) {
  const runs: { engine: string; engineObj: KnnEngine; batch: number }[] = [{ engine: `cpu (${cpu.threads} threads)`, engineObj: cpu, batch: await cpu.batchQueries() }];
  if (gpu && before) {
    runs.push({ engine: 'webgpu before (uploads per search)', engineObj: before, batch: 65_536 });
    for (const batch of [65_536, 131_072, 262_144]) runs.push({ engine: 'webgpu, rows kept on the device', engineObj: gpu, batch });
    runs.push({ engine: "webgpu, the engine's choice", engineObj: gpu, batch: await gpu.batchQueries(model.space, config.k, config.metric) });
  }
  let cpuVotes: Int32Array | undefined;
  let beforeMs: number | undefined;
  for (const r of runs) {
    // warm-up: the pipelines compiled, the threads started
    await predict(model, night.take(Array.from({ length: 4096 }, (_, i) => i)), r.engineObj);
    let best: { ms: number; votes: Int32Array } | undefined;
    for (let i = 0; i < REPS; i++) {
      const got = await stage(model, r.engineObj, r.batch);
      if (!best || got.ms < best.ms) best = got;
    }
    cpuVotes ??= best!.votes;
    if (r.engine.startsWith('webgpu before')) beforeMs = best!.ms;
    let same = 0;
    for (let i = 0; i < ROWS; i++) if (best!.votes[i] === cpuVotes[i]) same++;
    const ratio = beforeMs === undefined || r.engine.startsWith('cpu') ? '' : `${(best!.ms / beforeMs).toFixed(2)}x`;
    console.log(`| ${name} | ${r.engine} | ${Math.min(r.batch, ROWS).toLocaleString('en-US')} | ${(best!.ms / 1000).toFixed(2)} | ${(ROWS / (best!.ms / 1000) / 1000).toFixed(0)} k | ${ratio} | ${same}/${ROWS} |`);
  }
}
await cpu.dispose();
await gpu?.dispose();
await before?.dispose();
