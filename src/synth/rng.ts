import { mulberry32 } from '../random.js';

/**
 * Seeded randomness for the generator. Two kinds:
 * - `Rng`: a sequential generator (mulberry32) for decisions made once (the event schedule,
 *   one slot's background traffic);
 * - `hash32` / `unit`: stateless hashes of (seed, index), so a traffic stream can compute the
 *   jitter of its k-th packet without generating packets 0..k-1 first. That is what lets every
 *   5-minute slot be generated on its own, in any order, with the same result.
 */

/** murmur3's 32-bit finaliser over a running combination of the inputs. */
export function hash32(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x9e3779b1);
    h ^= h >>> 15;
    // fold in the high part of numbers above 2^32 (ids, microsecond times)
    const hi = Math.floor(x / 4294967296) >>> 0;
    if (hi !== 0) h = Math.imul(h ^ hi, 0x85ebca6b);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A fast two-input hash for per-packet use: uniform in [0, 1). */
export function unit(seed: number, i: number): number {
  let h = Math.imul((seed ^ Math.imul(i >>> 0, 0x9e3779b1)) >>> 0, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) / 4294967296;
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** real in [lo, hi) */
  uniform(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
  /** real in [lo, hi), uniform in log space (volumes spread over orders of magnitude) */
  logUniform(lo: number, hi: number): number {
    return Math.exp(Math.log(lo) + this.next() * (Math.log(hi) - Math.log(lo)));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  /** a fresh 32-bit seed for a child generator or a stream */
  seed(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}
