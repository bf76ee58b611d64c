import type { RecordBatch } from 'apache-arrow';
import type { InputFormat, InputReader, ReadSummary, SniffHead } from '../format.js';

/**
 * nfdump's whole answer was `No matching flows` (1.7.5+ with `-o ndjson`, `-q`, or a JSON
 * statistic): an input without rows, whose kind its text does not tell. It adds nothing to a
 * run; it is not an error.
 */
export const emptyFormat: InputFormat = {
  name: 'no-match',
  kind: 'flow',
  description: 'nfdump output saying only "No matching flows"',
  sniff: (head: SniffHead) => {
    if (!head.complete) return false;
    let said = false;
    for (const raw of head.lines) {
      const line = raw.trim();
      if (line === '' || line === '[' || line === ']') continue;
      if (!/^No match(ing|ed) flows$/iu.test(line)) return false;
      said = true;
    }
    return said;
  },
  open: async (file) => new EmptyReader(file),
};

class EmptyReader implements InputReader {
  readonly format = 'no-match';
  readonly kind = 'none' as const;
  summary: ReadSummary | undefined;

  constructor(readonly file: string) {}

  // eslint-disable-next-line require-yield
  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    this.summary = { rows: 0, rejected: 0, rejects: [] };
  }
}
