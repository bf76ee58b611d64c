import type { LiveResult } from '../pipeline/live.js';
import type { Table } from 'apache-arrow';
import { stringColumn, numberColumn } from '../schema/arrow.js';
import { excerpt } from '../errors.js';

/** nfdump's own human style for big counts: 1.3 M, 20.1 G (decimal units). */
export function human(v: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
  ];
  for (const [scale, unit] of units) if (Math.abs(v) >= scale) return `${(v / scale).toFixed(1)} ${unit}`;
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

/**
 * One block per classified row: where it came from, its seven features, the prediction with
 * its probability, and the neighbours (label, distance) nearest first.
 */
export function formatPredictions(table: Table, k: number): string {
  const key = stringColumn(table, 'key')!;
  const file = stringColumn(table, 'source_file')!;
  const line = numberColumn(table, 'source_line')!;
  const note = stringColumn(table, 'note')!;
  const first = table.getChild('first_seen')!;
  const predicted = stringColumn(table, 'predicted')!;
  const prob = numberColumn(table, 'probability')!;
  const feats = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'].map((c) => numberColumn(table, c));
  const nLabels = table.getChild('neighbour_labels')!;
  const nDist = table.getChild('neighbour_distances')!;
  const out: string[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const t = first.get(i) as number | bigint | null;
    const when = t === null ? '' : new Date(Number(t)).toISOString().replace('T', ' ').replace('Z', '');
    const where = file[i] ? `${file[i]}${Number.isNaN(line[i]!) ? '' : `:${line[i]}`}` : '';
    out.push(`#${i + 1}  ${when}  ${key[i] ?? ''}  ${where}${note[i] ? `  "${excerpt(note[i]!)}"` : ''}`);
    const f = feats.map((c) => (c ? c[i]! : Number.NaN));
    out.push(`    duration ${f[0]} s, flows ${human(f[1]!)}, packets ${human(f[2]!)}, bytes ${human(f[3]!)}, pps ${human(f[4]!)}, bps ${human(f[5]!)}, bpp ${human(f[6]!)}`);
    out.push(`    -> ${predicted[i]}  (p = ${prob[i]!.toFixed(2)})`);
    const labels = Array.from((nLabels.get(i) as { toArray(): string[] }).toArray());
    const dists = Array.from((nDist.get(i) as { toArray(): Float64Array }).toArray());
    out.push(`    ${k} nearest: ${labels.map((l, j) => `${l} ${dists[j]!.toPrecision(3)}`).join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}

/** One line per file, for a log (journald): what it held and what it changed. */
export function liveLine(r: LiveResult): string {
  const inc = r.incidents;
  return `${r.path}: ${r.status === 'failed' ? `failed: ${r.error ?? ''}` : `${r.status === 'reused' ? 'committed before' : 'committed'}, ${r.rows} aggregates, ${r.alerts} alerts`}; ${r.date}: ${inc.open} open incidents${inc.suppressed > 0 ? ` (+${inc.suppressed} suppressed)` : ''}${r.notified > 0 ? `, ${r.notified} notified` : ''} [${Object.entries(r.timings).map(([k, v]) => `${k} ${v} ms`).join(', ')}]`;
}
