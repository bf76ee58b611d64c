import { open, stat } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';
import { excerpt, FlowknnError, inputError, usageError, unreadableFile } from '../errors.js';
import type { InputFormat, InputKind, InputReader, OpenOptions, SniffHead } from './format.js';
import { arrowFormat } from './formats/arrow.js';
import { emptyFormat } from './formats/empty.js';
import { flowCsvFormat } from './formats/flow-csv.js';
import { flowJsonFormat } from './formats/flow-json.js';
import { nfcapdFormat } from './formats/nfcapd.js';
import { statCsvFormat } from './formats/stat-csv.js';
import { statJsonFormat } from './formats/stat-json.js';
import { statTextFormat } from './formats/stat-text.js';

/**
 * Every input format flowknn reads, in the order their sniffs are tried: the binary ones by
 * their magic bytes first, then the text ones by their first meaningful line. Every command and
 * the nightly job read inputs through `openInput` (or `readInput`, src/ingest/read.ts, for a
 * whole table); none chooses a reader itself.
 */
export const INPUT_FORMATS: readonly InputFormat[] = [nfcapdFormat, arrowFormat, emptyFormat, flowJsonFormat, statJsonFormat, statCsvFormat, flowCsvFormat, statTextFormat];

/** `--format` values: auto (detected per file) or a format's name. */
export const FORMAT_CHOICES = ['auto', ...INPUT_FORMATS.filter((f) => f !== emptyFormat).map((f) => f.name)] as const;
export type FormatChoice = string;

export function formatByName(name: string): InputFormat {
  const f = INPUT_FORMATS.find((x) => x.name === name);
  if (!f) throw usageError(`unknown input format "${name}"`, `known formats: ${FORMAT_CHOICES.join(', ')}`);
  return f;
}

const HEAD_BYTES = 65536;

/** The first 64 KiB of a text, as a sniff head (tests, and readers that hold the text). */
export function headOfText(text: string, path: string): SniffHead {
  const bytes = Buffer.from(text.slice(0, HEAD_BYTES), 'utf8');
  const lines = text.slice(0, HEAD_BYTES).split('\n').map((l) => l.replace(/\r$/u, ''));
  const complete = text.length <= HEAD_BYTES;
  if (!complete) lines.pop();
  return { path, bytes, lines, complete };
}

/** Reads the head of a file. Missing paths and folders are usage errors naming the path. */
export async function readHead(file: string): Promise<SniffHead> {
  let raw: Buffer;
  let complete: boolean;
  try {
    // A pipe or device cannot be read twice (its first bytes tell the format), and opening a
    // FIFO with no writer would wait for ever: refused from its stat, before opening it.
    const info = await stat(file);
    if (info.isDirectory()) throw new FlowknnError('usage', 'is a folder, expected a file', { file });
    if (!info.isFile()) {
      throw new FlowknnError('usage', 'is not a regular file (a pipe, socket or device); flowknn reads files', { file, hint: 'save the output to a file first, e.g. nfdump -r X -o csv > flows.csv' });
    }
    const fh = await open(file, 'r');
    try {
      raw = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await fh.read(raw, 0, HEAD_BYTES, 0);
      raw = raw.subarray(0, bytesRead);
      complete = bytesRead < HEAD_BYTES;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof FlowknnError) throw err;
    throw unreadableFile(file, err);
  }
  let text = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      text = gunzipSync(raw, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      text = Buffer.alloc(0);
    }
    complete = complete && text.length < HEAD_BYTES;
    text = text.subarray(0, HEAD_BYTES);
  }
  if (text.includes(0)) return { path: file, bytes: raw, lines: [], complete };
  const lines = text.toString('utf8').split('\n').map((l) => l.replace(/\r$/u, ''));
  if (!complete) lines.pop(); // a partial last line
  return { path: file, bytes: raw, lines, complete };
}

/** The format of a head; an input error saying what was expected when none fits. */
export function detectFromHead(head: SniffHead): InputFormat {
  const found = INPUT_FORMATS.find((f) => f.sniff(head));
  if (found) return found;
  const file = head.path;
  // A line running past the head (a damaged file, a huge field) is left out of head.lines: text
  // without a NUL byte that ends there is no binary data, and has a line to name (below).
  const cutLine = !head.complete && !head.bytes.includes(0) && !(head.bytes[0] === 0x1f && head.bytes[1] === 0x8b);
  if (head.lines.length === 0 && head.bytes.length > 0 && !cutLine) {
    throw inputError('binary data that is neither an nfcapd file nor an Arrow file: expected nfdump output or an nfcapd file', { file });
  }
  for (let i = 0; i < head.lines.length; i++) {
    const line = head.lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || /^No match(ing|ed) flows$/iu.test(line)) continue;
    throw inputError(
      `not nfdump output: expected nfdump statistics text (a "Date first seen" heading or rows starting YYYY-MM-DD hh:mm:ss), an nfdump CSV header (ts,te,td,pr,val,... or ts,te,td,sa,da,... or firstSeen,...), nfdump JSON, an nfcapd file or an Arrow file; got "${excerpt(line, 60)}"`,
      { file, line: i + 1 },
    );
  }
  if (cutLine) throw inputError(`the line is longer than ${HEAD_BYTES / 1024} KiB: expected nfdump output, whose lines are short`, { file, line: head.lines.length + 1 });
  throw inputError('empty input: no lines other than blanks and comments; expected nfdump output', { file, line: head.lines.length > 1 ? 1 : undefined });
}

/**
 * What a format's inputs hold, as the commands sort them: `flow` inputs are streamed, `stat`
 * ones read whole, `none` where nfdump found nothing; undefined for Arrow files, whose kind only
 * reading tells.
 */
export function kindOf(format: InputFormat): InputKind | undefined {
  if (format.kind === 'table') return undefined;
  return format === emptyFormat ? 'none' : format.kind;
}

export async function detectInputFormat(file: string): Promise<InputFormat> {
  return detectFromHead(await readHead(file));
}

/**
 * Opens one input: its format detected from its first bytes (`auto`), or as named. The reader
 * gives record batches; see InputReader for when its rows are valid.
 */
export async function openInput(file: string, format: string = 'auto', options: OpenOptions = {}): Promise<InputReader> {
  return (await inputFormatOf(file, format)).open(file, options);
}

/** An input's format: detected from its first bytes (`auto`), or as named (the path checked as for auto). */
export async function inputFormatOf(file: string, format: string = 'auto'): Promise<InputFormat> {
  if (format === 'auto') return detectInputFormat(file);
  const named = formatByName(format);
  await readHead(file); // the same checks of the path (a regular file) as for auto
  return named;
}
