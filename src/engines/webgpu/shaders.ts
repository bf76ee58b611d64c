import type { MetricName } from '../engine.js';

/**
 * The WGSL of the fused kNN kernels. Everything that changes the text is a parameter here and
 * part of the pipeline cache key: metric, dimension D, k, workgroup size and tile rows.
 */
export interface KnnShaderParams {
  readonly metric: MetricName;
  readonly d: number;
  readonly k: number;
  readonly workgroup: number;
  readonly tile: number;
}

/** The uniform both kernels read (32 bytes; written by WebGpuEngine.pass). */
const PARAMS = `struct Params {
  n_queries: u32,
  n_train: u32,
  split_rows: u32,
  wg_x: u32,
  p: f32,
  n_splits: u32,
  _pad1: u32,
  _pad2: u32,
}`;

/** The ranking key of one training row against the query, accumulated over D. */
function keyCode(metric: MetricName, d: number): string {
  const loop = (body: string) => `for (var c = 0u; c < ${d}u; c++) { ${body} }`;
  switch (metric) {
    case 'euclidean':
    case 'sqeuclidean':
      return `var key = 0.0;\n        ${loop('let diff = q[c] - tile[r * D + c]; key += diff * diff;')}`;
    case 'manhattan':
      return `var key = 0.0;\n        ${loop('key += abs(q[c] - tile[r * D + c]);')}`;
    case 'chebyshev':
      return `var key = 0.0;\n        ${loop('key = max(key, abs(q[c] - tile[r * D + c]));')}`;
    case 'minkowski':
      // pow(0, p) is undefined in WGSL: a zero gap adds 0.
      return `var key = 0.0;\n        ${loop('let a = abs(q[c] - tile[r * D + c]); key += select(pow(a, params.p), 0.0, a == 0.0);')}`;
    case 'cosine':
      return `var dot = 0.0;\n        ${loop('dot += q[c] * tile[r * D + c];')}
        let tn = tile_norm[r];
        var key = 1.0;
        if (q_norm > 0.0 && tn > 0.0) { key = clamp(1.0 - dot / (q_norm * tn), 0.0, 2.0); }`;
  }
}

/**
 * One fused pass: each invocation owns one query and keeps its running top-k (key and
 * training index, sorted, ties after equal keys so lower indices stay first) in private
 * memory; the workgroup stages TILE training rows at a time through workgroup memory. The
 * training rows are cut into `n_splits` ranges (workgroup_id.z), each giving a partial top-k;
 * the merge kernel joins them. No query x train distance matrix is ever written.
 */
export function knnShader(p: KnnShaderParams): string {
  const { metric, d, k, workgroup, tile } = p;
  const cosine = metric === 'cosine';
  return /* wgsl */ `// flowknn fused kNN: metric ${metric}, D ${d}, K ${k}, workgroup ${workgroup}, tile ${tile}
const D: u32 = ${d}u;
const K: u32 = ${k}u;
const WG: u32 = ${workgroup}u;
const TILE: u32 = ${tile}u;
const NONE: u32 = 0xffffffffu;

${PARAMS}

@group(0) @binding(0) var<storage, read> train: array<f32>;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_key: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> tile: array<f32, ${tile * d}>;
${cosine ? `var<workgroup> tile_norm: array<f32, ${tile}>;` : ''}

@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let qi = (wid.y * params.wg_x + wid.x) * WG + lid;
  let split = wid.z;
  let live = qi < params.n_queries;
  var q: array<f32, ${d}>;
  if (live) {
    for (var c = 0u; c < D; c++) { q[c] = queries[qi * D + c]; }
  }
  ${cosine ? 'var q_norm = 0.0;\n  for (var c = 0u; c < D; c++) { q_norm += q[c] * q[c]; }\n  q_norm = sqrt(q_norm);' : ''}
  var best_key: array<f32, ${k}>;
  var best_idx: array<u32, ${k}>;
  var count = 0u;
  let row_begin = min(split * params.split_rows, params.n_train);
  let row_end = min(row_begin + params.split_rows, params.n_train);
  for (var base = row_begin; base < row_end; base += TILE) {
    let rows = min(TILE, row_end - base);
    for (var e = lid; e < rows * D; e += WG) { tile[e] = train[base * D + e]; }
    ${cosine ? `for (var r = lid; r < rows; r += WG) {
      var s = 0.0;
      for (var c = 0u; c < D; c++) { let v = train[(base + r) * D + c]; s += v * v; }
      tile_norm[r] = sqrt(s);
    }` : ''}
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < rows; r++) {
        ${keyCode(metric, d)}
        if (count < K || key < best_key[K - 1u]) {
          var pos = min(count, K - 1u);
          while (pos > 0u && best_key[pos - 1u] > key) {
            best_key[pos] = best_key[pos - 1u];
            best_idx[pos] = best_idx[pos - 1u];
            pos -= 1u;
          }
          best_key[pos] = key;
          best_idx[pos] = base + r;
          count = min(count + 1u, K);
        }
      }
    }
    workgroupBarrier();
  }
  if (live) {
    let o = (split * params.n_queries + qi) * K;
    for (var j = 0u; j < K; j++) {
      if (j < count) {
        out_idx[o + j] = best_idx[j];
        out_key[o + j] = best_key[j];
      } else {
        out_idx[o + j] = NONE;
        out_key[o + j] = 0.0;
      }
    }
  }
}
`;
}

/**
 * Merges the partial top-k lists of the splits of each query into one, ordered by key and then
 * training index: the order a single pass over all rows would give.
 */
export function mergeShader(k: number, maxSplits: number, workgroup: number): string {
  return /* wgsl */ `// flowknn top-k merge: K ${k}, up to ${maxSplits} splits, workgroup ${workgroup}
const K: u32 = ${k}u;
const NONE: u32 = 0xffffffffu;

${PARAMS}

@group(0) @binding(0) var<storage, read> part_idx: array<u32>;
@group(0) @binding(1) var<storage, read> part_key: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_key: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(${workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let qi = (wid.y * params.wg_x + wid.x) * ${workgroup}u + lid;
  if (qi >= params.n_queries) { return; }
  var head: array<u32, ${maxSplits}>;
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
`;
}
