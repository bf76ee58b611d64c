import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { ROOT } from '../helpers/cli.js';
import { testSeed } from '../helpers/random.js';

const probe = await WebGpuEngine.probe();
const skip = !probe.usable && process.env.CI !== 'true';

describe('webgpu soak', () => {
  it.skipIf(skip)(`1000 searches of varied shapes, k and metrics in one process with forced GCs: no crash, same answers, memory flat${skip ? ` (skipped: ${probe.reason})` : ''}`, async () => {
    const seed = testSeed('webgpu soak');
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/engines/soak-run.ts', '1000', String(seed)], {
      cwd: ROOT,
      timeout: 300_000,
      maxBuffer: 1 << 24,
    }).catch((err: { code?: number; signal?: string; stderr?: string }) => {
      throw new Error(`soak process failed (exit ${err.code}, signal ${err.signal}):\n${err.stderr}`);
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { mismatches: number; rss: number[]; external: number[]; pipelines: number };
    expect(result.mismatches).toBe(0);
    // Shapes are drawn from a bounded set (6 metrics x 2 dimensions x 6 kernel k), so after
    // the first few hundred searches every pipeline is compiled. Flat: searches 800-950 use
    // no more memory than searches 400-550 plus 32 MB (a leak of 64 KB per search would
    // exceed it). Samples are every 50 searches.
    expect(result.rss).toHaveLength(20);
    const settled = (xs: number[]) => Math.max(...xs.slice(8, 12));
    const late = (xs: number[]) => Math.max(...xs.slice(-4));
    expect(late(result.rss) - settled(result.rss)).toBeLessThan(32 << 20);
    expect(late(result.external) - settled(result.external)).toBeLessThan(16 << 20);
    expect(result.pipelines).toBeLessThanOrEqual(72);
  }, 300_000);
});
