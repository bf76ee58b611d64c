import { Bool, Field, Float64, Int32, List, makeVector, Utf8, vectorFromArray, type Table } from 'apache-arrow';
import { inputError, usageError } from '../errors.js';
import type { KnnModel, Prediction } from './model.js';
import type { Matrix } from '../matrix.js';
import { buildTable, fixedLengthLists, withMetadata, type ColumnValues } from '../schema/arrow.js';
import { SCHEMA_VERSION, utcMillis } from '../schema/tables.js';

/** Where each classified row came from, carried into the predictions. */
export interface RowOrigin {
  key: (string | null)[];
  firstSeen: (number | null)[];
  sourceFile: (string | null)[];
  sourceLine: (number | null)[];
  note: (string | null)[];
  /** Start of the aggregation window the row covers (UTC ms), when the row is a windowed aggregate. */
  windowStart?: (number | null)[];
  /** The router(s) whose archive the row came from (the nightly job's aggregates). */
  router?: (string | null)[];
}

/** Novelty of the classified rows: scores (k-th neighbour distance) against the model's threshold. */
export interface RowNovelty {
  readonly scores: Float64Array;
  readonly threshold: number;
  /** When set, novel rows are predicted as this label (e.g. "unknown") instead of their vote. */
  readonly unknownLabel?: string;
  /** The score's form in words (noveltyScoreName); the k-th neighbour distance when absent. */
  readonly scoreName?: string;
}

/**
 * The probability column of a class: `p_` and the class name in lower case with every character
 * but letters, digits and `_` made `_` (`small-flood` -> `p_small_flood`), so that SQL (DuckDB,
 * Spark, PostgreSQL, which fold unquoted names to lower case) names it without quotes. The class
 * names themselves are kept in the table's `flowknn.classes` metadata, in column order.
 */
export function probabilityColumn(label: string): string {
  return `p_${label.toLowerCase().replace(/[^a-z0-9_]/gu, '_')}`;
}

/** The probability columns of a model's classes, refusing classes that would share one. */
export function probabilityColumns(classes: readonly string[]): string[] {
  const seen = new Map<string, string>();
  return classes.map((c) => {
    const col = probabilityColumn(c);
    const other = seen.get(col);
    if (other !== undefined) {
      throw usageError(`classes "${other}" and "${c}" would share the probability column ${col} (names differing only in case or in -, . and _ are one column)`, 'rename one of the labels');
    }
    seen.set(col, c);
    return col;
  });
}

/**
 * The classes of a predictions table and their probability columns: from `flowknn.classes`, or,
 * in tables written before the columns were renamed (`p_small-flood`), from the column names.
 */
export function predictionClasses(table: Table, file = 'predictions'): { classes: string[]; columns: string[] } {
  const listed = table.schema.metadata.get('flowknn.classes');
  if (listed === undefined) {
    const columns = table.schema.fields.map((f) => f.name).filter((n) => n.startsWith('p_'));
    return { classes: columns.map((n) => n.slice(2)), columns };
  }
  let classes: unknown;
  try {
    classes = JSON.parse(listed);
  } catch {
    classes = undefined;
  }
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw inputError('flowknn.classes metadata is not a JSON list of class names', { file });
  const columns = probabilityColumns(classes as string[]);
  const missing = columns.filter((c) => !table.getChild(c));
  if (missing.length > 0) throw inputError(`no probability column ${missing.join(', ')} for the classes its metadata lists`, { file });
  return { classes: classes as string[], columns };
}

/**
 * `predictions` table: the input row (origin and raw features), the predicted label and its
 * probability, one probability column per class (probabilityColumn: `p_small_flood`), and the k neighbours nearest
 * first: their labels, distances in model space, and training rows (0-based, in train.arrow).
 * With `novelty`: `novelty` (the score), `novel` (score above the threshold) and `voted` (the
 * vote's label, which `predicted` replaces by the unknown label on novel rows when asked to).
 */
export function predictionsTable(model: KnnModel, raw: Matrix, origin: RowOrigin, prediction: Prediction, meta: Record<string, string>, novelty?: RowNovelty): Table {
  const { classes, featureSet } = model.train;
  const n = raw.rows;
  const { neighbours, votes } = prediction;
  const k = neighbours.k;
  const pColumns = probabilityColumns(classes);
  const fields: Field[] = [
    new Field('key', new Utf8(), true),
    new Field('window_start', utcMillis(), true),
    new Field('first_seen', utcMillis(), true),
    new Field('source_file', new Utf8(), true),
    new Field('source_line', new Int32(), true),
    new Field('note', new Utf8(), true),
    new Field('router', new Utf8(), true),
    ...featureSet.columns.map((c) => new Field(c, new Float64(), false)),
    new Field('predicted', new Utf8(), false),
    new Field('probability', new Float64(), false),
    ...(novelty ? [new Field('novelty', new Float64(), false), new Field('novel', new Bool(), false), new Field('voted', new Utf8(), false)] : []),
    ...pColumns.map((c) => new Field(c, new Float64(), false)),
    new Field('neighbour_labels', new List(new Field('item', new Utf8(), false)), false),
    new Field('neighbour_distances', new List(new Field('item', new Float64(), false)), false),
    new Field('neighbour_rows', new List(new Field('item', new Int32(), false)), false),
  ];
  const field = (name: string) => fields.find((f) => f.name === name)!;
  const cols: Record<string, ColumnValues> = {
    key: origin.key,
    window_start: origin.windowStart ?? Array<null>(n).fill(null),
    first_seen: origin.firstSeen,
    source_file: origin.sourceFile,
    source_line: origin.sourceLine,
    note: origin.note,
    router: origin.router ?? Array<null>(n).fill(null),
    predicted: Array.from(votes.predicted, (c, q) => (novelty?.unknownLabel !== undefined && novelty.scores[q]! > novelty.threshold ? novelty.unknownLabel : classes[c]!)),
    probability: Float64Array.from(votes.predicted, (c, q) => votes.probabilities[q * classes.length + c]!),
    // One flat vector per list column: a JavaScript array per row costs seconds on a big night.
    neighbour_labels: fixedLengthLists(field('neighbour_labels'), vectorFromArray(Array.from(neighbours.indices.subarray(0, n * k), (i) => classes[model.train.labels[i]!]!), new Utf8()), n, k),
    neighbour_distances: fixedLengthLists(field('neighbour_distances'), makeVector(neighbours.distances.subarray(0, n * k)), n, k),
    neighbour_rows: fixedLengthLists(field('neighbour_rows'), makeVector(neighbours.indices.subarray(0, n * k)), n, k),
  };
  if (novelty) {
    if (novelty.scores.length !== n) throw new Error(`novelty: ${novelty.scores.length} scores for ${n} rows`);
    cols.novelty = novelty.scores;
    cols.novel = Array.from(novelty.scores, (s) => s > novelty.threshold);
    cols.voted = Array.from(votes.predicted, (c) => classes[c]!);
  }
  featureSet.columns.forEach((c, j) => {
    cols[c] = Float64Array.from({ length: n }, (_, i) => raw.data[i * raw.cols + j]!);
  });
  pColumns.forEach((c, ci) => {
    cols[c] = Float64Array.from({ length: n }, (_, q) => votes.probabilities[q * classes.length + ci]!);
  });
  const noveltyMeta = novelty ? { 'flowknn.novelty_threshold': String(novelty.threshold), 'flowknn.novelty_score': novelty.scoreName ?? `distance to the k-th nearest training row (k = ${k}, model space)`, ...(novelty.unknownLabel !== undefined ? { 'flowknn.unknown_label': novelty.unknownLabel } : {}) } : {};
  const schema = withMetadata(fields, { 'flowknn.kind': 'predictions', 'flowknn.schema_version': SCHEMA_VERSION, 'flowknn.classes': JSON.stringify(classes), ...noveltyMeta, ...meta });
  return buildTable(schema, cols, n);
}
