import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { correctedStandardError, logGamma, mcnemarExact, pairedFoldTest, regularizedBeta, studentTwoSided } from '../../src/eval/stats.js';
import { mulberry32, testSeed } from '../helpers/random.js';

/** The tests a sweep's choice rests on, against scipy on the same numbers. */
const PYTHON = '/usr/bin/python3';
const scipy = spawnSync(PYTHON, ['-c', 'import scipy.stats'], { stdio: 'ignore' }).status === 0;

function python(script: string, input: unknown): unknown {
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' }));
}

describe.skipIf(!scipy && process.env.CI !== 'true')(`statistics against scipy${scipy ? '' : ' (skipped: python3 with scipy is not installed)'}`, () => {
  it("Student's t, the incomplete beta, ln Gamma, McNemar's exact test and the corrected paired t-test", () => {
    const random = mulberry32(testSeed('stats'));
    const ts = [0, 0.1, 0.55, 1.2, 2.0096, 3.5, 8, 40].map((t) => [t, [1, 2, 9, 49, 200][Math.floor(random() * 5)]!] as const);
    const betas = Array.from({ length: 12 }, () => [random(), 0.5 + random() * 30, 0.5 + random() * 5] as const);
    const gammas = [0.5, 1, 1.5, 7.25, 30, 171.5, 400];
    const pairs = [
      [0, 0],
      [3, 12],
      [20, 21],
      [1, 40],
      [150, 110],
    ];
    // fold scores of two configurations on 50 folds, the second a little worse on most
    const a = Array.from({ length: 50 }, () => 0.8 + 0.1 * random());
    const b = a.map((v) => v - 0.01 + 0.03 * (random() - 0.5));
    const theirs = python(
      [
        'import json, sys, math',
        'import numpy as np',
        'from scipy import stats, special',
        'd = json.load(sys.stdin)',
        "t2 = [float(2 * stats.t.sf(abs(t), df)) for t, df in d['ts']]",
        "beta = [float(special.betainc(a, b, x)) for x, a, b in d['betas']]",
        "lg = [float(special.gammaln(x)) for x in d['gammas']]",
        "mc = [1.0 if x + y == 0 else float(stats.binomtest(min(x, y), x + y, 0.5).pvalue) for x, y in d['pairs']]",
        "diff = np.array(d['a']) - np.array(d['b'])",
        'J = len(diff)',
        'se = diff.std(ddof=1) * math.sqrt(1 / J + 1 / 9)',
        't = diff.mean() / se',
        "print(json.dumps({'t2': t2, 'beta': beta, 'lg': lg, 'mc': mc, 'paired': [float(diff.mean()), float(se), float(t), float(2 * stats.t.sf(abs(t), J - 1))]}))",
      ].join('\n'),
      { ts, betas, gammas, pairs, a, b },
    ) as { t2: number[]; beta: number[]; lg: number[]; mc: number[]; paired: number[] };

    ts.forEach(([t, df], i) => expect(studentTwoSided(t, df), `t ${t}, df ${df}`).toBeCloseTo(theirs.t2[i]!, 12));
    betas.forEach(([x, p, q], i) => expect(regularizedBeta(x, p, q), `I_${x}(${p}, ${q})`).toBeCloseTo(theirs.beta[i]!, 12));
    gammas.forEach((x, i) => expect(Math.abs(logGamma(x) - theirs.lg[i]!), `lnGamma(${x})`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(theirs.lg[i]!))));
    pairs.forEach(([onlyA, onlyB], i) => {
      // rows: onlyA right only for a, onlyB right only for b, 10 right for both, 5 wrong for both
      const truth: number[] = [];
      const pa: number[] = [];
      const pb: number[] = [];
      const add = (n: number, ra: boolean, rb: boolean) => {
        for (let r = 0; r < n; r++) {
          truth.push(0);
          pa.push(ra ? 0 : 1);
          pb.push(rb ? 0 : 2);
        }
      };
      add(onlyA!, true, false);
      add(onlyB!, false, true);
      add(10, true, true);
      add(5, false, false);
      const m = mcnemarExact(truth, pa, pb);
      expect([m.onlyA, m.onlyB]).toEqual([onlyA, onlyB]);
      expect(m.p, `McNemar ${onlyA} / ${onlyB}`).toBeCloseTo(theirs.mc[i]!, 12);
    });
    const paired = pairedFoldTest(a, b, 1 / 9);
    expect(paired.mean).toBeCloseTo(theirs.paired[0]!, 14);
    expect(paired.se).toBeCloseTo(theirs.paired[1]!, 14);
    expect(paired.t).toBeCloseTo(theirs.paired[2]!, 10);
    expect(paired.p).toBeCloseTo(theirs.paired[3]!, 12);
    expect(paired.df).toBe(49);
  });
});

describe('degenerate cases', () => {
  it('the same scores on every fold are no difference; one constant difference has no spread and is certain', () => {
    const same = pairedFoldTest([0.8, 0.9, 0.7], [0.8, 0.9, 0.7], 0.1);
    expect([same.mean, same.t, same.p]).toEqual([0, 0, 1]);
    const shifted = pairedFoldTest([1, 2, 3], [0.5, 1.5, 2.5], 0.1);
    expect(shifted.p).toBe(0);
    expect(shifted.t).toBe(Infinity);
    expect(() => pairedFoldTest([1], [1], 0.1)).toThrow(RangeError);
    expect(correctedStandardError(0.1, 50, 1 / 9)).toBeCloseTo(0.1 * Math.sqrt(0.02 + 1 / 9), 15);
  });
});
