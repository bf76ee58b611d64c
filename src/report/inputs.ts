/** Reading the files `flowknn report` draws: evaluation JSON, predictions tables, sweep rows. */
import type { Table } from 'apache-arrow';
import { z } from 'zod';
import { inputError, usageError, unreadable } from '../errors.js';
import { readArrowFile } from '../schema/arrow.js';
import { predictionClasses } from '../knn/predictions.js';
import type { EvaluationJson } from './builders.js';
import { classifiedRowReader, type ClassifiedRow } from '../knn/classified-rows.js';
import type { NestedEstimate } from './sweep.js';
import type { SweepChoice, SweepRow } from './charts.js';
import { readJsonFile, schemaProblem } from '../io/json.js';
import { metricLabel } from '../engines/metrics.js';

const readJson = (path: string, what: string): Promise<unknown> => readJsonFile(path, (err) => usageError(`${what}: ${path}: ${unreadable(err)}`));

const evaluationSchema = z.object({
  protocol: z.object({ name: z.string(), folds: z.number().int(), seed: z.number().optional(), test_fraction: z.number().optional() }),
  config: z.object({ scaler: z.string(), k: z.number().int(), metric: z.object({ name: z.string(), p: z.number().optional() }), weights: z.string() }),
  engine: z.string().optional(),
  classes: z.array(z.string()).min(1),
  confusion_matrix: z.object({ labels: z.array(z.string()).min(1), matrix: z.array(z.array(z.number().int().min(0))) }),
});

/**
 * The JSON `flowknn evaluate --out FILE` (or `--format json`) writes: scikit-learn's report
 * dictionary with flowknn's details under `flowknn`, or, as evaluate wrote it before, those
 * details at the top level.
 */
export async function readEvaluationJson(path: string): Promise<EvaluationJson> {
  const raw = await readJson(path, '--evaluation');
  const own = raw !== null && typeof raw === 'object' && 'flowknn' in raw ? (raw as { flowknn: unknown }).flowknn : raw;
  const parsed = evaluationSchema.safeParse(own);
  if (!parsed.success) {
    throw inputError(`not an evaluation result: ${schemaProblem(parsed.error).message}`, { file: path }, 'write one with flowknn evaluate ... --out FILE.json');
  }
  const cm = parsed.data.confusion_matrix;
  const n = cm.labels.length;
  if (cm.matrix.length !== n || cm.matrix.some((r) => r.length !== n)) {
    throw inputError(`confusion_matrix.matrix must be ${n} x ${n} (one row and column per label)`, { file: path });
  }
  return parsed.data;
}

export interface PredictionsFile {
  /** Class order, as the table lists its probability columns. */
  readonly classes: string[];
  readonly rows: ClassifiedRow[];
  /** The table's flowknn.* metadata (model, engine, inputs...). */
  readonly metadata: Record<string, string>;
}

/**
 * A predictions table written by `flowknn classify --out` (predictions.arrow). `noveltyColumn`
 * names a numeric column of novelty scores, when the run wrote one.
 */
export async function readPredictions(path: string, noveltyColumn?: string): Promise<PredictionsFile> {
  if (!/\.arrow$/iu.test(path)) throw usageError(`--predictions: ${path} is not an Arrow file`, 'give the predictions.arrow that flowknn classify --out DIR writes');
  return predictionsFromTable(await readArrowFile(path), path, noveltyColumn);
}

/** The rows of a predictions table in memory (what `flowknn classify` builds before writing it). */
export function predictionsFromTable(table: Table, path = 'predictions', noveltyColumn?: string): PredictionsFile {
  const rowAt = classifiedRowReader(table, path, noveltyColumn);
  const { classes } = predictionClasses(table, path);
  const metadata = Object.fromEntries([...table.schema.metadata.entries()]);
  const rows: ClassifiedRow[] = [];
  for (let i = 0; i < table.numRows; i++) rows.push(rowAt(i));
  return { classes, rows, metadata };
}

const num = z.number();
const score = z.union([num, z.object({ mean: num, std: num.optional() })]);
const metricField = z.union([z.string(), z.object({ name: z.string(), p: z.number().optional() })]);
const sweepRowSchema = z
  .object({
    k: z.number().int().min(1),
    rank: z.number().int().min(1).optional(),
    metric: metricField,
    p: z.number().optional(),
    scaler: z.string(),
    weights: z.string(),
    accuracy: score,
    macroF1: score.optional(),
    macro_f1: score.optional(),
    accuracyStd: num.optional(),
    accuracy_std: num.optional(),
    macroF1Std: num.optional(),
    macro_f1_std: num.optional(),
  })
  .refine((r) => r.macroF1 !== undefined || r.macro_f1 !== undefined, { message: 'needs macroF1 (or macro_f1)' });

type RawSweepRow = z.infer<typeof sweepRowSchema>;

const choiceSchema = z.object({ k: z.number().int(), metric: metricField, p: z.number().optional(), scaler: z.string(), weights: z.string() });
const nestedSchema = z.object({
  accuracy: score,
  macro_f1: score,
  outer: z.object({ folds: z.number(), repeats: z.number() }).partial().optional(),
  outer_folds: z.number().optional(),
});
const sweepFileSchema = z.union([
  z.array(sweepRowSchema),
  z.object({
    // flowknn sweep --json: rows is the labelled row count, the configurations are the rows.
    rows: z.union([z.array(sweepRowSchema), z.number()]).optional(),
    configurations: z.array(sweepRowSchema).optional(),
    chosen: choiceSchema.optional(),
    nested: nestedSchema.optional(),
    engine: z.string().optional(),
    protocol: z.object({ name: z.string(), folds: z.number().optional(), repeats: z.number().optional() }).optional(),
  }),
]);

function metricName(m: RawSweepRow['metric'], p?: number): string {
  if (typeof m !== 'string') return metricName(m.name, m.p);
  return metricLabel({ name: m, p });
}

const mean = (s: z.infer<typeof score>) => (typeof s === 'number' ? s : s.mean);
const std = (s: z.infer<typeof score> | undefined) => (s === undefined || typeof s === 'number' ? undefined : s.std);

export interface SweepFile {
  readonly rows: SweepRow[];
  readonly chosen?: SweepChoice;
  readonly nested?: NestedEstimate;
  /** e.g. "stratified 10-fold x 5 repeats". */
  readonly protocol?: string;
  readonly engine?: string;
}

/**
 * Sweep rows: the JSON `flowknn sweep --json FILE` writes ({configurations, chosen, nested,
 * protocol, engine}), or plain rows: an array of {k, metric, scaler, weights, accuracy,
 * macroF1 (or macro_f1), optional accuracyStd/macroF1Std (or _std)}, or {rows, chosen}.
 */
export async function readSweepRows(path: string): Promise<SweepFile> {
  const parsed = sweepFileSchema.safeParse(await readJson(path, '--sweep'));
  const hint = 'give the JSON flowknn sweep --json FILE writes, or an array of {k, metric, scaler, weights, accuracy, macroF1}';
  if (!parsed.success) throw inputError(`not sweep rows: ${schemaProblem(parsed.error).message}`, { file: path }, hint);
  const d = parsed.data;
  const raw = Array.isArray(d) ? d : (d.configurations ?? (Array.isArray(d.rows) ? d.rows : []));
  if (raw.length === 0) throw inputError('holds no sweep rows', { file: path }, hint);
  const rows: SweepRow[] = raw.map((r) => {
    const f1 = (r.macroF1 ?? r.macro_f1)!;
    return {
      k: r.k,
      rank: r.rank,
      metric: metricName(r.metric, r.p),
      scaler: r.scaler,
      weights: r.weights,
      accuracy: mean(r.accuracy),
      macroF1: mean(f1),
      accuracyStd: r.accuracyStd ?? r.accuracy_std ?? std(r.accuracy),
      macroF1Std: r.macroF1Std ?? r.macro_f1_std ?? std(f1),
    };
  });
  if (Array.isArray(d)) return { rows };
  const c = d.chosen;
  const n = d.nested;
  const p = d.protocol;
  return {
    rows,
    chosen: c ? { k: c.k, metric: metricName(c.metric, c.p), scaler: c.scaler, weights: c.weights } : undefined,
    nested: n
      ? {
          accuracy: mean(n.accuracy),
          accuracyStd: std(n.accuracy),
          macroF1: mean(n.macro_f1),
          macroF1Std: std(n.macro_f1),
          description: n.outer?.folds !== undefined ? `outer stratified ${n.outer.folds}-fold x ${n.outer.repeats ?? 1}${n.outer_folds !== undefined ? `, ${n.outer_folds} outer folds` : ''}` : undefined,
        }
      : undefined,
    protocol: p ? (p.name === 'loo' ? 'leave-one-out' : p.name === 'kfold' ? `stratified ${p.folds ?? '?'}-fold x ${p.repeats ?? 1} repeats` : p.name) : undefined,
    engine: d.engine,
  };
}
