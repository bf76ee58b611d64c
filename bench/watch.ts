/**
 * `flowknn watch` on files as nfcapd rotates them: from a file's rename into place (nfcapd
 * writes nfcapd.current.PID and renames it when its slot ends) to its incidents written and
 * the notify command run, on files of about 10^5 flows, median and max over `--files` files;
 * against nfdump's own time for the statistics of the same file (`nfdump -r FILE -s dstip/pps
 * -n 0`), measured in the same run right after each file.
 *
 *   npm run build && npm run bench:watch -- [--files 20] [--background 100000] [--cache DIR]
 *
 * The files are generated once into the cache folder (default bench/.cache/watch-day) and
 * reused; every run starts with an empty archive and output folder, and one file before the
 * measured ones (the watcher's first file warms its code).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { discoverArchive } from '../src/ingest/archive.js';
import { generateArchive } from '../src/synth/generate.js';

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '20' },
    background: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    cache: { type: 'string', default: 'bench/.cache/watch-day' },
  },
});
const DATE = '2026-11-01';
const measured = Number(values.files);
const cache = resolve(values.cache);
// one file more than measured (the warm-up), in five-minute slots
const params = { hours: Math.ceil(((measured + 1) * 5) / 60 * 12) / 12, background: Number(values.background), seed: Number(values.seed), date: DATE, compress: 'lz4' as const };
const stamp = join(cache, 'params.json');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== JSON.stringify(params)) {
  const t = performance.now();
  console.log(`generating ${measured + 1} files (${params.background} background flows each) into ${cache} ...`);
  await generateArchive({ out: join(cache, 'synth'), ...params, force: true });
  mkdirSync(cache, { recursive: true });
  writeFileSync(stamp, JSON.stringify(params));
  console.log(`generated in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const source = join(cache, 'synth', 'flows');
const files = (await discoverArchive(source, { date: DATE })).files.slice(0, measured + 1);

const model = join(cache, 'model');
if (!existsSync(join(model, 'model.json'))) {
  await exec(process.execPath, ['bin/flowknn.js', 'train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--out', model, '--quiet']);
}
const archive = join(cache, 'archive');
const out = join(cache, 'out');
rmSync(archive, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(archive, { recursive: true });
const marks = join(cache, 'notify-marks');
rmSync(marks, { force: true });
const config = join(cache, 'watch.json');
writeFileSync(
  config,
  JSON.stringify({
    archive: { root: archive },
    output: { root: out },
    model: { path: model },
    aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
    classify: { engine: 'cpu', alertClasses: ['small-flood', 'incoming-floods'] },
    // the moment the notify command starts, then its incidents read
    notify: { command: ['/bin/sh', '-c', `date +%s%N >> '${marks}'; cat > /dev/null`] },
  }),
);

const flowCount = async (file: string) => (await exec('nfdump', ['-r', file, '-q', '-o', 'fmt:%fl'], { maxBuffer: 1 << 28 })).stdout.split('\n').filter(Boolean).length;
const sample = await flowCount(files[1]!.path);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`files: ${files.length - 1} measured (+1 warm-up), ~${sample} flows in a sample file, lz4`);

function timedRun(cmd: string, args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TZ: 'UTC' } });
    c.on('error', rej);
    c.on('close', (code) => (code === 0 ? res(performance.now() - t) : rej(new Error(`${cmd} exited with ${code}`))));
  });
}

const watcher = spawn(process.execPath, ['bin/flowknn.js', 'watch', '--config', config, '--date', DATE, '--poll', '600'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const waiters: { test: (s: string) => boolean; done: () => void }[] = [];
watcher.stderr.on('data', (b: Buffer) => {
  log += b.toString();
  for (const w of [...waiters]) {
    if (w.test(log)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.done();
    }
  }
});
const waitFor = (test: (s: string) => boolean) => new Promise<void>((done) => (test(log) ? done() : waiters.push({ test, done })));
await waitFor((s) => s.includes('watching') || s.includes('scanning'));

const latency: number[] = [];
const nfdump: number[] = [];
const notified: number[] = [];
for (let i = 0; i < files.length; i++) {
  const f = files[i]!;
  const target = join(archive, f.relPath);
  mkdirSync(dirname(target), { recursive: true });
  const current = join(dirname(target), `nfcapd.current.${process.pid}`);
  copyFileSync(f.path, current);
  const before = existsSync(marks) ? readFileSync(marks, 'utf8').split('\n').filter(Boolean).length : 0;
  const line = `${f.relPath}: committed`;
  const seen = waitFor((s) => s.includes(line) && s.slice(s.indexOf(line)).includes('\n'));
  const t0 = Date.now() * 1e6; // ns, as date +%s%N writes the notify start
  const p0 = performance.now();
  renameSync(current, target);
  await seen;
  const ms = performance.now() - p0;
  const after = existsSync(marks) ? readFileSync(marks, 'utf8').split('\n').filter(Boolean) : [];
  const started = after.length > before ? (Number(after[after.length - 1]) - t0) / 1e6 : null;
  // nfdump's own statistics of the same file, right after (the watcher is idle by then)
  const base = await timedRun('nfdump', ['-r', target, '-s', 'dstip/pps', '-n', '0']);
  if (i === 0) continue;
  latency.push(ms);
  nfdump.push(base);
  if (started !== null) notified.push(started);
  const steps = /\[([^\]]*)\]\n/u.exec(log.slice(log.indexOf(line)))?.[1] ?? '';
  console.log(`${f.relPath}: rename -> incidents written and notify done ${(ms / 1000).toFixed(2)} s${started !== null ? ` (notify started at ${(started / 1000).toFixed(2)} s)` : ' (no new incident)'}; nfdump -s dstip/pps ${(base / 1000).toFixed(2)} s; ${(ms / base).toFixed(2)}x; ${steps}`);
}
watcher.kill('SIGTERM');

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const s = (v: number) => `${(v / 1000).toFixed(2)} s`;
const ratios = latency.map((l, i) => l / nfdump[i]!);
console.log('');
console.log('| measure | median | max |');
console.log('| --- | --- | --- |');
console.log(`| rename -> incidents written, notify run (${latency.length} files) | ${s(median(latency))} | ${s(Math.max(...latency))} |`);
if (notified.length > 0) console.log(`| rename -> notify command started (${notified.length} files with new incidents) | ${s(median(notified))} | ${s(Math.max(...notified))} |`);
console.log(`| baseline: nfdump -r FILE -s dstip/pps -n 0 (same files) | ${s(median(nfdump))} | ${s(Math.max(...nfdump))} |`);
console.log(`| ratio per file | ${median(ratios).toFixed(2)}x | ${Math.max(...ratios).toFixed(2)}x |`);
console.log('');
console.log(`median latency / median nfdump: ${(median(latency) / median(nfdump)).toFixed(2)}x (goal <= 2x, and <= 10 s)`);
