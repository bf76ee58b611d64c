import { describe, expect, it } from 'vitest';
import { hasNfdumpTools } from '../helpers/nfcapd-fixture.js';
import { nightlyMatrix, trainMatrix } from './kill-matrix.js';

/**
 * A short run of the kill -9 matrix (test/pipeline/kill-matrix.ts; longer by hand with
 * `npx tsx test/pipeline/kill-matrix.ts --trials N`): every killed run, resumed or run again,
 * ends with the outputs of an uninterrupted run and nothing left behind.
 */

const trials = Number(process.env.FLOWKNN_KILL_TRIALS ?? 5);
const seed = Number(process.env.FLOWKNN_KILL_SEED ?? 20261101);
const log = (m: string) => console.log(m);

// As in the other nfcapd tests: in CI a missing nfdump is a failure, not a skip.
const real = hasNfdumpTools() || process.env.CI === 'true';

describe('the kill -9 matrix', () => {
  it(`train --registry: ${trials} kills (seed ${seed}, FLOWKNN_KILL_SEED to change), each run again, give the registry of an uninterrupted run`, async () => {
    const r = await trainMatrix({ trials, seed, log });
    expect(r.failures).toEqual([]);
    expect(r.identical).toBe(trials);
    expect(r.killed).toBeGreaterThan(0);
  }, 180_000);

  it.runIf(real)(`nightly: ${trials} kills of a first run and of a rerun replacing a finished day (seed ${seed}), each --resumed, give the outputs of an uninterrupted run${real ? '' : ' (skipped: nfdump/nfpcapd not on PATH)'}`, async () => {
    const r = await nightlyMatrix({ trials, seed, log });
    expect(r.failures).toEqual([]);
    expect(r.identical).toBe(trials);
    expect(r.killed).toBeGreaterThan(0);
  }, 300_000);
});
