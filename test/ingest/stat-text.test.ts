import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { parseStatCsv } from '../../src/ingest/csv.js';
import { parseStatText } from '../../src/ingest/stat-text.js';
import type { StatColumns } from '../../src/schema/tables.js';
import { nfdump17, SEED_DIR, seedLabel } from '../helpers/paths.js';

function parseFile(file: string): StatColumns {
  return parseStatText(readFileSync(file, 'utf8'), file).columns;
}

function thrown(fn: () => unknown): FlowknnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlowknnError) return err;
    throw err;
  }
  throw new Error('expected a FlowknnError, nothing was thrown');
}

/** nfdump 1.7's text table condenses addresses longer than 16 chars: first 7 + ".." + last 7. */
function condensed(addr: string): string {
  return addr.length > 16 ? `${addr.slice(0, 7)}..${addr.slice(-7)}` : addr;
}

/** The unit nfdump scales a count to in its text tables (values >= 1 M are printed as %.1f M/G/T). */
function unitScale(v: number): number {
  return v >= 1e12 ? 1e12 : v >= 1e9 ? 1e9 : v >= 1e6 ? 1e6 : 1;
}

const FEATURES = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'] as const;

describe('seed 2015 label files (nfdump 1.6 text statistics)', () => {
  // Row counts from the table in data/seed-2015/README.md.
  const expected: [string, number][] = [
    ['labels/smtp.raw', 85],
    ['labels/http.raw', 155],
    ['labels/tivoli.raw', 68],
    ['labels/small-flood.raw', 59],
    ['labels/incoming-floods.raw', 13],
    ['labels/nfs.raw', 16],
    ['probes/test-samples.raw', 20],
  ];

  it.each(expected)('%s parses to %i rows, every feature finite', (rel, rows) => {
    const file = `${SEED_DIR}/${rel}`;
    const c = parseFile(file);
    expect(c.length).toBe(rows);
    for (const f of FEATURES) {
      expect(c[f]).toHaveLength(rows);
      for (const v of c[f]) expect(Number.isFinite(v), `${rel} ${f}`).toBe(true);
    }
    expect(new Set(c.key)).toEqual(new Set(['XXX.XXX.XXX.XXX']));
    expect(new Set(c.proto)).toEqual(new Set(['any']));
    expect(new Set(c.source_file)).toEqual(new Set([file]));
    // No headings in the seed files: one section, no order.
    expect(new Set(c.section)).toEqual(new Set([0]));
    expect(new Set(c.ordered_by)).toEqual(new Set([null]));
  });

  it('reads the first http row exactly', () => {
    const c = parseFile(seedLabel('http'));
    // 2015-02-26 14:01:11.476     2.904 any     XXX.XXX.XXX.XXX        1( 0.0)    35252( 0.0)   52.6 M( 0.0)    12139  144.8 M  1491
    expect(c.source_line[0]).toBe(3); // after the two "#" comment lines
    expect(c.first_seen[0]).toBe(Date.UTC(2015, 1, 26, 14, 1, 11, 476));
    expect(c.last_seen[0]).toBeNull();
    expect(c.duration_s[0]).toBe(2.904);
    expect(c.proto[0]).toBe('any');
    expect(c.key[0]).toBe('XXX.XXX.XXX.XXX');
    expect(c.flows[0]).toBe(1);
    expect(c.flows_pct[0]).toBe(0);
    expect(c.packets[0]).toBe(35252);
    expect(c.packets_pct[0]).toBe(0);
    expect(c.bytes[0]).toBe(52.6e6);
    expect(c.bytes_pct[0]).toBe(0);
    expect(c.pps[0]).toBe(12139);
    expect(c.bps[0]).toBe(144.8e6);
    expect(c.bpp[0]).toBe(1491);
    expect(c.note[0]).toBeNull();
  });

  it('reads units and shares on a busy probe row', () => {
    const c = parseFile(`${SEED_DIR}/probes/test-samples.raw`);
    // 2015-01-11 07:12:14.667 4295562.914 any  XXX.XXX.XXX.XXX    14045( 0.2)    1.3 M( 0.6)    1.8 G( 1.1)        0     3398  1363
    expect(c.duration_s[0]).toBe(4295562.914);
    expect(c.flows[0]).toBe(14045);
    expect(c.flows_pct[0]).toBe(0.2);
    expect(c.packets[0]).toBe(1.3e6);
    expect(c.packets_pct[0]).toBe(0.6);
    expect(c.bytes[0]).toBe(1.8e9);
    expect(c.bytes_pct[0]).toBe(1.1);
    expect([c.pps[0], c.bps[0], c.bpp[0]]).toEqual([0, 3398, 1363]);
    // 2015-03-13 12:18:01.203   653.575 ... 23762( 0.2)   91.3 M(29.0)  125.6 G(41.5)   139753    1.5 G  1374
    const last = c.length - 1;
    expect(c.packets[last]).toBe(91.3e6);
    expect(c.bytes[last]).toBe(125.6e9);
    expect(c.bytes_pct[last]).toBe(41.5);
    expect(c.bps[last]).toBe(1.5e9);
  });

  it('probes/test-samples.txt (";" comments, "# description" after rows) gives the same 20 rows, with the notes', () => {
    const raw = parseFile(`${SEED_DIR}/probes/test-samples.raw`);
    const txt = parseFile(`${SEED_DIR}/probes/test-samples.txt`);
    expect(txt.length).toBe(20);
    for (const col of ['first_seen', 'duration_s', 'key', 'flows', 'flows_pct', 'packets', 'packets_pct', 'bytes', 'bytes_pct', 'pps', 'bps', 'bpp'] as const) {
      expect(txt[col], col).toEqual(raw[col]);
    }
    expect(raw.note.every((n) => n === null)).toBe(true);
    expect(txt.note).toEqual([
      'strange http flows',
      'concurrent https sessions',
      'https traffic',
      'http',
      'strange TCP/80',
      'strange TCP/80',
      'TCP/80',
      'high http traffic',
      'http traffic',
      'nfs',
      'port 2305',
      'smtp',
      'smtp spam',
      'this should be a massive smtp sending (target MTA has ETRN)',
      'TCP 7022',
      'udp 8090',
      'small outgoing udp flood',
      'outgoing udp flood',
      'outgoing udp flood',
      'outgoing udp flood',
    ]);
    // Lines are numbered in the file as written: two ";" lines come first.
    expect(txt.source_line[0]).toBe(3);
    expect(txt.source_line[19]).toBe(22);
    expect(raw.source_line[0]).toBe(1);
  });
});

describe('nfdump 1.7.1 text statistics (test/fixtures/nfdump-1.7)', () => {
  const text = parseFile(nfdump17('stat-dstip.txt'));
  const plain = parseFile(nfdump17('stat-dstip-plain.txt'));
  const csv = parseStatCsv(readFileSync(nfdump17('stat-dstip.csv'), 'utf8'), 'stat-dstip.csv').columns;

  it('stat-dstip.txt: two sections (pps then bps) of 38 hosts each', () => {
    expect(text.length).toBe(76);
    expect(text.section.filter((s) => s === 0)).toHaveLength(38);
    expect(text.section.filter((s) => s === 1)).toHaveLength(38);
    for (let i = 0; i < text.length; i++) {
      expect(text.ordered_by[i]).toBe(text.section[i] === 0 ? 'pps' : 'bps');
    }
    // Both tables list the same hosts.
    const keys = (s: number) => text.key.filter((_, i) => text.section[i] === s).sort();
    expect(keys(1)).toEqual(keys(0));
    // Rows sit on the lines nfdump printed them: heading + header, then rows (3..40); the bps
    // table starts after a blank line, its heading and header (44..81).
    expect(text.source_line[0]).toBe(3);
    expect(text.source_line[37]).toBe(40);
    expect(text.source_line[38]).toBe(44);
    // pps table is sorted by pps, bps table by bps (descending).
    const sorted = (s: number, f: 'pps' | 'bps') => {
      const v = text[f].filter((_, i) => text.section[i] === s);
      return v.every((x, i) => i === 0 || v[i - 1]! >= x);
    };
    expect(sorted(0, 'pps')).toBe(true);
    expect(sorted(1, 'bps')).toBe(true);
  });

  it('stat-dstip.txt: first row exactly', () => {
    // 2026-11-01 10:05:25.008     00:00:02.256 any        203.0.113.17        1( 0.4)      136( 0.9)   199901( 1.2)       60   708868  1469
    expect(text.first_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 5, 25, 8));
    expect(text.duration_s[0]).toBe(2.256);
    expect(text.key[0]).toBe('203.0.113.17');
    expect([text.flows[0], text.flows_pct[0], text.packets[0], text.packets_pct[0], text.bytes[0], text.bytes_pct[0]]).toEqual([1, 0.4, 136, 0.9, 199901, 1.2]);
    expect([text.pps[0], text.bps[0], text.bpp[0]]).toEqual([60, 708868, 1469]);
    // 2026-11-01 10:06:06.763     00:02:29.965 any        203.0.113.66        4( 1.6)     3600(22.8)    5.1 M(30.9)       24   274264  1428
    expect(text.duration_s[2]).toBe(149.965);
    expect(text.bytes[2]).toBe(5.1e6);
    expect(text.bytes_pct[2]).toBe(30.9);
  });

  it('stat-srcip.txt parses the same way (Src IP Addr headings)', () => {
    const src = parseFile(nfdump17('stat-srcip.txt'));
    expect(src.length).toBe(76);
    expect(new Set(src.section)).toEqual(new Set([0, 1]));
    expect(src.ordered_by[0]).toBe('pps');
    expect(src.ordered_by[src.length - 1]).toBe('bps');
    // Totals of one table are the totals of the traffic: 254 flows, as nfdump's Summary says.
    expect(src.flows.filter((_, i) => src.section[i] === 0).reduce((a, b) => a + b, 0)).toBe(254);
    expect(text.flows.filter((_, i) => text.section[i] === 0).reduce((a, b) => a + b, 0)).toBe(254);
  });

  it('HH:MM:SS.mmm durations equal the -N file\'s seconds, row by row', () => {
    expect(plain.length).toBe(text.length);
    for (let i = 0; i < text.length; i++) {
      expect(text.duration_s[i], `row ${i}`).toBe(plain.duration_s[i]);
      expect(text.key[i]).toBe(plain.key[i]);
      expect(text.first_seen[i]).toBe(plain.first_seen[i]);
      expect(text.section[i]).toBe(plain.section[i]);
    }
    // The -N file prints unscaled numbers, which match the CSV exactly.
    expect(plain.bytes).toEqual(csv.bytes);
    expect(plain.packets).toEqual(csv.packets);
  });

  it('agrees with stat-dstip.csv, host by host', () => {
    expect(csv.length).toBe(text.length);
    for (let i = 0; i < text.length; i++) {
      const at = `row ${i} (${csv.key[i]})`;
      expect(text.key[i], at).toBe(condensed(csv.key[i]!));
      expect(text.section[i], at).toBe(csv.section[i]);
      // The CSV prints first seen without milliseconds.
      expect(Math.floor(text.first_seen[i]! / 1000) * 1000, at).toBe(csv.first_seen[i]);
      expect(text.duration_s[i], at).toBe(csv.duration_s[i]);
      expect(text.flows[i], at).toBe(csv.flows[i]);
      for (const f of ['packets', 'bytes'] as const) {
        const c = csv[f][i]!;
        const scale = unitScale(c);
        if (scale === 1) expect(text[f][i], `${at} ${f}`).toBe(c);
        else expect(Math.abs(text[f][i]! - c), `${at} ${f}`).toBeLessThanOrEqual(0.05 * scale);
      }
      for (const f of ['flows_pct', 'packets_pct', 'bytes_pct', 'pps', 'bps', 'bpp'] as const) {
        expect(text[f][i], `${at} ${f}`).toBe(csv[f][i]);
      }
    }
    // Scaled values do occur (so the tolerance branch is exercised).
    expect(csv.bytes.some((b) => b >= 1e6)).toBe(true);
  });

  it('stat-dstip-ipv6.txt (-o line6): full IPv6 keys, seconds durations, values as in the CSV', () => {
    const v6 = parseFile(nfdump17('stat-dstip-ipv6.txt'));
    expect(v6.length).toBe(12);
    expect(v6.section.filter((s) => s === 0)).toHaveLength(6);
    expect(v6.ordered_by[0]).toBe('pps');
    expect(v6.ordered_by[11]).toBe('bps');
    expect(v6.key.slice(0, 6)).toEqual(['2001:db8:ee::c0:ffee', '2001:db8:ff00::7', '2001:db8:ff00::1:2', '2001:db8:1::53', '2001:db8:1::1a', '2001:db8:1::443']);
    expect(v6.duration_s.slice(0, 6)).toEqual([1.538, 61.186, 110.499, 808, 808, 661.859]);
    for (let i = 0; i < v6.length; i++) {
      const j = csv.key.findIndex((k, n) => k === v6.key[i] && csv.section[n] === 0);
      expect(j, v6.key[i]).toBeGreaterThanOrEqual(0);
      for (const f of FEATURES) expect(v6[f][i], `${v6.key[i]} ${f}`).toBe(csv[f][j]);
      expect(v6.first_seen[i]! - (v6.first_seen[i]! % 1000)).toBe(csv.first_seen[j]);
    }
    // The condensed form of the same host in the ordinary table.
    expect(text.key).toContain('2001:db..c0:ffee');
  });
});

describe('nfdump 1.7 variants and errors', () => {
  const head = 'Date first seen                 Duration Proto       Dst IP Addr    Flows(%)     Packets(%)       Bytes(%)         pps      bps   bpp';

  it('reads units without a blank (5.1M) and durations past a day (1d 02:00:00.500)', () => {
    const line = '2026-11-01 10:05:25.008  1d 02:00:00.500 any        203.0.113.17        1( 0.4)      1.3M( 0.9)   5.1M(30.9)       24   1.2M  1469';
    const c = parseStatText(`${head}\n${line}\n`, 'v.txt').columns;
    expect(c.length).toBe(1);
    expect(c.duration_s[0]).toBe(93600.5);
    expect(c.packets[0]).toBe(1.3e6);
    expect(c.bytes[0]).toBe(5.1e6);
    expect(c.bytes_pct[0]).toBe(30.9);
    expect(c.bps[0]).toBe(1.2e6);
    expect(c.bpp[0]).toBe(1469);
  });

  it('a bad line fails with file, line and what was expected', () => {
    const lines = readFileSync(seedLabel('http'), 'utf8').split('\n');
    expect(lines[4]).toContain(' 1272( 0.0)');
    lines[4] = lines[4]!.replace(' 1272( 0.0)', ' 12x2( 0.0)'); // packets not a number
    const err = thrown(() => parseStatText(lines.join('\n'), 'http.raw'));
    expect(err.kind).toBe('input');
    expect(err.file).toBe('http.raw');
    expect(err.line).toBe(5);
    expect(err.message).toMatch(/^packets: expected a number/);
    expect(err.message).toContain('"12x2"');
  });

  it('a truncated line fails naming the line', () => {
    const lines = readFileSync(seedLabel('smtp'), 'utf8').split('\n');
    const n = lines.findIndex((l) => /^\d{4}-/.test(l));
    lines[n] = lines[n]!.slice(0, Math.floor(lines[n]!.length / 2));
    const err = thrown(() => parseStatText(lines.join('\n'), 'smtp.raw'));
    expect(err.line).toBe(n + 1);
    expect(err.message).toMatch(/truncated line\?/);
    expect(err.format()).toMatch(new RegExp(`^smtp\\.raw:${n + 1}: `));
  });

  it('prose is not read as an empty table', () => {
    const err = thrown(() => parseStatText('hello\nworld\n', 'notes.txt'));
    expect(err.file).toBe('notes.txt');
    expect(err.line).toBe(1);
    expect(err.message).toMatch(/expected an nfdump statistics line/);
  });

  it('only comments and headings: no rows is an error', () => {
    const err = thrown(() => parseStatText(`# nothing\nTop Dst IP Addr ordered by pps:\n${head}\n`, 'empty.txt'));
    expect(err.kind).toBe('input');
    expect(err.message).toMatch(/no data lines; expected nfdump statistics lines/);
  });

  it('keeps the file name given by the caller on every row', () => {
    const file = nfdump17('stat-dstip.txt');
    expect(basename(parseFile(file).source_file[75]!)).toBe('stat-dstip.txt');
  });
  it('a file cut inside its last line keeps no shortened row (head -c 297 of the 1.7 statistics)', () => {
    const text = readFileSync(nfdump17('stat-dstip.txt'), 'utf8').slice(0, 297);
    // cut inside the bpp of the first row: "1469" would be read as "14"
    expect(text.endsWith('\n')).toBe(false);
    const err = thrown(() => parseStatText(text, 'cut.txt'));
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/cut short\?/u);
    // allowed one bad line, the file still has no row to give
    expect(thrown(() => parseStatText(text, 'cut.txt', { maxRejects: 1 })).message).toMatch(/^all 1 data lines were rejected/u);
  });

  it('counts and rates follow the range rules of the CSV reader: no negative, Infinity or 1e30', () => {
    const ok = '2026-11-01 10:05:25.008     00:00:02.256 any        203.0.113.17        1( 0.4)      136( 0.9)   199901( 1.2)       60   708868  1469';
    expect(parseStatText(`${head}\n${ok}\n`, 'ok.txt').columns.length).toBe(1);
    for (const [from, to, what] of [
      ['      136( 0.9)', '     -136( 0.9)', /packets/u],
      ['   708868', ' Infinity', /bps/u],
      ['   708868', '     1e30', /bps/u],
      ['203.0.113.17', '203.0.\u0001.17', /printable/u],
    ] as const) {
      const err = thrown(() => parseStatText(`${head}\n${ok.replace(from, to)}\n`, 'bad.txt'));
      expect(err.line, to).toBe(2);
      expect(err.message, to).toMatch(what);
    }
  });
});
