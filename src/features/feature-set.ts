import type { Table } from 'apache-arrow';
import { inputError } from '../errors.js';
import { numberColumn } from '../schema/arrow.js';
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

/** Pulls the feature columns out of a table into a row-major float64 matrix. */
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
    for (let i = 0; i < rows; i++) m.data[i * cols.length + j] = c[i]!;
  }
  return m;
}
