import { Field, Float64, Int32, Utf8, type Table } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { METRICS } from '../engines/engine.js';
import { inputError, usageError, excerpt } from '../errors.js';
import { FEATURE_SETS, featureMatrix, featureSetId, sameFeatureSet, type FeatureSet } from '../features/feature-set.js';
import { SCALERS, transform, type ScalerParams } from '../features/scalers.js';
import { writeDirAtomic } from '../io/atomic.js';
import { writeParquetFile } from '../io/parquet.js';
import { WEIGHTS } from '../knn/classifier.js';
import { probabilityColumns } from '../knn/predictions.js';
import { LEGACY_NOVELTY_SCORE, NOVELTY_SCORES, type NoveltyCalibration } from '../knn/novelty.js';
import { buildTable, numberColumn, readArrowFile, stringColumn, withMetadata } from '../schema/arrow.js';
import { SCHEMA_VERSION, utcMillis } from '../schema/tables.js';
import { TOOL_VERSION } from '../version.js';
import type { LabelledSet } from '../knn/labelled-set.js';
import type { KnnModel, ModelConfig } from '../knn/model.js';
import { jsonKeyLine, parseJsonText, schemaProblem } from '../io/json.js';

export const MODEL_FORMAT_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const TRAIN_ARROW = 'train.arrow';
/** The training rows again, as Parquet, for other tools; flowknn itself reads train.arrow. */
export const TRAIN_PARQUET = 'train.parquet';

/** What an evaluation leaves in model.json, so a model says how good it was when made. */
export interface EvaluationSummary {
  protocol: string;
  folds: number;
  rows: number;
  accuracy: number;
  macro_f1: number;
  weighted_f1: number;
  /** Split seed (kfold, holdout) and held-out share (holdout), so the same folds can be made
   *  again when a later version is compared with this one. */
  seed?: number;
  test_fraction?: number;
}

/** The stored form of an EvaluationSummary (model.json, and the registry's version.json). */
export const evaluationSchema = z
  .object({
    protocol: z.string(),
    folds: z.number().int(),
    rows: z.number().int(),
    accuracy: z.number(),
    macro_f1: z.number(),
    weighted_f1: z.number(),
    seed: z.number().int().optional(),
    test_fraction: z.number().gt(0).lt(1).optional(),
  })
  .strict();

const modelJsonSchema = z
  .object({
    format: z.literal('flowknn-model'),
    format_version: z.number().int(),
    tool_version: z.string(),
    created: z.string(),
    feature_set: z.object({ name: z.string(), version: z.number().int(), columns: z.array(z.string()).min(1) }).strict(),
    scaler: z.object({ name: z.enum(SCALERS), offset: z.array(z.number()), scale: z.array(z.number()), quantiles: z.array(z.array(z.number()).min(1)).optional() }).strict(),
    k: z.number().int().min(1),
    metric: z.object({ name: z.enum(METRICS), p: z.number().min(1).optional() }).strict(),
    weights: z.enum(WEIGHTS),
    classes: z.array(z.string()).min(1),
    train: z.object({ file: z.string(), rows: z.number().int().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/u), rows_per_class: z.record(z.string(), z.number().int()) }).strict(),
    evaluation: evaluationSchema.nullable(),
    novelty: z
      // score: absent in models written before the form was a choice, which used the k-th distance
      .object({ quantile: z.number().gt(0).max(1), threshold: z.number().min(0), k: z.number().int().min(1), rows: z.number().int().min(1), score: z.enum(NOVELTY_SCORES).optional() })
      .strict()
      .nullable()
      .optional(),
    /** sha256 of this object without this field, as JSON.stringify writes it (modelJsonDigest). */
    sha256: z.string().regex(/^[0-9a-f]{64}$/u).optional(),
  })
  .strict();

export type ModelJson = z.infer<typeof modelJsonSchema>;

export interface LoadedModel {
  readonly dir: string;
  readonly model: KnnModel;
  readonly json: ModelJson;
  /** What the caller should tell the user once (a model.json without a checksum). */
  readonly warnings?: readonly string[];
}

/**
 * The checksum of a model.json: sha256 of its fields but `sha256`, in the order the file has
 * them, as compact JSON. Taken over the values, not the bytes, so re-indenting the file keeps
 * it valid; any changed value (a scale, a class, a threshold) does not.
 */
export function modelJsonDigest(raw: Record<string, unknown>): string {
  const { sha256: _self, ...rest } = raw;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** The columns of labelled rows: train.arrow, and the pending label batches of a registry. */
export function labelledRowFields(featureSet: FeatureSet): Field[] {
  return [
    ...featureSet.columns.map((c) => new Field(c, new Float64(), false)),
    new Field('label', new Utf8(), false),
    new Field('key', new Utf8(), false),
    new Field('source_file', new Utf8(), false),
    new Field('source_line', new Int32(), false),
    // Nullable: rows from nfdump statistics over a whole run have no window; rows of models
    // trained before these columns existed have neither.
    new Field('window_start', utcMillis(), true),
    new Field('first_seen', utcMillis(), true),
  ];
}

function trainTable(set: LabelledSet) {
  const fields = labelledRowFields(set.featureSet);
  const schema = withMetadata(fields, {
    'flowknn.kind': 'train',
    'flowknn.schema_version': SCHEMA_VERSION,
    'flowknn.feature_set': featureSetId(set.featureSet),
  });
  const cols: Record<string, Float64Array | Int32Array | unknown[]> = {};
  set.featureSet.columns.forEach((c, j) => {
    cols[c] = Float64Array.from({ length: set.features.rows }, (_, i) => set.features.data[i * set.features.cols + j]!);
  });
  cols.label = Array.from(set.labels, (l) => set.classes[l]!);
  cols.key = set.keys;
  cols.source_file = set.sourceFile;
  cols.source_line = set.sourceLine;
  cols.window_start = set.windowStart ? [...set.windowStart] : Array<null>(set.features.rows).fill(null);
  cols.first_seen = set.firstSeen ? [...set.firstSeen] : Array<null>(set.features.rows).fill(null);
  return buildTable(schema, cols, set.features.rows);
}

/**
 * Writes model.json and train.arrow into `dir`, replacing an existing model only when complete.
 * `novelty` is the threshold calibrated on the training rows (see knn/novelty.ts), or null.
 */
export async function writeModel(dir: string, model: KnnModel, evaluation: EvaluationSummary | null, novelty: NoveltyCalibration | null = null): Promise<ModelJson> {
  let json: ModelJson | undefined;
  await writeDirAtomic(dir, async (tmp) => {
    json = await writeModelFiles(tmp, model, evaluation, novelty);
  });
  return json!;
}

/**
 * Writes model.json and train.arrow into an existing folder that is not yet visible to readers
 * (the temporary folder of writeDirAtomic), for callers that add files of their own beside them
 * before the folder is swapped in (the model registry's version.json).
 */
export async function writeModelFiles(dir: string, model: KnnModel, evaluation: EvaluationSummary | null, novelty: NoveltyCalibration | null = null): Promise<ModelJson> {
  const { tableToIPC } = await import('apache-arrow');
  const set = model.train;
  // A model whose classes would share a probability column could not write its predictions.
  probabilityColumns(set.classes);
  const table = trainTable(set);
  const arrow = tableToIPC(table, 'file');
  const perClass: Record<string, number> = Object.fromEntries(set.classes.map((c) => [c, 0]));
  set.labels.forEach((l) => perClass[set.classes[l]!]!++);
  const json: ModelJson = {
    format: 'flowknn-model',
    format_version: MODEL_FORMAT_VERSION,
    tool_version: TOOL_VERSION,
    created: new Date().toISOString(),
    feature_set: { name: set.featureSet.name, version: set.featureSet.version, columns: [...set.featureSet.columns] },
    scaler: { name: model.scaler.name, offset: model.scaler.offset, scale: model.scaler.scale, ...(model.scaler.quantiles ? { quantiles: model.scaler.quantiles } : {}) },
    k: model.config.k,
    metric: model.config.metric.name === 'minkowski' ? { name: 'minkowski', p: model.config.metric.p } : { name: model.config.metric.name },
    weights: model.config.weights,
    classes: set.classes,
    train: { file: TRAIN_ARROW, rows: set.features.rows, sha256: createHash('sha256').update(arrow).digest('hex'), rows_per_class: perClass },
    evaluation,
    novelty: novelty === null ? null : { quantile: novelty.quantile, threshold: novelty.threshold, k: novelty.k, rows: novelty.rows, score: novelty.score },
  };
  json.sha256 = modelJsonDigest(json as unknown as Record<string, unknown>);
  await writeFile(join(dir, TRAIN_ARROW), arrow);
  await writeParquetFile(join(dir, TRAIN_PARQUET), table);
  await writeFile(join(dir, MODEL_JSON), `${JSON.stringify(json, null, 2)}\n`);
  return json;
}

/** The novelty calibration a model.json stores, its score's form filled in for older files; null without one. */
export function storedNovelty(json: ModelJson): NoveltyCalibration | null {
  const n = json.novelty;
  return n ? { quantile: n.quantile, threshold: n.threshold, k: n.k, rows: n.rows, score: n.score ?? LEGACY_NOVELTY_SCORE } : null;
}

/** model.json of a model folder, validated (without reading train.arrow): for listings. */
export async function readModelJson(dir: string): Promise<ModelJson> {
  return (await readJson(dir)).json;
}

async function readJson(dir: string): Promise<{ json: ModelJson; text: string; jsonFile: string; known: FeatureSet; warnings: string[] }> {
  const jsonFile = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(jsonFile, 'utf8');
  } catch {
    throw usageError(`--model ${dir}: no ${MODEL_JSON} there`, 'make a model with `flowknn train --labels DIR --out MODEL_DIR`');
  }
  const parsedText = parseJsonText(text);
  if ('problem' in parsedText) throw inputError(parsedText.problem.message, { file: jsonFile, line: parsedText.problem.line });
  const raw = parsedText.value;
  const fmt = (raw as { format_version?: unknown } | null)?.format_version;
  if (typeof fmt === 'number' && fmt > MODEL_FORMAT_VERSION) {
    throw inputError(`model format ${fmt} is newer than this flowknn (${TOOL_VERSION}) reads (${MODEL_FORMAT_VERSION})`, { file: jsonFile, line: jsonKeyLine(text, 'format_version') }, 'upgrade flowknn');
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const p = schemaProblem(parsed.error, text);
    throw inputError(p.message, { file: jsonFile, line: p.line });
  }
  const json = parsed.data;
  const fs: FeatureSet = json.feature_set;
  const known = FEATURE_SETS.find((k) => sameFeatureSet(k, fs));
  if (!known) {
    throw inputError(
      `feature set ${featureSetId(fs)} (${fs.columns.join(', ')}) is not one this flowknn knows; it knows ${FEATURE_SETS.map((k) => `${featureSetId(k)} (${k.columns.join(', ')})`).join('; ')}`,
      { file: jsonFile, line: jsonKeyLine(text, 'feature_set') },
      'retrain the model with this version: flowknn train --labels DIR --out MODEL_DIR',
    );
  }
  // A fitted affine scaler has one offset and one scale per feature; the stateless ones and
  // quantile (which keeps quantiles instead) none.
  const width = json.scaler.name === 'none' || json.scaler.name === 'row-l2' || json.scaler.name === 'quantile' ? 0 : known.columns.length;
  for (const part of ['offset', 'scale'] as const) {
    const got = json.scaler[part].length;
    if (got !== width) {
      throw inputError(
        `scaler.${part} has ${got} entries; scaler ${json.scaler.name} over feature set ${featureSetId(known)} needs ${width}${width > 0 ? ' (one per feature)' : ''}`,
        { file: jsonFile, line: jsonKeyLine(text, part) },
        'the model folder was changed by hand or is damaged: retrain it (flowknn train --labels DIR --out MODEL_DIR)',
      );
    }
  }
  // After the feature set, which a model of another flowknn (sealed by it) is refused for first.
  // A model written before model.json carried a checksum is still read (its train.arrow is
  // checked, and the values below are), with a warning: a hand edit of it goes unnoticed.
  const warnings: string[] = [];
  if (json.sha256 === undefined) {
    warnings.push(`${jsonFile} has no sha256 (written before flowknn checked model files): damage or edits to it cannot be detected; train the model again to add one`);
  } else if (modelJsonDigest(raw as Record<string, unknown>) !== json.sha256) {
    throw inputError(`does not match its sha256: the model file is damaged or was changed by hand (${MODEL_JSON} is written by flowknn train only)`, { file: jsonFile }, 'use the model folder as flowknn train wrote it, or train it again');
  }
  checkModelValues(json, text, jsonFile);
  return { json, text, jsonFile, known, warnings };
}

/**
 * Values no training writes: a scale that is not a positive finite number (the scalers keep 1
 * for a constant feature), an offset or threshold that is not finite. Such a model would give
 * every row the same neighbours, or none; it is refused, checksum or not.
 */
function checkModelValues(json: ModelJson, text: string, jsonFile: string): void {
  const line = (key: string) => jsonKeyLine(text, key);
  const n = json.feature_set.columns.length;
  const affine = json.scaler.name === 'zscore' || json.scaler.name === 'minmax' || json.scaler.name === 'log-zscore';
  if (affine && (json.scaler.scale.length !== n || json.scaler.offset.length !== n)) {
    throw inputError(`scaler ${json.scaler.name} needs ${n} offsets and scales, one per feature; it has ${json.scaler.offset.length} and ${json.scaler.scale.length}`, { file: jsonFile, line: line('scaler') });
  }
  const badScale = json.scaler.scale.findIndex((v) => !(Number.isFinite(v) && v > 0));
  if (badScale >= 0) throw inputError(`scaler.scale[${badScale}] is ${json.scaler.scale[badScale]}: a scale must be a positive finite number`, { file: jsonFile, line: line('scale') });
  const badOffset = json.scaler.offset.findIndex((v) => !Number.isFinite(v));
  if (badOffset >= 0) throw inputError(`scaler.offset[${badOffset}] is ${json.scaler.offset[badOffset]}: an offset must be a finite number`, { file: jsonFile, line: line('offset') });
  checkQuantiles(json, n, jsonFile, line('quantiles') ?? line('scaler'));
  if (json.novelty && !Number.isFinite(json.novelty.threshold)) throw inputError(`novelty.threshold is ${json.novelty.threshold}: expected a finite number`, { file: jsonFile, line: line('threshold') });
}

/** quantile's lists: one per feature, all of one length, finite and non-decreasing; other scalers have none. */
function checkQuantiles(json: ModelJson, n: number, jsonFile: string, line: number | undefined): void {
  const q = json.scaler.quantiles;
  if (json.scaler.name !== 'quantile') {
    if (q !== undefined) throw inputError(`scaler ${json.scaler.name} has quantiles: only scaler quantile keeps them`, { file: jsonFile, line });
    return;
  }
  if (q === undefined || q.length !== n) throw inputError(`scaler quantile needs ${n} lists of quantiles, one per feature; it has ${q?.length ?? 0}`, { file: jsonFile, line });
  q.forEach((list, j) => {
    if (list.length !== q[0]!.length) throw inputError(`scaler.quantiles[${j}] has ${list.length} values, scaler.quantiles[0] ${q[0]!.length}: expected one length`, { file: jsonFile, line });
    list.forEach((v, i) => {
      if (!Number.isFinite(v) || (i > 0 && v < list[i - 1]!)) {
        throw inputError(`scaler.quantiles[${j}][${i}] is ${v}: expected finite values in non-decreasing order`, { file: jsonFile, line });
      }
    });
  });
}

function optionalTimes(table: Table, name: string): (number | null)[] {
  const col = numberColumn(table, name);
  return col ? Array.from(col, (v) => (Number.isNaN(v) ? null : v)) : Array<null>(table.numRows).fill(null);
}

export async function readModel(dir: string): Promise<LoadedModel> {
  const { json, text, jsonFile, known, warnings } = await readJson(dir);
  const trainFile = join(dir, json.train.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(trainFile);
  } catch {
    throw inputError(`model is incomplete: ${json.train.file} is missing`, { file: trainFile });
  }
  if (createHash('sha256').update(bytes).digest('hex') !== json.train.sha256) {
    throw inputError(`${json.train.file} does not match the sha256 in ${MODEL_JSON}: the model folder was changed by hand or is damaged`, { file: trainFile });
  }
  // checked against model.json above: decoded directly (readArrowFile)
  const table = await readArrowFile(trainFile, { sha256: json.train.sha256 });
  const labelCol = stringColumn(table, 'label');
  if (!labelCol || table.numRows !== json.train.rows) throw inputError(`expected ${json.train.rows} labelled rows`, { file: trainFile });
  const features = featureMatrix(table, known, trainFile);
  const labels = Int32Array.from(labelCol, (l, i) => {
    const at = json.classes.indexOf(l ?? '');
    if (at < 0) throw inputError(`row ${i} has label "${excerpt(l ?? '')}", not one of the model's classes`, { file: trainFile });
    return at;
  });
  const set: LabelledSet = {
    featureSet: known,
    features,
    labels,
    classes: json.classes,
    keys: (stringColumn(table, 'key') ?? []).map((k) => k ?? ''),
    sourceFile: (stringColumn(table, 'source_file') ?? []).map((k) => k ?? ''),
    sourceLine: Int32Array.from(numberColumn(table, 'source_line') ?? []),
    // Models written before train.arrow recorded windows and first seen have no such columns: unknown.
    windowStart: optionalTimes(table, 'window_start'),
    firstSeen: optionalTimes(table, 'first_seen'),
  };
  const config: ModelConfig = { scaler: json.scaler.name, k: json.k, metric: json.metric, weights: json.weights };
  if (json.novelty && json.novelty.k !== json.k) throw inputError(`novelty.k = ${json.novelty.k} differs from the model's k = ${json.k}`, { file: jsonFile, line: jsonKeyLine(text, 'novelty') });
  if (json.k > set.features.rows) throw inputError(`k = ${json.k} is more than the ${set.features.rows} training rows`, { file: jsonFile, line: jsonKeyLine(text, 'k') });
  // The stored scaler parameters are used as they are (not refitted), so a model classifies the
  // same way on every machine and version that reads it.
  const scaler: ScalerParams = { name: json.scaler.name, offset: json.scaler.offset, scale: json.scaler.scale, ...(json.scaler.quantiles ? { quantiles: json.scaler.quantiles } : {}) };
  return { dir, json, warnings, model: { config, scaler, train: set, space: transform(scaler, features) } };
}
