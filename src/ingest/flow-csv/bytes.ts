/**
 * Byte-level field readers of the flow CSV parser (parser.ts). The fast readers write their
 * value into out[r] and return true, or return false for anything they do not recognise (the
 * parser's slow path, with the text rules of fields.ts, then decides).
 */

export const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/** The range of JavaScript dates (and of parseDateTime). */
export const MAX_TIME_MS = 8.64e15;
const POW10 = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
export const TWO32 = 4294967296;

const utf8 = new TextDecoder('utf-8');
export const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

export function decode(buf: Uint8Array, a: number, b: number): string {
  return utf8.decode(buf.subarray(a, b));
}

/** Trims blanks and tabs: the cells nfdump pads (cl, sl, al) use blanks. */
export function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** Moves `a` past leading blanks (the cells nfdump pads, cl, sl and al, use blanks). */
export function trimStart(buf: Uint8Array, a: number, b: number): number {
  while (a < b && buf[a] === 32) a++;
  return a;
}

export function trimEnd(buf: Uint8Array, a: number, b: number): number {
  while (b > a && buf[b - 1] === 32) b--;
  return b;
}

/*
 * The fast field readers write their value into out[r] and return true, or return false for
 * anything they do not recognise (the slow path then decides). Values never travel as return
 * values: a double returned from a function that is not inlined is a heap allocation.
 */

/** A whole number of at most 15 digits. */
export function uintInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n === 0 || n > 15) return false;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  out[r] = v;
  return true;
}

/**
 * `123` or `123.456` (at most 15 digits in all): the integer of all digits divided by a power
 * of ten. Both are exact doubles and IEEE division rounds correctly, so this is the double
 * nearest the decimal, as Number() gives.
 */
export function decimalInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  if (b - a === 0 || b - a > 16) return false;
  let v = 0;
  let i = a;
  for (; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  if (i === a) return false;
  if (i === b) {
    if (b - a > 15) return false;
    out[r] = v;
    return true;
  }
  if (buf[i] !== 46 || i + 1 === b) return false;
  const fracStart = ++i;
  for (; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  out[r] = v / POW10[b - fracStart]!;
  return true;
}

function digit2(buf: Uint8Array, i: number): number {
  const a = buf[i]! - 48;
  const b = buf[i + 1]! - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Day numbers of the last date seen: dumps hold few distinct dates. */
let lastDateKey = -1;
let lastDateDays = 0;

/**
 * `YYYY-MM-DD hh:mm:ss[.f[f[f]]]` (or `T` between) as epoch ms, read as UTC; false when the
 * text is not that, or not a real date and time (parseDateTime then gives the message).
 */
export function timeInto(buf: Uint8Array, a: number, b: number, out: Float64Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n !== 19 && (n < 21 || n > 23)) return false;
  const c = buf[a + 10];
  if (buf[a + 4] !== 45 || buf[a + 7] !== 45 || (c !== 32 && c !== 84) || buf[a + 13] !== 58 || buf[a + 16] !== 58) return false;
  const y1 = digit2(buf, a);
  const y2 = digit2(buf, a + 2);
  const mo = digit2(buf, a + 5);
  const d = digit2(buf, a + 8);
  const h = digit2(buf, a + 11);
  const mi = digit2(buf, a + 14);
  const s = digit2(buf, a + 17);
  if ((y1 | y2 | mo | d | h | mi | s) < 0) return false;
  if (h > 23 || mi > 59 || s > 59) return false;
  const key = (y1 * 100 + y2) * 10000 + mo * 100 + d;
  let days = lastDateDays;
  if (key !== lastDateKey) {
    const y = y1 * 100 + y2;
    // Date.UTC reads years 0..99 as 1900..1999, so parseDateTime refuses them.
    if (y < 100 || mo < 1 || mo > 12 || d < 1) return false;
    const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
    if (d > DAYS_IN_MONTH[mo]! + (leap ? 1 : 0)) return false;
    days = daysFromCivil(y, mo, d);
    lastDateKey = key;
    lastDateDays = days;
  }
  let ms = 0;
  if (n > 19) {
    if (buf[a + 19] !== 46) return false;
    let scale = 100;
    for (let i = a + 20; i < b; i++) {
      const x = buf[i]! - 48;
      if (x < 0 || x > 9) return false;
      ms += x * scale;
      scale /= 10;
    }
  }
  out[r] = days * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + ms;
  return true;
}

/** A port `0`..`65535` of at most 5 digits (not ICMP's type.code: the slow path reads it). */
export function portInto(buf: Uint8Array, a: number, b: number, out: Int32Array, r: number): boolean {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n === 0 || n > 5) return false;
  let v = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  if (v > 65535) return false;
  out[r] = v;
  return true;
}
