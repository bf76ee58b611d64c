import { dirname, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';

import { usageError, wholeNumber } from '../../errors.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import { checkOutput } from '../../io/out-path.js';
import { readModelSpec } from '../../model/registry.js';
import { type LabelledSet } from '../../knn/labelled-set.js';
import { loadLabelled } from '../../model/labelled.js';
import type { KeyValue, ReportSection } from '../../report/index.js';
import type { CliContext } from '../context.js';
import { type ArgsOf, labelOptions, listOption, zoneFrom } from '../options.js';
import { metricLabel } from '../../engines/metrics.js';

const reportBuilder = (y: Argv) =>
  labelOptions(
    y
      .usage(
        '$0 report --out FILE.html [inputs]\n\n' +
          'Draws whatever it is given, in this order: sweep (score against k, ranked configurations), evaluation ' +
          '(classification report, confusion matrix, per-class scores), training data (flows against bps, marker ' +
          'area by pps, log axes), classified rows over the training data with novelty scores. The file opens ' +
          'from disk without a network and prints well.',
      )
      .example('$0 report --evaluation out/evaluation.json --model out/model --out out/report.html', 'an evaluation, with the training rows drawn')
      .example('$0 report --predictions out/probes/predictions.arrow --model out/model --out out/probes/report.html', 'classified rows drawn over the training data')
      .example('$0 report --labels data/seed-2015/labels --exclude nfs --out out/seed.html', 'the labelled data alone')
      .example('$0 report --nightly out/demo/nightly/2026-11-01 --out night.html', "a night's report, made again from its outputs")
      .option('out', { type: 'string', demandOption: true, describe: 'the HTML file to write (written whole or not at all)' })
      .option('title', { type: 'string', describe: 'report title (default: from what is drawn)' })
      .option('evaluation', { type: 'string', describe: 'evaluation JSON written by flowknn evaluate --out FILE' })
      .option('labels', { type: 'string', describe: 'labelled data to draw: folder of per-label files, or a table with a label column' })
      .option('model', { type: 'string', describe: "model folder, or a registry model (ROOT/NAME: its current version): its training rows are drawn (instead of --labels) and its version listed" })
      .option('predictions', { type: 'string', describe: 'predictions.arrow written by flowknn classify --out DIR: drawn over the training rows of --model or --labels' })
      .option('novelty-column', { type: 'string', describe: 'numeric column of --predictions holding novelty scores (default: novelty, when a threshold is given or stored)' })
      .option('novelty-threshold', { type: 'number', describe: 'scores above it are novel (default: the table\'s flowknn.novelty_threshold metadata)' })
      .option('sweep', { type: 'string', describe: 'sweep result written by flowknn sweep --json FILE (or plain rows: [{k, metric, scaler, weights, accuracy, macroF1}, ...])' })
      .option('nightly', { type: 'string', describe: "a night's output folder (OUTPUT/<date> of flowknn nightly or merge): its report, made again (with --model: over that model's training rows instead of the one the night used)" })
      .option('history', { type: 'number', describe: 'with --nightly: the previous nights set against it, read from the day folders beside it (default 14, 0 for none, at most 366)' })
      .option('max-rows', { type: 'number', default: 50, describe: 'rows listed at most in each table of rows' })
      .option('digits', { type: 'number', default: 2, describe: 'decimals in the classification report' }),
  );

type ReportArgs = ArgsOf<typeof reportBuilder>;

export function reportCommand(ctx: CliContext): CommandModule<object, ReportArgs> {
  return {
    command: 'report',
    describe: 'write a self-contained HTML report (charts as inline SVG, no network needed) of an evaluation, a sweep or classified rows',
    builder: reportBuilder,
    handler: async (args) => {
      // Loaded here, not at the top: Vega takes a quarter of a second to load, which every
      // other command would pay when main.ts registers this one.
      const {
        classifiedSections,
        evaluationDataFromJson,
        evaluationSections,
        metadataEntries,
        readEvaluationJson,
        readPredictions,
        readSweepRows,
        renderReport,
        scatterChart,
        scatterPoints,
        sweepSections,
        writeReport,
      } = await import('../../report/index.js');
      const read = (['evaluation', 'labels', 'model', 'predictions', 'sweep', 'nightly'] as const).map((k) => ({ flag: `--${k}`, path: args[k] }));
      const out = (await checkOutput({ flag: '--out', path: args.out, file: 'html' }, read))!;
      if (args.nightly !== undefined) {
        if (args.evaluation !== undefined || args.predictions !== undefined || args.sweep !== undefined || args.labels !== undefined) {
          throw usageError('--nightly draws a night on its own', 'leave out --evaluation, --predictions, --sweep and --labels');
        }
        const history = wholeNumber('--history', args.history ?? 14, 0, 366, 'nights');
        const { readNightOutputs } = await import('../../report/night.js');
        const { writeNightlyReport } = await import('./nightly.js');
        const day = await readNightOutputs(args.nightly);
        const modelDir = args.model ?? day.summary.model.dir;
        const model = await readModelSpec(modelDir).then(
          (m) => m.loaded,
          (err: unknown) => {
            ctx.log(`report: the night's model ${modelDir} cannot be read (${err instanceof Error ? err.message : String(err)}); the rows are drawn without the training data`);
            return undefined;
          },
        );
        // the night is OUTPUT/<date>: the other nights are its neighbours in OUTPUT
        await writeNightlyReport(ctx, { ...day, model, reportFile: out.path, maxRows: args['max-rows'] }, { root: dirname(resolve(args.nightly)), history });
        ctx.log(`wrote ${args.out}`);
        return;
      }
      if (args.history !== undefined) throw usageError('--history sets the previous nights of a nightly report', 'give it with --nightly DIR');
      if (args.evaluation === undefined && args.predictions === undefined && args.sweep === undefined && args.labels === undefined && args.model === undefined) {
        throw usageError('report needs something to draw', 'give --evaluation FILE, --predictions FILE, --sweep FILE, --labels DIR or --model DIR');
      }
      if (args.labels !== undefined && args.model !== undefined) throw usageError('give --labels or --model, not both');
      wholeNumber('--max-rows', args['max-rows'], 1);
      if (!Number.isInteger(args.digits) || args.digits < 0 || args.digits > 10) throw usageError(`--digits must be 0..10, got ${args.digits}`);
      const inputs: string[] = [];
      const extra: KeyValue[] = [];
      let engine: string | undefined;
      let modelVersion: string | undefined;

      let set: LabelledSet | undefined;
      if (args.model !== undefined) {
        const { loaded } = await readModelSpec(args.model);
        set = loaded.model.train;
        const j = loaded.json;
        modelVersion = `${args.model}: flowknn ${j.tool_version}, created ${j.created}, training rows sha256 ${j.train.sha256.slice(0, 12)}…`;
        const m = metricLabel(j.metric);
        extra.push({ key: 'model', value: `k = ${j.k}, ${m}, scaler ${j.scaler.name}, ${j.weights} votes; ${j.train.rows} training rows` });
        inputs.push(args.model);
      } else if (args.labels !== undefined) {
        set = await loadLabelled(args.labels, NFDUMP_STAT7, { exclude: listOption(args.exclude), include: listOption(args.include), zone: zoneFrom(args) });
        inputs.push(args.labels);
      }

      const sections: ReportSection[] = [];
      const titles: string[] = [];

      if (args.sweep !== undefined) {
        const sw = await readSweepRows(args.sweep);
        inputs.push(args.sweep);
        engine ??= sw.engine;
        if (sw.protocol) extra.push({ key: 'sweep protocol', value: sw.protocol });
        sections.push(...sweepSections(sw.rows, sw.chosen, { top: 20, nested: sw.nested, protocol: sw.protocol }));
        titles.push('sweep');
      }

      let drewTraining = false;
      if (args.evaluation !== undefined) {
        const json = await readEvaluationJson(args.evaluation);
        inputs.push(args.evaluation);
        engine = json.engine;
        const data = evaluationDataFromJson(json);
        if (set && set.classes.join('\n') !== data.confusion.labels.join('\n')) {
          throw usageError(
            `the evaluation's classes (${data.confusion.labels.join(', ')}) differ from those of ${args.model ?? args.labels} (${set.classes.join(', ')})`,
            'give the labels the evaluation was made on, with the same --exclude/--include',
          );
        }
        const c = data.config;
        extra.unshift(
          { key: 'evaluation', value: `${data.protocol} (${data.folds} folds), k = ${c.k}, ${c.metric}, scaler ${c.scaler}, ${c.weights} votes` },
          { key: 'rows evaluated', value: data.report.total },
        );
        // Per-row predictions are not in the JSON: the training rows are drawn, no misclassified list.
        sections.push(...evaluationSections({ evaluation: data, set: args.predictions === undefined ? set : undefined, digits: args.digits, maxRows: args['max-rows'] }));
        drewTraining = set !== undefined && args.predictions === undefined;
        titles.push('evaluation');
      }

      if (args.predictions !== undefined) {
        let column = args['novelty-column'];
        const probe = await readPredictions(args.predictions);
        if (column === undefined && (args['novelty-threshold'] !== undefined || probe.metadata['flowknn.novelty_threshold'] !== undefined)) {
          column = 'novelty';
        }
        const file = column === undefined ? probe : await readPredictions(args.predictions, column);
        inputs.push(args.predictions);
        engine ??= file.metadata['flowknn.engine'];
        if (file.metadata['flowknn.inputs']) {
          try {
            extra.push({ key: 'classified inputs', value: (JSON.parse(file.metadata['flowknn.inputs']) as unknown[]).map(String) });
          } catch {
            // not a list: leave it out
          }
        }
        const classes = set?.classes ?? file.classes;
        let novelty;
        if (column !== undefined) {
          const t = args['novelty-threshold'] ?? Number(file.metadata['flowknn.novelty_threshold']);
          if (!Number.isFinite(t)) throw usageError(`--novelty-column ${column} needs --novelty-threshold N (the table carries no flowknn.novelty_threshold)`);
          novelty = { threshold: t, scoreName: file.metadata['flowknn.novelty_score'] ?? column };
        }
        if (!set) ctx.log('report: no --model or --labels: the classified rows are drawn without the training data');
        sections.push(...classifiedSections({ classes, training: set, rows: file.rows, novelty, maxRows: args['max-rows'] }));
        drewTraining = set !== undefined;
        titles.push('classified rows');
      }

      if (set && !drewTraining) {
        const training = scatterPoints(set);
        if (training) {
          sections.push({
            heading: 'Training data',
            blocks: [{ kind: 'chart', chart: scatterChart({ classes: set.classes, training }), caption: `The ${training.length} labelled rows, one colour per class: log axes, marker area by pps.` }],
          });
          if (titles.length === 0) titles.push('labelled data');
        }
      }

      const html = await renderReport(
        {
          title: args.title ?? `flowknn report: ${titles.join(', ')}`,
          metadata: [...extra, ...metadataEntries({ engine, modelVersion, inputs })],
          sections,
        },
        { onWarning: (w) => ctx.log(`report: ${w}`) },
      );
      await writeReport(out.path, html);
      ctx.log(`wrote ${args.out}: ${sections.length} sections`);
    },
  };
}
