/**
 * All seven features of the top incidents, where a scatter of two hides the reason: one small
 * panel per incident, the features along x and their values in the model's own space (the
 * fitted scaler, as the search sees them) along y, the incident's rows as black lines and the
 * training rows nearest to them as lines coloured by their class. A flood that votes for its
 * class on bps and pps but sits far off on duration shows it here.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CpuEngine } from '../engines/cpu/cpu-engine.js';
import { transform } from '../features/scalers.js';
import { predict, type KnnModel } from '../knn/model.js';
import { Matrix } from '../matrix.js';
import type { Incident } from '../pipeline/incidents.js';
import type { Alert } from '../pipeline/outputs.js';
import { classColour, siNumber } from './charts.js';
import type { ReportSection } from './html.js';
import { renderVegaLite, type Chart } from './vega.js';

/** One row drawn across the seven axes. */
export interface ProfileLine {
  /** The panel (incident) it is drawn in. */
  readonly panel: string;
  readonly kind: 'incident' | 'neighbour';
  /** Unique within its panel: one line per id. */
  readonly id: string;
  /** The neighbour's class, or the incident row's prediction. */
  readonly label: string;
  /** The row: host and window, or the training row. */
  readonly tip: string;
  /** Model space, in feature order. */
  readonly scaled: readonly number[];
  /** As measured, in feature order. */
  readonly raw: readonly number[];
}

export interface IncidentProfiles {
  /** Feature names, in the model's order. */
  readonly features: readonly string[];
  readonly scaler: string;
  readonly classes: readonly string[];
  /** Panel names, in the incidents' rank order. */
  readonly panels: readonly string[];
  readonly lines: readonly ProfileLine[];
  /** Incident rows drawn, and rows the drawn incidents have. */
  readonly drawnRows: number;
  readonly incidentRows: number;
  readonly k: number;
}

export interface ProfileOptions {
  /** Incidents drawn, highest ranked first (default 6). */
  readonly top?: number;
  /** Rows of one incident drawn at most, its highest pps (default 8). */
  readonly rowsPerIncident?: number;
}

const hhmm = (iso: string | null) => (iso ? iso.slice(11, 16) : '');

/** Short feature names for the axis: duration_s is "duration". */
const axisName = (column: string) => column.replace(/_s$/u, '');

/**
 * The top open incidents' rows and their k nearest training rows, found again with the exact
 * CPU engine in the given model (the night's, or one named with `report --model`), so the lines
 * are the neighbours of that model whatever engine ran the night. Undefined when there is
 * nothing to draw or the rows lack the model's features.
 */
export async function incidentProfiles(model: KnnModel, incidents: readonly Incident[], alerts: readonly Alert[], options: ProfileOptions = {}): Promise<IncidentProfiles | undefined> {
  const features = model.train.featureSet.columns;
  const top = incidents.filter((i) => !i.flowknn.suppressed).slice(0, options.top ?? 6);
  const perIncident = options.rowsPerIncident ?? 8;
  const byIncident = new Map<string, Alert[]>();
  for (const a of alerts) {
    const id = (a as Alert & { incident_id?: string }).incident_id;
    if (id !== undefined) byIncident.set(id, [...(byIncident.get(id) ?? []), a]);
  }
  const picked: { incident: Incident; panel: string; rows: Alert[] }[] = [];
  let incidentRows = 0;
  for (const [rank, incident] of top.entries()) {
    const rows = byIncident.get(incident.event.id) ?? [];
    if (rows.length === 0) continue;
    incidentRows += rows.length;
    const kept = [...rows].sort((a, b) => b.pps - a.pps).slice(0, perIncident).sort((a, b) => (a.window_start ?? '').localeCompare(b.window_start ?? ''));
    const panel = `${rank + 1}. ${incident.flowknn.severity} ${incident.flowknn.novelty_only ? 'novelty' : incident.rule.name} ${incident.flowknn.host}, ${hhmm(incident.event.start)}-${hhmm(incident.event.end)} UTC`;
    picked.push({ incident, panel, rows: kept });
  }
  const all = picked.flatMap((p) => p.rows);
  if (all.length === 0) return undefined;
  const record = (a: Alert) => a as unknown as Record<string, unknown>;
  if (!features.every((f) => typeof record(all[0]!)[f] === 'number')) return undefined;
  const raw = Matrix.fromRows(all.map((a) => features.map((f) => record(a)[f] as number)));
  const engine = new CpuEngine({ threads: 1 });
  let prediction;
  try {
    prediction = await predict(model, raw, engine);
  } finally {
    await engine.dispose();
  }
  const scaled = transform(model.scaler, raw);
  const train = model.train;
  const k = prediction.neighbours.k;
  const lines: ProfileLine[] = [];
  let q = 0;
  for (const p of picked) {
    const near = new Map<number, number>();
    for (const a of p.rows) {
      lines.push({
        panel: p.panel,
        kind: 'incident',
        id: `row ${q}`,
        label: a.predicted,
        tip: `${a.key ?? p.incident.flowknn.host}, window ${(a.window_start ?? '').slice(0, 16).replace('T', ' ')} UTC, predicted ${a.predicted}`,
        scaled: Array.from(scaled.row(q)),
        raw: Array.from(raw.row(q)),
      });
      for (let j = 0; j < k; j++) {
        const t = prediction.neighbours.indices[q * k + j]!;
        near.set(t, (near.get(t) ?? 0) + 1);
      }
      q++;
    }
    for (const [t, times] of near) {
      const where = train.sourceFile[t] ? `${train.sourceFile[t]!.split('/').pop()}:${train.sourceLine[t]}` : `row ${t}`;
      const cls = train.classes[train.labels[t]!]!;
      lines.push({
        panel: p.panel,
        kind: 'neighbour',
        id: `training ${t}`,
        label: cls,
        tip: `training row ${where} (${train.keys[t] || 'no host'}), ${cls}: among the ${k} nearest of ${times} of the incident's ${p.rows.length} rows drawn`,
        scaled: Array.from(model.space.row(t)),
        raw: Array.from(train.features.row(t)),
      });
    }
  }
  return { features: [...features], scaler: model.scaler.name, classes: train.classes, panels: picked.map((p) => p.panel), lines, drawnRows: all.length, incidentRows, k };
}

const SPACE: Record<string, string> = {
  'log-zscore': 'log1p, then z-score',
  zscore: 'z-score',
  minmax: 'min-max scaled',
  none: 'as measured: the model does not scale',
  'row-l2': "divided by the row's L2 norm",
};

const INCIDENT_ROWS = "the incident's rows";

/** Small multiples of parallel coordinates: a panel per incident, shared y (one model space). */
export async function profilesChart(p: IncidentProfiles): Promise<Chart> {
  const names = p.features.map(axisName);
  const values = p.lines.flatMap((l) =>
    names.map((feature, j) => ({
      panel: p.panels.indexOf(l.panel),
      title: l.panel,
      kind: l.kind,
      id: l.id,
      label: l.kind === 'incident' ? INCIDENT_ROWS : l.label,
      feature,
      order: j,
      value: l.scaled[j]!,
      line: l.tip,
      tip: `${l.tip}; ${feature} ${siNumber(l.raw[j]!)} (${Number(l.scaled[j]!.toFixed(2))} in model space)`,
    })),
  );
  const domain = [...p.classes, INCIDENT_ROWS];
  const colour = { field: 'label', type: 'nominal', title: null, scale: { domain, range: [...p.classes.map((_, i) => classColour(i)), '#111'] }, legend: { orient: 'bottom', direction: 'horizontal', columns: Math.min(domain.length, 6), symbolType: 'stroke', symbolStrokeWidth: 2.5 } };
  const x = { field: 'feature', type: 'ordinal', sort: names, title: null, axis: { labelAngle: 0, grid: true, gridColor: '#d0d0d0', ticks: false } };
  // the axis title repeats on every row of panels: short; the caption says what the space is
  const y = { field: 'value', type: 'quantitative', title: `${p.scaler} value` };
  const spec = {
    data: { values },
    facet: { field: 'title', type: 'nominal', title: null, sort: { field: 'panel' }, header: { labelAlign: 'left', labelAnchor: 'start', labelPadding: 4, labelLimit: 380 } },
    columns: p.panels.length === 1 ? 1 : 2,
    spacing: { column: 24, row: 16 },
    spec: {
      width: p.panels.length === 1 ? 520 : 360,
      height: 170,
      encoding: { x, y, color: colour },
      layer: [
        { transform: [{ filter: "datum.kind === 'neighbour'" }], mark: { type: 'line', strokeWidth: 1.4, opacity: 0.75, strokeDash: [5, 2] }, encoding: { detail: { field: 'id' }, order: { field: 'order' }, description: { field: 'line' } } },
        { transform: [{ filter: "datum.kind === 'neighbour'" }], mark: { type: 'point', filled: true, size: 18, opacity: 0.8 }, encoding: { description: { field: 'tip' } } },
        { transform: [{ filter: "datum.kind === 'incident'" }], mark: { type: 'line', strokeWidth: 2, opacity: 0.85 }, encoding: { detail: { field: 'id' }, order: { field: 'order' }, description: { field: 'line' } } },
        { transform: [{ filter: "datum.kind === 'incident'" }], mark: { type: 'point', shape: 'diamond', filled: true, size: 30 }, encoding: { description: { field: 'tip' } } },
      ],
    },
  } as unknown as TopLevelSpec;
  return renderVegaLite('profiles', "The top incidents' rows and their nearest training rows over all seven features, in model space", spec);
}

/** The section: the chart and what it shows. */
export function profilesSection(p: IncidentProfiles): ReportSection {
  return {
    heading: 'Top incidents over all seven features',
    blocks: [
      {
        kind: 'chart',
        chart: profilesChart(p),
        caption:
          `One panel per incident (the first ${p.panels.length} open ones, ranked): its rows in black (${p.drawnRows === p.incidentRows ? `all ${p.drawnRows}` : `${p.drawnRows} of ${p.incidentRows}, each incident's highest pps`}), and the training rows among their ${p.k} nearest neighbours, dashed, in their class's colour. ` +
          `Each feature is drawn as the model's search sees it, in model space (${SPACE[p.scaler] ?? p.scaler}): where the black lines leave the coloured ones is what sets the rows apart from what the model knows. Every line and point names its row.`,
      },
    ],
  };
}
