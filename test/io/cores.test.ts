import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usableCores } from '../../src/io/cores.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('usable cores', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await makeTempDir()));
  afterAll(() => cleanup());

  const withCpuMax = async (text: string) => {
    const file = join(dir, `cpu.max-${Math.random()}`);
    await writeFile(file, text);
    return usableCores(file);
  };

  it('a cgroup CPU quota bounds them (rounded up), never above the CPUs the process may use', async () => {
    const cpus = availableParallelism();
    expect(await withCpuMax('50000 100000\n')).toBe(1);
    expect(await withCpuMax('150000 100000\n')).toBe(Math.min(cpus, 2));
    expect(await withCpuMax(`${(cpus + 8) * 100000} 100000\n`)).toBe(cpus);
  });

  it('no quota, no cgroup file or an unreadable one: the CPUs', async () => {
    const cpus = availableParallelism();
    expect(await withCpuMax('max 100000\n')).toBe(cpus);
    expect(await withCpuMax('nonsense')).toBe(cpus);
    expect(usableCores(join(dir, 'missing'))).toBe(cpus);
  });
});
