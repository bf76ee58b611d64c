import type { FeatureSet } from '../features/feature-set.js';
import type { Matrix } from '../matrix.js';

/**
 * Labelled rows, in a fixed order: classes in class order, each class's rows in file order.
 * That order is the training index, which decides ties between equally distant neighbours.
 */
export interface LabelledSet {
  readonly featureSet: FeatureSet;
  /** Raw (unscaled) features. */
  readonly features: Matrix;
  /** Class index per row, into `classes`. */
  readonly labels: Int32Array;
  readonly classes: string[];
  readonly keys: string[];
  readonly sourceFile: string[];
  readonly sourceLine: Int32Array;
  /**
   * Start of the aggregation window each row covers (UTC ms), null where unknown (nfdump
   * statistics over a whole run). With the key it names the row for label merging; absent on
   * sets built before windows were recorded.
   */
  readonly windowStart?: readonly (number | null)[];
  /** First seen of each row (UTC ms), null where unknown: tells apart rows of a masked key
   *  without a window whose counters happen to be equal. */
  readonly firstSeen?: readonly (number | null)[];
}

/** The given rows of a labelled set (same classes and class order). */
export function subset(set: LabelledSet, rows: ArrayLike<number>): LabelledSet {
  const idx = Array.from(rows);
  return {
    featureSet: set.featureSet,
    features: set.features.take(idx),
    labels: Int32Array.from(idx, (i) => set.labels[i]!),
    classes: set.classes,
    keys: idx.map((i) => set.keys[i]!),
    sourceFile: idx.map((i) => set.sourceFile[i]!),
    sourceLine: Int32Array.from(idx, (i) => set.sourceLine[i]!),
    ...(set.windowStart ? { windowStart: idx.map((i) => set.windowStart![i] ?? null) } : {}),
    ...(set.firstSeen ? { firstSeen: idx.map((i) => set.firstSeen![i] ?? null) } : {}),
  };
}
