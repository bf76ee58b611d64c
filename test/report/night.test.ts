/**
 * `flowknn report --nightly DIR` on a night whose files were removed, cut short or replaced
 * after the run: exit 1 naming the file and how to make the night again, never a reader's stack
 * trace (exit 70). The night is a real one: a generated quarter hour of nfcapd files through
 * `flowknn nightly`.
 */
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { cp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateArchive } from '../../src/synth/generate.js';
import { runMain } from '../helpers/cli.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

const DATE = '2026-11-01';
let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
let night = '';
let config = '';
let n = 0;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-night-report-'));
  const archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 0.25, seed: 5, background: 100, jobs: 2 });
  const model = join(dir, 'model');
  const trained = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(trained.code, trained.stderr).toBe(0);
  config = join(dir, 'nightly.json');
  await writeFile(
    config,
    JSON.stringify({ archive: { root: archive.flowsDir }, output: { root: join(dir, 'out') }, model: { path: model }, aggregate: { source: 'nfdump', key: 'dstip', minPackets: 10 }, classify: { engine: 'cpu', threads: 1 } }),
  );
  const run = await runMain(['nightly', '--config', config, '--date', DATE, '--quiet']);
  expect(run.code, run.stderr).toBe(0);
  night = join(dir, 'out', DATE);
}, 300_000);
afterAll(async () => {
  await cleanup();
});

/** A copy of the night, changed by `damage`, and its report made again into an empty folder. */
async function reportOf(damage: (copy: string) => Promise<void>) {
  const copy = join(dir, `copy-${++n}`);
  await cp(night, copy, { recursive: true });
  await damage(copy);
  const outDir = join(dir, `report-${n}`);
  const r = await runMain(['report', '--nightly', copy, '--out', join(outDir, 'night.html')]);
  return { r, copy, written: await listTree(dir).then((all) => all.filter((p) => p.startsWith(`report-${n}/`) && !p.endsWith('/'))) };
}

const HINT = () => `  hint: make the night again: flowknn nightly --config ${config} --date ${DATE} --force`;

describe('report --nightly on a damaged night', () => {
  it('the night as written: its report is made again (control)', async () => {
    const { r, written } = await reportOf(async () => undefined);
    expect(r.code, r.stderr).toBe(0);
    expect(written).toEqual(['report-1/night.html']);
  });

  it('predictions.arrow removed: exit 1, names it, says how to make the night again', async () => {
    const { r, copy, written } = await reportOf((c) => rm(join(c, 'predictions.arrow')));
    expect(r.stderr).not.toMatch(/internal error/u);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flowknn: error: ${join(copy, 'predictions.arrow')}: missing: the night's outputs are incomplete\n${HINT()}\n`);
    expect(written).toEqual([]);
  });

  it('predictions.arrow cut in half: exit 1, names it as cut short or damaged', async () => {
    const { r, copy } = await reportOf(async (c) => truncate(join(c, 'predictions.arrow'), Math.floor((await stat(join(c, 'predictions.arrow'))).size / 2)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flowknn: error: ${join(copy, 'predictions.arrow')}: not a complete Arrow IPC file: cut short or damaged after the run\n${HINT()}\n`);
  });

  it('predictions.arrow replaced by its first 3 rows: exit 1, the row count differs from summary.json', async () => {
    const { r, copy } = await reportOf(async (c) => {
      const t = tableFromIPC(await readFile(join(c, 'predictions.arrow')));
      expect(t.numRows).toBeGreaterThan(3);
      await writeFile(join(c, 'predictions.arrow'), tableToIPC(t.slice(0, 3), 'file'));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^flowknn: error: ${join(copy, 'predictions.arrow')}: holds 3 rows; summary.json counts \\d+: the file was cut short or replaced after the run\\n`, 'u'));
  });

  it('alerts.ndjson removed: exit 1, names it', async () => {
    const { r, copy } = await reportOf((c) => rm(join(c, 'alerts.ndjson')));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flowknn: error: ${join(copy, 'alerts.ndjson')}: missing: the night's outputs are incomplete\n${HINT()}\n`);
  });

  it('incidents.ndjson removed: exit 1, names it', async () => {
    const { r, copy } = await reportOf((c) => rm(join(c, 'incidents.ndjson')));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flowknn: error: ${join(copy, 'incidents.ndjson')}: missing: the night's outputs are incomplete\n${HINT()}\n`);
  });
});

describe('report --nightly: the previous nights beside it', () => {
  it('--history N reads the N day folders before it: a readable night, a gap, and folders that are no night named with why', async () => {
    const out = join(dir, 'out');
    // the night again as 2026-10-28 (its summary says so); 10-29 missing; 10-30 a file; 10-31 a copy that still says 11-01
    await cp(night, join(out, '2026-10-28'), { recursive: true });
    const summary = JSON.parse(await readFile(join(out, '2026-10-28', 'summary.json'), 'utf8')) as { date: string; incidents: { open: number } };
    await writeFile(join(out, '2026-10-28', 'summary.json'), JSON.stringify({ ...summary, date: '2026-10-28' }));
    await writeFile(join(out, '2026-10-30'), 'not a night');
    await cp(night, join(out, '2026-10-31'), { recursive: true });
    try {
      const file = join(dir, 'history-4.html');
      const r = await runMain(['report', '--nightly', night, '--history', '4', '--out', file]);
      expect(r.code, r.stderr).toBe(0);
      const html = await readFile(file, 'utf8');
      expect(html).toContain('<section id="tonight-against-the-previous-nights">');
      expect(html).toContain(`<title>2026-10-28: ${summary.incidents.open} open incidents</title>`);
      expect(html).toContain('No night in the output folder for 2026-10-29.');
      expect(html).toContain(`Unreadable, left out: 2026-10-30 (2026-10-30: not a folder); 2026-10-31 (summary.json: is the summary of ${DATE}, not of its folder&#39;s night).`);
      // the same hosts alerted on the readable night: none is new
      expect(html).toContain('Hosts new tonight: none.');
      // the section follows the incidents
      const headings = [...html.matchAll(/<h2>([^<]*)<\/h2>/gu)].map((m) => m[1]);
      expect(headings.slice(0, 2)).toEqual(['Incidents', 'Tonight against the previous nights']);

      const none = join(dir, 'history-0.html');
      expect((await runMain(['report', '--nightly', night, '--history', '0', '--out', none])).code).toBe(0);
      expect(await readFile(none, 'utf8')).not.toContain('Tonight against the previous nights');
    } finally {
      for (const d of ['2026-10-28', '2026-10-30', '2026-10-31']) await rm(join(out, d), { recursive: true, force: true });
    }
  }, 60_000);

  it('--history outside 0..366, or without --nightly, is a usage error (exit 2)', async () => {
    const r = await runMain(['report', '--nightly', night, '--history', '367', '--out', join(dir, 'h.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--history must be a whole number of nights from 0 to 366, got 367');
    const alone = await runMain(['report', '--labels', SEED_LABELS, '--history', '3', '--out', join(dir, 'h.html')]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--history sets the previous nights of a nightly report');
  });
});
