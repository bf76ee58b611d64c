import { Field, Float64, Utf8 } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCsvFile, tableToCsv } from '../../src/io/csv.js';
import { buildTable, withMetadata } from '../../src/schema/arrow.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('CSV files written in pieces', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await makeTempDir()));
  afterAll(() => cleanup());

  it('are the same text as the whole-table CSV, across many pieces, quoting included', async () => {
    const n = 25_003; // three pieces of 10,000 lines and a short one
    const schema = withMetadata([new Field('key', new Utf8(), true), new Field('value', new Float64(), false)], {});
    const table = buildTable(schema, { key: Array.from({ length: n }, (_, i) => (i % 997 === 0 ? `a,"b"\n${i}` : i % 13 === 0 ? null : `host-${i}`)), value: Float64Array.from({ length: n }, (_, i) => i / 7) }, n);
    const file = join(dir, 'out.csv');
    await writeCsvFile(file, table);
    const text = await readFile(file, 'utf8');
    expect(text).toBe(tableToCsv(table));
    expect(text.startsWith('key,value\n')).toBe(true);
    expect(text).toContain('"a,""b""\n997",142.42857142857142\n');
  });
});
