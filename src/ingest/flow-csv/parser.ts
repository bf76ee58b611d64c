import type { RecordBatch, Schema } from 'apache-arrow';
import { excerpt, inputError } from '../../errors.js';
import { DEFAULT_BATCH_ROWS, flowSchema } from '../../schema/tables.js';
import { WallClockZone } from '../../io/time-zone.js';
import { ADDRESS_EXPECTED, CUT_SHORT, csvKind, flowCsvLayout, flowSpan, isAddress, isLegacyFlowRow, LEGACY_FLOW_HEADER, type FlowCsvLayout } from '../csv.js';
import { MAX_DURATION_S } from '../fields.js';
import { FileRejects, type RejectSink, type RejectThreshold } from '../rejects.js';
import { decimalInto, decode, isBlank, portInto, timeInto, uintInto } from './bytes.js';
import { protoCell, slowCount, slowDuration, slowPort, slowTime, textCell } from './cells.js';
import { checkSummaryCounts, locateColumns, readSummaryTrailer, type Positions } from './checks.js';
import { FlowBatchBuilder, toBatch, type FlowPiece, type Present } from './columns.js';
import { CommaSplitter } from './split.js';

/**
 * The byte-level flow CSV parser: nfdump's `-o csv` text in any chunks, Arrow record batches of
 * the `flow` schema out (see stream.ts for how files are fed to it, on one thread or several).
 */

export interface FlowCsvStreamOptions extends RejectThreshold {
  /** Rows per record batch (default 65536). */
  batchRows?: number;
  /** Bytes per read from the file on one thread (default 1 MiB). */
  highWaterMark?: number;
  /**
   * Parse threads (default 1: this thread). With more, the file is cut into blocks at line
   * ends, parsed by worker threads, and put back in order here; batches, line numbers,
   * rejects and errors are the same as with one thread.
   */
  threads?: number;
  /** Bytes per block handed to a parse thread (default 4 MiB). */
  blockBytes?: number;
  /** Longest line accepted (default 1 MiB); a longer data line is rejected unread. */
  maxLineBytes?: number;
  /** Where rejected rows go as they are found (e.g. a RejectsWriter). */
  rejects?: RejectSink;
  /** Stops reading; the iteration ends with a FlowknnError. */
  signal?: AbortSignal;
  /** The name used in messages and the rejects file (default: the path). */
  displayName?: string;
  /** The zone nfdump printed its local times in (default UTC); epoch times (csv-fast) need none. */
  timeZone?: string;
}

export type { FlowCsvLayout };

export interface FlowCsvStats {
  file: string;
  layout?: FlowCsvLayout;
  gzip: boolean;
  /** Bytes read from the file (compressed size for .gz) and bytes of CSV text parsed. */
  fileBytes: number;
  textBytes: number;
  lines: number;
  /** Data lines seen (rows + rejected). */
  dataLines: number;
  rows: number;
  rejected: number;
  batches: number;
  summary?: Record<string, number>;
}

export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;


const STATE_HEADER = 0;
const STATE_DATA = 1;
const STATE_TRAILER = 2;

/** The header a worker parses with (found by the main thread). */
export interface HeaderConfig {
  file: string;
  cells: string[];
  layout: FlowCsvLayout;
  maxLineBytes: number;
  timeZone?: string;
}

/** What a worker found in one block, line numbers counted from the block's first line. */
export interface BlockResult {
  lines: number;
  dataLines: number;
  rows: number;
  pieces: FlowPiece[];
  rejects: { line: number; reason: string; raw: string }[];
  /** Set when the block holds the `Summary` line: the (block) line of it and what followed. */
  trailer?: { line: number; lines: string[]; lineNos: number[] };
}

/** Used by the worker threads: pieces and rejects go back to the main thread. */
interface WorkerHooks {
  newBuilder(rows: number, textHint: number): FlowBatchBuilder;
  onPiece(b: FlowBatchBuilder): void;
  onReject(line: number, reason: string, raw: string): void;
}

/**
 * The byte-level parser. Feed it chunks with `push` (any split, lines may straddle chunks),
 * then `end`; full batches are handed to `onBatch` as they complete. Throws FlowknnError for
 * a file that fails (header, Summary, rejects over the threshold); rows it cannot use go to
 * the FileRejects.
 */
export class FlowCsvParser {
  readonly stats: FlowCsvStats;
  readonly schema: Schema;
  readonly rejects: FileRejects;
  private state = STATE_HEADER;
  private at: Positions | undefined;
  private width = 0;
  private present: Present = { tcp_flags: false, out_packets: false, out_bytes: false };
  private headerText = '';
  private headerCells: string[] = [];
  private builder: FlowBatchBuilder | undefined;
  private carry = new Uint8Array(0);
  private carryLen = 0;
  private discarding = false;
  private discardHead = '';
  private trailer: string[] = [];
  private trailerLines: number[] = [];
  private trailerAt = 0;
  private readonly sums = new Float64Array(5);
  private sawBom = false;
  private noMatch = false;
  /** Set for the input's last line when it has no newline. */
  private cutLine = false;
  private batchRows: number;
  private readonly maxLine: number;
  private textHint: number;
  /** Builders whose batch the consumer has handed back (recycle), and each batch's builder. */
  private readonly free: FlowBatchBuilder[] = [];
  private readonly builderOf = new WeakMap<RecordBatch, FlowBatchBuilder>();
  private readonly splitter = new CommaSplitter();

  constructor(
    readonly file: string,
    options: FlowCsvStreamOptions,
    private readonly onBatch: (batch: RecordBatch) => void,
    private readonly hooks?: WorkerHooks,
  ) {
    this.batchRows = Math.max(1, Math.floor(options.batchRows ?? DEFAULT_BATCH_ROWS));
    this.maxLine = Math.max(256, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.textHint = Math.min(this.batchRows, 4096);
    this.rejects = new FileRejects(file, hooks ? {} : options, hooks ? undefined : options.rejects);
    this.schema = flowSchema({ 'flowknn.source': file, 'flowknn.format': 'flow-csv' });
    this.stats = { file, gzip: false, fileBytes: 0, textBytes: 0, lines: 0, dataLines: 0, rows: 0, rejected: 0, batches: 0 };
    this.setZone(options.timeZone);
  }

  /** The zone of the times read (undefined: UTC, nothing to convert). */
  private zone: WallClockZone | undefined;

  private setZone(timeZone: string | undefined): void {
    this.zone = timeZone === undefined || timeZone === 'UTC' ? undefined : new WallClockZone(timeZone);
  }

  /** The header as the workers need it; undefined before the header is read. */
  get headerConfig(): HeaderConfig | undefined {
    if (this.state === STATE_HEADER || this.stats.layout === undefined) return undefined;
    return { file: this.file, cells: this.headerCells, layout: this.stats.layout, maxLineBytes: this.maxLine, timeZone: this.zone?.timeZone };
  }

  /** Reading data rows, with no partial line pending: the next block may go to a worker. */
  get clean(): boolean {
    return this.state === STATE_DATA && this.carryLen === 0 && !this.discarding;
  }

  /** Parses the complete lines of `chunk`; keeps a line cut at its end for the next chunk. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.stats.textBytes += buf.length;
    let start = 0;
    if (!this.sawBom && buf.length > 0) {
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      this.sawBom = true;
    }
    if (this.carryLen > 0 || this.discarding) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) {
        this.keep(buf, start, buf.length);
        return;
      }
      this.keep(buf, start, nl);
      this.finishCarried();
      start = nl + 1;
    }
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      this.line(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) this.keep(buf, start, buf.length);
  }

  /** The end of the input: the last line (without a newline), the checks, the last batch. */
  end(): void {
    if (this.carryLen > 0 || this.discarding) {
      this.cutLine = true;
      this.finishCarried();
    }
    if (this.state === STATE_HEADER) {
      throw inputError('no CSV header: the file is empty or not nfdump CSV output', { file: this.file, line: 1 });
    }
    // The last batch goes out before the checks: a consumer takes batches only after `end`
    // returns (FlowCsvStream), so a failing check still leaves nothing behind.
    this.flush();
    if (this.state === STATE_TRAILER) {
      const counts = { file: this.file, trailer: this.trailer, trailerLines: this.trailerLines, sums: this.sums, rows: this.stats.rows, dataLines: this.stats.dataLines, rejected: this.rejects.count, oneRecordPerLine: this.at!.flows < 0 };
      const summary = readSummaryTrailer(counts);
      if (summary !== undefined) {
        this.stats.summary = summary;
        checkSummaryCounts(counts, summary);
      }
    }
    this.rejects.finish(this.stats.dataLines);
    // nfdump said it found nothing: `No matching flows`, or a trailer of 0 flows.
    const nothing = (this.noMatch || this.stats.summary?.flows === 0) && this.rejects.count === 0;
    if (this.stats.rows === 0 && !nothing) {
      const why = this.rejects.count > 0 ? `all ${this.rejects.count} data lines were rejected` : 'no data lines';
      throw inputError(`${why}; expected flow records after the header`, { file: this.file, line: this.rejects.first[0]?.line });
    }
  }

  // ---- worker side ----

  /** A worker's parser: the header comes from the main thread. */
  configure(h: HeaderConfig): void {
    this.setZone(h.timeZone);
    this.setHeader(h.cells, 0, h.layout);
    this.sawBom = true;
  }

  /** Parses one block of whole lines (the last one may lack its newline when `final`). */
  parseBlock(buf: Buffer, final: boolean, rowsHint: number): BlockResult {
    const st = this.stats;
    st.lines = 0;
    st.dataLines = 0;
    st.rows = 0;
    st.rejected = 0;
    this.state = STATE_DATA;
    this.trailer = [];
    this.trailerLines = [];
    this.carryLen = 0;
    this.discarding = false;
    this.cutLine = false;
    this.batchRows = Math.max(64, Math.min(DEFAULT_BATCH_ROWS, rowsHint));
    this.textHint = Math.min(this.batchRows, 4096);
    this.push(buf);
    if (final && (this.carryLen > 0 || this.discarding)) {
      this.cutLine = true;
      this.finishCarried();
    }
    this.flush();
    return {
      lines: st.lines,
      dataLines: st.dataLines,
      rows: st.rows,
      pieces: [],
      rejects: [],
      trailer: this.state === STATE_TRAILER ? { line: this.trailerAt, lines: this.trailer, lineNos: this.trailerLines } : undefined,
    };
  }

  // ---- main side, taking a worker's block ----

  /** Applies a worker's block: rejects (threshold checked), rows, counts, a trailer. */
  applyBlock(res: BlockResult): void {
    const base = this.stats.lines;
    if (base + res.lines > 0x7fffffff) throw inputError('more than 2^31 - 1 lines: split the file', { file: this.file });
    for (const r of res.rejects) {
      this.stats.rejected++;
      this.rejects.add(base + r.line, r.reason, r.raw);
    }
    for (const p of res.pieces) this.appendPiece(p, base);
    this.stats.lines += res.lines;
    this.stats.dataLines += res.dataLines;
    if (res.trailer) {
      this.state = STATE_TRAILER;
      this.trailer = res.trailer.lines;
      this.trailerLines = res.trailer.lineNos.map((n) => base + n);
    }
  }

  private appendPiece(p: FlowPiece, lineBase: number): void {
    let from = 0;
    while (from < p.n) {
      let b = this.builder;
      if (b === undefined) b = this.builder = this.newBuilder();
      const count = Math.min(p.n - from, this.batchRows - b.n);
      b.append(p, from, count, lineBase);
      from += count;
      this.stats.rows += count;
      if (b.n === this.batchRows) this.flush();
    }
  }

  private newBuilder(): FlowBatchBuilder {
    if (this.hooks) return this.hooks.newBuilder(this.batchRows, this.textHint);
    const b = this.free.pop();
    if (b === undefined || b.cap !== this.batchRows) return new FlowBatchBuilder(this.batchRows, this.textHint);
    b.n = 0;
    b.src.end = 0;
    b.dst.end = 0;
    b.proto.end = 0;
    b.flags.end = 0;
    return b;
  }

  /**
   * Takes back a batch this parser made once the consumer is done with it (written to disk,
   * say): its arrays are reused for a later batch, so a long file does not allocate and fault
   * in fresh memory for every batch. The batch must not be read afterwards.
   */
  recycle(batch: RecordBatch): void {
    const b = this.builderOf.get(batch);
    if (b === undefined) return;
    this.builderOf.delete(batch);
    if (this.free.length < 2) this.free.push(b);
  }

  // ---- lines ----

  private keep(buf: Uint8Array, a: number, b: number): void {
    if (this.discarding) return;
    const need = this.carryLen + (b - a);
    if (need > this.maxLine) {
      const head = decode(this.carry, 0, Math.min(this.carryLen, 200));
      this.discardHead = head.length >= 200 ? head : head + decode(buf, a, Math.min(b, a + 200 - head.length));
      this.discarding = true;
      this.carryLen = 0;
      return;
    }
    if (need > this.carry.length) {
      const next = new Uint8Array(Math.min(this.maxLine, Math.max(need, this.carry.length * 2, 1024)));
      next.set(this.carry.subarray(0, this.carryLen));
      this.carry = next;
    }
    this.carry.set(buf.subarray(a, b), this.carryLen);
    this.carryLen = need;
  }

  private finishCarried(): void {
    if (this.discarding) {
      this.discarding = false;
      this.stats.lines++;
      this.tooLong(this.discardHead);
      return;
    }
    const buf = Buffer.from(this.carry.buffer, 0, this.carryLen);
    this.carryLen = 0;
    this.line(buf, 0, buf.length);
    if (this.carry.length > 65536) this.carry = new Uint8Array(0);
  }

  private tooLong(head: string): void {
    if (this.state === STATE_HEADER) {
      throw inputError(`line ${this.stats.lines} is longer than ${this.maxLine} bytes: not nfdump CSV output`, { file: this.file, line: this.stats.lines });
    }
    if (this.state === STATE_TRAILER) return;
    this.stats.dataLines++;
    this.reject(`the line is longer than ${this.maxLine} bytes (not an nfdump flow record)`, `${head}...`);
  }

  /** One line, without its newline. */
  private line(buf: Buffer, s: number, e: number): void {
    const lineNo = ++this.stats.lines;
    if (lineNo > 0x7fffffff) throw inputError('more than 2^31 - 1 lines: split the file', { file: this.file });
    if (e > s && buf[e - 1] === 13) e--;
    if (e - s > this.maxLine) {
      this.tooLong(decode(buf, s, s + 200));
      return;
    }
    let p = s;
    while (p < e && isBlank(buf[p]!)) p++;
    if (p === e) return;
    const c = buf[p]!;
    if (this.state === STATE_DATA && c >= 48 && c <= 57) {
      this.row(buf, s, e);
      return;
    }
    this.otherLine(buf, s, e);
  }

  /** Lines other than plain data rows: the header, repeated headers, headings, the trailer. */
  private otherLine(buf: Buffer, s: number, e: number): void {
    const raw = decode(buf, s, e);
    const line = raw.trim();
    if (this.state === STATE_TRAILER) {
      // As readSummary in csv.ts: the first two non-empty lines after `Summary`; the rest is
      // ignored.
      if (line !== '' && this.trailer.length < 2) {
        this.trailer.push(line);
        this.trailerLines.push(this.stats.lines);
      }
      return;
    }
    if (line === '' || line.startsWith('#')) return;
    if (/^summary\b/iu.test(line)) {
      if (this.state === STATE_HEADER) {
        throw inputError('no CSV header: the file is empty or not nfdump CSV output', { file: this.file, line: 1 });
      }
      this.state = STATE_TRAILER;
      this.trailerAt = this.stats.lines;
      return;
    }
    if (this.state === STATE_HEADER) {
      if (csvKind(line) === undefined && isLegacyFlowRow(line)) {
        this.setHeader(LEGACY_FLOW_HEADER.split(','), 0, 'nfdump-1.6/1.7.4 -q (no header)');
        this.row(buf, s, e);
        return;
      }
      if (csvKind(line) !== 'flow-csv') {
        throw inputError(`expected the nfdump flow CSV header (ts,te,td,sa,da,sp,dp,pr,...), got "${excerpt(line, 80)}"`, { file: this.file, line: this.stats.lines });
      }
      this.setHeader(line.split(','), this.stats.lines, flowCsvLayout(line));
      return;
    }
    if (line === this.headerText || csvKind(line) === 'flow-csv') return;
    if (/^top\s+\d+\s/iu.test(line)) return;
    if (/^no match(?:ing|ed) flows$/iu.test(line)) {
      this.noMatch = true;
      return;
    }
    this.row(buf, s, e);
  }

  private setHeader(cells: string[], lineNo: number, layout: FlowCsvLayout): void {
    this.at = locateColumns(cells, this.file, lineNo);
    if (this.at.duration_s < 0 && this.at.last_seen < 0) {
      throw inputError(`flow CSV header lacks a duration (td or duration) and a last seen (te or lastSeen): one is needed; got "${excerpt(cells.join(','), 100)}"`, { file: this.file, line: lineNo });
    }
    this.headerCells = cells;
    this.headerText = cells.join(',');
    this.width = cells.length;
    this.splitter.configure(Math.max(...Object.values(this.at)));
    this.present = { tcp_flags: this.at.tcp_flags >= 0, out_packets: this.at.out_packets >= 0, out_bytes: this.at.out_bytes >= 0 };
    this.stats.layout = layout;
    this.state = STATE_DATA;
  }

  private reject(reason: string, raw: string): void {
    this.stats.rejected++;
    if (this.hooks) this.hooks.onReject(this.stats.lines, reason, raw);
    else this.rejects.add(this.stats.lines, reason, raw);
  }

  private rejectRow(buf: Buffer, s: number, e: number, reason: string): void {
    this.reject(reason, decode(buf, s, e));
  }

  /** A data row: comma positions first, then each column. */
  private row(buf: Buffer, s: number, e: number): void {
    const at = this.at!;
    const zone = this.zone;
    this.stats.dataLines++;
    if (this.cutLine) {
      // nfdump ends every line with a newline: a last data line without one was cut short, and
      // a number cut there would read as a smaller one.
      this.rejectRow(buf, s, e, CUT_SHORT);
      return;
    }
    const nf = this.splitter.split(buf, s, e);
    if (nf < this.width) {
      this.rejectRow(buf, s, e, `expected ${this.width} comma-separated fields as in the header, got ${nf} (truncated line?)`);
      return;
    }
    const st = this.splitter.starts;
    let b = this.builder;
    let why: string | undefined;
    if (b === undefined) b = this.builder = this.newBuilder();
    const r = b.n;
    let k = at.first_seen;
    let x = st[k]!;
    let y = st[k + 1]! - 1;
    if (timeInto(buf, x, y, b.first, r)) {
      if (zone !== undefined) b.first[r] = zone.toEpoch(b.first[r]!);
    } else if ((why = slowTime(buf, x, y, 'first seen', b.first, r, zone)) !== undefined) return this.rejectRow(buf, s, e, why);
    const kd = at.duration_s;
    if (kd >= 0) {
      x = st[kd]!;
      y = st[kd + 1]! - 1;
      if ((!decimalInto(buf, x, y, b.duration, r) || b.duration[r]! > MAX_DURATION_S) && (why = slowDuration(buf, x, y, b.duration, r)) !== undefined) {
        return this.rejectRow(buf, s, e, why);
      }
    }
    const kl = at.last_seen;
    if (kl >= 0) {
      x = st[kl]!;
      y = st[kl + 1]! - 1;
      if (timeInto(buf, x, y, b.last, r)) {
        if (zone !== undefined) b.last[r] = zone.toEpoch(b.last[r]!);
      } else if ((why = slowTime(buf, x, y, 'last seen', b.last, r, zone)) !== undefined) return this.rejectRow(buf, s, e, why);
    }
    // The layouts' rules for first, last and duration (flowSpan in csv.ts).
    const first = b.first[r]!;
    if (kd < 0) {
      // A record without times (first seen 0): no span, as flowSpan says.
      if (first === 0) b.last[r] = 0;
      const last = b.last[r]!;
      if (last < first || last - first > MAX_DURATION_S * 1000) return this.rejectRow(buf, s, e, (flowSpan(first, last, null) as { expected: string }).expected);
      b.duration[r] = (last - first) / 1000;
    } else {
      const end = first + Math.round(b.duration[r]! * 1000);
      if (kl >= 0) {
        const last = b.last[r]!;
        if (last < first || last < end - 1000 || last > end + 1000) return this.rejectRow(buf, s, e, (flowSpan(first, last, b.duration[r]!) as { expected: string }).expected);
      }
      b.last[r] = end;
    }
    k = at.src_port;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!portInto(buf, x, y, b.srcPort, r) && (why = slowPort(buf, x, y, 'source port', b.srcPort, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    k = at.dst_port;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!portInto(buf, x, y, b.dstPort, r) && (why = slowPort(buf, x, y, 'destination port', b.dstPort, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    k = at.flows;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.flows, r) && (why = slowCount(buf, x, y, 'flows', b.flows, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    } else {
      b.flows[r] = 1;
    }
    k = at.in_packets;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!uintInto(buf, x, y, b.inPackets, r) && (why = slowCount(buf, x, y, 'packets', b.inPackets, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    k = at.in_bytes;
    x = st[k]!;
    y = st[k + 1]! - 1;
    if (!uintInto(buf, x, y, b.inBytes, r) && (why = slowCount(buf, x, y, 'bytes', b.inBytes, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    k = at.out_packets;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.outPackets, r) && (why = slowCount(buf, x, y, 'out packets', b.outPackets, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    }
    k = at.out_bytes;
    if (k >= 0) {
      x = st[k]!;
      y = st[k + 1]! - 1;
      if (!uintInto(buf, x, y, b.outBytes, r) && (why = slowCount(buf, x, y, 'out bytes', b.outBytes, r)) !== undefined) return this.rejectRow(buf, s, e, why);
    }
    // Text columns, copied as bytes. A row that fails here is rolled back (ends restored).
    const srcEnd = b.src.end;
    const dstEnd = b.dst.end;
    const protoEnd = b.proto.end;
    why =
      textCell(b.src, buf, st[at.src_addr]!, st[at.src_addr + 1]! - 1, 'source address', r) ??
      textCell(b.dst, buf, st[at.dst_addr]!, st[at.dst_addr + 1]! - 1, 'destination address', r);
    if (why === undefined && (b.src.end === srcEnd || b.dst.end === dstEnd)) why = 'expected source and destination addresses, got an empty field';
    if (why === undefined && (!isAddress(b.src.data, srcEnd, b.src.end) || !isAddress(b.dst.data, dstEnd, b.dst.end))) why = ADDRESS_EXPECTED;
    why ??= protoCell(b.proto, buf, st[at.proto]!, st[at.proto + 1]! - 1, r);
    k = at.tcp_flags;
    if (why === undefined && k >= 0) why = textCell(b.flags, buf, st[k]!, st[k + 1]! - 1, 'flags', r);
    if (why !== undefined) {
      // the text columns' ends restored
      b.src.end = srcEnd;
      b.dst.end = dstEnd;
      b.proto.end = protoEnd;
      return this.rejectRow(buf, s, e, why);
    }
    b.line[r] = this.stats.lines;
    b.n = r + 1;
    this.stats.rows++;
    if (b.n === b.cap) this.flush();
  }

  private flush(): void {
    const b = this.builder;
    if (b === undefined || b.n === 0) return;
    this.builder = undefined;
    // Size the next batch's text buffers from this one.
    this.textHint = Math.max(this.textHint, Math.ceil((b.src.end + b.dst.end) / 28));
    if (this.hooks) {
      this.hooks.onPiece(b);
      return;
    }
    const sums = this.sums;
    for (let i = 0; i < b.n; i++) {
      sums[0]! += b.flows[i]!;
      sums[1]! += b.inPackets[i]!;
      sums[2]! += b.inBytes[i]!;
      sums[3]! += b.outPackets[i]!;
      sums[4]! += b.outBytes[i]!;
    }
    this.stats.batches++;
    const batch = toBatch(this.schema, b, this.present);
    this.builderOf.set(batch, b);
    this.onBatch(batch);
  }

}
