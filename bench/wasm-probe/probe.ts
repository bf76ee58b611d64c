/**
 * Probe: does a WebAssembly SIMD brute-force kernel (bench/wasm-probe/brute.wat) pay off against
 * the JavaScript one (src/engines/cpu/brute.ts, `bruteSearchRange`)? Single thread, squared
 * euclidean key, d = 7, k = 5, 131072 training rows, 1024 queries, uniform [-1, 1] (the
 * generator and seed of bench/knn.ts; `--data traffic` for its clustered log-scaled case).
 *
 *   npm install --no-save wabt        # once: compiles brute.wat (else brute.wasm is loaded)
 *   npx tsx bench/wasm-probe/probe.ts [--train 131072] [--queries 1024] [--k 5] [--reps 5]
 *                                     [--data uniform|traffic] [--d 7 (uniform only)] [--no-tree]
 *
 * Kernels (see brute.wat): wasm scalar f64; f64x2 over column pairs of row-major rows (summation
 * order differs from JS); f64x2 over two rows interleaved (JS's summation order, bit-identical),
 * generic d and unrolled for d = 7; f32x4 over four rows interleaved (float32 data and keys).
 * Before timing, a self-check compares every kernel with JS on small odd shapes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bruteSearchRange } from '../../src/engines/cpu/brute.js';
import { buildKdTree, kdSearchRange } from '../../src/engines/cpu/kdtree.js';
import type { Metric } from '../../src/engines/engine.js';
import { Matrix } from '../../src/matrix.js';
import { mulberry32 } from '../../src/random.js';
import { traffic, uniform } from '../data.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '131072' },
    queries: { type: 'string', default: '1024' },
    k: { type: 'string', default: '5' },
    reps: { type: 'string', default: '5' },
    data: { type: 'string', default: 'uniform' },
    d: { type: 'string', default: '7' },
    'no-tree': { type: 'boolean', default: false },
  },
});
const N = Number(values.train);
const M = Number(values.queries);
const K = Number(values.k);
const REPS = Number(values.reps);
const D = Number(values.d);
if (values.data === 'traffic' && D !== 7) throw new Error('--data traffic has d = 7');
const SEED = 20261128;
const EUCLID: Metric = { name: 'euclidean' };
const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- wasm module

// The project's lib (ES2023, no DOM) declares no WebAssembly JS API: the few parts used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  compile(bytes: Uint8Array<ArrayBuffer>): Promise<object>;
  instantiate(module: object): Promise<{ exports: object }>;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Kernel = (t: number, n: number, q: number, d: number, k: number, q0: number, q1: number, oi: number, ok: number, scr: number) => void;
interface Exports {
  memory: WasmMemory;
  sq_scalar: Kernel;
  sq_rm: Kernel;
  sq_il2: Kernel;
  sq_il2_d7: Kernel;
  sq_il4_f32: Kernel;
}

/** brute.wat compiled by wabt when installed (and brute.wasm refreshed), else brute.wasm. */
async function loadModule(): Promise<{ exports: Exports; source: string }> {
  let bytes: Uint8Array<ArrayBuffer>;
  let source: string;
  try {
    const wabt = (createRequire(import.meta.url)('wabt') as () => Promise<{ parseWat: (name: string, text: string, features: object) => { validate(): void; toBinary(o: object): { buffer: Uint8Array }; destroy(): void } }>)();
    const mod = (await wabt).parseWat('brute.wat', readFileSync(join(HERE, 'brute.wat'), 'utf8'), { simd: true });
    mod.validate();
    bytes = new Uint8Array(mod.toBinary({}).buffer);
    mod.destroy();
    writeFileSync(join(HERE, 'brute.wasm'), bytes);
    source = 'brute.wat compiled by wabt (brute.wasm refreshed)';
  } catch (e) {
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    bytes = new Uint8Array(readFileSync(join(HERE, 'brute.wasm')));
    source = 'brute.wasm (wabt not installed: `npm install --no-save wabt` to compile brute.wat)';
  }
  const instance = await Wasm.instantiate(await Wasm.compile(bytes));
  return { exports: instance.exports as unknown as Exports, source };
}

/** Bump allocator over the module's memory, 16-byte aligned. */
class Heap {
  private top = 0;
  constructor(private readonly mem: WasmMemory) {}
  alloc(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    const need = Math.ceil(this.top / 65536) - this.mem.buffer.byteLength / 65536;
    if (need > 0) this.mem.grow(need);
    return at;
  }
  reset(): void {
    this.top = 0;
  }
  f64(at: number, n: number): Float64Array {
    return new Float64Array(this.mem.buffer, at, n);
  }
  f32(at: number, n: number): Float32Array {
    return new Float32Array(this.mem.buffer, at, n);
  }
  i32(at: number, n: number): Int32Array {
    return new Int32Array(this.mem.buffer, at, n);
  }
}

interface Placed {
  kernel: Kernel;
  t: number;
  q: number;
}

/** Copies train / queries into the layout each kernel reads; returns pointers and the copy time. */
function place(heap: Heap, ex: Exports, train: Matrix, queries: Matrix, k: number) {
  heap.reset();
  const { rows: n, cols: d } = train;
  const m = queries.rows;
  const scr = heap.alloc(k * 12);
  const oi = heap.alloc(m * k * 4);
  const ok = heap.alloc(m * k * 8);
  const q64 = heap.alloc(m * d * 8);
  const q32 = heap.alloc(m * d * 4);
  const rm = heap.alloc(n * d * 8);
  const il2 = heap.alloc(Math.ceil(n / 2) * d * 16);
  const il4 = heap.alloc(Math.ceil(n / 4) * d * 16);
  heap.f64(q64, m * d).set(queries.data);
  heap.f32(q32, m * d).set(queries.data);
  const copy: Record<string, number> = {};
  let t0 = performance.now();
  heap.f64(rm, n * d).set(train.data);
  copy.rm = performance.now() - t0;
  t0 = performance.now();
  interleave(train, heap.f64(il2, Math.ceil(n / 2) * d * 2), 2);
  copy.il2 = performance.now() - t0;
  t0 = performance.now();
  interleave(train, heap.f32(il4, Math.ceil(n / 4) * d * 4), 4);
  copy.il4 = performance.now() - t0;
  const kernels: Record<string, Placed> = {
    'wasm scalar f64': { kernel: ex.sq_scalar, t: rm, q: q64 },
    'wasm f64x2 columns (row-major)': { kernel: ex.sq_rm, t: rm, q: q64 },
    'wasm f64x2 2 rows interleaved': { kernel: ex.sq_il2, t: il2, q: q64 },
    ...(d === 7 ? { 'wasm f64x2 2 rows, d=7 unrolled': { kernel: ex.sq_il2_d7, t: il2, q: q64 } } : {}),
    'wasm f32x4 4 rows interleaved': { kernel: ex.sq_il4_f32, t: il4, q: q32 },
  };
  const run = (p: Placed, q0: number, q1: number) => p.kernel(p.t, n, p.q, d, k, q0, q1, oi, ok, scr);
  const result = () => ({ idx: heap.i32(oi, m * k).slice(), keys: heap.f64(ok, m * k).slice() });
  return { kernels, run, result, copy };
}

/** Row (b*L + l), column c at out[(b*d + c)*L + l]; padding lanes NaN. */
function interleave(train: Matrix, out: Float64Array | Float32Array, L: number): void {
  const { rows: n, cols: d, data } = train;
  out.fill(NaN);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / L);
    const l = i % L;
    for (let c = 0; c < d; c++) out[(b * d + c) * L + l] = data[i * d + c]!;
  }
}

// ---------------------------------------------------------------- data and references

/**
 * Probe-only JS baseline: brute.ts's euclidean path alone (no metric switch), d = 7 unrolled
 * with the query in locals. Same arithmetic and tie rule, so bit-identical to brute.ts.
 */
function jsTunedSq7(train: Matrix, queries: Matrix, k: number, q0: number, q1: number, outI: Int32Array, outD: Float64Array): void {
  if (train.cols !== 7) throw new Error('jsTunedSq7 needs d = 7');
  const n = train.rows;
  const t = train.data;
  const qd = queries.data;
  const keys = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let q = q0; q < q1; q++) {
    const a0 = qd[q * 7]!, a1 = qd[q * 7 + 1]!, a2 = qd[q * 7 + 2]!, a3 = qd[q * 7 + 3]!;
    const a4 = qd[q * 7 + 4]!, a5 = qd[q * 7 + 5]!, a6 = qd[q * 7 + 6]!;
    let count = 0;
    let worst = Infinity;
    for (let i = 0, to = 0; i < n; i++, to += 7) {
      let x = a0 - t[to]!;
      let key = x * x;
      x = a1 - t[to + 1]!;
      key += x * x;
      x = a2 - t[to + 2]!;
      key += x * x;
      x = a3 - t[to + 3]!;
      key += x * x;
      x = a4 - t[to + 4]!;
      key += x * x;
      x = a5 - t[to + 5]!;
      key += x * x;
      x = a6 - t[to + 6]!;
      key += x * x;
      if (!(key < worst) && count === k) continue;
      let pos = count < k ? count : k - 1;
      while (pos > 0 && keys[pos - 1]! > key) {
        keys[pos] = keys[pos - 1]!;
        idx[pos] = idx[pos - 1]!;
        pos--;
      }
      keys[pos] = key;
      idx[pos] = i;
      if (count < k) count++;
      worst = count < k ? Infinity : keys[k - 1]!;
    }
    for (let j = 0; j < k; j++) {
      outI[q * k + j] = idx[j]!;
      outD[q * k + j] = Math.sqrt(keys[j]!);
    }
  }
}

/** Probe-only JS baseline: brute.ts's euclidean path alone (no metric switch), any d. */
function jsTunedSq(train: Matrix, queries: Matrix, k: number, q0: number, q1: number, outI: Int32Array, outD: Float64Array): void {
  const n = train.rows;
  const d = train.cols;
  const t = train.data;
  const qd = queries.data;
  const keys = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let q = q0; q < q1; q++) {
    const qo = q * d;
    let count = 0;
    let worst = Infinity;
    for (let i = 0, to = 0; i < n; i++, to += d) {
      let key = 0;
      for (let c = 0; c < d; c++) {
        const x = qd[qo + c]! - t[to + c]!;
        key += x * x;
      }
      if (!(key < worst) && count === k) continue;
      let pos = count < k ? count : k - 1;
      while (pos > 0 && keys[pos - 1]! > key) {
        keys[pos] = keys[pos - 1]!;
        idx[pos] = idx[pos - 1]!;
        pos--;
      }
      keys[pos] = key;
      idx[pos] = i;
      if (count < k) count++;
      worst = count < k ? Infinity : keys[k - 1]!;
    }
    for (let j = 0; j < k; j++) {
      outI[q * k + j] = idx[j]!;
      outD[q * k + j] = Math.sqrt(keys[j]!);
    }
  }
}

/** brute.ts's key: sum over c in order. */
function seqKey(train: Matrix, queries: Matrix, q: number, i: number): number {
  const d = train.cols;
  let key = 0;
  for (let c = 0; c < d; c++) {
    const diff = queries.data[q * d + c]! - train.data[i * d + c]!;
    key += diff * diff;
  }
  return key;
}

/** sq_rm's key: lane 0 sums even columns, lane 1 odd ones, then lane 0 + lane 1, then the tail. */
function pairKey(train: Matrix, queries: Matrix, q: number, i: number): number {
  const d = train.cols;
  let a = 0;
  let b = 0;
  let c = 0;
  for (; c + 1 < d; c += 2) {
    const x = queries.data[q * d + c]! - train.data[i * d + c]!;
    const y = queries.data[q * d + c + 1]! - train.data[i * d + c + 1]!;
    a += x * x;
    b += y * y;
  }
  let key = a + b;
  if (c < d) {
    const x = queries.data[q * d + c]! - train.data[i * d + c]!;
    key += x * x;
  }
  return key;
}

const f64bits = new BigInt64Array(1);
const f64view = new Float64Array(f64bits.buffer);
function ulps(a: number, b: number): number {
  f64view[0] = a;
  const x = f64bits[0]!;
  f64view[0] = b;
  const y = f64bits[0]!;
  return Number(x > y ? x - y : y - x);
}

function sameLists(a: Int32Array, b: Int32Array, m: number, k: number): { ordered: number; sets: number; members: number } {
  let ordered = 0;
  let sets = 0;
  let members = 0;
  for (let q = 0; q < m; q++) {
    const x = Array.from(a.subarray(q * k, q * k + k));
    const y = new Set(b.subarray(q * k, q * k + k));
    if (x.every((v, j) => v === b[q * k + j])) ordered++;
    const shared = x.filter((v) => y.has(v)).length;
    members += shared;
    if (shared === k) sets++;
  }
  return { ordered, sets, members };
}

// ---------------------------------------------------------------- main

const { exports: ex, source } = await loadModule();
const heap = new Heap(ex.memory);
console.log(`WASM brute-force probe: squared euclidean, d = ${D}, k = ${K}, training rows ${N}, queries ${M}, ${values.data} data, seed ${SEED}, one thread`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}; ${source}`);

// Self-check on small shapes: odd n (padding lanes), d from 1 to 9 (tails), k up to 64.
{
  let problems = 0;
  let cases = 0;
  const r = mulberry32(7);
  for (const d of [1, 2, 3, 4, 7, 8, 9])
    for (const n of [64, 65, 66, 67, 301])
      for (const k of [1, 5, 64]) {
        if (k > n) continue;
        // Coarse values (multiples of 1/4) make many exact ties, so the tie rule is exercised.
        const quant = r() < 0.5;
        const gen = (rows: number) => {
          const mm = uniform(rows, d, r);
          if (quant) for (let i = 0; i < mm.data.length; i++) mm.data[i] = Math.round(mm.data[i]! * 4) / 4;
          return mm;
        };
        const train = gen(n);
        const queries = gen(9);
        const jsI = new Int32Array(9 * k);
        const jsD = new Float64Array(9 * k);
        bruteSearchRange(train, queries, k, EUCLID, 0, 9, jsI, jsD);
        const p = place(heap, ex, train, queries, k);
        for (const [name, kern] of Object.entries(p.kernels)) {
          // JS's summation order: always bit-identical. Column pairs and f32: only on the
          // quantised data, where every sum is exact in any order and in float32.
          const mustMatch = quant || !(name.includes('f32') || name.includes('columns'));
          if (!mustMatch) continue;
          p.run(kern, 0, 9);
          const { idx, keys } = p.result();
          cases++;
          if (!idx.every((v, j) => v === jsI[j]) || !keys.every((v, j) => Math.sqrt(v) === jsD[j])) {
            problems++;
            console.log(`  self-check FAILED: ${name}, n ${n}, d ${d}, k ${k}${quant ? ', quantised' : ''}`);
          }
        }
      }
  console.log(`self-check: ${cases - problems}/${cases} kernel runs on small shapes bit-identical to JS (indices and distances; column-pair and f32 kernels checked on exactly representable data only)`);
}

const random = mulberry32(SEED);
const make = values.data === 'traffic' ? (rows: number, _d: number, random: () => number) => traffic(rows, random) : uniform;
const train = make(N, D, random);
const queries = make(M, D, random);

const p = place(heap, ex, train, queries, K);
console.log(`layout into wasm memory: row-major copy ${p.copy.rm!.toFixed(1)} ms, 2-row interleave ${p.copy.il2!.toFixed(1)} ms, f32 4-row interleave ${p.copy.il4!.toFixed(1)} ms (not in the times below)`);

interface Entry {
  name: string;
  times: number[];
  idx: Int32Array;
  keys?: Float64Array; // squared distances (wasm)
  dist?: Float64Array; // distances (JS)
  go: () => void;
}
const jsIdx = new Int32Array(M * K);
const jsDist = new Float64Array(M * K);
const entries: Entry[] = [
  { name: 'JS bruteSearchRange (float64)', times: [], idx: jsIdx, dist: jsDist, go: () => bruteSearchRange(train, queries, K, EUCLID, 0, M, jsIdx, jsDist) },
];
{
  const i = new Int32Array(M * K);
  const dd = new Float64Array(M * K);
  entries.push({ name: 'JS euclid-only, generic d (probe only)', times: [], idx: i, dist: dd, go: () => jsTunedSq(train, queries, K, 0, M, i, dd) });
}
if (D === 7) {
  const i = new Int32Array(M * K);
  const dd = new Float64Array(M * K);
  entries.push({ name: 'JS euclid-only, d=7 unrolled (probe only)', times: [], idx: i, dist: dd, go: () => jsTunedSq7(train, queries, K, 0, M, i, dd) });
}
for (const [name, kern] of Object.entries(p.kernels)) {
  const e: Entry = { name, times: [], idx: new Int32Array(0), go: () => p.run(kern, 0, M) };
  entries.push(e);
}
let tree: ReturnType<typeof buildKdTree> | undefined;
let treeBuildMs = 0;
if (!values['no-tree']) {
  const t0 = performance.now();
  tree = buildKdTree(train);
  treeBuildMs = performance.now() - t0;
  const tIdx = new Int32Array(M * K);
  const tDist = new Float64Array(M * K);
  entries.push({ name: 'JS k-d tree (search only; product default)', times: [], idx: tIdx, dist: tDist, go: () => kdSearchRange(tree!, train, queries, K, EUCLID, 0, M, tIdx, tDist) });
}

// Warm-up (JIT / Liftoff -> TurboFan tier-up), then interleaved timed repetitions.
for (const e of entries) e.go();
for (let r = 0; r < REPS; r++)
  for (const e of entries) {
    const t0 = performance.now();
    e.go();
    e.times.push(performance.now() - t0);
    if (r === 0 && e.idx.length === 0) {
      const res = p.result();
      e.idx = res.idx;
      e.keys = res.keys;
    }
  }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(entries[0]!.times);
console.log(`\ntimes: median (min) of ${REPS} runs after one warm-up run; speed-up = JS brute median / median`);
console.log('kernel'.padEnd(44) + 'ms'.padStart(16) + 'pairs/s'.padStart(11) + 'speed-up'.padStart(10) + '  same lists (ordered / as sets)');
for (const e of entries) {
  const med = median(e.times);
  const agree = e === entries[0] ? 'reference' : (() => {
    const s = sameLists(jsIdx, e.idx, M, K);
    return `${s.ordered}/${M} / ${s.sets}/${M}`;
  })();
  console.log(
    e.name.padEnd(44) +
      `${med.toFixed(0)} (${Math.min(...e.times).toFixed(0)})`.padStart(16) +
      ((N * M) / (med / 1000)).toExponential(2).padStart(11) +
      `${(base / med).toFixed(2)}x`.padStart(10) +
      '  ' +
      agree,
  );
}
if (tree) console.log(`(k-d tree build, not timed above: ${treeBuildMs.toFixed(0)} ms)`);

// Distances: for each reported neighbour, the wasm key against brute.ts's key for the same pair,
// and sqrt(wasm key) against the JS distance at the same position.
console.log('\ndistances of the reported neighbours (M x k entries):');
for (const e of entries.slice(1)) {
  if (!e.keys) {
    let distDiff = 0;
    for (let o = 0; o < M * K; o++) if (e.dist![o] !== jsDist[o]) distDiff++;
    console.log(`  ${e.name.padEnd(42)} distance != JS distance at the same position: ${distDiff}/${M * K}`);
    continue;
  }
  let keyDiff = 0;
  let maxUlp = 0;
  let maxRel = 0;
  let distDiff = 0;
  for (let q = 0; q < M; q++)
    for (let j = 0; j < K; j++) {
      const o = q * K + j;
      const ref = seqKey(train, queries, q, e.idx[o]!);
      if (e.keys[o] !== ref) {
        keyDiff++;
        maxUlp = Math.max(maxUlp, ulps(e.keys[o]!, ref));
        maxRel = Math.max(maxRel, Math.abs(e.keys[o]! - ref) / ref);
      }
      if (Math.sqrt(e.keys[o]!) !== jsDist[o]) distDiff++;
    }
  const ulpNote = e.name.includes('f32') ? `max relative key error ${maxRel.toExponential(1)}` : `max ${maxUlp} ulp`;
  console.log(`  ${e.name.padEnd(42)} key != JS key for the same pair: ${keyDiff}/${M * K} (${ulpNote}); distance != JS distance at the same position: ${distDiff}/${M * K}`);
}

// How often the column-pair order changes a key at all, over every pair of the first queries.
{
  const S = Math.min(M, 64);
  let diff = 0;
  let maxUlp = 0;
  for (let q = 0; q < S; q++)
    for (let i = 0; i < N; i++) {
      const a = seqKey(train, queries, q, i);
      const b = pairKey(train, queries, q, i);
      if (a !== b) {
        diff++;
        maxUlp = Math.max(maxUlp, ulps(a, b));
      }
    }
  console.log(`column-pair summation order vs JS order, all ${S} x ${N} pairs of the first ${S} queries: ${diff} keys differ (${((100 * diff) / (S * N)).toFixed(1)}%, max ${maxUlp} ulp)`);
}

// f32 vs f64: how far apart the lists are when they differ.
{
  const f32 = entries.find((e) => e.name.includes('f32'));
  if (f32) {
    const s = sameLists(jsIdx, f32.idx, M, K);
    console.log(`f32x4 vs float64: ${M - s.ordered}/${M} lists differ in order or members, ${M - s.sets}/${M} in members; ${M * K - s.members}/${M * K} neighbours replaced`);
  }
}
