import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverIncidents, initialNotifyState, NOTIFY_JSON, notifyStateText, readNotifyState, runNotify, writeSpool, type NotifyState } from '../../src/pipeline/notify.js';
import { failure } from '../helpers/failure.js';
import { makeTempDir } from '../helpers/tmp.js';

const env = { date: '2026-11-01', alerts: 1, summary: '/tmp/summary.json' };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await makeTempDir('flowknn-notify-')));
afterAll(() => cleanup?.());

describe('the notify command', () => {
  it('one that runs past its time is ended with everything it started, and the error says it timed out', async () => {
    const spool = join(dir, 'slow');
    await writeSpool(spool, '{}\n');
    const t0 = performance.now();
    // the shell forks: the sleep outlives a kill of the shell alone and holds its stderr open
    const err = await failure(runNotify({ shellCommand: 'sleep 30; echo done' }, spool, env, 300));
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('did not finish within 0.3 s');
  }, 40_000);

  it('a command that fails: exit 3 with the end of its stderr; one that is not there: could not start', async () => {
    const spool = join(dir, 'fails');
    await writeSpool(spool, '{}\n');
    const err = await failure(runNotify({ shellCommand: 'cat > /dev/null; echo "no route to pager" >&2; exit 4' }, spool, env));
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('exited with 4: no route to pager');
    const missing = await failure(runNotify({ argv: [join(dir, 'no-such-pager')] }, spool, env));
    expect(missing.exitCode).toBe(3);
    expect(missing.message).toContain('could not start (not found)');
  });

  it('the incidents on stdin, the counts in the environment', async () => {
    const spool = join(dir, 'ok');
    await writeSpool(spool, '{"a":1}\n{"b":2}\n');
    const got = join(dir, 'ok.got');
    await runNotify({ argv: ['/bin/sh', '-c', `cat > '${got}'; echo "$FLOWKNN_DATE $FLOWKNN_INCIDENTS $FLOWKNN_ALERTS $FLOWKNN_REPEATS" >> '${got}'`] }, spool, { ...env, incidents: 2, repeats: 1 });
    expect(await readFile(got, 'utf8')).toBe('{"a":1}\n{"b":2}\n2026-11-01 2 1 1\n');
  });
});

/**
 * An attempt a killed run left under way (in_flight in notify.json) is settled by the next
 * reader from what its runner recorded. Each case is a real runner in the state a kill leaves.
 */
describe('an attempt left under way by a killed run', () => {
  const ids = ['a1', 'b2'];
  const incidents = ids.map((id) => ({ event: { id }, flowknn: { suppressed: false, alerts: 2 } }));

  /** A day folder whose notify.json records an attempt of `ids` under way, its spool written. */
  async function dayUnderWay(name: string): Promise<{ day: string; spool: string }> {
    const day = join(dir, name);
    await mkdir(day, { recursive: true });
    await writeFile(join(day, 'incidents.ndjson'), incidents.map((i) => `${JSON.stringify(i)}\n`).join(''));
    const start = initialNotifyState({ alerts: 4, open: ids });
    const started = new Date();
    const state: NotifyState = { ...start, attempts: 1, command: 'pager', in_flight: { attempt: 1, ids, spool: '.notify-1', started: started.toISOString(), deadline: new Date(started.getTime() + 20_000).toISOString() } };
    await writeFile(join(day, NOTIFY_JSON), notifyStateText(state));
    const spool = join(day, '.notify-1');
    await writeSpool(spool, incidents.map((i) => `${JSON.stringify(i)}\n`).join(''));
    return { day, spool };
  }

  /** Runs the attempt's runner the way deliverIncidents does, and forgets it (as a killed parent would). */
  async function runOrphan(spool: string, shellCommand: string): Promise<void> {
    await runNotify({ shellCommand }, spool, env).catch(() => undefined);
  }

  it('its command delivered and exited 0: counted as sent, not sent again', async () => {
    const { day, spool } = await dayUnderWay('delivered');
    const got = join(dir, 'delivered.got');
    await runOrphan(spool, `cat >> '${got}'`);
    const state = await readNotifyState(day);
    expect(state).toMatchObject({ status: 'sent', notified: ids, pending: [], in_flight: null, error: null });
    const again = await deliverIncidents(day, env, { shellCommand: `cat >> '${got}'` });
    expect(again.sent).toBe(0);
    expect((await readFile(got, 'utf8')).trim().split('\n')).toHaveLength(2);
    // the spool is gone
    expect((await readdir(day)).filter((n) => n.startsWith('.notify'))).toEqual([]);
  });

  it('its command failed: failed, with its stderr, and sent by the next run', async () => {
    const { day, spool } = await dayUnderWay('failed');
    await runOrphan(spool, 'cat > /dev/null; echo "pager down" >&2; exit 5');
    const state = await readNotifyState(day);
    expect(state).toMatchObject({ status: 'failed', notified: [], in_flight: null });
    expect(state!.error).toContain('exited with 5: pager down');
    const got = join(dir, 'failed.got');
    const again = await deliverIncidents(day, env, { shellCommand: `cat > '${got}'; echo $FLOWKNN_REPEATS >> '${got}'` });
    expect(again.sent).toBe(2);
    expect((await readFile(got, 'utf8')).trim().split('\n').at(-1)).toBe('0');
  });

  it('no sign that its runner started: still pending, sent by the next run marked as possible repeats (it may have started late)', async () => {
    const { day } = await dayUnderWay('never');
    const state = await readNotifyState(day);
    expect(state).toMatchObject({ status: 'pending', pending: ids, notified: [], maybe_sent: ids, in_flight: null, error: null });
    const got = join(dir, 'never.got');
    expect((await deliverIncidents(day, env, { shellCommand: `cat > '${got}'; echo $FLOWKNN_REPEATS >> '${got}'` })).sent).toBe(2);
    expect((await readFile(got, 'utf8')).trim().split('\n').at(-1)).toBe('2');
  });

  it('a command that runs past its time while flowknn lives: failed, its incidents marked as possible repeats', async () => {
    const day = join(dir, 'timeout');
    await mkdir(day, { recursive: true });
    await writeFile(join(day, 'incidents.ndjson'), incidents.map((i) => `${JSON.stringify(i)}\n`).join(''));
    await writeFile(join(day, NOTIFY_JSON), notifyStateText(initialNotifyState({ alerts: 4, open: ids })));
    const err = await failure(deliverIncidents(day, env, { shellCommand: 'cat > /dev/null; sleep 30' }, { timeoutMs: 300 }));
    expect(err.message).toContain('did not finish within 0.3 s');
    expect(await readNotifyState(day)).toMatchObject({ status: 'failed', maybe_sent: ids, in_flight: null });
  }, 20_000);

  it('its runner was killed with it: failed, the incidents sent again marked as possible repeats', async () => {
    const { day, spool } = await dayUnderWay('cut');
    // the command kills its runner (as a kill of the whole process group would) after reading its input
    await runOrphan(spool, 'cat > /dev/null; kill -9 $PPID; sleep 5');
    const state = await readNotifyState(day);
    expect(state).toMatchObject({ status: 'failed', maybe_sent: ids, in_flight: null });
    expect(state!.error).toContain('whether its 2 incidents arrived is unknown');
    const got = join(dir, 'cut.got');
    const logs: string[] = [];
    expect((await deliverIncidents(day, env, { shellCommand: `cat > '${got}'; echo $FLOWKNN_REPEATS >> '${got}'` }, { log: (m) => logs.push(m) })).sent).toBe(2);
    expect((await readFile(got, 'utf8')).trim().split('\n').at(-1)).toBe('2');
    expect(logs.join('\n')).toContain('2 may have arrived before');
    expect(await readNotifyState(day)).toMatchObject({ status: 'sent', maybe_sent: [], notified: ids });
  }, 20_000);

  it('its runner still runs: waited for, then settled', async () => {
    const { day, spool } = await dayUnderWay('running');
    const got = join(dir, 'running.got');
    const orphan = runOrphan(spool, `sleep 1; cat >> '${got}'`);
    // wait until the runner has said it started, then read as the next run would
    for (let i = 0; i < 100 && !(await readdir(day)).includes('.notify-1.pid'); i++) await new Promise((r) => setTimeout(r, 20));
    const state = await readNotifyState(day);
    expect(state).toMatchObject({ status: 'sent', notified: ids, in_flight: null });
    expect((await readFile(got, 'utf8')).trim().split('\n')).toHaveLength(2);
    await orphan;
  }, 20_000);
});
