/**
 * Training-set scaling: `flowknn train` (fit + novelty calibration, leave-one-out over every
 * training row) and `flowknn sweep` (stratified 10-fold x 5 repeats) at 10^4, 10^5 and 10^6
 * labelled rows, each run through the CLI as a user runs it (a child process; wall time and peak
 * resident set from GNU time), against scikit-learn's KNeighborsClassifier fit + leave-one-out
 * kneighbors on the same rows in the same run (bench/sklearn_loo.py, python3-sklearn).
 *
 *   npm run bench:training -- [--sizes 10000,100000,1000000] [--sweep-sizes ...] [--k 1..15]
 *                             [--metrics euclidean] [--weights uniform,distance] [--dir DIR]
 *                             [--no-sklearn] [--no-sweep] [--keep]
 *                             [--loo-sizes ...] [--before DIR] [--before-sizes 10000]
 *                             [--before-limit SECONDS]
 *
 * Leave-one-out evaluation (`--loo-sizes`, default the sizes): `flowknn train --protocol loo`
 * (train and calibration as above, then every row classified by a model fitted on all the other
 * rows: the scaler refitted per fold) and `flowknn sweep --protocol loo` over the sweep's grid.
 * With --before DIR (a built checkout of an earlier commit) its `train --protocol loo` runs on
 * the --before-sizes tables too, killed after --before-limit seconds (default 1800), and the
 * stored leave-one-out scores are compared.
 *
 * The rows are generated "shaped like the seed classes": per class of the seed's report (its five
 * classes; nfs left out as the report leaves it out) the mean and covariance of (ln duration,
 * ln flows, ln packets, ln bytes/packet) over the seed rows, a multivariate normal drawn from
 * them with a seeded generator (mulberry32, Box-Muller, Cholesky), counts clamped as nfdump's
 * `-l 1000` selection and the wire allow (flows >= 1, packets >= 1000, flows <= packets, 28 to
 * 1500 bytes a packet), and pps, bps, bpp derived as nfdump derives them (integer parts of
 * packets / duration, 8 bytes / duration, bytes / packets). Classes in the seed's proportions.
 * The table is an Arrow file with a label column, which `--labels` accepts.
 *
 * scikit-learn gets the same rows (float64), scaled as the model's default scaler scales them
 * (log-zscore: log1p, then per-feature mean and population sd), k = 3 (the default), n_jobs=2,
 * algorithm auto (which picks kd_tree at d = 7). Its leave-one-out scores give the same novelty
 * threshold as the model's (mean distance to the 3 other nearest rows, 0.95 quantile): the
 * `agree` column compares them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { NFDUMP_STAT7 } from '../src/features/feature-set.js';
import type { LabelledSet } from '../src/knn/labelled-set.js';
import { loadLabelled } from '../src/model/labelled.js';
import { mulberry32 } from '../src/random.js';

const REPO = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    'sweep-sizes': { type: 'string' },
    k: { type: 'string', default: '1..15' },
    metrics: { type: 'string', default: 'euclidean' },
    weights: { type: 'string', default: 'uniform,distance' },
    scalers: { type: 'string', default: 'log-zscore' },
    dir: { type: 'string', default: join(tmpdir(), 'flowknn-bench-training') },
    seed: { type: 'string', default: '20150224' },
    python: { type: 'string' },
    'no-sklearn': { type: 'boolean', default: false },
    'no-sweep': { type: 'boolean', default: false },
    'no-train': { type: 'boolean', default: false },
    'loo-sizes': { type: 'string' },
    before: { type: 'string' },
    'before-sizes': { type: 'string', default: '10000' },
    'before-limit': { type: 'string', default: '1800' },
    keep: { type: 'boolean', default: false },
  },
});
const SIZES = values.sizes!.split(',').map(Number);
const SWEEP_SIZES = values['sweep-sizes'] === undefined ? SIZES : values['sweep-sizes'].split(',').map(Number);
const LOO_SIZES = values['loo-sizes'] === undefined ? SIZES : values['loo-sizes'].split(',').filter(Boolean).map(Number);
const BEFORE_SIZES = values.before === undefined ? [] : values['before-sizes']!.split(',').filter(Boolean).map(Number);
const BEFORE_LIMIT_S = Number(values['before-limit']);
const SEED = Number(values.seed);
const DIR = values.dir!;
const PYTHON = values.python ?? process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
/** The model's default k (train without --k). */
const K = 3;
mkdirSync(DIR, { recursive: true });

// ---- the seed classes as distributions ------------------------------------------------------

interface ClassShape {
  readonly label: string;
  readonly rows: number;
  /** mean of (ln duration, ln flows, ln packets, ln bytes/packet) */
  readonly mean: number[];
  /** lower Cholesky factor of their covariance (row-major 4 x 4) */
  readonly chol: number[];
}

const DIMS = 4;

function shapes(set: LabelledSet): ClassShape[] {
  return set.classes.map((label, c) => {
    const rows: number[][] = [];
    set.labels.forEach((l, i) => {
      if (l !== c) return;
      const [dur, flows, packets, bytes] = set.features.row(i);
      // durations of 0 (one-packet aggregates) would be ln 0: nfdump prints milliseconds
      rows.push([Math.log(Math.max(dur!, 0.001)), Math.log(flows!), Math.log(packets!), Math.log(bytes! / packets!)]);
    });
    const mean = Array.from({ length: DIMS }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);
    const cov = new Array<number>(DIMS * DIMS).fill(0);
    for (const r of rows) for (let a = 0; a < DIMS; a++) for (let b = 0; b < DIMS; b++) cov[a * DIMS + b]! += ((r[a]! - mean[a]!) * (r[b]! - mean[b]!)) / (rows.length - 1);
    // a little on the diagonal: a class whose flows are all 1 (smtp) has a singular covariance
    for (let a = 0; a < DIMS; a++) cov[a * DIMS + a]! += 1e-4;
    return { label, rows: rows.length, mean, chol: cholesky(cov) };
  });
}

function cholesky(a: number[]): number[] {
  const l = new Array<number>(DIMS * DIMS).fill(0);
  for (let i = 0; i < DIMS; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * DIMS + j]!;
      for (let t = 0; t < j; t++) s -= l[i * DIMS + t]! * l[j * DIMS + t]!;
      l[i * DIMS + j] = i === j ? Math.sqrt(s) : s / l[j * DIMS + j]!;
    }
  }
  return l;
}

/** Rows per class in the seed's proportions (largest remainders), summing to n. */
function apportion(shapesIn: ClassShape[], n: number): number[] {
  const total = shapesIn.reduce((s, c) => s + c.rows, 0);
  const exact = shapesIn.map((c) => (c.rows * n) / total);
  const counts = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ r: e - Math.floor(e), i })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let j = 0; counts.reduce((s, v) => s + v, 0) < n; j++) counts[order[j]!.i]!++;
  return counts;
}

interface Generated {
  readonly features: Float64Array;
  readonly labels: Uint8Array;
  readonly classes: string[];
}

function generate(shapesIn: ClassShape[], n: number, seed: number): Generated {
  const random = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const counts = apportion(shapesIn, n);
  const features = new Float64Array(n * 7);
  const labels = new Uint8Array(n);
  const z = new Float64Array(DIMS);
  const x = new Float64Array(DIMS);
  let at = 0;
  shapesIn.forEach((shape, c) => {
    for (let r = 0; r < counts[c]!; r++, at++) {
      for (let j = 0; j < DIMS; j++) z[j] = gauss();
      for (let i = 0; i < DIMS; i++) {
        let s = shape.mean[i]!;
        for (let j = 0; j <= i; j++) s += shape.chol[i * DIMS + j]! * z[j]!;
        x[i] = s;
      }
      const duration = Math.round(Math.exp(x[0]!) * 1000) / 1000;
      const packets = Math.max(1000, Math.round(Math.exp(x[2]!)));
      const flows = Math.min(packets, Math.max(1, Math.round(Math.exp(x[1]!))));
      const bytes = Math.round(packets * Math.min(1500, Math.max(28, Math.exp(x[3]!))));
      const pps = duration > 0 ? Math.floor(packets / duration) : 0;
      const bps = duration > 0 ? Math.floor((8 * bytes) / duration) : 0;
      const bpp = Math.floor(bytes / packets);
      features.set([duration, flows, packets, bytes, pps, bps, bpp], at * 7);
      labels[at] = c;
    }
  });
  return { features, labels, classes: shapesIn.map((s) => s.label) };
}

/** The labels table (Arrow file: the seven feature columns and label) and the float64/uint8 copies for python. */
function writeTable(g: Generated, base: string): { arrow: string; x: string; y: string } {
  const n = g.labels.length;
  const cols = Object.fromEntries(NFDUMP_STAT7.columns.map((name, j) => [name, Float64Array.from({ length: n }, (_, i) => g.features[i * 7 + j]!)]));
  const table = tableFromArrays({ ...cols, label: Array.from(g.labels, (c) => g.classes[c]!) });
  const files = { arrow: `${base}.arrow`, x: `${base}.x.f64`, y: `${base}.y.u8` };
  writeFileSync(files.arrow, tableToIPC(table, 'file'));
  writeFileSync(files.x, g.features);
  writeFileSync(files.y, g.labels);
  return files;
}

// ---- runs ---------------------------------------------------------------------------------

interface Run {
  readonly s: number;
  readonly peakMiB: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command under GNU time: wall time and peak RSS (ru_maxrss, the largest process of the run). */
async function timed(cmd: string, args: string[], limitS?: number): Promise<Run> {
  const limit = limitS === undefined ? [] : ['timeout', '--signal=KILL', String(limitS)];
  const child = spawn('/usr/bin/time', ['-f', 'bench-peak-rss-kib %M', ...limit, cmd, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const t0 = performance.now();
  const [code] = await once(child, 'exit');
  const s = (performance.now() - t0) / 1000;
  if (limitS !== undefined && s >= limitS) return { s: Number.POSITIVE_INFINITY, peakMiB: Number.NaN, stdout, stderr };
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${stderr.slice(-4000)}`);
  const kib = Number(/bench-peak-rss-kib (\d+)/u.exec(stderr)?.[1] ?? Number.NaN);
  return { s, peakMiB: kib / 1024, stdout, stderr };
}

/** The CLI from the sources, as `flowknn ARGS` runs it (main() of src/cli/main.ts). */
function flowknn(args: string[]): Promise<Run> {
  return timed(process.execPath, ['--import', 'tsx', join(REPO, 'bench/flowknn-src.ts'), ...args]);
}

/** `flowknn` as built in an earlier checkout (its bin/flowknn.js), for the before column. */
function flowknnBefore(args: string[], limitS: number): Promise<Run> {
  return timed(process.execPath, [join(resolve(values.before!), 'bin/flowknn.js'), ...args], limitS);
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

interface StoredEvaluation {
  readonly protocol: string;
  readonly accuracy: number;
  readonly macro_f1: number;
}

/** train --protocol loo into a fresh folder: the run and the evaluation model.json stores. */
async function trainLoo(run: (args: string[]) => Promise<Run>, table: string, out: string): Promise<{ run: Run; evaluation: StoredEvaluation | null }> {
  rmSync(out, { recursive: true, force: true });
  const r = await run(['train', '--labels', table, '--out', out, '--protocol', 'loo']);
  const evaluation = Number.isFinite(r.s) ? (JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { evaluation: StoredEvaluation }).evaluation : null;
  if (!values.keep) rmSync(out, { recursive: true, force: true });
  return { run: r, evaluation };
}

console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${new Date().toISOString()}`);
const seed = await loadLabelled(join(REPO, 'data/seed-2015/labels'), NFDUMP_STAT7, { exclude: ['nfs'] });
const classShapes = shapes(seed);
console.log(`seed classes: ${classShapes.map((c) => `${c.label} ${c.rows}`).join(', ')} (nfs left out); generator seed ${SEED}`);
const sweepArgs = ['--k', values.k!, '--metrics', values.metrics!, '--weights', values.weights!, '--scalers', values.scalers!, '--protocol', 'kfold', '--folds', '10', '--repeats', '5', '--seed', '1'];
console.log(`train: flowknn train --labels T --out DIR --protocol none (log-zscore, euclidean, k = ${K}, uniform; novelty: mean distance, quantile 0.95)`);
console.log(`sweep: flowknn sweep --labels T ${sweepArgs.join(' ')}`);
console.log(`scikit-learn: ${PYTHON} bench/sklearn_loo.py (KNeighborsClassifier(n_neighbors=${K}, n_jobs=2) fit + kneighbors(None, ${K}), log-zscore in numpy)\n`);

const rows: string[] = [];
const looRows: string[] = [];
for (const n of [...new Set([...SIZES, ...SWEEP_SIZES, ...LOO_SIZES])].sort((a, b) => a - b)) {
  const base = join(DIR, `rows-${n}-${SEED}`);
  let t = performance.now();
  const g = generate(classShapes, n, SEED + n);
  const files = writeTable(g, base);
  console.log(`${n} rows: generated and written in ${((performance.now() - t) / 1000).toFixed(1)} s (${files.arrow})`);

  let train: Run | undefined;
  let threshold = Number.NaN;
  if (SIZES.includes(n) && !values['no-train']) {
    const out = join(DIR, `model-${n}`);
    rmSync(out, { recursive: true, force: true });
    train = await flowknn(['train', '--labels', files.arrow, '--out', out, '--protocol', 'none']);
    threshold = (JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { novelty: { threshold: number } }).novelty.threshold;
    console.log(`  flowknn train: ${fmt(train.s, 1)} s, peak ${fmt(train.peakMiB, 0)} MiB; novelty threshold ${threshold.toPrecision(10)}`);
    if (!values.keep) rmSync(out, { recursive: true, force: true });
  }

  let sk: { fit_s: number; loo_s: number; method: string; threshold: number; process: Run } | undefined;
  if (SIZES.includes(n) && !values['no-sklearn']) {
    const process = await timed(PYTHON, [join(REPO, 'bench/sklearn_loo.py'), JSON.stringify({ x: files.x, y: files.y, k: K, n_jobs: 2, algorithms: ['auto'] })]);
    const res = JSON.parse(process.stdout) as { sklearn: string; results: Record<string, { fit_s: number; loo_s: number; method: string; threshold: number }> };
    const auto = res.results['auto']!;
    sk = { ...auto, process };
    console.log(`  scikit-learn ${res.sklearn} (auto = ${auto.method}): fit ${fmt(auto.fit_s, 2)} s + leave-one-out ${fmt(auto.loo_s, 2)} s; process ${fmt(process.s, 1)} s, peak ${fmt(process.peakMiB, 0)} MiB; threshold ${auto.threshold.toPrecision(10)}`);
  }

  let sweep: Run | undefined;
  if (SWEEP_SIZES.includes(n) && !values['no-sweep']) {
    t = performance.now();
    sweep = await flowknn(['sweep', '--labels', files.arrow, ...sweepArgs, '--top', '3']);
    const searches = /sweep: (\d+) configurations, (\d+) searches in ([\d.]+) s/u.exec(sweep.stderr);
    const kept = /^kept:.*$|^chosen:.*$/mu.exec(sweep.stdout)?.[0] ?? '';
    console.log(`  flowknn sweep: ${fmt(sweep.s, 1)} s, peak ${fmt(sweep.peakMiB, 0)} MiB${searches ? ` (${searches[1]} configurations, ${searches[2]} searches in ${searches[3]} s)` : ''}${kept ? `; ${kept.trim()}` : ''}`);
  }

  if (LOO_SIZES.includes(n)) {
    const now = await trainLoo(flowknn, files.arrow, join(DIR, `model-loo-${n}`));
    const ev = now.evaluation!;
    console.log(`  flowknn train --protocol loo: ${fmt(now.run.s, 1)} s, peak ${fmt(now.run.peakMiB, 0)} MiB; leave-one-out accuracy ${ev.accuracy.toFixed(6)}, macro F1 ${ev.macro_f1.toFixed(6)}`);
    let before = '-';
    if (BEFORE_SIZES.includes(n)) {
      const old = await trainLoo((args) => flowknnBefore(args, BEFORE_LIMIT_S), files.arrow, join(DIR, `model-loo-before-${n}`));
      const same = old.evaluation ? old.evaluation.accuracy === ev.accuracy && old.evaluation.macro_f1 === ev.macro_f1 : null;
      before = old.evaluation ? `${fmt(old.run.s, 1)} / ${fmt(old.run.peakMiB, 0)} (${fmt(old.run.s / now.run.s, 0)}x; same scores: ${same ? 'yes' : 'no'})` : `killed after ${BEFORE_LIMIT_S} s`;
      console.log(`  before (${values.before}) train --protocol loo: ${before}${old.evaluation && !same ? `: accuracy ${old.evaluation.accuracy}, macro F1 ${old.evaluation.macro_f1}` : ''}`);
    }
    let looSweep = '-';
    if (SWEEP_SIZES.includes(n) && !values['no-sweep']) {
      const looArgs = sweepArgs.map((a, i) => (sweepArgs[i - 1] === '--protocol' ? 'loo' : a)).filter((a, i, all) => !['--folds', '--repeats', '--seed'].includes(a) && !['--folds', '--repeats', '--seed'].includes(all[i - 1]!));
      const r = await flowknn(['sweep', '--labels', files.arrow, ...looArgs, '--select', 'best', '--top', '3']);
      const searches = /sweep: (\d+) configurations, (\d+) searches in ([\d.]+) s/u.exec(r.stderr);
      looSweep = `${fmt(r.s, 1)} / ${fmt(r.peakMiB, 0)}`;
      console.log(`  flowknn sweep ${looArgs.join(' ')}: ${looSweep}${searches ? ` (${searches[1]} configurations, ${searches[2]} searches in ${searches[3]} s)` : ''}`);
    }
    looRows.push(`| ${n.toLocaleString('en')} | ${fmt(now.run.s, 1)} / ${fmt(now.run.peakMiB, 0)} | ${ev.accuracy.toFixed(4)} / ${ev.macro_f1.toFixed(4)} | ${before} | ${looSweep} |`);
  }

  if (!values.keep) for (const f of Object.values(files)) rmSync(f, { force: true });
  if (!train && !sk && !sweep) continue;
  const agree = train && sk ? (Math.abs(threshold - sk.threshold) <= 1e-9 * Math.abs(sk.threshold) ? 'yes' : `no (${threshold} vs ${sk.threshold})`) : 'n/a';
  rows.push(
    `| ${n.toLocaleString('en')} | ${train ? `${fmt(train.s, 1)} / ${fmt(train.peakMiB, 0)}` : '-'} | ${sk ? `${fmt(sk.fit_s + sk.loo_s, 2)} (${fmt(sk.process.s, 1)} / ${fmt(sk.process.peakMiB, 0)})` : '-'} | ${train && sk ? fmt(train.s / sk.process.s, 2) : '-'} | ${agree} | ${sweep ? `${fmt(sweep.s, 1)} / ${fmt(sweep.peakMiB, 0)}` : '-'} |`,
  );
}

console.log('\n| rows | flowknn train + calibrate: s / peak MiB | scikit-learn fit + LOO: s (process s / peak MiB) | ratio flowknn / sklearn process | same threshold | flowknn 10x5 sweep: s / peak MiB |');
console.log('| ---: | ---: | ---: | ---: | :---: | ---: |');
for (const r of rows) console.log(r);
if (looRows.length > 0) {
  console.log('\n| rows | flowknn train --protocol loo: s / peak MiB | leave-one-out accuracy / macro F1 | before: s / peak MiB | flowknn sweep --protocol loo: s / peak MiB |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of looRows) console.log(r);
}
if (!values.keep) execFileSync('rmdir', ['--ignore-fail-on-non-empty', DIR]);
