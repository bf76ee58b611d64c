import type { RecordBatch, Table } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { inputError, unreadableFile } from '../../errors.js';
import type { InputKind, InputReader, ReadSummary } from '../format.js';
import type { Reject } from '../issues.js';

/**
 * The statistics outputs (text, CSV, JSON) are small (one row per host): they are read whole,
 * parsed, and given as one record batch.
 */

/** A whole input as text: gunzipped when gzip, refused when binary; usage errors for a path that is no file. */
export async function readInputText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw unreadableFile(file, err);
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

/** What a whole-text parser gives: the table (one batch or none) and its rejects. */
export interface ParsedText {
  readonly table: Table;
  readonly rejects: readonly Reject[];
  readonly layout?: string;
}

/** An InputReader over a table made by parsing the whole text on the first iteration. */
export class WholeTextReader implements InputReader {
  summary: ReadSummary | undefined;

  constructor(
    readonly file: string,
    readonly format: string,
    readonly kind: InputKind,
    private readonly parse: (text: string) => ParsedText,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    const parsed = this.parse(await readInputText(this.file));
    const { table } = parsed;
    this.summary = { rows: table.numRows, rejected: parsed.rejects.length, rejects: parsed.rejects, layout: parsed.layout };
    for (const b of table.batches) if (b.numRows > 0) yield b;
  }
}
