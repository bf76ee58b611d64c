import { excerpt } from '../../errors.js';
import type { WallClockZone } from '../../io/time-zone.js';
import { protoName } from '../csv.js';
import { checkDuration, parseDateTime, parsePlainNumber } from '../fields.js';
import { decode, MAX_COUNT, MAX_TIME_MS, trimEnd, trimStart, utf8Fatal } from './bytes.js';
import { asciiInto, type Utf8Builder } from './columns.js';

/**
 * The flow CSV parser's cells beyond its fast paths: text cells (addresses, protocol, flags)
 * and the slow readers of times, durations, counts and ports, for what the byte readers of
 * bytes.ts leave (blanks, exponents, ICMP type.code, local times). Each returns undefined when
 * the cell was read into its column, or the reason the row is rejected.
 */

/** Encoded protocol names for the numbers nfdump 1.7.5+ prints (protoName of csv.ts). */
const PROTO_BY_NUMBER: (Uint8Array | undefined)[] = Array.from({ length: 256 }, (_, i) => {
  const name = protoName(String(i));
  return name === String(i) ? undefined : new TextEncoder().encode(name);
});

/**
 * Appends a text cell (trimmed) to a Utf8 column and sets its end offset for row r.
 * Printable ASCII is copied as is; anything else is checked as UTF-8 (fatal decoder) and
 * trimmed as String.prototype.trim does, as parseFlowCsv's cells are.
 */
export function textCell(col: Utf8Builder, buf: Buffer, a: number, b: number, name: string, r: number): string | undefined {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  if (asciiInto(col, buf, a, b, r)) return undefined;
  return unusualInto(col, buf, a, b, name, r, (t) => t);
}

/** The protocol: 1.7.5+ prints numbers; they become the names 1.7.1 printed (protoName). */
export function protoCell(col: Utf8Builder, buf: Buffer, a: number, b: number, r: number): string | undefined {
  a = trimStart(buf, a, b);
  b = trimEnd(buf, a, b);
  const n = b - a;
  if (n >= 1 && n <= 3 && (n === 1 || buf[a] !== 48)) {
    let v = 0;
    let i = a;
    for (; i < b; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    const name = i === b && v < 256 ? PROTO_BY_NUMBER[v] : undefined;
    if (name !== undefined && asciiInto(col, name, 0, name.length, r)) return undefined;
  }
  if (asciiInto(col, buf, a, b, r)) return undefined;
  return unusualInto(col, buf, a, b, 'protocol', r, protoName);
}

/** A cell with blanks inside or bytes outside printable ASCII: checked, decoded, trimmed, mapped, appended. */
function unusualInto(col: Utf8Builder, buf: Buffer, a: number, b: number, name: string, r: number, map: (text: string) => string): string | undefined {
  let text: string;
  try {
    text = utf8Fatal.decode(buf.subarray(a, b));
  } catch {
    return `${name}: not valid UTF-8 text ("${excerpt(decode(buf, a, b), 40)}")`;
  }
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/u.test(text)) return `${name}: control characters in ${JSON.stringify(excerpt(text, 40))}`;
  const bytes = Buffer.from(map(text.trim()), 'utf8');
  if (col.end + bytes.length > col.data.length) col.grow(col.end + bytes.length);
  col.data.set(bytes, col.end);
  col.end += bytes.length;
  col.offsets[r + 1] = col.end;
  return undefined;
}

/** A time as the whole-text reader takes it: epoch seconds or milliseconds, or a date and time in `zone` (UTC when undefined). */
export function slowTime(buf: Buffer, a: number, b: number, name: string, out: Float64Array, r: number, zone: WallClockZone | undefined): string | undefined {
  const t = decode(buf, a, b).trim();
  let v: number;
  // csv-fast prints 0 for a record without times.
  if (/^\d{10,}$/u.test(t) || /^0+$/u.test(t)) {
    // Later nfdump releases may print epoch milliseconds (as csv.ts reads them).
    v = Number(t) * (t.length <= 10 ? 1000 : 1);
  } else {
    const p = parseDateTime(t, zone);
    if (!p.ok) return `${name}: expected ${p.expected}`;
    v = p.value;
  }
  if (!(v <= MAX_TIME_MS)) return `${name}: "${excerpt(t, 30)}" is past the year 275760`;
  out[r] = v;
  return undefined;
}

export function slowDuration(buf: Buffer, a: number, b: number, out: Float64Array, r: number): string | undefined {
  const t = decode(buf, a, b).trim();
  const p = parsePlainNumber(t);
  if (!p.ok) return `duration: expected ${p.expected}`;
  if (p.value < 0) return `duration: negative (${excerpt(t, 30)} s)`;
  const bad = checkDuration('duration', p.value, t);
  if (bad) return bad;
  out[r] = p.value;
  return undefined;
}

export function slowCount(buf: Buffer, a: number, b: number, name: string, out: Float64Array, r: number): string | undefined {
  const t = decode(buf, a, b).trim();
  const p = parsePlainNumber(t);
  if (!p.ok) return `${name}: expected ${p.expected}`;
  const v = p.value;
  if (v < 0) return `${name}: negative (${excerpt(t, 30)})`;
  if (!(v <= MAX_COUNT)) return `${name}: ${excerpt(t, 30)} is above 2^53 - 1 (9007199254740991), the largest count a double holds exactly`;
  if (!Number.isInteger(v)) return `${name}: expected a whole number, got "${excerpt(t, 30)}"`;
  out[r] = v;
  return undefined;
}

export function slowPort(buf: Buffer, a: number, b: number, name: string, out: Int32Array, r: number): string | undefined {
  const t = decode(buf, a, b).trim();
  const icmp = /^(\d+)\.(\d+)$/u.exec(t);
  if (icmp) {
    // ICMP type.code (1.7.5+) as nfdump stores it: type * 256 + code.
    const type = Number(icmp[1]);
    const code = Number(icmp[2]);
    if (!(type <= 255 && code <= 255)) return `${name}: expected an ICMP type.code with both parts 0..255, got "${excerpt(t, 30)}"`;
    out[r] = type * 256 + code;
    return undefined;
  }
  if (!/^\d+$/u.test(t) || Number(t) > 65535) return `${name}: expected a port 0..65535, got "${excerpt(t, 30)}"`;
  out[r] = Number(t);
  return undefined;
}
