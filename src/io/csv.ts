import type { Table } from 'apache-arrow';

/** RFC 4180 quoting: only cells with a comma, quote or line break are quoted. */
function cell(value: unknown): string {
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
  return /[",\n\r]/u.test(text) ? `"${text.replace(/"/gu, '""')}"` : text;
}

/** Any flat Arrow table as CSV with a header; timestamps as ISO 8601 (UTC). */
export function tableToCsv(table: Table): string {
  const fields = table.schema.fields;
  const isTime = fields.map((f) => String(f.type).startsWith('Timestamp'));
  const cols = fields.map((f) => table.getChild(f.name)!);
  const lines = [fields.map((f) => cell(f.name)).join(',')];
  for (let i = 0; i < table.numRows; i++) {
    lines.push(
      cols
        .map((c, j) => {
          const v = c.get(i) as unknown;
          if (isTime[j] && v !== null && v !== undefined) return new Date(Number(v)).toISOString();
          return cell(v);
        })
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
