/**
 * The kill -9 matrix: runs `flowknn nightly` and `flowknn train --registry` as real processes,
 * kills each at a point (at the k-th file event below its output folder: a file made or
 * renamed; or after a random delay), runs it again (`--resume`, or the same training), and
 * checks that the outputs are those of an uninterrupted run, with nothing of the killed run
 * left. Seeded; the seed is printed.
 *
 *     npx tsx test/pipeline/kill-matrix.ts --trials 100 [--seed 7] [--only nightly|train]
 *
 * test/pipeline/kill-matrix.test.ts runs a short version of it in the test suite.
 */
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { generateArchive } from '../../src/synth/generate.js';
import { ensureBuilt, ROOT, runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

export interface MatrixResult {
  readonly scenario: string;
  readonly trials: number;
  /** Trials whose kill landed before the run ended. */
  readonly killed: number;
  readonly identical: number;
  readonly failures: string[];
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** File events seen (made or renamed below the watched folder). */
  events: number;
}

/** The built CLI, killed at the `killAt`-th file event below `watchDir` or after `killAfterMs`. */
function runCli(argv: string[], watchDir: string, kill: { atEvent?: number; afterMs?: number } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/flowknn.js'), ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let events = 0;
    const watcher = watch(watchDir, { recursive: true }, (event) => {
      if (event !== 'rename') return;
      events++;
      if (kill.atEvent !== undefined && events === kill.atEvent) child.kill('SIGKILL');
    });
    // a folder gone before the watcher could look into it (a swapped or removed temporary one)
    watcher.on('error', () => undefined);
    const timer = kill.afterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      watcher.close();
      clearTimeout(timer);
      resolvePromise({ code, signal, stderr: Buffer.concat(err).toString('utf8'), events });
    });
  });
}

/** A night's outputs as a user compares two runs: all but times and the run's bookkeeping. */
async function dayOutputs(dayDir: string): Promise<unknown> {
  const summary = JSON.parse(await readFile(join(dayDir, 'summary.json'), 'utf8')) as Record<string, unknown> & { inputs: Record<string, unknown> };
  const manifest = JSON.parse(await readFile(join(dayDir, 'manifest.json'), 'utf8')) as { inputs: Record<string, unknown>[] };
  const { timings_ms: _t, started: _s, finished: _f, run_key: _r, config: _c, ...stable } = summary;
  const { reused: _u, ...inputs } = summary.inputs;
  const files: Record<string, string> = {};
  for (const f of ['predictions.csv', 'aggregates.csv', 'alerts.ndjson', 'incidents.ndjson', 'rejects.csv', 'notify.json']) files[f] = await readFile(join(dayDir, f), 'utf8');
  return { summary: { ...stable, inputs }, manifest: manifest.inputs.map(({ elapsed_ms: _e, ...m }) => m), files, listing: (await readdir(dayDir)).sort() };
}

/** Whatever a killed run may leave that an uninterrupted one does not. */
async function leftovers(root: string): Promise<string[]> {
  return (await listTree(root)).filter((p) => /(^|\/)\.[^/]*\.(tmp|old)-\d+-|(^|\/)\.lock$|(^|\/)\.write-test-|(^|\/)(next|old)\/$/u.test(p));
}

function pick<T>(items: readonly T[], n: number, random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

/** Kill points: each event once (in a seeded order), then random delays within a run's time. */
function killPoints(trials: number, events: number, runMs: number, random: () => number): { atEvent?: number; afterMs?: number }[] {
  const byEvent = pick(
    Array.from({ length: events }, (_, i) => i + 1),
    Math.min(events, Math.ceil(trials * 0.75)),
    random,
  ).map((k) => ({ atEvent: k }));
  const out: { atEvent?: number; afterMs?: number }[] = [...byEvent];
  while (out.length < trials) out.push({ afterMs: Math.floor(random() * runMs) });
  return pick(out, trials, random);
}

/**
 * nightly: a first run of a day, and a rerun replacing a finished day with changed settings;
 * each killed, then `--resume`d, must give the uninterrupted run's outputs.
 */
export async function nightlyMatrix(opts: { trials: number; seed: number; log: (m: string) => void }): Promise<MatrixResult> {
  const random = rng(opts.seed);
  const { dir, cleanup } = await makeTempDir('flowknn-kill-nightly-');
  const result = { scenario: 'nightly', trials: 0, killed: 0, identical: 0, failures: [] as string[] };
  try {
    const DATE = '2026-11-01';
    const archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 0.5, seed: 11, background: 2000, jobs: 2 });
    const model = join(dir, 'model');
    const t = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
    if (t.code !== 0) throw new Error(t.stderr);
    await ensureBuilt();
    const settings = (minPackets: number) => ({
      archive: { root: archive.flowsDir },
      model: { path: model },
      aggregate: { source: 'nfdump', key: 'dstip', minPackets },
      classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: true },
      limits: { jobs: 2 },
      report: { enabled: false },
    });
    const configFor = async (name: string, minPackets: number, out: string) => {
      const file = join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify({ ...settings(minPackets), output: { root: out } }, null, 2));
      return file;
    };
    const args = (cfg: string) => ['nightly', '--config', cfg, '--date', DATE, '--quiet'];
    // references, uninterrupted, and what one run does: its file events and time
    const refs: Record<string, unknown> = {};
    const calibration: Record<string, { events: number; ms: number }> = {};
    for (const [mode, min] of [['first', 0], ['replace', 100]] as const) {
      const out = join(dir, `ref-${mode}`);
      await mkdir(out, { recursive: true });
      if (mode === 'replace') {
        const r0 = await runCli(args(await configFor(`ref-${mode}-old`, 0, out)), out);
        if (r0.code !== 0) throw new Error(r0.stderr);
      }
      const t0 = performance.now();
      const r = await runCli(args(await configFor(`ref-${mode}`, min, out)), out);
      if (r.code !== 0) throw new Error(r.stderr);
      calibration[mode] = { events: r.events, ms: performance.now() - t0 };
      refs[mode] = await dayOutputs(join(out, DATE));
    }
    opts.log(`nightly: an uninterrupted first run makes ${calibration.first!.events} file events in ${Math.round(calibration.first!.ms)} ms, a replacing rerun ${calibration.replace!.events} in ${Math.round(calibration.replace!.ms)} ms`);
    // a finished day to copy into each 'replace' trial
    const base = join(dir, 'base');
    await mkdir(base, { recursive: true });
    const b0 = await runCli(args(await configFor('base', 0, base)), base);
    if (b0.code !== 0) throw new Error(b0.stderr);

    const half = Math.ceil(opts.trials / 2);
    const plan = [
      ...killPoints(half, calibration.first!.events, calibration.first!.ms, random).map((k) => ({ mode: 'first' as const, ...k })),
      ...killPoints(opts.trials - half, calibration.replace!.events, calibration.replace!.ms, random).map((k) => ({ mode: 'replace' as const, ...k })),
    ];
    for (const [i, p] of plan.entries()) {
      const out = join(dir, `trial-${i}`);
      if (p.mode === 'replace') await cp(base, out, { recursive: true });
      else await mkdir(out, { recursive: true });
      const cfg = await configFor(`trial-${i}`, p.mode === 'first' ? 0 : 100, out);
      const what = `nightly ${p.mode} trial ${i}: kill ${p.atEvent !== undefined ? `at file event ${p.atEvent}` : `after ${p.afterMs} ms`}`;
      const killed = await runCli(args(cfg), out, p);
      const landed = killed.signal === 'SIGKILL';
      const resumed = await runCli([...args(cfg), '--resume'], out);
      result.trials++;
      if (landed) result.killed++;
      let problem: string | null = null;
      if (resumed.code !== 0) problem = `--resume exited ${resumed.code}: ${resumed.stderr.trim().split('\n').slice(-3).join(' | ')}`;
      else if (!isDeepStrictEqual(await dayOutputs(join(out, DATE)).catch((e: Error) => e.message), refs[p.mode])) problem = 'outputs differ from the uninterrupted run';
      else {
        const left = await leftovers(out);
        if (left.length > 0) problem = `left behind: ${left.join(', ')}`;
      }
      if (problem === null) result.identical++;
      else result.failures.push(`${what}: ${problem}`);
      opts.log(`${what}${landed ? '' : ' (ended before the kill)'}: ${problem ?? 'identical'}`);
      await rm(out, { recursive: true, force: true });
    }
    return result;
  } finally {
    await cleanup();
  }
}

/** A model registry as a user compares two: every version's files but times, `current`, the labels. */
async function registryState(root: string): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const p of await listTree(root)) {
    if (p.endsWith('/')) {
      out[p] = 'dir';
      continue;
    }
    const text = await readFile(join(root, p));
    if (p.endsWith('model.json')) {
      const { created: _c, sha256: _s, ...j } = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
      out[p] = j;
    } else if (p.endsWith('version.json')) {
      const { created: _c, promoted_at: at, ...j } = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
      out[p] = { ...j, promoted_at: at === null ? null : 'set' };
    } else out[p] = createHash('sha256').update(text).digest('hex');
  }
  return out;
}

/** train --registry: v2 of a registry holding v1 and a pending label batch, killed, then the same command again. */
export async function trainMatrix(opts: { trials: number; seed: number; log: (m: string) => void }): Promise<MatrixResult> {
  const random = rng(opts.seed ^ 0x5eed);
  const { dir, cleanup } = await makeTempDir('flowknn-kill-train-');
  const result = { scenario: 'train --registry', trials: 0, killed: 0, identical: 0, failures: [] as string[] };
  try {
    await ensureBuilt();
    const base = join(dir, 'base');
    const v1 = await runMain(['train', '--registry', base, '--name', 'seed', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--quiet']);
    if (v1.code !== 0) throw new Error(v1.stderr);
    // The operator's loop: the nfs rows classified by v1, labelled, added as a pending batch
    // (so that v2 also moves a batch, and a rerun after v2 has nothing new to take in).
    const c = await runMain(['classify', join(SEED_LABELS, 'nfs.raw'), '--model', join(base, 'seed'), '--engine', 'cpu', '--out', join(dir, 'nfs'), '--quiet']);
    if (c.code !== 0) throw new Error(c.stderr);
    const lines = (await readFile(join(dir, 'nfs', 'predictions.csv'), 'utf8')).trimEnd().split('\n');
    await writeFile(join(dir, 'labelled.csv'), `${[`${lines[0]},label`, ...lines.slice(1).map((l) => `${l},nfs`)].join('\n')}\n`);
    const added = await runMain(['label', 'add', '--registry', base, '--name', 'seed', '--predictions', join(dir, 'labelled.csv'), '--quiet']);
    if (added.code !== 0) throw new Error(added.stderr);
    const args = (root: string) => ['train', '--registry', root, '--name', 'seed', '--protocol', 'none', '--promote', '--engine', 'cpu', '--threads', '1', '--quiet'];
    const ref = join(dir, 'ref');
    await cp(base, ref, { recursive: true });
    const t0 = performance.now();
    const r = await runCli(args(ref), ref);
    if (r.code !== 0) throw new Error(r.stderr);
    const runMs = performance.now() - t0;
    const expected = await registryState(ref);
    opts.log(`train --registry: an uninterrupted run makes ${r.events} file events in ${Math.round(runMs)} ms`);
    for (const [i, p] of killPoints(opts.trials, r.events, runMs, random).entries()) {
      const root = join(dir, `trial-${i}`);
      await cp(base, root, { recursive: true });
      const what = `train trial ${i}: kill ${p.atEvent !== undefined ? `at file event ${p.atEvent}` : `after ${p.afterMs} ms`}`;
      const killed = await runCli(args(root), root, p);
      const landed = killed.signal === 'SIGKILL';
      // the same command again: it trains v2 if the killed run had not written it, else it
      // finishes what that run left and has nothing new to train (exit 2, saying both)
      const again = await runCli(args(root), root);
      result.trials++;
      if (landed) result.killed++;
      let problem: string | null = null;
      if (again.code !== 0 && !(again.code === 2 && /nothing new/u.test(again.stderr))) problem = `the rerun exited ${again.code}: ${again.stderr.trim().split('\n').slice(-2).join(' | ')}`;
      else {
        const got = (await registryState(root)) as Record<string, unknown>;
        const want = expected as Record<string, unknown>;
        const differ = [...new Set([...Object.keys(got), ...Object.keys(want)])].filter((k) => !isDeepStrictEqual(got[k], want[k]));
        if (differ.length > 0) problem = `the registry differs from the uninterrupted run in ${differ.join(', ')}`;
      }
      if (problem === null) result.identical++;
      else result.failures.push(`${what}: ${problem}`);
      opts.log(`${what}${landed ? '' : ' (ended before the kill)'}: ${problem ?? 'identical'}${again.code === 2 ? ' (rerun: nothing new)' : ''}`);
      await rm(root, { recursive: true, force: true });
    }
    return result;
  } finally {
    await cleanup();
  }
}

async function cli(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const trials = Number(flag('trials') ?? 20);
  const seed = Number(flag('seed') ?? Date.now() % 100_000);
  const only = flag('only');
  console.log(`kill matrix: seed ${seed}, ${trials} trials per scenario (--seed ${seed} repeats it)`);
  const results: MatrixResult[] = [];
  if (only !== 'train') results.push(await nightlyMatrix({ trials, seed, log: console.log }));
  if (only !== 'nightly') results.push(await trainMatrix({ trials, seed, log: console.log }));
  for (const r of results) console.log(`${r.scenario}: ${r.trials} trials, ${r.killed} killed before the end, ${r.identical} identical, ${r.failures.length} failures`);
  for (const r of results) for (const f of r.failures) console.log(`FAILED ${f}`);
  process.exitCode = results.some((r) => r.failures.length > 0) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await cli();
