import { FlowknnError } from '../errors.js';
import type { Matrix } from '../matrix.js';
import type { CpuEngine } from './cpu/cpu-engine.js';
import { MAX_BATCH_QUERIES, queriesPerSearch, SearchTally, type EngineCapabilities, type EngineName, type EngineUsage, type KnnEngine, type Metric, type Neighbours } from './engine.js';
import { WebGpuEngine } from './webgpu/webgpu-engine.js';

/**
 * Query-train pairs from which a search goes to a hardware GPU. Below it the CPU engine
 * answers sooner than a GPU can be opened, fed and read back (and the process never loads
 * the GPU driver for a small job such as the seed evaluation).
 */
export const GPU_MIN_PAIRS = 2 ** 26;

/**
 * `--engine auto`: the CPU engine, and a hardware WebGPU adapter for large searches when
 * there is one (opened at the first large search; a software adapter is never chosen here).
 */
export class AutoEngine implements KnnEngine {
  private gpu?: WebGpuEngine;
  private gpuChecked = false;
  private readonly tally: SearchTally;

  constructor(
    private readonly cpu: CpuEngine,
    private readonly log: (message: string) => void,
    private readonly minPairs = GPU_MIN_PAIRS,
    /** How the GPU is opened (tests open the software adapter as if it were hardware). */
    private readonly openGpu: () => Promise<WebGpuEngine> = () => WebGpuEngine.create({ allowSoftware: false }),
  ) {
    this.tally = new SearchTally(cpu);
  }

  /** The engine that answered the most queries (SearchTally; cpu before any search). */
  get name(): EngineName {
    return this.tally.main.name;
  }

  /** The device of that engine. */
  get deviceName(): string | undefined {
    return this.tally.main.deviceName;
  }

  usage(): EngineUsage {
    return this.tally.usage();
  }

  get capabilities(): EngineCapabilities {
    return this.cpu.capabilities;
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    if (train.rows * queries.rows >= this.minPairs) {
      const gpu = await this.hardwareGpu();
      if (gpu && k <= gpu.capabilities.maxK) {
        const res = await gpu.search(train, queries, k, metric);
        this.tally.add(gpu, queries.rows);
        return res;
      }
    }
    const res = await this.cpu.search(train, queries, k, metric);
    this.tally.add(this.cpu, queries.rows);
    return res;
  }

  /**
   * The hardware GPU's batch size where a search of that size goes to it (the GPU is opened
   * here then, as at a first large search), else the CPU engine's. A job too small for the GPU
   * however it is cut (training rows x all its queries under the threshold) never opens it.
   */
  async batchQueries(train: Matrix, k: number, metric: Metric, total: number): Promise<number> {
    const cpu = await queriesPerSearch(this.cpu, train, k, metric, total);
    if (train.rows * Math.min(total, MAX_BATCH_QUERIES) < this.minPairs) return cpu;
    const gpu = await this.hardwareGpu();
    if (!gpu || k > gpu.capabilities.maxK) return cpu;
    const queries = await queriesPerSearch(gpu, train, k, metric, total);
    return train.rows * queries >= this.minPairs ? queries : cpu;
  }

  private async hardwareGpu(): Promise<WebGpuEngine | undefined> {
    if (!this.gpuChecked) {
      this.gpuChecked = true;
      try {
        this.gpu = await this.openGpu();
        const a = this.gpu.adapter;
        this.log(`engine: webgpu on ${a.vendor} ${a.device || a.architecture} for large searches`);
      } catch (err) {
        if (!(err instanceof FlowknnError)) throw err;
        this.log(`engine: cpu (no hardware WebGPU adapter: ${err.message})`);
      }
    }
    return this.gpu;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.gpu?.dispose(), this.cpu.dispose()]);
  }
}
