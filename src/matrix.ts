/**
 * A dense row-major matrix: `rows` x `cols` values in `data`, row i at
 * data[i * cols .. i * cols + cols). float64 everywhere on the CPU; engines that compute in
 * float32 convert at their boundary.
 */
export class Matrix {
  constructor(
    readonly data: Float64Array,
    readonly rows: number,
    readonly cols: number,
  ) {
    if (data.length !== rows * cols) throw new Error(`matrix data has ${data.length} values, expected ${rows} x ${cols}`);
  }

  static zeros(rows: number, cols: number): Matrix {
    return new Matrix(new Float64Array(rows * cols), rows, cols);
  }

  static fromRows(rows: readonly (readonly number[])[], cols?: number): Matrix {
    const c = cols ?? rows[0]?.length ?? 0;
    const m = Matrix.zeros(rows.length, c);
    rows.forEach((r, i) => {
      if (r.length !== c) throw new Error(`row ${i} has ${r.length} values, expected ${c}`);
      m.data.set(r, i * c);
    });
    return m;
  }

  row(i: number): Float64Array {
    return this.data.subarray(i * this.cols, (i + 1) * this.cols);
  }

  /** A new matrix holding the given rows, in the given order. */
  take(indices: ArrayLike<number>): Matrix {
    const out = Matrix.zeros(indices.length, this.cols);
    for (let i = 0; i < indices.length; i++) out.data.set(this.row(indices[i]!), i * this.cols);
    return out;
  }

  toArrays(): number[][] {
    return Array.from({ length: this.rows }, (_, i) => Array.from(this.row(i)));
  }
}
