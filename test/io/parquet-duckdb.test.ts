import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../helpers/cli.js';
import { sameInDuckDb as same } from '../helpers/duckdb.js';

/**
 * Every table flowknn writes has a Parquet copy beside its Arrow file; DuckDB (the tool an
 * operator reaches for first) reads it back with the same rows, the same column types and the
 * same instants. The Arrow side is read with apache-arrow (DuckDB's Arrow IPC reader is an
 * extension that has to be downloaded), value by value against what DuckDB returns.
 */

let dir: string;
let db: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flowknn-parquet-'));
  db = await (await DuckDBInstance.create(':memory:')).connect();
});

const sameInDuckDb = (arrowFile: string, parquetFile: string) => same(db, arrowFile, parquetFile);

afterAll(async () => {
  db?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

describe('Parquet outputs read back by DuckDB', () => {
  it('ingest: a stat table, its times as TIMESTAMP WITH TIME ZONE at the same instants', async () => {
    const out = join(dir, 'stats.arrow');
    const r = await runMain(['ingest', 'data/seed-2015/labels/http.raw', 'test/fixtures/nfdump-1.7/stat-dstip.txt', '--time-zone', 'Europe/Berlin', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const arrow = await sameInDuckDb(out, join(dir, 'stats.parquet'));
    expect(arrow.numRows).toBeGreaterThan(100);
    // An instant, not a wall-clock time: DuckDB in UTC shows what nfdump printed in Berlin, minus the offset.
    const first = (await db.runAndReadAll(`SET TimeZone = 'UTC'; SELECT strftime(min(first_seen), '%Y-%m-%d %H:%M:%S.%g') AS t FROM read_parquet('${join(dir, 'stats.parquet')}')`)).getRowObjectsJS()[0]!['t'];
    const seen = arrow.getChild('first_seen')!;
    const ms = Math.min(...Array.from({ length: arrow.numRows }, (_, i) => seen.get(i) as number | null).filter((v) => v !== null));
    expect(first).toBe(new Date(ms).toISOString().replace('T', ' ').replace('Z', ''));
  });

  it('ingest: streamed flow records and per-host aggregates', async () => {
    const flows = join(dir, 'flows.arrow');
    const a = await runMain(['ingest', 'test/fixtures/nfdump-1.7/flows.csv', 'test/fixtures/nfdump-1.7/flows-nosummary.csv', '--time-zone', 'UTC', '--out', flows, '--quiet']);
    expect(a.code, a.stderr).toBe(0);
    expect((await sameInDuckDb(flows, join(dir, 'flows.parquet'))).numRows).toBeGreaterThan(0);
    const agg = join(dir, 'agg.arrow');
    const b = await runMain(['ingest', 'test/fixtures/nfdump-1.7/flows.csv', '--aggregate', 'dstip', '--window', '5m', '--time-zone', 'UTC', '--out', agg, '--quiet']);
    expect(b.code, b.stderr).toBe(0);
    expect((await sameInDuckDb(agg, join(dir, 'agg.parquet'))).numRows).toBeGreaterThan(0);
  });

  it('train and classify: the training rows and the predictions, probability columns named without quotes', async () => {
    const model = join(dir, 'model');
    const t = await runMain(['train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--protocol', 'none', '--out', model, '--quiet']);
    expect(t.code, t.stderr).toBe(0);
    expect((await sameInDuckDb(join(model, 'train.arrow'), join(model, 'train.parquet'))).numRows).toBe(380);
    const out = join(dir, 'pred');
    const c = await runMain(['classify', 'data/seed-2015/probes/test-samples.txt', '--model', model, '--out', out, '--quiet']);
    expect(c.code, c.stderr).toBe(0);
    const predictions = join(out, 'predictions.parquet');
    const arrow = await sameInDuckDb(join(out, 'predictions.arrow'), predictions);
    const floods = (arrow.getChild('predicted')!.toArray() as string[]).filter((p) => p === 'small-flood').length;
    expect(floods).toBeGreaterThanOrEqual(4);
    // Plain SQL over the class columns: no quoting for small-flood or incoming-floods.
    const rows = (await db.runAndReadAll(`SELECT count(*)::INTEGER AS n, round(sum(p_small_flood + p_incoming_floods + p_http + p_smtp + p_tivoli))::INTEGER AS total FROM read_parquet('${predictions}') WHERE predicted = 'small-flood' AND p_small_flood >= 0.5`)).getRowObjectsJS();
    expect(rows[0]).toEqual({ n: floods, total: floods });
    expect(JSON.parse(arrow.schema.metadata.get('flowknn.classes')!)).toContain('small-flood');
  });
});
