import { describe, expect, it } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { createEngine, ENGINE_SPECS } from '../../src/engines/registry.js';
import { WEBGPU_MAX_K, WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { TFJS_MAX_K } from '../../src/engines/tfjs/tfjs-engine.js';
import { FlowknnError } from '../../src/errors.js';
import { mulberry32, randomMatrix, testSeed } from '../helpers/random.js';

const probe = await WebGpuEngine.probe();
const skipGpu = !probe.usable && process.env.CI !== 'true';

/** One rule for every engine: k above what it keeps runs on the cpu engine when chosen by name, said once. */
describe.each([
  ['webgpu', WEBGPU_MAX_K, skipGpu],
  ['tfjs', TFJS_MAX_K, false],
] as const)('k above the %s engine maximum', (name, maxK, skip) => {
  it.skipIf(skip)(`runs on the cpu engine, with the same answer, logged once${skip ? ` (skipped: ${probe.reason})` : ''}`, async () => {
    const random = mulberry32(testSeed(`fallback ${name}`));
    const train = randomMatrix(maxK + 10, 2, random);
    const queries = randomMatrix(3, 2, random);
    const log: string[] = [];
    const engine = await createEngine(name, { threads: 1, log: (m) => log.push(m) });
    const cpu = new CpuEngine({ threads: 1 });
    try {
      const small = await engine.search(train, queries, 3, { name: 'manhattan' });
      expect(engine.name).toBe(name);
      expect(Array.from(small.indices)).toEqual(Array.from((await cpu.search(train, queries, 3, { name: 'manhattan' })).indices));
      for (const k of [maxK + 1, maxK + 5]) {
        const got = await engine.search(train, queries, k, { name: 'manhattan' });
        expect(engine.name).toBe('cpu');
        expect(Array.from(got.indices)).toEqual(Array.from((await cpu.search(train, queries, k, { name: 'manhattan' })).indices));
      }
      expect(log.filter((m) => m.includes(`more than the ${maxK} neighbours it keeps; such searches run on the cpu engine`))).toHaveLength(1);
      // named by the engine that answered most queries: 3 + 10 of them against the cpu's 6
      await engine.search(train, randomMatrix(10, 2, random), 3, { name: 'manhattan' });
      expect(engine.name).toBe(name);
      expect(engine.usage?.()).toEqual({ [name]: { searches: 2, queries: 13 }, cpu: { searches: 2, queries: 6 } });
      // The engine alone refuses it with a usage error naming itself and its limit.
      const bare = await ENGINE_SPECS.find((s) => s.name === name)!.createBare({});
      try {
        const err = await bare.search(train, queries, maxK + 1, { name: 'manhattan' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(FlowknnError);
        expect((err as Error).message).toBe(`k = ${maxK + 1} is more than the ${name} engine allows (${maxK})`);
      } finally {
        await bare.dispose();
      }
    } finally {
      await engine.dispose();
      await cpu.dispose();
    }
  });
});
