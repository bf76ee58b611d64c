import { tableToIPC, tableFromArrays } from 'apache-arrow';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { failure } from '../helpers/failure.js';
import { SEED_LABELS } from '../helpers/paths.js';

describe('labelled data', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flowknn-labels-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a folder: classes in classes.txt order, rows in file order, --exclude drops a class', async () => {
    const set = await loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
    expect(set.classes).toEqual(['smtp', 'http', 'tivoli', 'small-flood', 'incoming-floods']);
    expect(set.features.rows).toBe(380);
    expect(set.labels[0]).toBe(0);
    expect(set.labels[85]).toBe(1); // http starts after smtp's 85 rows
    expect(set.sourceFile[85]).toMatch(/http\.raw$/u);
    expect(set.sourceLine[85]).toBe(3); // two comment lines, then the first row
    expect(Array.from(set.features.row(85))).toEqual([2.904, 1, 35252, 52.6e6, 12139, 144.8e6, 1491]);
  });

  it('a folder without classes.txt: alphabetical order', async () => {
    const sub = join(dir, 'alpha');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub));
    const line = '2015-02-26 14:01:11.476     2.904 any     XXX.XXX.XXX.XXX        1( 0.0)    35252( 0.0)   52.6 M( 0.0)    12139  144.8 M  1491\n';
    await writeFile(join(sub, 'web.raw'), line);
    await writeFile(join(sub, 'flood.raw'), line + line);
    const set = await loadLabelled(sub, NFDUMP_STAT7);
    expect(set.classes).toEqual(['flood', 'web']);
    expect(Array.from(set.labels)).toEqual([0, 0, 1]);
  });

  it('one table with a label column, as CSV and as Arrow', async () => {
    const csv = join(dir, 'labelled.csv');
    await writeFile(csv, 'label,duration_s,flows,packets,bytes,pps,bps,bpp\nweb,1,2,3,4,5,6,7\nmail,2,3,4,5,6,7,8\nweb,3,4,5,6,7,8,9\n');
    const a = await loadLabelled(csv, NFDUMP_STAT7);
    expect(a.classes).toEqual(['mail', 'web']);
    expect(Array.from(a.labels)).toEqual([0, 1, 1]); // rows grouped by class, file order within
    expect(Array.from(a.features.row(0))).toEqual([2, 3, 4, 5, 6, 7, 8]);
    const arrow = join(dir, 'labelled.arrow');
    const cols = Object.fromEntries(NFDUMP_STAT7.columns.map((c, j) => [c, Float64Array.from([1, 2, 3], (v) => v * 10 + j)]));
    await writeFile(arrow, tableToIPC(tableFromArrays({ ...cols, label: ['x', 'y', 'x'] }), 'file'));
    const b = await loadLabelled(arrow, NFDUMP_STAT7, { include: ['x'] });
    expect(b.classes).toEqual(['x']);
    expect(b.features.rows).toBe(2);
  });

  it('unknown label in --exclude, unlisted label file, missing feature column: clear errors', async () => {
    await expect(loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['dns'] })).rejects.toThrow(/label "dns" is not in/u);
    const csv = join(dir, 'nofeature.csv');
    await writeFile(csv, 'label,duration_s\nweb,1\n');
    await expect(loadLabelled(csv, NFDUMP_STAT7)).rejects.toThrow(/header lacks flows, packets/u);
    const sub = join(dir, 'unlisted');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub));
    await writeFile(join(sub, 'classes.txt'), 'web\n');
    await writeFile(join(sub, 'web.raw'), '2015-02-26 14:01:11.476 2.904 any X 1( 0.0) 1( 0.0) 1( 0.0) 1 1 1\n');
    await writeFile(join(sub, 'dns.raw'), '2015-02-26 14:01:11.476 2.904 any X 1( 0.0) 1( 0.0) 1( 0.0) 1 1 1\n');
    await expect(loadLabelled(sub, NFDUMP_STAT7)).rejects.toThrow(/does not list dns/u);
  });

  const LINE = '2015-02-26 14:01:11.476     2.904 any     XXX.XXX.XXX.XXX        1( 0.0)    35252( 0.0)   52.6 M( 0.0)    12139  144.8 M  1491\n';

  /** A labels folder of three classes, web, mail and flood, one row each. */
  async function threeClasses(name: string): Promise<string> {
    const sub = join(dir, name);
    await mkdir(sub);
    for (const c of ['web', 'mail', 'flood']) await writeFile(join(sub, `${c}.raw`), LINE);
    return sub;
  }

  it('a subfolder, a FIFO or a symlink to a folder in a labels folder fails naming it, instead of a class silently missing', async () => {
    const sub = await threeClasses('with-folder');
    await mkdir(join(sub, 'dns.raw'));
    const folder = await failure(loadLabelled(sub, NFDUMP_STAT7));
    expect(folder.exitCode).toBe(1);
    expect(folder.file).toBe(join(sub, 'dns.raw'));
    expect(folder.message).toBe('is a folder, not a label file; a labels folder holds one nfdump output file per label, named after the label (http.raw gives label http)');
    const fifo = await threeClasses('with-fifo');
    execFileSync('mkfifo', [join(fifo, 'dns.raw')]);
    expect((await failure(loadLabelled(fifo, NFDUMP_STAT7))).format()).toMatch(new RegExp(`^${join(fifo, 'dns.raw')}: is a FIFO \\(named pipe\\), not a label file`, 'u'));
    const linked = await threeClasses('with-link');
    await symlink(join(dir, 'with-folder'), join(linked, 'dns.raw'));
    const link = await failure(loadLabelled(linked, NFDUMP_STAT7));
    expect(link.file).toBe(join(linked, 'dns.raw'));
    expect(link.message).toMatch(/^is a symlink to .*with-folder, which is a folder; a labels folder holds one nfdump output file per label/u);
    const dangling = await threeClasses('with-dangling');
    await symlink(join(dir, 'nowhere.raw'), join(dangling, 'dns.raw'));
    expect((await failure(loadLabelled(dangling, NFDUMP_STAT7))).message).toMatch(/^is a symlink to .*nowhere\.raw, which is missing/u);
  });

  it('a symlink to a regular file is followed: its class is trained', async () => {
    const sub = await threeClasses('link-to-file');
    await writeFile(join(dir, 'dns-elsewhere.txt'), LINE + LINE);
    await symlink(join(dir, 'dns-elsewhere.txt'), join(sub, 'dns.raw'));
    const set = await loadLabelled(sub, NFDUMP_STAT7);
    expect(set.classes).toEqual(['dns', 'flood', 'mail', 'web']);
    expect(Array.from(set.labels)).toEqual([0, 0, 1, 2, 3]);
  });

  it('label names from file names and from a label column pass the check label add applies', async () => {
    const sub = await threeClasses('bad-name');
    await writeFile(join(sub, '-web.raw'), LINE);
    const named = await failure(loadLabelled(sub, NFDUMP_STAT7));
    expect(named.file).toBe(join(sub, '-web.raw'));
    expect(named.message).toBe('the file name does not give a label: label: expected a plain name (letters, digits, "_", "-", ".", starting with a letter or digit, at most 64), got "-web"');
    const csv = join(dir, 'bad-label.csv');
    await writeFile(csv, 'label,duration_s,flows,packets,bytes,pps,bps,bpp\nweb,1,2,3,4,5,6,7\n<b>x</b>,2,3,4,5,6,7,8\n');
    const col = await failure(loadLabelled(csv, NFDUMP_STAT7));
    expect(col.format()).toBe(`${csv}:3: label: expected a plain name (letters, digits, "_", "-", ".", starting with a letter or digit, at most 64), got "<b>x</b>"`);
    const arrow = join(dir, 'bad-label.arrow');
    const cols = Object.fromEntries(NFDUMP_STAT7.columns.map((c) => [c, Float64Array.from([1, 2])]));
    await writeFile(arrow, tableToIPC(tableFromArrays({ ...cols, label: ['ok', 'two words'] }), 'file'));
    expect((await failure(loadLabelled(arrow, NFDUMP_STAT7))).format()).toMatch(new RegExp(`^${arrow}: row 2: label: expected a plain name .* got "two words"$`, 'u'));
  });

  it('a negative or missing feature fails with the file and line the row came from', async () => {
    const csv = join(dir, 'negative.csv');
    await writeFile(csv, 'label,duration_s,flows,packets,bytes,pps,bps,bpp\nweb,1,2,3,4,5,6,7\nweb,1,2,3,-4,5,6,7\n');
    const neg = await failure(loadLabelled(csv, NFDUMP_STAT7));
    expect(neg.exitCode).toBe(1);
    expect(neg.format()).toBe(`${csv}:3: bytes: expected a number >= 0, got -4`);
    const arrow = join(dir, 'missing.arrow');
    const cols = Object.fromEntries(NFDUMP_STAT7.columns.map((c) => [c, [1, 2, 3]]));
    cols.pps = [1, null as unknown as number, 3];
    await writeFile(arrow, tableToIPC(tableFromArrays({ ...cols, label: ['a', 'a', 'b'] }), 'file'));
    expect((await failure(loadLabelled(arrow, NFDUMP_STAT7))).format()).toBe(`${arrow}: row 2: pps: expected a number >= 0, got nothing (a missing value)`);
  });
});
