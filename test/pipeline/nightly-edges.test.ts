import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { environmentError } from '../../src/errors.js';
import { parseNightlyConfig } from '../../src/pipeline/config.js';
import { runNightly } from '../../src/pipeline/nightly.js';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { runMain } from '../helpers/cli.js';
import { sameInDuckDb } from '../helpers/duckdb.js';
import { failure } from '../helpers/failure.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { writeFakeNfdump } from '../helpers/nfcapd-fixture.js';
import { nightlyConfigs } from '../helpers/nightly.js';

/**
 * The nightly job's edge cases on a small real archive (half an hour: six nfcapd files): a
 * night with nothing above the minimums, top-n statistics, a run that stops after its outputs.
 */

const DATE = '2026-11-01';
let dir: string;
let cleanup: () => Promise<void>;
let archive: SynthResult;
let model: string;

const { writeConfig } = nightlyConfigs(() => ({ dir, archive: archive.flowsDir, model }));

const day = (name: string) => join(dir, name, DATE);
const summaryOf = async (name: string) => JSON.parse(await readFile(join(day(name), 'summary.json'), 'utf8')) as { rows: number; flows: number; status: string; alerts: number };

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-nightly-edges-'));
  archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 0.5, seed: 3, background: 2000, jobs: 2 });
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(() => cleanup?.());

describe('nightly edge cases', () => {
  it('classify.alertClasses naming a class the model lacks is exit 2 before any work, listing its classes', async () => {
    const cfg = await writeConfig('typo', { classify: { engine: 'cpu', threads: 1, alertClasses: ['small-floods', 'incoming-floods'] } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${cfg}:`);
    expect(r.stderr).toContain('classify.alertClasses: "small-floods" (did you mean "small-flood"?) is not a class of the model');
    expect(r.stderr).toContain('its classes: smtp, http, tivoli, small-flood, incoming-floods');
    expect(r.stdout).toBe('');
    // nothing written for the day
    await expect(readFile(join(day('typo'), 'summary.json'))).rejects.toThrow(/ENOENT/u);
    // the unknown label counts as a class when the config sets one
    const unknown = await writeConfig('unknown-alert', { classify: { engine: 'cpu', threads: 1, alertClasses: ['unknown'], unknownLabel: 'unknown' } });
    const u = await runMain(['nightly', '--config', unknown, '--date', DATE, '--quiet']);
    expect(u.code, u.stderr).toBe(0);
  }, 120_000);

  it("a night's aggregates and predictions as Parquet: DuckDB reads the rows, types and instants of the Arrow files", async () => {
    const cfg = await writeConfig('parquet');
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    try {
      const aggregates = await sameInDuckDb(db, join(day('parquet'), 'aggregates.arrow'), join(day('parquet'), 'aggregates.parquet'));
      expect(aggregates.numRows).toBeGreaterThan(0);
      const predictions = await sameInDuckDb(db, join(day('parquet'), 'predictions.arrow'), join(day('parquet'), 'predictions.parquet'));
      expect(predictions.numRows).toBe(aggregates.numRows);
      // the night's counts by class, asked in plain SQL: those of summary.json
      const summary = JSON.parse(await readFile(join(day('parquet'), 'summary.json'), 'utf8')) as { predicted: Record<string, number> };
      const sql = (await db.runAndReadAll(`SELECT predicted, count(*)::INTEGER AS n FROM '${join(day('parquet'), 'predictions.parquet')}' GROUP BY predicted`)).getRowObjectsJS();
      expect(Object.fromEntries(sql.map((row) => [row['predicted'], row['n']]))).toEqual(Object.fromEntries(Object.entries(summary.predicted).filter(([, n]) => n > 0)));
    } finally {
      db.closeSync();
    }
  }, 120_000);

  it('a night where no aggregate reaches the minimums is a complete night of zero rows, not a failure', async () => {
    const cfg = await writeConfig('quiet', { aggregate: { minPackets: 1_000_000_000 } });
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const s = await summaryOf('quiet');
    expect(s).toMatchObject({ rows: 0, status: 'complete', alerts: 0 });
    expect(s.flows).toBeGreaterThan(0);
    expect(tableFromIPC(await readFile(join(day('quiet'), 'predictions.arrow'))).numRows).toBe(0);
    expect(await readFile(join(day('quiet'), 'alerts.ndjson'), 'utf8')).toBe('');
  }, 120_000);

  it("with aggregate.top, summary.flows is still every flow of the night, as nfdump's summary counts them", async () => {
    const all = await runMain(['nightly', '--config', await writeConfig('all'), '--date', DATE, '--quiet']);
    expect(all.code, all.stderr).toBe(0);
    const top = await runMain(['nightly', '--config', await writeConfig('top', { aggregate: { top: { n: 2, by: 'pps' } } }), '--date', DATE, '--quiet']);
    expect(top.code, top.stderr).toBe(0);
    const [a, t] = [await summaryOf('all'), await summaryOf('top')];
    expect(t.rows).toBeLessThanOrEqual(2 * archive.files.length);
    expect(t.flows).toBe(a.flows);
  }, 120_000);

  it('a run whose report could not be written is not taken for a finished day: the rerun writes the report', async () => {
    const file = await writeConfig('report');
    const loaded = parseNightlyConfig(await readFile(file, 'utf8'), file);
    const log = () => undefined;
    const err = await failure(
      runNightly({
        config: loaded,
        date: DATE,
        log,
        writeReport: () => Promise.reject(environmentError('cannot write report.html: ENOSPC')),
      }),
    );
    expect(err.exitCode).toBe(3);
    let written = false;
    const again = await runNightly({
      config: loaded,
      date: DATE,
      log,
      writeReport: async () => {
        written = true;
      },
    });
    expect(again.upToDate).toBe(false);
    expect(written).toBe(true);
  }, 120_000);

  it('flows source: a bad line after the last full batch of flows is kept in rejects.csv and counted', async () => {
    // nfdump printing exactly one batch of flows (65536) and then a line flowknn rejects
    const line = '1793491200.004|           0.000|1793491200.004|17   |      192.168.21.253| 55733|        10.0.0.1|    53|       1|      60|       0|       0|    1';
    const fake = await writeFakeNfdump(dir, 'nfdump-65536', `awk 'BEGIN { for (i = 0; i < 65536; i++) print "${line}"; print "not a flow line" }'`);
    const file = await writeConfig('batch-edge', { aggregate: { source: 'flows', key: 'dstip', window: 'whole' } });
    const loaded = parseNightlyConfig(await readFile(file, 'utf8'), file);
    const r = await runNightly({ config: loaded, date: DATE, log: () => undefined, nfdump: fake, jobs: 2 });
    expect(r.summary.inputs.failed).toBe(0);
    expect(r.summary.flows).toBe(65536 * archive.files.length);
    expect(r.summary.rejects).toBe(archive.files.length);
    const rejects = (await readFile(join(day('batch-edge'), 'rejects.csv'), 'utf8')).trim().split('\n').slice(1);
    expect(rejects).toHaveLength(archive.files.length);
    for (const l of rejects) expect(l).toContain(',65537,');
  }, 120_000);
  it('one stuck nfdump fails its input alone, naming the time limit; the night goes on', async () => {
    // A wrapper that hangs on one file (as a stuck NFS mount or a damaged file might) and runs
    // the real nfdump on the others.
    const stuck = archive.files[1]!.path.split('/').pop()!;
    const wrapper = join(dir, 'stuck-nfdump');
    await writeFile(wrapper, `#!/bin/sh\ncase "$*" in *${stuck}*) sleep 60;; esac\nexec nfdump "$@"\n`, { mode: 0o755 });
    const cfg = await writeConfig('stuck', { limits: { inputTimeout: 2 } });
    const started = Date.now();
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE, '--nfdump', wrapper, '--quiet']);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(r.code, r.stderr).toBe(1);
    const s = JSON.parse(await readFile(join(day('stuck'), 'summary.json'), 'utf8')) as { inputs: { ok: number; failed: number; failed_inputs: { path: string; error: string }[] } };
    expect(s.inputs.failed).toBe(1);
    expect(s.inputs.ok).toBe(archive.files.length - 1);
    expect(s.inputs.failed_inputs[0]!.path).toContain(stuck);
    expect(s.inputs.failed_inputs[0]!.error).toContain('within 2 s (the per-input time limit)');
  }, 120_000);
});
