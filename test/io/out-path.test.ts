/**
 * The rules for output paths (src/io/out-path.ts), on real files, folders, links, FIFOs,
 * sockets and devices: what may be replaced, what is refused (usage, exit 2) and what cannot
 * be written (environment, exit 3).
 */
import { execFileSync } from 'node:child_process';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutput, checkOutputs } from '../../src/io/out-path.js';
import { failure } from '../helpers/failure.js';
import { makeTempDir } from '../helpers/tmp.js';

let root = '';
let cleanup: () => Promise<void> = async () => undefined;
let n = 0;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('flowknn-out-path-'));
});
afterAll(async () => {
  await cleanup();
});

async function fresh(): Promise<string> {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
}

const ARROW_HEAD = Buffer.concat([Buffer.from('ARROW1\0\0'), Buffer.alloc(32)]);

describe('files a command writes whole', () => {
  it('a new path, an empty file, or a file of the same kind: written where given', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'empty.arrow'), '');
    await writeFile(join(dir, 'old.arrow'), ARROW_HEAD);
    await writeFile(join(dir, 'old.csv'), 'a,b\n1,2\n');
    await writeFile(join(dir, 'old.json'), '\n{"x": 1}\n');
    await writeFile(join(dir, 'old.html'), '<!DOCTYPE html>\n<html lang="en">');
    const got = await checkOutputs([
      { flag: '--out', path: join(dir, 'new', 'x.arrow'), file: 'arrow' },
      { flag: '--a', path: join(dir, 'empty.arrow'), file: 'arrow' },
      { flag: '--b', path: join(dir, 'old.arrow'), file: 'arrow' },
      { flag: '--c', path: join(dir, 'old.csv'), file: 'csv' },
      { flag: '--d', path: join(dir, 'old.json'), file: 'json' },
      { flag: '--e', path: join(dir, 'old.html'), file: 'html' },
      { flag: '--f', path: undefined, file: 'csv' },
    ]);
    expect(got.map((g) => g?.path)).toEqual([
      join(dir, 'new', 'x.arrow'),
      join(dir, 'empty.arrow'),
      join(dir, 'old.arrow'),
      join(dir, 'old.csv'),
      join(dir, 'old.json'),
      join(dir, 'old.html'),
      undefined,
    ]);
  });

  it('an Arrow output brings its Parquet copy beside it, checked by the same rules', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'old.arrow'), ARROW_HEAD);
    await writeFile(join(dir, 'old.parquet'), 'PAR1\x15\x04');
    const got = await checkOutput({ flag: '--out', path: join(dir, 'old.arrow'), file: 'arrow' });
    expect(got!.files).toEqual({ parquet: join(dir, 'old.parquet') });
    expect((await checkOutput({ flag: '--out', path: join(dir, 'noext'), file: 'arrow' }))!.files).toEqual({ parquet: join(dir, 'noext.parquet') });
    await writeFile(join(dir, 'mine.parquet'), 'my notes\n');
    const err = await failure(checkOutput({ flag: '--out', path: join(dir, 'mine.arrow'), file: 'arrow' }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^--out \(its Parquet copy\) .*mine\.parquet is a file of 9 bytes that is not a Parquet file/u);
  });

  it('a folder is refused (exit 2), naming what is in it and what the flag takes', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'keep.txt'), 'x');
    const err = await failure(checkOutput({ flag: '--out', path: dir, file: 'arrow' }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(`--out ${dir} is a folder of 1 entry (keep.txt), not a file: flowknn does not replace it`);
    expect(err.hint).toMatch(/takes a new file, an empty file, or an Arrow IPC file \(which is replaced\)/u);
  });

  it('a file of another kind is refused: a text file is not Arrow, a binary is not CSV, text is not HTML', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'notes.arrow'), 'my notes\n');
    await writeFile(join(dir, 'bin.csv'), Buffer.from([1, 2, 0, 44, 0]));
    await writeFile(join(dir, 'page.html'), 'hello');
    const a = await failure(checkOutput({ flag: '--out', path: join(dir, 'notes.arrow'), file: 'arrow' }));
    expect(a.exitCode).toBe(2);
    expect(a.message).toBe(`--out ${join(dir, 'notes.arrow')} is a file of 9 bytes that is not an Arrow IPC file (it starts "my notes"): flowknn does not replace what it did not write`);
    expect((await failure(checkOutput({ flag: '--csv', path: join(dir, 'bin.csv'), file: 'csv' }))).message).toMatch(/is a file of 5 bytes that is not a CSV file \(it starts "\\x01\\x02\\x00,\\x00"\)/u);
    expect((await failure(checkOutput({ flag: '--report', path: join(dir, 'page.html'), file: 'html' }))).message).toMatch(/not an HTML file/u);
  });

  it('"-" and "" are refused: outputs go to files', async () => {
    expect((await failure(checkOutput({ flag: '--out', path: '-', file: 'arrow' }))).message).toBe('--out -: writing to standard output is not supported');
    expect((await failure(checkOutput({ flag: '--out', path: '', file: 'arrow' }))).message).toBe('--out: expected a path, got nothing');
  });
});

describe('symlinks, FIFOs, sockets and devices', () => {
  it('a symlink is written through: the path returned is its target, in the target\'s folder', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'real'));
    await writeFile(join(dir, 'real', 'x.arrow'), ARROW_HEAD);
    await symlink(join(dir, 'real', 'x.arrow'), join(dir, 'link.arrow'));
    await symlink(join(dir, 'real'), join(dir, 'linkdir'));
    expect((await checkOutput({ flag: '--out', path: join(dir, 'link.arrow'), file: 'arrow' }))!.path).toBe(join(dir, 'real', 'x.arrow'));
    // a new file in a linked folder, and a model folder through a link
    expect((await checkOutput({ flag: '--out', path: join(dir, 'linkdir', 'y.arrow'), file: 'arrow' }))!.path).toBe(join(dir, 'linkdir', 'y.arrow'));
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'model.json'), '{}');
    await symlink(join(dir, 'model'), join(dir, 'current'));
    expect((await checkOutput({ flag: '--out', path: join(dir, 'current'), folder: 'model' }))!.path).toBe(join(dir, 'model'));
  });

  it('a symlink to a file of another kind, or to nothing, is refused', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'notes.txt'), 'mine\n');
    await symlink(join(dir, 'notes.txt'), join(dir, 'link.arrow'));
    await symlink(join(dir, 'gone'), join(dir, 'dangling.arrow'));
    const a = await failure(checkOutput({ flag: '--out', path: join(dir, 'link.arrow'), file: 'arrow' }));
    expect(a.exitCode).toBe(2);
    expect(a.message).toContain(`--out ${join(dir, 'link.arrow')} (a symlink to ${join(dir, 'notes.txt')}) is a file of 5 bytes that is not an Arrow IPC file`);
    const b = await failure(checkOutput({ flag: '--out', path: join(dir, 'dangling.arrow'), file: 'arrow' }));
    expect(b.message).toBe(`--out ${join(dir, 'dangling.arrow')} is a symlink to ${join(dir, 'gone')}, which does not exist`);
  });

  it('a FIFO, a socket, a character device and /dev/stdout are refused (exit 2), saying what they are', async () => {
    const dir = await fresh();
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const sock = join(dir, 'sock');
    const server: Server = createServer();
    await new Promise<void>((ok) => server.listen(sock, ok));
    try {
      const f = await failure(checkOutput({ flag: '--out', path: fifo, file: 'arrow' }));
      expect(f.exitCode).toBe(2);
      expect(f.message).toMatch(/is a FIFO \(named pipe\): flowknn writes an output under a temporary name and renames it into place/u);
      expect((await failure(checkOutput({ flag: '--out', path: sock, file: 'csv' }))).message).toMatch(/is a socket/u);
      expect((await failure(checkOutput({ flag: '--out', path: '/dev/null', file: 'arrow' }))).message).toMatch(/^--out \/dev\/null \(a symlink to|^--out \/dev\/null is a character device/u);
      const so = await failure(checkOutput({ flag: '--out', path: '/dev/stdout', file: 'arrow' }));
      expect(so.exitCode).toBe(2);
      expect(so.message).toMatch(/^--out \/dev\/stdout is a file descriptor of this process/u);
      await symlink(fifo, join(dir, 'to-pipe'));
      expect((await failure(checkOutput({ flag: '--out', path: join(dir, 'to-pipe'), file: 'arrow' }))).message).toMatch(/\(a symlink to .*pipe\) is a FIFO/u);
    } finally {
      server.close();
    }
  });
});

describe('folders a command writes', () => {
  it('a model folder, an empty folder or a new path may be replaced; a labels folder or a file may not', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'model.json'), '{}');
    await mkdir(join(dir, 'empty'));
    await mkdir(join(dir, 'labels'));
    for (const f of ['classes.txt', 'http.raw', 'smtp.raw']) await writeFile(join(dir, 'labels', f), 'x');
    await writeFile(join(dir, 'file'), 'x');
    for (const ok of ['model', 'empty', 'new']) expect((await checkOutput({ flag: '--out', path: join(dir, ok), folder: 'model' }))!.path).toBe(join(dir, ok));
    const labels = await failure(checkOutput({ flag: '--out', path: join(dir, 'labels'), folder: 'model' }));
    expect(labels.exitCode).toBe(2);
    expect(labels.message).toBe(
      `--out ${join(dir, 'labels')} is a folder of 3 entries (classes.txt, http.raw, smtp.raw), not a model folder (it has no model.json): flowknn does not replace what it did not write`,
    );
    expect(labels.hint).toBe('--out takes a new path, an empty folder, or a model folder (one with model.json), which is replaced whole');
    expect((await failure(checkOutput({ flag: '--out', path: join(dir, 'file'), folder: 'model' }))).message).toBe(`--out ${join(dir, 'file')} is a file of 1 bytes, not a model folder: flowknn does not replace it`);
  });

  it('a predictions folder: its three files are checked too and returned', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'pred'));
    await writeFile(join(dir, 'pred', 'predictions.csv'), 'key,predicted\n');
    await writeFile(join(dir, 'pred', 'report.html'), '<!doctype html>');
    const got = await checkOutput({ flag: '--out', path: join(dir, 'pred'), folder: 'predictions' });
    expect(got!.files).toEqual({
      'predictions.arrow': join(dir, 'pred', 'predictions.arrow'),
      'predictions.parquet': join(dir, 'pred', 'predictions.parquet'),
      'predictions.csv': join(dir, 'pred', 'predictions.csv'),
    });
    await mkdir(join(dir, 'pred', 'predictions.arrow'));
    expect((await failure(checkOutput({ flag: '--out', path: join(dir, 'pred'), folder: 'predictions' }))).message).toMatch(/^--out \(its predictions.arrow\) .* is an empty folder, not a file/u);
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'notes.txt'), 'x');
    expect((await failure(checkOutput({ flag: '--out', path: join(dir, 'other'), folder: 'predictions' }))).message).toMatch(/not a predictions folder/u);
  });

  it('synth: a foreign non-empty folder is refused unless forced', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'x'), 'x');
    expect((await failure(checkOutput({ flag: '--out', path: dir, folder: 'synth' }))).message).toMatch(/a non-empty folder that flowknn synth did not write/u);
    expect((await checkOutput({ flag: '--out', path: dir, folder: 'synth', force: true }))!.path).toBe(dir);
  });
});

describe('outputs never destroy inputs', () => {
  it('an output that is an input (same path, through a symlink or a hard link) is refused', async () => {
    const dir = await fresh();
    const input = join(dir, 'in.arrow');
    await writeFile(input, ARROW_HEAD);
    await symlink(input, join(dir, 'alias.arrow'));
    await link(input, join(dir, 'hard.arrow'));
    for (const out of [input, join(dir, 'alias.arrow'), join(dir, 'hard.arrow'), join(dir, '.', 'sub', '..', 'in.arrow')]) {
      const err = await failure(checkOutput({ flag: '--out', path: out, file: 'arrow' }, [{ flag: 'input', path: input }]));
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(new RegExp(`is also an input \\(input ${input.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')}\\): flowknn never writes over its inputs$`, 'u'));
    }
  });

  it('a folder replaced whole may not hold an input', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'model.json'), '{}');
    await writeFile(join(dir, 'model', 'train.arrow'), ARROW_HEAD);
    const err = await failure(checkOutput({ flag: '--out', path: join(dir, 'model'), folder: 'model' }, [{ flag: '--labels', path: join(dir, 'model', 'train.arrow') }]));
    expect(err.message).toBe(`--out ${join(dir, 'model')} holds an input (--labels ${join(dir, 'model', 'train.arrow')}), and --out replaces the whole folder: flowknn never writes over its inputs`);
  });

  it('two outputs may not be one file, nor one inside a folder another replaces whole', async () => {
    const dir = await fresh();
    const same = await failure(checkOutputs([{ flag: '--csv', path: join(dir, 'x'), file: 'csv' }, { flag: '--json', path: join(dir, 'x'), file: 'json' }]));
    expect(same.message).toBe(`--csv ${join(dir, 'x')} and --json ${join(dir, 'x')} are the same file: one would replace the other`);
    const inside = await failure(checkOutputs([{ flag: '--save-model', path: join(dir, 'm'), folder: 'model' }, { flag: '--csv', path: join(dir, 'm', 'x.csv'), file: 'csv' }]));
    expect(inside.message).toBe(`--csv ${join(dir, 'm', 'x.csv')} is inside --save-model ${join(dir, 'm')}, which is replaced whole`);
  });
});

describe('folders that cannot be written', () => {
  it('a file where a folder of the path should be: exit 3, names it', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'blocker'), 'x');
    const err = await failure(checkOutput({ flag: '--out', path: join(dir, 'blocker', 'sub', 'x.arrow'), file: 'arrow' }));
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe(`cannot write --out ${join(dir, 'blocker', 'sub', 'x.arrow')}: ${join(dir, 'blocker')} is a file, not a folder`);
  });
});
