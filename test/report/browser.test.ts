/**
 * Each kind of report opened in a real browser (Debian's chromium, headless, driven by
 * playwright-core; never `npx playwright install`, which downloads a browser) from file://: no
 * console errors, no request leaving the file, every chart present as inline SVG with marks
 * drawn. Screenshots (screen and print) go to test/artifacts/ (git-ignored) for a person to
 * look at. CI installs chromium (.ci/run), so there this never skips.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport, type ReportDocument } from '../../src/report/index.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { BROKEN_NIGHT, classifiedDemoReport, NIGHT, nightlyRunReport, PREVIOUS_NIGHT, seedEvaluationReport, seedSweepReport } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');
/** Screenshots of the nightly report's first sections, to look at. */
const SCREENS = join(REPO_ROOT, 'out/report-screens');

const haveChromium = existsSync(CHROMIUM);
const run = haveChromium || process.env.CI === 'true';
const suiteName = run ? 'reports in headless Chromium' : `reports in headless Chromium (skipped: ${CHROMIUM} is missing and CI is not set; apt-get install chromium)`;

/** Mark elements Vega drew in one chart, by mark type (symbol, rect, line, rule, text...). */
interface ChartInBrowser {
  kind: string;
  inlineSvg: boolean;
  width: number;
  height: number;
  marks: Record<string, number>;
}

interface Case {
  name: string;
  /** A document to render, or the HTML a command wrote. */
  build: () => Promise<ReportDocument | { html: string }> | ReportDocument;
  /** Expected charts in page order, with the mark counts that must hold. */
  charts: { kind: string; check: (marks: Record<string, number>) => void }[];
}

const CASES: Case[] = [
  {
    name: 'seed-evaluation',
    build: seedEvaluationReport,
    charts: [
      { kind: 'confusion', check: (m) => (expect(m.rect).toBe(25), expect(m.text).toBe(25)) },
      { kind: 'class-scores', check: (m) => (expect(m.rect).toBe(15), expect(m.text).toBe(15)) },
      // 380 labelled rows, all with positive flows and bps.
      { kind: 'scatter', check: (m) => expect(m.symbol).toBe(380) },
    ],
  },
  {
    name: 'sweep',
    build: seedSweepReport,
    charts: [
      // 3 metrics x 5 scalers, in 2 scores x 2 weightings; a point per k on each line, and the ring in the two panels of its weighting.
      { kind: 'sweep', check: (m) => (expect(m.line).toBe(60), expect(m.symbol).toBe(60 * 15 + 2)) },
    ],
  },
  {
    name: 'classified',
    build: classifiedDemoReport,
    charts: [
      // 380 training rows and 36 classified rows (one probe has zero pps but positive flows and bps).
      { kind: 'scatter', check: (m) => expect(m.symbol).toBe(380 + 36) },
      { kind: 'novelty', check: (m) => (expect(m.rect).toBeGreaterThan(5), expect(m.rule).toBe(1)) },
    ],
  },
  {
    name: 'nightly',
    build: async () => {
      nightly = await nightlyRunReport();
      return { html: nightly.html };
    },
    charts: [
      // 15 nights (14 before tonight) x 3 counts: a bar and its label for tonight and the night
      // before, a cross for each of the 13 nights without counts (12 missing, 1 unreadable)
      { kind: 'history', check: (m) => (expect(m.rect).toBe(2 * 3), expect(m.text).toBe(2 * 3), expect(m.symbol).toBe(13 * 3)) },
      // every row a line through seven points
      { kind: 'profiles', check: (m) => (expect(m.line).toBeGreaterThan(6), expect(m.symbol).toBe(7 * m.line!)) },
      // the seed's 380 training rows under the night's classified aggregates
      { kind: 'scatter', check: (m) => expect(m.symbol).toBe(380 + nightly!.drawable) },
      { kind: 'novelty', check: (m) => (expect(m.rect).toBeGreaterThan(0), expect(m.rule).toBe(1)) },
    ],
  },
];

let nightly: Awaited<ReturnType<typeof nightlyRunReport>> | undefined;

// Browser-side code as text (the project's TypeScript has no DOM types).

/** Each figure.chart: its inline SVG, drawn size, and the elements of its mark groups by mark type. */
const CHARTS_IN_PAGE = `Array.from(document.querySelectorAll('figure.chart'), (f) => {
  const svg = f.querySelector(':scope > .svg > svg');
  const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
  const marks = {};
  for (const g of svg ? svg.querySelectorAll('g.role-mark') : []) {
    const cls = Array.from(g.classList).find((k) => k.startsWith('mark-'));
    const type = cls ? cls.slice(5) : 'unknown';
    const drawn = Array.from(g.children).filter((el) => ['path', 'rect', 'line', 'text', 'circle'].includes(el.tagName.toLowerCase()));
    marks[type] = (marks[type] || 0) + drawn.length;
  }
  return { kind: f.dataset.chart || '', inlineSvg: svg !== null && svg.namespaceURI === 'http://www.w3.org/2000/svg', width: box.width, height: box.height, marks };
})`;

/** Anything that could load from outside the page: scripts, resources, links off the page. */
const EXTERNAL_IN_PAGE = `[
  ...Array.from(document.querySelectorAll('[src], [srcset], link, script, iframe, object, embed, image, use'), (e) => e.outerHTML.slice(0, 80)),
  ...Array.from(document.querySelectorAll('[href], [*|href]'), (e) => e.getAttribute('href') || e.getAttribute('xlink:href') || '').filter((h) => !h.startsWith('#')),
]`;

/** Opens a file:// page and records what a self-contained report must never do. */
async function openAndWatch(page: import('playwright-core').Page, file: string): Promise<string[]> {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? ''})`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file://')) problems.push(`request left the file: ${r.url()}`);
  });
  const response = await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  if (response && !response.ok()) problems.push(`page load: ${response.status()}`);
  return problems;
}

describe.skipIf(!run)(suiteName, () => {
  let browser: Browser;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('the watch catches a page that reaches out (the checks below can fail)', async () => {
    const file = join(ARTIFACTS, 'poisoned.html');
    await writeFile(file, '<!DOCTYPE html><html><body><img src="https://example.invalid/x.png"><script>console.error("boom")</script></body></html>');
    const context = await browser.newContext({ offline: true });
    try {
      const problems = await openAndWatch(await context.newPage(), file);
      expect(problems).toEqual(expect.arrayContaining(['console error: boom', expect.stringMatching(/^request left the file: https:\/\/example\.invalid/u)]));
    } finally {
      await context.close();
    }
  });

  for (const c of CASES) {
    it(`${c.name}: opens from file:// with no console errors and no requests, every chart drawn as inline SVG`, async () => {
      const warnings: string[] = [];
      const built = await c.build();
      const html = 'html' in built ? built.html : await renderReport(built, { onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([]);
      const file = join(ARTIFACTS, `${c.name}.html`);
      await writeFile(file, html);

      const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
      let problems: string[] = [];
      try {
        const page = await context.newPage();
        problems = await openAndWatch(page, file);

        const found = await page.evaluate<ChartInBrowser[]>(CHARTS_IN_PAGE);
        expect(found.map((f) => f.kind)).toEqual(c.charts.map((x) => x.kind));
        for (const [i, chart] of found.entries()) {
          expect(chart.inlineSvg, `${chart.kind}: inline SVG`).toBe(true);
          expect(chart.width, `${chart.kind}: width`).toBeGreaterThan(200);
          expect(chart.height, `${chart.kind}: height`).toBeGreaterThan(100);
          const drawn = Object.entries(chart.marks).filter(([type]) => type !== 'text').reduce((s, [, n]) => s + n, 0);
          expect(drawn, `${chart.kind}: marks ${JSON.stringify(chart.marks)}`).toBeGreaterThan(0);
          c.charts[i]!.check(chart.marks);
        }
        // Nothing outside the page: no scripts, no external resources of any kind.
        expect(await page.evaluate<string[]>(EXTERNAL_IN_PAGE)).toEqual([]);
        // Does not overflow the page sideways: every chart fits the content column.
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBeLessThanOrEqual(0);

        await page.screenshot({ path: join(ARTIFACTS, `${c.name}.png`), fullPage: true });
        await page.emulateMedia({ media: 'print' });
        // A4 less 12 mm margins is about 700 CSS px: the printed page must not be cut at the side.
        await page.setViewportSize({ width: 700, height: 1000 });
        await page.screenshot({ path: join(ARTIFACTS, `${c.name}-print.png`), fullPage: true });
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth'), 'print width').toBeLessThanOrEqual(0);
        // Print keeps charts whole and backgrounds white.
        const printStyle = await page.evaluate<string[]>("Array.from(document.querySelectorAll('figure.chart'), (f) => getComputedStyle(f).breakInside)");
        expect(new Set(printStyle)).toEqual(new Set(['avoid']));
        expect(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor')).toMatch(/^rgba?\(255, 255, 255/u);
      } finally {
        await context.close();
      }
      expect(problems).toEqual([]);
    }, 120_000);
  }

  it('nightly: the first section lists the incidents, ranked; every point of the scatter names its row in a <title>', async () => {
    expect(nightly, 'the nightly case ran first').toBeDefined();
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
    try {
      const page = await context.newPage();
      expect(await openAndWatch(page, join(ARTIFACTS, 'nightly.html'))).toEqual([]);
      const first = await page.evaluate<{ heading: string; header: string[]; severities: string[] }>(`(() => {
        const s = document.querySelector('main > section');
        return { heading: s.querySelector('h2').textContent, header: Array.from(s.querySelectorAll('thead th'), (t) => t.textContent), severities: Array.from(s.querySelectorAll('tbody tr'), (r) => r.cells[0].textContent) };
      })()`);
      expect(first.heading).toBe('Incidents');
      expect(first.header.slice(0, 4)).toEqual(['severity', 'class', 'host', 'direction']);
      expect(first.severities.length).toBeGreaterThan(0);
      const rank = ['critical', 'high', 'medium', 'low'];
      expect([...first.severities].sort((a, b) => rank.indexOf(a) - rank.indexOf(b))).toEqual(first.severities);
      const marks = await page.evaluate<{ titled: number; untitled: number; classified: string[] }>(`(() => {
        const svg = document.querySelector('figure.chart[data-chart="scatter"] svg');
        const points = Array.from(svg.querySelectorAll('g.mark-symbol.role-mark > path'));
        const titles = points.map((p) => p.querySelector(':scope > title')?.textContent ?? null);
        return { titled: titles.filter((t) => t).length, untitled: titles.filter((t) => !t).length, classified: titles.filter((t) => t && !t.startsWith('training row')) };
      })()`);
      expect(marks.untitled).toBe(0);
      expect(marks.titled).toBe(380 + nightly!.drawable);
      expect(marks.classified).toHaveLength(nightly!.drawable);
      for (const t of marks.classified) expect(t).toMatch(/^[0-9a-f.:]+, window 2026-11-01 \d\d:\d\d UTC, predicted [a-z-]+$/u);
    } finally {
      await context.close();
    }
  }, 60_000);
  it('nightly: every ground-truth flood of the generated night is in exactly one incident of the first section', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
    try {
      const page = await context.newPage();
      expect(await openAndWatch(page, join(ARTIFACTS, 'nightly.html'))).toEqual([]);
      const rows = await page.evaluate<{ host: string; span: string; id: string; rule: string }[]>(`(() => {
        const s = document.querySelector('main > section');
        const head = Array.from(s.querySelectorAll('thead th'), (t) => t.textContent);
        return Array.from(s.querySelectorAll('tbody tr'), (r) => ({ host: r.cells[head.indexOf('host')].textContent, span: r.cells[head.indexOf('UTC')].textContent, id: r.cells[head.indexOf('id')].textContent, rule: r.cells[head.indexOf('class')].textContent }));
      })()`);
      const { floods, incidents } = nightly!;
      expect(floods.length, 'the generated night has floods').toBeGreaterThan(1);
      const at = (hhmm: string) => Date.parse(`${NIGHT}T${hhmm}:00Z`);
      for (const t of floods) {
        // a listed incident of the host whose time span (whole minutes, UTC) meets the event
        const hits = rows.filter((r) => {
          const [from, to] = r.span.split(' - ').map(at);
          return r.host === t.host && from! <= t.end && to! >= Math.floor(t.start / 60_000) * 60_000;
        });
        expect(hits.map((h) => `${h.rule} ${h.span}`), `${t.id} (${t.cls} toward ${t.host})`).toHaveLength(1);
        expect(['small-flood', 'incoming-floods']).toContain(hits[0]!.rule);
        // and it is that incident of incidents.ndjson
        const inc = incidents.filter((i) => i.flowknn.host === t.host && Date.parse(i.event.start) <= t.end && Date.parse(i.event.end) >= t.start);
        expect(inc).toHaveLength(1);
        expect(inc[0]!.event.id.startsWith(hits[0]!.id)).toBe(true);
      }
    } finally {
      await context.close();
    }
  }, 60_000);

  it('nightly: tonight against the previous nights comes second: the night before counted, the broken one and the gaps named, the hosts new tonight; every mark titled', async () => {
    await mkdir(SCREENS, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
    try {
      const page = await context.newPage();
      expect(await openAndWatch(page, join(ARTIFACTS, 'nightly.html'))).toEqual([]);
      const sections = await page.$$('main > section');
      for (const [i, name] of ['incidents', 'history', 'profiles'].entries()) await sections[i]!.screenshot({ path: join(SCREENS, `nightly-${i + 1}-${name}.png`) });
      const second = await page.evaluate<{ heading: string; text: string; hosts: string[]; titles: string[]; untitled: number }>(`(() => {
        const s = document.querySelectorAll('main > section')[1];
        const marks = Array.from(s.querySelectorAll('figure.chart svg g.role-mark > *'));
        return {
          heading: s.querySelector('h2').textContent,
          text: s.textContent,
          hosts: Array.from(s.querySelectorAll('tbody tr'), (r) => r.cells[0].textContent),
          titles: marks.map((m) => m.querySelector(':scope > title')?.textContent).filter(Boolean),
          untitled: marks.filter((m) => !m.querySelector(':scope > title')).length,
        };
      })()`);
      expect(second.heading).toBe('Tonight against the previous nights');
      expect(second.untitled).toBe(0);
      const { incidents, previousHosts, previousOpen } = nightly!;
      expect(second.titles).toContain(`${PREVIOUS_NIGHT}: ${previousOpen} open incidents`);
      expect(second.titles.filter((t) => t.startsWith(`${BROKEN_NIGHT}: unreadable (summary.json: not valid JSON`))).toHaveLength(3);
      expect(second.titles.filter((t) => t.endsWith(': no night in the output folder'))).toHaveLength(12 * 3);
      expect(second.text).toContain('No night in the output folder for 2026-10-18 to 2026-10-28 (11 nights), 2026-10-30.');
      expect(second.text).toContain(`Unreadable, left out: ${BROKEN_NIGHT} (summary.json: not valid JSON`);
      // hosts new tonight: open incidents' hosts the night before did not have, in rank order
      const seen = new Set(previousHosts);
      const fresh = [...new Set(incidents.filter((i) => !i.flowknn.suppressed && !seen.has(i.flowknn.host)).map((i) => i.flowknn.host))];
      expect(fresh.length, 'some hosts alert tonight only').toBeGreaterThan(0);
      expect(fresh.length, 'some hosts alerted the night before too').toBeLessThan(new Set(incidents.map((i) => i.flowknn.host)).size);
      expect(second.hosts).toEqual(fresh.slice(0, 50));

      const third = await page.evaluate<{ heading: string; untitled: number; incidentTitles: string[] }>(`(() => {
        const s = document.querySelectorAll('main > section')[2];
        const marks = Array.from(s.querySelectorAll('figure.chart svg g.role-mark > *'));
        return {
          heading: s.querySelector('h2').textContent,
          untitled: marks.filter((m) => !m.querySelector(':scope > title')).length,
          incidentTitles: marks.filter((m) => m.tagName === 'path' && m.getAttribute('aria-roledescription') === 'line mark').map((m) => m.querySelector('title').textContent),
        };
      })()`);
      expect(third.heading).toBe('Top incidents over all seven features');
      expect(third.untitled).toBe(0);
      // the first-ranked incident's rows are drawn, named by host and window
      const first = incidents.find((i) => !i.flowknn.suppressed)!;
      expect(third.incidentTitles.some((t) => t.startsWith(`${first.flowknn.host}, window ${NIGHT} `))).toBe(true);
      expect(third.incidentTitles.some((t) => t.startsWith('training row '))).toBe(true);
    } finally {
      await context.close();
    }
  }, 60_000);
});
