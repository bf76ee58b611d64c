import { inputError, usageError, excerpt } from '../errors.js';
import { Matrix } from '../matrix.js';
import { fitQuantiles, quantileNormal } from './quantile.js';

export const SCALERS = ['none', 'zscore', 'minmax', 'log-zscore', 'row-l2', 'quantile'] as const;
export type ScalerName = (typeof SCALERS)[number];

/**
 * A fitted scaler as stored in model.json: per-feature offsets and scales (empty for the
 * stateless ones). transform(x)[j] = (f(x[j]) - offset[j]) / scale[j], with f = log1p for
 * log-zscore; row-l2 divides each row by its L2 norm instead. quantile keeps no offsets and
 * scales but the training rows' quantiles of each feature (quantile.ts), one list per feature.
 */
export interface ScalerParams {
  readonly name: ScalerName;
  readonly offset: number[];
  readonly scale: number[];
  readonly quantiles?: number[][];
}

export function parseScalerName(name: string): ScalerName {
  if ((SCALERS as readonly string[]).includes(name)) return name as ScalerName;
  throw usageError(`unknown scaler "${excerpt(name)}"`, `choose one of ${SCALERS.join(', ')}`);
}

/** Fits on the training rows only; the same parameters then transform every other row. */
export function fitScaler(name: ScalerName, train: Matrix): ScalerParams {
  switch (name) {
    case 'none':
    case 'row-l2':
      return { name, offset: [], scale: [] };
    case 'zscore':
      return { name, ...meanStd(train) };
    case 'log-zscore':
      return { name, ...meanStd(log1pMatrix(train)) };
    case 'minmax':
      return { name, ...minMax(train) };
    case 'quantile':
      if (train.rows === 0) throw inputError('scaler quantile needs at least one training row');
      return { name, offset: [], scale: [], quantiles: fitQuantiles(train) };
  }
}

export function transform(params: ScalerParams, m: Matrix): Matrix {
  switch (params.name) {
    case 'none':
      return m;
    case 'row-l2':
      return rowL2(m);
    case 'zscore':
    case 'minmax':
      return affine(m, params);
    case 'log-zscore':
      return affine(log1pMatrix(m), params);
    case 'quantile': {
      const q = params.quantiles;
      if (!q || q.length !== m.cols) throw inputError(`scaler quantile was fitted on ${q?.length ?? 0} features, data has ${m.cols}`);
      const out = Matrix.zeros(m.rows, m.cols);
      quantileNormal(m, q, out);
      return out;
    }
  }
}

function checkFitted(params: ScalerParams, cols: number): void {
  if (params.offset.length !== params.scale.length) {
    throw inputError(`scaler ${params.name} is damaged: ${params.offset.length} offsets but ${params.scale.length} scales (data has ${cols} features)`);
  }
  if (params.offset.length !== cols) throw inputError(`scaler ${params.name} was fitted on ${params.offset.length} features, data has ${cols}`);
}

function affine(m: Matrix, params: ScalerParams): Matrix {
  checkFitted(params, m.cols);
  const out = Matrix.zeros(m.rows, m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const at = i * m.cols + j;
      out.data[at] = (m.data[at]! - params.offset[j]!) / params.scale[j]!;
    }
  }
  return out;
}

/** Population standard deviation (ddof = 0), as scikit-learn's StandardScaler; a constant
 *  feature keeps scale 1 so it maps to 0 rather than NaN. */
function meanStd(m: Matrix): { offset: number[]; scale: number[] } {
  const offset: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < m.cols; j++) {
    let sum = 0;
    for (let i = 0; i < m.rows; i++) sum += m.data[i * m.cols + j]!;
    const mean = sum / m.rows;
    let ss = 0;
    for (let i = 0; i < m.rows; i++) ss += (m.data[i * m.cols + j]! - mean) ** 2;
    const std = Math.sqrt(ss / m.rows);
    offset.push(mean);
    scale.push(std > 0 ? std : 1);
  }
  return { offset, scale };
}

/** Maps the training range to [0, 1]; a constant feature keeps scale 1 (as scikit-learn). */
function minMax(m: Matrix): { offset: number[]; scale: number[] } {
  const offset: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < m.cols; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < m.rows; i++) {
      const v = m.data[i * m.cols + j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    offset.push(lo);
    scale.push(hi > lo ? hi - lo : 1);
  }
  return { offset, scale };
}

/**
 * What an offset-and-scale scaler (zscore, log-zscore, minmax) fits and shifts: the rows
 * themselves, or their log1p for log-zscore. Leave-one-out (eval/loo.ts) refits the offsets and
 * scales of each fold from these values without a pass over the rows per fold.
 */
export function affineBase(name: 'zscore' | 'log-zscore' | 'minmax', m: Matrix): Matrix {
  return name === 'log-zscore' ? log1pMatrix(m) : m;
}

function log1pMatrix(m: Matrix): Matrix {
  const out = Matrix.zeros(m.rows, m.cols);
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i]!;
    if (!(v > -1)) {
      throw inputError(`log-zscore needs features > -1 (log1p), row ${Math.floor(i / m.cols)} feature ${i % m.cols} is ${v}`);
    }
    out.data[i] = Math.log1p(v);
  }
  return out;
}

/** Each row divided by its L2 norm (the seed study's preprocessing); a zero row stays zero. */
function rowL2(m: Matrix): Matrix {
  const out = Matrix.zeros(m.rows, m.cols);
  for (let i = 0; i < m.rows; i++) {
    let ss = 0;
    for (let j = 0; j < m.cols; j++) ss += m.data[i * m.cols + j]! ** 2;
    const norm = Math.sqrt(ss);
    for (let j = 0; j < m.cols; j++) out.data[i * m.cols + j] = norm > 0 ? m.data[i * m.cols + j]! / norm : 0;
  }
  return out;
}
