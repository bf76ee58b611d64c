import type { RecordBatch } from 'apache-arrow';
import type { InputFormat, InputReader, OpenOptions, ReadSummary, SniffHead } from '../format.js';
import type { FlowColumns } from '../../schema/tables.js';
import type { Reject } from '../issues.js';
import { flowBatchTable, readNfcapdFlows, type FlowBatch, type NfdumpAggregationField } from '../nfdump/flows.js';
import { parseNfcapdHeader } from '../nfdump/nfcapd-file.js';
import { scanNfcapdStats } from '../nfdump/stats.js';

/** nfcapd files (nfdump's binary archives, layout 1 of 1.6 and 2 of 1.7), read through nfdump. */
export const nfcapdFormat: InputFormat = {
  name: 'nfcapd',
  kind: 'flow',
  description: 'nfcapd files (nfdump 1.6 and 1.7 archives), read through nfdump',
  sniff: (head: SniffHead) => parseNfcapdHeader(head.bytes) !== undefined,
  open: async (file, options) => nfcapdReader(file, options),
  statistics: scanNfcapdStats,
  aggregated: async (file, fields, options) => nfcapdReader(file, options, fields),
};

/** A reader of an nfcapd file's flows (or nfdump's aggregates of them): Arrow batches, or the parsed columns themselves. */
function nfcapdReader(file: string, options: OpenOptions, aggregate?: readonly NfdumpAggregationField[]): InputReader {
  let summary: ReadSummary | undefined;
  const done = (s: ReadSummary) => (summary = s);
  async function* batches(): AsyncGenerator<RecordBatch> {
    for await (const b of nfcapdColumns(file, options, done, aggregate)) yield flowBatchTable(b).batches[0]!;
  }
  return {
    file,
    format: 'nfcapd',
    kind: 'flow',
    get summary() {
      return summary;
    },
    [Symbol.asyncIterator]: () => batches()[Symbol.asyncIterator](),
    columns: () => mapColumns(nfcapdColumns(file, options, done, aggregate)),
  };
}

async function* mapColumns(batches: AsyncIterable<FlowBatch>): AsyncGenerator<FlowColumns> {
  for await (const b of batches) yield b.columns;
}

/** The flows of an nfcapd file as parsed batches, read through nfdump. */
async function* nfcapdColumns(file: string, o: OpenOptions, done: (summary: ReadSummary) => void, aggregate?: readonly NfdumpAggregationField[]): AsyncGenerator<FlowBatch> {
  let rejected = 0;
  const first: Reject[] = [];
  const flows = readNfcapdFlows(file, {
    ...o.nfdump,
    signal: o.signal ?? o.nfdump?.signal,
    batchRows: o.batchRows,
    maxRejects: o.maxRejects,
    maxRejectFraction: o.maxRejectFraction,
    aggregate,
    together: o.together,
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
    yield b;
  }
  done({ rows, rejected, rejects: first, nfdump: flows.outcome });
}
