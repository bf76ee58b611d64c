import { readFile } from 'node:fs/promises';
import { inputError, excerpt, unreadableFile } from '../errors.js';
import { csvField as cell } from '../io/csv.js';
import { SYNTH_CLASSES, type SynthClass } from './scenario.js';

/**
 * `ground-truth.csv` of a synthetic archive: one row per injected event.
 *
 *     event_id,class,key,host,peer,service,start,end,flows,packets,bytes
 *     e0001,http,dstip,198.51.100.17,10.0.0.11,tcp/443,2026-11-01T00:03:12.345Z,2026-11-01T00:03:13.001Z,1,4321,6400000
 *
 * - `key` names the aggregation the event is keyed by (always `dstip`: `host` is the address
 *   that receives the event's traffic, as in the seed's `nfdump -s dstip` labels);
 * - `start`, `end`: first and last packet toward `host` (ISO 8601, UTC, milliseconds truncated
 *   as nfdump does);
 * - `flows`, `packets`, `bytes`: what nfdump counts for `host` as destination over the event
 *   (bytes = IP total length). `flows` counts one flow per 5-tuple per 5-minute file, as
 *   nfpcapd writes them. Event hosts receive no other traffic, so `nfdump -s dstip` over the
 *   event's files shows exactly these numbers for `host` (summed over the events of a host when
 *   several share it: the mail server, the poller).
 */
export interface GroundTruthRow {
  event_id: string;
  class: SynthClass;
  key: 'dstip';
  host: string;
  peer: string;
  service: string;
  /** ISO 8601 */
  start: string;
  end: string;
  /** epoch ms of start/end (not in the file; parsed from it) */
  startMs: number;
  endMs: number;
  flows: number;
  packets: number;
  bytes: number;
}

export const GROUND_TRUTH_COLUMNS = ['event_id', 'class', 'key', 'host', 'peer', 'service', 'start', 'end', 'flows', 'packets', 'bytes'] as const;


export function formatGroundTruth(rows: readonly GroundTruthRow[]): string {
  const lines = [GROUND_TRUTH_COLUMNS.join(',')];
  for (const r of rows) lines.push(GROUND_TRUTH_COLUMNS.map((c) => cell(String(r[c]))).join(','));
  return `${lines.join('\n')}\n`;
}

/** Splits one CSV line (RFC 4180 quoting, no line breaks inside cells). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quote');
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
    } else {
      const c = line.indexOf(',', i);
      out.push(c < 0 ? line.slice(i) : line.slice(i, c));
      if (c < 0) return out;
      i = c;
    }
    if (i >= line.length) return out;
    if (line[i] !== ',') throw new Error('text after a closing quote');
    i++;
  }
}

export function parseGroundTruth(text: string, file = 'ground-truth.csv'): GroundTruthRow[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/u, ''));
  if (lines[0] !== GROUND_TRUTH_COLUMNS.join(',')) {
    throw inputError(`not a ground-truth file: expected the header ${GROUND_TRUTH_COLUMNS.join(',')}`, { file, line: 1 });
  }
  const rows: GroundTruthRow[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '') continue;
    let cells: string[];
    try {
      cells = splitCsv(line);
    } catch (err) {
      throw inputError(`bad CSV: ${(err as Error).message}`, { file, line: n + 1 });
    }
    if (cells.length !== GROUND_TRUTH_COLUMNS.length) throw inputError(`expected ${GROUND_TRUTH_COLUMNS.length} fields, got ${cells.length}`, { file, line: n + 1 });
    const [event_id, cls, key, host, peer, service, start, end, flows, packets, bytes] = cells as [string, string, string, string, string, string, string, string, string, string, string];
    if (!(SYNTH_CLASSES as readonly string[]).includes(cls)) throw inputError(`unknown class "${excerpt(cls)}" (expected one of ${SYNTH_CLASSES.join(', ')})`, { file, line: n + 1 });
    if (key !== 'dstip') throw inputError(`unknown key "${excerpt(key)}" (expected dstip)`, { file, line: n + 1 });
    const startMs = Date.parse(start);
    const endMs = Date.parse(end);
    const nums = [flows, packets, bytes].map(Number);
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) throw inputError(`bad start/end "${excerpt(start)}", "${excerpt(end)}"`, { file, line: n + 1 });
    if (nums.some((x) => !Number.isSafeInteger(x) || x < 0)) throw inputError('flows, packets and bytes must be whole numbers >= 0', { file, line: n + 1 });
    rows.push({ event_id, class: cls as SynthClass, key, host, peer, service, start, end, startMs, endMs, flows: nums[0]!, packets: nums[1]!, bytes: nums[2]! });
  }
  return rows;
}

export async function readGroundTruth(file: string): Promise<GroundTruthRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw unreadableFile(file, err);
  }
  return parseGroundTruth(text, file);
}
