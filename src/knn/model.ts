import type { KnnEngine, Metric, Neighbours } from '../engines/engine.js';
import { fitScaler, transform, type ScalerName, type ScalerParams } from '../features/scalers.js';
import { vote, type Votes, type Weights } from './classifier.js';
import type { Matrix } from '../matrix.js';
import type { LabelledSet } from './labelled-set.js';

export interface ModelConfig {
  readonly scaler: ScalerName;
  readonly k: number;
  readonly metric: Metric;
  readonly weights: Weights;
}

/** The configuration train uses unless told otherwise, and the baseline a sweep's choice must beat. */
export const DEFAULT_CONFIG: ModelConfig = { scaler: 'log-zscore', k: 3, metric: { name: 'euclidean' }, weights: 'uniform' };

/** A kNN model: the labelled rows, the scaler fitted on them, and how to vote. */
export interface KnnModel {
  readonly config: ModelConfig;
  readonly scaler: ScalerParams;
  readonly train: LabelledSet;
  /** The training rows in model space (scaled), ready for search. */
  readonly space: Matrix;
}

export function fitModel(train: LabelledSet, config: ModelConfig): KnnModel {
  const scaler = fitScaler(config.scaler, train.features);
  return { config, scaler, train, space: transform(scaler, train.features) };
}

export interface Prediction {
  readonly neighbours: Neighbours;
  readonly votes: Votes;
}

/**
 * Classifies raw feature rows: scale with the model's fitted scaler, search, vote. No rows (a
 * night or a file where nfdump found nothing) is no prediction, not a search.
 */
export async function predict(model: KnnModel, raw: Matrix, engine: KnnEngine): Promise<Prediction> {
  if (raw.rows === 0) {
    const neighbours = { queries: 0, k: model.config.k, indices: new Int32Array(0), distances: new Float64Array(0) };
    return { neighbours, votes: vote(neighbours, model.train.labels, model.train.classes.length, model.config.weights) };
  }
  const queries = transform(model.scaler, raw);
  const neighbours = await engine.search(model.space, queries, model.config.k, model.config.metric);
  return { neighbours, votes: vote(neighbours, model.train.labels, model.train.classes.length, model.config.weights) };
}
