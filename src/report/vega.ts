/**
 * Server-side chart rendering: a Vega-Lite spec is compiled to Vega, run headless (renderer
 * 'none', no DOM, no canvas) and serialised to an SVG string that can be inlined in HTML.
 *
 * Text widths: without a canvas (the optional `canvas` package is not a dependency) Vega
 * estimates every character as 0.8 em, which wastes room and truncates labels early. We install
 * a per-character estimate of DejaVu Sans, the widest common sans-serif and what Debian's
 * browsers use for `sans-serif`; narrower fonts (Arial, Helvetica, Liberation Sans) then fit
 * with room to spare. Installing it also means a `canvas` package that happens to be installed
 * does not change the layout, so the same data always gives the same SVG.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A chart rendered to SVG. */
export interface Chart {
  /** Which builder made it (scatter, confusion, class-scores, sweep, novelty...). */
  readonly kind: string;
  /** One line saying what it shows (used as the figure's accessible name). */
  readonly title: string;
  /** Inline SVG markup (`<svg ...>...</svg>`), ids unique to this chart. */
  readonly svg: string;
  readonly width: number;
  readonly height: number;
  /** Marks drawn in the plot area (points, bars, cells, lines), for tests and captions. */
  readonly marks: number;
  /** Warnings Vega-Lite or Vega gave while compiling or rendering (empty when all went well). */
  readonly warnings: string[];
  /** Sentences the reader needs under the chart (e.g. rows that could not be drawn). */
  readonly notes: readonly string[];
}

export const CHART_FONT = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';

// Advance widths in em of DejaVu Sans (rounded up), by character class.
const NARROW = new Set("il.,:;|!'`ijlI[]()".split(''));
const WIDE = new Set('mwMW@%'.split(''));
const UPPER = /[A-Z]/u;
const DIGIT = /[0-9]/u;

/** Estimated width in px of `text` at `fontSize` px, bold a little wider. */
export function estimateTextWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) {
    if (ch === ' ') em += 0.32;
    else if (NARROW.has(ch)) em += 0.35;
    else if (WIDE.has(ch)) em += 1.0;
    else if (DIGIT.test(ch)) em += 0.64;
    else if (UPPER.test(ch)) em += 0.74;
    else if (ch === '-' || ch === '_' || ch === 'f' || ch === 't' || ch === 'r') em += 0.42;
    else em += 0.62;
  }
  return em * fontSize * (bold ? 1.1 : 1);
}

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
}

type TextMetrics = { width: (item: TextItem, text: unknown) => number };

const metrics = (vega as unknown as { textMetrics?: TextMetrics }).textMetrics;
if (metrics) {
  metrics.width = (item: TextItem, text: unknown) => {
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
    const s = text == null ? '' : String(text).trim();
    return estimateTextWidth(s, size, bold);
  };
}

/** A loader that refuses every request: report charts carry their data inline, never a URL. */
const noNetwork = {
  load: (uri: string) => Promise.reject(new Error(`report charts load nothing (asked for ${uri})`)),
  sanitize: (uri: string) => Promise.reject(new Error(`report charts load nothing (asked for ${uri})`)),
  http: () => Promise.reject(new Error('report charts load nothing')),
  file: () => Promise.reject(new Error('report charts load nothing')),
};

let chartCounter = 0;

/** Prefixes every id in an SVG (and the references to it), so many charts can share one page:
 *  Vega restarts its clip-path and gradient numbering for each chart. */
export function uniqueIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\bid="([^"]+)"/gu)].map((m) => m[1]!));
  if (ids.size === 0) return svg;
  return svg.replace(/\b(id="|url\(#|href="#)([^")]+)/gu, (whole, lead: string, id: string) => (ids.has(id) ? `${lead}${prefix}${id}` : whole));
}

/** Counts the marks Vega drew in the plot area: children of `role-mark` groups. */
export function countMarks(svg: string): number {
  let count = 0;
  const groupOpen = /<g class="mark-(?:symbol|rect|line|area|rule|text|path|arc|shape|trail|image) role-mark[^"]*"[^>]*>/gu;
  for (const m of svg.matchAll(groupOpen)) {
    // Children up to the matching close: role-mark groups hold only leaf elements (path, rect,
    // line, text), each one mark item.
    const start = m.index! + m[0].length;
    const end = svg.indexOf('</g>', start);
    const inner = svg.slice(start, end < 0 ? svg.length : end);
    count += [...inner.matchAll(/<(path|rect|line|text|circle|image)\b/gu)].length;
  }
  return count;
}

/** Shared look of every chart: quiet grid, readable labels, white background (prints well). */
export const BASE_CONFIG = {
  background: 'white',
  font: CHART_FONT,
  view: { stroke: '#bbb' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelColor: '#222', titleColor: '#222', gridColor: '#e4e4e4', domainColor: '#666', tickColor: '#666', labelLimit: 400 },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 400, titleLimit: 400, labelColor: '#222', titleColor: '#222' },
  header: { labelFontSize: 12, titleFontSize: 12, labelColor: '#222' },
  title: { fontSize: 13, anchor: 'start', color: '#222', fontWeight: 'normal' },
} as const;

/**
 * Compiles a Vega-Lite spec and renders it to SVG without a browser. Warnings from the
 * compiler and the runtime are returned, not printed; a Vega error is thrown.
 */
/**
 * Marks that carry a description (Vega writes it as their aria-label) get it as an SVG
 * <title> too, which browsers show on hover: a chart point says which row it is without a
 * script. Vega has escaped the text for an attribute, which is escaped enough for content.
 */
export function markTitles(svg: string): string {
  const leaves = svg.replace(/<(path|rect|line|circle|text)(\s[^>]*?\baria-label="([^"]*)"[^>]*?\brole="graphics-symbol"[^>]*?)\/>/gu, (_m, tag: string, attrs: string, label: string) => `<${tag}${attrs}><title>${label}</title></${tag}>`);
  // a text mark has its text inside: the <title> goes first (SVG allows it in <text>)
  return leaves.replace(/<text(\s[^>]*?\baria-label="([^"]*)"[^>]*?\brole="graphics-symbol"[^>/]*)>(?!<title>)/gu, (_m, attrs: string, label: string) => `<text${attrs}><title>${label}</title>`);
}

export async function renderVegaLite(kind: string, title: string, spec: TopLevelSpec): Promise<Chart> {
  const warnings: string[] = [];
  type Handler = (method: string, level: string, args: unknown[]) => void;
  const handler: Handler = (method, level, args) => {
    const text = args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
    if (method === 'error') throw new Error(`chart ${kind}: ${text}`);
    warnings.push(`${level} ${text}`.trim());
  };
  const logger = (vega.logger as unknown as (level: number, method?: string, handler?: Handler) => vega.LoggerInterface)(vega.Warn, undefined, handler);
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec as { config?: object }).config } } as TopLevelSpec;
  const compiled = compile(withConfig, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger, logLevel: vega.Warn, loader: noNetwork as unknown as vega.Loader });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const id = `c${++chartCounter}-`;
  svg = markTitles(uniqueIds(svg, id));
  const size = /<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"/u.exec(svg);
  return { kind, title, svg, width: size ? Number(size[1]) : 0, height: size ? Number(size[2]) : 0, marks: countMarks(svg), warnings, notes: [] };
}
