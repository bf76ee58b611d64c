import { usageError } from '../errors.js';
import { ENGINE_NAMES, type KnnEngine } from './engine.js';
import { CpuEngine } from './cpu/cpu-engine.js';

export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** The one list of engines. `auto` picks the best usable one (for now, always the CPU). */
export async function createEngine(choice: string): Promise<KnnEngine> {
  switch (choice) {
    case 'auto':
    case 'cpu':
      return new CpuEngine();
    default:
      throw usageError(`unknown engine "${choice}"`, `choose one of ${ENGINE_CHOICES.join(', ')}`);
  }
}
