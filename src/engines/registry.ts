import { usageError, excerpt } from '../errors.js';
import { AutoEngine } from './auto.js';
import { CpuEngine, type CpuEngineOptions } from './cpu/cpu-engine.js';
import { ENGINE_NAMES, type EngineName, type EngineProbe, type KnnEngine } from './engine.js';
import { LargeKFallback } from './fallback.js';
import { WebGpuEngine } from './webgpu/webgpu-engine.js';

export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

export interface EngineOptions extends CpuEngineOptions {
  /** Where the engine choice, its device and fallbacks are reported. */
  log?: (message: string) => void;
}

/** One engine: how `--engine NAME` makes it, and how `flowknn engines` looks at it. */
export interface EngineSpec {
  readonly name: EngineName;
  /** The engine alone, as tests and benchmarks use it (k above its maxK is a usage error). */
  createBare(options: EngineOptions): Promise<KnnEngine>;
  /** Whether it can run here, why not, and on what. */
  probe(): Promise<EngineProbe>;
}

async function loadTfjs(): Promise<typeof import('./tfjs/tfjs-engine.js')> {
  return import('./tfjs/tfjs-engine.js');
}

/** The one list of engines (auto is not one: it chooses between cpu and webgpu, see AutoEngine). */
export const ENGINE_SPECS: readonly EngineSpec[] = [
  {
    name: 'cpu',
    createBare: async (options) => new CpuEngine(options),
    probe: async () => {
      const cpu = new CpuEngine();
      return { name: 'cpu', usable: true, details: { threads: cpu.threads, algorithm: cpu.algorithm, precision: 'f64' } };
    },
  },
  {
    name: 'webgpu',
    createBare: async (options) => {
      const engine = await WebGpuEngine.create({ allowSoftware: true });
      options.log?.(`engine: webgpu on ${engine.deviceName}`);
      return engine;
    },
    probe: () => WebGpuEngine.probe(),
  },
  {
    name: 'tfjs',
    createBare: async (options) => {
      const engine = await (await loadTfjs()).TfjsEngine.create();
      options.log?.(`engine: tfjs on its ${engine.backend} backend`);
      return engine;
    },
    probe: async () => {
      try {
        return await (await loadTfjs()).probeTfjs();
      } catch (err) {
        return { name: 'tfjs', usable: false, reason: `cannot load TensorFlow.js: ${(err as Error).message}`, details: {} };
      }
    },
  },
];

export function engineSpec(name: EngineName): EngineSpec {
  return ENGINE_SPECS.find((s) => s.name === name)!;
}

/**
 * The engine a user chose. Every engine other than cpu runs a search with k above what it keeps
 * on the cpu engine, saying so once (LargeKFallback). `auto`: the CPU, and a hardware WebGPU
 * adapter for large searches when there is one (see AutoEngine); a software adapter (lavapipe,
 * llvmpipe) only when `webgpu` is named.
 */
export async function createEngine(choice: string, options: EngineOptions = {}): Promise<KnnEngine> {
  const log = options.log ?? (() => undefined);
  if (choice === 'auto') return new AutoEngine(new CpuEngine(options), log);
  const spec = ENGINE_SPECS.find((s) => s.name === choice);
  if (!spec) throw usageError(`unknown engine "${excerpt(choice)}"`, `choose one of ${ENGINE_CHOICES.join(', ')}`);
  const engine = await spec.createBare({ ...options, log });
  return spec.name === 'cpu' ? engine : new LargeKFallback(engine, new CpuEngine(options), log);
}

/** Each engine: usable here or not, why, and on what. */
export async function probeEngines(): Promise<EngineProbe[]> {
  const out: EngineProbe[] = [];
  for (const spec of ENGINE_SPECS) out.push(await spec.probe());
  return out;
}
