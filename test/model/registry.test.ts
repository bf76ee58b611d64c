import { tableFromIPC, tableToIPC, Table } from 'apache-arrow';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnnEngine } from '../../src/engines/engine.js';
import { createEngine } from '../../src/engines/registry.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { readModel, writeModel } from '../../src/model/folder.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { canonicalKey, formatWindow, labelsFromCsv, parseWindowTime, type LabelRow } from '../../src/model/labels.js';
import { nightlyAggregateTable } from '../../src/pipeline/inputs.js';
import { fitModel } from '../../src/knn/model.js';
import { currentVersion, listVersions, pendingBatches, promoteVersion, registryPaths, resolveModel } from '../../src/model/registry.js';
import { mergeLabels, trainVersion } from '../../src/model/retrain.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { failure } from '../helpers/failure.js';


const W0 = Date.UTC(2026, 10, 1, 0, 0);
const W1 = Date.UTC(2026, 10, 1, 0, 5);

function row(key: string, windowStart: number | null, label: string, features: number[], line: number, firstSeen: number | null = null): LabelRow {
  return { key, windowStart, firstSeen, features, label, sourceFile: 'labels.csv', sourceLine: line };
}

const F = (x: number) => [x, 1, 10, 1000, 5, 400, 100];

describe('keys as operators write them', () => {
  it('an IPv6 address in another spelling finds the row nfdump printed; the label keeps the data\'s spelling', async () => {
    expect(canonicalKey('2001:DB8:0:0::0001')).toBe('2001:db8::1');
    expect(canonicalKey('2001:db8::1|17')).toBe('2001:db8::1|17');
    expect(canonicalKey('10.0.0.1')).toBe('10.0.0.1');
    const { dir, cleanup } = await makeTempDir();
    try {
      const rows = [{ windowStart: W1, key: '2001:db8::1', values: ['2001:db8::1'], firstSeen: W1 + 1000, lastSeen: W1 + 9000, durationMs: 8000, flows: 3, packets: 2000, bytes: 2_000_000, pps: 250, bps: 2_000_000, bpp: 1000 }];
      const data = join(dir, 'aggregates.arrow');
      await writeFile(data, tableToIPC(nightlyAggregateTable(rows, ['dstip'], ['nfcapd.202611010005'], {}), 'file'));
      const csv = join(dir, 'labels.csv');
      await writeFile(csv, 'key,window,label\n2001:DB8:0:0::0001,2026-11-01 00:05,nfs\n');
      const batch = await labelsFromCsv(csv, [data], NFDUMP_STAT7);
      expect(batch.rows.map((r) => [r.key, r.windowStart, r.label])).toEqual([['2001:db8::1', W1, 'nfs']]);
    } finally {
      await cleanup();
    }
  });
});

describe('window times as operators write them', () => {
  it('YYYY-MM-DD hh:mm is UTC; ISO 8601 with Z, an offset, or no zone (UTC)', () => {
    expect(parseWindowTime('2026-11-01 00:05')).toBe(W1);
    expect(parseWindowTime('2026-11-01T00:05')).toBe(W1);
    expect(parseWindowTime('2026-11-01T00:05:00Z')).toBe(W1);
    expect(parseWindowTime('2026-11-01T00:05:00.000Z')).toBe(W1);
    expect(parseWindowTime('2026-11-01T01:05:00+01:00')).toBe(W1);
    expect(parseWindowTime('2026-10-31T19:05-0500')).toBe(W1);
    expect(formatWindow(W1)).toBe('2026-11-01 00:05');
  });

  it('a day, hour or minute that does not exist, or another layout, is not a time', () => {
    for (const bad of ['2026-11-31 00:05', '2026-02-29 00:00', '2026-11-01 24:00', '2026-11-01 00:60', '01/11/2026 00:05', '2026-11-01', '1793491500000', '']) {
      expect(parseWindowTime(bad), bad).toBeUndefined();
    }
  });
});

describe('merging new labels into a version\'s rows', () => {
  it('same key and window: a repeat is merged, new features update, another label is a conflict the newer wins', async () => {
    const base = mergeLabels(null, [[row('10.0.0.25', W0, 'smtp', F(1), 2), row('10.0.0.10', W0, 'http', F(2), 3), row('10.0.0.10', W1, 'http', F(3), 4)]]).set;
    expect(base.classes).toEqual(['http', 'smtp']);
    const batch = [
      row('10.0.0.25', W0, 'smtp', F(1), 2), // repeat
      row('10.0.0.10', W0, 'http', F(9), 3), // same label, other features
      row('10.0.0.10', W1, 'smtp', F(3), 4), // conflict
      row('10.0.2.119', W1, 'nfs', F(4), 5), // new row, new class
    ].map((r) => ({ ...r, sourceFile: 'later.csv' }));
    const { set, stats, conflicts, dropped } = mergeLabels(base, [batch]);
    expect(stats).toEqual({ base: 3, added: 1, merged: 1, updated: 1, conflicts: 1 });
    expect(conflicts).toEqual([{ key: '10.0.0.10', window_start: '2026-11-01T00:05:00.000Z', old_label: 'http', old_source: 'labels.csv:4', new_label: 'smtp', new_source: 'later.csv:4' }]);
    expect(dropped).toEqual([]);
    // the base's classes first, new ones after; base rows before new rows within a class
    expect(set.classes).toEqual(['http', 'smtp', 'nfs']);
    expect(set.keys).toEqual(['10.0.0.10', '10.0.0.25', '10.0.0.10', '10.0.2.119']);
    expect(Array.from(set.labels)).toEqual([0, 1, 1, 2]);
    expect(Array.from(set.features.row(0))).toEqual(F(9));
    expect(set.windowStart).toEqual([W0, W0, W1, W1]);
    expect(set.sourceFile).toEqual(['later.csv', 'labels.csv', 'later.csv', 'later.csv']);
  });

  it('a class whose every row is relabelled is dropped; batches apply oldest first', () => {
    const base = mergeLabels(null, [[row('10.0.0.5', W0, 'tivoli', F(1), 2), row('10.0.0.25', W0, 'smtp', F(2), 3)]]).set;
    const { set, stats, conflicts, dropped } = mergeLabels(base, [[row('10.0.0.5', W0, 'http', F(1), 2)], [row('10.0.0.5', W0, 'smtp', F(1), 2)]]);
    expect(dropped).toEqual(['tivoli']);
    expect(set.classes).toEqual(['smtp']);
    expect(stats.conflicts).toBe(2);
    expect(conflicts.map((c) => `${c.old_label}->${c.new_label}`)).toEqual(['tivoli->http', 'http->smtp']);
  });

  it('masked keys without a window are told apart by first seen and features; an unknown first seen matches any', () => {
    const masked = 'XXX.XXX.XXX.XXX';
    const t1 = Date.UTC(2015, 1, 27, 10, 47, 20, 287);
    const t2 = Date.UTC(2015, 2, 2, 8, 52, 48, 16);
    const base = mergeLabels(null, [[row(masked, null, 'http', F(1), 2, t1), row(masked, null, 'smtp', F(1), 3, t2), row(masked, null, 'smtp', F(5), 4)]]).set;
    // equal counters seen at another time are another row
    const other = mergeLabels(base, [[row(masked, null, 'http', F(1), 9, Date.UTC(2015, 3, 1))]]);
    expect(other.stats).toMatchObject({ added: 1, conflicts: 0 });
    // the same time and counters under another label: a conflict with that row only
    const relabel = mergeLabels(base, [[row(masked, null, 'tivoli', F(1), 9, t2)]]);
    expect(relabel.stats).toMatchObject({ added: 0, conflicts: 1 });
    expect(relabel.conflicts[0]).toMatchObject({ old_label: 'smtp', new_label: 'tivoli', window_start: null });
    expect(relabel.set.features.rows).toBe(3);
    // a base row without first seen (older models) meets a label that has one
    const legacy = mergeLabels(base, [[row(masked, null, 'smtp', F(5), 9, t1)]]);
    expect(legacy.stats).toMatchObject({ added: 0, merged: 1 });
  });
});

describe('a registry on the seed labels', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let root: string;
  let engine: KnnEngine;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('flowknn-registry-'));
    root = join(dir, 'models');
    engine = await createEngine('cpu', { threads: 1 });
  });
  afterAll(async () => {
    await engine.dispose();
    await cleanup();
  });

  it('resolveModel without a model or without a current version: usage errors that name the registry and say what to do', async () => {
    const none = await failure(resolveModel(root, 'seed'));
    expect(none.kind).toBe('usage');
    expect(none.message).toContain(`model registry ${root} has no model "seed"`);
    expect(none.hint).toBe(`make a first version with: flowknn train --registry ${root} --name seed --labels DIR (a folder of per-label nfdump files, or a table with a label column)`);
    await mkdir(join(root, 'seed', 'v1'), { recursive: true });
    await writeModel(join(root, 'seed', 'v1'), fitModel(await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] }), { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' }), null);
    const noCurrent = await failure(resolveModel(root, 'seed'));
    expect(noCurrent.kind).toBe('usage');
    expect(noCurrent.message).toContain('has no current version');
    expect(noCurrent.hint).toBe(`promote one of v1: flowknn models promote seed v1 --registry ${root}`);
    await promoteVersion(root, 'seed', 1);
    await expect(resolveModel(root, 'seed')).resolves.toEqual({ dir: join(root, 'seed', 'v1'), version: 1 });
    expect(await readFile(join(root, 'seed', 'current'), 'utf8')).toBe('v1\n');
  });

  it('a later version repeats the current version\'s protocol, folds and seed; a v1 without an evaluation is scored now', async () => {
    // v1 above stored no evaluation: v2 is compared with v1 evaluated now, under v2's protocol
    const nfs = join(dir, 'nfs-labels');
    await mkdir(nfs);
    await copyFile(join(SEED_LABELS, 'nfs.raw'), join(nfs, 'nfs.raw'));
    const v2 = await trainVersion({ root, name: 'seed', labels: { path: nfs }, engine, protocol: { name: 'kfold', folds: 5, seed: 7 } });
    expect(v2.version).toBe(2);
    expect(v2.info.evaluation).toMatchObject({ protocol: 'kfold', folds: 5, seed: 7, rows: 396 });
    expect(v2.info.baseline).toMatchObject({ version: 1, evaluation: { protocol: 'kfold', folds: 5, seed: 7, rows: 380 } });
    expect(v2.info.promoted).toBe(true);
    expect(await currentVersion(root, 'seed')).toBe(2);
    const model = (await readModel(v2.dir)).json;
    expect(model.evaluation).toEqual(v2.info.evaluation);

    // v3: one more batch; no protocol given, so v2's is used again
    const extra = join(dir, 'extra');
    await mkdir(extra);
    await copyFile(join(SEED_LABELS, 'tivoli.raw'), join(extra, 'tivoli.raw'));
    const v3 = await trainVersion({ root, name: 'seed', labels: { path: extra }, engine, config: { k: 5 } });
    expect(v3.info.evaluation).toMatchObject({ protocol: 'kfold', folds: 5, seed: 7 });
    expect(v3.info.rows).toMatchObject({ base: 396, merged: 68, added: 0 });
    expect(v3.model.config.k).toBe(5);
    expect(v3.model.config.scaler).toBe('log-zscore');
    const asked = await failure(trainVersion({ root, name: 'seed', labels: { path: extra }, engine, protocol: { name: 'loo' } }));
    expect(asked.kind).toBe('usage');
    expect(asked.message).toContain('was evaluated with kfold');
  });

  it('listVersions lists every version, marks the current one, and reads version.json', async () => {
    const versions = await listVersions(root);
    const promoted3 = versions[2]!.info!.promoted;
    expect(versions.map((v) => [v.name, v.version, v.current])).toEqual([
      ['seed', 1, false],
      ['seed', 2, !promoted3],
      ['seed', 3, promoted3],
    ]);
    expect(versions[0]!.info).toBeNull(); // v1 was a model folder written without the registry
    expect(versions[1]!.info!.parent).toBe(1);
    expect(versions[1]!.model.classes).toContain('nfs');
  });

  it('a batch already taken in by a version (a run stopped before moving it) is moved on, not taken again', async () => {
    const paths = registryPaths(root, 'seed');
    const label = join(dir, 'one.csv');
    await writeFile(label, 'label,duration_s,flows,packets,bytes,pps,bps,bpp\nsmtp,1,1,10,1000,10,8000,100\n');
    const v4 = await trainVersion({ root, name: 'seed', labels: { path: label }, engine });
    expect(v4.info.rows.added).toBe(1);
    // put a used batch back into pending, as if v4 had been written but the batch not moved
    const { labelsTable } = await import('../../src/model/labels.js');
    await mkdir(paths.pending, { recursive: true });
    const name = 'labels-20261101T000000000Z-abcdef.arrow';
    await writeFile(join(paths.pending, name), tableToIPC(labelsTable([row('10.0.0.1', W0, 'smtp', F(1), 2)], NFDUMP_STAT7, {}), 'file'));
    const infoFile = join(v4.dir, 'version.json');
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as { labels: string[] };
    await writeFile(infoFile, JSON.stringify({ ...info, labels: [...info.labels, name] }));
    const again = await failure(trainVersion({ root, name: 'seed', engine }));
    expect(again.message).toContain('nothing new');
    expect(await pendingBatches(root, 'seed')).toEqual([]);
    expect(await readdir(join(paths.used, 'v4'))).toEqual([name]);
  });

  it('the registry lock: a running holder makes a second training an environment error; a dead holder\'s lock is taken over', async () => {
    const { lock } = registryPaths(root, 'seed');
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: '2026-11-01T00:00:00.000Z' }));
    const busy = await failure(trainVersion({ root, name: 'seed', engine, config: { k: 7 } }));
    expect(busy.kind).toBe('environment');
    expect(busy.message).toContain(`is busy: process ${process.pid} on ${hostname()} holds its lock`);
    expect(busy.hint).toContain(`remove ${lock}`);
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    await writeFile(lock, JSON.stringify({ pid, host: hostname(), started: '2026-11-01T00:00:00.000Z' }));
    const v5 = await trainVersion({ root, name: 'seed', engine, config: { k: 7 } });
    expect(v5.version).toBe(5);
    await expect(readFile(lock)).rejects.toThrow();
  });

  it('readModel reads a model whose train.arrow predates the window_start and first_seen columns', async () => {
    const dir2 = join(dir, 'old-model');
    await writeModel(dir2, fitModel(await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] }), { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' }), null);
    const table = tableFromIPC(await readFile(join(dir2, 'train.arrow')));
    const old = table.select(table.schema.fields.map((f) => f.name).filter((n) => n !== 'window_start' && n !== 'first_seen'));
    const bytes = tableToIPC(new Table(old.schema, old.batches), 'file');
    await writeFile(join(dir2, 'train.arrow'), bytes);
    const jsonFile = join(dir2, 'model.json');
    // a model of that time: its model.json had no checksum of its own either
    const { sha256: _none, ...json } = JSON.parse(await readFile(jsonFile, 'utf8')) as { sha256?: string; train: { sha256: string } };
    json.train.sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(jsonFile, JSON.stringify(json));
    const { model } = await readModel(dir2);
    expect(model.train.features.rows).toBe(380);
    expect(model.train.windowStart!.every((w) => w === null)).toBe(true);
    expect(model.train.firstSeen!.every((w) => w === null)).toBe(true);
  });
});

describe('a training that stops after writing its version', () => {
  it('a promoted version is current even when moving its label batches then fails', async () => {
    const { dir, cleanup } = await makeTempDir('flowknn-registry-stop-');
    const engine = await createEngine('cpu', { threads: 1 });
    try {
      const root = join(dir, 'models');
      await trainVersion({ root, name: 'm', labels: { path: SEED_LABELS, selection: { exclude: ['nfs'] } }, engine, protocol: 'none' });
      const paths = registryPaths(root, 'm');
      const { labelsTable } = await import('../../src/model/labels.js');
      await mkdir(paths.pending, { recursive: true });
      await writeFile(join(paths.pending, 'labels-20261101T000000000Z-abcdef.arrow'), tableToIPC(labelsTable([row('10.0.0.1', W0, 'smtp', F(1), 2)], NFDUMP_STAT7, {}), 'file'));
      // labels/used cannot be made: the batches cannot be moved
      await writeFile(paths.used, 'not a folder');
      const err = await failure(trainVersion({ root, name: 'm', engine, forcePromote: true }));
      expect(err.kind).toBe('environment');
      const info = JSON.parse(await readFile(join(paths.base, 'v2', 'version.json'), 'utf8')) as { promoted: boolean };
      expect(info.promoted).toBe(true);
      expect(await currentVersion(root, 'm')).toBe(2);
    } finally {
      await engine.dispose();
      await cleanup();
    }
  });

  it('a promotion decided but cut off before current moved is finished by the next run on the registry, which says so', async () => {
    const { dir, cleanup } = await makeTempDir('flowknn-registry-cut-');
    const engine = await createEngine('cpu', { threads: 1 });
    try {
      const root = join(dir, 'models');
      await trainVersion({ root, name: 'm', labels: { path: SEED_LABELS, selection: { exclude: ['nfs'] } }, engine, protocol: 'none' });
      await trainVersion({ root, name: 'm', engine, protocol: 'none', config: { k: 5 }, forcePromote: true });
      // what a kill between writing v2 and moving current leaves: v2 records the decision, v1 is current
      const file = join(registryPaths(root, 'm').base, 'v2', 'version.json');
      const info = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & { reason: string };
      await writeFile(file, JSON.stringify({ ...info, promoted: false, promoted_at: null, promotion_pending: { reason: info.reason, at: '2026-11-01T00:00:00.000Z' } }));
      await writeFile(registryPaths(root, 'm').current, 'v1\n');
      const logged: string[] = [];
      const again = await failure(trainVersion({ root, name: 'm', engine, protocol: 'none', config: { k: 5 }, log: (m) => logged.push(m) }));
      expect(again.message).toContain('nothing new');
      expect(again.message).toContain('this run finished what a killed run had left: v2: finished its promotion');
      expect(logged.join('\n')).toMatch(/repaired .*: v2: finished its promotion, which a killed run had decided but not done \(current was v1, is v2 now\)/u);
      expect(await currentVersion(root, 'm')).toBe(2);
      const repaired = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      expect(repaired).toMatchObject({ promoted: true, promoted_at: '2026-11-01T00:00:00.000Z', reason: info.reason });
      expect(repaired.promotion_pending).toBeUndefined();
    } finally {
      await engine.dispose();
      await cleanup();
    }
  });
});
