import { spawn } from 'node:child_process';
import { environmentError } from '../errors.js';

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
        reject(environmentError(`notify command "${shown}" ${how}${tail ? `: ${tail}` : ''}`, 'the alerts are in alerts.ndjson; fix the command and rerun with --force to notify again'));
      }
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin
    child.stdin.end(ndjson);
  });
}
