/**
 * A simulated day of nfcapd files to per-host aggregates: `flowknn ingest DIR --aggregate
 * dstip --window whole` (the built CLI: nfdump prints each file's flows, flowknn parses and
 * aggregates them) against `nfdump -R DIR -s dstip/pps/bps -n 0 -o csv` alone on the same
 * files, in the same run. The difference is flowknn's overhead over nfdump's own statistics.
 *
 * The key is one nfdump aggregates itself, so flowknn reads nfdump's aggregates (`-A dstip`) of
 * runs of files, one nfdump per run (`--window whole`: up to --jobs runs; see runsOfInputs in
 * src/ingest/aggregate-input.ts), and merges them. With --before DIR, the CLI built in DIR (e.g.
 * a worktree of an earlier commit, `npm run build` there) runs too, alternately.
 *
 *   npm run build && npm run bench:archive -- [--hours 24] [--seed 1] [--reps 3] [--before DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tableFromIPC, type Table } from 'apache-arrow';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { FlowAggregator } from '../src/features/aggregate.js';
import { aggregateFlowInput, runsOfInputs } from '../src/ingest/aggregate-input.js';
import { discoverArchive, routerOf } from '../src/ingest/archive.js';
import { nfcapdFormat } from '../src/ingest/formats/nfcapd.js';
import { probeNfdump } from '../src/ingest/nfdump/version.js';
import { usableCores } from '../src/io/cores.js';
import { generateArchive } from '../src/synth/generate.js';

const { values } = parseArgs({ options: { hours: { type: 'string', default: '24' }, seed: { type: 'string', default: '1' }, reps: { type: 'string', default: '3' }, before: { type: 'string' } } });
const dir = mkdtempSync(join(tmpdir(), 'flowknn-archive-bench-'));
try {
  const t0 = performance.now();
  const synth = await generateArchive({ out: join(dir, 'synth'), hours: Number(values.hours), seed: Number(values.seed), date: '2026-11-01' });
  console.log(`archive: ${synth.files.length} nfcapd files, ${(synth.packets / 1e6).toFixed(1)} M packets, generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  const flows = join(dir, 'synth', 'flows');
  const time = (cmd: string, args: string[]) => {
    const s = performance.now();
    const out = execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, TZ: 'UTC' } });
    return { ms: performance.now() - s, out };
  };
  const runs: { nfdump: number; flowknn: number; source: number; before?: number }[] = [];
  // The flows source alone, in this process: the runs ingest plans, read by nfdump -A and merged
  // (no Node start, no table built, nothing written), as ingest reads them with its default --jobs.
  const version = await probeNfdump('nfdump');
  const listing = await discoverArchive(flows);
  const jobs = usableCores();
  let sourceRows = 0;
  const source = async () => {
    const s = performance.now();
    const agg = new FlowAggregator({ key: 'dstip', window: 'whole' });
    const inputs = listing.files.map((f) => ({ nfcapd: true, slotStartMs: f.slotStartMs, router: routerOf(f.path) }));
    const limit = pLimit(jobs);
    await Promise.all(
      runsOfInputs(inputs, agg, jobs).map((run) =>
        limit(async () => {
          const own = agg.emptyLike();
          const files = run.map((i) => listing.files[i]!.path);
          await aggregateFlowInput(files[0]!, nfcapdFormat, own, { nfdump: { version }, together: files, maxRejects: 0 });
          agg.merge(own);
        }),
      ),
    );
    const ms = performance.now() - s;
    sourceRows = agg.rows().length;
    return ms;
  };
  const ingest = (bin: string, out: string) => time(process.execPath, [bin, 'ingest', flows, '--aggregate', 'dstip', '--window', 'whole', '--out', join(dir, out), '--quiet']);
  let hosts = 0;
  for (let r = 0; r < Number(values.reps); r++) {
    const n = time('nfdump', ['-R', flows, '-s', 'dstip/pps/bps', '-n', '0', '-o', 'csv', '-q']);
    hosts = n.out.split('\n').filter((l) => /^\d{4}-/u.test(l)).length / 2;
    const b = values.before === undefined ? undefined : ingest(join(values.before, 'bin/flowknn.js'), 'before.arrow');
    const f = ingest('bin/flowknn.js', 'agg.arrow');
    runs.push({ nfdump: n.ms, flowknn: f.ms, source: await source(), before: b?.ms });
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const nf = med(runs.map((r) => r.nfdump));
  const fk = med(runs.map((r) => r.flowknn));
  console.log(`nfdump -s dstip/pps/bps alone: ${nf.toFixed(0)} ms (${hosts} destinations)`);
  console.log(`flowknn ingest --aggregate dstip: ${fk.toFixed(0)} ms (median of ${runs.length})`);
  console.log(`flowknn / nfdump: ${(fk / nf).toFixed(2)}x (overhead ${(fk - nf).toFixed(0)} ms)`);
  const src = med(runs.map((r) => r.source));
  console.log(`the flows source alone (in process, ${jobs} jobs: read by nfdump -A in runs of files and merged, nothing written): ${src.toFixed(0)} ms, ${(src / nf).toFixed(2)}x nfdump -s; ${sourceRows} aggregates`);
  if (values.before !== undefined) {
    const bf = med(runs.map((r) => r.before!));
    // The same rows, column by column: a column the earlier build did not write (router, null
    // when the key has none) must be empty; any other difference is a difference.
    const before = tableFromIPC(readFileSync(join(dir, 'before.arrow')));
    const now = tableFromIPC(readFileSync(join(dir, 'agg.arrow')));
    const columnText = (t: Table, name: string) => JSON.stringify(Array.from(t.getChild(name)!.toArray() as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? String(v) : v)));
    const differ = before.schema.fields.map((f) => f.name).filter((name) => !now.getChild(name) || columnText(before, name) !== columnText(now, name));
    const extra = now.schema.fields.map((f) => f.name).filter((name) => !before.getChild(name));
    const filled = extra.filter((name) => now.getChild(name)!.nullCount !== now.numRows);
    const same = before.numRows === now.numRows && differ.length === 0 && filled.length === 0;
    console.log(`flowknn before (${values.before}): ${bf.toFixed(0)} ms, ${(bf / nf).toFixed(2)}x nfdump; now / before ${(fk / bf).toFixed(2)}x; same ${now.numRows} rows in every column: ${same}${extra.length > 0 ? ` (columns only now, empty: ${extra.join(', ')})` : ''}${differ.length + filled.length > 0 ? `; differ: ${[...differ, ...filled].join(', ')}` : ''}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
