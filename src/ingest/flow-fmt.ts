import { excerpt } from '../errors.js';
import { FlowColumns } from '../schema/tables.js';
import { TextCache } from '../schema/text-cache.js';
import { protoName } from './csv.js';
import { checkDuration, MAX_DURATION_S, parseDateTime } from './fields.js';
import { FileRejects, type RejectThreshold } from './rejects.js';

/**
 * The flow lines nfdump prints for flowknn's `-o fmt:` (FLOW_FMT): 13 `|`-separated fields,
 * each padded with spaces, one flow per line, e.g.
 *
 *   1793491200.004|           0.000|1793491200.004|17   |      192.168.21.253| 55733|...|    1
 *
 * The rules are those of `parseFlowFmtLine`, which works on text. `FlowFmtReader` applies them
 * to nfdump's stdout as it comes, straight from the Buffers: lines are cut with indexOf, fields
 * are read from byte codes, and a valid line makes no string other than its two addresses. A
 * line the byte path does not recognise as a plain valid flow (a reject, `No matching flows`,
 * anything unusual) is decoded and handed to `parseFlowFmtLine`, so both give the same rows,
 * rejects and errors on every input.
 */

/** The `-o fmt:` of flow mode: only the fields flowknn uses, `|`-separated. */
export const FLOW_FMT = 'fmt:%tsr|%td|%ter|%pr|%sa|%sp|%da|%dp|%ipkt|%ibyt|%opkt|%obyt|%fl';
/**
 * The same for nfdump 1.6.12-1.6.16, which lack `%tsr`/`%ter`: first and last seen as
 * `YYYY-MM-DD hh:mm:ss.mmm` in nfdump's local time (UTC: flowknn sets TZ=UTC for it). Such
 * lines take the text path (parseFlowFmtLine), which reads both forms.
 */
export const FLOW_FMT_DATES = 'fmt:%ts|%td|%te|%pr|%sa|%sp|%da|%dp|%ipkt|%ibyt|%opkt|%obyt|%fl';
export const FLOW_FIELD_COUNT = 13;

/**
 * nfdump's lines around the flows when it runs without -q: the header (`Date first seen (raw)
 * ...` up to 1.7.4, `First seen raw ...` from 1.7.5) and the trailer, whose `Summary` line
 * (plain numbers with -N) counts what it printed: the completeness check of flow mode.
 */
const CHROME = /^(?:Date first seen|First seen raw|Summary: |Time window: |Total (?:flows|records) processed: |Sys: )/u;
const SUMMARY = /^Summary: total flows: (\d+), total bytes: (\d+), total packets: (\d+),/u;
/** 1.7.x with a filter: `Total flows processed: 15, passed: 5, ...` (1.6.x prints the passed count alone). */
const PROCESSED = /^Total (?:flows|records) processed: (\d+), passed: (\d+),/u;

/** What the trailer said (filled in as the lines pass). */
export interface FmtTrailer {
  seen: boolean;
  summary?: { flows: number; bytes: number; packets: number; line: number };
  /** Records nfdump read and records its filter passed, where it says both (1.7.x). */
  filtered?: { processed: number; passed: number };
}

/** Where a bad line goes: FileRejects (which throws once the file's threshold is passed). */
export interface LineRejects {
  add(line: number, reason: string, raw: string): void;
}

const SECONDS_MS = /^(\d+)\.(\d{3})$/u;
const WHOLE_SECONDS = /^(\d+)(?:\.\d+)?$/u;
const COUNT = /^\d+$/u;

/**
 * One line of nfdump's flow output, as text: a row added to `cols`, a reject, or nothing (a
 * blank line, or nfdump's `No matching flows` for a file or filter without flows). Returns
 * true when a row was added.
 */
export function parseFlowFmtLine(line: string, lineNo: number, cols: FlowColumns, rejects: LineRejects, trailer?: FmtTrailer): boolean {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed === 'No matching flows') return false;
  // Without -q nfdump prints a header line and its totals after the flows (1.6.x to 1.7.8).
  if (CHROME.test(trimmed)) {
    if (trailer) trailer.seen = true;
    const total = SUMMARY.exec(trimmed);
    if (total && trailer) trailer.summary = { flows: Number(total[1]), bytes: Number(total[2]), packets: Number(total[3]), line: lineNo };
    const processed = PROCESSED.exec(trimmed);
    if (processed && trailer) trailer.filtered = { processed: Number(processed[1]), passed: Number(processed[2]) };
    return false;
  }
  const reject = (reason: string) => {
    rejects.add(lineNo, reason, line);
    return false;
  };
  const cells = trimmed.split('|').map((c) => c.trim());
  if (cells.length !== FLOW_FIELD_COUNT) {
    return reject(`expected ${FLOW_FIELD_COUNT} |-separated fields (${FLOW_FMT.slice(4)}), got ${cells.length}`);
  }
  const [tsr, td, ter, pr, sa, sp, da, dp, ipkt, ibyt, opkt, obyt, fl] = cells as [string, string, string, string, string, string, string, string, string, string, string, string, string];
  const first = SECONDS_MS.exec(tsr);
  const firstDate = first ? undefined : parseDateTime(tsr);
  if (!first && !firstDate?.ok) return reject(`first seen (%tsr): expected seconds.mmm since the epoch (or %ts, YYYY-MM-DD hh:mm:ss.mmm), got "${excerpt(tsr, 40)}"`);
  const dur = SECONDS_MS.exec(td);
  if (!dur) return reject(`duration (%td): expected seconds.mmm (>= 0), got "${excerpt(td, 40)}"`);
  const negative = checkDuration('duration (%td)', Number(td), td);
  if (negative) return reject(negative);
  const firstMs = first ? Number(first[1]) * 1000 + Number(first[2]) : (firstDate as { value: number }).value;
  const durationMs = Number(dur[1]) * 1000 + Number(dur[2]);
  const lastMs = firstMs + durationMs;
  // %ter (%te) only as a cross-check of its whole seconds: nfdump 1.7.1 prints the
  // milliseconds of %ter wrong (see nfdump/flows.ts).
  const end = WHOLE_SECONDS.exec(ter);
  const endDate = end || first ? undefined : parseDateTime(ter);
  const endSec = end ? Number(end[1]) : endDate?.ok ? Math.floor(endDate.value / 1000) : Number.NaN;
  if (endSec !== Math.floor(lastMs / 1000)) {
    return reject(`last seen (%ter) "${excerpt(ter, 40)}" disagrees with first seen + duration (${(lastMs / 1000).toFixed(3)})`);
  }
  if (sa === '' || da === '') return reject('expected source and destination addresses, got an empty field');
  const srcPort = portValue(sp);
  const dstPort = portValue(dp);
  if (srcPort === undefined || dstPort === undefined) {
    return reject(`ports: expected 0..65535 (or ICMP type.code), got "${sp}" and "${dp}"`);
  }
  const counts = [ipkt, ibyt, opkt, obyt, fl].map((c) => (COUNT.test(c) ? Number(c) : Number.NaN));
  const bad = counts.findIndex((v) => !Number.isSafeInteger(v));
  if (bad >= 0) {
    const name = ['in packets', 'in bytes', 'out packets', 'out bytes', 'flows'][bad];
    return reject(`${name}: expected a whole number below 2^53, got "${[ipkt, ibyt, opkt, obyt, fl][bad]}"`);
  }
  if (!/^\d+$/u.test(pr) && !/^[A-Za-z][\w-]*$/u.test(pr)) return reject(`protocol: expected a number or name, got "${pr}"`);
  const [inPackets, inBytes, outPackets, outBytes, flows] = counts as [number, number, number, number, number];
  pushFlow(cols, firstMs, durationMs, sa, da, srcPort, dstPort, protoName(pr), flows, inPackets, inBytes, outPackets, outBytes, lineNo);
  return true;
}

function pushFlow(
  cols: FlowColumns,
  firstMs: number,
  durationMs: number,
  sa: string,
  da: string,
  srcPort: number,
  dstPort: number,
  proto: string,
  flows: number,
  inPackets: number,
  inBytes: number,
  outPackets: number,
  outBytes: number,
  lineNo: number,
): void {
  cols.first_seen.push(firstMs);
  cols.last_seen.push(firstMs + durationMs);
  cols.duration_s.push(durationMs / 1000);
  cols.src_addr.push(sa);
  cols.dst_addr.push(da);
  cols.src_port.push(srcPort);
  cols.dst_port.push(dstPort);
  cols.proto.push(proto);
  cols.tcp_flags.push(null);
  // nfdump counts `aggr_flows ? aggr_flows : 1` for a record.
  cols.flows.push(flows > 0 ? flows : 1);
  cols.in_packets.push(inPackets);
  cols.in_bytes.push(inBytes);
  cols.out_packets.push(outPackets);
  cols.out_bytes.push(outBytes);
  cols.source_line.push(lineNo);
}

function portValue(text: string): number | undefined {
  // ICMP type.code as nfdump stores it (type * 256 + code), each 0..255.
  const icmp = /^(\d+)\.(\d+)$/u.exec(text);
  if (icmp) return Number(icmp[1]) <= 255 && Number(icmp[2]) <= 255 ? Number(icmp[1]) * 256 + Number(icmp[2]) : undefined;
  if (!/^\d+$/u.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const BAR = 0x7c;
const DOT = 0x2e;
const ZERO = 0x30;
const MAX_DURATION_MS = MAX_DURATION_S * 1000;
/** Digits read into one double at most: 10^15 < 2^53, so the value is exact. */
const MAX_DIGITS = 15;

/** Bytes an address may hold on the byte path: what nfdump prints for IPv4 and IPv6 (`-6`). */
const ADDRESS_BYTE = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF.:') ADDRESS_BYTE[c.charCodeAt(0)] = 1;

/** protoName of the numbers 0..255 as nfdump -N prints them, made once. */
const PROTO_BY_NUMBER: readonly string[] = Array.from({ length: 256 }, (_, i) => protoName(String(i)));

/**
 * Parses nfdump's flow output chunk by chunk into FlowColumns. `feed` reads the whole lines of
 * a chunk, stopping early once the columns hold `limit` rows (so batches keep their size); a
 * line cut by the chunk's end is kept until the next chunk completes it. Line numbers count
 * every line of the output from 1, as the text path numbers them.
 */
export class FlowFmtReader {
  /** Lines seen (complete, plus a last one without a newline at `end`). */
  lineNo = 0;
  /** Rows added. */
  rows = 0;
  /** nfdump's header and trailer lines, and its Summary once read. */
  readonly trailer: FmtTrailer = { seen: false };
  private carry = Buffer.alloc(256);
  private carryLen = 0;
  /** The byte path's read position within the line being parsed. */
  private p = 0;
  /** Digits read by the last `uint`. */
  private digits = 0;
  private readonly addresses = new TextCache();

  constructor(private readonly rejects: LineRejects) {}

  /**
   * Parses the lines of `chunk` from `start` on, until the chunk ends or `cols` holds `limit`
   * rows; returns where it stopped (chunk.length when the chunk is used up).
   */
  feed(chunk: Buffer, start: number, cols: FlowColumns, limit: number): number {
    let at = start;
    const n = chunk.length;
    if (this.carryLen > 0) {
      const nl = chunk.indexOf(NL, at);
      if (nl < 0) {
        this.keep(chunk, at, n);
        return n;
      }
      this.keep(chunk, at, nl);
      const line = this.carry;
      const len = this.carryLen;
      this.carryLen = 0;
      this.line(line, 0, len, cols);
      at = nl + 1;
    }
    while (at < n && cols.length < limit) {
      const nl = chunk.indexOf(NL, at);
      if (nl < 0) {
        this.keep(chunk, at, n);
        return n;
      }
      this.line(chunk, at, nl, cols);
      at = nl + 1;
    }
    return at;
  }

  /** The end of the output: a last line without a newline. */
  end(cols: FlowColumns): void {
    if (this.carryLen === 0) return;
    const len = this.carryLen;
    this.carryLen = 0;
    this.lineNo++;
    // The text path keeps a last line as it is (no \r stripped).
    if (this.slowLine(this.carry.toString('utf8', 0, len), cols)) this.rows++;
  }

  private keep(chunk: Buffer, s: number, e: number): void {
    const need = this.carryLen + (e - s);
    if (need > this.carry.length) {
      const bigger = Buffer.alloc(Math.max(need, this.carry.length * 2));
      this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
    chunk.copy(this.carry, this.carryLen, s, e);
    this.carryLen = need;
  }

  /** One complete line, b[s..e) without its newline. */
  private line(b: Buffer, s: number, e: number, cols: FlowColumns): void {
    this.lineNo++;
    if (this.fastLine(b, s, e, cols)) {
      this.rows++;
      return;
    }
    let end = e;
    if (end > s && b[end - 1] === CR) end--;
    if (this.slowLine(b.toString('utf8', s, end), cols)) this.rows++;
  }

  private slowLine(text: string, cols: FlowColumns): boolean {
    return parseFlowFmtLine(text, this.lineNo, cols, this.rejects, this.trailer);
  }

  private skipSpaces(b: Uint8Array, e: number): void {
    let p = this.p;
    while (p < e && b[p] === SPACE) p++;
    this.p = p;
  }

  /** Spaces, `|`, spaces: the gap between two fields. */
  private separator(b: Uint8Array, e: number): boolean {
    this.skipSpaces(b, e);
    if (this.p >= e || b[this.p] !== BAR) return false;
    this.p++;
    this.skipSpaces(b, e);
    return true;
  }

  /** 1 to 15 decimal digits at p, as a number; -1 when there are none or more. */
  private uint(b: Uint8Array, e: number): number {
    let p = this.p;
    const start = p;
    let v = 0;
    while (p < e) {
      const d = b[p]! - ZERO;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      p++;
    }
    this.p = p;
    this.digits = p - start;
    return this.digits === 0 || this.digits > MAX_DIGITS ? -1 : v;
  }

  /** `seconds.mmm` as whole milliseconds; -1 when it is not exactly that. */
  private secondsMs(b: Uint8Array, e: number): number {
    const whole = this.uint(b, e);
    if (whole < 0 || this.p >= e || b[this.p] !== DOT) return -1;
    this.p++;
    const ms = this.uint(b, e);
    return ms < 0 || this.digits !== 3 ? -1 : whole * 1000 + ms;
  }

  /** A port, or ICMP's type.code as type * 256 + code; -1 when out of range or not a number. */
  private port(b: Uint8Array, e: number): number {
    const v = this.uint(b, e);
    if (v < 0) return -1;
    if (this.p < e && b[this.p] === DOT) {
      this.p++;
      const code = this.uint(b, e);
      return code < 0 || v > 255 || code > 255 ? -1 : v * 256 + code;
    }
    return v > 65535 ? -1 : v;
  }

  /** An address: bytes of ADDRESS_BYTE up to the spaces before the next `|`; null otherwise. */
  private address(b: Buffer, e: number): string | null {
    const s = this.p;
    let p = s;
    while (p < e && ADDRESS_BYTE[b[p]!] === 1) p++;
    if (p === s) return null;
    this.p = p;
    return this.addresses.get(b, s, p);
  }

  /**
   * A plain valid flow line on bytes alone: every field as FLOW_FMT prints it, padded with
   * spaces only. Adds the row and returns true; returns false, having added nothing, for
   * anything else, which then goes through parseFlowFmtLine.
   */
  private fastLine(b: Buffer, s: number, e: number, cols: FlowColumns): boolean {
    this.p = s;
    this.skipSpaces(b, e);
    const firstMs = this.secondsMs(b, e);
    if (firstMs < 0 || !this.separator(b, e)) return false;
    const durationMs = this.secondsMs(b, e);
    // Out of range (checkDuration's rule): the text path says why.
    if (durationMs < 0 || durationMs > MAX_DURATION_MS || !this.separator(b, e)) return false;
    const lastSec = this.uint(b, e);
    if (lastSec < 0 || lastSec !== Math.floor((firstMs + durationMs) / 1000)) return false;
    if (this.p < e && b[this.p] === DOT) {
      this.p++;
      let p = this.p;
      while (p < e && b[p]! >= ZERO && b[p]! <= ZERO + 9) p++;
      if (p === this.p) return false;
      this.p = p;
    }
    if (!this.separator(b, e)) return false;
    // -N prints protocol numbers; leading zeros would be another text for protoName.
    const protoStart = this.p;
    const proto = this.uint(b, e);
    if (proto < 0 || proto > 255 || (this.digits > 1 && b[protoStart] === ZERO) || !this.separator(b, e)) return false;
    const sa = this.address(b, e);
    if (sa === null || !this.separator(b, e)) return false;
    const sp = this.port(b, e);
    if (sp < 0 || !this.separator(b, e)) return false;
    const da = this.address(b, e);
    if (da === null || !this.separator(b, e)) return false;
    const dp = this.port(b, e);
    if (dp < 0 || !this.separator(b, e)) return false;
    const inPackets = this.uint(b, e);
    if (inPackets < 0 || !this.separator(b, e)) return false;
    const inBytes = this.uint(b, e);
    if (inBytes < 0 || !this.separator(b, e)) return false;
    const outPackets = this.uint(b, e);
    if (outPackets < 0 || !this.separator(b, e)) return false;
    const outBytes = this.uint(b, e);
    if (outBytes < 0 || !this.separator(b, e)) return false;
    const flows = this.uint(b, e);
    if (flows < 0) return false;
    this.skipSpaces(b, e);
    if (this.p !== e) return false;
    pushFlow(cols, firstMs, durationMs, sa, da, sp, dp, PROTO_BY_NUMBER[proto]!, flows, inPackets, inBytes, outPackets, outBytes, this.lineNo);
    return true;
  }
}

export interface FlowFmtParseOptions extends RejectThreshold {
  /** Where rejected lines go as they are found. */
  rejects?: { add(r: { file: string; line: number; reason: string; raw: string }): void };
}

/**
 * Parses nfdump's flow output held in memory, cut into chunks of `chunkBytes` (tests, the fuzz
 * test): the reader nfdump/flows.ts runs on nfdump's stdout, with the same threshold check at the end.
 */
export function parseFlowFmt(bytes: Uint8Array, file: string, options: FlowFmtParseOptions = {}, chunkBytes = bytes.length): { columns: FlowColumns; rejects: FileRejects; lines: number } {
  const rejects = new FileRejects(file, options, options.rejects);
  const reader = new FlowFmtReader(rejects);
  const columns = new FlowColumns();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const step = Math.max(1, chunkBytes);
  for (let i = 0; i < buf.length; i += step) {
    const chunk = buf.subarray(i, Math.min(buf.length, i + step));
    let at = 0;
    while (at < chunk.length) at = reader.feed(chunk, at, columns, Number.POSITIVE_INFINITY);
  }
  reader.end(columns);
  rejects.finish(reader.rows + rejects.count);
  return { columns, rejects, lines: reader.lineNo };
}
