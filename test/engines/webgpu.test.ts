import { describe, expect, it } from 'vitest';
import { WebGpuEngine } from '../../src/engines/webgpu/webgpu-engine.js';
import { FlowknnError } from '../../src/errors.js';
import type { Metric } from '../../src/engines/engine.js';
import { Matrix } from '../../src/matrix.js';
import { mulberry32, randomMatrix, testSeed } from '../helpers/random.js';
import { referenceKnn } from '../helpers/reference.js';
import { runMain } from '../helpers/cli.js';

const probe = await WebGpuEngine.probe();
const skip = !probe.usable && process.env.CI !== 'true';
const why = skip ? ` (skipped: ${probe.reason})` : '';

describe('webgpu engine', () => {
  it.skipIf(skip)(`a WGSL error names the module, line and column${why}`, async () => {
    const engine = await WebGpuEngine.create({ allowSoftware: true });
    try {
      await expect(engine.compile('flowknn-broken', 'fn main() {\n  let x: u32 = 1.5;\n}\n')).rejects.toThrow(/flowknn-broken\.wgsl:2:\d+: /u);
    } finally {
      await engine.dispose();
    }
  });

  it.skipIf(skip)(`inputs beyond the buffer limit are cut into chunks with the same answers as one pass${why}`, async () => {
    const random = mulberry32(testSeed('webgpu chunks'));
    const train = randomMatrix(3000, 6, random);
    const queries = randomMatrix(500, 6, random);
    const whole = await WebGpuEngine.create({ allowSoftware: true, poison: true });
    // 16 KiB per buffer: 682 training rows and at most 682 queries per chunk.
    const chunked = await WebGpuEngine.create({ allowSoftware: true, poison: true, maxBufferBytes: 16384 });
    try {
      for (const k of [1, 7, 32]) {
        const a = await whole.search(train, queries, k, { name: 'manhattan' });
        const b = await chunked.search(train, queries, k, { name: 'manhattan' });
        expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
        expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
      }
      expect(whole.stats().liveBuffers).toBe(0);
      expect(chunked.stats().liveBuffers).toBe(0);
    } finally {
      await whole.dispose();
      await chunked.dispose();
    }
  });

  it.skipIf(skip)(`training rows split across workgroups give the answers of one split${why}`, async () => {
    const random = mulberry32(testSeed('webgpu splits'));
    // Integer data: exact in float32, so the split and unsplit runs must equal the reference.
    const train = Matrix.zeros(5000, 3);
    train.data.forEach((_, i) => (train.data[i] = Math.floor(random() * 20)));
    const queries = Matrix.zeros(40, 3);
    queries.data.forEach((_, i) => (queries.data[i] = Math.floor(random() * 20)));
    const want = referenceKnn(train, queries, 9, { name: 'sqeuclidean' });
    // Every query-per-invocation count: the merge kernel walks the same query slots as the
    // kNN kernel (a merge that did not once left slots unwritten).
    for (const splits of [1, 3, 64]) {
      for (const queriesPerInvocation of [1, 2, 4]) {
        const engine = await WebGpuEngine.create({ allowSoftware: true, poison: true, splits, queriesPerInvocation, workgroup: 16, insertion: queriesPerInvocation === 2 ? 'loop' : 'unrolled' });
        try {
          const got = await engine.search(train, queries, 9, { name: 'sqeuclidean' });
          expect(Array.from(got.indices), `splits ${splits}, ${queriesPerInvocation} queries per invocation`).toEqual(want.indices.flat());
        } finally {
          await engine.dispose();
        }
      }
    }
  });

  it.skipIf(skip)(`the dot form re-ranks its candidates exactly: float64 distances, the reference's neighbours on well-scaled data${why}`, async () => {
    const random = mulberry32(testSeed('webgpu dot form'));
    const train = randomMatrix(900, 7, random);
    const queries = randomMatrix(150, 7, random);
    const want = referenceKnn(train, queries, 5, { name: 'euclidean' });
    const engine = await WebGpuEngine.create({ allowSoftware: true, poison: true, form: 'dot', queriesPerInvocation: 2, insertion: 'unrolled' });
    try {
      const got = await engine.search(train, queries, 5, { name: 'euclidean' });
      expect(Array.from(got.indices)).toEqual(want.indices.flat());
      want.distances.flat().forEach((d, i) => expect(Math.abs(got.distances[i]! - d), `slot ${i}`).toBeLessThan(1e-12));
    } finally {
      await engine.dispose();
    }
    const three = await WebGpuEngine.create({ allowSoftware: true, queriesPerInvocation: 3 });
    try {
      await expect(three.search(train, queries, 5, { name: 'euclidean' })).rejects.toThrow(/queriesPerInvocation must be 1, 2 or 4/u);
    } finally {
      await three.dispose();
    }
  });

  it.skipIf(skip)(`a lost device is a clear environment error, not a hang${why}`, async () => {
    const engine = await WebGpuEngine.create({ allowSoftware: true });
    const device = (engine as unknown as { device: GPUDevice }).device;
    device.destroy();
    await device.lost;
    const err = await engine.search(Matrix.fromRows([[0], [1]]), Matrix.fromRows([[0]]), 1, { name: 'euclidean' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlowknnError);
    expect((err as FlowknnError).kind).toBe('environment');
    expect((err as FlowknnError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/GPU device was lost/u);
  });

  it.skipIf(skip)(`the training rows are uploaded once per matrix and stay on the device: later searches give the reference's answers${why}`, async () => {
    const random = mulberry32(testSeed('webgpu resident training rows'));
    // Integer data: exact in float32, so every search must equal the reference.
    const ints = (rows: number): Matrix => {
      const m = Matrix.zeros(rows, 4);
      m.data.forEach((_, i) => (m.data[i] = Math.floor(random() * 50)));
      return m;
    };
    const train = ints(1500);
    const others = [ints(700), ints(900)];
    // 16 KiB per buffer: 1024 training rows per chunk, so the first set is two resident buffers.
    const engine = await WebGpuEngine.create({ allowSoftware: true, poison: true, maxBufferBytes: 16384 });
    const check = async (t: Matrix, k: number, metric: Metric, label: string) => {
      const queries = ints(60);
      const got = await engine.search(t, queries, k, metric);
      expect(Array.from(got.indices), label).toEqual(referenceKnn(t, queries, k, metric).indices.flat());
      expect(engine.stats().liveBuffers, label).toBe(0);
    };
    try {
      await check(train, 6, { name: 'sqeuclidean' }, 'first search');
      expect(engine.stats().trainUploads).toBe(1);
      expect(engine.stats().resident).toEqual({ sets: 1, buffers: 2, bytes: 1500 * 4 * 4 });
      await check(train, 3, { name: 'manhattan' }, 'same rows, other queries, k and metric');
      expect(engine.stats().trainUploads).toBe(1);
      for (const [i, t] of others.entries()) await check(t, 5, { name: 'chebyshev' }, `other set ${i}`);
      // two sets at most stay: the first one, least recently used, was dropped
      expect(engine.stats().trainUploads).toBe(3);
      expect(engine.stats().resident.sets).toBe(2);
      await check(train, 4, { name: 'euclidean' }, 'the first set again, uploaded again');
      expect(engine.stats().trainUploads).toBe(4);
      await check(others[1]!, 2, { name: 'euclidean' }, 'the last set, still there');
      expect(engine.stats().trainUploads).toBe(4);
    } finally {
      await engine.dispose();
    }
    expect(engine.stats().resident).toEqual({ sets: 0, buffers: 0, bytes: 0 });
  });

  it.skipIf(skip)(`searches at once share one upload of their rows and never lose a set another search is using${why}`, async () => {
    const random = mulberry32(testSeed('webgpu concurrent searches'));
    const ints = (rows: number): Matrix => {
      const m = Matrix.zeros(rows, 4);
      m.data.forEach((_, i) => (m.data[i] = Math.floor(random() * 50)));
      return m;
    };
    const sets = [ints(1500), ints(700), ints(900)];
    const engine = await WebGpuEngine.create({ allowSoftware: true, poison: true, maxBufferBytes: 16384 });
    try {
      // three searches on the first set and one on each other, all started at once: three sets
      // pinned together, beyond the two kept, and none dropped under the search using it
      const jobs = [0, 0, 1, 0, 2].map((s, i) => ({ t: sets[s]!, q: ints(40 + i), k: 3 + i }));
      const got = await Promise.all(jobs.map((j) => engine.search(j.t, j.q, j.k, { name: 'manhattan' })));
      for (const [i, j] of jobs.entries()) expect(Array.from(got[i]!.indices), `search ${i}`).toEqual(referenceKnn(j.t, j.q, j.k, { name: 'manhattan' }).indices.flat());
      expect(engine.stats().trainUploads).toBe(3);
      expect(engine.stats().resident.sets).toBe(2);
      expect(engine.stats().liveBuffers).toBe(0);
    } finally {
      await engine.dispose();
    }
  });

  it.skipIf(skip)(`rows not kept on the device (resident: false, or beyond residentBytes) are uploaded a chunk at a time for each search, with the same answers${why}`, async () => {
    const random = mulberry32(testSeed('webgpu rows not kept'));
    const ints = (rows: number): Matrix => {
      const m = Matrix.zeros(rows, 4);
      m.data.forEach((_, i) => (m.data[i] = Math.floor(random() * 50)));
      return m;
    };
    const big = ints(1500); // 24,000 bytes: two chunks of 16 KiB buffers
    const small = ints(300); // 4,800 bytes
    const uploadEach = await WebGpuEngine.create({ allowSoftware: true, poison: true, maxBufferBytes: 16384, resident: false });
    const capped = await WebGpuEngine.create({ allowSoftware: true, poison: true, maxBufferBytes: 16384, residentBytes: 20_000 });
    const check = async (engine: WebGpuEngine, t: Matrix, label: string) => {
      const queries = ints(50);
      const got = await engine.search(t, queries, 4, { name: 'sqeuclidean' });
      expect(Array.from(got.indices), label).toEqual(referenceKnn(t, queries, 4, { name: 'sqeuclidean' }).indices.flat());
      expect(engine.stats().liveBuffers, label).toBe(0);
    };
    try {
      for (const i of [1, 2, 3]) await check(uploadEach, big, `resident: false, search ${i}`);
      expect(uploadEach.stats().trainUploads).toBe(3);
      expect(uploadEach.stats().resident).toEqual({ sets: 0, buffers: 0, bytes: 0 });

      await check(capped, small, 'a set within the cap');
      await check(capped, small, 'the same set again');
      expect(capped.stats().trainUploads).toBe(1);
      expect(capped.stats().resident).toEqual({ sets: 1, buffers: 1, bytes: 4800 });
      // beyond the cap: uploaded for each search, the small set kept
      await check(capped, big, 'a set beyond the cap');
      await check(capped, big, 'a set beyond the cap, again');
      expect(capped.stats().trainUploads).toBe(3);
      expect(capped.stats().resident).toEqual({ sets: 1, buffers: 1, bytes: 4800 });
      // a set that fits only without the kept one: the idle one is dropped for it
      const mid = ints(1000); // 16,000 bytes
      await check(capped, mid, 'a set that needs the room of the kept one');
      expect(capped.stats().trainUploads).toBe(4);
      expect(capped.stats().resident).toEqual({ sets: 1, buffers: 1, bytes: 16_000 });
    } finally {
      await uploadEach.dispose();
      await capped.dispose();
    }
  });

  it.skipIf(skip)(`a device out of memory: idle sets are dropped and the upload or pass retried, a set that never fits goes up a chunk at a time, a chunk that never fits is an environment error${why}`, async () => {
    const random = mulberry32(testSeed('webgpu out of memory'));
    const ints = (rows: number): Matrix => {
      const m = Matrix.zeros(rows, 4);
      m.data.forEach((_, i) => (m.data[i] = Math.floor(random() * 50)));
      return m;
    };
    // 16 KiB buffers (1024 rows of 4 features), one split per pass: a pass of q queries at k = 4
    // holds 16 q bytes of queries and 64 q of outputs and read back (plus parameters)
    const options = { allowSoftware: true, poison: true, maxBufferBytes: 16384, splits: 1, deviceBytes: 25_000 } as const;
    const engine = await WebGpuEngine.create(options);
    const check = async (e: WebGpuEngine, t: Matrix, q: number, label: string) => {
      const queries = ints(q);
      const got = await e.search(t, queries, 4, { name: 'manhattan' });
      expect(Array.from(got.indices), label).toEqual(referenceKnn(t, queries, 4, { name: 'manhattan' }).indices.flat());
      expect(e.stats().liveBuffers, label).toBe(0);
    };
    const a = ints(1000); // 16,000 bytes
    const b = ints(1000);
    const small = ints(300); // 4,800 bytes
    const big = ints(2000); // 32,000 bytes in two chunks: never kept within 25,000
    try {
      await check(engine, a, 50, 'a first set');
      expect(engine.stats().resident).toMatchObject({ sets: 1, bytes: 16_000 });
      // two sets of 16,000 do not fit: the idle one is dropped and the upload retried
      await check(engine, b, 50, 'a second set, room made for it');
      expect(engine.stats().trainUploads).toBe(2);
      expect(engine.stats().resident).toMatchObject({ sets: 1, bytes: 16_000 });
      // the small set fits beside it, its pass of 200 queries (about 16 kB) does not: the idle set goes and the pass runs again
      await check(engine, small, 200, 'a pass with room made for it');
      expect(engine.stats().trainUploads).toBe(3);
      expect(engine.stats().resident).toMatchObject({ sets: 1, bytes: 4800 });
      // a set too big to keep: uploaded a chunk at a time for each search
      await check(engine, big, 50, 'a set beyond the device');
      await check(engine, big, 50, 'a set beyond the device, again');
      expect(engine.stats().trainUploads).toBe(5);
      expect(engine.stats().resident).toMatchObject({ sets: 0, bytes: 0 });
    } finally {
      await engine.dispose();
    }
    // a chunk that does not fit at all: the environment error, and the engine still searches what fits
    const tiny = await WebGpuEngine.create({ ...options, deviceBytes: 10_000 });
    try {
      const err = await tiny.search(a, ints(10), 4, { name: 'manhattan' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FlowknnError);
      expect((err as FlowknnError).kind).toBe('environment');
      expect((err as Error).message).toMatch(/the GPU ran out of memory for 1000 training rows/u);
      await check(tiny, small, 50, 'a set that fits, after the failure');
    } finally {
      await tiny.dispose();
    }
  });

  it.skipIf(skip)(`batches are sized to fill the device without splits, to carry 2^34 pairs on small training sets, within its buffers${why}`, async () => {
    const engine = await WebGpuEngine.create({ allowSoftware: true });
    const small = await WebGpuEngine.create({ allowSoftware: true, maxBufferBytes: 16384 });
    const metric: Metric = { name: 'euclidean' };
    try {
      // a dispatch fills the device without splits at 2048 workgroups of 64 queries
      const fill = 2048 * 64;
      expect(await engine.batchQueries(Matrix.zeros(1_000_000, 7), 3, metric)).toBe(fill);
      // 2^34 / 50,000 = 343,598 queries, rounded up to whole dispatches of 131,072
      expect(await engine.batchQueries(Matrix.zeros(50_000, 7), 3, metric)).toBe(3 * fill);
      // a seed-sized model would want 45 M queries: capped at 2^19
      expect(await engine.batchQueries(Matrix.zeros(380, 7), 3, metric)).toBe(2 ** 19);
      // 16 KiB buffers hold 585 queries of 7 features
      expect(await small.batchQueries(Matrix.zeros(380, 7), 3, metric)).toBe(Math.floor(16384 / 28));
    } finally {
      await engine.dispose();
      await small.dispose();
    }
  });

  it('flowknn engines lists every engine with whether it can run and why not', async () => {
    const { code, stdout } = await runMain(['engines', '--format', 'json']);
    expect(code).toBe(0);
    const list = JSON.parse(stdout) as { name: string; usable: boolean; reason?: string; details: Record<string, unknown> }[];
    expect(list.map((e) => e.name)).toEqual(['cpu', 'webgpu', 'tfjs']);
    expect(list[0]!.usable).toBe(true);
    for (const e of list) if (!e.usable) expect(e.reason, e.name).toBeTruthy();
    const webgpu = list[1]!;
    if (webgpu.usable) expect(webgpu.details).toHaveProperty('limits.maxStorageBufferBindingSize');
    expect(list[2]!.details).toHaveProperty('backend');
  });
});
