/** The kinds of report the browser test opens: built from the seed data and plain rows, and a nightly run's own report. */
import { tableFromIPC } from 'apache-arrow';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Incident } from '../../src/pipeline/incidents.js';
import { generateArchive } from '../../src/synth/generate.js';
import { readGroundTruth } from '../../src/synth/ground-truth.js';
import { runMain } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';
import { CpuEngine } from '../../src/engines/cpu/cpu-engine.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { featureMatrix, NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { readInput } from '../../src/ingest/read.js';
import { type LabelledSet } from '../../src/knn/labelled-set.js';
import { loadLabelled } from '../../src/model/labelled.js';
import { calibrateNovelty, kthDistances } from '../../src/knn/novelty.js';
import { fitModel, predict, type ModelConfig } from '../../src/knn/model.js';
import { classifiedReport, evaluationReport, rankSweep, sweepReport, type ClassifiedRow, type ReportDocument, type SweepChoice, type SweepRow } from '../../src/report/index.js';
import { SEED_LABELS, SEED_PROBES } from '../helpers/paths.js';

export const SEED_CONFIG: ModelConfig = { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' };

export async function seedSet(): Promise<LabelledSet> {
  return loadLabelled(SEED_LABELS, NFDUMP_STAT7, { exclude: ['nfs'] });
}

/** The seed evaluation: log-zscore, k = 3, leave-one-out, as `npm run demo:seed` prints it. */
export async function seedEvaluationReport(): Promise<ReportDocument> {
  const set = await seedSet();
  const engine = new CpuEngine({ threads: 1 });
  try {
    const t = performance.now();
    const ev = await evaluate(set, SEED_CONFIG, { name: 'loo' }, engine);
    return evaluationReport({
      evaluation: ev,
      set,
      engine: engine.name,
      title: 'Seed study: leave-one-out evaluation',
      meta: { device: 'CPU, 1 thread', inputs: [SEED_LABELS], timings: { evaluate: performance.now() - t }, modelVersion: 'not saved (evaluated in memory)' },
    });
  } finally {
    await engine.dispose();
  }
}

/** A plausible sweep grid as plain rows: k 1..15 x 3 metrics x 5 scalers x 2 weightings. */
export function sweepRows(): { rows: SweepRow[]; chosen: SweepChoice } {
  const scalers = ['none', 'zscore', 'minmax', 'log-zscore', 'row-l2'];
  const base: Record<string, number> = { none: 0.6, zscore: 0.72, minmax: 0.7, 'log-zscore': 0.8, 'row-l2': 0.64 };
  const metrics = ['euclidean', 'manhattan', 'chebyshev'];
  const rows: SweepRow[] = [];
  for (const scaler of scalers) {
    for (const [mi, metric] of metrics.entries()) {
      for (const weights of ['uniform', 'distance']) {
        for (let k = 1; k <= 15; k++) {
          const shape = -0.0009 * (k - 4) ** 2 + (weights === 'distance' ? 0.006 : 0) - mi * 0.012 + Math.sin(k * 1.7 + mi) * 0.004;
          const accuracy = base[scaler]! + shape;
          rows.push({ k, metric, scaler, weights, accuracy, macroF1: accuracy + 0.05 - (scaler === 'none' ? 0.03 : 0), accuracyStd: 0.01 + 0.001 * k, macroF1Std: 0.012 + 0.001 * k });
        }
      }
    }
  }
  const best = rankSweep(rows)[0]!;
  return { rows, chosen: { k: best.k, metric: best.metric, scaler: best.scaler, weights: best.weights } };
}

export function seedSweepReport(): ReportDocument {
  const { rows, chosen } = sweepRows();
  return sweepReport(rows, chosen, {
    title: 'Seed study: choosing k, metric, weighting and scaler',
    protocol: 'stratified 10-fold x 5 repeats',
    nested: { accuracy: 0.774, accuracyStd: 0.051, macroF1: 0.833, macroF1Std: 0.06, description: 'outer stratified 10-fold x 5' },
    meta: { engine: 'cpu', device: 'CPU, 2 threads', inputs: [SEED_LABELS], timings: { sweep: 4210, nested: 38100 } },
  });
}

/**
 * Classified rows with novelty scores: the 20 probes and the 16 nfs rows (a class the model
 * never saw) classified by the seed model, scored and thresholded as `flowknn classify` does
 * (k-th neighbour distance in model space; the model's leave-one-out 0.95 quantile).
 */
export async function classifiedDemoReport(): Promise<ReportDocument> {
  const set = await seedSet();
  const model = fitModel(set, SEED_CONFIG);
  const engine = new CpuEngine({ threads: 1 });
  try {
    const probes = await readInput(join(SEED_PROBES, 'test-samples.txt'));
    const nfs = await readInput(join(SEED_LABELS, 'nfs.raw'));
    const parts = [
      { name: 'test-samples.txt', m: featureMatrix(probes.table, NFDUMP_STAT7, 'probes'), notes: probes.table.getChild('note') },
      { name: 'nfs.raw', m: featureMatrix(nfs.table, NFDUMP_STAT7, 'nfs'), notes: null },
    ];
    const rows: ClassifiedRow[] = [];
    const { threshold } = await calibrateNovelty(model, engine, 0.95);
    for (const p of parts) {
      const pred = await predict(model, p.m, engine);
      const scores = kthDistances(pred.neighbours, SEED_CONFIG.k);
      const cols = NFDUMP_STAT7.columns;
      for (let q = 0; q < p.m.rows; q++) {
        const at = (c: string) => p.m.data[q * p.m.cols + cols.indexOf(c)]!;
        const c = pred.votes.predicted[q]!;
        rows.push({
          source: `${p.name}:${q + 1}`,
          key: 'XXX.XXX.XXX.XXX',
          note: (p.notes?.get(q) as string | null | undefined) ?? null,
          flows: at('flows'),
          bps: at('bps'),
          pps: at('pps'),
          predicted: set.classes[c]!,
          probability: pred.votes.probabilities[q * set.classes.length + c]!,
          neighbours: Array.from(pred.neighbours.indices.subarray(q * 3, q * 3 + 3), (i) => set.classes[set.labels[i]!]!),
          novelty: scores[q]!,
        });
      }
    }
    return classifiedReport({
      title: 'Classified rows: probes and unseen nfs traffic',
      classes: set.classes,
      training: set,
      rows,
      novelty: { threshold, scoreName: 'distance to the k-th nearest training row (k = 3, model space)' },
      meta: { engine: 'cpu', device: 'CPU, 1 thread', modelVersion: 'seed model (log-zscore, k = 3), in memory', inputs: ['data/seed-2015/probes/test-samples.txt', 'data/seed-2015/labels/nfs.raw'], timings: { classify: 12 } },
    });
  } finally {
    await engine.dispose();
  }
}

/** A flood event of the generator's ground truth (ground-truth.csv). */
export interface FloodTruth {
  readonly id: string;
  readonly cls: string;
  readonly host: string;
  readonly start: number;
  readonly end: number;
}

export const NIGHT = '2026-11-01';
export const PREVIOUS_NIGHT = '2026-10-31';
export const BROKEN_NIGHT = '2026-10-29';

/**
 * The report of a demo nightly run, as the product writes it: two generated hours of nfcapd
 * files (with nfs traffic the seed model never saw) through `flowknn nightly` with the demo's
 * networks and severities, after a generated quarter hour the night before (a night of its own
 * archive, same output folder) and beside a night whose summary.json was cut short; the other
 * nights of the report's 14 are missing. Returns the report's HTML, how many classified rows
 * the scatter plot can draw (flows and bps above 0), the night's incidents, the ground truth's
 * flood events and the hosts of the previous night's incidents.
 */
export async function nightlyRunReport(): Promise<{ html: string; drawable: number; rows: number; incidents: Incident[]; floods: FloodTruth[]; previousHosts: string[]; previousOpen: number }> {
  const { dir, cleanup } = await makeTempDir('flowknn-nightly-report-');
  try {
    const model = join(dir, 'model');
    const trained = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
    if (trained.code !== 0) throw new Error(trained.stderr);
    const night = async (date: string, archive: string) => {
      const config = join(dir, `nightly-${date}.json`);
      await writeFile(
        config,
        JSON.stringify({
          archive: { root: archive },
          output: { root: join(dir, 'out') },
          model: { path: model },
          aggregate: { source: 'nfdump', key: 'dstip', minPackets: 1000 },
          classify: { engine: 'cpu', threads: 1, alertClasses: ['small-flood', 'incoming-floods'] },
          networks: { own: ['10.0.0.0/8', '192.168.0.0/16', '2001:db8:1::/48'] },
          incidents: { severity: { 'incoming-floods': 'critical', 'small-flood': 'high' } },
        }),
      );
      const run = await runMain(['nightly', '--config', config, '--date', date, '--quiet']);
      if (run.code !== 0) throw new Error(run.stderr);
      return join(dir, 'out', date);
    };
    const before = await generateArchive({ out: join(dir, 'archive-before'), date: PREVIOUS_NIGHT, hours: 0.25, seed: 3, background: 200, jobs: 2 });
    const previous = await night(PREVIOUS_NIGHT, before.flowsDir);
    const previousHosts = (await readFile(join(previous, 'incidents.ndjson'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Incident).flowknn.host);
    const previousOpen = (JSON.parse(await readFile(join(previous, 'summary.json'), 'utf8')) as { incidents: { open: number } }).incidents.open;
    await mkdir(join(dir, 'out', BROKEN_NIGHT));
    await writeFile(join(dir, 'out', BROKEN_NIGHT, 'summary.json'), `{ "format": "flowknn-nightly-summary", "date": "${BROKEN_NIGHT}", "alerts": `);
    const archive = await generateArchive({ out: join(dir, 'archive'), date: NIGHT, hours: 2, seed: 7, background: 2000, nfs: true, jobs: 2 });
    const day = await night(NIGHT, archive.flowsDir);
    const floods = (await readGroundTruth(join(archive.out, 'ground-truth.csv')))
      .filter((t) => t.class === 'small-flood' || t.class === 'incoming-floods')
      .map((t) => ({ id: t.event_id, cls: t.class, host: t.host, start: t.startMs, end: t.endMs }));
    const incidents = (await readFile(join(day, 'incidents.ndjson'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Incident);
    const predictions = tableFromIPC(await readFile(join(day, 'predictions.arrow')));
    const flows = predictions.getChild('flows')!.toArray() as Float64Array;
    const bps = predictions.getChild('bps')!.toArray() as Float64Array;
    const drawable = Array.from(flows).filter((f, i) => f > 0 && bps[i]! > 0).length;
    return { html: await readFile(join(day, 'report.html'), 'utf8'), drawable, rows: predictions.numRows, incidents, floods, previousHosts, previousOpen };
  } finally {
    await cleanup();
  }
}
