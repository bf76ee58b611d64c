import type { RecordBatch } from 'apache-arrow';
import type { WallClockZone } from '../io/time-zone.js';
import type { FlowColumns } from '../schema/tables.js';
import type { Reject } from './issues.js';
import type { NfdumpAggregationField } from './nfdump/flows.js';
import type { NfdumpOptions, NfdumpOutcome } from './nfdump/run.js';
import type { StatScan, StatScanOptions } from './nfdump/stats.js';
import type { RejectSink, RejectThreshold } from './rejects.js';

/**
 * An input format: what flowknn reads, told apart by its first bytes (as Arrow JS's
 * RecordBatchReader.from picks a reader by its bytes), opened into Arrow record batches. The
 * formats are listed once, in src/ingest/registry.ts; every command and the nightly job ask the
 * registry, none chooses a reader itself. Adding a format is a file in src/ingest/formats/ and
 * a line in the registry.
 */

/** What an input's rows are: flow records, nfdump statistics, flowknn aggregates, or nothing
 *  at all (nfdump said `No matching flows` and printed nothing that tells its kind). */
export type InputKind = 'flow' | 'stat' | 'aggregate' | 'none';

/** The start of an input, for sniffing. */
export interface SniffHead {
  readonly path: string;
  /** The first bytes as stored (up to 64 KiB). */
  readonly bytes: Uint8Array;
  /** The first bytes as text (gunzipped when the file is gzip), split into lines, without
   *  `\r`; a last line cut by the 64 KiB limit is left out. Empty for binary data. */
  readonly lines: readonly string[];
  /** True when the lines are the whole file (it is shorter than the head). */
  readonly complete: boolean;
}

export interface OpenOptions extends RejectThreshold {
  /** Every rejected line, as it is found (a RejectsWriter, say). */
  rejects?: RejectSink;
  /** nfcapd files: the nfdump binary, its version, a filter, a time limit. */
  nfdump?: NfdumpOptions;
  /** The zone nfdump printed its local times in (text, CSV, JSON); default the machine's. */
  zone?: WallClockZone;
  /** Rows per record batch, for the formats that stream (default 65536). */
  batchRows?: number;
  /** Flow CSV: parse threads (default 1). */
  threads?: number;
  /** Stops reading; the iteration ends with an error. */
  signal?: AbortSignal;
  /**
   * nfcapd files only: read these files, in this order, in one nfdump run; the file opened then
   * only names them in messages (see FlowReadOptions.together). Other formats refuse it.
   */
  together?: readonly string[];
}

/** What a read ended with, known once the iteration has completed. */
export interface ReadSummary {
  readonly rows: number;
  /** Rejected lines (within the threshold). */
  readonly rejected: number;
  /** The first rejected lines (all of them for the small formats). */
  readonly rejects: readonly Reject[];
  /** nfcapd files: which nfdump read it, its warnings, how the rows were checked. */
  readonly nfdump?: NfdumpOutcome;
  /** The variant of the format met, e.g. `nfdump 1.7.5+ csv-fast`. */
  readonly layout?: string;
}

/**
 * An opened input: its record batches (one schema per kind, see src/schema/tables.ts), then
 * `summary`. An input's rows are valid only once the iteration has completed: a reject
 * threshold, a trailer that disagrees or nfdump's verdict can fail it at its very end.
 */
export interface InputReader extends AsyncIterable<RecordBatch> {
  readonly file: string;
  readonly format: string;
  readonly kind: InputKind;
  /** Set when the iteration has completed. */
  readonly summary: ReadSummary | undefined;
  /** Hands back a batch the consumer is done with, so its memory can be reused. */
  recycle?(batch: RecordBatch): void;
  /**
   * Readers that parse flows into FlowColumns (nfcapd): the same rows as those columns, without
   * building Arrow batches, for a consumer that only aggregates them. Iterate the reader or this,
   * once; `summary` is set the same way.
   */
  columns?(): AsyncIterable<FlowColumns>;
}

/**
 * A reader whose batches come from a generator that hands over the read's summary as it ends
 * (most formats: the reader is the generator plus its name and kind).
 */
export function generatedReader(format: string, kind: InputKind, file: string, batches: (done: (summary: ReadSummary) => void) => AsyncIterable<RecordBatch>): InputReader {
  let summary: ReadSummary | undefined;
  return {
    file,
    format,
    kind,
    get summary() {
      return summary;
    },
    [Symbol.asyncIterator]: () => batches((s) => (summary = s))[Symbol.asyncIterator](),
  };
}

export interface InputFormat {
  readonly name: string;
  /** The kind of rows it gives; `table` for Arrow files, whose kind is in their metadata. */
  readonly kind: Exclude<InputKind, 'none'> | 'table';
  /** One line for --help and error messages. */
  readonly description: string;
  /** True when the head is this format's. */
  sniff(head: SniffHead): boolean;
  open(file: string, options: OpenOptions): Promise<InputReader>;
  /**
   * For the formats nfdump can aggregate itself (nfcapd files): its statistics of the file
   * (`nfdump -s KEY/ORDER`), the aggregates above the minimums kept (the nightly job's
   * default source).
   */
  statistics?(file: string, options: StatScanOptions): Promise<StatScan>;
  /**
   * For the formats nfdump reads (nfcapd files): the file's flows aggregated by nfdump itself
   * (`-A FIELDS`), one `flow` record per key whose `flows` column counts the flows it sums and
   * whose first and last seen are the earliest and the latest of them (see
   * src/ingest/aggregate-input.ts, which merges such partials exactly).
   */
  aggregated?(file: string, fields: readonly NfdumpAggregationField[], options: OpenOptions): Promise<InputReader>;
}
