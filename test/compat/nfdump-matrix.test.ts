import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { FlowAggregator, nfdumpRates } from '../../src/features/aggregate.js';
import { readNfcapdFlows } from '../../src/ingest/nfdump/flows.js';
import { scanNfcapdStats } from '../../src/ingest/nfdump/stats.js';
import { probeNfdump, type NfdumpVersion } from '../../src/ingest/nfdump/version.js';
import { readInput } from '../../src/ingest/read.js';
import { openInput } from '../../src/ingest/registry.js';
import { aggregateFlowInput } from '../../src/ingest/aggregate-input.js';
import { nfcapdFormat } from '../../src/ingest/formats/nfcapd.js';
import { uniqueRows } from '../../src/ingest/sections.js';
import { numberColumn, stringColumn, takeRows } from '../../src/schema/arrow.js';
import { generate, toPcap } from '../fixtures/gen/pcap.js';
import { runMain } from '../helpers/cli.js';
import { hasNfdumpTools, nfcapdSeed, splitStatCsv, type StatCsvRow } from '../helpers/nfcapd-fixture.js';
import { hasSoftflowd, nfdumpReleases, nfpcapdArchive, softflowdArchive, type NfdumpRelease } from '../helpers/nfdump-releases.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * The compatibility matrix: nfdump 1.6.25, 1.7.1 and 1.7.8 as readers x every nfdump output
 * flowknn reads x archives made by nfpcapd (1.7.1, 1.7.8) and by a real exporter (softflowd,
 * NetFlow v9 and IPFIX) into nfcapd of each release. For every cell nfdump itself can read,
 * flowknn's per-destination aggregates of the file equal that release's own
 * `nfdump -s dstip/pps -n 0 -o csv` for every host: flows, packets, bytes, pps, bps and bpp as
 * printed, durations to the millisecond (the 1.6-1.7.4 flow CSV has whole-second start times:
 * there, hosts of one flow are exact and others within that second). A cell nfdump cannot read
 * must fail in flowknn with a version mismatch naming both releases. The table is printed at
 * the end (bench/RESULTS.md keeps a copy).
 */

const exec = promisify(execFile);
const { found: releases, missing } = nfdumpReleases();
const ready = missing.length === 0 && hasSoftflowd() && hasNfdumpTools();
const inCi = process.env.CI === 'true';
if (!ready) console.warn(`nfdump compatibility matrix skipped: ${[...missing, ...(hasSoftflowd() ? [] : ['softflowd (apt-get install softflowd)'])].join('; ')}`);

interface Archive {
  readonly name: string;
  /** The release that wrote it. */
  readonly writer: NfdumpRelease['version'];
  readonly files: string[];
  /**
   * What its collector got wrong, per file, as nfdump 1.7.8's csv-fast shows the records
   * (raw first and last seen): records stored with last seen before first seen (nfcapd 1.7.1
   * with softflowd's IPFIX), and destinations of records without times (first seen 0:
   * softflowd's IPFIX into nfcapd 1.7.8).
   */
  swapped?: number;
  untimedHosts?: Set<string>;
}

interface Agg {
  durationS: number;
  flows: number;
  packets: number;
  bytes: number;
  pps: number;
  bps: number;
  bpp: number;
}

type Mode = 'exact' | 'whole-second starts' | 'text';

/** One cell: pass, or why not (which is a failure of the test unless nfdump cannot read it). */
interface Cell {
  reader: string;
  archive: string;
  output: string;
  result: string;
}

const cells: Cell[] = [];
let dir: string;
let cleanup: () => Promise<void>;
const archives: Archive[] = [];
const versions = new Map<string, NfdumpVersion>();

async function nfdumpOut(r: NfdumpRelease, args: string[]): Promise<string> {
  const { stdout } = await exec(r.nfdump, args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' }, maxBuffer: 64 << 20 });
  return stdout;
}

/** Can the release read the file? nfdump's own -I, and its stderr on a full read. */
async function readable(r: NfdumpRelease, file: string): Promise<string | undefined> {
  try {
    const { stderr } = await exec(r.nfdump, ['-r', file, '-q', '-o', 'csv'], { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20 });
    if (/Unknown extension/u.test(stderr)) return `nfdump ${r.version} does not know the record extensions of nfdump ${archives.find((a) => a.files.includes(file))!.writer}'s files ("${stderr.split('\n')[0]}")`;
    return undefined;
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? err);
    return `nfdump ${r.version} cannot open it (${/bad version: \d+/u.exec(text)?.[0] ?? text.split('\n')[0]})`;
  }
}

/** The release's own statistics of a file: its first (pps) table, by host. */
async function reference(r: NfdumpRelease, file: string): Promise<Map<string, StatCsvRow>> {
  const rows = splitStatCsv(await nfdumpOut(r, ['-r', file, '-s', 'dstip/pps', '-n', '0', '-o', 'csv'])).filter((x) => x.section === 0);
  return new Map(rows.map((x) => [x.val, x]));
}

function aggregates(agg: FlowAggregator): Map<string, Agg> {
  return new Map(agg.rows().map((a) => [a.key, { durationS: a.durationMs / 1000, flows: a.flows, packets: a.packets, bytes: a.bytes, pps: a.pps, bps: a.bps, bpp: a.bpp }]));
}

/** flowknn's per-destination aggregates of a flow input read through the registry. */
async function flowAggregates(file: string, options: Parameters<typeof openInput>[2] = {}): Promise<Map<string, Agg>> {
  const agg = new FlowAggregator({ key: 'dstip', window: 'whole' });
  const reader = await openInput(file, 'auto', options);
  expect(reader.kind === 'flow' || reader.kind === 'none', `${file}: ${reader.kind}`).toBe(true);
  for await (const b of reader) agg.addBatch(b, file);
  return aggregates(agg);
}

/** flowknn's aggregates of an nfcapd file as the nightly flows source reads it: nfdump's own -A partials, keys spanning windows read again as flows. */
async function partialAggregates(file: string, version: NfdumpVersion, window: 'whole' | number): Promise<{ agg: FlowAggregator; reread: number; via: string; refused?: string }> {
  const agg = new FlowAggregator({ key: 'dstip', window });
  const read = await aggregateFlowInput(file, nfcapdFormat, agg, { nfdump: { version } });
  return { agg, reread: read.reread, via: read.via, refused: read.refused };
}

/** The rows of two aggregators, window by window and key by key ('' when the same, value for value). */
function sameRows(got: FlowAggregator, want: FlowAggregator): string {
  const a = got.rows();
  const b = want.rows();
  if (a.length !== b.length) return `${a.length} aggregates, expected ${b.length}`;
  const bad = a.flatMap((row, i) => (JSON.stringify(row) === JSON.stringify(b[i]) ? [] : [`${row.windowStart}/${row.key}: ${JSON.stringify(row)} != ${JSON.stringify(b[i])}`]));
  return bad.length === 0 ? '' : `${bad.length} aggregates differ (${bad.slice(0, 2).join('; ')})`;
}

/** A statistics input read through the registry, each aggregate once. */
async function statAggregates(file: string): Promise<Map<string, Agg>> {
  const r = await readInput(file, 'auto', {});
  expect(r.kind, file).toBe('stat');
  const t = takeRows(r.table, uniqueRows(r.table));
  const keys = stringColumn(t, 'key')!;
  const col = (n: string) => numberColumn(t, n)!;
  const [d, f, p, b, pps, bps, bpp] = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'].map(col) as Float64Array[];
  const out = new Map<string, Agg>();
  keys.forEach((k, i) => {
    if (out.has(k!)) throw new Error(`${file}: host ${k} twice after the repeated tables were dropped`);
    out.set(k!, { durationS: d![i]!, flows: f![i]!, packets: p![i]!, bytes: b![i]!, pps: pps![i]!, bps: bps![i]!, bpp: bpp![i]! });
  });
  return out;
}

/** nfdump 1.7's text table shortens addresses longer than 16 characters: first 7 + ".." + last 7. */
function condensed(key: string): string {
  return key.length > 16 ? `${key.slice(0, 7)}..${key.slice(-7)}` : key;
}

/** Values >= 1 M are printed with one decimal of a unit (1.3 M): equal to that precision. */
function asPrinted(got: number, want: number): boolean {
  if (want < 1e6) return got === want;
  const unit = want >= 1e12 ? 1e12 : want >= 1e9 ? 1e9 : 1e6;
  return Math.abs(got - want) <= 0.05 * unit + 1e-6;
}

/** The differences between flowknn's aggregates and nfdump's own, host by host ('' when none). */
function compare(got: Map<string, Agg>, ref: Map<string, StatCsvRow>, mode: Mode): string {
  const wantKeys = [...ref.keys()].map((k) => (mode === 'text' ? condensed(k) : k)).sort();
  const gotKeys = [...got.keys()].sort();
  if (JSON.stringify(wantKeys) !== JSON.stringify(gotKeys)) return `hosts differ: nfdump ${wantKeys.length}, flowknn ${gotKeys.length}`;
  const bad: string[] = [];
  for (const [key, r] of ref) {
    const g = got.get(mode === 'text' ? condensed(key) : key)!;
    const want = { flows: Number(r.fl), packets: Number(r.pkt), bytes: Number(r.byt), pps: Number(r.pps), bps: Number(r.bps), bpp: Number(r.bpp) };
    const diff: string[] = [];
    if (mode === 'text') {
      for (const n of ['flows', 'packets', 'bytes', 'pps', 'bps'] as const) if (!asPrinted(g[n], want[n])) diff.push(`${n} ${g[n]} != ${want[n]}`);
      if (g.bpp !== want.bpp) diff.push(`bpp ${g.bpp} != ${want.bpp}`);
      if (g.durationS.toFixed(3) !== r.td) diff.push(`duration ${g.durationS.toFixed(3)} != ${r.td}`);
    } else {
      for (const n of ['flows', 'packets', 'bytes', 'bpp'] as const) if (g[n] !== want[n]) diff.push(`${n} ${g[n]} != ${want[n]}`);
      if (mode === 'exact' || want.flows === 1) {
        if (g.durationS.toFixed(3) !== r.td) diff.push(`duration ${g.durationS.toFixed(3)} != ${r.td}`);
        if (g.pps !== want.pps || g.bps !== want.bps) diff.push(`pps/bps ${g.pps}/${g.bps} != ${want.pps}/${want.bps}`);
      } else {
        // Start times cut to whole seconds: the duration within a second, the rates nfdump's
        // formulas of it.
        if (Math.abs(g.durationS - Number(r.td)) > 1) diff.push(`duration ${g.durationS} more than 1 s from ${r.td}`);
        const rates = nfdumpRates(g.packets, g.bytes, Math.round(g.durationS * 1000));
        if (g.pps !== rates.pps || g.bps !== rates.bps) diff.push('pps/bps not nfdump\'s formulas of the duration');
      }
    }
    if (diff.length > 0) bad.push(`${key}: ${diff.join(', ')}`);
  }
  return bad.length === 0 ? '' : `${bad.length} hosts differ (${bad.slice(0, 3).join('; ')})`;
}

function record(reader: NfdumpRelease, archive: Archive, output: string, result: string): void {
  cells.push({ reader: reader.version, archive: archive.name, output, result });
}

/** The outputs of a release, how to make each from a file, and how exact flowknn's reading must be. */
function outputsOf(r: NfdumpRelease): { name: string; args: string[]; kind: 'flow' | 'stat'; mode: Mode }[] {
  const later = r.version === '1.7.8';
  return [
    { name: 'flow CSV (-o csv)', args: ['-o', 'csv'], kind: 'flow', mode: later ? 'exact' : 'whole-second starts' },
    { name: 'flow CSV (-o csv -q)', args: ['-o', 'csv', '-q'], kind: 'flow', mode: later ? 'exact' : 'whole-second starts' },
    ...(later ? [{ name: 'flow csv-fast', args: ['-o', 'csv-fast'], kind: 'flow' as const, mode: 'exact' as const }] : []),
    { name: 'flow JSON (-o json)', args: ['-o', 'json'], kind: 'flow', mode: 'exact' },
    ...(later ? [{ name: 'flow NDJSON', args: ['-o', 'ndjson'], kind: 'flow' as const, mode: 'exact' as const }] : []),
    { name: 'stat CSV', args: ['-s', 'dstip/pps/bps', '-n', '0', '-o', 'csv'], kind: 'stat', mode: 'exact' },
    { name: 'stat text', args: ['-s', 'dstip/pps/bps', '-n', '0'], kind: 'stat', mode: 'text' },
    { name: 'stat text -N', args: ['-s', 'dstip/pps/bps', '-n', '0', '-N'], kind: 'stat', mode: 'text' },
    { name: 'stat text -q', args: ['-s', 'dstip/pps/bps', '-n', '0', '-q'], kind: 'stat', mode: 'text' },
    ...(later ? [{ name: 'stat JSON', args: ['-s', 'dstip/pps/bps', '-n', '0', '-o', 'json'], kind: 'stat' as const, mode: 'exact' as const }] : []),
  ];
}

describe.skipIf(!ready && !inCi)('nfdump compatibility matrix (1.6.25, 1.7.1, 1.7.8 x outputs x archives)', () => {
  beforeAll(async () => {
    if (!ready) throw new Error(`CI must run the nfdump compatibility matrix; missing: ${missing.join('; ')}${hasSoftflowd() ? '' : '; softflowd'}`);
    ({ dir, cleanup } = await makeTempDir('flowknn-compat-'));
    const pcap = join(dir, 'traffic.pcap');
    await writeFile(pcap, toPcap(generate(nfcapdSeed(20261101, 'test/compat/nfdump-matrix.test.ts'))));
    for (const r of releases) {
      versions.set(r.version, await probeNfdump(r.nfdump));
      if (r.nfpcapd) archives.push({ name: `nfpcapd ${r.version}`, writer: r.version, files: await nfpcapdArchive(r, pcap, join(dir, `nfpcapd-${r.version}`)) });
    }
    // The archives' own damage, as nfdump 1.7.8's csv-fast prints the raw times.
    const latest = releases.find((x) => x.version === '1.7.8')!;
    const checkArchive = async (a: Archive) => {
      for (const f of a.files) {
        const rows = (await nfdumpOut(latest, ['-r', f, '-q', '-o', 'csv-fast'])).trim().split('\n').slice(1).map((l) => l.split(','));
        a.swapped = (a.swapped ?? 0) + rows.filter((c) => Number(c[3]) < Number(c[2])).length;
        a.untimedHosts ??= new Set();
        for (const c of rows) if (c[2] === '0') a.untimedHosts.add(c[7]!);
      }
    };
    for (const r of releases) {
      for (const v of [9, 10] as const) {
        const name = `softflowd ${v === 9 ? 'NetFlow v9' : 'IPFIX'} -> nfcapd ${r.version}`;
        let file: string | undefined;
        // nfcapd rotates on the clock: a run across a rotation leaves two files; run it again.
        for (let attempt = 0; file === undefined; attempt++) {
          try {
            file = await softflowdArchive(r, v, pcap, join(dir, `softflowd-v${v}-${r.version}`), '202611011000');
          } catch (err) {
            if (attempt >= 2) throw err;
          }
        }
        archives.push({ name, writer: r.version, files: [file] });
      }
    }
    for (const a of archives) await checkArchive(a);
  }, 240_000);

  afterAll(async () => {
    if (cells.length > 0) {
      const outs = [...new Set(cells.map((c) => c.output))];
      const rows = [...new Set(cells.map((c) => `${c.reader}|${c.archive}`))];
      const lines = [`| reader | archive | ${outs.join(' | ')} |`, `| --- | --- | ${outs.map(() => '---').join(' | ')} |`];
      for (const row of rows) {
        const [reader, archive] = row.split('|') as [string, string];
        const of = (o: string) => cells.find((c) => c.reader === reader && c.archive === archive && c.output === o)?.result ?? '';
        lines.push(`| ${reader} | ${archive} | ${outs.map(of).join(' | ')} |`);
      }
      console.log(`nfdump compatibility matrix (${cells.length} cells):\n${lines.join('\n')}`);
    }
    await cleanup?.();
  });

  for (const readerVersion of ['1.6.25', '1.7.1', '1.7.8'] as const) {
    it(`nfdump ${readerVersion} as the reader: every output of every archive it can read gives nfdump's own per-host statistics`, async () => {
      const r = releases.find((x) => x.version === readerVersion)!;
      const version = versions.get(r.version)!;
      const failures: string[] = [];
      // Every file this release reads whose records all have times, for one nfdump run over them all.
      const readTogether: string[] = [];
      // ... and with those holding records without times too
      const readTogetherAll: string[] = [];
      for (const a of archives) {
        const cannot = await readable(r, a.files[0]!);
        if (cannot) {
          // flowknn must say why, naming both releases, rather than call the file corrupt.
          const err = await readNfcapd(a.files[0]!, version).then(
            () => undefined,
            (e: unknown) => e,
          );
          const told = err instanceof FlowknnError && err.kind === 'input' && /version mismatch/u.test(err.message) && err.message.includes(r.version) && err.message.includes(a.writer);
          record(r, a, 'nfcapd (flows)', told ? `cannot: ${cannot.replace(/ \(.*$/u, '')}; flowknn says so` : `FAIL: ${String(err)}`);
          if (!told) failures.push(`${a.name}: expected a version mismatch naming ${r.version} and ${a.writer}, got ${String(err)}`);
          continue;
        }
        if (a.swapped) {
          // The collector stored times swapped: nfdump prints negative durations (2^64 ms) or
          // clamps them; flowknn must refuse the records, saying why, not read them.
          const err = await readNfcapd(a.files[0]!, version).then(
            () => undefined,
            (e: unknown) => e,
          );
          const told = err instanceof FlowknnError && /negative duration|disagrees with first seen|before first seen/u.test(err.message);
          record(r, a, 'nfcapd (flows)', told ? `damaged: ${a.swapped} records stored with last seen before first seen; flowknn refuses them` : `FAIL ${String(err)}`);
          if (!told) failures.push(`${a.name}: expected the swapped times refused, got ${String(err)}`);
          continue;
        }
        // a file with untimed records: a line of nfdump's aggregates refused, the run read as flows
        if ((a.untimedHosts?.size ?? 0) === 0) readTogether.push(...a.files);
        readTogetherAll.push(...a.files);
        // Hosts with records without times: duration 0 as nfdump computes it (nfdumpDurationMs).
        const untimed = a.untimedHosts?.size ?? 0;
        for (const file of a.files) {
          const ref = await reference(r, file);
          const cell = async (output: string, got: () => Promise<Map<string, Agg>>, mode: Mode) => {
            let result: string;
            try {
              result = compare(await got(), ref, mode);
            } catch (err) {
              result = `error: ${err instanceof FlowknnError ? err.format() : String(err)}`;
            }
            if (result !== '') failures.push(`${a.name} ${basename(file)} ${output}: ${result}`);
            const note = [mode === 'whole-second starts' ? '1-flow hosts exact' : '', untimed > 0 ? `${untimed} hosts with records without times: duration 0` : ''].filter(Boolean).join('; ');
            if (file === a.files[0]) record(r, a, output, result === '' ? `pass${note ? ` (${note})` : ''}` : `FAIL ${result}`);
          };
          await cell('nfcapd (flows)', () => flowAggregates(file, { nfdump: { version } }), 'exact');
          await cell(
            'nfcapd (nfdump -s)',
            async () => {
              const s = await scanNfcapdStats(file, { version });
              return new Map(s.key.map((k, i) => [k, { durationS: s.durationS[i]!, flows: s.flows[i]!, packets: s.packets[i]!, bytes: s.bytes[i]!, pps: s.pps[i]!, bps: s.bps[i]!, bpp: s.bpp[i]! }]));
            },
            'exact',
          );
          // nfdump's own aggregation (-A dstip), as the nightly flows source reads nfcapd files.
          await cell('nfcapd (nfdump -A)', async () => aggregates((await partialAggregates(file, version, 'whole')).agg), 'exact');
          {
            // One-minute windows: the partials whose flows span windows (all of a softflowd
            // file's, exported at once) are read again as flows; the aggregates are those of the
            // flows read one by one.
            let result: string;
            let reread = 0;
            try {
              const p = await partialAggregates(file, version, 60);
              reread = p.reread;
              const flows = new FlowAggregator({ key: 'dstip', window: 60 });
              for await (const b of await openInput(file, 'auto', { nfdump: { version } })) flows.addBatch(b, file);
              result = sameRows(p.agg, flows);
              // A host whose flows with and without times nfdump sums is printed with a last
              // seen but no duration: the reader refuses the line and the file is read as flows.
              const refusedUntimed = untimed > 0 && p.via === 'flows' && /disagrees with first seen/u.test(p.refused ?? '');
              // 1.6.x's -A dstip sums IPv4-compatible IPv6 flows into IPv4 addresses and its
              // trailer cannot say whether a filter left them out: read as flows.
              const expectA = r.version !== '1.6.25';
              if (result === '' && !expectA && p.via !== 'flows') result = `read as ${p.via}, expected flows (nfdump ${r.version} -A mixes ::a.b.c.d into a.b.c.d)`;
              if (result === '' && expectA && !p.via.startsWith('-A dstip') && !refusedUntimed) result = `read as ${p.via}${p.refused ? ` (${p.refused})` : ''}, expected nfdump -A dstip`;
              if (!expectA) reread = -2;
              if (refusedUntimed) reread = -1;
            } catch (err) {
              result = `error: ${err instanceof FlowknnError ? err.format() : String(err)}`;
            }
            if (result !== '') failures.push(`${a.name} ${basename(file)} nfdump -A, 1-minute windows: ${result}`);
            if (file === a.files[0]) record(r, a, 'nfcapd (nfdump -A, 1-min windows)', result === '' ? (reread === -2 ? 'pass (read as flows: 1.6 -A mixes ::a.b.c.d into a.b.c.d)' : reread < 0 ? 'pass (-A refused: hosts with records without times; read as flows)' : `pass (${reread} hosts spanning windows read again)`) : `FAIL ${result}`);
          }
          if (r.version === '1.6.25') {
            // 1.6.12-1.6.16 lack %tsr: the same file read with their format (%ts, %te).
            await cell('nfcapd (flows, 1.6.12-16 format)', () => flowAggregates(file, { nfdump: { version: { ...version, patch: 16, version: '1.6.16' } } }), 'exact');
          }
          for (const o of outputsOf(r)) {
            const out = join(dir, 'outputs', r.version, a.name.replace(/\W+/gu, '-'), `${basename(file)}-${o.name.replace(/\W+/gu, '-')}`);
            await mkdir(join(out, '..'), { recursive: true });
            await writeFile(out, await nfdumpOut(r, ['-r', file, ...o.args]));
            await cell(o.name, () => (o.kind === 'flow' ? flowAggregates(out) : statAggregates(out)), o.mode);
          }
        }
        if (r.version === '1.7.1' && a.writer === '1.6.25') {
          // 1.7 reading a 1.6 archive of a v9/IPFIX exporter warns of the 1.6 sampler records.
          const flows = readNfcapdFlows(a.files[0]!, { version });
          for await (const _ of flows) void _;
          expect(flows.outcome?.warnings.map((w) => w.message)).toContain('Skip unknown record type 9');
          expect(flows.outcome?.totalsCheck).toBe('Summary line');
        }
      }
      // ingest --aggregate's runs: the files read by one nfdump (-R over links to them), its
      // aggregates (-A) where the key and release allow, else its flows; the aggregates are those
      // of every file's flows read one by one, for whole and 1-minute windows.
      for (const [output, files, keys] of [
        ['files read together (one nfdump run)', readTogether, ['dstip', 'dstport']],
        ['... and files with untimed records', readTogetherAll, ['dstip']],
      ] as const) {
        if (files === readTogetherAll && readTogetherAll.length === readTogether.length) continue;
        const all: Archive = { name: 'every archive it reads, in one nfdump run', writer: r.version, files };
        const results: string[] = [];
        for (const key of keys) {
          for (const window of ['whole', 60] as const) {
            let result: string;
            let via = '';
            try {
              const together = new FlowAggregator({ key, window });
              via = (await aggregateFlowInput('together', nfcapdFormat, together, { nfdump: { version }, together: files, maxRejects: 0 })).via;
              const flows = new FlowAggregator({ key, window });
              for (const file of files) for await (const b of await openInput(file, 'auto', { nfdump: { version } })) flows.addBatch(b, file);
              result = sameRows(together, flows);
              if (result === '' && together.flowCount !== flows.flowCount) result = `${together.flowCount} flows counted, expected ${flows.flowCount}`;
            } catch (err) {
              result = `error: ${err instanceof FlowknnError ? err.format() : String(err)}`;
            }
            if (result !== '') failures.push(`${files.length} files together, ${key}, window ${window}: ${result}`);
            results.push(result === '' ? `${key}/${window}: pass (${via.split(',')[0]})` : `${key}/${window}: FAIL ${result}`);
          }
        }
        record(r, all, output, `${files.length} files: ${results.join('; ')}`);
      }
      expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    }, 300_000);
  }

  it('the 1.6 statistics CSV header of input orders (ipkt, ipktP, ..., ibpp) is read by the nightly scanner', async () => {
    const r = releases.find((x) => x.version === '1.6.25')!;
    const file = archives.find((a) => a.writer === '1.6.25')!.files[0]!;
    expect((await nfdumpOut(r, ['-r', file, '-s', 'dstip/ipps', '-n', '0', '-o', 'csv'])).split('\n')[0]).toBe('ts,te,td,pr,val,fl,flP,ipkt,ipktP,ibyt,ibytP,ipps,ibps,ibpp');
    const scan = await scanNfcapdStats(file, { version: versions.get('1.6.25')!, order: 'ipps' });
    expect(scan.key.length).toBeGreaterThan(10);
    expect(scan.outcome?.totalsCheck).toBe('Summary trailer');
  });

  describe('the nightly job, default path (aggregate.source nfdump)', () => {
    let model: string;
    const DATE = '2026-11-01';
    /** A day of the archives every given release can read, five minutes apart. */
    const dayArchive = async (name: string, readers: NfdumpRelease['version'][]): Promise<string> => {
      const root = join(dir, name);
      await mkdir(root, { recursive: true });
      let slot = 0;
      for (const a of archives) {
        if (a.swapped) continue;
        let ok = true;
        for (const v of readers) if (await readable(releases.find((x) => x.version === v)!, a.files[0]!)) ok = false;
        if (!ok) continue;
        for (const f of a.files) {
          const m = String(slot * 5);
          await copyFile(f, join(root, `nfcapd.${DATE.replaceAll('-', '')}${String(Math.floor(slot / 12)).padStart(2, '0')}${String((Number(m) % 60)).padStart(2, '0')}`));
          slot++;
        }
      }
      return root;
    };
    const nightly = async (name: string, archive: string, r: NfdumpRelease) => {
      const cfg = join(dir, `${name}.json`);
      await writeFile(
        cfg,
        JSON.stringify({ archive: { root: archive }, output: { root: join(dir, `out-${name}`) }, model: { path: model }, aggregate: { source: 'nfdump', key: 'dstip' }, classify: { engine: 'cpu', threads: 1, alertOnNovel: true } }),
      );
      const run = await runMain(['nightly', '--config', cfg, '--date', DATE, '--nfdump', r.nfdump, '--quiet']);
      expect(run.code, run.stderr).toBe(0);
      const day = join(dir, `out-${name}`, DATE);
      const manifest = JSON.parse(await readFile(join(day, 'manifest.json'), 'utf8')) as { inputs: { path: string; status: string; flows: number; nfdump: string; warnings: { message: string; count: number }[]; totals_check: string }[] };
      const summary = JSON.parse(await readFile(join(day, 'summary.json'), 'utf8')) as { inputs: { selected: number; ok: number }; nfdump: { versions: string[]; warnings: number } };
      return { day, manifest, summary, predictions: await readFile(join(day, 'predictions.csv'), 'utf8'), aggregates: await readFile(join(day, 'aggregates.csv'), 'utf8') };
    };

    beforeAll(async () => {
      if (!ready) return;
      model = join(dir, 'model');
      const t = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
      expect(t.code, t.stderr).toBe(0);
    }, 120_000);

    for (const readerVersion of ['1.6.25', '1.7.1', '1.7.8'] as const) {
      it(`with nfdump ${readerVersion}: every input it can read is read (the night is complete)`, async () => {
        const r = releases.find((x) => x.version === readerVersion)!;
        const out = await nightly(`every-${readerVersion}`, await dayArchive(`day-${readerVersion}`, [readerVersion]), r);
        expect(out.summary.inputs.ok).toBe(out.summary.inputs.selected);
        expect(out.summary.inputs.selected).toBeGreaterThanOrEqual(readerVersion === '1.6.25' ? 2 : 8);
        expect(out.summary.nfdump.versions).toEqual([readerVersion]);
        for (const i of out.manifest.inputs) {
          expect(i.status, i.path).toBe('ok');
          expect(i.nfdump).toBe(readerVersion);
          expect(i.totals_check).toBe(readerVersion === '1.7.8' ? 'nfdump -I' : 'Summary trailer');
        }
      }, 120_000);
    }

    it('nfdump 1.7.1 and 1.7.8 over the same archive give the same aggregates and predictions', async () => {
      const archive = await dayArchive('day-both', ['1.7.1', '1.7.8']);
      const a = await nightly('same-1.7.1', archive, releases.find((x) => x.version === '1.7.1')!);
      const b = await nightly('same-1.7.8', archive, releases.find((x) => x.version === '1.7.8')!);
      expect(a.manifest.inputs.length).toBeGreaterThanOrEqual(8);
      expect(b.aggregates).toBe(a.aggregates);
      expect(b.predictions).toBe(a.predictions);
    }, 120_000);

    it('an nfcapd 1.6.25 archive of a NetFlow v9 exporter read by 1.7.1: every flow, its warning counted, not fatal', async () => {
      const r = releases.find((x) => x.version === '1.7.1')!;
      const root = join(dir, 'day-v9-1.6.25');
      await mkdir(root, { recursive: true });
      const v9 = archives.find((x) => x.name === 'softflowd NetFlow v9 -> nfcapd 1.6.25')!.files[0]!;
      await copyFile(v9, join(root, 'nfcapd.202611011000'));
      const out = await nightly('v9-1.6.25', root, r);
      const [input] = out.manifest.inputs;
      expect(input!.status).toBe('ok');
      const totals = await nfdumpOut(r, ['-r', v9, '-I']);
      expect(input!.flows).toBe(Number(/^Flows: (\d+)$/mu.exec(totals)![1]));
      expect(input!.warnings.find((w) => w.message === 'Skip unknown record type 9')?.count).toBeGreaterThanOrEqual(1);
      expect(out.summary.nfdump.warnings).toBeGreaterThanOrEqual(1);
    }, 120_000);
  });
});

/** Reads a file's flows through the registry with a release (for the mismatch cells). */
async function readNfcapd(file: string, version: NfdumpVersion): Promise<void> {
  const reader = await openInput(file, 'auto', { nfdump: { version } });
  for await (const _ of reader) void _;
}
