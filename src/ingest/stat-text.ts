import { excerpt } from '../errors.js';
import type { WallClockZone } from '../io/time-zone.js';
import { StatColumns } from '../schema/tables.js';
import { checkCount, checkDuration, checkKey, checkNote, checkRate, parseDateTime, parseDuration, parseHumanNumber, type Parsed } from './fields.js';
import { CUT_SHORT } from './csv.js';
import { LineIssues, type ParseOptions } from './issues.js';

/**
 * nfdump text statistics (`nfdump -s dstip/pps/bps`), as nfdump 1.6 and 1.7 print them:
 *
 *   Date first seen          Duration Proto  Dst IP Addr  Flows(%)  Packets(%)  Bytes(%)  pps  bps  bpp
 *   2015-02-26 14:01:11.476     2.904 any   XXX.XXX.XXX.XXX  1( 0.0)  35252( 0.0)  52.6 M( 0.0)  12139  144.8 M  1491
 *
 * 1.7 prints durations as `00:00:02.904` (and `1d 02:00:00.000` past a day), and numbers
 * with or without a blank before the unit. Data lines start with a date; `#` and `;` lines are
 * comments; nfdump's own headings and summary lines are recognised and skipped; anything else
 * is an error, so that a file that is not nfdump output is not read as an empty one.
 *
 * - 1.7.5+ ends with `Total records processed: ...` (before: `Total flows processed: ...`).
 * - `-q` prints no headings: the tables of several orders then follow each other with nothing
 *   between them. Each table lists an element once, so an element (and protocol) seen again
 *   starts the next table (section), and each aggregate is classified once (sections.ts).
 *   Masked elements (the seed's XXX.XXX.XXX.XXX) cannot tell, and leave the rows in one table.
 * - Nothing found: 1.7 prints `No matching flows` (1.7.5+ before its headings), 1.6 only
 *   headings and `Summary: total flows: 0, ...`. Either is an input without rows, not an
 *   error; headings with no rows and no such line still are (a cut or edited file).
 * - nfdump ends every line with a newline: a last line without one was cut short, and a data
 *   line cut there is rejected rather than read with a shortened last number.
 * - Times are nfdump's local time, read in `options.zone` (default UTC).
 */

const DATA_LINE = /^\d{4}-\d{2}-\d{2}[ T]\d/u;
// 1.6: "Top 10 Dst IP Addr ordered by pps:"; 1.7 with -n 0: "Top Dst IP Addr ordered by pps:".
const SECTION = /^Top\s+(?:\d+\s+)?(.+?)\s+ordered by\s+(\w+)\s*:?\s*$/iu;
/** Lines nfdump writes around the tables (1.6 and 1.7). */
const NFDUMP_CHROME = [
  /^Date first seen\s/iu,
  /^Summary:/iu,
  /^Time window:/iu,
  /^Total flows processed:/iu,
  /^Total records processed:/iu,
  /^Sys:/iu,
  /^Aggregated flows/iu,
  /^Top flows ordered by/iu,
  /^No matched flows/iu,
];
const NO_MATCH = /^No match(?:ing|ed) flows/iu;
const MASKED = /^[Xx.:]+$/u;
const ZERO_TOTAL = /^Summary: total flows: 0,/iu;

export function parseStatText(text: string, file: string, options: ParseOptions = {}): { columns: StatColumns; issues: LineIssues } {
  const cols = new StatColumns();
  const issues = new LineIssues(file, options);
  let orderedBy: string | null = null;
  let section = -1;
  let headings = false;
  let sawNfdumpText = false;
  let nothingFound = false;
  // -q output: the elements of the current table, to tell where the next one starts.
  let seen = new Set<string>();
  let quietSection = 0;
  const lines = text.split('\n');
  const cutShort = lines.length > 0 && lines[lines.length - 1] !== '';
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/u, '');
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (DATA_LINE.test(line)) {
      if (cutShort && i === lines.length - 1) {
        issues.reject(lineNo, CUT_SHORT, raw);
        continue;
      }
      const row = parseStatLine(line, options.zone);
      if ('expected' in row) {
        issues.reject(lineNo, row.expected, raw);
        continue;
      }
      let at = Math.max(section, 0);
      // Masked elements (XXX.XXX.XXX.XXX) say nothing about where a table starts.
      if (!headings && !MASKED.test(row.key)) {
        const id = `${row.proto}|${row.key}`;
        if (seen.has(id)) {
          quietSection++;
          seen = new Set();
        }
        seen.add(id);
        at = quietSection;
      }
      cols.first_seen.push(row.firstSeen);
      cols.last_seen.push(null);
      cols.duration_s.push(row.duration);
      cols.proto.push(row.proto);
      cols.key.push(row.key);
      cols.flows.push(row.flows);
      cols.flows_pct.push(row.flowsPct);
      cols.packets.push(row.packets);
      cols.packets_pct.push(row.packetsPct);
      cols.bytes.push(row.bytes);
      cols.bytes_pct.push(row.bytesPct);
      cols.pps.push(row.pps);
      cols.bps.push(row.bps);
      cols.bpp.push(row.bpp);
      cols.section.push(at);
      cols.ordered_by.push(orderedBy);
      cols.note.push(row.note);
      cols.source_file.push(file);
      cols.source_line.push(lineNo);
      continue;
    }
    const heading = SECTION.exec(line);
    if (heading) {
      orderedBy = heading[2]!.toLowerCase();
      section++;
      headings = true;
      sawNfdumpText = true;
      continue;
    }
    if (NO_MATCH.test(line) || ZERO_TOTAL.test(line)) {
      nothingFound = true;
      sawNfdumpText = true;
      continue;
    }
    if (NFDUMP_CHROME.some((re) => re.test(line))) {
      sawNfdumpText = true;
      continue;
    }
    issues.reject(
      lineNo,
      `expected an nfdump statistics line starting with "YYYY-MM-DD hh:mm:ss", a "#" comment or an nfdump heading, got "${excerpt(line, 60)}"`,
      raw,
      cols.length === 0 && !sawNfdumpText ? 'is this nfdump text statistics output (nfdump -s dstip/pps/bps)?' : undefined,
    );
  }
  issues.finish(cols.length, 'nfdump statistics lines (YYYY-MM-DD hh:mm:ss.mmm duration proto address flows packets bytes pps bps bpp)', nothingFound && issues.rejects.length === 0);
  return { columns: cols, issues };
}

interface StatLine {
  firstSeen: number;
  duration: number;
  proto: string;
  key: string;
  flows: number;
  flowsPct: number | null;
  packets: number;
  packetsPct: number | null;
  bytes: number;
  bytesPct: number | null;
  pps: number;
  bps: number;
  bpp: number;
  note: string | null;
}

/**
 * Reads one data line left to right with a cursor, so that an error can say which column was
 * wrong and what it should have been, rather than "line did not match".
 */
export function parseStatLine(line: string, zone?: WallClockZone): StatLine | { expected: string } {
  let note: string | null = null;
  let body = line;
  const hash = line.indexOf('#');
  if (hash >= 0) {
    note = line.slice(hash + 1).trim() || null;
    body = line.slice(0, hash);
    const bad = note === null ? undefined : checkNote(note);
    if (bad) return { expected: bad };
  }
  const tokens = body.trim().split(/\s+/u);
  let pos = 0;
  const next = (what: string): string | { expected: string } => {
    const t = tokens[pos++];
    return t === undefined ? { expected: `${what} after column ${pos - 1}, but the line ends there (truncated line?)` } : t;
  };
  const fail = (field: string, p: Parsed<unknown>): { expected: string } => ({
    expected: `${field}: expected ${(p as { expected: string }).expected}`,
  });

  const date = next('the date first seen');
  if (typeof date !== 'string') return date;
  const time = next('the time first seen');
  if (typeof time !== 'string') return time;
  const firstSeen = parseDateTime(`${date} ${time}`, zone);
  if (!firstSeen.ok) return fail('date first seen', firstSeen);

  // 1.7 writes durations past a day as "1d 02:03:04.000": two tokens.
  let durText = next('the duration');
  if (typeof durText !== 'string') return durText;
  if (/^\d+d$/u.test(durText)) {
    const rest = next('the duration (hh:mm:ss.mmm after the day count)');
    if (typeof rest !== 'string') return rest;
    durText = `${durText} ${rest}`;
  }
  const parsedDuration = parseDuration(durText);
  if (!parsedDuration.ok) return fail('duration', parsedDuration);
  // An aggregate holding records without times (first seen 0): nfdump's rates take its
  // duration as 0, while its text prints the raw difference (decades). See nfdumpDurationMs.
  const duration = firstSeen.value === 0 ? { ok: true as const, value: 0 } : parsedDuration;
  const badDuration = checkDuration('duration', duration.value, durText);
  if (badDuration) return { expected: badDuration };

  const proto = next('the protocol');
  if (typeof proto !== 'string') return proto;
  const key = next('the address (or other aggregated element)');
  if (typeof key !== 'string') return key;
  const badKey = checkKey('address', key);
  if (badKey) return { expected: badKey };

  const counted: { value: number; pct: number | null }[] = [];
  for (const name of ['flows', 'packets', 'bytes'] as const) {
    const r = readCounted(tokens, pos, name);
    if ('expected' in r) return r;
    const bad = checkCount(name, r.value, tokens.slice(pos, r.pos).join(' ')) ?? (r.pct === null ? undefined : checkRate(`${name} %`, r.pct, String(r.pct)));
    if (bad) return { expected: bad };
    pos = r.pos;
    counted.push(r);
  }
  const rates: number[] = [];
  for (const name of ['pps', 'bps', 'bpp'] as const) {
    const r = readNumberWithUnit(tokens, pos, name);
    if ('expected' in r) return r;
    const bad = checkRate(name, r.value, tokens.slice(pos, r.pos).join(' '));
    if (bad) return { expected: bad };
    pos = r.pos;
    rates.push(r.value);
  }
  if (pos < tokens.length) {
    return { expected: `end of line after bpp, got "${excerpt(tokens.slice(pos).join(' '), 40)}"` };
  }
  return {
    firstSeen: firstSeen.value,
    duration: duration.value,
    proto,
    key,
    flows: counted[0]!.value,
    flowsPct: counted[0]!.pct,
    packets: counted[1]!.value,
    packetsPct: counted[1]!.pct,
    bytes: counted[2]!.value,
    bytesPct: counted[2]!.pct,
    pps: rates[0]!,
    bps: rates[1]!,
    bpp: rates[2]!,
    note,
  };
}

/** A number with an optional unit that may stand in its own token: `1.3 M`, `1.3M`, `127800`. */
function readNumberWithUnit(tokens: string[], pos: number, field: string): { value: number; pos: number } | { expected: string } {
  const t = tokens[pos];
  if (t === undefined) return { expected: `${field}: expected a number, but the line ends before it (truncated line?)` };
  let text = t;
  let used = 1;
  const unitToken = tokens[pos + 1];
  if (/^[+-]?\d+(?:\.\d+)?$/u.test(t) && unitToken !== undefined && /^[A-Za-z]$/u.test(unitToken)) {
    text = `${t} ${unitToken}`;
    used = 2;
  }
  const v = parseHumanNumber(text);
  if (!v.ok) return { expected: `${field}: expected ${v.expected}` };
  return { value: v.value, pos: pos + used };
}

/**
 * A count with its share: `35252( 0.0)`, `52.6 M( 0.0)`, `1.3M(10.5)`. The share may be split
 * from the number and padded inside the parentheses.
 */
function readCounted(tokens: string[], pos: number, field: string): { value: number; pct: number | null; pos: number } | { expected: string } {
  // Re-join the tokens of this column up to the closing parenthesis.
  let text = '';
  let p = pos;
  while (p < tokens.length) {
    text += (text ? ' ' : '') + tokens[p];
    p++;
    if (text.includes(')')) break;
    if (!text.includes('(') && p < tokens.length && !/^[A-Za-z(]/u.test(tokens[p]!) && !tokens[p]!.startsWith('(')) break;
  }
  if (text === '') return { expected: `${field}: expected a count like 35252( 0.0), but the line ends before it (truncated line?)` };
  const open = text.indexOf('(');
  if (open < 0) {
    // Some outputs (e.g. hand-trimmed) omit the share.
    const v = parseHumanNumber(text);
    if (!v.ok) return { expected: `${field}: expected ${v.expected}` };
    return { value: v.value, pct: null, pos: p };
  }
  const close = text.indexOf(')', open);
  if (close < 0) return { expected: `${field}: expected a share in parentheses like ( 0.6), got "${text}" (truncated line?)` };
  const v = parseHumanNumber(text.slice(0, open));
  if (!v.ok) return { expected: `${field}: expected ${v.expected}` };
  const pctText = text.slice(open + 1, close).trim();
  const pct = /^-?\d+(?:\.\d+)?$/u.test(pctText) ? Number(pctText) : null;
  if (pct === null && !/^-?nan$/iu.test(pctText)) return { expected: `${field}: expected a share like ( 0.6), got "(${pctText})"` };
  const after = text.slice(close + 1).trim();
  if (after !== '') return { expected: `${field}: expected a blank after "(${pctText})", got "${after}"` };
  return { value: v.value, pct, pos: p };
}
