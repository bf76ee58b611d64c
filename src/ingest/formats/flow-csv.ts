import type { RecordBatch } from 'apache-arrow';
import { csvKind, isLegacyFlowRow } from '../csv.js';
import { FlowCsvStream } from '../flow-csv/stream.js';
import type { InputFormat, InputReader, OpenOptions, ReadSummary, SniffHead } from '../format.js';

/**
 * nfdump's flow CSV: `-o csv` of 1.6 to 1.7.4 (`ts,te,td,sa,da,...`, also header-less as `-q`
 * prints it), of 1.7.5+ (`firstSeen,duration,proto,srcAddr,...`) and `-o csv-fast` (1.7.5+,
 * epoch milliseconds), plain or gzip; streamed in record batches (src/ingest/flow-csv/).
 */
export const flowCsvFormat: InputFormat = {
  name: 'flow-csv',
  kind: 'flow',
  description: 'nfdump flow records as CSV (nfdump -o csv, -o csv-fast), plain or gzip',
  sniff: (head: SniffHead) => {
    for (const raw of head.lines) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      return line.includes(',') && (csvKind(line) === 'flow-csv' || isLegacyFlowRow(line));
    }
    return false;
  },
  open: async (file, options) => new FlowCsvReader(file, options),
};

class FlowCsvReader implements InputReader {
  readonly format = 'flow-csv';
  readonly kind = 'flow' as const;
  summary: ReadSummary | undefined;
  private readonly stream: FlowCsvStream;

  constructor(
    readonly file: string,
    options: OpenOptions,
  ) {
    this.stream = new FlowCsvStream(file, {
      maxRejects: options.maxRejects,
      maxRejectFraction: options.maxRejectFraction,
      rejects: options.rejects,
      batchRows: options.batchRows,
      threads: options.threads,
      signal: options.signal,
      timeZone: options.zone?.timeZone,
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    yield* this.stream;
    const st = this.stream.stats;
    this.summary = { rows: st.rows, rejected: this.stream.rejects.count, rejects: this.stream.rejects.first, layout: st.layout };
  }

  recycle(batch: RecordBatch): void {
    this.stream.recycle(batch);
  }
}
