import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepJson } from '../../src/eval/sweep-format.js';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { formatReport, reportDict } from '../../src/eval/format.js';
import { sweep } from '../../src/eval/sweep.js';
import {
  classificationTable,
  escapeHtml,
  evaluationData,
  evaluationDataFromJson,
  readEvaluationJson,
  readSweepRows,
  noveltyChart,
  renderReport,
  renderTable,
  runs,
  sweepRowsFrom,
  type ReportDocument,
} from '../../src/report/index.js';
import { makeTempDir } from '../helpers/tmp.js';
import { seedEvaluationReport, seedSet } from './fixtures.js';

const engine = new CpuEngine({ threads: 1 });
afterAll(() => engine.dispose());

/** What a self-contained page must not hold: scripts, external references of any kind. */
function expectSelfContained(html: string): void {
  const tags = [...html.matchAll(/<[a-zA-Z][^>]*>/gu)].map((m) => m[0]);
  for (const tag of tags) {
    expect(tag).not.toMatch(/^<(script|link|img|iframe|object|embed|image|use|foreignObject)\b/iu);
    expect(tag).not.toMatch(/\s(src|srcset|action|formaction|background|on[a-z]+)\s*=/iu);
    // Links only within the page.
    for (const ref of tag.matchAll(/\s(?:xlink:)?href="([^"]*)"/gu)) expect(ref[1]).toMatch(/^#/u);
  }
  expect(html).not.toMatch(/url\(\s*["']?(?!#)/iu);
  expect(html).not.toMatch(/@import|@font-face/iu);
  expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'`);
}

describe('HTML report', () => {
  it('escapes every text it puts into the page', async () => {
    const evil = `<img src=x onerror="alert('x')"> & "quotes"`;
    const doc: ReportDocument = {
      title: evil,
      subtitle: evil,
      metadata: [{ key: evil, value: [evil, evil] }],
      sections: [
        {
          heading: evil,
          blocks: [
            { kind: 'text', text: evil },
            { kind: 'pre', text: evil, caption: evil },
            { kind: 'keyvalue', entries: [{ key: 'k', value: evil }] },
            { kind: 'table', table: { columns: [{ key: 'a', title: evil }], rows: [{ a: evil }], caption: evil } },
          ],
        },
      ],
    };
    const html = await renderReport(doc);
    expect(html).not.toContain('<img');
    expect(html).not.toContain(`"alert`);
    expect(html).toContain(escapeHtml(evil));
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expectSelfContained(html);
  });

  it('a seed evaluation report is one self-contained page, every chart inline with ids unique in the page', async () => {
    const warnings: string[] = [];
    const html = await renderReport(await seedEvaluationReport(), { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expectSelfContained(html);
    const figures = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)" data-marks="(\d+)">/gu)].map((m) => m[1]);
    expect(figures).toEqual(['confusion', 'class-scores', 'scatter']);
    expect([...html.matchAll(/<svg\b/gu)]).toHaveLength(3);
    const ids = [...html.matchAll(/\bid="([^"]+)"/gu)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(3);
    expect(new Set(ids).size).toBe(ids.length);
    for (const ref of html.matchAll(/url\(#([^)]+)\)/gu)) expect(ids).toContain(ref[1]);
    expect(html).toContain('@media print');
    expect(html).toMatch(/figure\.chart[^{]*\{[^}]*break-inside: avoid/u);
  });

  it('prints the classification report with the digits of the text report', async () => {
    const set = await seedSet();
    const ev = await evaluate(set, { scaler: 'row-l2', k: 5, metric: { name: 'euclidean' }, weights: 'uniform' }, { name: 'resubstitution' }, engine);
    for (const digits of [2, 4]) {
      const text = formatReport(ev.report, digits);
      const html = renderTable(classificationTable(ev.report, digits));
      const htmlRows = [...html.matchAll(/<tr[^>]*data-row[^>]*>(.*?)<\/tr>/gsu)].map((m) => [...m[1]!.matchAll(/<t[hd][^>]*>(.*?)<\/t[hd]>/gsu)].map((c) => c[1]!).filter((c) => c !== ''));
      const textRows = text
        .split('\n')
        .slice(1)
        .filter((l) => l.trim() !== '')
        .map((l) => l.trim().split(/\s{2,}|\s(?=\d)/u).map((c) => c.trim()).filter((c) => c !== ''));
      expect(htmlRows).toEqual(textRows);
    }
    // The published row of the seed study, as the text report prints it.
    const html = renderTable(classificationTable(ev.report));
    expect(html).toContain('<th scope="row">smtp</th><td class="num">0.73</td><td class="num">0.55</td><td class="num">0.63</td><td class="num">85</td>');
  });

  it('evaluation JSON from flowknn evaluate gives the same report numbers', async () => {
    const set = await seedSet();
    const config = { scaler: 'log-zscore' as const, k: 3, metric: { name: 'euclidean' as const }, weights: 'uniform' as const };
    const ev = await evaluate(set, config, { name: 'kfold', folds: 10, seed: 7 }, engine);
    const { dir, cleanup } = await makeTempDir();
    try {
      // The details src/cli/commands/evaluate.ts writes with --out, under "flowknn" beside
      // scikit-learn's report dictionary; evaluate wrote them at the top level before.
      const json = {
        protocol: { name: 'kfold', folds: ev.folds, seed: 7 },
        config: { scaler: config.scaler, k: config.k, metric: config.metric, weights: config.weights },
        engine: 'cpu',
        rows: ev.rows.length,
        classes: set.classes,
        confusion_matrix: { labels: ev.confusion.labels, rows: 'true', columns: 'predicted', matrix: ev.confusion.matrix },
      };
      const file = join(dir, 'evaluation.json');
      const direct = evaluationData(ev, 'cpu');
      for (const shape of [{ ...reportDict(ev.report), flowknn: { format: 'flowknn-evaluation', format_version: 2, ...json } }, { ...json, report: {} }]) {
        await writeFile(file, JSON.stringify(shape));
        const fromJson = evaluationDataFromJson(await readEvaluationJson(file));
        expect(fromJson.report).toEqual(direct.report);
        expect(fromJson.config).toEqual(direct.config);
        expect([fromJson.protocol, fromJson.folds, fromJson.seed]).toEqual(['kfold', 10, 7]);
      }
      await writeFile(file, JSON.stringify({ ...json, confusion_matrix: { labels: ['a', 'b'], matrix: [[1]] } }));
      await expect(readEvaluationJson(file)).rejects.toThrow(/2 x 2/u);
    } finally {
      await cleanup();
    }
  });

  it('reads what flowknn sweep --json writes, keeping its ranking and choice', async () => {
    const set = await seedSet();
    const res = await sweep(set, { ks: [1, 2, 3, 4, 5], metrics: [{ name: 'euclidean' }, { name: 'manhattan' }], weights: ['uniform'], scalers: ['zscore', 'log-zscore'] }, { name: 'kfold', folds: 5, repeats: 2, seed: 1 }, engine);
    const plain = sweepRowsFrom(res);
    expect(plain.rows).toHaveLength(20);
    const { dir, cleanup } = await makeTempDir();
    try {
      const file = join(dir, 'sweep.json');
      await writeFile(file, JSON.stringify(sweepJson(res, undefined, 'cpu')));
      const read = await readSweepRows(file);
      expect(read.rows).toEqual(plain.rows);
      expect(read.chosen).toEqual(plain.chosen);
      expect(read.rows[0]!.rank).toBe(1);
      expect(read.protocol).toBe('stratified 5-fold x 2 repeats');
      expect(read.engine).toBe('cpu');
      // Plain rows work too.
      await writeFile(file, JSON.stringify([{ k: 1, metric: 'euclidean', scaler: 'zscore', weights: 'uniform', accuracy: 0.7, macro_f1: 0.75 }]));
      expect((await readSweepRows(file)).rows).toEqual([{ k: 1, rank: undefined, metric: 'euclidean', scaler: 'zscore', weights: 'uniform', accuracy: 0.7, macroF1: 0.75, accuracyStd: undefined, macroF1Std: undefined }]);
      await writeFile(file, JSON.stringify({ configurations: [{ k: 1, metric: 'euclidean', scaler: 'zscore', weights: 'uniform' }] }));
      await expect(readSweepRows(file)).rejects.toThrow(/not sweep rows: configurations\.0\.accuracy/u);
    } finally {
      await cleanup();
    }
  });

  it('folds repeated neighbour labels, nearest first', () => {
    expect(runs(['tivoli', 'tivoli', 'http'])).toBe('tivoli ×2, http');
    expect(runs(['a', 'b', 'a'])).toBe('a, b, a');
    expect(runs([])).toBe('');
  });
});

describe('a chart that fails', () => {
  it('fails renderReport, even when it fails while an earlier chart is still being drawn', async () => {
    const slow = noveltyChart({ scores: [0.1, 0.5, 2], threshold: 1 });
    const broken = Promise.reject(new Error('chart data broken'));
    const doc = {
      title: 't',
      sections: [
        { heading: 'a', blocks: [{ kind: 'chart' as const, chart: slow }] },
        { heading: 'b', blocks: [{ kind: 'chart' as const, chart: broken }] },
      ],
    };
    await expect(renderReport(doc)).rejects.toThrow('chart data broken');
  });
});
