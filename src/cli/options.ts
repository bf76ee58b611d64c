import type { Argv } from 'yargs';
import { usableCores } from '../io/cores.js';
import { CPU_ALGORITHMS, type CpuAlgorithm } from '../engines/cpu/cpu-engine.js';
import type { KnnEngine } from '../engines/engine.js';
import { createEngine, ENGINE_CHOICES, type EngineChoice } from '../engines/registry.js';
import { METRICS, type Metric, type MetricName } from '../engines/engine.js';
import { usageError } from '../errors.js';
import { checkTimeZone, WallClockZone } from '../io/time-zone.js';
import { SCALERS } from '../features/scalers.js';
import { WEIGHTS } from '../knn/classifier.js';
import { PROTOCOLS } from '../eval/splits.js';

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

export interface EngineArgs {
  engine: EngineChoice;
  threads: number;
  algorithm: CpuAlgorithm;
}

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

export interface TimeZoneArgs {
  'time-zone': string;
}

export function zoneFrom(args: TimeZoneArgs): WallClockZone {
  return new WallClockZone(checkTimeZone(args['time-zone']));
}
