import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { environmentError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';

/**
 * Runs the notify command with the alerts (NDJSON) on stdin, the way FastNetMon hands an
 * attack to its notify script. `argv` (from the config) runs without a shell; `shellCommand`
 * (from --notify-cmd) is one line for /bin/sh, as in a crontab. The run's date, alert count
 * and summary path are in the environment (FLOWKNN_DATE, FLOWKNN_ALERTS, FLOWKNN_SUMMARY).
 */
export async function runNotify(
  command: { argv: readonly string[] } | { shellCommand: string },
  ndjson: string,
  env: { date: string; alerts: number; summary: string },
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
      env: { ...process.env, FLOWKNN_DATE: env.date, FLOWKNN_ALERTS: String(env.alerts), FLOWKNN_SUMMARY: env.summary },
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
        reject(environmentError(`notify command "${shown}" ${how}${tail ? `: ${tail}` : ''}`, 'the alerts are in alerts.ndjson and wait in notify.json as failed: fix the command, then rerun the day (or flowknn notify --config FILE --date DAY) to send them'));
      }
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin
    child.stdin.end(ndjson);
  });
}

/**
 * Notification is a step of its own, committed in the day's `notify.json`: `none` (no alerts),
 * `pending` (alerts not sent yet: the run stopped before, or no command was given), `sent` or
 * `failed` (with the error). The day's outputs are committed before it, so a kill or a failing
 * command loses no alert: the next run of the day (plain or --resume) sends what is pending or
 * failed without redoing the day, and `flowknn notify` sends a day's alerts again.
 */
export const NOTIFY_JSON = 'notify.json';

export type NotifyCommand = { argv: readonly string[] } | { shellCommand: string };

export interface NotifyState {
  status: 'none' | 'pending' | 'sent' | 'failed';
  alerts: number;
  /** Sends tried so far. */
  attempts: number;
  /** The command of the last attempt. */
  command: string | null;
  /** When the last attempt ended. */
  at: string | null;
  error: string | null;
}

export function initialNotifyState(alerts: number): NotifyState {
  return { status: alerts > 0 ? 'pending' : 'none', alerts, attempts: 0, command: null, at: null, error: null };
}

export function notifyStateText(s: NotifyState): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/** The notify state of a finished day; a day written before notify.json existed counts as sent. */
export async function readNotifyState(dayDir: string, alerts: number): Promise<NotifyState> {
  try {
    return JSON.parse(await readFile(join(dayDir, NOTIFY_JSON), 'utf8')) as NotifyState;
  } catch {
    return { ...initialNotifyState(alerts), status: alerts > 0 ? 'sent' : 'none', error: null };
  }
}

function shownCommand(command: NotifyCommand): string {
  return 'argv' in command ? command.argv.join(' ') : command.shellCommand;
}

/**
 * Sends a finished day's alerts when they are pending or failed (or always, with `again`),
 * recording the outcome in notify.json. The caller holds the day's lock. A failed command is
 * recorded, then thrown (exit 3). Returns the state after.
 */
export async function deliverAlerts(
  dayDir: string,
  day: { date: string; alerts: number },
  command: NotifyCommand | undefined,
  options: { again?: boolean; log?: (message: string) => void; timeoutMs?: number } = {},
): Promise<NotifyState> {
  const state = await readNotifyState(dayDir, day.alerts);
  if (day.alerts === 0) return state;
  const due = options.again === true || state.status === 'pending' || state.status === 'failed';
  if (!due || !command) return state;
  const ndjson = await readFile(join(dayDir, 'alerts.ndjson'), 'utf8');
  const attempt = { ...state, alerts: day.alerts, attempts: state.attempts + 1, command: shownCommand(command) };
  try {
    await runNotify(command, ndjson, { date: day.date, alerts: day.alerts, summary: join(dayDir, 'summary.json') }, options.timeoutMs);
  } catch (err) {
    const failed: NotifyState = { ...attempt, status: 'failed', at: new Date().toISOString(), error: err instanceof Error ? err.message : String(err) };
    await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(failed));
    throw err;
  }
  const sent: NotifyState = { ...attempt, status: 'sent', at: new Date().toISOString(), error: null };
  await writeFileAtomic(join(dayDir, NOTIFY_JSON), notifyStateText(sent));
  options.log?.(`notified: ${day.alerts} alerts${state.status === 'failed' ? ` (after a failed attempt: ${state.error})` : state.status === 'pending' && state.attempts === 0 ? '' : ' (sent again)'}`);
  return sent;
}
