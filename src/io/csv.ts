import { Table } from 'apache-arrow';
import { withArrowFileBatches } from './arrow-stream.js';
import { writeChunksAtomic } from './atomic.js';

/** One CSV cell as the table writers write it: empty for null, lists ';'-separated, quoted as csvField quotes. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (typeof value === 'object' && value !== null && 'toArray' in value) {
    // List cells (neighbour labels, distances): ';'-separated inside one CSV field.
    text = Array.from((value as { toArray(): ArrayLike<unknown> }).toArray(), (v) => String(v)).join(';');
  } else if (typeof value === 'bigint') {
    text = value.toString();
  } else {
    text = String(value);
  }
  return csvField(text);
}

/** One CSV field, quoted when it needs to be (RFC 4180), and also when it starts or ends with a blank, which some readers trim. */
export function csvField(text: string): string {
  return /[",\r\n]/u.test(text) || text !== text.trim() ? `"${text.replace(/"/gu, '""')}"` : text;
}

/** The CSV text of a table, header first (unless `header` is false), in pieces of up to `rowsPerChunk` lines. */
function* csvChunks(table: Table, rowsPerChunk = 10_000, header = true): Generator<string> {
  const fields = table.schema.fields;
  const isTime = fields.map((f) => String(f.type).startsWith('Timestamp'));
  const cols = fields.map((f) => table.getChild(f.name)!);
  if (header) yield `${fields.map((f) => csvCell(f.name)).join(',')}\n`;
  for (let from = 0; from < table.numRows; from += rowsPerChunk) {
    const lines: string[] = [];
    for (let i = from; i < Math.min(table.numRows, from + rowsPerChunk); i++) {
      lines.push(
        cols
          .map((c, j) => {
            const v = c.get(i) as unknown;
            if (isTime[j] && v !== null && v !== undefined) return new Date(Number(v)).toISOString();
            return csvCell(v);
          })
          .join(','),
      );
    }
    yield `${lines.join('\n')}\n`;
  }
}

/** Any flat Arrow table as CSV with a header; timestamps as ISO 8601 (UTC). */
export function tableToCsv(table: Table): string {
  return [...csvChunks(table)].join('');
}

/** The same CSV written to a file piece by piece (atomically): for tables too big for one string. */
export async function writeCsvFile(path: string, table: Table): Promise<void> {
  await writeChunksAtomic(path, async (write) => {
    for (const chunk of csvChunks(table)) await write(chunk);
  });
}

/**
 * The CSV copy of an Arrow IPC file flowknn has just written, read back batch by batch: a
 * night's tables are written without ever being whole in memory.
 */
export async function writeCsvFromArrowFile(arrowPath: string, csvPath: string): Promise<void> {
  await withArrowFileBatches(arrowPath, (schema, batches) =>
    writeChunksAtomic(csvPath, async (write) => {
      await write(`${schema.fields.map((f) => csvCell(f.name)).join(',')}\n`);
      for await (const batch of batches) {
        for (const chunk of csvChunks(new Table([batch]), 10_000, false)) await write(chunk);
      }
    }),
  );
}

/** One CSV record: its cells, and the line (1-based) it starts on. */
export interface CsvRecord {
  readonly cells: string[];
  readonly line: number;
}

/**
 * Splits CSV text into records (RFC 4180: quoted cells may hold commas, doubled quotes and line
 * breaks, as tableToCsv writes notes). Records that are empty lines are skipped; each record
 * keeps the line it starts on, for error messages. Throws `Error` with that line on an
 * unterminated quote or text after a closing quote.
 */
export function parseCsv(text: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      let value = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw Object.assign(new Error('unterminated quoted cell'), { line: start });
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
          throw Object.assign(new Error('text after a closing quote'), { line });
        }
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\n') j++;
        value = text.slice(i, j).replace(/\r$/u, '');
        i = j;
      }
      cells.push(value);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (i < n && text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    if (!(cells.length === 1 && cells[0]!.trim() === '')) out.push({ cells, line: start });
  }
  return out;
}
