import type { NfdumpOptions } from '../ingest/nfdump/run.js';
import type { LoadedConfig } from './config.js';
import { commandText, drilldownCommand, runDrilldown } from './drilldown.js';
import { applyDirection, buildIncidents, NOVELTY_RULE, countIncidents, expiredRules, incidentSettings, type Incident, type IncidentAlert, type IncidentCounts } from './incidents.js';
import type { Alert, ManifestInput, ModelInfo } from './outputs.js';

/**
 * The incident step of a night (nightly.ts, merge.ts): the alert rows joined into incidents,
 * suppression applied, each incident's drill-down command made and, for the highest ranked
 * ones that are not suppressed, run (a shard runs none: its merge does).
 */
export async function nightIncidents(p: {
  config: LoadedConfig;
  date: string;
  model: ModelInfo;
  alerts: readonly Alert[];
  inputs: readonly ManifestInput[];
  /** How to run nfdump (binary, version, env); null: make the commands, run none. */
  nfdump: NfdumpOptions | null;
  /** Why no drill-down runs when nfdump is null (default: a shard's merge runs them). */
  noDrilldown?: string;
  log: (message: string) => void;
}): Promise<{ incidents: Incident[]; alerts: IncidentAlert[]; counts: IncidentCounts }> {
  const cfg = p.config.config;
  const settings = incidentSettings(cfg, p.date, p.model);
  for (const r of expiredRules(settings.suppress, p.date)) {
    p.log(`warning: incidents.suppress[${r.index}] (${r.block.text}, ${r.class}: ${r.reason}) expired on ${r.until}: not applied to ${p.date}`);
  }
  const known = new Set([...p.model.classes, NOVELTY_RULE, 'any']);
  for (const r of settings.suppress) {
    if (!known.has(r.class)) p.log(`warning: incidents.suppress[${r.index}] names the class "${r.class}", which the model (${p.model.classes.join(', ')}) does not have: it suppresses nothing`);
  }
  const { incidents, alerts } = buildIncidents(p.alerts, settings);
  const dd = cfg.incidents.drilldown;
  const binary = p.nfdump?.nfdump ?? cfg.nfdump ?? 'nfdump';
  let drilled = 0;
  // why incidents got no drill-down command, said once per reason
  const noCommand = new Map<string, number>();
  for (const incident of incidents) {
    const made = drilldownCommand(incident, {
      archiveRoot: p.config.paths.archive,
      source: cfg.aggregate.source,
      key: cfg.aggregate.key,
      inputs: p.inputs,
      intervalMs: cfg.archive.interval * 1000,
      top: dd.top,
      nfdump: binary,
    });
    if (typeof made === 'string') {
      incident.flowknn.drilldown = null;
      noCommand.set(made, (noCommand.get(made) ?? 0) + 1);
      continue;
    }
    const why = !dd.enabled ? 'not run: incidents.drilldown.enabled is false' : incident.flowknn.suppressed ? 'not run: suppressed' : p.nfdump === null ? (p.noDrilldown ?? 'not run for a shard') : drilled >= dd.maxIncidents ? `not run: past incidents.drilldown.maxIncidents (${dd.maxIncidents})` : null;
    incident.flowknn.drilldown = { command: commandText(made.argv), argv: made.argv, peers: null, ports: null, protocols: null, note: why };
    if (why !== null) continue;
    drilled++;
    const got = await runDrilldown(made.argv, { ...p.nfdump!, timeoutS: dd.timeout });
    Object.assign(incident.flowknn.drilldown, got);
    if (got.note) p.log(`warning: drill-down of incident ${incident.event.id} (${incident.flowknn.host}, ${incident.flowknn.class}) ${got.note}`);
    applyDirection(incident, alerts, settings);
  }
  // where drill-downs would run: not when disabled (said every night), not in a shard (its merge says it)
  if (dd.enabled && p.nfdump !== null) for (const [why, n] of noCommand) p.log(`drill-down: no nfdump command for ${n} incident${n === 1 ? '' : 's'}: ${why}`);
  return { incidents, alerts, counts: countIncidents(incidents, settings) };
}
