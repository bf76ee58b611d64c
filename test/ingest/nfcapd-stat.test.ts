import { copyFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStatCsv } from '../../src/ingest/csv.js';
import { scanNfcapdStats } from '../../src/ingest/nfdump/stats.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, nfdumpText, writeFakeNfdump, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';
import { failure } from '../helpers/failure.js';

const run = hasNfdumpTools() || process.env.CI === 'true';


describe.skipIf(!run)('scanning nfdump statistics of nfcapd files (nightly path)', () => {
  let fx: NfcapdFixture;
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(11, 'nfcapd-stat'));
  }, 60_000);
  afterAll(() => fx?.cleanup());

  it('gives the rows of the full statistics CSV parser, and the file totals', async () => {
    for (const file of fx.files) {
      const full = parseStatCsv(await nfdumpText(['-r', file, '-s', 'dstip/pps', '-n', '0', '-o', 'csv']), file);
      const scan = await scanNfcapdStats(file, { stat: 'dstip', order: 'pps' });
      const c = full.columns;
      expect(scan.key).toEqual(c.key);
      expect(scan.flows).toEqual(c.flows);
      expect(scan.packets).toEqual(c.packets);
      expect(scan.bytes).toEqual(c.bytes);
      expect(scan.pps).toEqual(c.pps);
      expect(scan.bps).toEqual(c.bps);
      expect(scan.bpp).toEqual(c.bpp);
      expect(scan.durationS).toEqual(c.duration_s);
      expect(scan.firstSeen).toEqual(c.first_seen);
      expect(scan.lastSeen).toEqual(c.last_seen);
      expect(scan.line).toEqual(c.source_line);
      expect(scan.totalFlows).toBe(c.flows.reduce((a, b) => a + b, 0));
      expect(scan.lines).toBe(c.length);
      expect(scan.rejects).toEqual([]);
    }
  });

  it('keeps only aggregates at the minimums, still counting every flow', async () => {
    const file = fx.files[1]!;
    const all = await scanNfcapdStats(file);
    const min = Math.max(2, all.packets[Math.floor(all.packets.length / 3)]!);
    const kept = await scanNfcapdStats(file, { minPackets: min, minBytes: 1 });
    expect(kept.key).toEqual(all.key.filter((_, i) => all.packets[i]! >= min));
    expect(kept.key.length).toBeGreaterThan(0);
    expect(kept.key.length).toBeLessThan(all.key.length);
    expect(kept.totalFlows).toBe(all.totalFlows);
  });

  it("a truncated nfcapd file fails with nfdump's own message, naming the file", async () => {
    const copy = join(fx.dir, 'cut');
    await copyFile(fx.files[0]!, copy);
    await truncate(copy, Math.floor((await stat(copy)).size / 2));
    const err = await failure(scanNfcapdStats(copy));
    expect(err.file).toBe(copy);
    expect(err.message).toMatch(/nfdump/u);
  });

  it('output that is not nfdump statistics: bad rows rejected with file and line, totals checked', async () => {
    // a stand-in nfdump printing fixed text: how else to make nfdump print a broken line
    const body = [
      'ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp',
      '2026-11-01 00:05:07,2026-11-01 00:05:19,11.978,any,203.0.113.80,15501,11.4,646958,38.5,875980178,62.0,54012,585059394,1353',
      '2026-11-01 00:07:01,2026-11-01 00:07:38,37.566,any,10.0.1.152,2x0142,14.8,558899,33.2,211656229,15.0,14877,45073998,378',
      '',
      'Summary',
      'flows,bytes,packets,avg_bps,avg_pps,avg_bpp',
      '35643,1087636407,1205857,0,0,0',
    ].join('\n');
    const fake = await writeFakeNfdump(fx.dir, 'fake-nfdump', `cat <<'EOF'\n${body}\nEOF`);
    const strict = await failure(scanNfcapdStats(fx.files[0]!, { nfdump: fake }));
    expect(strict.format()).toMatch(/:3: flows, packets and bytes must be whole numbers/u);
    const lenient = await scanNfcapdStats(fx.files[0]!, { nfdump: fake, maxRejects: 5 });
    expect(lenient.key).toEqual(['203.0.113.80']);
    expect(lenient.rejects.map((r) => r.line)).toEqual([3]);
    const wrongTotal = await writeFakeNfdump(fx.dir, 'fake-total', `cat <<'EOF'\n${body.replace('2x0142', '20142').replace('35643,', '35644,')}\nEOF`);
    const total = await failure(scanNfcapdStats(fx.files[0]!, { nfdump: wrongTotal }));
    expect(total.message).toContain("nfdump's Summary trailer counts 35644 flows");
  });
});
