import { describe, expect, it } from 'vitest';
import { AutoEngine } from '../../src/engines/auto.js';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { nightlyAggregateTable } from '../../src/pipeline/inputs.js';
import { classifyTables, searchTables } from '../../src/knn/classify-tables.js';
import { fitModel } from '../../src/knn/model.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { tableToCsv } from '../../src/io/csv.js';
import { SEED_LABELS } from '../helpers/paths.js';

const gpuProbe = await WebGpuEngine.probe();
const skipGpu = !gpuProbe.usable && process.env.CI !== 'true';
const whyGpu = skipGpu ? ` (skipped: ${gpuProbe.reason})` : '';

/** xorshift32: the same numbers for the same seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Aggregates of one five-minute file: random hosts and counters over several magnitudes. */
function aggregatesOf(file: string, windowStart: number, rows: number, next: () => number) {
  const list = Array.from({ length: rows }, (_, i) => {
    const durationMs = Math.floor(next() * 300_000);
    const packets = Math.floor(10 ** (1 + next() * 5));
    const bytes = packets * Math.floor(40 + next() * 1400);
    const flows = 1 + Math.floor(next() * packets);
    const s = durationMs / 1000;
    return { windowStart, key: `10.0.${i}.${Math.floor(next() * 255)}`, values: [`10.0.${i}.1`], firstSeen: windowStart + 1000 * i, lastSeen: windowStart + 1000 * i + durationMs, durationMs, flows, packets, bytes, pps: s > 0 ? packets / s : 0, bps: s > 0 ? (8 * bytes) / s : 0, bpp: bytes / packets };
  });
  return nightlyAggregateTable(list, ['dstip'], Array<string>(rows).fill(file), { 'flowknn.source': file });
}

describe('classifyTables', () => {
  it('classifies the rows of several tables as one batch exactly as each table on its own (what lets a file be classified as it arrives)', async () => {
    const seed = Number(process.env.FLOWKNN_TEST_SEED ?? Date.now() % 2 ** 31);
    console.log(`classifyTables seed ${seed} (FLOWKNN_TEST_SEED to repeat)`);
    const next = rng(seed);
    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7);
    const model = fitModel(set, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'distance' });
    const engine = new CpuEngine({ threads: 1 });
    try {
      const tables = [0, 1, 2].map((i) => aggregatesOf(`2026/11/01/nfcapd.20261101000${i * 5}`, Date.UTC(2026, 10, 1, 0, 5 * i), 20 + Math.floor(next() * 40), next));
      // a threshold with novel rows on both sides: the median score
      const scores = Array.from((await classifyTables(model, tables, engine, { novelty: { threshold: 0, score: 'mean' } })).novelty!.scores).sort((a, b) => a - b);
      const threshold = scores[Math.floor(scores.length / 2)]!;
      const options = { novelty: { threshold, score: 'mean' as const }, unknownLabel: 'unknown', meta: { 'flowknn.date': '2026-11-01' } };
      const together = await classifyTables(model, tables, engine, options);
      const alone = await Promise.all(tables.map((t) => classifyTables(model, [t], engine, options)));
      const rows = (csv: string) => csv.trimEnd().split('\n');
      const [header, ...all] = rows(tableToCsv(together.table));
      expect(all.length).toBe(tables.reduce((n, t) => n + t.numRows, 0));
      expect(alone.flatMap((a) => rows(tableToCsv(a.table)).slice(1))).toEqual(all);
      expect(header).toContain('window_start');
      // the rows keep where they came from; novel rows are labelled unknown, the others keep their vote
      expect(together.table.getChild('source_file')?.get(0)).toBe('2026/11/01/nfcapd.202611010000');
      const predicted = together.table.getChild('predicted')!.toArray() as string[];
      expect(predicted.filter((p) => p === 'unknown').length).toBe(scores.filter((s) => s > threshold).length);
      expect(predicted.some((p) => p !== 'unknown')).toBe(true);
      // one search, the table built by slices of 7 rows (across the tables' boundaries): the same rows
      const searched = await searchTables(model, tables, engine, options);
      const slices: string[] = [];
      for (let from = 0; from < searched.rows; from += 7) slices.push(...rows(tableToCsv(searched.table(from, Math.min(searched.rows, from + 7)))).slice(1));
      expect(slices).toEqual(all);
      expect(searched.table(0, 0).numRows).toBe(0);
      expect(() => searched.table(5, searched.rows + 1)).toThrow(RangeError);
    } finally {
      await engine.dispose();
    }
  });

  it.skipIf(skipGpu)(`metadata given as a function names the engine that ran the search: auto's GPU for a large batch, and still the GPU after a short batch on the CPU${whyGpu}`, async () => {
    const seed = Number(process.env.FLOWKNN_TEST_SEED ?? Date.now() % 2 ** 31);
    console.log(`auto engine metadata seed ${seed} (FLOWKNN_TEST_SEED to repeat)`);
    const next = rng(seed);
    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7);
    const model = fitModel(set, { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'distance' });
    // 100 rows against the seed rows go to the GPU (the software adapter standing in for a hardware one), 10 rows to the CPU
    const auto = new AutoEngine(new CpuEngine({ threads: 1 }), () => undefined, model.space.rows * 50, () => WebGpuEngine.create({ allowSoftware: true }));
    const cpu = new CpuEngine({ threads: 1 });
    try {
      const options = { meta: () => ({ 'flowknn.engine': auto.name }) };
      const big = aggregatesOf('2026/11/01/nfcapd.202611010000', Date.UTC(2026, 10, 1), 100, next);
      const small = aggregatesOf('2026/11/01/nfcapd.202611010005', Date.UTC(2026, 10, 1, 0, 5), 10, next);
      const first = (await searchTables(model, [big], auto, options)).table(0, 100);
      expect(first.schema.metadata.get('flowknn.engine')).toBe('webgpu');
      const second = (await searchTables(model, [small], auto, options)).table(0, 10);
      expect(second.schema.metadata.get('flowknn.engine')).toBe('webgpu');
      expect(auto.usage()).toEqual({ webgpu: { searches: 1, queries: 100 }, cpu: { searches: 1, queries: 10 } });
      // the same votes as the CPU engine's
      for (const [t, got] of [[big, first], [small, second]] as const) {
        const want = (await classifyTables(model, [t], cpu)).table;
        expect(Array.from(got.getChild('predicted')!.toArray() as string[])).toEqual(Array.from(want.getChild('predicted')!.toArray() as string[]));
      }
    } finally {
      await auto.dispose();
      await cpu.dispose();
    }
  });
});
