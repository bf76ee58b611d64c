import { describe, expect, it } from 'vitest';
import { editDistance, nearest } from '../../src/suggest.js';
import { runMain } from '../helpers/cli.js';

describe('misspelt commands and options', () => {
  it('distance counts a swap of two neighbours as one edit', () => {
    expect(editDistance('trian', 'train')).toBe(1);
    expect(editDistance('lables', 'labels')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('clasify', ['classify', 'train'])).toBe('classify');
    expect(nearest('x', ['k', 'p'])).toBeUndefined();
    expect(nearest('zzzzzz', ['train'])).toBeUndefined();
  });

  it.each([
    [['trian', '--labels', 'x'], 'unknown command "trian" (did you mean train?)'],
    [['evalute', '--k', '3'], 'unknown command "evalute" (did you mean evaluate?)'],
    [['label', 'ad', '--registry', 'r', '--name', 'n'], 'unknown command "ad" (did you mean add?)'],
    [['models', 'promot', 'seed', 'v1', '--registry', 'r'], 'unknown command "promot" (did you mean promote?)'],
    [['train', '--lables', 'data/seed-2015/labels', '--out', 'x'], 'unknown option --lables (did you mean --labels?)'],
    // a misspelt required option: said as misspelt, not as missing
    [['classify', 'x.txt', '--modle', 'm'], 'unknown option --modle (did you mean --model?)'],
    [['nightly', '--confg', 'x.json'], 'unknown option --confg (did you mean --config?)'],
    [['ingest', 'x.txt', '--out', 'x.arrow', '--flter', 'proto tcp', '--agregate', 'dstip'], 'unknown options --flter (did you mean --filter?), --agregate (did you mean --aggregate?)'],
  ])('%j: exit 2, %s', async (argv, message) => {
    const r = await runMain(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`flowknn: error: ${message}`);
  });

  it('a name far from every option is named without a guess', async () => {
    const r = await runMain(['train', '--zzzzzz', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flowknn: error: unknown option --zzzzzz\n');
  });
});
