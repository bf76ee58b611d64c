import type { Table } from 'apache-arrow';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { extname } from 'node:path';
import { inputError, usageError, excerpt, unreadable } from '../errors.js';
import { featureMatrix, featureSetId, type FeatureSet } from '../features/feature-set.js';
import { parsePlainNumber } from '../ingest/fields.js';
import { parseCsv, type CsvRecord } from '../io/csv.js';
import { buildTable, numberColumn, readArrowFile, stringColumn, withMetadata } from '../schema/arrow.js';
import { SCHEMA_VERSION } from '../schema/tables.js';
import { labelledRowFields } from './folder.js';

/**
 * Operator labels: rows of aggregates with the label a person gave them. A batch of labels is
 * what one `flowknn label add` accepted; it is validated whole (every bad line is reported and
 * nothing is kept when one is bad) and stored as one `labels` table, which the next version of
 * the model takes in (see retrain.ts).
 */
export interface LabelRow {
  readonly key: string;
  /** Start of the aggregation window (UTC ms); null for statistics over a whole run. */
  readonly windowStart: number | null;
  /** First seen (UTC ms), where known. */
  readonly firstSeen: number | null;
  /** Raw features, in the feature set's column order. */
  readonly features: readonly number[];
  readonly label: string;
  /** Where the operator gave the label: the label file and its line. */
  readonly sourceFile: string;
  readonly sourceLine: number;
}

export interface LabelBatch {
  readonly rows: LabelRow[];
  /** Lines that repeated an earlier line of the same batch (same row, same label). */
  readonly repeated: number;
  /** Predictions rows left without a label (not labelled by the operator). */
  readonly unlabelled: number;
}

/** A plain name: what a class can be called (it becomes a p_<label> column and a report heading). */
const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/u;

export function labelProblem(label: string): string | undefined {
  if (label === '') return 'label: expected a class name, got nothing';
  if (!LABEL_NAME.test(label)) return `label: expected a plain name (letters, digits, "_", "-", ".", starting with a letter or digit, at most 64), got "${excerpt(label)}"`;
  return undefined;
}

/** nfdump masks addresses with x (`XXX.XXX.XXX.XXX`): such a key says nothing about which host. */
export function isMaskedKey(key: string): boolean {
  return /^(?=.*x)[0-9a-fx.:]+$/iu.test(key);
}

/**
 * Whether a key is one flowknn writes: an address (IPv4, IPv6, or masked as nfdump prints it),
 * a port, or, for compound aggregation keys (`dstip+proto`, `dstip+router`), such fields joined
 * with `|`, where a part may also be a name (a protocol such as tcp, a router's folder name).
 */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'key: expected an IP address, got nothing';
  const parts = key.split('|');
  const part = (p: string) => isIP(p) !== 0 || isMaskedKey(p) || /^\d{1,5}$/u.test(p) || (parts.length > 1 && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u.test(p));
  if (parts.every(part)) return undefined;
  return `key: expected an IPv4 or IPv6 address (or an aggregation key as flowknn ingest writes it), got "${excerpt(key)}"`;
}

/**
 * The identity of a labelled row, for merging labels: the key and window when both name a
 * real host at a known time; otherwise (masked keys, statistics without windows) the key,
 * window, first seen and features together, since many rows share such a key (the seed's
 * labels hold rows of equal counters seen at different times, under different labels).
 */
export function rowIdentity(row: Pick<LabelRow, 'key' | 'windowStart' | 'firstSeen' | 'features'>): string {
  if (identifiedByWindow(row.key, row.windowStart)) return `${row.key}\u0000${row.windowStart}`;
  return `${row.key}\u0000${row.windowStart ?? ''}\u0000${row.firstSeen ?? ''}\u0000${row.features.map((v) => String(v)).join(',')}`;
}

/** True when rows of this identity are told apart by key and window alone. */
export function identifiedByWindow(key: string, windowStart: number | null): boolean {
  return windowStart !== null && key !== '' && !isMaskedKey(key);
}

const WINDOW_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/u;

/**
 * A window start as operators write it: `YYYY-MM-DD hh:mm` (UTC) or ISO 8601
 * (`2026-11-01T00:05:00Z`, `2026-11-01T01:05+01:00`; without a zone: UTC). Undefined when the
 * text is not such a time or names a day or hour that does not exist.
 */
export function parseWindowTime(text: string): number | undefined {
  const m = WINDOW_TIME.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0', (m[7] ?? '0').padEnd(3, '0')].map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) return undefined;
  if (m[9] === undefined) return t;
  const offH = Number(m[10]);
  const offM = Number(m[11]);
  if (offH > 23 || offM > 59) return undefined;
  return t - (m[9] === '-' ? -1 : 1) * (offH * 60 + offM) * 60_000;
}

/** `2026-11-01 00:05` (UTC), the form label files use. */
export function formatWindow(ms: number | null): string {
  if (ms === null) return '(no window)';
  const iso = new Date(ms).toISOString();
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(16, 23) === ':00.000' ? base : `${base}${iso.slice(16, 23)}`;
}

/** Bad lines, collected so that one run reports all of them. */
class LineErrors {
  readonly items: { file: string; line: number; message: string }[] = [];
  constructor(readonly file: string) {}

  add(line: number, message: string, file = this.file): void {
    this.items.push({ file, line, message });
  }

  /** One error naming the file and the first bad line, listing the others after it. */
  throwIfAny(hint: string): void {
    if (this.items.length === 0) return;
    const sorted = [...this.items].sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
    const [first, ...rest] = sorted as [{ file: string; line: number; message: string }, ...{ file: string; line: number; message: string }[]];
    const shown = rest.slice(0, 19).map((e) => `\n  ${e.file}:${e.line}: ${e.message}`);
    const more = rest.length > 19 ? `\n  ... and ${rest.length - 19} more bad lines` : '';
    const total = sorted.length > 1 ? ` (${sorted.length} bad lines; nothing was added)` : ' (nothing was added)';
    throw inputError(`${first.message}${total}${shown.join('')}${more}`, { file: first.file, line: first.line }, hint);
  }
}

async function readText(file: string, what: string): Promise<string> {
  try {
    // Spreadsheets save CSV with a byte order mark; it is not part of the first column's name.
    return (await readFile(file, 'utf8')).replace(/^\uFEFF/u, '');
  } catch (err) {
    throw usageError(`${what} ${file}: ${unreadable(err)}`);
  }
}

function csvRecords(text: string, file: string): CsvRecord[] {
  try {
    return parseCsv(text).filter((r) => !r.cells[0]!.trimStart().startsWith('#'));
  } catch (err) {
    throw inputError(`not valid CSV: ${(err as Error).message}`, { file, line: (err as { line?: number }).line });
  }
}

/** Adds a row to the batch unless an earlier line gave the same row; conflicting labels are bad lines. */
class BatchCollector {
  readonly rows: LabelRow[] = [];
  repeated = 0;
  private readonly seen = new Map<string, LabelRow>();
  constructor(private readonly errors: LineErrors) {}

  add(row: LabelRow): void {
    const id = rowIdentity(row);
    const prior = this.seen.get(id);
    if (!prior) {
      this.seen.set(id, row);
      this.rows.push(row);
      return;
    }
    if (prior.label === row.label) {
      this.repeated++;
      return;
    }
    const what = identifiedByWindow(row.key, row.windowStart) ? `${row.key} in window ${formatWindow(row.windowStart)}` : `the same row (key ${row.key}, first seen ${row.firstSeen === null ? 'unknown' : new Date(row.firstSeen).toISOString()}, same features)`;
    const where = prior.sourceFile === row.sourceFile ? `line ${prior.sourceLine}` : `${prior.sourceFile}:${prior.sourceLine}`;
    this.errors.add(row.sourceLine, `label "${excerpt(row.label)}" conflicts with label "${excerpt(prior.label)}" given to ${what} on ${where}`, row.sourceFile);
  }
}

/**
 * One batch of new labels from rows gathered elsewhere (a labelled folder given to train):
 * repeats merged, two labels for one row an input error naming both places.
 */
export function collectBatch(rows: readonly LabelRow[], what: string): LabelBatch {
  const errors = new LineErrors(what);
  const collector = new BatchCollector(errors);
  for (const r of rows) collector.add(r);
  errors.throwIfAny('one batch of labels must give each row one label; fix one of the two places');
  return { rows: collector.rows, repeated: collector.repeated, unlabelled: 0 };
}

/** One row of a --data table, as the label lookup needs it. */
interface DataRow {
  readonly features: number[];
  readonly firstSeen: number | null;
  readonly file: string;
  /** The key as the data has it (as nfdump printed it). */
  readonly key: string;
}

/**
 * A key in one spelling for comparison: IPv6 addresses in their canonical form (lower case,
 * zeros compressed), as an operator may write 2001:DB8:0::1 for nfdump's 2001:db8::1; each
 * part of a composite key (dstip|proto) alike.
 */
export function canonicalKey(key: string): string {
  return key
    .split('|')
    .map((p) => (isIP(p) === 6 ? new URL(`http://[${p}]/`).hostname.slice(1, -1) : p))
    .join('|');
}

/**
 * Labels from a CSV of `key,window,label` (the window as its start, `YYYY-MM-DD hh:mm` UTC or
 * ISO 8601), whose rows are looked up by key and window start in aggregates or predictions
 * tables (`data`). Every line must name a row the data has.
 */
export async function labelsFromCsv(file: string, data: readonly string[], featureSet: FeatureSet): Promise<LabelBatch> {
  if (data.length === 0) throw usageError('--csv needs --data: the aggregates or predictions tables (.arrow) that hold the labelled rows', 'e.g. --data out/2026-11-01/aggregates.arrow');
  const records = csvRecords(await readText(file, '--csv'), file);
  const errors = new LineErrors(file);
  if (records.length === 0) throw inputError('is empty; expected a header key,window,label and one line per labelled row', { file, line: 1 });
  const header = records[0]!.cells.map((h) => h.trim());
  const aliases: Record<string, string> = { key: 'key', window: 'window', window_start: 'window', label: 'label' };
  const expected = 'expected the columns key,window,label (window: its start, YYYY-MM-DD hh:mm UTC or ISO 8601)';
  const unknown = header.filter((h) => !(h in aliases));
  if (unknown.length > 0) throw inputError(`unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${excerpt(u)}"`).join(', ')}; ${expected}`, { file, line: records[0]!.line });
  const at: Record<string, number> = {};
  header.forEach((h, i) => {
    const name = aliases[h]!;
    if (name in at) throw inputError(`column "${excerpt(h)}" given twice; ${expected}`, { file, line: records[0]!.line });
    at[name] = i;
  });
  const missing = ['key', 'window', 'label'].filter((c) => !(c in at));
  if (missing.length > 0) throw inputError(`header lacks ${missing.join(', ')}; ${expected}`, { file, line: records[0]!.line });

  interface Wanted {
    line: number;
    key: string;
    window: number;
    label: string;
  }
  const wanted: Wanted[] = [];
  for (const r of records.slice(1)) {
    if (r.cells.length !== header.length) {
      errors.add(r.line, `expected ${header.length} fields (${header.join(',')}), got ${r.cells.length}`);
      continue;
    }
    const key = r.cells[at.key!]!.trim();
    const windowText = r.cells[at.window!]!.trim();
    const label = r.cells[at.label!]!.trim();
    const problems: string[] = [];
    const kp = keyProblem(key);
    if (kp) problems.push(kp);
    else if (isMaskedKey(key)) problems.push(`key: "${excerpt(key)}" is masked; a label file names hosts by their address`);
    const window = parseWindowTime(windowText);
    if (window === undefined) problems.push(`window: expected the window start as YYYY-MM-DD hh:mm (UTC) or ISO 8601, got "${excerpt(windowText)}"`);
    const lp = labelProblem(label);
    if (lp) problems.push(lp);
    if (problems.length > 0) errors.add(r.line, problems.join('; '));
    else wanted.push({ line: r.line, key: canonicalKey(key), window: window!, label });
  }

  // Read only the rows of the wanted keys: a day's aggregates can hold millions of rows.
  const keys = new Set(wanted.map((w) => w.key));
  const byKey = new Map<string, Map<number, DataRow[]>>();
  const windowSizes = new Set<number>();
  for (const path of data) {
    const table = await readDataTable(path);
    const ws = Number(table.schema.metadata.get('flowknn.window_s'));
    if (Number.isFinite(ws) && ws > 0) windowSizes.add(ws);
    const keyCol = stringColumn(table, 'key')!;
    const winCol = numberColumn(table, 'window_start')!;
    const firstCol = numberColumn(table, 'first_seen');
    const m = featureMatrix(table, featureSet, path);
    for (let i = 0; i < table.numRows; i++) {
      const dataKey = keyCol[i];
      if (dataKey === null || dataKey === undefined || Number.isNaN(winCol[i]!)) continue;
      const key = canonicalKey(dataKey);
      if (!keys.has(key)) continue;
      let windows = byKey.get(key);
      if (!windows) byKey.set(key, (windows = new Map()));
      const list = windows.get(winCol[i]!) ?? [];
      const first = firstCol?.[i];
      list.push({ features: Array.from(m.row(i)), firstSeen: first === undefined || Number.isNaN(first) ? null : first, file: path, key: dataKey });
      windows.set(winCol[i]!, list);
    }
  }

  const dataNames = data.length === 1 ? data[0]! : `${data.length} --data tables`;
  const collector = new BatchCollector(errors);
  for (const w of wanted) {
    const windows = byKey.get(w.key);
    if (!windows) {
      errors.add(w.line, `key ${w.key} is in no row of ${dataNames}`);
      continue;
    }
    const rows = windows.get(w.window);
    if (!rows) {
      const starts = [...windows.keys()].sort((a, b) => a - b);
      const holding = [...windowSizes].map((s) => starts.find((t) => w.window >= t && w.window < t + s * 1000)).find((t) => t !== undefined);
      const hint = holding !== undefined ? `; the window holding that time starts at ${formatWindow(holding)}` : `; ${w.key} has rows in ${starts.length} window${starts.length === 1 ? '' : 's'}: ${starts.slice(0, 6).map(formatWindow).join(', ')}${starts.length > 6 ? ', ...' : ''}`;
      errors.add(w.line, `window: no row of ${dataNames} has key ${w.key} in a window starting at ${formatWindow(w.window)}${hint}`);
      continue;
    }
    const distinct = rows.filter((r, i) => rows.findIndex((o) => o.features.every((v, j) => v === r.features[j])) === i);
    if (distinct.length > 1) {
      errors.add(w.line, `${w.key} in window ${formatWindow(w.window)} has ${distinct.length} different rows in ${[...new Set(distinct.map((r) => r.file))].join(', ')}; give --data tables of one aggregation`);
      continue;
    }
    collector.add({ key: distinct[0]!.key, windowStart: w.window, firstSeen: distinct[0]!.firstSeen, features: distinct[0]!.features, label: w.label, sourceFile: file, sourceLine: w.line });
  }
  errors.throwIfAny('fix or remove those lines and run label add again');
  if (collector.rows.length === 0) throw inputError('holds no labelled rows', { file }, 'one line per row: key,window,label');
  return { rows: collector.rows, repeated: collector.repeated, unlabelled: 0 };
}

async function readDataTable(path: string): Promise<Table> {
  if (!/\.arrow$/iu.test(path)) throw usageError(`--data ${path}: expected an Arrow table (.arrow) of aggregates or predictions`, 'flowknn ingest ... --aggregate dstip --window 300 --out aggregates.arrow writes one');
  const table = await readArrowFile(path);
  const kind = table.schema.metadata.get('flowknn.kind');
  if (kind !== 'aggregate' && kind !== 'predictions') {
    throw inputError(`is a ${kind ?? 'table without flowknn.kind'}, not an aggregates or predictions table`, { file: path }, 'label rows of windowed aggregates: flowknn ingest ... --aggregate dstip --window 300');
  }
  if (!table.getChild('key') || !table.getChild('window_start')) throw inputError('has no key and window_start columns to look labelled rows up by', { file: path });
  return table;
}

/** Columns a predictions file may have (predictions, the aggregate fields the nightly run
 *  carries along, and the label column the operator fills in). */
const PREDICTION_COLUMNS = new Set([
  'key',
  'window_start',
  'first_seen',
  'last_seen',
  'source_file',
  'source_line',
  'note',
  'router',
  'src_addr',
  'dst_addr',
  'proto',
  'src_port',
  'dst_port',
  'predicted',
  'probability',
  'novelty',
  'novel',
  'voted',
  'neighbour_labels',
  'neighbour_distances',
  'neighbour_rows',
  'label',
  // why label suggest picked the row
  'why',
]);

function knownPredictionColumn(name: string, featureSet: FeatureSet): boolean {
  return PREDICTION_COLUMNS.has(name) || featureSet.columns.includes(name) || /^p_[A-Za-z0-9][A-Za-z0-9_.-]*$/u.test(name);
}

/**
 * Labels from a predictions file (CSV or Arrow, as classify or the nightly run write it) with a
 * `label` column the operator filled in: rows with an empty label are skipped; the key, window
 * and features are the file's own.
 */
export async function labelsFromPredictions(file: string, featureSet: FeatureSet): Promise<LabelBatch> {
  const errors = new LineErrors(file);
  const collector = new BatchCollector(errors);
  let unlabelled = 0;
  const expected = `a predictions file (flowknn classify --out, or the nightly run) with a "label" column beside its own columns (key, window_start, ${featureSet.columns.join(', ')}, predicted, ...)`;
  const check = (names: string[], line: number) => {
    const unknown = names.filter((n) => !knownPredictionColumn(n, featureSet));
    if (unknown.length > 0) throw inputError(`unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${excerpt(u)}"`).join(', ')}; expected ${expected}`, { file, line });
    const missing = ['key', 'label', ...featureSet.columns].filter((c) => !names.includes(c));
    if (missing.length > 0) throw inputError(`lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; expected ${expected}`, { file, line });
  };
  const time = (what: string, text: string | number | null, problems: string[]): number | null => {
    if (typeof text === 'number') return text;
    if (text === null || text === '') return null;
    const t = parseWindowTime(text);
    if (t === undefined) problems.push(`${what}: expected an ISO 8601 time or nothing, got "${excerpt(text)}"`);
    return t ?? null;
  };
  const take = (line: number, key: string, windowText: string | number | null, firstText: string | number | null, featureTexts: (string | number)[], label: string) => {
    if (label === '') {
      unlabelled++;
      return;
    }
    const problems: string[] = [];
    const kp = keyProblem(key);
    if (kp) problems.push(kp);
    const windowStart = time('window_start', windowText, problems);
    const firstSeen = time('first_seen', firstText, problems);
    const features = featureTexts.map((t, j) => {
      // A plain decimal: Number() alone also reads 0x1F as 31 and 0b11 as 3.
      const parsed = typeof t === 'number' ? undefined : parsePlainNumber(t);
      const v = typeof t === 'number' ? t : parsed!.ok ? parsed!.value : Number.NaN;
      if (!Number.isFinite(v) || v < 0) problems.push(`${featureSet.columns[j]}: expected a number >= 0, got "${excerpt(String(t))}"`);
      return v;
    });
    const lp = labelProblem(label);
    if (lp) problems.push(lp);
    if (problems.length > 0) errors.add(line, problems.join('; '));
    else collector.add({ key, windowStart, firstSeen, features, label, sourceFile: file, sourceLine: line });
  };

  if (/\.arrow$/iu.test(file)) {
    const table = await readArrowFile(file);
    const names = table.schema.fields.map((f) => f.name);
    check(names, 1);
    const keys = stringColumn(table, 'key')!;
    const labels = stringColumn(table, 'label')!;
    const windows = numberColumn(table, 'window_start');
    const firsts = numberColumn(table, 'first_seen');
    const feats = featureSet.columns.map((c) => numberColumn(table, c)!);
    const at = (col: Float64Array | undefined, i: number) => (col === undefined || Number.isNaN(col[i]!) ? null : col[i]!);
    // Arrow rows have no lines: row i is reported as line i + 2, where it sits in the CSV twin.
    for (let i = 0; i < table.numRows; i++) {
      take(i + 2, keys[i] ?? '', at(windows, i), at(firsts, i), feats.map((c) => c[i]!), (labels[i] ?? '').trim());
    }
  } else if (extname(file).toLowerCase() === '.csv') {
    const records = csvRecords(await readText(file, '--predictions'), file);
    if (records.length === 0) throw inputError(`is empty; expected ${expected}`, { file, line: 1 });
    const header = records[0]!.cells.map((h) => h.trim());
    check(header, records[0]!.line);
    const col = (name: string) => header.indexOf(name);
    const [ki, li, wi, si] = [col('key'), col('label'), col('window_start'), col('first_seen')];
    const fi = featureSet.columns.map(col);
    for (const r of records.slice(1)) {
      if (r.cells.length !== header.length) {
        errors.add(r.line, `expected ${header.length} fields as the header names, got ${r.cells.length}`);
        continue;
      }
      take(r.line, r.cells[ki]!.trim(), wi < 0 ? null : r.cells[wi]!.trim(), si < 0 ? null : r.cells[si]!.trim(), fi.map((j) => r.cells[j]!), r.cells[li]!.trim());
    }
  } else {
    throw usageError(`--predictions ${file}: expected a .csv or .arrow predictions file`);
  }
  errors.throwIfAny('fix or clear those labels and run label add again');
  if (collector.rows.length === 0) throw inputError(`no row has a label (${unlabelled} rows with an empty label column)`, { file }, 'fill in the label column of the rows you label; rows left empty are skipped');
  return { rows: collector.rows, repeated: collector.repeated, unlabelled };
}

/** The `labels` table: the train.arrow columns, so a batch reads like training rows. */
export function labelsTable(rows: readonly LabelRow[], featureSet: FeatureSet, meta: Record<string, string>): Table {
  const schema = withMetadata(labelledRowFields(featureSet), { 'flowknn.kind': 'labels', 'flowknn.schema_version': SCHEMA_VERSION, 'flowknn.feature_set': featureSetId(featureSet), ...meta });
  const cols: Record<string, Float64Array | Int32Array | unknown[]> = {};
  featureSet.columns.forEach((c, j) => (cols[c] = Float64Array.from(rows, (r) => r.features[j]!)));
  cols.label = rows.map((r) => r.label);
  cols.key = rows.map((r) => r.key);
  cols.source_file = rows.map((r) => r.sourceFile);
  cols.source_line = Int32Array.from(rows, (r) => r.sourceLine);
  cols.window_start = rows.map((r) => r.windowStart);
  cols.first_seen = rows.map((r) => r.firstSeen);
  return buildTable(schema, cols, rows.length);
}

/** Reads a `labels` table back (a pending batch). */
export async function readLabelsTable(path: string, featureSet: FeatureSet): Promise<LabelRow[]> {
  const table = await readArrowFile(path);
  const kind = table.schema.metadata.get('flowknn.kind');
  if (kind !== 'labels') throw inputError(`is not a labels table (flowknn.kind = ${kind ?? 'missing'})`, { file: path }, 'pending labels are written by flowknn label add');
  const fs = table.schema.metadata.get('flowknn.feature_set');
  if (fs !== featureSetId(featureSet)) throw inputError(`holds features of ${fs ?? 'an unnamed feature set'}, not ${featureSetId(featureSet)}`, { file: path });
  const m = featureMatrix(table, featureSet, path);
  const labels = stringColumn(table, 'label');
  const keys = stringColumn(table, 'key');
  const files = stringColumn(table, 'source_file');
  const lines = numberColumn(table, 'source_line');
  const windows = numberColumn(table, 'window_start');
  const firsts = numberColumn(table, 'first_seen');
  if (!labels || !keys || !files || !lines || !windows || !firsts) throw inputError('lacks a column of the labels table (label, key, source_file, source_line, window_start, first_seen)', { file: path });
  return Array.from({ length: table.numRows }, (_, i) => ({
    key: keys[i] ?? '',
    windowStart: Number.isNaN(windows[i]!) ? null : windows[i]!,
    firstSeen: Number.isNaN(firsts[i]!) ? null : firsts[i]!,
    features: Array.from(m.row(i)),
    label: labels[i] ?? '',
    sourceFile: files[i] ?? path,
    sourceLine: lines[i]!,
  }));
}

/** A pending batch's file name: sortable by time, so batches are taken oldest first. */
export function pendingFileName(now: Date): string {
  return `labels-${now.toISOString().replace(/[-:]/gu, '').replace('.', '')}-${randomBytes(3).toString('hex')}.arrow`;
}
