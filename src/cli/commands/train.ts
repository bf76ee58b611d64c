import type { Argv, CommandModule } from 'yargs';

import type { MetricName } from '../../engines/engine.js';
import { usageError } from '../../errors.js';
import { evaluate } from '../../eval/evaluate.js';
import type { ProtocolName } from '../../eval/splits.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import type { ScalerName } from '../../features/scalers.js';
import type { Weights } from '../../knn/classifier.js';
import { writeModel, type EvaluationSummary } from '../../model/folder.js';
import { loadLabelled } from '../../model/labelled.js';
import { fitModel, type ModelConfig } from '../../model/model.js';
import type { CliContext } from '../context.js';
import { progressUpdater } from '../progress.js';
import { engineFrom, engineOption, labelOptions, listOption, metricFrom, modelOptions, PROTOCOL_CHOICES, protocolOptions, type EngineArgs } from '../options.js';
import { formatFixed } from '../../eval/format.js';
import { calibrateNovelty, checkQuantile, DEFAULT_NOVELTY_QUANTILE, type NoveltyCalibration } from '../../knn/novelty.js';

export interface ModelArgs {
  scaler: ScalerName;
  k: number;
  metric: MetricName;
  p?: number;
  weights: Weights;
}

export interface LabelArgs {
  labels: string;
  exclude: string[];
  include?: string[];
}

export interface ProtocolArgs {
  protocol: ProtocolName;
  folds: number;
  'test-fraction': number;
  seed: number;
}

interface TrainArgs extends ModelArgs, LabelArgs, Omit<ProtocolArgs, 'protocol'>, EngineArgs {
  out: string;
  'novelty-quantile': number;
  protocol: ProtocolName | 'none';
}

export function configFrom(args: ModelArgs): ModelConfig {
  if (!Number.isInteger(args.k) || args.k < 1) throw usageError(`--k must be a whole number >= 1, got ${args.k}`);
  return { scaler: args.scaler, k: args.k, metric: metricFrom(args.metric, args.p), weights: args.weights };
}

export function protocolFrom(args: ProtocolArgs) {
  return { name: args.protocol, folds: args.folds, testFraction: args['test-fraction'], seed: args.seed };
}

export function trainCommand(ctx: CliContext): CommandModule<object, TrainArgs> {
  return {
    command: 'train',
    describe: 'fit a kNN model on labelled aggregates and write the model folder',
    builder: (y: Argv) =>
      engineOption(
        protocolOptions(
          modelOptions(
            labelOptions(y)
              .option('labels', { type: 'string', demandOption: true, describe: 'folder of per-label files (label = file name), or a table with a label column' })
              .option('out', { type: 'string', demandOption: true, describe: 'model folder to write (model.json + train.arrow)' })
              .option('protocol', { choices: [...PROTOCOL_CHOICES, 'none'] as const, default: 'kfold' as const, describe: 'evaluation stored in model.json (none: skip)' })
              .option('novelty-quantile', {
                type: 'number',
                default: DEFAULT_NOVELTY_QUANTILE,
                describe: "novelty threshold: this quantile of the training rows' leave-one-out distances to their k-th neighbour",
              }),
          ),
        ),
      ) as unknown as Argv<TrainArgs>,
    handler: async (args) => {
      const config = configFrom(args);
      const q = checkQuantile(args['novelty-quantile']);
      const set = await loadLabelled(args.labels, NFDUMP_STAT7, { exclude: listOption(args.exclude), include: listOption(args.include) });
      const model = fitModel(set, config);
      let summary: EvaluationSummary | null = null;
      let novelty: NoveltyCalibration | null = null;
      const engine = await engineFrom(args, ctx.log);
      try {
        if (set.features.rows > config.k) novelty = await calibrateNovelty(model, engine, q);
        else ctx.log(`no novelty threshold: ${set.features.rows} training rows are not more than k = ${config.k}`);
        if (args.protocol !== 'none') {
          const ev = await evaluate(set, config, protocolFrom({ ...args, protocol: args.protocol }), engine, progressUpdater(ctx, args.protocol));
          summary = {
            protocol: args.protocol,
            folds: ev.folds,
            rows: ev.rows.length,
            accuracy: ev.report.accuracy,
            macro_f1: ev.report.macroAvg.f1,
            weighted_f1: ev.report.weightedAvg.f1,
          };
        }
      } finally {
        await engine.dispose();
      }
      await writeModel(args.out, model, summary, novelty);
      ctx.log(`trained on ${set.features.rows} rows, classes ${set.classes.join(', ')}; scaler ${config.scaler}, k = ${config.k}, ${config.metric.name}, ${config.weights} votes`);
      if (novelty) ctx.log(`novelty threshold ${novelty.threshold.toPrecision(4)} (quantile ${novelty.quantile} of leave-one-out distances to the ${novelty.k}-th neighbour)`);
      if (summary) ctx.log(`${summary.protocol}: accuracy ${formatFixed(summary.accuracy, 3)}, macro F1 ${formatFixed(summary.macro_f1, 3)}`);
      ctx.log(`wrote model ${args.out}`);
    },
  };
}
