/// <reference types="@webgpu/types" />
import { environmentError, FlowknnError } from '../../errors.js';
import type { Matrix } from '../../matrix.js';
import { METRICS, type EngineCapabilities, type EngineProbe, type KnnEngine, type Metric, type Neighbours } from '../engine.js';
import { validateSearch } from '../validate.js';
import { knnShader, mergeShader, type KnnShaderParams } from './shaders.js';

/** The largest k the kernel keeps in private memory; a larger k goes to the CPU engine. */
export const WEBGPU_MAX_K = 128;
/** Most training splits merged per query (the merge kernel's head array). */
const MAX_SPLITS = 64;
/** Compiled pipelines kept (least recently used go first): bounds memory in long runs. */
const PIPELINE_CACHE = 96;

/**
 * The kernel keeps a power-of-two number of neighbours (k = 5 runs the K = 8 kernel and
 * reads the first 5), so a long run over many k compiles few pipelines: compiling is slow
 * on some drivers (tens to hundreds of ms on lavapipe), a longer list costs little.
 */
export function kernelK(k: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, k)));
}
const NONE = 0xffffffff;

/**
 * The kernel variant a search uses unless options say otherwise. Chosen by measurement
 * (bench/gpu-grid.ts, recorded in bench/RESULTS.md): see the figures there.
 */
export const DEFAULT_KERNEL = {
  workgroup: 64,
  tile: 256,
  queriesPerInvocation: 1,
  insertion: 'loop',
  form: 'diff',
  targetGroups: 2048,
} as const satisfies { workgroup: number; tile: number; queriesPerInvocation: number; insertion: KnnShaderParams['insertion']; form: KnnShaderParams['form']; targetGroups: number };

export interface WebGpuOptions {
  /** Accept a software adapter (lavapipe, llvmpipe, SwiftShader). `auto` does not. */
  allowSoftware?: boolean;
  /** Invocations per workgroup (default: DEFAULT_KERNEL). */
  workgroup?: number;
  /** Training rows staged per step through workgroup memory (default: DEFAULT_KERNEL, within the device's limit). */
  tile?: number;
  /** Queries each invocation owns: 1, 2 or 4 (default: DEFAULT_KERNEL). */
  queriesPerInvocation?: number;
  /** Top-k insertion (default: DEFAULT_KERNEL). */
  insertion?: KnnShaderParams['insertion'];
  /** Euclidean key form (default: DEFAULT_KERNEL). */
  form?: KnnShaderParams['form'];
  /** Workgroups the split rule aims for when queries alone are too few to fill the device (default: DEFAULT_KERNEL). */
  targetGroups?: number;
  /** Training splits per query (default: the split rule, from targetGroups). */
  splits?: number;
  /** Cap on any one buffer, below the device's own limits (tests use it to force chunking). */
  maxBufferBytes?: number;
  /** Fill outputs with a sentinel before each pass and check none is left (tests). */
  poison?: boolean;
  /** Where a search the GPU kernel cannot do (k > WEBGPU_MAX_K) goes, with a logged reason. */
  fallback?: KnnEngine;
  log?: (message: string) => void;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  software: boolean;
  limits: Record<string, number>;
}

interface Pipelines {
  knn: GPUComputePipeline;
  merge?: GPUComputePipeline;
}

/** Dawn through the `webgpu` npm package (prebuilt; Vulkan on Linux, Metal, D3D12). */
async function loadDawn(): Promise<{ create: (options: string[]) => GPU; globals: object }> {
  try {
    return (await import('webgpu')) as unknown as { create: (options: string[]) => GPU; globals: object };
  } catch (err) {
    throw environmentError(`the webgpu package (Dawn) cannot be loaded: ${(err as Error).message}`, 'reinstall with npm ci; on Linux a Vulkan driver is needed (libvulkan1 and a GPU driver, or mesa-vulkan-drivers for a software one)');
  }
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const software = info.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|software/iu.test(text);
  const limits: Record<string, number> = {};
  for (const key of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize']) {
    limits[key] = Number((adapter.limits as unknown as Record<string, number>)[key]);
  }
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software, limits };
}

/**
 * Exact kNN on the GPU in float32: one fused kernel per pass (distances from differences,
 * running top-k in private memory, training rows staged through workgroup memory), plus a
 * merge kernel when the training rows are split across workgroups. Ties go to the lower
 * training index, as on the CPU.
 *
 * Lifetimes: the GPU object from Dawn's create() is held by the engine for as long as its
 * device lives (if it is garbage-collected while the device is in use, the process crashes);
 * buffers live for one search and are destroyed in `finally`; pipelines live in the engine's
 * cache until dispose().
 */
export class WebGpuEngine implements KnnEngine {
  readonly name = 'webgpu' as const;
  readonly capabilities: EngineCapabilities = { metrics: METRICS, maxK: WEBGPU_MAX_K, precision: 'f32' };
  private readonly pipelines = new Map<string, Pipelines>();
  private lost?: string;
  private disposed = false;
  private liveBuffers = 0;
  private fallbackLogged = false;
  private deviceMs = 0;

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
    const dawn = await loadDawn();
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw environmentError('no WebGPU adapter found', 'install a GPU driver with Vulkan support (or mesa-vulkan-drivers for a software adapter), or use --engine cpu');
    const described = describeAdapter(adapter);
    if (described.software && !options.allowSoftware) {
      throw environmentError(`only a software WebGPU adapter is available (${described.description})`, 'name it with --engine webgpu to use it anyway, or use --engine cpu');
    }
    const wanted = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupStorageSize'] as const;
    const requiredLimits: Record<string, number> = {};
    for (const key of wanted) requiredLimits[key] = Number((adapter.limits as unknown as Record<string, number>)[key]);
    const device = await adapter.requestDevice({ label: 'flowknn', requiredLimits });
    return new WebGpuEngine(gpu, described, device, options);
  }

  /** Whether an adapter is there and what it is, without keeping a device. */
  static async probe(): Promise<EngineProbe> {
    try {
      const dawn = await loadDawn();
      Object.assign(globalThis, dawn.globals);
      const gpu = dawn.create([]);
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) return { name: 'webgpu', usable: false, reason: 'no WebGPU adapter (no Vulkan/Metal/D3D12 driver found)', details: {} };
      const d = describeAdapter(adapter);
      return {
        name: 'webgpu',
        usable: true,
        reason: d.software ? 'software adapter: used only with --engine webgpu, never by auto' : undefined,
        details: { ...d },
      };
    } catch (err) {
      return { name: 'webgpu', usable: false, reason: err instanceof FlowknnError ? err.message : String(err), details: {} };
    }
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    validateSearch(train, queries, k, metric);
    if (k > WEBGPU_MAX_K) {
      if (!this.options.fallback) throw new RangeError(`k = ${k} exceeds the webgpu engine's ${WEBGPU_MAX_K} and no fallback engine was given`);
      if (!this.fallbackLogged) this.options.log?.(`webgpu: k = ${k} is more than the ${WEBGPU_MAX_K} neighbours the GPU kernel keeps; such searches run on the ${this.options.fallback.name} engine`);
      this.fallbackLogged = true;
      return this.options.fallback.search(train, queries, k, metric);
    }
    this.checkAlive();
    const d = train.cols;
    const limits = this.device.limits;
    const cap = Math.min(Number(limits.maxStorageBufferBindingSize), Number(limits.maxBufferSize), this.options.maxBufferBytes ?? Infinity);
    const maxWg = Number(limits.maxComputeWorkgroupsPerDimension);
    const workgroup = this.options.workgroup ?? DEFAULT_KERNEL.workgroup;
    const qpi = this.options.queriesPerInvocation ?? DEFAULT_KERNEL.queriesPerInvocation;
    if (![1, 2, 4].includes(qpi)) throw new RangeError(`queriesPerInvocation must be 1, 2 or 4, not ${qpi}`);
    const form = metric.name === 'euclidean' || metric.name === 'sqeuclidean' ? (this.options.form ?? DEFAULT_KERNEL.form) : 'diff';
    const insertion = this.options.insertion ?? DEFAULT_KERNEL.insertion;
    // The dot form ranks approximately: it keeps a few more candidates than asked and the host
    // re-ranks them exactly.
    const kb = form === 'dot' ? kernelK(k + Math.max(3, Math.ceil(k / 2))) : kernelK(k);
    const rowBytes = 4 * d + (metric.name === 'cosine' || form === 'dot' ? 4 : 0);
    const tile = Math.max(1, Math.min(this.options.tile ?? DEFAULT_KERNEL.tile, Math.floor(Number(limits.maxComputeWorkgroupStorageSize) / rowBytes)));
    // Training rows per chunk: the largest whole number of rows one buffer holds.
    const trainChunk = Math.max(1, Math.floor(cap / (4 * d)));
    // Queries per chunk: their rows, and the outputs of every split, must fit one buffer.
    const indices = new Int32Array(queries.rows * k);
    const keys = new Float64Array(queries.rows * k);
    const chunks: { start: number; end: number }[] = [];
    for (let start = 0; start < train.rows; start += trainChunk) chunks.push({ start, end: Math.min(train.rows, start + trainChunk) });
    const partial = chunks.length > 1 ? chunks.map(() => ({ idx: new Int32Array(queries.rows * k), key: new Float64Array(queries.rows * k) })) : undefined;
    for (const [c, chunk] of chunks.entries()) {
      const rows = chunk.end - chunk.start;
      const trainF32 = toF32(train.data, chunk.start * d, chunk.end * d);
      const splits = this.splitsFor(rows, queries.rows, workgroup * qpi, tile, kb);
      const queryChunk = Math.max(1, Math.min(Math.floor(cap / (4 * d)), Math.floor(cap / (4 * kb * splits)), maxWg * maxWg * workgroup * qpi));
      for (let q0 = 0; q0 < queries.rows; q0 += queryChunk) {
        const q1 = Math.min(queries.rows, q0 + queryChunk);
        const shader: KnnShaderParams = { metric: metric.name, d, k: kb, workgroup, tile, queries: qpi, insertion, form };
        const pass = await this.pass(trainF32, rows, toF32(queries.data, q0 * d, q1 * d), q1 - q0, shader, metric.p ?? 2, splits, maxWg);
        const out = form === 'dot' ? rerank(pass, kb, train.data, chunk.start, queries.data, q0, q1 - q0, d) : pass;
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
    }
    if (partial) mergeChunks(partial, queries.rows, k, indices, keys);
    const distances = new Float64Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      if (indices[i]! < 0) throw new Error(`webgpu search left neighbour slot ${i} empty`);
      distances[i] = metric.name === 'euclidean' ? Math.sqrt(keys[i]!) : metric.name === 'minkowski' ? keys[i]! ** (1 / metric.p!) : keys[i]!;
    }
    return { queries: queries.rows, k, indices, distances };
  }

  /**
   * Training splits per query: enough workgroups to keep a large GPU busy when queries are
   * few (each split scans its own range of rows; the merge joins their top-k lists), but each
   * split at least a few tiles long, and at most MAX_SPLITS.
   */
  private splitsFor(rows: number, queries: number, queriesPerGroup: number, tile: number, k: number): number {
    if (this.options.splits !== undefined) return Math.max(1, Math.min(MAX_SPLITS, this.options.splits, rows));
    const queryGroups = Math.ceil(queries / queriesPerGroup);
    const wanted = Math.ceil((this.options.targetGroups ?? DEFAULT_KERNEL.targetGroups) / queryGroups);
    return Math.max(1, Math.min(MAX_SPLITS, wanted, Math.floor(rows / Math.max(4 * tile, k))));
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('webgpu engine used after dispose()');
    if (this.lost) throw environmentError(`the GPU device was lost (${this.lost})`, 'check the GPU driver (dmesg), or use --engine cpu');
  }

  /** Pipelines by everything that changes the WGSL text; most recently used last. */
  private async pipelinesFor(p: KnnShaderParams, splits: number): Promise<Pipelines> {
    const key = JSON.stringify(p);
    let entry = this.pipelines.get(key);
    if (entry) this.pipelines.delete(key);
    else entry = { knn: await this.compile(`flowknn-knn-${p.metric}-d${p.d}-k${p.k}-wg${p.workgroup}-t${p.tile}-q${p.queries}-${p.insertion}-${p.form}`, knnShader(p)) };
    if (splits > 1 && !entry.merge) entry.merge = await this.compile(`flowknn-merge-k${p.k}-wg${p.workgroup}-q${p.queries}`, mergeShader(p.k, MAX_SPLITS, p.workgroup, p.queries));
    this.pipelines.set(key, entry);
    while (this.pipelines.size > PIPELINE_CACHE) this.pipelines.delete(this.pipelines.keys().next().value!);
    return entry;
  }

  /** Compiles a labelled module; compilation errors come back with line and column. */
  async compile(label: string, code: string): Promise<GPUComputePipeline> {
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    const scope = await this.device.popErrorScope();
    if (errors.length > 0 || scope) {
      const lines = errors.map((m) => `${label}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}`);
      throw new Error(`WGSL compilation failed:\n${lines.join('\n') || scope?.message}`);
    }
    this.device.pushErrorScope('validation');
    const pipeline = await this.device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
    const err = await this.device.popErrorScope();
    if (err) throw new Error(`pipeline ${label}: ${err.message}`);
    return pipeline;
  }

  /** One dispatch of the fused kernel (and the merge), read back. */
  private async pass(
    trainF32: Float32Array,
    nTrain: number,
    queriesF32: Float32Array,
    nQueries: number,
    shader: KnnShaderParams,
    p: number,
    splits: number,
    maxWg: number,
  ): Promise<{ idx: Uint32Array; key: Float32Array }> {
    const { k, workgroup } = shader;
    const pipes = await this.pipelinesFor(shader, splits);
    const dev = this.device;
    const groups = Math.ceil(nQueries / (workgroup * shader.queries));
    const wgX = Math.min(groups, maxWg);
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
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    try {
      const S = GPUBufferUsage.STORAGE;
      const trainBuf = make('flowknn-train', trainF32.byteLength, S | GPUBufferUsage.COPY_DST);
      const queryBuf = make('flowknn-queries', queriesF32.byteLength, S | GPUBufferUsage.COPY_DST);
      const partIdx = make('flowknn-part-idx', outCount * splits * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      const partKey = make('flowknn-part-key', outCount * splits * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      const params = make('flowknn-params', 32, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      dev.queue.writeBuffer(trainBuf, 0, trainF32);
      dev.queue.writeBuffer(queryBuf, 0, queriesF32);
      const paramData = new ArrayBuffer(32);
      new Uint32Array(paramData, 0, 4).set([nQueries, nTrain, splitRows, wgX]);
      new Float32Array(paramData, 16, 1)[0] = p;
      new Uint32Array(paramData, 20, 1)[0] = splits;
      dev.queue.writeBuffer(params, 0, paramData);
      let finalIdx = partIdx;
      let finalKey = partKey;
      if (this.options.poison) {
        dev.queue.writeBuffer(partIdx, 0, new Uint32Array(outCount * splits).fill(0xdeadbeef));
        dev.queue.writeBuffer(partKey, 0, new Float32Array(outCount * splits).fill(Number.NaN));
      }
      const enc = dev.createCommandEncoder({ label: 'flowknn-search' });
      const pass = enc.beginComputePass({ label: 'flowknn-knn' });
      pass.setPipeline(pipes.knn);
      pass.setBindGroup(
        0,
        dev.createBindGroup({
          layout: pipes.knn.getBindGroupLayout(0),
          entries: [trainBuf, queryBuf, partIdx, partKey, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      );
      pass.dispatchWorkgroups(wgX, wgY, splits);
      pass.end();
      if (splits > 1) {
        finalIdx = make('flowknn-idx', outCount * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        finalKey = make('flowknn-key', outCount * 4, S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        if (this.options.poison) {
          dev.queue.writeBuffer(finalIdx, 0, new Uint32Array(outCount).fill(0xdeadbeef));
          dev.queue.writeBuffer(finalKey, 0, new Float32Array(outCount).fill(Number.NaN));
        }
        const merge = enc.beginComputePass({ label: 'flowknn-merge' });
        merge.setPipeline(pipes.merge!);
        merge.setBindGroup(
          0,
          dev.createBindGroup({
            layout: pipes.merge!.getBindGroupLayout(0),
            entries: [partIdx, partKey, finalIdx, finalKey, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
          }),
        );
        merge.dispatchWorkgroups(wgX, wgY, 1);
        merge.end();
      }
      const readIdx = make('flowknn-read-idx', outCount * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      const readKey = make('flowknn-read-key', outCount * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      enc.copyBufferToBuffer(finalIdx, 0, readIdx, 0, outCount * 4);
      enc.copyBufferToBuffer(finalKey, 0, readKey, 0, outCount * 4);
      const submitted = performance.now();
      dev.queue.submit([enc.finish()]);
      const validation = await dev.popErrorScope();
      const oom = await dev.popErrorScope();
      if (oom) throw environmentError(`the GPU ran out of memory (${oom.message})`, 'classify fewer rows at once, or use --engine cpu');
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
    }
  }

  /**
   * GPU buffers alive now (0 between searches), compiled pipelines (bounded by shapes used), and
   * the milliseconds spent from submitting passes to their results being readable (uploads,
   * kernels and the copy back; host work excluded), summed over the engine's life.
   */
  stats(): { liveBuffers: number; pipelines: number; deviceMs: number } {
    return { liveBuffers: this.liveBuffers, pipelines: this.pipelines.size, deviceMs: this.deviceMs };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.pipelines.clear();
    await this.options.fallback?.dispose();
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
