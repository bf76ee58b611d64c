import type { Argv } from 'yargs';
import { usableCores } from '../io/cores.js';
import { CPU_ALGORITHMS } from '../engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../engines/engine.js';
import { createEngine, ENGINE_CHOICES } from '../engines/registry.js';
import { METRICS, type Metric, type MetricName } from '../engines/engine.js';
import { usageError } from '../errors.js';
import { checkTimeZone, WallClockZone } from '../io/time-zone.js';
import { SCALERS } from '../features/scalers.js';
import { WEIGHTS } from '../knn/classifier.js';
import { PROTOCOLS } from '../eval/splits.js';

/**
 * The arguments a builder declares, as yargs infers them from its options (`choices` give
 * unions, `default` and `demandOption` drop `undefined`). A command's handler sees them with
 * the camel-case spellings added (ArgumentsCamelCase). Works for the generic option helpers
 * below too: `ArgsOf<typeof engineOption>` is what engineOption adds.
 */
export type ArgsOf<B> = B extends (y: Argv, ...rest: never[]) => Argv<infer T> ? T : never;

/** Options shared by the commands that build or use a model. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('scaler', { choices: SCALERS, default: 'log-zscore' as const, describe: 'feature scaling, fitted on training rows only' })
    .option('k', { type: 'number', default: 3, describe: 'neighbours that vote' })
    .option('metric', { choices: METRICS, default: 'euclidean' as const, describe: 'distance between scaled rows' })
    .option('p', { type: 'number', describe: 'Minkowski order (p >= 1), with --metric minkowski' })
    .option('weights', { choices: WEIGHTS, default: 'uniform' as const, describe: 'uniform votes, or 1/distance' });
}

export function labelOptions<T>(y: Argv<T>) {
  return timeZoneOption(y)
    .option('exclude', { type: 'string', array: true, default: [] as string[], describe: 'labels to leave out (repeat or comma-separate)' })
    .option('include', { type: 'string', array: true, describe: 'only these labels (repeat or comma-separate)' });
}

export function protocolOptions<T>(y: Argv<T>) {
  return y
    .option('folds', { type: 'number', default: 10, describe: 'folds for --protocol kfold' })
    .option('test-fraction', { type: 'number', default: 0.25, describe: 'share of each class held out for --protocol holdout' })
    .option('seed', { type: 'number', default: 1, describe: 'seed for holdout and kfold splits' });
}

export function engineOption<T>(y: Argv<T>) {
  return y
    .option('engine', { choices: ENGINE_CHOICES, default: 'auto' as const, describe: 'search engine (auto: the best usable one)' })
    .option('threads', { type: 'number', default: usableCores(), describe: 'CPU search threads' })
    .option('algorithm', { choices: CPU_ALGORITHMS, default: 'auto' as const, describe: 'CPU search: k-d tree, brute force, or chosen by metric and dimension' });
}

export type EngineArgs = ArgsOf<typeof engineOption>;

/** The engine the engine flags ask for; the caller disposes it. */
export function engineFrom(args: EngineArgs, log?: (message: string) => void): Promise<KnnEngine> {
  return createEngine(args.engine, { threads: args.threads, algorithm: args.algorithm, log });
}

export const PROTOCOL_CHOICES = PROTOCOLS;

export function metricFrom(name: MetricName, p: number | undefined): Metric {
  if (name === 'minkowski') {
    if (p === undefined) throw usageError('--metric minkowski needs --p (p >= 1)');
    return { name, p };
  }
  if (p !== undefined) throw usageError(`--p applies only to --metric minkowski, not ${name}`);
  return { name };
}

/** `--exclude a,b --exclude c` -> [a, b, c]. */
export function listOption(values: readonly (string | number)[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  return values.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** `--time-zone`: the zone nfdump printed its local times in, for the commands that read its text, CSV or JSON. */
export function timeZoneOption<T>(y: Argv<T>) {
  return y.option('time-zone', {
    type: 'string',
    default: 'local',
    describe: "zone of the times in nfdump text, CSV and JSON output (nfdump prints its machine's local time): local (this machine's, as nfdump does), UTC, or an IANA name such as Europe/Berlin",
  });
}

export type TimeZoneArgs = ArgsOf<typeof timeZoneOption>;

export function zoneFrom(args: TimeZoneArgs): WallClockZone {
  return new WallClockZone(checkTimeZone(args['time-zone']));
}

/**
 * What the flags mean in every command (README "Commands"):
 *   --format text|json  what the command prints on stdout; --json is the same as --format json
 *   --out PATH          where the command writes its result: a file when it is one file (an
 *                       Arrow table with its Parquet copy, a JSON result, an HTML report), a
 *                       folder when it is several (predictions, a model, an archive)
 *   --input-format F    how the inputs are read (ingest, classify)
 */
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function outputFormatOption<T>(y: Argv<T>) {
  return y
    .option('format', { choices: OUTPUT_FORMATS, default: 'text' as const, describe: 'what is printed on stdout: text, or JSON' })
    .option('json', { type: 'boolean', describe: 'the same as --format json' });
}

export type OutputFormatArgs = ArgsOf<typeof outputFormatOption>;

export function outputFormatFrom(args: OutputFormatArgs): OutputFormat {
  return args.json ? 'json' : args.format;
}

export function inputFormatOption<T>(y: Argv<T>, choices: readonly string[]) {
  return (
    y
      .option('input-format', { choices, default: 'auto', describe: 'input format (auto: detected per file from its first bytes)' })
      // the input format's earlier spelling in ingest and classify
      .option('format', { choices, hidden: true, describe: 'deprecated spelling of --input-format' })
  );
}

export type InputFormatArgs = ArgsOf<typeof inputFormatOption>;

/**
 * The input format asked for. `--format` named it in ingest and classify before it came to mean
 * what a command prints; it is still read, with a warning, unless it contradicts --input-format.
 */
export function inputFormatFrom(args: InputFormatArgs, warn: (message: string) => void): string {
  if (args.format === undefined) return args['input-format'];
  if (args['input-format'] !== 'auto' && args['input-format'] !== args.format) {
    throw usageError(`--format ${args.format} and --input-format ${args['input-format']} disagree`, 'give --input-format alone (--format is its deprecated spelling)');
  }
  warn(`--format ${args.format}: --format for the input format is deprecated, use --input-format ${args.format} (--format names what a command prints)`);
  return args.format;
}
