import type { LabelledSet } from '../knn/labelled-set.js';
import type { KnnModel } from '../knn/model.js';
import { noveltyScoreName } from '../knn/novelty.js';
import type { Incident } from '../pipeline/incidents.js';
import type { Alert, Manifest, NightFiles, Summary } from '../pipeline/outputs.js';
import { formatDuration, metadataEntries } from './builders.js';
import { classifiedSections, type ClassifiedRow } from './classified.js';
import { siNumber } from './charts.js';
import { historySection, readNightHistory, type NightHistory } from './history.js';
import type { CellValue, ReportDocument, ReportSection, TableData } from './html.js';
import { predictionsFromTable } from './inputs.js';
import { DrawnSample } from '../pipeline/sample.js';
import { incidentProfiles, profilesSection, type IncidentProfiles } from './profiles.js';

export interface NightlyReportInput {
  readonly summary: Summary;
  readonly manifest: Manifest;
  readonly rows: readonly ClassifiedRow[];
  /** Set when `rows` is already the drawn sample (DrawnSample) of a night of this many rows. */
  readonly total?: number;
  readonly alerts: readonly Alert[];
  /** Ranked as incidents.ndjson holds them (severity, then size). */
  readonly incidents?: readonly Incident[];
  readonly training?: LabelledSet;
  readonly maxRows?: number;
  /** Rows drawn at most in the charts (default 5000): a big night is drawn from a sample. */
  readonly maxDrawn?: number;
  /** The previous nights (readNightHistory): drawn right after tonight's incidents. */
  readonly history?: NightHistory;
  /** The top incidents over all seven features (incidentProfiles). */
  readonly profiles?: IncidentProfiles;
}

/**
 * At most `max` rows, in their order: an even sample, plus the most novel rows (up to a tenth
 * of the budget) so that what stands out is drawn even when the sample would miss it (DrawnSample).
 */
export function drawnRows(rows: readonly ClassifiedRow[], max: number): ClassifiedRow[] {
  const sample = new DrawnSample<ClassifiedRow>(rows.length, max, rows.some((r) => r.novelty !== undefined && Number.isFinite(r.novelty)));
  sample.offer(0, rows.length, Float64Array.from(rows, (r) => r.novelty ?? Number.NaN), (i) => rows[i]!);
  return sample.rows();
}

const si = (v: CellValue) => (typeof v === 'number' ? siNumber(v) : '');

function alertsTable(alerts: readonly Alert[], max: number): TableData {
  // Novel rows first (most novel first), then class alerts by pps: what an operator looks at first.
  const ranked = [...alerts].sort((a, b) => Number(b.novel) - Number(a.novel) || (b.novelty ?? 0) - (a.novelty ?? 0) || b.pps - a.pps);
  // several routers' archives read together: which router saw it
  const routers = new Set(alerts.flatMap((a) => (a.router ? a.router.split(',') : [])));
  return {
    columns: [
      { key: 'window', title: 'window (UTC)' },
      { key: 'key', title: 'host' },
      ...(routers.size > 1 ? [{ key: 'router', title: 'router' }] : []),
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
      router: a.router ?? '',
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

/** hh:mm - hh:mm on the night's own date, else with the dates (a window past midnight UTC). */
const span = (i: Incident) => {
  const [a, b] = [i.event.start, i.event.end].map((t) => (t.slice(0, 10) === i.flowknn.date ? t.slice(11, 16) : t.slice(0, 16).replace('T', ' ')));
  return `${a} - ${b}`;
};
const top = (list: { value: string }[] | null | undefined) => (list && list.length > 0 ? list[0]!.value : '');

/** The open incidents, ranked: what needs attention tonight. */
function incidentsTable(incidents: readonly Incident[], max: number): TableData {
  // incidents.ndjson of a version before routers has none
  const routersOf = (i: Incident) => (i.flowknn as { routers?: string[] }).routers ?? [];
  const several = new Set(incidents.flatMap(routersOf)).size > 1;
  return {
    columns: [
      { key: 'severity', title: 'severity' },
      { key: 'rule', title: 'class' },
      { key: 'host', title: 'host' },
      ...(several ? [{ key: 'routers', title: 'router' }] : []),
      { key: 'direction', title: 'direction' },
      { key: 'span', title: 'UTC' },
      { key: 'pps', title: 'peak pps', align: 'right', format: si },
      { key: 'bps', title: 'peak bps', align: 'right', format: si },
      { key: 'packets', title: 'packets', align: 'right', format: si },
      { key: 'peer', title: 'top peer' },
      { key: 'port', title: 'port' },
      { key: 'id', title: 'id' },
    ],
    rows: incidents.slice(0, max).map((i) => ({
      severity: i.flowknn.severity,
      rule: i.flowknn.novelty_only ? `novelty (${Object.keys(i.flowknn.predicted).join(', ')})` : i.rule.name,
      host: i.flowknn.host,
      routers: routersOf(i).join(', '),
      direction: i.network.direction,
      span: span(i),
      pps: i.flowknn.peak_pps,
      bps: i.flowknn.peak_bps,
      packets: i.network.packets,
      peer: top(i.flowknn.drilldown?.peers),
      port: top(i.flowknn.drilldown?.ports),
      id: i.event.id.slice(0, 8),
    })),
    caption: `${incidents.length > max ? `The first ${max} of ${incidents.length}` : `All ${incidents.length}`} open incidents, ranked by severity, then packets: alert windows of one host and class joined while they touch (a novel window beside a flood joins it). Top peer and port by bytes, from the drill-down; each incident, with its nfdump command and top 10 lists, is a line of incidents.ndjson (id: the first digits of its event.id).`,
    empty: 'No incident tonight.',
  };
}

function suppressedTable(incidents: readonly Incident[], max: number): TableData {
  return {
    columns: [
      { key: 'rule', title: 'class' },
      { key: 'host', title: 'host' },
      { key: 'span', title: 'time (UTC)' },
      { key: 'windows', title: 'windows', align: 'right' },
      { key: 'packets', title: 'packets', align: 'right', format: si },
      { key: 'by', title: 'rule' },
      { key: 'reason', title: 'reason', wrap: true },
    ],
    rows: incidents.slice(0, max).map((i) => ({
      rule: i.rule.name,
      host: i.flowknn.host,
      span: span(i),
      windows: i.flowknn.windows,
      packets: i.network.packets,
      by: i.flowknn.suppression ? `incidents.suppress[${i.flowknn.suppression.rule}] ${i.flowknn.suppression.host}${i.flowknn.suppression.until ? ` until ${i.flowknn.suppression.until}` : ''}` : '',
      reason: i.flowknn.suppression?.reason ?? '',
    })),
    caption: `${incidents.length > max ? `The first ${max} of ${incidents.length}` : `All ${incidents.length}`} suppressed incidents: known traffic by a rule of the config, not notified.`,
  };
}

/** The report of one nightly run: tonight's incidents first, then what ran, what it found, what failed; metadata last. */
export function nightlyReport(input: NightlyReportInput): ReportDocument {
  const s = input.summary;
  const max = input.maxRows ?? 50;
  const total = input.total ?? input.rows.length;
  const drawn = input.total !== undefined ? input.rows : drawnRows(input.rows, input.maxDrawn ?? 5000);
  const model = s.model.name ? `${s.model.name} v${s.model.version} (${s.model.created})` : `${s.model.dir} (${s.model.created})`;
  const sections: ReportSection[] = [];
  const incidents = input.incidents ?? [];
  const open = incidents.filter((i) => !i.flowknn.suppressed);
  const suppressed = incidents.filter((i) => i.flowknn.suppressed);
  if (s.incidents !== undefined) {
    const commands = open.filter((i) => i.flowknn.drilldown).slice(0, 5);
    sections.push({
      heading: 'Incidents',
      blocks: [
        { kind: 'table', table: incidentsTable(open, max) },
        ...(commands.length > 0
          ? [{ kind: 'pre' as const, text: commands.map((i) => `# ${i.flowknn.severity} ${i.rule.name} ${i.flowknn.host} (${i.event.id.slice(0, 12)})\n${i.flowknn.drilldown!.command}`).join('\n\n'), caption: `Drill-down: the nfdump command that lists the host's top peers, ports and protocols over the incident's files, for the first ${commands.length}.` }]
          : []),
        ...(s.incidents.expired_rules.length > 0
          ? [{ kind: 'text' as const, text: `Suppression rules past their date, not applied: ${s.incidents.expired_rules.map((r) => `incidents.suppress[${r.rule}] (${r.host}, ${r.class}, until ${r.until}: ${r.reason})`).join('; ')}.` }]
          : []),
      ],
    });
  }
  if (input.history && input.history.nights > 0) {
    sections.push(historySection(input.history, { date: s.date, incidents: s.incidents?.open ?? null, alerts: s.alerts, novel: s.novel }, incidents, max));
  }
  if (suppressed.length > 0) sections.push({ heading: 'Suppressed incidents', blocks: [{ kind: 'table', table: suppressedTable(suppressed, max) }] });
  if (input.profiles) sections.push(profilesSection(input.profiles));
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
          ...(s.incidents ? [{ key: 'incidents', value: `${s.incidents.open} open${s.incidents.suppressed > 0 ? `, ${s.incidents.suppressed} suppressed` : ''}${s.incidents.open > 0 ? ` (${Object.entries(s.incidents.by_severity).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}` }] : []),
          { key: 'alerts', value: `${s.alerts}${Object.keys(s.alerts_by_class).length > 0 ? ` (${Object.entries(s.alerts_by_class).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}` },
          { key: 'novel rows', value: s.model.novelty_threshold === null ? 'not scored (the model has no novelty threshold)' : `${s.novel} beyond ${Number(s.model.novelty_threshold.toPrecision(4))}${s.novelty ? `: ${(100 * s.novelty.share).toFixed(1)}% of the rows, against ${(100 * s.novelty.expected).toFixed(1)}% expected` : ''}` },
          { key: 'rejected lines', value: s.rejects },
        ],
      },
      ...(s.novelty?.drift ? [{ kind: 'text' as const, text: `Drift: ${s.novelty.warning}.` }] : []),
      ...(drawn.length < total
        ? [
            {
              kind: 'text' as const,
              text: `This night has ${total.toLocaleString('en-US')} classified rows: the charts and the row tables below show ${drawn.length.toLocaleString('en-US')} of them, an even sample plus the ${Math.floor((input.maxDrawn ?? 5000) / 10)} most novel. The counts above, the alerts table and the files (predictions, alerts.ndjson) cover every row.`,
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
      totals: drawn.length < total ? { rows: s.rows, byClass: s.predicted } : undefined,
      novelty: threshold === null ? undefined : { threshold, scoreName: noveltyScoreName(s.model.novelty_score ?? 'kth', s.model.k) },
      alerts: alertsTable(input.alerts, max),
      maxRows: max,
    }),
  );
  // The run's metadata last: what the night found comes first.
  sections.push({
    heading: 'Run metadata',
    blocks: [
      {
        kind: 'keyvalue',
        entries: metadataEntries({
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
            ...searchesEntry(s.engine.searches),
          ],
        }),
      },
    ],
  });
  return {
    title: `flowknn nightly ${s.date}`,
    subtitle: `${s.rows} aggregates from ${s.inputs.ok} nfcapd files classified with ${model}: ${s.incidents ? `${s.incidents.open} incidents (${s.alerts} alert rows)` : `${s.alerts} alerts`}`,
    sections,
  };
}

/** Which engine answered how many searches, where several did (auto: a GPU and the CPU). */
function searchesEntry(searches: Summary['engine']['searches']): { key: string; value: string }[] {
  const used = Object.entries(searches ?? {}).filter(([, t]) => t.searches > 0);
  if (used.length < 2) return [];
  return [{ key: 'searches', value: used.map(([name, t]) => `${name}: ${t.searches} (${t.queries.toLocaleString('en-US')} rows)`).join(', ') }];
}

/** A finished night's files and what its report draws them over. */
export interface NightData extends NightFiles {
  /** The model to draw the rows over (the night's, or another): none, no training rows. */
  readonly model?: KnnModel;
  readonly maxRows?: number;
}

export interface NightContext {
  /** The nightly output root, whose other day folders (YYYY-MM-DD) are the previous nights. */
  readonly root: string;
  /** Previous nights to read (report.history); 0: none. */
  readonly history: number;
}

/** The nightly report of a night, with the previous nights read from the output root. */
export async function nightlyReportOf(night: NightData, context: NightContext): Promise<ReportDocument> {
  const s = night.summary;
  const p = night.predictions;
  const { rows, total } = 'drawn' in p ? { rows: p.drawn, total: p.total } : { rows: predictionsFromTable(p, 'predictions.arrow', s.model.novelty_threshold === null ? undefined : 'novelty').rows, total: undefined };
  const history = context.history > 0 ? await readNightHistory(context.root, s.date, context.history) : undefined;
  const profiles = night.model ? await incidentProfiles(night.model, night.incidents, night.alerts) : undefined;
  return nightlyReport({ summary: s, manifest: night.manifest, rows, total, alerts: night.alerts, incidents: night.incidents, training: night.model?.train, maxRows: night.maxRows, history, profiles });
}
