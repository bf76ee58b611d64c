import { describe, expect, it } from 'vitest';
import { Matrix } from '../../src/matrix.js';
import { PER_GROUP, suggestRows, type SuggestInput } from '../../src/model/label-suggest.js';
import { mulberry32 } from '../../src/random.js';

const seed = Number(process.env.FLOWKNN_TEST_SEED ?? Date.now() % 100_000);
console.log(`label suggest: random rows with seed ${seed} (FLOWKNN_TEST_SEED=${seed} to repeat)`);

/** Rows of hosts: each host's rows vote one class with the given share and novelty. */
function night(hosts: { name: string; rows: number; cls: number; share: number; novelty: number }[]): SuggestInput {
  const random = mulberry32(seed);
  const n = hosts.reduce((s, h) => s + h.rows, 0);
  const features = Matrix.zeros(n, 7);
  const probabilities = new Float64Array(n * 2);
  const novelty = new Float64Array(n);
  const group: string[] = [];
  const voted: string[] = [];
  let i = 0;
  for (const h of hosts) {
    for (let r = 0; r < h.rows; r++, i++) {
      for (let f = 0; f < 7; f++) features.data[i * 7 + f] = 1000 * (1 + h.cls) * (1 + random());
      probabilities[i * 2 + h.cls] = h.share;
      probabilities[i * 2 + 1 - h.cls] = 1 - h.share;
      novelty[i] = h.novelty * (1 + 0.1 * random());
      group.push(h.name);
      voted.push(h.cls === 0 ? 'http' : 'smtp');
    }
  }
  return { features, voted, probabilities, classes: 2, novelty, threshold: 1, group };
}

describe('label suggest', () => {
  const input = night([
    { name: 'host a', rows: 40, cls: 0, share: 2 / 3, novelty: 3 },
    { name: 'host b', rows: 10, cls: 0, share: 1, novelty: 2 },
    { name: 'incident c', rows: 5, cls: 0, share: 1, novelty: 0.2 },
    { name: 'host d', rows: 30, cls: 1, share: 1, novelty: 0.1 },
  ]);

  it('one row per incident or host before a second, the classes taken in turn, the most worthy first', () => {
    const picked = suggestRows(input, 4);
    expect(new Set(picked.map((s) => s.group))).toEqual(new Set(['host a', 'host b', 'incident c', 'host d']));
    // http's most worthy host first (novel and split), then smtp's only host, then http again
    expect(picked.map((s) => s.group).slice(0, 3)).toEqual(['host a', 'host d', 'host b']);
    expect(picked[0]!.noveltyRatio).toBeGreaterThan(2.9);
    expect(picked[0]!.margin).toBeCloseTo(1 / 3, 12);
    // a second round of groups starts only when every group gave one
    const more = suggestRows(input, 6);
    expect(more.slice(0, 4)).toEqual(picked);
    expect(new Set(more.slice(4).map((s) => s.group)).size).toBe(2);
  });

  it('never suggests an excluded row (one the model was trained on), and no row twice', () => {
    const exclude = new Set(Array.from({ length: 40 }, (_, i) => i)); // all of host a
    const picked = suggestRows({ ...input, exclude }, 20);
    expect(picked).toHaveLength(20);
    expect(picked.some((s) => exclude.has(s.row))).toBe(false);
    expect(new Set(picked.map((s) => s.row)).size).toBe(20);
  });

  it('asks for no more rows than the night has, and at most PER_GROUP of one incident or host', () => {
    const picked = suggestRows(input, 500);
    expect(picked).toHaveLength(PER_GROUP * 3 + 5);
    const small = night([{ name: 'host a', rows: 3, cls: 0, share: 1, novelty: 1 }]);
    expect(suggestRows(small, 30)).toHaveLength(3);
  });
});
