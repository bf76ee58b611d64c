import { usageError } from '../errors.js';

/**
 * Time zones. Inside flowknn every time is UTC (epoch milliseconds; Arrow timestamps carry
 * "UTC"). Two things outside are not:
 * - nfdump prints first and last seen in its machine's local time (text statistics, CSV,
 *   JSON), with no zone in the text: they are read in a named zone (`--time-zone`, by default
 *   the zone of the machine flowknn runs on, as nfdump itself does). nfdump run by flowknn
 *   itself gets TZ=UTC, so what it prints is UTC.
 * - nfcapd names its files after the start of the slot in the collector's local time.
 *
 * Zones are `UTC`, `local` (this process's zone: the TZ environment variable, else the
 * system's) or an IANA name such as `Europe/Berlin`.
 */

export const UTC = 'UTC';

/** Checks the zone name; 'UTC', 'local' or an IANA zone such as Europe/Berlin. */
export function checkTimeZone(timeZone: string): string {
  if (timeZone === UTC || timeZone === 'local') return timeZone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw usageError(`unknown time zone "${timeZone}"`, 'use UTC, local, or an IANA name such as Europe/Berlin');
  }
  return timeZone;
}

/** The IANA name of a zone as it resolves here (`local` becomes the machine's zone). */
export function resolvedTimeZone(timeZone: string): string {
  if (timeZone === 'local') return new Intl.DateTimeFormat().resolvedOptions().timeZone || UTC;
  return timeZone;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields of an instant in a zone: [year, month, day, hour, minute, second]. */
export function wallClock(ms: number, timeZone: string): number[] {
  if (timeZone === UTC) {
    const d = new Date(ms);
    return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  }
  if (timeZone === 'local') {
    const d = new Date(ms);
    return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  }
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return [Number(parts.year), Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second)];
}

/** The zone's offset from UTC at an instant, in ms (Europe/Berlin in summer: 7_200_000). */
export function offsetAt(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  return Date.UTC(w[0]!, w[1]! - 1, w[2]!, w[3]!, w[4]!, w[5]!) - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant of a wall-clock time given as if it were UTC (`wallMs`: Date.UTC of the fields).
 * Where a zone repeats an hour (the end of daylight saving time) the earlier instant is taken;
 * in a skipped hour (its start) the time is moved on by the gap, as Date does.
 */
export function wallToEpoch(wallMs: number, timeZone: string): number {
  if (timeZone === UTC) return wallMs;
  if (timeZone === 'local') {
    const d = new Date(wallMs);
    return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()).getTime();
  }
  // Offsets either side of the instant: the candidates that read back as this wall time are
  // the answers (two in a repeated hour, none in a skipped one).
  const o1 = offsetAt(wallMs - 86_400_000, timeZone);
  const o2 = offsetAt(wallMs + 86_400_000, timeZone);
  const valid = [wallMs - o1, wallMs - o2].filter((t) => t + offsetAt(t, timeZone) === wallMs);
  if (valid.length > 0) return Math.min(...valid);
  return wallMs - o1;
}

/** Epoch ms of a wall-clock time in a zone (see wallToEpoch). */
export function zonedToEpoch(y: number, mo: number, d: number, h: number, mi: number, s: number, timeZone = UTC): number {
  return wallToEpoch(Date.UTC(y, mo - 1, d, h, mi, s), timeZone);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** "YYYY-MM-DD hh:mm" of an instant in a zone (with ":ss" when the seconds are not 0). */
export function formatInZone(ms: number, timeZone = UTC): string {
  const w = wallClock(ms, timeZone);
  return `${pad(w[0]!, 4)}-${pad(w[1]!)}-${pad(w[2]!)} ${pad(w[3]!)}:${pad(w[4]!)}${w[5] ? `:${pad(w[5])}` : ''}`;
}

/**
 * Wall-clock times of one zone to UTC, fast enough for every row of a flow dump: the offset is
 * found once per 15 minutes of wall-clock time (zones change their offsets on whole quarter
 * hours) and reused for the rows of that slot; a slot with a change in it goes row by row.
 */
export class WallClockZone {
  private slot = Number.NaN;
  private offset = 0;
  private exact = true;

  constructor(readonly timeZone: string) {
    checkTimeZone(timeZone);
  }

  get isUtc(): boolean {
    return this.timeZone === UTC;
  }

  toEpoch(wallMs: number): number {
    if (this.timeZone === UTC) return wallMs;
    const slot = Math.floor(wallMs / 900_000);
    if (slot !== this.slot) {
      this.slot = slot;
      const start = slot * 900_000;
      const a = wallToEpoch(start, this.timeZone);
      const b = wallToEpoch(start + 899_999, this.timeZone);
      // One offset across the slot (the common case) can be reused for every time in it.
      this.exact = b - a === 899_999;
      this.offset = start - a;
    }
    return this.exact ? wallMs - this.offset : wallToEpoch(wallMs, this.timeZone);
  }
}
