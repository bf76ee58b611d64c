import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelJsonDigest } from '../../src/model/folder.js';
import { runMain } from '../helpers/cli.js';
import { SEED_LABELS, SEED_PROBES } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
let model: string;
let original: string;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-model-folder-'));
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  original = await readFile(join(model, 'model.json'), 'utf8');
}, 120_000);
afterAll(() => cleanup?.());

const classify = () => runMain(['classify', join(SEED_PROBES, 'test-samples.txt'), '--model', model, '--engine', 'cpu']);

describe('model.json carries its sha256', () => {
  it('a changed value is refused naming model.json; a value no training writes is refused even with a matching checksum', async () => {
    const json = JSON.parse(original) as { sha256: string; scaler: { scale: number[] } };
    expect(json.sha256).toMatch(/^[0-9a-f]{64}$/u);
    expect((await classify()).code).toBe(0);

    json.scaler.scale[0] = -1e308;
    await writeFile(join(model, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
    const changed = await classify();
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain(`${join(model, 'model.json')}: does not match its sha256`);

    // whoever changes the value and the checksum still gets no such model
    json.sha256 = modelJsonDigest(json as unknown as Record<string, unknown>);
    await writeFile(join(model, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
    const resealed = await classify();
    expect(resealed.code).toBe(1);
    expect(resealed.stderr).toMatch(/model\.json:\d+: scaler\.scale\[0\] is -1e\+308: a scale must be a positive finite number/u);
  });

  it('a model written before the checksum is read with one warning; re-indenting the file keeps it valid', async () => {
    const { sha256: _gone, ...old } = JSON.parse(original) as Record<string, unknown>;
    await writeFile(join(model, 'model.json'), `${JSON.stringify(old, null, 2)}\n`);
    const r = await classify();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/has no sha256/gu)).toHaveLength(1);

    await writeFile(join(model, 'model.json'), JSON.stringify(JSON.parse(original)));
    const compact = await classify();
    expect(compact.code, compact.stderr).toBe(0);
    expect(compact.stderr).not.toContain('sha256');
  });
});
