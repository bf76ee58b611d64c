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
      rows: input.rows,
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
