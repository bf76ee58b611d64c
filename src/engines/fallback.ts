import { usageError } from '../errors.js';
import type { Matrix } from '../matrix.js';
import { queriesPerSearch, SearchTally, type EngineCapabilities, type EngineName, type EngineUsage, type KnnEngine, type Metric, type Neighbours } from './engine.js';

/**
 * The one rule for a k above what an engine keeps: the engine itself refuses it with this error,
 * and an engine chosen by name runs such searches on the cpu engine instead (LargeKFallback),
 * saying so once.
 */
export function checkMaxK(engine: string, k: number, maxK: number): void {
  if (k > maxK) throw usageError(`k = ${k} is more than the ${engine} engine allows (${maxK})`, 'use the cpu engine, or a smaller k');
}

/** An engine whose searches with k above its maxK go to another engine (logged once). */
export class LargeKFallback implements KnnEngine {
  private readonly tally: SearchTally;
  private logged = false;

  constructor(
    private readonly primary: KnnEngine,
    private readonly fallback: KnnEngine,
    private readonly log: (message: string) => void = () => undefined,
  ) {
    this.tally = new SearchTally(primary);
  }

  /** The engine that answered the most queries (SearchTally; the primary before any search). */
  get name(): EngineName {
    return this.tally.main.name;
  }

  get deviceName(): string | undefined {
    return this.tally.main.deviceName;
  }

  usage(): EngineUsage {
    return this.tally.usage();
  }

  get capabilities(): EngineCapabilities {
    return { ...this.primary.capabilities, maxK: Math.max(this.primary.capabilities.maxK, this.fallback.capabilities.maxK) };
  }

  /** The engine searches go to when k fits (tests and benchmarks read its statistics). */
  get inner(): KnnEngine {
    return this.primary;
  }

  async search(train: Matrix, queries: Matrix, k: number, metric: Metric): Promise<Neighbours> {
    const max = this.primary.capabilities.maxK;
    if (k <= max) {
      const res = await this.primary.search(train, queries, k, metric);
      this.tally.add(this.primary, queries.rows);
      return res;
    }
    if (!this.logged) this.log(`${this.primary.name}: k = ${k} is more than the ${max} neighbours it keeps; such searches run on the ${this.fallback.name} engine`);
    this.logged = true;
    const res = await this.fallback.search(train, queries, k, metric);
    this.tally.add(this.fallback, queries.rows);
    return res;
  }

  /** The batch size of the engine such searches go to. */
  async batchQueries(train: Matrix, k: number, metric: Metric, total: number): Promise<number> {
    const engine = k <= this.primary.capabilities.maxK ? this.primary : this.fallback;
    return queriesPerSearch(engine, train, k, metric, total);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.primary.dispose(), this.fallback.dispose()]);
  }
}
