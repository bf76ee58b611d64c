import type { Table } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { inputError, usageError } from '../errors.js';
import type { FeatureSet } from '../features/feature-set.js';
import { featureMatrix } from '../features/feature-set.js';
import { csvCell } from '../io/csv.js';
import { probabilityColumns } from '../knn/predictions.js';
import type { Matrix } from '../matrix.js';
import { numberColumn, readArrowFile, stringColumn } from '../schema/arrow.js';
import { readModel } from './folder.js';
import { readLabelsTable } from './labels.js';
import { pendingBatches } from './registry.js';

/**
 * Which rows of a night are most worth an operator's label (active learning): the rows the
 * model knows least, spread so that each label teaches it something the others do not.
 *
 *  - worth: how far beyond the novelty threshold the row lies (score / threshold, capped at 4)
 *    plus how split its vote is (1 - the margin between the two largest class shares): a novel
 *    row is traffic the model never saw, a split vote a place where two classes meet;
 *  - one per incident or host: a host's 200 windows of the same traffic teach about as much as
 *    one; a second row of a group is taken only when every group has given one;
 *  - spread over classes: the picks go round the voted classes in turn (the class of the most
 *    worthy row first), so that no class's confusions crowd out the others';
 *  - spread over the feature space: among the rows of a class, a row far from the rows already
 *    picked (log1p features, z-scored over the night) gains up to one point of worth.
 * Rows the model was trained on (same key and window), or labelled and waiting in its registry
 * for the next version, are never suggested.
 */

export interface SuggestInput {
  /** Raw features per row. */
  readonly features: Matrix;
  readonly voted: readonly string[];
  /** rows x classes vote shares. */
  readonly probabilities: Float64Array;
  readonly classes: number;
  /** Novelty scores and threshold, when the model has one. */
  readonly novelty?: Float64Array;
  readonly threshold?: number;
  /** The incident or host each row belongs to: one pick per group before a second. */
  readonly group: readonly string[];
  /** Rows that must not be suggested (already training rows). */
  readonly exclude?: ReadonlySet<number>;
}

export interface Suggestion {
  readonly row: number;
  readonly worth: number;
  /** score / threshold (0 without novelty scores). */
  readonly noveltyRatio: number;
  readonly margin: number;
  readonly group: string;
  readonly voted: string;
}

const NOVELTY_CAP = 4;
/** Candidates kept per group and in all before the greedy picks: bounds the work on a big night. */
export const PER_GROUP = 8;
const POOL = 4000;

export function suggestRows(input: SuggestInput, n: number): Suggestion[] {
  const rows = input.features.rows;
  const all: Suggestion[] = [];
  for (let i = 0; i < rows; i++) {
    if (input.exclude?.has(i)) continue;
    let first = 0;
    let second = 0;
    for (let c = 0; c < input.classes; c++) {
      const p = input.probabilities[i * input.classes + c]!;
      if (p > first) [first, second] = [p, first];
      else if (p > second) second = p;
    }
    const margin = first - second;
    const ratio = input.novelty && input.threshold && input.threshold > 0 ? input.novelty[i]! / input.threshold : 0;
    const worth = Math.min(ratio, NOVELTY_CAP) + (1 - margin);
    all.push({ row: i, worth, noveltyRatio: ratio, margin, group: input.group[i]!, voted: input.voted[i]! });
  }
  // The pool: the most worthy rows of each group, then the most worthy of those.
  all.sort((a, b) => b.worth - a.worth || a.row - b.row);
  const perGroup = new Map<string, number>();
  const pool = all.filter((s) => {
    const seen = perGroup.get(s.group) ?? 0;
    perGroup.set(s.group, seen + 1);
    return seen < PER_GROUP;
  }).slice(0, POOL);
  const points = logZ(input.features, pool.map((s) => s.row));

  const picked: number[] = [];
  const taken = new Uint8Array(pool.length);
  const fromGroup = new Map<string, number>();
  const classOrder = [...new Set(pool.map((s) => s.voted))];
  let turn = 0;
  const nearest = new Float64Array(pool.length).fill(Number.POSITIVE_INFINITY);
  while (picked.length < Math.min(n, pool.length)) {
    let level = Number.POSITIVE_INFINITY;
    pool.forEach((s, j) => {
      if (!taken[j]) level = Math.min(level, fromGroup.get(s.group) ?? 0);
    });
    const eligible = (j: number) => !taken[j] && (fromGroup.get(pool[j]!.group) ?? 0) === level;
    // the next class in turn that has an eligible row
    let cls: string | undefined;
    for (let t = 0; t < classOrder.length && cls === undefined; t++) {
      const c = classOrder[(turn + t) % classOrder.length]!;
      if (pool.some((s, j) => s.voted === c && eligible(j))) {
        cls = c;
        turn = (turn + t + 1) % classOrder.length;
      }
    }
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    pool.forEach((s, j) => {
      if (s.voted !== cls || !eligible(j)) return;
      const spread = Math.min(nearest[j]!, 2) / 2;
      const value = s.worth + spread;
      if (value > bestValue) [best, bestValue] = [j, value];
    });
    taken[best] = 1;
    picked.push(best);
    fromGroup.set(pool[best]!.group, (fromGroup.get(pool[best]!.group) ?? 0) + 1);
    for (let j = 0; j < pool.length; j++) {
      if (taken[j]) continue;
      let d = 0;
      for (let f = 0; f < points.cols; f++) d += (points.data[j * points.cols + f]! - points.data[best * points.cols + f]!) ** 2;
      nearest[j] = Math.min(nearest[j]!, Math.sqrt(d));
    }
  }
  return picked.map((j) => pool[j]!);
}

/** log1p features of the given rows, each column z-scored over them: the night's own scale. */
function logZ(features: Matrix, rows: readonly number[]): { data: Float64Array; cols: number } {
  const cols = features.cols;
  const data = new Float64Array(rows.length * cols);
  rows.forEach((r, i) => {
    for (let f = 0; f < cols; f++) data[i * cols + f] = Math.log1p(features.data[r * cols + f]!);
  });
  for (let f = 0; f < cols; f++) {
    let sum = 0;
    for (let i = 0; i < rows.length; i++) sum += data[i * cols + f]!;
    const mean = sum / Math.max(rows.length, 1);
    let sq = 0;
    for (let i = 0; i < rows.length; i++) sq += (data[i * cols + f]! - mean) ** 2;
    const sd = Math.sqrt(sq / Math.max(rows.length, 1)) || 1;
    for (let i = 0; i < rows.length; i++) data[i * cols + f] = (data[i * cols + f]! - mean) / sd;
  }
  return { data, cols };
}

export interface NightSuggestions {
  readonly csv: string;
  readonly picked: readonly Suggestion[];
  readonly rows: number;
  readonly excluded: number;
  /** The picks' voted classes, counted. */
  readonly byClass: Record<string, number>;
}

const rowId = (key: string | null, window: number) => `${key ?? ''}\u0000${window}`;

/**
 * Suggestions for a night folder the nightly job wrote (predictions.arrow, alerts.ndjson with
 * the rows' incident ids, summary.json naming the model), as a CSV that `label add
 * --predictions` reads once the operator has filled in its `label` column: the rows' own
 * columns, `why` they were picked, and the label, empty.
 */
export async function suggestFromNight(dir: string, n: number, featureSet: FeatureSet): Promise<NightSuggestions> {
  if (!Number.isInteger(n) || n < 1) throw usageError(`--n must be a whole number >= 1, got ${n}`);
  const file = join(dir, 'predictions.arrow');
  let table: Table;
  try {
    table = await readArrowFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw usageError(`--night ${dir}: no predictions.arrow there`, 'give a night folder the nightly job wrote, e.g. out/nightly/2026-11-01');
    throw err;
  }
  if (table.schema.metadata.get('flowknn.kind') !== 'predictions') throw inputError('is not a predictions table (flowknn.kind)', { file });
  const classes = JSON.parse(table.schema.metadata.get('flowknn.classes') ?? '[]') as string[];
  const pCols = probabilityColumns(classes).map((c) => numberColumn(table, c));
  if (classes.length === 0 || pCols.some((c) => c === undefined)) throw inputError('lacks the flowknn.classes metadata or a probability column of its classes', { file });
  const rows = table.numRows;
  const probabilities = new Float64Array(rows * classes.length);
  pCols.forEach((col, c) => col!.forEach((v, i) => (probabilities[i * classes.length + c] = v)));
  const keys = stringColumn(table, 'key') ?? Array<null>(rows).fill(null);
  const windows = numberColumn(table, 'window_start') ?? new Float64Array(rows).fill(Number.NaN);
  const voted = stringColumn(table, 'voted') ?? stringColumn(table, 'predicted')!;
  const novelty = numberColumn(table, 'novelty');
  const thresholdText = table.schema.metadata.get('flowknn.novelty_threshold');

  // The incident of each alert row; other rows are grouped by host.
  const incidentOf = new Map<string, string>();
  const alerts = await readFile(join(dir, 'alerts.ndjson'), 'utf8').catch(() => '');
  for (const line of alerts.split('\n')) {
    if (line.trim() === '') continue;
    const a = JSON.parse(line) as { key?: string; window_start?: string | null; incident_id?: string };
    if (a.incident_id && a.key && a.window_start) incidentOf.set(rowId(a.key, Date.parse(a.window_start)), a.incident_id);
  }
  const group = Array.from({ length: rows }, (_, i) => incidentOf.get(rowId(keys[i] ?? null, windows[i]!)) ?? `host ${keys[i] ?? ''}`);

  // Rows the model was trained on are labelled already, and so are the rows of labels waiting
  // in its registry for the next version.
  const exclude = new Set<number>();
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8').catch(() => '{}')) as { model?: { dir?: string; name?: string | null } };
  if (summary.model?.dir) {
    const labelled = new Set<string>();
    const model = await readModel(summary.model.dir).catch(() => null);
    if (model) model.model.train.keys.forEach((k, i) => labelled.add(rowId(k, model.model.train.windowStart?.[i] ?? Number.NaN)));
    if (summary.model.name) {
      for (const batch of await pendingBatches(dirname(dirname(summary.model.dir)), summary.model.name).catch(() => [])) {
        for (const r of await readLabelsTable(batch, featureSet).catch(() => [])) labelled.add(rowId(r.key, r.windowStart ?? Number.NaN));
      }
    }
    for (let i = 0; i < rows; i++) if (labelled.has(rowId(keys[i] ?? null, windows[i]!))) exclude.add(i);
  }

  const picked = suggestRows(
    {
      features: featureMatrix(table, featureSet, file),
      voted: voted.map((v) => v ?? ''),
      probabilities,
      classes: classes.length,
      novelty,
      threshold: thresholdText === undefined ? undefined : Number(thresholdText),
      group,
      exclude,
    },
    n,
  );
  const byClass: Record<string, number> = {};
  for (const s of picked) byClass[s.voted] = (byClass[s.voted] ?? 0) + 1;
  return { csv: suggestionsCsv(table, picked, classes), picked, rows, excluded: exclude.size, byClass };
}

function why(s: Suggestion, classes: readonly string[], shares: readonly number[]): string {
  const parts: string[] = [];
  if (s.noveltyRatio > 1) parts.push(`novel (${s.noveltyRatio.toFixed(1)}x the threshold)`);
  const top = classes.map((c, i) => [c, shares[i]!] as const).filter(([, p]) => p > 0).sort((a, b) => b[1] - a[1]).slice(0, 3);
  parts.push(s.margin < 1 ? `split vote ${top.map(([c, p]) => `${c} ${p.toFixed(2)}`).join(', ')}` : `vote ${top[0]![0]}`);
  parts.push(s.group.startsWith('host ') ? s.group : `incident ${s.group.slice(0, 12)}`);
  return parts.join('; ');
}

/** The picked rows as CSV: label (empty), why, then the predictions' own columns. */
function suggestionsCsv(table: Table, picked: readonly Suggestion[], classes: readonly string[]): string {
  const skip = new Set(['neighbour_distances', 'neighbour_rows']);
  const fields = table.schema.fields.filter((f) => !skip.has(f.name));
  const isTime = fields.map((f) => String(f.type).startsWith('Timestamp'));
  const cols = fields.map((f) => table.getChild(f.name)!);
  const pCols = probabilityColumns(classes).map((c) => table.getChild(c)!);
  const lines = [['label', 'why', ...fields.map((f) => f.name)].map(csvCell).join(',')];
  for (const s of picked) {
    const shares = pCols.map((c) => Number(c.get(s.row)));
    const cells = cols.map((c, j) => {
      const v = c.get(s.row) as unknown;
      return isTime[j] && v !== null && v !== undefined ? new Date(Number(v)).toISOString() : csvCell(v);
    });
    lines.push(['', csvCell(why(s, classes, shares)), ...cells].join(','));
  }
  return `${lines.join('\n')}\n`;
}
