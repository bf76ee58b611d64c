/**
 * The report's charts. Each builder takes plain data (no model or engine types), so any command
 * can draw them, and returns a Chart: SVG rendered on the server by Vega-Lite + Vega.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite, type Chart } from './vega.js';

export type { Chart } from './vega.js';

/** Colours by class order (Tableau 10, as Vega-Lite uses), so a class keeps its colour in every chart. */
export const CLASS_COLOURS = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** Colour of class number i (class order), cycling after ten. */
export function classColour(i: number): string {
  return CLASS_COLOURS[i % CLASS_COLOURS.length]!;
}

/** Labels in class order, then any other labels seen (e.g. a prediction outside the classes). */
function labelDomain(classes: readonly string[], seen: Iterable<string>): string[] {
  const domain = [...classes];
  for (const l of seen) if (!domain.includes(l)) domain.push(l);
  return domain;
}

/** Smallest and largest of many values (a loop: spreading a million values into Math.min overflows the stack). */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Powers of ten covering [min, max] (both > 0): a log scale's domain and its tick values. */
export function decades(values: readonly number[]): { domain: [number, number]; ticks: number[] } {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return { domain: [1, 10], ticks: [1, 10] };
  const [min, max] = extent(positive);
  let lo = Math.floor(Math.log10(min));
  let hi = Math.ceil(Math.log10(max));
  if (hi === lo) hi += 1;
  const step = hi - lo > 10 ? 2 : 1;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += step) ticks.push(Number(`1e${e}`));
  return { domain: [Number(`1e${lo}`), Number(`1e${hi}`)], ticks };
}

/** Vega expression: 1, 10, 100, 1k, 10k, 1M, 1G ... (SI prefixes), plain decimals below 1. */
export const SI_LABEL = "datum.value >= 1 ? format(datum.value, '~s') : format(datum.value, '~g')";

/** The same labels in TypeScript (tables and captions). */
export function siNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a < 1000) return a >= 100 || Number.isInteger(v) ? String(Math.round(v * 10) / 10) : String(Number(v.toPrecision(3)));
  const units = ['k', 'M', 'G', 'T', 'P', 'E'];
  let x = v;
  let u = -1;
  while (Math.abs(x) >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${Number(x.toPrecision(3))}${units[u]}`;
}

// ---------------------------------------------------------------- scatter (the seed study's plot)

export interface ScatterPoint {
  readonly flows: number;
  readonly bps: number;
  readonly pps: number;
  /** Class (training rows) or predicted class (classified rows). */
  readonly label: string;
  /** What the mark's SVG <title> says (default: the row kind and its class). */
  readonly tip?: string;
}

export interface ScatterData {
  /** Class order: fixes colours and legend order. */
  readonly classes: readonly string[];
  /** Labelled rows, coloured by class. */
  readonly training: readonly ScatterPoint[];
  /** Classified rows, coloured by prediction and drawn as outlined diamonds on top. */
  readonly classified?: readonly ScatterPoint[];
  readonly width?: number;
  readonly height?: number;
}

/**
 * Flows against bps, marker area by pps, log axes (the seed study's scatter plot). Rows whose
 * flows or bps are not positive cannot sit on a log axis: they are left out, counted in
 * `hidden` and said in `notes` (printed under the chart).
 */
export async function scatterChart(data: ScatterData): Promise<Chart & { hidden: number }> {
  const classified = data.classified ?? [];
  const drawable = (p: ScatterPoint) => p.flows > 0 && p.bps > 0 && Number.isFinite(p.flows) && Number.isFinite(p.bps);
  // Big markers first, so that small ones are drawn on top and stay visible.
  const byArea = (a: { pps: number }, b: { pps: number }) => b.pps - a.pps;
  const rows = [
    ...data.training.filter(drawable).map((p) => ({ flows: p.flows, bps: p.bps, pps: Math.max(0, p.pps || 0), label: p.label, row: 'training', tip: p.tip ?? `training row, ${p.label}` })).sort(byArea),
    ...classified.filter(drawable).map((p) => ({ flows: p.flows, bps: p.bps, pps: Math.max(0, p.pps || 0), label: p.label, row: 'classified', tip: p.tip ?? `classified row, predicted ${p.label}` })).sort(byArea),
  ];
  const hidden = data.training.length + classified.length - rows.length;
  const x = decades(rows.map((r) => r.flows));
  const y = decades(rows.map((r) => r.bps));
  const maxPps = Math.max(1, ...rows.map((r) => r.pps));
  const sizeTicks = decades([1, maxPps]).ticks.filter((t) => t <= maxPps && t >= 1);
  const sizeValues = sizeTicks.length > 4 ? sizeTicks.filter((_, i) => (sizeTicks.length - 1 - i) % Math.ceil(sizeTicks.length / 4) === 0) : sizeTicks;
  const domain = labelDomain(data.classes, rows.map((r) => r.label));
  const colour = {
    field: 'label',
    type: 'nominal',
    title: classified.length > 0 ? 'class / prediction' : 'class',
    scale: { domain, range: domain.map((_, i) => classColour(i)) },
    legend: { symbolType: 'circle', symbolOpacity: 0.9, orient: 'right' },
  };
  const size = {
    field: 'pps',
    type: 'quantitative',
    title: 'pps (marker area)',
    scale: { type: 'symlog', domain: [0, maxPps], range: [36, 420] },
    legend: { values: sizeValues, labelExpr: SI_LABEL, symbolFillColor: '#888', symbolStrokeColor: '#888', symbolOpacity: 0.6, orient: 'right' },
  };
  const encoding = {
    x: { field: 'flows', type: 'quantitative', title: 'flows (log scale)', scale: { type: 'log', domain: x.domain, nice: false, padding: 10 }, axis: { values: x.ticks, labelExpr: SI_LABEL, grid: true } },
    y: { field: 'bps', type: 'quantitative', title: 'bps, bits per second (log scale)', scale: { type: 'log', domain: y.domain, nice: false, padding: 10 }, axis: { values: y.ticks, labelExpr: SI_LABEL, grid: true } },
    color: colour,
    size,
    // each mark's <title> (vega.ts turns the description into one)
    description: { field: 'tip', type: 'nominal' },
  };
  const shape = { field: 'row', type: 'nominal', title: 'rows', scale: { domain: ['training', 'classified'], range: ['circle', 'diamond'] }, legend: { orient: 'right', symbolFillColor: '#888', symbolStrokeColor: '#000' } };
  const layer: unknown[] = [
    {
      transform: [{ filter: "datum.row === 'training'" }],
      mark: { type: 'point', filled: true, opacity: 0.55, strokeWidth: 0 },
      encoding: classified.length > 0 ? { ...encoding, shape } : encoding,
    },
  ];
  if (classified.length > 0) {
    layer.push({
      transform: [{ filter: "datum.row === 'classified'" }],
      mark: { type: 'point', filled: true, opacity: 0.95, stroke: '#111', strokeWidth: 1.3 },
      encoding: { ...encoding, shape, size: { ...size, scale: { ...size.scale, range: [70, 520] }, legend: null } },
    });
  }
  const spec = {
    width: data.width ?? 560,
    height: data.height ?? 400,
    data: { values: rows },
    layer,
    resolve: { scale: { size: 'independent' } },
  } as unknown as TopLevelSpec;
  const title = classified.length > 0 ? 'Classified rows over the training data: flows against bps, marker area by pps' : 'Training data: flows against bps, marker area by pps';
  const chart = await renderVegaLite('scatter', title, spec);
  const notes = hidden === 0 ? [] : [`${hidden} row${hidden === 1 ? '' : 's'} with zero flows or bps cannot sit on log axes and ${hidden === 1 ? 'is' : 'are'} not drawn.`];
  return { ...chart, hidden, notes };
}

// ---------------------------------------------------------------- confusion matrix

export interface ConfusionData {
  readonly labels: readonly string[];
  /** matrix[true][predicted] */
  readonly matrix: readonly (readonly number[])[];
}

/** Heatmap, one row per true class and one column per predicted class, counts in the cells;
 *  the shade is the cell's share of its true class (so small classes are as visible as big). */
export async function confusionChart(cm: ConfusionData): Promise<Chart> {
  const cells = cm.labels.flatMap((t, i) => {
    const rowTotal = cm.matrix[i]!.reduce((s, v) => s + v, 0);
    return cm.labels.map((p, j) => {
      const count = cm.matrix[i]![j]!;
      const share = rowTotal === 0 ? 0 : count / rowTotal;
      return { truth: t, predicted: p, count, share, dark: share > 0.55 };
    });
  });
  const cell = Math.max(34, Math.min(64, Math.floor(420 / Math.max(1, cm.labels.length))));
  const order = [...cm.labels];
  const spec = {
    width: cell * cm.labels.length,
    height: cell * cm.labels.length,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted class', axis: { orient: 'top', labelAngle: -35, labelAlign: 'left', domain: false, ticks: false, labelPadding: 4 } },
      y: { field: 'truth', type: 'nominal', sort: order, title: 'true class', axis: { domain: false, ticks: false, labelPadding: 4 } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: '#c8c8c8', strokeWidth: 0.5 },
        encoding: {
          color: { field: 'share', type: 'quantitative', title: 'share of true class', scale: { domain: [0, 1], range: ['#ffffff', '#08519c'], interpolate: 'rgb' }, legend: { format: '.0%', orient: 'right', gradientLength: Math.max(80, cell * cm.labels.length - 40) } },
        },
      },
      {
        mark: { type: 'text', fontSize: cell >= 48 ? 13 : 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative', format: 'd' },
          color: { condition: [{ test: 'datum.dark', value: '#fff' }, { test: 'datum.count === 0', value: '#999' }], value: '#111' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
  return renderVegaLite('confusion', 'Confusion matrix: rows true class, columns predicted class, counts in the cells', spec);
}

// ---------------------------------------------------------------- per-class scores

export interface ClassScoresData {
  readonly classes: readonly { readonly label: string; readonly precision: number; readonly recall: number; readonly f1: number; readonly support?: number }[];
}

export const SCORE_COLOURS = ['#9ecae1', '#4292c6', '#08306b'];

/** Grouped horizontal bars: precision, recall and F1 per class, value at the end of each bar. */
export async function classScoresChart(data: ClassScoresData): Promise<Chart> {
  const metrics = ['precision', 'recall', 'F1'];
  const values = data.classes.flatMap((c) => [
    { label: c.label, metric: 'precision', value: c.precision },
    { label: c.label, metric: 'recall', value: c.recall },
    { label: c.label, metric: 'F1', value: c.f1 },
  ]);
  const order = data.classes.map((c) => c.label);
  const spec = {
    width: 420,
    height: { step: 13 },
    data: { values },
    encoding: {
      y: { field: 'label', type: 'nominal', sort: order, title: null, axis: { labelPadding: 6, ticks: false } },
      yOffset: { field: 'metric', type: 'nominal', sort: metrics, scale: { domain: metrics, paddingInner: 0.05 } },
      x: { field: 'value', type: 'quantitative', title: 'score', scale: { domain: [0, 1.08], nice: false }, axis: { values: [0, 0.2, 0.4, 0.6, 0.8, 1], format: '.1f' } },
    },
    layer: [
      {
        mark: { type: 'bar', height: { band: 0.9 } },
        encoding: { color: { field: 'metric', type: 'nominal', title: null, sort: metrics, scale: { domain: metrics, range: SCORE_COLOURS }, legend: { orient: 'bottom', direction: 'horizontal' } } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 9, color: '#222' },
        encoding: { text: { field: 'value', type: 'quantitative', format: '.2f' } },
      },
    ],
  } as unknown as TopLevelSpec;
  return renderVegaLite('class-scores', 'Precision, recall and F1 per class', spec);
}

// ---------------------------------------------------------------- sweep curves

/** One configuration's cross-validated scores, as `flowknn sweep` produces them. */
export interface SweepRow {
  readonly k: number;
  readonly metric: string;
  readonly scaler: string;
  readonly weights: string;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly accuracyStd?: number;
  readonly macroF1Std?: number;
  /** The sweep's own rank (1 = best), when it ranked the rows. */
  readonly rank?: number;
}

export type SweepChoice = Pick<SweepRow, 'k' | 'metric' | 'scaler' | 'weights'>;

export function sameConfig(a: SweepChoice, b: SweepChoice): boolean {
  return a.k === b.k && a.metric === b.metric && a.scaler === b.scaler && a.weights === b.weights;
}

const DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [3, 5], [10, 4]];

/**
 * Score against k: one line per metric x scaler (colour: scaler, dash: metric), one panel per
 * score (accuracy, macro F1) and weighting. The chosen configuration is ringed.
 */
export async function sweepChart(rows: readonly SweepRow[], chosen?: SweepChoice): Promise<Chart> {
  const scalers = [...new Set(rows.map((r) => r.scaler))];
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const weights = [...new Set(rows.map((r) => r.weights))];
  if (rows.length === 0) throw new Error('sweepChart: no rows to draw');
  const several = weights.length > 1;
  const values = rows.flatMap((r) => {
    const isChosen = chosen !== undefined && sameConfig(r, chosen);
    const row = { k: r.k, metric: r.metric, scaler: r.scaler, chosen: isChosen };
    return [
      { ...row, panel: panelName('accuracy', r.weights, several), value: r.accuracy },
      { ...row, panel: panelName('macro F1', r.weights, several), value: r.macroF1 },
    ];
  });
  const ks = rows.map((r) => r.k);
  let kMin = Math.min(...ks);
  let kMax = Math.max(...ks);
  const kTicks: number[] = [];
  const kStep = Math.max(1, Math.ceil((kMax - kMin) / 8));
  for (let k = kMin; k <= kMax; k += kStep) kTicks.push(k);
  if (kMin === kMax) {
    kMin -= 1;
    kMax += 1;
  }
  const [lo, hi] = extent(values.map((v) => v.value));
  const pad = Math.max(0.01, (hi - lo) * 0.05);
  const yDomain = [Math.max(0, Math.floor((lo - pad) * 50) / 50), Math.min(1, Math.ceil((hi + pad) * 50) / 50)];
  const panels = weights.flatMap((w) => ['accuracy', 'macro F1'].map((sc) => panelName(sc, w, several)));
  const panelWidth = kMax - kMin > 20 ? 380 : 300;
  const spec = {
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 12.5, labelPadding: 6 } },
    columns: 2,
    spacing: { column: 28, row: 22 },
    spec: {
      width: panelWidth,
      height: 220,
      encoding: {
        x: { field: 'k', type: 'quantitative', title: 'k (neighbours)', scale: { domain: [kMin, kMax], nice: false, zero: false, padding: 8 }, axis: { values: kTicks, format: 'd', grid: true } },
        y: { field: 'value', type: 'quantitative', title: 'score (mean over folds)', scale: { domain: yDomain, nice: false, zero: false }, axis: { format: '.2f', tickCount: 6 } },
      },
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.6, opacity: 0.9, point: kMax - kMin <= 20 ? { size: 14, filled: true } : false },
          encoding: {
            color: { field: 'scaler', type: 'nominal', sort: scalers, scale: { domain: scalers, range: scalers.map((_, i) => classColour(i)) }, legend: { orient: 'right', title: 'scaler' } },
            strokeDash: { field: 'metric', type: 'nominal', sort: metrics, scale: { domain: metrics, range: metrics.map((_, i) => DASHES[i % DASHES.length]) }, legend: { orient: 'right', title: 'metric', symbolType: 'stroke', symbolSize: 400, symbolStrokeWidth: 1.8 } },
            detail: [{ field: 'metric' }, { field: 'scaler' }],
          },
        },
        {
          transform: [{ filter: 'datum.chosen' }],
          mark: { type: 'point', shape: 'circle', size: 170, filled: false, stroke: '#000', strokeWidth: 2 },
        },
      ],
    },
  } as unknown as TopLevelSpec;
  return renderVegaLite('sweep', 'Score against k, one line per metric and scaler', spec);
}

// ---------------------------------------------------------------- novelty scores

export interface NoveltyData {
  readonly scores: readonly number[];
  readonly threshold: number;
  /** What the score is (axis title), e.g. "distance to the nearest training row". */
  readonly scoreName?: string;
  /** true (default): scores above the threshold are novel. */
  readonly higherIsNovel?: boolean;
}

/** Histogram of novelty scores, flagged rows in red, the threshold as a labelled rule. */
export async function noveltyChart(data: NoveltyData): Promise<Chart> {
  const higher = data.higherIsNovel ?? true;
  const finite = data.scores.filter((s) => Number.isFinite(s));
  const [lo, hi] = extent([data.threshold, ...finite.values()]);
  const span = hi > lo ? hi - lo : Math.abs(hi) || 1;
  // Distances are never negative: the axis starts at 0 then, not just below it.
  const binExtent = [lo >= 0 ? Math.max(0, lo - span * 0.02) : lo - span * 0.02, hi + span * 0.02];
  const values = finite.map((score) => ({ score, flag: (higher ? score > data.threshold : score < data.threshold) ? 'novel' : 'known' }));
  const flagged = values.filter((v) => v.flag === 'novel').length;
  const spec = {
    width: 520,
    height: 200,
    layer: [
      {
        data: { values },
        mark: { type: 'bar', binSpacing: 1 },
        encoding: {
          x: { field: 'score', type: 'quantitative', bin: { maxbins: 40, extent: binExtent }, title: data.scoreName ?? 'novelty score', axis: { format: '~g', labelOverlap: 'greedy', labelFlush: true, labelSeparation: 4 } },
          y: { aggregate: 'count', type: 'quantitative', title: 'rows', axis: { tickMinStep: 1, format: 'd' } },
          color: {
            field: 'flag',
            type: 'nominal',
            title: null,
            scale: { domain: ['known', 'novel'], range: ['#9ecae1', '#d62728'] },
            legend: { orient: 'right', labelExpr: `datum.label === 'novel' ? 'novel (${flagged})' : 'within threshold (${values.length - flagged})'` },
          },
        },
      },
      {
        data: { values: [{ threshold: data.threshold, label: `threshold ${fmtG(data.threshold)}` }] },
        mark: { type: 'rule', color: '#000', strokeWidth: 1.5, strokeDash: [5, 3] },
        encoding: { x: { field: 'threshold', type: 'quantitative' } },
      },
      {
        data: { values: [{ threshold: data.threshold, label: `threshold ${fmtG(data.threshold)}` }] },
        mark: { type: 'text', align: 'center', baseline: 'bottom', dy: -4, fontSize: 11, color: '#000' },
        encoding: { x: { field: 'threshold', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
      },
    ],
  } as unknown as TopLevelSpec;
  return renderVegaLite('novelty', 'Novelty scores with the threshold', spec);
}

function panelName(score: string, weights: string, withWeights: boolean): string {
  return withWeights ? `${score}, ${weights} votes` : score;
}

function fmtG(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
}
