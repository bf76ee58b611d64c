import { RecordBatch, Table } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';
import { open } from 'node:fs/promises';
import { excerpt, FlowknnError, inputError } from '../errors.js';
import { buildTable, readArrowFile, type ColumnValues } from '../schema/arrow.js';
import { FlowColumns, flowSchema, statSchema } from '../schema/tables.js';
import { csvKind, isLegacyFlowRow, parseStatCsv } from './csv.js';
import type { ParseOptions, Reject } from './issues.js';
import { FileRejects, validateThreshold } from './rejects.js';
import { readFlowCsvStream } from './flow-csv/stream.js';
import { looksLikeNfcapd, readNfcapdFlowTable, type NfdumpOptions } from './nfcapd.js';
import { parseStatText } from './stat-text.js';

export const INPUT_FORMATS = ['auto', 'stat-text', 'stat-csv', 'flow-csv', 'nfcapd', 'arrow'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];
export type DetectedFormat = Exclude<InputFormat, 'auto'>;

export interface ReadResult {
  readonly file: string;
  readonly format: DetectedFormat;
  /** `stat`, `flow` or `aggregate` (schema metadata flowknn.kind). */
  readonly kind: 'stat' | 'flow' | 'aggregate';
  readonly table: Table;
  /** The lines rejected (with a `rejects` sink in the options, nfcapd inputs list only their first ten here). */
  readonly rejects: Reject[];
}

/**
 * Tells the nfdump output kinds apart by their first meaningful line: a CSV header names its
 * kind; statistics text starts with nfdump headings or date-stamped rows.
 */
export function detectFormat(text: string, file: string): Exclude<DetectedFormat, 'arrow'> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.includes(',')) {
      const kind = csvKind(line);
      if (kind) return kind;
      if (isLegacyFlowRow(line)) return 'flow-csv';
    }
    if (/^\d{4}-\d{2}-\d{2}[ T]\d/u.test(line) || /^(Top\s.*ordered by|Date first seen|No matched flows)/iu.test(line)) return 'stat-text';
    throw inputError(
      `not nfdump output: expected nfdump statistics text (a "Date first seen" heading or rows starting YYYY-MM-DD hh:mm:ss), or an nfdump CSV header (ts,te,td,pr,val,... or ts,te,td,sa,da,...); got "${excerpt(line, 60)}"`,
      { file, line: i + 1 },
    );
  }
  throw inputError('empty input: no lines other than blanks and comments; expected nfdump output', { file, line: lines.length > 1 ? 1 : undefined });
}

/**
 * Flow CSV, the one kind that grows to gigabytes, is streamed into record batches
 * (src/ingest/flow-csv/) rather than read whole; the values are the same.
 */
/** A flow CSV stream with the read options' threshold, its rejects kept in `rejects` and passed on to the options' sink. */
export function flowCsvStream(file: string, options: ReadOptions, rejects: Reject[]): ReturnType<typeof readFlowCsvStream> {
  return readFlowCsvStream(file, {
    maxRejects: options.maxRejects,
    maxRejectFraction: options.maxRejectFraction,
    rejects: {
      add: (r) => {
        rejects.push(r);
        options.rejects?.add(r);
      },
    },
  });
}

async function readFlowCsv(file: string, meta: Record<string, string>, options: ReadOptions): Promise<ReadResult> {
  const rejects: Reject[] = [];
  const stream = flowCsvStream(file, options, rejects);
  const batches: RecordBatch[] = [];
  for await (const batch of stream) batches.push(batch);
  const schema = flowSchema(meta);
  const table = batches.length === 0 ? buildTable(schema, new FlowColumns() as unknown as Record<string, ColumnValues>, 0) : new Table(batches.map((b) => new RecordBatch(schema, b.data)));
  if (table.numRows === 0) {
    throw inputError(`no flow records${rejects.length ? ` (all ${rejects.length} data lines were rejected; the first, line ${rejects[0]!.line}: ${rejects[0]!.reason})` : ''}; expected flow records after the header`, { file });
  }
  return { file, format: 'flow-csv', kind: 'flow', table, rejects };
}

/** The format from the first 64 KiB of a plain file; undefined when that is not enough to tell. */
export async function sniffFormat(file: string): Promise<string | undefined> {
  let head: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      head = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return undefined; // unreadable: the text path reports it
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    try {
      head = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      return undefined;
    }
  }
  const text = head.toString('utf8');
  const lines = text.split('\n');
  if (head.length === 65536) lines.pop(); // a partial last line
  try {
    return detectFormat(lines.join('\n'), file);
  } catch {
    return undefined;
  }
}

async function isNfcapd(file: string): Promise<boolean> {
  try {
    return await looksLikeNfcapd(file);
  } catch {
    return false; // unreadable: the text path reports it
  }
}

export async function readInputText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code ?? String(err)})`;
    throw new FlowknnError('usage', why, { file });
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw inputError(`gzip data is corrupt or truncated (${(err as Error).message})`, { file });
    }
  }
  if (bytes.includes(0)) {
    throw inputError('binary data: expected nfdump text or CSV output (an nfcapd file must be read through nfdump)', { file });
  }
  return bytes.toString('utf8');
}

/** Reads one input file of any supported kind into its Arrow table. */
export interface ReadOptions extends ParseOptions {
  /**
   * Largest share (0..1) of a file's data lines that may be bad, checked when the file has
   * been read; with it and no `maxRejects`, any number of bad lines up to that share.
   */
  maxRejectFraction?: number;
  /** nfcapd files: the nfdump binary and a filter expression for the flows read. */
  nfdump?: NfdumpOptions;
}

/**
 * The line-by-line parsers (statistics text and CSV) count bad lines with LineIssues, which
 * knows only a count: with a fraction and no count they may reject any number, and the share
 * is checked here once the file is parsed, with the message of every other reader.
 */
function statThreshold(options: ReadOptions): ParseOptions {
  if (options.maxRejectFraction === undefined) return options;
  validateThreshold(options);
  return { ...options, maxRejects: options.maxRejects ?? Number.POSITIVE_INFINITY };
}

function checkShare(file: string, rows: number, rejects: Reject[], options: ReadOptions): void {
  if (options.maxRejectFraction === undefined || rejects.length === 0) return;
  const share = new FileRejects(file, { maxRejectFraction: options.maxRejectFraction });
  for (const r of rejects) share.add(r.line, r.reason, r.raw);
  share.finish(rows + rejects.length);
}

export async function readInput(file: string, format: InputFormat = 'auto', options: ReadOptions = {}): Promise<ReadResult> {
  if (format === 'arrow' || (format === 'auto' && /\.arrow$/iu.test(file))) {
    const table = await readArrowFile(file);
    const kind = table.schema.metadata.get('flowknn.kind');
    if (kind !== 'stat' && kind !== 'flow' && kind !== 'aggregate') {
      throw inputError(`Arrow file is not a flowknn stat, flow or aggregate table (metadata flowknn.kind = ${kind ?? 'missing'})`, { file });
    }
    return { file, format: 'arrow', kind, table, rejects: [] };
  }
  // nfcapd files are binary: read through nfdump, before the text path refuses binary data.
  if (format === 'nfcapd' || (format === 'auto' && (await isNfcapd(file)))) {
    const { table, rejects } = await readNfcapdFlowTable(file, {
      ...options.nfdump,
      maxRejects: options.maxRejects,
      maxRejectFraction: options.maxRejectFraction,
      rejects: options.rejects,
    });
    return { file, format: 'nfcapd', kind: 'flow', table, rejects };
  }
  if (format === 'flow-csv' || (format === 'auto' && (await sniffFormat(file)) === 'flow-csv')) {
    return readFlowCsv(file, { 'flowknn.source': file, 'flowknn.format': 'flow-csv' }, options);
  }
  const text = await readInputText(file);
  const detected = format === 'auto' ? detectFormat(text, file) : format;
  const meta = { 'flowknn.source': file, 'flowknn.format': detected };
  switch (detected) {
    case 'stat-text': {
      const { columns, issues } = parseStatText(text, file, statThreshold(options));
      checkShare(file, columns.length, issues.rejects, options);
      return { file, format: detected, kind: 'stat', table: buildTable(statSchema(meta), columns as unknown as Record<string, ColumnValues>, columns.length), rejects: issues.rejects };
    }
    case 'stat-csv': {
      const { columns, issues } = parseStatCsv(text, file, statThreshold(options));
      checkShare(file, columns.length, issues.rejects, options);
      return { file, format: detected, kind: 'stat', table: buildTable(statSchema(meta), columns as unknown as Record<string, ColumnValues>, columns.length), rejects: issues.rejects };
    }
    case 'flow-csv':
      return readFlowCsv(file, meta, options);
    default:
      // 'arrow' and 'nfcapd' returned above.
      throw new Error(`unreachable input format ${detected}`);
  }
}
