import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { environmentError } from '../errors.js';

/** Who holds a lock: written into the lock file so a second run can say who is in its way. */
export interface LockOwner {
  pid: number;
  /** When that process started (Linux: clock ticks since boot, from /proc), so a reused pid is not taken for the owner. */
  pid_start?: string;
  host: string;
  started: string;
  command: string;
}

export interface Lock {
  readonly path: string;
  /** A lock left by a run on this host that no longer exists (a crash or a kill), taken over. */
  readonly tookOverFrom?: LockOwner;
  release(): Promise<void>;
}

/** Field 22 of /proc/PID/stat (start time after boot); undefined where there is no /proc. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether a process of this pid exists (EPERM: it does, but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the lock's owner still runs. A container restarted after a kill often gets the same
 * pid again (even for the new run itself), so a live pid counts only if it also started when
 * the owner did.
 */
function alive(owner: LockOwner): boolean {
  // Our own pid: held by this very process (another run inside it) only if the start matches.
  if (owner.pid === process.pid) return owner.pid_start === undefined || owner.pid_start === processStart(process.pid);
  if (!pidAlive(owner.pid)) return false;
  if (owner.pid_start === undefined) return true;
  const now = processStart(owner.pid);
  return now === undefined || now === owner.pid_start;
}

/** What a lock file says: its owner when it names one (a pid and a host), and its raw text. */
interface LockFile {
  readonly owner?: LockOwner;
  readonly text: string;
  readonly mtimeMs: number;
}

function ownerOf(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner> | null;
    if (o === null || typeof o !== 'object' || !Number.isSafeInteger(o.pid) || (o.pid as number) <= 0 || typeof o.host !== 'string') return undefined;
    return o as LockOwner;
  } catch {
    return undefined;
  }
}

async function readLockFile(path: string): Promise<LockFile | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { owner: ownerOf(text), text, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * A lock file that names no owner (empty, cut short, not JSON, no pid) and is older than this
 * was not being written by a run that is starting (that takes milliseconds): a run killed
 * between creating and writing it, or a damaged file. It is stale.
 */
export const UNNAMED_LOCK_STALE_MS = 30_000;

/** What a refused lock says: who holds it (default: another run of the same day). */
export interface LockWording {
  busy?: (owner: LockOwner) => string;
  hint?: (owner: LockOwner, sameHost: boolean) => string;
}

const sameOwner = (a: LockOwner, b: LockOwner) => a.pid === b.pid && a.host === b.host && a.started === b.started && a.pid_start === b.pid_start;

/**
 * Removes a stale lock, once: under a second, short-lived lock (`PATH.takeover`, O_EXCL), and
 * only if the lock still names the same dead owner, so two runs that both found it stale
 * cannot each remove the other's fresh lock. A takeover lock older than a minute was left by
 * a run that died in these few lines and is cleared.
 */
async function removeStale(path: string, stale: LockFile): Promise<void> {
  const guard = `${path}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > 60_000) await rm(guard, { force: true });
    else await new Promise((r) => setTimeout(r, 50));
    return; // look again from the start
  }
  try {
    const now = await readLockFile(path);
    const same = now !== undefined && (stale.owner ? now.owner !== undefined && sameOwner(now.owner, stale.owner) : now.owner === undefined && now.text === stale.text && now.mtimeMs === stale.mtimeMs);
    if (same) await rm(path, { force: true });
  } finally {
    await fh.close();
    await rm(guard, { force: true });
  }
}

/**
 * Creates `path` with its content in one step, failing with EEXIST when it exists: the record
 * is written under a temporary name and hard-linked to the lock's name (link, like O_EXCL,
 * lets exactly one creator win). A lock made with O_EXCL and then written is empty for a
 * moment, and a run killed in that moment leaves a lock that names no owner.
 */
async function createWhole(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await link(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Takes `path` as a lock file (created whole, by link, so exactly one run wins). A lock whose
 * owner ran on this host and is gone is stale and taken over; one held by a live process, or
 * by another host (whose processes we cannot see, e.g. on shared storage), is an environment
 * error naming the owner.
 */
export async function acquireLock(path: string, command: string, wording: LockWording = {}): Promise<Lock> {
  const me: LockOwner = { pid: process.pid, pid_start: processStart(process.pid), host: hostname(), started: new Date().toISOString(), command };
  let tookOverFrom: LockOwner | undefined;
  let unnamed = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await createWhole(path, `${JSON.stringify(me)}\n`);
      let released = false;
      return {
        path,
        tookOverFrom,
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT with the folder there: our temporary record was just removed as a leftover by
      // the run holding the lock; look again
      const folderThere = code === 'ENOENT' && (await stat(dirname(path)).then(() => true, () => false));
      if (folderThere) continue;
      if (code !== 'EEXIST') throw environmentError(`cannot create the lock file ${path} (${code ?? String(err)})`, 'check that the folder is writable', err);
    }
    const file = await readLockFile(path);
    if (!file) continue; // released this instant: try again
    const owner = file.owner;
    if (owner && owner.host === me.host && !alive(owner)) {
      tookOverFrom = owner;
      await removeStale(path, file);
      continue;
    }
    if (!owner) {
      // Being written this instant by another run (a few milliseconds), or left empty or
      // damaged by a run killed while writing it: stale once old enough.
      if (Date.now() - file.mtimeMs > UNNAMED_LOCK_STALE_MS) {
        tookOverFrom = { pid: 0, host: me.host, started: new Date(file.mtimeMs).toISOString(), command: `a lock file naming no owner (${file.text.trim() === '' ? 'empty' : 'not a lock record'})` };
        await removeStale(path, file);
        continue;
      }
      if (++unnamed > 3) {
        throw environmentError(
          `${path} exists but names no owner (${file.text.trim() === '' ? 'empty' : 'not a lock record'}, written ${Math.round((Date.now() - file.mtimeMs) / 1000)} s ago)`,
          `a run may be starting: try again; left by a killed run, it is taken over once older than ${UNNAMED_LOCK_STALE_MS / 1000} s (or delete ${path} if no flowknn run is using it)`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const sameHost = owner.host === me.host;
    throw environmentError(
      wording.busy?.(owner) ?? `another run holds ${path}: pid ${owner.pid} on ${owner.host}, started ${owner.started} (${owner.command})`,
      wording.hint?.(owner, sameHost) ?? (sameHost ? 'wait for it to finish; two runs must not write the same day' : `wait for it; if that host is gone, delete ${path}`),
    );
  }
  throw environmentError(`could not take the lock ${path}`, 'other runs keep taking it; try again later');
}
