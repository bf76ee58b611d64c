/**
 * The nightly job's memory on big nights: the benchmark day of bench/nightly.ts (288 five-minute
 * nfcapd files, ~100,000 flows each, generated once into the same cache) classified end to end
 * at about 1 M, 4 M and every aggregate (no minimums, ~11.5 M), each as its own process: peak
 * RSS (the kernel's high-water mark, /usr/bin/time) and wall time. Baselines in the same run:
 * the whole-table path (the previous commit's CLI, which held every row for one search, given
 * as --before DIR: a built checkout of it) on the 1 M night; and, in this process, the classify
 * stage on the 1 M night's aggregates as one whole-table search against the same rows streamed
 * in batches.
 *
 *   npm run build && npm run bench:nightly-memory -- [--before DIR] [--sizes 1000000,4000000,all] [--batch-rows N]
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import { generateArchive } from '../src/synth/generate.js';
import { discoverArchive } from '../src/ingest/archive.js';
import { loadNightlyConfig } from '../src/pipeline/config.js';
import { classifyDay, loadModel, searchDay } from '../src/pipeline/nightly.js';
import { aggregatesOfParts, streamNight } from '../src/pipeline/stream.js';
import { createEngine } from '../src/engines/registry.js';

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    cache: { type: 'string', default: 'bench/.cache/nightly-day' },
    before: { type: 'string' },
    sizes: { type: 'string', default: '1000000,4000000,all' },
    /** classify.batchRows of the streamed nights (0: the engine's choice); e.g. 524288, a GPU's batches, to see their host memory on the CPU. */
    'batch-rows': { type: 'string', default: '0' },
  },
});
const DATE = '2026-11-01';
const cache = resolve(values.cache);
// the day of bench/nightly.ts, with its defaults
const params = { hours: 24, background: 100000, seed: 1, date: DATE, compress: 'lz4' as const };
const stamp = join(cache, 'params.json');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== JSON.stringify(params)) {
  const t = performance.now();
  console.log(`generating the day into ${cache} ...`);
  await generateArchive({ out: join(cache, 'synth'), ...params, force: true });
  mkdirSync(cache, { recursive: true });
  writeFileSync(stamp, JSON.stringify(params));
  console.log(`generated in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const flows = join(cache, 'synth', 'flows');
const files = (await discoverArchive(flows, { date: DATE })).files;
const model = join(cache, 'model');
if (!existsSync(join(model, 'model.json'))) {
  await exec(process.execPath, ['bin/flowknn.js', 'train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--out', model, '--quiet']);
}

/** A config of the night: every aggregate, or the top `perFile` of each file by pps. */
function configFor(name: string, perFile: number | null): string {
  const file = join(cache, `memory-${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      archive: { root: flows },
      output: { root: join(cache, `memory-${name}`) },
      model: { path: model },
      aggregate: { source: 'nfdump', key: 'dstip', minPackets: 0, ...(perFile === null ? {} : { top: { n: perFile, by: 'pps' } }) },
      classify: { engine: 'cpu', alertClasses: ['small-flood', 'incoming-floods'], alertOnNovel: false, ...(name.endsWith('-before') ? {} : { batchRows: Number(values['batch-rows']) }) },
      report: { enabled: true },
      // the previous CLI refused more than a million rows by default
      limits: { maxRows: 20_000_000 },
    }),
  );
  return file;
}

interface Run {
  rows: number;
  peakMiB: number;
  wallS: number;
  timings: Record<string, number>;
}

async function nightly(cli: string, config: string, out: string): Promise<Run> {
  rmSync(out, { recursive: true, force: true });
  const { stderr } = await exec('/usr/bin/time', ['-f', 'TIME %M %e', process.execPath, cli, 'nightly', '--config', config, '--date', DATE, '--quiet'], { maxBuffer: 1 << 26 });
  const m = /TIME (\d+) ([\d.]+)/u.exec(stderr);
  if (!m) throw new Error(`no time in: ${stderr.slice(-500)}`);
  const summary = JSON.parse(readFileSync(join(out, DATE, 'summary.json'), 'utf8')) as { rows: number; timings_ms: Record<string, number> };
  return { rows: summary.rows, peakMiB: Number(m[1]) / 1024, wallS: Number(m[2]), timings: summary.timings_ms };
}

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`day: ${files.length} nfcapd files`);
const rows: string[] = [];
const line = (what: string, r: Run) => {
  const t = r.timings;
  rows.push(`| ${what} | ${r.rows.toLocaleString('en-US')} | ${r.peakMiB.toFixed(0)} | ${r.wallS.toFixed(1)} | ${((t.classify ?? 0) / 1000).toFixed(1)} | ${((t.outputs ?? 0) / 1000).toFixed(1)} | ${(r.rows / ((t.classify ?? 1) / 1000) / 1000).toFixed(0)} k |`);
  console.log(rows.at(-1));
};
let oneMillion: string | undefined;
for (const size of values.sizes.split(',')) {
  const perFile = size === 'all' ? null : Math.ceil(Number(size) / files.length);
  const name = size === 'all' ? 'all' : `${Math.round(Number(size) / 1e6)}M`;
  const cfg = configFor(name, perFile);
  if (name === '1M') oneMillion = cfg;
  line(`streamed (this commit${values['batch-rows'] === '0' ? '' : `, ${values['batch-rows']} rows per search`}), ${name}`, await nightly('bin/flowknn.js', cfg, join(cache, `memory-${name}`)));
  if (name === '1M' && values.before) {
    const beforeCfg = configFor('1M-before', perFile);
    line(`whole table (--before), ${name}`, await nightly(join(resolve(values.before), 'bin', 'flowknn.js'), beforeCfg, join(cache, 'memory-1M-before')));
  }
}

if (oneMillion) {
  // the classify stage on the same aggregates: one whole-table search, then streamed in batches
  const config = await loadNightlyConfig(oneMillion);
  const { loaded, info } = await loadModel(config);
  const engine = await createEngine('cpu', {});
  const aggregates = tableFromIPC(readFileSync(join(cache, 'memory-1M', DATE, 'aggregates.arrow')));
  const classify = async (t: typeof aggregates) => (await classifyDay(loaded, t, engine, { date: DATE, modelInfo: info, unknownLabel: null })).table;
  const search = (t: typeof aggregates) => searchDay(loaded, t, engine, { date: DATE, modelInfo: info, unknownLabel: null });
  let t0 = performance.now();
  const whole = await classify(aggregates);
  const wholeS = (performance.now() - t0) / 1000;
  /** The stage streamed in batches; overlap false: each batch searched only after the previous one is written. */
  const streamed = async (overlap: boolean) => {
    const dir = join(cache, 'memory-stage');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return streamNight({
      dir,
      day: aggregatesOfParts(aggregates.schema, aggregates.numRows, async function* () {
        yield aggregates;
      }),
      date: DATE,
      classify: search,
      alerts: config.config.classify,
      order: info.classes,
      maxDrawn: 5000,
      overlap,
    });
  };
  // alternately, twice each: the machine's speed drifts
  const runs: { overlap: boolean; classify: number; search: number; rows: number }[] = [];
  for (const overlap of [false, true, false, true]) {
    const r = await streamed(overlap);
    runs.push({ overlap, classify: r.timings.classify, search: r.timings.search, rows: r.rows });
  }
  const best = (overlap: boolean) => runs.filter((r) => r.overlap === overlap).sort((a, b) => a.classify - b.classify)[0]!;
  const night = { rows: best(true).rows, timings: best(true) };
  const sequential = best(false);
  await engine.dispose();
  const rate = (n: number, s: number) => `${(n / s / 1000).toFixed(0)} k rows/s`;
  console.log('');
  console.log(`classify stage at ${aggregates.numRows.toLocaleString('en-US')} rows (in this process):`);
  console.log(`  whole table, one search (classifyDay): ${wholeS.toFixed(2)} s, ${rate(whole.numRows, wholeS)}`);
  console.log(`  streamed, batches of 65,536 (scale, search, votes, novelty; with overlap, the wall time of each batch's search summed): ${(night.timings.search / 1000).toFixed(2)} s, ${rate(night.rows, night.timings.search / 1000)}`);
  console.log(`  streamed, the stage with reading back and writing predictions.arrow: ${(night.timings.classify / 1000).toFixed(2)} s, ${rate(night.rows, night.timings.classify / 1000)}`);
  console.log(`  streamed / whole (search): ${(night.timings.search / 1000 / wholeS).toFixed(2)}x`);
  console.log(`  the stage without overlap (each batch searched after the previous one is written): ${(sequential.classify / 1000).toFixed(2)} s, ${rate(sequential.rows, sequential.classify / 1000)}; with overlap / without: ${(night.timings.classify / sequential.classify).toFixed(2)}x (best of 2 each, run alternately)`);
}
console.log('');
console.log('| night | aggregates | peak RSS (MiB) | wall (s) | classify (s) | outputs (s) | classify rows/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
