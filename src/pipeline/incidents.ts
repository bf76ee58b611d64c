import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { NightlyConfig, Severity } from './config.js';
import { SEVERITIES } from './config.js';
import { NetworkSet, parseCidr, type Cidr } from './networks.js';
import type { Alert, ModelInfo } from './outputs.js';

/**
 * Incidents: what an operator acts on. A host alerts in one window after another while a flood
 * lasts; its alert rows (outputs.ts) are joined into one incident per host and rule (the alert
 * class, or `novelty` for rows that alert for their novelty alone) while their windows touch
 * or overlap, or lie at most `incidents.gap` quiet windows apart.
 *
 * Field names follow the Elastic Common Schema (ECS 8): `@timestamp`, `event.*`, `rule.name`,
 * `destination.ip` / `source.ip`, `network.*`; what ECS has no field for is under `flowknn.*`.
 * The table of every field is in README.md ("Incidents").
 *
 * An incident's id is a hash of the night, the aggregation key value, the rule and the start:
 * the same on every rerun of the same inputs, so a notified incident is recognised (notify.ts).
 */

/** ECS event.severity of each severity name: the risk scores Elastic's detection rules give them. */
export const SEVERITY_SCORE: Readonly<Record<Severity, number>> = { low: 21, medium: 47, high: 73, critical: 99 };

/** The rule name of incidents whose windows alerted for novelty only. */
export const NOVELTY_RULE = 'novelty';

export type Direction = 'inbound' | 'outbound' | 'internal' | 'external' | 'unknown';

/** One row of a drill-down list: an address, port or protocol, with its counts. */
export interface TopEntry {
  value: string;
  flows: number;
  packets: number;
  bytes: number;
}

export interface Drilldown {
  /** The nfdump command, shell-quoted, as it can be pasted (TZ=UTC: its times are UTC). */
  command: string;
  /** The same, one argument per element (what flowknn runs, without a shell). */
  argv: string[];
  /** The host's peers, its ports and protocols, by bytes: null where nfdump did not run. */
  peers: TopEntry[] | null;
  ports: TopEntry[] | null;
  protocols: TopEntry[] | null;
  /** Why the lists are missing: not run (suppressed, past drilldown.maxIncidents, disabled) or the failure. */
  note: string | null;
}

export interface SuppressionHit {
  /** Index of the rule in incidents.suppress. */
  rule: number;
  host: string;
  class: string;
  until: string | null;
  reason: string;
}

export interface Incident {
  '@timestamp': string;
  event: {
    kind: 'alert';
    category: ['network'];
    type: ['info'];
    dataset: 'flowknn.incident';
    id: string;
    start: string;
    end: string;
    /** nanoseconds, as ECS has it */
    duration: number;
    severity: number;
    reason: string;
  };
  rule: { name: string; ruleset: 'flowknn'; category: 'class' | 'novelty' };
  destination?: { ip: string };
  source?: { ip: string };
  related?: { ip: string[] };
  network: { direction: Direction; transport?: string; packets: number; bytes: number };
  flowknn: {
    date: string;
    /** The aggregation key's value (the host, or host|proto and the like). */
    key: string;
    host: string;
    class: string;
    severity: Severity;
    novelty_only: boolean;
    windows: number;
    /** Alert rows joined (one per window and key). */
    alerts: number;
    novel_windows: number;
    /** Predicted classes of the incident's rows, counted. */
    predicted: Record<string, number>;
    peak_pps: number;
    peak_bps: number;
    flows: number;
    max_novelty: number | null;
    min_probability: number;
    first_seen: string | null;
    source_files: string[];
    /** The routers whose archives the incident's rows came from. */
    routers: string[];
    model: { name: string | null; version: number | null; created: string; train_sha256: string };
    suppressed: boolean;
    suppression: SuppressionHit | null;
    drilldown: Drilldown | null;
  };
}

/** The fields an alert row gains: its incident, its time, and ECS's event fields. */
export interface AlertEvent {
  '@timestamp': string | null;
  event: { kind: 'alert'; category: ['network']; type: ['info']; dataset: 'flowknn.alert'; id: string; start: string | null; end: string | null; severity: number };
  rule: { name: string };
  destination?: { ip: string };
  source?: { ip: string };
  network: { direction: Direction };
  incident_id: string;
}

export type IncidentAlert = Alert & AlertEvent;

export interface SuppressionRule {
  readonly index: number;
  readonly block: Cidr;
  readonly hosts: NetworkSet;
  readonly class: string;
  readonly until: string | null;
  readonly reason: string;
}

export interface IncidentSettings {
  readonly date: string;
  /** aggregate.key: which field of the key is the host (dstip, srcip, dstip+proto, ...). */
  readonly key: string;
  /** Window length in ms (null: one window the whole day, aggregate.window "whole"). */
  readonly windowMs: number | null;
  readonly gap: number;
  readonly severity: Readonly<Record<string, Severity>>;
  readonly defaultSeverity: Severity;
  readonly noveltySeverity: Severity;
  readonly own: NetworkSet;
  readonly suppress: readonly SuppressionRule[];
  readonly model: Pick<ModelInfo, 'name' | 'version' | 'created' | 'train_sha256'>;
}

/** The settings of a night's incidents from its config. */
export function incidentSettings(config: NightlyConfig, date: string, model: IncidentSettings['model']): IncidentSettings {
  const inc = config.incidents;
  const windowMs = config.aggregate.source === 'nfdump' ? config.archive.interval * 1000 : config.aggregate.window === 'whole' ? null : config.aggregate.window * 1000;
  return {
    date,
    key: config.aggregate.key,
    windowMs,
    gap: inc.gap,
    severity: inc.severity,
    defaultSeverity: inc.defaultSeverity,
    noveltySeverity: inc.noveltySeverity,
    // the config is validated: every block parses
    own: new NetworkSet(config.networks.own.map((t) => parseCidr(t) as Cidr)),
    suppress: inc.suppress.map((r, index) => ({ index, block: parseCidr(r.host) as Cidr, hosts: new NetworkSet([parseCidr(r.host) as Cidr]), class: r.class, until: r.until, reason: r.reason })),
    model,
  };
}

/** Rules past their `until` on this night: reported, not applied. */
export function expiredRules(rules: readonly SuppressionRule[], date: string): SuppressionRule[] {
  return rules.filter((r) => r.until !== null && r.until < date);
}

/** Where the host is in the key's value, and what the key says about the transport. */
export interface HostOf {
  readonly host: string;
  /** destination for dstip, source for srcip; null for a key with no address or both. */
  readonly role: 'destination' | 'source' | null;
  readonly ip: string | null;
  /** The address prefix, for a key by prefix (dstip/24): `10.0.2.0/24`. */
  readonly net: string | null;
  readonly transport: string | null;
}

/** `10.0.2.0/24`, `2001:db8::/64`: an address prefix as an aggregation by prefix writes it. */
const isPrefix = (v: string): boolean => v.includes('/') && typeof parseCidr(v) !== 'string';

export function hostOf(keySpec: string, key: string): HostOf {
  const fields = keySpec.split('+').map((f) => f.replace(/\/.*$/u, '')); // dstip/24: dstip
  const values = fields.length > 1 ? key.split('|') : [key];
  const at = (f: string) => {
    const i = fields.indexOf(f);
    return i < 0 ? undefined : values[i];
  };
  const dst = at('dstip');
  const src = at('srcip');
  const proto = at('proto');
  const transport = proto !== undefined && /^[a-z][a-z0-9-]*$/iu.test(proto) ? proto.toLowerCase() : null;
  const address = (v: string) => ({ ip: isIP(v) ? v : null, net: isPrefix(v) ? v : null });
  if (dst !== undefined && src === undefined) return { host: dst, role: 'destination', ...address(dst), transport };
  if (src !== undefined && dst === undefined) return { host: src, role: 'source', ...address(src), transport };
  // nfdump's `ip` statistic (either side), or a key without an address or with both
  const ip = values.find((v) => isIP(v) !== 0) ?? null;
  return { host: ip ?? key, role: null, ip, net: null, transport };
}

/**
 * The direction of an incident against the own networks, as ECS names it: inbound (from
 * outside into the own networks), outbound, internal, external; unknown without own networks
 * or without an address. The host is the key's address; the other side is the drill-down's
 * peer with the most bytes when there is one. Without a peer the other side is taken to be on
 * the far side of the border (a host of one's own receives from outside; an outside host
 * receives from inside), as on a border router's flows.
 */
export function directionOf(h: HostOf, own: NetworkSet, peer: string | null): Direction {
  const where = h.ip ?? h.net;
  if (own.size === 0 || where === null) return 'unknown';
  const hostOwn = own.has(where);
  const peerOwn = peer !== null && isIP(peer) !== 0 ? own.has(peer) : !hostOwn;
  if (h.role === null) return hostOwn && peerOwn ? 'internal' : !hostOwn && !peerOwn ? 'external' : 'unknown';
  const [dstOwn, srcOwn] = h.role === 'destination' ? [hostOwn, peerOwn] : [peerOwn, hostOwn];
  if (dstOwn && srcOwn) return 'internal';
  if (dstOwn) return 'inbound';
  if (srcOwn) return 'outbound';
  return 'external';
}

/** The rule an alert row belongs to: its class when it alerts for one, else novelty. */
function ruleOf(a: Alert): { name: string; category: 'class' | 'novelty' } {
  const cls = a.reasons.find((r) => r.startsWith('class '));
  return cls ? { name: cls.slice(6), category: 'class' } : { name: NOVELTY_RULE, category: 'novelty' };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A row's span: its window, or (no window) its first and last seen. */
function spanOf(a: Alert, windowMs: number | null): { start: number; end: number } {
  const w = a.window_start === null ? Number.NaN : Date.parse(a.window_start);
  if (!Number.isNaN(w) && windowMs !== null) return { start: w, end: w + windowMs };
  const first = a.first_seen === null ? w : Date.parse(a.first_seen);
  const start = Number.isNaN(first) ? 0 : first;
  return { start, end: start + Math.max(0, a.duration_s) * 1000 };
}

export function incidentId(date: string, key: string, rule: string, startMs: number): string {
  return createHash('sha256').update(JSON.stringify(['flowknn-incident', date, key, rule, iso(startMs)])).digest('hex').slice(0, 24);
}

/** One alert row's id: its incident and window, and its router where the incident's rows come from several (one row each). */
function alertEventId(incident: string, startMs: number, router?: string | null): string {
  const parts = ['flowknn-alert', incident, iso(startMs), ...(router !== undefined ? [router] : [])];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
}

function severityOf(rule: { name: string; category: string }, s: IncidentSettings): Severity {
  return rule.category === 'novelty' ? s.noveltySeverity : (s.severity[rule.name] ?? s.defaultSeverity);
}

function suppressionOf(host: HostOf, rule: string, s: IncidentSettings): SuppressionHit | null {
  for (const r of s.suppress) {
    if (r.until !== null && r.until < s.date) continue;
    if (r.class !== 'any' && r.class !== rule) continue;
    if (!r.hosts.has(host.ip ?? host.net)) continue;
    return { rule: r.index, host: r.block.text, class: r.class, until: r.until, reason: r.reason };
  }
  return null;
}

/**
 * Joins the night's alert rows into incidents. Per key value and alert class, in time order, a
 * row whose window starts at most `gap` windows after the incident's end so far joins it.
 * Rows that alert for novelty alone then join an incident of a class of the same key value
 * they touch the same way (a flood's first seconds, in the window before, often vote for
 * another class and stand out as novel: they are the same event); the others make novelty
 * incidents of their own, joined the same way. Returns the incidents (ranked: see
 * rankIncidents) and the rows with their incident (in their order).
 */
export function buildIncidents(alerts: readonly Alert[], s: IncidentSettings): { incidents: Incident[]; alerts: IncidentAlert[] } {
  type Span = { i: number; start: number; end: number };
  type Run = { rule: { name: string; category: 'class' | 'novelty' }; spans: Span[]; start: number; end: number };
  const byKey = new Map<string, { classes: Map<string, Span[]>; novelty: Span[] }>();
  for (let i = 0; i < alerts.length; i++) {
    const a = alerts[i]!;
    const rule = ruleOf(a);
    let g = byKey.get(a.key ?? '');
    if (!g) byKey.set(a.key ?? '', (g = { classes: new Map(), novelty: [] }));
    const span = { i, ...spanOf(a, s.windowMs) };
    if (rule.category === 'novelty') g.novelty.push(span);
    else {
      const list = g.classes.get(rule.name);
      if (list) list.push(span);
      else g.classes.set(rule.name, [span]);
    }
  }
  const slack = s.windowMs === null ? 0 : s.gap * s.windowMs;
  const order = (a: Span, b: Span) => a.start - b.start || a.end - b.end || a.i - b.i;
  const runsOf = (spans: Span[], rule: Run['rule']): Run[] => {
    const runs: Run[] = [];
    for (const sp of [...spans].sort(order)) {
      const last = runs[runs.length - 1];
      if (last && sp.start <= last.end + slack) {
        last.spans.push(sp);
        last.end = Math.max(last.end, sp.end);
      } else runs.push({ rule, spans: [sp], start: sp.start, end: sp.end });
    }
    return runs;
  };
  const incidents: Incident[] = [];
  const enriched: IncidentAlert[] = new Array(alerts.length);
  for (const g of byKey.values()) {
    const runs = [...g.classes.entries()].flatMap(([name, spans]) => runsOf(spans, { name, category: 'class' }));
    runs.sort((a, b) => a.start - b.start || (a.rule.name < b.rule.name ? -1 : a.rule.name > b.rule.name ? 1 : 0));
    const alone: Span[] = [];
    for (const sp of [...g.novelty].sort(order)) {
      const host = runs.find((r) => sp.start <= r.end + slack && sp.end >= r.start - slack);
      if (host) host.spans.push(sp);
      else alone.push(sp);
    }
    runs.push(...runsOf(alone, { name: NOVELTY_RULE, category: 'novelty' }));
    for (const r of runs) incidents.push(makeIncident(r.spans.sort(order), alerts, r.rule, s, enriched));
  }
  return { incidents: rankIncidents(incidents), alerts: enriched };
}

function makeIncident(run: readonly { i: number; start: number; end: number }[], alerts: readonly Alert[], rule: { name: string; category: 'class' | 'novelty' }, s: IncidentSettings, out: IncidentAlert[]): Incident {
  const rows = run.map((r) => alerts[r.i]!);
  const first = rows[0]!;
  const key = first.key ?? '';
  const h = hostOf(s.key, key);
  const start = run[0]!.start;
  const end = Math.max(...run.map((r) => r.end));
  const id = incidentId(s.date, key, rule.name, start);
  const severity = severityOf(rule, s);
  const direction = directionOf(h, s.own, null);
  const predicted: Record<string, number> = {};
  for (const a of rows) predicted[a.predicted] = (predicted[a.predicted] ?? 0) + 1;
  const windows = new Set(run.map((r) => r.start)).size;
  const novelties = rows.flatMap((a) => (a.novelty === null ? [] : [a.novelty]));
  const firstSeen = rows.flatMap((a) => (a.first_seen === null ? [] : [Date.parse(a.first_seen)])).filter((v) => !Number.isNaN(v));
  const address = h.ip === null ? {} : h.role === 'destination' ? { destination: { ip: h.ip } } : h.role === 'source' ? { source: { ip: h.ip } } : { related: { ip: [h.ip] } };
  const suppression = suppressionOf(h, rule.name, s);
  const incident: Incident = {
    '@timestamp': iso(start),
    event: {
      kind: 'alert',
      category: ['network'],
      type: ['info'],
      dataset: 'flowknn.incident',
      id,
      start: iso(start),
      end: iso(end),
      duration: (end - start) * 1e6,
      severity: SEVERITY_SCORE[severity],
      reason: `${rule.category === 'novelty' ? 'unlike the training data' : rule.name} toward ${h.host}: ${windows} window${windows === 1 ? '' : 's'}, ${Object.entries(predicted).map(([c, n]) => `${c} ${n}`).join(', ')}`,
    },
    rule: { name: rule.name, ruleset: 'flowknn', category: rule.category },
    ...address,
    network: { direction, ...(h.transport ? { transport: h.transport } : {}), packets: sum(rows, 'packets'), bytes: sum(rows, 'bytes') },
    flowknn: {
      date: s.date,
      key,
      host: h.host,
      class: rule.name,
      severity,
      novelty_only: rule.category === 'novelty',
      windows,
      alerts: rows.length,
      novel_windows: new Set(run.filter((r) => alerts[r.i]!.novel).map((r) => r.start)).size,
      predicted,
      peak_pps: Math.max(...rows.map((a) => a.pps)),
      peak_bps: Math.max(...rows.map((a) => a.bps)),
      flows: sum(rows, 'flows'),
      max_novelty: novelties.length > 0 ? Math.max(...novelties) : null,
      min_probability: Math.min(...rows.map((a) => a.probability)),
      first_seen: firstSeen.length > 0 ? iso(Math.min(...firstSeen)) : null,
      source_files: [...new Set(rows.flatMap((a) => (a.source_file ? a.source_file.split(' (+')[0]! : [])))].sort(),
      routers: [...new Set(rows.flatMap((a) => (a.router ? a.router.split(',') : [])))].sort(),
      model: { name: s.model.name, version: s.model.version, created: s.model.created, train_sha256: s.model.train_sha256 },
      suppressed: suppression !== null,
      suppression,
      drilldown: null,
    },
  };
  // several routers' rows of one host and window (the nfdump source reads each router's files on
  // its own): the router tells them apart; a window of one row keeps the id it would have alone
  const routersAt = new Map<number, Set<string>>();
  for (const r of run) {
    const at = routersAt.get(r.start) ?? new Set<string>();
    at.add(alerts[r.i]!.router ?? '');
    routersAt.set(r.start, at);
  }
  for (const r of run) {
    const a = alerts[r.i]!;
    out[r.i] = {
      ...a,
      '@timestamp': iso(r.start),
      event: { kind: 'alert', category: ['network'], type: ['info'], dataset: 'flowknn.alert', id: alertEventId(id, r.start, routersAt.get(r.start)!.size > 1 ? a.router : undefined), start: iso(r.start), end: iso(r.end), severity: SEVERITY_SCORE[severity] },
      rule: { name: rule.name },
      ...address,
      network: { direction },
      incident_id: id,
    };
  }
  return incident;
}

function sum(rows: readonly Alert[], field: 'packets' | 'bytes' | 'flows'): number {
  return rows.reduce((t, a) => t + a[field], 0);
}

/**
 * What needs attention first: severity, then size (packets, then bytes), then the earlier
 * start, then the id. A confident flood comes before a novelty-only oddity by its severity.
 */
export function rankIncidents(incidents: readonly Incident[]): Incident[] {
  const rank = (i: Incident) => SEVERITIES.indexOf(i.flowknn.severity);
  return [...incidents].sort(
    (a, b) =>
      rank(b) - rank(a) ||
      b.network.packets - a.network.packets ||
      b.network.bytes - a.network.bytes ||
      (a.event.start < b.event.start ? -1 : a.event.start > b.event.start ? 1 : 0) ||
      (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0),
  );
}

/** Sets the direction (with the drill-down's top peer) on an incident and on its rows. */
export function applyDirection(incident: Incident, alerts: IncidentAlert[], s: Pick<IncidentSettings, 'key' | 'own'>): void {
  const peer = incident.flowknn.drilldown?.peers?.[0]?.value ?? null;
  const direction = directionOf(hostOf(s.key, incident.flowknn.key), s.own, peer);
  incident.network.direction = direction;
  const protocol = incident.flowknn.drilldown?.protocols?.[0]?.value;
  if (incident.network.transport === undefined && protocol) incident.network.transport = protocol.toLowerCase();
  for (const a of alerts) if (a.incident_id === incident.event.id) a.network = { direction };
}

/** summary.json's account of the incidents. */
export interface IncidentCounts {
  total: number;
  /** Not suppressed: what is notified. */
  open: number;
  suppressed: number;
  by_severity: Record<string, number>;
  by_class: Record<string, number>;
  suppressed_by_rule: { rule: number; host: string; class: string; reason: string; incidents: number }[];
  /** Rules past their `until` on this night, not applied. */
  expired_rules: { rule: number; host: string; class: string; until: string; reason: string }[];
  /** Drill-downs that failed (their incidents say why). */
  drilldown_failed: number;
}

export function countIncidents(incidents: readonly Incident[], s: Pick<IncidentSettings, 'suppress' | 'date'>): IncidentCounts {
  const open = incidents.filter((i) => !i.flowknn.suppressed);
  const by_severity: Record<string, number> = Object.fromEntries([...SEVERITIES].reverse().map((v) => [v, 0]));
  const by_class: Record<string, number> = {};
  for (const i of open) {
    by_severity[i.flowknn.severity] = (by_severity[i.flowknn.severity] ?? 0) + 1;
    by_class[i.flowknn.class] = (by_class[i.flowknn.class] ?? 0) + 1;
  }
  const byRule = new Map<number, number>();
  for (const i of incidents) if (i.flowknn.suppression) byRule.set(i.flowknn.suppression.rule, (byRule.get(i.flowknn.suppression.rule) ?? 0) + 1);
  return {
    total: incidents.length,
    open: open.length,
    suppressed: incidents.length - open.length,
    by_severity,
    by_class,
    suppressed_by_rule: s.suppress.filter((r) => byRule.has(r.index)).map((r) => ({ rule: r.index, host: r.block.text, class: r.class, reason: r.reason, incidents: byRule.get(r.index)! })),
    expired_rules: expiredRules(s.suppress, s.date).map((r) => ({ rule: r.index, host: r.block.text, class: r.class, until: r.until!, reason: r.reason })),
    drilldown_failed: incidents.filter((i) => i.flowknn.drilldown?.note?.startsWith('failed') === true).length,
  };
}
