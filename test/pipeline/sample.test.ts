import { describe, expect, it } from 'vitest';
import { DrawnSample } from '../../src/pipeline/sample.js';
import { mulberry32, testSeed } from '../helpers/random.js';

/** What the sample is, written the plain way over the whole night at once. */
function expected(novelty: Float64Array, max: number): number[] {
  const n = novelty.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const notable = Math.floor(max / 10);
  const keep = new Set<number>();
  const ranked = Array.from({ length: n }, (_, i) => i)
    .filter((i) => Number.isFinite(novelty[i]!))
    .sort((a, b) => novelty[b]! - novelty[a]! || a - b);
  for (const i of ranked.slice(0, notable)) keep.add(i);
  const stride = n / (max - notable);
  for (let j = 0; j < max - notable; j++) keep.add(Math.floor(j * stride));
  return [...keep].sort((a, b) => a - b);
}

describe('the report sample of a night streamed in batches', () => {
  it('is the even sample plus the most novel rows, in order, whatever the batches (random nights, ties and missing scores)', () => {
    const seed = testSeed('drawn sample');
    const random = mulberry32(seed);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + Math.floor(random() * 20_000);
      const max = 10 + Math.floor(random() * 300);
      // coarse scores: many ties; some rows without one
      const novelty = Float64Array.from({ length: n }, () => (random() < 0.05 ? Number.NaN : Math.floor(random() * 50)));
      const sample = new DrawnSample<number>(n, max);
      for (let from = 0; from < n; ) {
        const size = Math.min(n - from, 1 + Math.floor(random() * 3000));
        const at = from;
        sample.offer(from, size, novelty.subarray(from, from + size), (i) => at + i);
        from += size;
      }
      const got = sample.rows();
      expect(got, `trial ${trial}: ${n} rows, max ${max}`).toEqual(expected(novelty, max));
      expect(got.length).toBeLessThanOrEqual(max);
    }
  });

  it('rows offered out of order are a programming error, said at once', () => {
    const s = new DrawnSample<number>(100, 10);
    s.offer(0, 10, undefined, (i) => i);
    expect(() => s.offer(20, 10, undefined, (i) => i)).toThrow(/out of order/u);
  });
});
