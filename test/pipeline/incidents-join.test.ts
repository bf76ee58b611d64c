import { describe, expect, it } from 'vitest';
import { parseNightlyConfig } from '../../src/pipeline/config.js';
import { buildIncidents, directionOf, hostOf, incidentSettings } from '../../src/pipeline/incidents.js';
import { NetworkSet, parseCidr, type Cidr } from '../../src/pipeline/networks.js';
import type { Alert } from '../../src/pipeline/outputs.js';

/**
 * How alert rows become incidents, on rows as alertsOf writes them: which windows join, what
 * an id depends on, directions against the own networks. (The same on a real night, against
 * the generator's ground truth: incidents.test.ts.)
 */

const DATE = '2026-11-01';
const MODEL = { name: 'core', version: 3, created: '2026-10-30T00:00:00.000Z', train_sha256: 'ab'.repeat(32) };

function settings(incidents: Record<string, unknown> = {}, own: string[] = ['10.0.0.0/8', '2001:db8::/32']) {
  const cfg = parseNightlyConfig(JSON.stringify({ archive: { root: 'a' }, output: { root: 'o' }, model: { path: 'm' }, networks: { own }, incidents }), '/etc/flowknn/night.json');
  return incidentSettings(cfg.config, DATE, MODEL);
}

/** An alert row of a 5-minute window starting at hh:mm. */
function row(key: string, hhmm: string, predicted: string, o: { novel?: boolean; classAlert?: boolean; packets?: number } = {}): Alert {
  const start = `${DATE}T${hhmm}:00.000Z`;
  const classAlert = o.classAlert ?? predicted !== 'http';
  const packets = o.packets ?? 10_000;
  return {
    date: DATE,
    window_start: start,
    key,
    predicted,
    voted: predicted,
    probability: 1,
    novelty: o.novel ? 2 : 0.5,
    novel: o.novel ?? false,
    reasons: [...(classAlert ? [`class ${predicted}`] : []), ...(o.novel ? ['novel'] : [])],
    duration_s: 30,
    flows: 10,
    packets,
    bytes: packets * 1000,
    pps: packets / 30,
    bps: (packets * 8000) / 30,
    bpp: 1000,
    first_seen: start,
    source_file: `2026/11/01/nfcapd.202611010${hhmm.replace(':', '').slice(1)}`,
    router: 'flows',
  };
}

describe('joining alert rows into incidents', () => {
  it('windows that touch join, one quiet window between them too (gap 1), two do not; gap 0 joins only touching windows', () => {
    const rows = [row('203.0.113.7', '01:00', 'small-flood'), row('203.0.113.7', '01:05', 'small-flood'), row('203.0.113.7', '01:15', 'small-flood'), row('203.0.113.7', '01:30', 'small-flood')];
    const one = buildIncidents(rows, settings());
    expect(one.incidents.map((i) => [i.event.start.slice(11, 16), i.event.end.slice(11, 16), i.flowknn.windows])).toEqual([
      ['01:00', '01:20', 3],
      ['01:30', '01:35', 1],
    ]);
    expect(one.incidents[0]!.network.packets).toBe(30_000);
    const zero = buildIncidents(rows, settings({ gap: 0 }));
    expect(zero.incidents.map((i) => i.flowknn.windows).sort()).toEqual([1, 1, 2]);
    // every row carries its incident's id
    expect(one.alerts.map((a) => a.incident_id)).toEqual([one.incidents[0]!.event.id, one.incidents[0]!.event.id, one.incidents[0]!.event.id, one.incidents[1]!.event.id]);
  });

  it("one host's rows of one window from two routers: one incident naming both, an alert id each; one router's ids do not depend on its name", () => {
    const at = (router: string, hhmm: string) => ({ ...row('203.0.113.7', hhmm, 'small-flood'), router });
    const { incidents, alerts } = buildIncidents([at('rtr1', '01:00'), at('rtr2', '01:00'), at('rtr1', '01:05')], settings());
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.flowknn.routers).toEqual(['rtr1', 'rtr2']);
    expect(new Set(alerts.map((a) => a.event.id)).size).toBe(3);
    const one = buildIncidents([at('rtr1', '01:00'), at('rtr1', '01:05')], settings()).alerts.map((a) => a.event.id);
    const renamed = buildIncidents([at('core-1', '01:00'), at('core-1', '01:05')], settings()).alerts.map((a) => a.event.id);
    expect(renamed).toEqual(one);
    // a window of one router's row keeps its id when another router's row joins another window
    expect(alerts[2]!.event.id).toBe(one[1]);
  });

  it("hosts and classes never share an incident; a host's novel window next to its flood joins the flood", () => {
    const rows = [
      row('10.0.1.9', '02:00', 'http', { novel: true }), // the flood's first seconds, voted http
      row('10.0.1.9', '02:05', 'incoming-floods'),
      row('10.0.1.10', '02:05', 'incoming-floods'),
      row('10.0.1.9', '02:10', 'small-flood'),
      row('10.0.2.4', '05:00', 'http', { novel: true }),
    ];
    const { incidents, alerts } = buildIncidents(rows, settings());
    const of = (host: string, rule: string) => incidents.filter((i) => i.flowknn.host === host && i.rule.name === rule);
    expect(of('10.0.1.9', 'incoming-floods')[0]!.flowknn).toMatchObject({ windows: 2, novel_windows: 1, predicted: { http: 1, 'incoming-floods': 1 } });
    expect(of('10.0.1.9', 'small-flood')).toHaveLength(1);
    expect(of('10.0.1.10', 'incoming-floods')).toHaveLength(1);
    const oddity = of('10.0.2.4', 'novelty')[0]!;
    expect(oddity.flowknn).toMatchObject({ novelty_only: true, severity: 'low' });
    expect(incidents).toHaveLength(4);
    expect(alerts[0]!.incident_id).toBe(alerts[1]!.incident_id);
    expect(alerts[0]!.rule.name).toBe('incoming-floods');
    // ranked: the floods (medium, the default) before the novelty-only oddity (low), bigger first
    expect(incidents[incidents.length - 1]).toBe(oddity);
  });

  it('an id is the same for the same host, class, night and start, whatever else the night holds', () => {
    const a = buildIncidents([row('203.0.113.7', '01:00', 'small-flood'), row('203.0.113.8', '03:00', 'small-flood')], settings());
    const b = buildIncidents([row('203.0.113.7', '01:00', 'small-flood', { packets: 99 })], settings({ severity: { 'small-flood': 'critical' } }));
    const idOf = (r: typeof a, host: string) => r.incidents.find((i) => i.flowknn.host === host)!.event.id;
    expect(idOf(a, '203.0.113.7')).toMatch(/^[0-9a-f]{24}$/u);
    expect(idOf(b, '203.0.113.7')).toBe(idOf(a, '203.0.113.7'));
    expect(idOf(a, '203.0.113.8')).not.toBe(idOf(a, '203.0.113.7'));
    const later = buildIncidents([row('203.0.113.7', '01:05', 'small-flood')], settings());
    expect(idOf(later, '203.0.113.7')).not.toBe(idOf(a, '203.0.113.7'));
    expect(b.incidents[0]!.event.severity).toBe(99);
  });

  it('direction against the own networks, IPv4 and IPv6, by the host and its top peer', () => {
    const own = new NetworkSet(['10.0.0.0/8', '2001:db8::/32'].map((t) => parseCidr(t) as Cidr));
    const dst = (ip: string) => hostOf('dstip', ip);
    expect(directionOf(dst('10.0.1.9'), own, null)).toBe('inbound');
    expect(directionOf(dst('10.0.1.9'), own, '10.3.3.3')).toBe('internal');
    expect(directionOf(dst('203.0.113.7'), own, null)).toBe('outbound');
    expect(directionOf(dst('203.0.113.7'), own, '198.51.100.1')).toBe('external');
    expect(directionOf(dst('2001:db8:1::53'), own, '2a00::1')).toBe('inbound');
    expect(directionOf(dst('2a00::1'), own, '2001:db8:1::53')).toBe('outbound');
    expect(directionOf(hostOf('srcip', '10.0.0.5'), own, '203.0.113.7')).toBe('outbound');
    expect(directionOf(dst('10.0.1.9'), new NetworkSet([]), null)).toBe('unknown');
    expect(hostOf('dstip+proto', '10.0.1.9|UDP')).toEqual({ host: '10.0.1.9', role: 'destination', ip: '10.0.1.9', net: null, transport: 'udp' });
    // a key by address prefix: the prefix is the host, looked up by its first address
    expect(hostOf('dstip/24+proto', '10.0.1.0/24|TCP')).toEqual({ host: '10.0.1.0/24', role: 'destination', ip: null, net: '10.0.1.0/24', transport: 'tcp' });
    expect(directionOf(hostOf('dstip/24', '10.0.1.0/24'), own, null)).toBe('inbound');
    expect(directionOf(hostOf('dstip/24/64', '2a00:1::/64'), own, null)).toBe('outbound');
    expect(directionOf(hostOf('srcip/16', '10.9.0.0/16'), own, '203.0.113.7')).toBe('outbound');
    expect(parseCidr('2001:db8::/129')).toContain('from 0 to 128');
    expect(parseCidr('10.0.0.1')).toMatchObject({ prefix: 32, family: 'ipv4' });
  });

  it('a suppression rule matches host and class, until its date; an expired one does not', () => {
    const rows = [row('10.0.2.4', '05:00', 'nfs'), row('10.0.2.4', '06:00', 'http', { novel: true }), row('10.0.3.4', '05:00', 'nfs')];
    const s = settings({
      suppress: [
        { host: '10.0.2.0/24', class: 'nfs', reason: 'nightly NFS backup', until: '2026-11-01' },
        { host: '10.0.3.4', reason: 'retired host', until: '2026-10-31' },
      ],
    });
    const { incidents } = buildIncidents(rows, s);
    const get = (host: string, rule: string) => incidents.find((i) => i.flowknn.host === host && i.rule.name === rule)!;
    expect(get('10.0.2.4', 'nfs').flowknn.suppression).toMatchObject({ rule: 0, reason: 'nightly NFS backup' });
    expect(get('10.0.2.4', 'novelty').flowknn.suppressed).toBe(false);
    expect(get('10.0.3.4', 'nfs').flowknn.suppressed).toBe(false);
  });
});
