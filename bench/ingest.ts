/**
 * Ingest benchmark: an nfdump 1.7.1 `-o csv` flow dump to an Arrow IPC file on disk, flowknn
 * (src/ingest/flow-csv/) against DuckDB's read_csv (@duckdb/node-api, SET threads) on the
 * same file in the same run; then the peak memory of streaming a ~1 GB dump, measured in a
 * child process, through the library and through the built CLI (`flowknn ingest`).
 *
 *   npm run build && npm run bench:ingest -- [--rows 1000000] [--threads 2] [--reps 3]
 *                           [--rss-gb 1] [--no-gz] [--no-duckdb] [--dir DIR] [--keep]
 *
 * The dump: the header and rows of test/fixtures/nfdump-1.7/flows.csv (real nfdump 1.7.1
 * output) as templates, with addresses, ports, times, durations and counters varied by a
 * seeded PRNG, and a Summary trailer that agrees with the rows (flowknn checks it).
 *
 * The tasks compared (both: CSV file in, a columnar file of the flow columns on disk out):
 *   flowknn  readFlowCsvStream -> writeArrowStream: parse and validate every row, 15 typed
 *            columns (timestamps, float64 counters, int32 ports, utf8 text), Arrow IPC file.
 *   duckdb   COPY (SELECT the same 13 source columns FROM read_csv(...)) TO a Parquet file,
 *            uncompressed (Arrow IPC is uncompressed too; DuckDB writes no Arrow IPC file
 *            without an extension). Column types as flowknn's (TIMESTAMP, DOUBLE, INTEGER,
 *            VARCHAR); ignore_errors skips the three Summary lines. Also reported: the same
 *            SELECT into an in-memory table (CREATE TABLE AS: no file written), DuckDB's
 *            fastest way to "read the CSV into columns".
 * The file is read once before timing (page cache warm for both). Each contender runs once
 * per round, the order rotated every round, after a warm-up round; times are the median of
 * --reps rounds (this machine may be shared, and a slow spell then hits every contender).
 * The parse threads and the DuckDB instance are started before timing (start-up printed).
 * Threads: DuckDB `SET threads=N`; flowknn N parse threads plus its main thread, which reads
 * the file, puts the parsed blocks back in order into batches and writes the Arrow file.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { RecordBatchReader } from 'apache-arrow';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { mulberry32 } from '../src/random.js';
import { writeArrowStream } from '../src/io/arrow-stream.js';
import { readFlowCsvStream } from '../src/ingest/flow-csv/stream.js';
import { startFlowCsvWorkers, stopFlowCsvWorkers } from '../src/ingest/flow-csv/workers.js';

const REPO = join(import.meta.dirname, '..');

/** Generates an nfdump 1.7.1 `-o csv` dump of `rows` flows; returns the bytes written. */
export async function generateFlowCsv(file: string, rows: number, seed: number): Promise<number> {
  const fixture = readFileSync(join(REPO, 'test/fixtures/nfdump-1.7/flows.csv'), 'utf8').split('\n');
  const header = fixture[0]!;
  const templates = fixture
    .slice(1)
    .filter((l) => /^\d{4}-/.test(l))
    .map((l) => l.split(','));
  const rand = mulberry32(seed);
  const out = createWriteStream(file);
  let written = 0;
  const base = Date.UTC(2026, 10, 1);
  const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  const stamp = (ms: number) => {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  };
  // Columns 8..10 (flg, fwd, stos) and 15.. (in, out, ..., tr) are kept from the template row.
  const mid = templates.map((c) => c.slice(8, 11).join(','));
  const rest = templates.map((c) => c.slice(15).join(','));
  let packets = 0;
  let bytes = 0;
  const write = async (s: string) => {
    written += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  };
  await write(`${header}\n`);
  let chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    const t = Math.floor(rand() * templates.length);
    const c = templates[t]!;
    const first = base + Math.floor(rand() * 86_400_000);
    const tdMs = rand() < 0.3 ? 0 : Math.floor(rand() * rand() * 600_000);
    const v6 = c[3]!.includes(':');
    const r = (rand() * 2 ** 32) >>> 0;
    const src = v6 ? `2001:db8:${(r & 0xffff).toString(16)}::${((r >>> 16) & 0xfff).toString(16)}` : `10.${r & 255}.${(r >>> 8) & 255}.${(r >>> 16) & 255}`;
    const r2 = (rand() * 2 ** 32) >>> 0;
    const dst = v6 ? `2001:db8:1::${(r2 & 0xffff).toString(16)}` : `${192 + (r2 & 7)}.${(r2 >>> 3) & 255}.${(r2 >>> 11) & 255}.${(r2 >>> 19) & 255}`;
    const sp = c[5] === '0' ? 0 : 1024 + Math.floor(rand() * 64511);
    const dp = Number(c[6]);
    const ipkt = 1 + Math.floor(rand() ** 4 * 100_000);
    const ibyt = ipkt * (40 + Math.floor(rand() * 1460));
    packets += ipkt;
    bytes += ibyt;
    chunk.push(`${stamp(first)},${stamp(first + tdMs)},${(tdMs / 1000).toFixed(3)},${src},${dst},${sp},${dp},${c[7]},${mid[t]},${ipkt},${ibyt},0,0,${rest[t]}`);
    if (chunk.length === 4096) {
      await write(`${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length > 0) await write(`${chunk.join('\n')}\n`);
  const secs = 86_400;
  await write(
    `Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n${rows},${bytes},${packets},${Math.round((bytes * 8) / secs)},${Math.round(packets / secs)},${Math.round(bytes / packets)}\n`,
  );
  out.end();
  await once(out, 'finish');
  return written;
}

/** Peak resident set (VmHWM) and current RSS of this process, in bytes (Linux). */
function vmHwm(): { hwm: number; rss: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

// --- child mode: stream one file to Arrow and report the peak memory ------------------------
if (process.argv[2] === '--rss-child') {
  const [file, out, threadsArg, batchArg] = process.argv.slice(3);
  const threads = Number(threadsArg);
  const before = vmHwm();
  if (threads > 1) await startFlowCsvWorkers(threads);
  let peakSampled = 0;
  let peakArrayBuffers = 0;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peakSampled = Math.max(peakSampled, m.rss);
    peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers);
  }, 20);
  const t0 = performance.now();
  const stream = readFlowCsvStream(file!, { threads, batchRows: Number(batchArg) });
  const res = await writeArrowStream(out!, stream);
  const ms = performance.now() - t0;
  clearInterval(timer);
  const after = vmHwm();
  process.stdout.write(
    `${JSON.stringify({ rows: res.rows, ms, hwmBefore: before.hwm, hwm: after.hwm, rssSampled: peakSampled, arrayBuffers: peakArrayBuffers, textBytes: stream.stats.textBytes, arrowBytes: res.bytes })}\n`,
  );
  await stopFlowCsvWorkers();
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '5' },
    'rss-gb': { type: 'string', default: '1' },
    'no-gz': { type: 'boolean', default: false },
    'no-duckdb': { type: 'boolean', default: false },
    dir: { type: 'string', default: join(tmpdir(), 'flowknn-bench-ingest') },
    keep: { type: 'boolean', default: false },
    seed: { type: 'string', default: '20261128' },
  },
});

const ROWS = Number(values.rows);
const THREADS = Number(values.threads);
const REPS = Math.max(1, Number(values.reps));
const SEED = Number(values.seed);
const DIR = values.dir!;
mkdirSync(DIR, { recursive: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (b: number) => b / 1e6;
const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function ensureDump(rows: number): Promise<string> {
  const file = join(DIR, `flows-${rows}-${SEED}.csv`);
  if (!existsSync(file)) {
    const t = performance.now();
    await generateFlowCsv(`${file}.part`, rows, SEED);
    execFileSync('mv', [`${file}.part`, file]);
    console.log(`generated ${file}: ${fmt(mb(statSync(file).size), 1)} MB in ${fmt((performance.now() - t) / 1000, 1)} s`);
  }
  return file;
}

async function warm(file: string): Promise<void> {
  for await (const _ of createReadStream(file, { highWaterMark: 1 << 20 })) {
    // read once: page cache
  }
}

interface Row {
  tool: string;
  task: string;
  ms: number;
  bytes: number;
  /** Times per round (same rounds for every contender of a table). */
  times: number[];
}

const results: Row[] = [];
const machine = `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, ${fmt(totalmem() / 2 ** 30, 0)} GiB, Node ${process.version}`;
console.log(`machine: ${machine}`);
console.log(`rows ${fmt(ROWS)}, flowknn parse threads ${THREADS}, DuckDB threads ${THREADS}, median of ${REPS}`);

const csv = await ensureDump(ROWS);
const csvBytes = statSync(csv).size;
await warm(csv);
const arrowOut = join(DIR, 'out-flowknn.arrow');

let t = performance.now();
if (THREADS > 1) await startFlowCsvWorkers(THREADS);
console.log(`flowknn parse threads started in ${fmt(performance.now() - t)} ms (once per process; not in the times)`);

const COLS = 'ts, te, td, sa, da, sp, dp, pr, flg, ipkt, ibyt, opkt, obyt';
const TYPES =
  "types={'ts': 'TIMESTAMP', 'te': 'TIMESTAMP', 'td': 'DOUBLE', 'sa': 'VARCHAR', 'da': 'VARCHAR', 'sp': 'INTEGER', 'dp': 'INTEGER', 'pr': 'VARCHAR', 'flg': 'VARCHAR', 'ipkt': 'DOUBLE', 'ibyt': 'DOUBLE', 'opkt': 'DOUBLE', 'obyt': 'DOUBLE'}";
const readCsv = (f: string) => `read_csv('${f}', header=true, ignore_errors=true, ${TYPES})`;
const PARQUET_TASK = 'csv -> Parquet file (uncompressed)';

interface Contender {
  tool: string;
  task: string;
  run: () => Promise<void>;
  check?: () => Promise<void>;
  times: number[];
}

async function duckConnection() {
  const s = performance.now();
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run(`SET threads=${THREADS}`);
  const version = (await con.runAndReadAll('SELECT version()')).getRows()[0]![0];
  console.log(`DuckDB ${String(version)} started in ${fmt(performance.now() - s)} ms (not in the times)`);
  return { inst, con };
}

/**
 * Runs every contender once per round, the order rotated each round (this machine may be
 * shared: a slow spell then hits every contender alike), after one warm-up round.
 */
async function rounds(contenders: Contender[], reps: number): Promise<void> {
  for (let round = 0; round <= reps; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + round) % contenders.length]!;
      (globalThis as { gc?: () => void }).gc?.();
      const s = performance.now();
      await c.run();
      if (round > 0) c.times.push(performance.now() - s);
    }
  }
  for (const c of contenders) {
    await c.check?.();
    console.log(`${c.tool}, ${c.task}: ${c.times.map((x) => fmt(x)).join(', ')} ms`);
  }
}

const flowknnContender = (file: string, threads: number, task: string): Contender => ({
  tool: `flowknn (${threads} parse thread${threads > 1 ? 's' : ''})`,
  task,
  times: [],
  run: async () => {
    const res = await writeArrowStream(arrowOut, readFlowCsvStream(file, { threads }));
    if (res.rows !== ROWS) throw new Error(`flowknn wrote ${res.rows} rows, expected ${ROWS}`);
  },
});

const duck = values['no-duckdb'] ? undefined : await duckConnection();
const parquetOut = join(DIR, 'out-duckdb.parquet');
const duckCount = async (sql: string, what: string) => {
  const n = (await duck!.con.runAndReadAll(sql)).getRows()[0]![0];
  if (Number(n) !== ROWS) throw new Error(`DuckDB ${what} ${String(n)} rows, expected ${ROWS}`);
};
const duckContenders = (file: string, gz: boolean): Contender[] =>
  duck === undefined
    ? []
    : [
        {
          tool: `DuckDB (threads=${THREADS})`,
          task: gz ? `csv.gz -> Parquet file (uncompressed)` : PARQUET_TASK,
          times: [],
          run: async () => {
            await duck.con.run(`COPY (SELECT ${COLS} FROM ${readCsv(file)}) TO '${parquetOut}' (FORMAT parquet, COMPRESSION uncompressed)`);
          },
          check: () => duckCount(`SELECT count(*) FROM read_parquet('${parquetOut}')`, 'wrote'),
        },
        ...(gz
          ? []
          : [
              {
                tool: `DuckDB (threads=${THREADS})`,
                task: 'csv -> in-memory table (no file)',
                times: [] as number[],
                run: async () => {
                  await duck.con.run(`CREATE OR REPLACE TABLE t AS SELECT ${COLS} FROM ${readCsv(file)}`);
                },
                check: () => duckCount('SELECT count(*) FROM t', 'read'),
              },
            ]),
      ];

const plain: Contender[] = [
  ...(THREADS > 1 ? [flowknnContender(csv, 1, 'csv -> Arrow IPC file')] : []),
  flowknnContender(csv, THREADS, 'csv -> Arrow IPC file'),
  ...duckContenders(csv, false),
];
await rounds(plain, REPS);
for (const c of plain) results.push({ tool: c.tool, task: c.task, ms: median(c.times), bytes: csvBytes, times: c.times });
await duck?.con.run('DROP TABLE IF EXISTS t');

// gzip: the same dump compressed (level 1), read by both.
if (!values['no-gz']) {
  const gz = `${csv}.gz`;
  if (!existsSync(gz)) {
    const s = performance.now();
    await pipeline(createReadStream(csv), createGzip({ level: 1 }), createWriteStream(`${gz}.part`));
    execFileSync('mv', [`${gz}.part`, gz]);
    console.log(`gzipped: ${fmt(mb(statSync(gz).size), 1)} MB in ${fmt((performance.now() - s) / 1000, 1)} s`);
  }
  await warm(gz);
  const zipped: Contender[] = [flowknnContender(gz, THREADS, 'csv.gz -> Arrow IPC file'), ...duckContenders(gz, true)];
  await rounds(zipped, Math.max(1, Math.floor(REPS / 2)));
  for (const c of zipped) results.push({ tool: c.tool, task: c.task, ms: median(c.times), bytes: csvBytes, times: c.times });
}
if (duck) {
  duck.con.closeSync();
  duck.inst.closeSync();
  rmSync(parquetOut, { force: true });
}
await stopFlowCsvWorkers();

const base = results.find((r) => r.tool.startsWith('DuckDB') && r.task === PARQUET_TASK);
const baseGz = results.find((r) => r.tool.startsWith('DuckDB') && r.task.startsWith('csv.gz'));
console.log(`\n| tool | task | time (median) | rows/s | MB/s (CSV text) | DuckDB / flowknn (medians) | same, median of per-round ratios |`);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  const ref = r.task.startsWith('csv.gz') ? baseGz : base;
  const flowknn = ref !== undefined && r.tool.startsWith('flowknn');
  const ratio = flowknn ? `**${fmt(ref.ms / r.ms, 2)}x**` : '';
  const paired = flowknn && ref.times.length === r.times.length ? `${fmt(median(r.times.map((x, i) => ref.times[i]! / x)), 2)}x` : '';
  console.log(`| ${r.tool} | ${r.task} | ${fmt(r.ms)} ms | ${fmt(ROWS / (r.ms / 1000))} | ${fmt(mb(r.bytes) / (r.ms / 1000))} | ${ratio} | ${paired} |`);
}
console.log(`\nCSV: ${fmt(mb(csvBytes), 1)} MB, ${fmt(ROWS)} rows (${fmt(csvBytes / ROWS)} bytes/row); MB = 10^6 bytes of uncompressed CSV.`);

// --- peak memory while streaming a big dump -----------------------------------------------
const rssGb = Number(values['rss-gb']);
if (rssGb > 0) {
  const bigRows = Math.round((rssGb * 1e9) / (csvBytes / ROWS));
  const big = await ensureDump(bigRows);
  console.log(`\npeak memory, streaming ${fmt(mb(statSync(big).size), 0)} MB (${fmt(bigRows)} rows) to Arrow in a child process:`);
  // The bound: the batches in flight (the one filled, the one written, one spare: 3 x 65536
  // rows x ~160 bytes), the read blocks (3 x 1 MiB; with threads 2N+2 blocks of 4 MiB and the
  // pieces coming back), V8's slack; each parse thread is a V8 isolate of its own (under tsx,
  // which loads TypeScript, about 80 MiB; about 45 MiB from the built dist/).
  const bound = (threads: number) => 64 + (threads > 1 ? threads * 96 : 0);
  console.log(`bound: peak RSS - RSS at start <= ${bound(1)} MiB (1 parse thread), <= ${bound(THREADS)} MiB (${THREADS}), whatever the file size`);
  console.log('| file | parse threads | rows | time | VmHWM (peak RSS) | sampled RSS peak | ArrayBuffers peak | process at start | growth | within bound |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [file, rows] of [
    [csv, ROWS],
    [big, bigRows],
  ] as const) {
    for (const threads of THREADS > 1 ? [1, THREADS] : [1]) {
      const out = join(DIR, 'out-rss.arrow');
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench/ingest.ts'), '--rss-child', file, out, String(threads), '65536'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (c) => (text += c));
      const [code] = await once(child, 'exit');
      if (code !== 0) throw new Error(`rss child failed (${code})`);
      const m = JSON.parse(text.trim().split('\n').pop()!) as { rows: number; ms: number; hwmBefore: number; hwm: number; rssSampled: number; arrayBuffers: number };
      if (m.rows !== rows) throw new Error(`rss child read ${m.rows} rows, expected ${rows}`);
      const growth = (m.hwm - m.hwmBefore) / 2 ** 20;
      console.log(
        `| ${fmt(mb(statSync(file).size), 0)} MB | ${threads} | ${fmt(m.rows)} | ${fmt(m.ms / 1000, 1)} s | ${fmt(m.hwm / 2 ** 20, 0)} MiB | ${fmt(m.rssSampled / 2 ** 20, 0)} MiB | ${fmt(m.arrayBuffers / 2 ** 20, 0)} MiB | ${fmt(m.hwmBefore / 2 ** 20, 0)} MiB | ${fmt(growth, 0)} MiB | ${growth <= bound(threads) ? 'yes' : '**NO**'} |`,
      );
      rmSync(out, { force: true });
    }
  }

  // The same through the command line, as a user runs it: `node bin/flowknn.js ingest BIG.csv
  // --out X.arrow` (the built dist/), its peak RSS from the kernel (GNU time's %M: ru_maxrss
  // of the process, when /usr/bin/time is there; else VmHWM of /proc/PID/status, polled). Also
  // two inputs (the same dump twice), the path of several inputs: each streamed to a part file
  // next to the output, the parts joined into it in order.
  await ensureBuilt();
  const loaded = await cliPeak(['ingest', '--help']);
  // The bound: the CLI loaded (its modules, yargs, apache-arrow: `ingest --help`), plus what
  // streaming one input needs on one thread (the 64 MiB above) for each input read at once
  // (--jobs; with several inputs the parts are joined after they are read, one at a time).
  const cliBound = (jobs: number) => 64 * jobs;
  console.log(`\npeak memory of the CLI (node bin/flowknn.js ingest ... --out X.arrow; peak RSS via ${loaded.via}):`);
  console.log(`CLI loaded (ingest --help): ${fmt(loaded.peakKiB / 1024, 0)} MiB; bound: peak RSS - that <= 64 MiB per input read at once (--jobs), whatever the input sizes`);
  console.log('| inputs | rows | time | peak RSS | growth over the loaded CLI | bound | within bound |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const cliOut = join(DIR, 'out-cli.arrow');
  for (const [inputs, rows, jobs] of [
    [[csv], ROWS, 1],
    [[big], bigRows, 1],
    [[csv, csv], 2 * ROWS, 2],
    [[big, big], 2 * bigRows, 2],
  ] as const) {
    const m = await cliPeak(['ingest', ...inputs, '--out', cliOut, '--quiet', '--jobs', String(jobs)]);
    const written = RecordBatchReader.from(readFileSync(cliOut));
    let n = 0;
    for (const b of written) n += b.numRows;
    if (n !== rows) throw new Error(`the CLI wrote ${n} rows, expected ${rows}`);
    const growth = (m.peakKiB - loaded.peakKiB) / 1024;
    const what = inputs.length === 1 ? `${fmt(mb(statSync(inputs[0]!).size), 0)} MB` : `${inputs.length} x ${fmt(mb(statSync(inputs[0]!).size), 0)} MB (--jobs ${jobs})`;
    console.log(`| ${what} | ${fmt(rows)} | ${fmt(m.ms / 1000, 1)} s | ${fmt(m.peakKiB / 1024, 0)} MiB | ${fmt(growth, 0)} MiB | ${cliBound(jobs)} MiB | ${growth <= cliBound(jobs) ? 'yes' : '**NO**'} |`);
    rmSync(cliOut, { force: true });
  }
}

/** Builds dist/ when the compiled CLI is missing (bench:ingest does not build it otherwise). */
async function ensureBuilt(): Promise<void> {
  if (!existsSync(join(REPO, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
}

/** Runs the built CLI in a child process; its wall time and peak resident set. */
async function cliPeak(args: string[]): Promise<{ ms: number; peakKiB: number; via: string }> {
  const bin = join(REPO, 'bin/flowknn.js');
  const gnuTime = existsSync('/usr/bin/time');
  const t0 = performance.now();
  const child = gnuTime
    ? spawn('/usr/bin/time', ['-f', 'flowknn-peak-rss-kib %M', process.execPath, bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  let polled = 0;
  const timer = gnuTime
    ? undefined
    : setInterval(() => {
        try {
          const kib = Number(/^VmHWM:\s+(\d+) kB/mu.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
          polled = Math.max(polled, kib);
        } catch {
          // the process has ended
        }
      }, 10);
  const [code] = await once(child, 'exit');
  const ms = performance.now() - t0;
  if (timer) clearInterval(timer);
  if (code !== 0) throw new Error(`flowknn ${args.join(' ')} failed (${code}): ${stderr}`);
  const reported = Number(/flowknn-peak-rss-kib (\d+)/u.exec(stderr)?.[1] ?? Number.NaN);
  return { ms, peakKiB: gnuTime ? reported : polled, via: gnuTime ? 'GNU time %M (ru_maxrss)' : '/proc/PID/status VmHWM, polled every 10 ms' };
}

rmSync(arrowOut, { force: true });
if (!values.keep) {
  for (const f of [csv, `${csv}.gz`]) rmSync(f, { force: true });
  if (rssGb > 0) rmSync(join(DIR, `flows-${Math.round((rssGb * 1e9) / (csvBytes / ROWS))}-${SEED}.csv`), { force: true });
}
