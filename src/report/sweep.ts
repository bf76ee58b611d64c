/**
 * The sweep report: score against k, the ranked configurations and the chosen one (with its
 * nested estimate), from `flowknn sweep` results or plain rows.
 */
import { formatFixed } from '../eval/format.js';
import type { ModelConfig } from '../knn/model.js';
import { metadataEntries, metricText, type RunMetadata } from './builders.js';
import { sameConfig, sweepChart, type SweepChoice, type SweepRow } from './charts.js';
import type { CellValue, KeyValue, ReportBlock, ReportDocument, ReportSection, TableColumn } from './html.js';

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
