import type { MetricName } from '../engine.js';
import { metricSpec, unreachable } from '../metrics.js';
import { defineProgram, wgslHeader } from './program.js';

/**
 * The WGSL of the fused kNN kernels. Everything that changes the text is a parameter here and
 * part of the pipeline cache key: metric, dimension D, k, workgroup size, tile rows, queries
 * per invocation, the top-k insertion and the form of the euclidean key.
 */
export interface KnnShaderParams {
  readonly metric: MetricName;
  readonly d: number;
  readonly k: number;
  readonly workgroup: number;
  readonly tile: number;
  /** Queries each invocation owns (1, 2 or 4): a staged training row is read once for all of them. */
  readonly queries: number;
  /**
   * How a key enters the running top-k: `loop` shifts larger keys down one by one (a loop with
   * a moving index), `unrolled` is a compare-and-shift cascade over the K slots written out with
   * constant indices, so the lists can stay in registers (used up to K = 32).
   */
  readonly insertion: 'loop' | 'unrolled';
  /**
   * Euclidean keys: `diff` sums squared differences (exact in f32); `dot` ranks by
   * |t|^2 - 2 q.t (one multiply-add per dimension; cancellation makes it approximate, so the
   * engine re-ranks the kept candidates exactly on the host). Other metrics always use `diff`.
   */
  readonly form: 'diff' | 'dot';
}

/** Dimensions and top-k sizes up to which the generated code is written out instead of looped. */
const UNROLL_D = 16;
const UNROLL_K = 32;

/** The uniforms both kernels read (one buffer, bound to both). */
const UNIFORMS = [
  { name: 'n_queries', type: 'u32' },
  { name: 'n_train', type: 'u32' },
  { name: 'split_rows', type: 'u32' },
  { name: 'wg_x', type: 'u32' },
  { name: 'p', type: 'f32' },
  { name: 'n_splits', type: 'u32' },
] as const;

/** Both kernels' outputs: top-k lists of training indices and their keys. */
const TOP_K_OUT = [
  { name: 'out_idx', access: 'read_write', element: 'u32' },
  { name: 'out_key', access: 'read_write', element: 'f32' },
] as const;

/** The fused kNN kernel: training rows and queries in, partial top-k lists (per split) out. */
export const KNN_PROGRAM = defineProgram({
  bindings: [{ name: 'train', access: 'read', element: 'f32' }, { name: 'queries', access: 'read', element: 'f32' }, ...TOP_K_OUT],
  uniforms: UNIFORMS,
});

/** The merge kernel: the splits' partial lists in, one list per query out. */
export const MERGE_PROGRAM = defineProgram({
  bindings: [{ name: 'part_idx', access: 'read', element: 'u32' }, { name: 'part_key', access: 'read', element: 'f32' }, ...TOP_K_OUT],
  uniforms: UNIFORMS,
});

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The ranking key of query slot `s` against the staged row `r`, left in `key${s}`. `t(c)` is
 * the row's value in dimension c (a register when the row was loaded once for all slots). The
 * per-dimension step comes from the metric table; the family says how the key starts and ends.
 */
function keyCode(p: KnnShaderParams, s: number, t: (c: string) => string): string {
  const { d } = p;
  const spec = metricSpec(p.metric);
  const q = (c: string) => `q${s}[${c}]`;
  const key = `key${s}`;
  const acc = (init: string, step: (c: string) => string): string =>
    d <= UNROLL_D ? `var ${key} = ${init};\n${range(d).map((c) => '          ' + step(`${c}u`)).join('\n')}` : `var ${key} = ${init};\n          for (var c = 0u; c < D; c++) { ${step('c')} }`;
  const family = spec.family;
  switch (family) {
    case 'squares':
      if (p.form === 'dot') return acc('tile_norm[r]', (c) => `${key} = fma(${q(c)}, ${t(c)}, ${key});`);
      return acc('0.0', (c) => spec.wgslStep(q(c), t(c), key));
    case 'absolute':
    case 'maximum':
    case 'power':
      return acc('0.0', (c) => spec.wgslStep(q(c), t(c), key));
    case 'angle':
      return `${acc('0.0', (c) => spec.wgslStep(q(c), t(c), key))}
          {
            let tn = tile_norm[r];
            var cos_key = 1.0;
            if (q_norm${s} > 0.0 && tn > 0.0) { cos_key = clamp(1.0 - ${key} / (q_norm${s} * tn), 0.0, 2.0); }
            ${key} = cos_key;
          }`;
    default:
      return unreachable(family, 'metric family');
  }
}

/** Puts `key${s}` for training row `base + r` into slot s's sorted top-k (ties: earlier rows first). */
function insertCode(p: KnnShaderParams, s: number): string {
  const K = p.k;
  if (p.insertion === 'unrolled' && K <= UNROLL_K) {
    // Rows arrive in increasing index order, so "strictly smaller" keeps equal keys in index
    // order; once one slot moved, every later one shifts down.
    const steps = range(K).map(
      (j) => `            if (mv || ${j}u >= count${s} || kk < best_key${s}[${j}]) { let tk = best_key${s}[${j}]; let ti = best_idx${s}[${j}]; best_key${s}[${j}] = kk; best_idx${s}[${j}] = ki; kk = tk; ki = ti; mv = true; }`,
    );
    return `if (count${s} < K || key${s} < best_key${s}[K - 1u]) {
            var kk = key${s};
            var ki = base + r;
            var mv = false;
${steps.join('\n')}
            count${s} = min(count${s} + 1u, K);
          }`;
  }
  return `if (count${s} < K || key${s} < best_key${s}[K - 1u]) {
            var pos = min(count${s}, K - 1u);
            while (pos > 0u && best_key${s}[pos - 1u] > key${s}) {
              best_key${s}[pos] = best_key${s}[pos - 1u];
              best_idx${s}[pos] = best_idx${s}[pos - 1u];
              pos -= 1u;
            }
            best_key${s}[pos] = key${s};
            best_idx${s}[pos] = base + r;
            count${s} = min(count${s} + 1u, K);
          }`;
}

/**
 * One fused pass: each invocation owns `queries` queries (slot s is query
 * group_first + s * WG + lid, so loads stay coalesced) and keeps each one's running top-k (key and
 * training index, sorted, ties after equal keys so lower indices stay first) in private memory;
 * the workgroup stages TILE training rows at a time through workgroup memory, and each staged
 * row is read once for all the invocation's queries. The training rows are cut into `n_splits`
 * ranges (workgroup_id.z), each giving a partial top-k; the merge kernel joins them. No
 * query x train distance matrix is ever written.
 */
export function knnShader(p: KnnShaderParams): string {
  const { metric, d, k, workgroup, tile, queries: Q } = p;
  const family = metricSpec(metric).family;
  const angle = family === 'angle';
  const dot = p.form === 'dot' && family === 'squares';
  const norms = angle || dot;
  const slots = range(Q);
  const rowInRegisters = d <= UNROLL_D;
  const t = rowInRegisters ? (c: string) => `t${c.replace('u', '')}` : (c: string) => `tile[r * D + ${c}]`;
  const loadRow = rowInRegisters ? range(d).map((c) => `let t${c} = tile[r * D + ${c}u];`).join(' ') : '';
  const qScale = dot ? ' * -2.0' : '';
  return /* wgsl */ `// flowknn fused kNN: metric ${metric}, D ${d}, K ${k}, workgroup ${workgroup}, tile ${tile}, queries ${Q}, insertion ${p.insertion}, form ${dot ? 'dot' : 'diff'}
const D: u32 = ${d}u;
const K: u32 = ${k}u;
const WG: u32 = ${workgroup}u;
const TILE: u32 = ${tile}u;
const NONE: u32 = 0xffffffffu;

${wgslHeader(KNN_PROGRAM)}

var<workgroup> tile: array<f32, ${tile * d}>;
${norms ? `var<workgroup> tile_norm: array<f32, ${tile}>;` : ''}

@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.y * params.wg_x + wid.x) * WG * ${Q}u + lid;
  let split = wid.z;
${slots
  .map(
    (s) => `  let qi${s} = first + ${s * workgroup}u;
  let live${s} = qi${s} < params.n_queries;
  var q${s}: array<f32, ${d}>;
  if (live${s}) {
    for (var c = 0u; c < D; c++) { q${s}[c] = queries[qi${s} * D + c]${qScale}; }
  }
  ${angle ? `var q_norm${s} = 0.0;
  for (var c = 0u; c < D; c++) { q_norm${s} += q${s}[c] * q${s}[c]; }
  q_norm${s} = sqrt(q_norm${s});` : ''}
  var best_key${s}: array<f32, ${k}>;
  var best_idx${s}: array<u32, ${k}>;
  var count${s} = 0u;`,
  )
  .join('\n')}
  let any_live = live0;
  let row_begin = min(split * params.split_rows, params.n_train);
  let row_end = min(row_begin + params.split_rows, params.n_train);
  for (var base = row_begin; base < row_end; base += TILE) {
    let rows = min(TILE, row_end - base);
    for (var e = lid; e < rows * D; e += WG) { tile[e] = train[base * D + e]; }
    ${
      norms
        ? `for (var r = lid; r < rows; r += WG) {
      var s = 0.0;
      for (var c = 0u; c < D; c++) { let v = train[(base + r) * D + c]; s += v * v; }
      tile_norm[r] = ${angle ? 'sqrt(s)' : 's'};
    }`
        : ''
    }
    workgroupBarrier();
    if (any_live) {
      for (var r = 0u; r < rows; r++) {
        ${loadRow}
${slots
  .map(
    (s) => `        {
          ${keyCode({ ...p, form: dot ? 'dot' : 'diff' }, s, t)}
          ${insertCode(p, s)}
        }`,
  )
  .join('\n')}
      }
    }
    workgroupBarrier();
  }
${slots
  .map(
    (s) => `  if (live${s}) {
    let o = (split * params.n_queries + qi${s}) * K;
    ${dot ? `var qq = 0.0;
    for (var c = 0u; c < D; c++) { qq += q${s}[c] * q${s}[c]; }
    qq *= 0.25;` : ''}
    for (var j = 0u; j < K; j++) {
      if (j < count${s}) {
        out_idx[o + j] = best_idx${s}[j];
        out_key[o + j] = ${dot ? `max(best_key${s}[j] + qq, 0.0)` : `best_key${s}[j]`};
      } else {
        out_idx[o + j] = NONE;
        out_key[o + j] = 0.0;
      }
    }
  }`,
  )
  .join('\n')}
}
`;
}

/**
 * Merges the partial top-k lists of the splits of each query into one, ordered by key and then
 * training index: the order a single pass over all rows would give.
 */
export function mergeShader(k: number, maxSplits: number, workgroup: number, queriesPerInvocation = 1): string {
  return /* wgsl */ `// flowknn top-k merge: K ${k}, up to ${maxSplits} splits, workgroup ${workgroup}, queries ${queriesPerInvocation}
const K: u32 = ${k}u;
const WG: u32 = ${workgroup}u;
const NONE: u32 = 0xffffffffu;

${wgslHeader(MERGE_PROGRAM)}

// Dispatched like the kNN kernel: each invocation merges the lists of its ${queriesPerInvocation} queries.
@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.y * params.wg_x + wid.x) * WG * ${queriesPerInvocation}u + lid;
  for (var slot = 0u; slot < ${queriesPerInvocation}u; slot++) {
    let qi = first + slot * WG;
    if (qi >= params.n_queries) { return; }
    var head = array<u32, ${maxSplits}>();
    let S = params.n_splits;
    for (var j = 0u; j < K; j++) {
      var best_s = NONE;
      var best_k = 0.0;
      var best_i = NONE;
      for (var s = 0u; s < S; s++) {
        if (head[s] >= K) { continue; }
        let at = (s * params.n_queries + qi) * K + head[s];
        let i = part_idx[at];
        if (i == NONE) { continue; }
        let kk = part_key[at];
        if (best_s == NONE || kk < best_k || (kk == best_k && i < best_i)) {
          best_s = s;
          best_k = kk;
          best_i = i;
        }
      }
      out_idx[qi * K + j] = best_i;
      out_key[qi * K + j] = best_k;
      if (best_s != NONE) { head[best_s] += 1u; }
    }
  }
}
`;
}
