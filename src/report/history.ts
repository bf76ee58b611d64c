/**
 * Tonight against the previous nights: incidents, alert rows and novel rows per night over the
 * last N nights (report.history), read from the other day folders of the nightly output root,
 * and the hosts that alert tonight but did not in those nights. A night that is missing or
 * cannot be read is a gap in the chart, named in the text; it never stops the report.
 */
import { lstat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { FlowknnError, inputError } from '../errors.js';
import type { Incident } from '../pipeline/incidents.js';
import { readJson, readNdjson, type Summary } from '../pipeline/outputs.js';
import { SI_LABEL, siNumber } from './charts.js';
import type { ReportBlock, ReportSection, TableData } from './html.js';
import { renderVegaLite, type Chart } from './vega.js';

/** One night of the history: its counts, or why there are none. */
export interface NightCounts {
  readonly date: string;
  /** ok: read; missing: no folder (no run, or removed); unreadable: a folder whose files cannot be read. */
  readonly status: 'ok' | 'missing' | 'unreadable';
  /** Open incidents (null for a night written before incidents were made). */
  readonly incidents: number | null;
  readonly alerts: number | null;
  readonly novel: number | null;
  /** Hosts with an incident (open or suppressed), or with an alert row on a night before incidents. */
  readonly hosts: readonly string[];
  /** Why an unreadable night could not be read: the file and what is wrong. */
  readonly problem?: string;
}

export interface NightHistory {
  /** Nights asked for (report.history). */
  readonly nights: number;
  /** The nights before tonight, oldest first: exactly `nights` of them. */
  readonly previous: readonly NightCounts[];
}

const DAY_MS = 86_400_000;

/** The date `days` before YYYY-MM-DD. */
export function dateBefore(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The `nights` nights before `date` in the nightly output root (`root/YYYY-MM-DD/`), oldest first.
 * Only summary.json and incidents.ndjson are read (alerts.ndjson for a night written before
 * incidents were), not the predictions: a year of history costs a few small files a night.
 */
export async function readNightHistory(root: string, date: string, nights: number): Promise<NightHistory> {
  const dates = Array.from({ length: nights }, (_, i) => dateBefore(date, nights - i));
  const previous = await Promise.all(dates.map((d) => readNight(join(root, d), d)));
  return { nights, previous };
}

async function readNight(dir: string, date: string): Promise<NightCounts> {
  const empty = { date, incidents: null, alerts: null, novel: null, hosts: [] };
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return { ...empty, status: 'missing' };
  try {
    if (!st.isDirectory()) throw inputError('not a folder', { file: dir });
    const summary = await readJson<Summary>(join(dir, 'summary.json'));
    const file = join(dir, 'summary.json');
    if (summary?.format !== 'flowknn-nightly-summary') throw inputError('not a nightly summary', { file });
    if (summary.date !== date) throw inputError(`is the summary of ${String(summary.date)}, not of its folder's night`, { file });
    const count = (v: unknown, name: string) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw inputError(`${name} is not a count`, { file });
      return v;
    };
    const alerts = count(summary.alerts, 'alerts');
    const novel = count(summary.novel, 'novel');
    let incidents: number | null = null;
    let hosts: string[];
    if (summary.incidents !== undefined) {
      incidents = count(summary.incidents?.open, 'incidents.open');
      hosts = (await readNdjson<Incident>(join(dir, 'incidents.ndjson'))).map((i) => i.flowknn?.host).filter((h): h is string => typeof h === 'string');
    } else {
      hosts = (await readNdjson<{ key?: unknown }>(join(dir, 'alerts.ndjson'))).map((a) => a.key).filter((h): h is string => typeof h === 'string');
    }
    return { date, status: 'ok', incidents, alerts, novel, hosts: [...new Set(hosts)] };
  } catch (err) {
    // the file by its name in the night's folder: the folder is the night named beside it
    const problem = err instanceof FlowknnError ? `${err.file ? `${basename(err.file)}${err.line ? `:${err.line}` : ''}: ` : ''}${err.message}` : err instanceof Error ? err.message : String(err);
    return { ...empty, status: 'unreadable', problem };
  }
}

/** Consecutive dates joined: "2026-10-18 to 2026-10-24 (7 nights)", or the date alone. */
export function dateRanges(dates: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < dates.length; ) {
    let j = i;
    while (j + 1 < dates.length && dateBefore(dates[j + 1]!, 1) === dates[j]) j++;
    out.push(j === i ? dates[i]! : `${dates[i]} to ${dates[j]} (${j - i + 1} nights)`);
    i = j + 1;
  }
  return out;
}

/** Tonight's counts, as the history chart draws them beside the previous nights'. */
export interface Tonight {
  readonly date: string;
  readonly incidents: number | null;
  readonly alerts: number;
  readonly novel: number;
}

const MEASURES = ['open incidents', 'alert rows', 'novel rows'] as const;

const STATUSES = [
  { name: 'ok', colour: '#9ecae1', label: 'previous nights' },
  { name: 'tonight', colour: '#08519c', label: 'tonight' },
  { name: 'missing', colour: '#999999', label: 'no night' },
  { name: 'unreadable', colour: '#d62728', label: 'unreadable night' },
  { name: 'uncounted', colour: '#bbbbbb', label: 'not counted' },
] as const;

/**
 * Incidents, alert rows and novel rows per night, one panel each (their own y scale), nights in
 * date order with every date present: a missing night is an empty slot marked with a grey
 * cross, an unreadable one with a red one. Tonight's bars are dark. Every mark has a <title>.
 */
export async function historyChart(previous: readonly NightCounts[], tonight: Tonight): Promise<Chart> {
  const nights = [...previous, { ...tonight, status: 'tonight' as const, problem: undefined }];
  const values = nights.flatMap((n) =>
    MEASURES.map((measure) => {
      const value = measure === 'open incidents' ? n.incidents : measure === 'alert rows' ? n.alerts : n.novel;
      const when = n.status === 'tonight' ? `${n.date} (tonight)` : n.date;
      // one status per mark, one colour scale for all (one legend under the three panels)
      const status = n.status === 'ok' || n.status === 'tonight' ? (value === null ? 'uncounted' : n.status) : n.status;
      const tip =
        n.status === 'missing'
          ? `${n.date}: no night in the output folder`
          : n.status === 'unreadable'
            ? `${n.date}: unreadable (${n.problem ?? ''})`
            : value === null
              ? `${when}: ${measure} not counted (a night from before incidents)`
              : `${when}: ${value} ${measure}`;
      return { date: n.date, measure, value, status, tip };
    }),
  );
  const present = new Set(values.map((v) => v.status));
  const statuses = STATUSES.filter((st) => present.has(st.name));
  const count = nights.length;
  const width = Math.max(320, Math.min(760, count * 34));
  const dayLabel = count > 45 ? 'slice(datum.value, 2)' : 'slice(datum.value, 5)';
  const colour = {
    field: 'status',
    type: 'nominal',
    title: null,
    scale: { domain: statuses.map((st) => st.name), range: statuses.map((st) => st.colour) },
    legend: { orient: 'bottom', direction: 'horizontal', symbolOpacity: 1, labelExpr: `${JSON.stringify(Object.fromEntries(statuses.map((st) => [st.name, st.label])))}[datum.label]` },
  };
  const counted = "(datum.status === 'ok' || datum.status === 'tonight')";
  const spec = {
    data: { values },
    facet: { row: { field: 'measure', type: 'nominal', sort: [...MEASURES], title: null, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top', labelPadding: 2 } } },
    spacing: 14,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width,
      height: 80,
      encoding: {
        x: { field: 'date', type: 'ordinal', sort: 'ascending', title: null, scale: { paddingInner: 0.2 }, axis: { labelExpr: dayLabel, labelAngle: count > 20 ? -50 : 0, labelAlign: count > 20 ? 'right' : 'center', labelOverlap: 'greedy', ticks: false } },
        color: colour,
        description: { field: 'tip', type: 'nominal' },
      },
      layer: [
        {
          transform: [{ filter: counted }],
          mark: { type: 'bar' },
          encoding: { y: { field: 'value', type: 'quantitative', title: null, axis: { tickCount: 3, labelExpr: SI_LABEL, tickMinStep: 1, grid: true } } },
        },
        ...(count <= 31
          ? [
              {
                transform: [{ filter: counted }],
                mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 9 },
                encoding: { y: { field: 'value', type: 'quantitative' }, text: { field: 'value', type: 'quantitative', format: '~s' }, color: { value: '#222' } },
              },
            ]
          : []),
        {
          transform: [{ filter: `!${counted}` }],
          mark: { type: 'point', shape: 'cross', filled: true, size: 40, strokeWidth: 0 },
          encoding: { y: { datum: 0, type: 'quantitative' } },
        },
      ],
    },
  } as unknown as TopLevelSpec;
  return renderVegaLite('history', `Open incidents, alert rows and novel rows per night, the ${previous.length} nights before ${tonight.date} and tonight`, spec);
}

/** Tonight's open incidents of hosts that had none in the previous readable nights, one row per host. */
function newHostsTable(open: readonly Incident[], seen: ReadonlySet<string>, readable: number, max: number): TableData {
  const byHost = new Map<string, Incident[]>();
  for (const i of open) if (!seen.has(i.flowknn.host)) byHost.set(i.flowknn.host, [...(byHost.get(i.flowknn.host) ?? []), i]);
  // in the incidents' own rank order: the host of the first-ranked incident first
  const hosts = [...byHost.entries()];
  const si = (v: unknown) => (typeof v === 'number' ? siNumber(v) : '');
  return {
    columns: [
      { key: 'host', title: 'host' },
      { key: 'severity', title: 'severity' },
      { key: 'classes', title: 'class', wrap: true },
      { key: 'incidents', title: 'incidents', align: 'right' },
      { key: 'first', title: 'from (UTC)' },
      { key: 'pps', title: 'peak pps', align: 'right', format: si },
      { key: 'direction', title: 'direction' },
    ],
    rows: hosts.slice(0, max).map(([host, list]) => ({
      host,
      severity: list[0]!.flowknn.severity,
      classes: [...new Set(list.map((i) => i.rule.name))].join(', '),
      incidents: list.length,
      first: list.map((i) => i.event.start).sort()[0]!.slice(11, 16),
      pps: Math.max(...list.map((i) => i.flowknn.peak_pps)),
      direction: list[0]!.network.direction,
    })),
    caption: `Hosts new tonight: ${hosts.length > max ? `The first ${max} of ${hosts.length}` : `All ${hosts.length}`} hosts with an open incident tonight and none (open or suppressed) in the ${readable} readable night${readable === 1 ? '' : 's'} before, in the incidents' rank order.`,
    empty: `Hosts new tonight: none. Every host with an open incident tonight had one in the ${readable} readable nights before.`,
  };
}

/** The section that follows tonight's incidents: the chart, the gaps, the hosts new tonight. */
export function historySection(history: NightHistory, tonight: Tonight, incidents: readonly Incident[], max: number): ReportSection {
  const prev = history.previous;
  const readable = prev.filter((n) => n.status === 'ok');
  const missing = prev.filter((n) => n.status === 'missing').map((n) => n.date);
  const unreadable = prev.filter((n) => n.status === 'unreadable');
  const blocks: ReportBlock[] = [];
  const first = prev[0]?.date ?? tonight.date;
  blocks.push({
    kind: 'chart',
    chart: historyChart(prev, tonight),
    caption: `The ${history.nights} nights from ${first} to ${dateBefore(tonight.date, 1)} (report.history), read from the other nights of the output folder, and tonight in dark blue. A cross marks a night without counts: grey where the folder has no night, red where its files cannot be read.`,
  });
  const gaps: string[] = [];
  if (missing.length > 0) gaps.push(`No night in the output folder for ${dateRanges(missing).join(', ')}.`);
  if (unreadable.length > 0) gaps.push(`Unreadable, left out: ${unreadable.map((n) => `${n.date} (${n.problem ?? 'unknown'})`).join('; ')}.`);
  if (readable.length > 0) {
    const avg = (f: (n: NightCounts) => number | null) => {
      const v = readable.map(f).filter((x): x is number => x !== null);
      return v.length === 0 ? null : v.reduce((s, x) => s + x, 0) / v.length;
    };
    const [ai, aa, an] = [avg((n) => n.incidents), avg((n) => n.alerts), avg((n) => n.novel)];
    const fmt = (x: number | null) => (x === null ? 'not counted' : String(Number(x.toFixed(1))));
    gaps.unshift(`Tonight: ${tonight.incidents ?? 'no'} open incidents, ${tonight.alerts} alert rows, ${tonight.novel} novel rows; the ${readable.length === 1 ? 'readable night before had' : `${readable.length} readable nights before averaged`} ${fmt(ai)}, ${fmt(aa)} and ${fmt(an)}.`);
  }
  if (gaps.length > 0) blocks.push({ kind: 'text', text: gaps.join(' ') });
  const open = incidents.filter((i) => !i.flowknn.suppressed);
  if (readable.length === 0) {
    blocks.push({ kind: 'text', text: `Hosts new tonight: none of the ${history.nights} nights before could be read, so no host can be told new.` });
  } else {
    const seen = new Set(readable.flatMap((n) => n.hosts));
    blocks.push({ kind: 'table', table: newHostsTable(open, seen, readable.length, max) });
  }
  return { heading: 'Tonight against the previous nights', blocks };
}
