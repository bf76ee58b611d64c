import type { Argv, CommandModule } from 'yargs';

import { METRICS, type Metric, type MetricName } from '../../engines/engine.js';
import { excerpt, usageError, wholeNumber } from '../../errors.js';
import { evaluate } from '../../eval/evaluate.js';
import { formatFixed } from '../../eval/format.js';
import { SELECT_RULES } from '../../eval/selection.js';
import { describeProtocol, sweepCsv, sweepJson, sweepOutputText, type SavedModel } from '../../eval/sweep-format.js';
import { checkGrid, configLabel, nestedSweep, sweep, type NestedResult, type SweepGrid, type SweepProtocol, type SweepResult } from '../../eval/sweep.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import { SCALERS, type ScalerName } from '../../features/scalers.js';
import { WEIGHTS, type Weights } from '../../knn/classifier.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { checkOutputs } from '../../io/out-path.js';
import { writeModel, type EvaluationSummary } from '../../model/folder.js';
import { calibrateNovelty, checkQuantile, DEFAULT_NOVELTY_QUANTILE } from '../../knn/novelty.js';
import { loadLabelled } from '../../model/labelled.js';
import { fitModel } from '../../knn/model.js';
import type { CliContext } from '../context.js';
import { progressUpdater } from '../progress.js';
import { type ArgsOf, engineFrom, engineOption, labelOptions, listOption, OUTPUT_FORMATS, zoneFrom } from '../options.js';

export const SWEEP_DEFAULTS = {
  k: '1..15',
  metrics: 'euclidean,manhattan,chebyshev',
  weights: 'uniform,distance',
  scalers: SCALERS.join(','),
} as const;

const K_HINT = 'a range such as 1..15, a list such as 1,3,5, or both: 1..9,11,15';

/** `1..15`, `1,3,5`, `1..5,9` (repeatable) -> ascending distinct whole numbers >= 1. */
export function parseKs(values: readonly (string | number)[]): number[] {
  const parts = values.flatMap((v) => String(v).split(',')).map((v) => v.trim());
  if (parts.length === 0 || parts.every((p) => p === '')) throw usageError('--k: give at least one k', K_HINT);
  const ks: number[] = [];
  for (const part of parts) {
    if (part === '') throw usageError(`--k: empty item in "${excerpt(values.join(','))}"`, K_HINT);
    const range = /^(\d+)\.\.(\d+)$/u.exec(part);
    if (range) {
      const [lo, hi] = [Number(range[1]), Number(range[2])];
      if (lo < 1 || hi < lo) throw usageError(`--k: range ${part} must go up from 1 or more`, K_HINT);
      for (let k = lo; k <= hi; k++) ks.push(k);
    } else if (/^\d+$/u.test(part) && Number(part) >= 1) {
      ks.push(Number(part));
    } else {
      throw usageError(`--k: "${excerpt(part)}" is not a whole number >= 1 or a range a..b`, K_HINT);
    }
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

function pick<T extends string>(flag: string, values: readonly string[] | undefined, allowed: readonly T[]): T[] {
  const list = listOption(values) ?? [];
  if (list.length === 0) throw usageError(`${flag}: give at least one value`, `choose from ${allowed.join(', ')}`);
  for (const v of list) if (!(allowed as readonly string[]).includes(v)) throw usageError(`${flag}: unknown value "${excerpt(v)}"`, `choose from ${allowed.join(', ')}`);
  return list as T[];
}

/** The grid the flags ask for; bad values are usage errors naming the flag and what is allowed. */
export function gridFrom(args: Pick<SweepArgs, 'k' | 'metrics' | 'p' | 'weights' | 'scalers'>): SweepGrid {
  const names = pick<MetricName>('--metrics', args.metrics, METRICS);
  if (args.p !== undefined && !names.includes('minkowski')) throw usageError('--p applies only when --metrics lists minkowski');
  if (names.includes('minkowski') && args.p === undefined) throw usageError('--metrics minkowski needs --p (p >= 1)', 'pass --p 3, for example');
  const metrics: Metric[] = names.map((name) => (name === 'minkowski' ? { name, p: args.p } : { name }));
  return checkGrid({
    ks: parseKs(args.k),
    metrics,
    weights: pick<Weights>('--weights', args.weights, WEIGHTS),
    scalers: pick<ScalerName>('--scalers', args.scalers, SCALERS),
  });
}

export function protocolFromSweepArgs(args: Pick<SweepArgs, 'protocol' | 'folds' | 'repeats' | 'seed'>): SweepProtocol {
  if (args.protocol === 'loo') return { name: 'loo' };
  if (args.protocol !== 'kfold') throw usageError(`--protocol: unknown value "${excerpt(String(args.protocol))}"`, 'choose kfold or loo');
  wholeNumber('--folds', args.folds, 2);
  wholeNumber('--repeats', args.repeats, 1);
  wholeNumber('--seed', args.seed);
  return { name: 'kfold', folds: args.folds, repeats: args.repeats, seed: args.seed };
}

const sweepBuilder = (y: Argv) =>
  engineOption(
    labelOptions(y)
      .option('labels', { type: 'string', demandOption: true, describe: 'folder of per-label files, or a table with a label column' })
      .option('k', { type: 'string', array: true, default: [SWEEP_DEFAULTS.k], describe: 'k values: a range 1..15, a list 1,3,5, or both' })
      .option('metrics', { alias: 'metric', type: 'string', array: true, default: [SWEEP_DEFAULTS.metrics], describe: `distances (${METRICS.join(', ')}; minkowski needs --p)` })
      .option('p', { type: 'number', describe: 'Minkowski order (p >= 1), when --metrics lists minkowski' })
      .option('weights', { type: 'string', array: true, default: [SWEEP_DEFAULTS.weights], describe: `vote weightings (${WEIGHTS.join(', ')})` })
      .option('scalers', { alias: 'scaler', type: 'string', array: true, default: [SWEEP_DEFAULTS.scalers], describe: `feature scalings (${SCALERS.join(', ')}), fitted on each fold's training rows` })
      .option('protocol', { choices: ['kfold', 'loo'] as const, default: 'kfold' as const, describe: 'kfold (stratified, repeated) or loo (leave-one-out)' })
      .option('folds', { type: 'number', default: 10, describe: 'folds for kfold (and the outer folds of --nested)' })
      .option('repeats', { type: 'number', default: 5, describe: 'kfold repeats; repeat r uses seed --seed + r' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the first kfold repeat' })
      .option('nested', { type: 'boolean', default: false, describe: 'also estimate how good the choice is: outer stratified folds x repeats (seeds after the inner ones), the sweep inside each' })
      .option('select', {
        choices: SELECT_RULES,
        describe: 'how the table becomes one configuration: one-se (the simplest within one standard error of the best; default) or best (leave-one-out: best)',
      })
      .option('save-model', {
        type: 'string',
        describe: 'train the chosen configuration on all rows and write this model folder (with a novelty threshold, as train stores one); the default is kept unless the choice beats it beyond noise',
      })
      .option('novelty-quantile', {
        type: 'number',
        default: DEFAULT_NOVELTY_QUANTILE,
        describe: "with --save-model: novelty threshold, this quantile of the training rows' leave-one-out distances to their k-th neighbour",
      })
      .option('csv', { type: 'string', describe: 'write the whole ranked table as CSV' })
      .option('report', { type: 'string', describe: 'also write an HTML report (score curves, ranked table) to this file' })
      .option('out', { type: 'string', describe: 'write the whole result as JSON (what --format json prints) to this file' })
      .option('format', { choices: OUTPUT_FORMATS, default: 'text' as const, describe: 'what is printed on stdout: text, or JSON' })
      .option('json', { type: 'string', describe: 'the same as --format json (--json FILE: deprecated spelling of --out FILE)' })
      .option('top', { type: 'number', default: 20, describe: 'rows of the ranked table printed as text (0: all)' }),
  );

export type SweepArgs = ArgsOf<typeof sweepBuilder>;

export function sweepCommand(ctx: CliContext): CommandModule<object, SweepArgs> {
  return {
    command: 'sweep',
    describe: 'choose k, metric, vote weighting and scaler by cross-validation: ranked table, chosen configuration, nested estimate',
    builder: sweepBuilder,
    handler: async (args) => {
      // --json FILE wrote the JSON result before --json came to mean --format json everywhere.
      let outFlag = '--out';
      if (args.json !== undefined && args.json !== '') {
        if (args.out !== undefined) throw usageError(`--json ${args.json} and --out ${args.out}: give --out alone (--json FILE is its deprecated spelling)`);
        ctx.stderr.write(`flowknn: warning: --json FILE is deprecated, use --out ${args.json} (--json alone prints JSON, as --format json)\n`);
        args.out = args.json;
        outFlag = '--json';
      }
      const format = args.json === '' ? 'json' : args.format;
      const grid = gridFrom(args);
      const quantile = checkQuantile(args['novelty-quantile']);
      const protocol = protocolFromSweepArgs(args);
      wholeNumber('--top', args.top, 0);
      // Asked for by name, a rule that cannot run is an error; left to the default, leave-one-out takes the best.
      if (args.select === 'one-se' && protocol.name === 'loo') {
        throw usageError('--select one-se needs per-fold scores, which --protocol loo does not give', 'use --protocol kfold, or --select best');
      }
      const options = { select: args.select ?? ('one-se' as const) };
      const [saveModel, jsonOut, csvOut, reportOut] = await checkOutputs(
        [
          { flag: '--save-model', path: args['save-model'], folder: 'model' },
          { flag: outFlag, path: args.out, file: 'json' },
          { flag: '--csv', path: args.csv, file: 'csv' },
          { flag: '--report', path: args.report, file: 'html' },
        ],
        [{ flag: '--labels', path: args.labels }],
      );
      const set = await loadLabelled(args.labels, NFDUMP_STAT7, { exclude: listOption(args.exclude), include: listOption(args.include), zone: zoneFrom(args) });
      const engine = await engineFrom(args, ctx.log);
      let res: SweepResult;
      let nested: NestedResult | undefined;
      let saved: SavedModel | undefined;
      try {
        const started = performance.now();
        res = await sweep(set, grid, protocol, engine, progressUpdater(ctx, 'sweep'), options);
        ctx.log(`sweep: ${res.configurations.length} configurations, ${res.searches} searches in ${((performance.now() - started) / 1000).toFixed(2)} s on ${engine.name}`);
        if (args.nested) {
          const t = performance.now();
          nested = await nestedSweep(set, grid, protocol, engine, progressUpdater(ctx, 'nested', 'outer folds'), {
            folds: args.folds,
            repeats: args.repeats,
            seed: args.seed + args.repeats,
          }, options);
          ctx.log(`nested: ${nested.outerFolds.length} outer folds in ${((performance.now() - t) / 1000).toFixed(2)} s`);
        }
        if (args['save-model'] !== undefined && saveModel) {
          // The stored evaluation is the chosen configuration's leave-one-out score on all rows
          // (what `train --protocol loo` stores); being the winner of the sweep, it is optimistic.
          const config = res.chosen.config;
          const ev = await evaluate(set, config, { name: 'loo' }, engine);
          const evaluation: EvaluationSummary = {
            protocol: 'loo',
            folds: ev.folds,
            rows: ev.rows.length,
            accuracy: ev.report.accuracy,
            macro_f1: ev.report.macroAvg.f1,
            weighted_f1: ev.report.weightedAvg.f1,
          };
          // The novelty threshold as train calibrates it: without one, the model flags no row as
          // novel and a nightly job's alertOnNovel never fires.
          const model = fitModel(set, config);
          const novelty = set.features.rows > config.k ? await calibrateNovelty(model, engine, quantile) : null;
          if (!novelty) ctx.log(`no novelty threshold: ${set.features.rows} training rows are not more than k = ${config.k}`);
          await writeModel(saveModel.path, model, evaluation, novelty);
          saved = { dir: args['save-model'], evaluation, reason: res.selection.reason };
          ctx.log(`wrote model ${args['save-model']} (${configLabel(config)}; leave-one-out accuracy ${formatFixed(evaluation.accuracy, 3)}, macro F1 ${formatFixed(evaluation.macro_f1, 3)})`);
        }
      } finally {
        await engine.dispose();
      }
      const json = sweepJson(res, nested, engine.name, saved);
      if (jsonOut) await writeFileAtomic(jsonOut.path, `${JSON.stringify(json, null, 2)}\n`);
      if (csvOut) await writeFileAtomic(csvOut.path, sweepCsv(res));
      if (reportOut) {
        const { renderReport, sweepReport, sweepRowsFrom, writeReport } = await import('../../report/index.js');
        const { rows, chosen } = sweepRowsFrom(res);
        const doc = sweepReport(rows, chosen, {
          protocol: describeProtocol(res.protocol, res.folds, res.seeds),
          nested: nested && { accuracy: nested.accuracy.mean, accuracyStd: nested.accuracy.std, macroF1: nested.macroF1.mean, macroF1Std: nested.macroF1.std },
          meta: { engine: engine.name, inputs: [args.labels] },
        });
        await writeReport(reportOut.path, await renderReport(doc, { onWarning: (w) => ctx.log(`report: ${w}`) }));
        ctx.log(`wrote ${args.report}`);
      }
      if (format === 'json') {
        ctx.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        return;
      }
      ctx.stdout.write(sweepOutputText(res, nested, saved, args.top));
    },
  };
}
