import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { environmentError } from '../errors.js';

/**
 * Writes a file so that readers see either the old content or the whole new content, never a
 * half-written file: the data goes to a temporary name in the same folder (same filesystem, so
 * rename is atomic), is flushed to disk, then renamed over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeChunksAtomic(path, (write) => write(data));
}

/**
 * writeFileAtomic for data made piece by piece (a CSV of millions of rows would not fit in one
 * string): `fill` writes chunks as it makes them; the file appears, whole, only when it returns.
 */
export async function writeChunksAtomic(path: string, fill: (write: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const dir = dirname(path);
  await ensureDir(dir);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(tmp, 'w');
    try {
      await fill(async (chunk) => {
        // writeFile writes all of it, from the current position: chunks follow each other
        await handle.writeFile(chunk);
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw asEnvironmentError(err, path);
  }
}

/**
 * Builds a whole folder under a temporary sibling name and swaps it in when `fill` succeeds.
 * An existing folder of the same name is replaced only after the new one is complete; if
 * `fill` throws, the temporary folder is removed and the old folder is left as it was.
 */
export async function writeDirAtomic(path: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = dirname(path);
  await ensureDir(parent);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(path)}.tmp-${suffix}`);
  try {
    await mkdir(tmp);
  } catch (err) {
    throw asEnvironmentError(err, path);
  }
  try {
    await fill(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = join(parent, `.${basename(path)}.old-${suffix}`);
  let moved = false;
  try {
    if (await exists(path)) {
      await rename(path, old);
      moved = true;
    }
    await rename(tmp, path);
  } catch (err) {
    if (moved) await rename(old, path).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw asEnvironmentError(err, path);
  }
  if (moved) await rm(old, { recursive: true, force: true });
}

export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw asEnvironmentError(err, dir);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** What an errno code means for an output, in words a user can act on. */
const WRITE_FAILURES: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a file stands where a folder of the path should be',
  EEXIST: 'a file stands where a folder of the path should be',
  EISDIR: 'a folder stands where the file should be',
  ENOTEMPTY: 'a folder that is not empty stands where the output should be',
  EBUSY: 'the path is in use (a mount point?)',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EIO: 'an input/output error on the device',
};

/** Any failure of the filesystem while writing becomes an environment error naming the path (exit 3). */
function asEnvironmentError(err: unknown, path: string): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/u.test(code)) {
    const why = WRITE_FAILURES[code];
    return environmentError(`cannot write ${path}: ${code}${why ? ` (${why})` : ''}`, 'choose an output path in a writable folder with free space', err);
  }
  return err instanceof Error ? err : new Error(String(err));
}
