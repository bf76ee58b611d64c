import type { Table } from 'apache-arrow';
import type { Reject } from '../ingest/issues.js';
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { usableCores } from '../io/cores.js';
import { join } from 'node:path';
import { createEngine } from '../engines/registry.js';
import { queriesPerSearch, type EngineUsage, type KnnEngine } from '../engines/engine.js';
import { classifyTables, searchTables, type ClassifyTablesOptions } from '../knn/classify-tables.js';
import { environmentError, FlowknnError, usageError } from '../errors.js';
import { discoverArchive, formatInZone, selectionRange } from '../ingest/archive.js';
import { writeFileAtomic } from '../io/atomic.js';
import { noveltyShare } from '../knn/novelty.js';
import { storedNovelty, type LoadedModel } from '../model/folder.js';
import { readCurrentModel, readModelSpec } from '../model/registry.js';
import { stringColumn } from '../schema/arrow.js';
import { checkConfigAgainstModel, type LoadedConfig } from './config.js';
import { collectDay, runInputs } from './collect.js';
import { streamNight, type DayAggregates } from './stream.js';
import { planInput, type InputRecord, type PlannedInput } from './commit-input.js';

export { readPartJson, workId, type InputRecord } from './commit-input.js';
import { acquireLock } from '../io/lock.js';
import type { NfdumpOptions } from '../ingest/nfdump/run.js';
import { probeNfdump } from '../ingest/nfdump/version.js';
import { countBy, readJson, summaryBase, writeDayFiles, type Alert, type Manifest, type ManifestInput, type ModelInfo, type NightFiles, type Summary } from './outputs.js';
import { cleanLeftovers, dayPaths, freshStaging, readRunState, repairSwap, shardNames, swapIn, writeRunState, type DayPaths } from './day.js';
import { coverageNotes, coverageOf, type Coverage } from './coverage.js';
import { deliverIncidents, initialNotifyState, mergeNotified, NOTIFY_JSON, notifyStateText, readNotifyState, type NotifyCommand } from './notify.js';
import type { Incident, IncidentCounts } from './incidents.js';
import { nightIncidents } from './night-incidents.js';
import { metricLabel } from '../engines/metrics.js';

/**
 * The nightly job: the day's nfcapd files -> per-host aggregates -> classified with the
 * current model -> out/<date>/ (see outputs.ts), with a report.
 *
 * Each input is one unit of work, done in parallel (p-limit, nfdump processes included) and
 * committed on its own under out/.flowknn/<date>/inputs/ (its aggregates and rejects, then its
 * record with their sha256, each atomically; see day.ts for the layout). That is what makes
 * reruns cheap and crashes harmless: a rerun reuses every input whose record matches the file
 * (size and mtime) and the config and whose part is whole, so `--resume` after a kill redoes
 * only what was not committed, and a rerun of a finished day does nothing. The rows are
 * classified at the end, in batches as they stream from the committed inputs into the day's
 * files (stream.ts: memory bounded by a batch, not the night); their alert rows are joined into
 * incidents (incidents.ts); the day's files are written into a staging folder and swapped in
 * whole, then the new incidents are sent (notify.ts).
 *
 * The stages, each a function of its own: plan the inputs (planInput: reuse or read), run
 * them (runInputs: read and commit each, commit-input.ts), collect the committed inputs
 * (collectDay, collect.ts), classify and write the day (writeDay and streamNight, with the
 * engine and the clock passed in; searchDay per batch), then swap it in and notify. `flowknn watch` runs the
 * same input and classify stages for one file as it arrives (live.ts).
 */

export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/u.exec(text.trim());
  const index = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || count < 1 || index < 1 || index > count) throw usageError(`--shard: expected i/n with 1 <= i <= n, got "${text}"`, 'e.g. --shard 1/4 runs the first of four shards');
  return { index, count };
}

/**
 * Which shard an input belongs to: a hash of its path below the archive root, so the split
 * does not depend on which other files exist (a late file does not move the others).
 */
export function shardOf(relPath: string, count: number): number {
  const h = createHash('sha256').update(relPath).digest();
  return (h.readUInt32BE(0) % count) + 1;
}

export function shardDirName(s: Shard): string {
  return `${s.index}-of-${s.count}`;
}

export interface NightlyOptions {
  readonly config: LoadedConfig;
  /** YYYY-MM-DD in the archive's zone; default: yesterday there. */
  readonly date?: string;
  readonly force?: boolean;
  readonly resume?: boolean;
  readonly shard?: Shard;
  /** Overrides config.classify.engine. */
  readonly engine?: string;
  readonly jobs?: number;
  readonly nfdump?: string;
  /** Seconds one input may take (overrides limits.inputTimeout). */
  readonly inputTimeout?: number;
  readonly log: (message: string) => void;
  /** Inputs done so far (reused ones included), of all selected. */
  readonly onProgress?: (done: number, total: number, rows: number, bytes: number) => void;
  /** Writes the HTML report (kept apart so the runner does not load the charting code). */
  readonly writeReport?: (dir: string, data: ReportData) => Promise<void>;
  /** The command line, recorded in the lock file. */
  readonly command?: string;
  /** Run with the alerts once the day is committed (not for a shard: its merge notifies). */
  readonly notify?: NotifyCommand;
  /** The clock of the run's times (started, finished, stopped). */
  readonly clock?: () => Date;
}

export interface ReportData extends NightFiles {
  readonly model: LoadedModel;
  readonly reportFile: string;
  readonly maxRows: number;
}

export interface NightlyResult {
  readonly dir: string;
  /** true when the day was complete and nothing had changed: no work done. */
  readonly upToDate: boolean;
  readonly summary: Summary;
  readonly reportFile: string | null;
}

/**
 * The classification stage: aggregates of the day (or of one input) -> predictions, with the
 * day's metadata. Used for the whole day at its end and for one input as it arrives (live.ts):
 * each row is classified on its own, so both give the same rows.
 */
export function classifyDay(loaded: LoadedModel, aggregates: Table, engine: KnnEngine, p: { date: string; modelInfo: ModelInfo; unknownLabel: string | null }) {
  return classifyTables(loaded.model, [aggregates], engine, dayOptions(loaded, engine, p));
}

/** classifyDay up to the search: the predictions tables built by the slice (the streamed night's batches). */
export function searchDay(loaded: LoadedModel, aggregates: Table, engine: KnnEngine, p: { date: string; modelInfo: ModelInfo; unknownLabel: string | null }) {
  return searchTables(loaded.model, [aggregates], engine, dayOptions(loaded, engine, p));
}

function dayOptions(loaded: LoadedModel, engine: KnnEngine, p: { date: string; modelInfo: ModelInfo; unknownLabel: string | null }): ClassifyTablesOptions {
  return {
    names: ['aggregates'],
    novelty: storedNovelty(loaded.json) ?? undefined,
    unknownLabel: p.unknownLabel ?? undefined,
    // after the search, so it names an engine that ran it (auto: the one with most rows so far);
    // a streamed night's files keep the first batch's, summary.json says what answered the night
    meta: () => ({ 'flowknn.date': p.date, 'flowknn.model': p.modelInfo.name ? `${p.modelInfo.name} v${p.modelInfo.version}` : p.modelInfo.dir, 'flowknn.model_created': p.modelInfo.created, 'flowknn.engine': engine.name }),
  };
}

/** The calendar day before today in the zone (not 24 hours back: a daylight-saving day has 23 or 25). */
export function yesterday(timeZone: string, now = Date.now()): string {
  const [y, m, d] = formatInZone(now, timeZone).slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
}

async function ensureWritable(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.write-test-${process.pid}`);
    await writeFileAtomic(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    if (err instanceof FlowknnError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw environmentError(`cannot write the output folder ${dir} (${code ?? String(err)})`, 'set output.root in the config to a folder this user can write, or fix its permissions', err);
  }
}

export async function loadModel(config: LoadedConfig): Promise<{ loaded: LoadedModel; info: ModelInfo }> {
  const { loaded, name, version } =
    config.paths.registry !== undefined ? await readCurrentModel(config.paths.registry, (config.config.model as { name: string }).name) : await readModelSpec(config.paths.model!);
  const j = loaded.json;
  const info: ModelInfo = {
    name,
    version,
    dir: loaded.dir,
    created: j.created,
    train_sha256: j.train.sha256,
    classes: j.classes,
    k: j.k,
    metric: metricLabel(j.metric),
    scaler: j.scaler.name,
    weights: j.weights,
    novelty_threshold: j.novelty?.threshold ?? null,
    novelty_score: storedNovelty(j)?.score ?? null,
    novelty_quantile: j.novelty?.quantile ?? null,
  };
  return { loaded, info };
}

export async function runNightly(options: NightlyOptions): Promise<NightlyResult> {
  const clock = options.clock ?? (() => new Date());
  const started = clock();
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const { config, log } = options;
  const cfg = config.config;
  const timeZone = cfg.archive.timeZone;
  const date = options.date ?? yesterday(timeZone);
  if (!/^\d{4}-\d{2}-\d{2}$/u.test(date)) throw usageError(`--date: expected YYYY-MM-DD, got "${date}"`);
  if (options.shard && cfg.aggregate.source === 'flows') {
    // A host's flows in one window can lie in files of different shards, whose partial
    // aggregates each shard would classify on its own.
    throw usageError('--shard needs aggregate.source "nfdump" (one window per nfcapd file): with "flows", a window spans files that different shards read', 'run the day in one process, or use the nfdump source');
  }
  // Everything that can refuse the day (a date that does not exist, no files that day, no
  // model) is asked before anything is written: a refused day leaves no folder behind.
  const range = selectionRange({ date, timeZone });
  const td = performance.now();
  const listing = await discoverArchive(config.paths.archive, { date, timeZone, allowEmpty: true });
  const selected = options.shard ? listing.files.filter((f) => shardOf(f.relPath, options.shard!.count) === options.shard!.index) : listing.files;
  selected.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  timings.discover = performance.now() - td;
  if (listing.files.length === 0) {
    throw usageError(`no nfcapd files for ${date} in ${config.paths.archive}`, 'check archive.root and archive.timeZone in the config, and that nfcapd wrote files that day');
  }
  const coverage = coverageOf(listing.files, { fromMs: range.fromMs!, toMs: range.toMs! }, timeZone, cfg.archive.interval, listing.routers);
  const { loaded, info: modelInfo } = await loadModel(config);
  for (const w of loaded.warnings ?? []) log(`warning: ${w}`);
  checkConfigAgainstModel(config, modelInfo.classes, modelInfo.version === null ? modelInfo.dir : `${modelInfo.name} v${modelInfo.version}`, modelInfo.novelty_threshold);
  if (cfg.classify.alertOnNovel && modelInfo.novelty_threshold === null) {
    log(`warning: classify.alertOnNovel is on (the default), but the model ${modelInfo.dir} has no novelty threshold: no row is novel (train it again to store one)`);
  }
  const modelId = `${modelInfo.dir}#${modelInfo.train_sha256}#${modelInfo.created}`;

  const paths = dayPaths(config.paths.output, date, options.shard ? shardDirName(options.shard) : undefined);
  const workDir = paths.inputs;
  await ensureWritable(paths.state);
  const lock = await acquireLock(paths.lock, options.command ?? 'flowknn nightly');
  try {
    let previous = await readRunState(paths);
    const repaired = await repairSwap(paths, previous);
    if (repaired) {
      log(`${date}: ${repaired}`);
      previous = await readRunState(paths);
    }
    const cleaned = await cleanLeftovers(paths);
    if (cleaned.length > 0) log(`${date}: removed ${cleaned.length} temporary file${cleaned.length === 1 ? '' : 's'} of killed runs`);
    // Only a run killed while it worked leaves the state 'running'; one that stopped with an
    // error recorded why, which is said here, and a kill after the day was committed (during
    // the notification) left a finished day.
    const interrupted = previous?.status === 'running';
    if (interrupted && !options.resume && !options.force) {
      throw usageError(
        `${paths.out}: a run of ${date} was interrupted${lock.tookOverFrom ? ` (pid ${lock.tookOverFrom.pid}, started ${lock.tookOverFrom.started})` : ''}`,
        'rerun with --resume to finish it (inputs already done are kept), or --force to start the day over',
      );
    }
    if (previous?.status === 'stopped' && previous.error) log(`${date}: the last run stopped${previous.at ? ` at ${previous.at}` : ''}: ${previous.error.split('\n')[0]}`);
    if (options.force) {
      await rm(workDir, { recursive: true, force: true });
      log(`--force: starting ${date} over`);
    } else if (interrupted) {
      log(`resuming the interrupted run of ${date}`);
    }
    await mkdir(workDir, { recursive: true });
    for (const note of coverageNotes(date, coverage, timeZone)) log(note);

    const records = new Map<string, InputRecord>();
    const todo: PlannedInput[] = [];
    for (const f of selected) {
      const planned = await planInput(f, workDir, config.digest, log);
      if ('reuse' in planned) records.set(f.relPath, planned.reuse);
      else todo.push(planned.read);
    }
    const reused = records.size;
    // nfdump is asked for its version once per run (when there is an input to read), and that
    // version reads every input; a missing or unusable nfdump ends the run here (exit 3).
    const nfdumpBinary = options.nfdump ?? cfg.nfdump ?? 'nfdump';
    const nfdump: NfdumpOptions = { nfdump: nfdumpBinary, timeoutS: options.inputTimeout ?? cfg.limits.inputTimeout };
    if (todo.length > 0) {
      nfdump.version = await probeNfdump(nfdumpBinary);
      log(`nfdump ${nfdump.version.version} (${nfdumpBinary})`);
    }

    // A finished day whose inputs, settings and model are unchanged: nothing to do but send
    // alerts that are still pending. Finished means the run state says so.
    const prior = await readJson<Summary & { run_key?: string }>(join(paths.out, 'summary.json')).catch(() => undefined);
    const runKeyOf = () => createHash('sha256').update(JSON.stringify([config.digest, config.incidentsDigest, modelId, selected.map((f) => records.get(f.relPath)?.digest ?? null)])).digest('hex');
    if (!options.force && todo.length === 0 && prior?.run_key === runKeyOf() && previous?.status === 'complete') {
      log(`${date}: up to date (${selected.length} inputs, model unchanged); --force redoes it`);
      if (!options.shard) await deliverIncidents(paths.out, { date }, options.notify, { log });
      return { dir: paths.out, upToDate: true, summary: prior, reportFile: cfg.report.enabled ? join(paths.out, 'report.html') : null };
    }
    const runState = { status: 'running' as const, digest: config.digest, started: started.toISOString(), pid: process.pid };
    await writeRunState(paths, runState);
    // A run that stops with an error (a config limit, the environment, a full disk) records
    // why; only a run that was killed leaves the state 'running'.
    let final: Summary & { run_key: string };
    let reportFile: string | null = null;
    let failed: InputRecord[];
    let inputs: InputRecord[];
    try {
      if (reused > 0) log(`${date}: ${reused} of ${selected.length} inputs already done, ${todo.length} to do`);

      // Inputs, in parallel: each committed on its own.
      const ti = performance.now();
      let done = reused;
      let rowsSoFar = [...records.values()].reduce((s, r) => s + r.rows, 0);
      let bytesSoFar = 0;
      options.onProgress?.(done, selected.length, rowsSoFar, bytesSoFar);
      const read = await runInputs(todo, {
        config,
        nfdump,
        workDir,
        jobs: options.jobs ?? (cfg.limits.jobs || usableCores()),
        log,
        onInput: (rec, size) => {
          records.set(rec.path, rec);
          if (rec.status === 'ok') rowsSoFar += rec.rows;
          done++;
          bytesSoFar += size;
          options.onProgress?.(done, selected.length, rowsSoFar, bytesSoFar);
        },
      });
      for (const rec of read) records.set(rec.path, rec);
      timings.inputs = performance.now() - ti;

      const runKey = runKeyOf();

      // Everything else runs on the committed inputs, in path order.
      const tc = performance.now();
      inputs = selected.map((f) => records.get(f.relPath)!);
      const { day, rejects } = await collectDay({ config, date, inputs, workDir });
      timings.collect = performance.now() - tc;

      // The new day is written whole into a staging folder, then swapped in (day.ts); its rows
      // are classified as they stream into it (stream.ts).
      failed = inputs.filter((r) => r.status === 'failed');
      const engine = await createEngine(options.engine ?? cfg.classify.engine, { log, threads: cfg.classify.threads || undefined });
      try {
        ({ final, reportFile } = await writeDay({
          options,
          paths,
          date,
          modelInfo,
          loaded,
          inputs,
          reused,
          day,
          engine,
          rejects,
          skipped: listing.skipped,
          coverage,
          nfdump: options.shard ? null : nfdump,
          runKey,
          timings,
          started,
          t0,
          clock,
        }));
      } finally {
        await engine.dispose();
      }
    } catch (err) {
      // The staged day first: on a full disk, removing it makes the room to record the stop.
      await rm(paths.next, { recursive: true, force: true }).catch(() => undefined);
      await writeRunState(paths, { status: 'stopped', digest: config.digest, started: runState.started, at: clock().toISOString(), error: err instanceof FlowknnError ? err.format() : String(err) }).catch(() => undefined);
      throw err;
    }
    // The commit: from here the new day is the day, also if the run is killed (day.ts).
    await swapIn(paths, { ...runState, status: 'complete', finished: final.finished });
    if (failed.length > 0) log(`${failed.length} of ${inputs.length} inputs failed:\n${failed.map((f) => `  ${f.path}: ${f.error}`).join('\n')}`);
    if (!options.shard) await deliverIncidents(paths.out, { date }, options.notify, { log });
    return { dir: paths.out, upToDate: false, summary: final, reportFile };
  } finally {
    await lock.release();
  }
}

/**
 * The classify and write stages: the day's rows classified as they stream into a fresh staging
 * folder (stream.ts), the day's incidents from their alert rows, then every other output of the
 * day (the report, the notify state carried from earlier runs and from flowknn watch, the
 * summary last), for swapIn to commit.
 */
async function writeDay(p: {
  options: NightlyOptions;
  paths: DayPaths;
  date: string;
  modelInfo: ModelInfo;
  loaded: LoadedModel;
  inputs: readonly InputRecord[];
  reused: number;
  day: DayAggregates;
  engine: KnnEngine;
  rejects: Reject[];
  skipped: Manifest['skipped'];
  coverage: Coverage;
  nfdump: NfdumpOptions | null;
  runKey: string;
  timings: Record<string, number>;
  started: Date;
  t0: number;
  clock: () => Date;
}): Promise<{ final: Summary & { run_key: string }; reportFile: string | null }> {
  const { options, paths, date, timings } = p;
  const { config, log } = options;
  const cfg = config.config;
  const staging = await freshStaging(paths);
  // batches sized for the engine that searches them (a GPU takes more queries per search than the CPU)
  const model = p.loaded.model;
  const batchRows = cfg.classify.batchRows || (await queriesPerSearch(p.engine, model.space, model.config.k, model.config.metric, p.day.rows));
  const night = await streamNight({
    dir: staging,
    day: p.day,
    date,
    classify: (aggregates) => searchDay(p.loaded, aggregates, p.engine, { date, modelInfo: p.modelInfo, unknownLabel: cfg.classify.unknownLabel }),
    alerts: cfg.classify,
    order: [...p.modelInfo.classes, ...(cfg.classify.unknownLabel ? [cfg.classify.unknownLabel] : [])],
    noveltyColumn: p.modelInfo.novelty_threshold === null ? undefined : 'novelty',
    maxDrawn: DRAWN_ROWS,
    batchRows,
  });
  timings.classify = night.timings.classify;
  timings.search = night.timings.search;
  const to = performance.now();
  const manifestInputs = p.inputs.map(({ digest: _d, parts: _p, ...m }) => m);
  const ti = performance.now();
  const { incidents, alerts, counts } = await nightIncidents({ config, date, model: p.modelInfo, alerts: night.alerts, inputs: manifestInputs, nfdump: p.nfdump, log });
  timings.incidents = performance.now() - ti;
  const manifest: Manifest = {
    format: 'flowknn-nightly-manifest',
    format_version: 1,
    date,
    archive_root: config.paths.archive,
    shard: options.shard ? { index: options.shard.index, count: options.shard.count } : null,
    inputs: manifestInputs,
    skipped: p.skipped,
    coverage: p.coverage,
  };
  const summary = buildSummary({ date, shard: options.shard ?? null, config, modelInfo: p.modelInfo, engineName: p.engine.name, device: p.engine.deviceName ?? null, batchRows, searches: p.engine.usage?.(), inputs: p.inputs, reused: p.reused, counts: night, alerts, incidents: counts, rejects: p.rejects.length, timings, started: p.started, coverage: p.coverage, finished: p.clock() });
  await writeDayFiles(staging, { alerts, incidents, rejects: p.rejects, manifest, summary: { ...summary, run_key: p.runKey } as Summary });
  timings.outputs = night.timings.aggregates + night.timings.copies + (performance.now() - to);
  let reportFile: string | null = null;
  if (cfg.report.enabled && !options.shard && options.writeReport) {
    const tr = performance.now();
    reportFile = join(paths.out, 'report.html');
    timings.total = performance.now() - p.t0;
    await options.writeReport(staging, { summary: { ...summary, timings_ms: roundTimings(timings) }, manifest, predictions: { drawn: night.drawn, total: night.rows }, alerts, incidents, model: p.loaded, reportFile: join(staging, 'report.html'), maxRows: cfg.report.maxRows });
    timings.report = performance.now() - tr;
  }
  timings.total = performance.now() - p.t0;
  const final = { ...summary, timings_ms: roundTimings(timings), finished: p.clock().toISOString(), run_key: p.runKey };
  // the incidents a run of this day (or flowknn watch, as the files came) sent already are not sent again (notify.ts)
  if (!options.shard) await writeFileAtomic(join(staging, NOTIFY_JSON), notifyStateText(initialNotifyState({ alerts: alerts.length, open: openIds(incidents) }, mergeNotified(await readNotifyState(paths.out), await readNotifyState(paths.live)))));
  await writeFileAtomic(join(staging, 'summary.json'), `${JSON.stringify(final, null, 2)}\n`);
  return { final, reportFile };
}

/** Rows the nightly report draws at most (an even sample plus the most novel: DrawnSample). */
const DRAWN_ROWS = 5000;

export function openIds(incidents: readonly Incident[]): string[] {
  return incidents.filter((i) => !i.flowknn.suppressed).map((i) => i.event.id);
}

function roundTimings(t: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)]));
}

export function buildSummary(p: {
  date: string;
  shard: Shard | null;
  config: LoadedConfig;
  modelInfo: ModelInfo;
  engineName: string;
  device: string | null;
  /** Rows per search the engine asked for (a merged day: its first shard's). */
  batchRows?: number;
  /** Searches and rows by engine (an engine that hands searches on: KnnEngine.usage). */
  searches?: EngineUsage;
  inputs: readonly ManifestInput[];
  reused: number;
  /** The rows classified: how many, per predicted class, novel (predictionCounts, or counted as they streamed). */
  counts: PredictionCounts;
  alerts: readonly Alert[];
  incidents: IncidentCounts;
  rejects: number;
  timings: Record<string, number>;
  started: Date;
  coverage: Coverage;
  finished?: Date;
}): Summary {
  const failed = p.inputs.filter((r) => r.status === 'failed');
  const { rows, novel: novelCount } = p.counts;
  const alertClasses: Record<string, number> = {};
  for (const a of p.alerts) alertClasses[a.predicted] = (alertClasses[a.predicted] ?? 0) + 1;
  return {
    ...summaryBase(),
    date: p.date,
    shard: p.shard ? { index: p.shard.index, count: p.shard.count } : null,
    status: failed.length > 0 ? 'partial' : 'complete',
    config: { file: p.config.file, digest: p.config.digest },
    model: p.modelInfo,
    engine: { name: p.engineName, device: p.device, ...(p.batchRows === undefined ? {} : { batch_rows: p.batchRows }), ...(p.searches === undefined ? {} : { searches: p.searches }) },
    inputs: { selected: p.inputs.length, ok: p.inputs.length - failed.length, failed: failed.length, reused: p.reused, failed_inputs: failed.map((f) => ({ path: f.path, error: f.error ?? '' })) },
    rows,
    flows: p.inputs.reduce((s, r) => s + r.flows, 0),
    predicted: p.counts.predicted,
    alerts: p.alerts.length,
    alerts_by_class: alertClasses,
    incidents: p.incidents,
    novel: novelCount,
    novelty: p.modelInfo.novelty_quantile == null ? null : noveltyShare(novelCount, rows, p.modelInfo.novelty_quantile),
    rejects: p.rejects,
    nfdump: {
      versions: [...new Set(p.inputs.flatMap((r) => (r.nfdump ? [r.nfdump] : [])))].sort(),
      warnings: p.inputs.reduce((s, r) => s + (r.warnings ?? []).reduce((a, w) => a + w.count, 0), 0),
    },
    coverage: p.coverage,
    timings_ms: roundTimings(p.timings),
    started: p.started.toISOString(),
    finished: (p.finished ?? new Date()).toISOString(),
  };
}

export interface PredictionCounts {
  readonly rows: number;
  /** Rows per predicted class, the model's classes (and the unknown label) first, at 0 when none. */
  readonly predicted: Record<string, number>;
  readonly novel: number;
}

/** The counts of a predictions table held whole (a merge of shards). */
export function predictionCounts(predictions: Table, order: readonly string[]): PredictionCounts {
  const novel = predictions.getChild('novel');
  let n = 0;
  for (let i = 0; i < predictions.numRows; i++) if (novel?.get(i)) n++;
  return { rows: predictions.numRows, predicted: countBy(stringColumn(predictions, 'predicted') ?? [], order), novel: n };
}

/** The output folders of a day's shards (see day.ts), by name (<i>-of-<n>). */
export async function shardDirs(outputRoot: string, date: string): Promise<{ name: string; paths: DayPaths }[]> {
  return (await shardNames(outputRoot, date)).map((name) => ({ name, paths: dayPaths(outputRoot, date, name) }));
}
