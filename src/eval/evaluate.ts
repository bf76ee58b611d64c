import type { KnnEngine } from '../engines/engine.js';
import { subset, type LabelledSet } from '../knn/labelled-set.js';
import { fitModel, predict, type ModelConfig } from '../knn/model.js';
import { vote } from '../knn/classifier.js';
import { leaveOneOutNeighbours } from './loo.js';
import { classificationReport, confusionMatrix, type ClassificationReport, type ConfusionMatrix } from './metrics.js';
import { makeFolds, type Protocol } from './splits.js';

export interface Evaluation {
  readonly protocol: Protocol;
  readonly config: ModelConfig;
  readonly folds: number;
  /** Rows that were predicted (all rows, except for holdout: the test rows), ascending. */
  readonly rows: Int32Array;
  readonly truth: Int32Array;
  readonly predicted: Int32Array;
  readonly report: ClassificationReport;
  readonly confusion: ConfusionMatrix;
}

/**
 * Runs a protocol: for each fold, the scaler is fitted on that fold's training rows only, then
 * the fold's test rows are classified. Every row's prediction comes from a model that did not
 * see it, except under resubstitution, whose point is to show the optimistic figure.
 * Leave-one-out's neighbours come from eval/loo.ts (one search where the scaler and metric
 * allow, else its n folds one at a time). onFold counts folds (rows, for
 * leave-one-out).
 */
export async function evaluate(
  set: LabelledSet,
  config: ModelConfig,
  protocol: Protocol,
  engine: KnnEngine,
  onFold?: (done: number, total: number) => void,
): Promise<Evaluation> {
  const n = set.labels.length;
  let predictedByRow: Int32Array = new Int32Array(n).fill(-1);
  let foldCount: number;
  if (protocol.name === 'loo') {
    const neighbours = await leaveOneOutNeighbours(set.features, config.scaler, config.metric, config.k, engine, { onRows: onFold });
    predictedByRow = vote(neighbours, set.labels, set.classes.length, config.weights).predicted;
    foldCount = n;
  } else {
    const folds = makeFolds(set.labels, set.classes.length, protocol);
    foldCount = folds.length;
    for (const [f, fold] of folds.entries()) {
      const model = fitModel(subset(set, fold.train), config);
      const { votes } = await predict(model, set.features.take(fold.test), engine);
      fold.test.forEach((row, j) => {
        predictedByRow[row] = votes.predicted[j]!;
      });
      onFold?.(f + 1, foldCount);
    }
  }
  const rows = Int32Array.from(predictedByRow.keys()).filter((i) => predictedByRow[i]! >= 0);
  const truth = Int32Array.from(rows, (i) => set.labels[i]!);
  const predicted = Int32Array.from(rows, (i) => predictedByRow[i]!);
  const confusion = confusionMatrix(truth, predicted, set.classes);
  return { protocol, config, folds: foldCount, rows, truth, predicted, report: classificationReport(confusion), confusion };
}
