import type { Table } from 'apache-arrow';
import { inputError, type FlowknnError } from '../errors.js';
import { numberColumn, stringColumn } from '../schema/arrow.js';
import { Matrix } from '../matrix.js';

/**
 * A named, versioned list of feature columns. Every model stores the feature set it was
 * trained on and refuses data described by another, so that a model is never fed columns in
 * a different order or meaning.
 */
export interface FeatureSet {
  readonly name: string;
  readonly version: number;
  /** Column names in the stat/aggregate tables, in matrix column order. */
  readonly columns: readonly string[];
}

/**
 * The seed study's seven features, in its order, with nfdump's definitions:
 * pps = packets / duration, bps = 8 * bytes / duration, bpp = bytes / packets
 * (duration 0 gives pps = bps = 0, as nfdump prints them).
 */
export const NFDUMP_STAT7: FeatureSet = {
  name: 'nfdump-stat7',
  version: 1,
  columns: ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'],
};

export const FEATURE_SETS: readonly FeatureSet[] = [NFDUMP_STAT7];

export function featureSetId(fs: FeatureSet): string {
  return `${fs.name}@${fs.version}`;
}

export function sameFeatureSet(a: FeatureSet, b: FeatureSet): boolean {
  return a.name === b.name && a.version === b.version && a.columns.length === b.columns.length && a.columns.every((c, i) => c === b.columns[i]);
}

/**
 * Pulls the feature columns out of a table into a row-major float64 matrix. Every value must be
 * a finite number >= 0 (durations, counts and rates, as nfdump prints them); the first that is
 * not fails with the file and line the row came from (the table's source_file and source_line
 * columns, when it has them), not with a row and column index of a matrix.
 */
export function featureMatrix(table: Table, fs: FeatureSet, file: string): Matrix {
  const cols = fs.columns.map((name) => {
    const c = numberColumn(table, name);
    if (!c) {
      throw inputError(`has no column "${name}" (feature set ${featureSetId(fs)} needs ${fs.columns.join(', ')})`, { file });
    }
    return c;
  });
  const rows = table.numRows;
  const m = Matrix.zeros(rows, cols.length);
  for (let j = 0; j < cols.length; j++) {
    const c = cols[j]!;
    for (let i = 0; i < rows; i++) {
      const v = c[i]!;
      if (!(v >= 0 && v < Infinity)) throw badFeature(table, file, i, fs.columns[j]!, v);
      m.data[i * cols.length + j] = v;
    }
  }
  return m;
}

function badFeature(table: Table, file: string, row: number, column: string, value: number): FlowknnError {
  const got = Number.isNaN(value) ? 'nothing (a missing value)' : String(value);
  const what = `${column}: expected a number >= 0, got ${got}`;
  const lines = numberColumn(table, 'source_line');
  const line = lines && Number.isFinite(lines[row]) ? lines[row]! : undefined;
  const source = stringColumn(table, 'source_file')?.[row] ?? undefined;
  // A table made from other files (flowknn ingest) names the file the row was read from.
  if (source !== undefined && source !== null && source !== '' && source !== file) {
    return inputError(`row ${row + 1} (read from ${source}${line === undefined ? '' : `:${line}`}): ${what}`, { file });
  }
  return line === undefined ? inputError(`row ${row + 1}: ${what}`, { file }) : inputError(what, { file, line });
}
