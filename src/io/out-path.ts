import { constants, type Stats } from 'node:fs';
import { access, lstat, open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { environmentError, excerpt, usageError } from '../errors.js';
import { parquetPathFor } from './parquet.js';

/**
 * The one place that decides whether a user-given output path may be written (README "Where
 * outputs go"). Every output is written under a temporary name and renamed over the path, so
 * whatever is at the path is gone afterwards: an output therefore only replaces what the same
 * command writes (or an empty file or folder), never an input, never a device, FIFO or socket;
 * a symlink is written through (the file or folder it points to is replaced, in its own folder,
 * and the link stays), never replaced itself.
 */

/** Files a command writes whole. */
export type FileKind = 'arrow' | 'parquet' | 'csv' | 'json' | 'html';

/** Folders a command writes: `model` and `synth` are replaced whole; `predictions` keeps what
 *  else is in it and replaces only its predictions files. */
export type FolderKind = 'model' | 'predictions' | 'synth';

export type OutputRequest =
  | { readonly flag: string; readonly path: string | undefined; readonly file: FileKind }
  | { readonly flag: string; readonly path: string | undefined; readonly folder: FolderKind; readonly force?: boolean };

export interface InputPath {
  /** How the command was given it, for messages: '--labels', 'input'. */
  readonly flag: string;
  readonly path: string | undefined;
}

export interface CheckedOutput {
  /** Where to write: the path given, or the real path of what a symlink given points to. */
  readonly path: string;
  /** The files written inside a folder output, each checked too (predictions: all three), or
   *  beside an Arrow file output (`parquet`: its Parquet copy, src/io/parquet.ts). */
  readonly files: Readonly<Record<string, string>>;
}

interface FileRule {
  readonly what: string;
  looksLike(head: Buffer): boolean;
}

const FILE_RULES: Readonly<Record<FileKind, FileRule>> = {
  // Arrow IPC files (what flowknn writes) start with the magic "ARROW1".
  arrow: { what: 'an Arrow IPC file', looksLike: (h) => h.subarray(0, 6).toString('latin1') === 'ARROW1' },
  // Parquet files start (and end) with the magic "PAR1".
  parquet: { what: 'a Parquet file', looksLike: (h) => h.subarray(0, 4).toString('latin1') === 'PAR1' },
  csv: { what: 'a CSV file', looksLike: (h) => isText(h) && text(h).split('\n', 1)[0]!.includes(',') },
  json: { what: 'a JSON file', looksLike: (h) => isText(h) && /^\s*[[{]/u.test(text(h)) },
  html: { what: 'an HTML file', looksLike: (h) => isText(h) && /^\s*<(!doctype\s+html|html)[\s>]/iu.test(text(h)) },
};

interface FolderRule {
  readonly what: string;
  /** Names whose presence marks a folder this command wrote. */
  readonly marks: readonly string[];
  /** The folder is swapped out whole (so it must not hold an input), else only `files` are replaced. */
  readonly whole: boolean;
  readonly files: Readonly<Record<string, FileKind>>;
  readonly allowed: string;
  /** What a folder without the marks is, said when refusing it. */
  readonly foreign: string;
}

const FOLDER_RULES: Readonly<Record<FolderKind, FolderRule>> = {
  model: {
    what: 'a model folder',
    marks: ['model.json'],
    whole: true,
    files: {},
    allowed: 'a new path, an empty folder, or a model folder (one with model.json), which is replaced whole',
    foreign: 'not a model folder (it has no model.json)',
  },
  predictions: {
    what: 'a predictions folder',
    marks: ['predictions.arrow', 'predictions.parquet', 'predictions.csv'],
    whole: false,
    files: { 'predictions.arrow': 'arrow', 'predictions.parquet': 'parquet', 'predictions.csv': 'csv' },
    allowed: 'a new path, an empty folder, or a folder classify wrote (with predictions.arrow, .parquet or .csv), whose predictions files are replaced',
    foreign: 'not a predictions folder (it has no predictions.arrow or predictions.csv)',
  },
  synth: {
    what: 'an archive folder flowknn synth wrote',
    marks: ['synth.json'],
    whole: true,
    files: {},
    allowed: 'a new path, an empty folder, or a folder flowknn synth wrote (with synth.json), which is replaced whole; --force replaces any folder',
    foreign: 'a non-empty folder that flowknn synth did not write (it has no synth.json)',
  },
};

/** Paths that are this process's own file descriptors: renaming a file over them cannot work,
 *  and writing through them would not be atomic. */
const DESCRIPTOR_PATH = /^\/(dev\/(stdin|stdout|stderr|fd(\/|$))|proc\/[^/]+\/fd(\/|$))/u;

interface Identity {
  readonly flag: string;
  readonly path: string;
  readonly real: string;
  readonly dev: number;
  readonly ino: number;
}

interface Resolved {
  readonly flag: string;
  readonly given: string;
  /** Where to write: the path as given, or the real path of what a symlink given points to. */
  readonly path: string;
  /** Its real path (for comparing outputs with inputs and with each other). */
  readonly real: string;
  readonly whole: boolean;
  readonly stats?: Stats;
}

/**
 * Checks every output of one command against the rules above, the inputs it reads, and each
 * other (two outputs must not be one file, nor one inside a folder another replaces whole).
 * Returns, in request order, where to write each (undefined where no path was given). Refusals
 * are usage errors (exit 2) that say what is at the path and what the flag takes; a folder that
 * cannot be written is an environment error (exit 3).
 */
export async function checkOutputs(requests: readonly OutputRequest[], inputs: readonly InputPath[] = []): Promise<(CheckedOutput | undefined)[]> {
  const known = (await Promise.all(inputs.map(identify))).filter((i): i is Identity => i !== undefined);
  const resolved: Resolved[] = [];
  const results: (CheckedOutput | undefined)[] = [];
  for (const req of requests) {
    if (req.path === undefined) {
      results.push(undefined);
      continue;
    }
    if ('file' in req) {
      const r = await checkFile(req.flag, req.path, req.file, known);
      resolved.push(r);
      const files: Record<string, string> = {};
      if (req.file === 'arrow') {
        // Every Arrow table goes out with its Parquet copy beside it, under the name given.
        const beside = await checkFile(`${req.flag} (its Parquet copy)`, parquetPathFor(req.path), 'parquet', known);
        resolved.push(beside);
        files['parquet'] = beside.path;
      }
      results.push({ path: r.path, files });
      continue;
    }
    const rule = FOLDER_RULES[req.folder];
    const r = await checkFolder(req.flag, req.path, rule, req.force ?? false, known);
    resolved.push(r);
    const files: Record<string, string> = {};
    for (const [name, kind] of Object.entries(rule.files)) {
      const inner = await checkFile(`${req.flag} (its ${name})`, join(r.path, name), kind, known);
      resolved.push(inner);
      files[name] = inner.path;
    }
    results.push({ path: r.path, files });
  }
  checkDistinct(resolved);
  return results;
}

/** One output; see checkOutputs. */
export async function checkOutput(request: OutputRequest, inputs: readonly InputPath[] = []): Promise<CheckedOutput | undefined> {
  return (await checkOutputs([request], inputs))[0];
}

async function checkFile(flag: string, given: string, kind: FileKind, inputs: readonly Identity[]): Promise<Resolved> {
  const rule = FILE_RULES[kind];
  const allowed = `a new file, an empty file, or ${rule.what} (which is replaced)`;
  const r = await resolveTarget(flag, given, allowed);
  const st = r.stats;
  if (st?.isDirectory()) {
    throw usageError(`${flag} ${given}${via(r)} is ${await describeFolder(r.path)}, not a file: flowknn does not replace it`, `${flag} takes ${allowed}; to write into that folder, name the file, e.g. ${join(given, `out.${kind}`)}`);
  }
  if (st?.isFile() && st.size > 0) {
    const head = await readHead(r.path, flag, given);
    if (!rule.looksLike(head)) {
      throw usageError(
        `${flag} ${given}${via(r)} is a file of ${st.size} bytes that is not ${rule.what} (it starts "${excerpt(text(head), 40)}"): flowknn does not replace what it did not write`,
        `${flag} takes ${allowed}`,
      );
    }
  }
  const same = st ? inputs.find((i) => i.dev === st.dev && i.ino === st.ino) : undefined;
  if (same) throw usageError(`${flag} ${given}${via(r)} is also an input (${same.flag} ${same.path}): flowknn never writes over its inputs`, 'choose another output path');
  await checkWritable(flag, given, dirname(r.path));
  return r;
}

async function checkFolder(flag: string, given: string, rule: FolderRule, force: boolean, inputs: readonly Identity[]): Promise<Resolved> {
  const r = await resolveTarget(flag, given, rule.allowed);
  const st = r.stats;
  if (st && !st.isDirectory()) {
    throw usageError(`${flag} ${given}${via(r)} is a file of ${st.size} bytes, not ${rule.what}: flowknn does not replace it`, `${flag} takes ${rule.allowed}`);
  }
  if (st) {
    const entries = await listFolder(r.path, flag, given);
    if (entries.length > 0 && !force && !rule.marks.some((m) => entries.includes(m))) {
      throw usageError(
        `${flag} ${given}${via(r)} is ${await describeFolder(r.path)}, ${rule.foreign}: flowknn does not replace what it did not write`,
        `${flag} takes ${rule.allowed}`,
      );
    }
    const same = inputs.find((i) => i.dev === st.dev && i.ino === st.ino);
    if (same) throw usageError(`${flag} ${given}${via(r)} is also an input (${same.flag} ${same.path}): flowknn never writes over its inputs`, 'choose another output path');
    if (rule.whole) {
      const inside = inputs.find((i) => i.real.startsWith(r.real + sep));
      if (inside) {
        throw usageError(`${flag} ${given}${via(r)} holds an input (${inside.flag} ${inside.path}), and ${flag} replaces the whole folder: flowknn never writes over its inputs`, 'choose another output path');
      }
    }
  }
  // A folder replaced whole is swapped in its parent; files are written inside the folder.
  await checkWritable(flag, given, rule.whole || !st ? dirname(r.path) : r.path);
  return { ...r, whole: rule.whole };
}

/** Follows a symlink given as an output to what it points to; refuses descriptors, devices,
 *  FIFOs, sockets and links to nothing. */
async function resolveTarget(flag: string, given: string, allowed: string): Promise<Resolved> {
  if (given === '') throw usageError(`${flag}: expected a path, got nothing`, `${flag} takes ${allowed}`);
  if (given === '-') throw usageError(`${flag} -: writing to standard output is not supported`, `give a file path (${flag} takes ${allowed})`);
  const abs = resolve(given);
  if (DESCRIPTOR_PATH.test(abs)) {
    throw usageError(
      `${flag} ${given} is a file descriptor of this process: flowknn writes an output under a temporary name and renames it into place, which needs a path in a folder`,
      'write to a file, then read or pipe that file',
    );
  }
  const link = await statOrUndefined(abs, lstat, flag, given);
  let path = given;
  let stats = link;
  let linkedTo: string | undefined;
  if (link?.isSymbolicLink()) {
    linkedTo = await readlink(abs).catch(() => '?');
    stats = await statOrUndefined(abs, stat, flag, given, true);
    if (!stats) throw usageError(`${flag} ${given} is a symlink to ${linkedTo}, which does not exist`, 'give the path itself, or make what the link points to first');
    path = await realpath(abs);
    if (DESCRIPTOR_PATH.test(path)) throw usageError(`${flag} ${given} is a symlink to a file descriptor of this process (${path})`, 'write to a file, then read or pipe that file');
  }
  if (stats && !stats.isFile() && !stats.isDirectory()) {
    throw usageError(
      `${flag} ${given}${linkedTo === undefined ? '' : ` (a symlink to ${linkedTo})`} is ${specialName(stats)}: flowknn writes an output under a temporary name and renames it into place, which would replace the ${specialName(stats).replace(/^an? /u, '')} with a file`,
      `give a path of a regular file or folder (${flag} takes ${allowed}); to see an output, write it to a file and read that`,
    );
  }
  const real = stats ? await realpath(abs) : join(await realParent(dirname(abs)), basename(abs));
  return { flag, given, path, real, whole: false, ...(stats ? { stats } : {}) };
}

function via(r: Resolved): string {
  return r.path === r.given ? '' : ` (a symlink to ${r.path})`;
}

function specialName(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file or folder';
}

/** Two outputs of one command may not be one file, nor lie inside a folder another replaces whole. */
function checkDistinct(outputs: readonly Resolved[]): void {
  for (let i = 0; i < outputs.length; i++) {
    for (let j = 0; j < outputs.length; j++) {
      if (i === j) continue;
      const a = outputs[i]!;
      const b = outputs[j]!;
      if (i < j && a.real === b.real) throw usageError(`${a.flag} ${a.given} and ${b.flag} ${b.given} are the same file: one would replace the other`, 'give each output its own path');
      if (a.whole && b.real.startsWith(a.real + sep)) {
        throw usageError(`${b.flag} ${b.given} is inside ${a.flag} ${a.given}, which is replaced whole`, 'give each output its own path');
      }
    }
  }
}

async function identify(input: InputPath): Promise<Identity | undefined> {
  if (input.path === undefined || input.path === '' || input.path === '-') return undefined;
  try {
    const st = await stat(input.path);
    return { flag: input.flag, path: input.path, real: await realpath(input.path), dev: st.dev, ino: st.ino };
  } catch {
    return undefined; // a missing input fails where it is read, with its own message
  }
}

/** The real path of a folder that may not exist yet: its nearest existing ancestor's real path, and the rest. */
async function realParent(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch {
    const up = dirname(dir);
    return up === dir ? dir : join(await realParent(up), basename(dir));
  }
}

/**
 * The folder an output goes into (or, for a new one, its nearest existing ancestor) must be a
 * folder this process may write: found here, before the work, not after an hour of training.
 */
async function checkWritable(flag: string, given: string, dir: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    let st: Stats;
    try {
      st = await stat(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(d) !== d) continue;
      throw environmentError(`cannot write ${flag} ${given}: ${d} cannot be read (${code ?? String(err)})`, 'choose an output path in a folder you can write, or fix its permissions', err);
    }
    if (!st.isDirectory()) throw environmentError(`cannot write ${flag} ${given}: ${d} is a file, not a folder`, 'choose an output path in a folder');
    try {
      await access(d, constants.W_OK | constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw environmentError(
        `cannot write ${flag} ${given}: no permission to write in ${d} (${code})`,
        code === 'EROFS' ? 'the filesystem is read-only: choose an output path on a writable one' : 'choose an output path in a folder you can write, or fix its permissions',
        err,
      );
    }
    return;
  }
}

async function statOrUndefined(path: string, how: typeof stat, flag: string, given: string, following = false): Promise<Stats | undefined> {
  try {
    return await how(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP' && following) return undefined;
    throw environmentError(`cannot write ${flag} ${given}: it cannot be looked at (${code ?? String(err)})`, 'choose an output path in a folder you can read and write, or fix its permissions', err);
  }
}

async function listFolder(dir: string, flag: string, given: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    throw environmentError(`cannot write ${flag} ${given}: the folder cannot be listed (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 'fix its permissions, or choose another output path', err);
  }
}

async function describeFolder(dir: string): Promise<string> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined) return 'a folder';
  if (entries.length === 0) return 'an empty folder';
  const shown = entries
    .sort()
    .slice(0, 4)
    .map((e) => excerpt(e, 40));
  return `a folder of ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (${shown.join(', ')}${entries.length > 4 ? ', ...' : ''})`;
}

async function readHead(path: string, flag: string, given: string): Promise<Buffer> {
  try {
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(512);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw environmentError(`cannot write ${flag} ${given}: the file there cannot be read to see what it is (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 'fix its permissions, or choose another output path', err);
  }
}

/** Text files have no NUL bytes (in their head). */
function isText(head: Buffer): boolean {
  return !head.includes(0);
}

function text(head: Buffer): string {
  return head.toString('utf8').replace(/^\ufeff/u, '');
}
