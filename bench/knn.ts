/**
 * kNN search benchmark: flowknn's engines against scikit-learn on the same data, in the same
 * run. Two cases, d = 7, k = 5: (a) uniform random in [-1, 1]^7; (b) log-scaled synthetic
 * traffic features (clustered, like the seed data). Prints ms, query-train pairs per second,
 * ratios to each baseline, and how many neighbour lists agree with scikit-learn.
 *
 *   npm run bench:knn -- [--train 131072] [--queries 16384] [--k 5] [--threads N] [--no-sklearn] [--no-brute]
 *
 * Memory: the growth of the process's ArrayBuffer memory (typed arrays, shared or not: tree,
 * shared copies, outputs) at its peak during the search, against the size of the training and
 * query data; and the growth of the resident set, which also counts the threads' own heaps.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import { Matrix } from '../src/matrix.js';
import { mulberry32 } from '../src/random.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '131072' },
    queries: { type: 'string', default: '16384' },
    k: { type: 'string', default: '5' },
    'no-sklearn': { type: 'boolean', default: false },
    'no-brute': { type: 'boolean', default: false },
    threads: { type: 'string', default: String(availableParallelism()) },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const N = Number(values.train);
const M = Number(values.queries);
const K = Number(values.k);
const D = 7;
const SEED = 20261128;

function uniform(rows: number, random: () => number): Matrix {
  const m = Matrix.zeros(rows, D);
  for (let i = 0; i < m.data.length; i++) m.data[i] = random() * 2 - 1;
  return m;
}

/** Traffic-like aggregates: a few service clusters (log-normal around a centre per feature,
 *  pps/bps/bpp derived from the counts as nfdump defines them), then log1p, as log-zscore. */
function traffic(rows: number, random: () => number): Matrix {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const centres = [
    { dur: 2, flows: 2, pkts: 5e3, bpp: 1450 },
    { dur: 300, flows: 5e4, pkts: 8e5, bpp: 500 },
    { dur: 250, flows: 20, pkts: 2e6, bpp: 1490 },
    { dur: 280, flows: 4e4, pkts: 1.5e7, bpp: 1370 },
    { dur: 600, flows: 1e4, pkts: 9e7, bpp: 80 },
  ];
  const m = Matrix.zeros(rows, D);
  for (let i = 0; i < rows; i++) {
    const c = centres[Math.floor(random() * centres.length)]!;
    const dur = Math.max(0.001, c.dur * Math.exp(0.8 * gauss()));
    const flows = Math.max(1, Math.round(c.flows * Math.exp(0.9 * gauss())));
    const pkts = Math.max(1000, Math.round(c.pkts * Math.exp(0.7 * gauss())));
    const bytes = Math.round(pkts * Math.min(1500, Math.max(40, c.bpp * Math.exp(0.1 * gauss()))));
    const row = [dur, flows, pkts, bytes, Math.floor(pkts / dur), Math.floor((8 * bytes) / dur), Math.floor(bytes / pkts)];
    row.forEach((v, j) => (m.data[i * D + j] = Math.log1p(v)));
  }
  return m;
}

interface Timing {
  name: string;
  ms: number;
  idx?: Int32Array;
  memory?: string;
}

async function timeEngine(label: string, engine: CpuEngine, train: Matrix, queries: Matrix): Promise<Timing> {
  // Warm-up: threads started and code compiled, as in a long-running process; nothing reused:
  // the timed search builds its own tree (scikit-learn's fit is timed too).
  const s0 = performance.now();
  await engine.start();
  const startMs = performance.now() - s0;
  await engine.search(train.take([0, 1, 2, 3, 4, 5, 6, 7]), queries.take([0, 1, 2, 3]), 1, { name: 'euclidean' });
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  let peakBuffers = before.arrayBuffers;
  let peakRss = before.rss;
  const sample = setInterval(() => {
    const now = process.memoryUsage();
    peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    peakRss = Math.max(peakRss, now.rss);
  }, 2);
  const t0 = performance.now();
  const res = await engine.search(train, queries, K, { name: 'euclidean' });
  const ms = performance.now() - t0;
  clearInterval(sample);
  const after = process.memoryUsage();
  peakBuffers = Math.max(peakBuffers, after.arrayBuffers);
  peakRss = Math.max(peakRss, after.rss);
  const data = (train.data.byteLength + queries.data.byteLength) / 2 ** 20;
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  const memory = `threads started in ${startMs.toFixed(0)} ms (before timing); buffers +${mb(peakBuffers - before.arrayBuffers)} MB, rss +${mb(peakRss - before.rss)} MB (data ${data.toFixed(1)} MB)`;
  await engine.dispose();
  return { name: label, ms, idx: res.indices, memory };
}

function sklearn(train: Matrix, queries: Matrix, dir: string): Timing[] {
  writeFileSync(join(dir, 'train.f64'), train.data);
  writeFileSync(join(dir, 'queries.f64'), queries.data);
  const spec = { train: join(dir, 'train.f64'), queries: join(dir, 'queries.f64'), d: D, k: K, n_jobs: 2, algorithms: ['brute', 'kd_tree', 'ball_tree'], out: join(dir, 'sk') };
  const out = JSON.parse(execFileSync(values.python, ['bench/sklearn_knn.py', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 26 })) as {
    sklearn: string;
    results: Record<string, { total_s: number }>;
  };
  return Object.entries(out.results).map(([alg, r]) => ({
    name: `sklearn ${out.sklearn} ${alg} (n_jobs=2)`,
    ms: r.total_s * 1000,
    idx: new Int32Array(readFileSync(`${spec.out}.${alg}.idx`).buffer.slice(0)),
  }));
}

function agreement(a: Int32Array, b: Int32Array): string {
  let same = 0;
  for (let q = 0; q < M; q++) {
    const x = Array.from(a.subarray(q * K, q * K + K)).sort((p, r) => p - r);
    const y = Array.from(b.subarray(q * K, q * K + K)).sort((p, r) => p - r);
    if (x.every((v, i) => v === y[i])) same++;
  }
  return `${same}/${M}`;
}

const dir = mkdtempSync(join(tmpdir(), 'flowknn-bench-'));
console.log(`kNN benchmark: d = ${D}, k = ${K}, training rows ${N}, queries ${M}, seed ${SEED}`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
try {
  for (const [label, make] of [
    ['(a) uniform [-1, 1]^7', uniform],
    ['(b) log-scaled traffic features', traffic],
  ] as const) {
    const random = mulberry32(SEED);
    const train = make(N, random);
    const queries = make(M, random);
    const threads = Number(values.threads);
    const rows: Timing[] = [await timeEngine(`flowknn cpu auto (k-d tree, ${threads} threads)`, new CpuEngine({ threads }), train, queries)];
    if (!values['no-brute']) rows.push(await timeEngine(`flowknn cpu brute (${threads} threads)`, new CpuEngine({ threads, algorithm: 'brute' }), train, queries));
    const baselines = values['no-sklearn'] ? [] : sklearn(train, queries, dir);
    rows.push(...baselines);
    const ours = rows[0]!;
    console.log(`\n${label}`);
    console.log('engine'.padEnd(44) + 'ms'.padStart(10) + 'pairs/s'.padStart(12) + '  flowknn speed-up  same neighbours');
    // Ratios: baseline time / flowknn's first (fastest) configuration.
    for (const r of rows) {
      const pairs = (N * M) / (r.ms / 1000);
      const ratio = r === ours ? '' : `${(r.ms / ours.ms).toFixed(2)}x`;
      const agree = r === ours || !r.idx || !ours.idx ? '' : agreement(ours.idx, r.idx);
      console.log(r.name.padEnd(44) + r.ms.toFixed(0).padStart(10) + pairs.toExponential(2).padStart(12) + ratio.padStart(18) + agree.padStart(17));
    }
    for (const r of rows) if (r.memory) console.log(`memory, ${r.name}: ${r.memory}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
