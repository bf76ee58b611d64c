import type { Table } from 'apache-arrow';
import { readdir, mkdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { KnnEngine } from '../engines/engine.js';
import { createEngine } from '../engines/registry.js';
import { environmentError, FlowknnError, inputError, usageError } from '../errors.js';
import { formatInZone, parseNfcapdName, type ArchiveFile } from '../ingest/archive.js';
import type { NfdumpOptions } from '../ingest/nfdump/run.js';
import { probeNfdump } from '../ingest/nfdump/version.js';
import { writeFileAtomic } from '../io/atomic.js';
import { removeLeftovers } from '../io/leftovers.js';
import { acquireLock, type Lock, type LockOwner } from '../io/lock.js';
import type { LoadedModel } from '../model/folder.js';
import { planInput, readInput, workId, writeInput, type InputRecord } from './commit-input.js';
import { checkConfigAgainstModel, type LoadedConfig } from './config.js';
import { cleanLeftovers, dayPaths, type DayPaths } from './day.js';
import type { IncidentCounts } from './incidents.js';
import { nightIncidents } from './night-incidents.js';
import { classifyDay, loadModel, openIds } from './nightly.js';
import { deliverIncidents, initialNotifyState, mergeNotified, NOTIFY_JSON, notifyStateText, readNotifyState, type NotifyCommand } from './notify.js';
import { alertsOf, readJson, readPart, type Alert, type ModelInfo } from './outputs.js';

/**
 * The per-file pass of `flowknn watch` and `flowknn nightly --file`: one nfcapd file, as the
 * collector rotates it, becomes one committed input of its day, exactly as the nightly job
 * commits inputs (commit-input.ts), and its alert rows are known minutes after its slot ends,
 * not the next morning.
 *
 * The pass is light: it reads only its own file (nfdump and the aggregation, outside the day's
 * lock, so a backlog reads several at once), classifies only that input's rows (each row is
 * classified on its own: the same rows the whole day gives), and then, under the day's lock,
 * commits the input and its alert rows (`.flowknn/<date>/live/<id>.alerts.json`), joins the
 * day's committed alert rows into incidents (`live/incidents.ndjson`), and sends the incidents
 * not sent before (`live/notify.json`). The nightly run at the end of the day finds the inputs
 * committed and only consolidates; it carries the ids sent here, so no incident is sent twice.
 *
 * Only the nfdump source fits: with the flows source, a window's rows come from several files,
 * and a file's rows are not final until the day's partials are merged.
 */

export interface LiveOptions {
  readonly config: LoadedConfig;
  /** Overrides config.classify.engine. */
  readonly engine?: string;
  readonly nfdump?: string;
  readonly inputTimeout?: number;
  readonly notify?: NotifyCommand;
  readonly log: (message: string) => void;
  /** The command line, recorded in the lock file. */
  readonly command: string;
  /** How long to wait for a day's lock held by another run (default: limits.inputTimeout). */
  readonly lockWaitMs?: number;
  /** The clock (ms since the epoch). */
  readonly now?: () => number;
}

/** What a pass needs that outlives one file: the model, the engine, nfdump's version. */
export interface Live {
  readonly options: LiveOptions;
  readonly loaded: LoadedModel;
  readonly modelInfo: ModelInfo;
  readonly modelId: string;
  readonly engine: KnnEngine;
  readonly nfdump: NfdumpOptions;
  close(): Promise<void>;
}

export interface LiveResult {
  readonly path: string;
  readonly date: string;
  /** ok: committed now; reused: committed before (by a run of the day); failed: the input failed. */
  readonly status: 'ok' | 'reused' | 'failed';
  readonly error: string | null;
  readonly rows: number;
  readonly alerts: number;
  readonly incidents: IncidentCounts;
  /** Incidents sent by this pass. */
  readonly notified: number;
  /** Milliseconds of each step: read (nfdump, aggregation), classify, lock (waiting for it), commit, day (incidents, notify). */
  readonly timings: Record<'read' | 'classify' | 'lock' | 'commit' | 'day', number>;
}

/** A committed input's alert rows, with what they were classified with. */
interface LiveAlerts {
  readonly digest: string;
  readonly model: string;
  readonly alerts: Alert[];
}

export async function openLive(options: LiveOptions): Promise<Live> {
  const { config, log } = options;
  const cfg = config.config;
  if (cfg.aggregate.source !== 'nfdump') {
    throw usageError(
      `aggregate.source "${cfg.aggregate.source}" in ${config.file}: a file cannot be classified as it arrives when a window's rows come from several files`,
      'use "source": "nfdump" (one window per nfcapd file) for flowknn watch and nightly --file, or run the nightly job alone',
    );
  }
  const { loaded, info: modelInfo } = await loadModel(config);
  for (const w of loaded.warnings ?? []) log(`warning: ${w}`);
  checkConfigAgainstModel(config, modelInfo.classes, modelInfo.version === null ? modelInfo.dir : `${modelInfo.name} v${modelInfo.version}`, modelInfo.novelty_threshold);
  const binary = options.nfdump ?? cfg.nfdump ?? 'nfdump';
  const nfdump: NfdumpOptions = { nfdump: binary, timeoutS: options.inputTimeout ?? cfg.limits.inputTimeout, version: await probeNfdump(binary) };
  const engine = await createEngine(options.engine ?? cfg.classify.engine, { log, threads: cfg.classify.threads || undefined });
  return {
    options,
    loaded,
    modelInfo,
    modelId: `${modelInfo.dir}#${modelInfo.train_sha256}#${modelInfo.created}`,
    engine,
    nfdump,
    close: () => engine.dispose(),
  };
}

/** The archive file a path names, and its day: an nfcapd.YYYYMMDDhhmm file below archive.root. */
export function liveFileOf(config: LoadedConfig, path: string): { file: ArchiveFile; date: string } {
  const root = config.paths.archive;
  const abs = isAbsolute(path) ? path : resolve(path);
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw usageError(`${path} is not below archive.root (${root}) of ${config.file}`, 'give a file of the archive the config names');
  const verdict = parseNfcapdName(basename(abs), config.config.archive.timeZone);
  if (!verdict.ok) throw usageError(`${path}: ${verdict.reason}`, 'give a complete nfcapd file (nfcapd -x passes %d/%f once it has renamed it into place)');
  const date = formatInZone(verdict.slotStartMs, config.config.archive.timeZone).slice(0, 10);
  return { file: { path: abs, relPath: rel.split(sep).join('/'), slotStartMs: verdict.slotStartMs, size: 0 }, date };
}

/**
 * Takes a day's lock, waiting while another run holds it (the nightly job, another pass):
 * a pass must not fail because the day is busy. A lock of a dead run is taken over as always.
 */
export async function waitForLock(path: string, command: string, p: { waitMs: number; log: (m: string) => void; now?: () => number }): Promise<Lock> {
  const now = p.now ?? Date.now;
  const until = now() + p.waitMs;
  let said = false;
  for (;;) {
    let holder: LockOwner | undefined;
    try {
      return await acquireLock(path, command, { busy: (owner) => ((holder = owner), `another run holds ${path}: pid ${owner.pid} on ${owner.host}, started ${owner.started} (${owner.command})`) });
    } catch (err) {
      if (holder === undefined || now() > until) throw err;
      if (!said) p.log(`waiting for ${path}: held by pid ${holder.pid} (${holder.command})`);
      said = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Classifies one input's rows into its alert rows (the day's rules: alertClasses, novelty). */
async function alertsOfPart(live: Live, date: string, part: Table): Promise<Alert[]> {
  const cfg = live.options.config.config;
  const predictions = (await classifyDay(live.loaded, part, live.engine, { date, modelInfo: live.modelInfo, unknownLabel: cfg.classify.unknownLabel })).table;
  return alertsOf(predictions, date, cfg.classify);
}

/**
 * One file: read and classify (outside the lock), then commit and update the day's incidents
 * and notify (under it). An input error is a `failed` result (committed as the nightly job
 * commits failed inputs); the environment (nfdump gone, a full disk, a failing notify command)
 * is thrown.
 */
export async function liveFile(live: Live, path: string): Promise<LiveResult> {
  const { config, log } = live.options;
  const { file, date } = liveFileOf(config, path);
  const st = await stat(file.path).catch(() => undefined);
  if (!st?.isFile()) throw inputError('is not a readable file', { file: file.path }, 'nfcapd -x passes %d/%f of the file it has just renamed into place');
  const paths = dayPaths(config.paths.output, date);
  const planned = await planInput(file, paths.inputs, config.digest, log);
  let read: Awaited<ReturnType<typeof readInput>> | undefined;
  let alerts: Alert[] | undefined;
  const timings = { read: 0, classify: 0, lock: 0, commit: 0, day: 0 };
  let t = performance.now();
  const lap = (step: keyof typeof timings) => {
    const now = performance.now();
    timings[step] = Math.round(now - t);
    t = now;
  };
  if ('read' in planned) {
    read = await readInput(planned.read, { config, nfdump: live.nfdump, log });
    lap('read');
    if (read.table) alerts = await alertsOfPart(live, date, read.table);
    lap('classify');
  }
  await mkdir(paths.live, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw environmentError(`cannot write ${paths.live} (${err.code ?? String(err)})`, 'set output.root in the config to a folder this user can write, or fix its permissions', err);
  });
  await mkdir(paths.inputs, { recursive: true });
  t = performance.now();
  const lock = await waitForLock(paths.lock, live.options.command, { waitMs: live.options.lockWaitMs ?? config.config.limits.inputTimeout * 1000, log, now: live.options.now });
  lap('lock');
  try {
    await cleanLeftovers(paths);
    await removeLeftovers(paths.live, { all: true });
    let record: InputRecord;
    if (read) {
      // side by side: the alert rows count only beside a record of the same digest, and a
      // record without them has them classified again from its part (liveAlertsOf)
      const kept = alerts ? writeLiveAlerts(paths, read.record, live.modelId, alerts) : Promise.resolve();
      [record] = await Promise.all([writeInput(read, paths.inputs), kept]);
    } else {
      record = (planned as { reuse: InputRecord }).reuse;
    }
    lap('commit');
    const day = await liveDay(live, paths, date);
    lap('day');
    return {
      path: file.relPath,
      date,
      status: record.status === 'failed' ? 'failed' : read ? 'ok' : 'reused',
      error: record.error,
      rows: record.rows,
      alerts: alerts?.length ?? (await liveAlertsOf(live, paths, date, record)).length,
      incidents: day.counts,
      notified: day.notified,
      timings,
    };
  } finally {
    await lock.release();
  }
}

async function writeLiveAlerts(paths: DayPaths, record: InputRecord, modelId: string, alerts: Alert[]): Promise<void> {
  const doc: LiveAlerts = { digest: record.digest, model: modelId, alerts };
  await writeFileAtomic(join(paths.live, `${workId(record.path)}.alerts.json`), `${JSON.stringify(doc)}\n`);
}

/**
 * A committed input's alert rows: those kept beside it when they were classified with this
 * model from this very part, else classified now from the part (an input the nightly job
 * committed, or one classified with an older model) and kept. The caller holds the lock.
 */
async function liveAlertsOf(live: Live, paths: DayPaths, date: string, record: InputRecord): Promise<Alert[]> {
  if (record.status !== 'ok') return [];
  const kept = await readJson<LiveAlerts>(join(paths.live, `${workId(record.path)}.alerts.json`)).catch(() => undefined);
  if (kept && kept.digest === record.digest && kept.model === live.modelId) return kept.alerts;
  const part = await readPart(join(paths.inputs, `${workId(record.path)}.arrow`), record.parts?.arrow);
  const alerts = await alertsOfPart(live, date, part);
  await writeLiveAlerts(paths, record, live.modelId, alerts);
  return alerts;
}

/**
 * The day so far: every committed input's alert rows, in path order (the nightly job's order),
 * joined into incidents (no drill-down: the nightly run makes it), written with the notify
 * state, and the incidents not sent before sent. The caller holds the lock.
 */
async function liveDay(live: Live, paths: DayPaths, date: string): Promise<{ counts: IncidentCounts; notified: number }> {
  const { config, log } = live.options;
  const names = (await readdir(paths.inputs)).filter((n) => n.endsWith('.json') && !n.endsWith('.rejects.json') && !n.startsWith('.')).sort();
  const records: InputRecord[] = [];
  for (const n of names) {
    const rec = await readJson<InputRecord>(join(paths.inputs, n)).catch(() => undefined);
    if (rec && rec.digest !== undefined) records.push(rec);
  }
  records.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const alerts: Alert[] = [];
  for (const rec of records) {
    for (const a of await liveAlertsOf(live, paths, date, rec)) alerts.push(a);
  }
  const inputs = records.map(({ digest: _d, parts: _p, ...m }) => m);
  const { incidents, alerts: joined, counts } = await nightIncidents({ config, date, model: live.modelInfo, alerts, inputs, nfdump: null, noDrilldown: 'not run as the files come: the nightly run drills down', log });
  const text = (rows: readonly object[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  const summary = { date, updated: new Date((live.options.now ?? Date.now)()).toISOString(), inputs: { ok: records.filter((r) => r.status === 'ok').length, failed: records.filter((r) => r.status === 'failed').length }, alerts: joined.length, incidents: counts };
  const previous = mergeNotified(await readNotifyState(paths.live), await readNotifyState(paths.out));
  // each file whole (atomic), written side by side: the notify step below reads notify.json and incidents.ndjson once both are in
  await Promise.all([
    writeFileAtomic(join(paths.live, 'alerts.ndjson'), text(joined)),
    writeFileAtomic(join(paths.live, 'incidents.ndjson'), text(incidents)),
    writeFileAtomic(join(paths.live, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`),
    writeFileAtomic(join(paths.live, NOTIFY_JSON), notifyStateText(initialNotifyState({ alerts: joined.length, open: openIds(incidents) }, previous))),
  ]);
  try {
    const sent = await deliverIncidents(paths.live, { date }, live.options.notify, { log });
    return { counts, notified: sent.sent };
  } catch (err) {
    if (err instanceof FlowknnError) throw err;
    throw environmentError(`notify: ${String(err)}`, 'the incidents wait in notify.json as failed', err);
  }
}
