import { describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { fitScaler, transform } from '../../src/features/scalers.js';
import { Matrix } from '../../src/matrix.js';

const train = Matrix.fromRows([
  [1, 10, 5],
  [3, 10, 7],
  [5, 10, 0],
]);
const other = Matrix.fromRows([[7, 20, 3]]);

describe('scalers are fitted on training rows and applied unchanged to other rows', () => {
  it('none leaves values as they are', () => {
    expect(transform(fitScaler('none', train), other).toArrays()).toEqual([[7, 20, 3]]);
  });

  it('zscore: population mean and standard deviation of the training rows; a constant feature keeps scale 1', () => {
    const p = fitScaler('zscore', train);
    // column 0: mean 3, std sqrt(8/3); column 1 constant (std 0 -> 1); column 2: mean 4, std sqrt(26/3)
    expect(p.offset).toEqual([3, 10, 4]);
    expect(p.scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 14);
    expect(p.scale[1]).toBe(1);
    expect(p.scale[2]).toBeCloseTo(Math.sqrt(26 / 3), 14);
    const [row] = transform(p, other).toArrays();
    expect(row![0]).toBeCloseTo(4 / Math.sqrt(8 / 3), 12);
    expect(row![1]).toBe(10);
    expect(row![2]).toBeCloseTo(-1 / Math.sqrt(26 / 3), 12);
  });

  it('minmax maps the training range to [0, 1]; values outside it go beyond', () => {
    const p = fitScaler('minmax', train);
    expect(p.offset).toEqual([1, 10, 0]);
    expect(p.scale).toEqual([4, 1, 7]);
    expect(transform(p, train).toArrays()).toEqual([
      [0, 0, 5 / 7],
      [0.5, 0, 1],
      [1, 0, 0],
    ]);
    expect(transform(p, other).toArrays()).toEqual([[1.5, 10, 3 / 7]]);
  });

  it('log-zscore takes log1p first, then z-scores with the training statistics', () => {
    const p = fitScaler('log-zscore', train);
    const logs = [1, 3, 5].map(Math.log1p);
    const mean = logs.reduce((a, b) => a + b) / 3;
    expect(p.offset[0]).toBeCloseTo(mean, 14);
    const std = Math.sqrt(logs.reduce((s, v) => s + (v - mean) ** 2, 0) / 3);
    expect(p.scale[0]).toBeCloseTo(std, 14);
    expect(transform(p, other).row(0)[0]).toBeCloseTo((Math.log1p(7) - mean) / std, 12);
  });

  it('log-zscore refuses values <= -1 with a clear error', () => {
    expect(() => fitScaler('log-zscore', Matrix.fromRows([[-1, 0]]))).toThrow(FlowknnError);
    expect(() => fitScaler('log-zscore', Matrix.fromRows([[-1, 0]]))).toThrow(/features > -1/);
  });

  it('row-l2 scales each row to unit length, needs no fitting, keeps a zero row zero', () => {
    const p = fitScaler('row-l2', train);
    expect(p.offset).toEqual([]);
    const out = transform(p, Matrix.fromRows([[3, 4, 0], [0, 0, 0]])).toArrays();
    expect(out).toEqual([[0.6, 0.8, 0], [0, 0, 0]]);
  });

  it('a scaler fitted on one width refuses data of another', () => {
    const p = fitScaler('zscore', train);
    expect(() => transform(p, Matrix.fromRows([[1, 2]]))).toThrow(/fitted on 3 features, data has 2/);
  });

  it('offsets and scales of different lengths are called damaged, with both counts and the data width', () => {
    const p = fitScaler('zscore', train);
    const damaged = { ...p, scale: p.scale.slice(0, 1) };
    expect(() => transform(damaged, Matrix.fromRows([[1, 2, 3]]))).toThrow(/^scaler zscore is damaged: 3 offsets but 1 scales \(data has 3 features\)$/u);
  });
});
