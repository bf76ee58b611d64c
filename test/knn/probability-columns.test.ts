import { Field, Float64, Utf8 } from 'apache-arrow';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predictionClasses, probabilityColumn, probabilityColumns } from '../../src/knn/predictions.js';
import { predictionsFromTable } from '../../src/report/inputs.js';
import { buildTable, withMetadata } from '../../src/schema/arrow.js';
import { runMain } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flowknn-pcols-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('probability columns', () => {
  it('are SQL names without quoting: lower case, letters, digits and _', () => {
    expect(probabilityColumn('small-flood')).toBe('p_small_flood');
    expect(probabilityColumn('Web.v2')).toBe('p_web_v2');
    expect(probabilityColumn('http')).toBe('p_http');
    for (const c of ['small-flood', 'incoming-floods', 'A.b-c_9']) expect(probabilityColumn(c)).toMatch(/^[a-z_][a-z0-9_]*$/u);
  });

  it('refuse two classes that would share one, naming both', () => {
    expect(() => probabilityColumns(['small-flood', 'small_flood'])).toThrow(/"small-flood" and "small_flood" would share the probability column p_small_flood/u);
    expect(() => probabilityColumns(['HTTP', 'http'])).toThrow(/p_http/u);
  });

  it('train refuses such labels before reading them (exit 2)', async () => {
    const labels = join(dir, 'labels');
    await mkdir(labels);
    await copyFile('data/seed-2015/labels/http.raw', join(labels, 'small-flood.raw'));
    await copyFile('data/seed-2015/labels/smtp.raw', join(labels, 'small_flood.raw'));
    const r = await runMain(['train', '--labels', labels, '--protocol', 'none', '--out', join(dir, 'm'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/share the probability column p_small_flood/u);
  });

  it('a predictions table written before the rename (p_small-flood, no flowknn.classes) is still read', () => {
    const fields = ['flows', 'bps', 'pps', 'p_small-flood', 'p_http'].map((n) => new Field(n, new Float64(), false));
    const schema = withMetadata([...fields, new Field('predicted', new Utf8(), false)], { 'flowknn.kind': 'predictions' });
    const table = buildTable(schema, { flows: [1], bps: [2], pps: [3], 'p_small-flood': [0.75], p_http: [0.25], predicted: ['small-flood'] }, 1);
    expect(predictionClasses(table)).toEqual({ classes: ['small-flood', 'http'], columns: ['p_small-flood', 'p_http'] });
    expect(predictionsFromTable(table).classes).toEqual(['small-flood', 'http']);
  });

  it('a table whose metadata lists a class without its column is refused, naming the column', () => {
    const schema = withMetadata([new Field('p_http', new Float64(), false)], { 'flowknn.classes': JSON.stringify(['http', 'small-flood']) });
    const table = buildTable(schema, { p_http: [1] }, 1);
    expect(() => predictionClasses(table, 'x.arrow')).toThrow(/p_small_flood/u);
  });
});
