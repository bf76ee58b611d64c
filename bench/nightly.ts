/**
 * The nightly job end to end on a generated day: 288 five-minute nfcapd files of at least 10^5
 * flows each (nfpcapd from generated pcaps), classified with a model trained on the seed labels,
 * against nfdump alone computing the same per-file statistics, one file after another
 * (`nfdump -r FILE -s dstip/pps/bps -n 0`, what a cron script over the archive would run), in
 * the same run. Also nfdump with flowknn's own arguments (one statistic order, CSV) on the same
 * parallelism, to show how much of the job is nfdump.
 *
 *   npm run build && npm run bench:nightly -- [--hours 24] [--background 100000] [--cache DIR]
 *
 * The day is generated once into the cache folder (default bench/.cache/nightly-day) and reused.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pLimit from 'p-limit';
import { discoverArchive } from '../src/ingest/archive.js';
import { generateArchive } from '../src/synth/generate.js';

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    hours: { type: 'string', default: '24' },
    background: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    cache: { type: 'string', default: 'bench/.cache/nightly-day' },
  },
});
const DATE = '2026-11-01';
const cache = resolve(values.cache);
const params = { hours: Number(values.hours), background: Number(values.background), seed: Number(values.seed), date: DATE, compress: 'lz4' as const };
const stamp = join(cache, 'params.json');

if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== JSON.stringify(params)) {
  const t = performance.now();
  console.log(`generating the day (${params.hours} h, ${params.background} background flows per file) into ${cache} ...`);
  await generateArchive({ out: join(cache, 'synth'), ...params, force: true });
  mkdirSync(cache, { recursive: true });
  writeFileSync(stamp, JSON.stringify(params));
  console.log(`generated in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const flows = join(cache, 'synth', 'flows');
const listing = await discoverArchive(flows, { date: DATE });
const files = listing.files;
const bytes = files.reduce((s, f) => s + f.size, 0);

const model = join(cache, 'model');
if (!existsSync(join(model, 'model.json'))) {
  await exec(process.execPath, ['bin/flowknn.js', 'train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--out', model, '--quiet']);
}
const config = join(cache, 'nightly.json');
writeFileSync(
  config,
  JSON.stringify({
    archive: { root: flows },
    output: { root: join(cache, 'out') },
    model: { path: model },
    aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
    classify: { engine: 'cpu', alertClasses: ['small-flood', 'incoming-floods'] },
  }),
);

const flowCount = async (file: string) => Number((await exec('nfdump', ['-r', file, '-q', '-o', 'fmt:%fl'], { maxBuffer: 1 << 28 })).stdout.split('\n').filter(Boolean).length);
const sample = await flowCount(files[Math.floor(files.length / 2)]!.path);

/** Runs a command with its stdout thrown away (nfdump still formats every line). */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TZ: 'UTC' } });
    c.on('error', rej);
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited with ${code}`))));
  });
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`day: ${files.length} nfcapd files, ${(bytes / 1e6).toFixed(0)} MB (lz4), ~${sample} flows in a sample file`);

// warm the page cache for both
await Promise.all(files.map((f) => exec('cat', [f.path], { maxBuffer: 1 << 30, encoding: 'buffer' }).then(() => undefined)));

const baseline = await timed(async () => {
  for (const f of files) await run('nfdump', ['-r', f.path, '-s', 'dstip/pps/bps', '-n', '0']);
});
const jobs = availableParallelism();
const ours = await timed(async () => {
  const limit = pLimit(jobs);
  await Promise.all(files.map((f) => limit(() => run('nfdump', ['-r', f.path, '-s', 'dstip/pps', '-n', '0', '-o', 'csv']))));
});
// One input at a time as well: how much of the difference is parallelism, how much is the work.
const serial = await timed(() => run(process.execPath, ['bin/flowknn.js', 'nightly', '--config', config, '--date', DATE, '--force', '--quiet', '--jobs', '1']));
const job = await timed(() => run(process.execPath, ['bin/flowknn.js', 'nightly', '--config', config, '--date', DATE, '--force', '--quiet']));
const summary = JSON.parse(readFileSync(join(cache, 'out', DATE, 'summary.json'), 'utf8')) as { rows: number; flows: number; alerts: number; novel: number; timings_ms: Record<string, number> };

const ms = (v: number) => `${(v / 1000).toFixed(2)} s`;
console.log('');
console.log(`| step | time |`);
console.log(`|---|---|`);
console.log(`| baseline: nfdump -s dstip/pps/bps -n 0 per file, one after another | ${ms(baseline)} |`);
console.log(`| nfdump with flowknn's arguments (-s dstip/pps -n 0 -o csv), ${jobs} at once | ${ms(ours)} |`);
console.log(`| flowknn nightly --jobs 1 (one nfdump at a time), whole job | ${ms(serial)} |`);
console.log(`| flowknn nightly (${jobs} inputs at once), whole job (process start to exit) | ${ms(job)} |`);
for (const [k, v] of Object.entries(summary.timings_ms)) console.log(`|   ${k} | ${ms(v)} |`);
console.log('');
console.log(`flows ${summary.flows}, aggregates classified ${summary.rows}, alerts ${summary.alerts}, novel ${summary.novel}`);
console.log(`flowknn nightly / baseline: ${(job / baseline).toFixed(2)}x (target <= 1.2x); with --jobs 1: ${(serial / baseline).toFixed(2)}x`);
