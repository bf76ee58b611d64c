import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { aggregateFlowInput } from '../../src/ingest/aggregate-input.js';
import { nfcapdFormat } from '../../src/ingest/formats/nfcapd.js';
import { probeNfdump, type NfdumpVersion } from '../../src/ingest/nfdump/version.js';
import { ip4, ip6, toPcap, type Addr, type Packet } from '../../src/synth/packets.js';
import { Rng } from '../../src/synth/rng.js';
import { EPOCH_SEC } from '../fixtures/gen/pcap.js';
import { nfcapdSeed } from '../helpers/nfcapd-fixture.js';
import { hasSoftflowd, nfdumpReleases, softflowdArchive } from '../helpers/nfdump-releases.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * IPv4-compatible IPv6 addresses (::/96: ::10.0.0.1, ::1) next to the IPv4 addresses they share
 * their low 32 bits with. nfdump 1.7.1 sums ::10.0.0.1's flows into 10.0.0.1 under `-A dstip`;
 * flowknn reads such a file with nfdump's aggregates all the same, those flows left out and read
 * on their own, and must get, for every key and window, what the file's flows one by one give.
 * A real exporter (softflowd, NetFlow v9) into each release's nfcapd; random traffic, seed printed.
 */

const { found: releases, missing } = nfdumpReleases();
const ready = missing.length === 0 && hasSoftflowd();
const inCi = process.env.CI === 'true';

const files = new Map<string, string>();
const versions = new Map<string, NfdumpVersion>();
let cleanup: () => Promise<void> = async () => undefined;

/** UDP flows to and from IPv4 addresses and their ::/96 twins, some lasting across minutes. */
function traffic(seed: number): Packet[] {
  const rng = new Rng(seed);
  const v4 = ['10.0.0.1', '10.0.0.2', '192.0.2.7'];
  const twins = ['::a00:1', '::a00:2', '::c000:207', '::1'];
  const dsts: Addr[] = [...v4.map(ip4), ...twins.map(ip6), ip6('2001:db8::53')];
  const srcs4 = [ip4('198.51.100.9'), ip4('10.0.0.2')];
  const srcs6 = [ip6('2001:db8::9'), ip6('::a00:2')];
  const packets: Packet[] = [];
  let order = 0;
  for (let f = 0; f < 60; f++) {
    const dst = dsts[rng.int(0, dsts.length - 1)]!;
    const src = (dst.v === 4 ? srcs4 : srcs6)[rng.int(0, 1)]!;
    const sport = 10_000 + f;
    const start = rng.int(0, 240) * 1_000_000;
    const span = rng.float() < 0.4 ? rng.int(20, 90) * 1_000_000 : rng.int(0, 2_000_000);
    const count = rng.int(1, 6);
    for (let p = 0; p < count; p++) {
      const tUs = start + Math.round((span * p) / Math.max(1, count - 1));
      packets.push({ tUs, src, dst, ttl: 64, payload: rng.int(20, 900), l4: { proto: 'udp', sport, dport: 53 }, order: order++ });
    }
  }
  return packets.sort((a, b) => a.tUs - b.tUs || a.order - b.order);
}

describe.skipIf(!ready && !inCi)('nfdump -A and IPv4-compatible IPv6 addresses (1.6.25, 1.7.1, 1.7.8)', () => {
  beforeAll(async () => {
    if (!ready) throw new Error(`CI must run this: missing ${[...missing, ...(hasSoftflowd() ? [] : ['softflowd'])].join('; ')}`);
    const tmp = await makeTempDir('flowknn-v6compat-');
    cleanup = tmp.cleanup;
    const pcap = join(tmp.dir, 'twins.pcap');
    await writeFile(pcap, toPcap(traffic(nfcapdSeed(20261206, 'test/compat/nfdump-a-compatible-v6.test.ts')), EPOCH_SEC));
    for (const r of releases) {
      versions.set(r.version, await probeNfdump(r.nfdump));
      files.set(r.version, await softflowdArchive(r, 9, pcap, join(tmp.dir, `nfcapd-${r.version}`), 'twins'));
    }
  }, 180_000);
  afterAll(() => cleanup());

  for (const version of ['1.6.25', '1.7.1', '1.7.8']) {
    it(`nfdump ${version}: the same aggregates as the flows one by one, for address keys, windows and a filter`, async () => {
      const v = versions.get(version)!;
      const file = files.get(version)!;
      const flowsOnly = { ...nfcapdFormat, aggregated: undefined };
      let twinsSeen = 0;
      for (const key of ['dstip', 'srcip+dstip', 'dstip+dstport']) {
        for (const window of ['whole', 60] as const) {
          for (const filter of [undefined, 'proto udp']) {
            const options = { nfdump: { version: v, filter } };
            const got = new FlowAggregator({ key, window });
            const read = await aggregateFlowInput(file, nfcapdFormat, got, options);
            const want = new FlowAggregator({ key, window });
            await aggregateFlowInput(file, flowsOnly, want, options);
            const what = `${key}, window ${window}, filter ${filter ?? 'none'}: read ${read.via}`;
            expect(got.rows().length, what).toBeGreaterThan(0);
            expect(JSON.stringify(got.rows()), what).toBe(JSON.stringify(want.rows()));
            expect(got.flowCount, what).toBe(want.flowCount);
            if (version === '1.6.25') expect(read.via, what).toBe('flows');
            else expect(read.via, what).toMatch(new RegExp(`^-A ${key.replace(/\+/gu, ',')}`, 'u'));
            if (version === '1.7.1') {
              expect(read.via, what).toContain('IPv4-compatible IPv6 addresses (::/96)');
              twinsSeen++;
            } else expect(read.via, what).not.toContain('::/96');
            // the twins are there, apart from their IPv4 addresses
            const keys = new Set(want.rows().map((r) => r.key));
            if (key === 'dstip') expect([...keys].some((k) => k.startsWith('::')) && keys.has('10.0.0.1'), what).toBe(true);
          }
        }
      }
      if (version === '1.7.1') expect(twinsSeen).toBe(12);
    }, 120_000);
  }
});
