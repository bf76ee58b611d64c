/**
 * Report documents for flowknn's results: an evaluation (classification report, confusion
 * matrix, per-class scores, the training data), a sweep (score against k, ranked
 * configurations) and classified rows (drawn over the training data, novelty, alerts). Each
 * builder returns a ReportDocument; `renderReport` turns it into HTML, and its sections can be
 * combined (e.g. a sweep report followed by the chosen configuration's evaluation).
 */
import type { Evaluation } from '../eval/evaluate.js';
import { formatFixed } from '../eval/format.js';
import { classificationReport, type ClassificationReport, type ConfusionMatrix } from '../eval/metrics.js';
import type { LabelledSet } from '../knn/labelled-set.js';
import type { ModelConfig } from '../knn/model.js';
import { classScoresChart, confusionChart, noveltyChart, sameConfig, scatterChart, siNumber, sweepChart, type ScatterPoint, type SweepChoice, type SweepRow } from './charts.js';
import type { CellValue, KeyValue, ReportBlock, ReportDocument, ReportSection, TableColumn, TableData } from './html.js';
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

function metricText(metric: ModelConfig['metric'] | string): string {
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

// ---------------------------------------------------------------- sweep

export interface NestedEstimate {
  readonly accuracy: number;
  readonly macroF1: number;
  readonly accuracyStd?: number;
  readonly macroF1Std?: number;
  /** How the outer estimate was made, e.g. "10 x 5 nested folds". */
  readonly description?: string;
}

export interface SweepReportOptions {
  readonly title?: string;
  /** The selection protocol, e.g. "10-fold stratified, 5 repeats". */
  readonly protocol?: string;
  readonly nested?: NestedEstimate;
  readonly meta?: RunMetadata;
  /** Configurations listed in the ranked table (default 20; the chosen one is always listed). */
  readonly top?: number;
  /** Sections appended after the sweep's (e.g. evaluationSections of the chosen configuration). */
  readonly more?: readonly ReportSection[];
}

function pm(mean: number, std: number | undefined): string {
  return std === undefined ? formatFixed(mean, 3) : `${formatFixed(mean, 3)} ± ${formatFixed(std, 3)}`;
}

/** What sweepRowsFrom needs of a sweep result (src/eval/sweep.ts SweepResult fits). */
export interface SweepResultLike {
  readonly configurations: readonly { readonly config: ModelConfig; readonly rank?: number; readonly accuracy: { mean: number; std: number }; readonly macroF1: { mean: number; std: number } }[];
  readonly chosen: { readonly config: ModelConfig };
}

/** Plain rows (and the chosen configuration) from a sweep result. */
export function sweepRowsFrom(res: SweepResultLike): { rows: SweepRow[]; chosen: SweepChoice } {
  const choice = (c: ModelConfig): SweepChoice => ({ k: c.k, metric: metricText(c.metric), scaler: c.scaler, weights: c.weights });
  return {
    rows: res.configurations.map((c) => ({ ...choice(c.config), rank: c.rank, accuracy: c.accuracy.mean, accuracyStd: c.accuracy.std, macroF1: c.macroF1.mean, macroF1Std: c.macroF1.std })),
    chosen: choice(res.chosen.config),
  };
}

/** Rows ranked best first: by their own rank when every row has one (the sweep's ranking),
 *  else by macro F1, then accuracy, then smaller k (ties keep the given order). */
export function rankSweep(rows: readonly SweepRow[]): SweepRow[] {
  if (rows.length > 0 && rows.every((r) => r.rank !== undefined)) return [...rows].sort((a, b) => a.rank! - b.rank!);
  return [...rows].sort((a, b) => b.macroF1 - a.macroF1 || b.accuracy - a.accuracy || a.k - b.k);
}

export function sweepSections(rows: readonly SweepRow[], chosen: SweepChoice | undefined, options: SweepReportOptions = {}): ReportSection[] {
  const sections: ReportSection[] = [];
  const best = chosen ? rows.find((r) => sameConfig(r, chosen)) : undefined;
  if (chosen) {
    const entries: KeyValue[] = [{ key: 'configuration', value: `k = ${chosen.k}, ${chosen.metric}, scaler ${chosen.scaler}, ${chosen.weights} votes` }];
    if (best) {
      entries.push({ key: 'accuracy', value: pm(best.accuracy, best.accuracyStd) }, { key: 'macro F1', value: pm(best.macroF1, best.macroF1Std) });
    }
    if (options.nested) {
      const n = options.nested;
      entries.push({
        key: 'nested estimate',
        value: `accuracy ${pm(n.accuracy, n.accuracyStd)}, macro F1 ${pm(n.macroF1, n.macroF1Std)}${n.description ? ` (${n.description})` : ''}`,
      });
    }
    const blocks: ReportBlock[] = [{ kind: 'keyvalue', entries }];
    if (options.nested) {
      blocks.push({ kind: 'text', text: 'The nested estimate repeats the whole selection inside each outer fold: it says how well choosing this way does on rows the choice never saw, and is the figure to expect on new data.' });
    }
    sections.push({ heading: 'Chosen configuration', blocks });
  }
  sections.push({
    heading: 'Score against k',
    blocks: [
      {
        kind: 'chart',
        chart: sweepChart(rows, chosen),
        caption: `Mean score over the folds${options.protocol ? ` (${options.protocol})` : ''} for each k; colour: scaler, dash: metric.${chosen ? ' The ringed point is the chosen configuration.' : ''}`,
      },
    ],
  });
  const ranked = rankSweep(rows);
  const top = options.top ?? 20;
  const listed = ranked.slice(0, top);
  if (chosen && best && !listed.some((r) => sameConfig(r, chosen))) listed.push(best);
  const hasStd = rows.some((r) => r.accuracyStd !== undefined || r.macroF1Std !== undefined);
  const f3 = (v: CellValue) => (typeof v === 'number' ? formatFixed(v, 3) : '');
  const columns: TableColumn[] = [
    { key: 'rank', title: 'rank', align: 'right' },
    { key: 'k', title: 'k', align: 'right' },
    { key: 'metric', title: 'metric' },
    { key: 'scaler', title: 'scaler' },
    { key: 'weights', title: 'weights' },
    { key: 'macroF1', title: 'macro F1', align: 'right', format: f3 },
    ...(hasStd ? [{ key: 'macroF1Std', title: '± sd', align: 'right' as const, format: f3 }] : []),
    { key: 'accuracy', title: 'accuracy', align: 'right', format: f3 },
    ...(hasStd ? [{ key: 'accuracyStd', title: '± sd', align: 'right' as const, format: f3 }] : []),
  ];
  sections.push({
    heading: 'Ranked configurations',
    blocks: [
      {
        kind: 'table',
        table: {
          columns,
          rows: listed.map((r) => ({ rank: ranked.indexOf(r) + 1, k: r.k, metric: r.metric, scaler: r.scaler, weights: r.weights, macroF1: r.macroF1, macroF1Std: r.macroF1Std, accuracy: r.accuracy, accuracyStd: r.accuracyStd })),
          highlight: chosen ? listed.flatMap((r, i) => (sameConfig(r, chosen) ? [i] : [])) : [],
          caption: `${listed.length < ranked.length ? `The best ${Math.min(top, ranked.length)} of ${ranked.length} configurations` : `All ${ranked.length} configurations`}, ${rows.every((r) => r.rank !== undefined) ? 'in the sweep’s ranking' : 'by macro F1 then accuracy'}${chosen ? '; the chosen one is marked' : ''}.`,
        },
      },
    ],
  });
  sections.push(...(options.more ?? []));
  return sections;
}

/** A report of a sweep over k, metrics, weights and scalers. */
export function sweepReport(rows: readonly SweepRow[], chosen: SweepChoice | undefined, options: SweepReportOptions = {}): ReportDocument {
  const metrics = new Set(rows.map((r) => r.metric));
  const scalers = new Set(rows.map((r) => r.scaler));
  const weights = new Set(rows.map((r) => r.weights));
  const ks = rows.map((r) => r.k);
  const metadata: KeyValue[] = [
    ...(options.protocol ? [{ key: 'protocol', value: options.protocol }] : []),
    { key: 'grid', value: `k ${Math.min(...ks)}..${Math.max(...ks)}; metrics ${[...metrics].join(', ')}; scalers ${[...scalers].join(', ')}; weights ${[...weights].join(', ')} (${rows.length} configurations)` },
    ...metadataEntries(options.meta),
  ];
  return {
    title: options.title ?? 'flowknn sweep',
    subtitle: chosen ? `Chosen: k = ${chosen.k}, ${chosen.metric}, scaler ${chosen.scaler}, ${chosen.weights} votes` : undefined,
    metadata,
    sections: sweepSections(rows, chosen, options),
  };
}

// ---------------------------------------------------------------- classified rows

/** One classified row, as the predictions table holds it. */
export interface ClassifiedRow {
  readonly key?: string | null;
  /** Where it came from, e.g. "file:line". */
  readonly source?: string | null;
  readonly note?: string | null;
  /** Its window's start (ISO 8601), for rows of a window (the nightly job's). */
  readonly window?: string | null;
  readonly flows: number;
  readonly bps: number;
  readonly pps: number;
  readonly predicted: string;
  /** Vote share of the predicted class. */
  readonly probability?: number;
  /** The neighbours' labels, nearest first. */
  readonly neighbours?: readonly string[];
  /** Novelty score, when the run scored novelty. */
  readonly novelty?: number;
}

export interface ClassifiedReportInput {
  readonly title?: string;
  /** Class order (colours, legend). */
  readonly classes: readonly string[];
  /** Training rows to draw under the classified ones. */
  readonly training?: LabelledSet | readonly ScatterPoint[];
  readonly rows: readonly ClassifiedRow[];
  /** Rows' `novelty` scores against this threshold (higher is novel unless said otherwise). */
  readonly novelty?: { readonly threshold: number; readonly scoreName?: string; readonly higherIsNovel?: boolean };
  /** A ready table of alerts (generic rows) to show instead of the novel rows. */
  readonly alerts?: TableData;
  readonly meta?: RunMetadata;
  /** Rows listed at most in each table (default 50). */
  readonly maxRows?: number;
  /** When `rows` is a sample: the counts of every row, by predicted class, for the class table. */
  readonly totals?: { readonly rows: number; readonly byClass: Readonly<Record<string, number>> };
}

function classifiedColumns(withNovelty: boolean): TableColumn[] {
  const si = (v: CellValue) => (typeof v === 'number' ? siNumber(v) : '');
  return [
    { key: 'source', title: 'source', wrap: true },
    { key: 'key', title: 'host' },
    { key: 'predicted', title: 'predicted' },
    { key: 'probability', title: 'votes', align: 'right', format: (v) => (typeof v === 'number' ? formatFixed(v, 2) : '') },
    ...(withNovelty ? [{ key: 'novelty', title: 'novelty', align: 'right' as const, format: (v: CellValue) => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : '') }] : []),
    { key: 'flows', title: 'flows', align: 'right', format: si },
    { key: 'bps', title: 'bps', align: 'right', format: si },
    { key: 'pps', title: 'pps', align: 'right', format: si },
    { key: 'neighbours', title: 'neighbours (nearest first)', wrap: true },
    { key: 'note', title: 'note', wrap: true },
  ];
}

/** Labels nearest first, repeats folded: "tivoli ×2, http". */
export function runs(labels: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < labels.length; ) {
    let j = i;
    while (j < labels.length && labels[j] === labels[i]) j++;
    out.push(j - i > 1 ? `${labels[i]} ×${j - i}` : labels[i]!);
    i = j;
  }
  return out.join(', ');
}

function classifiedCells(r: ClassifiedRow): Record<string, CellValue> {
  return {
    source: r.source ?? '',
    key: r.key ?? '',
    predicted: r.predicted,
    probability: r.probability,
    novelty: r.novelty,
    flows: r.flows,
    bps: r.bps,
    pps: r.pps,
    neighbours: r.neighbours ? runs(r.neighbours) : '',
    note: r.note ?? '',
  };
}

/** What a chart mark says about its row (its SVG <title>): host, window, class. */
export function markTitle(r: Pick<ClassifiedRow, 'key' | 'window' | 'source' | 'predicted' | 'novelty'>): string {
  const where = r.window ? `window ${r.window.slice(0, 16).replace('T', ' ')} UTC` : r.source ? r.source : null;
  return [r.key ?? 'row', where, `predicted ${r.predicted}`].filter(Boolean).join(', ');
}

export function classifiedSections(input: ClassifiedReportInput): ReportSection[] {
  const max = input.maxRows ?? 50;
  const sections: ReportSection[] = [];
  const training = input.training === undefined ? [] : Array.isArray(input.training) ? (input.training as readonly ScatterPoint[]) : (scatterPoints(input.training as LabelledSet) ?? []);
  const counts = new Map<string, { n: number; p: number }>();
  for (const r of input.rows) {
    const c = counts.get(r.predicted) ?? { n: 0, p: 0 };
    c.n++;
    c.p += r.probability ?? Number.NaN;
    counts.set(r.predicted, c);
  }
  const totals = input.totals;
  const order = [...input.classes, ...[...new Set([...counts.keys(), ...Object.keys(totals?.byClass ?? {})])].filter((k) => !input.classes.includes(k))];
  const total = totals?.rows ?? input.rows.length;
  sections.push({
    heading: 'Predictions by class',
    blocks: [
      {
        kind: 'table',
        table: {
          columns: [
            { key: 'label', title: 'predicted class' },
            { key: 'rows', title: 'rows', align: 'right' },
            { key: 'share', title: 'share', align: 'right', format: (v) => (typeof v === 'number' ? `${formatFixed(v * 100, 1)}%` : '') },
            { key: 'votes', title: 'mean vote share', align: 'right', format: (v) => (typeof v === 'number' && !Number.isNaN(v) ? formatFixed(v, 2) : '') },
          ],
          rows: order.map((label) => {
            const c = counts.get(label) ?? { n: 0, p: 0 };
            const n = totals ? (totals.byClass[label] ?? 0) : c.n;
            return { label, rows: n, share: total === 0 ? 0 : n / total, votes: c.n === 0 ? Number.NaN : c.p / c.n };
          }),
          footer: [{ label: 'total', rows: total, share: 1, votes: null }],
          caption: totals && totals.rows > input.rows.length ? `Counts over all ${total} rows; mean vote share over the ${input.rows.length} drawn.` : undefined,
        },
      },
    ],
  });
  const points: ScatterPoint[] = input.rows.map((r) => ({ flows: r.flows, bps: r.bps, pps: r.pps, label: r.predicted, tip: markTitle(r) }));
  const scatterBlocks: ReportBlock[] = [
    {
      kind: 'chart',
      chart: scatterChart({ classes: input.classes, training, classified: points }),
      caption:
        training.length > 0
          ? `${input.rows.length} classified rows (outlined diamonds, coloured by prediction) over ${training.length} training rows (circles, coloured by class); log axes, marker area by pps.`
          : `${input.rows.length} classified rows, coloured by prediction; log axes, marker area by pps.`,
    },
  ];
  sections.push({ heading: training.length > 0 ? 'Classified rows over the training data' : 'Classified rows', blocks: scatterBlocks });
  const scored = input.rows.filter((r) => r.novelty !== undefined && Number.isFinite(r.novelty));
  const withNovelty = input.novelty !== undefined && scored.length > 0;
  if (withNovelty) {
    const n = input.novelty!;
    const higher = n.higherIsNovel ?? true;
    sections.push({
      heading: 'Novelty scores',
      blocks: [
        {
          kind: 'chart',
          chart: noveltyChart({ scores: scored.map((r) => r.novelty!), threshold: n.threshold, scoreName: n.scoreName, higherIsNovel: higher }),
          caption: `Distribution of ${n.scoreName ?? 'novelty scores'} over ${scored.length} rows; rows ${higher ? 'above' : 'below'} the threshold (${Number(n.threshold.toPrecision(4))}) are reported as novel.`,
        },
      ],
    });
  }
  if (input.alerts) {
    sections.push({ heading: 'Top alerts', blocks: [{ kind: 'table', table: input.alerts }] });
  } else if (withNovelty) {
    const n = input.novelty!;
    const higher = n.higherIsNovel ?? true;
    const novel = scored.filter((r) => (higher ? r.novelty! > n.threshold : r.novelty! < n.threshold)).sort((a, b) => (higher ? b.novelty! - a.novelty! : a.novelty! - b.novelty!));
    sections.push({
      heading: 'Novel rows',
      blocks: [
        {
          kind: 'table',
          table: {
            columns: classifiedColumns(true),
            rows: novel.slice(0, max).map(classifiedCells),
            caption: novel.length > max ? `The ${max} most novel of ${novel.length} rows beyond the threshold.` : `${novel.length} rows beyond the threshold, most novel first.`,
            empty: 'No row is beyond the threshold.',
          },
        },
      ],
    });
  }
  sections.push({
    heading: 'Classified rows',
    blocks: [
      {
        kind: 'table',
        table: {
          columns: classifiedColumns(withNovelty),
          rows: input.rows.slice(0, max).map(classifiedCells),
          caption: input.rows.length > max ? `The first ${max} of ${input.rows.length} rows, in input order.` : `All ${input.rows.length} rows, in input order. votes: share of the neighbours' votes for the prediction.`,
          empty: 'No rows were classified.',
        },
      },
    ],
  });
  return sections;
}

/** A report of classified rows (a classify or nightly run). */
export function classifiedReport(input: ClassifiedReportInput): ReportDocument {
  return {
    title: input.title ?? 'flowknn classification',
    subtitle: `${input.rows.length} rows classified into ${input.classes.length} classes`,
    metadata: metadataEntries(input.meta),
    sections: classifiedSections(input),
  };
}
