import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../helpers/cli.js';

/**
 * --format, --json and --out mean the same in every command: --format text|json is what a
 * command prints (--json its shorthand), --out where it writes its result, --input-format how
 * inputs are read. The earlier spellings (ingest/classify --format F, sweep --json FILE) still
 * work, with a warning.
 */
const LABELS = 'data/seed-2015/labels';
const SWEEP = ['sweep', '--labels', LABELS, '--exclude', 'nfs', '--k', '1,3', '--metrics', 'euclidean', '--weights', 'uniform', '--scalers', 'log-zscore', '--folds', '2', '--repeats', '1', '--engine', 'cpu'];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flowknn-flags-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('one meaning per flag', () => {
  it('ingest and classify: --input-format; --format F still read, with a warning', async () => {
    const now = await runMain(['ingest', `${LABELS}/http.raw`, '--input-format', 'stat-text', '--out', join(dir, 'a.arrow')]);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stderr).not.toContain('warning');
    const before = await runMain(['ingest', `${LABELS}/http.raw`, '--format', 'stat-text', '--out', join(dir, 'b.arrow')]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stderr).toContain('flowknn: warning: --format stat-text: --format for the input format is deprecated, use --input-format stat-text');
    expect(await readFile(join(dir, 'b.arrow'))).toEqual(await readFile(join(dir, 'a.arrow')));
    const both = await runMain(['ingest', `${LABELS}/http.raw`, '--format', 'stat-text', '--input-format', 'stat-csv', '--out', join(dir, 'c.arrow')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--format stat-text and --input-format stat-csv disagree');
    const wrong = await runMain(['ingest', `${LABELS}/http.raw`, '--input-format', 'xml', '--out', join(dir, 'd.arrow')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/input-format.*xml/su);
  });

  it('evaluate: --json prints what --format json prints; --out writes the same JSON', async () => {
    const args = ['evaluate', '--labels', LABELS, '--exclude', 'nfs', '--protocol', 'resubstitution', '--engine', 'cpu', '--quiet'];
    const format = await runMain([...args, '--format', 'json']);
    const json = await runMain([...args, '--json', '--out', join(dir, 'ev.json')]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(format.stdout));
    expect(JSON.parse(await readFile(join(dir, 'ev.json'), 'utf8'))).toEqual(JSON.parse(format.stdout));
  });

  it('sweep: --out FILE writes the JSON, --json prints it; --json FILE still writes it, with a warning', async () => {
    const out = await runMain([...SWEEP, '--out', join(dir, 's1.json'), '--quiet']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^sweep: /u);
    const written = JSON.parse(await readFile(join(dir, 's1.json'), 'utf8')) as { chosen: unknown };
    const printed = await runMain([...SWEEP, '--json', '--quiet']);
    expect(printed.code, printed.stderr).toBe(0);
    expect((JSON.parse(printed.stdout) as { chosen: unknown }).chosen).toEqual(written.chosen);
    const old = await runMain([...SWEEP, '--json', join(dir, 's2.json'), '--quiet']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain(`flowknn: warning: --json FILE is deprecated, use --out ${join(dir, 's2.json')}`);
    expect(existsSync(join(dir, 's2.json'))).toBe(true);
    expect(old.stdout).toMatch(/^sweep: /u);
  });
});
