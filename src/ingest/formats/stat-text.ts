import { buildTable, type ColumnValues } from '../../schema/arrow.js';
import { statSchema } from '../../schema/tables.js';
import type { InputFormat, SniffHead } from '../format.js';
import { parseStatText } from '../stat-text.js';
import { statMeta, statThreshold, checkShare } from './stat-common.js';
import { WholeTextReader } from './text.js';

/** nfdump's text statistics (`nfdump -s dstip/pps/bps`, 1.6 and 1.7, with or without -q, -N). */
export const statTextFormat: InputFormat = {
  name: 'stat-text',
  kind: 'stat',
  description: 'nfdump statistics as text (nfdump -s dstip/pps/bps)',
  sniff: (head: SniffHead) => {
    for (const raw of head.lines) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';') || /^No match(ing|ed) flows$/iu.test(line)) continue;
      return /^\d{4}-\d{2}-\d{2}[ T]\d/u.test(line) || /^(Top\s.*ordered by|Date first seen)/iu.test(line);
    }
    return false;
  },
  open: async (file, options) =>
    new WholeTextReader(file, 'stat-text', 'stat', (text) => {
      const { columns, issues } = parseStatText(text, file, statThreshold(options));
      checkShare(file, columns.length, issues.rejects, options);
      return { table: buildTable(statSchema(statMeta(file, 'stat-text', options)), columns as unknown as Record<string, ColumnValues>, columns.length), rejects: issues.rejects };
    }),
};
