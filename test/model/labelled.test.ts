import { tableToIPC, tableFromArrays } from 'apache-arrow';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { loadLabelled } from '../../src/model/labelled.js';
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
});
