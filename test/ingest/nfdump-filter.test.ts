import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../helpers/cli.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';

/**
 * A --filter nfdump cannot parse is found once, by nfdump itself (`nfdump -Z`), before any file
 * is read: exit 2 with what nfdump said, not the same failure for each file of an archive.
 */
const tools = hasNfdumpTools();
const releases = ['nfdump', ...['1.6.25', '1.7.8'].map((v) => `/opt/flowknn-nfdump/${v}/bin/nfdump`).filter((b) => existsSync(b))];

let fx: NfcapdFixture;
beforeAll(async () => {
  if (tools) fx = await makeNfcapdFixture(nfcapdSeed(5, 'nfdump-filter'));
}, 120_000);
afterAll(() => fx?.cleanup());

describe.skipIf(!tools)(`ingest --filter${tools ? '' : ' (skipped: nfdump and nfpcapd are not installed)'}`, () => {
  it.each(releases)('a syntax error is one usage error before any file is read (%s)', async (nfdump) => {
    const out = join(fx.dir, 'bad.arrow');
    const r = await runMain(['ingest', ...fx.files, '--nfdump', nfdump, '--filter', 'proto tcp an dst port 80', '--out', out]);
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('flowknn: error:'));
    expect(errors).toEqual([`flowknn: error: --filter "proto tcp an dst port 80": nfdump rejects it: Line 1: syntax error at 'an'`]);
    // no file was read: none is named in what was printed, nothing was written
    for (const f of fx.files) expect(r.stderr).not.toContain(f);
    expect(existsSync(out)).toBe(false);
  });

  it('an unknown protocol is said in nfdump\'s words, without the list of protocols 1.7 adds', async () => {
    const r = await runMain(['ingest', ...fx.files, '--filter', 'proto tcpx', '--out', join(fx.dir, 'x.arrow'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flowknn: error: --filter "proto tcpx": nfdump rejects it: Line 1: Unknown protocol.* at 'tcpx'\n/u);
    expect(r.stderr.split('\n').length).toBeLessThan(5);
  });

  it('a valid filter is applied as before', async () => {
    const all = await runMain(['ingest', ...fx.files, '--out', join(fx.dir, 'all.arrow')]);
    expect(all.code, all.stderr).toBe(0);
    const udp = await runMain(['ingest', ...fx.files, '--filter', 'proto udp', '--out', join(fx.dir, 'udp.arrow')]);
    expect(udp.code, udp.stderr).toBe(0);
    const rows = (s: string) => Number(/wrote \S+: (\d+) flow rows/u.exec(s)?.[1]);
    expect(rows(udp.stderr)).toBeGreaterThan(0);
    expect(rows(udp.stderr)).toBeLessThan(rows(all.stderr));
  });

  it('--filter with no nfcapd input is a usage error: nothing would apply it', async () => {
    const r = await runMain(['ingest', 'test/fixtures/nfdump-1.7/flows.csv', '--filter', 'proto tcp', '--out', join(fx.dir, 'csv.arrow')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flowknn: error: --filter: none of the inputs is an nfcapd file');
  });
});
