import type { LabelledSet } from '../model/labelled.js';
import type { Alert, Manifest, Summary } from '../pipeline/outputs.js';
import { classifiedSections, formatDuration, metadataEntries, type ClassifiedRow } from './builders.js';
import { siNumber } from './charts.js';
import type { CellValue, ReportDocument, ReportSection, TableData } from './html.js';

export interface NightlyReportInput {
  readonly summary: Summary;
  readonly manifest: Manifest;
  readonly rows: readonly ClassifiedRow[];
  readonly alerts: readonly Alert[];
  readonly training?: LabelledSet;
  readonly maxRows?: number;
  /** Rows drawn at most in the charts (default 5000): a big night is drawn from a sample. */
  readonly maxDrawn?: number;
}

/**
 * At most `max` rows, in their order: an even sample, plus the most novel rows (up to a tenth
 * of the budget) so that what stands out is drawn even when the sample would miss it.
 */
export function drawnRows(rows: readonly ClassifiedRow[], max: number): ClassifiedRow[] {
  if (rows.length <= max) return [...rows];
  const keep = new Set<number>();
  const notable = Math.floor(max / 10);
  const byNovelty = rows
    .map((r, i) => [r.novelty ?? Number.NEGATIVE_INFINITY, i] as const)
    .filter(([v]) => Number.isFinite(v))
    .sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of byNovelty.slice(0, notable)) keep.add(i);
  const stride = rows.length / (max - keep.size);
  for (let x = 0; keep.size < max && x < rows.length; x += stride) keep.add(Math.floor(x));
  return [...keep].sort((a, b) => a - b).map((i) => rows[i]!);
}

const si = (v: CellValue) => (typeof v === 'number' ? siNumber(v) : '');

function alertsTable(alerts: readonly Alert[], max: number): TableData {
  // Novel rows first (most novel first), then class alerts by pps: what an operator looks at first.
  const ranked = [...alerts].sort((a, b) => Number(b.novel) - Number(a.novel) || (b.novelty ?? 0) - (a.novelty ?? 0) || b.pps - a.pps);
  return {
    columns: [
      { key: 'window', title: 'window (UTC)' },
      { key: 'key', title: 'host' },
      { key: 'predicted', title: 'predicted' },
      { key: 'reasons', title: 'why', wrap: true },
      { key: 'novelty', title: 'novelty', align: 'right', format: (v) => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : '') },
      { key: 'flows', title: 'flows', align: 'right', format: si },
      { key: 'pps', title: 'pps', align: 'right', format: si },
      { key: 'bps', title: 'bps', align: 'right', format: si },
      { key: 'source', title: 'input', wrap: true },
    ],
    rows: ranked.slice(0, max).map((a) => ({
      window: a.window_start ? a.window_start.slice(0, 16).replace('T', ' ') : '',
      key: a.key ?? '',
      predicted: a.predicted,
      reasons: a.reasons.join(', '),
      novelty: a.novelty ?? undefined,
      flows: a.flows,
      pps: a.pps,
      bps: a.bps,
      source: a.source_file ?? '',
    })),
    caption: alerts.length > max ? `The first ${max} of ${alerts.length} alerts: novel rows first, then by pps.` : `${alerts.length} alerts: novel rows first, then by pps. All of them are in alerts.ndjson.`,
    empty: 'No alerts.',
  };
}

/** The report of one nightly run: what ran, what it found, what failed. */
export function nightlyReport(input: NightlyReportInput): ReportDocument {
  const s = input.summary;
  const max = input.maxRows ?? 50;
  const drawn = drawnRows(input.rows, input.maxDrawn ?? 5000);
  const model = s.model.name ? `${s.model.name} v${s.model.version} (${s.model.created})` : `${s.model.dir} (${s.model.created})`;
  const sections: ReportSection[] = [];
  sections.push({
    heading: 'Run',
    blocks: [
      {
        kind: 'keyvalue',
        entries: [
          { key: 'status', value: s.status === 'complete' ? 'complete: every input read' : `partial: ${s.inputs.failed} of ${s.inputs.selected} inputs failed` },
          { key: 'inputs', value: `${s.inputs.ok} read (${s.inputs.reused} from an earlier run), ${s.inputs.failed} failed, of ${s.inputs.selected} nfcapd files` },
          { key: 'flows', value: s.flows.toLocaleString('en-US') },
          { key: 'aggregates classified', value: s.rows.toLocaleString('en-US') },
          { key: 'alerts', value: `${s.alerts}${Object.keys(s.alerts_by_class).length > 0 ? ` (${Object.entries(s.alerts_by_class).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}` },
          { key: 'novel rows', value: s.model.novelty_threshold === null ? 'not scored (the model has no novelty threshold)' : `${s.novel} beyond ${Number(s.model.novelty_threshold.toPrecision(4))}` },
          { key: 'rejected lines', value: s.rejects },
        ],
      },
      ...(drawn.length < input.rows.length
        ? [
            {
              kind: 'text' as const,
              text: `This night has ${input.rows.length.toLocaleString('en-US')} classified rows: the charts and the row tables below show ${drawn.length.toLocaleString('en-US')} of them, an even sample plus the ${Math.floor((input.maxDrawn ?? 5000) / 10)} most novel. The counts above, the alerts table and the files (predictions, alerts.ndjson) cover every row.`,
            },
          ]
        : []),
    ],
  });
  const failed = input.manifest.inputs.filter((i) => i.status === 'failed');
  if (failed.length > 0) {
    sections.push({
      heading: 'Failed inputs',
      blocks: [
        {
          kind: 'table',
          table: {
            columns: [
              { key: 'path', title: 'input' },
              { key: 'error', title: 'error', wrap: true },
            ],
            rows: failed.slice(0, max).map((f) => ({ path: f.path, error: f.error ?? '' })),
            caption: `${failed.length} inputs failed; the others were classified. A rerun retries them.`,
          },
        },
      ],
    });
  }
  const threshold = s.model.novelty_threshold;
  sections.push(
    ...classifiedSections({
      classes: s.model.classes,
      training: input.training,
      rows: drawn,
      totals: drawn.length < input.rows.length ? { rows: s.rows, byClass: s.predicted } : undefined,
      novelty: threshold === null ? undefined : { threshold, scoreName: `distance to the k-th nearest training row (k = ${s.model.k}, model space)` },
      alerts: alertsTable(input.alerts, max),
      maxRows: max,
    }),
  );
  return {
    title: `flowknn nightly ${s.date}`,
    subtitle: `${s.rows} aggregates from ${s.inputs.ok} nfcapd files classified with ${model}: ${s.alerts} alerts`,
    metadata: metadataEntries({
      engine: s.engine.name,
      device: s.engine.device ?? undefined,
      modelVersion: model,
      inputs: [`${input.manifest.archive_root} (${s.inputs.selected} files)`],
      timings: s.timings_ms,
      extra: [
        { key: 'model', value: `k = ${s.model.k}, ${s.model.metric}, ${s.model.scaler} scaling, ${s.model.weights} votes` },
        { key: 'config', value: `${s.config.file} (sha256 ${s.config.digest.slice(0, 12)})` },
        { key: 'started', value: s.started },
        { key: 'duration', value: formatDuration(s.timings_ms.total ?? 0) },
      ],
    }),
    sections,
  };
}
