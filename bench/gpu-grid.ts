/**
 * The webgpu engine's kernel variants on one adapter, against the cpu engine's neighbours on the
 * same data, then the classify stage (what `classify` and the nightly job run: scale, search,
 * vote) on night-sized tables with each engine.
 *
 * Data as bench/knn.ts (same seed): d = 7, k = 5, (a) uniform [-1, 1]^7, (b) log-scaled traffic
 * features; 262144 queries x 131072 training rows unless told otherwise.
 *
 *   1. Every combination of insertion (loop, unrolled) x queries per invocation (1, 2, 4) x
 *      workgroup (64, 128, 256) at tile 256, case (a).
 *   2. From the fastest of those that agrees with the cpu engine: tile rows (64 .. 1024 where the
 *      device allows), the split rule's target (512, 2048, 8192 workgroups), the dot form.
 *   3. The default kernel and the three fastest agreeing variants on case (b).
 *   4. Classify stage: a model trained on the seed labels (log-zscore, k = 3, nfs left out, as
 *      bench/nightly.ts trains it), predicting --classify-rows traffic-like rows with the webgpu
 *      engine (default and fastest variant), the tfjs engine and the cpu engine.
 *
 * Times: `search` is one whole engine.search() (host conversions included), `device` the part
 * from submit to readable results (uploads, kernels, copy back); both medians of --reps runs
 * after a warm-up search that compiles the pipeline. Pairs per second = queries x training rows
 * / time. `agree` = queries whose neighbour set equals the cpu engine's.
 *
 *   npm run bench:gpu-grid -- [--queries N] [--train N] [--reps 3] [--software] [--classify-rows N]
 *                             [--json FILE] [--quick]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../src/engines/engine.js';
import { DEFAULT_KERNEL, WebGpuEngine, type WebGpuOptions } from '../src/engines/webgpu/webgpu-engine.js';
import { NFDUMP_STAT7 } from '../src/features/feature-set.js';
import { loadLabelled } from '../src/model/labelled.js';
import { fitModel, predict } from '../src/knn/model.js';
import { Matrix } from '../src/matrix.js';
import { mulberry32 } from '../src/random.js';
import { traffic, uniform } from './data.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '131072' },
    queries: { type: 'string', default: '262144' },
    reps: { type: 'string', default: '3' },
    software: { type: 'boolean', default: false },
    'classify-rows': { type: 'string', default: '1000000' },
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const N = Number(values.train);
const M = Number(values.queries);
const REPS = Number(values.reps);
const K = 5;
const D = 7;
const SEED = 20261128;
const threads = availableParallelism();

type Variant = Required<Pick<WebGpuOptions, 'workgroup' | 'tile' | 'queriesPerInvocation' | 'insertion' | 'form' | 'targetGroups'>>;
interface Row {
  stage: string;
  case: string;
  variant: string;
  searchMs: number;
  deviceMs: number;
  agree: number;
  of: number;
}
const rows: Row[] = [];
const label = (v: Variant) => `q${v.queriesPerInvocation} ${v.insertion} wg${v.workgroup} tile${v.tile} ${v.form} target${v.targetGroups}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function sameSets(a: Int32Array, b: Int32Array, k: number): number {
  let same = 0;
  const queries = a.length / k;
  for (let q = 0; q < queries; q++) {
    const x = Array.from(a.subarray(q * k, q * k + k)).sort((p, r) => p - r);
    const y = Array.from(b.subarray(q * k, q * k + k)).sort((p, r) => p - r);
    if (x.every((v, i) => v === y[i])) same++;
  }
  return same;
}

function printRow(r: Row): void {
  const pairs = (n: number) => ((N * M) / (n / 1000)).toExponential(2);
  console.log(
    `| ${r.stage} | ${r.case} | ${r.variant} | ${r.searchMs.toFixed(1)} | ${pairs(r.searchMs)} | ${r.deviceMs.toFixed(1)} | ${pairs(r.deviceMs)} | ${r.agree}/${r.of} |`,
  );
}

const probe = await WebGpuEngine.probe();
console.log(`kernel grid: d = ${D}, k = ${K}, training rows ${N}, queries ${M}, seed ${SEED}, reps ${REPS}`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, ${new Date().toISOString()}`);
console.log(`adapter: ${JSON.stringify(probe.details)}`);
if (!probe.usable) throw new Error(`no WebGPU adapter: ${probe.reason}`);

const cases = new Map<string, { train: Matrix; queries: Matrix; ref: Int32Array }>();
for (const [name, make] of [
  ['a', (rowsWanted: number, random: () => number) => uniform(rowsWanted, D, random)],
  ['b', traffic],
] as const) {
  const random = mulberry32(SEED);
  const train = make(N, random);
  const queries = make(M, random);
  const cpu = new CpuEngine({ threads });
  await cpu.start();
  const t0 = performance.now();
  const ref = (await cpu.search(train, queries, K, { name: 'euclidean' })).indices;
  const ms = performance.now() - t0;
  await cpu.dispose();
  cases.set(name, { train, queries, ref });
  const row = { stage: 'reference', case: name, variant: `cpu engine, k-d tree, ${threads} threads`, searchMs: ms, deviceMs: Number.NaN, agree: M, of: M };
  rows.push(row);
}

console.log('\n| stage | case | variant | search ms | pairs/s | device ms | pairs/s (device) | same neighbours as cpu |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) printRow(r);

const engines = new Map<string, WebGpuEngine>();
async function engineFor(v: Variant): Promise<WebGpuEngine> {
  const key = label(v);
  let e = engines.get(key);
  if (!e) {
    e = await WebGpuEngine.create({ allowSoftware: values.software, ...v });
    engines.set(key, e);
  }
  return e;
}

async function measure(stage: string, caseName: string, v: Variant): Promise<Row> {
  const { train, queries, ref } = cases.get(caseName)!;
  const engine = await engineFor(v);
  let row: Row;
  try {
    // Warm-up: compiles the pipelines this shape needs (the split count follows the sizes).
    await engine.search(train, queries.take(Array.from({ length: Math.min(M, 1024) }, (_, i) => i)), K, { name: 'euclidean' });
    const search: number[] = [];
    const device: number[] = [];
    let agree = 0;
    for (let i = 0; i < REPS; i++) {
      const before = engine.stats().deviceMs;
      const t0 = performance.now();
      const res = await engine.search(train, queries, K, { name: 'euclidean' });
      search.push(performance.now() - t0);
      device.push(engine.stats().deviceMs - before);
      if (i === 0) agree = sameSets(res.indices, ref, K);
    }
    row = { stage, case: caseName, variant: label(v), searchMs: median(search), deviceMs: median(device), agree, of: M };
  } catch (err) {
    console.log(`| ${stage} | ${caseName} | ${label(v)} | failed: ${(err as Error).message.split('\n')[0]} | | | | |`);
    row = { stage, case: caseName, variant: label(v), searchMs: Number.POSITIVE_INFINITY, deviceMs: Number.POSITIVE_INFINITY, agree: 0, of: M };
  }
  if (Number.isFinite(row.searchMs)) printRow(row);
  rows.push(row);
  return row;
}

const base: Variant = { ...DEFAULT_KERNEL };
const tried = new Map<string, { v: Variant; row: Row }>();
async function tryVariant(stage: string, v: Variant): Promise<void> {
  if (tried.has(label(v))) return;
  tried.set(label(v), { v, row: await measure(stage, 'a', v) });
}
// The dot form is exact only where cancellation happens to do no harm (large or offset features
// break it): it is measured for what it would gain, never chosen.
const fastestAgreeing = (n: number) =>
  [...tried.values()]
    .filter((t) => t.row.agree === t.row.of && t.v.form === 'diff')
    .sort((x, y) => x.row.deviceMs - y.row.deviceMs)
    .slice(0, n);

await tryVariant('default', base);
for (const insertion of ['loop', 'unrolled'] as const) {
  for (const queriesPerInvocation of [1, 2, 4]) {
    for (const workgroup of values.quick ? [64, 256] : [64, 128, 256]) {
      await tryVariant('1: insertion x queries x workgroup', { ...base, insertion, queriesPerInvocation, workgroup, tile: 256 });
    }
  }
}
const best1 = fastestAgreeing(1)[0]?.v ?? base;
for (const tile of values.quick ? [128, 512] : [64, 128, 512, 1024]) await tryVariant('2: tile rows', { ...best1, tile });
const best2 = fastestAgreeing(1)[0]?.v ?? base;
for (const targetGroups of [512, 8192]) await tryVariant('2: split target', { ...best2, targetGroups });
await tryVariant('2: dot form', { ...(fastestAgreeing(1)[0]?.v ?? base), form: 'dot' });

const finalists = fastestAgreeing(3).map((t) => t.v);
for (const v of [base, ...finalists]) {
  for (const c of ['a', 'b']) {
    if (c === 'a' && tried.has(label(v))) continue;
    await measure('3: finalists', c, v);
  }
}
const chosen = finalists[0] ?? base;
console.log(`\nfastest variant agreeing with the cpu engine on case (a): ${label(chosen)}`);

// 4. The classify stage on a night-sized table.
const classifyRows = Number(values['classify-rows']);
if (classifyRows > 0) {
  const set = await loadLabelled('data/seed-2015/labels', NFDUMP_STAT7, { exclude: ['nfs'] });
  const model = fitModel(set, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' });
  const logged = traffic(classifyRows, mulberry32(SEED + 1));
  const raw = new Matrix(logged.data.map((v) => Math.expm1(v)), logged.rows, logged.cols);
  console.log(`\nclassify stage: ${classifyRows} rows against ${set.features.rows} training rows (seed labels without nfs, log-zscore, k = 3)`);
  console.log('| engine | predict ms | rows/s | same votes as cpu |');
  console.log('| --- | --- | --- | --- |');
  const makers: [string, () => Promise<KnnEngine>][] = [
    [`cpu (${threads} threads)`, async () => new CpuEngine({ threads })],
    ['webgpu default', async () => WebGpuEngine.create({ allowSoftware: values.software })],
    ['webgpu fastest', async () => WebGpuEngine.create({ allowSoftware: values.software, ...chosen })],
    [
      'tfjs',
      async () => {
        const { TfjsEngine } = await import('../src/engines/tfjs/tfjs-engine.js');
        return TfjsEngine.create(values.software ? { backend: 'webgpu' } : {});
      },
    ],
  ];
  let cpuVotes: Int32Array | undefined;
  for (const [name, make] of makers) {
    try {
      const engine = await make();
      const label2 = 'backend' in engine ? `${name} (${(engine as { backend: string }).backend} backend)` : name;
      if (engine instanceof CpuEngine) await engine.start();
      await predict(model, raw.take(Array.from({ length: 4096 }, (_, i) => i)), engine);
      const t0 = performance.now();
      const res = await predict(model, raw, engine);
      const ms = performance.now() - t0;
      const votes = res.votes.predicted;
      cpuVotes ??= votes;
      let same = 0;
      for (let i = 0; i < votes.length; i++) if (votes[i] === cpuVotes[i]) same++;
      console.log(`| ${label2} | ${ms.toFixed(0)} | ${(classifyRows / (ms / 1000)).toExponential(2)} | ${same}/${votes.length} |`);
      rows.push({ stage: '4: classify', case: 'traffic', variant: label2, searchMs: ms, deviceMs: Number.NaN, agree: same, of: votes.length });
      await engine.dispose();
    } catch (err) {
      console.log(`| ${name} | failed: ${(err as Error).message.split('\n')[0]} | | |`);
    }
  }
}

for (const e of engines.values()) await e.dispose();
if (values.json) writeFileSync(values.json, JSON.stringify({ n: N, m: M, k: K, d: D, seed: SEED, adapter: probe.details, chosen, rows }, null, 1));
