/**
 * Arrow inputs written by other tools: 64-bit integer columns are read as exact doubles or
 * refused, and tables of different column types are never joined byte for byte.
 */
import { Float32, makeVector, RecordBatch, Schema, Table, tableToIPC, Uint64, Utf8, vectorFromArray } from 'apache-arrow';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinTables, numberColumn, readArrowFile } from '../../src/schema/arrow.js';
import { failure } from '../helpers/failure.js';
import { makeTempDir } from '../helpers/tmp.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-arrow-'));
});
afterAll(async () => {
  await cleanup();
});

describe('readArrowFile: Int64 and Uint64 columns', () => {
  it('are read as Float64 when every value is exact, over every batch, nulls and metadata kept', async () => {
    const part = (flows: bigint[], bytes: (bigint | null)[], keys: string[]) =>
      new Table({ flows: makeVector(BigInt64Array.from(flows)), bytes: vectorFromArray(bytes, new Uint64()), key: vectorFromArray(keys, new Utf8()) });
    const parts = [part([1n, -2n], [2n ** 53n - 1n, null], ['a', 'b']), part([3n], [7n], ['c'])];
    const schema = new Schema(parts[0]!.schema.fields, new Map([['flowknn.kind', 'stat']]));
    const file = join(dir, 'wide.arrow');
    await writeFile(file, tableToIPC(new Table(schema, parts.flatMap((p) => p.batches).map((b) => new RecordBatch(schema, b.data))), 'file'));
    const t = await readArrowFile(file);
    expect(t.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(['flows:Float64', 'bytes:Float64', 'key:Utf8']);
    expect(t.schema.metadata.get('flowknn.kind')).toBe('stat');
    expect(t.batches).toHaveLength(2);
    expect(Array.from(numberColumn(t, 'flows')!)).toEqual([1, -2, 3]);
    expect(t.getChild('bytes')!.toJSON()).toEqual([2 ** 53 - 1, null, 7]);
  });

  it('a value beyond 2^53 - 1 is refused: names the file, the column, its type and the row', async () => {
    const file = join(dir, 'huge.arrow');
    await writeFile(file, tableToIPC(new Table({ bytes: makeVector(BigUint64Array.from([5n, 2n ** 60n + 1n])) }), 'file'));
    const err = await failure(readArrowFile(file));
    expect(err.exitCode).toBe(1);
    expect(err.format()).toBe(
      `${file}: column bytes (Uint64) holds 1152921504606846977 in row 2, beyond 2^53 - 1, the largest whole number a double holds exactly\n` +
        '  hint: flowknn reads every number as a double: store bytes as Float64, or as Int64 within +/- 9007199254740991',
    );
  });
});

describe('joinTables', () => {
  it('refuses parts whose column types differ instead of reading one type\'s bytes as another', () => {
    const a = new Table({ bytes: makeVector(Float64Array.from([1, 2])) });
    const b = new Table({ bytes: makeVector(Float32Array.from([3])) });
    expect(String(b.schema.fields[0]!.type)).toBe(String(new Float32()));
    expect(() => joinTables([a, b], {})).toThrow(/^cannot join these tables: column bytes \(Float64\) of the first is bytes \(Float32\) in input 2$/u);
    expect(joinTables([a, new Table({ bytes: makeVector(Float64Array.from([3])) })], {}).getChild('bytes')!.toJSON()).toEqual([1, 2, 3]);
  });
});
