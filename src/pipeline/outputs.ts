import type { EngineUsage } from '../engines/engine.js';
import type { NoveltyScore, NoveltyShare } from '../knn/novelty.js';
import type { Table } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputError, usageError } from '../errors.js';
import { readJsonFile } from '../io/json.js';
import { writeCsvFile } from '../io/csv.js';
import { writeChunksAtomic, writeFileAtomic } from '../io/atomic.js';
import { writeParquetFile } from '../io/parquet.js';
import { REJECTS_HEADER, rejectsCsvLine } from '../ingest/rejects.js';
import type { Reject } from '../ingest/issues.js';
import { numberColumn, readArrowFile, stringColumn, writeArrowFile } from '../schema/arrow.js';
import { TOOL_VERSION } from '../version.js';
import type { Coverage } from './coverage.js';
import type { Incident, IncidentCounts } from './incidents.js';
import type { ClassifiedRow } from '../knn/classified-rows.js';

/**
 * The files of a finished day (or shard): what `nightly` writes and `merge` rewrites from
 * shards, through the same function, so both give the same files.
 *
 *   aggregates.arrow / .parquet / .csv   per-host features of every input, inputs in path order
 *   predictions.arrow / .parquet / .csv  the same rows, classified, with novelty scores
 *   alerts.ndjson             one JSON object per alerting row, with its incident
 *   incidents.ndjson          alert rows joined per host, rule and time (incidents.ts), ranked
 *   rejects.csv               bad lines of nfdump output (file,line,reason,raw)
 *   manifest.json             every selected input: size, checksum, status, error
 *   summary.json              counts, timings, engine, model; written last (the run's commit)
 */

export const OUTPUT_FILES = ['aggregates.arrow', 'aggregates.parquet', 'aggregates.csv', 'predictions.arrow', 'predictions.parquet', 'predictions.csv', 'alerts.ndjson', 'incidents.ndjson', 'rejects.csv', 'manifest.json', 'summary.json'] as const;

export interface ManifestInput {
  /** Below the archive root, '/'-separated. */
  path: string;
  size: number;
  mtime_ms: number;
  sha256: string | null;
  slot_start: string;
  status: 'ok' | 'failed';
  error: string | null;
  rows: number;
  flows: number;
  rejects: number;
  nfdump_args: string | null;
  elapsed_ms: number;
  /** The nfdump release that read it (absent for inputs recorded before versions were). */
  nfdump?: string | null;
  /** nfdump's known harmless warnings, counted (see src/ingest/nfdump/stderr.ts). */
  warnings?: { message: string; count: number }[];
  /** How its rows were checked for completeness: `Summary trailer`, `nfdump -I` or `none (...)`. */
  totals_check?: string | null;
}

export interface Manifest {
  format: 'flowknn-nightly-manifest';
  format_version: 1;
  date: string;
  archive_root: string;
  shard: { index: number; count: number } | null;
  inputs: ManifestInput[];
  skipped: { path: string; reason: string }[];
  /** The day's slots with and without a file, and file names in a daylight-saving gap. */
  coverage?: Coverage;
}

export interface ModelInfo {
  name: string | null;
  version: number | null;
  dir: string;
  created: string;
  train_sha256: string;
  classes: string[];
  k: number;
  metric: string;
  scaler: string;
  weights: string;
  novelty_threshold: number | null;
  /** The novelty score's form and calibration quantile (absent in summaries written before them). */
  novelty_score?: NoveltyScore | null;
  novelty_quantile?: number | null;
}

export interface Summary {
  format: 'flowknn-nightly-summary';
  format_version: 1;
  tool_version: string;
  date: string;
  shard: { index: number; count: number } | null;
  /** complete: every selected input ok; partial: some failed (listed in inputs.failed). */
  status: 'complete' | 'partial';
  config: { file: string; digest: string };
  model: ModelInfo;
  /**
   * The engine that answered the night's searches (with auto, the one that answered most of
   * its rows), its device, the rows per search it asked for (a smaller night is one search),
   * and with auto or a large-k fallback, the searches and rows each engine answered.
   */
  engine: { name: string; device: string | null; batch_rows?: number; searches?: EngineUsage };
  inputs: { selected: number; ok: number; failed: number; reused: number; failed_inputs: { path: string; error: string }[] };
  rows: number;
  flows: number;
  predicted: Record<string, number>;
  alerts: number;
  alerts_by_class: Record<string, number>;
  /** The alert rows joined into incidents: open and suppressed, expired suppression rules. */
  incidents?: IncidentCounts;
  novel: number;
  /** The novel share against the calibrated one, and whether it is drift (null: no novelty threshold). */
  novelty?: NoveltyShare | null;
  rejects: number;
  /** The nfdump releases that read the inputs, and the harmless warnings they printed (counted). */
  nfdump?: { versions: string[]; warnings: number };
  coverage?: Coverage;
  timings_ms: Record<string, number>;
  started: string;
  finished: string;
}

export interface AlertSettings {
  readonly alertClasses: readonly string[];
  readonly alertOnNovel: boolean;
}

export interface Alert {
  date: string;
  window_start: string | null;
  key: string | null;
  predicted: string;
  voted: string | null;
  probability: number;
  novelty: number | null;
  novel: boolean;
  reasons: string[];
  duration_s: number;
  flows: number;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
  bpp: number;
  first_seen: string | null;
  source_file: string | null;
  /** The router(s) whose archive the row came from, comma-separated. */
  router: string | null;
}

const iso = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? null : new Date(ms).toISOString());

/** The rows that alert: a predicted class marked as alerting, or novel when that alerts. */
export function alertsOf(predictions: Table, date: string, settings: AlertSettings): Alert[] {
  const n = predictions.numRows;
  const predicted = stringColumn(predictions, 'predicted') ?? [];
  const voted = stringColumn(predictions, 'voted');
  const key = stringColumn(predictions, 'key');
  const file = stringColumn(predictions, 'source_file');
  const router = stringColumn(predictions, 'router');
  const num = (name: string) => numberColumn(predictions, name);
  const probability = num('probability');
  const novelty = num('novelty');
  const novelCol = predictions.getChild('novel');
  const window = num('window_start');
  const first = num('first_seen');
  const feats = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'].map((c) => num(c));
  const out: Alert[] = [];
  for (let i = 0; i < n; i++) {
    const p = predicted[i] ?? '';
    const novel = novelCol ? Boolean(novelCol.get(i)) : false;
    const v = voted?.[i] ?? null;
    const reasons: string[] = [];
    if (settings.alertClasses.includes(p) || (v !== null && p !== v && settings.alertClasses.includes(v))) reasons.push(`class ${settings.alertClasses.includes(p) ? p : v}`);
    if (novel && settings.alertOnNovel) reasons.push('novel');
    if (reasons.length === 0) continue;
    out.push({
      date,
      window_start: iso(window?.[i]),
      key: key?.[i] ?? null,
      predicted: p,
      voted: v,
      probability: probability?.[i] ?? Number.NaN,
      novelty: novelty ? novelty[i]! : null,
      novel,
      reasons,
      duration_s: feats[0]![i]!,
      flows: feats[1]![i]!,
      packets: feats[2]![i]!,
      bytes: feats[3]![i]!,
      pps: feats[4]![i]!,
      bps: feats[5]![i]!,
      bpp: feats[6]![i]!,
      first_seen: iso(first?.[i]),
      source_file: file?.[i] ?? null,
      router: router?.[i] ?? null,
    });
  }
  return out;
}

export function countBy(values: readonly (string | null)[], order: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(order.map((c) => [c, 0]));
  for (const v of values) out[v ?? ''] = (out[v ?? ''] ?? 0) + 1;
  return out;
}

/** A finished night's files that its report is made of, as the nightly job holds them or reads them back. */
export interface NightFiles {
  /** Written last: once it is there, the day's other files are complete. */
  readonly summary: Summary;
  readonly manifest: Manifest;
  readonly predictions: NightRows;
  readonly alerts: readonly Alert[];
  readonly incidents: readonly Incident[];
}

/**
 * A night's rows as its report draws them: the whole predictions table, or the sample the
 * nightly job drew as it streamed the night (sample.ts) and how many rows there were.
 */
export type NightRows = Table | { readonly drawn: readonly ClassifiedRow[]; readonly total: number };

export interface DayOutputs extends Omit<NightFiles, 'predictions'> {
  readonly predictions: Table;
  readonly aggregates: Table;
  readonly rejects: readonly Reject[];
}

/** Writes every output file of a day, each atomically, summary.json last. */
export async function writeDayOutputs(dir: string, out: DayOutputs): Promise<void> {
  await writeArrowFile(join(dir, 'aggregates.arrow'), out.aggregates);
  await writeParquetFile(join(dir, 'aggregates.parquet'), out.aggregates);
  await writeCsvFile(join(dir, 'aggregates.csv'), out.aggregates);
  await writeArrowFile(join(dir, 'predictions.arrow'), out.predictions);
  await writeParquetFile(join(dir, 'predictions.parquet'), out.predictions);
  await writeCsvFile(join(dir, 'predictions.csv'), out.predictions);
  await writeDayFiles(dir, out);
}

/** The day's files besides its tables (written by then, streamed: stream.ts), each atomically, summary.json last. */
export async function writeDayFiles(dir: string, out: Pick<DayOutputs, 'alerts' | 'incidents' | 'rejects' | 'manifest' | 'summary'>): Promise<void> {
  await writeNdjson(join(dir, 'alerts.ndjson'), out.alerts);
  await writeNdjson(join(dir, 'incidents.ndjson'), out.incidents);
  await writeFileAtomic(join(dir, 'rejects.csv'), `${REJECTS_HEADER}\n${out.rejects.map((r) => rejectsCsvLine(r)).join('')}`);
  await writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(out.manifest, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(out.summary, null, 2)}\n`);
}

async function writeNdjson(file: string, rows: readonly unknown[]): Promise<void> {
  await writeChunksAtomic(file, async (write) => {
    for (let i = 0; i < rows.length; i += 10_000) await write(rows.slice(i, i + 10_000).map((a) => `${JSON.stringify(a)}\n`).join(''));
  });
}

/** An NDJSON output of a day, one object a line; a line that is no JSON object names the file and line. */
export async function readNdjson<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch (err) {
        throw inputError(`not a JSON object (${(err as Error).message})`, { file, line: i + 1 });
      }
    });
}

/** A JSON output of a day; a file that cannot be read is "missing". */
export async function readJson<T>(path: string): Promise<T> {
  return (await readJsonFile(path, () => inputError('missing', { file: path }))) as T;
}

/** An Arrow output of a day (or of a shard, for the merge), read with the guard of readArrowFile. */
export async function readArrow(path: string): Promise<Table> {
  return readArrowFile(path);
}

/** A committed part: checked against the sha256 its record holds (unchecked, guarded, when it has none). */
export async function readPart(path: string, sha256?: string): Promise<Table> {
  return readArrowFile(path, sha256 === undefined ? {} : { sha256 });
}

/**
 * A finished day's (or merge's) outputs, read back: what `flowknn report --nightly DIR` draws.
 * A rerun swaps a day in whole (day.ts), but a reader opens its files one by one: summary.json
 * is read again after the others, and a day replaced meanwhile is read again, so the files
 * drawn are of one run.
 */
export interface DayRead {
  summary: Summary;
  manifest: Manifest;
  predictions: Table;
  alerts: Alert[];
  incidents: Incident[];
}

export async function readDayOutputs(dir: string): Promise<DayRead> {
  for (let attempt = 1; ; attempt++) {
    const before = await readFile(join(dir, 'summary.json'), 'utf8').catch(() => undefined);
    try {
      const read = await readDayOnce(dir);
      const after = await readFile(join(dir, 'summary.json'), 'utf8').catch(() => undefined);
      if (before === after || attempt >= 5) return read;
    } catch (err) {
      // a file gone mid-read: the day was being swapped; the folder is read again
      if (attempt >= 5 || before === (await readFile(join(dir, 'summary.json'), 'utf8').catch(() => undefined))) throw err;
    }
  }
}

async function readDayOnce(dir: string): Promise<DayRead> {
  const summary = await readJson<Summary>(join(dir, 'summary.json')).catch(() => {
    throw usageError(`${dir} holds no summary.json: not a finished night`, 'give the folder flowknn nightly printed as "outputs:" (OUT/<date>), once the run has finished');
  });
  if (summary.format !== 'flowknn-nightly-summary') throw inputError(`not a nightly summary (format ${String(summary.format)})`, { file: join(dir, 'summary.json') });
  const manifest = await readJson<Manifest>(join(dir, 'manifest.json'));
  const predictions = await readArrow(join(dir, 'predictions.arrow'));
  const alerts = await readNdjson<Alert>(join(dir, 'alerts.ndjson'));
  // a night written before incidents were has none
  const incidents = summary.incidents === undefined ? [] : await readNdjson<Incident>(join(dir, 'incidents.ndjson'));
  return { summary, manifest, predictions, alerts, incidents };
}

export function summaryBase(): Pick<Summary, 'format' | 'format_version' | 'tool_version'> {
  return { format: 'flowknn-nightly-summary', format_version: 1, tool_version: TOOL_VERSION };
}
