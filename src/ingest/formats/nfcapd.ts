import type { RecordBatch } from 'apache-arrow';
import type { InputFormat, InputReader, OpenOptions, ReadSummary, SniffHead } from '../format.js';
import type { Reject } from '../issues.js';
import { flowBatchTable, readNfcapdFlows } from '../nfdump/flows.js';
import { parseNfcapdHeader } from '../nfdump/nfcapd-file.js';
import { scanNfcapdStats } from '../nfdump/stats.js';

/** nfcapd files (nfdump's binary archives, layout 1 of 1.6 and 2 of 1.7), read through nfdump. */
export const nfcapdFormat: InputFormat = {
  name: 'nfcapd',
  kind: 'flow',
  description: 'nfcapd files (nfdump 1.6 and 1.7 archives), read through nfdump',
  sniff: (head: SniffHead) => parseNfcapdHeader(head.bytes) !== undefined,
  open: async (file, options) => new NfcapdReader(file, options),
  statistics: scanNfcapdStats,
};

class NfcapdReader implements InputReader {
  readonly format = 'nfcapd';
  readonly kind = 'flow' as const;
  summary: ReadSummary | undefined;

  constructor(
    readonly file: string,
    private readonly options: OpenOptions,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    const o = this.options;
    let rejected = 0;
    const first: Reject[] = [];
    const flows = readNfcapdFlows(this.file, {
      ...o.nfdump,
      signal: o.signal ?? o.nfdump?.signal,
      batchRows: o.batchRows,
      maxRejects: o.maxRejects,
      maxRejectFraction: o.maxRejectFraction,
      rejects: {
        add: (r) => {
          rejected++;
          if (first.length < 10) first.push(r);
          o.rejects?.add(r);
        },
      },
    });
    let rows = 0;
    for await (const b of flows) {
      rows += b.columns.length;
      yield flowBatchTable(b).batches[0]!;
    }
    this.summary = { rows, rejected, rejects: first, nfdump: flows.outcome };
  }
}
