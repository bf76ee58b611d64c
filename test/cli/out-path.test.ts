/**
 * Outputs never destroy inputs, nor anything a command did not write (README "Where outputs
 * go"): every command that writes a user-given path, on real files, folders, links and FIFOs.
 * What is refused is exit 2 with a message saying what is there and what the flag takes; an
 * unwritable folder is exit 3; neither is ever a stack trace (exit 70).
 */
import { execFileSync } from 'node:child_process';
import { chmod, cp, lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin, runMain } from '../helpers/cli.js';
import { SEED_LABELS, SEED_PROBES, seedLabel } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

let root = '';
let cleanup: () => Promise<void> = async () => undefined;
let n = 0;
/** A model trained once, for the commands that need one. */
let model = '';

const FAST = ['--protocol', 'none', '--engine', 'cpu', '--threads', '1', '--quiet'];

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('flowknn-out-cli-'));
  model = join(root, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--out', model, ...FAST]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await cleanup();
});

async function fresh(): Promise<string> {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
}

/** Every file under a folder with its content, to show a refused command changed nothing. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await listTree(dir)) if (!rel.endsWith('/')) out[rel] = await readFile(join(dir, rel), 'latin1');
  return out;
}

function errorLine(stderr: string): string {
  return stderr.split('\n').find((l) => l.startsWith('flowknn: error: ')) ?? `(no error line in: ${stderr})`;
}

describe('train --out replaces only a model folder (issue: it deleted whatever was there)', () => {
  it('train --labels L --out L: exit 2, says L is not a model folder, L is left as it was', async () => {
    const dir = await fresh();
    const labels = join(dir, 'L');
    await cp(SEED_LABELS, labels, { recursive: true });
    const before = await snapshot(labels);
    const r = await runMain(['train', '--labels', labels, '--out', labels, ...FAST]);
    expect(r.stderr).not.toMatch(/internal error/u);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`flowknn: error: --out ${labels} is a folder of 7 entries (classes.txt, http.raw, incoming-floods.raw, nfs.raw, ...), not a model folder (it has no model.json): flowknn does not replace what it did not write`);
    expect(r.stderr).toContain('hint: --out takes a new path, an empty folder, or a model folder (one with model.json), which is replaced whole');
    expect(await snapshot(labels)).toEqual(before);
    expect(await listTree(dir)).toEqual(['L/', ...Object.keys(before).map((f) => `L/${f}`)]);
  });

  it('train --out FILE: exit 2, the file is kept', async () => {
    const dir = await fresh();
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'my notes\n');
    const r = await runMain(['train', '--labels', SEED_LABELS, '--out', file, ...FAST]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`flowknn: error: --out ${file} is a file of 9 bytes, not a model folder: flowknn does not replace it`);
    expect(await readFile(file, 'utf8')).toBe('my notes\n');
  });

  it('an earlier model folder and an empty folder are replaced (control)', async () => {
    const dir = await fresh();
    const out = join(dir, 'm');
    await mkdir(out);
    expect((await runMain(['train', '--labels', SEED_LABELS, '--out', out, ...FAST])).code).toBe(0);
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--out', out, ...FAST])).code).toBe(0);
    expect(await listTree(dir)).toEqual(['m/', 'm/model.json', 'm/train.arrow', 'm/train.parquet']);
    expect(JSON.parse(await readFile(join(out, 'model.json'), 'utf8')).classes).not.toContain('nfs');
  });

  it('sweep --save-model LABELS_FOLDER: exit 2 before the sweep runs, the folder is left as it was', async () => {
    const dir = await fresh();
    const labels = join(dir, 'L');
    await cp(SEED_LABELS, labels, { recursive: true });
    const before = await snapshot(labels);
    const r = await runMain(['sweep', '--labels', labels, '--save-model', labels, '--k', '1', '--folds', '2', '--repeats', '1', '--engine', 'cpu', '--quiet']);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(/^flowknn: error: --save-model .* not a model folder \(it has no model.json\)/u);
    expect(await snapshot(labels)).toEqual(before);
  });
});

describe('symlinks, FIFOs, devices and inputs as --out (issue: they were replaced by a regular file)', () => {
  it('train --out LINK to a model folder: the model it points to is replaced, the link stays a link', async () => {
    const dir = await fresh();
    await cp(model, join(dir, 'v1'), { recursive: true });
    await symlink('v1', join(dir, 'current'));
    const r = await runMain(['train', '--labels', SEED_LABELS, '--out', join(dir, 'current'), ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect((await lstat(join(dir, 'current'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(dir, 'current'))).toBe('v1');
    expect(JSON.parse(await readFile(join(dir, 'v1', 'model.json'), 'utf8')).classes).toContain('nfs');
    expect(await listTree(dir)).toEqual(['current', 'v1/', 'v1/model.json', 'v1/train.arrow', 'v1/train.parquet']);
  });

  it('ingest --out LINK to an Arrow file: written through, the link stays', async () => {
    const dir = await fresh();
    const target = join(dir, 'data.arrow');
    expect((await runMain(['ingest', seedLabel('http'), '--out', target, '--quiet'])).code).toBe(0);
    await symlink('data.arrow', join(dir, 'latest.arrow'));
    const r = await runMain(['ingest', seedLabel('smtp'), '--out', join(dir, 'latest.arrow'), '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect((await lstat(join(dir, 'latest.arrow'))).isSymbolicLink()).toBe(true);
    const smtp = join(dir, 'smtp.arrow');
    expect((await runMain(['ingest', seedLabel('smtp'), '--out', smtp, '--quiet'])).code).toBe(0);
    expect((await stat(target)).size).toBe((await stat(smtp)).size);
  });

  it('ingest X --out X: exit 2, X is not overwritten', async () => {
    const dir = await fresh();
    const x = join(dir, 'x.arrow');
    expect((await runMain(['ingest', seedLabel('http'), '--out', x, '--quiet'])).code).toBe(0);
    const before = await readFile(x);
    const r = await runMain(['ingest', x, '--out', x]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`flowknn: error: --out ${x} is also an input (input ${x}): flowknn never writes over its inputs`);
    expect((await readFile(x)).equals(before)).toBe(true);
    // a flow CSV (streamed) read and written through a link to itself
    const csv = join(dir, 'flows.csv');
    await writeFile(csv, 'ts,te\n');
    await symlink(csv, join(dir, 'alias'));
    const s = await runMain(['ingest', csv, '--out', join(dir, 'alias')]);
    expect(s.code).toBe(2);
    expect(await readFile(csv, 'utf8')).toBe('ts,te\n');
  });

  it('--out a FIFO, /dev/null or /dev/stdout: exit 2, and the FIFO is still a FIFO', async () => {
    const dir = await fresh();
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const f = await runMain(['ingest', seedLabel('http'), '--out', fifo]);
    expect(f.code).toBe(2);
    expect(errorLine(f.stderr)).toMatch(/is a FIFO \(named pipe\): flowknn writes an output under a temporary name and renames it into place/u);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    const d = await runMain(['evaluate', '--labels', SEED_LABELS, '--protocol', 'resubstitution', '--out', '/dev/null', '--engine', 'cpu']);
    expect(d.code).toBe(2);
    expect(errorLine(d.stderr)).toMatch(/--out \/dev\/null .*is a character device/u);
    expect((await stat('/dev/null')).isCharacterDevice()).toBe(true);
    const s = await runMain(['train', '--labels', SEED_LABELS, '--out', '/dev/stdout', ...FAST]);
    expect(s.code).toBe(2);
    expect(errorLine(s.stderr)).toMatch(/--out \/dev\/stdout is a file descriptor of this process/u);
  });

  it('classify --out a folder that is not a predictions folder: exit 2; a folder classify wrote: replaced', async () => {
    const dir = await fresh();
    const labels = join(dir, 'L');
    await cp(SEED_LABELS, labels, { recursive: true });
    const before = await snapshot(labels);
    const probes = join(SEED_PROBES, 'test-samples.txt');
    const r = await runMain(['classify', probes, '--model', model, '--out', labels, '--engine', 'cpu']);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(/not a predictions folder \(it has no predictions.arrow or predictions.csv\)/u);
    expect(await snapshot(labels)).toEqual(before);
    const out = join(dir, 'pred');
    expect((await runMain(['classify', probes, '--model', model, '--out', out, '--engine', 'cpu', '--quiet'])).code).toBe(0);
    await writeFile(join(out, 'notes.txt'), 'mine');
    expect((await runMain(['classify', probes, '--model', model, '--out', out, '--engine', 'cpu', '--quiet'])).code).toBe(0);
    expect(await listTree(out)).toEqual(['notes.txt', 'predictions.arrow', 'predictions.csv', 'predictions.parquet']);
  });
});

describe('an existing folder as a file output (issue: EISDIR crashed with exit 70 and a stack trace)', () => {
  const cases: [string, (out: string) => string[]][] = [
    ['ingest --out', (out) => ['ingest', seedLabel('http'), '--out', out]],
    ['evaluate --out', (out) => ['evaluate', '--labels', SEED_LABELS, '--protocol', 'resubstitution', '--engine', 'cpu', '--out', out]],
    ['sweep --csv', (out) => ['sweep', '--labels', SEED_LABELS, '--k', '1', '--metrics', 'euclidean', '--scalers', 'zscore', '--weights', 'uniform', '--folds', '2', '--repeats', '1', '--engine', 'cpu', '--csv', out]],
    ['report --out', (out) => ['report', '--labels', SEED_LABELS, '--out', out]],
    ['classify --report', (out) => ['classify', join(SEED_PROBES, 'test-samples.txt'), '--model', model, '--engine', 'cpu', '--report', out]],
  ];
  it.each(cases)('%s FOLDER: exit 2, names the folder and what the flag takes', async (name, argv) => {
    const dir = await fresh();
    await writeFile(join(dir, 'keep.txt'), 'x');
    const r = await runMain(argv(dir));
    expect(r.stderr).not.toMatch(/internal error/u);
    expect(r.code).toBe(2);
    const flag = name.split(' ')[1]!;
    expect(errorLine(r.stderr)).toBe(`flowknn: error: ${flag} ${dir} is a folder of 1 entry (keep.txt), not a file: flowknn does not replace it`);
    expect(await listTree(dir)).toEqual(['keep.txt']);
  });

  it('two outputs naming one file: exit 2 (sweep --csv F --json F)', async () => {
    const dir = await fresh();
    const f = join(dir, 'f');
    const r = await runMain(['sweep', '--labels', SEED_LABELS, '--k', '1', '--csv', f, '--json', f, '--engine', 'cpu']);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`flowknn: error: --json ${f} and --csv ${f} are the same file: one would replace the other`);
  });
});

describe('an output folder this user cannot write (issue: EACCES crashed with exit 70)', () => {
  // Root may write anywhere: as root the built CLI runs as nobody (uid 65534), else as this user.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

  it('train, ingest, sweep --save-model and report into a read-only folder: exit 3 before any work, names the folder', async () => {
    const dir = await fresh();
    const ro = join(dir, 'ro');
    await mkdir(ro);
    await chmod(root, 0o755);
    await chmod(dir, 0o755);
    await chmod(ro, 0o555);
    const runs = [
      ['train', '--labels', SEED_LABELS, '--out', join(ro, 'model'), ...FAST],
      ['ingest', seedLabel('http'), '--out', join(ro, 'sub', 'x.arrow')],
      ['sweep', '--labels', SEED_LABELS, '--k', '1', '--folds', '2', '--repeats', '1', '--engine', 'cpu', '--save-model', join(ro, 'best')],
      ['report', '--labels', SEED_LABELS, '--out', join(ro, 'r.html')],
    ];
    for (const argv of runs) {
      const r = await runBin(argv, asUser);
      expect(r.stderr, argv.join(' ')).not.toMatch(/internal error/u);
      expect(r.code, `${argv.join(' ')}\n${r.stderr}`).toBe(3);
      expect(errorLine(r.stderr)).toMatch(new RegExp(`^flowknn: error: cannot write --[a-z-]+ ${ro}/\\S+: no permission to write in ${ro} \\(EACCES\\)$`, 'u'));
    }
    expect(await listTree(ro)).toEqual([]);
  });
});
