import { mulberry32 } from '../../src/random.js';
import { Matrix } from '../../src/matrix.js';

/** A seed for randomised tests: FLOWKNN_TEST_SEED when set (to replay a failure), else fresh.
 *  Every test that uses it prints it. */
export function testSeed(name: string): number {
  const fromEnv = process.env.FLOWKNN_TEST_SEED;
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`[seed] ${name}: ${seed} (replay with FLOWKNN_TEST_SEED=${seed})`);
  return seed;
}

export function randomMatrix(rows: number, cols: number, random: () => number, lo = -1, hi = 1): Matrix {
  const m = Matrix.zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = lo + (hi - lo) * random();
  return m;
}

/** Small integers: many exactly equal distances, to exercise the tie rule. */
export function gridMatrix(rows: number, cols: number, random: () => number, values = 3): Matrix {
  const m = Matrix.zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = Math.floor(random() * values);
  return m;
}

export { mulberry32 };
