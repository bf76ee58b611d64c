import * as tf from '@tensorflow/tfjs-core';
import { environmentError, usageError } from '../../errors.js';
import type { Matrix } from '../../matrix.js';
import { METRICS, type EngineCapabilities, type EngineProbe, type KnnEngine, type Metric, type Neighbours } from '../engine.js';
import { checkMaxK } from '../fallback.js';
import { metricSpec, unreachable, type MetricFamily } from '../metrics.js';
import { validateSearch } from '../validate.js';
import {
  activateBackend,
  dawnGpuObject,
  parseBackendName,
  requireBackend,
  selectBackend,
  type BackendAttempt,
  type TfjsBackendName,
  type WebGpuDeviceInfo,
} from './backends.js';
import { exactTopK, planTiles, prepare, scoreToDistance, TFJS_MAX_K, TILE_BYTES, TopKMerger } from './prepare.js';

export { TFJS_BACKENDS, type TfjsBackendName } from './backends.js';
export { TFJS_MAX_K, TILE_BYTES, planTiles } from './prepare.js';

export interface TfjsEngineOptions {
  /** 'tensorflow' (tfjs-node-gpu / tfjs-node), 'webgpu', 'cpu', or 'auto' (the default). */
  backend?: string;
  /**
   * Bytes of the largest intermediate tensor of one tile (see planTiles). Default TILE_BYTES
   * (64 MiB), and at most half the WebGPU device's storage-binding limit. An explicit value is
   * used as given, for tests and benchmarks (above the device's limit a search fails).
   */
  tileBytes?: number;
}

/**
 * Exact kNN as TensorFlow.js ops: per tile, the distances of a block of queries to a block of
 * training rows (computed from differences q - t for the Lp metrics, dot products of unit rows
 * for cosine), then topk; the per-tile lists are merged in JavaScript, ties by lower training
 * index. float32 on the device: neighbour sets equal the cpu engine's except where distances
 * tie within float32 rounding.
 */
export class TfjsEngine implements KnnEngine {
  readonly name = 'tfjs' as const;
  readonly capabilities: EngineCapabilities = { metrics: METRICS, maxK: TFJS_MAX_K, precision: 'f32' };
  /** The TensorFlow.js backend the engine runs on: 'tensorflow', 'webgpu' or 'cpu'. */
  readonly backend: TfjsBackendName;
  /** The package providing it, e.g. '@tensorflow/tfjs-backend-cpu'. */
  readonly backendPackage: string;
  get deviceName(): string {
    return `TensorFlow.js ${this.backend} backend (${this.backendPackage})`;
  }

  /** The WebGPU adapter, on the webgpu backend. */
  readonly device?: WebGpuDeviceInfo;
  /** Every backend looked at, and why the ones before this one were not used. */
  readonly tried: readonly BackendAttempt[];
  /** Held while the engine lives: Dawn segfaults if its GPU object is garbage-collected. */
  private readonly gpu: unknown;
  private readonly tileBytes: number;
  private disposed = false;

  private constructor(backend: TfjsBackendName, backendPackage: string, tried: readonly BackendAttempt[], device: WebGpuDeviceInfo | undefined, tileBytes: number | undefined) {
    this.backend = backend;
    this.backendPackage = backendPackage;
    this.tried = tried;
    this.device = device;
    this.gpu = backend === 'webgpu' ? dawnGpuObject() : undefined;
    // A WebGPU storage binding cannot exceed the device's limit (128 MiB on lavapipe); above
    // it Dawn only reports a validation error and the results would be garbage.
    this.tileBytes = tileBytes ?? (device ? Math.min(TILE_BYTES, Math.floor(device.maxStorageBufferBindingSize / 2), Math.floor(device.maxBufferSize / 2)) : TILE_BYTES);
  }

  /** options.backend: 'auto' (default), 'tensorflow', 'webgpu' (a software adapter too) or 'cpu'.
   *  Fails with an environment error naming the reason when the backend asked for cannot run. */
  static async create(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
    const backend = parseBackendName(options.backend);
    const tileBytes = options.tileBytes;
    if (tileBytes !== undefined && !(Number.isInteger(tileBytes) && tileBytes >= 4)) {
      throw usageError(`tile size must be a whole number of bytes >= 4, got ${tileBytes}`);
    }
    const sel = await requireBackend(backend);
    return new TfjsEngine(sel.backend, sel.package!, sel.tried, sel.device, tileBytes);
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    validateSearch(train, queries, k, metric);
    checkMaxK(this.name, k, TFJS_MAX_K);
    if (this.disposed) throw usageError('this tfjs engine was disposed');
    return exclusive(async () => {
      await activateBackend(this.backend);
      return this.device ? this.withDeviceErrors(() => this.run(train, queries, k, metric)) : this.run(train, queries, k, metric);
    });
  }

  private async run(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    const n = train.rows;
    const m = queries.rows;
    const d = train.cols;
    const data = prepare(train, queries, metric);
    const { trainTile, queryTile } = planTiles(n, m, d, metric, this.tileBytes);
    const merger = new TopKMerger(m, k);
    const p = metric.p ?? 2;
    // The power family at p = 1 and p = 2 has the same key as the absolute and squares families,
    // whose tensor ops are cheaper and exact.
    const family = metricSpec(metric).family;
    const kind: MetricFamily = family === 'power' && p === 1 ? 'absolute' : family === 'power' && p === 2 ? 'squares' : family;

    const queryTensors: tf.Tensor2D[] = [];
    try {
      for (let q0 = 0; q0 < m; q0 += queryTile) {
        const rows = Math.min(queryTile, m - q0);
        queryTensors.push(tf.tensor2d(data.queries.subarray(q0 * d, (q0 + rows) * d), [rows, d], 'float32'));
      }
      for (let t0 = 0; t0 < n; t0 += trainTile) {
        const nt = Math.min(trainTile, n - t0);
        const kk = Math.min(k, nt);
        const trainTensor = tf.tensor2d(data.train.subarray(t0 * d, (t0 + nt) * d), [nt, d], 'float32');
        try {
          for (let qi = 0; qi < queryTensors.length; qi++) {
            await this.tile(queryTensors[qi]!, trainTensor, qi * queryTile, t0, kk, kind, p, merger);
          }
        } finally {
          trainTensor.dispose();
        }
        merger.advance(kk);
      }
    } finally {
      for (const t of queryTensors) t.dispose();
    }

    const distances = new Float64Array(m * k);
    for (let i = 0; i < distances.length; i++) distances[i] = scoreToDistance(merger.scores[i]!, metric, data.scale);
    return { queries: m, k, indices: merger.indices, distances };
  }

  /** One query tile x one training tile: scores, topk, and the exact tie rule at the k-th place. */
  private async tile(q: tf.Tensor2D, t: tf.Tensor2D, q0: number, t0: number, kk: number, kind: MetricFamily, p: number, merger: TopKMerger): Promise<void> {
    const rows = q.shape[0];
    const nt = t.shape[0];
    const out = tf.tidy(() => {
      const score = scores(q, t, kind, p);
      const top = tf.topk(score, kk, true);
      // Scores >= the k-th kept one: more than kk means equal scores were left out at the k-th
      // place, and the backend's topk may not have kept the lowest indices among them.
      const atLeast = kk < nt ? tf.sum(tf.cast(tf.greaterEqual(score, tf.slice(top.values, [0, kk - 1], [rows, 1])), 'int32'), 1) : undefined;
      return { score, values: top.values, indices: top.indices, atLeast };
    });
    try {
      const [values, indices, atLeast] = await Promise.all([out.values.data(), out.indices.data(), out.atLeast?.data()]);
      const tied: number[] = [];
      if (atLeast) for (let r = 0; r < rows; r++) if (atLeast[r]! > kk) tied.push(r);
      if (tied.length > 0) {
        const rowsData = await readRows(out.score, tied);
        for (let i = 0; i < tied.length; i++) {
          const exact = exactTopK(rowsData.subarray(i * nt, (i + 1) * nt), kk);
          (values as Float32Array).set(exact.scores, tied[i]! * kk);
          (indices as Int32Array).set(exact.indices, tied[i]! * kk);
        }
      }
      merger.merge(q0, rows, kk, values as Float32Array, indices as Int32Array, t0);
    } finally {
      tf.dispose([out.score, out.values, out.indices, ...(out.atLeast ? [out.atLeast] : [])]);
    }
  }

  /** Dawn reports invalid work (an oversized binding...) as errors on the device, not as
   *  exceptions: catch them, so that a broken search fails instead of returning garbage. */
  private async withDeviceErrors<T>(fn: () => Promise<T>): Promise<T> {
    const device = (tf.findBackend('webgpu') as unknown as { device?: GpuErrorScopes } | null)?.device;
    if (!device) return fn();
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let result: T | undefined;
    let failure: unknown;
    try {
      result = await fn();
    } catch (err) {
      failure = err;
    }
    const validation = await device.popErrorScope();
    const memory = await device.popErrorScope();
    const error = validation ?? memory;
    if (error) {
      throw environmentError(`the tfjs webgpu backend failed on ${this.device!.vendor} ${this.device!.device}: ${error.message.split('\n')[0]}`, 'use backend cpu or the cpu engine', error);
    }
    if (failure !== undefined) throw failure;
    return result as T;
  }

  async dispose(): Promise<void> {
    // The backend itself stays: TensorFlow.js has one per process, shared by every engine.
    this.disposed = true;
    void this.gpu;
  }
}

interface GpuErrorScopes {
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<{ message: string } | null>;
}

/** Larger = nearer, [rows, nt]. Lp metrics from differences; at most two [rows, nt, d]
 *  tensors are alive at once (the rest are disposed as soon as they are used). */
function scores(q: tf.Tensor2D, t: tf.Tensor2D, kind: MetricFamily, p: number): tf.Tensor2D {
  if (kind === 'angle') {
    return tf.clipByValue(tf.matMul(q, t, false, true), -1, 1) as tf.Tensor2D;
  }
  const qe = tf.expandDims(q, 1); // [rows, 1, d]
  const te = tf.expandDims(t, 0); // [1, nt, d]
  let key: tf.Tensor;
  if (kind === 'squares') {
    const sq = tf.squaredDifference(qe, te);
    key = tf.sum(sq, 2);
    sq.dispose();
  } else {
    const diff = tf.sub(qe, te);
    const abs = tf.abs(diff);
    diff.dispose();
    switch (kind) {
      case 'maximum':
        key = tf.max(abs, 2);
        break;
      case 'absolute':
        key = tf.sum(abs, 2);
        break;
      case 'power': {
        const pow = tf.pow(abs, tf.scalar(p, 'float32'));
        abs.dispose();
        key = tf.sum(pow, 2);
        pow.dispose();
        break;
      }
      default:
        return unreachable(kind, 'metric family');
    }
    abs.dispose(); // (a no-op where already disposed)
  }
  return tf.neg(key) as tf.Tensor2D;
}

async function readRows(score: tf.Tensor2D, rows: number[]): Promise<Float32Array> {
  const idx = tf.tensor1d(rows, 'int32');
  const picked = tf.gather(score, idx);
  try {
    return (await picked.data()) as Float32Array;
  } finally {
    tf.dispose([idx, picked]);
  }
}

/** TensorFlow.js has one active backend per process: searches run one at a time. */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

/** Which backend the tfjs engine would use here, and why the others were not. */
export async function probeTfjs(): Promise<EngineProbe> {
  try {
    const sel = await selectBackend();
    const details: Record<string, unknown> = { backend: sel.backend ?? null, package: sel.package ?? null, tried: sel.tried, maxK: TFJS_MAX_K, precision: 'f32' };
    if (sel.device) details.device = sel.device;
    if (sel.backend === undefined) {
      return { name: 'tfjs', usable: false, reason: `no TensorFlow.js backend can run: ${sel.tried.map((t) => `${t.name}: ${t.reason}`).join('; ')}`, details };
    }
    return { name: 'tfjs', usable: true, details };
  } catch (err) {
    return { name: 'tfjs', usable: false, reason: `TensorFlow.js failed to start: ${err instanceof Error ? err.message : String(err)}`, details: {} };
  }
}
