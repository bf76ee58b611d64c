import { inputError, usageError, wholeNumber } from '../errors.js';
import type { Matrix } from '../matrix.js';
import type { Metric } from './engine.js';
import { checkMetric } from './metrics.js';

/**
 * The checks every engine makes before searching, in this order, so that the same bad input
 * gives the same error whichever engine runs it.
 */
export function validateSearch(train: Matrix, queries: Matrix, k: number, metric: Metric): void {
  checkMetric(metric);
  if (train.rows === 0) throw inputError('no training rows: the training set is empty');
  if (queries.rows === 0) throw inputError('no query rows: the input to classify is empty');
  if (train.cols !== queries.cols) {
    throw inputError(`dimension mismatch: training rows have ${train.cols} features, queries have ${queries.cols}`);
  }
  wholeNumber('k', k, 1);
  if (k > train.rows) throw usageError(`k = ${k} is more than the ${train.rows} training rows`, `use k <= ${train.rows}`);
  checkFinite(train, 'training');
  checkFinite(queries, 'query');
}

function checkFinite(m: Matrix, what: string): void {
  const d = m.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      const row = Math.floor(i / m.cols);
      throw inputError(`${what} row ${row} feature ${i % m.cols} is ${d[i]}: features must be finite numbers`);
    }
  }
}
