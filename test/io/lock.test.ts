import { spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { yesterday } from '../../src/pipeline/nightly.js';
import { acquireLock, UNNAMED_LOCK_STALE_MS } from '../../src/io/lock.js';
import { makeTempDir } from '../helpers/tmp.js';
import { REPO_ROOT } from '../helpers/paths.js';
import type { FlowknnError } from '../../src/errors.js';
import { failure as refused } from '../helpers/failure.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await makeTempDir('flowknn-lock-')));
afterAll(() => cleanup?.());


describe('the day lock', () => {
  it('one holder at a time; released, it can be taken again', async () => {
    const path = join(dir, 'a.lock');
    const lock = await acquireLock(path, 'first');
    const err = await refused(acquireLock(path, 'second'));
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(err.message).toContain('(first)');
    await lock.release();
    await (await acquireLock(path, 'third')).release();
  });

  it('a lock whose owner is gone is taken over, also when its pid now belongs to another process', async () => {
    const path = join(dir, 'b.lock');
    const child = spawn('sleep', ['30']);
    try {
      // the owner's pid is alive but started at another time: a reused pid, as after a container restart
      await writeFile(path, JSON.stringify({ pid: child.pid, pid_start: '1', host: hostname(), started: '2026-11-01T00:00:00Z', command: 'killed run' }));
      const lock = await acquireLock(path, 'new run');
      expect(lock.tookOverFrom?.command).toBe('killed run');
      expect(JSON.parse(await readFile(path, 'utf8')).command).toBe('new run');
      await lock.release();
      // the same live process with its real start time still holds it
      const start = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[19];
      await writeFile(path, JSON.stringify({ pid: child.pid, pid_start: start, host: hostname(), started: '2026-11-01T00:00:00Z', command: 'live run' }));
      expect((await refused(acquireLock(path, 'x'))).message).toContain('(live run)');
      // a pid that does not exist at all
      await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), started: '2026-11-01T00:00:00Z', command: 'gone' }));
      const again = await acquireLock(path, 'after gone');
      expect(again.tookOverFrom?.command).toBe('gone');
      await again.release();
    } finally {
      child.kill();
    }
  });

  it('two runs finding the same stale lock: exactly one takes it over', async () => {
    const path = join(dir, 'race.lock');
    for (let round = 0; round < 20; round++) {
      await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 3, host: hostname(), started: `2026-11-01T00:00:${String(round).padStart(2, '0')}Z`, command: 'dead' }));
      const results = await Promise.allSettled([acquireLock(path, 'a'), acquireLock(path, 'b'), acquireLock(path, 'c')]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as FlowknnError).message).toContain('another run holds');
      await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLock>>>).value.release();
    }
  });

  it('an empty or garbage lock file is taken over once it is old, and refused while it may be a run starting', async () => {
    const old = new Date(Date.now() - UNNAMED_LOCK_STALE_MS - 5_000);
    for (const [name, text] of [['empty', ''], ['garbage', '\u0000\u0000{"pi'], ['no owner', '{}\n'], ['no pid', '{"host":"x","started":"2026-11-01T00:00:00Z"}\n']] as const) {
      const path = join(dir, `unnamed-${name.replace(' ', '-')}.lock`);
      await writeFile(path, text);
      // written just now: another run may be between creating and writing it
      const young = await refused(acquireLock(path, 'young'));
      expect(young.exitCode, name).toBe(3);
      expect(young.message).toContain('names no owner');
      expect(young.hint).toContain(`older than ${UNNAMED_LOCK_STALE_MS / 1000} s`);
      await utimes(path, old, old);
      const lock = await acquireLock(path, 'after a killed run');
      expect(lock.tookOverFrom?.command, name).toMatch(/a lock file naming no owner/u);
      expect(JSON.parse(await readFile(path, 'utf8')).command).toBe('after a killed run');
      await lock.release();
    }
  });

  it('a lock file is never there without its owner: a run killed while taking it leaves none that names nobody', async () => {
    const path = join(dir, 'whole.lock');
    // another process takes and releases the lock over and over; this one reads it meanwhile
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import { acquireLock } from ${JSON.stringify(join(REPO_ROOT, 'src/io/lock.ts'))}; for (let i = 0; i < 400; i++) await (await acquireLock(${JSON.stringify(path)}, 'run ' + i)).release();`], { cwd: REPO_ROOT, stdio: 'ignore' });
    const done = new Promise((r) => child.on('close', r));
    let running = true;
    void done.then(() => (running = false));
    const seen: string[] = [];
    let reads = 0;
    while (running) {
      const text = await readFile(path, 'utf8').catch(() => null);
      if (text !== null) {
        reads++;
        if (!/^\{.*"pid":\d+.*\}\n$/su.test(text)) seen.push(text);
      }
    }
    expect(reads).toBeGreaterThan(0);
    expect(seen).toEqual([]);
    // and the lock's folder holds nothing else once released
    expect((await readdir(dir)).filter((f) => f.startsWith('.whole.lock'))).toEqual([]);
  }, 60_000);

  it('a lock from another host is never taken over', async () => {
    const path = join(dir, 'c.lock');
    await writeFile(path, JSON.stringify({ pid: 1, host: 'elsewhere.example', started: '2026-11-01T00:00:00Z', command: 'remote' }));
    const err = await refused(acquireLock(path, 'here'));
    expect(err.message).toContain('on elsewhere.example');
    expect(err.hint).toContain(`delete ${path}`);
  });
});

describe('the default date', () => {
  it('is the calendar day before today in the archive zone, across daylight-saving changes', () => {
    // 00:20 in Berlin on the day after clocks went forward: 24 hours back would be two days back
    expect(yesterday('Europe/Berlin', Date.parse('2026-03-29T22:20:00Z'))).toBe('2026-03-29');
    expect(yesterday('America/New_York', Date.parse('2026-11-02T04:30:00Z'))).toBe('2026-10-31');
    expect(yesterday('UTC', Date.parse('2026-03-01T00:00:00Z'))).toBe('2026-02-28');
  });
});
