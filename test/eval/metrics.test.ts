import { describe, expect, it } from 'vitest';
import { formatConfusion, formatFixed, formatReport, reportDict, type ReportDictRow } from '../../src/eval/format.js';
import { classificationReport, confusionMatrix } from '../../src/eval/metrics.js';

// Hand-checked example: 10 rows, 4 classes, one class never predicted right.
const truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3];
const predicted = [0, 1, 0, 1, 2, 2, 2, 0, 2, 0];

describe('classification report', () => {
  const cm = confusionMatrix(truth, predicted, ['a', 'bb', 'a-long-class-name', 'zero']);
  const report = classificationReport(cm);

  it('confusion matrix counts (rows true, columns predicted)', () => {
    expect(cm.matrix).toEqual([
      [2, 1, 0, 0],
      [0, 1, 1, 0],
      [1, 0, 3, 0],
      [1, 0, 0, 0],
    ]);
  });

  it('precision, recall, F1 and support per class, worked by hand', () => {
    const a = report.classes[0]!;
    expect(a.precision).toBeCloseTo(2 / 4, 15); // predicted a: rows 0, 2, 7, 9
    expect(a.recall).toBeCloseTo(2 / 3, 15);
    expect(a.f1).toBeCloseTo((2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3), 15);
    expect(a.support).toBe(3);
    const zero = report.classes[3]!;
    expect([zero.precision, zero.recall, zero.f1, zero.support]).toEqual([0, 0, 0, 1]);
    expect(report.accuracy).toBeCloseTo(0.6, 15);
    expect(report.macroAvg.recall).toBeCloseTo((2 / 3 + 1 / 2 + 3 / 4 + 0) / 4, 15);
    expect(report.weightedAvg.recall).toBeCloseTo(0.6, 15); // weighted recall = accuracy
    expect(report.total).toBe(10);
  });

  it("text layout is scikit-learn's classification_report, character for character", () => {
    // classification_report(y, p, target_names=[...], zero_division=0), scikit-learn 1.2.1
    expect(formatReport(report)).toBe(
      '                   precision    recall  f1-score   support\n\n                a       0.50      0.67      0.57         3\n               bb       0.50      0.50      0.50         2\na-long-class-name       0.75      0.75      0.75         4\n             zero       0.00      0.00      0.00         1\n\n         accuracy                           0.60        10\n        macro avg       0.44      0.48      0.46        10\n     weighted avg       0.55      0.60      0.57        10\n',
    );
    const short = classificationReport(confusionMatrix(truth, predicted, ['a', 'bb', 'ccc', 'zero']));
    expect(formatReport(short, 3)).toBe(
      '              precision    recall  f1-score   support\n\n           a      0.500     0.667     0.571         3\n          bb      0.500     0.500     0.500         2\n         ccc      0.750     0.750     0.750         4\n        zero      0.000     0.000     0.000         1\n\n    accuracy                          0.600        10\n   macro avg      0.438     0.479     0.455        10\nweighted avg      0.550     0.600     0.571        10\n',
    );
  });

  it("JSON carries the same numbers, under scikit-learn's output_dict keys", () => {
    const json = reportDict(report);
    expect(Object.keys(json)).toEqual(['a', 'bb', 'a-long-class-name', 'zero', 'accuracy', 'macro avg', 'weighted avg']);
    expect(json['a']).toEqual({ precision: report.classes[0]!.precision, recall: report.classes[0]!.recall, 'f1-score': report.classes[0]!.f1, support: report.classes[0]!.support });
    expect(json['accuracy']).toBe(report.accuracy);
    expect((json['weighted avg'] as ReportDictRow)['f1-score']).toBe(report.weightedAvg.f1);
    expect((json['macro avg'] as ReportDictRow).support).toBe(report.total);
  });

  it('a class named like one of the report\'s own entries is refused', () => {
    const cm2 = confusionMatrix([0, 1], [0, 1], ['accuracy', 'b']);
    expect(() => reportDict(classificationReport(cm2))).toThrow(/class named "accuracy"/u);
  });

  it('confusion matrix text is numpy-style with labels', () => {
    expect(formatConfusion(cm)).toBe(
      'rows: true label; columns: predicted a, bb, a-long-class-name, zero\na                  [2 1 0 0]\nbb                 [0 1 1 0]\na-long-class-name  [1 0 3 0]\nzero               [1 0 0 0]\n',
    );
  });
});

describe('fixed-point formatting as Python prints it', () => {
  it.each([
    [0.125, 2, '0.12'], // exact half: to even
    [0.375, 2, '0.38'],
    [2.5, 0, '2'],
    [0.745, 2, '0.74'], // 0.745 is stored below the half
    [0.7368421052631579, 2, '0.74'],
    [1, 2, '1.00'],
  ])('%s with %s digits -> %s', (x, digits, want) => {
    expect(formatFixed(x, digits)).toBe(want);
  });
});
