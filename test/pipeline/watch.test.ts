import { spawn } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { ensureBuilt, ROOT, runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { nightlyConfigs } from '../helpers/nightly.js';
import { acquireLock } from '../../src/io/lock.js';

/**
 * flowknn watch and nightly --file on real nfcapd files (nfpcapd from generated pcaps): the
 * day classified file by file, then consolidated by the nightly run, gives the files a
 * nightly run alone gives; a watcher killed with SIGKILL and started again loses nothing and
 * sends no incident twice.
 */

const DATE = '2026-11-01';
let dir: string;
let cleanup: () => Promise<void>;
let archive: SynthResult;
let model: string;

const { writeConfig } = nightlyConfigs(() => ({
  dir,
  archive: archive.flowsDir,
  model,
  aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
  classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: true },
}));

/** A config whose notify command appends the incidents it is given to DIR/<name>.sent. */
const configWithNotify = (name: string) => writeConfig(name, { notify: { command: ['/bin/sh', '-c', `cat >> '${join(dir, `${name}.sent`)}'`] } });

/** A generated file's path below the archive root. */
const rel = (f: { path: string }) => f.path.replace(/^flows\//u, '');

/** A config of its own archive folder (the test's files copied or renamed into it). */
async function configWithArchive(name: string, root: string): Promise<string> {
  const cfg = await writeConfig(name);
  await writeFile(cfg, (await readFile(cfg, 'utf8')).replace(JSON.stringify(archive.flowsDir), JSON.stringify(root)));
  return cfg;
}

const day = (name: string) => join(dir, name, DATE);

/** The ids of the incidents a notify command was given, in order, repeats kept. */
async function sentIds(name: string): Promise<string[]> {
  const text = await readFile(join(dir, `${name}.sent`), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);
}

/** What two runs of the same day must agree on: every output but run times and bookkeeping. */
async function outputs(dayDir: string) {
  const summary = JSON.parse(await readFile(join(dayDir, 'summary.json'), 'utf8')) as Record<string, unknown> & { inputs: Record<string, unknown> };
  const manifest = JSON.parse(await readFile(join(dayDir, 'manifest.json'), 'utf8')) as { inputs: Record<string, unknown>[] };
  const { timings_ms: _t, started: _s, finished: _f, run_key: _r, config: _c, ...stable } = summary;
  const { reused: _u, ...inputs } = summary.inputs;
  // the report shows the run's times, its config file and how many inputs it found done (as the
  // summary's inputs.reused); everything else in it must agree
  const report = (await readFile(join(dayDir, 'report.html'), 'utf8')).replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?( UTC|Z)/gu, 'TIME').replace(/\(\d+ from an earlier run\)/gu, '(REUSED)').replace(/[\d.,]+ ?(ms|s)\b/gu, 'DURATION').split(dir).join('DIR').replace(/(watched|ref|killed)\.json/gu, 'CONFIG');
  return {
    summary: { ...stable, inputs },
    manifest: manifest.inputs.map(({ elapsed_ms: _e, ...m }) => m),
    aggregates: await readFile(join(dayDir, 'aggregates.csv'), 'utf8'),
    predictions: await readFile(join(dayDir, 'predictions.csv'), 'utf8'),
    alerts: await readFile(join(dayDir, 'alerts.ndjson'), 'utf8'),
    incidents: await readFile(join(dayDir, 'incidents.ndjson'), 'utf8'),
    rejects: await readFile(join(dayDir, 'rejects.csv'), 'utf8'),
    report,
  };
}

async function openIncidents(dayDir: string): Promise<string[]> {
  const text = await readFile(join(dayDir, 'incidents.ndjson'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: { id: string }; flowknn: { suppressed: boolean } })
    .filter((i) => !i.flowknn.suppressed)
    .map((i) => i.event.id)
    .sort();
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-watch-'));
  // half an hour: 6 five-minute files, with the floods the scenario starts in it
  archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 0.5, seed: 7, background: 2000, jobs: 2 });
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  await ensureBuilt();
}, 120_000);

afterAll(() => cleanup?.());

describe('flowknn watch', () => {
  let reference: Awaited<ReturnType<typeof outputs>>;
  let referenceOpen: string[];

  it('a day watched file by file and then consolidated by the nightly run gives the outputs of a nightly run alone; each incident is sent once', async () => {
    const ref = await configWithNotify('ref');
    const alone = await runMain(['nightly', '--config', ref, '--date', DATE, '--quiet']);
    expect(alone.code, alone.stderr).toBe(0);
    reference = await outputs(day('ref'));
    referenceOpen = await openIncidents(day('ref'));
    // the scenario's floods make incidents, or this comparison would prove little
    expect(referenceOpen.length).toBeGreaterThan(0);

    const cfg = await configWithNotify('watched');
    const watched = await runMain(['watch', '--config', cfg, '--once', '--date', DATE, '--jobs', '2']);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stderr).toContain(`${archive.files.length} files done`);
    const live = join(dir, 'watched', '.flowknn', DATE, 'live');
    // the day so far, before any nightly run: the same incidents the night will have
    expect(await openIncidents(live)).toEqual(referenceOpen);
    const afterWatch = await sentIds('watched');
    for (const id of referenceOpen) expect(afterWatch).toContain(id);
    expect(new Set(afterWatch).size).toBe(afterWatch.length);

    const night = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(night.code, night.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(day('watched'), 'summary.json'), 'utf8')) as { inputs: { reused: number; selected: number } };
    // it found every input committed: nothing read again
    expect(summary.inputs.reused).toBe(summary.inputs.selected);
    expect(await outputs(day('watched'))).toEqual(reference);
    // the nightly run sent nothing the watcher had sent
    expect(await sentIds('watched')).toEqual(afterWatch);
    const notify = JSON.parse(await readFile(join(day('watched'), 'notify.json'), 'utf8')) as { status: string; pending: string[]; notified: string[] };
    expect(notify.pending).toEqual([]);
    for (const id of referenceOpen) expect(notify.notified).toContain(id);
  }, 120_000);

  it('a watcher killed with SIGKILL mid-file and started again: nothing lost, no incident sent twice', async () => {
    const cfg = await configWithNotify('killed');
    const inputs = join(dir, 'killed', '.flowknn', DATE, 'inputs');
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'flowknn.js'), 'watch', '--config', cfg, '--once', '--date', DATE, '--jobs', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // kill it once some files are committed and others are not: one is being read
    for (let i = 0; i < 600; i++) {
      const records = (await readdir(inputs).catch(() => [] as string[])).filter((n) => /^[^.].*\.json$/u.test(n) && !n.endsWith('.rejects.json'));
      if (records.length >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    expect(await exited, stderr).toBe(null);
    const before = (await readdir(inputs)).filter((n) => /^[^.].*\.json$/u.test(n) && !n.endsWith('.rejects.json'));
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.length).toBeLessThan(archive.files.length);

    const again = await runMain(['watch', '--config', cfg, '--once', '--date', DATE]);
    expect(again.code, again.stderr).toBe(0);
    // only what was not finished was done again
    expect(again.stderr).toMatch(/(\d+) files done/u);
    const redone = Number(/(\d+) files done/u.exec(again.stderr)![1]);
    expect(redone).toBeLessThan(archive.files.length);
    expect(redone).toBeGreaterThan(0);
    const sent = await sentIds('killed');
    expect(new Set(sent).size).toBe(sent.length);
    for (const id of referenceOpen) expect(sent).toContain(id);

    const night = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(night.code, night.stderr).toBe(0);
    expect(await outputs(day('killed'))).toEqual(reference);
    expect(await sentIds('killed')).toEqual(sent);
  }, 120_000);

  it('nightly --file commits one rotated file and the incidents of its day; it refuses a file still being written', async () => {
    const cfg = await writeConfig('one');
    const file = archive.files[archive.files.length - 1]!;
    const r = await runMain(['nightly', '--config', cfg, '--file', join(archive.flowsDir, rel(file))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${rel(file)}: committed`);
    const record = JSON.parse(await readFile(join(dir, 'one', '.flowknn', DATE, 'inputs', `${rel(file).replace(/[^A-Za-z0-9._-]/gu, '_')}.json`), 'utf8')) as { status: string; rows: number };
    expect(record.status).toBe('ok');
    expect(record.rows).toBeGreaterThan(0);
    const live = JSON.parse(await readFile(join(dir, 'one', '.flowknn', DATE, 'live', 'summary.json'), 'utf8')) as { inputs: { ok: number } };
    expect(live.inputs.ok).toBe(1);

    // a file nfcapd is still writing, and a file outside the archive: exit 2, named
    const folder = join(archive.flowsDir, rel(file), '..');
    await copyFile(join(archive.flowsDir, rel(file)), join(folder, 'nfcapd.current.4242'));
    const current = await runMain(['nightly', '--config', cfg, '--file', join(folder, 'nfcapd.current.4242')]);
    expect(current.code).toBe(2);
    expect(current.stderr).toContain('nfcapd.current');
    await rename(join(folder, 'nfcapd.current.4242'), join(dir, 'nfcapd.202611010000'));
    const outside = await runMain(['nightly', '--config', cfg, '--file', join(dir, 'nfcapd.202611010000')]);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('not below archive.root');
  }, 60_000);

  it('following the archive: a file renamed into place is classified without a restart', async () => {
    // an archive that starts empty; files arrive as nfcapd renames them
    const root = join(dir, 'follow-archive');
    await mkdir(join(root, '2026', '11', '01'), { recursive: true });
    const cfg = await configWithArchive('follow', root);
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'flowknn.js'), 'watch', '--config', cfg, '--date', DATE, '--poll', '600'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 400 && !/watching|scanning/u.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
      expect(stderr).toContain('watching');
      const file = archive.files[0]!;
      const target = join(root, rel(file));
      await copyFile(join(archive.flowsDir, rel(file)), join(root, '2026', '11', '01', 'nfcapd.current.77'));
      await rename(join(root, '2026', '11', '01', 'nfcapd.current.77'), target);
      const summary = join(dir, 'follow', '.flowknn', DATE, 'live', 'summary.json');
      let seen: { inputs: { ok: number } } | undefined;
      for (let i = 0; i < 400 && !seen; i++) {
        seen = await readFile(summary, 'utf8').then((t) => JSON.parse(t) as { inputs: { ok: number } }, () => undefined);
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen?.inputs.ok, stderr).toBe(1);
      expect(stderr).toContain(`${rel(file)}: committed`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
  }, 60_000);

  it('a file that cannot be read is tried again, then listed as failed as the nightly job lists it; the others are done', async () => {
    const root = join(dir, 'bad-archive');
    const folder = join(root, '2026', '11', '01');
    await mkdir(folder, { recursive: true });
    await copyFile(join(archive.flowsDir, rel(archive.files[0]!)), join(folder, basename(archive.files[0]!.path)));
    await writeFile(join(folder, 'nfcapd.202611010005'), 'not an nfcapd file\n'.repeat(20));
    const cfg = await configWithArchive('bad', root);
    const r = await runMain(['watch', '--config', cfg, '--once', '--date', DATE, '--retries', '1', '--retry-delay', '0']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('2026/11/01/nfcapd.202611010005: attempt 1 of 2 failed');
    expect(r.stderr).toMatch(/1 files failed:\n {2}2026\/11\/01\/nfcapd\.202611010005: /u);
    expect(r.stderr).toContain('1 files done, 1 failed');
    const record = JSON.parse(await readFile(join(dir, 'bad', '.flowknn', DATE, 'inputs', '2026_11_01_nfcapd.202611010005.json'), 'utf8')) as { status: string; error: string };
    expect(record.status).toBe('failed');
    expect(record.error).toContain('nfcapd.202611010005');
  }, 60_000);

  it('a pass waits for the day\'s lock held by another run (the nightly job) instead of failing', async () => {
    const cfg = await writeConfig('locked');
    const state = join(dir, 'locked', '.flowknn', DATE);
    await mkdir(state, { recursive: true });
    const lock = await acquireLock(join(state, '.lock'), 'flowknn nightly --config locked.json');
    const file = archive.files[1]!;
    let finished = false;
    const pass = runMain(['nightly', '--config', cfg, '--file', join(archive.flowsDir, rel(file))]).then((r) => ((finished = true), r));
    await new Promise((r) => setTimeout(r, 1500));
    // still waiting while the lock is held
    expect(finished).toBe(false);
    await lock.release();
    const r = await pass;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('waiting for');
    expect(r.stderr).toContain('flowknn nightly --config locked.json');
    expect(r.stdout).toContain(`${rel(file)}: committed`);
  }, 60_000);
});
