import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { parseFlowCsv, parseStatCsv } from '../../src/ingest/csv.js';
import { readInput } from '../../src/ingest/read.js';
import { nfdump17 } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { failure as rejection } from '../helpers/failure.js';

const read = (name: string) => readFileSync(nfdump17(name), 'utf8');


/** Puts the columns of every header and data line in another order (Summary lines untouched). */
function shuffleColumns(text: string, isRow: (line: string) => boolean): string {
  const lines = text.split('\n');
  const width = lines[0]!.split(',').length;
  // A fixed permutation: reversed (an odd width's middle column swapped with the first), so no
  // column keeps its place.
  const perm = Array.from({ length: width }, (_, i) => width - 1 - i);
  if (width % 2 === 1) [perm[0], perm[(width - 1) / 2]] = [perm[(width - 1) / 2]!, perm[0]!];
  expect(perm.some((p, i) => p === i)).toBe(false);
  let inSummary = false;
  return lines
    .map((line) => {
      if (/^Summary/.test(line)) inSummary = true;
      if (inSummary || !isRow(line)) return line;
      const cells = line.split(',');
      expect(cells).toHaveLength(width);
      return perm.map((p) => cells[p]).join(',');
    })
    .join('\n');
}

const FLOW_COLS = ['first_seen', 'last_seen', 'duration_s', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'tcp_flags', 'flows', 'in_packets', 'in_bytes', 'out_packets', 'out_bytes'] as const;
const STAT_COLS = ['first_seen', 'last_seen', 'duration_s', 'proto', 'key', 'flows', 'flows_pct', 'packets', 'packets_pct', 'bytes', 'bytes_pct', 'pps', 'bps', 'bpp', 'section'] as const;

describe('statistics CSV (stat-dstip.csv, nfdump 1.7.1)', () => {
  const { columns: c } = parseStatCsv(read('stat-dstip.csv'), 'stat-dstip.csv');

  it('reads both tables as sections 0 and 1 and stops at the Summary trailer', () => {
    expect(c.length).toBe(76);
    expect(c.section.filter((s) => s === 0)).toHaveLength(38);
    expect(c.section.filter((s) => s === 1)).toHaveLength(38);
    // Section 1 starts after the repeated header on line 41.
    expect(c.source_line[37]).toBe(39);
    expect(c.source_line[38]).toBe(42);
    expect(c.source_line[75]).toBe(79);
    // Nothing of the trailer ("Summary", its names, its values 254,16639781,...) became a row.
    expect(c.key).not.toContain('16639781');
    expect(c.flows.reduce((a, b) => a + b, 0)).toBe(2 * 254);
  });

  it('first row exactly', () => {
    // 2026-11-01 10:05:25,2026-11-01 10:05:27,2.256,any,203.0.113.17,1,0.4,136,0.9,199901,1.2,60,708868,1469
    expect(c.first_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 5, 25));
    expect(c.last_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 5, 27));
    expect(c.duration_s[0]).toBe(2.256);
    expect(c.proto[0]).toBe('any');
    expect(c.key[0]).toBe('203.0.113.17');
    expect([c.flows[0], c.flows_pct[0], c.packets[0], c.packets_pct[0], c.bytes[0], c.bytes_pct[0]]).toEqual([1, 0.4, 136, 0.9, 199901, 1.2]);
    expect([c.pps[0], c.bps[0], c.bpp[0]]).toEqual([60, 708868, 1469]);
    // Full IPv6 in the CSV.
    expect(c.key[1]).toBe('2001:db8:ee::c0:ffee');
    expect(c.bytes[2]).toBe(5141259);
  });
});

describe('flow CSV, nfdump 1.7.1 (flows.csv, flows-nosummary.csv)', () => {
  const full = parseFlowCsv(read('flows.csv'), 'flows.csv');
  const f = full.columns;

  it('reads 254 records and the Summary trailer, which agrees with them', () => {
    expect(f.length).toBe(254);
    expect(full.issues.rejects).toEqual([]);
    expect(full.summary).toBeDefined();
    expect(full.summary!.flows).toBe(254);
    expect(full.summary!.bytes).toBe(16639781);
    expect(full.summary!.packets).toBe(15757);
    expect(f.in_bytes.reduce((a, b) => a + b, 0)).toBe(full.summary!.bytes);
    expect(f.in_packets.reduce((a, b) => a + b, 0)).toBe(full.summary!.packets);
    expect(f.flows.every((n) => n === 1)).toBe(true);
  });

  it('first record exactly', () => {
    // 2026-11-01 10:00:03,2026-11-01 10:00:03,0.000,192.168.1.31,10.0.0.53,49231,53,UDP,........,0,0,1,88,0,0,...
    expect(f.first_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 0, 3));
    expect(f.last_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 0, 3));
    expect(f.duration_s[0]).toBe(0);
    expect([f.src_addr[0], f.dst_addr[0], f.src_port[0], f.dst_port[0], f.proto[0]]).toEqual(['192.168.1.31', '10.0.0.53', 49231, 53, 'UDP']);
    expect(f.tcp_flags[0]).toBe('........');
    expect([f.in_packets[0], f.in_bytes[0], f.out_packets[0], f.out_bytes[0]]).toEqual([1, 88, 0, 0]);
    expect(f.source_line[0]).toBe(2);
    // last record: 2026-11-01 10:13:37,2026-11-01 10:13:43,5.861,192.0.2.33,10.0.0.10,33983,80,TCP,...AP.SF,0,0,169,8345,...
    expect([f.duration_s[253], f.src_addr[253], f.dst_port[253], f.proto[253], f.tcp_flags[253], f.in_packets[253], f.in_bytes[253]]).toEqual([
      5.861,
      '192.0.2.33',
      80,
      'TCP',
      '...AP.SF',
      169,
      8345,
    ]);
    expect(new Set(f.proto)).toEqual(new Set(['TCP', 'UDP']));
  });

  it('flows-nosummary.csv (-q: no header, no trailer) gives the same records', () => {
    const q = parseFlowCsv(read('flows-nosummary.csv'), 'flows-nosummary.csv');
    expect(q.summary).toBeUndefined();
    expect(q.columns.length).toBe(254);
    for (const col of FLOW_COLS) expect(q.columns[col], col).toEqual(f[col]);
    // No header line: data starts on line 1.
    expect(q.columns.source_line[0]).toBe(1);
    expect(q.columns.source_line.map((n) => n + 1)).toEqual(f.source_line);
  });

  it('readInput detects both layouts as flow CSV', async () => {
    for (const name of ['flows.csv', 'flows-nosummary.csv', 'flows-1.7.5-layout.csv']) {
      const r = await readInput(nfdump17(name));
      expect(r.format, name).toBe('flow-csv');
      expect(r.kind).toBe('flow');
      expect(r.table.numRows).toBe(254);
    }
  });
});

describe('flow CSV, nfdump 1.7.5+ layout (flows-1.7.5-layout.csv)', () => {
  const legacy = parseFlowCsv(read('flows.csv'), 'flows.csv').columns;
  const later = parseFlowCsv(read('flows-1.7.5-layout.csv'), 'flows-1.7.5-layout.csv');
  const l = later.columns;

  it('reads the renamed header, no trailer', () => {
    expect(later.summary).toBeUndefined();
    expect(l.length).toBe(254);
  });

  it('first seen keeps its milliseconds; last seen = first seen + duration', () => {
    // 2026-11-01 10:00:03.920,0.000,17,192.168.1.31,49231,10.0.0.53,53,1,88,1
    expect(l.first_seen[0]).toBe(Date.UTC(2026, 10, 1, 10, 0, 3, 920));
    for (let i = 0; i < l.length; i++) {
      expect(l.last_seen[i], `row ${i}`).toBe(l.first_seen[i]! + Math.round(l.duration_s[i]! * 1000));
      // Same second as the 1.7.1 listing, which prints no milliseconds.
      expect(Math.floor(l.first_seen[i]! / 1000) * 1000).toBe(legacy.first_seen[i]);
    }
    expect(l.first_seen.some((t) => t % 1000 !== 0)).toBe(true);
    // The last record lasted 5.861 s.
    expect(l.last_seen[253]! - l.first_seen[253]!).toBe(5861);
  });

  it('maps numeric protocols to the names 1.7.1 printed', () => {
    expect(l.proto).toEqual(legacy.proto);
    expect(new Set(l.proto)).toEqual(new Set(['TCP', 'UDP']));
  });

  it('same records and totals as flows.csv', () => {
    for (const col of ['src_addr', 'dst_addr', 'src_port', 'dst_port', 'duration_s', 'in_packets', 'in_bytes', 'flows'] as const) {
      expect(l[col], col).toEqual(legacy[col]);
    }
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    expect(sum(l.flows)).toBe(254);
    expect(sum(l.in_packets)).toBe(15757);
    expect(sum(l.in_bytes)).toBe(16639781);
    // Columns the later layout does not print.
    expect(l.tcp_flags.every((v) => v === null)).toBe(true);
    expect(l.out_packets.every((v) => v === null)).toBe(true);
  });
});

describe('flow CSV problems and header handling (temp files)', () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterAll(async () => {
    await cleanup();
  });

  it('a Summary count that disagrees with the records fails, naming the file', async () => {
    const lines = read('flows.csv').split('\n');
    lines.splice(100, 1); // drop one record, keep the trailer saying 254
    const file = join(dir, 'flows-cut.csv');
    await writeFile(file, lines.join('\n'));
    const err = await rejection(readInput(file));
    expect(err.kind).toBe('input');
    expect(err.exitCode).toBe(1);
    expect(err.file).toBe(file);
    expect(err.message).toMatch(/Summary/);
    expect(err.message).toContain('254');
    expect(err.message).toContain('253');
    expect(err.format()).toContain(file);
  });

  it('a Summary that agrees with the records (both edited) is fine', async () => {
    const lines = read('flows.csv').split('\n');
    const [removed] = lines.splice(100, 1);
    const cells = removed!.split(',');
    const [packets, bytes] = [Number(cells[11]), Number(cells[12])]; // ipkt, ibyt
    const n = lines.findIndex((x) => x === 'Summary');
    const totals = lines[n + 2]!.split(',');
    // flows, bytes, packets, then averages (not checked)
    totals[0] = String(Number(totals[0]) - 1);
    totals[1] = String(Number(totals[1]) - bytes);
    totals[2] = String(Number(totals[2]) - packets);
    lines[n + 2] = totals.join(',');
    const file = join(dir, 'flows-cut-ok.csv');
    await writeFile(file, lines.join('\n'));
    const r = await readInput(file);
    expect(r.table.numRows).toBe(253);
  });

  it('flow columns are found by header name: a shuffled header gives the same values', async () => {
    const original = read('flows.csv');
    const shuffled = shuffleColumns(original, (line) => line.includes(','));
    expect(shuffled.split('\n')[0]!.startsWith('ts,')).toBe(false);
    const file = join(dir, 'flows-shuffled.csv');
    await writeFile(file, shuffled);
    const a = parseFlowCsv(original, 'a').columns;
    const b = parseFlowCsv(shuffled, 'b').columns;
    expect(b.length).toBe(254);
    for (const col of FLOW_COLS) expect(b[col], col).toEqual(a[col]);
    const r = await readInput(file);
    expect(r.format).toBe('flow-csv');
    expect(r.table.numRows).toBe(254);
  });

  it('stat columns are found by header name too (both tables shuffled)', () => {
    const original = read('stat-dstip.csv');
    const shuffled = shuffleColumns(original, (line) => line.includes(','));
    const a = parseStatCsv(original, 'a').columns;
    const b = parseStatCsv(shuffled, 'b').columns;
    expect(b.length).toBe(76);
    for (const col of STAT_COLS) expect(b[col], col).toEqual(a[col]);
  });

  it('a record cut short fails with the line and the field count expected', () => {
    const lines = read('flows.csv').split('\n');
    lines[9] = lines[9]!.slice(0, 60);
    let err: unknown;
    try {
      parseFlowCsv(lines.join('\n'), 'cut.csv');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowknnError);
    const e = err as FlowknnError;
    expect(e.file).toBe('cut.csv');
    expect(e.line).toBe(10);
    expect(e.message).toMatch(/expected 48 comma-separated fields/);
  });

  it('a statistics CSV row with a stray comma is refused at its line, not read with its columns shifted', () => {
    const lines = read('stat-dstip.csv').split('\n');
    const row = lines.findIndex((l, i) => i > 0 && /^\d{4}-/u.test(l));
    const cells = lines[row]!.split(',');
    cells.splice(cells.length - 2, 0, '145'); // one field too many before bps and bpp
    lines[row] = cells.join(',');
    let err: unknown;
    try {
      parseStatCsv(lines.join('\n'), 'stray.csv');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowknnError);
    const e = err as FlowknnError;
    expect(e.file).toBe('stray.csv');
    expect(e.line).toBe(row + 1);
    expect(e.message).toMatch(/comma-separated fields as in the header, got \d+ \(a stray comma\?\)/u);
  });

  it('a header without the needed columns names what is missing', () => {
    const text = read('flows.csv').replace(/^ts,te,td,sa,da,/, 'ts,te,td,sa,dax,');
    // With "da" renamed the header is no longer recognised as a flow CSV at all.
    expect(() => parseFlowCsv(text, 'h.csv')).toThrow(/flow CSV header/);
    const noBytes = read('flows.csv').replace(',ipkt,ibyt,', ',ipkt,ixxx,');
    let err: FlowknnError | undefined;
    try {
      parseFlowCsv(noBytes, 'h.csv');
    } catch (e) {
      err = e as FlowknnError;
    }
    expect(err?.line).toBe(1);
    expect(err?.message).toMatch(/header lacks bytes/);
  });
});
