import type { RecordBatch } from 'apache-arrow';
import { generatedReader, type InputFormat, type OpenOptions, type ReadSummary, type SniffHead } from '../format.js';
import type { Reject } from '../issues.js';
import { flowBatchTable, readNfcapdFlows, type NfdumpAggregationField } from '../nfdump/flows.js';
import { parseNfcapdHeader } from '../nfdump/nfcapd-file.js';
import { scanNfcapdStats } from '../nfdump/stats.js';

/** nfcapd files (nfdump's binary archives, layout 1 of 1.6 and 2 of 1.7), read through nfdump. */
export const nfcapdFormat: InputFormat = {
  name: 'nfcapd',
  kind: 'flow',
  description: 'nfcapd files (nfdump 1.6 and 1.7 archives), read through nfdump',
  sniff: (head: SniffHead) => parseNfcapdHeader(head.bytes) !== undefined,
  open: async (file, options) => generatedReader('nfcapd', 'flow', file, (done) => nfcapdBatches(file, options, done)),
  statistics: scanNfcapdStats,
  aggregated: async (file, fields, options) => generatedReader('nfcapd', 'flow', file, (done) => nfcapdBatches(file, options, done, fields)),
};

/** The flows of an nfcapd file as record batches, read through nfdump. */
async function* nfcapdBatches(file: string, o: OpenOptions, done: (summary: ReadSummary) => void, aggregate?: readonly NfdumpAggregationField[]): AsyncGenerator<RecordBatch> {
  let rejected = 0;
  const first: Reject[] = [];
  const flows = readNfcapdFlows(file, {
    ...o.nfdump,
    signal: o.signal ?? o.nfdump?.signal,
    batchRows: o.batchRows,
    maxRejects: o.maxRejects,
    maxRejectFraction: o.maxRejectFraction,
    aggregate,
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
  done({ rows, rejected, rejects: first, nfdump: flows.outcome });
}
