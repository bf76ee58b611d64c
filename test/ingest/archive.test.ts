import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverArchive, parseNfcapdName, parseTimeBound, routerOf, selectionRange, zonedToEpoch, type DiscoverOptions } from '../../src/ingest/archive.js';
import { makeTempDir } from '../helpers/tmp.js';
import { failure } from '../helpers/failure.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-archive-'));
});
afterEach(async () => {
  await cleanup();
});

/** Creates files (empty, or with `size` bytes) at the given paths under the temp dir. */
async function touch(paths: string[], size = 0): Promise<void> {
  for (const p of paths) {
    const full = join(dir, ...p.split('/'));
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, Buffer.alloc(size));
  }
}

/** nfcapd names of every 5-minute slot from hh:mm for n slots on 2026-11-01 (UTC). */
function slots(hour: number, minute: number, n: number, day = '20261101'): string[] {
  return Array.from({ length: n }, (_, i) => {
    const m = hour * 60 + minute + i * 5;
    return `nfcapd.${day}${String(Math.floor(m / 60)).padStart(2, '0')}${String(m % 60).padStart(2, '0')}`;
  });
}

const utc = (s: string) => Date.parse(`${s}Z`);


const rel = (opts: DiscoverOptions = {}) => discoverArchive(dir, opts).then((l) => l.files.map((f) => f.relPath));

describe('nfcapd file names', () => {
  it('reads YYYYMMDDhhmm and YYYYMMDDhhmmss as the slot start, in UTC by default', () => {
    expect(parseNfcapdName('nfcapd.202611011005')).toEqual({ ok: true, slotStartMs: utc('2026-11-01T10:05:00') });
    expect(parseNfcapdName('nfcapd.20261101100510')).toEqual({ ok: true, slotStartMs: utc('2026-11-01T10:05:10') });
  });

  it('gives a reason for every name it does not take', () => {
    const reason = (name: string) => {
      const v = parseNfcapdName(name);
      return v.ok ? 'ok' : v.reason;
    };
    expect(reason('nfcapd.current.4242')).toMatch(/being written/u);
    expect(reason('.nfstat')).toMatch(/hidden/u);
    expect(reason('nfcapd.2026110110')).toMatch(/not an nfcapd file name/u);
    expect(reason('nfcapd.202611011005.gz')).toMatch(/not an nfcapd file name/u);
    expect(reason('nfdump.202611011005')).toMatch(/not an nfcapd file name/u);
    expect(reason('nfcapd.202613011005')).toMatch(/not a valid date/u); // month 13
    expect(reason('nfcapd.202602301005')).toMatch(/not a valid date/u); // 30 February
    expect(reason('nfcapd.202611012405')).toMatch(/not a valid date/u);
  });

  it('reads names in the collector time zone when told (nfcapd names files in local time)', () => {
    // Europe/Berlin is UTC+1 on 1 November 2026 (summer time ended 25 October)
    expect(parseNfcapdName('nfcapd.202611011100', 'Europe/Berlin')).toEqual({ ok: true, slotStartMs: utc('2026-11-01T10:00:00') });
    // and UTC+2 in summer
    expect(zonedToEpoch(2026, 7, 1, 12, 0, 0, 'Europe/Berlin')).toBe(utc('2026-07-01T10:00:00'));
    expect(zonedToEpoch(2026, 7, 1, 12, 0, 0, 'America/New_York')).toBe(utc('2026-07-01T16:00:00'));
  });
});

describe('the router of a file', () => {
  it("is the nearest folder above it that is not one of nfcapd -S's date folders", () => {
    // NfSen: live/<router>/, nfcapd -S layouts below it
    expect(routerOf('/data/nfsen/profiles-data/live/rtr1/2026/11/01/nfcapd.202611011000')).toBe('rtr1');
    expect(routerOf('/data/live/core-fra.1/2026/11/01/13/nfcapd.202611011300')).toBe('core-fra.1');
    expect(routerOf('/data/live/rtr2/2026/44/7/nfcapd.202611011000')).toBe('rtr2'); // %Y/%W/%u
    expect(routerOf('/data/live/rtr2/2026/305/nfcapd.202611011000')).toBe('rtr2'); // %Y/%j
    expect(routerOf('/data/live/rtr3/2026-11-01/10/nfcapd.202611011000')).toBe('rtr3'); // %Y-%m-%d/%H
    // flat: the collector's folder
    expect(routerOf('/var/cache/nfdump/nfcapd.202611011000')).toBe('nfdump');
    // an exporter's address as its folder name
    expect(routerOf('/data/192.0.2.1/2026/11/01/nfcapd.202611011000')).toBe('192.0.2.1');
    expect(routerOf('/2026/11/01/nfcapd.202611011000')).toBe('/');
    // routers named by number: only one date layout is taken off, from the file up
    expect(routerOf('/data/live/7/2026/11/01/nfcapd.202611011000')).toBe('7');
    expect(routerOf('/data/live/12/nfcapd.202611011000')).toBe('12');
    // the characters that join a key's fields and a row's routers
    expect(routerOf('/data/live/a|b,c/2026/11/01/nfcapd.202611011000')).toBe('a_b_c');
    // relative paths are taken from the working folder
    expect(routerOf('nfcapd.202611011000')).toBe(routerOf(join(process.cwd(), 'nfcapd.202611011000')));
  });
});

describe('selection', () => {
  it('--date is that day [00:00, 24:00)', () => {
    const s = selectionRange({ date: '2026-11-01' });
    expect([s.fromMs, s.toMs]).toEqual([utc('2026-11-01T00:00:00'), utc('2026-11-02T00:00:00')]);
    const b = selectionRange({ date: '2026-03-29', timeZone: 'Europe/Berlin' }); // 23-hour day (summer time starts)
    expect((b.toMs! - b.fromMs!) / 3_600_000).toBe(23);
  });

  it('--from/--to take dates, times, Z and offsets', () => {
    expect(parseTimeBound('from', '2026-11-01')).toBe(utc('2026-11-01T00:00:00'));
    expect(parseTimeBound('from', '2026-11-01T10:05')).toBe(utc('2026-11-01T10:05:00'));
    expect(parseTimeBound('from', '2026-11-01 10:05:30')).toBe(utc('2026-11-01T10:05:30'));
    expect(parseTimeBound('from', '2026-11-01T10:05Z', 'Europe/Berlin')).toBe(utc('2026-11-01T10:05:00'));
    expect(parseTimeBound('from', '2026-11-01T10:05+02:00')).toBe(utc('2026-11-01T08:05:00'));
    expect(parseTimeBound('from', '2026-11-01T10:05', 'Europe/Berlin')).toBe(utc('2026-11-01T09:05:00'));
  });

  it('rejects bad values and combinations as usage errors (exit 2)', async () => {
    const usage = (opts: DiscoverOptions) => failure(discoverArchive(dir, opts));
    for (const opts of [
      { date: '2026-11-31' },
      { date: '01.11.2026' },
      { date: '2026-11-01', from: '2026-11-01' },
      { from: '2026-11-01T25:00' },
      { from: 'yesterday' },
      { from: '2026-11-01T10:00', to: '2026-11-01T10:00' },
      { from: '2026-11-02', to: '2026-11-01' },
      { date: '2026-11-01', timeZone: 'Mars/Olympus_Mons' },
    ]) {
      const err = await usage(opts);
      expect(err.kind, JSON.stringify(opts)).toBe('usage');
      expect(err.exitCode).toBe(2);
    }
    expect((await usage({ from: '2026-11-02', to: '2026-11-01' })).message).toMatch(/--from .* must be before --to/u);
    expect((await usage({ date: 'tomorrow' })).message).toMatch(/--date must be a date YYYY-MM-DD, got "tomorrow"/u);
  });
});

describe('discoverArchive', () => {
  it('flat folder: nfcapd files sorted by time; current files and other names skipped with reasons', async () => {
    // created out of order on purpose
    await touch([...slots(10, 30, 6), ...slots(10, 0, 6)], 3);
    await touch(['nfcapd.current.12345', '.nfstat', 'README.txt', 'nfcapd.202611011005.tmp', 'nfcapd.202613011000']);
    const l = await discoverArchive(dir);
    expect(l.files.map((f) => f.relPath)).toEqual(slots(10, 0, 12));
    expect(l.files.map((f) => f.slotStartMs)).toEqual(Array.from({ length: 12 }, (_, i) => utc('2026-11-01T10:00:00') + i * 300_000));
    expect(l.files.every((f) => f.size === 3 && f.path === join(dir, f.relPath))).toBe(true);
    const reasons = Object.fromEntries(l.skipped.map((s) => [s.path.slice(dir.length + 1), s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['.nfstat', 'README.txt', 'nfcapd.202611011005.tmp', 'nfcapd.202613011000', 'nfcapd.current.12345']);
    expect(reasons['nfcapd.current.12345']).toMatch(/being written/u);
    expect(reasons['README.txt']).toMatch(/not an nfcapd file name/u);
    expect(reasons['nfcapd.202613011000']).toMatch(/not a valid date/u);
    expect(l.outside).toBe(0);
  });

  it('empty files are listed (size 0): reading them is where they fail', async () => {
    await touch(slots(0, 0, 2));
    const l = await discoverArchive(dir);
    expect(l.files.map((f) => f.size)).toEqual([0, 0]);
  });

  it('nested day folders (nfcapd -S 1, %Y/%m/%d): --date picks the day, the rest is counted as outside', async () => {
    await touch([
      ...slots(23, 50, 2, '20261031').map((n) => `2026/10/31/${n}`),
      ...slots(0, 0, 288).map((n) => `2026/11/01/${n}`),
      ...slots(0, 0, 3, '20261102').map((n) => `2026/11/02/${n}`),
      '2026/11/01/nfcapd.current.999',
    ]);
    const l = await discoverArchive(dir, { date: '2026-11-01' });
    expect(l.files).toHaveLength(288);
    expect(l.files[0]!.relPath).toBe('2026/11/01/nfcapd.202611010000');
    expect(l.files.at(-1)!.relPath).toBe('2026/11/01/nfcapd.202611012355');
    expect(l.outside).toBe(5);
    expect(l.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/being written/u)]);
    expect(await rel({ date: '2026-10-31' })).toEqual(['2026/10/31/nfcapd.202610312350', '2026/10/31/nfcapd.202610312355']);
  });

  it('nested day/hour folders (nfcapd -S 8, %Y-%m-%d/%H) and seconds in names', async () => {
    await touch([
      ...slots(9, 55, 3).map((n) => `2026-11-01/${n.slice(15, 17)}/${n}`),
      '2026-11-01/10/nfcapd.20261101101030',
      '2026-11-01/10/nfcapd.20261101100010',
    ]);
    expect(await rel()).toEqual([
      '2026-11-01/09/nfcapd.202611010955',
      '2026-11-01/10/nfcapd.202611011000',
      '2026-11-01/10/nfcapd.20261101100010',
      '2026-11-01/10/nfcapd.202611011005',
      '2026-11-01/10/nfcapd.20261101101030',
    ]);
  });

  it('--from is inclusive, --to exclusive (on the slot start in the name)', async () => {
    await touch(slots(9, 0, 36).map((n) => `2026/11/01/${n}`));
    const r = await rel({ from: '2026-11-01T10:00', to: '2026-11-01T11:00' });
    expect(r).toHaveLength(12);
    expect(r[0]).toMatch(/nfcapd\.202611011000$/u);
    expect(r.at(-1)).toMatch(/nfcapd\.202611011055$/u);
    // open ends
    expect(await rel({ from: '2026-11-01T11:50' })).toHaveLength(2);
    expect(await rel({ to: '2026-11-01T09:10' })).toHaveLength(2);
    // a bound inside a slot: the slot starting before it is out (files are picked by their start)
    expect(await rel({ from: '2026-11-01T10:02', to: '2026-11-01T10:10' })).toEqual(['2026/11/01/nfcapd.202611011005']);
  });

  it('several sources side by side: sorted by time, then path', async () => {
    await touch(['live/router2/nfcapd.202611011000', 'live/router1/nfcapd.202611011005', 'live/router1/nfcapd.202611011000', 'live/router2/nfcapd.202611011005']);
    expect(await rel()).toEqual(['live/router1/nfcapd.202611011000', 'live/router2/nfcapd.202611011000', 'live/router1/nfcapd.202611011005', 'live/router2/nfcapd.202611011005']);
  });

  it('hidden folders are skipped, symbolic link loops are caught', async () => {
    await touch(['a/nfcapd.202611011000', '.tmp-123/nfcapd.202611011005']);
    await symlink(dir, join(dir, 'a', 'loop'));
    const l = await discoverArchive(dir);
    expect(l.files.map((f) => f.relPath)).toEqual(['a/nfcapd.202611011000']);
    const reasons = l.skipped.map((s) => `${s.path.slice(dir.length + 1)}: ${s.reason}`);
    expect(reasons).toContain('.tmp-123: hidden folder');
    expect(reasons.some((r) => r.startsWith('a/loop: folder already visited'))).toBe(true);
  });

  it('time zones: names read in the collector zone, and --date as that zone’s day', async () => {
    // a Berlin collector writes 01:00 local for 00:00 UTC
    await touch(['nfcapd.202611010055', 'nfcapd.202611010100', 'nfcapd.202611020055', 'nfcapd.202611020100']);
    const l = await discoverArchive(dir, { date: '2026-11-01', timeZone: 'Europe/Berlin' });
    expect(l.files.map((f) => f.relPath)).toEqual(['nfcapd.202611010055', 'nfcapd.202611010100']);
    expect(l.files[0]!.slotStartMs).toBe(utc('2026-10-31T23:55:00'));
    // the UTC day 2026-11-01 of that collector's files
    expect(await rel({ from: '2026-11-01T00:00Z', to: '2026-11-02T00:00Z', timeZone: 'Europe/Berlin' })).toEqual(['nfcapd.202611010100', 'nfcapd.202611020055']);
    // the same folder read as UTC
    expect(await rel({ date: '2026-11-01' })).toEqual(['nfcapd.202611010055', 'nfcapd.202611010100']);
  });

  it('a single nfcapd file as the root', async () => {
    await touch(['nfcapd.202611011000']);
    const l = await discoverArchive(join(dir, 'nfcapd.202611011000'));
    expect(l.files.map((f) => [f.relPath, f.slotStartMs])).toEqual([['', utc('2026-11-01T10:00:00')]]);
  });
});

describe('discoverArchive errors', () => {
  it('a missing folder is a usage error (exit 2) naming it', async () => {
    const err = await failure(discoverArchive(join(dir, 'nope')));
    expect(err.kind).toBe('usage');
    expect(err.message).toBe(`archive folder not found: ${join(dir, 'nope')}`);
  });

  it('a root file that is not an nfcapd file is a usage error', async () => {
    await touch(['notes.txt']);
    const err = await failure(discoverArchive(join(dir, 'notes.txt')));
    expect(err.kind).toBe('usage');
    expect(err.message).toMatch(/is a file but not an nfcapd file/u);
  });

  it('an empty selection is an input error (exit 1) that says what the archive holds', async () => {
    await touch(slots(0, 0, 288).map((n) => `2026/11/01/${n}`));
    const err = await failure(discoverArchive(dir, { date: '2026-11-02' }));
    expect(err.kind).toBe('input');
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(`no nfcapd files for 2026-11-02 (UTC) in ${dir}: it holds 288 nfcapd files from 2026-11-01 00:00 to 2026-11-01 23:55 (UTC)`);
    const empty = await discoverArchive(dir, { date: '2026-11-02', allowEmpty: true });
    expect(empty.files).toEqual([]);
    expect(empty.outside).toBe(288);
  });

  it('an empty folder, or one with only skipped files, is an input error too', async () => {
    const none = await failure(discoverArchive(dir));
    expect(none.kind).toBe('input');
    expect(none.message).toMatch(/no nfcapd files for any time in .*: it holds no nfcapd\.YYYYMMDDhhmm files at all$/u);
    await touch(['nfcapd.current.77', 'flows.csv']);
    const only = await failure(discoverArchive(dir));
    expect(only.message).toMatch(/skipped 2: flows\.csv \(not an nfcapd file name .*\), nfcapd\.current\.77 \(being written by the collector/u);
  });
});
