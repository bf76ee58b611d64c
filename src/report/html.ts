/**
 * A report as one self-contained HTML file: inline CSS, charts as inline SVG, no scripts, no
 * fonts, no links outside the file, so it opens from disk without a network and prints well.
 * Every piece of text put into the page is escaped here; chart SVG comes from Vega, which
 * escapes its own text.
 */
import { TOOL_VERSION } from '../version.js';
import type { Chart } from './vega.js';

export type CellValue = string | number | boolean | null | undefined;

export interface TableColumn {
  readonly key: string;
  readonly title: string;
  /** Numbers are right-aligned by default, text left-aligned. */
  readonly align?: 'left' | 'right';
  /** Long text that may wrap (other columns keep each value on one line). */
  readonly wrap?: boolean;
  /** How to print a value (default: numbers as they come, integers grouped by thousands). */
  readonly format?: (value: CellValue, row: Readonly<Record<string, CellValue>>) => string;
}

export interface TableData {
  readonly columns: readonly TableColumn[];
  readonly rows: readonly Readonly<Record<string, CellValue>>[];
  /** Summary rows set apart below the body (e.g. accuracy and averages). */
  readonly footer?: readonly Readonly<Record<string, CellValue>>[];
  /** Rows to mark (e.g. the chosen configuration), by index into `rows`. */
  readonly highlight?: readonly number[];
  readonly caption?: string;
  /** Printed instead of an empty table. */
  readonly empty?: string;
}

export interface KeyValue {
  readonly key: string;
  readonly value: CellValue | readonly CellValue[];
}

export type ReportBlock =
  | { readonly kind: 'chart'; readonly chart: Chart | Promise<Chart>; readonly caption?: string }
  | { readonly kind: 'table'; readonly table: TableData }
  | { readonly kind: 'keyvalue'; readonly entries: readonly KeyValue[] }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'pre'; readonly text: string; readonly caption?: string };

export interface ReportSection {
  readonly heading: string;
  readonly blocks: readonly ReportBlock[];
}

export interface ReportDocument {
  readonly title: string;
  /** One line under the title (what was run, on what). */
  readonly subtitle?: string;
  /** Key facts shown first: engine, device, model version, inputs, timings. */
  readonly metadata?: readonly KeyValue[];
  readonly sections: readonly ReportSection[];
  /** When the report was made (default: now); printed in the footer. */
  readonly generated?: Date;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/gu, (c) => ESCAPES[c]!);
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 24px 28px 40px; max-width: 1040px; background: #fff; color: #1a1a1a;
  font: 14px/1.45 "DejaVu Sans", Verdana, Arial, Helvetica, sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
.subtitle { color: #444; margin: 0 0 16px; }
h2 { font-size: 17px; font-weight: 600; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ccc; }
nav.toc { margin: 8px 0 4px; font-size: 13px; color: #444; }
nav.toc a { color: #1f4e8c; text-decoration: none; margin-right: 14px; white-space: nowrap; }
p { margin: 6px 0 10px; max-width: 78ch; }
figure.chart { margin: 10px 0 18px; break-inside: avoid; page-break-inside: avoid; }
figure.chart .svg { overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12.5px; color: #444; margin-top: 4px; max-width: 90ch; }
table { border-collapse: collapse; margin: 4px 0 16px; font-size: 12.5px; font-variant-numeric: tabular-nums; }
p.table-caption { font-size: 12.5px; color: #444; margin: 8px 0 2px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e2e2e2; vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 12ch; max-width: 32ch; }
thead th { border-bottom: 2px solid #888; font-weight: 600; text-align: left; white-space: nowrap; }
th.num, td.num { text-align: right; }
tbody.summary td, tbody.summary th { border-bottom: none; }
tbody.summary tr:first-child td, tbody.summary tr:first-child th { border-top: 2px solid #888; }
tbody th { font-weight: normal; text-align: left; white-space: nowrap; }
tr.highlight td, tr.highlight th { background: #fff4c2; font-weight: 600; }
.table-wrap { overflow-x: auto; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0 14px; font-size: 13px; }
dl.kv dt { color: #444; }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
dl.kv dd ul { margin: 0; padding-left: 18px; }
pre { font: 12px/1.35 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f6f6f6; border: 1px solid #e2e2e2; padding: 8px 10px; overflow-x: auto; }
.empty { color: #555; font-style: italic; }
footer { margin-top: 36px; font-size: 12px; color: #555; border-top: 1px solid #ccc; padding-top: 6px; }
@page { size: auto; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 18px; }
  figure.chart, table, dl.kv, pre { break-inside: avoid; page-break-inside: avoid; }
  figure.chart .svg, .table-wrap { overflow: visible; }
  table { font-size: 8pt; }
  th, td, thead th { padding: 2px 4px; white-space: normal; }
  td.num { white-space: nowrap; }
  td.wrap { min-width: 8ch; max-width: 18ch; overflow-wrap: anywhere; }
  tr.highlight td, tr.highlight th { background: none; font-weight: 700; }
  tr.highlight > :first-child::before { content: "\\25B6  "; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
`;

function slug(text: string, used: Set<string>): string {
  const base =
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/gu, '-')
      .replace(/^-|-$/gu, '') || 'section';
  let id = base;
  for (let i = 2; used.has(id); i++) id = `${base}-${i}`;
  used.add(id);
  return id;
}

function defaultFormat(v: CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '';
    if (Number.isInteger(v)) return Math.abs(v) >= 10000 ? v.toLocaleString('en-US') : String(v);
    return String(Number(v.toPrecision(4)));
  }
  return String(v);
}

function isNumeric(col: TableColumn, rows: readonly Readonly<Record<string, CellValue>>[]): boolean {
  if (col.align) return col.align === 'right';
  const present = rows.map((r) => r[col.key]).filter((v) => v !== null && v !== undefined && v !== '');
  return present.length > 0 && present.every((v) => typeof v === 'number');
}

export function renderTable(t: TableData): string {
  if (t.rows.length === 0 && (t.footer?.length ?? 0) === 0) {
    return `<p class="empty">${escapeHtml(t.empty ?? 'none')}</p>`;
  }
  const all = [...t.rows, ...(t.footer ?? [])];
  const numeric = t.columns.map((c) => isNumeric(c, all));
  const cell = (row: Readonly<Record<string, CellValue>>, c: TableColumn, j: number) => {
    const text = escapeHtml((c.format ?? defaultFormat)(row[c.key], row));
    const classes = [numeric[j] ? 'num' : '', c.wrap ? 'wrap' : ''].filter((x) => x !== '');
    const cls = classes.length > 0 ? ` class="${classes.join(' ')}"` : '';
    return j === 0 ? `<th scope="row"${cls}>${text}</th>` : `<td${cls}>${text}</td>`;
  };
  const rowHtml = (row: Readonly<Record<string, CellValue>>, i: number, highlight: boolean) =>
    `<tr${highlight ? ' class="highlight"' : ''} data-row="${i}">${t.columns.map((c, j) => cell(row, c, j)).join('')}</tr>`;
  const head = `<thead><tr>${t.columns.map((c, j) => `<th scope="col"${numeric[j] ? ' class="num"' : ''}>${escapeHtml(c.title)}</th>`).join('')}</tr></thead>`;
  const highlight = new Set(t.highlight ?? []);
  const body = `<tbody>${t.rows.map((r, i) => rowHtml(r, i, highlight.has(i))).join('')}</tbody>`;
  const foot = t.footer && t.footer.length > 0 ? `<tbody class="summary">${t.footer.map((r, i) => rowHtml(r, t.rows.length + i, false)).join('')}</tbody>` : '';
  // The caption as a paragraph: a <caption> is only as wide as its table.
  const caption = t.caption ? `<p class="table-caption">${escapeHtml(t.caption)}</p>` : '';
  return `${caption}<div class="table-wrap"><table>${head}${body}${foot}</table></div>`;
}

export function renderKeyValue(entries: readonly KeyValue[]): string {
  const value = (v: KeyValue['value']) => {
    if (Array.isArray(v)) {
      if (v.length <= 1) return escapeHtml(defaultFormat(v[0] as CellValue));
      return `<ul>${v.map((x) => `<li>${escapeHtml(defaultFormat(x as CellValue))}</li>`).join('')}</ul>`;
    }
    return escapeHtml(defaultFormat(v as CellValue));
  };
  return `<dl class="kv">${entries.map((e) => `<dt>${escapeHtml(e.key)}</dt><dd>${value(e.value)}</dd>`).join('')}</dl>`;
}

function renderText(text: string): string {
  return text
    .split(/\n\s*\n/u)
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => `<p>${escapeHtml(p)}</p>`)
    .join('\n');
}

/** The chart's SVG with an accessible name, as a figure. */
export function renderChart(chart: Chart, caption?: string): string {
  const svg = chart.svg.replace(/^<svg\b/u, `<svg role="img" aria-label="${escapeHtml(chart.title)}"`);
  const text = [caption ?? chart.title, ...chart.notes].filter((t) => t !== '').join(' ');
  return `<figure class="chart" data-chart="${escapeHtml(chart.kind)}" data-marks="${chart.marks}"><div class="svg">${svg}</div>${text ? `<figcaption>${escapeHtml(text)}</figcaption>` : ''}</figure>`;
}

async function renderBlock(b: ReportBlock, onWarning?: (message: string) => void): Promise<string> {
  switch (b.kind) {
    case 'chart': {
      const chart = await b.chart;
      for (const w of chart.warnings) onWarning?.(`chart ${chart.kind}: ${w}`);
      return renderChart(chart, b.caption);
    }
    case 'table':
      return renderTable(b.table);
    case 'keyvalue':
      return renderKeyValue(b.entries);
    case 'text':
      return renderText(b.text);
    case 'pre':
      return `${b.caption ? `<p>${escapeHtml(b.caption)}</p>` : ''}<pre>${escapeHtml(b.text)}</pre>`;
  }
}

export interface RenderOptions {
  /** Told each warning Vega-Lite or Vega gave for a chart (the chart is still drawn). */
  readonly onWarning?: (message: string) => void;
}

/** The whole page. Charts given as promises are awaited here. */
export async function renderReport(doc: ReportDocument, options: RenderOptions = {}): Promise<string> {
  // Every block at once: chart promises are made by the builders before rendering starts, and
  // each must be awaited from the start, or one failing while another is awaited would end
  // the process as an unhandled rejection instead of failing this call.
  const rendered = await Promise.all(doc.sections.map((s) => Promise.all(s.blocks.map((b) => renderBlock(b, options.onWarning)))));
  const used = new Set<string>();
  const sections: string[] = [];
  const toc: string[] = [];
  doc.sections.forEach((s, i) => {
    const id = slug(s.heading, used);
    toc.push(`<a href="#${id}">${escapeHtml(s.heading)}</a>`);
    sections.push(`<section id="${id}">\n<h2>${escapeHtml(s.heading)}</h2>\n${rendered[i]!.join('\n')}\n</section>`);
  });
  const generated = (doc.generated ?? new Date()).toISOString().replace('T', ' ').replace(/\.\d+Z$/u, ' UTC');
  const meta = doc.metadata && doc.metadata.length > 0 ? renderKeyValue(doc.metadata) : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="flowknn ${escapeHtml(TOOL_VERSION)}">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(doc.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(doc.title)}</h1>
${doc.subtitle ? `<p class="subtitle">${escapeHtml(doc.subtitle)}</p>` : ''}
${meta}
${toc.length > 1 ? `<nav class="toc">${toc.join(' ')}</nav>` : ''}
</header>
<main>
${sections.join('\n')}
</main>
<footer>Made by flowknn ${escapeHtml(TOOL_VERSION)} on ${escapeHtml(generated)}. Charts drawn with Vega-Lite; this file needs no network.</footer>
</body>
</html>
`;
}
