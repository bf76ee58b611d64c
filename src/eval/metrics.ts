/**
 * Classification report and confusion matrix, with scikit-learn's definitions: precision =
 * TP / predicted, recall = TP / true, F1 their harmonic mean; any 0/0 is reported as 0 (as
 * scikit-learn's zero_division default does, without its warning); macro average = mean over
 * classes; weighted average = mean weighted by support.
 */

export interface ClassScores {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface Averages {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface ClassificationReport {
  readonly classes: ClassScores[];
  readonly accuracy: number;
  readonly macroAvg: Averages;
  readonly weightedAvg: Averages;
  /** Rows evaluated. */
  readonly total: number;
}

export interface ConfusionMatrix {
  readonly labels: string[];
  /** matrix[true][predicted] */
  readonly matrix: number[][];
}

export function confusionMatrix(truth: ArrayLike<number>, predicted: ArrayLike<number>, labels: string[]): ConfusionMatrix {
  const matrix = labels.map(() => labels.map(() => 0));
  for (let i = 0; i < truth.length; i++) matrix[truth[i]!]![predicted[i]!]!++;
  return { labels, matrix };
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

export function classificationReport(cm: ConfusionMatrix): ClassificationReport {
  const n = cm.labels.length;
  const classes: ClassScores[] = [];
  let total = 0;
  let correct = 0;
  for (let c = 0; c < n; c++) {
    const tp = cm.matrix[c]![c]!;
    const support = cm.matrix[c]!.reduce((s, v) => s + v, 0);
    let predicted = 0;
    for (let r = 0; r < n; r++) predicted += cm.matrix[r]![c]!;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    const f1 = ratio(2 * precision * recall, precision + recall);
    classes.push({ label: cm.labels[c]!, precision, recall, f1, support });
    total += support;
    correct += tp;
  }
  const avg = (weight: (s: ClassScores) => number): Averages => {
    const w = classes.reduce((s, c) => s + weight(c), 0);
    const mean = (f: (s: ClassScores) => number) => ratio(classes.reduce((s, c) => s + f(c) * weight(c), 0), w);
    return { precision: mean((c) => c.precision), recall: mean((c) => c.recall), f1: mean((c) => c.f1), support: total };
  };
  return { classes, accuracy: ratio(correct, total), macroAvg: avg(() => 1), weightedAvg: avg((c) => c.support), total };
}
