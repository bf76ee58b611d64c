import { csvField } from '../io/csv.js';
import type { ModelConfig } from '../knn/model.js';
import { formatFixed } from './format.js';
import { SELECTION_ALPHA, type Comparison, type Selection } from './selection.js';
import type { PairedTest } from './stats.js';
import { configLabel, metricLabel, type ConfigResult, type NestedResult, type SweepProtocol, type SweepResult } from './sweep.js';

/**
 * What a sweep prints and writes: the ranked table and the selection as text, the whole result
 * as JSON, the ranked table as CSV. The command only parses its flags and calls these.
 */

/** What --save-model wrote, for the text and the JSON. */
export interface SavedModel {
  readonly dir: string;
  /** The model's stored evaluation (model.json), written into the JSON as it is. */
  readonly evaluation: { readonly protocol: string; readonly accuracy: number; readonly macro_f1: number };
  /** Why this configuration (Selection.reason). */
  readonly reason: string;
}

export function describeProtocol(p: SweepProtocol, folds: number, seeds: number[]): string {
  if (p.name === 'loo') return `leave-one-out (${folds} folds)`;
  const s = seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]}`;
  return `stratified ${p.folds}-fold x ${p.repeats} repeat${p.repeats === 1 ? '' : 's'} (${s})`;
}

const f4 = (x: number) => formatFixed(x, 4);

/** [1, 2, 3, 5, 7, 8] -> "1..3,5,7,8" (runs of 3 or more as ranges). */
export function formatKs(ks: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ks.length; ) {
    let j = i;
    while (j + 1 < ks.length && ks[j + 1] === ks[j]! + 1) j++;
    if (j - i >= 2) out.push(`${ks[i]}..${ks[j]}`);
    else for (let t = i; t <= j; t++) out.push(String(ks[t]));
    i = j + 1;
  }
  return out.join(',');
}

export function configJson(c: ModelConfig) {
  return { scaler: c.scaler, metric: c.metric.name, ...(c.metric.name === 'minkowski' ? { p: c.metric.p } : {}), weights: c.weights, k: c.k };
}

function resultJson(c: ConfigResult, classes: string[]) {
  return {
    rank: c.rank,
    ...configJson(c.config),
    macro_f1: { mean: c.macroF1.mean, std: c.macroF1.std },
    accuracy: { mean: c.accuracy.mean, std: c.accuracy.std },
    recall: Object.fromEntries(classes.map((l, i) => [l, c.recall[i]!])),
    per_repeat: c.reports.map((r) => ({ accuracy: r.accuracy, macro_f1: r.macroAvg.f1 })),
  };
}

export const SCORE_NOTE =
  'scores: each repeat is one full cross-validation whose pooled predictions (every row predicted once, by the fold that held it out) give its accuracy and macro F1; mean and sd (population, ddof 0) over the repeats';

function nestedJson(n: NestedResult) {
  return {
    outer: { protocol: 'kfold', folds: n.outer.folds, repeats: n.outer.repeats, seeds: Array.from({ length: n.outer.repeats }, (_, r) => n.outer.seed + r) },
    outer_folds: n.outerFolds.length,
    select: n.select,
    kept_baseline: n.keptBaseline,
    accuracy: n.accuracy,
    macro_f1: n.macroF1,
    pooled_per_repeat: { accuracy: n.pooled.accuracy, macro_f1: n.pooled.macroF1 },
    choices: n.choices.map((c) => ({ ...configJson(c.config), count: c.count })),
    folds: n.outerFolds.map((o) => ({ repeat: o.repeat, fold: o.fold, seed: o.seed, train_rows: o.trainRows, test_rows: o.testRows, ...configJson(o.config), kept_baseline: o.keptBaseline, accuracy: o.accuracy, macro_f1: o.macroF1 })),
  };
}

export function sweepJson(res: SweepResult, nested: NestedResult | undefined, engine: string, saved?: SavedModel) {
  const g = res.grid;
  return {
    protocol:
      res.protocol.name === 'loo'
        ? { name: 'loo', folds: res.folds, repeats: 1 }
        : { name: 'kfold', stratified: true, folds: res.folds, repeats: res.repeats, seeds: res.seeds },
    engine,
    rows: res.rows,
    classes: res.classes,
    grid: { k: g.ks, metrics: g.metrics.map(metricLabel), weights: g.weights, scalers: g.scalers },
    configurations_count: res.configurations.length,
    searches: res.searches,
    scores: SCORE_NOTE,
    ranking: 'mean macro F1, then mean accuracy (both descending), then smaller k, uniform before distance, scaler list order, metric list order',
    honest_estimate: nested
      ? 'nested: every choice made inside the outer training folds and scored on the outer test fold'
      : 'none: the scores of the chosen configuration are optimistic (it was chosen on them); --nested estimates the choice',
    selection: selectionJson(res.selection),
    chosen: resultJson(res.chosen, res.classes),
    ...(nested ? { nested: nestedJson(nested) } : {}),
    ...(saved ? { saved_model: { dir: saved.dir, reason: saved.reason, evaluation: saved.evaluation } } : {}),
    configurations: res.configurations.map((c) => resultJson(c, res.classes)),
  };
}

export function sweepCsv(res: SweepResult): string {
  const cell = (v: string | number) => csvField(String(v));
  const head = ['rank', 'scaler', 'metric', 'p', 'weights', 'k', 'macro_f1_mean', 'macro_f1_std', 'accuracy_mean', 'accuracy_std', ...res.classes.map((c) => `recall_${c}`)];
  const lines = [head.map(cell).join(',')];
  for (const c of res.configurations) {
    const m = c.config.metric;
    lines.push(
      [c.rank, c.config.scaler, m.name, m.name === 'minkowski' ? m.p! : '', c.config.weights, c.config.k, c.macroF1.mean, c.macroF1.std, c.accuracy.mean, c.accuracy.std, ...c.recall]
        .map(cell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function sweepText(res: SweepResult, top: number): string {
  const shown = top > 0 ? res.configurations.slice(0, top) : res.configurations;
  const sw = Math.max(6, ...res.grid.scalers.map((s) => s.length));
  const mw = Math.max(6, ...res.grid.metrics.map((m) => metricLabel(m).length));
  const kw = Math.max(2, String(res.grid.ks[res.grid.ks.length - 1]).length);
  const rw = Math.max(4, String(res.configurations.length).length);
  const cw = res.classes.map((c) => Math.max(4, c.length));
  const sd = res.repeats > 1;
  const header =
    `${'rank'.padStart(rw)}  ${'scaler'.padEnd(sw)}  ${'metric'.padEnd(mw)}  ${'weights'.padEnd(8)}  ${'k'.padStart(kw)}  ` +
    `${'macro F1'.padStart(8)}${sd ? `  ${'sd'.padStart(6)}` : ''}  ${'accuracy'.padStart(8)}${sd ? `  ${'sd'.padStart(6)}` : ''}  ` +
    res.classes.map((c, i) => c.padStart(cw[i]!)).join('  ');
  const lines = shown.map(
    (c) =>
      `${String(c.rank).padStart(rw)}  ${c.config.scaler.padEnd(sw)}  ${metricLabel(c.config.metric).padEnd(mw)}  ${c.config.weights.padEnd(8)}  ${String(c.config.k).padStart(kw)}  ` +
      `${f4(c.macroF1.mean).padStart(8)}${sd ? `  ${f4(c.macroF1.std).padStart(6)}` : ''}  ${f4(c.accuracy.mean).padStart(8)}${sd ? `  ${f4(c.accuracy.std).padStart(6)}` : ''}  ` +
      c.recall.map((r, i) => formatFixed(r, 2).padStart(cw[i]!)).join('  '),
  );
  const more = res.configurations.length - shown.length;
  const g = res.grid;
  return (
    `sweep: ${describeProtocol(res.protocol, res.folds, res.seeds)}; ${res.rows} rows, ${res.classes.length} classes; ` +
    `${res.configurations.length} configurations (k ${formatKs(g.ks)} x ${g.metrics.length} metrics x ${g.weights.length} weights x ${g.scalers.length} scalers), ${res.searches} searches\n` +
    `${res.repeats > 1 ? `${SCORE_NOTE}; per-class columns: mean recall` : 'scores: every row predicted once by a model that did not see it; per-class columns: recall'}\n` +
    `ranked by mean macro F1, then mean accuracy, then smaller k, uniform before distance, list order\n\n` +
    `${header}\n${lines.join('\n')}\n` +
    (more > 0 ? `(${more} more: --top 0 prints all; --csv FILE / --out FILE write all)\n` : '') +
    `\n${selectionText(res.selection, sd)}`
  );
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${f4(x)}`;
const pText = (p: number) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

function pairedText(t: PairedTest): string {
  return `${signed(t.mean)} (se ${f4(t.se)}, t ${Number.isFinite(t.t) ? t.t.toFixed(2) : String(t.t)}, p = ${pText(t.p)})`;
}

function comparisonText(c: Comparison): string {
  return c.kind === 'folds'
    ? `macro F1 ${pairedText(c.macroF1)}, accuracy ${pairedText(c.accuracy)}`
    : `accuracy ${signed(c.accuracy)}: right where the other is wrong on ${c.mcnemar.onlyA} rows against ${c.mcnemar.onlyB} (McNemar exact p = ${pText(c.mcnemar.p)})`;
}

function scoresText(c: ConfigResult, sd: boolean): string {
  return `macro F1 ${f4(c.macroF1.mean)}${sd ? ` (sd ${f4(c.macroF1.std)})` : ''}, accuracy ${f4(c.accuracy.mean)}${sd ? ` (sd ${f4(c.accuracy.std)})` : ''}`;
}

/** The selection: the best, the rule's bar and pick, the paired comparisons, what is kept and why. */
export function selectionText(sel: Selection<ConfigResult>, sd: boolean): string {
  const name = (c: ConfigResult) => `${configLabel(c.config)}${c === sel.baseline ? (sel.baselineIsDefault ? ' (the default)' : ' (the baseline)') : ''}`;
  const base = sel.baselineIsDefault ? 'the default' : 'the baseline';
  const lines = [`best: ${name(sel.best)}: ${scoresText(sel.best, sd)}`];
  if (sel.rule === 'one-se') {
    lines.push(
      `one-standard-error rule: the best's macro F1 ${f4(sel.best.macroF1.mean)} less the standard error of its ${sel.best.foldScores.macroF1.length} fold scores ${f4(sel.se!)} (corrected for repeated folds) is ${f4(sel.bar!)}; ` +
        `${sel.within} configuration${sel.within === 1 ? '' : 's'} reach it; the simplest: ${name(sel.pick)}`,
    );
  } else if (sel.note) {
    lines.push(`rule: ${sel.note}`);
  }
  if (!sel.baselineIsDefault) lines.push(`baseline: ${name(sel.baseline)}: the simplest configuration of the grid (the default is not in it)`);
  const c = sel.bestVsBaseline;
  const how = c.kind === 'folds' ? `the same ${c.folds} folds, per-fold difference: mean, corrected standard error, paired t-test` : `the same ${c.rows} rows`;
  lines.push(`against ${base} (${how}):`);
  if (sel.best !== sel.baseline) lines.push(`  best:   ${comparisonText(sel.bestVsBaseline)}`);
  if (sel.pick !== sel.best && sel.pick !== sel.baseline) lines.push(`  chosen: ${comparisonText(sel.pickVsBaseline)}`);
  if (sel.best === sel.baseline) lines.push(`  ${base} is the best`);
  lines.push(`a gain is beyond noise at p < ${SELECTION_ALPHA}`);
  lines.push(``, `chosen: ${name(sel.kept)}: ${scoresText(sel.kept, sd)}`, `  because ${sel.reason}`);
  return `${lines.join('\n')}\n`;
}

function selectionJson(sel: Selection<ConfigResult>) {
  const comparison = (c: Comparison) =>
    c.kind === 'folds'
      ? { test: 'paired t-test over folds, variance corrected for repeated cross-validation (Nadeau and Bengio)', folds: c.folds, macro_f1: c.macroF1, accuracy: c.accuracy }
      : { test: 'McNemar exact, on the rows', rows: c.rows, accuracy: c.accuracy, only_first_right: c.mcnemar.onlyA, only_baseline_right: c.mcnemar.onlyB, p: c.mcnemar.p };
  const scored = (c: ConfigResult) => ({ rank: c.rank, ...configJson(c.config), macro_f1: c.macroF1.mean, accuracy: c.accuracy.mean });
  return {
    rule: sel.rule,
    ...(sel.note ? { note: sel.note } : {}),
    simplicity:
      'the default first; then fewer settings changed from the default (scaler, metric, weights, k); uniform before distance; k nearer the default, the smaller on a tie; scaler then metric, the default first, then list order',
    alpha: SELECTION_ALPHA,
    best: scored(sel.best),
    ...(sel.se !== undefined ? { standard_error: sel.se, bar: sel.bar } : {}),
    within: sel.within,
    pick: scored(sel.pick),
    baseline: { ...scored(sel.baseline), is_default: sel.baselineIsDefault },
    best_vs_baseline: comparison(sel.bestVsBaseline),
    pick_vs_baseline: comparison(sel.pickVsBaseline),
    kept: scored(sel.kept),
    reason: sel.reason,
  };
}

export function nestedText(n: NestedResult): string {
  const seeds = n.outer.repeats === 1 ? `seed ${n.outer.seed}` : `seeds ${n.outer.seed}..${n.outer.seed + n.outer.repeats - 1}`;
  const inner = n.inner.name === 'loo' ? 'leave-one-out' : `stratified ${n.inner.folds}-fold x ${n.inner.repeats}`;
  const cw = Math.max(...n.choices.map((c) => String(c.count).length));
  return (
    `\nnested estimate (the honest headline figure: every choice made inside the training folds): accuracy ${f4(n.accuracy.mean)} (sd ${f4(n.accuracy.std)}), macro F1 ${f4(n.macroF1.mean)} (sd ${f4(n.macroF1.std)}) over ${n.outerFolds.length} outer folds\n` +
    `nested: outer stratified ${n.outer.folds}-fold x ${n.outer.repeats} (${seeds}); in each outer training part the whole sweep (${inner}) and the ${n.select === 'one-se' ? 'one-standard-error rule' : 'best'} choose, against its baseline as --save-model would; the choice is scored on the outer test fold; the baseline was kept in ${n.keptBaseline} of ${n.outerFolds.length}\n` +
    `pooled per outer repeat: accuracy ${f4(n.pooled.accuracy.mean)} (sd ${f4(n.pooled.accuracy.std)}), macro F1 ${f4(n.pooled.macroF1.mean)} (sd ${f4(n.pooled.macroF1.std)})\n` +
    `chosen in the outer folds (times: configuration):\n` +
    n.choices.map((c) => `  ${String(c.count).padStart(cw)}  ${configLabel(c.config)}`).join('\n') +
    '\n'
  );
}


/** Everything the command prints as text: the table and selection, the nested estimate, the saved model. */
export function sweepOutputText(res: SweepResult, nested: NestedResult | undefined, saved: SavedModel | undefined, top: number): string {
  let text = sweepText(res, top);
  text += nested
    ? nestedText(nested)
    : '\nthe scores above are optimistic for the chosen configuration (it was chosen on them): --nested gives the honest figure, every choice made inside the training folds\n';
  if (saved) {
    text +=
      `\nsaved model ${saved.dir}: ${configLabel(res.chosen.config)}, because ${saved.reason}; ` +
      `leave-one-out on all rows (optimistic: the configuration was chosen on these rows): accuracy ${f4(saved.evaluation.accuracy)}, macro F1 ${f4(saved.evaluation.macro_f1)}\n`;
  }
  return text;
}
