import { excerpt, inputError } from '../errors.js';
import type { WallClockZone } from '../io/time-zone.js';
import { FlowColumns, StatColumns } from '../schema/tables.js';
import { checkCount, checkDuration, checkKey, checkRate, parseDateTime, parsePlainNumber, type Parsed } from './fields.js';
import { LineIssues, type ParseOptions } from './issues.js';

/**
 * nfdump's CSV outputs. nfdump writes no quoting (no field contains a comma), so a line is
 * split on commas. Columns are found by header name, never by position: each column we read
 * lists every name nfdump has used for it (1.6 and 1.7.1: `ts,te,td,sa,da,...,ipkt,ibyt`;
 * later 1.7 releases renamed them: `firstSeen,lastSeen,duration,srcAddr,...`).
 */

export interface ColumnSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly required: boolean;
}

const STAT_CSV_COLUMNS = {
  first_seen: { name: 'first seen', aliases: ['ts', 'firstseen', 'first'], required: false },
  last_seen: { name: 'last seen', aliases: ['te', 'lastseen', 'last'], required: false },
  duration_s: { name: 'duration', aliases: ['td', 'duration'], required: true },
  proto: { name: 'protocol', aliases: ['pr', 'proto'], required: false },
  key: { name: 'value', aliases: ['val', 'value'], required: true },
  flows: { name: 'flows', aliases: ['fl', 'flows'], required: true },
  flows_pct: { name: 'flows %', aliases: ['flp', 'flows%', 'flowsp'], required: false },
  packets: { name: 'packets', aliases: ['pkt', 'ipkt', 'packets'], required: true },
  packets_pct: { name: 'packets %', aliases: ['pktp', 'ipktp', 'packets%', 'packetsp'], required: false },
  bytes: { name: 'bytes', aliases: ['byt', 'ibyt', 'bytes'], required: true },
  bytes_pct: { name: 'bytes %', aliases: ['bytp', 'ibytp', 'bytes%', 'bytesp'], required: false },
  pps: { name: 'pps', aliases: ['pps', 'ipps'], required: true },
  // nfdump 1.6 spells the stat CSV's bps header "ipbs".
  bps: { name: 'bps', aliases: ['bps', 'ibps', 'ipbs'], required: true },
  bpp: { name: 'bpp', aliases: ['bpp', 'ibpp'], required: true },
} as const satisfies Record<string, ColumnSpec>;

export const FLOW_CSV_COLUMNS = {
  first_seen: { name: 'first seen', aliases: ['ts', 'firstseen', 'first'], required: true },
  // nfdump 1.7.5+ `-o csv` prints no last-seen column (last = first + duration); its
  // `-o csv-fast` prints first and last seen (epoch ms) and no duration. One of the two must be
  // there (checked by flowLayout).
  last_seen: { name: 'last seen', aliases: ['te', 'lastseen', 'last'], required: false },
  duration_s: { name: 'duration', aliases: ['td', 'duration'], required: false },
  src_addr: { name: 'source address', aliases: ['sa', 'srcaddr', 'srcip'], required: true },
  dst_addr: { name: 'destination address', aliases: ['da', 'dstaddr', 'dstip'], required: true },
  src_port: { name: 'source port', aliases: ['sp', 'srcport'], required: true },
  dst_port: { name: 'destination port', aliases: ['dp', 'dstport'], required: true },
  proto: { name: 'protocol', aliases: ['pr', 'proto'], required: true },
  tcp_flags: { name: 'TCP flags', aliases: ['flg', 'flags', 'tcpflags'], required: false },
  flows: { name: 'flows', aliases: ['fl', 'flows'], required: false },
  in_packets: { name: 'packets', aliases: ['ipkt', 'inpackets', 'packets', 'inpkt'], required: true },
  in_bytes: { name: 'bytes', aliases: ['ibyt', 'inbytes', 'bytes', 'inbyt'], required: true },
  out_packets: { name: 'out packets', aliases: ['opkt', 'outpackets', 'outpkt'], required: false },
  out_bytes: { name: 'out bytes', aliases: ['obyt', 'outbytes', 'outbyt'], required: false },
} as const satisfies Record<string, ColumnSpec>;

type Positions<T> = { [K in keyof T]: number };

export function normaliseHeader(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_()-]/gu, '');
}

/** Index of each spec column in the header; throws naming the missing columns. */
function locate<T extends Record<string, ColumnSpec>>(header: string[], specs: T, file: string, line: number, what: string): Positions<T> {
  const names = header.map(normaliseHeader);
  const out: Record<string, number> = {};
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    const at = names.findIndex((n) => spec.aliases.includes(n));
    if (at < 0 && spec.required) missing.push(`${spec.name} (${spec.aliases.slice(0, 2).join(' or ')})`);
    out[key] = at;
  }
  if (missing.length > 0) {
    throw inputError(`${what} header lacks ${missing.join(', ')}; got "${excerpt(header.join(','), 100)}"`, { file, line });
  }
  return out as Positions<T>;
}

/** The flow CSV header of nfdump 1.6 to 1.7.4 (1.7.4 may add `eth`). */
export const LEGACY_FLOW_HEADER =
  'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr';

/** The flow CSV header of `nfdump -o csv-fast` (1.7.5+): epoch milliseconds, protocol numbers. */
export const CSV_FAST_HEADER = 'cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,output,flags,srcTos,packets,bytes';

export type FlowCsvLayout = 'nfdump-1.6/1.7.4' | 'nfdump-1.6/1.7.4 -q (no header)' | 'nfdump-1.7.5+' | 'nfdump-1.7.5+ csv-fast' | 'other';

/** Which nfdump printed a flow CSV header (for the record and for how times are read). */
export function flowCsvLayout(headerLine: string): FlowCsvLayout {
  if (headerLine.startsWith('ts,te,td,sa,da,')) return 'nfdump-1.6/1.7.4';
  if (headerLine.startsWith('firstSeen,')) return 'nfdump-1.7.5+';
  if (headerLine.startsWith('cnt,af,firstSeen,lastSeen,')) return 'nfdump-1.7.5+ csv-fast';
  return 'other';
}

/**
 * Durations, first and last seen of a flow CSV row. The layouts differ in what they carry:
 * - 1.6 to 1.7.4: `ts`/`te` in whole seconds (local time) and `td` in milliseconds. The true
 *   first seen lies in [ts, ts + 1 s); last seen is taken as ts + td, so a flow keeps its exact
 *   duration (an aggregate of one flow is exact; of several, within the one second the start
 *   times were cut to). `te` must agree with ts + td to within that second.
 * - 1.7.5+ `-o csv`: first seen with milliseconds and the duration: last = first + duration.
 * - 1.7.5+ `-o csv-fast`: first and last seen as epoch milliseconds: duration = last - first.
 * Returns the message of a row whose fields disagree.
 */
export function flowSpan(first: number, last: number | null, durationS: number | null): { last: number; durationS: number } | { expected: string } {
  if (durationS === null) {
    if (last === null) return { expected: 'expected a duration or a last-seen time' };
    // A record without times (first seen 0, as csv-fast prints it): no span (nfdumpDurationMs).
    if (first === 0) return { last: 0, durationS: 0 };
    if (last < first) return { expected: 'last seen: expected a time at or after first seen' };
    const span = (last - first) / 1000;
    const bad = checkDuration('last seen - first seen', span, String(span));
    return bad ? { expected: bad } : { last, durationS: span };
  }
  const end = first + Math.round(durationS * 1000);
  // te is ts + td cut to whole seconds, where ts is the true start cut to whole seconds.
  if (last !== null && (last < first || last < end - 1000 || last > end + 1000)) {
    return { expected: `last seen: expected first seen + duration (${durationS} s) to within a second, got ${(last - first) / 1000} s after first seen` };
  }
  return { last: end, durationS };
}

/** nfdump prints flow addresses with inet_ntop: IPv4 dotted quads, IPv6 in hex and colons. */
const ADDRESS = /^[0-9A-Fa-f.:]{2,45}$/u;
export const ADDRESS_EXPECTED = 'addresses: expected IPv4 or IPv6 addresses (digits, hex, dots and colons), as nfdump prints them';
export const CUT_SHORT = 'the file ends inside this line (no newline after it): cut short? nfdump ends every line with a newline';

/** The bytes [a, b) are an address as ADDRESS says (for the byte-level parser). */
export function isAddress(bytes: Uint8Array, a: number, b: number): boolean {
  if (b - a < 2 || b - a > 45) return false;
  for (let i = a; i < b; i++) {
    const c = bytes[i]!;
    if (!((c >= 0x30 && c <= 0x3a) || c === 0x2e || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export function isLegacyFlowRow(line: string): boolean {
  const cells = line.split(',');
  return cells.length === LEGACY_FLOW_HEADER.split(',').length && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/u.test(cells[0]!);
}

/** Header names that tell the CSV kinds apart (normalised). */
export function csvKind(headerLine: string): 'stat-csv' | 'flow-csv' | undefined {
  const names = new Set(headerLine.split(',').map(normaliseHeader));
  const has = (...alts: string[]) => alts.some((a) => names.has(a));
  if (has('val', 'value') && has('fl', 'flows') && has('td', 'duration')) return 'stat-csv';
  if (has('sa', 'srcaddr', 'srcip') && has('da', 'dstaddr', 'dstip') && has('td', 'duration', 'te', 'lastseen', 'last')) return 'flow-csv';
  return undefined;
}

interface Cell {
  readonly cells: string[];
  readonly lineNo: number;
  readonly raw: string;
}

/**
 * Splits the text into the header, the data rows and the optional Summary trailer
 * (`Summary` / `flows,bytes,packets,avg_bps,avg_pps,avg_bpp` / values). nfdump prints one
 * header per statistics table; later headers repeat the first and start a new section.
 */
function splitCsv(text: string, file: string, expectedKind: 'stat-csv' | 'flow-csv') {
  const lines = text.split('\n');
  let header: { cells: string[]; lineNo: number } | undefined;
  const rows: (Cell & { section: number; cut?: boolean })[] = [];
  let summary: Record<string, number> | undefined;
  let section = 0;
  let noMatch = false;
  // nfdump ends every line with a newline: a last line without one was cut short.
  const cutAt = lines.length > 0 && lines[lines.length - 1] !== '' ? lines.length : -1;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/u, '');
    const line = raw.trim();
    const lineNo = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    // 1.7.5+ prints it before the header (statistics) or after it (flows).
    if (/^no match(?:ing|ed) flows$/iu.test(line)) {
      noMatch = true;
      continue;
    }
    if (/^summary\b/iu.test(line)) {
      summary = readSummary(lines, i + 1, file);
      break;
    }
    if (!header) {
      // `nfdump -o csv -q` (1.6 to 1.7.4) prints no header: recognise the legacy layout by its
      // field count and first field (a date), and read it with that layout's header.
      if (expectedKind === 'flow-csv' && csvKind(line) === undefined && isLegacyFlowRow(line)) {
        header = { cells: LEGACY_FLOW_HEADER.split(','), lineNo: 0 };
        rows.push({ cells: line.split(','), lineNo, raw, section, ...(lineNo === cutAt ? { cut: true } : {}) });
        continue;
      }
      if (csvKind(line) !== expectedKind) {
        const kindName = expectedKind === 'stat-csv' ? 'nfdump statistics CSV' : 'nfdump flow CSV';
        const sample = expectedKind === 'stat-csv' ? 'ts,te,td,pr,val,fl,flP,...' : 'ts,te,td,sa,da,sp,dp,pr,...';
        throw inputError(`expected the ${kindName} header (${sample}), got "${excerpt(line, 80)}"`, { file, line: lineNo });
      }
      header = { cells: line.split(','), lineNo };
      continue;
    }
    if (line === header.cells.join(',') || csvKind(line) === expectedKind) {
      section++;
      continue;
    }
    // nfdump prints headings such as "Top 10 Src IP Addr ordered by flows:" in some versions.
    if (/^top\s+\d+\s/iu.test(line)) continue;
    rows.push({ cells: line.split(','), lineNo, raw, section, ...(lineNo === cutAt ? { cut: true } : {}) });
  }
  if (!header) {
    throw inputError(`no CSV header: the file is empty or not nfdump CSV output`, { file, line: 1 });
  }
  return { header, rows, summary, noMatch };
}

function readSummary(lines: string[], from: number, file: string): Record<string, number> | undefined {
  const rest = lines.slice(from).map((l, i) => ({ l: l.trim(), n: from + i + 1 })).filter((x) => x.l !== '');
  if (rest.length < 2) return undefined;
  const names = rest[0]!.l.split(',').map(normaliseHeader);
  const values = rest[1]!.l.split(',');
  if (names.length !== values.length) {
    throw inputError(`Summary trailer has ${names.length} names but ${values.length} values`, { file, line: rest[1]!.n });
  }
  const out: Record<string, number> = {};
  names.forEach((n, i) => {
    const v = parsePlainNumber(values[i]!);
    if (!v.ok) throw inputError(`Summary trailer ${n}: expected ${v.expected}`, { file, line: rest[1]!.n });
    out[n] = v.value;
  });
  return out;
}

function cellAt(row: Cell, at: number, name: string): string | { expected: string } {
  if (at < 0) return '';
  const v = row.cells[at];
  if (v === undefined) return { expected: `${name}: the line has ${row.cells.length} fields, the header names more (truncated line?)` };
  return v.trim();
}

function num(row: Cell, at: number, name: string): number | { expected: string } {
  const t = cellAt(row, at, name);
  if (typeof t !== 'string') return t;
  const v = parsePlainNumber(t);
  return v.ok ? v.value : { expected: `${name}: expected ${v.expected}` };
}

/** A number cell that must also pass a range check of fields.ts (checkCount, checkRate, checkDuration). */
function checked(row: Cell, at: number, name: string, check: (name: string, v: number, text: string) => string | undefined): number | { expected: string } {
  const v = num(row, at, name);
  if (typeof v !== 'number') return v;
  const bad = check(name, v, row.cells[at] ?? '');
  return bad ? { expected: bad } : v;
}

/** A counter (packets, bytes, flows): a whole number from 0 to 2^53 - 1 (beyond that a double
 *  no longer holds it exactly). */
const count = (row: Cell, at: number, name: string) => checked(row, at, name, checkCount);
/** A rate or share as nfdump prints it: finite and not negative. */
const nonNegative = (row: Cell, at: number, name: string) => checked(row, at, name, checkRate);
const duration = (row: Cell, at: number, name: string) => checked(row, at, name, checkDuration);

/** A column the layout may lack (at < 0): null then. */
function optional(row: Cell, at: number, name: string, read: typeof count): number | null | { expected: string } {
  return at < 0 ? null : read(row, at, name);
}

/** A port; ICMP's `type.code` (nfdump 1.7.5+) as nfdump stores it: type * 256 + code. */
function port(row: Cell, at: number, name: string): number | { expected: string } {
  const t = cellAt(row, at, name);
  if (typeof t !== 'string') return t;
  const icmp = /^(\d+)\.(\d+)$/u.exec(t);
  if (icmp) {
    if (Number(icmp[1]) > 255 || Number(icmp[2]) > 255) return { expected: `${name}: expected an ICMP type.code of 0..255 each, got "${excerpt(t, 60)}"` };
    return Number(icmp[1]) * 256 + Number(icmp[2]);
  }
  if (!/^\d+$/u.test(t) || Number(t) > 65535) return { expected: `${name}: expected a port 0..65535, got "${excerpt(t, 60)}"` };
  return Number(t);
}

/** nfdump prints protocol names up to 1.7.4 and numbers from 1.7.5; keep the names. */
const PROTO_NAMES: Readonly<Record<string, string>> = { '1': 'ICMP', '6': 'TCP', '17': 'UDP', '47': 'GRE', '50': 'ESP', '58': 'ICMP6', '132': 'SCTP' };

export function protoName(text: string): string {
  return PROTO_NAMES[text] ?? text;
}

function time(row: Cell, at: number, name: string, zone?: WallClockZone): number | null | { expected: string } {
  if (at < 0) return null;
  const t = cellAt(row, at, name);
  if (typeof t !== 'string') return t;
  // Later nfdump releases may print epoch seconds or milliseconds instead of a date; either
  // must fall within the range of dates (up to year 275760), or it is a damaged field.
  // csv-fast prints 0 for a record without times.
  if (/^\d{10,}$/u.test(t) || /^0+$/u.test(t)) {
    const ms = Number(t) * (t.length <= 10 ? 1000 : 1);
    if (!(ms <= 8.64e15)) return { expected: `${name}: expected a time, got the out-of-range number ${t}` };
    return ms;
  }
  const v: Parsed<number> = parseDateTime(t, zone);
  return v.ok ? v.value : { expected: `${name}: expected ${v.expected}` };
}

function isErr(v: unknown): v is { expected: string } {
  return typeof v === 'object' && v !== null && 'expected' in v;
}

/**
 * A row's field count against its header's: fewer is a cut line; with `exact` (statistics CSV,
 * whose rows nfdump prints as wide as the header), more is a stray comma that would shift every
 * column after it.
 */
function checkWidth(row: Cell, header: string[], exact = false): string | undefined {
  if (row.cells.length < header.length) {
    return `expected ${header.length} comma-separated fields as in the header, got ${row.cells.length} (truncated line?)`;
  }
  if (exact && row.cells.length > header.length) {
    return `expected ${header.length} comma-separated fields as in the header, got ${row.cells.length} (a stray comma?)`;
  }
  return undefined;
}

/** `nfdump -s dstip/pps/bps -o csv`. */
export function parseStatCsv(text: string, file: string, options: ParseOptions = {}): { columns: StatColumns; issues: LineIssues } {
  const issues = new LineIssues(file, options);
  const { header, rows, summary, noMatch } = splitCsv(text, file, 'stat-csv');
  const at = locate(header.cells, STAT_CSV_COLUMNS, file, header.lineNo, 'statistics CSV');
  const cols = new StatColumns();
  for (const row of rows) {
    if (row.cut) {
      issues.reject(row.lineNo, CUT_SHORT, row.raw);
      continue;
    }
    const width = checkWidth(row, header.cells, true);
    if (width) {
      issues.reject(row.lineNo, width, row.raw);
      continue;
    }
    const firstSeen = time(row, at.first_seen, 'ts', options.zone);
    const v = {
      first_seen: firstSeen,
      last_seen: time(row, at.last_seen, 'te', options.zone),
      // An aggregate holding records without times (first seen 0) has nfdump's duration 0.
      duration_s: firstSeen === 0 ? 0 : duration(row, at.duration_s, 'td'),
      flows: count(row, at.flows, 'flows'),
      flows_pct: optional(row, at.flows_pct, 'flows %', nonNegative),
      packets: count(row, at.packets, 'packets'),
      packets_pct: optional(row, at.packets_pct, 'packets %', nonNegative),
      bytes: count(row, at.bytes, 'bytes'),
      bytes_pct: optional(row, at.bytes_pct, 'bytes %', nonNegative),
      pps: nonNegative(row, at.pps, 'pps'),
      bps: nonNegative(row, at.bps, 'bps'),
      bpp: nonNegative(row, at.bpp, 'bpp'),
    };
    const bad = Object.values(v).find(isErr);
    if (bad) {
      issues.reject(row.lineNo, bad.expected, row.raw);
      continue;
    }
    const key = cellAt(row, at.key, 'val') as string;
    const badKey = checkKey('val', key);
    if (badKey) {
      issues.reject(row.lineNo, badKey, row.raw);
      continue;
    }
    if (v.last_seen !== null && v.first_seen !== null && (v.last_seen as number) < (v.first_seen as number)) {
      issues.reject(row.lineNo, 'te: expected a time at or after ts', row.raw);
      continue;
    }
    cols.first_seen.push(v.first_seen as number | null);
    cols.last_seen.push(v.last_seen as number | null);
    cols.duration_s.push(v.duration_s as number);
    cols.proto.push(at.proto < 0 ? null : (cellAt(row, at.proto, 'pr') as string));
    cols.key.push(key);
    cols.flows.push(v.flows as number);
    cols.flows_pct.push(v.flows_pct as number | null);
    cols.packets.push(v.packets as number);
    cols.packets_pct.push(v.packets_pct as number | null);
    cols.bytes.push(v.bytes as number);
    cols.bytes_pct.push(v.bytes_pct as number | null);
    cols.pps.push(v.pps as number);
    cols.bps.push(v.bps as number);
    cols.bpp.push(v.bpp as number);
    cols.section.push(row.section);
    cols.ordered_by.push(null);
    cols.note.push(null);
    cols.source_file.push(file);
    cols.source_line.push(row.lineNo);
  }
  // nfdump said it found nothing: `No matching flows`, or a trailer of 0 flows (1.6 to 1.7.4).
  const nothing = (noMatch || summary?.flows === 0) && issues.rejects.length === 0;
  issues.finish(cols.length, 'statistics CSV rows after the header', nothing);
  return { columns: cols, issues };
}

/** `nfdump -o csv`: flow records, with or without the Summary trailer. */
export function parseFlowCsv(
  text: string,
  file: string,
  options: ParseOptions = {},
): { columns: FlowColumns; issues: LineIssues; summary?: Record<string, number> } {
  const issues = new LineIssues(file, options);
  const { header, rows, summary, noMatch } = splitCsv(text, file, 'flow-csv');
  const at = locate(header.cells, FLOW_CSV_COLUMNS, file, header.lineNo, 'flow CSV');
  if (at.duration_s < 0 && at.last_seen < 0) throw inputError(`flow CSV header lacks a duration (td or duration) and a last seen (te or lastSeen): one is needed; got "${excerpt(header.cells.join(','), 100)}"`, { file, line: header.lineNo });
  // csv-fast prints epoch milliseconds: no zone applies to them (time() tells them apart).
  const cols = new FlowColumns();
  for (const row of rows) {
    if (row.cut) {
      issues.reject(row.lineNo, CUT_SHORT, row.raw);
      continue;
    }
    const width = checkWidth(row, header.cells);
    if (width) {
      issues.reject(row.lineNo, width, row.raw);
      continue;
    }
    const v = {
      first_seen: time(row, at.first_seen, 'first seen', options.zone),
      last_seen: time(row, at.last_seen, 'last seen', options.zone),
      duration_s: optional(row, at.duration_s, 'duration', duration),
      src_port: port(row, at.src_port, 'source port'),
      dst_port: port(row, at.dst_port, 'destination port'),
      flows: optional(row, at.flows, 'flows', count),
      in_packets: count(row, at.in_packets, 'packets'),
      in_bytes: count(row, at.in_bytes, 'bytes'),
      out_packets: optional(row, at.out_packets, 'out packets', count),
      out_bytes: optional(row, at.out_bytes, 'out bytes', count),
    };
    const bad = Object.values(v).find(isErr);
    if (bad) {
      issues.reject(row.lineNo, bad.expected, row.raw);
      continue;
    }
    const span = flowSpan(v.first_seen as number, v.last_seen as number | null, v.duration_s as number | null);
    if ('expected' in span) {
      issues.reject(row.lineNo, span.expected, row.raw);
      continue;
    }
    const src = cellAt(row, at.src_addr, 'source address') as string;
    const dst = cellAt(row, at.dst_addr, 'destination address') as string;
    if (src === '' || dst === '') {
      issues.reject(row.lineNo, 'expected source and destination addresses, got an empty field', row.raw);
      continue;
    }
    if (!ADDRESS.test(src) || !ADDRESS.test(dst)) {
      issues.reject(row.lineNo, ADDRESS_EXPECTED, row.raw);
      continue;
    }
    cols.first_seen.push(v.first_seen as number);
    cols.last_seen.push(span.last);
    cols.duration_s.push(span.durationS);
    cols.src_addr.push(src);
    cols.dst_addr.push(dst);
    cols.src_port.push(v.src_port as number);
    cols.dst_port.push(v.dst_port as number);
    cols.proto.push(protoName(cellAt(row, at.proto, 'protocol') as string));
    cols.tcp_flags.push(at.tcp_flags < 0 ? null : (cellAt(row, at.tcp_flags, 'flags') as string));
    cols.flows.push((v.flows as number | null) ?? 1);
    cols.in_packets.push(v.in_packets as number);
    cols.in_bytes.push(v.in_bytes as number);
    cols.out_packets.push(v.out_packets as number | null);
    cols.out_bytes.push(v.out_bytes as number | null);
    cols.source_line.push(row.lineNo);
  }
  issues.finish(cols.length, 'flow records after the header', (noMatch || summary?.flows === 0) && issues.rejects.length === 0);
  const flowCount = cols.flows.reduce((a, b) => a + b, 0);
  if (summary && summary.flows !== undefined && issues.rejects.length === 0 && summary.flows !== flowCount) {
    throw inputError(
      `the Summary trailer counts ${summary.flows} flows but the ${cols.length} records read hold ${flowCount} (a truncated or concatenated file?)`,
      { file },
    );
  }
  return { columns: cols, issues, summary };
}
