import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { KnnEngine } from '../engines/engine.js';
import { usageError } from '../errors.js';
import { evaluate } from '../eval/evaluate.js';
import type { Protocol, ProtocolName } from '../eval/splits.js';
import { NFDUMP_STAT7, type FeatureSet } from '../features/feature-set.js';
import { exists, writeDirAtomic } from '../io/atomic.js';
import { calibrateNovelty, DEFAULT_NOVELTY_QUANTILE, DEFAULT_NOVELTY_SCORE, type NoveltyCalibration, type NoveltyScore } from '../knn/novelty.js';
import { Matrix } from '../matrix.js';
import { readModel, storedNovelty, writeModelFiles, type EvaluationSummary } from './folder.js';
import { type LabelledSet } from '../knn/labelled-set.js';
import { loadLabelled, type LabelSelection } from './labelled.js';
import { collectBatch, formatWindow, identifiedByWindow, readLabelsTable, rowIdentity, type LabelRow } from './labels.js';
import { DEFAULT_CONFIG, fitModel, type KnnModel, type ModelConfig } from '../knn/model.js';
import {
  currentVersion,
  pendingBatches,
  readVersionJson,
  registryPaths,
  retireBatches,
  promote,
  versionDir,
  versionJsonText,
  versionNumbers,
  VERSION_FORMAT_VERSION,
  VERSION_JSON,
  withRegistryLock,
  type LabelConflict,
  type PairedRecord,
  type VersionJson,
} from './registry.js';
import { metricLabel } from '../engines/metrics.js';
import { decidePromotion, DEFAULT_PROMOTION_ALPHA, pairedEvaluation } from './promotion.js';

/** What `flowknn train` uses when a flag is not given and there is no earlier version to follow. */
/** The model configuration of a first version when none is given (the sweep's default too). */
export const DEFAULT_MODEL_CONFIG: ModelConfig = DEFAULT_CONFIG;
export const DEFAULT_PROTOCOL: Protocol = { name: 'kfold', folds: 10, seed: 1, testFraction: 0.25 };
export const DEFAULT_PROMOTION_TOLERANCE = 0.02;

export interface MergeStats {
  base: number;
  added: number;
  merged: number;
  updated: number;
  conflicts: number;
}

export interface MergeResult {
  readonly set: LabelledSet;
  readonly stats: MergeStats;
  readonly conflicts: LabelConflict[];
  /** Classes of the base left without rows. */
  readonly dropped: string[];
}

interface Entry {
  readonly row: LabelRow;
  alive: boolean;
}

function source(r: LabelRow): string {
  return `${r.sourceFile}:${r.sourceLine}`;
}

function rowsOf(set: LabelledSet): LabelRow[] {
  return Array.from({ length: set.features.rows }, (_, i) => ({
    key: set.keys[i] ?? '',
    windowStart: set.windowStart?.[i] ?? null,
    firstSeen: set.firstSeen?.[i] ?? null,
    features: Array.from(set.features.row(i)),
    label: set.classes[set.labels[i]!]!,
    sourceFile: set.sourceFile[i] ?? '',
    sourceLine: set.sourceLine[i]!,
  }));
}

/**
 * The training rows of a new version: the base version's rows, then each batch of new labels in
 * order (oldest first). A new label for a row the base already has (same key and window; for
 * masked keys or rows without a window, same key, window, first seen and features):
 *  - with the same label and features: a duplicate, merged (the base row stays);
 *  - with the same label and other features: the newer row replaces it (updated);
 *  - with another label: a conflict; the newer label wins, and the conflict is listed.
 * Rows are ordered by class (the base's classes first, new classes after them alphabetically),
 * then base rows before new ones, each in their order: that order is the training index, which
 * breaks ties between equally distant neighbours, so an unchanged row keeps its place.
 */
export function mergeLabels(base: LabelledSet | null, batches: readonly (readonly LabelRow[])[], featureSet: FeatureSet = base?.featureSet ?? NFDUMP_STAT7): MergeResult {
  const entries: Entry[] = (base ? rowsOf(base) : []).map((row) => ({ row, alive: true }));
  // Rows told apart by first seen are also filed without it, so that a row whose first seen is
  // unknown (a model trained before train.arrow recorded it) still meets its new label.
  const index = new Map<string, number[]>();
  const loose = new Map<string, number[]>();
  const file = (map: Map<string, number[]>, id: string, at: number) => {
    const list = map.get(id);
    if (list) list.push(at);
    else map.set(id, [at]);
  };
  const remember = (at: number) => {
    const r = entries[at]!.row;
    file(index, rowIdentity(r), at);
    if (!identifiedByWindow(r.key, r.windowStart)) file(loose, rowIdentity({ ...r, firstSeen: null }), at);
  };
  const priorsOf = (row: LabelRow): number[] => {
    if (identifiedByWindow(row.key, row.windowStart)) return index.get(rowIdentity(row)) ?? [];
    const all = loose.get(rowIdentity({ ...row, firstSeen: null })) ?? [];
    return all.filter((i) => row.firstSeen === null || entries[i]!.row.firstSeen === null || entries[i]!.row.firstSeen === row.firstSeen);
  };
  entries.forEach((_, i) => remember(i));
  const stats: MergeStats = { base: entries.length, added: 0, merged: 0, updated: 0, conflicts: 0 };
  const conflicts: LabelConflict[] = [];
  for (const batch of batches) {
    for (const row of batch) {
      if (row.features.length !== featureSet.columns.length) throw new Error(`label row with ${row.features.length} features, expected ${featureSet.columns.length}`);
      const prior = priorsOf(row).filter((i) => entries[i]!.alive);
      if (prior.length === 0) stats.added++;
      else if (prior.every((i) => entries[i]!.row.label === row.label)) {
        if (prior.some((i) => entries[i]!.row.features.every((v, j) => v === row.features[j]))) {
          stats.merged++;
          continue;
        }
        stats.updated++;
      } else {
        stats.conflicts++;
        const old = entries[prior.find((i) => entries[i]!.row.label !== row.label)!]!.row;
        conflicts.push({
          key: row.key,
          window_start: row.windowStart === null ? null : new Date(row.windowStart).toISOString(),
          old_label: old.label,
          old_source: source(old),
          new_label: row.label,
          new_source: source(row),
        });
      }
      for (const i of prior) entries[i]!.alive = false;
      entries.push({ row, alive: true });
      remember(entries.length - 1);
    }
  }
  const alive = entries.filter((e) => e.alive).map((e) => e.row);
  const baseClasses = base ? base.classes : [];
  const newClasses = [...new Set(alive.map((r) => r.label))].filter((c) => !baseClasses.includes(c)).sort();
  const present = new Set(alive.map((r) => r.label));
  const classes = [...baseClasses, ...newClasses].filter((c) => present.has(c));
  const dropped = baseClasses.filter((c) => !present.has(c));
  const ordered = classes.flatMap((c) => alive.filter((r) => r.label === c));
  const features = Matrix.zeros(ordered.length, featureSet.columns.length);
  ordered.forEach((r, i) => features.data.set(r.features, i * features.cols));
  const set: LabelledSet = {
    featureSet,
    features,
    labels: Int32Array.from(ordered, (r) => classes.indexOf(r.label)),
    classes,
    keys: ordered.map((r) => r.key),
    sourceFile: ordered.map((r) => r.sourceFile),
    sourceLine: Int32Array.from(ordered, (r) => r.sourceLine),
    windowStart: ordered.map((r) => r.windowStart),
    firstSeen: ordered.map((r) => r.firstSeen),
  };
  return { set, stats, conflicts, dropped };
}

/** The protocol an evaluation summary was made with, to make the same folds again. */
export function protocolOf(ev: EvaluationSummary): Protocol {
  const name = ev.protocol as ProtocolName;
  return { name, folds: name === 'kfold' ? ev.folds : undefined, seed: ev.seed ?? 1, testFraction: ev.test_fraction ?? 0.25 };
}

export function summarize(ev: Awaited<ReturnType<typeof evaluate>>, protocol: Protocol): EvaluationSummary {
  return {
    protocol: protocol.name,
    folds: ev.folds,
    rows: ev.rows.length,
    accuracy: ev.report.accuracy,
    macro_f1: ev.report.macroAvg.f1,
    weighted_f1: ev.report.weightedAvg.f1,
    ...(protocol.name === 'kfold' || protocol.name === 'holdout' ? { seed: protocol.seed ?? 1 } : {}),
    ...(protocol.name === 'holdout' ? { test_fraction: protocol.testFraction ?? 0.25 } : {}),
  };
}

export interface TrainVersionOptions {
  readonly root: string;
  readonly name: string;
  /** Labelled rows given on the command line: the first version's rows, or one more batch. */
  readonly labels?: { readonly path: string; readonly selection?: LabelSelection };
  /** Start from this version's rows instead of the newest version's. */
  readonly from?: number;
  /** Model settings given explicitly; the rest follow the base version (or the defaults). */
  readonly config?: Partial<ModelConfig>;
  /** Protocol given explicitly: for a first version, or when the current version stored none. */
  readonly protocol?: Protocol | 'none';
  /** The protocol when none is given and the current version stored none (default: 10-fold, seed 1). */
  readonly defaultProtocol?: Protocol;
  /** Novelty quantile and score form; by default the base version's (or the defaults). */
  readonly noveltyQuantile?: number;
  readonly noveltyScore?: NoveltyScore;
  /** Largest drop in accuracy on the shared rows against the current version that still promotes. */
  readonly tolerance?: number;
  /** McNemar's significance level: a drop beyond the tolerance refuses only when p < alpha. */
  readonly alpha?: number;
  /** Promote whatever the guard says. */
  readonly forcePromote?: boolean;
  readonly engine: KnnEngine;
  readonly log?: (message: string) => void;
  readonly onFold?: (done: number, total: number) => void;
  readonly now?: () => Date;
}

export interface TrainVersionResult {
  readonly version: number;
  readonly dir: string;
  readonly info: VersionJson;
  readonly model: KnnModel;
  readonly novelty: NoveltyCalibration | null;
  /** The version current before (null when there was none). */
  readonly previous: number | null;
  /** The version current after. */
  readonly current: number | null;
}

function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return a.scaler === b.scaler && a.k === b.k && a.weights === b.weights && a.metric.name === b.metric.name && (a.metric.name !== 'minkowski' || b.metric.name !== 'minkowski' || a.metric.p === b.metric.p);
}

function describeConfig(c: ModelConfig): string {
  return `scaler ${c.scaler}, k = ${c.k}, ${metricLabel(c.metric)}, ${c.weights} votes`;
}

const f3 = (x: number) => x.toFixed(3);
const formatP = (p: number) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

/**
 * Makes the next version of a registry model: the base version's rows (the newest version, or
 * `from`) plus the pending label batches and any labelled folder given, merged (see
 * mergeLabels); fitted, calibrated for novelty and evaluated with the protocol of the current
 * version's stored evaluation (same folds and seed), and promoted when its macro F1 is not lower
 * than the current version's by more than the tolerance. The version is written whole before
 * `current` moves; the pending batches it took in move to labels/used/v<N>/.
 */
export async function trainVersion(opts: TrainVersionOptions): Promise<TrainVersionResult> {
  const log = opts.log ?? (() => undefined);
  const now = opts.now ?? (() => new Date());
  const tolerance = opts.tolerance ?? DEFAULT_PROMOTION_TOLERANCE;
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw usageError(`--promotion-tolerance must be a number >= 0, got ${tolerance}`, 'e.g. 0.02: promote unless accuracy on the shared rows drops by more than 0.02');
  const alpha = opts.alpha ?? DEFAULT_PROMOTION_ALPHA;
  if (!(alpha > 0 && alpha < 1)) throw usageError(`--promotion-alpha must be a number in (0, 1), got ${alpha}`, 'e.g. 0.05: a drop counts only when McNemar p < 0.05');
  const paths = registryPaths(opts.root, opts.name);
  return withRegistryLock(opts.root, opts.name, async (repairs) => {
    const versions = await versionNumbers(opts.root, opts.name);
    const newest = versions.length > 0 ? versions[versions.length - 1]! : null;
    const current = await currentVersion(opts.root, opts.name);
    const parent = opts.from ?? newest;
    if (opts.from !== undefined && !versions.includes(opts.from)) {
      throw usageError(`--from v${opts.from}: ${paths.base} has no such version`, versions.length > 0 ? `versions: ${versions.map((v) => `v${v}`).join(', ')}` : 'this model has no versions yet');
    }
    if (parent === null && opts.labels === undefined) {
      throw usageError(`model registry ${paths.base} has no version yet: the first needs --labels`, `flowknn train --registry ${opts.root} --name ${opts.name} --labels DIR (a folder of per-label nfdump files, or a table with a label column)`);
    }

    // Pending batches already taken in by a version (a run that stopped between writing the
    // version and moving them) are moved on, not taken again.
    const taken = new Map<string, number>();
    for (const v of versions) for (const l of (await readVersionJson(versionDir(opts.root, opts.name, v)))?.labels ?? []) taken.set(l, v);
    const pendingFiles: string[] = [];
    const completed = [...repairs];
    for (const f of await pendingBatches(opts.root, opts.name)) {
      const v = taken.get(basename(f));
      if (v === undefined) pendingFiles.push(f);
      else {
        await retireBatches(opts.root, opts.name, v, [f]);
        completed.push(`moved ${basename(f)}, taken in by v${v}, to labels/used/v${v}`);
      }
    }

    const baseLoaded = parent === null ? null : await readModel(versionDir(opts.root, opts.name, parent));
    const baseModel = baseLoaded?.model ?? null;
    // The novelty settings follow the base version unless given, as the model settings do.
    const baseNovelty = baseLoaded === null ? null : storedNovelty(baseLoaded.json);
    const noveltyQuantile = opts.noveltyQuantile ?? baseNovelty?.quantile ?? DEFAULT_NOVELTY_QUANTILE;
    const noveltyScore = opts.noveltyScore ?? baseNovelty?.score ?? DEFAULT_NOVELTY_SCORE;
    const featureSet = baseModel?.train.featureSet ?? NFDUMP_STAT7;
    const batches: LabelRow[][] = [];
    const sources: string[] = [];
    for (const f of pendingFiles) {
      batches.push(await readLabelsTable(f, featureSet));
      sources.push(basename(f));
    }
    let initial: LabelledSet | null = baseModel?.train ?? null;
    if (opts.labels) {
      const given = await loadLabelled(opts.labels.path, featureSet, opts.labels.selection ?? {});
      if (initial === null) initial = given;
      else {
        batches.push(collectBatch(rowsOf(given), opts.labels.path).rows);
      }
      sources.push(opts.labels.path);
    }

    const prior = baseModel?.config ?? DEFAULT_MODEL_CONFIG;
    const config: ModelConfig = { ...prior, ...opts.config };
    if (parent !== null && batches.every((b) => b.length === 0) && sameConfig(config, prior)) {
      throw usageError(
        `nothing new for ${paths.base}: no pending labels in ${paths.pending} and no --labels, and the same settings as v${parent}${completed.length > 0 ? ` (this run finished what a killed run had left: ${completed.join('; ')})` : ''}`,
        `add labels first: flowknn label add --registry ${opts.root} --name ${opts.name} --csv FILE --data TABLE.arrow (or --predictions FILE)`,
      );
    }
    const merged = mergeLabels(initial, batches, featureSet);
    const { set } = merged;
    if (set.features.rows <= config.k) throw usageError(`k = ${config.k} needs more than ${set.features.rows} training rows`);
    if (parent !== null && !sameConfig(config, prior)) log(`settings: ${describeConfig(prior)} -> ${describeConfig(config)}`);
    for (const c of merged.conflicts.slice(0, 50)) log(`conflict: ${c.key} ${formatWindow(c.window_start === null ? null : Date.parse(c.window_start))}: ${c.old_label} (${c.old_source}) -> ${c.new_label} (${c.new_source})`);
    if (merged.conflicts.length > 50) log(`... and ${merged.conflicts.length - 50} more conflicts (all in ${VERSION_JSON})`);
    if (merged.dropped.length > 0) log(`classes left without rows, dropped: ${merged.dropped.join(', ')}`);

    // The baseline: the current version's stored evaluation, whose protocol the new one repeats.
    let baseline: { version: number; evaluation: EvaluationSummary } | null = null;
    let protocol: Protocol | 'none' = opts.protocol ?? opts.defaultProtocol ?? DEFAULT_PROTOCOL;
    let currentModel: KnnModel | null = null;
    if (current !== null) {
      const loaded = await readModel(versionDir(opts.root, opts.name, current));
      currentModel = loaded.model;
      const stored = loaded.json.evaluation;
      if (stored) {
        const same = protocolOf(stored);
        if (opts.protocol !== undefined && (opts.protocol === 'none' || opts.protocol.name !== same.name)) {
          throw usageError(
            `--protocol ${opts.protocol === 'none' ? 'none' : opts.protocol.name}: the current version v${current} was evaluated with ${same.name}, and a new version is compared under the same protocol`,
            'leave --protocol out (the current version\'s protocol, folds and seed are used)',
          );
        }
        protocol = same;
        baseline = { version: current, evaluation: stored };
      }
    }

    const model = fitModel(set, config);
    const novelty = set.features.rows > config.k ? await calibrateNovelty(model, opts.engine, noveltyQuantile, noveltyScore) : null;
    let evaluation: EvaluationSummary | null = null;
    if (protocol !== 'none') {
      evaluation = summarize(await evaluate(set, config, protocol, opts.engine, opts.onFold), protocol);
      if (current !== null && baseline === null && currentModel) {
        // The current version stored no evaluation: score it now under the same protocol.
        log(`v${current} stored no evaluation; evaluating it with ${protocol.name} to compare`);
        baseline = { version: current, evaluation: summarize(await evaluate(currentModel.train, currentModel.config, protocol, opts.engine), protocol) };
      }
    }

    const version = (newest ?? 0) + 1;
    let promoted: boolean;
    let reason: string;
    let paired: PairedRecord | null = null;
    if (current === null) {
      promoted = true;
      reason = versions.length === 0 ? 'first version' : 'no version was current';
    } else if (evaluation === null || protocol === 'none' || currentModel === null) {
      promoted = opts.forcePromote === true;
      reason = promoted ? 'promoted by hand (--promote); no evaluation to compare (--protocol none)' : `not evaluated (--protocol none), so not compared with v${current}: promote by hand`;
    } else {
      // Both versions on this version's rows, under the same folds (promotion.ts).
      log(`scoring v${current} and v${version} on v${version}'s ${set.features.rows} rows (${protocol.name}, the same folds)`);
      const pe = await pairedEvaluation(set, config, currentModel.train, currentModel.config, protocol, opts.engine, opts.onFold);
      const d = decidePromotion({ current: pe.current.correct, candidate: pe.candidate.correct, tolerance, alpha });
      paired = {
        protocol: protocol.name,
        folds: pe.folds,
        rows: d.rows,
        current: { version: current, accuracy: pe.current.accuracy, macro_f1: pe.current.macroF1, correct: pe.current.correct.filter(Boolean).length },
        candidate: { accuracy: pe.candidate.accuracy, macro_f1: pe.candidate.macroF1, correct: pe.candidate.correct.filter(Boolean).length },
        current_only: d.currentOnly,
        candidate_only: d.candidateOnly,
        p_value: d.pValue,
        alpha,
        promote: d.promote,
      };
      const what =
        `${protocol.name} on v${version}'s ${d.rows} rows, the same folds: accuracy ${f3(pe.candidate.accuracy)} against v${current}'s ${f3(pe.current.accuracy)}, macro F1 ${f3(pe.candidate.macroF1)} against ${f3(pe.current.macroF1)}; ` +
        `${d.currentOnly} rows right only for v${current}, ${d.candidateOnly} only for v${version} (McNemar p = ${formatP(d.pValue)})`;
      reason = `${what}: ${d.reasons[d.reasons.length - 1]}`;
      promoted = d.promote || opts.forcePromote === true;
      if (!d.promote && promoted) reason = `promoted by hand (--promote) although ${reason}`;
    }
    const dir = versionDir(opts.root, opts.name, version);
    if (await exists(dir)) throw usageError(`${dir} exists but is not a version folder flowknn can read`, 'move it out of the registry');
    const info: VersionJson = {
      format: 'flowknn-model-version',
      format_version: VERSION_FORMAT_VERSION,
      name: opts.name,
      version,
      parent,
      created: now().toISOString(),
      // A first version's --labels rows are new rows, not rows of a parent.
      rows: { total: set.features.rows, ...merged.stats, ...(parent === null ? { base: 0, added: merged.stats.base + merged.stats.added } : {}) },
      labels: sources,
      conflicts: merged.conflicts,
      dropped_classes: merged.dropped,
      evaluation,
      baseline,
      ...(paired ? { paired } : {}),
      tolerance,
      // written not promoted; promote() records the decision, moves current, then says promoted
      promoted: false,
      reason,
      promoted_at: null,
    };
    const at = now().toISOString();
    await writeDirAtomic(dir, async (tmp) => {
      await writeModelFiles(tmp, model, evaluation, novelty);
      await writeFile(join(tmp, VERSION_JSON), versionJsonText(promoted ? { ...info, promotion_pending: { reason, at } } : info));
    });
    // A kill from here on is finished by the next run on the registry (repairRegistry), and a
    // batch left in pending is moved on by it (it is in version.json's labels).
    const final = promoted ? (await promote(opts.root, opts.name, version, info, reason, at))! : info;
    await retireBatches(opts.root, opts.name, version, pendingFiles);
    return { version, dir, info: final, model, novelty, previous: current, current: promoted ? version : current };
  }, opts.log);
}
