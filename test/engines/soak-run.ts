/**
 * Soak run for the webgpu engine (spawned by soak.test.ts in its own process, so that a crash
 * inside Dawn is seen as a failed child, not a dead test runner): many searches of varied
 * shapes, k and metrics in one process with forced GCs; checks every result against the CPU
 * engine and reports memory and GPU buffer counts as JSON on the last line.
 *
 *   node --expose-gc --import tsx test/engines/soak-run.ts SEARCHES SEED
 */
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { METRICS, type Metric } from '../../src/engines/engine.js';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { Matrix } from '../../src/matrix.js';
import { mulberry32 } from '../../src/random.js';

const searches = Number(process.argv[2] ?? 1000);
const seed = Number(process.argv[3] ?? 1);
const random = mulberry32(seed);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const engine = await WebGpuEngine.create({ allowSoftware: true, poison: true });
const cpu = new CpuEngine({ threads: 1 });
const rss: number[] = [];
const external: number[] = [];
let mismatches = 0;
for (let s = 0; s < searches; s++) {
  const d = [2, 7][Math.floor(random() * 2)]!;
  const n = 1 + Math.floor(random() * 600);
  const m = 1 + Math.floor(random() * 300);
  const k = 1 + Math.floor(random() * Math.min(n, 32));
  const name = METRICS[Math.floor(random() * METRICS.length)]!;
  const metric: Metric = name === 'minkowski' ? { name, p: 1 + Math.floor(random() * 3) } : { name };
  const train = Matrix.zeros(n, d);
  const queries = Matrix.zeros(m, d);
  // Integer-valued data: exact in float32, so GPU and CPU must agree exactly.
  train.data.forEach((_, i) => (train.data[i] = Math.floor(random() * 2000) - 1000));
  queries.data.forEach((_, i) => (queries.data[i] = Math.floor(random() * 2000) - 1000));
  const got = await engine.search(train, queries, k, metric);
  if (name === 'euclidean' || name === 'sqeuclidean' || name === 'manhattan' || name === 'chebyshev') {
    const want = await cpu.search(train, queries, k, metric);
    for (let i = 0; i < want.indices.length; i++) if (want.indices[i] !== got.indices[i]) mismatches++;
  }
  if (engine.stats().liveBuffers !== 0) throw new Error(`search ${s}: ${engine.stats().liveBuffers} GPU buffers still alive`);
  if (s % 10 === 0) gc();
  if (s % 50 === 0) {
    const mem = process.memoryUsage();
    rss.push(mem.rss);
    external.push(mem.external + mem.arrayBuffers);
  }
}
const stats = engine.stats();
await engine.dispose();
gc();
console.log(JSON.stringify({ searches, seed, mismatches, rss, external, pipelines: stats.pipelines }));
