import { readdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { environmentError, inputError, usageError, excerpt } from '../errors.js';
import { parseJsonText, schemaProblem } from '../io/json.js';
import { acquireLock } from '../io/lock.js';
import { ensureDir, exists, writeFileAtomic } from '../io/atomic.js';
import { removeLeftovers } from '../io/leftovers.js';
import { evaluationSchema, MODEL_JSON, readModel, readModelJson, type LoadedModel, type ModelJson } from './folder.js';

/**
 * A model registry: every version of a named model, and which one is in use.
 *
 *     <root>/<name>/v1/            a model folder (model.json, train.arrow) plus version.json
 *     <root>/<name>/v2/
 *     <root>/<name>/current        the text `v2`: the version classify and the nightly run use
 *     <root>/<name>/labels/pending/*.arrow   labels waiting for the next version (label add)
 *     <root>/<name>/labels/used/v2/*.arrow   the labels version 2 took in
 *
 * Versions are never changed once written (but for the promotion fields of version.json);
 * `current` is replaced atomically, so a reader sees the old or the new version, never neither.
 */

export const CURRENT_FILE = 'current';
export const VERSION_JSON = 'version.json';
export const VERSION_FORMAT_VERSION = 1;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/u;

export function checkModelName(name: string): string {
  if (!NAME.test(name)) throw usageError(`--name: expected a plain model name (letters, digits, "_", "-", ".", at most 64), got "${excerpt(name)}"`);
  return name;
}

export interface RegistryPaths {
  readonly root: string;
  readonly name: string;
  /** `<root>/<name>` */
  readonly base: string;
  readonly current: string;
  readonly pending: string;
  readonly used: string;
  readonly lock: string;
}

export function registryPaths(root: string, name: string): RegistryPaths {
  const base = join(root, checkModelName(name));
  return { root, name, base, current: join(base, CURRENT_FILE), pending: join(base, 'labels', 'pending'), used: join(base, 'labels', 'used'), lock: join(base, '.lock') };
}

export function versionDir(root: string, name: string, version: number): string {
  return join(registryPaths(root, name).base, `v${version}`);
}

/** `v3` or `3` -> 3. */
export function parseVersionRef(text: string): number | undefined {
  const m = /^v?(\d{1,9})$/u.exec(text.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

const conflictSchema = z
  .object({
    key: z.string(),
    window_start: z.string().nullable(),
    old_label: z.string(),
    old_source: z.string(),
    new_label: z.string(),
    new_source: z.string(),
  })
  .strict();

const pairedSchema = z
  .object({
    protocol: z.string(),
    folds: z.number().int(),
    rows: z.number().int(),
    current: z.object({ version: z.number().int().min(1), accuracy: z.number(), macro_f1: z.number(), correct: z.number().int() }).strict(),
    candidate: z.object({ accuracy: z.number(), macro_f1: z.number(), correct: z.number().int() }).strict(),
    current_only: z.number().int(),
    candidate_only: z.number().int(),
    p_value: z.number(),
    alpha: z.number(),
    promote: z.boolean(),
  })
  .strict();

const versionJsonSchema = z
  .object({
    format: z.literal('flowknn-model-version'),
    format_version: z.number().int(),
    name: z.string(),
    version: z.number().int().min(1),
    /** The version whose training rows this one started from; null for a first version. */
    parent: z.number().int().min(1).nullable(),
    created: z.string(),
    rows: z
      .object({
        total: z.number().int(),
        /** Rows taken from the parent. */
        base: z.number().int(),
        /** New rows (labels for rows the parent did not have). */
        added: z.number().int(),
        /** New labels that repeated a row the parent had with the same label and features. */
        merged: z.number().int(),
        /** New rows that replaced a parent row of the same key and window and label (new features). */
        updated: z.number().int(),
        /** New labels that replaced a different label of the same row (the newer wins). */
        conflicts: z.number().int(),
      })
      .strict(),
    /** Where the new labels came from: pending batches (by file name) and labelled folders. */
    labels: z.array(z.string()),
    conflicts: z.array(conflictSchema),
    /** Classes of the parent left with no rows (every row relabelled). */
    dropped_classes: z.array(z.string()),
    /** This version's evaluation: the one the promotion guard compared. */
    evaluation: evaluationSchema.nullable(),
    /** The version that was current when this one was made, and its evaluation under the same protocol. */
    baseline: z.object({ version: z.number().int().min(1), evaluation: evaluationSchema }).strict().nullable(),
    /**
     * The promotion guard's comparison: the current version and this one on this version's rows
     * under the same folds, both figures, the rows only one got right, and McNemar's p-value.
     * Absent on versions made before the guard compared on shared rows, and without a current version.
     */
    paired: pairedSchema.optional(),
    tolerance: z.number().min(0),
    promoted: z.boolean(),
    reason: z.string(),
    promoted_at: z.string().nullable(),
    /**
     * A promotion decided and not yet done: written with the version (or by models promote)
     * before `current` moves, removed once it has. A version that still has it was promoted by
     * a run killed in between, and the next run on the registry finishes it (repairRegistry).
     */
    promotion_pending: z.object({ reason: z.string(), at: z.string() }).strict().optional(),
  })
  .strict();

export type VersionJson = z.infer<typeof versionJsonSchema>;
export type LabelConflict = z.infer<typeof conflictSchema>;
export type PairedRecord = z.infer<typeof pairedSchema>;

export function versionJsonText(v: VersionJson): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

/** version.json of a version folder; null when the folder has none (a model folder copied in by hand). */
export async function readVersionJson(dir: string): Promise<VersionJson | null> {
  const file = join(dir, VERSION_JSON);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const json = parseJsonText(text);
  if ('problem' in json) throw inputError(json.problem.message, { file, line: json.problem.line });
  const parsed = versionJsonSchema.safeParse(json.value);
  if (!parsed.success) {
    const p = schemaProblem(parsed.error, text);
    throw inputError(p.message, { file, line: p.line });
  }
  if (parsed.data.format_version > VERSION_FORMAT_VERSION) throw inputError(`version format ${parsed.data.format_version} is newer than this flowknn reads (${VERSION_FORMAT_VERSION})`, { file }, 'upgrade flowknn');
  return parsed.data;
}

/** The version numbers present (folders `v<N>`), ascending. */
export async function versionNumbers(root: string, name: string): Promise<number[]> {
  const { base } = registryPaths(root, name);
  let entries;
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && /^v\d+$/u.test(e.name))
    .map((e) => Number(e.name.slice(1)))
    .filter((n) => n >= 1)
    .sort((a, b) => a - b);
}

/** The version `current` names, or null when there is no current file. */
export async function currentVersion(root: string, name: string): Promise<number | null> {
  const { current } = registryPaths(root, name);
  let text: string;
  try {
    text = await readFile(current, 'utf8');
  } catch {
    return null;
  }
  const v = parseVersionRef(text);
  if (v === undefined) throw inputError(`expected a version such as v3, got "${excerpt(text.trim())}"`, { file: current, line: 1 }, 'the file is written by flowknn train and flowknn models promote; promote a version again to rewrite it');
  return v;
}

function firstVersionHint(root: string, name: string): string {
  return `make a first version with: flowknn train --registry ${root} --name ${name} --labels DIR (a folder of per-label nfdump files, or a table with a label column)`;
}

/** Names of the models in a registry (folders holding versions or a current pointer). */
export async function registryNames(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !NAME.test(e.name)) continue;
    if ((await versionNumbers(root, e.name)).length > 0 || (await exists(join(root, e.name, CURRENT_FILE)))) names.push(e.name);
  }
  return names.sort();
}

/**
 * What `--model` names: a model folder, or a registry model (`ROOT/NAME`, holding `current`)
 * standing for its current version, resolved as the nightly run resolves it.
 */
export async function readModelSpec(spec: string): Promise<{ loaded: LoadedModel; name: string | null; version: number | null }> {
  if (await exists(join(spec, CURRENT_FILE))) return readCurrentModel(dirname(resolvePath(spec)), basename(resolvePath(spec)));
  return { loaded: await readModel(spec), name: null, version: null };
}

/** The current version of a registry model, read. */
export async function readCurrentModel(root: string, name: string): Promise<{ loaded: LoadedModel; name: string; version: number }> {
  const { dir, version } = await resolveModel(root, name);
  return { loaded: await readModel(dir), name, version };
}

/**
 * The version in use: the folder `current` points to. The nightly run and classify resolve a
 * registry name through this, so a model is swapped by promoting a version, never by editing
 * files in place.
 */
export async function resolveModel(root: string, name: string): Promise<{ dir: string; version: number }> {
  const paths = registryPaths(root, name);
  if (!(await exists(paths.base))) {
    const others = await registryNames(root);
    const known = others.length > 0 ? `; it holds ${others.join(', ')}` : (await exists(root)) ? '; it holds no models' : ` (${root} does not exist)`;
    throw usageError(`model registry ${root} has no model "${excerpt(name)}"${known}`, firstVersionHint(root, name));
  }
  const version = await currentVersion(root, name);
  if (version === null) {
    const versions = await versionNumbers(root, name);
    throw usageError(
      `model registry ${paths.base} has no current version (no ${CURRENT_FILE} file)`,
      versions.length > 0 ? `promote one of ${versions.map((v) => `v${v}`).join(', ')}: flowknn models promote ${name} v${versions[versions.length - 1]} --registry ${root}` : firstVersionHint(root, name),
    );
  }
  const dir = versionDir(root, name, version);
  if (!(await exists(join(dir, MODEL_JSON)))) throw inputError(`names v${version}, but ${dir} holds no model`, { file: paths.current, line: 1 }, `promote a version that exists: flowknn models --registry ${root} --name ${name} lists them`);
  return { dir, version };
}

/** One version as `flowknn models` lists it. */
export interface VersionInfo {
  readonly name: string;
  readonly version: number;
  readonly dir: string;
  readonly current: boolean;
  readonly model: ModelJson;
  /** null for a version folder without version.json. */
  readonly info: VersionJson | null;
}

/** Every version of one model (or of every model in the registry), by name, then version. */
export async function listVersions(root: string, name?: string): Promise<VersionInfo[]> {
  const names = name === undefined ? await registryNames(root) : [checkModelName(name)];
  if (name !== undefined && !(await exists(registryPaths(root, name).base))) {
    const others = await registryNames(root);
    throw usageError(`model registry ${root} has no model "${excerpt(name)}"${others.length > 0 ? `; it holds ${others.join(', ')}` : ''}`, firstVersionHint(root, name));
  }
  const out: VersionInfo[] = [];
  for (const n of names) {
    const cur = await currentVersion(root, n);
    for (const v of await versionNumbers(root, n)) {
      const dir = versionDir(root, n, v);
      out.push({ name: n, version: v, dir, current: cur === v, model: await readModelJson(dir), info: await readVersionJson(dir) });
    }
  }
  return out;
}

/** Points `current` at a version (atomically: readers see the old or the new pointer). */
export async function setCurrent(root: string, name: string, version: number): Promise<void> {
  await writeFileAtomic(registryPaths(root, name).current, `v${version}\n`);
}

/**
 * Makes a version current by hand (after the guard kept it back, or to go back to an earlier
 * one), recording it in its version.json.
 */
export async function promoteVersion(root: string, name: string, version: number, now: Date = new Date(), log?: (message: string) => void): Promise<{ previous: number | null }> {
  return withRegistryLock(
    root,
    name,
    async () => {
      const dir = versionDir(root, name, version);
      if (!(await exists(join(dir, MODEL_JSON)))) {
        const versions = await versionNumbers(root, name);
        throw usageError(`model registry ${registryPaths(root, name).base} has no version v${version}`, versions.length > 0 ? `versions: ${versions.map((v) => `v${v}`).join(', ')}` : firstVersionHint(root, name));
      }
      const previous = await currentVersion(root, name);
      const info = await readVersionJson(dir);
      const reason = info === null ? '' : info.promoted ? info.reason : `promoted by hand (the promotion guard had kept it back: ${info.reason})`;
      await promote(root, name, version, info, reason, now.toISOString());
      return { previous };
    },
    log,
  );
}

/**
 * The one way a version becomes current: its version.json records the decision first
 * (promotion_pending), then `current` moves, then version.json says promoted. A kill between
 * any two leaves a pending decision that repairRegistry finishes, so `promoted: true` is never
 * written while another version is current.
 */
export async function promote(root: string, name: string, version: number, info: VersionJson | null, reason: string, at: string): Promise<VersionJson | null> {
  const file = join(versionDir(root, name, version), VERSION_JSON);
  if (info) await writeFileAtomic(file, versionJsonText({ ...info, promotion_pending: { reason, at } }));
  await setCurrent(root, name, version);
  if (!info) return null;
  const { promotion_pending: _done, ...rest } = info;
  const done: VersionJson = { ...rest, promoted: true, reason, promoted_at: at };
  await writeFileAtomic(file, versionJsonText(done));
  return done;
}

/**
 * What a killed training or promotion left, finished under the registry's lock: a promotion
 * decided but not done (see promote), and temporary files and folders of killed writers.
 * Returns a line for each repair, for the user.
 */
export async function repairRegistry(root: string, name: string): Promise<string[]> {
  const paths = registryPaths(root, name);
  const notes: string[] = [];
  // Only runs holding the lock write the registry's own folder (versions, current).
  const removed = await removeLeftovers(paths.base, { all: true });
  for (const v of await versionNumbers(root, name)) removed.push(...(await removeLeftovers(versionDir(root, name, v), { all: true })));
  if (removed.length > 0) notes.push(`removed ${removed.length} unfinished file${removed.length === 1 ? '' : 's'} of a killed run (${removed.join(', ')})`);
  // label add writes pending batches without the lock: only those of writers that are gone
  await removeLeftovers(paths.pending);
  for (const v of await versionNumbers(root, name)) {
    const info = await readVersionJson(versionDir(root, name, v));
    if (!info?.promotion_pending) continue;
    const before = await currentVersion(root, name);
    await promote(root, name, v, info, info.promotion_pending.reason, info.promotion_pending.at);
    notes.push(
      before === v
        ? `v${v}: recorded its promotion, which a killed run had made current but not recorded`
        : `v${v}: finished its promotion, which a killed run had decided but not done (current was ${before === null ? 'none' : `v${before}`}, is v${v} now)`,
    );
  }
  return notes;
}

/**
 * Runs `fn` holding the registry's lock file, so two trainings cannot both write v<N+1> and a
 * promotion cannot interleave with one. A lock left by a process that no longer runs on this
 * host is taken over, and what that process left unfinished is repaired first (said on `log`).
 */
export async function withRegistryLock<T>(root: string, name: string, fn: (repairs: string[]) => Promise<T>, log?: (message: string) => void): Promise<T> {
  const { base, lock } = registryPaths(root, name);
  await ensureDir(base);
  const held = await acquireLock(lock, `flowknn (model registry ${name})`, {
    busy: (o) => `model registry ${base} is busy: process ${o.pid} on ${o.host} holds its lock since ${o.started}`,
    hint: () => `wait for that flowknn train or models promote to finish; if it is gone, remove ${lock}`,
  });
  try {
    const repairs = await repairRegistry(root, name);
    for (const r of repairs) log?.(`repaired ${base}: ${r}`);
    return await fn(repairs);
  } finally {
    await held.release();
  }
}

/** Pending label batches, oldest first (their names start with the time they were added). */
export async function pendingBatches(root: string, name: string): Promise<string[]> {
  const { pending } = registryPaths(root, name);
  let names: string[];
  try {
    names = await readdir(pending);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.arrow') && !n.startsWith('.'))
    .sort()
    .map((n) => join(pending, n));
}

/** Moves pending batches a version took in to labels/used/v<N>/, so the next version does not take them again. */
export async function retireBatches(root: string, name: string, version: number, files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const target = join(registryPaths(root, name).used, `v${version}`);
  await ensureDir(target);
  for (const f of files) {
    try {
      await rename(f, join(target, basename(f)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw environmentError(`cannot move ${f} to ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'the registry folder must be writable');
    }
  }
}
