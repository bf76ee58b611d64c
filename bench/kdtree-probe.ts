/**
 * Scratch timing of the k-d tree (src/engines/cpu/kdtree.ts) against the brute-force kernel,
 * single thread: d = 7, k = 5, 131072 training rows, 16384 queries, (a) uniform [-1, 1]^7 and
 * (b) clustered log-scaled traffic-like data (the generators of bench/knn.ts). Brute force runs
 * on a subset of the queries and is scaled up; the tree's answers are checked against it.
 *
 *   npx tsx bench/kdtree-probe.ts [--leaf 8,16,32] [--split spread,cycle] [--brute 256] [--reps 3]
 */
import { parseArgs } from 'node:util';
import { bruteSearchRange } from '../src/engines/cpu/brute.js';
import { buildKdTree, kdSearchRange } from '../src/engines/cpu/kdtree.js';
import type { Metric } from '../src/engines/engine.js';
import { mulberry32 } from '../src/random.js';
import { traffic, uniform } from './data.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '131072' },
    queries: { type: 'string', default: '16384' },
    k: { type: 'string', default: '5' },
    leaf: { type: 'string', default: '16' },
    split: { type: 'string', default: 'spread' },
    brute: { type: 'string', default: '256' },
    reps: { type: 'string', default: '3' },
    metric: { type: 'string', default: 'euclidean' },
    p: { type: 'string', default: '3' },
  },
});
const N = Number(values.train);
const M = Number(values.queries);
const K = Number(values.k);
const B = Math.min(M, Number(values.brute));
const REPS = Number(values.reps);
const D = 7;
const SEED = 20261128;
const metric: Metric = values.metric === 'minkowski' ? { name: 'minkowski', p: Number(values.p) } : { name: values.metric as Metric['name'] };

const ms = (t0: number) => performance.now() - t0;
console.log(`k-d tree probe: d ${D}, k ${K}, train ${N}, queries ${M}, metric ${values.metric}, node ${process.version}, single thread`);
for (const [label, make] of [
  ['(a) uniform', (rows: number, random: () => number) => uniform(rows, D, random)],
  ['(b) traffic', traffic],
] as const) {
  const random = mulberry32(SEED);
  const train = make(N, random);
  const queries = make(M, random);
  const bi = new Int32Array(M * K);
  const bd = new Float64Array(M * K);
  bruteSearchRange(train, queries, K, metric, 0, 4, bi, bd); // warm-up
  const tb = performance.now();
  bruteSearchRange(train, queries, K, metric, 0, B, bi, bd);
  const bruteMs = (ms(tb) * M) / B;
  console.log(`\n${label}: brute force ${B} queries, scaled to ${M}: ${bruteMs.toFixed(0)} ms`);
  for (const split of values.split.split(',') as ('spread' | 'cycle')[]) {
    for (const leafSize of values.leaf.split(',').map(Number)) {
      let build = Infinity;
      let query = Infinity;
      let tree = buildKdTree(train, { leafSize, split });
      const ki = new Int32Array(M * K);
      const kd = new Float64Array(M * K);
      kdSearchRange(tree, train, queries, K, metric, 0, 64, ki, kd); // warm-up
      for (let r = 0; r < REPS; r++) {
        let t0 = performance.now();
        tree = buildKdTree(train, { leafSize, split });
        build = Math.min(build, ms(t0));
        t0 = performance.now();
        kdSearchRange(tree, train, queries, K, metric, 0, M, ki, kd);
        query = Math.min(query, ms(t0));
      }
      let bad = 0;
      for (let i = 0; i < B * K; i++) if (ki[i] !== bi[i] || !Object.is(kd[i], bd[i])) bad++;
      console.log(
        `  split ${split.padEnd(6)} leaf ${String(leafSize).padStart(3)}: build ${build.toFixed(0).padStart(5)} ms, query ${query.toFixed(0).padStart(5)} ms ` +
          `(${((query * 1000) / M).toFixed(1)} us/query, ${(bruteMs / query).toFixed(0)}x brute), nodes ${tree.nodeCount}, depth ${tree.depth}, ` +
          `mismatches vs brute ${bad}/${B * K}`,
      );
    }
  }
}
