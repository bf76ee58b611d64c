import { buildTable, type ColumnValues } from '../../schema/arrow.js';
import { statSchema } from '../../schema/tables.js';
import { csvKind, parseStatCsv } from '../csv.js';
import type { InputFormat, SniffHead } from '../format.js';
import { checkShare, statMeta, statThreshold } from './stat-common.js';
import { WholeTextReader } from './text.js';

/** nfdump's statistics as CSV (`nfdump -s dstip/pps/bps -o csv`), with or without a Summary trailer. */
export const statCsvFormat: InputFormat = {
  name: 'stat-csv',
  kind: 'stat',
  description: 'nfdump statistics as CSV (nfdump -s dstip/pps/bps -o csv)',
  sniff: (head: SniffHead) => {
    for (const raw of head.lines) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || /^No match(ing|ed) flows$/iu.test(line)) continue;
      return line.includes(',') && csvKind(line) === 'stat-csv';
    }
    return false;
  },
  open: async (file, options) =>
    new WholeTextReader(file, 'stat-csv', 'stat', (text) => {
      const { columns, issues } = parseStatCsv(text, file, statThreshold(options));
      checkShare(file, columns.length, issues.rejects, options);
      return { table: buildTable(statSchema(statMeta(file, 'stat-csv', options)), columns as unknown as Record<string, ColumnValues>, columns.length), rejects: issues.rejects };
    }),
};
