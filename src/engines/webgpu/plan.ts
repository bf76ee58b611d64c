import type { Metric } from '../engine.js';
import { metricSpec } from '../metrics.js';
import type { KnnShaderParams } from './shaders.js';

/** The largest k the kernel keeps in private memory; a larger k goes to the fallback engine. */
export const WEBGPU_MAX_K = 128;
/** Most training splits merged per query (the merge kernel's head array). */
export const MAX_SPLITS = 64;

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
} as const satisfies Required<KernelOptions>;

/** The kernel's tunables (WebGpuOptions carries them; unset ones come from DEFAULT_KERNEL). */
export interface KernelOptions {
  /** Invocations per workgroup. */
  workgroup?: number;
  /** Training rows staged per step through workgroup memory (capped by the device's limit). */
  tile?: number;
  /** Queries each invocation owns: 1, 2 or 4. */
  queriesPerInvocation?: number;
  /** Top-k insertion. */
  insertion?: KnnShaderParams['insertion'];
  /** Euclidean key form (the dot form re-ranks on the host; other metrics always use diff). */
  form?: KnnShaderParams['form'];
  /** Workgroups the split rule aims for when queries alone are too few to fill the device. */
  targetGroups?: number;
}

/** What a search needs of the device's limits. */
export interface DeviceLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeWorkgroupStorageSize: number;
}

/**
 * The kernel keeps a power-of-two number of neighbours (k = 5 runs the K = 8 kernel and
 * reads the first 5), so a long run over many k compiles few pipelines: compiling is slow
 * on some drivers (tens to hundreds of ms on lavapipe), a longer list costs little.
 */
export function kernelK(k: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, k)));
}

export interface SearchPlan {
  /** The kernel's text parameters (k is the kept list's length, a power of two >= k). */
  readonly shader: KnnShaderParams;
  /** Training rows per chunk: the largest whole number of rows one buffer holds. */
  readonly trainChunk: number;
  readonly maxWorkgroups: number;
  /** Bytes any one buffer may hold. */
  readonly bufferCap: number;
}

/** The kernel, tile and chunk sizes for a search of d features and k neighbours. */
export function planSearch(d: number, k: number, metric: Metric, options: KernelOptions & { maxBufferBytes?: number }, limits: DeviceLimits): SearchPlan {
  const workgroup = options.workgroup ?? DEFAULT_KERNEL.workgroup;
  const queries = options.queriesPerInvocation ?? DEFAULT_KERNEL.queriesPerInvocation;
  if (![1, 2, 4].includes(queries)) throw new RangeError(`queriesPerInvocation must be 1, 2 or 4, not ${queries}`);
  const family = metricSpec(metric).family;
  const form = family === 'squares' ? (options.form ?? DEFAULT_KERNEL.form) : 'diff';
  // The dot form ranks approximately: it keeps a few more candidates than asked and the host
  // re-ranks them exactly.
  const kb = form === 'dot' ? kernelK(k + Math.max(3, Math.ceil(k / 2))) : kernelK(k);
  const rowBytes = 4 * d + (family === 'angle' || form === 'dot' ? 4 : 0);
  const tile = Math.max(1, Math.min(options.tile ?? DEFAULT_KERNEL.tile, Math.floor(limits.maxComputeWorkgroupStorageSize / rowBytes)));
  const bufferCap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, options.maxBufferBytes ?? Infinity);
  return {
    shader: { metric: metric.name, d, k: kb, workgroup, tile, queries, insertion: options.insertion ?? DEFAULT_KERNEL.insertion, form },
    trainChunk: Math.max(1, Math.floor(bufferCap / (4 * d))),
    maxWorkgroups: limits.maxComputeWorkgroupsPerDimension,
    bufferCap,
  };
}

/**
 * Training splits per query: enough workgroups to keep a large GPU busy when queries are few
 * (each split scans its own range of rows; the merge joins their top-k lists), but each split
 * at least a few tiles long, and at most MAX_SPLITS. `fixed` overrides the rule (tests).
 */
export function splitsFor(plan: SearchPlan, rows: number, queries: number, targetGroups: number, fixed?: number): number {
  if (fixed !== undefined) return Math.max(1, Math.min(MAX_SPLITS, fixed, rows));
  const { workgroup, queries: perInvocation, tile, k } = plan.shader;
  const queryGroups = Math.ceil(queries / (workgroup * perInvocation));
  const wanted = Math.ceil(targetGroups / queryGroups);
  return Math.max(1, Math.min(MAX_SPLITS, wanted, Math.floor(rows / Math.max(4 * tile, k))));
}

/** Queries per pass: their rows, and the outputs of every split, must fit one buffer. */
export function queryChunk(plan: SearchPlan, splits: number): number {
  const { d, k, workgroup, queries } = plan.shader;
  const w = plan.maxWorkgroups;
  return Math.max(1, Math.min(Math.floor(plan.bufferCap / (4 * d)), Math.floor(plan.bufferCap / (4 * k * splits)), w * w * workgroup * queries));
}
