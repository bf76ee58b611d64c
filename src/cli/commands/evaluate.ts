import type { Argv, CommandModule } from 'yargs';

import { usageError } from '../../errors.js';
import { evaluate } from '../../eval/evaluate.js';
import { formatConfusion, formatFixed, formatReport, reportDict } from '../../eval/format.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { checkOutputs } from '../../io/out-path.js';
import { readModelSpec } from '../../model/registry.js';
import { type LabelledSet } from '../../knn/labelled-set.js';
import { loadLabelled } from '../../model/labelled.js';
import type { ModelConfig } from '../../knn/model.js';
import type { CliContext } from '../context.js';
import { progressUpdater } from '../progress.js';
import {
  type ArgsOf,
  engineFrom,
  engineOption,
  labelOptions,
  listOption,
  modelOptions,
  OUTPUT_FORMATS,
  outputFormatFrom,
  PROTOCOL_CHOICES,
  protocolOptions,
  zoneFrom,
} from '../options.js';
import { configFrom, protocolFrom } from './train.js';
import { metricLabel } from '../../engines/metrics.js';

const evaluateBuilder = (y: Argv) =>
  engineOption(
    protocolOptions(
      modelOptions(
        labelOptions(y)
          .option('labels', { type: 'string', describe: 'folder of per-label files, or a table with a label column' })
          .option('model', { type: 'string', describe: "evaluate a model folder's (or a registry model's current version's) configuration on its own training rows (instead of --labels)" })
          .option('protocol', { choices: PROTOCOL_CHOICES, default: 'loo' as const, describe: 'resubstitution | holdout | kfold (stratified) | loo (leave-one-out)' })
          .option('format', { choices: OUTPUT_FORMATS, default: 'text' as const, describe: "what is printed on stdout: text (scikit-learn's classification_report layout) or json (its output_dict=True, flowknn's details under \"flowknn\")" })
          .option('json', { type: 'boolean', describe: 'the same as --format json' })
          .option('digits', { type: 'number', default: 2, describe: 'decimals in the text report' })
          .option('out', { type: 'string', describe: 'also write the JSON result (what --format json prints) to this file' })
          .option('report', { type: 'string', describe: 'also write an HTML report (charts, tables) to this file' }),
      ),
    ),
  );

type EvaluateArgs = ArgsOf<typeof evaluateBuilder>;

export function evaluateCommand(ctx: CliContext): CommandModule<object, EvaluateArgs> {
  return {
    command: 'evaluate',
    describe: 'score a kNN configuration on labelled data: classification report and confusion matrix',
    builder: evaluateBuilder,
    handler: async (args) => {
      const [jsonOut, reportOut] = await checkOutputs(
        [
          { flag: '--out', path: args.out, file: 'json' },
          { flag: '--report', path: args.report, file: 'html' },
        ],
        [
          { flag: '--labels', path: args.labels },
          { flag: '--model', path: args.model },
        ],
      );
      let set: LabelledSet;
      let config: ModelConfig;
      if (args.model !== undefined) {
        if (args.labels !== undefined) throw usageError('give --labels or --model, not both');
        const { loaded } = await readModelSpec(args.model);
        for (const w of loaded.warnings ?? []) ctx.log(`warning: ${w}`);
        set = loaded.model.train;
        config = loaded.model.config;
      } else {
        if (args.labels === undefined) throw usageError('evaluate needs --labels DIR (or --model DIR)');
        set = await loadLabelled(args.labels, NFDUMP_STAT7, { exclude: listOption(args.exclude), include: listOption(args.include), zone: zoneFrom(args) });
        config = configFrom(args);
      }
      const asJson = outputFormatFrom(args) === 'json';
      // Before the work: in the JSON result, classes share the keys of scikit-learn's entries and flowknn's own.
      const taken = set.classes.find((c) => c === 'accuracy' || c === 'flowknn');
      if ((asJson || jsonOut) && taken !== undefined) throw usageError(`a class named "${taken}" cannot be told apart from the "${taken}" entry of the JSON result`, 'rename the label');
      const protocol = protocolFrom(args);
      const engine = await engineFrom(args, ctx.log);
      let ev;
      const started = performance.now();
      try {
        ev = await evaluate(set, config, protocol, engine, progressUpdater(ctx, protocol.name));
      } finally {
        await engine.dispose();
      }
      // scikit-learn's classification_report(output_dict=True), and what flowknn adds under its own key.
      const json = (): object => ({
        ...reportDict(ev.report),
        flowknn: {
          format: 'flowknn-evaluation',
          format_version: 2,
          protocol: { name: protocol.name, folds: ev.folds, ...(protocol.name === 'kfold' || protocol.name === 'holdout' ? { seed: protocol.seed } : {}), ...(protocol.name === 'holdout' ? { test_fraction: protocol.testFraction } : {}) },
          config: { scaler: config.scaler, k: config.k, metric: config.metric, weights: config.weights },
          engine: engine.name,
          rows: ev.rows.length,
          classes: set.classes,
          confusion_matrix: { labels: ev.confusion.labels, rows: 'true', columns: 'predicted', matrix: ev.confusion.matrix },
        },
      });
      if (jsonOut) await writeFileAtomic(jsonOut.path, `${JSON.stringify(json(), null, 2)}\n`);
      if (reportOut) {
        const { evaluationReport, renderReport, writeReport } = await import('../../report/index.js');
        const doc = evaluationReport({ evaluation: ev, set, engine: engine.name, meta: { inputs: [args.model ?? args.labels!], timings: { evaluate: performance.now() - started } } });
        await writeReport(reportOut.path, await renderReport(doc, { onWarning: (w) => ctx.log(`report: ${w}`) }));
        ctx.log(`wrote ${args.report}`);
      }
      if (asJson) {
        ctx.stdout.write(`${JSON.stringify(json(), null, 2)}\n`);
        return;
      }
      const m = metricLabel(config.metric);
      ctx.stdout.write(
        `${protocol.name}${ev.folds > 1 ? ` (${ev.folds} folds)` : ''}: ${ev.rows.length} rows, k = ${config.k}, ${m}, scaler ${config.scaler}, ${config.weights} votes\n\n` +
          `${formatReport(ev.report, args.digits)}\nConfusion matrix (${formatFixed(ev.report.accuracy, 3)} accuracy)\n${formatConfusion(ev.confusion)}`,
      );
    },
  };
}
