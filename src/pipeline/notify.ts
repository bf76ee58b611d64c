import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { environmentError, usageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Incident } from './incidents.js';
import { readNdjson } from './outputs.js';

/**
 * Runs the notify command with the incidents to send (NDJSON) on stdin, the way FastNetMon
 * hands an attack to its notify script. `argv` (from the config) runs without a shell;
 * `shellCommand` (from --notify-cmd) is one line for /bin/sh, as in a crontab. The run's date,
 * the incidents sent, their alert rows and the summary path are in the environment
 * (FLOWKNN_DATE, FLOWKNN_INCIDENTS, FLOWKNN_ALERTS, FLOWKNN_SUMMARY).
 */
export async function runNotify(
  command: { argv: readonly string[] } | { shellCommand: string },
  ndjson: string,
  env: { date: string; alerts: number; summary: string; incidents?: number },
  timeoutMs = 120_000,
): Promise<void> {
  const [file, args] = 'argv' in command ? [command.argv[0]!, command.argv.slice(1)] : ['/bin/sh', ['-c', command.shellCommand]];
  const shown = 'argv' in command ? command.argv.join(' ') : command.shellCommand;
  await new Promise<void>((resolvePromise, reject) => {
    // Its own process group, so that a timeout ends what it started too (a shell's children
    // would otherwise run on, holding stderr open, and this wait would never end).
    const child = spawn(file, args, {
      detached: true,
      stdio: ['pipe', 'inherit', 'pipe'],
      env: { ...process.env, FLOWKNN_DATE: env.date, FLOWKNN_INCIDENTS: String(env.incidents ?? 0), FLOWKNN_ALERTS: String(env.alerts), FLOWKNN_SUMMARY: env.summary },
    });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(environmentError(`notify command "${shown}" could not start (${(e as NodeJS.ErrnoException).code ?? e.message})`, 'check notify.command in the config or --notify-cmd', e));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else {
        const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' | ');
        const how = timedOut ? `did not finish within ${timeoutMs / 1000} s and was ended` : code === null ? `was ended by ${signal}` : `exited with ${code}`;
        reject(environmentError(`notify command "${shown}" ${how}${tail ? `: ${tail}` : ''}`, 'the incidents are in incidents.ndjson and wait in notify.json as failed: fix the command, then rerun the day (or flowknn notify --config FILE --date DAY) to send them'));
      }
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin
    child.stdin.end(ndjson);
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

export type NotifyCommand = { argv: readonly string[] } | { shellCommand: string };

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
  /** Sends tried so far. */
  attempts: number;
  /** The command of the last attempt. */
  command: string | null;
  /** When the last attempt ended. */
  at: string | null;
  error: string | null;
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
  return { status, alerts: day.alerts, incidents: day.open.length, notified: [...notified], pending, attempts: previous?.attempts ?? 0, command: previous?.command ?? null, at: previous?.at ?? null, error: null };
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
  return { ...last, notified, attempts: known.reduce((n, s) => n + s.attempts, 0) };
}

export function notifyStateText(s: NotifyState): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/** The notify state of a finished day, or null when it has none (or one of before incidents). */
export async function readNotifyState(dayDir: string): Promise<NotifyState | null> {
  try {
    const s = JSON.parse(await readFile(join(dayDir, NOTIFY_JSON), 'utf8')) as NotifyState;
    return Array.isArray(s.notified) ? s : null;
  } catch {
    return null;
  }
}

function shownCommand(command: NotifyCommand): string {
  return 'argv' in command ? command.argv.join(' ') : command.shellCommand;
}

/**
 * Sends a finished day's open incidents not sent yet (with `again`: every open one), recording
 * the outcome in notify.json. The caller holds the day's lock. A failed command is recorded,
 * then thrown (exit 3). Returns the state after, and how many incidents this call sent.
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
  const alerts = toSend.reduce((n, i) => n + i.flowknn.alerts, 0);
  const ndjson = toSend.map((i) => `${JSON.stringify(i)}\n`).join('');
  const attempt = { ...state, attempts: state.attempts + 1, command: shownCommand(command) };
  try {
    await runNotify(command, ndjson, { date: day.date, incidents: toSend.length, alerts, summary: join(dayDir, 'summary.json') }, options.timeoutMs);
  } catch (err) {
    const failed: NotifyState = { ...attempt, status: 'failed', at: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
    await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(failed));
    throw err;
  }
  const notified = [...state.notified, ...toSend.map((i) => i.event.id).filter((id) => !sentBefore.has(id))];
  const sent: NotifyState = { ...attempt, status: 'sent', notified, pending: [], at: new Date().toISOString(), error: null };
  await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(sent));
  const again = options.again === true && toSend.some((i) => sentBefore.has(i.event.id));
  options.log?.(`notified: ${toSend.length} incident${toSend.length === 1 ? '' : 's'} (${alerts} alerts)${state.status === 'failed' ? ` (after a failed attempt: ${state.error})` : again ? ' (sent again)' : ''}`);
  return { state: sent, sent: toSend.length, alerts };
}
