import { join } from 'node:path';
import type { Field, Table } from 'apache-arrow';
import { mostUsed, sumUsage, type EngineUsage } from '../engines/engine.js';
import { NIGHTLY_AGGREGATE_FIELDS } from './inputs.js';
import { inputError, usageError } from '../errors.js';
import type { Reject } from '../ingest/issues.js';
import { rm } from 'node:fs/promises';
import { readModel } from '../model/folder.js';
import { stringColumn, takeRows } from '../schema/arrow.js';
import type { LoadedConfig } from './config.js';
import { acquireLock } from '../io/lock.js';
import { writeFileAtomic } from '../io/atomic.js';
import { discoverArchive, selectionRange } from '../ingest/archive.js';
import { buildSummary, openIds, predictionCounts, readPartJson, shardDirs, shardOf, workId, type InputRecord, type ReportData } from './nightly.js';
import { alertsOf, readArrow, readJson, writeDayOutputs, type Manifest, type Summary } from './outputs.js';
import { cleanLeftovers, dayPaths, freshStaging, readRunState, repairSwap, swapIn } from './day.js';
import { coverageNotes, coverageOf } from './coverage.js';
import { deliverIncidents, initialNotifyState, NOTIFY_JSON, notifyStateText, readNotifyState, type NotifyCommand } from './notify.js';
import { nightIncidents } from './night-incidents.js';

export interface MergeOptions {
  readonly config: LoadedConfig;
  readonly date: string;
  readonly log: (message: string) => void;
  readonly writeReport?: (dir: string, data: ReportData) => Promise<void>;
  readonly command?: string;
  /** Run with the alerts once the merged day is committed. */
  readonly notify?: NotifyCommand;
}

/** Rows of several tables, ordered by source_file (stable): the order a single run writes. */
function mergeByInput(tables: readonly Table[]): Table {
  const first = tables[0]!;
  const all = tables.length === 1 ? first : first.concat(...tables.slice(1));
  const files = stringColumn(all, 'source_file') ?? [];
  const order = Array.from(files.keys()).sort((a, b) => {
    const fa = files[a] ?? '';
    const fb = files[b] ?? '';
    return fa < fb ? -1 : fa > fb ? 1 : a - b;
  });
  return takeRows(all, order);
}

/**
 * Combines the shard outputs of a day (out/<date>/shards/<i>-of-<n>/) into out/<date>/,
 * the same files one run over all inputs writes: rows in input order, the summary recounted,
 * the alerts and report made again. Every shard of the n must be finished, with the same
 * settings and model.
 */
export async function mergeShards(options: MergeOptions): Promise<{ dir: string; summary: Summary; reportFile: string | null }> {
  const t0 = performance.now();
  const started = new Date();
  const { config, date, log } = options;
  const day = dayPaths(config.paths.output, date);
  const shardsDir = join(day.state, 'shards');
  const dirs = await shardDirs(config.paths.output, date);
  if (dirs.length === 0) throw usageError(`no shard outputs under ${shardsDir}`, `run flowknn nightly --shard i/n --date ${date} for each i first`);
  const counts = new Set(dirs.map((d) => Number(/-of-(\d+)$/u.exec(d.name)![1])));
  if (counts.size > 1) throw usageError(`${shardsDir} holds shards of different splits (${[...counts].map((n) => `of ${n}`).join(', ')})`, 'remove the folders of the split you do not want');
  const n = [...counts][0]!;
  const lock = await acquireLock(day.lock, options.command ?? 'flowknn merge');
  try {
    const repaired = await repairSwap(day, await readRunState(day));
    if (repaired) log(`${date}: ${repaired}`);
    await cleanLeftovers(day);
    const summaries: Summary[] = [];
    const manifests: Manifest[] = [];
    const aggregates: Table[] = [];
    const predictions: Table[] = [];
    const rejects: Reject[] = [];
    for (let i = 1; i <= n; i++) {
      const shard = dayPaths(config.paths.output, date, `${i}-of-${n}`);
      const dir = shard.out;
      const summary = await readJson<Summary>(join(dir, 'summary.json')).catch(() => {
        throw inputError(`shard ${i} of ${n} has not finished (no summary.json)`, { file: dir }, `run flowknn nightly --shard ${i}/${n} --date ${date} (with --resume if it was interrupted)`);
      });
      if (summary.config.digest !== config.digest) throw inputError(`shard ${i} of ${n} ran with other settings (config digest ${summary.config.digest.slice(0, 12)}, now ${config.digest.slice(0, 12)})`, { file: join(dir, 'summary.json') }, 'rerun that shard with --force');
      if (summaries.length > 0 && summary.model.train_sha256 !== summaries[0]!.model.train_sha256) {
        throw inputError(`shard ${i} of ${n} used another model (${summary.model.dir}) than shard 1 (${summaries[0]!.model.dir})`, { file: join(dir, 'summary.json') }, 'rerun the shards with --force after the model changed');
      }
      summaries.push(summary);
      const manifest = await readJson<Manifest>(join(dir, 'manifest.json'));
      manifests.push(manifest);
      const shardTables = [await readArrow(join(dir, 'aggregates.arrow')), await readArrow(join(dir, 'predictions.arrow'))] as const;
      // Tables are joined column by column: a shard written by a flowknn of other columns (before
      // `router`) would shift them: the aggregates must have the columns this flowknn writes, the
      // predictions those of shard 1 (their p_<class> columns are the model's).
      const names = (fields: readonly Field[]) => fields.map((f) => f.name).join(',');
      if (names(shardTables[0].schema.fields) !== names(NIGHTLY_AGGREGATE_FIELDS) || (predictions.length > 0 && names(shardTables[1].schema.fields) !== names(predictions[0]!.schema.fields))) {
        throw inputError(`shard ${i} of ${n} was written with other columns than this flowknn writes (an older flowknn)`, { file: join(dir, 'aggregates.arrow') }, 'rerun the shards with --force');
      }
      aggregates.push(shardTables[0]);
      predictions.push(shardTables[1]);
      // The rejects of the shard's inputs, from its committed parts (each checked against its record).
      for (const input of manifest.inputs.filter((x) => x.status === 'ok')) {
        const rec = await readJson<InputRecord>(join(shard.inputs, `${workId(input.path)}.json`));
        rejects.push(...(await readPartJson<Reject[]>(join(shard.inputs, `${workId(input.path)}.rejects.json`), rec.parts?.rejects)));
      }
    }
    const ok = new Set(manifests.flatMap((m) => m.inputs.filter((x) => x.status === 'ok').map((x) => x.path)));
    const keptRejects = rejects.filter((r) => ok.has(r.file)).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
    const mergedAggregates = mergeByInput(aggregates);
    const mergedPredictions = mergeByInput(predictions);
    const inputs = manifests.flatMap((m) => m.inputs);
    // Files of the day that no shard read (written after their shard ran): failed inputs of the
    // day, named with the shard that should read them, so the day does not look complete.
    const timeZone = config.config.archive.timeZone;
    const listing = await discoverArchive(config.paths.archive, { date, timeZone, allowEmpty: true });
    const range = selectionRange({ date, timeZone });
    const coverage = coverageOf(listing.files, { fromMs: range.fromMs!, toMs: range.toMs! }, timeZone, config.config.archive.interval, listing.routers);
    for (const note of coverageNotes(date, coverage, timeZone)) log(note);
    const seen = new Set(inputs.map((i) => i.path));
    for (const f of listing.files) {
      if (seen.has(f.relPath)) continue;
      const shard = shardOf(f.relPath, n);
      inputs.push({
        path: f.relPath,
        size: f.size,
        mtime_ms: 0,
        sha256: null,
        slot_start: new Date(f.slotStartMs).toISOString(),
        status: 'failed',
        error: `read by no shard: shard ${shard} of ${n} ran before this file was there; rerun flowknn nightly --shard ${shard}/${n} --date ${date}, then merge`,
        rows: 0,
        flows: 0,
        rejects: 0,
        nfdump_args: null,
        elapsed_ms: 0,
      });
    }
    inputs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const manifest: Manifest = { ...manifests[0]!, shard: null, inputs, coverage };
    const first = summaries[0]!;
    const { incidents, alerts, counts } = await nightIncidents({
      config,
      date,
      model: first.model,
      alerts: alertsOf(mergedPredictions, date, config.config.classify),
      inputs,
      nfdump: { nfdump: config.config.nfdump ?? 'nfdump' },
      log,
    });
    const timings: Record<string, number> = { merge: performance.now() - t0 };
    for (const key of ['discover', 'inputs', 'collect', 'search', 'classify', 'outputs']) {
      timings[`shards_${key}_max`] = Math.max(...summaries.map((s) => s.timings_ms[key] ?? 0));
    }
    const searches = sumUsage(summaries.map((s) => s.engine.searches));
    const engine = mainEngine(summaries, searches);
    const summary = buildSummary({
      date,
      shard: null,
      config,
      modelInfo: first.model,
      engineName: engine.name,
      device: engine.device,
      batchRows: first.engine.batch_rows,
      searches,
      inputs,
      reused: summaries.reduce((s, x) => s + x.inputs.reused, 0),
      counts: predictionCounts(mergedPredictions, [...first.model.classes, ...(config.config.classify.unknownLabel ? [config.config.classify.unknownLabel] : [])]),
      alerts,
      incidents: counts,
      rejects: keptRejects.length,
      timings,
      started: new Date(Math.min(...summaries.map((s) => Date.parse(s.started)))),
      coverage,
    });
    // As a run of the day: written whole beside the day, then swapped in (day.ts).
    const staging = await freshStaging(day);
    try {
      await writeDayOutputs(staging, { aggregates: mergedAggregates, predictions: mergedPredictions, alerts, incidents, rejects: keptRejects, manifest, summary });
      if (config.config.report.enabled && options.writeReport) {
        const model = await readModel(first.model.dir);
        await options.writeReport(staging, { summary, manifest, predictions: mergedPredictions, alerts, incidents, model, reportFile: join(staging, 'report.html'), maxRows: config.config.report.maxRows });
      }
      await writeFileAtomic(join(staging, NOTIFY_JSON), notifyStateText(initialNotifyState({ alerts: alerts.length, open: openIds(incidents) }, await readNotifyState(day.out))));
      // summary.json last, as a run writes it (writeDayOutputs wrote it once already: the report reads it)
      await writeFileAtomic(join(staging, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    } catch (err) {
      await rm(day.next, { recursive: true, force: true });
      throw err;
    }
    await swapIn(day, { status: 'complete', digest: config.digest, started: started.toISOString(), finished: new Date().toISOString(), pid: process.pid });
    const reportFile = config.config.report.enabled && options.writeReport ? join(day.out, 'report.html') : null;
    log(`merged ${n} shards into ${day.out}: ${summary.rows} rows, ${summary.alerts} alerts, ${counts.total} incidents`);
    await deliverIncidents(day.out, { date }, options.notify, { log });
    return { dir: day.out, summary, reportFile };
  } finally {
    await lock.release();
  }
}

/**
 * The engine that answered most of the day's rows (by the summed searches; without them, the
 * first shard's), with the device of the first shard that it named.
 */
function mainEngine(summaries: readonly Summary[], searches: EngineUsage | undefined): Summary['engine'] {
  const first = summaries[0]!.engine;
  const best = mostUsed(searches);
  if (best === undefined || best === first.name) return first;
  return summaries.find((s) => s.engine.name === best)?.engine ?? { name: best, device: null };
}
