import type { RecordBatch, Table } from 'apache-arrow';
import { inputError } from '../../errors.js';
import { readArrowFile } from '../../schema/arrow.js';
import type { InputFormat, InputKind, InputReader, ReadSummary, SniffHead } from '../format.js';

const MAGIC = 'ARROW1';

/**
 * Arrow IPC files that flowknn wrote (`ingest --out X.arrow`): flow, stat or aggregate tables,
 * the kind in their schema metadata (`flowknn.kind`). Told by their magic bytes, or by the
 * `.arrow` name (so a damaged one is named as such rather than as unknown text).
 */
export const arrowFormat: InputFormat = {
  name: 'arrow',
  kind: 'table',
  description: 'Arrow IPC files written by flowknn (flow, stat or aggregate tables)',
  sniff: (head: SniffHead) => Buffer.from(head.bytes.subarray(0, 6)).toString('latin1') === MAGIC || /\.arrow$/iu.test(head.path),
  open: async (file) => {
    const table = await readArrowFile(file);
    const kind = table.schema.metadata.get('flowknn.kind');
    if (kind !== 'stat' && kind !== 'flow' && kind !== 'aggregate') {
      throw inputError(`Arrow file is not a flowknn stat, flow or aggregate table (metadata flowknn.kind = ${kind ?? 'missing'})`, { file });
    }
    return new ArrowReader(file, kind, table);
  },
};

class ArrowReader implements InputReader {
  readonly format = 'arrow';
  summary: ReadSummary | undefined;

  constructor(
    readonly file: string,
    readonly kind: InputKind,
    private readonly table: Table,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    for (const b of this.table.batches) if (b.numRows > 0) yield b;
    this.summary = { rows: this.table.numRows, rejected: 0, rejects: [] };
  }
}
