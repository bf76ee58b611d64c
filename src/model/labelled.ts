import type { Table } from 'apache-arrow';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { FlowknnError, inputError, usageError, excerpt } from '../errors.js';
import { featureMatrix, type FeatureSet } from '../features/feature-set.js';
import { parsePlainNumber } from '../ingest/fields.js';
import { readInput } from '../ingest/read.js';
import type { WallClockZone } from '../io/time-zone.js';
import { Matrix } from '../matrix.js';
import { numberColumn, readArrowFile, stringColumn } from '../schema/arrow.js';
import { labelProblem } from './labels.js';
import { probabilityColumns } from '../knn/predictions.js';
import type { LabelledSet } from '../knn/labelled-set.js';

export interface LabelSelection {
  /** Labels to leave out (e.g. a class held back to test novelty). */
  exclude?: readonly string[];
  /** When given, only these labels. */
  include?: readonly string[];
  /** The zone nfdump printed the label files' times in (default UTC). */
  zone?: WallClockZone;
}

const SKIPPED_FILES = /^(classes\.txt|readme(\..*)?|\..*)$/iu;

/**
 * Loads labelled data from a folder of per-label files (label = file name without extension;
 * any input kind flowknn reads that yields stat rows) with an optional `classes.txt` giving the
 * class order (one label per line), else alphabetical; or from one table with a `label` column
 * (Arrow, or CSV with a header naming `label` and the feature columns).
 */
export async function loadLabelled(path: string, featureSet: FeatureSet, selection: LabelSelection = {}): Promise<LabelledSet> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw usageError(`labels: ${path} does not exist`, 'give a folder of per-label nfdump files (label = file name) or a table with a label column');
  }
  const set = info.isDirectory() ? await loadFolder(path, featureSet, selection) : await loadTable(path, featureSet, selection);
  if (set.features.rows === 0) throw inputError('no labelled rows left after --include/--exclude', { file: path });
  return set;
}

function selected(label: string, selection: LabelSelection): boolean {
  if (selection.exclude?.includes(label)) return false;
  if (selection.include && !selection.include.includes(label)) return false;
  return true;
}

function checkSelectionNames(known: string[], selection: LabelSelection, where: string): void {
  for (const name of [...(selection.exclude ?? []), ...(selection.include ?? [])]) {
    if (!known.includes(name)) throw usageError(`label "${excerpt(name)}" is not in ${where}`, `known labels: ${known.join(', ')}`);
  }
}

async function loadFolder(dir: string, featureSet: FeatureSet, selection: LabelSelection): Promise<LabelledSet> {
  const byLabel = await labelFiles(dir);
  if (byLabel.size === 0) throw usageError(`labels: ${dir} holds no label files`, 'put one nfdump output file per label in it, named after the label');
  const order = await classOrder(dir, [...byLabel.keys()]);
  checkSelectionNames(order, selection, dir);
  const classes = order.filter((c) => selected(c, selection));
  // Before any file is read: two labels that would share one probability column are refused.
  distinctColumns(classes, dir);
  const parts: { label: number; table: Table; file: string }[] = [];
  for (const [ci, label] of classes.entries()) {
    const file = join(dir, byLabel.get(label)!);
    const result = await readInput(file, 'auto', { zone: selection.zone });
    if (result.kind !== 'stat') {
      throw inputError('holds flow records; a label file needs per-host aggregates (nfdump -s dstip/pps/bps output)', { file });
    }
    parts.push({ label: ci, table: result.table, file });
  }
  return assemble(parts, classes, featureSet);
}

/** Labels that would share one probability column (HTTP and http) are refused naming the
 *  labels folder or table that gives them. */
function distinctColumns(classes: string[], file: string): void {
  try {
    probabilityColumns(classes);
  } catch (err) {
    if (err instanceof FlowknnError) throw new FlowknnError(err.kind, err.message, { file, hint: err.hint });
    throw err;
  }
}

/**
 * The label files of a labels folder, by label. Every entry but classes.txt, a readme and hidden
 * ones must be a label file: a folder, FIFO, socket or device, a symlink to anything but a
 * regular file (a symlink to one is followed and read as that file), or a file name that does not
 * give a plain label name (the rule `label add` applies) fails naming the entry, rather than
 * being skipped and a class silently missing from the model.
 */
async function labelFiles(dir: string): Promise<Map<string, string>> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !SKIPPED_FILES.test(e.name));
  const byLabel = new Map<string, string>();
  const expected = 'a labels folder holds one nfdump output file per label, named after the label (http.raw gives label http)';
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const file = join(dir, e.name);
    if (e.isSymbolicLink()) {
      const target = await readlink(file).catch(() => '?');
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) throw inputError(`is a symlink to ${target}, which is ${st ? entryKind(st) : 'missing'}; ${expected}`, { file }, 'a symlink to a regular file is followed; remove the link or point it at a label file');
    } else if (!e.isFile()) {
      throw inputError(`is ${entryKind(e)}, not a label file; ${expected}`, { file }, e.isDirectory() ? 'move the folder out of the labels folder (or give it as --labels on its own)' : 'remove it from the labels folder');
    }
    const label = basename(e.name, extname(e.name));
    const problem = labelProblem(label);
    if (problem) throw inputError(`the file name does not give a label: ${problem}`, { file }, 'name the file after its class, e.g. http.raw');
    const prior = byLabel.get(label);
    if (prior) throw inputError(`two files give label "${excerpt(label)}": ${prior} and ${e.name}`, { file }, 'keep one file per label');
    byLabel.set(label, e.name);
  }
  return byLabel;
}

function entryKind(e: { isDirectory(): boolean; isFile(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (e.isFile()) return 'a regular file';
  if (e.isDirectory()) return 'a folder';
  if (e.isFIFO()) return 'a FIFO (named pipe)';
  if (e.isSocket()) return 'a socket';
  if (e.isCharacterDevice()) return 'a character device';
  if (e.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Class order from classes.txt when present (every label file must be listed), else alphabetical. */
async function classOrder(dir: string, labels: string[]): Promise<string[]> {
  const file = join(dir, 'classes.txt');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [...labels].sort();
  }
  const order: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const name = lines[i]!.trim();
    if (name === '' || name.startsWith('#')) continue;
    if (order.includes(name)) throw inputError(`class "${excerpt(name)}" is listed twice`, { file, line: i + 1 });
    if (!labels.includes(name)) throw inputError(`class "${excerpt(name)}" has no label file in ${dir}`, { file, line: i + 1 }, `label files: ${labels.join(', ')}`);
    order.push(name);
  }
  const unlisted = labels.filter((l) => !order.includes(l));
  if (unlisted.length > 0) throw inputError(`does not list ${unlisted.join(', ')}, which have label files`, { file }, 'add them, one per line, where they belong in the class order');
  return order;
}

async function loadTable(path: string, featureSet: FeatureSet, selection: LabelSelection): Promise<LabelledSet> {
  const table = /\.arrow$/iu.test(path) ? await readArrowFile(path) : await readLabelledCsv(path, featureSet);
  const labelCol = stringColumn(table, 'label');
  if (!labelCol) throw inputError('has no "label" column', { file: path }, 'a labelled table needs a label column beside the feature columns');
  const seen = new Set<string>();
  const lines = numberColumn(table, 'source_line');
  labelCol.forEach((l, i) => {
    // A CSV's rows carry their line; an Arrow table's rows are counted from 1.
    const where = lines && Number.isFinite(lines[i]) ? { file: path, line: lines[i]! } : undefined;
    const at = where ? '' : `row ${i + 1}: `;
    if (l === null || l === '') throw inputError(`${at}label: expected a class name, got nothing`, where ?? { file: path });
    if (seen.has(l)) return;
    const problem = labelProblem(l);
    if (problem) throw inputError(`${at}${problem}`, where ?? { file: path });
    seen.add(l);
  });
  const order = [...seen].sort();
  checkSelectionNames(order, selection, path);
  const classes = order.filter((c) => selected(c, selection));
  distinctColumns(classes, path);
  const all = featureMatrix(table, featureSet, path);
  const keys = stringColumn(table, 'key');
  const files = stringColumn(table, 'source_file');
  const windows = numberColumn(table, 'window_start');
  const firsts = numberColumn(table, 'first_seen');
  const rows: number[] = [];
  for (const c of classes) labelCol.forEach((l, i) => l === c && rows.push(i));
  return {
    featureSet,
    features: all.take(rows),
    labels: Int32Array.from(rows, (i) => classes.indexOf(labelCol[i]!)),
    classes,
    keys: rows.map((i) => keys?.[i] ?? ''),
    sourceFile: rows.map((i) => files?.[i] ?? path),
    sourceLine: Int32Array.from(rows, (i) => (lines ? lines[i]! : i + 2)),
    windowStart: rows.map((i) => (windows && !Number.isNaN(windows[i]!) ? windows[i]! : null)),
    firstSeen: rows.map((i) => (firsts && !Number.isNaN(firsts[i]!) ? firsts[i]! : null)),
  };
}

/** A CSV whose header names `label` and the feature columns (any order, extra columns ignored). */
async function readLabelledCsv(path: string, featureSet: FeatureSet): Promise<Table> {
  const { tableFromArrays } = await import('apache-arrow');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw usageError(`labels: cannot read ${path}`);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/u, ''));
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const need = ['label', ...featureSet.columns];
  const missing = need.filter((n) => !header.includes(n));
  if (missing.length > 0) throw inputError(`header lacks ${missing.join(', ')}; expected columns ${need.join(',')}`, { file: path, line: 1 });
  const cols: Record<string, (string | number)[]> = Object.fromEntries([...need, 'source_line'].map((n) => [n, []]));
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const cells = lines[i]!.split(',');
    // More fields than the header names is as wrong as fewer: a stray comma (a thousands
    // separator, 1,491) shifts every column after it and pushes the last field out unseen.
    if (cells.length !== header.length) throw inputError(`expected ${header.length} fields as the header names, got ${cells.length}${cells.length < header.length ? ' (truncated line?)' : ' (a stray comma?)'}`, { file: path, line: i + 1 });
    for (const n of need) {
      const cell = cells[header.indexOf(n)]!.trim();
      if (n === 'label') cols[n]!.push(cell);
      else {
        // A plain decimal, as in nfdump's CSV: Number() alone also reads 0x1F as 31 and 0b11 as 3.
        const v = parsePlainNumber(cell);
        if (!v.ok || !Number.isFinite(v.value)) throw inputError(`${n}: expected a number, got "${excerpt(cell)}"`, { file: path, line: i + 1 });
        cols[n]!.push(v.value);
      }
    }
    cols.source_line!.push(i + 1);
  }
  return tableFromArrays({
    ...Object.fromEntries(featureSet.columns.map((n) => [n, Float64Array.from(cols[n] as number[])])),
    label: cols.label as string[],
    source_line: Float64Array.from(cols.source_line as number[]),
  });
}

function assemble(parts: { label: number; table: Table; file: string }[], classes: string[], featureSet: FeatureSet): LabelledSet {
  const mats = parts.map((p) => featureMatrix(p.table, featureSet, p.file));
  const rows = mats.reduce((s, m) => s + m.rows, 0);
  const features = Matrix.zeros(rows, featureSet.columns.length);
  const labels = new Int32Array(rows);
  const keys: string[] = [];
  const sourceFile: string[] = [];
  const sourceLine = new Int32Array(rows);
  const windowStart: (number | null)[] = [];
  const firstSeen: (number | null)[] = [];
  let at = 0;
  parts.forEach((p, i) => {
    const m = mats[i]!;
    features.data.set(m.data, at * features.cols);
    const k = stringColumn(p.table, 'key')!;
    const lines = numberColumn(p.table, 'source_line')!;
    const windows = numberColumn(p.table, 'window_start');
    const firsts = numberColumn(p.table, 'first_seen');
    for (let r = 0; r < m.rows; r++) {
      windowStart.push(windows && !Number.isNaN(windows[r]!) ? windows[r]! : null);
      firstSeen.push(firsts && !Number.isNaN(firsts[r]!) ? firsts[r]! : null);
      labels[at + r] = p.label;
      keys.push(k[r] ?? '');
      sourceFile.push(p.file);
      sourceLine[at + r] = lines[r]!;
    }
    at += m.rows;
  });
  return { featureSet, features, labels, classes, keys, sourceFile, sourceLine, windowStart, firstSeen };
}
