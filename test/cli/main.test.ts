/**
 * The command line itself (src/cli/main.ts): `--` ends the options, so a file whose name starts
 * with a dash can be given; a lone `-` (standard input or output) is refused, never ignored.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin, runMain } from '../helpers/cli.js';
import { SEED_LABELS, SEED_PROBES, seedLabel } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

let root = '';
let cleanup: () => Promise<void> = async () => undefined;
let n = 0;
beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('flowknn-main-'));
});
afterAll(async () => {
  await cleanup();
});

async function fresh(): Promise<string> {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
}

describe('-- before file names that start with a dash', () => {
  it('ingest --out OUT -- -http.raw -smtp.raw reads both files (yargs alone said "Not enough non-option arguments")', async () => {
    const dir = await fresh();
    await copyFile(seedLabel('http'), join(dir, '-http.raw'));
    await copyFile(seedLabel('smtp'), join(dir, '-smtp.raw'));
    // relative names, as a user types them, in the folder of the files (the built CLI, run there)
    const r = await runBin(['ingest', '--out', 'out.arrow', '--', '-http.raw', '-smtp.raw'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\.\/-http\.raw: 155 rows/mu);
    expect(r.stderr).toMatch(/^wrote out\.arrow and out\.parquet: 240 stat rows from 2 file\(s\)$/mu);
    expect(await listTree(dir)).toEqual(['-http.raw', '-smtp.raw', 'out.arrow', 'out.parquet']);
  });

  it('classify --model M -- -probes.txt classifies the file', async () => {
    const dir = await fresh();
    const model = join(dir, 'model');
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet'])).code).toBe(0);
    await copyFile(join(SEED_PROBES, 'test-samples.txt'), join(dir, '-probes.txt'));
    const r = await runBin(['classify', '--model', model, '--engine', 'cpu', '--quiet', '--', '-probes.txt'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^#1 .* \.\/-probes\.txt:3 /mu);
  });
});

describe('a lone "-"', () => {
  it('ingest - --out X: exit 2, says standard input is not read, writes nothing (it did nothing and exited 0)', async () => {
    const dir = await fresh();
    const r = await runMain(['ingest', '-', '--out', join(dir, 'x.arrow')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flowknn: error: "-": reading standard input is not supported; write it to a file first\n  hint: e.g. nfdump ... > stats.txt, then give stats.txt\n');
    expect(await listTree(dir)).toEqual([]);
  });

  it('--out - and --labels -: exit 2, names the flag', async () => {
    const dir = await fresh();
    const out = await runMain(['ingest', seedLabel('http'), '--out', '-']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^flowknn: error: --out -: "-" \(standard input or output\) is not supported\n/u);
    const labels = await runMain(['train', '--labels', '-', '--out', join(dir, 'm')]);
    expect(labels.code).toBe(2);
    expect(labels.stderr).toMatch(/^flowknn: error: --labels -: "-" \(standard input or output\) is not supported\n/u);
    expect(await listTree(dir)).toEqual([]);
  });
});
