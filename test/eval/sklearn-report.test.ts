import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/cli.js';

/**
 * `flowknn evaluate --format json` is scikit-learn's classification_report(output_dict=True):
 * fed the same true and predicted labels (rebuilt from the confusion matrix the result carries),
 * scikit-learn's own dictionary has the same keys and the same numbers.
 */
const PYTHON = '/usr/bin/python3';
const sklearn = spawnSync(PYTHON, ['-c', 'import sklearn'], { stdio: 'ignore' }).status === 0;

interface Result {
  [key: string]: unknown;
  flowknn: { classes: string[]; confusion_matrix: { labels: string[]; matrix: number[][] } };
}

describe.skipIf(!sklearn && process.env.CI !== 'true')(`evaluate --format json against scikit-learn${sklearn ? '' : ' (skipped: python3 with sklearn is not installed)'}`, () => {
  it.each([
    ['resubstitution', ['--scaler', 'row-l2', '--k', '5', '--protocol', 'resubstitution']],
    ['kfold', ['--scaler', 'log-zscore', '--k', '3', '--protocol', 'kfold', '--folds', '5', '--seed', '3']],
  ])('%s: the same dictionary as classification_report(output_dict=True)', async (_name, flags) => {
    const r = await runMain(['evaluate', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', ...flags, '--format', 'json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const ours = JSON.parse(r.stdout) as Result;
    const { labels, matrix } = ours.flowknn.confusion_matrix;
    const truth: string[] = [];
    const predicted: string[] = [];
    matrix.forEach((row, t) =>
      row.forEach((n, p) => {
        for (let i = 0; i < n; i++) {
          truth.push(labels[t]!);
          predicted.push(labels[p]!);
        }
      }),
    );
    const script = [
      'import json, sys',
      'from sklearn.metrics import classification_report',
      'd = json.load(sys.stdin)',
      "print(json.dumps(classification_report(d['truth'], d['predicted'], labels=d['labels'], output_dict=True, zero_division=0)))",
    ].join('\n');
    const theirs = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify({ truth, predicted, labels }), encoding: 'utf8' })) as Record<string, unknown>;
    const { flowknn: _own, ...report } = ours;
    expect(Object.keys(report).sort()).toEqual(Object.keys(theirs).sort());
    for (const [key, value] of Object.entries(theirs)) {
      if (typeof value === 'number') {
        expect(report[key], key).toBeCloseTo(value, 12);
        continue;
      }
      const row = value as Record<string, number>;
      const mine = report[key] as Record<string, number>;
      expect(Object.keys(mine).sort(), key).toEqual(Object.keys(row).sort());
      for (const [m, v] of Object.entries(row)) expect(mine[m], `${key} ${m}`).toBeCloseTo(v, 12);
    }
  });
});
