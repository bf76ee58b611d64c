import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, writeFileAtomic } from '../io/atomic.js';
import { removeLeftovers } from '../io/leftovers.js';

/**
 * Where a day (or a shard of one) lives, and how its outputs are committed.
 *
 *     <output.root>/<date>/                         the day, as readers see it: outputs only
 *     <output.root>/.flowknn/<date>/.lock           the day's lock (nightly, merge, notify)
 *     <output.root>/.flowknn/<date>/run.json        the run state: running, stopped, swapping, complete
 *     <output.root>/.flowknn/<date>/inputs/         each input's committed part (what reruns reuse)
 *     <output.root>/.flowknn/<date>/next/           the new day, written here whole, then renamed in
 *     <output.root>/.flowknn/<date>/live/           the day so far, file by file (flowknn watch, live.ts)
 *     <output.root>/.flowknn/<date>/shards/i-of-n/  a shard: the same, its outputs in out/
 *
 * A rerun that replaces a finished day writes the new day into `next/` and swaps it in by
 * rename, so a reader (or a crash) sees the old day or the new one, never files of both. The
 * lock and the parts live beside the day, not in it: a swap would otherwise move the lock of
 * the run doing it, and the parts of the old day with the old folder.
 *
 * Renaming a folder over a non-empty one is not possible, so the swap is two renames (old day
 * out, new day in) after `run.json` says `swapping`: a run killed between them leaves no day
 * folder for a moment, and the next run under the lock finishes the swap (the new day was
 * complete before it began), see repairSwap.
 */
export const STATE_DIR = '.flowknn';

export interface DayPaths {
  /** The outputs as readers see them: <root>/<date>, or a shard's out/. */
  readonly out: string;
  /** Lock, run state, parts, the staged next day. */
  readonly state: string;
  readonly lock: string;
  readonly runState: string;
  readonly inputs: string;
  readonly next: string;
  readonly old: string;
  /** The day so far as `flowknn watch` keeps it: per-input alert rows, incidents, notify state. */
  readonly live: string;
}

export function dayPaths(outputRoot: string, date: string, shard?: string): DayPaths {
  const dayState = join(outputRoot, STATE_DIR, date);
  const state = shard === undefined ? dayState : join(dayState, 'shards', shard);
  return {
    out: shard === undefined ? join(outputRoot, date) : join(state, 'out'),
    state,
    lock: join(state, '.lock'),
    runState: join(state, 'run.json'),
    inputs: join(state, 'inputs'),
    next: join(state, 'next'),
    old: join(state, 'old'),
    live: join(state, 'live'),
  };
}

/** The shards of a day that have outputs (<root>/.flowknn/<date>/shards/<i>-of-<n>). */
export async function shardNames(outputRoot: string, date: string): Promise<string[]> {
  try {
    return (await readdir(join(outputRoot, STATE_DIR, date, 'shards'))).filter((n) => /^\d+-of-\d+$/u.test(n)).sort();
  } catch {
    return [];
  }
}

export type RunStatus = 'running' | 'stopped' | 'swapping' | 'complete';

export interface RunState {
  status: RunStatus;
  digest?: string;
  started?: string;
  finished?: string;
  pid?: number;
  /** Why a run stopped (the error it ended with). */
  error?: string;
  at?: string;
}

/** run.json is padded to this size when a run starts, so a stop can be recorded in place on a full disk. */
const RUN_STATE_BYTES = 4096;

export async function readRunState(paths: DayPaths): Promise<RunState | undefined> {
  try {
    return JSON.parse(await readFile(paths.runState, 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

/**
 * Records the run state. Written whole under a temporary name and renamed, as every file; when
 * that fails (a full disk: the very failure a stop may have to record), the record is written
 * over the file in place, into the space it was given when the run started, so the next run
 * says what happened instead of taking the stop for a kill.
 */
export async function writeRunState(paths: DayPaths, state: RunState): Promise<void> {
  const text = JSON.stringify(state);
  const padded = state.status === 'running' ? text.padEnd(RUN_STATE_BYTES - 1, ' ') : text;
  try {
    await writeFileAtomic(paths.runState, `${padded}\n`);
  } catch (err) {
    const size = await stat(paths.runState).then(
      (s) => s.size,
      () => 0,
    );
    if (text.length + 1 > size) throw err;
    const fh = await open(paths.runState, 'r+');
    try {
      // JSON allows the trailing blanks that fill the rest of the old record.
      await fh.write(`${text}\n`.padEnd(size, ' '), 0, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/**
 * Finishes or undoes what a killed run left of a swap, under the lock. With run.json at
 * `swapping`, the staged day was complete: it is renamed in (the old day out first, if still
 * there) and the state becomes `complete`. Otherwise a staged day is unfinished work and is
 * removed. Returns what it did, for the log, or null when there was nothing to do.
 */
export async function repairSwap(paths: DayPaths, state: RunState | undefined): Promise<string | null> {
  const [hasNext, hasOld, hasOut] = await Promise.all([exists(paths.next), exists(paths.old), exists(paths.out)]);
  if (state?.status === 'swapping') {
    if (hasNext) {
      if (hasOut) {
        await rm(paths.old, { recursive: true, force: true });
        await rename(paths.out, paths.old);
      }
      await rename(paths.next, paths.out);
    }
    await rm(paths.old, { recursive: true, force: true });
    if (!(await exists(paths.out))) return null; // nothing to finish: the run will redo the day
    await writeRunState(paths, { ...state, status: 'complete', finished: state.finished ?? new Date().toISOString() });
    return hasNext ? 'finished the swap of the new day that a killed run had written' : hasOld ? 'removed the old day a killed run had swapped out' : 'recorded the swap a killed run had finished';
  }
  const did: string[] = [];
  if (hasNext) {
    await rm(paths.next, { recursive: true, force: true });
    did.push('removed the unfinished outputs of a killed run');
  }
  if (hasOld) {
    // Only a swap makes old/, and a swap starts at `swapping`: a day folder left here is the
    // last committed day, put back if the day folder is gone.
    if (!hasOut) await rename(paths.old, paths.out);
    else await rm(paths.old, { recursive: true, force: true });
  }
  return did.length > 0 ? did.join('; ') : null;
}

/**
 * Swaps the staged day in: run.json at `swapping` first (from here on the new day is the
 * committed one), the old day out, the new one in, the old one removed, run.json `complete`.
 */
export async function swapIn(paths: DayPaths, state: RunState): Promise<void> {
  await writeRunState(paths, { ...state, status: 'swapping' });
  await rm(paths.old, { recursive: true, force: true });
  if (await exists(paths.out)) await rename(paths.out, paths.old);
  await rename(paths.next, paths.out);
  await rm(paths.old, { recursive: true, force: true });
  await writeRunState(paths, { ...state, status: 'complete' });
}

/** A fresh, empty staging folder for the next day. */
export async function freshStaging(paths: DayPaths): Promise<string> {
  await rm(paths.next, { recursive: true, force: true });
  await mkdir(paths.next, { recursive: true });
  return paths.next;
}

/**
 * Leftovers of killed runs: every temporary file in the state folder and its parts (only runs
 * holding the lock write there), and in the day folder those whose writer is gone (a report
 * written there by hand may be in progress). Returns the names removed.
 */
export async function cleanLeftovers(paths: DayPaths): Promise<string[]> {
  return [...(await removeLeftovers(paths.state, { all: true })), ...(await removeLeftovers(paths.inputs, { all: true })), ...(await removeLeftovers(paths.out))];
}
