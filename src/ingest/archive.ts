import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { environmentError, excerpt, FlowknnError, inputError, usageError } from '../errors.js';
import { checkTimeZone, formatInZone, UTC as utc, zonedToEpoch } from '../io/time-zone.js';

export { checkTimeZone, formatInZone, zonedToEpoch };

/**
 * Archive discovery: the nfcapd files under a folder, picked by time.
 *
 * nfcapd (and nfpcapd, sfcapd) name each rotated file after the start of its time slot:
 * `nfcapd.YYYYMMDDhhmm` (`nfcapd.YYYYMMDDhhmmss` when the rotation interval is under 60 s),
 * in the collector's LOCAL time. Files can lie flat in the flow folder or in the sub folders of
 * `nfcapd -S` (`%Y/%m/%d`, `%Y/%m/%d/%H`, `%Y/%W/%u`, `%Y/%W/%u/%H`, `%Y/%j`, `%Y/%j/%H`,
 * `%Y-%m-%d`, `%Y-%m-%d/%H`), or several sources side by side (NfSen's `live/<source>/...`):
 * the whole tree is walked and every file is judged by its name alone, so any layout works.
 *
 * - The time of a file is its slot start, from the name, read in `timeZone` (default UTC; use
 *   the collector's zone, e.g. `Europe/Berlin`, or `local`, when nfcapd did not run in UTC).
 * - Selection, on the slot start: `date` (YYYY-MM-DD) takes [00:00, 24:00) of that day;
 *   `from` is inclusive, `to` exclusive (`from` 2026-11-01T10:00 `to` 2026-11-01T11:00 gives
 *   the twelve files 10:00 .. 10:55). `from`/`to` take YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss] (or a
 *   space for T), in `timeZone` unless they end in Z or ±hh:mm. Either may be left out. Note
 *   that the last file of a day holds flows up to 24:00, and a flow that started before 00:00
 *   can be in the first one (the collector cuts long flows at its active timeout).
 * - Skipped, each with a reason: `nfcapd.current.*` (still being written), names that are not
 *   `nfcapd.<timestamp>` or whose timestamp is not a valid time, hidden files and folders
 *   (`.nfstat`, temporary folders), unreadable sub folders, and things that are neither files
 *   nor folders. Files with a valid name outside the selection are not listed as skipped; they
 *   are counted (`outside`).
 * - Results are sorted by slot start, then path; each has its size (a 0-byte file is listed:
 *   reading it is where it fails).
 *
 * Errors: a missing root, or a root that is neither a folder nor an nfcapd file: usage (exit 2).
 * An unreadable root: environment (exit 3). A selection that finds no file: an input error
 * (exit 1; the command was well-formed, the data for that time is not there), whose message
 * says what the folder does hold; `allowEmpty` returns the empty listing instead.
 */

export interface ArchiveFile {
  /** the file's path: the root joined with `relPath` */
  path: string;
  /** path below the root, '/'-separated ('' when the root is the file itself) */
  relPath: string;
  /** start of the file's time slot, from its name (epoch ms) */
  slotStartMs: number;
  /** size in bytes */
  size: number;
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface ArchiveSelection {
  /** YYYY-MM-DD: that whole day */
  date?: string;
  /** inclusive lower bound of the slot start */
  from?: string;
  /** exclusive upper bound of the slot start */
  to?: string;
  /** zone of the file names and of date/from/to: 'UTC' (default), 'local', or an IANA name */
  timeZone?: string;
}

export interface DiscoverOptions extends ArchiveSelection {
  /** return an empty listing instead of failing when nothing is selected */
  allowEmpty?: boolean;
}

export interface ArchiveListing {
  root: string;
  files: ArchiveFile[];
  skipped: SkippedEntry[];
  /** nfcapd files with a valid name left out by the selection */
  outside: number;
  /** selected time range [fromMs, toMs) (null ends: open) */
  selection: { fromMs: number | null; toMs: number | null; label: string };
  /** The routers (routerOf) of every nfcapd file under the root, selected or not, sorted. */
  routers: string[];
}

function validWallClock(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

// ---------------------------------------------------------------------------
// names

const NAME = /^nfcapd\.(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/u;

export type NameVerdict = { ok: true; slotStartMs: number } | { ok: false; reason: string };

/** Judges one file name: an nfcapd slot file (with its slot start) or why not. */
export function parseNfcapdName(name: string, timeZone = utc): NameVerdict {
  if (name.startsWith('nfcapd.current.') || name === 'nfcapd.current') return { ok: false, reason: 'being written by the collector (nfcapd.current.*)' };
  if (name.startsWith('.')) return { ok: false, reason: 'hidden file' };
  const m = NAME.exec(name);
  if (!m) return { ok: false, reason: 'not an nfcapd file name (expected nfcapd.YYYYMMDDhhmm or nfcapd.YYYYMMDDhhmmss)' };
  const [y, mo, d, h, mi] = m.slice(1, 6).map(Number) as [number, number, number, number, number];
  const s = m[6] === undefined ? 0 : Number(m[6]);
  if (!validWallClock(y, mo, d, h, mi, s)) return { ok: false, reason: 'the time in the name is not a valid date and time' };
  return { ok: true, slotStartMs: zonedToEpoch(y, mo, d, h, mi, s, timeZone) };
}

// ---------------------------------------------------------------------------
// selection

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/u;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:?\d{2})?$/u;

function parseDate(flag: string, text: string, timeZone: string): { y: number; mo: number; d: number } {
  const m = DATE.exec(text);
  const v = m ? { y: Number(m[1]), mo: Number(m[2]), d: Number(m[3]) } : null;
  if (!v || !validWallClock(v.y, v.mo, v.d, 0, 0, 0)) throw usageError(`--${flag} must be a date YYYY-MM-DD, got "${excerpt(text, 60)}"`, `the day is taken in ${timeZone}`);
  return v;
}

/** Epoch ms of a --from/--to value. */
export function parseTimeBound(flag: string, text: string, timeZone = utc): number {
  const m = DATETIME.exec(text.trim());
  const bad = () => usageError(`--${flag} must be YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] (optionally ending in Z or ±hh:mm), got "${excerpt(text, 60)}"`, `times without Z or an offset are taken in ${timeZone}`);
  if (!m) throw bad();
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const h = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  if (!validWallClock(y, mo, d, h, mi, s)) throw bad();
  const zone = m[7];
  if (zone === undefined) return zonedToEpoch(y, mo, d, h, mi, s, timeZone);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  if (zone === 'Z') return asUtc;
  const z = /^([+-])(\d{2}):?(\d{2})$/u.exec(zone)!;
  const offsetMin = (Number(z[2]) * 60 + Number(z[3])) * (z[1] === '-' ? -1 : 1);
  if (Number(z[2]) > 23 || Number(z[3]) > 59) throw bad();
  return asUtc - offsetMin * 60_000;
}

/** The [from, to) range a selection asks for, with a label for messages. */
export function selectionRange(sel: ArchiveSelection): ArchiveListing['selection'] {
  const timeZone = checkTimeZone(sel.timeZone ?? utc);
  const zoneLabel = timeZone === 'local' ? 'local time' : timeZone;
  if (sel.date !== undefined) {
    if (sel.from !== undefined || sel.to !== undefined) throw usageError('--date cannot be combined with --from/--to', 'use --date for one whole day, or --from/--to for any range');
    const { y, mo, d } = parseDate('date', sel.date, timeZone);
    const fromMs = zonedToEpoch(y, mo, d, 0, 0, 0, timeZone);
    const next = new Date(Date.UTC(y, mo - 1, d + 1));
    const toMs = zonedToEpoch(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, 0, timeZone);
    return { fromMs, toMs, label: `${sel.date} (${zoneLabel})` };
  }
  const fromMs = sel.from === undefined ? null : parseTimeBound('from', sel.from, timeZone);
  const toMs = sel.to === undefined ? null : parseTimeBound('to', sel.to, timeZone);
  if (fromMs !== null && toMs !== null && !(fromMs < toMs)) throw usageError(`--from (${sel.from}) must be before --to (${sel.to}); --to is exclusive`);
  const label =
    fromMs === null && toMs === null
      ? 'any time'
      : `${fromMs === null ? 'the start' : formatInZone(fromMs, timeZone)} to ${toMs === null ? 'the end' : `${formatInZone(toMs, timeZone)} (exclusive)`} (${zoneLabel})`;
  return { fromMs, toMs, label };
}

// ---------------------------------------------------------------------------
// the walk

interface Found {
  path: string;
  relPath: string;
  slotStartMs: number;
}

/**
 * nfcapd -S's date layouts, as folder name patterns from the year down: %Y/%m/%d, %Y/%m/%d/%H,
 * %Y/%W/%u, %Y/%W/%u/%H, %Y/%j, %Y/%j/%H, %Y-%m-%d, %Y-%m-%d/%H.
 */
const DATE_LAYOUTS: readonly (readonly RegExp[])[] = (() => {
  const [y, m2, d1, j, ymd] = [/^\d{4}$/u, /^\d{2}$/u, /^\d$/u, /^\d{3}$/u, /^\d{4}-\d{2}-\d{2}$/u];
  return [[y, m2, m2, m2], [y, m2, d1, m2], [y, m2, m2], [y, m2, d1], [y, j, m2], [y, j], [ymd, m2], [ymd]];
})();

/**
 * The router (exporter) an nfcapd file belongs to: the folder above its date folders (nfcapd -S,
 * at most one layout, matched from the file up). NfSen keeps each source's archive in
 * `live/<router>/`, so `.../live/rtr1/2026/11/01/nfcapd.202611011000` is rtr1's (and
 * `.../live/7/2026/11/01/...` router 7's), whether the archive root given is `live` or
 * `live/rtr1`; a flat folder of one collector names that folder. `|` and `,` in the name (which
 * join a key's fields and a row's routers) read as `_`.
 */
export function routerOf(path: string): string {
  return routerFolder(path).router;
}

/** routerOf's router, its folder (absolute) and the file's path below it ('/'-separated). */
export function routerFolder(path: string): { router: string; folder: string; below: string } {
  const parts = resolve(path).split(sep).filter((d) => d !== '');
  const dirs = parts.slice(0, -1);
  let at = dirs.length;
  for (const layout of DATE_LAYOUTS) {
    const from = dirs.length - layout.length;
    if (from >= 0 && layout.every((re, i) => re.test(dirs[from + i]!))) {
      at = from;
      break;
    }
  }
  return {
    router: at > 0 ? dirs[at - 1]!.replace(/[|,]/gu, '_') : '/',
    folder: sep + dirs.slice(0, at).join(sep),
    below: parts.slice(at).join('/'),
  };
}

function relOf(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

async function statSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/** Lists and selects the nfcapd files under `root` (see the module comment). */
export async function discoverArchive(root: string, options: DiscoverOptions = {}): Promise<ArchiveListing> {
  const selection = selectionRange(options);
  const timeZone = checkTimeZone(options.timeZone ?? utc);
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw usageError(`archive folder not found: ${root}`, 'give the folder that nfcapd writes into (its -w flow directory)');
    throw environmentError(`cannot read the archive folder ${root} (${code ?? String(err)})`, 'check its permissions', err);
  }

  const found: Found[] = [];
  const skipped: SkippedEntry[] = [];
  if (rootStat.isFile()) {
    const v = parseNfcapdName(basename(root), timeZone);
    if (!v.ok) throw usageError(`${root} is a file but not an nfcapd file (${v.reason})`, 'give the archive folder, or one nfcapd.YYYYMMDDhhmm file');
    found.push({ path: root, relPath: '', slotStartMs: v.slotStartMs });
  } else if (rootStat.isDirectory()) {
    const seen = new Set<string>();
    const walk = async (dir: string, isRoot: boolean): Promise<void> => {
      let real: string;
      let entries: Dirent[];
      try {
        real = await realpath(dir);
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        if (isRoot) throw environmentError(`cannot read the archive folder ${root} (${code})`, 'check its permissions', err);
        skipped.push({ path: dir, reason: `cannot read folder (${code})` });
        return;
      }
      if (seen.has(real)) {
        skipped.push({ path: dir, reason: 'folder already visited (a symbolic link loop or a second link to it)' });
        return;
      }
      seen.add(real);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const path = join(dir, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          try {
            const st = await stat(path);
            isDir = st.isDirectory();
            isFile = st.isFile();
          } catch {
            skipped.push({ path, reason: 'broken symbolic link' });
            continue;
          }
        }
        if (isDir) {
          if (e.name.startsWith('.')) skipped.push({ path, reason: 'hidden folder' });
          else await walk(path, false);
          continue;
        }
        if (!isFile) {
          skipped.push({ path, reason: 'not a regular file' });
          continue;
        }
        const v = parseNfcapdName(e.name, timeZone);
        if (!v.ok) skipped.push({ path, reason: v.reason });
        else found.push({ path, relPath: relOf(root, path), slotStartMs: v.slotStartMs });
      }
    };
    await walk(root, true);
  } else {
    throw usageError(`${root} is neither a folder nor a file`, 'give the folder that nfcapd writes into');
  }

  const inRange = (t: number) => (selection.fromMs === null || t >= selection.fromMs) && (selection.toMs === null || t < selection.toMs);
  const chosen = found.filter((f) => inRange(f.slotStartMs));
  chosen.sort((a, b) => a.slotStartMs - b.slotStartMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  if (chosen.length === 0 && !options.allowEmpty) throw emptySelection(root, selection.label, found, skipped, timeZone);

  const files: ArchiveFile[] = [];
  const BATCH = 64;
  for (let i = 0; i < chosen.length; i += BATCH) {
    const part = chosen.slice(i, i + BATCH);
    const sizes = await Promise.all(
      part.map(async (f) => {
        try {
          return await statSize(f.path);
        } catch (err) {
          return err as NodeJS.ErrnoException;
        }
      }),
    );
    part.forEach((f, j) => {
      const size = sizes[j]!;
      if (typeof size === 'number') files.push({ ...f, size });
      else skipped.push({ path: f.path, reason: `vanished or unreadable while listing (${size.code ?? size.message})` });
    });
  }
  if (files.length === 0 && !options.allowEmpty) throw emptySelection(root, selection.label, found, skipped, timeZone);
  // once per folder: every file of a folder has its router
  const routers = [...new Set([...new Set(found.map((f) => dirname(f.path)))].map((d) => routerOf(join(d, 'nfcapd'))))].sort();
  return { root, files, skipped, outside: found.length - chosen.length, selection, routers };
}

function emptySelection(root: string, label: string, found: Found[], skipped: SkippedEntry[], timeZone: string): FlowknnError {
  const zone = timeZone === 'local' ? 'local time' : timeZone;
  let holds: string;
  if (found.length > 0) {
    let lo = found[0]!.slotStartMs;
    let hi = lo;
    for (const f of found) {
      lo = Math.min(lo, f.slotStartMs);
      hi = Math.max(hi, f.slotStartMs);
    }
    holds = `it holds ${found.length} nfcapd file${found.length === 1 ? '' : 's'} from ${formatInZone(lo, timeZone)} to ${formatInZone(hi, timeZone)} (${zone})`;
  } else {
    holds = 'it holds no nfcapd.YYYYMMDDhhmm files at all';
  }
  const why = skipped.length > 0 ? `; skipped ${skipped.length}: ${skipped.slice(0, 3).map((s) => `${relOf(root, s.path) || s.path} (${s.reason})`).join(', ')}${skipped.length > 3 ? ', ...' : ''}` : '';
  return inputError(`no nfcapd files for ${label} in ${root}: ${holds}${why}`, {}, found.length > 0 ? 'pick a date or range inside what the archive holds (or check --time-zone)' : 'check the folder: nfcapd writes files named nfcapd.YYYYMMDDhhmm');
}
