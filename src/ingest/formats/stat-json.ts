import { excerpt } from '../../errors.js';
import { nfdumpDurationMs } from '../../features/aggregate.js';
import { buildTable, type ColumnValues } from '../../schema/arrow.js';
import { StatColumns, statSchema } from '../../schema/tables.js';
import { protoName } from '../csv.js';
import { checkCount, checkDuration, checkKey, checkRate, parseDateTime } from '../fields.js';
import type { InputFormat, OpenOptions, SniffHead } from '../format.js';
import { LineIssues } from '../issues.js';
import { JsonObjectSplitter } from './json-objects.js';
import { checkShare, statMeta, statThreshold } from './stat-common.js';
import { WholeTextReader } from './text.js';

/**
 * nfdump's statistics as JSON (`nfdump -s dstip/pps/bps -o json` or `-o ndjson`, 1.7.5+): one
 * object per aggregate and line,
 *
 *   { "first" : "2026-11-01T10:08:50.788", "last" : "2026-11-01T10:08:51.362", "proto" : 0,
 *     "dstip" : "192.0.2.77", "flows" : 1, "packets" : 2, "bytes" : 80, "pps" : 3,
 *     "bps" : 1114, "bpp" : 40}
 *
 * The element is under the statistic's name (`dstip`, `srcip`, `dstport`, ...): the one key
 * that is none of the others. First and last seen carry milliseconds, so the duration is exact.
 * The tables of several orders follow each other with nothing between them: an element seen
 * again starts the next table (as in `-q` text, stat-text.ts), so each aggregate is classified
 * once. (1.6 prints text for `-s ... -o json`, 1.7.1 nothing.)
 */

const KNOWN = new Set(['first', 'last', 'proto', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp', 'geo']);
const MASKED = /^[Xx.:]+$/u;

export const statJsonFormat: InputFormat = {
  name: 'stat-json',
  kind: 'stat',
  description: 'nfdump statistics as JSON (nfdump -s dstip/pps/bps -o json or ndjson, 1.7.5+)',
  sniff: (head: SniffHead) => {
    const first = head.lines.find((l) => l.trim() !== '' && !/^No match(ing|ed) flows$/iu.test(l.trim()));
    return first !== undefined && first.trimStart().startsWith('{') && /"bpp"\s*:/u.test(first) && /"flows"\s*:/u.test(first) && !/"in_packets"/u.test(first);
  },
  open: async (file, options) => new WholeTextReader(file, 'stat-json', 'stat', (text) => parseStatJson(text, file, options)),
};

export function parseStatJson(text: string, file: string, options: OpenOptions) {
  const issues = new LineIssues(file, statThreshold(options));
  const cols = new StatColumns();
  const splitter = new JsonObjectSplitter(file);
  const records = splitter.push(text);
  splitter.end();
  let section = 0;
  let seen = new Set<string>();
  for (const rec of records) {
    const v = rec.value;
    const fail = (why: string) => issues.reject(rec.line, why, rec.text);
    if ('error' in v) {
      fail(v.error as string);
      continue;
    }
    const elementKeys = Object.keys(v).filter((k) => !KNOWN.has(k));
    if (elementKeys.length !== 1) {
      fail(`expected one element key besides ${[...KNOWN].join(', ')}, got ${elementKeys.length === 0 ? 'none' : excerpt(elementKeys.join(', '), 60)}`);
      continue;
    }
    const stat = elementKeys[0]!;
    const key = typeof v[stat] === 'string' ? (v[stat] as string).trim() : typeof v[stat] === 'number' ? String(v[stat]) : '';
    const first = typeof v.first === 'string' ? parseDateTime(v.first, options.zone) : undefined;
    const last = typeof v.last === 'string' ? parseDateTime(v.last, options.zone) : undefined;
    const bad =
      checkKey(stat, key) ??
      (first?.ok ? undefined : `first: expected a time like 2026-11-01T10:08:50.788`) ??
      (last?.ok ? undefined : `last: expected a time like 2026-11-01T10:08:51.362`) ??
      (['flows', 'packets', 'bytes'] as const).map((n) => (typeof v[n] === 'number' ? checkCount(n, v[n] as number, String(v[n])) : `${n}: expected a number`)).find((x) => x) ??
      (['pps', 'bps', 'bpp'] as const).map((n) => (typeof v[n] === 'number' ? checkRate(n, v[n] as number, String(v[n])) : `${n}: expected a number`)).find((x) => x);
    if (bad) {
      fail(bad);
      continue;
    }
    const firstMs = (first as { value: number }).value;
    const lastMs = (last as { value: number }).value;
    if (lastMs < firstMs) {
      fail('last: expected a time at or after first');
      continue;
    }
    const durationS = nfdumpDurationMs(firstMs, lastMs) / 1000;
    const badDuration = checkDuration('last - first', durationS, String(durationS));
    if (badDuration) {
      fail(badDuration);
      continue;
    }
    const proto = typeof v.proto === 'number' && v.proto !== 0 ? protoName(String(v.proto)) : 'any';
    if (!MASKED.test(key)) {
      const id = `${proto}|${key}`;
      if (seen.has(id)) {
        section++;
        seen = new Set();
      }
      seen.add(id);
    }
    cols.first_seen.push(firstMs);
    cols.last_seen.push(lastMs);
    cols.duration_s.push(durationS);
    cols.proto.push(proto);
    cols.key.push(key);
    cols.flows.push(v.flows as number);
    cols.flows_pct.push(null);
    cols.packets.push(v.packets as number);
    cols.packets_pct.push(null);
    cols.bytes.push(v.bytes as number);
    cols.bytes_pct.push(null);
    cols.pps.push(v.pps as number);
    cols.bps.push(v.bps as number);
    cols.bpp.push(v.bpp as number);
    cols.section.push(section);
    cols.ordered_by.push(null);
    cols.note.push(null);
    cols.source_file.push(file);
    cols.source_line.push(rec.line);
  }
  issues.finish(cols.length, 'nfdump JSON statistics records', splitter.noMatch && issues.rejects.length === 0);
  checkShare(file, cols.length, issues.rejects, options);
  const table = buildTable(statSchema(statMeta(file, 'stat-json', options)), cols as unknown as Record<string, ColumnValues>, cols.length);
  return { table, rejects: issues.rejects };
}
