import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportCommand } from '../../src/cli/commands/report.js';
import { makeContext } from '../../src/cli/context.js';
import { FlowknnError, usageError } from '../../src/errors.js';
import { Collector, runMain } from '../helpers/cli.js';
import { SEED_LABELS, SEED_PROBES } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * Runs `flowknn report ...argv` the way src/cli/main.ts runs a command (strict yargs, errors to
 * exit codes), with only the report command registered, so it can be tested before main.ts
 * registers it.
 */
async function runReport(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Collector();
  const stderr = new Collector();
  const ctx = makeContext(stdout, stderr, false);
  const cli = yargs(['report', ...argv])
    .scriptName('flowknn')
    .command(reportCommand(ctx))
    .strict()
    .help()
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw usageError(msg ?? 'bad arguments');
    });
  let code = 0;
  try {
    await cli.parseAsync();
  } catch (err) {
    if (!(err instanceof FlowknnError)) throw err;
    stderr.write(`flowknn: error: ${err.format()}\n`);
    code = err.exitCode;
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let dir: string;
let cleanup: () => Promise<void>;
const model = () => join(dir, 'model');
const evaluationFile = () => join(dir, 'evaluation.json');
const predictions = () => join(dir, 'probes/predictions.arrow');
const sweepFile = () => join(dir, 'sweep.json');

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-report-'));
  const common = ['--labels', SEED_LABELS, '--exclude', 'nfs', '--engine', 'cpu', '--threads', '1', '--quiet'];
  expect((await runMain(['train', ...common, '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--out', model()])).code).toBe(0);
  expect((await runMain(['evaluate', '--model', model(), '--protocol', 'loo', '--engine', 'cpu', '--threads', '1', '--quiet', '--out', evaluationFile(), '--format', 'json'])).code).toBe(0);
  expect((await runMain(['classify', join(SEED_PROBES, 'test-samples.txt'), '--model', model(), '--engine', 'cpu', '--threads', '1', '--quiet', '--out', join(dir, 'probes')])).code).toBe(0);
  expect((await runMain(['sweep', ...common, '--k', '1..5', '--metrics', 'euclidean,manhattan', '--weights', 'uniform', '--scalers', 'zscore,log-zscore', '--folds', '5', '--repeats', '2', '--out', sweepFile()])).code).toBe(0);
});

afterAll(() => cleanup?.());

const figures = (html: string) => [...html.matchAll(/<figure class="chart" data-chart="([^"]+)"/gu)].map((m) => m[1]);

describe('flowknn report', () => {
  it('--help documents every flag', async () => {
    // yargs prints help with console.log.
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    let code: number;
    let stdout: string;
    try {
      code = (await runReport(['--help'])).code;
      stdout = log.mock.calls.map((c) => c.join(' ')).join('\n');
    } finally {
      log.mockRestore();
    }
    expect(code).toBe(0);
    expect(stdout).toContain('flowknn report --out FILE.html');
    for (const flag of ['--out', '--title', '--evaluation', '--labels', '--model', '--exclude', '--include', '--predictions', '--novelty-column', '--novelty-threshold', '--sweep', '--max-rows', '--digits']) {
      expect(stdout).toContain(flag);
    }
  });

  it('draws an evaluation with the model\'s training rows', async () => {
    const out = join(dir, 'evaluation.html');
    const r = await runReport(['--evaluation', evaluationFile(), '--model', model(), '--out', out]);
    expect(r.stderr).toContain(`wrote ${out}`);
    expect(r.code).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(figures(html)).toEqual(['confusion', 'class-scores', 'scatter']);
    const evaluation = JSON.parse(await readFile(evaluationFile(), 'utf8')) as { accuracy: number };
    expect(html).toContain(`Accuracy ${evaluation.accuracy.toFixed(3)}`);
    expect(html).toContain('leave-one-out (380 folds)');
    expect(html).toContain('training rows sha256');
  });

  it('draws classified rows over the training data, with novelty scores from a column', async () => {
    const out = join(dir, 'probes.html');
    const r = await runReport(['--predictions', predictions(), '--model', model(), '--out', out, '--title', 'Probes <night>']);
    expect(r.code).toBe(0);
    const html = await readFile(out, 'utf8');
    // classify wrote the model's novelty scores and threshold: the report draws them unasked.
    expect(figures(html)).toEqual(['scatter', 'novelty']);
    expect(html).toContain('mean distance to the 3 nearest training rows (model space)');
    expect(html).toContain('<title>Probes &lt;night&gt;</title>');
    expect(html).toContain('20 classified rows');
    expect(html).toContain('test-samples.txt:1');
    // probability as a novelty score: a column with a threshold.
    const n = await runReport(['--predictions', predictions(), '--model', model(), '--out', out, '--novelty-column', 'probability', '--novelty-threshold', '0.9']);
    expect(n.code).toBe(0);
    expect(figures(await readFile(out, 'utf8'))).toEqual(['scatter', 'novelty']);
    const missing = await runReport(['--predictions', predictions(), '--out', out, '--novelty-column', 'no_such_column']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no column "no_such_column"');
  });

  it('draws a sweep from flowknn sweep --json', async () => {
    const out = join(dir, 'sweep.html');
    const r = await runReport(['--sweep', sweepFile(), '--out', out]);
    expect(r.code).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(figures(html)).toEqual(['sweep']);
    expect(html).toContain('in the sweep’s ranking');
    expect(html).toContain('stratified 5-fold x 2 repeats');
  });

  it('draws labelled data alone', async () => {
    const out = join(dir, 'labels.html');
    const r = await runReport(['--labels', SEED_LABELS, '--exclude', 'nfs', '--out', out]);
    expect(r.code).toBe(0);
    expect(figures(await readFile(out, 'utf8'))).toEqual(['scatter']);
  });

  it('refuses what it cannot draw, with exit 2 or 1', async () => {
    const out = join(dir, 'x.html');
    const none = await runReport(['--out', out]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('report needs something to draw');
    const both = await runReport(['--labels', SEED_LABELS, '--model', model(), '--out', out]);
    expect(both.code).toBe(2);
    const mismatch = await runReport(['--evaluation', evaluationFile(), '--labels', SEED_LABELS, '--out', out]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/classes .* differ/u);
    const missing = await runReport(['--evaluation', join(dir, 'nope.json'), '--out', out]);
    expect(missing.code).toBe(2);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"protocol": 3}');
    const badJson = await runReport(['--evaluation', bad, '--out', out]);
    expect(badJson.code).toBe(1);
    expect(badJson.stderr).toContain('not an evaluation result');
    const notArrow = await runReport(['--predictions', evaluationFile(), '--out', out]);
    expect(notArrow.code).toBe(2);
  });
});
