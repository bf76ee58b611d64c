import { tableFromIPC } from 'apache-arrow';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { readInput } from '../../src/ingest/read.js';
import { openInput } from '../../src/ingest/registry.js';
import { uniqueRows } from '../../src/ingest/sections.js';
import { WallClockZone } from '../../src/io/time-zone.js';
import { numberColumn, stringColumn, takeRows } from '../../src/schema/arrow.js';
import { runMain } from '../helpers/cli.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, splitStatCsv, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';
import { nfdump17 } from '../helpers/paths.js';

/**
 * nfdump output as operators' machines print it, read the way they read it: what failed or
 * was silently wrong before (see the README's nfdump section). Each test runs the real
 * nfdump 1.7.1 (Debian's) or reads its committed output; the releases 1.6.25 and 1.7.8 are
 * covered by test/compat/nfdump-matrix.test.ts.
 */

const exec = promisify(execFile);
const tools = hasNfdumpTools();

async function nfdump(args: string[], tz = 'UTC'): Promise<string> {
  const { stdout } = await exec('nfdump', args, { env: { ...process.env, TZ: tz, LC_ALL: 'C' }, maxBuffer: 64 << 20 });
  return stdout;
}

describe('flow CSV of nfdump 1.6 to 1.7.4: durations from td, not from whole-second ts and te', () => {
  it('every host of one flow gets nfdump -s\'s duration, pps and bps exactly (not te - ts in whole seconds)', async () => {
    const agg = new FlowAggregator({ key: 'dstip', window: 'whole' });
    const reader = await openInput(nfdump17('flows.csv'));
    for await (const b of reader) agg.addBatch(b);
    const ref = splitStatCsv(await readFile(nfdump17('stat-dstip.csv'), 'utf8')).filter((r) => r.section === 0);
    const rows = new Map(agg.rows().map((r) => [r.key, r]));
    const single = ref.filter((r) => r.fl === '1');
    expect(single.length).toBeGreaterThanOrEqual(3);
    let fractional = 0;
    for (const r of single) {
      const got = rows.get(r.val)!;
      expect((got.durationMs / 1000).toFixed(3), r.val).toBe(r.td);
      expect([got.pps, got.bps, got.bpp], r.val).toEqual([Number(r.pps), Number(r.bps), Number(r.bpp)]);
      if (!Number.isInteger(Number(r.td))) fractional++;
    }
    // Durations of whole seconds (te - ts) were wrong for every one of these.
    expect(fractional).toBe(single.length);
    // Hosts of several flows: within the second their start times were cut to.
    for (const r of ref.filter((x) => x.fl !== '1')) expect(Math.abs(rows.get(r.val)!.durationMs / 1000 - Number(r.td)), r.val).toBeLessThanOrEqual(1);
  });
});

describe.skipIf(!tools)('nfdump 1.7.1 as operators run it', () => {
  let fx: NfcapdFixture;
  let dir: string;
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261101, 'test/ingest/in-the-wild.test.ts'));
    dir = fx.dir;
  }, 60_000);
  afterAll(() => fx?.cleanup());

  it('-q statistics text (no headings): the pps and bps tables are told apart, each host classified once', async () => {
    const file = join(dir, 'quiet.txt');
    await writeFile(file, await nfdump(['-r', fx.files[1]!, '-s', 'dstip/pps/bps', '-n', '0', '-q']));
    const text = await readFile(file, 'utf8');
    expect(text).not.toMatch(/ordered by/u);
    const r = await readInput(file);
    const hosts = splitStatCsv(await nfdump(['-r', fx.files[1]!, '-s', 'dstip/pps', '-n', '0', '-o', 'csv'])).length;
    expect(r.table.numRows).toBe(2 * hosts);
    const keep = uniqueRows(r.table);
    expect(keep.length).toBe(hosts);
    const keys = stringColumn(takeRows(r.table, keep), 'key')!;
    expect(new Set(keys).size).toBe(hosts);
    // classify says so, and classifies each host once
    const model = join(dir, 'model');
    expect((await runMain(['train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet'])).code).toBe(0);
    const c = await runMain(['classify', file, '--model', model, '--engine', 'cpu', '--out', join(dir, 'quiet-out')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toContain(`${hosts} rows repeated in later tables of the same output skipped`);
    const predictions = tableFromIPC(await readFile(join(dir, 'quiet-out', 'predictions.arrow')));
    expect(predictions.numRows).toBe(hosts);
  });

  it('"No matching flows": statistics text, statistics CSV and flow CSV are inputs without rows, not errors', async () => {
    const none = 'packets > 999999999';
    for (const [name, args] of [
      ['stat.txt', ['-s', 'dstip/pps/bps', '-n', '0']],
      ['stat.csv', ['-s', 'dstip/pps/bps', '-n', '0', '-o', 'csv']],
      ['flows.csv', ['-o', 'csv']],
    ] as const) {
      const file = join(dir, `none-${name}`);
      await writeFile(file, await nfdump(['-r', fx.files[0]!, ...args, none]));
      const r = await readInput(file);
      expect(r.table.numRows, name).toBe(0);
    }
    // classify of such a file: nothing to classify, exit 0, an empty predictions table
    const model = join(dir, 'model-none');
    expect((await runMain(['train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet'])).code).toBe(0);
    const c = await runMain(['classify', join(dir, 'none-stat.txt'), '--model', model, '--engine', 'cpu', '--out', join(dir, 'none-out')]);
    expect(c.code, c.stderr).toBe(0);
    expect(tableFromIPC(await readFile(join(dir, 'none-out', 'predictions.arrow'))).numRows).toBe(0);
    // and a text that is not nfdump output stays an error
    await writeFile(join(dir, 'prose.txt'), 'No matching flows, said nobody\n');
    expect((await runMain(['ingest', join(dir, 'prose.txt'), '--out', join(dir, 'prose.arrow')])).code).toBe(1);
  });

  it('times: nfdump prints local time; read in --time-zone they are the same instants, and Arrow says UTC', async () => {
    const zone = 'Europe/Berlin';
    const outputs: [string, string[]][] = [
      ['stat.txt', ['-r', fx.files[1]!, '-s', 'dstip/pps', '-n', '0']],
      ['stat.csv', ['-r', fx.files[1]!, '-s', 'dstip/pps', '-n', '0', '-o', 'csv']],
      ['flows.csv', ['-r', fx.files[1]!, '-o', 'csv']],
      ['flows.json', ['-r', fx.files[1]!, '-o', 'json']],
    ];
    for (const [name, args] of outputs) {
      const utc = join(dir, `utc-${name}`);
      const berlin = join(dir, `berlin-${name}`);
      await writeFile(utc, await nfdump(args, 'UTC'));
      await writeFile(berlin, await nfdump(args, zone));
      expect(await readFile(berlin, 'utf8'), `${name}: nfdump printed local time`).not.toBe(await readFile(utc, 'utf8'));
      const a = await readInput(utc, 'auto', { zone: new WallClockZone('UTC') });
      const b = await readInput(berlin, 'auto', { zone: new WallClockZone(zone) });
      expect(Array.from(numberColumn(b.table, 'first_seen')!), name).toEqual(Array.from(numberColumn(a.table, 'first_seen')!));
      // read as if it were UTC, every time is an hour off (November: CET, UTC+1)
      const naive = await readInput(berlin, 'auto', { zone: new WallClockZone('UTC') });
      expect(numberColumn(naive.table, 'first_seen')![0]! - numberColumn(a.table, 'first_seen')![0]!).toBe(3_600_000);
    }
    // the command line: ingest --time-zone, recorded in the output; timestamps typed UTC
    const out = join(dir, 'berlin.arrow');
    const r = await runMain(['ingest', join(dir, 'berlin-stat.csv'), '--time-zone', zone, '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const t = tableFromIPC(await readFile(out));
    expect(t.schema.metadata.get('flowknn.time_zone')).toBe(zone);
    expect((t.schema.fields.find((f) => f.name === 'first_seen')!.type as { timezone?: string }).timezone).toBe('UTC');
    const ref = await readInput(join(dir, 'utc-stat.csv'));
    expect(Array.from(numberColumn(t, 'first_seen')!)).toEqual(Array.from(numberColumn(ref.table, 'first_seen')!));
    // classify has it too; an unknown zone is a usage error
    expect((await runMain(['ingest', join(dir, 'berlin-stat.csv'), '--time-zone', 'Mars/Olympus', '--out', join(dir, 'x.arrow')])).code).toBe(2);
  });
});
