import type { Matrix } from '../../matrix.js';
import { METRICS, type EngineCapabilities, type KnnEngine, type Metric, type Neighbours } from '../engine.js';
import { validateSearch } from '../validate.js';
import { bruteSearchRange } from './brute.js';

/** The reference engine: exact, float64, always available. */
export class CpuEngine implements KnnEngine {
  readonly name = 'cpu' as const;
  readonly capabilities: EngineCapabilities = { metrics: METRICS, maxK: Number.MAX_SAFE_INTEGER, precision: 'f64' };

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    validateSearch(train, queries, k, metric);
    const indices = new Int32Array(queries.rows * k);
    const distances = new Float64Array(queries.rows * k);
    bruteSearchRange(train, queries, k, metric, 0, queries.rows, indices, distances);
    return { queries: queries.rows, k, indices, distances };
  }

  async dispose(): Promise<void> {}
}
