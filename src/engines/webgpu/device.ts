/// <reference types="@webgpu/types" />
import { environmentError, FlowknnError } from '../../errors.js';
import type { EngineProbe } from '../engine.js';

/** The adapter a device was opened on, for logs, manifests and `flowknn engines`. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  software: boolean;
  limits: Record<string, number>;
}

/** Limits asked of the device at their adapter's values (the defaults are far lower). */
const REQUIRED_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupStorageSize'] as const;
const DESCRIBED_LIMITS = [...REQUIRED_LIMITS, 'maxComputeInvocationsPerWorkgroup'] as const;

/** Dawn through the `webgpu` npm package (prebuilt; Vulkan on Linux, Metal, D3D12). */
async function loadDawn(): Promise<GPU> {
  let dawn: { create: (options: string[]) => GPU; globals: object };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (err) {
    throw environmentError(`the webgpu package (Dawn) cannot be loaded: ${(err as Error).message}`, 'reinstall with npm ci; on Linux a Vulkan driver is needed (libvulkan1 and a GPU driver, or mesa-vulkan-drivers for a software one)');
  }
  Object.assign(globalThis, dawn.globals);
  return dawn.create([]);
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const software = info.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|software/iu.test(text);
  const limits: Record<string, number> = {};
  for (const key of DESCRIBED_LIMITS) limits[key] = Number((adapter.limits as unknown as Record<string, number>)[key]);
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software, limits };
}

/**
 * A device on the high-performance adapter. The GPU object must be kept referenced as long as
 * the device is in use: if it is garbage-collected, the process crashes.
 */
export async function openDevice(allowSoftware: boolean): Promise<{ gpu: GPU; adapter: AdapterDescription; device: GPUDevice }> {
  const gpu = await loadDawn();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw environmentError('no WebGPU adapter found', 'install a GPU driver with Vulkan support (or mesa-vulkan-drivers for a software adapter), or use --engine cpu');
  const described = describeAdapter(adapter);
  if (described.software && !allowSoftware) {
    throw environmentError(`only a software WebGPU adapter is available (${described.description})`, 'name it with --engine webgpu to use it anyway, or use --engine cpu');
  }
  const requiredLimits: Record<string, number> = {};
  for (const key of REQUIRED_LIMITS) requiredLimits[key] = Number((adapter.limits as unknown as Record<string, number>)[key]);
  const device = await adapter.requestDevice({ label: 'flowknn', requiredLimits });
  return { gpu, adapter: described, device };
}

/** Whether an adapter is there and what it is, without keeping a device. */
export async function probeWebGpu(): Promise<EngineProbe> {
  try {
    const gpu = await loadDawn();
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
