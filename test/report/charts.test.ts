import { describe, expect, it } from 'vitest';
import { classScoresChart, confusionChart, decades, noveltyChart, scatterChart, siNumber, sweepChart } from '../../src/report/charts.js';
import { countMarks, estimateTextWidth, uniqueIds } from '../../src/report/vega.js';
import { sweepRows } from './fixtures.js';

/** Text of every <text> element of a role (axis-title, legend-label, axis-label...), unescaped. */
function texts(svg: string, role: string): string[] {
  const out: string[] = [];
  const group = new RegExp(`<g class="mark-text role-${role}(?: [^"]*)?"[^>]*>(.*?)</g>`, 'gsu');
  for (const g of svg.matchAll(group)) {
    for (const t of g[1]!.matchAll(/<text[^>]*>(.*?)<\/text>/gsu)) out.push(t[1]!.replace(/<title>.*?<\/title>/gsu, '').replace(/&lt;/gu, '<').replace(/&gt;/gu, '>').replace(/&quot;/gu, '"').replace(/&#x27;|&#39;/gu, "'").replace(/&amp;/gu, '&'));
  }
  return out;
}

/** Leaf elements of the plot's mark groups of one Vega mark type (symbol, rect, line, rule...). */
function marksOf(svg: string, type: string): number {
  let n = 0;
  for (const g of svg.matchAll(new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gsu'))) n += [...g[1]!.matchAll(/<(path|rect|line)\b/gu)].length;
  return n;
}

const CLASSES = ['smtp', 'http', 'tivoli', 'small-flood', 'incoming-floods'];

function points(n: number) {
  return Array.from({ length: n }, (_, i) => ({ flows: 1 + ((i * 37) % 5000), bps: 10 ** (3 + (i % 7)), pps: (i * 13) % 90000, label: CLASSES[i % CLASSES.length]! }));
}

describe('scatter chart (flows against bps, marker area by pps)', () => {
  it('has log axes labelled 1, 10, 100, 1k ... 1G, the axis titles and one legend entry per class', async () => {
    const chart = await scatterChart({ classes: CLASSES, training: points(200) });
    expect(chart.warnings).toEqual([]);
    expect(texts(chart.svg, 'axis-title')).toEqual(expect.arrayContaining(['flows (log scale)', 'bps, bits per second (log scale)']));
    const labels = texts(chart.svg, 'axis-label');
    expect(labels).toEqual(expect.arrayContaining(['1', '10', '100', '1k', '10k', '1M', '1G']));
    // Only powers of ten are labelled, in SI form: no 2e+3, no 5,000, no 0.
    for (const l of labels) expect(l).toMatch(/^(1|10|100)[kMGT]?$/u);
    const legend = texts(chart.svg, 'legend-label');
    for (const c of CLASSES) expect(legend).toContain(c);
    expect(texts(chart.svg, 'legend-title')).toEqual(expect.arrayContaining(['class', 'pps (marker area)']));
    expect(marksOf(chart.svg, 'symbol')).toBe(200);
    expect(chart.hidden).toBe(0);
  });

  it('draws classified rows as a second layer coloured by prediction, and says which rows a log axis cannot show', async () => {
    const classified = [
      { flows: 12, bps: 4e6, pps: 300, label: 'http' },
      { flows: 3, bps: 0, pps: 0, label: 'tivoli' },
      { flows: 700, bps: 9e8, pps: 1e5, label: 'new-thing' },
    ];
    const chart = await scatterChart({ classes: CLASSES, training: points(50), classified });
    expect(chart.warnings).toEqual([]);
    const legend = texts(chart.svg, 'legend-label');
    expect(legend).toEqual(expect.arrayContaining(['training', 'classified', 'new-thing', ...CLASSES]));
    expect(texts(chart.svg, 'legend-title')).toContain('class / prediction');
    expect(chart.hidden).toBe(1);
    expect(chart.notes.join(' ')).toMatch(/1 row with zero flows or bps/u);
    expect(marksOf(chart.svg, 'symbol')).toBe(52);
  });

  it('escapes class names in the SVG', async () => {
    const chart = await scatterChart({ classes: ['<script>alert(1)</script>', 'a&b'], training: [{ flows: 2, bps: 2000, pps: 3, label: '<script>alert(1)</script>' }, { flows: 20, bps: 9000, pps: 30, label: 'a&b' }] });
    expect(chart.svg).not.toContain('<script>');
    expect(chart.svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(texts(chart.svg, 'legend-label')).toEqual(expect.arrayContaining(['<script>alert(1)</script>', 'a&b']));
  });
});

describe('confusion matrix heatmap', () => {
  it('has one cell per pair with its count, class names on both axes', async () => {
    const matrix = [
      [47, 37, 0, 1, 0],
      [17, 129, 1, 8, 0],
      [0, 0, 64, 4, 0],
      [0, 10, 15, 34, 0],
      [0, 0, 1, 3, 9],
    ];
    const chart = await confusionChart({ labels: CLASSES, matrix });
    expect(chart.warnings).toEqual([]);
    expect(marksOf(chart.svg, 'rect')).toBe(25);
    const cellText = texts(chart.svg, 'mark');
    expect(cellText.map(Number)).toEqual(matrix.flat());
    const axis = texts(chart.svg, 'axis-label');
    for (const c of CLASSES) expect(axis.filter((l) => l === c)).toHaveLength(2);
    expect(texts(chart.svg, 'axis-title')).toEqual(expect.arrayContaining(['predicted class', 'true class']));
  });
});

describe('per-class scores', () => {
  it('draws precision, recall and F1 bars per class with their values', async () => {
    const classes = CLASSES.map((label, i) => ({ label, precision: 0.5 + i / 20, recall: 0.6, f1: 0.55 }));
    const chart = await classScoresChart({ classes });
    expect(chart.warnings).toEqual([]);
    expect(marksOf(chart.svg, 'rect')).toBe(15);
    expect(texts(chart.svg, 'legend-label')).toEqual(['precision', 'recall', 'F1']);
    expect(texts(chart.svg, 'axis-label')).toEqual(expect.arrayContaining(CLASSES));
    expect(texts(chart.svg, 'mark')).toContain('0.70');
  });
});

describe('sweep curves', () => {
  it('draws one line per metric x scaler in each panel (score x weighting) and rings the chosen configuration', async () => {
    const { rows, chosen } = sweepRows();
    const chart = await sweepChart(rows, chosen);
    expect(chart.warnings).toEqual([]);
    // 3 metrics x 5 scalers lines, in 2 scores x 2 weightings panels.
    expect(marksOf(chart.svg, 'line')).toBe(15 * 4);
    const legend = texts(chart.svg, 'legend-label');
    expect(legend).toEqual(expect.arrayContaining(['none', 'zscore', 'minmax', 'log-zscore', 'row-l2', 'euclidean', 'manhattan', 'chebyshev']));
    const headers = [...chart.svg.matchAll(/<text[^>]*>(accuracy|macro F1), (uniform|distance) votes<\/text>/gu)].map((m) => m[0]);
    expect(headers).toHaveLength(4);
    expect(texts(chart.svg, 'axis-title')).toEqual(expect.arrayContaining(['k (neighbours)', 'score (mean over folds)']));
    // k ticks do not crowd: at most 9 labels on an axis of 15 values.
    expect(texts(chart.svg, 'axis-label').filter((l) => /^\d+$/u.test(l)).length).toBeLessThanOrEqual(9 * 2);
  });

  it('takes a single weighting and a single k', async () => {
    const chart = await sweepChart([{ k: 3, metric: 'euclidean', scaler: 'zscore', weights: 'uniform', accuracy: 0.8, macroF1: 0.82 }], { k: 3, metric: 'euclidean', scaler: 'zscore', weights: 'uniform' });
    expect(chart.warnings).toEqual([]);
    expect(chart.svg).toContain('>accuracy</text>');
    expect(chart.svg).toContain('>macro F1</text>');
  });
});

describe('novelty scores', () => {
  it('shows the distribution, the threshold and how many rows pass it', async () => {
    const scores = Array.from({ length: 60 }, (_, i) => (i % 20) / 10);
    const chart = await noveltyChart({ scores, threshold: 1.45, scoreName: 'distance to the nearest training row' });
    expect(chart.warnings).toEqual([]);
    expect(marksOf(chart.svg, 'rect')).toBeGreaterThan(5);
    expect(marksOf(chart.svg, 'rule')).toBe(1);
    expect(texts(chart.svg, 'mark')).toContain('threshold 1.45');
    expect(texts(chart.svg, 'legend-label')).toEqual(['within threshold (45)', 'novel (15)']);
    expect(texts(chart.svg, 'axis-title')).toContain('distance to the nearest training row');
  });
});

describe('chart helpers', () => {
  it('decades cover the data with powers of ten', () => {
    expect(decades([3, 4500])).toEqual({ domain: [1, 10000], ticks: [1, 10, 100, 1000, 10000] });
    expect(decades([1000, 1000])).toEqual({ domain: [1000, 10000], ticks: [1000, 10000] });
    expect(decades([0, -1])).toEqual({ domain: [1, 10], ticks: [1, 10] });
    expect(decades([1, 1e14]).ticks).toHaveLength(8);
  });

  it('siNumber prints 1k, 1.5M, 3.4G', () => {
    expect([siNumber(0), siNumber(12), siNumber(999), siNumber(1000), siNumber(1500000), siNumber(3.4e9), siNumber(0.25)]).toEqual(['0', '12', '999', '1k', '1.5M', '3.4G', '0.25']);
  });

  it('prefixes ids and their references so charts can share a page', () => {
    const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"></g><use href="#clip1"/><g id="other"></g></svg>';
    expect(uniqueIds(svg, 'c7-')).toBe('<svg><defs><clipPath id="c7-clip1"><rect/></clipPath></defs><g clip-path="url(#c7-clip1)"></g><use href="#c7-clip1"/><g id="c7-other"></g></svg>');
  });

  it('counts the marks of the plot, not of axes and legends', () => {
    expect(countMarks('<g class="mark-symbol role-mark marks"><path/><path/></g><g class="mark-symbol role-legend-symbol"><path/></g><g class="mark-rect role-mark"><path/></g>')).toBe(3);
  });

  it('estimates text no narrower than DejaVu Sans draws it', () => {
    // Chromium measures DejaVu Sans at 11 px: "incoming-floods" 87.6 px, "1k" 13.4, "WWW" 32.6;
    // Vega's own estimate (0.8 em a character) would say 132 px for the first.
    expect(estimateTextWidth('incoming-floods', 11)).toBeGreaterThanOrEqual(87.6);
    expect(estimateTextWidth('incoming-floods', 11)).toBeLessThan(100);
    expect(estimateTextWidth('1k', 11)).toBeGreaterThanOrEqual(13.4);
    expect(estimateTextWidth('WWW', 11)).toBeGreaterThanOrEqual(32.6);
  });
});
