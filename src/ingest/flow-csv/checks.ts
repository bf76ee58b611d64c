import { excerpt, inputError } from '../../errors.js';
import { FLOW_CSV_COLUMNS, normaliseHeader, type ColumnSpec } from '../csv.js';
import { parsePlainNumber } from '../fields.js';

/**
 * The flow CSV parser's checks of a file as a whole: its header names the columns needed (each
 * found by any name nfdump has printed), and its Summary trailer agrees with the rows read.
 */

/** The flow CSV columns and every name nfdump has used for them: the same table as the whole-text parser's. */
const FLOW_COLUMNS = FLOW_CSV_COLUMNS;

type ColumnKey = keyof typeof FLOW_COLUMNS;
export type Positions = Record<ColumnKey, number>;

export function locateColumns(header: string[], file: string, line: number): Positions {
  const names = header.map(normaliseHeader);
  const out = {} as Positions;
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(FLOW_COLUMNS) as [ColumnKey, ColumnSpec][]) {
    const at = names.findIndex((n) => spec.aliases.includes(n));
    if (at < 0 && spec.required) missing.push(`${spec.name} (${spec.aliases.slice(0, 2).join(' or ')})`);
    out[key] = at;
  }
  if (missing.length > 0) {
    throw inputError(`flow CSV header lacks ${missing.join(', ')}; got "${excerpt(header.join(','), 100)}"`, { file, line });
  }
  return out;
}

/** What a flow CSV parser read, for the Summary trailer to be checked against. */
export interface ReadCounts {
  file: string;
  /** The first two non-empty lines after `Summary` (names, values) and their line numbers. */
  trailer: readonly string[];
  trailerLines: readonly number[];
  /** Sums of flows, in packets, in bytes, out packets, out bytes over the rows read. */
  sums: Float64Array;
  rows: number;
  dataLines: number;
  rejected: number;
  /** The layout has no flows column: one record per line. */
  oneRecordPerLine: boolean;
}

/** The Summary trailer's values by name, or undefined without a trailer. */
export function readSummaryTrailer(c: ReadCounts): Record<string, number> | undefined {
  if (c.trailer.length < 2) return undefined;
  const names = c.trailer[0]!.split(',').map(normaliseHeader);
  const values = c.trailer[1]!.split(',');
  const where = { file: c.file, line: c.trailerLines[1] };
  if (names.length !== values.length) throw inputError(`Summary trailer has ${names.length} names but ${values.length} values`, where);
  const summary: Record<string, number> = {};
  names.forEach((n, i) => {
    const v = parsePlainNumber(values[i]!);
    if (!v.ok) throw inputError(`Summary trailer ${n}: expected ${v.expected}`, where);
    summary[n] = v.value;
  });
  return summary;
}

/**
 * The Summary trailer against what was read (as parseFlowCsv, plus packets and bytes): a
 * FlowknnError naming the trailer's line where the counts disagree.
 */
export function checkSummaryCounts(c: ReadCounts, summary: Record<string, number>): void {
  const where = { file: c.file, line: c.trailerLines[1] };
  const [flows, inPackets, inBytes, outPackets, outBytes] = c.sums as unknown as number[];
  const rows = c.rows;
  if (c.rejected === 0) {
    if (summary.flows !== undefined && summary.flows !== flows) {
      throw inputError(
        `the Summary trailer counts ${summary.flows} flows but the ${rows} records read hold ${flows} (a truncated or concatenated file?)`,
        where,
      );
    }
    // nfdump's totals add in and out counters; outputs without out counters have in only.
    for (const [key, inSum, outSum] of [
      ['packets', inPackets!, outPackets!],
      ['bytes', inBytes!, outBytes!],
    ] as const) {
      const want = summary[key];
      if (want !== undefined && want !== inSum && want !== inSum + outSum) {
        throw inputError(`the Summary trailer counts ${want} ${key} but the ${rows} records read hold ${inSum + outSum} (a truncated or edited file?)`, where);
      }
    }
  } else if (c.oneRecordPerLine && summary.flows !== undefined && summary.flows !== c.dataLines) {
    // One record per line: the trailer still counts the lines, rejected ones included.
    throw inputError(
      `the Summary trailer counts ${summary.flows} flows but the file has ${c.dataLines} record lines (${rows} read, ${c.rejected} rejected): a truncated or concatenated file?`,
      where,
    );
  }
}
