import { execFileSync, spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { ensureBuilt, ROOT, runBin, runMain } from '../helpers/cli.js';
import { nightlyConfigs } from '../helpers/nightly.js';
import { SEED_LABELS } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

/**
 * What the nightly job promises when things go wrong around it (issue 12): a rerun that
 * replaces a finished day swaps it in whole, alerts are never lost to a kill or a failing
 * command, killed runs leave nothing behind that the next run keeps, refused days leave no
 * folder, gaps in the archive are reported, and a full disk is said as such. Real nfcapd files
 * (nfpcapd from generated pcaps), the built CLI where a process has to be killed.
 */

const DATE = '2026-11-01';
let dir: string;
let cleanup: () => Promise<void>;
let archive: SynthResult;
let model: string;

const { config, writeConfig } = nightlyConfigs(() => ({
  dir,
  archive: archive.flowsDir,
  model,
  aggregate: { source: 'nfdump', key: 'dstip', minPackets: 0 },
  classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods', 'http'], alertOnNovel: true },
}));

const day = (name: string) => join(dir, name, DATE);
const state = (name: string) => join(dir, name, '.flowknn', DATE);

/** What a user compares between two runs of the same day: everything but times and bookkeeping. */
async function outputs(dayDir: string) {
  const summary = JSON.parse(await readFile(join(dayDir, 'summary.json'), 'utf8')) as Record<string, unknown> & { inputs: Record<string, unknown> };
  const manifest = JSON.parse(await readFile(join(dayDir, 'manifest.json'), 'utf8')) as { inputs: Record<string, unknown>[] };
  const { timings_ms: _t, started: _s, finished: _f, run_key: _r, config: _c, ...stable } = summary;
  const { reused: _u, ...inputs } = summary.inputs;
  return {
    summary: { ...stable, inputs },
    manifest: manifest.inputs.map(({ elapsed_ms: _e, ...m }) => m),
    predictions: await readFile(join(dayDir, 'predictions.csv'), 'utf8'),
    aggregates: await readFile(join(dayDir, 'aggregates.csv'), 'utf8'),
    alerts: await readFile(join(dayDir, 'alerts.ndjson'), 'utf8'),
    incidents: await readFile(join(dayDir, 'incidents.ndjson'), 'utf8'),
    rejects: await readFile(join(dayDir, 'rejects.csv'), 'utf8'),
  };
}

/** Every file of a day folder, as bytes: what a reader would see. */
async function snapshot(dayDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dayDir)).sort()) out[f] = (await readFile(join(dayDir, f))).toString('base64');
  return out;
}

/**
 * Runs the built CLI and kills it (SIGKILL) when a file whose name matches `at` appears or is
 * renamed anywhere under `watchDir`. Resolves with whether the kill landed before it ended.
 */
function runAndKillAt(argv: string[], watchDir: string, at: RegExp): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/flowknn.js'), ...argv], { stdio: 'ignore' });
    let killed = false;
    const watcher = watch(watchDir, { recursive: true }, (_event, name) => {
      if (!killed && name !== null && at.test(String(name))) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    // a folder gone before the watcher could look into it (a swapped or removed temporary one)
    watcher.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      watcher.close();
      resolvePromise({ killed: killed && signal === 'SIGKILL', code });
    });
  });
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-nightly-safety-'));
  archive = await generateArchive({ out: join(dir, 'archive'), date: DATE, hours: 1, seed: 5, background: 8000, jobs: 2 });
  model = join(dir, 'model');
  const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  await ensureBuilt();
}, 300_000);

afterAll(() => cleanup?.());

describe('a rerun that replaces a finished day', () => {
  it('is swapped in whole: killed while it writes, the day is the old one, whole, and --resume gives the new one', async () => {
    const a = await writeConfig('swap');
    expect((await runMain(['nightly', '--config', a, '--date', DATE, '--quiet'])).code).toBe(0);
    const old = await snapshot(day('swap'));
    const changed = { aggregate: { source: 'nfdump', key: 'dstip', minPackets: 500 } };
    // the same changed settings, uninterrupted, elsewhere: what the rerun must give
    const refCfg = await writeConfig('swap-ref', changed);
    expect((await runMain(['nightly', '--config', refCfg, '--date', DATE, '--quiet'])).code).toBe(0);
    const expected = await outputs(day('swap-ref'));

    await writeFile(a, config('swap', changed));
    let landed = 0;
    for (let attempt = 0; attempt < 4 && landed === 0; attempt++) {
      // the defect's reproduction: a kill as predictions.csv is being written
      const r = await runAndKillAt(['nightly', '--config', a, '--date', DATE, '--quiet'], join(dir, 'swap'), /\.predictions\.csv\.tmp-/u);
      if (!r.killed) {
        // it finished before the kill: start the day from the old settings again
        await writeFile(a, config('swap'));
        expect((await runMain(['nightly', '--config', a, '--date', DATE, '--quiet'])).code).toBe(0);
        await writeFile(a, config('swap', changed));
        continue;
      }
      landed++;
      // a reader sees the old day, every file of it, and can draw it
      expect(await snapshot(day('swap'))).toEqual(old);
      const report = await runMain(['report', '--nightly', day('swap'), '--out', join(dir, 'swap-report.html')]);
      expect(report.code, report.stderr).toBe(0);
    }
    expect(landed, 'a kill landed while the new day was being written').toBe(1);
    const resumed = await runBin(['nightly', '--config', a, '--date', DATE, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await outputs(day('swap'))).toEqual(expected);
    expect(await listTree(state('swap'))).not.toContain('next/');
  }, 300_000);
  // every other kill point of a run: test/pipeline/kill-matrix.test.ts
});

describe('alerts are never lost', () => {
  it('killed while its notify command ran: the next plain run settles the attempt from what the command did, without redoing the day; nothing lost, nothing twice', async () => {
    const cfg = await writeConfig('notify-kill');
    // the notify command kills flowknn (its runner's parent) and then fails: killed between commit and notification
    const flowknnPid = "$(cut -d' ' -f4 /proc/$PPID/stat)";
    await expect(runBin(['nightly', '--config', cfg, '--date', DATE, '--notify-cmd', `kill -9 ${flowknnPid}; echo "pager down" >&2; exit 4`])).rejects.toThrow(/SIGKILL/u);
    const incidents = await readFile(join(day('notify-kill'), 'incidents.ndjson'), 'utf8');
    expect(incidents.length).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(join(day('notify-kill'), 'notify.json'), 'utf8'))).toMatchObject({ status: 'pending', in_flight: { attempt: 1 } });
    const written = (await stat(join(day('notify-kill'), 'summary.json'))).mtimeMs;
    const got = join(dir, 'notify-kill.ndjson');
    const again = await runBin(['nightly', '--config', cfg, '--date', DATE, '--notify-cmd', `cat > '${got}'`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('up to date');
    expect(again.stderr).toMatch(/notified: \d+ incidents? \(\d+ alerts\) \(after a failed attempt: notify command .* exited with 4: pager down \(its run was killed\)\)/u);
    expect(await readFile(got, 'utf8')).toBe(incidents);
    expect((await stat(join(day('notify-kill'), 'summary.json'))).mtimeMs).toBe(written);
    expect(JSON.parse(await readFile(join(day('notify-kill'), 'notify.json'), 'utf8'))).toMatchObject({ status: 'sent', attempts: 2, error: null, in_flight: null });

    // sent again by flowknn notify, whose command delivers and then kills flowknn before it
    // records the send: the next run finds it delivered and sends nothing
    const twice = join(dir, 'notify-kill-again.ndjson');
    await expect(runBin(['notify', '--config', cfg, '--date', DATE, '--notify-cmd', `cat > '${twice}'; kill -9 ${flowknnPid}`])).rejects.toThrow(/SIGKILL/u);
    expect(await readFile(twice, 'utf8')).toBe(incidents);
    await writeFile(got, '');
    const third = await runBin(['nightly', '--config', cfg, '--date', DATE, '--notify-cmd', `cat > '${got}'`]);
    expect(third.code, third.stderr).toBe(0);
    expect(await readFile(got, 'utf8')).toBe('');
    expect(JSON.parse(await readFile(join(day('notify-kill'), 'notify.json'), 'utf8'))).toMatchObject({ status: 'sent', attempts: 3, error: null, in_flight: null });
    expect((await readdir(day('notify-kill'))).filter((n) => n.startsWith('.notify'))).toEqual([]);
  }, 300_000);

  it('a failed notification is recorded and sent by --resume; flowknn notify sends a day again', async () => {
    const cfg = await writeConfig('notify-fail');
    const failed = await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet', '--notify-cmd', 'cat > /dev/null; echo "pager unreachable" >&2; exit 4']);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('pager unreachable');
    const state1 = JSON.parse(await readFile(join(day('notify-fail'), 'notify.json'), 'utf8')) as { status: string; error: string; attempts: number };
    expect(state1).toMatchObject({ status: 'failed', attempts: 1 });
    expect(state1.error).toContain('exited with 4: pager unreachable');
    const written = (await stat(join(day('notify-fail'), 'summary.json'))).mtimeMs;
    const alerts = await readFile(join(day('notify-fail'), 'alerts.ndjson'), 'utf8');
    const incidents = await readFile(join(day('notify-fail'), 'incidents.ndjson'), 'utf8');
    const got = join(dir, 'notify-fail.ndjson');
    const resumed = await runMain(['nightly', '--config', cfg, '--date', DATE, '--resume', '--notify-cmd', `cat > '${got}'`]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await readFile(got, 'utf8')).toBe(incidents);
    expect((await stat(join(day('notify-fail'), 'summary.json'))).mtimeMs).toBe(written);

    const again = join(dir, 'notify-again.ndjson');
    const n = await runMain(['notify', '--config', cfg, '--date', DATE, '--notify-cmd', `cat > '${again}'; echo "$FLOWKNN_DATE $FLOWKNN_ALERTS" > '${again}.env'`]);
    expect(n.code, n.stderr).toBe(0);
    expect(n.stdout).toMatch(new RegExp(`^${DATE}: sent \\d+ incidents? \\(\\d+ alerts, attempt 3\\)`, 'u'));
    expect(await readFile(again, 'utf8')).toBe(incidents);
    expect((await readFile(`${again}.env`, 'utf8')).trim()).toBe(`${DATE} ${alerts.trim().split('\n').length}`);
    expect(JSON.parse(await readFile(join(day('notify-fail'), 'notify.json'), 'utf8'))).toMatchObject({ status: 'sent', attempts: 3 });

    // a day that never ran, or no command to run: exit 2, and nothing is made
    const none = await runMain(['notify', '--config', cfg, '--date', '2026-11-02', '--notify-cmd', 'cat']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('not a finished day');
    await expect(stat(day('notify-fail').replace(DATE, '2026-11-02'))).rejects.toThrow();
    const noCmd = await runMain(['notify', '--config', cfg, '--date', DATE]);
    expect(noCmd.code).toBe(2);
    expect(noCmd.stderr).toContain('no notify.command');
  }, 300_000);
});

describe('what runs leave behind', () => {
  it("temporary files of killed runs are removed by --resume and --force, the day's folders only", async () => {
    const cfg = await writeConfig('leftovers', { limits: { jobs: 1 } });
    await mkdir(join(dir, 'leftovers'), { recursive: true });
    const r = await runAndKillAt(['nightly', '--config', cfg, '--date', DATE, '--quiet'], join(dir, 'leftovers'), /\.arrow\.tmp-/u);
    expect(r.killed).toBe(true);
    const dead = 2 ** 22 + 7;
    const temps = async () => (await listTree(join(dir, 'leftovers'))).filter((p) => /\.(tmp|old)-\d+-/u.test(p));
    // leftovers of writers that are gone, in the day's state folder and its parts
    await writeFile(join(state('leftovers'), `.run.json.tmp-${dead}-0123abcd`), 'x');
    await writeFile(join(state('leftovers'), 'inputs', `.x.json.tmp-${dead}-0123abcd`), 'x');
    expect((await temps()).length).toBeGreaterThanOrEqual(2);
    const resumed = await runBin(['nightly', '--config', cfg, '--date', DATE, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await temps()).toEqual([]);
    // in the day folder, which others may write (a report by hand), only those of gone writers
    await writeFile(join(day('leftovers'), `.report.html.tmp-${dead}-0123abcd`), 'x');
    await writeFile(join(day('leftovers'), `.report.html.tmp-${process.pid}-0123abcd`), 'x');
    const plain = await runBin(['nightly', '--config', cfg, '--date', DATE]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain('up to date');
    expect(await temps()).toEqual([`${DATE}/.report.html.tmp-${process.pid}-0123abcd`]);
    await writeFile(join(state('leftovers'), 'inputs', `.y.arrow.tmp-${dead}-0123abcd`), 'x');
    // --force writes the day anew and swaps it in whole: nothing of the old folder stays
    const forced = await runBin(['nightly', '--config', cfg, '--date', DATE, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await temps()).toEqual([]);
  }, 300_000);

  it('a damaged committed part is named and read again from its input; the day comes out as before', async () => {
    const cfg = await writeConfig('damaged-part');
    expect((await runMain(['nightly', '--config', cfg, '--date', DATE, '--quiet'])).code).toBe(0);
    const before = await outputs(day('damaged-part'));
    const parts = (await readdir(join(state('damaged-part'), 'inputs'))).filter((f) => f.endsWith('.arrow')).sort();
    const part = join(state('damaged-part'), 'inputs', parts[3]!);
    const bytes = await readFile(part);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(part, bytes);
    const r = await runMain(['nightly', '--config', cfg, '--date', DATE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${part}: the committed part of`);
    expect(r.stderr).toContain('is damaged (sha256 differs from its record); reading the input again');
    expect(await outputs(day('damaged-part'))).toEqual(before);
  }, 300_000);

  it('a date that does not exist, or a day without files, is exit 2 and leaves nothing', async () => {
    const cfg = await writeConfig('refused');
    for (const date of ['2026-02-30', '2026-13-01', '2026-11-05']) {
      const r = await runMain(['nightly', '--config', cfg, '--date', date]);
      expect(r.code, date).toBe(2);
      expect(await listTree(dir).then((t) => t.filter((p) => p.startsWith('refused/')))).toEqual([]);
    }
  });

  it("gaps in the archive and file names in a daylight-saving gap are in the summary, the manifest and the log", async () => {
    // Europe/Berlin, 2026-03-29: clocks go from 02:00 to 03:00, so the day has 23 hours (276
    // slots) and no 02:xx file can come from a collector in that zone.
    const flat = join(dir, 'dst-archive');
    await mkdir(flat, { recursive: true });
    const names = ['nfcapd.202603290130', 'nfcapd.202603290200', 'nfcapd.202603290300'];
    for (const [i, name] of names.entries()) await copyFile(join(archive.out, archive.files[i]!.path), join(flat, name));
    const cfg = join(dir, 'dst.json');
    await writeFile(cfg, config('dst', { archive: { root: flat, timeZone: 'Europe/Berlin' } }));
    const r = await runMain(['nightly', '--config', cfg, '--date', '2026-03-29']);
    expect(r.code, r.stderr).toBe(0);
    const coverage = {
      interval_s: 300,
      expected: 276,
      // 02:00 does not exist: read as 03:00, the slot of nfcapd.202603290300
      present: 2,
      missing: [
        { from: '2026-03-28T23:00:00.000Z', to: '2026-03-29T00:30:00.000Z', slots: 18 },
        { from: '2026-03-29T00:35:00.000Z', to: '2026-03-29T01:00:00.000Z', slots: 5 },
        { from: '2026-03-29T01:05:00.000Z', to: '2026-03-29T22:00:00.000Z', slots: 251 },
      ],
      dst_gap_files: ['nfcapd.202603290200'],
    };
    const summary = JSON.parse(await readFile(join(dir, 'dst', '2026-03-29', 'summary.json'), 'utf8')) as { coverage: unknown };
    const manifest = JSON.parse(await readFile(join(dir, 'dst', '2026-03-29', 'manifest.json'), 'utf8')) as { coverage: unknown };
    expect(summary.coverage).toEqual(coverage);
    expect(manifest.coverage).toEqual(coverage);
    expect(r.stderr).toContain('274 of 276 300-second slots have no nfcapd file (Europe/Berlin): 00:00-01:30, 01:35-03:00, 03:05-00:00');
    expect(r.stderr).toContain('nfcapd.202603290200: the time in its name does not exist in Europe/Berlin on 2026-03-29');
  }, 300_000);
});

// A full disk needs a small filesystem: a tmpfs in a mount namespace of its own (unshare -rm).
const canMount = (() => {
  try {
    execFileSync('unshare', ['-rm', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; rmdir "$d"'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(canMount)(`a full disk${canMount ? '' : ' (skipped: no mount namespace for a small tmpfs: unshare -rm failed)'}`, () => {
  it('stops with exit 3 and records why: the next run says so instead of calling it interrupted', async () => {
    const mnt = join(dir, 'small-disk');
    await mkdir(mnt, { recursive: true });
    const cfg = join(dir, 'full.json');
    await writeFile(cfg, config('x', { output: { root: join(mnt, 'out') }, limits: { jobs: 1 }, report: { enabled: false } }));
    const logs = join(dir, 'full-logs');
    await mkdir(logs, { recursive: true });
    const flowknn = `'${process.execPath}' '${join(ROOT, 'bin/flowknn.js')}' nightly --config '${cfg}' --date ${DATE}`;
    // 256 MiB, filled but for 64 KiB: room for the lock, the run state and a few parts
    const script = [
      `mount -t tmpfs -o size=256m tmpfs '${mnt}' || exit 90`,
      `dd if=/dev/zero of='${mnt}/filler' bs=4096 count=65520 2>/dev/null`,
      `${flowknn} > '${logs}/1.out' 2> '${logs}/1.err'; echo $? > '${logs}/1.rc'`,
      `rm '${mnt}/filler'`,
      `${flowknn} > '${logs}/2.out' 2> '${logs}/2.err'; echo $? > '${logs}/2.rc'`,
    ].join('\n');
    execFileSync('unshare', ['-rm', 'sh', '-c', script], { stdio: 'ignore', timeout: 120_000 });
    const read = (f: string) => readFile(join(logs, f), 'utf8');
    expect((await read('1.rc')).trim(), await read('1.err')).toBe('3');
    expect(await read('1.err')).toContain('ENOSPC');
    expect((await read('2.rc')).trim(), await read('2.err')).toBe('0');
    expect(await read('2.err')).toMatch(/the last run stopped at [^:]+:\d\d:\d\d\.\d+Z: .*ENOSPC/u);
    expect(await read('2.err')).not.toContain('interrupted');
  }, 180_000);
});
