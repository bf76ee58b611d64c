import { basename } from 'node:path';
import { formatInZone, routerOf, type ArchiveFile } from '../ingest/archive.js';

/**
 * How much of a day the archive holds: nfcapd rotates a file every interval (its -t, 300 s by
 * default), so a day of 24 hours has 288 slots (a daylight-saving day 276 or 300). A slot with
 * no file is a gap in the collection (a collector down, a file lost), which the night's
 * numbers silently lack unless it is said. A file whose name is a wall-clock time that does
 * not exist in the archive's zone (02:xx on the day clocks go forward) was not written by an
 * nfcapd running in that zone: its time is a guess (read as the hour after), so it is named.
 * With several routers' archives under the root (live/rtr1/, live/rtr2/), a slot is present
 * when every router has its file, and each router's gaps are said: one router's collector down
 * all night is not hidden by the others' files.
 */
export interface Coverage {
  interval_s: number;
  /** Slots of the day. */
  expected: number;
  /** Slots holding at least one file. */
  present: number;
  /** Runs of slots without a file, [from, to) in UTC. */
  missing: { from: string; to: string; slots: number }[];
  /** Files (below the archive root) whose name's time does not exist in the zone. */
  dst_gap_files: string[];
  /** Several routers' archives: each router's slots with a file, and its gaps (only then). */
  routers?: Record<string, { present: number; missing: Coverage['missing'] }>;
}

const NAME = /^nfcapd\.(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/u;

/** Whether the wall-clock time of an nfcapd file name exists in the zone (not in a daylight-saving gap). */
export function nameTimeExists(file: ArchiveFile, timeZone: string): boolean {
  const m = NAME.exec(basename(file.path));
  if (!m) return true;
  const written = `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}${m[6] && m[6] !== '00' ? `:${m[6]}` : ''}`;
  return formatInZone(file.slotStartMs, timeZone) === written;
}

/** `routers`: every router of the archive (ArchiveListing.routers), so that one without a file of the day counts. */
export function coverageOf(files: readonly ArchiveFile[], range: { fromMs: number; toMs: number }, timeZone: string, intervalS: number, routers: readonly string[] = []): Coverage {
  const step = intervalS * 1000;
  const expected = Math.max(0, Math.ceil((range.toMs - range.fromMs) / step));
  const byRouter = new Map<string, Uint8Array>(routers.map((r) => [r, new Uint8Array(expected)]));
  for (const f of files) {
    const i = Math.floor((f.slotStartMs - range.fromMs) / step);
    if (i < 0 || i >= expected) continue;
    const router = routerOf(f.path);
    let covered = byRouter.get(router);
    if (!covered) byRouter.set(router, (covered = new Uint8Array(expected)));
    covered[i] = 1;
  }
  // a slot is present when every router has its file
  const covered = new Uint8Array(expected);
  if (byRouter.size > 0) covered.fill(1);
  for (const c of byRouter.values()) for (let i = 0; i < expected; i++) covered[i]! &= c[i]!;
  const gaps = (c: Uint8Array): Coverage['missing'] => {
    const missing: Coverage['missing'] = [];
    for (let i = 0; i < expected; i++) {
      if (c[i]) continue;
      let j = i;
      while (j < expected && !c[j]) j++;
      missing.push({ from: new Date(range.fromMs + i * step).toISOString(), to: new Date(Math.min(range.toMs, range.fromMs + j * step)).toISOString(), slots: j - i });
      i = j;
    }
    return missing;
  };
  const present = (c: Uint8Array) => c.reduce((n, x) => n + x, 0);
  return {
    interval_s: intervalS,
    expected,
    present: present(covered),
    missing: gaps(covered),
    dst_gap_files: files.filter((f) => !nameTimeExists(f, timeZone)).map((f) => f.relPath),
    ...(byRouter.size > 1 ? { routers: Object.fromEntries([...byRouter].sort(([a], [b]) => (a < b ? -1 : 1)).map(([r, c]) => [r, { present: present(c), missing: gaps(c) }])) } : {}),
  };
}

/** The log lines an operator needs about a day's coverage (none when it is whole). */
export function coverageNotes(date: string, c: Coverage, timeZone: string): string[] {
  const notes: string[] = [];
  const at = (iso: string) => formatInZone(Date.parse(iso), timeZone).slice(11);
  const say = (who: string, present: number, missing: Coverage['missing']) => {
    const runs = missing.slice(0, 10).map((g) => `${at(g.from)}-${at(g.to)}`);
    notes.push(`${who}: ${c.expected - present} of ${c.expected} ${c.interval_s}-second slots have no nfcapd file (${timeZone}): ${runs.join(', ')}${missing.length > 10 ? `, and ${missing.length - 10} more gaps` : ''}`);
  };
  if (c.routers) {
    for (const [router, r] of Object.entries(c.routers)) if (r.missing.length > 0) say(`${date}, router ${router}`, r.present, r.missing);
  } else if (c.missing.length > 0) say(date, c.present, c.missing);
  for (const f of c.dst_gap_files) notes.push(`${f}: the time in its name does not exist in ${timeZone} on ${date} (clocks went forward); read as the hour after`);
  return notes;
}
