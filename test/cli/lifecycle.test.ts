import { tableFromIPC, type Table } from 'apache-arrow';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/io/csv.js';
import { readGroundTruth } from '../../src/synth/ground-truth.js';
import { runMain } from '../helpers/cli.js';
import { NFDUMP17_DIR, SEED_LABELS } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';
import { hasNfdumpTools } from '../helpers/nfcapd-fixture.js';

// As in the synth tests: in CI a missing nfdump is a failure, not a skip.
const runSynth = hasNfdumpTools() || process.env.CI === 'true';

const SEED_CLASSES = ['smtp', 'http', 'tivoli', 'small-flood', 'incoming-floods'];

interface VersionJson {
  version: number;
  parent: number | null;
  rows: { total: number; base: number; added: number; merged: number; updated: number; conflicts: number };
  labels: string[];
  conflicts: { key: string; window_start: string | null; old_label: string; old_source: string; new_label: string; new_source: string }[];
  evaluation: { protocol: string; folds: number; rows: number; accuracy: number; macro_f1: number } | null;
  baseline: { version: number; evaluation: { protocol: string; macro_f1: number } } | null;
  paired?: { protocol: string; rows: number; current: { version: number; accuracy: number }; candidate: { accuracy: number }; current_only: number; candidate_only: number; promote: boolean };
  promoted: boolean;
  reason: string;
}

async function versionJson(registry: string, name: string, v: number): Promise<VersionJson> {
  return JSON.parse(await readFile(join(registry, name, `v${v}`, 'version.json'), 'utf8')) as VersionJson;
}

async function current(registry: string, name: string): Promise<string> {
  return (await readFile(join(registry, name, 'current'), 'utf8')).trim();
}

async function arrow(path: string): Promise<Table> {
  return tableFromIPC(await readFile(path));
}

/** A predictions CSV with a `label` column appended, filled by `labelOf(row index, record)`. */
async function withLabels(csv: string, out: string, labelOf: (i: number, cells: Record<string, string>) => string): Promise<void> {
  const records = parseCsv(await readFile(csv, 'utf8'));
  const header = records[0]!.cells;
  const quote = (c: string) => (/[",\n]/u.test(c) ? `"${c.replace(/"/gu, '""')}"` : c);
  const lines = [[...header, 'label'].join(',')];
  records.slice(1).forEach((r, i) => {
    const cells = Object.fromEntries(header.map((h, j) => [h, r.cells[j]!]));
    lines.push([...r.cells, labelOf(i, cells)].map(quote).join(','));
  });
  await writeFile(out, `${lines.join('\n')}\n`);
}

describe('model lifecycle on the seed labels: v1 without nfs, nfs labelled into v2, a worse v3 kept back', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let registry: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('flowknn-lifecycle-'));
    registry = join(dir, 'models');
  });
  afterAll(async () => {
    await cleanup();
  });

  it('before any version: resolving the model and training without labels are usage errors that say how to start', async () => {
    const list = await runMain(['models', '--registry', join(dir, 'nowhere')]);
    expect(list.code).toBe(2);
    expect(list.stderr).toContain('no such folder');
    const train = await runMain(['train', '--registry', registry, '--name', 'seed']);
    expect(train.code).toBe(2);
    expect(train.stderr).toContain('the first needs --labels');
    const both = await runMain(['train', '--registry', registry, '--name', 'seed', '--out', join(dir, 'm'), '--labels', SEED_LABELS]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --out DIR');
  });

  it('v1 from the seed labels without nfs (log-zscore, k = 3, leave-one-out) is current', async () => {
    const r = await runMain(['train', '--registry', registry, '--name', 'seed', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'loo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('v1 promoted');
    expect(await current(registry, 'seed')).toBe('v1');
    expect((await readdir(join(registry, 'seed', 'v1'))).sort()).toEqual(['model.json', 'train.arrow', 'train.parquet', 'version.json']);
    const v1 = await versionJson(registry, 'seed', 1);
    expect(v1).toMatchObject({ version: 1, parent: null, promoted: true, reason: 'first version', rows: { total: 380, base: 0, added: 380 } });
    expect(v1.evaluation).toMatchObject({ protocol: 'loo', folds: 380, rows: 380 });
    // scikit-learn on the same rows: 0.816 and 0.870 (seed README)
    expect(v1.evaluation!.accuracy).toBeCloseTo(0.8158, 4);
    expect(v1.evaluation!.macro_f1).toBeCloseTo(0.8701, 4);
    const model = JSON.parse(await readFile(join(registry, 'seed', 'v1', 'model.json'), 'utf8')) as { classes: string[]; evaluation: unknown };
    expect(model.classes).toEqual(SEED_CLASSES);
    expect(model.evaluation).toEqual(v1.evaluation);
  });

  it('the nfs rows, classified by v1 and labelled nfs in the predictions CSV, become v2: promoted, and it classifies nfs', async () => {
    const pred = join(dir, 'nfs-pred');
    const cls = await runMain(['classify', join(SEED_LABELS, 'nfs.raw'), '--model', join(registry, 'seed', 'v1'), '--out', pred, '--quiet']);
    expect(cls.code, cls.stderr).toBe(0);
    const labelled = join(dir, 'nfs-labelled.csv');
    await withLabels(join(pred, 'predictions.csv'), labelled, () => 'nfs');

    const add = await runMain(['label', 'add', '--registry', registry, '--name', 'seed', '--predictions', labelled]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('added 16 labels (nfs 16)');
    const pending = await readdir(join(registry, 'seed', 'labels', 'pending'));
    expect(pending).toHaveLength(1);
    expect(await current(registry, 'seed')).toBe('v1'); // labels alone change nothing in use

    const train = await runMain(['train', '--registry', registry, '--name', 'seed']);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/^v2 promoted: it is current \(loo on v2's 396 rows, the same folds: accuracy 0\.\d{3} against v1's 0\.\d{3}, macro F1 0\.\d{3} against 0\.\d{3}; \d+ rows right only for v1, \d+ only for v2 \(McNemar p = /mu);
    expect(await current(registry, 'seed')).toBe('v2');
    const v2 = await versionJson(registry, 'seed', 2);
    expect(v2).toMatchObject({ version: 2, parent: 1, promoted: true, rows: { total: 396, base: 380, added: 16, merged: 0, updated: 0, conflicts: 0 }, labels: pending });
    // the same protocol as v1's: leave-one-out, now over 396 rows
    expect(v2.evaluation).toMatchObject({ protocol: 'loo', folds: 396, rows: 396 });
    expect(v2.baseline).toMatchObject({ version: 1, evaluation: { protocol: 'loo' } });
    // both versions on v2's rows: v1 cannot name the nfs rows, v2 can
    expect(v2.paired).toMatchObject({ protocol: 'loo', rows: 396, current: { version: 1 }, promote: true });
    expect(v2.paired!.candidate.accuracy).toBeGreaterThan(v2.paired!.current.accuracy);
    expect(v2.paired!.candidate.accuracy).toBeCloseTo(v2.evaluation!.accuracy, 12);
    console.log(`v1 loo: macro F1 0.870; v2 loo: accuracy ${v2.evaluation!.accuracy.toFixed(3)}, macro F1 ${v2.evaluation!.macro_f1.toFixed(3)}`);
    // the batch moved out of pending, to the version that took it in
    expect(await readdir(join(registry, 'seed', 'labels', 'pending'))).toEqual([]);
    expect(await readdir(join(registry, 'seed', 'labels', 'used', 'v2'))).toEqual(pending);

    const model = JSON.parse(await readFile(join(registry, 'seed', 'v2', 'model.json'), 'utf8')) as { classes: string[]; train: { rows_per_class: Record<string, number> } };
    expect(model.classes).toEqual([...SEED_CLASSES, 'nfs']);
    expect(model.train.rows_per_class.nfs).toBe(16);
    const train2 = await arrow(join(registry, 'seed', 'v2', 'train.arrow'));
    expect(train2.getChild('source_file')!.get(395)).toBe(labelled); // provenance: the label file and line
    expect(train2.getChild('source_line')!.get(395)).toBe(17);

    // leave-one-out: each nfs row classified by the other rows
    const ev = await runMain(['evaluate', '--model', join(registry, 'seed', 'v2'), '--protocol', 'loo', '--format', 'json']);
    expect(ev.code, ev.stderr).toBe(0);
    const nfs = (JSON.parse(ev.stdout) as Record<string, { recall: number; precision: number }>)['nfs']!;
    console.log(`v2 loo nfs: precision ${nfs.precision.toFixed(2)}, recall ${nfs.recall.toFixed(2)}`);
    expect(nfs.recall).toBeGreaterThanOrEqual(0.9);

    // and the nfs rows v1 called tivoli or http are nfs to v2
    const again = await runMain(['classify', join(SEED_LABELS, 'nfs.raw'), '--model', join(registry, 'seed', 'v2'), '--out', join(dir, 'nfs-pred2'), '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    const p2 = await arrow(join(dir, 'nfs-pred2', 'predictions.arrow'));
    expect(Array.from({ length: p2.numRows }, (_, i) => p2.getChild('predicted')!.get(i) as string)).toEqual(Array(16).fill('nfs'));
    // the registry's model folder stands for its current version, v2 now
    const viaRegistry = await runMain(['classify', join(SEED_LABELS, 'nfs.raw'), '--model', join(registry, 'seed'), '--out', join(dir, 'nfs-pred3'), '--quiet']);
    expect(viaRegistry.code, viaRegistry.stderr).toBe(0);
    expect(await readFile(join(dir, 'nfs-pred3', 'predictions.csv'), 'utf8')).toBe(await readFile(join(dir, 'nfs-pred2', 'predictions.csv'), 'utf8'));
  });

  it('train with nothing new is a usage error that says how to add labels', async () => {
    const r = await runMain(['train', '--registry', registry, '--name', 'seed']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nothing new');
    expect(r.stderr).toContain('flowknn label add');
    expect(await readdir(join(registry, 'seed'))).not.toContain('v3');
  });

  it('a version made worse by wrong labels is written but not promoted; current stays; models shows why', async () => {
    const inputs = SEED_CLASSES.map((c) => join(SEED_LABELS, `${c}.raw`));
    const pred = join(dir, 'seed-pred');
    const cls = await runMain(['classify', ...inputs, '--model', join(registry, 'seed', 'v2'), '--out', pred, '--quiet']);
    expect(cls.code, cls.stderr).toBe(0);
    // every row relabelled in turn through the five classes: four in five labels are wrong (a
    // row the seed lists twice, same time and counters, is one row and gets one label)
    const wrong = join(dir, 'wrong.csv');
    const turn = new Map<string, number>();
    await withLabels(join(pred, 'predictions.csv'), wrong, (_, c) => {
      const id = ['first_seen', 'duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'].map((n) => c[n]).join(' ');
      if (!turn.has(id)) turn.set(id, turn.size);
      return SEED_CLASSES[turn.get(id)! % SEED_CLASSES.length]!;
    });
    const add = await runMain(['label', 'add', '--registry', registry, '--name', 'seed', '--predictions', wrong]);
    expect(add.code, add.stderr).toBe(0);

    const train = await runMain(['train', '--registry', registry, '--name', 'seed']);
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/^v3 not promoted: loo on v3's \d+ rows, the same folds: .*\(McNemar p = 0\.\d{3}\): a drop of 0\.\d{3}, more than the tolerance 0\.02 and beyond noise \(p < 0\.05\); v2 stays current/mu);
    expect(train.stdout).toContain('flowknn models promote seed v3');
    expect(train.stderr).toMatch(/conflict: XXX\.XXX\.XXX\.XXX \(no window\): smtp \(.*smtp\.raw:\d+\) -> http \(.*wrong\.csv:3\)/u);
    expect(await current(registry, 'seed')).toBe('v2');
    const v3 = await versionJson(registry, 'seed', 3);
    expect(v3.promoted).toBe(false);
    expect(v3.reason).toContain('more than the tolerance 0.02');
    // each distinct row of the batch either repeats its v2 label (merged) or replaces it
    expect(v3.rows.merged + v3.rows.conflicts).toBe(turn.size);
    expect(v3.rows.conflicts).toBeGreaterThan(250);
    expect(v3.conflicts).toHaveLength(v3.rows.conflicts);
    expect(v3.rows.added).toBe(0);
    expect(v3.evaluation!.macro_f1).toBeLessThan(v3.baseline!.evaluation.macro_f1 - 0.02);
    // on v3's own (wrong) labels v2 still agrees with more of them than v3 does
    expect(v3.paired).toMatchObject({ current: { version: 2 }, promote: false });
    expect(v3.paired!.current_only).toBeGreaterThan(v3.paired!.candidate_only);
    console.log(`v3 (wrong labels) loo: macro F1 ${v3.evaluation!.macro_f1.toFixed(3)}, not promoted`);

    const models = await runMain(['models', '--registry', registry]);
    expect(models.code, models.stderr).toBe(0);
    const rows = models.stdout.split('\n');
    expect(rows.find((l) => /^\*\s+v2\s/u.test(l))).toMatch(/396\s+6 \+nfs\s+loo\s+0\.\d{3}\s+0\.\d{3}\s+yes$/u);
    expect(rows.find((l) => /^\s+v1\s/u.test(l))).toMatch(/380\s+5\s+loo\s+0\.816\s+0\.870\s+yes$/u);
    expect(rows.find((l) => /^\s+v3\s/u.test(l))).toMatch(/\s+no\s+loo on v3's .*more than the tolerance 0\.02 and beyond noise \(p < 0\.05\)$/u);
    const json = JSON.parse((await runMain(['models', '--registry', registry, '--name', 'seed', '--json'])).stdout) as { version: number; current: boolean; promoted: boolean; reason: string }[];
    expect(json.map((v) => [v.version, v.current, v.promoted])).toEqual([
      [1, false, true],
      [2, true, true],
      [3, false, false],
    ]);
  });

  it('models promote makes a version current by hand and records it; promoting v2 again goes back', async () => {
    const up = await runMain(['models', 'promote', 'seed', 'v3', '--registry', registry]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('v3 is current (was v2)');
    expect(await current(registry, 'seed')).toBe('v3');
    const v3 = await versionJson(registry, 'seed', 3);
    expect(v3.promoted).toBe(true);
    expect(v3.reason).toMatch(/^promoted by hand \(the promotion guard had kept it back: /u);
    const back = await runMain(['models', 'promote', 'seed', '2', '--registry', registry]);
    expect(back.code, back.stderr).toBe(0);
    expect(await current(registry, 'seed')).toBe('v2');
    const missing = await runMain(['models', 'promote', 'seed', 'v9', '--registry', registry]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no version v9');
  });
});

describe('label add --csv: rows looked up by key and window in an aggregates table', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let registry: string;
  let agg: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('flowknn-labelcsv-'));
    registry = join(dir, 'models');
    agg = join(dir, 'aggregates.arrow');
    // real nfdump 1.7.1 flow records (nfpcapd, 2026-11-01 10:00-10:15 UTC) in 5-minute windows
    const r = await runMain(['ingest', join(NFDUMP17_DIR, 'flows.csv'), '--aggregate', 'dstip', '--window', '300', '--out', agg, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await cleanup();
  });

  async function pendingTree(): Promise<string[]> {
    return listTree(registry).catch(() => []);
  }

  it('a key that is not an address, or an address not in the data: rejected naming file and line, nothing written', async () => {
    const before = await pendingTree();
    const csv = join(dir, 'bad-key.csv');
    await writeFile(csv, 'key,window,label\n10.0.0.25,2026-11-01 10:00,smtp\n10.0.0.300,2026-11-01 10:00,smtp\n10.0.0.99,2026-11-01 10:05,http\n');
    const r = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', csv, '--data', agg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${csv}:3: key: expected an IPv4 or IPv6 address`);
    expect(r.stderr).toContain('"10.0.0.300"');
    expect(r.stderr).toContain(`${csv}:4: key 10.0.0.99 is in no row of ${agg}`);
    expect(r.stderr).toContain('nothing was added');
    expect(await pendingTree()).toEqual(before);
  });

  it('a time window no row of the data has, or that is not a time: rejected naming file and line, nothing written', async () => {
    const before = await pendingTree();
    const csv = join(dir, 'bad-window.csv');
    await writeFile(csv, 'key,window,label\n10.0.0.25,2026-11-01 10:00,smtp\n10.0.0.25,2026-11-01 11:00,smtp\n10.0.0.10,2026-11-31 10:00,http\n');
    const r = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', csv, '--data', agg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${csv}:3: window: no row of ${agg} has key 10.0.0.25 in a window starting at 2026-11-01 11:00`);
    expect(r.stderr).toMatch(/10\.0\.0\.25 has rows in \d windows?: 2026-11-01 10:00/u);
    expect(r.stderr).toContain(`${csv}:4: window: expected the window start as YYYY-MM-DD hh:mm (UTC) or ISO 8601, got "2026-11-31 10:00"`);
    expect(await pendingTree()).toEqual(before);
  });

  it('an unknown column, a label that is not a plain name, two labels for one row: each rejected with file and line', async () => {
    const before = await pendingTree();
    const cols = join(dir, 'cols.csv');
    await writeFile(cols, 'key,window,label,comment\n10.0.0.25,2026-11-01 10:00,smtp,mail\n');
    const a = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', cols, '--data', agg]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain(`${cols}:1: unknown column "comment"; expected the columns key,window,label`);
    const names = join(dir, 'names.csv');
    await writeFile(names, 'key,window,label\n10.0.0.25,2026-11-01 10:00,mail server\n');
    const b = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', names, '--data', agg]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(`${names}:2: label: expected a plain name`);
    const twice = join(dir, 'twice.csv');
    await writeFile(twice, 'key,window,label\n10.0.0.25,2026-11-01 10:00,smtp\n10.0.0.10,2026-11-01 10:00,http\n10.0.0.25,2026-11-01T10:00:00Z,http\n');
    const c = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', twice, '--data', agg]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(`${twice}:4: label "http" conflicts with label "smtp" given to 10.0.0.25 in window 2026-11-01 10:00 on line 2`);
    expect(await pendingTree()).toEqual(before);
  });

  it('good lines become one pending batch with the rows of the data (both window forms, repeats merged, a byte order mark ignored)', async () => {
    const csv = join(dir, 'good.csv');
    // saved by a spreadsheet: a byte order mark before the header
    await writeFile(csv, '\uFEFFlabel,key,window\nsmtp,10.0.0.25,2026-11-01 10:00\nhttp,10.0.0.10,2026-11-01T10:05:00Z\n# a comment line\nsmtp,10.0.0.25,2026-11-01 10:00\n');
    const r = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--csv', csv, '--data', agg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('added 2 labels (smtp 1, http 1)');
    expect(r.stderr).toContain('1 repeated line (same row, same label) merged');
    const [file] = await readdir(join(registry, 'lab', 'labels', 'pending'));
    const batch = await arrow(join(registry, 'lab', 'labels', 'pending', file!));
    expect(batch.schema.metadata.get('flowknn.kind')).toBe('labels');
    const aggregates = await arrow(agg);
    const find = (key: string, window: number) => Array.from({ length: aggregates.numRows }, (_, i) => i).find((i) => aggregates.getChild('key')!.get(i) === key && Number(aggregates.getChild('window_start')!.get(i)) === window)!;
    const at = find('10.0.0.10', Date.UTC(2026, 10, 1, 10, 5));
    expect(batch.getChild('key')!.get(1)).toBe('10.0.0.10');
    expect(Number(batch.getChild('window_start')!.get(1))).toBe(Date.UTC(2026, 10, 1, 10, 5));
    for (const c of ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp']) expect(batch.getChild(c)!.get(1)).toBe(aggregates.getChild(c)!.get(at));
    expect(batch.getChild('source_line')!.get(1)).toBe(3);
  });

  it('label add --predictions: classified aggregates keep their windows; empty labels are skipped, a bad key is rejected', async () => {
    const model = join(dir, 'model');
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--out', model, '--quiet'])).code).toBe(0);
    const pred = join(dir, 'agg-pred');
    const cls = await runMain(['classify', agg, '--model', model, '--out', pred, '--quiet']);
    expect(cls.code, cls.stderr).toBe(0);
    const labelled = join(dir, 'agg-labelled.csv');
    await withLabels(join(pred, 'predictions.csv'), labelled, (_, c) => (c.key === '10.0.0.25' ? 'smtp' : ''));
    const mail = (await arrow(agg)).toArray().filter((r: { key: string }) => r.key === '10.0.0.25').length;
    expect(mail).toBeGreaterThan(0);
    const before = await readdir(join(registry, 'lab', 'labels', 'pending'));
    const r = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--predictions', labelled]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`added ${mail} label${mail === 1 ? '' : 's'} (smtp ${mail})`);
    expect(r.stderr).toMatch(/\d+ rows? without a label skipped/u);
    const [file] = (await readdir(join(registry, 'lab', 'labels', 'pending'))).filter((f) => !before.includes(f));
    const batch = await arrow(join(registry, 'lab', 'labels', 'pending', file!));
    const windows = Array.from({ length: batch.numRows }, (_, i) => batch.getChild('window_start')!.get(i) as number | null);
    expect(windows.every((w) => w !== null && Number(w) % 300_000 === 0)).toBe(true);

    const bad = join(dir, 'agg-bad.csv');
    await withLabels(join(pred, 'predictions.csv'), bad, (i) => (i === 0 ? 'smtp' : ''));
    const text = (await readFile(bad, 'utf8')).split('\n');
    text[1] = text[1]!.replace(/^[^,]+/u, 'mail-server');
    await writeFile(bad, text.join('\n'));
    const rejected = await runMain(['label', 'add', '--registry', registry, '--name', 'lab', '--predictions', bad]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain(`${bad}:2: key: expected an IPv4 or IPv6 address (or an aggregation key as flowknn ingest writes it), got "mail-server"`);
    expect((await readdir(join(registry, 'lab', 'labels', 'pending'))).length).toBe(before.length + 1);
  });
});

describe.skipIf(!runSynth)(
  `label add --csv against a synthetic archive with --nfs: ground-truth hosts and windows become training rows${runSynth ? '' : ' (skipped: nfdump/nfpcapd not on PATH; apt-get install nfdump)'}`,
  () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let registry: string;
    let agg: string;
    beforeAll(async () => {
      ({ dir, cleanup } = await makeTempDir('flowknn-lifecycle-synth-'));
      registry = join(dir, 'models');
      agg = join(dir, 'aggregates.arrow');
      const synth = await runMain(['synth', '--out', join(dir, 'synth'), '--hours', '1', '--nfs', '--seed', '1', '--quiet']);
      expect(synth.code, synth.stderr).toBe(0);
      const ingest = await runMain(['ingest', join(dir, 'synth', 'flows'), '--aggregate', 'dstip', '--window', '300', '--out', agg, '--quiet']);
      expect(ingest.code, ingest.stderr).toBe(0);
    });
    afterAll(async () => {
      await cleanup();
    });

    it('v2 takes in the labelled windows with their keys and window starts; a relabelled window is a conflict the newer label wins', async () => {
      const truth = await readGroundTruth(join(dir, 'synth', 'ground-truth.csv'));
      expect(truth.some((t) => t.class === 'nfs')).toBe(true);
      // every 5-minute window an event touched, labelled with the event's class; the data
      // decides which of them hold a row for the host (events within one window share it)
      const table = await arrow(agg);
      const rows = new Set(Array.from({ length: table.numRows }, (_, i) => `${String(table.getChild('key')!.get(i))} ${Number(table.getChild('window_start')!.get(i))}`));
      const lines = new Map<string, string>();
      for (const t of truth) {
        for (let w = Math.floor(t.startMs / 300_000) * 300_000; w <= t.endMs; w += 300_000) {
          if (rows.has(`${t.host} ${w}`)) lines.set(`${t.host},${new Date(w).toISOString().slice(0, 16).replace('T', ' ')}`, t.class);
        }
      }
      const csv = join(dir, 'truth-labels.csv');
      await writeFile(csv, `key,window,label\n${[...lines].map(([kw, label]) => `${kw},${label}`).join('\n')}\n`);

      const v1 = await runMain(['train', '--registry', registry, '--name', 'syn', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'loo']);
      expect(v1.code, v1.stderr).toBe(0);
      const add = await runMain(['label', 'add', '--registry', registry, '--name', 'syn', '--csv', csv, '--data', agg]);
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toContain(`added ${lines.size} labels`);
      const v2 = await runMain(['train', '--registry', registry, '--name', 'syn', '--promote']);
      expect(v2.code, v2.stderr).toBe(0);
      const info2 = await versionJson(registry, 'syn', 2);
      expect(info2.rows).toMatchObject({ total: 380 + lines.size, base: 380, added: lines.size, conflicts: 0 });
      expect(info2.evaluation).toMatchObject({ protocol: 'loo', rows: 380 + lines.size });
      const train = await arrow(join(registry, 'syn', 'v2', 'train.arrow'));
      const labelled = Array.from({ length: train.numRows }, (_, i) => i).filter((i) => train.getChild('window_start')!.get(i) !== null);
      expect(labelled).toHaveLength(lines.size);
      const got = new Map(labelled.map((i) => [`${String(train.getChild('key')!.get(i))},${new Date(Number(train.getChild('window_start')!.get(i))).toISOString().slice(0, 16).replace('T', ' ')}`, String(train.getChild('label')!.get(i))]));
      expect(got).toEqual(lines);
      const model = JSON.parse(await readFile(join(registry, 'syn', 'v2', 'model.json'), 'utf8')) as { classes: string[] };
      expect(model.classes).toEqual([...SEED_CLASSES, 'nfs']);

      // the operator changes their mind about one window: the newer label wins, and says so
      const [kw, was] = [...lines].find(([, label]) => label === 'http')!;
      const again = join(dir, 'relabel.csv');
      await writeFile(again, `key,window,label\n${kw},smtp\n`);
      expect((await runMain(['label', 'add', '--registry', registry, '--name', 'syn', '--csv', again, '--data', agg])).code).toBe(0);
      const v3 = await runMain(['train', '--registry', registry, '--name', 'syn', '--promote']);
      expect(v3.code, v3.stderr).toBe(0);
      const [host, day, time] = kw.split(/[, ]/u);
      expect(v3.stderr).toContain(`conflict: ${host} ${day} ${time}: ${was} (${csv}:`);
      const info3 = await versionJson(registry, 'syn', 3);
      expect(info3.rows).toMatchObject({ total: 380 + lines.size, base: 380 + lines.size, added: 0, conflicts: 1 });
      expect(info3.conflicts).toEqual([{ key: host, window_start: `${day}T${time}:00.000Z`, old_label: was, old_source: expect.stringContaining(csv) as string, new_label: 'smtp', new_source: `${again}:2` }]);
    });
  },
);
