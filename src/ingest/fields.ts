import { excerpt } from '../errors.js';
import type { WallClockZone } from '../io/time-zone.js';

/**
 * Field readers shared by the nfdump parsers. Each returns the value or a message saying what
 * was expected; the parser adds file and line.
 */

/** nfdump's human units are decimal (format_number in nfdump: 1 k = 1000), in both 1.6 and
 *  1.7; `k` and `K` both occur. */
const UNIT_EXPONENT: Readonly<Record<string, number>> = { k: 3, K: 3, M: 6, G: 9, T: 12 };

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/u;

/**
 * A number as nfdump prints it: `127800`, `1.3 M`, `1.3M`, `52.6 G`. The unit is applied by
 * rewriting `1.3 M` as `1.3e6` before conversion, so the result is the nearest double to the
 * decimal value (`1.3 * 1e6` would round twice).
 */
export function parseHumanNumber(text: string): Parsed<number> {
  const t = text.trim();
  const m = /^([+-]?\d+(?:\.\d+)?)\s?([A-Za-z])?$/u.exec(t);
  if (!m) return { ok: false, expected: `a number like 1234, 1.3 M or 1.3M, got "${excerpt(t, 60)}"` };
  const unit = m[2];
  if (unit === undefined) return { ok: true, value: Number(m[1]) };
  const exp = UNIT_EXPONENT[unit];
  if (exp === undefined) return { ok: false, expected: `a unit k, K, M, G or T after the number, got "${excerpt(t, 60)}"` };
  return { ok: true, value: Number(`${m[1]}e${exp}`) };
}

/** A plain decimal number (CSV cells): no units, no blanks. */
export function parsePlainNumber(text: string): Parsed<number> {
  const t = text.trim();
  if (!NUMBER_RE.test(t)) return { ok: false, expected: `a number, got "${excerpt(t, 60)}"` };
  return { ok: true, value: Number(t) };
}

/**
 * A duration as nfdump prints it: seconds with milliseconds (`387.262`, nfdump 1.6), or
 * `HH:MM:SS.mmm` with an optional `Nd ` day prefix (nfdump 1.7).
 */
export function parseDuration(text: string): Parsed<number> {
  const t = text.trim();
  if (/^\d+(?:\.\d+)?$/u.test(t)) return { ok: true, value: Number(t) };
  const m = /^(?:(\d+)d\s*)?(\d+):([0-5]\d):([0-5]\d)(?:\.(\d{1,3}))?$/u.exec(t);
  if (!m) return { ok: false, expected: `a duration like 387.262 or 00:06:27.262, got "${excerpt(t, 60)}"` };
  const ms = m[5] === undefined ? 0 : Number(m[5].padEnd(3, '0'));
  const totalMs = (((Number(m[1] ?? 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4])) * 1000 + ms;
  // Integer milliseconds divided once: 387262 / 1000 is the same double as parsing "387.262".
  return { ok: true, value: totalMs / 1000 };
}

/**
 * `YYYY-MM-DD hh:mm:ss[.mmm]` as nfdump prints it: local time of the machine that ran nfdump,
 * read in `zone` (absent: UTC; see src/io/time-zone.ts). Returns epoch milliseconds.
 *
 * A flow record without times (its exporter or collector left them 0) is printed by nfdump
 * 1.7.5+ as `0000-00-00 00:00:00.000`: read as time 0, which the aggregation leaves out (see
 * FlowAggregator).
 */
export function parseDateTime(text: string, zone?: WallClockZone): Parsed<number> {
  if (/^0000-00-00[ T]00:00:00(?:\.0{1,3})?$/u.test(text.trim())) return { ok: true, value: 0 };
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/u.exec(text.trim());
  if (!m) return { ok: false, expected: `a time like 2015-02-26 14:01:11.476, got "${excerpt(text.trim(), 60)}"` };
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  const value = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  // Date.UTC rolls 2015-02-30 over into March: read the fields back to catch impossible dates.
  const back = new Date(value);
  if (
    Number.isNaN(value) ||
    back.getUTCFullYear() !== Number(m[1]) ||
    back.getUTCMonth() !== Number(m[2]) - 1 ||
    back.getUTCDate() !== Number(m[3]) ||
    back.getUTCHours() !== Number(m[4]) ||
    back.getUTCMinutes() !== Number(m[5]) ||
    back.getUTCSeconds() !== Number(m[6])
  ) {
    return { ok: false, expected: `a valid date and time, got "${excerpt(text.trim(), 60)}"` };
  }
  return { ok: true, value: zone ? zone.toEpoch(value) : value };
}

/*
 * Range rules, one set for every statistics reader (text, CSV, JSON): a value outside them is
 * a damaged field, rejected with what was expected, never stored.
 */

/** Ten years: no flow or aggregate lasts longer; a larger duration is a damaged field. */
export const MAX_DURATION_S = 10 * 365.25 * 86400;

/** A counter (flows, packets, bytes): a whole number from 0 to 2^53 - 1 (beyond that a double
 *  no longer holds it exactly). */
export function checkCount(name: string, v: number, text: string): string | undefined {
  if (!Number.isSafeInteger(v) || v < 0) return `${name}: expected a whole number from 0 to 2^53 - 1, got "${clip(text)}"`;
  return undefined;
}

/** A rate or share as nfdump prints it: finite, not negative, and below 2^53. */
export function checkRate(name: string, v: number, text: string): string | undefined {
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER)) return `${name}: expected a number from 0 to 2^53 - 1, got "${clip(text)}"`;
  return undefined;
}

export function checkDuration(name: string, v: number, text: string): string | undefined {
  if (v >= NEGATIVE_DURATION_S) return `${name}: ${clip(text)} s is a negative duration as nfdump prints it (last seen before first seen): the collector stored this flow's times swapped or damaged`;
  if (!(v >= 0 && v <= MAX_DURATION_S)) return `${name}: expected a duration from 0 to 10 years in seconds, got "${clip(text)}"`;
  return undefined;
}

/**
 * nfdump computes durations as unsigned 64-bit milliseconds: a flow whose last seen lies before
 * its first seen prints as about 2^64 / 1000 = 1.8e16 s (18446744073709544.000).
 */
export const NEGATIVE_DURATION_S = 1.8e16;

/** Longest aggregated element kept (an IPv6 address is at most 45 characters). */
export const MAX_KEY_LENGTH = 128;

/**
 * The aggregated element as nfdump prints it: an address (IPv4, IPv6, masked
 * `XXX.XXX.XXX.XXX`), a port, a protocol, an AS number, a MAC, ...: printable ASCII, at most
 * 128 characters.
 */
export function checkKey(name: string, key: string): string | undefined {
  if (key === '') return `${name}: expected the aggregated element (an address, a port, ...), got an empty field`;
  if (key.length > MAX_KEY_LENGTH) return `${name}: expected at most ${MAX_KEY_LENGTH} characters (an address, a port, ...), got ${key.length}`;
  if (!/^[\x20-\x7e]+$/u.test(key)) return `${name}: expected printable ASCII as nfdump prints elements, got ${JSON.stringify(clip(key))}`;
  return undefined;
}

/** Free text kept from a line (a note after `#`): no control characters, at most 500. */
export function checkNote(note: string): string | undefined {
  if (note.length > 500) return `the note after "#" is longer than 500 characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f\ufffd]/u.test(note)) return `the note after "#" holds control characters or undecodable bytes`;
  return undefined;
}

function clip(text: string): string {
  const t = text.trim();
  return t.length <= 40 ? t : `${t.slice(0, 40)}...`;
}
