/**
 * Model choice under nesting: how good is each way of choosing a configuration, when every
 * choice is made inside the training folds? On the seed data (without nfs), each row is a
 * nested cross-validation (outer stratified 10-fold x 5, seeds 6..10; inside each outer
 * training part a sweep under stratified 10-fold x 5, seeds 1..5) of one way of choosing:
 *
 * - the default alone (log-zscore, euclidean, k = 3, uniform votes): the baseline;
 * - the quantile scaler alone (quantile, euclidean, k = 3, uniform);
 * - the default grid (k 1..15, three metrics, both weightings, six scalers) with the
 *   one-standard-error rule, and with the best, each kept only if it beats the default beyond
 *   noise (what `flowknn sweep --save-model` keeps);
 * - the quantile scaler's grid (k 1..15, three metrics, both weightings) with the rule.
 *
 *   npx tsx bench/selection.ts [--threads N]
 *
 * Prints a Markdown table: accuracy and macro F1 over the 50 outer folds (mean and sd), and
 * how often the inner choice kept its baseline. Runs a few minutes on 2 cores.
 */
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { CpuEngine } from '../src/engines/cpu/cpu-engine.js';
import type { SelectRule } from '../src/eval/selection.js';
import { nestedSweep, type SweepGrid } from '../src/eval/sweep.js';
import { NFDUMP_STAT7 } from '../src/features/feature-set.js';
import { SCALERS } from '../src/features/scalers.js';
import { loadLabelled } from '../src/model/labelled.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: String(availableParallelism()) } } });
const threads = Number(values.threads);

const ks = Array.from({ length: 15 }, (_, i) => i + 1);
const metrics: SweepGrid['metrics'] = [{ name: 'euclidean' }, { name: 'manhattan' }, { name: 'chebyshev' }];
const full: SweepGrid = { ks, metrics, weights: ['uniform', 'distance'], scalers: SCALERS };
const one = (scaler: SweepGrid['scalers'][number]): SweepGrid => ({ ks: [3], metrics: [{ name: 'euclidean' }], weights: ['uniform'], scalers: [scaler] });
const rows: [string, SweepGrid, SelectRule][] = [
  ['default (log-zscore, euclidean, k = 3, uniform)', one('log-zscore'), 'one-se'],
  ['quantile (quantile, euclidean, k = 3, uniform)', one('quantile'), 'one-se'],
  ['sweep, one-standard-error rule, default kept unless beaten beyond noise', full, 'one-se'],
  ['sweep, best, default kept unless beaten beyond noise', full, 'best'],
  ['sweep of the quantile scaler (k 1..15, 3 metrics, 2 weightings), one-standard-error rule', { ...full, scalers: ['quantile'] }, 'one-se'],
];
const protocol = { name: 'kfold', folds: 10, repeats: 5, seed: 1 } as const;
const outer = { folds: 10, repeats: 5, seed: 6 };

console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores; Node ${process.version}; cpu engine, ${threads} threads`);
const set = await loadLabelled('data/seed-2015/labels', NFDUMP_STAT7, { exclude: ['nfs'] });
const engine = new CpuEngine({ threads, algorithm: 'auto' });
const f3 = (x: number) => x.toFixed(3);
const table = ['| choice | accuracy | macro F1 | baseline kept | time |', '| --- | --- | --- | --- | --- |'];
try {
  for (const [name, grid, select] of rows) {
    const t = performance.now();
    const n = await nestedSweep(set, grid, protocol, engine, undefined, outer, { select });
    const s = ((performance.now() - t) / 1000).toFixed(1);
    table.push(`| ${name} | ${f3(n.accuracy.mean)} ± ${f3(n.accuracy.std)} | ${f3(n.macroF1.mean)} ± ${f3(n.macroF1.std)} | ${n.keptBaseline} of ${n.outerFolds.length} | ${s} s |`);
    console.log(table[table.length - 1]);
  }
} finally {
  await engine.dispose();
}
console.log(`\n${table.join('\n')}`);
