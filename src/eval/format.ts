import { usageError } from '../errors.js';
import type { ClassificationReport, ConfusionMatrix } from './metrics.js';

/**
 * Fixed-point text as Python's format() writes it: the exact binary value rounded, with exact
 * halves going to the even digit (JavaScript's toFixed rounds them up), so that our reports
 * print the same digits as scikit-learn's.
 */
export function formatFixed(x: number, digits: number): string {
  const fixed = x.toFixed(digits);
  if (!Number.isFinite(x)) return fixed;
  // toFixed is exact up to 100 digits; 30 more digits show whether x sits exactly on a half.
  const exact = Math.abs(x).toFixed(Math.min(100, digits + 30));
  const tail = exact.slice(exact.length - 30);
  if (tail !== `5${'0'.repeat(29)}`) return fixed;
  const down = (Math.sign(x) * (Math.trunc(Math.abs(x) * 10 ** digits) / 10 ** digits)).toFixed(digits);
  const lastDigit = Number(down[down.length - 1]);
  return lastDigit % 2 === 0 ? down : fixed;
}

/** scikit-learn's classification_report text layout (digits = 2 by default). */
export function formatReport(report: ClassificationReport, digits = 2): string {
  const heading = 'weighted avg';
  const width = Math.max(heading.length, digits, ...report.classes.map((c) => c.label.length));
  const pad = (s: string, w: number) => s.padStart(w);
  const num = (v: number) => ` ${pad(formatFixed(v, digits), 9)}`;
  let out = `${pad('', width)} ${['precision', 'recall', 'f1-score', 'support'].map((h) => ` ${pad(h, 9)}`).join('')}\n\n`;
  for (const c of report.classes) out += `${pad(c.label, width)} ${num(c.precision)}${num(c.recall)}${num(c.f1)} ${pad(String(c.support), 9)}\n`;
  out += '\n';
  out += `${pad('accuracy', width)} ${' '.repeat(10)}${' '.repeat(10)}${num(report.accuracy)} ${pad(String(report.total), 9)}\n`;
  for (const [name, a] of [
    ['macro avg', report.macroAvg],
    ['weighted avg', report.weightedAvg],
  ] as const) {
    out += `${pad(name, width)} ${num(a.precision)}${num(a.recall)}${num(a.f1)} ${pad(String(a.support), 9)}\n`;
  }
  return out;
}

/** Rows: true label; columns: predicted label, in class order (numpy's bracketed layout). */
export function formatConfusion(cm: ConfusionMatrix): string {
  const width = Math.max(...cm.labels.map((l) => l.length));
  const cell = Math.max(1, ...cm.matrix.flat().map((v) => String(v).length));
  const lines = cm.matrix.map((row, i) => `${cm.labels[i]!.padEnd(width)}  [${row.map((v) => String(v).padStart(cell)).join(' ')}]`);
  return `rows: true label; columns: predicted ${cm.labels.join(', ')}\n${lines.join('\n')}\n`;
}

/** One row of scikit-learn's report dictionary. */
export interface ReportDictRow {
  precision: number;
  recall: number;
  'f1-score': number;
  support: number;
}

/** Keys of scikit-learn's report dictionary that are not classes. */
const REPORT_KEYS = ['accuracy', 'macro avg', 'weighted avg'] as const;

/**
 * scikit-learn's `classification_report(output_dict=True)`: one entry per class (precision,
 * recall, f1-score, support), `accuracy`, `macro avg` and `weighted avg`, under the same keys,
 * so code written for scikit-learn's dictionary reads it unchanged. `digits` rounds as the
 * text report does (default: unrounded, as scikit-learn's dictionary is).
 */
export function reportDict(report: ClassificationReport, digits?: number): Record<string, ReportDictRow | number> {
  const r = (v: number) => (digits === undefined ? v : Number(formatFixed(v, digits)));
  const row = (a: { precision: number; recall: number; f1: number; support: number }): ReportDictRow => ({ precision: r(a.precision), recall: r(a.recall), 'f1-score': r(a.f1), support: a.support });
  const out: Record<string, ReportDictRow | number> = {};
  for (const c of report.classes) {
    if ((REPORT_KEYS as readonly string[]).includes(c.label)) throw usageError(`a class named "${c.label}" cannot be told apart from scikit-learn's "${c.label}" entry in the report`, 'rename the label');
    out[c.label] = row(c);
  }
  out['accuracy'] = r(report.accuracy);
  out['macro avg'] = row(report.macroAvg);
  out['weighted avg'] = row(report.weightedAvg);
  return out;
}
