import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { environmentError, type FlowknnError, usageError } from '../errors.js';
import { pidAlive } from '../io/lock.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Incident } from './incidents.js';
import { readNdjson } from './outputs.js';

/**
 * The shell that runs a notify command (the positional arguments after the spool path) with the
 * spool's incidents on its stdin. It is the command's parent, in a process group of its own, and
 * records the command's exit status in `<spool>.rc` when it ends: a flowknn killed while the
 * command runs (the OOM killer, kill -9, a crash) does not end it, and the next run learns from
 * that file whether the incidents were delivered, so that they are sent neither twice nor never.
 * `<spool>.pid` (written first) tells a runner still running from one that never started.
 */
const RUNNER = ['s=$1; shift', 'echo $$ > "$s.pid.part" && mv -f "$s.pid.part" "$s.pid" || exit 125', '"$@" < "$s.ndjson" 2> "$s.err"', 'rc=$?', 'echo $rc > "$s.rc.part" && mv -f "$s.rc.part" "$s.rc"', 'exit $rc'].join('\n');
const RUNNER_NAME = 'flowknn-notify';
const SPOOL_FILES = ['.ndjson', '.pid', '.pid.part', '.rc', '.rc.part', '.err'];

/** Writes the incidents of one attempt where its runner reads them (`<spool>.ndjson`), whole. */
export async function writeSpool(spool: string, ndjson: string): Promise<void> {
  await Promise.all(SPOOL_FILES.slice(1).map((ext) => rm(`${spool}${ext}`, { force: true })));
  await writeFileAtomic(`${spool}.ndjson`, ndjson);
}

async function removeSpool(spool: string): Promise<void> {
  await Promise.all(SPOOL_FILES.map((ext) => rm(`${spool}${ext}`, { force: true }))).catch(() => undefined);
}

/** What a runner recorded: its pid once started, the command's exit status once it ended, the end of its stderr. */
async function spoolStatus(spool: string): Promise<{ pid?: number; rc?: number; stderr: string }> {
  const int = async (ext: string) => {
    const text = await readFile(`${spool}${ext}`, 'utf8').catch(() => '');
    return /^\d+\n?$/u.test(text) ? Number(text) : undefined;
  };
  const stderr = await readFile(`${spool}.err`, 'utf8').catch(() => '');
  return { pid: await int('.pid'), rc: await int('.rc'), stderr: stderr.trim().split('\n').slice(-3).join(' | ') };
}

/** Whether the runner of a spool still runs (its command line names the spool: a reused pid does not count). */
async function runnerAlive(pid: number, spool: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || cmdline.split('\0').includes(spool);
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** The error of a command that exited with `rc`. */
function exitError(shown: string, rc: number, stderr: string, how?: string): FlowknnError {
  const what = rc === 127 ? 'could not start (not found)' : rc === 126 ? 'could not start (not executable)' : (how ?? `exited with ${rc}`);
  return environmentError(
    `notify command "${shown}" ${what}${stderr ? `: ${stderr}` : ''}`,
    'the incidents are in incidents.ndjson and wait in notify.json as failed: fix the command, then rerun the day (or flowknn notify --config FILE --date DAY) to send them',
  );
}

/**
 * Runs the notify command with the incidents of `<spool>.ndjson` (writeSpool) on stdin, the way
 * FastNetMon hands an attack to its notify script, through the runner above. `argv` (from the
 * config) runs without a shell; `shellCommand` (from --notify-cmd) is one line for /bin/sh, as
 * in a crontab. The run's date, the incidents sent, their alert rows, how many of them may have
 * been sent before and the summary path are in the environment (FLOWKNN_DATE,
 * FLOWKNN_INCIDENTS, FLOWKNN_ALERTS, FLOWKNN_REPEATS, FLOWKNN_SUMMARY).
 */
export async function runNotify(
  command: NotifyCommand,
  spool: string,
  env: { date: string; alerts: number; summary: string; incidents?: number; repeats?: number },
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<void> {
  const argv = 'argv' in command ? [...command.argv] : ['/bin/sh', '-c', command.shellCommand];
  const shown = shownCommand(command);
  await new Promise<void>((resolvePromise, reject) => {
    // Its own process group, so that a timeout ends what it started too (a shell's children
    // would otherwise run on), and so that it outlives a kill of flowknn alone.
    const child = spawn('/bin/sh', ['-c', RUNNER, RUNNER_NAME, spool, ...argv], {
      detached: true,
      stdio: ['ignore', 'inherit', 'ignore'],
      env: {
        ...process.env,
        FLOWKNN_DATE: env.date,
        FLOWKNN_INCIDENTS: String(env.incidents ?? 0),
        FLOWKNN_ALERTS: String(env.alerts),
        FLOWKNN_REPEATS: String(env.repeats ?? 0),
        FLOWKNN_SUMMARY: env.summary,
      },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid!);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(environmentError(`notify command "${shown}" could not start (/bin/sh: ${(e as NodeJS.ErrnoException).code ?? e.message})`, 'flowknn runs notify commands through /bin/sh', e));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      void spoolStatus(spool).then(({ rc, stderr }) => {
        if (!timedOut && rc === 0) resolvePromise();
        else if (timedOut) reject(exitError(shown, -1, stderr, `did not finish within ${timeoutMs / 1000} s and was ended`));
        else if (rc !== undefined) reject(exitError(shown, rc, stderr));
        else reject(exitError(shown, -1, stderr, code === null ? `was ended by ${signal}` : `could not be run (exit ${code})`));
      });
    });
  });
}

/**
 * Notification is a step of its own, committed in the day's `notify.json`, and works on
 * incidents (incidents.ts), not rows: each open (not suppressed) incident is sent once, by its
 * id. The state says `none` (no open incident), `pending` (some not sent yet: the run stopped
 * before, or no command was given), `sent` or `failed` (with the error), and lists the ids
 * sent so far. A rerun that redoes the day (`--force`, a new model) carries that list into the
 * new day, so an incident found again is not sent again; only new ones are. The day's outputs
 * are committed before, so a kill or a failing command loses nothing: the next run of the day
 * sends what is pending or failed without redoing the day, and `flowknn notify` sends a day's
 * open incidents again.
 */
export const NOTIFY_JSON = 'notify.json';

/** How long a notify command may run (ms) before it is ended. */
export const NOTIFY_TIMEOUT_MS = 120_000;

export type NotifyCommand = { argv: readonly string[] } | { shellCommand: string };

/** An attempt under way, recorded before its command starts. */
export interface InFlight {
  readonly attempt: number;
  /** The incidents it sends. */
  readonly ids: readonly string[];
  /** Its spool's name in the day's folder (`.notify-<attempt>`). */
  readonly spool: string;
  readonly started: string;
  /** When its command is ended if it still runs. */
  readonly deadline: string;
}

export interface NotifyState {
  status: 'none' | 'pending' | 'sent' | 'failed';
  /** Alert rows of the day. */
  alerts: number;
  /** Open incidents of the day (suppressed ones are never sent). */
  incidents: number;
  /** Ids of the incidents sent so far, this day's runs together. */
  notified: string[];
  /** Ids of open incidents not sent yet. */
  pending: string[];
  /**
   * Ids of pending incidents whose earlier attempt was cut off with its command (the whole
   * process group killed): they may have arrived. They are sent again with FLOWKNN_REPEATS
   * counting them, so that a receiver can drop repeats by incident id.
   */
  maybe_sent?: string[];
  /** Sends tried so far. */
  attempts: number;
  /** The command of the last attempt. */
  command: string | null;
  /** When the last attempt ended. */
  at: string | null;
  error: string | null;
  /** The attempt under way; a later run settles it from its spool (readNotifyState). */
  in_flight?: InFlight | null;
}

/**
 * The state a new day starts with: its open incidents, less those a previous run of the same
 * day sent already (its notify.json, carried over).
 */
export function initialNotifyState(day: { alerts: number; open: readonly string[] }, previous?: NotifyState | null): NotifyState {
  const notified = previous?.notified ?? [];
  const sent = new Set(notified);
  const pending = day.open.filter((id) => !sent.has(id));
  const status = pending.length > 0 ? 'pending' : day.open.length > 0 ? 'sent' : 'none';
  const maybe = (previous?.maybe_sent ?? []).filter((id) => pending.includes(id));
  return { status, alerts: day.alerts, incidents: day.open.length, notified: [...notified], pending, maybe_sent: maybe, attempts: previous?.attempts ?? 0, command: previous?.command ?? null, at: previous?.at ?? null, error: null };
}

/**
 * One state of what was sent from several (the day's and the live one of `flowknn watch`): the
 * ids sent by either, so that no incident is sent twice; the attempts and the last command of
 * the one tried last.
 */
export function mergeNotified(...states: readonly (NotifyState | null)[]): NotifyState | null {
  const known = states.filter((s): s is NotifyState => s !== null);
  if (known.length === 0) return null;
  const last = [...known].sort((a, b) => (a.at ?? '').localeCompare(b.at ?? ''))[known.length - 1]!;
  const notified = [...new Set(known.flatMap((s) => s.notified))];
  const maybe = [...new Set(known.flatMap((s) => s.maybe_sent ?? []))].filter((id) => !notified.includes(id));
  return { ...last, notified, maybe_sent: maybe, attempts: known.reduce((n, s) => n + s.attempts, 0) };
}

export function notifyStateText(s: NotifyState): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/**
 * The notify state of a finished day, or null when it has none (or one of before incidents).
 * An attempt a killed run left under way is settled first, from its spool, and the settled
 * state written: sent (its command exited 0), failed (it exited otherwise), pending with its
 * incidents in `maybe_sent` (no sign that it started), or failed with them in `maybe_sent`
 * (its runner was killed too: whether they arrived is unknown). A runner still running is waited for, until its deadline. The
 * caller holds the day's lock.
 */
export async function readNotifyState(dayDir: string): Promise<NotifyState | null> {
  let s: NotifyState;
  try {
    s = JSON.parse(await readFile(join(dayDir, NOTIFY_JSON), 'utf8')) as NotifyState;
  } catch {
    return null;
  }
  if (!Array.isArray(s.notified)) return null;
  if (!s.in_flight) return s;
  const settled = await settle(dayDir, s, s.in_flight);
  await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(settled));
  await removeSpool(join(dayDir, s.in_flight.spool));
  return settled;
}

async function settle(dayDir: string, s: NotifyState, f: InFlight): Promise<NotifyState> {
  const spool = join(dayDir, f.spool);
  let status = await spoolStatus(spool);
  if (status.rc === undefined && status.pid === undefined) {
    // started a moment before its parent was killed: give it a moment to say so
    await new Promise((r) => setTimeout(r, 1000));
    status = await spoolStatus(spool);
  }
  const deadline = Date.parse(f.deadline);
  let timedOut = false;
  while (status.rc === undefined && status.pid !== undefined && (await runnerAlive(status.pid, spool))) {
    if (Date.now() > deadline) {
      killGroup(status.pid);
      timedOut = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
    status = await spoolStatus(spool);
  }
  const at = new Date().toISOString();
  const shown = s.command ?? 'notify';
  const base = { ...s, in_flight: null };
  if (status.rc === 0) {
    const notified = [...new Set([...s.notified, ...f.ids])];
    const pending = s.pending.filter((id) => !f.ids.includes(id));
    const maybe = (s.maybe_sent ?? []).filter((id) => !f.ids.includes(id));
    return { ...base, status: pending.length > 0 ? 'pending' : 'sent', notified, pending, maybe_sent: maybe, at, error: null };
  }
  if (status.rc !== undefined) return { ...base, status: 'failed', at, error: `${exitError(shown, status.rc, status.stderr).message} (its run was killed)` };
  // No pid: it never started, or started too slowly to say so (then it may still send): the
  // incidents stay pending, sent again as possible repeats.
  if (status.pid === undefined) return { ...base, maybe_sent: [...new Set([...(s.maybe_sent ?? []), ...f.ids])] };
  const maybe = [...new Set([...(s.maybe_sent ?? []), ...f.ids])];
  const how = timedOut ? `did not finish by ${f.deadline} and was ended` : 'was killed with the run that started it';
  return { ...base, status: 'failed', maybe_sent: maybe, at, error: `notify command "${shown}" ${how}: whether its ${f.ids.length} incidents arrived is unknown` };
}

function shownCommand(command: NotifyCommand): string {
  return 'argv' in command ? command.argv.join(' ') : command.shellCommand;
}

/**
 * Sends a finished day's open incidents not sent yet (with `again`: every open one), recording
 * the outcome in notify.json. The caller holds the day's lock. A failed command is recorded,
 * then thrown (exit 3). Returns the state after, and how many incidents this call sent.
 *
 * The attempt is recorded (`in_flight`) before its command starts, and its command runs
 * through a runner that outlives this process (runNotify): a kill at any moment neither loses
 * the incidents nor sends them twice, except when the command itself is killed too, where
 * they are sent again marked as possible repeats.
 */
export async function deliverIncidents(
  dayDir: string,
  day: { date: string },
  command: NotifyCommand | undefined,
  options: { again?: boolean; log?: (message: string) => void; timeoutMs?: number } = {},
): Promise<{ state: NotifyState; sent: number; alerts: number }> {
  const state = await readNotifyState(dayDir);
  if (!state) {
    throw usageError(`${dayDir} has no notify state of incidents: it was written by an older flowknn`, `redo the day with flowknn nightly --date ${day.date} --force`);
  }
  const unchanged = { state, sent: 0, alerts: 0 };
  if (state.incidents === 0) return unchanged;
  const due = options.again === true || state.status === 'pending' || state.status === 'failed';
  if (!due || !command) return unchanged;
  const open = (await readNdjson<Incident>(join(dayDir, 'incidents.ndjson'))).filter((i) => !i.flowknn.suppressed);
  const sentBefore = new Set(state.notified);
  const toSend = options.again === true ? open : open.filter((i) => !sentBefore.has(i.event.id));
  if (toSend.length === 0) return unchanged;
  const ids = toSend.map((i) => i.event.id);
  const maybe = new Set(state.maybe_sent ?? []);
  const repeats = ids.filter((id) => sentBefore.has(id) || maybe.has(id)).length;
  const alerts = toSend.reduce((n, i) => n + i.flowknn.alerts, 0);
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const attempt = { ...state, attempts: state.attempts + 1, command: shownCommand(command) };
  const spool = `.notify-${attempt.attempts}`;
  await writeSpool(join(dayDir, spool), toSend.map((i) => `${JSON.stringify(i)}\n`).join(''));
  const started = new Date();
  const inFlight: InFlight = { attempt: attempt.attempts, ids, spool, started: started.toISOString(), deadline: new Date(started.getTime() + timeoutMs).toISOString() };
  await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText({ ...attempt, in_flight: inFlight }));
  try {
    await runNotify(command, join(dayDir, spool), { date: day.date, incidents: toSend.length, alerts, repeats, summary: join(dayDir, 'summary.json') }, timeoutMs);
  } catch (err) {
    // a command ended before it exited (timed out, or its runner killed) may have delivered
    const cut = (await spoolStatus(join(dayDir, spool))).rc === undefined;
    const maybe = cut ? [...new Set([...(state.maybe_sent ?? []), ...ids])] : (state.maybe_sent ?? []);
    const failed: NotifyState = { ...attempt, status: 'failed', maybe_sent: maybe, in_flight: null, at: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
    await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(failed));
    await removeSpool(join(dayDir, spool));
    throw err;
  }
  const notified = [...state.notified, ...ids.filter((id) => !sentBefore.has(id))];
  const sent: NotifyState = { ...attempt, status: 'sent', notified, pending: [], maybe_sent: [], in_flight: null, at: new Date().toISOString(), error: null };
  await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(sent));
  await removeSpool(join(dayDir, spool));
  const note = state.status === 'failed' ? ` (after a failed attempt: ${state.error})` : options.again === true && repeats > 0 ? ' (sent again)' : '';
  const marked = repeats > 0 && options.again !== true ? ` (${repeats} may have arrived before: FLOWKNN_REPEATS=${repeats})` : '';
  options.log?.(`notified: ${toSend.length} incident${toSend.length === 1 ? '' : 's'} (${alerts} alerts)${note}${marked}`);
  return { state: sent, sent: toSend.length, alerts };
}
