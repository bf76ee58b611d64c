import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { spawn } from 'node:child_process';
import { copyFile, cp, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { ensureBuilt, ROOT, runBin, runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { nightlyConfigs } from '../helpers/nightly.js';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { readNfcapdFlows } from '../../src/ingest/nfdump/flows.js';

/**
 * The nightly job end to end on real nfcapd files (nfpcapd from generated pcaps), with the
 * built CLI where a process has to be killed.
 */

const DATE = '2026-11-01';
let dir: string;
let cleanup: () => Promise<void>;
let archive: SynthResult;
let model: string;

const { config, writeConfig } = nightlyConfigs(() => ({
  dir,
  archive: archive.flowsDir,
  model,
  aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
  classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: true },
}));

const day = (name: string) => join(dir, name, DATE);
/** The day's lock, run state and committed parts, beside the day (src/pipeline/day.ts). */
const state = (name: string) => join(dir, name, '.flowknn', DATE);

/** What a user compares between two runs of the same day: everything but times and the run's own bookkeeping. */
async function outputs(dayDir: string, options: { copiedArchive?: boolean } = {}) {
  const summary = JSON.parse(await readFile(join(dayDir, 'summary.json'), 'utf8')) as Record<string, unknown> & { inputs: Record<string, unknown> };
  const manifest = JSON.parse(await readFile(join(dayDir, 'manifest.json'), 'utf8')) as { archive_root: string; inputs: Record<string, unknown>[] };
  const { timings_ms: _t, started: _s, finished: _f, run_key: _r, config: _c, shard: _sh, ...stable } = summary;
  const { reused: _u, ...inputs } = summary.inputs;
  return {
    summary: { ...stable, inputs },
    // a copied archive's files have the same content but their own modification times
    manifest: manifest.inputs.map(({ elapsed_ms: _e, mtime_ms, ...m }) => (options.copiedArchive ? m : { ...m, mtime_ms })),
    predictions: await readFile(join(dayDir, 'predictions.csv'), 'utf8'),
    aggregates: await readFile(join(dayDir, 'aggregates.csv'), 'utf8'),
    alerts: await readFile(join(dayDir, 'alerts.ndjson'), 'utf8'),
    // the drill-down commands name the archive's folder
    incidents: (await readFile(join(dayDir, 'incidents.ndjson'), 'utf8')).split(manifest.archive_root).join('ARCHIVE'),
    rejects: await readFile(join(dayDir, 'rejects.csv'), 'utf8'),
  };
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-nightly-'));
  // 2 hours: 24 five-minute files; enough background that one file takes a moment to read.
  archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 2, seed: 7, background: 20_000, nfs: true, jobs: 2 });
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  await ensureBuilt();
}, 300_000);

afterAll(() => cleanup?.());

describe('flowknn nightly', () => {
  let reference: Awaited<ReturnType<typeof outputs>>;

  it('classifies a day of nfcapd files into out/<date>/ and does no work when rerun', async () => {
    const cfg = await writeConfig('ref');
    const first = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(first.code, first.stderr).toBe(0);
    // --quiet: a night that went well prints nothing (cron mails what a job prints) but what a
    // person must act on: the seed's 2015 network is far from the generated one (drift, below)
    expect(first.stdout).toBe('');
    expect(first.stderr).toMatch(/^flowknn: warning: \d+% novel against 5\.0% expected: tonight's traffic is far from the training data; label some rows \(flowknn label suggest\)\n$/u);
    const files = (await readdir(day('ref'))).sort();
    expect(files).toEqual(['aggregates.arrow', 'aggregates.csv', 'aggregates.parquet', 'alerts.ndjson', 'incidents.ndjson', 'manifest.json', 'notify.json', 'predictions.arrow', 'predictions.csv', 'predictions.parquet', 'rejects.csv', 'report.html', 'summary.json']);
    reference = await outputs(day('ref'));
    // one collector's flat archive: its folder is the router of every row
    const agg = tableFromIPC(await readFile(join(day('ref'), 'aggregates.arrow')));
    expect(new Set(agg.getChild('router')!.toArray() as string[])).toEqual(new Set(['flows']));
    const summary = reference.summary as { status: string; inputs: { selected: number; ok: number }; rows: number; predicted: Record<string, number>; alerts: number; novel: number; engine: { name: string; batch_rows: number } };
    expect(summary.status).toBe('complete');
    expect(summary.inputs.selected).toBe(archive.files.length);
    expect(summary.inputs.ok).toBe(archive.files.length);
    expect(summary.engine.name).toBe('cpu');
    // the CPU engine's batches of 65,536 rows (a smaller night is one search)
    expect(summary.engine.batch_rows).toBe(65_536);
    // every aggregate passed the minimum and was classified once
    const predictions = tableFromIPC(await readFile(join(day('ref'), 'predictions.arrow')));
    expect(predictions.numRows).toBe(summary.rows);
    const packets = predictions.getChild('packets')!.toArray() as Float64Array;
    expect(Math.min(...packets)).toBeGreaterThanOrEqual(1000);
    expect(Object.values(summary.predicted).reduce((a, b) => a + b, 0)).toBe(summary.rows);
    // the floods the generator injected are there and alert
    const alerts = reference.alerts.trim().split('\n').map((l) => JSON.parse(l) as { key: string; predicted: string; reasons: string[]; novel: boolean });
    expect(alerts.length).toBe(summary.alerts);
    const truth = (await readFile(join(archive.out, 'ground-truth.csv'), 'utf8')).split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
    const floodHosts = new Set(truth.filter((t) => t[1] === 'small-flood' || t[1] === 'incoming-floods').map((t) => t[3]));
    expect(floodHosts.size).toBeGreaterThan(0);
    for (const host of floodHosts) expect(alerts.some((a) => a.key === host), `alert for flood target ${host}`).toBe(true);
    for (const a of alerts) expect(a.reasons.length).toBeGreaterThan(0);
    expect(alerts.filter((a) => a.novel).length).toBe(summary.novel);

    const written = (await stat(join(day('ref'), 'summary.json'))).mtimeMs;
    const again = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('up to date');
    expect((await stat(join(day('ref'), 'summary.json'))).mtimeMs).toBe(written);
    expect(await outputs(day('ref'))).toEqual(reference);
  }, 120_000);

  it('a night cut into small batches (classify.batchRows) writes the files of a night searched at once', async () => {
    const cfg = await writeConfig('batches', { classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: true, batchRows: 16 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const got = await outputs(day('batches'));
    const { engine, ...summary } = got.summary as unknown as Record<string, unknown> & { engine: { batch_rows: number } };
    const { engine: refEngine, ...refSummary } = reference.summary as unknown as Record<string, unknown> & { engine: { batch_rows: number } };
    expect((refSummary as { rows: number }).rows).toBeGreaterThan(10 * 16);
    expect(engine.batch_rows).toBe(16);
    expect({ ...engine, batch_rows: refEngine.batch_rows }).toEqual(refEngine);
    expect({ ...got, summary }).toEqual({ ...reference, summary: refSummary });
  }, 120_000);

  it('reports the novel share against the calibrated one: drift with the seed model, none with a model of the night itself', async () => {
    // the reference night, with the seed model: far from its training data
    const ref = JSON.parse(await readFile(join(day('ref'), 'summary.json'), 'utf8')) as { rows: number; novel: number; model: { novelty_score: string; novelty_quantile: number }; novelty: { rows: number; novel: number; share: number; expected: number; drift: boolean; warning: string } };
    expect(ref.model).toMatchObject({ novelty_score: 'mean', novelty_quantile: 0.95 });
    expect(ref.novelty).toMatchObject({ rows: ref.rows, novel: ref.novel, share: ref.novel / ref.rows, expected: 0.05, drift: true });
    const pct = Math.round(100 * ref.novelty.share);
    expect(ref.novelty.warning).toBe(`${pct}% novel against 5.0% expected: tonight's traffic is far from the training data; label some rows (flowknn label suggest)`);
    const html = await readFile(join(day('ref'), 'report.html'), 'utf8');
    expect(html).toContain(`Drift: ${pct}% novel against 5.0% expected`);
    expect(html).toContain(`${(100 * ref.novelty.share).toFixed(1)}% of the rows, against 5.0% expected`);

    // a model trained on the night's own rows (labelled with the seed model's votes) knows it
    const predictions = tableFromIPC(await readFile(join(day('ref'), 'predictions.arrow')));
    const columns = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'];
    const lines = Array.from({ length: predictions.numRows }, (_, i) => [String(predictions.getChild('voted')!.get(i)), ...columns.map((c) => String(predictions.getChild(c)!.get(i)))].join(','));
    const labels = join(dir, 'own-labels.csv');
    await writeFile(labels, `label,${columns.join(',')}\n${lines.join('\n')}\n`);
    const own = join(dir, 'own-model');
    const t = await runMain(['train', '--labels', labels, '--protocol', 'none', '--engine', 'cpu', '--out', own, '--quiet']);
    expect(t.code, t.stderr).toBe(0);
    const cfg = await writeConfig('own', { model: { path: own }, classify: { engine: 'cpu', threads: 1, alertClasses: [] } });
    const run = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(day('own'), 'summary.json'), 'utf8')) as { rows: number; novelty: { share: number; drift: boolean; warning: string | null } };
    console.log(`novel share: seed model ${(100 * ref.novelty.share).toFixed(1)}% of ${ref.rows} rows, a model of the night ${(100 * summary.novelty.share).toFixed(1)}% of ${summary.rows}`);
    expect(summary.novelty).toMatchObject({ drift: false, warning: null });
    expect(summary.novelty.share).toBeLessThan(0.15);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('');
  });

  it('label suggest picks rows of the night worth a label, one per incident or host, as a CSV label add --predictions takes', async () => {
    const csv = join(dir, 'suggest.csv');
    const r = await runMain(['label', 'suggest', '--night', day('ref'), '--n', '12', '--out', csv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^suggested 12 of 178 rows \(.*; \d+ novel, 12 incidents or hosts\)$/mu);
    expect(r.stdout).toContain(`flowknn label add --registry REGISTRY --name NAME --predictions ${csv}`);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(13);
    expect(lines[0]).toMatch(/^label,why,key,window_start,first_seen,source_file,/u);
    const predictions = tableFromIPC(await readFile(join(day('ref'), 'predictions.arrow')));
    const keys = new Set(Array.from({ length: predictions.numRows }, (_, i) => `${String(predictions.getChild('key')!.get(i))} ${new Date(Number(predictions.getChild('window_start')!.get(i))).toISOString()}`));
    const picked = lines.slice(1).map((l) => {
      const m = /^,("[^"]*"|[^,]*),([^,]+),([^,]+),/u.exec(l)!;
      return { why: m[1]!, key: m[2]!, window: m[3]! };
    });
    // every row is a row of the night, each of another incident or host, each saying why
    for (const p of picked) expect(keys.has(`${p.key} ${p.window}`), `${p.key} ${p.window}`).toBe(true);
    expect(new Set(picked.map((p) => p.why.replace(/"/gu, '').split('; ').at(-1))).size).toBe(12);
    for (const p of picked) expect(p.why).toMatch(/(novel \(\d+\.\dx the threshold\)|split vote|vote) /u);
    // the operator fills in the label column: label add takes the rows
    const filled = join(dir, 'suggest-labelled.csv');
    await writeFile(filled, [lines[0], ...lines.slice(1).map((l) => `http${l}`)].join('\n') + '\n');
    const add = await runMain(['label', 'add', '--registry', join(dir, 'suggest-models'), '--name', 'seed', '--predictions', filled]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('added 12 labels (http 12)');
  });

  it('after a SIGKILL part way, --resume finishes with the outputs of an uninterrupted run', async () => {
    const cfg = await writeConfig('killed', { limits: { jobs: 1 } });
    const child = spawn(process.execPath, [join(ROOT, 'bin/flowknn.js'), 'nightly', '--config', cfg, '--date', DATE, '--quiet'], { stdio: 'ignore' });
    const work = join(state('killed'), 'inputs');
    // kill once a few inputs are committed, well before the last
    let committed = 0;
    for (let i = 0; i < 2000 && committed < 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
      committed = (await readdir(work).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && !f.endsWith('.rejects.json')).length;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(committed).toBeGreaterThanOrEqual(3);
    expect(committed).toBeLessThan(archive.files.length);
    await expect(stat(join(day('killed'), 'summary.json'))).rejects.toThrow();

    const plain = await runBin(['nightly', '--config', cfg, '--date', DATE]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('was interrupted');
    expect(plain.stderr).toContain('--resume');

    const resumed = await runBin(['nightly', '--config', cfg, '--date', DATE, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(day('killed'), 'summary.json'), 'utf8')) as { inputs: { reused: number } };
    expect(summary.inputs.reused).toBeGreaterThanOrEqual(3);
    expect(await outputs(day('killed'))).toEqual(reference);
    // no leftovers of the killed run: no temporary files, no lock, no staged day
    expect((await readdir(day('killed'))).filter((f) => f.startsWith('.'))).toEqual([]);
    expect((await readdir(state('killed'))).sort()).toEqual(['inputs', 'run.json']);
    expect((await readdir(join(state('killed'), 'inputs'))).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('two shards and a merge give the files of one run; a file no shard read makes the merge exit 1 naming its shard', async () => {
    // a copy of the archive: a file is added to it below. Its folder keeps the archive's name,
    // which is the router of its files (their router column).
    const copy = join(dir, 'sharded-archive', 'flows');
    await cp(archive.flowsDir, copy, { recursive: true, preserveTimestamps: true });
    const cfg = join(dir, 'sharded.json');
    await writeFile(cfg, config('sharded').replace(JSON.stringify(archive.flowsDir), JSON.stringify(copy)));
    for (const shard of ['1/2', '2/2']) {
      const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--shard', shard, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
    }
    const one = JSON.parse(await readFile(join(state('sharded'), 'shards', '1-of-2', 'out', 'summary.json'), 'utf8')) as { inputs: { selected: number } };
    const two = JSON.parse(await readFile(join(state('sharded'), 'shards', '2-of-2', 'out', 'summary.json'), 'utf8')) as { inputs: { selected: number } };
    expect(one.inputs.selected + two.inputs.selected).toBe(archive.files.length);
    expect(one.inputs.selected).toBeGreaterThan(0);
    expect(two.inputs.selected).toBeGreaterThan(0);
    const merged = await runMain(['merge', '--config', cfg, '--date', DATE, '--quiet']);
    expect(merged.code, merged.stderr).toBe(0);
    const { manifest: refManifest, ...refRest } = reference;
    const { manifest: shardManifest, ...shardRest } = await outputs(day('sharded'), { copiedArchive: true });
    expect(shardRest).toEqual(refRest);
    expect(shardManifest).toEqual(refManifest.map(({ mtime_ms: _m, ...m }) => m));
    expect((await readdir(day('sharded'))).includes('report.html')).toBe(true);

    const last = archive.files[archive.files.length - 1]!.path.replace(/^flows\//u, '');
    const late = last.replace(/nfcapd\.\d{12}$/u, 'nfcapd.202611012300');
    await copyFile(join(copy, last), join(copy, late));
    const again = await runMain(['merge', '--config', cfg, '--date', DATE]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`${late.replace(/\./gu, '\\.')}: read by no shard: shard [12] of 2 ran before this file was there; rerun flowknn nightly --shard [12]/2`, 'u'));
    const summary = JSON.parse(await readFile(join(day('sharded'), 'summary.json'), 'utf8')) as { status: string; inputs: { selected: number; failed: number } };
    expect(summary).toMatchObject({ status: 'partial', inputs: { selected: archive.files.length + 1, failed: 1 } });

    // a shard of an older flowknn (no router column): its columns would shift; the merge says so
    const shard2 = join(state('sharded'), 'shards', '2-of-2', 'out', 'aggregates.arrow');
    const t = tableFromIPC(await readFile(shard2));
    await writeFile(shard2, tableToIPC(t.select(t.schema.fields.map((f) => f.name).filter((n) => n !== 'router')), 'file'));
    await rm(join(copy, late));
    const older = await runMain(['merge', '--config', cfg, '--date', DATE]);
    expect(older.code).toBe(1);
    expect(older.stderr).toContain('shard 2 of 2 was written with other columns than this flowknn writes');
  }, 120_000);

  it('a damaged input fails alone: exit 1 naming it, the others classified', async () => {
    const copy = join(dir, 'damaged-archive');
    await mkdir(copy, { recursive: true });
    const some = archive.files.slice(0, 4);
    for (const f of some) await copyFile(join(archive.out, f.path), join(copy, f.path.split('/').pop()!));
    const bad = join(copy, some[1]!.path.split('/').pop()!);
    await truncate(bad, Math.floor((await stat(bad)).size / 2));
    const cfg = join(dir, 'damaged.json');
    await writeFile(cfg, config('damaged').replace(JSON.stringify(archive.flowsDir), JSON.stringify(copy)));
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 of 4 inputs failed');
    expect(r.stderr).toContain(some[1]!.path.split('/').pop()!);
    const summary = JSON.parse(await readFile(join(day('damaged'), 'summary.json'), 'utf8')) as { status: string; inputs: { ok: number; failed: number } };
    expect(summary.status).toBe('partial');
    expect(summary.inputs).toMatchObject({ ok: 3, failed: 1 });
    const manifest = JSON.parse(await readFile(join(day('damaged'), 'manifest.json'), 'utf8')) as { inputs: { status: string; error: string | null; sha256: string | null }[] };
    expect(manifest.inputs.map((i) => i.status)).toEqual(['ok', 'failed', 'ok', 'ok']);
    expect(manifest.inputs[1]!.error).toMatch(/nfdump/u);
    expect(manifest.inputs[0]!.sha256).toMatch(/^[0-9a-f]{64}$/u);
  }, 120_000);

  it('runs the notify command with the incidents on stdin', async () => {
    const cfg = await writeConfig('notify');
    const got = join(dir, 'notified.ndjson');
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet', '--notify-cmd', `cat > '${got}'; echo "$FLOWKNN_ALERTS" >> '${got}.count'`]);
    expect(r.code, r.stderr).toBe(0);
    // nothing suppressed: every incident, ranked, as incidents.ndjson holds them, with all the alert rows
    expect((await readFile(got, 'utf8')).split(archive.flowsDir).join('ARCHIVE')).toBe(reference.incidents);
    expect((await readFile(`${got}.count`, 'utf8')).trim()).toBe(String(reference.alerts.trim().split('\n').length));
  }, 120_000);
});

describe('flowknn nightly, flows source', () => {
  it("aggregates nfdump's flows itself by any key and window: every flow counted once, keys split into their columns", async () => {
    const cfg = await writeConfig('flows', { aggregate: { source: 'flows', key: 'dstip+proto', window: 600, minPackets: 1000 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(day('flows'), 'summary.json'), 'utf8')) as { flows: number; rows: number; engine: { device: string } };
    const ref = JSON.parse(await readFile(join(day('ref'), 'summary.json'), 'utf8')) as { flows: number };
    // the same flow records as nfdump's statistics counted, whichever way they are grouped
    expect(summary.flows).toBe(ref.flows);
    expect(summary.engine.device).toMatch(/^CPU, 1 thread/u);
    const aggregates = tableFromIPC(await readFile(join(day('flows'), 'aggregates.arrow')));
    expect(aggregates.numRows).toBe(summary.rows);
    const key = aggregates.getChild('key')!.toArray() as string[];
    const dst = aggregates.getChild('dst_addr')!.toArray() as string[];
    const proto = aggregates.getChild('proto')!.toArray() as string[];
    const window = aggregates.getChild('window_start')!.toArray() as number[];
    for (let i = 0; i < aggregates.numRows; i++) {
      expect(key[i]).toBe(`${dst[i]}|${proto[i]}`);
      expect(Number(window[i]) % 600_000).toBe(0);
    }
    expect(Math.min(...(aggregates.getChild('packets')!.toArray() as Float64Array))).toBeGreaterThanOrEqual(1000);

    // A host's flows in one window lie in several files (a 10-minute window spans two files,
    // and flows are exported in the file after their first packet): the night's aggregates
    // are those of all the day's flows through one aggregator, each (window, host) once.
    const all = new FlowAggregator({ key: 'dstip+proto', window: 600, minPackets: 1000 });
    for (const f of archive.files) for await (const batch of readNfcapdFlows(join(archive.out, f.path))) all.add(batch.columns);
    const expected = all.rows();
    const got = Array.from({ length: aggregates.numRows }, (_, i) => ({
      window: Number(window[i]),
      key: key[i],
      flows: aggregates.getChild('flows')!.get(i) as number,
      packets: aggregates.getChild('packets')!.get(i) as number,
      bytes: aggregates.getChild('bytes')!.get(i) as number,
      duration: aggregates.getChild('duration_s')!.get(i) as number,
      pps: aggregates.getChild('pps')!.get(i) as number,
      bps: aggregates.getChild('bps')!.get(i) as number,
    }));
    expect(got).toEqual(expected.map((r) => ({ window: r.windowStart, key: r.key, flows: r.flows, packets: r.packets, bytes: r.bytes, duration: r.durationMs / 1000, pps: r.pps, bps: r.bps })));
    expect(new Set(got.map((g) => `${g.window}|${g.key}`)).size).toBe(got.length);
    const sources = aggregates.getChild('source_file')!.toArray() as string[];
    expect(sources.some((s) => / \(\+\d+ more\)$/u.test(s)), 'some aggregate spans files').toBe(true);

    const sharded = await runMain(['nightly', '--config', cfg, '--date', DATE, '--shard', '1/2']);
    expect(sharded.code).toBe(2);
    expect(sharded.stderr).toContain('--shard needs aggregate.source "nfdump"');
  }, 120_000);
});

describe("flowknn nightly, several routers' archives (NfSen live/<router>/)", () => {
  let live: string;
  /** rtr1 holds the day's first hour, rtr2 its first half hour: the same hosts seen by two routers. */
  const HALF = Date.parse(`${DATE}T00:30:00Z`);
  const rtr1Files = () => archive.files.filter((f) => f.slotStartMs < Date.parse(`${DATE}T01:00:00Z`));
  const rtr2Files = () => archive.files.filter((f) => f.slotStartMs < HALF);
  beforeAll(async () => {
    live = join(dir, 'live');
    for (const [router, files] of [['rtr1', rtr1Files()], ['rtr2', rtr2Files()]] as const) {
      for (const f of files) {
        const to = join(live, router, f.path.replace(/^flows\//u, ''));
        await mkdir(join(to, '..'), { recursive: true });
        await copyFile(join(archive.out, f.path), to);
      }
    }
  });
  const read = async (name: string) => {
    const t = tableFromIPC(await readFile(join(day(name), 'aggregates.arrow')));
    const col = <T>(c: string) => t.getChild(c)!.toArray() as T[];
    const [key, router, file, window] = [col<string>('key'), col<string>('router'), col<string>('source_file'), col<number>('window_start')];
    return Array.from({ length: t.numRows }, (_, i) => ({ key: key[i]!, router: router[i]!, file: file[i]!, window: Number(window[i]), flows: t.getChild('flows')!.get(i) as number, packets: t.getChild('packets')!.get(i) as number, bytes: t.getChild('bytes')!.get(i) as number, first: Number(t.getChild('first_seen')!.get(i)), last: Number(t.getChild('last_seen')!.get(i)) }));
  };
  /** The flows of these files through one aggregator of the router's, rows as read() gives them. */
  const expected = async (paths: string[], router: string, key: string) => {
    const agg = new FlowAggregator({ key, window: 600, router, minPackets: 1000 });
    for (const p of paths) for await (const b of readNfcapdFlows(p)) agg.add(b.columns);
    return agg.rows().map((r) => ({ key: r.key, window: Number(r.windowStart), flows: r.flows, packets: r.packets, bytes: r.bytes, first: r.firstSeen, last: r.lastSeen }));
  };
  const sortRows = <T extends { window: number; key: string }>(rows: T[]) => [...rows].sort((a, b) => a.window - b.window || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  it('flows source by dstip+router: each router\'s hosts apart, as its own flows give them, the router in the key and its column', async () => {
    const cfg = await writeConfig('routers', { archive: { root: live }, aggregate: { source: 'flows', key: 'dstip+router', window: 600, minPackets: 1000 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const rows = await read('routers');
    expect(new Set(rows.map((x) => x.router))).toEqual(new Set(['rtr1', 'rtr2']));
    for (const x of rows) {
      expect(x.key.endsWith(`|${x.router}`), x.key).toBe(true);
      expect(x.file.startsWith(`${x.router}/`), x.file).toBe(true);
    }
    for (const [router, files] of [['rtr1', rtr1Files()], ['rtr2', rtr2Files()]] as const) {
      const want = await expected(files.map((f) => join(archive.out, f.path)), router, 'dstip+router');
      const got = rows.filter((x) => x.router === router).map(({ router: _r, file: _f, ...rest }) => rest);
      expect(sortRows(got)).toEqual(sortRows(want));
    }
    // the predictions and alerts carry the router along
    const predictions = tableFromIPC(await readFile(join(day('routers'), 'predictions.arrow')));
    expect(new Set(predictions.getChild('router')!.toArray() as string[])).toEqual(new Set(['rtr1', 'rtr2']));
    const alerts = (await readFile(join(day('routers'), 'alerts.ndjson'), 'utf8')).trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { key: string; router: string; flowknn?: { routers: string[] } });
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) expect(a.key.endsWith(`|${a.router}`), JSON.stringify(a).slice(0, 200)).toBe(true);
    // the report's alerts say which router saw them
    expect(await readFile(join(day('routers'), 'report.html'), 'utf8')).toContain('<th scope="col">router</th>');
    const incidents = (await readFile(join(day('routers'), 'incidents.ndjson'), 'utf8')).trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { flowknn: { key: string; routers: string[]; drilldown: { argv: string[]; command: string; note: string | null } | null } });
    for (const i of incidents) expect(i.flowknn.routers).toEqual([i.flowknn.key.split('|')[1]]);
    // an incident's drill-down reads its own router's files only
    const drilled = incidents.filter((i) => i.flowknn.drilldown?.argv);
    expect(drilled.length).toBeGreaterThan(0);
    for (const i of drilled) {
      const router = i.flowknn.key.split('|')[1]!;
      const paths = i.flowknn.drilldown!.argv.filter((a) => a.startsWith('/'));
      expect(paths.length, i.flowknn.drilldown!.command).toBeGreaterThan(0);
      for (const a of paths) expect(a.startsWith(join(live, router) + '/'), i.flowknn.drilldown!.command).toBe(true);
      // run, or not run only for being past incidents.drilldown.maxIncidents
      expect(i.flowknn.drilldown!.note ?? 'not run: past', i.flowknn.drilldown!.command).toMatch(/^not run: past/u);
    }
    expect(drilled.filter((i) => i.flowknn.drilldown!.note === null).length).toBeGreaterThan(0);
  }, 180_000);

  it('flows source by dstip: a host seen by both routers is one row, summed, its router column naming both', async () => {
    const cfg = await writeConfig('routers-merged', { archive: { root: live }, aggregate: { source: 'flows', key: 'dstip', window: 600, minPackets: 1000 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const rows = await read('routers-merged');
    const both = await expected([...rtr1Files(), ...rtr2Files()].map((f) => join(archive.out, f.path)), 'any', 'dstip');
    expect(sortRows(rows.map(({ router: _r, file: _f, ...rest }) => rest))).toEqual(sortRows(both));
    const routers = new Set(rows.map((x) => x.router));
    expect(routers).toEqual(new Set(['rtr1', 'rtr1,rtr2']));
    // after the first half hour only rtr1 saw anything (a window starts at most 10 minutes
    // before a flow that rtr2's last file holds)
    for (const x of rows) if (x.window >= HALF) expect(x.router).toBe('rtr1');
    // an incident both routers saw is drilled down in both folders over one range (nfdump -M)
    const incidents = (await readFile(join(day('routers-merged'), 'incidents.ndjson'), 'utf8')).trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { flowknn: { routers: string[]; drilldown: { argv: string[]; command: string; note: string | null; peers: unknown[] | null } | null } });
    const seenByBoth = incidents.filter((i) => i.flowknn.routers.length === 2 && i.flowknn.drilldown?.argv);
    expect(seenByBoth.length).toBeGreaterThan(0);
    for (const i of seenByBoth) {
      const dd = i.flowknn.drilldown!;
      expect(dd.argv.slice(1, 3), dd.command).toEqual(['-M', `${join(live, 'rtr1')}:rtr2`]);
      expect(dd.note ?? 'not run: past', dd.command).toMatch(/^not run: past/u);
    }
    const ran = seenByBoth.filter((i) => i.flowknn.drilldown!.note === null);
    expect(ran.length).toBeGreaterThan(0);
    for (const i of ran) expect(i.flowknn.drilldown!.peers!.length).toBeGreaterThan(0);
  }, 180_000);
});

describe('flowknn nightly with a model registry', () => {
  it('uses the current version, names it in the summary, and redoes the day when a new version is current', async () => {
    const registry = join(dir, 'models');
    const cfgFile = await writeConfig('registry', { model: { registry, name: 'core' } });
    const none = await runMain(['nightly', '--config', cfgFile, '--date', DATE]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has no model "core"');
    const common = ['--labels', SEED_LABELS, '--scaler', 'log-zscore', '--k', '3', '--protocol', 'loo', '--engine', 'cpu', '--registry', registry, '--name', 'core', '--quiet'];
    expect((await runMain(['train', ...common, '--exclude', 'nfs'])).code).toBe(0);
    const first = await runMain(['nightly', '--config', cfgFile, '--date', DATE, '--quiet']);
    expect(first.code, first.stderr).toBe(0);
    const s1 = JSON.parse(await readFile(join(day('registry'), 'summary.json'), 'utf8')) as { model: { name: string; version: number; classes: string[] }; inputs: { reused: number } };
    expect(s1.model).toMatchObject({ name: 'core', version: 1 });
    // The operator's loop: label the night's NFS hosts (from the generator's ground truth) in
    // its predictions.csv, add them, train v2. The inputs are reused, the classification redone.
    const truth = (await readFile(join(archive.out, 'ground-truth.csv'), 'utf8')).split('\n').slice(1).filter(Boolean).map((l) => l.split(','));
    const nfsHosts = new Set(truth.filter((t) => t[1] === 'nfs').map((t) => t[3]!));
    const lines = (await readFile(join(day('registry'), 'predictions.csv'), 'utf8')).trimEnd().split('\n');
    const keyAt = lines[0]!.split(',').indexOf('key');
    const labelled = [`${lines[0]},label`, ...lines.slice(1).map((l) => `${l},${nfsHosts.has(l.split(',')[keyAt]!) ? 'nfs' : ''}`)];
    expect(labelled.filter((l) => l.endsWith(',nfs')).length).toBeGreaterThan(0);
    const corrected = join(dir, 'corrected.csv');
    await writeFile(corrected, `${labelled.join('\n')}\n`);
    const added = await runMain(['label', 'add', '--registry', registry, '--name', 'core', '--predictions', corrected]);
    expect(added.code, added.stderr).toBe(0);
    const v2 = await runMain(['train', '--registry', registry, '--name', 'core', '--engine', 'cpu', '--promote']);
    expect(v2.code, v2.stderr).toBe(0);
    const second = await runMain(['nightly', '--config', cfgFile, '--date', DATE, '--quiet']);
    expect(second.code, second.stderr).toBe(0);
    const s2 = JSON.parse(await readFile(join(day('registry'), 'summary.json'), 'utf8')) as typeof s1;
    expect(s2.model.version).toBe(2);
    expect(s2.model.classes).toContain('nfs');
    expect(s2.inputs.reused).toBe(archive.files.length);
  }, 120_000);
});

describe('flowknn report --nightly', () => {
  it("makes a night's report again from its outputs; a folder that is not a finished night is exit 2", async () => {
    const out = join(dir, 'again.html');
    const r = await runMain(['report', '--nightly', day('ref'), '--out', out, '--max-rows', '5']);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain(`<title>flowknn nightly ${DATE}</title>`);
    expect([...html.matchAll(/<figure class="chart" data-chart="([^"]+)"/gu)].map((m) => m[1])).toEqual(['history', 'profiles', 'scatter', 'novelty']);
    expect(html).toMatch(/The first 5 of \d+ alerts/u);
    const notANight = await runMain(['report', '--nightly', dir, '--out', out]);
    expect(notANight.code).toBe(2);
    expect(notANight.stderr).toContain('not a finished night');
  }, 60_000);
});

describe('a big night', () => {
  it('is classified in batches as it streams: 7 rows a search gives the files, counts, alert rows and report sample of the night classified in one search', async () => {
    const { streamNight, aggregatesOfParts } = await import('../../src/pipeline/stream.js');
    const { loadModel, searchDay } = await import('../../src/pipeline/nightly.js');
    const { loadNightlyConfig } = await import('../../src/pipeline/config.js');
    const { createEngine } = await import('../../src/engines/registry.js');
    const { predictionsFromTable } = await import('../../src/report/index.js');
    const { drawnRows } = await import('../../src/report/nightly.js');
    const { alertsOf } = await import('../../src/pipeline/outputs.js');
    const config = await loadNightlyConfig(await writeConfig('ref'));
    const { loaded, info } = await loadModel(config);
    const engine = await createEngine('cpu', { threads: 1 });
    // the night the nightly job wrote (one search: fewer rows than a batch), cut into parts of 3 rows
    const whole = tableFromIPC(await readFile(join(day('ref'), 'aggregates.arrow')));
    const n = whole.numRows;
    expect(n).toBeGreaterThan(40);
    const settings = config.config.classify;
    const streamed = join(dir, 'streamed');
    await mkdir(streamed, { recursive: true });
    try {
      const night = await streamNight({
        dir: streamed,
        day: aggregatesOfParts(whole.schema, n, async function* () {
          for (let i = 0; i < n; i += 3) yield whole.slice(i, i + 3);
        }),
        date: DATE,
        classify: async (t) => searchDay(loaded, t, engine, { date: DATE, modelInfo: info, unknownLabel: null }),
        alerts: settings,
        order: info.classes,
        noveltyColumn: 'novelty',
        maxDrawn: 12,
        batchRows: 7,
      });
      for (const f of ['aggregates.csv', 'predictions.csv']) expect(await readFile(join(streamed, f), 'utf8'), f).toBe(await readFile(join(day('ref'), f), 'utf8'));
      const predictions = tableFromIPC(await readFile(join(day('ref'), 'predictions.arrow')));
      const again = tableFromIPC(await readFile(join(streamed, 'predictions.arrow')));
      expect(again.numRows).toBe(n);
      // one batch per search, each of 7 rows or more (the last of what is left)
      expect(again.batches.length).toBeGreaterThan(n / 10);
      for (const b of again.batches.slice(0, -1)) expect(b.numRows).toBeGreaterThanOrEqual(7);
      expect(Object.fromEntries(again.schema.metadata)).toEqual(Object.fromEntries(predictions.schema.metadata));
      const summary = JSON.parse(await readFile(join(day('ref'), 'summary.json'), 'utf8')) as { rows: number; predicted: Record<string, number>; novel: number };
      expect({ rows: night.rows, predicted: night.predicted, novel: night.novel }).toEqual({ rows: summary.rows, predicted: summary.predicted, novel: summary.novel });
      expect(night.alerts).toEqual(alertsOf(predictions, DATE, settings));
      expect(night.drawn).toEqual(drawnRows(predictionsFromTable(predictions, 'p', 'novelty').rows, 12));
      expect(night.drawn.length).toBeGreaterThan(0);
      // one batch bigger than a search (the flows source's merged night) is cut to size, and each
      // search's predictions are built and written in tables of 6 rows
      const cut = join(dir, 'streamed-cut');
      await mkdir(cut, { recursive: true });
      let searching = 0;
      await streamNight({
        dir: cut,
        day: aggregatesOfParts(whole.schema, n, async function* () {
          yield whole;
        }),
        date: DATE,
        classify: async (t) => {
          expect(t.numRows).toBeLessThanOrEqual(20);
          // the next batch's search starts while the previous one is written, never two searches at once
          expect(++searching).toBe(1);
          try {
            return searchDay(loaded, t, engine, { date: DATE, modelInfo: info, unknownLabel: null });
          } finally {
            searching--;
          }
        },
        alerts: settings,
        order: info.classes,
        noveltyColumn: 'novelty',
        maxDrawn: 12,
        batchRows: 20,
        tableRows: 6,
      });
      expect(await readFile(join(cut, 'predictions.csv'), 'utf8')).toBe(await readFile(join(day('ref'), 'predictions.csv'), 'utf8'));
      const cutBatches = tableFromIPC(await readFile(join(cut, 'predictions.arrow'))).batches;
      expect(cutBatches.length).toBeGreaterThanOrEqual(n / 6);
      for (const b of cutBatches) expect(b.numRows).toBeLessThanOrEqual(6);
      // a search that fails while the batch before it is written (in slices of 2 rows) fails the night with its own error
      let calls = 0;
      await mkdir(join(dir, 'streamed-failing'), { recursive: true });
      const failing = streamNight({
        dir: join(dir, 'streamed-failing'),
        day: aggregatesOfParts(whole.schema, n, async function* () {
          yield whole;
        }),
        date: DATE,
        classify: async (t) => {
          if (++calls === 3) throw new Error('search 3 failed');
          return searchDay(loaded, t, engine, { date: DATE, modelInfo: info, unknownLabel: null });
        },
        alerts: settings,
        order: info.classes,
        maxDrawn: 12,
        batchRows: 7,
        tableRows: 2,
      });
      await expect(failing).rejects.toThrow('search 3 failed');
      expect(calls).toBe(3);
      // the Parquet copies, made from the Arrow files batch by batch, read back by DuckDB
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const { sameInDuckDb } = await import('../helpers/duckdb.js');
      const db = await (await DuckDBInstance.create(':memory:')).connect();
      try {
        for (const t of ['aggregates', 'predictions']) expect((await sameInDuckDb(db, join(streamed, `${t}.arrow`), join(streamed, `${t}.parquet`))).numRows).toBe(n);
      } finally {
        db.closeSync();
      }
    } finally {
      await engine.dispose();
    }
  }, 60_000);

  it('more aggregates than limits.maxRows: exit 2 before the search, the inputs kept for the rerun', async () => {
    const cfg = await writeConfig('limit', { limits: { maxRows: 5 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/aggregates to classify, more than limits\.maxRows \(5\)/u);
    await expect(stat(join(day('limit'), 'summary.json'))).rejects.toThrow();
    // a stop is not a crash: a plain rerun with a higher limit goes on, reusing every input
    await writeFile(cfg, config('limit', { limits: { maxRows: 1_000_000 } }));
    const again = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(day('limit'), 'summary.json'), 'utf8')) as { inputs: { reused: number } };
    expect(summary.inputs.reused).toBe(archive.files.length);
  }, 120_000);

  it('the report draws a sample of a big night: the most novel rows in it, class counts over every row', async () => {
    const { nightlyReport, drawnRows } = await import('../../src/report/nightly.js');
    const { predictionsFromTable } = await import('../../src/report/index.js');
    const summary = JSON.parse(await readFile(join(day('ref'), 'summary.json'), 'utf8')) as import('../../src/pipeline/outputs.js').Summary;
    const manifest = JSON.parse(await readFile(join(day('ref'), 'manifest.json'), 'utf8')) as import('../../src/pipeline/outputs.js').Manifest;
    const rows = predictionsFromTable(tableFromIPC(await readFile(join(day('ref'), 'predictions.arrow'))), 'p', 'novelty').rows;
    expect(rows.length).toBeGreaterThan(20);
    const drawn = drawnRows(rows, 20);
    expect(drawn).toHaveLength(20);
    const mostNovel = [...rows].sort((a, b) => b.novelty! - a.novelty!)[0]!;
    expect(drawn).toContain(mostNovel);
    // in input order
    expect(drawn.map((r) => rows.indexOf(r))).toEqual([...drawn.map((r) => rows.indexOf(r))].sort((a, b) => a - b));
    const doc = nightlyReport({ summary, manifest, rows, alerts: [], maxDrawn: 20 });
    const text = JSON.stringify(doc.sections.find((s) => s.heading === 'Run'));
    expect(text).toContain(`${rows.length} classified rows: the charts and the row tables below show 20 of them`);
    const classes = doc.sections.find((s) => s.heading === 'Predictions by class')!.blocks[0] as unknown as { table: { rows: { label: string; rows: number }[]; footer: { rows: number }[] } };
    expect(classes.table.footer[0]!.rows).toBe(rows.length);
    for (const r of classes.table.rows) expect(r.rows).toBe(summary.predicted[r.label] ?? 0);
    // run metadata: which engine answered how many searches, only where several did
    const meta = (d: typeof doc) => JSON.stringify(d.sections.find((s) => s.heading === 'Run metadata'));
    expect(meta(doc)).not.toContain('"searches"');
    const mixed = { ...summary, engine: { ...summary.engine, name: 'webgpu', searches: { webgpu: { searches: 3, queries: 1_572_864 }, cpu: { searches: 1, queries: 1000 } } } };
    expect(meta(nightlyReport({ summary: mixed, manifest, rows, alerts: [], maxDrawn: 20 }))).toContain('webgpu: 3 (1,572,864 rows), cpu: 1 (1,000 rows)');
  });
});

describe('flowknn nightly: bad setups', () => {
  it('a config with an unknown key or a bad value: exit 2 naming the key and line', async () => {
    const cfg = join(dir, 'bad.json');
    await writeFile(cfg, config('bad', { clasify: {} }));
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.json:\d+: clasify: unknown key/u);
    await writeFile(cfg, config('bad', { aggregate: { source: 'nfdump', minPackets: -5 } }));
    const v = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('aggregate.minPackets');
  });

  it('a missing archive folder: exit 2; an output folder that cannot be written: exit 3', async () => {
    const cfg = join(dir, 'missing.json');
    await writeFile(cfg, config('missing').replace(JSON.stringify(archive.flowsDir), JSON.stringify(join(dir, 'no-such-archive'))));
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('archive folder not found');
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const out = join(dir, 'unwritable.json');
    await writeFile(out, config('x').replace(JSON.stringify(join(dir, 'x')), JSON.stringify(join(file, 'out'))));
    const w = await runMain(['nightly', '--config', out, '--date', DATE]);
    expect(w.code).toBe(3);
    expect(w.stderr).toContain('cannot write the output folder');
  });

  it('a second run of the same day while one runs: exit 3 naming the first', async () => {
    const cfg = await writeConfig('locked', { limits: { jobs: 1 } });
    const first = runBin(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    const lock = join(state('locked'), '.lock');
    for (let i = 0; i < 2000; i++) {
      if (await stat(lock).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const second = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/another run holds .*\.lock: pid \d+/u);
    expect((await first).code).toBe(0);
  }, 120_000);
});
