import { basename } from 'node:path';
import { formatInZone, type ArchiveFile } from '../ingest/archive.js';

/**
 * How much of a day the archive holds: nfcapd rotates a file every interval (its -t, 300 s by
 * default), so a day of 24 hours has 288 slots (a daylight-saving day 276 or 300). A slot with
 * no file is a gap in the collection (a collector down, a file lost), which the night's
 * numbers silently lack unless it is said. A file whose name is a wall-clock time that does
 * not exist in the archive's zone (02:xx on the day clocks go forward) was not written by an
 * nfcapd running in that zone: its time is a guess (read as the hour after), so it is named.
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
}

const NAME = /^nfcapd\.(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/u;

/** Whether the wall-clock time of an nfcapd file name exists in the zone (not in a daylight-saving gap). */
export function nameTimeExists(file: ArchiveFile, timeZone: string): boolean {
  const m = NAME.exec(basename(file.path));
  if (!m) return true;
  const written = `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}${m[6] && m[6] !== '00' ? `:${m[6]}` : ''}`;
  return formatInZone(file.slotStartMs, timeZone) === written;
}

export function coverageOf(files: readonly ArchiveFile[], range: { fromMs: number; toMs: number }, timeZone: string, intervalS: number): Coverage {
  const step = intervalS * 1000;
  const expected = Math.max(0, Math.ceil((range.toMs - range.fromMs) / step));
  const covered = new Uint8Array(expected);
  for (const f of files) {
    const i = Math.floor((f.slotStartMs - range.fromMs) / step);
    if (i >= 0 && i < expected) covered[i] = 1;
  }
  const missing: Coverage['missing'] = [];
  for (let i = 0; i < expected; i++) {
    if (covered[i]) continue;
    let j = i;
    while (j < expected && !covered[j]) j++;
    missing.push({ from: new Date(range.fromMs + i * step).toISOString(), to: new Date(Math.min(range.toMs, range.fromMs + j * step)).toISOString(), slots: j - i });
    i = j;
  }
  return {
    interval_s: intervalS,
    expected,
    present: covered.reduce((n, c) => n + c, 0),
    missing,
    dst_gap_files: files.filter((f) => !nameTimeExists(f, timeZone)).map((f) => f.relPath),
  };
}

/** The log lines an operator needs about a day's coverage (none when it is whole). */
export function coverageNotes(date: string, c: Coverage, timeZone: string): string[] {
  const notes: string[] = [];
  if (c.missing.length > 0) {
    const lost = c.expected - c.present;
    const at = (iso: string) => formatInZone(Date.parse(iso), timeZone).slice(11);
    const runs = c.missing.slice(0, 10).map((g) => `${at(g.from)}-${at(g.to)}`);
    notes.push(`${date}: ${lost} of ${c.expected} ${c.interval_s}-second slots have no nfcapd file (${timeZone}): ${runs.join(', ')}${c.missing.length > 10 ? `, and ${c.missing.length - 10} more gaps` : ''}`);
  }
  for (const f of c.dst_gap_files) notes.push(`${f}: the time in its name does not exist in ${timeZone} on ${date} (clocks went forward); read as the hour after`);
  return notes;
}
