import type { Table } from 'apache-arrow';
import type { KnnEngine } from '../engines/engine.js';
import { featureMatrix } from '../features/feature-set.js';
import { Matrix } from '../matrix.js';
import { numberColumn, stringColumn } from '../schema/arrow.js';
import { predict, type KnnModel, type Prediction } from './model.js';
import { noveltyScoreName, noveltyScores, type NoveltyScore } from './novelty.js';
import { predictionsTable, type RowNovelty, type RowOrigin } from './predictions.js';

export interface ClassifyTablesOptions {
  /** What each table is, for errors about its columns (a file name); default `table <i>`. */
  readonly names?: readonly string[];
  /** Metadata of the predictions table (model, engine, date...); a function is called after the search (to name the engine that ran it). */
  readonly meta?: Record<string, string> | (() => Record<string, string>);
  /** The model's novelty calibration (threshold and score form); without it the rows get no novelty columns. */
  readonly novelty?: { readonly threshold: number; readonly score: NoveltyScore };
  /** Novel rows are predicted as this label instead of their vote. */
  readonly unknownLabel?: string;
}

export interface ClassifiedTables {
  readonly table: Table;
  readonly prediction: Prediction;
  readonly novelty?: RowNovelty;
}

/**
 * Classified rows before their predictions table is built: one search over every row, the
 * vote and the novelty, and `table(from, to)`, the predictions table of rows [from, to). The
 * search wants many rows at once (a GPU is fed best so); the table holds a JavaScript value per
 * row and column while it is built, so a caller with many rows builds it a slice at a time.
 */
export interface SearchedTables {
  readonly rows: number;
  readonly prediction: Prediction;
  readonly novelty?: RowNovelty;
  table(from: number, to: number): Table;
}

/**
 * Classifies the rows of tables of per-host features (aggregates, nfdump statistics) as one
 * batch, in table order, into one predictions table: the features each table holds (by name,
 * the model's feature set), one search, the vote, and the novelty of each row against the
 * model's threshold. The rows keep where they came from (`key`, `window_start`, `first_seen`,
 * `source_file`, `source_line`, `note`, `router` when a table has them; null otherwise).
 *
 * Every row is classified on its own (the training rows are its only context), so classifying
 * tables together or one at a time gives the same rows: what lets a file be classified as it
 * arrives and the day again at its end, with the same result.
 */
export async function classifyTables(model: KnnModel, tables: readonly Table[], engine: KnnEngine, options: ClassifyTablesOptions = {}): Promise<ClassifiedTables> {
  const searched = await searchTables(model, tables, engine, options);
  return { table: searched.table(0, searched.rows), prediction: searched.prediction, novelty: searched.novelty };
}

/** classifyTables up to the search and vote; the predictions table built by the slice (SearchedTables). */
export async function searchTables(model: KnnModel, tables: readonly Table[], engine: KnnEngine, options: ClassifyTablesOptions = {}): Promise<SearchedTables> {
  const featureSet = model.train.featureSet;
  const parts = tables.map((t, i) => ({ m: featureMatrix(t, featureSet, options.names?.[i] ?? `table ${i + 1}`), t }));
  const rows = parts.reduce((s, p) => s + p.m.rows, 0);
  const raw = parts.length === 1 ? parts[0]!.m : Matrix.zeros(rows, featureSet.columns.length);
  let at = 0;
  const starts: number[] = [];
  for (const { m } of parts) {
    if (raw !== m) raw.data.set(m.data, at * raw.cols);
    starts.push(at);
    at += m.rows;
  }
  const prediction = await predict(model, raw, engine);
  const meta = typeof options.meta === 'function' ? options.meta() : (options.meta ?? {});
  const c = options.novelty;
  const k = model.config.k;
  const novelty = c === undefined ? undefined : { scores: noveltyScores(prediction.neighbours, k, c.score), threshold: c.threshold, unknownLabel: options.unknownLabel, scoreName: noveltyScoreName(c.score, k) };
  const table = (from: number, to: number): Table => {
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= rows)) throw new RangeError(`rows [${from}, ${to}) of ${rows}`);
    const n = to - from;
    const { neighbours, votes } = prediction;
    const C = votes.classes;
    const slice: Prediction = {
      neighbours: { queries: n, k: neighbours.k, indices: neighbours.indices.subarray(from * neighbours.k, to * neighbours.k), distances: neighbours.distances.subarray(from * neighbours.k, to * neighbours.k) },
      votes: { predicted: votes.predicted.subarray(from, to), probabilities: votes.probabilities.subarray(from * C, to * C), classes: C },
    };
    const d = raw.cols;
    return predictionsTable(model, new Matrix(raw.data.subarray(from * d, to * d), n, d), originOf(parts.map((p, i) => ({ table: p.t, start: starts[i]!, rows: p.m.rows })), from, to), slice, meta, novelty && { ...novelty, scores: novelty.scores.subarray(from, to) });
  };
  return { rows, prediction, novelty, table };
}

/** Where rows [from, to) of the tables (in order, each from its start) came from. */
function originOf(parts: readonly { table: Table; start: number; rows: number }[], from: number, to: number): Required<RowOrigin> {
  const origin: Required<RowOrigin> = { key: [], firstSeen: [], sourceFile: [], sourceLine: [], note: [], windowStart: [], router: [] };
  const orNull = (c: Float64Array | undefined, n: number) => Array.from({ length: n }, (_, i) => (c && !Number.isNaN(c[i]!) ? c[i]! : null));
  // a loop, not push(...rows): a night's million rows would overflow the call stack
  const append = <T>(to: T[], from: ArrayLike<T>) => {
    for (let i = 0; i < from.length; i++) to.push(from[i]!);
  };
  for (const p of parts) {
    const a = Math.max(from, p.start);
    const b = Math.min(to, p.start + p.rows);
    if (a >= b) continue;
    const t = a === p.start && b === p.start + p.rows ? p.table : p.table.slice(a - p.start, b - p.start);
    const n = b - a;
    const nulls = () => Array<null>(n).fill(null);
    append(origin.key, stringColumn(t, 'key') ?? nulls());
    append(origin.firstSeen, orNull(numberColumn(t, 'first_seen'), n));
    append(origin.sourceFile, stringColumn(t, 'source_file') ?? nulls());
    append(origin.sourceLine, orNull(numberColumn(t, 'source_line'), n));
    append(origin.note, stringColumn(t, 'note') ?? nulls());
    append(origin.router, stringColumn(t, 'router') ?? nulls());
    // Aggregates carry their window: predictions keep it, so a label given to a predicted row
    // names the host and window it is about (flowknn label add --predictions).
    append(origin.windowStart, orNull(numberColumn(t, 'window_start'), n));
  }
  return origin;
}
