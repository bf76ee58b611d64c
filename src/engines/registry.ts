import { usageError } from '../errors.js';
import { ENGINE_NAMES, type KnnEngine } from './engine.js';
import { CpuEngine, type CpuEngineOptions } from './cpu/cpu-engine.js';

export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

export type EngineOptions = CpuEngineOptions;

/** The one list of engines. `auto` picks the best usable one (for now, always the CPU). */
export async function createEngine(choice: string, options: EngineOptions = {}): Promise<KnnEngine> {
  switch (choice) {
    case 'auto':
    case 'cpu':
      return new CpuEngine(options);
    default:
      throw usageError(`unknown engine "${choice}"`, `choose one of ${ENGINE_CHOICES.join(', ')}`);
  }
}
