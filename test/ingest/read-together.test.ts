import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { runsOfInputs, type RunCandidate } from '../../src/ingest/aggregate-input.js';
import { prepareNfcapdRun } from '../../src/ingest/nfdump/run.js';
import { probeNfdump } from '../../src/ingest/nfdump/version.js';
import { openInput } from '../../src/ingest/registry.js';
import { runMain } from '../helpers/cli.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';

/**
 * ingest --aggregate reads the nfcapd files of one window with one nfdump (runsOfInputs): the
 * runs it plans, and, with the real nfdump, that a run's aggregates are those of the files'
 * flows and that a run nfdump fails on is read again file by file, the bad file failing alone.
 */

const at = (min: number) => Date.UTC(2026, 10, 1, 10, min);
const nfcapd = (min: number, router = 'rtr1'): RunCandidate => ({ nfcapd: true, slotStartMs: at(min), router });

describe('runsOfInputs', () => {
  it('whole: every nfcapd file in up to `jobs` runs of consecutive files; other inputs alone', () => {
    const inputs = [nfcapd(0), nfcapd(5), { nfcapd: false }, nfcapd(10), nfcapd(15), nfcapd(20), nfcapd(25)];
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip', window: 'whole' }), 2)).toEqual([[0, 1, 3], [2], [4, 5, 6]]);
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip', window: 'whole' }), 1)).toEqual([[0, 1, 3, 4, 5, 6], [2]]);
    // runs of two files at least
    expect(runsOfInputs([nfcapd(0), nfcapd(5), nfcapd(10)], new FlowAggregator({ key: 'dstip', window: 'whole' }), 8)).toEqual([[0, 1], [2]]);
  });

  it('time windows: one run per window the files start in; a file without a slot time alone', () => {
    const inputs = [nfcapd(0), nfcapd(5), nfcapd(10), nfcapd(15), { nfcapd: true }, nfcapd(20)];
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip', window: '10m' }), 4)).toEqual([[0, 1], [2, 3], [4], [5]]);
    // windows of one file each: every file alone, as before
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip', window: '5m' }), 4)).toEqual([[0], [1], [2], [3], [4], [5]]);
    // a window as long as the input: split so that every job has a run
    const day = Array.from({ length: 8 }, (_, i) => nfcapd(i * 5));
    expect(runsOfInputs(day, new FlowAggregator({ key: 'dstip', window: 86400 }), 2)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
  });

  it('a key with the router: each router its own runs; without it, routers share a run', () => {
    const inputs = [nfcapd(0, 'a'), nfcapd(0, 'b'), nfcapd(5, 'a'), nfcapd(5, 'b')];
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip+router', window: 'whole' }), 1)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(runsOfInputs(inputs, new FlowAggregator({ key: 'dstip', window: '1h' }), 1)).toEqual([[0, 1, 2, 3]]);
  });
});

const ready = hasNfdumpTools();
let fx: NfcapdFixture;

/** The aggregates of the files' flows read one by one through the flow reader, by window and key. */
async function fromFlows(files: readonly string[], key: string, window: string): Promise<Map<string, string>> {
  const agg = new FlowAggregator({ key, window });
  for (const f of files) for await (const b of await openInput(f, 'auto')) agg.addBatch(b, f);
  return new Map(agg.rows().map((r) => [`${r.windowStart}/${r.key}`, `${r.flows} ${r.packets} ${r.bytes} ${r.durationMs} ${r.pps} ${r.bps} ${r.bpp}`]));
}

async function fromOutput(path: string): Promise<Map<string, string>> {
  const t = tableFromIPC(await readFile(path));
  const out = new Map<string, string>();
  const col = (name: string) => (i: number) => t.getChild(name)!.get(i) as number | bigint | string | null;
  const [win, key, flows, packets, bytes, dur, pps, bps, bpp] = ['window_start', 'key', 'flows', 'packets', 'bytes', 'duration_s', 'pps', 'bps', 'bpp'].map(col);
  for (let i = 0; i < t.numRows; i++) {
    const w = win!(i);
    out.set(`${w === null ? null : Number(w)}/${key!(i)}`, `${flows!(i)} ${packets!(i)} ${bytes!(i)} ${Math.round(Number(dur!(i)) * 1000)} ${pps!(i)} ${bps!(i)} ${bpp!(i)}`);
  }
  return out;
}

describe.skipIf(!ready && process.env.CI !== 'true')('ingest --aggregate over nfcapd files read together', () => {
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261206, 'test/ingest/read-together.test.ts'));
  }, 120_000);
  afterAll(() => fx?.cleanup());

  /** Runs the CLI with TMPDIR a folder of its own, and checks that no run left its links there. */
  async function ingest(argv: string[]) {
    const tmp = join(fx.dir, 'tmp');
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    const was = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      return await runMain(['ingest', ...argv]);
    } finally {
      if (was === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = was;
      expect(await readdir(tmp)).toEqual([]);
    }
  }

  for (const [key, window, jobs] of [
    ['dstip', 'whole', '1'],
    ['dstip', 'whole', '2'],
    ['dstip', '10m', '1'],
    ['dstip+dstport', 'whole', '1'],
    ['dstip/24', 'whole', '1'],
  ] as const) {
    it(`--aggregate ${key} --window ${window} --jobs ${jobs}: one nfdump per run, the aggregates of every file's flows`, async () => {
      const out = join(fx.dir, `together-${key.replace(/\W/gu, '_')}-${window}-${jobs}.arrow`);
      const r = await ingest([fx.flowDir, '--aggregate', key, '--window', window, '--out', out, '--jobs', jobs]);
      expect(r.code, r.stderr).toBe(0);
      // the log names each run: its first and last file and how many
      expect(r.stderr).toMatch(new RegExp(`${basename(fx.files[0]!)} \\.\\. .*${window === 'whole' && jobs === '1' ? basename(fx.files.at(-1)!) : ''}.* \\(\\d+ files\\): \\d+ flows`, 'u'));
      if (!key.includes('/')) expect(r.stderr).toContain(`nfdump -A ${key.replace('+', ',')}`);
      // whole, two jobs: the three files in runs of two and one (the one read alone)
      if (window === 'whole' && jobs === '2') expect(r.stderr).toMatch(/\(2 files\): \d+ flows/u);
      expect(r.stderr).not.toContain('file by file');
      const got = await fromOutput(out);
      const want = await fromFlows(fx.files, key, window);
      expect(got.size).toBeGreaterThan(key.includes('/') ? 3 : 10);
      expect([...got].sort()).toEqual([...want].sort());
      const sources = JSON.parse(tableFromIPC(await readFile(out)).schema.metadata.get('flowknn.sources')!) as { files?: string[]; file?: string; rows: number }[];
      expect(sources.flatMap((s) => s.files ?? [s.file!])).toEqual(fx.files);
    }, 60_000);
  }

  it('a run nfdump fails on (a truncated file) is read file by file: the bad file fails alone, the rest is complete', async () => {
    const dir = join(fx.dir, 'with-truncated');
    await mkdir(dir, { recursive: true });
    for (const f of fx.files) await copyFile(f, join(dir, basename(f)));
    // the next slot's file, cut in half
    const bad = join(dir, 'nfcapd.209901010000');
    const whole = await readFile(fx.files[0]!);
    await writeFile(bad, whole.subarray(0, Math.floor(whole.length / 2)));
    expect((await stat(bad)).size).toBeGreaterThan(0);
    const out = join(fx.dir, 'with-truncated.arrow');
    const r = await ingest([dir, '--aggregate', 'dstip', '--window', 'whole', '--out', out, '--jobs', '1']);
    expect(r.code).not.toBe(0);
    // the run's failure names the file, not nfdump's link to it
    expect(r.stderr).toMatch(/\(\d+ files\): read file by file \(one nfdump over them: .*nfcapd\.209901010000/u);
    expect(r.stderr).not.toMatch(/flowknn-nfdump-run-/u);
    expect(r.stderr).toContain(`error: ${bad}:`);
    expect(r.stderr).toContain(`1 of ${fx.files.length + 1} inputs failed: ${bad}`);
    const got = await fromOutput(out);
    expect([...got].sort()).toEqual([...(await fromFlows(fx.files, 'dstip', 'whole'))].sort());
  }, 60_000);
  it('--aggregate dstip+router: a run per router (NfSen live/<router>/), each router\'s rows its own files\' flows', async () => {
    const live = join(fx.dir, 'live');
    for (const router of ['rtrA', 'rtrB']) {
      await mkdir(join(live, router), { recursive: true });
      for (const f of fx.files) await copyFile(f, join(live, router, basename(f)));
    }
    const out = join(fx.dir, 'routers.arrow');
    const r = await ingest([live, '--aggregate', 'dstip+router', '--window', 'whole', '--out', out, '--jobs', '1']);
    expect(r.code, r.stderr).toBe(0);
    for (const router of ['rtrA', 'rtrB']) expect(r.stderr).toContain(`${join(live, router, basename(fx.files[0]!))} .. ${join(live, router, basename(fx.files.at(-1)!))} (${fx.files.length} files)`);
    const got = await fromOutput(out);
    const want = await fromFlows(fx.files, 'dstip', 'whole');
    for (const router of ['rtrA', 'rtrB']) {
      const mine = [...got].filter(([k]) => k.endsWith(`|${router}`)).map(([k, v]) => [k.slice(0, -`|${router}`.length), v]);
      expect(mine.sort()).toEqual([...want].sort());
    }
    expect(got.size).toBe(2 * want.size);
  }, 60_000);

  it('an archive of relative symbolic links to the files: the links\' files are read', async () => {
    const store = join(fx.dir, 'store');
    // three levels down, so that the links' text means nothing from the run's temporary folder
    const linked = join(fx.dir, 'a', 'b', 'linked');
    await mkdir(store, { recursive: true });
    await mkdir(linked, { recursive: true });
    for (const f of fx.files) {
      await copyFile(f, join(store, basename(f)));
      await symlink(join('..', '..', '..', 'store', basename(f)), join(linked, basename(f)));
    }
    const out = join(fx.dir, 'linked.arrow');
    const r = await ingest([linked, '--aggregate', 'dstip', '--window', 'whole', '--out', out, '--jobs', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`\\(${fx.files.length} files\\): \\d+ flows`, 'u'));
    expect(r.stderr).not.toContain('file by file');
    expect([...(await fromOutput(out))].sort()).toEqual([...(await fromFlows(fx.files, 'dstip', 'whole'))].sort());
  }, 60_000);

  it.skipIf(!existsSync('/dev/shm'))('a file gone before nfdump lists its run (links on another file system): the run is read file by file, that file fails alone', async () => {
    const dir = join(fx.dir, 'vanishing');
    await mkdir(dir, { recursive: true });
    for (const f of fx.files) await copyFile(f, join(dir, basename(f)));
    const victim = join(dir, basename(fx.files[1]!));
    // nfdump, but the first -R run removes one of the run's files first
    const wrapper = join(fx.dir, 'nfdump-removing-one');
    await writeFile(wrapper, `#!/bin/sh\nfor a in "$@"; do [ "$a" = "-R" ] && rm -f '${victim}'; done\nexec nfdump "$@"\n`);
    await chmod(wrapper, 0o755);
    const shm = await mkdtemp('/dev/shm/flowknn-test-');
    const was = process.env.TMPDIR;
    process.env.TMPDIR = shm;
    let r;
    try {
      r = await runMain(['ingest', dir, '--aggregate', 'dstip', '--window', 'whole', '--out', join(fx.dir, 'vanishing.arrow'), '--jobs', '1', '--nfdump', wrapper]);
    } finally {
      if (was === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = was;
      await rm(shm, { recursive: true, force: true });
    }
    expect(r.stderr).toContain(`read file by file (one nfdump over them: ${victim} went away`);
    expect(r.stderr).toContain(`1 of ${fx.files.length} inputs failed: ${victim}`);
    const rest = fx.files.filter((_, i) => i !== 1);
    expect([...(await fromOutput(join(fx.dir, 'vanishing.arrow')))].sort()).toEqual([...(await fromFlows(rest, 'dstip', 'whole'))].sort());
  }, 60_000);

  it.skipIf(!existsSync('/dev/shm'))('a file linked symbolically (another file system) and gone before nfdump lists it fails the run, named', async () => {
    const version = await probeNfdump('nfdump');
    const dir = join(fx.dir, 'going');
    await mkdir(dir, { recursive: true });
    const copies = [];
    for (const f of fx.files) {
      const c = join(dir, basename(f));
      await copyFile(f, c);
      copies.push(c);
    }
    const was = process.env.TMPDIR;
    // /dev/shm: tmpfs, another file system than the fixture's, so the links are symbolic
    process.env.TMPDIR = '/dev/shm';
    let run;
    try {
      run = await prepareNfcapdRun(copies, version);
    } finally {
      if (was === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = was;
    }
    try {
      const linked = (await readdir(run.folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      expect(linked.map((d) => d.name)).toEqual(copies.map((_, i) => `part.${i}`));
      expect(linked.every((d) => d.isSymbolicLink())).toBe(true);
      await run.verify();
      await rm(copies[1]!);
      await expect(run.verify()).rejects.toThrow(/went away/u);
      await expect(run.verify()).rejects.toMatchObject({ file: copies[1] });
      expect(run.named(`Open file ${run.folder}/part.2: error`)).toBe(`Open file ${copies[2]}: error`);
    } finally {
      await run.dispose();
    }
    await expect(stat(run.folder)).rejects.toThrow();
  });
});
