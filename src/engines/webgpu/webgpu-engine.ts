/// <reference types="@webgpu/types" />
import { environmentError } from '../../errors.js';
import type { Matrix } from '../../matrix.js';
import { MAX_BATCH_QUERIES, METRICS, type EngineCapabilities, type EngineProbe, type KnnEngine, type Metric, type Neighbours } from '../engine.js';
import { checkMaxK } from '../fallback.js';
import { keyToDistance } from '../metrics.js';
import { validateSearch } from '../validate.js';
import { openDevice, probeWebGpu, type AdapterDescription } from './device.js';
import { DEFAULT_KERNEL, MAX_SPLITS, planSearch, queryChunk, splitsFor, WEBGPU_MAX_K, type KernelOptions, type SearchPlan } from './plan.js';
import { bindGroupEntries, packUniforms } from './program.js';
import { KNN_PROGRAM, knnShader, MERGE_PROGRAM, mergeShader, type KnnShaderParams } from './shaders.js';

export { DEFAULT_KERNEL, kernelK, WEBGPU_MAX_K } from './plan.js';
export type { AdapterDescription } from './device.js';

/** Compiled pipelines kept (least recently used go first): bounds memory in long runs. */
const PIPELINE_CACHE = 96;
const NONE = 0xffffffff;
/**
 * Training sets kept on the device between searches, least recently used dropped first: a
 * night's batches, or a classify and its novelty check, upload the model's rows once.
 */
const RESIDENT_SETS = 2;
/**
 * Query-train pairs one search should carry (batchQueries): at the 10^12 pairs/s the kernel
 * aims for, about 17 ms of kernel per search, against the fixed cost of a search (a submit, the
 * queries' upload, two buffer maps and the read back) of about a millisecond.
 */
export const GPU_SEARCH_PAIRS = 2 ** 34;
/** Errors of passes the device had no memory for (withRoom retries them once with room made). */
const OUT_OF_MEMORY = new WeakSet<object>();

/** Rows [start, start + rows) of a training matrix, in one buffer of at most the plan's chunk. */
interface TrainChunk {
  readonly buffer: GPUBuffer;
  readonly start: number;
  readonly rows: number;
}

/** A training matrix's rows on the device, in chunks of at most one buffer each. */
interface ResidentTrain {
  readonly chunkRows: number;
  readonly chunks: readonly TrainChunk[];
  readonly bytes: number;
  /** Searches using it now: it is not dropped under them. */
  pins: number;
}

export interface WebGpuOptions extends KernelOptions {
  /** Accept a software adapter (lavapipe, llvmpipe, SwiftShader). `auto` does not. */
  allowSoftware?: boolean;
  /** Training splits per query (default: the split rule, from targetGroups). */
  splits?: number;
  /** Cap on any one buffer, below the device's own limits (tests use it to force chunking). */
  maxBufferBytes?: number;
  /** Fill outputs with a sentinel before each pass and check none is left (tests). */
  poison?: boolean;
  /** Keep the training rows on the device between searches (default true; false uploads them for each search, a chunk at a time, for benchmarks). */
  resident?: boolean;
  /**
   * Most bytes of training rows kept on the device (default: no cap but RESIDENT_SETS). A set
   * beyond it is uploaded for each search a chunk at a time, as one is when the device has no
   * room for it (tests use it to take that path).
   */
  residentBytes?: number;
  /**
   * Bytes of buffers the device holds at most: an allocation beyond it fails as the device's
   * out-of-memory error would (tests use it to run what the engine does then; a real device's
   * own memory is what counts without it).
   */
  deviceBytes?: number;
}

/**
 * Exact kNN on the GPU in float32: one fused kernel per pass (distances from differences,
 * running top-k in private memory, training rows staged through workgroup memory), plus a
 * merge kernel when the training rows are split across workgroups. Ties go to the lower
 * training index, as on the CPU.
 *
 * Lifetimes: the GPU object from Dawn's create() is held by the engine for as long as its
 * device lives (if it is garbage-collected while the device is in use, the process crashes);
 * the training rows stay on the device for later searches on the same Matrix (the last
 * RESIDENT_SETS of them, see KnnEngine on why a searched matrix must not change), pinned while
 * a search uses them; when the device has no room, idle sets are dropped and the search
 * retried, and rows that still do not fit go up a chunk at a time for that search. The other
 * buffers live for one pass and are destroyed in `finally`; pipelines live in the engine's cache
 * until dispose(). Searches may run at once: error scopes are pushed and popped in one turn.
 */
export class WebGpuEngine implements KnnEngine {
  readonly name = 'webgpu' as const;
  readonly capabilities: EngineCapabilities = { metrics: METRICS, maxK: WEBGPU_MAX_K, precision: 'f32' };
  /** Compiled programs by everything that changes their WGSL text; most recently used last. */
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private lost?: string;
  private disposed = false;
  private liveBuffers = 0;
  private deviceMs = 0;
  /** Training sets on the device by matrix; most recently used last. */
  private readonly resident = new Map<Matrix, ResidentTrain>();
  /** Uploads under way by matrix: a second search on the same rows waits for the first's. */
  private readonly uploading = new Map<Matrix, Promise<ResidentTrain | undefined>>();
  /** Bytes of training sets being uploaded to keep (counted against residentBytes). */
  private reserved = 0;
  /** Bytes of buffers alive now (training rows and passes), for deviceBytes. */
  private allocated = 0;
  private trainUploads = 0;

  get deviceName(): string {
    const a = this.adapter;
    return `${a.vendor} ${a.device || a.architecture}${a.software ? ' (software adapter)' : ''}`.trim();
  }

  private constructor(
    // Held for the device's lifetime: see the class comment.
    private readonly gpu: GPU,
    readonly adapter: AdapterDescription,
    private readonly device: GPUDevice,
    private readonly options: WebGpuOptions,
  ) {
    void device.lost.then((info) => {
      if (!this.disposed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  static async create(options: WebGpuOptions = {}): Promise<WebGpuEngine> {
    const { gpu, adapter, device } = await openDevice(options.allowSoftware === true);
    return new WebGpuEngine(gpu, adapter, device, options);
  }

  /** Whether an adapter is there and what it is, without keeping a device. */
  static async probe(): Promise<EngineProbe> {
    return probeWebGpu();
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    validateSearch(train, queries, k, metric);
    checkMaxK(this.name, k, WEBGPU_MAX_K);
    this.checkAlive();
    const d = train.cols;
    const plan = this.plan(d, k, metric);
    const kb = plan.shader.k;
    const indices = new Int32Array(queries.rows * k);
    const keys = new Float64Array(queries.rows * k);
    // pinned (not dropped while this search runs), or undefined: uploaded here a chunk at a time
    const held = await this.holdTrain(train, plan.trainChunk);
    if (!held) this.trainUploads++;
    try {
      const ranges = held ? held.chunks : chunkRanges(train.rows, plan.trainChunk);
      const partial = ranges.length > 1 ? ranges.map(() => ({ idx: new Int32Array(queries.rows * k), key: new Float64Array(queries.rows * k) })) : undefined;
      for (const [c, range] of ranges.entries()) {
        const chunk = held ? held.chunks[c]! : await this.transientChunk(train, range.start, range.rows);
        try {
          const splits = splitsFor(plan, chunk.rows, queries.rows, this.options.targetGroups ?? DEFAULT_KERNEL.targetGroups, this.options.splits);
          const perPass = queryChunk(plan, splits);
          for (let q0 = 0; q0 < queries.rows; q0 += perPass) {
            const q1 = Math.min(queries.rows, q0 + perPass);
            const pass = await this.withRoom(() => this.pass(chunk.buffer, chunk.rows, toF32(queries.data, q0 * d, q1 * d), q1 - q0, plan, metric.p ?? 2, splits));
            const out = plan.shader.form === 'dot' ? rerank(pass, kb, train.data, chunk.start, queries.data, q0, q1 - q0, d) : pass;
            const dstIdx = partial ? partial[c]!.idx : indices;
            const dstKey = partial ? partial[c]!.key : keys;
            for (let q = 0; q < q1 - q0; q++) {
              for (let j = 0; j < k; j++) {
                const from = q * kb + j;
                dstIdx[(q0 + q) * k + j] = out.idx[from] === NONE ? -1 : out.idx[from]! + chunk.start;
                dstKey[(q0 + q) * k + j] = out.key[from]!;
              }
            }
          }
        } finally {
          if (!held) this.destroyTrain(chunk.buffer);
        }
      }
      if (partial) mergeChunks(partial, queries.rows, k, indices, keys);
    } finally {
      if (held) {
        held.pins--;
        this.trimResident();
      }
    }
    const distances = new Float64Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      if (indices[i]! < 0) throw new Error(`webgpu search left neighbour slot ${i} empty`);
      distances[i] = keyToDistance(keys[i]!, metric);
    }
    return { queries: queries.rows, k, indices, distances };
  }

  /**
   * Queries per search that fill the device without splitting the training rows (the split
   * rule's target of workgroups), more when the training set is small, so that each search
   * carries GPU_SEARCH_PAIRS of work; within the device's buffers and MAX_BATCH_QUERIES.
   */
  async batchQueries(train: Matrix, k: number, metric: Metric): Promise<number> {
    const plan = this.plan(train.cols, k, metric);
    const { workgroup, queries } = plan.shader;
    const fill = (this.options.targetGroups ?? DEFAULT_KERNEL.targetGroups) * workgroup * queries;
    const wanted = Math.max(fill, Math.ceil(GPU_SEARCH_PAIRS / Math.max(1, train.rows) / fill) * fill);
    return Math.max(1, Math.min(wanted, queryChunk(plan, 1), MAX_BATCH_QUERIES));
  }

  private plan(d: number, k: number, metric: Metric): SearchPlan {
    const limits = this.device.limits;
    return planSearch(d, k, metric, this.options, {
      maxStorageBufferBindingSize: Number(limits.maxStorageBufferBindingSize),
      maxBufferSize: Number(limits.maxBufferSize),
      maxComputeWorkgroupsPerDimension: Number(limits.maxComputeWorkgroupsPerDimension),
      maxComputeWorkgroupStorageSize: Number(limits.maxComputeWorkgroupStorageSize),
    });
  }

  /**
   * The training rows on the device, pinned for the caller (who unpins them): uploaded at the
   * first search on this matrix and kept for the next ones. Undefined where they are not kept
   * (resident: false, beyond residentBytes, no room on the device even with the other sets
   * dropped, or in use in other chunks): the search then uploads them a chunk at a time.
   * Searches at once on one matrix share one upload; the lookup and the pin are in one turn, so
   * no other search drops a set between them.
   */
  private async holdTrain(train: Matrix, chunkRows: number): Promise<ResidentTrain | undefined> {
    if (this.options.resident === false) return undefined;
    const bytes = train.rows * train.cols * 4;
    if (bytes > (this.options.residentBytes ?? Infinity)) return undefined;
    for (;;) {
      const have = this.resident.get(train);
      if (have && have.chunkRows === chunkRows) {
        this.resident.delete(train);
        this.resident.set(train, have);
        have.pins++;
        return have;
      }
      const pending = this.uploading.get(train);
      if (pending) {
        // kept: looked up and pinned again in this loop's next turn; not kept (no room, or the
        // upload failed): this search uploads its rows a chunk at a time rather than retrying
        if ((await pending.catch(() => undefined)) === undefined) return undefined;
        continue;
      }
      if (have) {
        if (have.pins > 0) return undefined;
        this.dropResident(train);
      }
      const upload = this.uploadResident(train, chunkRows, bytes);
      this.uploading.set(train, upload);
      try {
        return await upload;
      } finally {
        if (this.uploading.get(train) === upload) this.uploading.delete(train);
      }
    }
  }

  /** Uploads a training set to keep, made room for; pinned once for its uploader. */
  private async uploadResident(train: Matrix, chunkRows: number, bytes: number): Promise<ResidentTrain | undefined> {
    const cap = this.options.residentBytes ?? Infinity;
    const kept = () => this.residentBytes() + this.reserved + bytes;
    for (const [t, e] of [...this.resident]) {
      if (kept() <= cap) break;
      if (e.pins === 0) this.dropResident(t);
    }
    if (kept() > cap) return undefined;
    this.reserved += bytes;
    let chunks: TrainChunk[] | undefined;
    try {
      chunks = await this.uploadChunks(train, chunkRows);
      if (!chunks && this.dropIdle() > 0) chunks = await this.uploadChunks(train, chunkRows);
    } finally {
      this.reserved -= bytes;
    }
    if (!chunks) return undefined;
    const entry: ResidentTrain = { chunkRows, chunks, bytes, pins: 1 };
    this.resident.set(train, entry);
    this.trainUploads++;
    this.trimResident();
    return entry;
  }

  /** Every chunk of a training set on the device, or undefined when the device ran out of memory. */
  private async uploadChunks(train: Matrix, chunkRows: number): Promise<TrainChunk[] | undefined> {
    const chunks: TrainChunk[] = [];
    try {
      for (const { start, rows } of chunkRanges(train.rows, chunkRows)) {
        const buffer = await this.uploadRows(train, start, rows);
        if (!buffer) {
          for (const c of chunks.splice(0)) this.destroyTrain(c.buffer);
          return undefined;
        }
        chunks.push({ buffer, start, rows });
      }
      return chunks;
    } catch (err) {
      for (const c of chunks) this.destroyTrain(c.buffer);
      throw err;
    }
  }

  /** One chunk of training rows for one search (the caller destroys it), with room made for it. */
  private async transientChunk(train: Matrix, start: number, rows: number): Promise<TrainChunk> {
    let buffer = await this.uploadRows(train, start, rows);
    if (!buffer && this.dropIdle() > 0) buffer = await this.uploadRows(train, start, rows);
    if (!buffer) throw environmentError(`the GPU ran out of memory for ${rows} training rows of ${train.rows}`, 'train on fewer rows, or use --engine cpu');
    return { buffer, start, rows };
  }

  /** Rows [start, start + rows) in float32 in a new buffer; undefined when the device is out of memory. */
  private async uploadRows(train: Matrix, start: number, rows: number): Promise<GPUBuffer | undefined> {
    const d = train.cols;
    const size = Math.max(16, rows * d * 4);
    if (!this.fits(size)) return undefined;
    const data = toF32(train.data, start * d, (start + rows) * d);
    const dev = this.device;
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    const buffer = dev.createBuffer({ label: 'flowknn-train', size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(buffer, 0, data);
    // both scopes popped in this turn: another search's scopes cannot come between
    const [validation, oom] = await Promise.all([dev.popErrorScope(), dev.popErrorScope()]);
    if (validation || oom) {
      buffer.destroy();
      this.checkAlive();
      // out of memory first: the write into the buffer that could not be made fails validation too
      if (oom) return undefined;
      throw new Error(`webgpu validation error: ${validation!.message}`);
    }
    this.allocated += size;
    return buffer;
  }

  /** Whether `size` more bytes of buffers stay within deviceBytes (always, without it). */
  private fits(size: number): boolean {
    return this.allocated + size <= (this.options.deviceBytes ?? Infinity);
  }

  /** Destroys a training rows' buffer made by uploadRows. */
  private destroyTrain(buffer: GPUBuffer): void {
    this.allocated -= buffer.size;
    buffer.destroy();
  }

  /**
   * Runs a pass; when the device ran out of memory for it and training sets no search is using
   * are kept, drops them and runs it once more.
   */
  private async withRoom<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (!OUT_OF_MEMORY.has(err as object) || this.dropIdle() === 0) throw err;
      return run();
    }
  }

  private residentBytes(): number {
    let bytes = 0;
    for (const e of this.resident.values()) bytes += e.bytes;
    return bytes;
  }

  /** Drops every kept training set no search is using; how many. */
  private dropIdle(): number {
    let dropped = 0;
    for (const [train, entry] of [...this.resident]) {
      if (entry.pins > 0) continue;
      this.dropResident(train);
      dropped++;
    }
    return dropped;
  }

  /** Drops the least recently used training sets beyond RESIDENT_SETS that no search is using. */
  private trimResident(): void {
    for (const [train, entry] of [...this.resident]) {
      if (this.resident.size <= RESIDENT_SETS) break;
      if (entry.pins === 0) this.dropResident(train);
    }
  }

  private dropResident(train: Matrix): void {
    const entry = this.resident.get(train);
    if (!entry) return;
    this.resident.delete(train);
    for (const c of entry.chunks) this.destroyTrain(c.buffer);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('webgpu engine used after dispose()');
    if (this.lost) throw environmentError(`the GPU device was lost (${this.lost})`, 'check the GPU driver (dmesg), or use --engine cpu');
  }

  /** The compiled program for a label that names everything its WGSL depends on. */
  private async pipeline(label: string, code: () => string): Promise<GPUComputePipeline> {
    let entry = this.pipelines.get(label);
    if (entry) this.pipelines.delete(label);
    else entry = await this.compile(label, code());
    this.pipelines.set(label, entry);
    while (this.pipelines.size > PIPELINE_CACHE) this.pipelines.delete(this.pipelines.keys().next().value!);
    return entry;
  }

  /** Compiles a labelled module; compilation errors come back with line and column. */
  async compile(label: string, code: string): Promise<GPUComputePipeline> {
    // each scope is popped in the turn it was pushed: searches at once do not share scopes
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label, code });
    const scoped = this.device.popErrorScope();
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    const scope = await scoped;
    if (errors.length > 0 || scope) {
      const lines = errors.map((m) => `${label}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}`);
      throw new Error(`WGSL compilation failed:\n${lines.join('\n') || scope?.message}`);
    }
    this.device.pushErrorScope('validation');
    const made = this.device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
    const popped = this.device.popErrorScope();
    const [pipeline, err] = await Promise.all([made, popped]);
    if (err) throw new Error(`pipeline ${label}: ${err.message}`);
    return pipeline;
  }

  /** One dispatch of the fused kernel (and the merge), read back. */
  private async pass(
    trainBuf: GPUBuffer,
    nTrain: number,
    queriesF32: Float32Array,
    nQueries: number,
    plan: SearchPlan,
    p: number,
    splits: number,
  ): Promise<{ idx: Uint32Array; key: Float32Array }> {
    const shader: KnnShaderParams = plan.shader;
    const { k, workgroup } = shader;
    const knn = await this.pipeline(`flowknn-knn-${shader.metric}-d${shader.d}-k${k}-wg${workgroup}-t${shader.tile}-q${shader.queries}-${shader.insertion}-${shader.form}`, () => knnShader(shader));
    const merge = splits > 1 ? await this.pipeline(`flowknn-merge-k${k}-s${MAX_SPLITS}-wg${workgroup}-q${shader.queries}`, () => mergeShader(k, MAX_SPLITS, workgroup, shader.queries)) : undefined;
    const dev = this.device;
    const groups = Math.ceil(nQueries / (workgroup * shader.queries));
    const wgX = Math.min(groups, plan.maxWorkgroups);
    const wgY = Math.ceil(groups / wgX);
    const splitRows = Math.ceil(nTrain / splits);
    const outCount = nQueries * k;
    const buffers: GPUBuffer[] = [];
    const make = (label: string, size: number, usage: number): GPUBuffer => {
      const b = dev.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
      buffers.push(b);
      this.liveBuffers++;
      return b;
    };
    // this pass's buffers: the queries, the split outputs (and the merged ones), the read back, the parameters
    const passBytes = queriesF32.byteLength + outCount * 4 * (2 * splits + (merge ? 2 : 0) + 2) + 256;
    if (!this.fits(passBytes)) throw outOfMemory(`${passBytes} bytes for a pass beyond deviceBytes`);
    this.allocated += passBytes;
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    try {
      const S = GPUBufferUsage.STORAGE;
      const queryBuf = make('flowknn-queries', queriesF32.byteLength, S | GPUBufferUsage.COPY_DST);
      const partIdx = make('flowknn-part-idx', outCount * splits * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      const partKey = make('flowknn-part-key', outCount * splits * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      // One uniform buffer for both programs: they declare the same fields.
      const paramData = packUniforms(KNN_PROGRAM, { n_queries: nQueries, n_train: nTrain, split_rows: splitRows, wg_x: wgX, p, n_splits: splits });
      const params = make('flowknn-params', paramData.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      dev.queue.writeBuffer(queryBuf, 0, queriesF32);
      dev.queue.writeBuffer(params, 0, paramData);
      let finalIdx = partIdx;
      let finalKey = partKey;
      if (this.options.poison) {
        dev.queue.writeBuffer(partIdx, 0, new Uint32Array(outCount * splits).fill(0xdeadbeef));
        dev.queue.writeBuffer(partKey, 0, new Float32Array(outCount * splits).fill(Number.NaN));
      }
      const enc = dev.createCommandEncoder({ label: 'flowknn-search' });
      const pass = enc.beginComputePass({ label: 'flowknn-knn' });
      pass.setPipeline(knn);
      pass.setBindGroup(0, dev.createBindGroup({ layout: knn.getBindGroupLayout(0), entries: bindGroupEntries(KNN_PROGRAM, { train: trainBuf, queries: queryBuf, out_idx: partIdx, out_key: partKey }, params) }));
      pass.dispatchWorkgroups(wgX, wgY, splits);
      pass.end();
      if (merge) {
        finalIdx = make('flowknn-idx', outCount * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        finalKey = make('flowknn-key', outCount * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        if (this.options.poison) {
          dev.queue.writeBuffer(finalIdx, 0, new Uint32Array(outCount).fill(0xdeadbeef));
          dev.queue.writeBuffer(finalKey, 0, new Float32Array(outCount).fill(Number.NaN));
        }
        const mergePass = enc.beginComputePass({ label: 'flowknn-merge' });
        mergePass.setPipeline(merge);
        mergePass.setBindGroup(0, dev.createBindGroup({ layout: merge.getBindGroupLayout(0), entries: bindGroupEntries(MERGE_PROGRAM, { part_idx: partIdx, part_key: partKey, out_idx: finalIdx, out_key: finalKey }, params) }));
        mergePass.dispatchWorkgroups(wgX, wgY, 1);
        mergePass.end();
      }
      const readIdx = make('flowknn-read-idx', outCount * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      const readKey = make('flowknn-read-key', outCount * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      enc.copyBufferToBuffer(finalIdx, 0, readIdx, 0, outCount * 4);
      enc.copyBufferToBuffer(finalKey, 0, readKey, 0, outCount * 4);
      const submitted = performance.now();
      dev.queue.submit([enc.finish()]);
      // both scopes popped in this turn: another search's scopes cannot come between
      const [validation, oom] = await Promise.all([dev.popErrorScope(), dev.popErrorScope()]);
      if (oom) throw outOfMemory(oom.message);
      if (validation) throw new Error(`webgpu validation error: ${validation.message}`);
      try {
        await Promise.all([readIdx.mapAsync(GPUMapMode.READ), readKey.mapAsync(GPUMapMode.READ)]);
      } catch (err) {
        this.checkAlive();
        throw environmentError(`reading results from the GPU failed: ${(err as Error).message}`, 'use --engine cpu');
      }
      this.deviceMs += performance.now() - submitted;
      const idx = new Uint32Array(readIdx.getMappedRange().slice(0));
      const key = new Float32Array(readKey.getMappedRange().slice(0));
      readIdx.unmap();
      readKey.unmap();
      if (this.options.poison) {
        for (let i = 0; i < idx.length; i++) {
          if (idx[i] === 0xdeadbeef || Number.isNaN(key[i]!)) throw new Error(`webgpu output slot ${i} was not written`);
        }
      }
      return { idx, key };
    } catch (err) {
      this.checkAlive();
      throw err;
    } finally {
      for (const b of buffers) b.destroy();
      this.liveBuffers -= buffers.length;
      this.allocated -= passBytes;
    }
  }

  /**
   * GPU buffers of passes alive now (0 between searches), compiled pipelines (bounded by shapes
   * used), the milliseconds spent from submitting passes to their results being readable
   * (uploads, kernels and the copy back; host work excluded) summed over the engine's life, the
   * training sets kept on the device (sets, buffers, bytes) and how many uploads of training rows
   * there were in all (a set kept, or one search's rows uploaded a chunk at a time).
   */
  stats(): { liveBuffers: number; pipelines: number; deviceMs: number; resident: { sets: number; buffers: number; bytes: number }; trainUploads: number } {
    let buffers = 0;
    let bytes = 0;
    for (const e of this.resident.values()) {
      buffers += e.chunks.length;
      bytes += e.bytes;
    }
    return { liveBuffers: this.liveBuffers, pipelines: this.pipelines.size, deviceMs: this.deviceMs, resident: { sets: this.resident.size, buffers, bytes }, trainUploads: this.trainUploads };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.pipelines.clear();
    for (const train of [...this.resident.keys()]) this.dropResident(train);
    this.device.destroy();
    // The GPU object must outlive the device: drop it only now.
    void this.gpu;
  }
}

/**
 * The dot form's candidates re-ranked exactly: squared euclidean distances in float64 from the
 * original rows, ordered by distance then training index (the kernel's own keys carry the
 * form's cancellation error).
 */
function rerank(
  pass: { idx: Uint32Array; key: Float32Array },
  kb: number,
  train: Float64Array,
  trainStart: number,
  queries: Float64Array,
  q0: number,
  nq: number,
  d: number,
): { idx: Uint32Array; key: Float64Array } {
  const out = { idx: new Uint32Array(pass.idx.length), key: new Float64Array(pass.key.length) };
  const order: { i: number; key: number }[] = [];
  for (let q = 0; q < nq; q++) {
    order.length = 0;
    const qo = (q0 + q) * d;
    for (let j = 0; j < kb; j++) {
      const i = pass.idx[q * kb + j]!;
      if (i === NONE) continue;
      const to = (trainStart + i) * d;
      let key = 0;
      for (let c = 0; c < d; c++) {
        const g = queries[qo + c]! - train[to + c]!;
        key += g * g;
      }
      order.push({ i, key });
    }
    order.sort((a, b) => a.key - b.key || a.i - b.i);
    for (let j = 0; j < kb; j++) {
      out.idx[q * kb + j] = j < order.length ? order[j]!.i : NONE;
      out.key[q * kb + j] = j < order.length ? order[j]!.key : 0;
    }
  }
  return out;
}

/** The error of a pass the device had no memory for, marked for withRoom. */
function outOfMemory(detail: string): Error {
  const err = environmentError(`the GPU ran out of memory (${detail})`, 'classify fewer rows at once, or use --engine cpu');
  OUT_OF_MEMORY.add(err);
  return err;
}

/** A training set's rows cut into chunks of at most chunkRows. */
function chunkRanges(rows: number, chunkRows: number): { start: number; rows: number }[] {
  const out: { start: number; rows: number }[] = [];
  for (let start = 0; start < rows; start += chunkRows) out.push({ start, rows: Math.min(chunkRows, rows - start) });
  return out;
}

function toF32(data: Float64Array, from: number, to: number): Float32Array {
  const out = new Float32Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = data[i]!;
  return out;
}

/** Joins per-chunk top-k lists (each ordered) into one, by key then training index. */
function mergeChunks(parts: { idx: Int32Array; key: Float64Array }[], queries: number, k: number, outIdx: Int32Array, outKey: Float64Array): void {
  const heads = new Int32Array(parts.length);
  for (let q = 0; q < queries; q++) {
    heads.fill(0);
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let s = 0; s < parts.length; s++) {
        const h = heads[s]!;
        if (h >= k) continue;
        const i = parts[s]!.idx[q * k + h]!;
        if (i < 0) continue;
        const key = parts[s]!.key[q * k + h]!;
        if (best < 0) {
          best = s;
          continue;
        }
        const bk = parts[best]!.key[q * k + heads[best]!]!;
        const bi = parts[best]!.idx[q * k + heads[best]!]!;
        if (key < bk || (key === bk && i < bi)) best = s;
      }
      outIdx[q * k + j] = best < 0 ? -1 : parts[best]!.idx[q * k + heads[best]!]!;
      outKey[q * k + j] = best < 0 ? 0 : parts[best]!.key[q * k + heads[best]!]!;
      if (best >= 0) heads[best]!++;
    }
  }
}
