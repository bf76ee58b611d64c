import { describe, expect, it } from 'vitest';
import { parseNightlyConfig } from '../../src/pipeline/config.js';
import { drilldownCommand, type DrilldownContext } from '../../src/pipeline/drilldown.js';
import type { Incident } from '../../src/pipeline/incidents.js';
import { nightIncidents } from '../../src/pipeline/night-incidents.js';
import type { Alert, ManifestInput, ModelInfo } from '../../src/pipeline/outputs.js';

/** The drill-down's nfdump command over several routers' archives (live/<router>/YYYY/MM/DD/). */

const ROOT = '/data/live';
const slot = (hhmm: string) => `2026-11-01T${hhmm.slice(0, 2)}:${hhmm.slice(2)}:00.000Z`;
const input = (router: string, hhmm: string) => ({ path: `${router}/2026/11/01/nfcapd.20261101${hhmm}`, slot_start: slot(hhmm), status: 'ok' as const });
// rtr1's collector started late: it has no file at the incident's first slot
const inputs = [...['0010', '0015', '0020'].map((t) => input('rtr1', t)), ...['0000', '0005', '0010', '0015', '0020', '0025'].map((t) => input('rtr2', t))];
const ctx: DrilldownContext = { archiveRoot: ROOT, source: 'flows', key: 'dstip', inputs, intervalMs: 300_000, top: 10, nfdump: 'nfdump' };
const incident = (routers: string[]) => ({ event: { start: slot('0000'), end: slot('0015') }, flowknn: { key: '10.0.0.1', source_files: [], routers } }) as unknown as Incident;

describe('drill-down over several routers', () => {
  it("reads both routers' folders over one range with -M, the folder holding the first file first", () => {
    const made = drilldownCommand(incident(['rtr1', 'rtr2']), ctx);
    if (typeof made === 'string') throw new Error(made);
    expect(made.argv.slice(0, 5)).toEqual(['nfdump', '-M', '/data/live/rtr2:rtr1', '-R', '2026/11/01/nfcapd.202611010000:2026/11/01/nfcapd.202611010015']);
    expect(made.files).toBe(6);
  });

  it("reads one router's own files only", () => {
    const made = drilldownCommand(incident(['rtr1']), ctx);
    if (typeof made === 'string') throw new Error(made);
    expect(made.argv.slice(0, 3)).toEqual(['nfdump', '-R', '/data/live/rtr1/2026/11/01/nfcapd.202611010010:2026/11/01/nfcapd.202611010015']);
  });

  it('says why not where nfdump cannot read them over one range', () => {
    const mixed = { ...ctx, inputs: [input('rtr2', '0000'), { path: 'rtr1/nfcapd.202611010005', slot_start: slot('0005'), status: 'ok' as const }] };
    expect(drilldownCommand(incident(['rtr1', 'rtr2']), mixed)).toMatch(/have different date folders/u);
    const colon = { ...ctx, inputs: [input('2001:db8::1', '0000')] };
    expect(drilldownCommand(incident(['2001:db8::1']), colon)).toMatch(/":" in its name/u);
  });

  it('incidents without a command: their drill-down is null and the night says why, once per reason', async () => {
    const config = parseNightlyConfig(JSON.stringify({ archive: { root: ROOT }, output: { root: '/data/out' }, model: { path: '/data/model' }, aggregate: { source: 'flows', key: 'dstport' } }), '/data/nightly.json');
    const alert = (key: string): Alert => ({
      date: '2026-11-01',
      window_start: slot('0000'),
      key,
      predicted: 'flood',
      voted: 'flood',
      probability: 1,
      novelty: null,
      novel: false,
      reasons: ['class flood'],
      duration_s: 60,
      flows: 10,
      packets: 1000,
      bytes: 64000,
      pps: 16,
      bps: 8533,
      bpp: 64,
      first_seen: slot('0000'),
      source_file: null,
      router: null,
    });
    const logs: string[] = [];
    const model = { classes: ['flood', 'normal'] } as unknown as ModelInfo;
    const got = await nightIncidents({ config, date: '2026-11-01', model, alerts: [alert('80'), alert('443')], inputs: inputs as unknown as ManifestInput[], nfdump: {}, log: (m) => logs.push(m) });
    expect(got.incidents).toHaveLength(2);
    for (const i of got.incidents) expect(i.flowknn.drilldown).toBeNull();
    expect(logs).toContain('drill-down: no nfdump command for 2 incidents: the key dstport holds no address to filter on');
    // a shard (no nfdump: its merge drills down) says nothing of it
    const shard: string[] = [];
    await nightIncidents({ config, date: '2026-11-01', model, alerts: [alert('80')], inputs: inputs as unknown as ManifestInput[], nfdump: null, log: (m) => shard.push(m) });
    expect(shard.filter((m) => m.startsWith('drill-down'))).toEqual([]);
  });
});
