import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { usageError } from '../errors.js';
import { acquireLock } from '../io/lock.js';
import { selectionRange } from '../ingest/archive.js';
import type { LoadedConfig } from './config.js';
import { dayPaths, readRunState, repairSwap } from './day.js';
import { deliverIncidents, type NotifyCommand, type NotifyState } from './notify.js';
import { readJson, type Summary } from './outputs.js';

/**
 * Sends a finished day's open incidents again, under the day's lock (so not while a run of the
 * day is writing it), whatever its notify.json says, and records the outcome there.
 */
export async function notifyDay(p: { config: LoadedConfig; date: string; command: NotifyCommand; log: (m: string) => void; lockCommand: string }): Promise<{ state: NotifyState; sent: number; alerts: number }> {
  selectionRange({ date: p.date, timeZone: p.config.config.archive.timeZone }); // a date that exists
  const paths = dayPaths(p.config.paths.output, p.date);
  const unfinished = () => usageError(`${paths.out} is not a finished day (no summary.json)`, `run it first: flowknn nightly --config ${p.config.file} --date ${p.date}`);
  const before = await readJson<Summary>(join(paths.out, 'summary.json')).catch(() => undefined);
  if (!before) throw unfinished();
  await mkdir(paths.state, { recursive: true });
  const lock = await acquireLock(paths.lock, p.lockCommand);
  try {
    const repaired = await repairSwap(paths, await readRunState(paths));
    if (repaired) p.log(`${p.date}: ${repaired}`);
    const summary = await readJson<Summary>(join(paths.out, 'summary.json')).catch(() => undefined);
    if (!summary) throw unfinished();
    return await deliverIncidents(paths.out, { date: p.date }, p.command, { again: true, log: p.log });
  } finally {
    await lock.release();
  }
}
