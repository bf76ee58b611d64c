import type { Table } from 'apache-arrow';
import { basename } from 'node:path';
import { excerpt, inputError, usageError } from '../errors.js';
import { numberColumn, stringColumn } from '../schema/arrow.js';

/** One classified row as reports draw it (a classify or nightly run's predictions). */
export interface ClassifiedRow {
  readonly key?: string | null;
  /** Where it came from, e.g. "file:line". */
  readonly source?: string | null;
  readonly note?: string | null;
  /** Its window's start (ISO 8601), for rows of a window (the nightly job's). */
  readonly window?: string | null;
  readonly flows: number;
  readonly bps: number;
  readonly pps: number;
  readonly predicted: string;
  /** Vote share of the predicted class. */
  readonly probability?: number;
  /** The neighbours' labels, nearest first. */
  readonly neighbours?: readonly string[];
  /** Novelty score, when the run scored novelty. */
  readonly novelty?: number;
}

/**
 * A reader of a predictions table's rows as the report draws them, one row at a time: the
 * nightly job takes only its sample's rows from each batch it classifies.
 */
export function classifiedRowReader(table: Table, path = 'predictions', noveltyColumn?: string): (i: number) => ClassifiedRow {
  const need = ['flows', 'bps', 'pps', 'predicted'];
  const missing = need.filter((c) => !table.getChild(c));
  if (missing.length > 0) throw inputError(`not a predictions table: no ${missing.join(', ')} column`, { file: path }, 'give the predictions.arrow that flowknn classify --out DIR writes');
  const flows = numberColumn(table, 'flows')!;
  const bps = numberColumn(table, 'bps')!;
  const pps = numberColumn(table, 'pps')!;
  const probability = numberColumn(table, 'probability');
  const predicted = stringColumn(table, 'predicted')!;
  const key = stringColumn(table, 'key');
  const file = stringColumn(table, 'source_file');
  const line = numberColumn(table, 'source_line');
  const note = stringColumn(table, 'note');
  const window = numberColumn(table, 'window_start');
  let novelty: Float64Array | undefined;
  if (noveltyColumn !== undefined) {
    novelty = numberColumn(table, noveltyColumn);
    if (!novelty) throw usageError(`--novelty-column: ${path} has no column "${excerpt(noveltyColumn)}"`, `its columns: ${table.schema.fields.map((f) => f.name).join(', ')}`);
  }
  const neighbours = table.getChild('neighbour_labels');
  return (i) => {
    const nb = neighbours?.get(i) as { toArray(): unknown[] } | null | undefined;
    const f = file?.[i];
    const l = line?.[i];
    return {
      key: key?.[i] ?? null,
      source: f ? `${basename(f)}${l !== undefined && !Number.isNaN(l) ? `:${l}` : ''}` : null,
      note: note?.[i] ?? null,
      window: window && !Number.isNaN(window[i]!) ? new Date(window[i]!).toISOString() : null,
      flows: flows[i]!,
      bps: bps[i]!,
      pps: pps[i]!,
      predicted: predicted[i] ?? '',
      probability: probability?.[i],
      neighbours: nb ? nb.toArray().map(String) : undefined,
      novelty: novelty?.[i],
    };
  };
}

