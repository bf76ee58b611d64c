import { Table, type RecordBatch, type Schema } from 'apache-arrow';
import { join } from 'node:path';
import { withArrowFileBatches, writeArrowStream } from '../io/arrow-stream.js';
import { writeCsvFromArrowFile } from '../io/csv.js';
import { writeParquetFromArrowFile } from '../io/parquet.js';
import { classifiedRowReader, type ClassifiedRow } from '../knn/classified-rows.js';
import { DrawnSample } from './sample.js';
import { batchesUnder, numberColumn, stringColumn } from '../schema/arrow.js';
import { DEFAULT_BATCH_QUERIES } from '../engines/engine.js';
import { alertsOf, type Alert, type AlertSettings } from './outputs.js';

/**
 * The nightly job's classify and write stages as one pass over the night in record batches:
 * memory is bounded by a batch and the training set, not by the night. The day's aggregates
 * stream from the committed inputs into `aggregates.arrow`; that file is read back in batches
 * of `batchRows` (the engine's choice, queriesPerSearch), each classified (one search) and
 * appended to `predictions.arrow`, while the summary's counts, the alert rows (the incidents' input) and the report's sample
 * (sample.ts) are taken from it; the Parquet and CSV copies are then written from the
 * Arrow files, batch by batch. Each row is classified on its own, so the rows are those of a
 * night classified whole.
 */

/** The night's aggregates as a stream: their schema, how many rows, and the batches in order. */
export interface DayAggregates {
  readonly schema: Schema;
  readonly rows: number;
  batches(): AsyncIterable<RecordBatch>;
}

/** A night's aggregates from whole tables (parts read one at a time), under the first one's schema. */
export function aggregatesOfParts(schema: Schema, rows: number, parts: () => AsyncIterable<Table>): DayAggregates {
  return {
    schema,
    rows,
    async *batches() {
      let p = 0;
      for await (const part of parts()) yield* batchesUnder(schema, part, p++);
    },
  };
}

export interface StreamedNight {
  readonly rows: number;
  /** Rows per predicted class, the model's classes first (as countBy counts them). */
  readonly predicted: Record<string, number>;
  readonly novel: number;
  readonly alerts: Alert[];
  /** The rows the report draws (DrawnSample). */
  readonly drawn: ClassifiedRow[];
  /** Milliseconds: aggregates written, classified (search included), search alone, copies written. */
  readonly timings: { aggregates: number; classify: number; search: number; copies: number };
}

/** A batch's rows classified (searched and voted), their predictions table built by the slice (classify-tables.ts). */
export interface SearchedBatch {
  readonly rows: number;
  table(from: number, to: number): Table;
}

export async function streamNight(p: {
  dir: string;
  day: DayAggregates;
  date: string;
  /** One search over a batch (searchTables); its predictions tables are built tableRows at a time. */
  classify: (aggregates: Table) => Promise<SearchedBatch>;
  alerts: AlertSettings;
  /** The model's classes, counted first (at 0 when none is predicted). */
  order: readonly string[];
  /** The novelty column the report ranks rows by, when the model scores novelty. */
  noveltyColumn?: string;
  /** Rows the report draws at most. */
  maxDrawn: number;
  /** Rows per search (default DEFAULT_BATCH_QUERIES; the nightly job asks its engine, queriesPerSearch). */
  batchRows?: number;
  /** Rows per predictions table built and written at once (default DEFAULT_BATCH_QUERIES). */
  tableRows?: number;
  /** Search the next batch while the previous one is counted and written (default true; false: one after the other, for benchmarks). */
  overlap?: boolean;
}): Promise<StreamedNight> {
  const t0 = performance.now();
  const aggregatesFile = join(p.dir, 'aggregates.arrow');
  await writeArrowStream(aggregatesFile, p.day.batches(), { schema: p.day.schema });
  const t1 = performance.now();

  const predicted: Record<string, number> = Object.fromEntries(p.order.map((c) => [c, 0]));
  let novel = 0;
  const alerts: Alert[] = [];
  const sample = new DrawnSample<ClassifiedRow>(p.day.rows, p.maxDrawn, p.noveltyColumn !== undefined);
  let rows = 0;
  let search = 0;
  let schema: Schema | undefined;
  const batchRows = p.batchRows ?? DEFAULT_BATCH_QUERIES;
  const tableRows = p.tableRows ?? DEFAULT_BATCH_QUERIES;
  const overlap = p.overlap ?? true;
  /**
   * The predictions of the aggregates' batches, one search per batchRows rows, their tables
   * built and written tableRows at a time (a GPU's batch of 2^19 rows searched at once, but not
   * held as 2^19 rows of JavaScript values). With overlap, a batch's search starts before the
   * previous batch's predictions are counted and written: the engine (the CPU engine's threads,
   * a GPU) works on batch b + 1 while this thread takes care of batch b. Searches never run two
   * at a time, and batches come out in order.
   */
  const classified = async function* (aggregateSchema: Schema, aggregates: AsyncIterable<RecordBatch>): AsyncGenerator<RecordBatch> {
    let group: RecordBatch[] = [];
    let groupRows = 0;
    let inFlight: Promise<SearchedBatch> | null = null;
    const start = (): Promise<SearchedBatch> => {
      const ts = performance.now();
      const batch = new Table(aggregateSchema, group);
      group = [];
      groupRows = 0;
      const searched = p.classify(batch).then((done) => {
        search += performance.now() - ts;
        return done;
      });
      // awaited later; until then a failure must not count as unhandled
      searched.catch(() => undefined);
      return searched;
    };
    /** One predictions table: counted, offered to the sample, its batches to write. */
    const take = (table: Table): RecordBatch[] => {
      schema ??= table.schema;
      const n = table.numRows;
      const labels = stringColumn(table, 'predicted') ?? [];
      for (let i = 0; i < n; i++) predicted[labels[i] ?? ''] = (predicted[labels[i] ?? ''] ?? 0) + 1;
      const isNovel = table.getChild('novel');
      if (isNovel) for (let i = 0; i < n; i++) if (isNovel.get(i)) novel++;
      for (const a of alertsOf(table, p.date, p.alerts)) alerts.push(a);
      const rowAt = classifiedRowReader(table, 'predictions', p.noveltyColumn);
      sample.offer(rows, n, p.noveltyColumn === undefined ? undefined : numberColumn(table, p.noveltyColumn), rowAt);
      rows += n;
      return batchesUnder(schema, table, 0);
    };
    /** A searched batch's tables, tableRows at a time (an empty one for an empty night's schema). */
    const finish = function* (done: SearchedBatch): Generator<RecordBatch> {
      if (done.rows === 0) yield* take(done.table(0, 0));
      for (let from = 0; from < done.rows; from += tableRows) yield* take(done.table(from, Math.min(done.rows, from + tableRows)));
    };
    /** Starts the group's search; yields the batches of the one before it, when it is done. */
    const next = async function* (): AsyncGenerator<RecordBatch> {
      if (!overlap) {
        yield* finish(await start());
        return;
      }
      const previous = inFlight ? await inFlight : null;
      inFlight = start();
      if (previous) yield* finish(previous);
    };
    try {
      for await (const whole of aggregates) {
        // batches are cut to fill each search exactly (the flows source's merged night is one batch)
        let at = 0;
        do {
          const take = Math.min(whole.numRows - at, batchRows - groupRows);
          group.push(take === whole.numRows ? whole : whole.slice(at, at + take));
          groupRows += take;
          at += take;
          if (groupRows >= batchRows) yield* next();
        } while (at < whole.numRows);
      }
      // the last batch, or an empty night's (its predictions' schema from an empty search)
      if (groupRows > 0 || (schema === undefined && inFlight === null)) yield* next();
      if (inFlight) {
        const last = inFlight;
        inFlight = null;
        yield* finish(await last);
      }
    } finally {
      // a write that failed while a search ran: the search ends before the night does (and
      // before its engine is disposed); the write's error is the one reported
      if (inFlight) await (inFlight as Promise<SearchedBatch>).catch(() => undefined);
    }
  };
  const predictionsFile = join(p.dir, 'predictions.arrow');
  // the schema is known once the first batch is classified: writeArrowStream asks only when none came
  await withArrowFileBatches(aggregatesFile, (aggregateSchema, aggregates) =>
    writeArrowStream(predictionsFile, classified(aggregateSchema, aggregates), {
      get schema() {
        return schema;
      },
    }),
  );
  const t2 = performance.now();
  await writeParquetFromArrowFile(aggregatesFile, join(p.dir, 'aggregates.parquet'));
  await writeCsvFromArrowFile(aggregatesFile, join(p.dir, 'aggregates.csv'));
  await writeParquetFromArrowFile(predictionsFile, join(p.dir, 'predictions.parquet'));
  await writeCsvFromArrowFile(predictionsFile, join(p.dir, 'predictions.csv'));
  const t3 = performance.now();
  return { rows, predicted, novel, alerts, drawn: sample.rows(), timings: { aggregates: t1 - t0, classify: t2 - t1, search, copies: t3 - t2 } };
}
