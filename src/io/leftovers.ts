import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive } from './lock.js';

/**
 * What killed writers leave behind: the temporary names of io/atomic.ts (`.NAME.tmp-PID-HEX`,
 * `.NAME.old-PID-HEX` of a folder swap) and the write probes of a run (`.write-test-PID`).
 * The pid in the name is the writer's, so a leftover can be told from a file being written now.
 */
const LEFTOVER = /^\.(?:.+\.(?:tmp|old)-(\d+)-[0-9a-f]{8}|write-test-(\d+))$/u;

/** The writer's pid of a leftover name, or undefined when the name is not one. */
export function leftoverPid(name: string): number | undefined {
  const m = LEFTOVER.exec(name);
  return m ? Number(m[1] ?? m[2]) : undefined;
}

/**
 * Removes the leftovers directly in `dir` (not below it): those whose writer no longer runs,
 * or, with `all` (for a folder only the caller writes, under its lock), every one, since no
 * one else can be writing there. Returns the names removed.
 */
export async function removeLeftovers(dir: string, options: { all?: boolean } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = leftoverPid(name);
    if (pid === undefined) continue;
    if (!options.all && (pid === process.pid || pidAlive(pid))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
