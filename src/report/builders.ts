/**
 * Report documents for flowknn's results: an evaluation (classification report, confusion
 * matrix, per-class scores, the training data) here, a sweep in sweep.ts and classified rows
 * in classified.ts, with the run metadata they share. Each builder returns a ReportDocument;
 * `renderReport` turns it into HTML, and its sections can be combined (e.g. a sweep report
 * followed by the chosen configuration's evaluation).
 */
import type { Evaluation } from '../eval/evaluate.js';
import { formatFixed } from '../eval/format.js';
import { classificationReport, type ClassificationReport, type ConfusionMatrix } from '../eval/metrics.js';
import type { LabelledSet } from '../knn/labelled-set.js';
import type { ModelConfig } from '../knn/model.js';
import { classScoresChart, confusionChart, scatterChart, siNumber, type ScatterPoint } from './charts.js';
import type { CellValue, KeyValue, ReportDocument, ReportSection, TableColumn, TableData } from './html.js';
import { metricLabel } from '../engines/metrics.js';

// ---------------------------------------------------------------- run metadata

/** What ran, where and how long: the report's key/value list. */
export interface RunMetadata {
  /** Search engine that ran (cpu, webgpu, tfjs). */
  readonly engine?: string;
  /** The device it ran on (GPU adapter, or CPU threads). */
  readonly device?: string;
  /** Model version: tool version, creation time, training-data hash... */
  readonly modelVersion?: string;
  /** Input files. */
  readonly inputs?: readonly string[];
  /** Named durations in milliseconds (e.g. { search: 812, total: 1430 }). */
  readonly timings?: Readonly<Record<string, number>>;
  /** Anything else, in order. */
  readonly extra?: readonly KeyValue[];
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Number(ms.toPrecision(3))} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toPrecision(3))} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function metadataEntries(meta: RunMetadata = {}): KeyValue[] {
  const out: KeyValue[] = [];
  if (meta.engine !== undefined) out.push({ key: 'engine', value: meta.engine });
  if (meta.device !== undefined) out.push({ key: 'device', value: meta.device });
  if (meta.modelVersion !== undefined) out.push({ key: 'model version', value: meta.modelVersion });
  if (meta.inputs !== undefined && meta.inputs.length > 0) out.push({ key: meta.inputs.length === 1 ? 'input' : 'inputs', value: [...meta.inputs] });
  if (meta.timings !== undefined) {
    const t = Object.entries(meta.timings);
    if (t.length > 0) out.push({ key: 'timings', value: t.map(([name, ms]) => `${name}: ${formatDuration(ms)}`) });
  }
  out.push(...(meta.extra ?? []));
  return out;
}

export function metricText(metric: ModelConfig['metric'] | string): string {
  if (typeof metric === 'string') return metric;
  return metricLabel(metric);
}

// ---------------------------------------------------------------- training rows as points

/** flows, bps and pps of each labelled row, labelled by class (for the scatter plot). */
export function scatterPoints(set: LabelledSet): ScatterPoint[] | undefined {
  const cols = set.featureSet.columns;
  const [f, b, p] = ['flows', 'bps', 'pps'].map((c) => cols.indexOf(c));
  if (f! < 0 || b! < 0 || p! < 0) return undefined;
  const m = set.features;
  return Array.from(set.labels, (l, i) => ({ flows: m.data[i * m.cols + f!]!, bps: m.data[i * m.cols + b!]!, pps: m.data[i * m.cols + p!]!, label: set.classes[l]! }));
}

// ---------------------------------------------------------------- evaluation

/** An evaluation's results in plain form: from `evaluate()` or from `flowknn evaluate --out` JSON. */
export interface EvaluationData {
  readonly protocol: string;
  readonly folds: number;
  readonly seed?: number;
  readonly testFraction?: number;
  readonly config: { readonly scaler: string; readonly k: number; readonly metric: string; readonly weights: string };
  readonly engine?: string;
  readonly report: ClassificationReport;
  readonly confusion: ConfusionMatrix;
  /** Per-row results, when known: row indices into the labelled set, true and predicted class. */
  readonly rows?: ArrayLike<number>;
  readonly truth?: ArrayLike<number>;
  readonly predicted?: ArrayLike<number>;
}

export function evaluationData(ev: Evaluation, engine?: string): EvaluationData {
  const p = ev.protocol;
  return {
    protocol: p.name,
    folds: ev.folds,
    seed: p.name === 'kfold' || p.name === 'holdout' ? p.seed : undefined,
    testFraction: p.name === 'holdout' ? p.testFraction : undefined,
    config: { scaler: ev.config.scaler, k: ev.config.k, metric: metricText(ev.config.metric), weights: ev.config.weights },
    engine,
    report: ev.report,
    confusion: ev.confusion,
    rows: ev.rows,
    truth: ev.truth,
    predicted: ev.predicted,
  };
}

/** The evaluation JSON that `flowknn evaluate --out FILE` writes (already validated). */
export interface EvaluationJson {
  protocol: { name: string; folds: number; seed?: number; test_fraction?: number };
  config: { scaler: string; k: number; metric: { name: string; p?: number }; weights: string };
  engine?: string;
  classes: string[];
  confusion_matrix: { labels: string[]; matrix: number[][] };
}

/** The report numbers are recomputed from the confusion matrix: the same definitions as
 *  `evaluate`, so the same digits as its text report. */
export function evaluationDataFromJson(json: EvaluationJson): EvaluationData {
  const confusion: ConfusionMatrix = { labels: json.confusion_matrix.labels, matrix: json.confusion_matrix.matrix };
  return {
    protocol: json.protocol.name,
    folds: json.protocol.folds,
    seed: json.protocol.seed,
    testFraction: json.protocol.test_fraction,
    config: { scaler: json.config.scaler, k: json.config.k, metric: metricLabel(json.config.metric), weights: json.config.weights },
    engine: json.engine,
    report: classificationReport(confusion),
    confusion,
  };
}

/** The classification report as a table, the numbers printed as the text report prints them. */
export function classificationTable(report: ClassificationReport, digits = 2, caption?: string): TableData {
  const num = (v: CellValue) => (typeof v === 'number' ? formatFixed(v, digits) : '');
  const int = (v: CellValue) => (typeof v === 'number' ? String(v) : '');
  const columns: TableColumn[] = [
    { key: 'label', title: 'class' },
    { key: 'precision', title: 'precision', align: 'right', format: num },
    { key: 'recall', title: 'recall', align: 'right', format: num },
    { key: 'f1', title: 'f1-score', align: 'right', format: num },
    { key: 'support', title: 'support', align: 'right', format: int },
  ];
  return {
    columns,
    caption,
    rows: report.classes.map((c) => ({ label: c.label, precision: c.precision, recall: c.recall, f1: c.f1, support: c.support })),
    footer: [
      { label: 'accuracy', precision: null, recall: null, f1: report.accuracy, support: report.total },
      { label: 'macro avg', ...report.macroAvg },
      { label: 'weighted avg', ...report.weightedAvg },
    ],
  };
}

function protocolText(d: EvaluationData): string {
  switch (d.protocol) {
    case 'loo':
      return `leave-one-out (${d.folds} folds)`;
    case 'kfold':
      return `stratified ${d.folds}-fold${d.seed !== undefined ? `, seed ${d.seed}` : ''}`;
    case 'holdout':
      return `stratified holdout${d.testFraction !== undefined ? ` (${Math.round(d.testFraction * 100)}% of each class tested)` : ''}${d.seed !== undefined ? `, seed ${d.seed}` : ''}`;
    case 'resubstitution':
      return 'resubstitution (the training rows predicted themselves: optimistic)';
    default:
      return `${d.protocol} (${d.folds} folds)`;
  }
}

export interface EvaluationReportInput {
  /** From `evaluate()`, or EvaluationData (e.g. parsed from the evaluation JSON). */
  readonly evaluation: Evaluation | EvaluationData;
  /** The labelled rows evaluated: the scatter plot and the misclassified rows need them. */
  readonly set?: LabelledSet;
  /** Engine name (when `evaluation` is an Evaluation, which does not carry it). */
  readonly engine?: string;
  readonly meta?: RunMetadata;
  readonly title?: string;
  /** Decimals in the classification report (default 2, as the text report). */
  readonly digits?: number;
  /** Misclassified rows listed at most (default 50). */
  readonly maxRows?: number;
}

function isEvaluation(e: Evaluation | EvaluationData): e is Evaluation {
  return typeof (e as Evaluation).protocol === 'object';
}

/** Sections of an evaluation: report, confusion matrix, per-class bars, training data, mistakes. */
export function evaluationSections(input: EvaluationReportInput): ReportSection[] {
  const d = isEvaluation(input.evaluation) ? evaluationData(input.evaluation, input.engine) : input.evaluation;
  const r = d.report;
  const digits = input.digits ?? 2;
  const sections: ReportSection[] = [];
  const honesty =
    d.protocol === 'resubstitution'
      ? ' Resubstitution predicts the training rows themselves (each row is its own nearest neighbour): the figures are optimistic; compare configurations with leave-one-out or k-fold.'
      : ' Every row was predicted by a model that did not see it; the scaler was fitted on each fold’s training rows only.';
  sections.push({
    heading: 'Classification report',
    blocks: [
      {
        kind: 'text',
        text: `Accuracy ${formatFixed(r.accuracy, 3)} and macro F1 ${formatFixed(r.macroAvg.f1, 3)} over ${r.total} rows, ${protocolText(d)}.${honesty}`,
      },
      { kind: 'table', table: classificationTable(r, digits, 'precision: of the rows predicted as the class, the share that are; recall: of the rows of the class, the share found; support: rows of the class.') },
    ],
  });
  sections.push({
    heading: 'Confusion matrix',
    blocks: [
      {
        kind: 'chart',
        chart: confusionChart(d.confusion),
        caption: 'One row per true class, one column per predicted class, in class order; off-diagonal cells are the mistakes. The shade is the cell’s share of its row (the class’s recall on the diagonal).',
      },
    ],
  });
  sections.push({ heading: 'Scores per class', blocks: [{ kind: 'chart', chart: classScoresChart(r), caption: 'Precision, recall and F1 of each class, as in the classification report.' }] });
  if (input.set) {
    const training = scatterPoints(input.set);
    if (training) {
      sections.push({
        heading: 'Training data',
        blocks: [
          {
            kind: 'chart',
            chart: scatterChart({ classes: input.set.classes, training }),
            caption: `The ${training.length} labelled rows, one colour per class, as the seed study drew them: log axes, marker area by pps.`,
          },
        ],
      });
    }
    const mistakes = mistakesTable(input.set, d, input.maxRows ?? 50);
    if (mistakes) sections.push({ heading: 'Misclassified rows', blocks: [{ kind: 'table', table: mistakes }] });
  }
  return sections;
}

function mistakesTable(set: LabelledSet, d: EvaluationData, max: number): TableData | undefined {
  if (!d.rows || !d.truth || !d.predicted) return undefined;
  const cols = set.featureSet.columns;
  const at = (row: number, name: string) => {
    const j = cols.indexOf(name);
    return j < 0 ? null : set.features.data[row * set.features.cols + j]!;
  };
  const wrong: Record<string, CellValue>[] = [];
  let total = 0;
  for (let i = 0; i < d.rows.length; i++) {
    if (d.truth[i] === d.predicted[i]) continue;
    total++;
    if (wrong.length >= max) continue;
    const row = d.rows[i]!;
    wrong.push({
      source: `${baseName(set.sourceFile[row] ?? '')}:${set.sourceLine[row]}`,
      key: set.keys[row] ?? '',
      truth: set.classes[d.truth[i]!] ?? '',
      predicted: set.classes[d.predicted[i]!] ?? '',
      flows: at(row, 'flows'),
      bps: at(row, 'bps'),
      pps: at(row, 'pps'),
    });
  }
  const si = (v: CellValue) => (typeof v === 'number' ? siNumber(v) : '');
  return {
    columns: [
      { key: 'source', title: 'file:line', wrap: true },
      { key: 'key', title: 'host' },
      { key: 'truth', title: 'true class' },
      { key: 'predicted', title: 'predicted' },
      { key: 'flows', title: 'flows', align: 'right', format: si },
      { key: 'bps', title: 'bps', align: 'right', format: si },
      { key: 'pps', title: 'pps', align: 'right', format: si },
    ],
    rows: wrong,
    caption: total > wrong.length ? `The first ${wrong.length} of ${total} misclassified rows, in file order.` : `All ${total} misclassified rows, in file order.`,
    empty: 'No row was misclassified.',
  };
}

function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? path : path.slice(i + 1);
}

/** A report of one evaluation. */
export function evaluationReport(input: EvaluationReportInput): ReportDocument {
  const d = isEvaluation(input.evaluation) ? evaluationData(input.evaluation, input.engine) : input.evaluation;
  const c = d.config;
  const metadata: KeyValue[] = [
    { key: 'protocol', value: protocolText(d) },
    { key: 'configuration', value: `k = ${c.k}, ${c.metric}, scaler ${c.scaler}, ${c.weights} votes` },
    { key: 'classes', value: d.confusion.labels.join(', ') },
    { key: 'rows evaluated', value: d.report.total },
    ...metadataEntries({ ...input.meta, engine: input.meta?.engine ?? input.engine ?? d.engine }),
  ];
  return {
    title: input.title ?? 'flowknn evaluation',
    subtitle: `${d.report.total} rows, k = ${c.k}, ${c.metric}, scaler ${c.scaler}, ${c.weights} votes: accuracy ${formatFixed(d.report.accuracy, 3)}, macro F1 ${formatFixed(d.report.macroAvg.f1, 3)}`,
    metadata,
    sections: evaluationSections({ ...input, evaluation: d }),
  };
}
