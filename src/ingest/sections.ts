import type { Table } from 'apache-arrow';
import { numberColumn, stringColumn } from '../schema/arrow.js';

/**
 * `nfdump -s dstip/pps/bps` prints one table per order, each listing the same hosts. Rows of a
 * later table (section > 0) that repeat a row of an earlier table of the same file (same key,
 * first seen, duration, flows, packets and bytes) are the same aggregate printed again: this
 * returns the rows to keep, in order, so each aggregate is classified once.
 */
export function uniqueRows(table: Table): number[] {
  const section = numberColumn(table, 'section');
  if (!section || section.every((s) => s === 0)) return Array.from({ length: table.numRows }, (_, i) => i);
  const cols = ['key', 'source_file'].map((c) => stringColumn(table, c) ?? []);
  const nums = ['first_seen', 'duration_s', 'flows', 'packets', 'bytes'].map((c) => numberColumn(table, c) ?? new Float64Array(table.numRows));
  const seen = new Set<string>();
  const keep: number[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const id = JSON.stringify([...cols.map((c) => c[i]), ...nums.map((c) => c[i])]);
    if (section[i]! > 0 && seen.has(id)) continue;
    seen.add(id);
    keep.push(i);
  }
  return keep;
}
