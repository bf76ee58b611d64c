import { RecordBatch, Table } from 'apache-arrow';
import { emptyAggregateTable } from '../features/aggregate.js';
import { buildTable, type ColumnValues } from '../schema/arrow.js';
import { FlowColumns, flowSchema, StatColumns, statSchema } from '../schema/tables.js';
import type { InputKind, OpenOptions, ReadSummary } from './format.js';
import type { Reject } from './issues.js';
import { FORMAT_CHOICES, openInput } from './registry.js';

/**
 * An input read whole into one Arrow table, through the format registry: statistics (small),
 * or anything a command needs in memory at once. Flow records of big inputs are streamed by
 * their callers instead (openInput).
 */

/** `--format` choices (kept here for the commands: every name of the registry, and auto). */
export const INPUT_FORMATS = FORMAT_CHOICES;
export type InputFormat = string;

export type ReadOptions = OpenOptions;

export interface ReadResult {
  readonly file: string;
  readonly format: string;
  /** `stat`, `flow` or `aggregate` (schema metadata flowknn.kind), or `none` (nfdump found nothing). */
  readonly kind: InputKind;
  readonly table: Table;
  /** The lines rejected (with a `rejects` sink in the options, only the first ten here). */
  readonly rejects: readonly Reject[];
  readonly summary: ReadSummary;
}

export async function readInput(file: string, format: InputFormat = 'auto', options: ReadOptions = {}): Promise<ReadResult> {
  const reader = await openInput(file, format, options);
  const batches: RecordBatch[] = [];
  for await (const b of reader) batches.push(b);
  const summary = reader.summary!;
  const table = batches.length > 0 ? new Table(batches.map((b) => new RecordBatch(batches[0]!.schema, b.data))) : emptyTable(file, reader.format, reader.kind);
  return { file, format: reader.format, kind: reader.kind, table, rejects: summary.rejects, summary };
}

/** A table of no rows with the schema of the kind (statistics for `none`). */
function emptyTable(file: string, format: string, kind: InputKind): Table {
  const meta = { 'flowknn.source': file, 'flowknn.format': format };
  if (kind === 'flow') return buildTable(flowSchema(meta), new FlowColumns() as unknown as Record<string, ColumnValues>, 0);
  if (kind === 'aggregate') return emptyAggregateTable(meta);
  return buildTable(statSchema(meta), new StatColumns() as unknown as Record<string, ColumnValues>, 0);
}
