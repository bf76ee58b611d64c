/**
 * kNN search benchmark: flowknn's engines against a baseline measured in the same run, on the
 * same data. d = 7, k = 5, 131072 training rows; two cases: (a) uniform random in [-1, 1]^7,
 * (b) log-scaled synthetic traffic features (clustered, like the seed data).
 *
 * Profiles (default: gpu when a hardware WebGPU adapter is present, else cpu):
 *   cpu  16384 queries; the cpu engine (k-d tree and brute force, all cores) against
 *        scikit-learn brute, kd_tree and ball_tree with n_jobs=2 (python3-sklearn).
 *   gpu  262144 queries; the webgpu engine (and tfjs and cpu) against PyTorch cdist + topk in
 *        tiles on the same card (bench/torch_knn.py; python3 with torch and CUDA), or against
 *        scikit-learn brute force where there is no CUDA.
 *
 *   npm run bench:knn -- [--profile cpu|gpu] [--queries N] [--train N] [--engines cpu,webgpu,tfjs]
 *                        [--software] [--no-brute] [--no-baseline] [--threads N]
 *
 * Prints ms, query-train pairs per second, the ratio baseline time / flowknn time, and how
 * many neighbour lists agree (as sets) with the baseline. Memory (cpu engine): the growth of
 * ArrayBuffer memory (tree, shared copies, outputs) and of the resident set at the peak of the
 * search, against the size of the training and query data.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../src/engines/engine.js';
import { WebGpuEngine } from '../src/engines/webgpu/webgpu-engine.js';
import { Matrix } from '../src/matrix.js';
import { mulberry32 } from '../src/random.js';
import { traffic, uniform } from './data.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    train: { type: 'string', default: '131072' },
    queries: { type: 'string' },
    k: { type: 'string', default: '5' },
    engines: { type: 'string' },
    software: { type: 'boolean', default: false },
    'no-baseline': { type: 'boolean', default: false },
    'no-brute': { type: 'boolean', default: false },
    threads: { type: 'string', default: String(availableParallelism()) },
    python: { type: 'string' },
  },
});

const probe = await WebGpuEngine.probe();
const hardwareGpu = probe.usable && (probe.details as { software?: boolean }).software !== true;
const profile = values.profile ?? (hardwareGpu ? 'gpu' : 'cpu');
const N = Number(values.train);
const M = Number(values.queries ?? (profile === 'gpu' ? 262144 : 16384));
const K = Number(values.k);
const D = 7;
const SEED = 20261128;
const threads = Number(values.threads);
// scikit-learn comes from Debian's python3-sklearn (/usr/bin/python3); on a GPU machine the
// python3 on the PATH has torch.
const TORCH_PYTHON = values.python ?? process.env.PYTHON ?? 'python3';
const SKLEARN_PYTHON = values.python ?? process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const engineNames = (values.engines ?? (profile === 'gpu' ? 'webgpu,cpu' : 'cpu')).split(',');

interface Timing {
  name: string;
  ms: number;
  idx?: Int32Array;
  note?: string;
}

async function memoryProbe() {
  // Let terminated threads release their references to shared buffers, then collect.
  await new Promise((resolve) => setTimeout(resolve, 100));
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  let peakBuffers = before.arrayBuffers;
  let peakRss = before.rss;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    peakRss = Math.max(peakRss, now.rss);
  }, 2);
  return (dataBytes: number) => {
    clearInterval(timer);
    const now = process.memoryUsage();
    peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    peakRss = Math.max(peakRss, now.rss);
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    return `buffers +${mb(peakBuffers - before.arrayBuffers)} MB, rss +${mb(peakRss - before.rss)} MB (data ${mb(dataBytes)} MB)`;
  };
}

/** Times one search after a warm-up that compiles code and starts threads or the device but
 *  reuses nothing of the timed search (its tree or uploads are built inside the timing). */
async function timeEngine(label: string, engine: KnnEngine, train: Matrix, queries: Matrix): Promise<Timing> {
  const s0 = performance.now();
  if (engine instanceof CpuEngine) await engine.start();
  await engine.search(train.take(Array.from({ length: 4096 }, (_, i) => i)), queries.take(Array.from({ length: 4096 }, (_, i) => i)), K, { name: 'euclidean' });
  const warm = performance.now() - s0;
  const done = await memoryProbe();
  const t0 = performance.now();
  const res = await engine.search(train, queries, K, { name: 'euclidean' });
  const ms = performance.now() - t0;
  const memory = done(train.data.byteLength + queries.data.byteLength);
  return { name: label, ms, idx: res.indices, note: `warm-up ${warm.toFixed(0)} ms (threads/device, compile); ${memory}` };
}

function python(exe: string, script: string, spec: object): string {
  return execFileSync(exe, [script, JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 26 });
}

function hasCudaTorch(): boolean {
  try {
    return execFileSync(TORCH_PYTHON, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'True';
  } catch {
    return false;
  }
}

function baselines(train: Matrix, queries: Matrix, dir: string): Timing[] {
  writeFileSync(join(dir, 'train.f64'), train.data);
  writeFileSync(join(dir, 'queries.f64'), queries.data);
  const common = { train: join(dir, 'train.f64'), queries: join(dir, 'queries.f64'), d: D, k: K, out: join(dir, 'base') };
  if (profile === 'gpu' && hasCudaTorch()) {
    const r = JSON.parse(python(TORCH_PYTHON, 'bench/torch_knn.py', common)) as { torch: string; device: string; seconds: number; tile: number };
    return [{ name: `PyTorch ${r.torch} cdist+topk (${r.device}, tile ${r.tile})`, ms: r.seconds * 1000, idx: new Int32Array(readFileSync(`${common.out}.torch.idx`).buffer.slice(0)) }];
  }
  const algorithms = profile === 'gpu' ? ['brute'] : ['brute', 'kd_tree', 'ball_tree'];
  const out = JSON.parse(python(SKLEARN_PYTHON, 'bench/sklearn_knn.py', { ...common, n_jobs: 2, algorithms })) as { sklearn: string; results: Record<string, { total_s: number }> };
  return Object.entries(out.results).map(([alg, r]) => ({
    name: `sklearn ${out.sklearn} ${alg} (n_jobs=2)`,
    ms: r.total_s * 1000,
    idx: new Int32Array(readFileSync(`${common.out}.${alg}.idx`).buffer.slice(0)),
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

async function makeEngines(): Promise<[string, KnnEngine][]> {
  const out: [string, KnnEngine][] = [];
  for (const name of engineNames) {
    if (name === 'cpu') {
      out.push([`flowknn cpu auto (k-d tree, ${threads} threads)`, new CpuEngine({ threads })]);
      if (profile === 'cpu' && !values['no-brute']) out.push([`flowknn cpu brute (${threads} threads)`, new CpuEngine({ threads, algorithm: 'brute' })]);
    } else if (name === 'webgpu') {
      if (!probe.usable || (!hardwareGpu && !values.software)) {
        console.log(`webgpu: not run (${probe.usable ? 'software adapter only; --software to run it' : probe.reason})`);
        continue;
      }
      const e = await WebGpuEngine.create({ allowSoftware: values.software });
      out.push([`flowknn webgpu (${e.adapter.vendor} ${e.adapter.device || e.adapter.architecture})`, e]);
    } else if (name === 'tfjs') {
      const { TfjsEngine } = await import('../src/engines/tfjs/tfjs-engine.js');
      const e = await TfjsEngine.create();
      out.push([`flowknn tfjs (${e.backend} backend)`, e]);
    } else {
      throw new Error(`unknown engine ${name}`);
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'flowknn-bench-'));
console.log(`kNN benchmark (${profile} profile): d = ${D}, k = ${K}, training rows ${N}, queries ${M}, seed ${SEED}`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`webgpu adapter: ${probe.usable ? JSON.stringify({ vendor: probe.details.vendor, device: probe.details.device, description: probe.details.description, software: probe.details.software }) : probe.reason}`);
try {
  for (const [label, make] of [
    ['(a) uniform [-1, 1]^7', (rows: number, random: () => number) => uniform(rows, D, random)],
    ['(b) log-scaled traffic features', traffic],
  ] as const) {
    const random = mulberry32(SEED);
    const train = make(N, random);
    const queries = make(M, random);
    const rows: Timing[] = [];
    for (const [name, engine] of await makeEngines()) {
      rows.push(await timeEngine(name, engine, train, queries));
      await engine.dispose();
    }
    const ours = rows[0];
    const base = values['no-baseline'] ? [] : baselines(train, queries, dir);
    rows.push(...base);
    console.log(`\n${label}`);
    console.log(`${'engine'.padEnd(56)}${'ms'.padStart(10)}${'pairs/s'.padStart(12)}  baseline / flowknn  same neighbours as ${base[0]?.name.split(' (')[0] ?? '-'}`);
    for (const r of rows) {
      const pairs = (N * M) / (r.ms / 1000);
      const ratio = base.length && ours && r !== ours && !rows.slice(0, rows.length - base.length).includes(r) ? `${(r.ms / ours.ms).toFixed(2)}x` : '';
      const agree = base[0]?.idx && r.idx && r !== base[0] ? agreement(r.idx, base[0].idx) : '';
      console.log(r.name.padEnd(56) + r.ms.toFixed(0).padStart(10) + pairs.toExponential(2).padStart(12) + ratio.padStart(20) + agree.padStart(17));
    }
    for (const r of rows) if (r.note) console.log(`  ${r.name}: ${r.note}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
