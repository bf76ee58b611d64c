import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { environmentError, usageError, excerpt } from '../../errors.js';

/**
 * Which TensorFlow.js backend the tfjs engine runs on, and why the others were not used.
 *
 * Order (first that works wins): `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (both
 * optional and not dependencies of flowknn: their install downloads libtensorflow, which
 * machines without internet cannot do; both register the backend named "tensorflow"), then
 * `@tensorflow/tfjs-backend-webgpu` over Dawn (the `webgpu` npm package) on a hardware
 * adapter only, then `@tensorflow/tfjs-backend-cpu`. A software WebGPU adapter (Mesa's
 * lavapipe/llvmpipe, SwiftShader) is used only when asked for by name (backend 'webgpu').
 *
 * TensorFlow.js keeps one engine per process (its backends, kernels and tensors are global),
 * so everything here is module state: a backend is initialised once and stays for the process.
 */

export const TFJS_BACKENDS = ['tensorflow', 'webgpu', 'cpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];

/** One candidate looked at: its package, whether it can be used, and why (not). */
export interface BackendAttempt {
  readonly name: string;
  readonly ok: boolean;
  readonly reason: string;
}

export interface BackendSelection {
  /** The backend chosen, or undefined when none could run (the tried list says why). */
  readonly backend?: TfjsBackendName;
  /** The package that provides it. */
  readonly package?: string;
  readonly tried: readonly BackendAttempt[];
  /** Adapter and limits when the backend is webgpu. */
  readonly device?: WebGpuDeviceInfo;
}

export interface WebGpuDeviceInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly software: boolean;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
}

const NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';
const CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';

// TensorFlow.js prints advice ("install our node backend...") to stderr on first use; PROD
// silences its console warnings (it also turns off debug mode, which flowknn never uses).
tf.env().set('PROD', true);

interface Outcome {
  ok: boolean;
  reason: string;
  device?: WebGpuDeviceInfo;
}

const nodeOutcomes = new Map<string, Promise<Outcome>>();
let webgpuAdapter: Promise<Outcome> | undefined;
let webgpuInit: Promise<Outcome> | undefined;
let cpuInit: Promise<Outcome> | undefined;
/** The package that registered the "tensorflow" backend, once one did. */
let tensorflowPackage: string | undefined;

/**
 * The Dawn GPU object behind navigator.gpu. It must stay referenced as long as any device made
 * from it is in use: if it is garbage-collected, the process segfaults. Module state lives as
 * long as the process, and the webgpu backend, once initialised, does too.
 */
let dawnGpu: unknown;

/** The Dawn GPU object in use (kept referenced by engines on the webgpu backend too). */
export function dawnGpuObject(): unknown {
  return dawnGpu;
}

export function parseBackendName(name: string | undefined): TfjsBackendName | undefined {
  if (name === undefined || name === 'auto') return undefined;
  if ((TFJS_BACKENDS as readonly string[]).includes(name)) return name as TfjsBackendName;
  throw usageError(`unknown tfjs backend "${excerpt(name)}"`, `choose one of auto, ${TFJS_BACKENDS.join(', ')}`);
}

/**
 * Picks the backend: `requested` forces one (and fails with the reason if it cannot run, a
 * software WebGPU adapter included); undefined walks the order above. Initialises the chosen
 * backend (tf.setBackend) so that a later search cannot fail on initialisation.
 */
export async function selectBackend(requested?: TfjsBackendName): Promise<BackendSelection> {
  const tried: BackendAttempt[] = [];
  const wants = (b: TfjsBackendName) => requested === undefined || requested === b;

  if (wants('tensorflow')) {
    for (const pkg of NODE_PACKAGES) {
      const o = await tryNodePackage(pkg);
      tried.push({ name: pkg, ok: o.ok, reason: o.reason });
      if (o.ok) return finish({ backend: 'tensorflow', package: pkg, tried }, requested);
    }
  }
  if (wants('webgpu')) {
    const o = await tryWebGpu(requested === 'webgpu');
    tried.push({ name: WEBGPU_PACKAGE, ok: o.ok, reason: o.reason });
    if (o.ok) return finish({ backend: 'webgpu', package: WEBGPU_PACKAGE, tried, device: o.device }, requested);
  }
  if (wants('cpu')) {
    const o = await tryCpu();
    tried.push({ name: CPU_PACKAGE, ok: o.ok, reason: o.reason });
    if (o.ok) return finish({ backend: 'cpu', package: CPU_PACKAGE, tried }, requested);
  }
  return { tried };
}

function finish(selection: BackendSelection, requested: TfjsBackendName | undefined): BackendSelection {
  // Name the candidates after the chosen one, so a probe lists every backend with a reason.
  const tried = [...selection.tried];
  if (requested === undefined) {
    const names = [...NODE_PACKAGES, WEBGPU_PACKAGE, CPU_PACKAGE];
    for (const name of names) {
      if (!tried.some((t) => t.name === name)) tried.push({ name, ok: false, reason: `not tried: ${selection.package} comes first` });
    }
  }
  return { ...selection, tried };
}

/** Like selectBackend, but throws an environment error saying why when nothing can run. */
export async function requireBackend(requested?: TfjsBackendName): Promise<BackendSelection & { backend: TfjsBackendName }> {
  const sel = await selectBackend(requested);
  if (sel.backend === undefined) {
    const why = sel.tried.map((t) => `${t.name}: ${t.reason}`).join('; ');
    throw environmentError(
      requested ? `tfjs backend "${requested}" cannot run here: ${why}` : `no TensorFlow.js backend can run here: ${why}`,
      requested ? 'leave the tfjs backend to auto, or use the cpu engine' : 'use the cpu engine',
    );
  }
  return sel as BackendSelection & { backend: TfjsBackendName };
}

/** Makes `name` TensorFlow.js's active backend (it is one per process). */
export async function activateBackend(name: TfjsBackendName): Promise<void> {
  if (tf.engine().backendName === name && tf.engine().registry[name] !== undefined) return;
  if (!(await tf.setBackend(name))) throw environmentError(`TensorFlow.js could not switch to its ${name} backend`);
}

function isModuleNotFound(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes(pkg);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
}

function tryNodePackage(pkg: string): Promise<Outcome> {
  let p = nodeOutcomes.get(pkg);
  if (!p) {
    p = (async (): Promise<Outcome> => {
      if (tensorflowPackage !== undefined && tensorflowPackage !== pkg) {
        return { ok: false, reason: `not loaded: ${tensorflowPackage} already provides the tensorflow backend` };
      }
      try {
        // A variable specifier: these packages are optional, not dependencies.
        const spec: string = pkg;
        await import(spec);
      } catch (err) {
        if (isModuleNotFound(err, pkg)) {
          return { ok: false, reason: `not installed (optional: \`npm install ${pkg}\` downloads libtensorflow at install)` };
        }
        return { ok: false, reason: `installed but failed to load: ${firstLine(err)}` };
      }
      if (tf.findBackendFactory('tensorflow') === null) {
        return { ok: false, reason: 'loaded, but registered no "tensorflow" backend with this copy of @tensorflow/tfjs-core (version mismatch?)' };
      }
      const init = await initialise('tensorflow');
      if (init.ok) tensorflowPackage = pkg;
      return init.ok ? { ok: true, reason: `libtensorflow through ${pkg}` } : init;
    })();
    nodeOutcomes.set(pkg, p);
  }
  return p;
}

/** Runs tf.setBackend, capturing the warning TensorFlow.js prints when initialisation fails. */
async function initialise(name: TfjsBackendName): Promise<Outcome> {
  const previous = tf.engine().backendName;
  const warnings: string[] = [];
  const warn = console.warn;
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', false); // let tfjs's own warning through to us
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  let ok = false;
  let thrown: unknown;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    thrown = err;
  } finally {
    console.warn = warn;
    tf.env().set('PROD', prod);
  }
  if (ok) return { ok: true, reason: 'initialised' };
  // A failed setBackend leaves tfjs pointing at a backend with no instance: point it back.
  await tf.setBackend(previous && tf.engine().registry[previous] ? previous : 'cpu').catch(() => false);
  const why = thrown !== undefined ? firstLine(thrown) : warnings.filter((w) => !/^Initialization of backend/.test(w)).map(firstLine)[0];
  return { ok: false, reason: `initialisation failed: ${why ?? 'TensorFlow.js gave no reason'}` };
}

function tryCpu(): Promise<Outcome> {
  cpuInit ??= (async () => {
    const o = await initialise('cpu');
    return o.ok ? { ok: true, reason: 'pure JavaScript, always available' } : o;
  })();
  return cpuInit;
}

interface DawnModule {
  create(options: string[]): { requestAdapter(options?: object): Promise<DawnAdapter | null> };
  globals: Record<string, unknown>;
}
interface DawnAdapter {
  readonly info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
  readonly limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

/** Software rasterisers that present themselves as Vulkan/Metal/D3D devices. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe|software|warp|basic render/i;

async function tryWebGpu(allowSoftware: boolean): Promise<Outcome> {
  webgpuAdapter ??= findAdapter();
  const adapter = await webgpuAdapter;
  if (!adapter.ok) return adapter;
  const device = adapter.device!;
  if (device.software && !allowSoftware) {
    return {
      ok: false,
      reason: `the only WebGPU adapter is a software rasteriser (${describe(device)}), slower than the cpu backend; ask for backend 'webgpu' to use it anyway`,
      device,
    };
  }
  webgpuInit ??= (async () => {
    const globalWithNavigator = globalThis as { navigator?: { gpu?: unknown } };
    if (globalWithNavigator.navigator?.gpu === undefined) {
      return { ok: false, reason: 'navigator.gpu disappeared before the backend could start' };
    }
    try {
      await import(WEBGPU_PACKAGE);
    } catch (err) {
      return { ok: false, reason: `${WEBGPU_PACKAGE} failed to load: ${firstLine(err)}` };
    }
    if (tf.findBackendFactory('webgpu') === null) {
      return { ok: false, reason: `${WEBGPU_PACKAGE} registered no backend: it was loaded before navigator.gpu existed` };
    }
    const init = await initialise('webgpu');
    return init.ok ? { ok: true, reason: `Dawn on ${describe(device)}`, device } : { ...init, device };
  })();
  return webgpuInit;
}

function describe(d: WebGpuDeviceInfo): string {
  return [d.vendor, d.device || d.description, d.architecture].filter(Boolean).join(' ');
}

async function findAdapter(): Promise<Outcome> {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (err) {
    return { ok: false, reason: `the webgpu (Dawn) package failed to load: ${firstLine(err)}` };
  }
  const g = globalThis as Record<string, unknown> & { navigator?: { gpu?: unknown } };
  try {
    // WebGPU's classes and constants (GPUBufferUsage...) as browsers define them.
    for (const [key, value] of Object.entries(dawn.globals)) if (!(key in g)) g[key] = value;
    // Another part of flowknn may already have made the GPU object: share it.
    if (g.navigator?.gpu === undefined) {
      dawnGpu = dawn.create([]);
      if (g.navigator === undefined) {
        Object.defineProperty(g, 'navigator', { value: { gpu: dawnGpu }, configurable: true, writable: true });
      } else {
        Object.defineProperty(g.navigator, 'gpu', { value: dawnGpu, configurable: true, writable: true });
      }
    } else {
      dawnGpu = g.navigator.gpu;
    }
  } catch (err) {
    return { ok: false, reason: `Dawn could not start: ${firstLine(err)}` };
  }
  const gpu = dawnGpu as { requestAdapter(options?: object): Promise<DawnAdapter | null> };
  let adapter: DawnAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ok: false, reason: `Dawn found no adapter: ${firstLine(err)}` };
  }
  if (!adapter) return { ok: false, reason: 'Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 device)' };
  const info = adapter.info ?? {};
  const device: WebGpuDeviceInfo = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software:
      info.isFallbackAdapter === true ||
      adapter.isFallbackAdapter === true ||
      SOFTWARE_ADAPTER.test(`${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  return { ok: true, reason: 'adapter found', device };
}
