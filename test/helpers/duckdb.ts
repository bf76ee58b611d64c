import type { DuckDBConnection } from '@duckdb/node-api';
import { DataType, tableFromIPC, type Field, type Table } from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';

/** The DuckDB type a Parquet column of this Arrow type must come back as. */
function duckType(type: DataType): string {
  if (DataType.isTimestamp(type)) return type.timezone === 'UTC' ? 'TIMESTAMP WITH TIME ZONE' : 'TIMESTAMP';
  if (DataType.isFloat(type)) return 'DOUBLE';
  if (DataType.isInt(type)) return type.bitWidth === 64 ? 'BIGINT' : 'INTEGER';
  if (DataType.isUtf8(type)) return 'VARCHAR';
  if (DataType.isBool(type)) return 'BOOLEAN';
  if (DataType.isList(type)) return `${duckType(type.children[0]!.type as DataType)}[]`;
  throw new Error(`no DuckDB type for ${String(type)}`);
}

/** A column as DuckDB gives it, in comparable JavaScript values: timestamps as epoch ms. */
function select(field: Field): string {
  const c = `"${field.name}"`;
  if (DataType.isTimestamp(field.type)) return `epoch_ms(${c})::DOUBLE AS ${c}`;
  if (DataType.isList(field.type)) return `to_json(${c})::VARCHAR AS ${c}`;
  return c;
}

/** The same column read from Arrow, in the same terms. */
function arrowValues(table: Table, field: Field): unknown[] {
  const column = table.getChild(field.name)!;
  return Array.from({ length: table.numRows }, (_, i) => {
    const v = column.get(i) as unknown;
    if (v === null) return null;
    if (DataType.isList(field.type)) return JSON.stringify(Array.from((v as { toArray(): ArrayLike<unknown> }).toArray(), (x) => (typeof x === 'bigint' ? Number(x) : x)));
    if (typeof v === 'bigint') return v;
    return v;
  });
}

/**
 * Reads a Parquet file with DuckDB and checks it against the Arrow file beside it: the same
 * column names and order, the DuckDB type each Arrow type must map to (timestamp[ms, "UTC"] ->
 * TIMESTAMP WITH TIME ZONE), the same values row by row (times as epoch ms, lists as JSON), and
 * the flowknn metadata. Returns the Arrow table.
 */
export async function sameInDuckDb(db: DuckDBConnection, arrowFile: string, parquetFile: string): Promise<Table> {
  const arrow = tableFromIPC(await readFile(arrowFile));
  const described = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${parquetFile}')`)).getRowObjectsJS();
  expect(described.map((r) => r['column_name'])).toEqual(arrow.schema.fields.map((f) => f.name));
  expect(described.map((r) => r['column_type'])).toEqual(arrow.schema.fields.map((f) => duckType(f.type as DataType)));
  const fields = arrow.schema.fields;
  const reader = await db.runAndReadAll(`SELECT ${fields.map(select).join(', ')} FROM read_parquet('${parquetFile}')`);
  expect(reader.currentRowCount).toBe(arrow.numRows);
  const columns = reader.getColumnsJS();
  fields.forEach((field, j) => {
    expect(columns[j], field.name).toEqual(arrowValues(arrow, field));
  });
  // The flowknn metadata travels as Parquet key-value metadata too (the kind, the zone).
  const kv = (await db.runAndReadAll(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${parquetFile}')`)).getRowObjectsJS();
  const meta = new Map(kv.map((r) => [String(r['key']), String(r['value'])]));
  expect(meta.get('flowknn.kind')).toBe(arrow.schema.metadata.get('flowknn.kind'));
  expect(meta.has('ARROW:schema')).toBe(true);
  return arrow;
}
