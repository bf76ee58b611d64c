import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressPrefix } from '../../src/features/prefix.js';
import type { Incident, IncidentAlert } from '../../src/pipeline/incidents.js';
import type { NotifyState } from '../../src/pipeline/notify.js';
import type { Summary } from '../../src/pipeline/outputs.js';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { runMain } from '../helpers/cli.js';
import { nightlyConfigs } from '../helpers/nightly.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * Incidents of a real night (nfcapd files made by nfpcapd from generated pcaps, read by
 * nfdump): the generator's ground truth says where every flood is, so each one can be looked
 * for among the incidents; notification per incident across reruns; suppression rules.
 */

const DATE = '2026-11-01';
let dir: string;
let cleanup: () => Promise<void>;
let archive: SynthResult;
let model: string;

const OWN = ['10.0.0.0/8', '192.168.0.0/16', '2001:db8:1::/48'];
const SEVERITY = { 'incoming-floods': 'critical', 'small-flood': 'high' };

const { config, writeConfig } = nightlyConfigs(() => ({
  dir,
  archive: archive.flowsDir,
  model,
  aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
  classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: true },
}));

const day = (name: string) => join(dir, name, DATE);
const ndjson = async <T>(file: string): Promise<T[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

interface Truth {
  id: string;
  cls: string;
  host: string;
  peer: string;
  service: string;
  start: number;
  end: number;
  packets: number;
}
let truth: Truth[];

const overlaps = (i: Incident, t: Truth) => Date.parse(i.event.start) <= t.end && Date.parse(i.event.end) >= t.start;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-incidents-'));
  archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 2, seed: 7, background: 2000, nfs: true, jobs: 2 });
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  truth = (await readFile(join(archive.out, 'ground-truth.csv'), 'utf8'))
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.split(','))
    .map((c) => ({ id: c[0]!, cls: c[1]!, host: c[3]!, peer: c[4]!, service: c[5]!, start: Date.parse(c[6]!), end: Date.parse(c[7]!), packets: Number(c[9]) }));
}, 300_000);

afterAll(() => cleanup?.());

describe('incidents of a night', () => {
  it('every injected flood is one incident of its host, inbound or outbound, with its peer and port in the drill-down; ids are the same on a rerun', async () => {
    const cfg = await writeConfig('night', { networks: { own: OWN }, incidents: { severity: SEVERITY } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const incidents = await ndjson<Incident>(join(day('night'), 'incidents.ndjson'));
    const alerts = await ndjson<IncidentAlert>(join(day('night'), 'alerts.ndjson'));
    const summary = JSON.parse(await readFile(join(day('night'), 'summary.json'), 'utf8')) as Summary;
    expect(summary.incidents).toMatchObject({ total: incidents.length, open: incidents.length, suppressed: 0, drilldown_failed: 0 });
    expect(incidents.length).toBeGreaterThan(0);
    expect(incidents.length).toBeLessThan(alerts.length);

    // every alert row belongs to one incident, which counts it
    const byId = new Map(incidents.map((i) => [i.event.id, i]));
    expect(byId.size).toBe(incidents.length);
    for (const a of alerts) {
      const inc = byId.get(a.incident_id)!;
      expect(inc, `incident of ${a.key} at ${a.window_start}`).toBeDefined();
      expect(inc.flowknn.key).toBe(a.key);
      expect(a['@timestamp']).toBe(a.window_start);
      expect(a.event).toMatchObject({ kind: 'alert', category: ['network'], dataset: 'flowknn.alert', severity: inc.event.severity });
      expect(a.event.start! >= inc.event.start && a.event.end! <= inc.event.end).toBe(true);
    }
    expect(incidents.reduce((n, i) => n + i.flowknn.alerts, 0)).toBe(alerts.length);

    // the ground truth: each flood event in exactly one incident of its host, of a flood class
    const floods = truth.filter((t) => t.cls === 'small-flood' || t.cls === 'incoming-floods');
    expect(floods.length).toBeGreaterThan(1);
    for (const t of floods) {
      const hits = incidents.filter((i) => i.flowknn.host === t.host && overlaps(i, t));
      expect(hits.map((h) => h.rule.name), `${t.id} (${t.cls} toward ${t.host})`).toHaveLength(1);
      const inc = hits[0]!;
      expect(['small-flood', 'incoming-floods']).toContain(inc.rule.name);
      expect(inc.destination).toEqual({ ip: t.host });
      expect(inc.network.direction).toBe(t.cls === 'small-flood' ? 'outbound' : 'inbound');
      expect(inc.flowknn.severity).toBe(inc.rule.name === 'incoming-floods' ? 'critical' : 'high');
      expect(inc.event.severity).toBe(inc.rule.name === 'incoming-floods' ? 99 : 73);
      // the drill-down ran nfdump over the incident's files, for its host
      const dd = inc.flowknn.drilldown!;
      expect(dd.note).toBeNull();
      expect(dd.argv[dd.argv.length - 1]).toBe(`dst ip ${t.host}`);
      const port = /^(?:tcp|udp)\/(\d+)$/u.exec(t.service)?.[1];
      if (port) expect(dd.ports!.map((p) => p.value)).toContain(port);
      if (t.cls === 'small-flood') {
        // one inside host sends the flood: the top peer, and the transport is its UDP
        expect(dd.peers![0]!.value).toBe(t.peer);
        expect(inc.network.transport).toBe('udp');
      } else {
        expect(dd.peers!.every((p) => p.value.startsWith('100.'))).toBe(true);
      }
    }

    // an incident of one window: nfdump's own counts over its file equal the incident's
    for (const inc of incidents.filter((i) => i.flowknn.windows === 1 && i.flowknn.drilldown?.protocols)) {
      expect(inc.flowknn.drilldown!.protocols!.reduce((n, p) => n + p.packets, 0), inc.flowknn.host).toBe(inc.network.packets);
    }
    // the command shown is the one run: pasted into a shell it prints the same lists
    const sample = incidents.find((i) => i.flowknn.drilldown?.peers)!;
    const shell = execFileSync('/bin/sh', ['-c', sample.flowknn.drilldown!.command], { encoding: 'utf8' });
    for (const p of sample.flowknn.drilldown!.peers!) expect(shell).toContain(`,${p.value},${p.flows},`);

    // ranked: severity first, then size
    const rank = { critical: 3, high: 2, medium: 1, low: 0 } as const;
    for (let k = 1; k < incidents.length; k++) {
      const [a, b] = [incidents[k - 1]!, incidents[k]!];
      expect(rank[a.flowknn.severity] > rank[b.flowknn.severity] || (a.flowknn.severity === b.flowknn.severity && a.network.packets >= b.network.packets)).toBe(true);
    }
    const novelty = incidents.filter((i) => i.flowknn.novelty_only);
    for (const i of novelty) expect(i).toMatchObject({ rule: { name: 'novelty' }, flowknn: { severity: 'low' } });

    // the same incidents, ids and drill-downs on a rerun that redoes the day
    const before = await readFile(join(day('night'), 'incidents.ndjson'), 'utf8');
    const again = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet', '--force']);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(day('night'), 'incidents.ndjson'), 'utf8')).toBe(before);
  }, 300_000);

  it('by address prefix (flows source, dstip/24): each flood is in one incident of its prefix, drilled down with "dst net", its direction from the prefix', async () => {
    const cfg = await writeConfig('prefix', { aggregate: { source: 'flows', key: 'dstip/24', window: 300, minPackets: 1000 }, networks: { own: OWN }, incidents: { severity: SEVERITY } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const incidents = await ndjson<Incident>(join(day('prefix'), 'incidents.ndjson'));
    const floods = truth.filter((t) => t.cls === 'small-flood' || t.cls === 'incoming-floods');
    expect(floods.length).toBeGreaterThan(1);
    for (const t of floods) {
      const prefix = addressPrefix(t.host, { v4: 24, v6: 64 })!;
      const hits = incidents.filter((i) => i.flowknn.host === prefix && overlaps(i, t));
      expect(hits.map((h) => h.rule.name), `${t.id} (${t.cls} toward ${t.host}, prefix ${prefix})`).toHaveLength(1);
      const inc = hits[0]!;
      expect(inc.flowknn.key).toBe(prefix);
      expect(inc.destination).toBeUndefined(); // a prefix is no address for ECS destination.ip
      expect(inc.network.direction).toBe(t.cls === 'small-flood' ? 'outbound' : 'inbound');
      const dd = inc.flowknn.drilldown!;
      expect(dd.note).toBeNull();
      expect(dd.argv[dd.argv.length - 1]).toBe(`dst net ${prefix}`);
      if (t.cls === 'small-flood') expect(dd.peers![0]!.value).toBe(t.peer);
    }
    for (const inc of incidents) expect(inc.flowknn.host, 'every key is a /24 or /64 prefix').toMatch(/^(?:\d+\.\d+\.\d+\.0\/24|[0-9a-f:]+\/64)$/u);
  });

  it('a rerun with --force notifies no incident twice; suppressed incidents are listed and counted, never notified, and sent once their rule is gone', async () => {
    const rules = [
      { host: '203.0.113.0/24', class: 'small-flood', reason: 'lab traffic generator' },
      // were it applied, it would suppress every incident
      { host: '0.0.0.0/0', class: 'any', until: '2026-10-31', reason: 'load test last month' },
    ];
    const cfg = await writeConfig('notify', { networks: { own: OWN }, incidents: { severity: SEVERITY, suppress: rules } });
    const sent = (n: number) => join(dir, `sent-${n}.ndjson`);
    const cmd = (n: number) => `cat > '${sent(n)}'; echo "$FLOWKNN_INCIDENTS $FLOWKNN_ALERTS" > '${sent(n)}.env'`;
    const first = await runMain(['nightly', '--config', cfg, '--date', DATE, '--notify-cmd', cmd(1)]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('warning: incidents.suppress[1] (0.0.0.0/0, any: load test last month) expired on 2026-10-31: not applied to 2026-11-01');
    const incidents = await ndjson<Incident>(join(day('notify'), 'incidents.ndjson'));
    const suppressed = incidents.filter((i) => i.flowknn.suppressed);
    const open = incidents.filter((i) => !i.flowknn.suppressed);
    expect(suppressed.length).toBeGreaterThan(0);
    expect(open.length).toBeGreaterThan(0);
    for (const i of suppressed) {
      expect(i.rule.name).toBe('small-flood');
      expect(i.flowknn.host.startsWith('203.0.113.')).toBe(true);
      expect(i.flowknn.suppression).toEqual({ rule: 0, host: '203.0.113.0/24', class: 'small-flood', until: null, reason: 'lab traffic generator' });
      expect(i.flowknn.drilldown!.note).toBe('not run: suppressed');
    }
    // the expired rule suppressed nothing
    expect(incidents.filter((i) => i.flowknn.suppression?.rule === 1)).toEqual([]);
    const summary = JSON.parse(await readFile(join(day('notify'), 'summary.json'), 'utf8')) as Summary;
    expect(summary.incidents).toMatchObject({ total: incidents.length, open: open.length, suppressed: suppressed.length });
    expect(summary.incidents!.suppressed_by_rule).toEqual([{ rule: 0, host: '203.0.113.0/24', class: 'small-flood', reason: 'lab traffic generator', incidents: suppressed.length }]);
    expect(summary.incidents!.expired_rules).toEqual([{ rule: 1, host: '0.0.0.0/0', class: 'any', until: '2026-10-31', reason: 'load test last month' }]);
    expect(first.stdout).toContain(`in ${open.length} incidents (+${suppressed.length} suppressed)`);

    // what was sent: the open incidents, each once, as they are in incidents.ndjson
    const got = await ndjson<Incident>(sent(1));
    expect(got.map((i) => i.event.id).sort()).toEqual(open.map((i) => i.event.id).sort());
    expect(await readFile(`${sent(1)}.env`, 'utf8')).toBe(`${open.length} ${open.reduce((n, i) => n + i.flowknn.alerts, 0)}\n`);
    const state1 = JSON.parse(await readFile(join(day('notify'), 'notify.json'), 'utf8')) as NotifyState;
    expect(state1).toMatchObject({ status: 'sent', attempts: 1, pending: [], incidents: open.length });
    expect([...state1.notified].sort()).toEqual(open.map((i) => i.event.id).sort());

    // --force redoes the day: the same incidents, all sent already: the command does not run
    const forced = await runMain(['nightly', '--config', cfg, '--date', DATE, '--force', '--notify-cmd', cmd(2)]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('--force: starting');
    expect(forced.stderr).not.toContain('notified:');
    await expect(stat(sent(2))).rejects.toThrow();
    const state2 = JSON.parse(await readFile(join(day('notify'), 'notify.json'), 'utf8')) as NotifyState;
    expect(state2).toMatchObject({ status: 'sent', attempts: 1, pending: [], notified: state1.notified });

    // the suppression rule removed: the day is redone (its inputs reused) and only the incidents
    // it had suppressed are sent, as new
    await writeFile(cfg, config('notify', { networks: { own: OWN }, incidents: { severity: SEVERITY, suppress: [rules[1]] } }));
    const lifted = await runMain(['nightly', '--config', cfg, '--date', DATE, '--notify-cmd', cmd(3)]);
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(lifted.stderr).toMatch(new RegExp(`notified: ${suppressed.length} incidents? \\(\\d+ alerts\\)`, 'u'));
    expect((await ndjson<Incident>(sent(3))).map((i) => i.event.id).sort()).toEqual(suppressed.map((i) => i.event.id).sort());
    const summary3 = JSON.parse(await readFile(join(day('notify'), 'summary.json'), 'utf8')) as Summary;
    expect(summary3.inputs.reused).toBe(archive.files.length);
    expect(summary3.incidents).toMatchObject({ total: incidents.length, open: incidents.length, suppressed: 0 });

    // flowknn notify sends every open incident again, on request
    const resend = await runMain(['notify', '--config', cfg, '--date', DATE, '--notify-cmd', cmd(4)]);
    expect(resend.code, resend.stderr).toBe(0);
    expect(resend.stdout).toMatch(new RegExp(`^${DATE}: sent ${incidents.length} incidents \\(\\d+ alerts, attempt 3\\)`, 'u'));
    expect((await ndjson<Incident>(sent(4))).length).toBe(incidents.length);
  }, 300_000);

  it('a drill-down that fails is a warning on its incident, never a failed night; a rule naming a class the model lacks is a warning', async () => {
    const typo = { host: '0.0.0.0/0', class: 'small-floods', reason: 'a class misspelt' };
    const cfg = await writeConfig('slow', { networks: { own: OWN }, incidents: { drilldown: { timeout: 0.001, maxIncidents: 2 }, suppress: [typo] } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: incidents.suppress[0] names the class "small-floods", which the model (');
    expect(r.stderr).toContain(') does not have: it suppresses nothing');
    expect(r.stderr).toMatch(/warning: drill-down of incident [0-9a-f]{24} \(.+\) failed: nfdump did not finish reading it within 0\.001 s/u);
    const incidents = await ndjson<Incident>(join(day('slow'), 'incidents.ndjson'));
    const notes = incidents.map((i) => i.flowknn.drilldown?.note ?? null);
    expect(notes.slice(0, 2).every((n) => n?.startsWith('failed: nfdump did not finish'))).toBe(true);
    expect(notes.slice(2).every((n) => n === 'not run: past incidents.drilldown.maxIncidents (2)')).toBe(true);
    // every incident still has its command, and a direction from its host alone
    for (const i of incidents) {
      expect(i.flowknn.drilldown!.command).toMatch(/^TZ=UTC nfdump -[rR] /u);
      expect(i.flowknn.drilldown!.peers).toBeNull();
      expect(['inbound', 'outbound']).toContain(i.network.direction);
    }
    const summary = JSON.parse(await readFile(join(day('slow'), 'summary.json'), 'utf8')) as Summary;
    expect(summary.incidents).toMatchObject({ drilldown_failed: 2, suppressed: 0 });
  }, 300_000);

  it('bad networks or suppression rules: exit 2 naming the key', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ networks: { own: ['10.0.0.0/33'] } }, /networks\.own\.0: "10\.0\.0\.0\/33": the prefix length must be a whole number from 0 to 32/u],
      [{ networks: { own: ['2001:db8::/48', 'intranet'] } }, /networks\.own\.1: "intranet" is not an IPv4 or IPv6 address or CIDR block/u],
      [{ incidents: { suppress: [{ host: '10.0.2.0/24', class: 'nfs' }] } }, /incidents\.suppress\.0\.reason: /u],
      [{ incidents: { suppress: [{ host: '10.0.2.0/24', reason: ' ' }] } }, /incidents\.suppress\.0\.reason: a reason is required/u],
      [{ incidents: { suppress: [{ host: '10.0.2.0/24', reason: 'backup', until: '2026-02-30' }] } }, /incidents\.suppress\.0\.until: expected a date that exists/u],
      [{ incidents: { suppress: [{ host: '10.0.2.300', reason: 'backup' }] } }, /incidents\.suppress\.0\.host: "10\.0\.2\.300" is not an IPv4/u],
      [{ incidents: { suppress: [{ host: '10.0.2.0/24', reason: 'backup', hosts: 'x' }] } }, /incidents\.suppress\.0\.hosts: unknown key/u],
      [{ incidents: { severity: { 'small-flood': 'urgent' } } }, /incidents\.severity\.small-flood: /u],
    ];
    for (const [extra, message] of cases) {
      const cfg = await writeConfig('bad', extra);
      const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
      expect(r.code, JSON.stringify(extra)).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/bad\.json(:\d+)?: /u);
    }
  });
});
