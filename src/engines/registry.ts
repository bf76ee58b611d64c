import { usageError, excerpt } from '../errors.js';
import { AutoEngine } from './auto.js';
import { CpuEngine, type CpuEngineOptions } from './cpu/cpu-engine.js';
import { ENGINE_NAMES, type EngineProbe, type KnnEngine } from './engine.js';
import { WebGpuEngine } from './webgpu/webgpu-engine.js';

export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

export interface EngineOptions extends CpuEngineOptions {
  /** Where the engine choice, its device and fallbacks are reported. */
  log?: (message: string) => void;
}

/**
 * The one list of engines. `auto`: the CPU, and a hardware WebGPU adapter for large searches
 * when there is one (see AutoEngine); a software adapter (lavapipe, llvmpipe) only when
 * `webgpu` is named.
 */
export async function createEngine(choice: string, options: EngineOptions = {}): Promise<KnnEngine> {
  const log = options.log ?? (() => undefined);
  const cpu = () => new CpuEngine(options);
  switch (choice) {
    case 'cpu':
      return cpu();
    case 'webgpu': {
      const engine = await WebGpuEngine.create({ allowSoftware: true, fallback: cpu(), log });
      log(`engine: webgpu on ${engine.deviceName}`);
      return engine;
    }
    case 'tfjs': {
      const { TfjsEngine } = await import('./tfjs/tfjs-engine.js');
      const engine = await TfjsEngine.create();
      log(`engine: tfjs on its ${engine.backend} backend`);
      return engine;
    }
    case 'auto':
      return new AutoEngine(cpu(), log);
    default:
      throw usageError(`unknown engine "${excerpt(choice)}"`, `choose one of ${ENGINE_CHOICES.join(', ')}`);
  }
}

/** Each engine: usable here or not, why, and on what. */
export async function probeEngines(): Promise<EngineProbe[]> {
  const cpu = new CpuEngine();
  const out: EngineProbe[] = [{ name: 'cpu', usable: true, details: { threads: cpu.threads, algorithm: cpu.algorithm, precision: 'f64' } }];
  out.push(await WebGpuEngine.probe());
  try {
    const { probeTfjs } = await import('./tfjs/tfjs-engine.js');
    out.push(await probeTfjs());
  } catch (err) {
    out.push({ name: 'tfjs', usable: false, reason: `cannot load TensorFlow.js: ${(err as Error).message}`, details: {} });
  }
  return out;
}
