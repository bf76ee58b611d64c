/**
 * Sweep benchmark: the seed sweep of `flowknn sweep --labels data/seed-2015/labels
 * --exclude nfs` (k 1..15; euclidean, manhattan, chebyshev; uniform and distance votes; all
 * six scalers; stratified 10-fold x 5 repeats: 540 configurations, 900 searches) on the CPU
 * engine as the CLI builds it (all cores, --algorithm auto). Budget: under 10 s on a 2-core
 * machine.
 *
 *   npx tsx bench/sweep.ts [--runs N] [--threads N] [--nested]
 *
 * Prints the time of loading the labels, of each sweep run (the first includes JIT warm-up),
 * the median, the best and the kept configuration and, with --nested, the time of the nested estimate
 * (50 outer folds, each running the whole sweep on its training part).
 */
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import { configLabel, nestedSweep, sweep, type SweepGrid } from '../src/eval/sweep.js';
import { NFDUMP_STAT7 } from '../src/features/feature-set.js';
import { SCALERS } from '../src/features/scalers.js';
import { loadLabelled } from '../src/model/labelled.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: String(availableParallelism()) },
    nested: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const threads = Number(values.threads);

const grid: SweepGrid = {
  ks: Array.from({ length: 15 }, (_, i) => i + 1),
  metrics: [{ name: 'euclidean' }, { name: 'manhattan' }, { name: 'chebyshev' }],
  weights: ['uniform', 'distance'],
  scalers: SCALERS,
};
const protocol = { name: 'kfold', folds: 10, repeats: 5, seed: 1 } as const;

const ms = (t: number) => `${t.toFixed(0)} ms`;
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores; Node ${process.version}; cpu engine, ${threads} threads, algorithm auto`);

let t = performance.now();
const set = await loadLabelled('data/seed-2015/labels', NFDUMP_STAT7, { exclude: ['nfs'] });
console.log(`load labels: ${ms(performance.now() - t)} (${set.labels.length} rows, ${set.classes.length} classes)`);

const engine = new CpuEngine({ threads, algorithm: 'auto' });
try {
  const times: number[] = [];
  let chosen = '';
  for (let r = 0; r < runs; r++) {
    t = performance.now();
    const res = await sweep(set, grid, protocol, engine);
    times.push(performance.now() - t);
    chosen = `best ${configLabel(res.selection.best.config)}; kept ${configLabel(res.chosen.config)} (${res.selection.reason}): macro F1 ${res.chosen.macroF1.mean.toFixed(4)} (sd ${res.chosen.macroF1.std.toFixed(4)}), accuracy ${res.chosen.accuracy.mean.toFixed(4)}`;
    console.log(`sweep run ${r + 1}: ${ms(times[r]!)} (${res.configurations.length} configurations, ${res.searches} searches)`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`sweep: first ${ms(times[0]!)}, median ${ms(sorted[Math.floor(sorted.length / 2)]!)} of ${runs} runs (budget 10000 ms)`);
  console.log(`chosen: ${chosen}`);
  if (values.nested) {
    t = performance.now();
    const n = await nestedSweep(set, grid, protocol, engine);
    console.log(
      `nested: ${ms(performance.now() - t)} (${n.outerFolds.length} outer folds); outer accuracy ${n.accuracy.mean.toFixed(4)} (sd ${n.accuracy.std.toFixed(4)}), macro F1 ${n.macroF1.mean.toFixed(4)} (sd ${n.macroF1.std.toFixed(4)})`,
    );
  }
} finally {
  await engine.dispose();
}
