/**
 * The report of classified rows (a classify or nightly run): predictions by class, the rows
 * drawn over the training data, novelty scores, alerts or novel rows, and the rows themselves
 * with their neighbours' labels.
 */
import { formatFixed } from '../eval/format.js';
import type { LabelledSet } from '../knn/labelled-set.js';
import { metadataEntries, scatterPoints, type RunMetadata } from './builders.js';
import { noveltyChart, scatterChart, siNumber, type ScatterPoint } from './charts.js';
import type { CellValue, ReportBlock, ReportDocument, ReportSection, TableColumn, TableData } from './html.js';

export type { ClassifiedRow } from '../knn/classified-rows.js';
import type { ClassifiedRow } from '../knn/classified-rows.js';

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
