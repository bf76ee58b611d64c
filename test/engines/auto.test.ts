import { describe, expect, it } from 'vitest';
import { AutoEngine, GPU_MIN_PAIRS } from '../../src/engines/auto.js';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { createEngine } from '../../src/engines/registry.js';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { Matrix } from '../../src/matrix.js';
import { mulberry32, randomMatrix, testSeed } from '../helpers/random.js';

const gpuProbe = await WebGpuEngine.probe();
const skipGpu = !gpuProbe.usable && process.env.CI !== 'true';
const whyGpu = skipGpu ? ` (skipped: ${gpuProbe.reason})` : '';

describe('engine selection', () => {
  it('auto answers small searches on the CPU without opening a GPU', async () => {
    const logs: string[] = [];
    const engine = await createEngine('auto', { log: (m) => logs.push(m), threads: 1 });
    const res = await engine.search(Matrix.fromRows([[0], [1], [2]]), Matrix.fromRows([[1.2]]), 2, { name: 'euclidean' });
    expect(Array.from(res.indices)).toEqual([1, 2]);
    expect(engine.name).toBe('cpu');
    expect(logs).toEqual([]);
    await engine.dispose();
  });

  it('auto takes a hardware adapter for large searches and never a software one', async () => {
    const probe = await WebGpuEngine.probe();
    const software = probe.usable && (probe.details as { software?: boolean }).software === true;
    const logs: string[] = [];
    const engine = new AutoEngine(new CpuEngine({ threads: 1 }), (m) => logs.push(m), 1);
    const random = mulberry32(testSeed('auto large'));
    const train = randomMatrix(200, 3, random);
    const queries = randomMatrix(20, 3, random);
    const got = await engine.search(train, queries, 4, { name: 'euclidean' });
    const want = await new CpuEngine({ threads: 1 }).search(train, queries, 4, { name: 'euclidean' });
    if (!probe.usable || software) {
      expect(engine.name).toBe('cpu');
      expect(logs.join('\n')).toMatch(/engine: cpu \(no hardware WebGPU adapter/u);
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
    } else {
      expect(engine.name).toBe('webgpu');
      expect(logs.join('\n')).toMatch(/engine: webgpu on/u);
    }
    await engine.dispose();
  });

  it.skipIf(skipGpu)(`auto sizes batches for the GPU only when its searches would go there, and opens it only then${whyGpu}`, async () => {
    const logs: string[] = [];
    // the software adapter stands in for a hardware one: the real engine, opened the same way
    const engine = new AutoEngine(new CpuEngine({ threads: 2 }), (m) => logs.push(m), GPU_MIN_PAIRS, () => WebGpuEngine.create({ allowSoftware: true }));
    const metric = { name: 'euclidean' } as const;
    try {
      const seedSized = Matrix.zeros(380, 7);
      // 499 rows in all: the whole job is under the GPU's threshold, so the CPU's size
      expect(await engine.batchQueries(seedSized, 3, metric, 499)).toBe(65_536);
      // 100 training rows x 2^19 queries is still under the threshold: the CPU's 65,536
      expect(await engine.batchQueries(Matrix.zeros(100, 7), 3, metric, 5_000_000)).toBe(65_536);
      expect(logs).toEqual([]);
      // a million rows against the seed-sized model: the GPU's batches of 2^19
      expect(await engine.batchQueries(seedSized, 3, metric, 1_000_000)).toBe(2 ** 19);
      expect(logs.join('\n')).toMatch(/engine: webgpu on/u);
      // k beyond what the GPU keeps: those searches go to the CPU, and so does the batch size
      expect(await engine.batchQueries(seedSized, 200, metric, 1_000_000)).toBe(65_536);
    } finally {
      await engine.dispose();
    }
  });

  it('an unknown engine name is a usage error listing the known ones', async () => {
    await expect(createEngine('cuda')).rejects.toThrow(/unknown engine "cuda"/u);
    await expect(createEngine('cuda')).rejects.toMatchObject({ kind: 'usage', hint: expect.stringMatching(/auto, cpu, webgpu, tfjs/u) });
  });

  it('webgpu named explicitly accepts a software adapter and says so', async () => {
    const probe = await WebGpuEngine.probe();
    if (!probe.usable) {
      await expect(createEngine('webgpu')).rejects.toMatchObject({ kind: 'environment' });
      return;
    }
    const logs: string[] = [];
    const engine = await createEngine('webgpu', { log: (m) => logs.push(m) });
    expect(engine.name).toBe('webgpu');
    expect(logs[0]).toMatch(/^engine: webgpu on /u);
    await engine.dispose();
  });
});
