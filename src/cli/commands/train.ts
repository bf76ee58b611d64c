import type { Argv, CommandModule } from 'yargs';

import type { MetricName } from '../../engines/engine.js';
import { excerpt, usageError, wholeNumber } from '../../errors.js';
import { evaluate } from '../../eval/evaluate.js';
import { checkOutput } from '../../io/out-path.js';
import type { ProtocolName } from '../../eval/splits.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import type { ScalerName } from '../../features/scalers.js';
import type { Weights } from '../../knn/classifier.js';
import { writeModel, type EvaluationSummary } from '../../model/folder.js';
import { parseVersionRef } from '../../model/registry.js';
import { DEFAULT_PROMOTION_ALPHA } from '../../model/promotion.js';
import { DEFAULT_MODEL_CONFIG, DEFAULT_PROMOTION_TOLERANCE, summarize, trainVersion } from '../../model/retrain.js';
import { loadLabelled } from '../../model/labelled.js';
import { fitModel, type ModelConfig } from '../../knn/model.js';
import type { CliContext } from '../context.js';
import { progressUpdater } from '../progress.js';
import { type ArgsOf, engineFrom, engineOption, labelOptions, listOption, metricFrom, modelOptions, PROTOCOL_CHOICES, protocolOptions, zoneFrom } from '../options.js';
import { formatFixed } from '../../eval/format.js';
import { calibrateNovelty, checkQuantile, DEFAULT_NOVELTY_QUANTILE, DEFAULT_NOVELTY_SCORE, NOVELTY_SCORES, noveltyScoreName, type NoveltyCalibration, type NoveltyScore } from '../../knn/novelty.js';

export type ModelArgs = ArgsOf<typeof modelOptions>;

/** protocolOptions and the protocol, which each command declares with its own choices. */
export type ProtocolArgs = ArgsOf<typeof protocolOptions> & { protocol: ProtocolName };

export function configFrom(args: ModelArgs): ModelConfig {
  wholeNumber('--k', args.k, 1);
  return { scaler: args.scaler, k: args.k, metric: metricFrom(args.metric, args.p), weights: args.weights };
}

export function protocolFrom(args: ProtocolArgs) {
  return { name: args.protocol, folds: args.folds, testFraction: args['test-fraction'], seed: args.seed };
}

const trainBuilder = (y: Argv) =>
  engineOption(
    protocolOptions(
      modelOptions(
        labelOptions(y)
          .option('labels', { type: 'string', describe: 'folder of per-label files (label = file name), or a table with a label column' })
          .option('out', { type: 'string', describe: 'model folder to write (model.json + train.arrow); or --registry' })
          .option('registry', { type: 'string', describe: 'model registry folder: write the next version of --name there (ROOT/NAME/vN)' })
          .option('name', { type: 'string', describe: 'model name in the registry' })
          .option('from', { type: 'string', describe: "with --registry: start from this version's rows (default: the newest version)" })
          .option('promote', { type: 'boolean', default: false, describe: 'with --registry: make the new version current even if the promotion guard would not' })
          .option('promotion-tolerance', {
            type: 'number',
            default: DEFAULT_PROMOTION_TOLERANCE,
            describe: "with --registry: promote unless accuracy on the new version's rows (both versions scored under the same folds) falls more than this below the current version's and McNemar's test says the drop is beyond noise",
          })
          .option('promotion-alpha', {
            type: 'number',
            default: DEFAULT_PROMOTION_ALPHA,
            describe: "with --registry: McNemar's significance level: a drop beyond the tolerance keeps the new version back only when p < this",
          })
          .option('protocol', { choices: [...PROTOCOL_CHOICES, 'none'] as const, describe: 'evaluation stored in model.json (none: skip); a later registry version repeats the current one\'s' })
          .option('novelty-score', {
            choices: NOVELTY_SCORES,
            describe: 'novelty score: mean (of the distances to the k nearest training rows) or kth (the distance to the k-th); mean tells unseen traffic apart better on the seed data',
          })
          .option('novelty-quantile', {
            type: 'number',
            describe: "novelty threshold: this quantile of the training rows' own leave-one-out novelty scores",
          })
      ),
    ),
  )
    // No yargs defaults for the model settings: a later registry version keeps the settings of
    // the version it starts from unless a flag is given, so "given" must be told from "default".
    // The type arguments keep each flag's own type (yargs would type it as undefined alone).
    .default<'scaler', ScalerName | undefined>('scaler', undefined, DEFAULT_MODEL_CONFIG.scaler)
    .default<'k', number | undefined>('k', undefined, String(DEFAULT_MODEL_CONFIG.k))
    .default<'metric', MetricName | undefined>('metric', undefined, DEFAULT_MODEL_CONFIG.metric.name)
    .default<'weights', Weights | undefined>('weights', undefined, DEFAULT_MODEL_CONFIG.weights)
    .default<'protocol', ProtocolName | 'none' | undefined>('protocol', undefined, 'kfold; a later registry version: the current version\'s')
    .default<'novelty-quantile', number | undefined>('novelty-quantile', undefined, `${DEFAULT_NOVELTY_QUANTILE}; a later registry version: its base version's`)
    .default<'novelty-score', NoveltyScore | undefined>('novelty-score', undefined, `${DEFAULT_NOVELTY_SCORE}; a later registry version: its base version's`);

type TrainArgs = ArgsOf<typeof trainBuilder>;

export function trainCommand(ctx: CliContext): CommandModule<object, TrainArgs> {
  return {
    command: 'train',
    describe: 'fit a kNN model on labelled aggregates and write the model folder',
    builder: trainBuilder,
    handler: async (args) => {
      if ((args.out === undefined) === (args.registry === undefined)) throw usageError('give exactly one of --out DIR (a model folder) and --registry ROOT --name NAME (the next version in a model registry)');
      if (args.registry === undefined && (args.name !== undefined || args.from !== undefined || args.promote)) throw usageError('--name, --from and --promote go with --registry');
      if (args.out !== undefined && args.labels === undefined) throw usageError('--out needs --labels: a folder of per-label files, or a table with a label column');
      if (args.registry !== undefined) {
        if (args.name === undefined) throw usageError('--registry needs --name NAME');
        await trainRegistry(ctx, { ...args, registry: args.registry, name: args.name });
        return;
      }
      const config = configFrom({
        scaler: args.scaler ?? DEFAULT_MODEL_CONFIG.scaler,
        k: args.k ?? DEFAULT_MODEL_CONFIG.k,
        metric: args.metric ?? DEFAULT_MODEL_CONFIG.metric.name,
        p: args.p,
        weights: args.weights ?? DEFAULT_MODEL_CONFIG.weights,
      });
      const q = checkQuantile(args['novelty-quantile'] ?? DEFAULT_NOVELTY_QUANTILE);
      const protocolName = args.protocol ?? 'kfold';
      // Before the work: a refused --out should not cost a training run.
      const out = (await checkOutput({ flag: '--out', path: args.out, folder: 'model' }, [{ flag: '--labels', path: args.labels }]))!;
      const set = await loadLabelled(args.labels!, NFDUMP_STAT7, { exclude: listOption(args.exclude), include: listOption(args.include), zone: zoneFrom(args) });
      const model = fitModel(set, config);
      let summary: EvaluationSummary | null = null;
      let novelty: NoveltyCalibration | null = null;
      const engine = await engineFrom(args, ctx.log);
      try {
        if (set.features.rows > config.k) novelty = await calibrateNovelty(model, engine, q, args['novelty-score'] ?? DEFAULT_NOVELTY_SCORE);
        else ctx.log(`no novelty threshold: ${set.features.rows} training rows are not more than k = ${config.k}`);
        if (protocolName !== 'none') {
          const protocol = protocolFrom({ ...args, protocol: protocolName });
          summary = summarize(await evaluate(set, config, protocol, engine, progressUpdater(ctx, protocolName)), protocol);
        }
      } finally {
        await engine.dispose();
      }
      await writeModel(out.path, model, summary, novelty);
      ctx.log(`trained on ${set.features.rows} rows, classes ${set.classes.join(', ')}; scaler ${config.scaler}, k = ${config.k}, ${config.metric.name}, ${config.weights} votes`);
      if (novelty) ctx.log(`novelty threshold ${novelty.threshold.toPrecision(4)} (quantile ${novelty.quantile} of the training rows' leave-one-out ${noveltyScoreName(novelty.score, novelty.k)})`);
      if (summary) ctx.log(`${summary.protocol}: accuracy ${formatFixed(summary.accuracy, 3)}, macro F1 ${formatFixed(summary.macro_f1, 3)}`);
      ctx.log(`wrote model ${args.out}`);
    },
  };
}

/** The model settings given on the command line (the rest follow the base version). */
function givenConfig(args: TrainArgs): Partial<ModelConfig> {
  const out: { -readonly [K in keyof ModelConfig]?: ModelConfig[K] } = {};
  if (args.scaler !== undefined) out.scaler = args.scaler;
  if (args.k !== undefined) {
    wholeNumber('--k', args.k, 1);
    out.k = args.k;
  }
  if (args.metric !== undefined) out.metric = metricFrom(args.metric, args.p);
  else if (args.p !== undefined) throw usageError('--p applies only with --metric minkowski');
  if (args.weights !== undefined) out.weights = args.weights;
  return out;
}

async function trainRegistry(ctx: CliContext, args: TrainArgs & { registry: string; name: string }): Promise<void> {
  const from = args.from === undefined ? undefined : parseVersionRef(args.from);
  if (args.from !== undefined && from === undefined) throw usageError(`--from: expected a version such as v3, got "${excerpt(args.from)}"`);
  const quantile = args['novelty-quantile'] === undefined ? undefined : checkQuantile(args['novelty-quantile']);
  const protocol = args.protocol === undefined ? undefined : args.protocol === 'none' ? ('none' as const) : protocolFrom({ ...args, protocol: args.protocol });
  const engine = await engineFrom(args, ctx.log);
  let result;
  try {
    result = await trainVersion({
      root: args.registry,
      name: args.name,
      labels: args.labels === undefined ? undefined : { path: args.labels, selection: { exclude: listOption(args.exclude), include: listOption(args.include), zone: zoneFrom(args) } },
      from,
      config: givenConfig(args),
      protocol,
      // --folds, --seed and --test-fraction still shape the default protocol of a first version
      defaultProtocol: protocolFrom({ ...args, protocol: 'kfold' }),
      noveltyQuantile: quantile,
      noveltyScore: args['novelty-score'],
      tolerance: args['promotion-tolerance'],
      alpha: args['promotion-alpha'],
      forcePromote: args.promote,
      engine,
      log: ctx.log,
      onFold: progressUpdater(ctx, 'evaluation'),
    });
  } finally {
    await engine.dispose();
  }
  const { info, model, novelty } = result;
  const r = info.rows;
  const origin = info.parent === null ? `${r.total} rows` : `${r.total} rows: ${r.base} from v${info.parent}, ${r.added} added, ${r.merged} merged, ${r.updated} updated, ${r.conflicts} conflicts`;
  ctx.log(`v${info.version}: ${origin}; classes ${model.train.classes.join(', ')}; scaler ${model.config.scaler}, k = ${model.config.k}, ${model.config.metric.name}, ${model.config.weights} votes`);
  if (novelty) ctx.log(`novelty threshold ${novelty.threshold.toPrecision(4)} (quantile ${novelty.quantile} of the training rows' leave-one-out ${noveltyScoreName(novelty.score, novelty.k)})`);
  if (info.evaluation) ctx.log(`${info.evaluation.protocol}: accuracy ${formatFixed(info.evaluation.accuracy, 3)}, macro F1 ${formatFixed(info.evaluation.macro_f1, 3)}`);
  ctx.log(`wrote ${result.dir}`);
  // The decision is the command's result, so it goes to stdout (--quiet does not hide it).
  if (info.promoted) ctx.stdout.write(`v${info.version} promoted: it is current (${info.reason})\n`);
  else {
    ctx.stdout.write(
      `v${info.version} not promoted: ${info.reason}; ${result.current === null ? 'no version is current' : `v${result.current} stays current`}\n` +
        `  promote it anyway: flowknn models promote ${args.name} v${info.version} --registry ${args.registry}\n`,
    );
  }
}
