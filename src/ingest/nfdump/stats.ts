import { excerpt, inputError, usageError } from '../../errors.js';
import { checkDuration } from '../fields.js';
import type { Reject } from '../issues.js';
import { mergeWarnings } from './flows.js';
import { checkTotals, fileTotals, NfdumpRun, nfdumpVersionOf, prepareNfcapdInput, type FileTotals, type NfdumpOptions, type NfdumpOutcome } from './run.js';

/**
 * nfdump's statistics of one nfcapd file, scanned straight from the bytes nfdump prints: the
 * nightly job's path, where a file has tens of thousands of hosts and only the few above a
 * packet or byte minimum are kept. Every line is checked for its shape and its flow, packet
 * and byte counts (they add up to the file's totals, which are checked: see below); the other
 * fields are decoded only for the kept rows.
 *
 * The layout is `-s STAT/ORDER -n N -o csv`; columns are found by their header names (1.6
 * releases name the counters of some orders `ipkt`, `ibyt`, ..., `ipbs`):
 *
 *   ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp
 *   2026-11-01 00:05:07,2026-11-01 00:05:19,11.978,any,203.0.113.80,15501,11.4,646958,...
 *
 * Up to 1.7.4 a blank line and nfdump's `Summary` trailer follow (flows, bytes, packets of
 * what passed the filter), and the rows are checked against it. 1.7.5 and later print no
 * trailer: then, for an unfiltered read of every aggregate (`-n 0`), the rows are checked
 * against the file's own totals (`nfdump -I`). `No matching flows` stands before the header
 * (1.7.5+) or instead of the rows when a filter matches nothing.
 */

export interface StatScanOptions extends NfdumpOptions {
  /** nfdump statistic (default dstip). */
  stat?: string;
  /** One print order (default pps). */
  order?: string;
  /** -n: rows (default 0 = all; then the totals are checked against the trailer). */
  top?: number;
  minPackets?: number;
  minBytes?: number;
  /** Bad lines allowed before the file fails (default 0). */
  maxRejects?: number;
}

const STAT_NAME = /^[a-z][a-z0-9]*(?::p)?$/u;
const ORDER_NAME = /^[a-z]+(?::[ad])?$/u;

/** nfdump's arguments for stat mode (exported for tests and for the docs). */
export function statArgs(file: string, options: { stat?: string; order?: string; top?: number; filter?: string } = {}): string[] {
  const stat = options.stat ?? 'dstip';
  const order = options.order ?? 'pps';
  if (!STAT_NAME.test(stat)) throw usageError(`nfdump statistic: expected a name like dstip, srcip, dstip:p or dstport, got "${stat}"`);
  if (!ORDER_NAME.test(order)) throw usageError(`nfdump print order: expected a name like pps, bps, flows, packets, bytes, got "${order}"`);
  const top = options.top ?? 0;
  if (!Number.isInteger(top) || top < 0) throw usageError(`top: expected a whole number >= 0, got ${top}`);
  // No -q: before 1.7.5 it would drop the Summary trailer the rows are checked against.
  const args = ['-r', file, '-s', `${stat}/${order}`, '-n', String(top), '-o', 'csv'];
  if (options.filter !== undefined && options.filter.trim() !== '') args.push(options.filter);
  return args;
}

/** The kept aggregates, column by column, and the file's totals. */
export interface StatScan {
  readonly file: string;
  readonly args: string[];
  firstSeen: number[];
  lastSeen: number[];
  durationS: number[];
  key: string[];
  flows: number[];
  packets: number[];
  bytes: number[];
  pps: number[];
  bps: number[];
  bpp: number[];
  line: number[];
  /** Over every listed aggregate, kept or not. */
  totalFlows: number;
  /** Flows of the whole file (nfdump's Summary trailer, or the file's own totals when read
   *  unfiltered): with a top n, more than the listed rows hold. */
  fileFlows: number;
  totalPackets: number;
  totalBytes: number;
  /** Data lines seen (kept, dropped by the minimums, rejected). */
  lines: number;
  rejects: Reject[];
  /** Which nfdump read it, its harmless warnings, how the rows were checked. */
  outcome?: NfdumpOutcome;
}

/** The statistics CSV columns the scanner reads, by every name nfdump has given them. */
const COLUMNS = {
  ts: ['ts'],
  te: ['te'],
  td: ['td'],
  val: ['val'],
  fl: ['fl'],
  pkt: ['pkt', 'ipkt', 'opkt'],
  byt: ['byt', 'ibyt', 'obyt'],
  pps: ['pps', 'ipps', 'opps'],
  bps: ['bps', 'ibps', 'obps', 'ipbs', 'opbs'],
  bpp: ['bpp', 'ibpp', 'obpp'],
} as const;
type Column = keyof typeof COLUMNS;
const HEADER_START = /^ts,te,td,/u;
const SUMMARY_HEADER = 'flows,bytes,packets,avg_bps,avg_pps,avg_bpp';
const COMMA = 0x2c;
const NL = 0x0a;
const ZERO = 0x30;

/** A whole number from bytes [from, to): digits only, at most 2^53; else -1. */
function uint(b: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 16) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = b[i]! - ZERO;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** `YYYY-MM-DD hh:mm:ss` (nfdump prints UTC: TZ=UTC is set for the child) to epoch ms; NaN if malformed. */
function timestamp(b: Buffer, from: number, to: number): number {
  if (to - from !== 19 || b[from + 4] !== 0x2d || b[from + 7] !== 0x2d || b[from + 10] !== 0x20 || b[from + 13] !== 0x3a || b[from + 16] !== 0x3a) return Number.NaN;
  const n = (a: number, len: number) => uint(b, from + a, from + a + len);
  const [y, mo, d, h, mi, s] = [n(0, 4), n(5, 2), n(8, 2), n(11, 2), n(14, 2), n(17, 2)];
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return Number.NaN;
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** Field index of each column in a header line; undefined when one is missing. */
function locate(header: string): Record<Column, number> | undefined {
  const names = header.split(',').map((n) => n.trim().toLowerCase());
  const at = {} as Record<Column, number>;
  for (const [col, aliases] of Object.entries(COLUMNS) as [Column, readonly string[]][]) {
    const i = names.findIndex((n) => aliases.includes(n));
    if (i < 0) return undefined;
    at[col] = i;
  }
  return at;
}

export async function scanNfcapdStats(file: string, options: StatScanOptions = {}): Promise<StatScan> {
  const version = await nfdumpVersionOf(options);
  const { path, header: fileHeader, dialect } = await prepareNfcapdInput(file, version);
  const opts = { ...options, version };
  const order = options.order ?? 'pps';
  const top = options.top ?? 0;
  const args = statArgs(path, { stat: options.stat, order, top, filter: options.filter });
  const filtered = options.filter !== undefined && options.filter.trim() !== '';
  // Without a trailer, the file's own totals check an unfiltered read of every aggregate (and
  // give the file's flow count either way).
  const totals: FileTotals | undefined = !dialect.statSummary && !filtered ? await fileTotals(file, path, opts, fileHeader) : undefined;
  const minPackets = options.minPackets ?? 0;
  const minBytes = options.minBytes ?? 0;
  const maxRejects = options.maxRejects ?? 0;
  const out: StatScan = {
    file,
    args,
    firstSeen: [],
    lastSeen: [],
    durationS: [],
    key: [],
    flows: [],
    packets: [],
    bytes: [],
    pps: [],
    bps: [],
    bpp: [],
    line: [],
    totalFlows: 0,
    fileFlows: 0,
    totalPackets: 0,
    totalBytes: 0,
    lines: 0,
    rejects: [],
  };
  // before: until the header; rows: data lines; after: past the rows; summary-*: the trailer
  let state: 'before' | 'rows' | 'after' | 'summary-header' | 'summary-values' | 'done' = 'before';
  let summary: number[] | undefined;
  let noMatch = false;
  let lineNo = 0;
  let at: Record<Column, number> = locate('ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp')!;
  let width = 14;
  let commas = new Int32Array(width);

  const reject = (b: Buffer, from: number, to: number, reason: string) => {
    const raw = b.toString('utf8', from, Math.min(to, from + 500));
    out.rejects.push({ file, line: lineNo, reason, raw });
    if (out.rejects.length > maxRejects) {
      throw inputError(`${reason}: "${excerpt(raw, 100)}"${out.rejects.length > 1 ? ` (${out.rejects.length} bad lines so far)` : ''}`, { file, line: lineNo });
    }
  };

  const dataLine = (b: Buffer, from: number, to: number) => {
    out.lines++;
    let n = 0;
    for (let i = from; i < to && n < width; i++) if (b[i] === COMMA) commas[n++] = i;
    if (n !== width - 1) return reject(b, from, to, `expected ${width} comma-separated fields as in the header, got ${n + 1}`);
    const field = (k: number): [number, number] => [k === 0 ? from : commas[k - 1]! + 1, k === width - 1 ? to : commas[k]!];
    const fl = uint(b, ...field(at.fl));
    const pkt = uint(b, ...field(at.pkt));
    const byt = uint(b, ...field(at.byt));
    if (fl < 0 || pkt < 0 || byt < 0) return reject(b, from, to, 'flows, packets and bytes must be whole numbers up to 2^53');
    out.totalFlows += fl;
    out.totalPackets += pkt;
    out.totalBytes += byt;
    if (pkt < minPackets || byt < minBytes) return;
    const ts = timestamp(b, ...field(at.ts));
    const te = timestamp(b, ...field(at.te));
    const tdText = b.toString('latin1', ...field(at.td));
    // An aggregate holding records without times (first seen 0) has nfdump's duration 0.
    const td = ts === 0 ? 0 : /^\d+(\.\d+)?$/u.test(tdText) ? Number(tdText) : Number.NaN;
    const pps = uint(b, ...field(at.pps));
    const bps = uint(b, ...field(at.bps));
    const bpp = uint(b, ...field(at.bpp));
    const [kf, kt] = field(at.val);
    if (Number.isNaN(ts) || Number.isNaN(te) || te < ts) return reject(b, from, to, 'first and last seen must be times YYYY-MM-DD hh:mm:ss, last not before first');
    if (Number.isNaN(td)) return reject(b, from, to, `duration must be seconds like 11.978, got "${excerpt(tdText, 30)}"`);
    const badDuration = checkDuration('duration', td, tdText);
    if (badDuration) return reject(b, from, to, badDuration);
    if (pps < 0 || bps < 0 || bpp < 0) return reject(b, from, to, 'pps, bps and bpp must be whole numbers');
    if (kt <= kf) return reject(b, from, to, 'the aggregated element (val) is empty');
    out.firstSeen.push(ts);
    out.lastSeen.push(te);
    out.durationS.push(td);
    out.key.push(b.toString('utf8', kf, kt));
    out.flows.push(fl);
    out.packets.push(pkt);
    out.bytes.push(byt);
    out.pps.push(pps);
    out.bps.push(bps);
    out.bpp.push(bpp);
    out.line.push(lineNo);
  };

  const text = (b: Buffer, from: number, to: number) => b.toString('utf8', from, to).trim();

  const header = (t: string) => {
    const found = locate(t);
    if (!found) throw inputError(`nfdump's statistics CSV header lacks a column flowknn reads (${Object.keys(COLUMNS).join(', ')}): "${excerpt(t, 100)}"`, { file, line: lineNo });
    at = found;
    width = t.split(',').length;
    if (commas.length < width) commas = new Int32Array(width);
    state = 'rows';
  };

  const handle = (b: Buffer, from: number, end: number) => {
    lineNo++;
    const to = end > from && b[end - 1] === 0x0d ? end - 1 : end;
    switch (state) {
      case 'before': {
        const t = text(b, from, to);
        if (HEADER_START.test(t)) header(t);
        else if (t === 'No matching flows') noMatch = true;
        else if (t !== '') throw inputError(`expected nfdump's statistics CSV header (ts,te,td,pr,val,fl,...), got "${excerpt(t, 80)}"`, { file, line: lineNo });
        return;
      }
      case 'rows':
        if (to === from) {
          state = 'after';
          return;
        }
        if (b[from]! >= ZERO && b[from]! <= ZERO + 9) return dataLine(b, from, to);
        if (/^summary\b/iu.test(text(b, from, to))) {
          state = 'summary-header';
          return;
        }
        if (text(b, from, to) === 'No matching flows') {
          noMatch = true;
          return;
        }
        return reject(b, from, to, 'expected a statistics row starting with its first-seen time');
      case 'after': {
        const t = text(b, from, to);
        if (t === '') return;
        if (/^summary\b/iu.test(t)) state = 'summary-header';
        else throw inputError(`unexpected nfdump output after the statistics: "${excerpt(t, 80)}"`, { file, line: lineNo });
        return;
      }
      case 'summary-header': {
        const t = text(b, from, to);
        if (t !== SUMMARY_HEADER) throw inputError(`expected nfdump's summary header (${SUMMARY_HEADER}), got "${excerpt(t, 80)}"`, { file, line: lineNo });
        state = 'summary-values';
        return;
      }
      case 'summary-values': {
        const t = text(b, from, to);
        summary = t.split(',').map((v) => (/^\d+$/u.test(v) ? Number(v) : Number.NaN));
        if (summary.length !== 6 || summary.some((v) => Number.isNaN(v))) throw inputError(`expected six whole numbers in nfdump's summary, got "${excerpt(t, 80)}"`, { file, line: lineNo });
        state = 'done';
        return;
      }
      case 'done':
        if (text(b, from, to) !== '') throw inputError(`unexpected nfdump output after its summary: "${excerpt(text(b, from, to), 80)}"`, { file, line: lineNo });
    }
  };

  const run = new NfdumpRun(file, opts, args, { header: fileHeader });
  // A bad line stops the parsing, not the reading: nfdump's output is drained so it can end,
  // and its own error (a damaged file, say) is reported before the symptom in its output.
  let failure: unknown;
  let warnings;
  try {
    let rest: Buffer | undefined;
    for await (const chunk of run.chunks()) {
      if (failure !== undefined) continue;
      const b = rest ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      try {
        for (let nl = b.indexOf(NL, start); nl >= 0; nl = b.indexOf(NL, start)) {
          handle(b, start, nl);
          start = nl + 1;
        }
      } catch (err) {
        failure = err;
      }
      rest = start < b.length ? b.subarray(start) : undefined;
    }
    if (rest && failure === undefined) {
      try {
        handle(rest, 0, rest.length);
      } catch (err) {
        failure = err;
      }
    }
    warnings = await run.finish();
  } finally {
    await run.dispose();
  }
  if (failure !== undefined) throw failure;
  const listedAll = top === 0 && out.rejects.length === 0;
  const got = { flows: out.totalFlows, packets: out.totalPackets, bytes: out.totalBytes };
  let totalsCheck: string;
  if (dialect.statSummary) {
    if ((state as string) !== 'done' || !summary) throw inputError(`nfdump's output ended ${state === 'before' ? 'before the statistics header' : 'without its Summary trailer'}`, { file, line: lineNo }, `nfdump ${version.version} ends its statistics CSV with one; was it cut short?`);
    const [flows, bytes, packets] = summary as [number, number, number];
    out.fileFlows = flows;
    // With every aggregate listed (-n 0) and each flow in exactly one, the rows add up to the file.
    if (listedAll) checkTotals(file, got, { flows, packets, bytes }, "nfdump's Summary trailer", lineNo);
    totalsCheck = listedAll ? 'Summary trailer' : `none (${top > 0 ? `top ${top}` : 'lines rejected'})`;
  } else {
    const ended = state as string;
    if (ended === 'before' && !noMatch) throw inputError("nfdump's output ended before the statistics header", { file, line: lineNo }, 'was it cut short? run nfdump on the file by hand to see');
    if (ended === 'summary-header' || ended === 'summary-values' || ended === 'done') {
      // Not printed by this release: a wrapper or another build; say so rather than guess.
      throw inputError(`nfdump ${version.version} printed a Summary trailer, which releases from 1.7.5 on do not`, { file, line: lineNo }, 'is --nfdump the binary that ran? (nfdump -V)');
    }
    out.fileFlows = totals?.flows ?? out.totalFlows;
    if (totals && listedAll) checkTotals(file, got, totals, 'nfdump -I (the totals the file was written with)');
    totalsCheck = totals ? (listedAll ? 'nfdump -I' : `none (${top > 0 ? `top ${top}` : 'lines rejected'})`) : 'none (filtered read)';
  }
  out.outcome = { nfdump: version.version, warnings: mergeWarnings(totals?.warnings ?? [], warnings), totalsCheck };
  return out;
}
