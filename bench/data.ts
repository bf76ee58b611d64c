import { Matrix } from '../src/matrix.js';

/** Benchmark inputs, shared by every script in bench/ so their figures compare. */

/** Uniform random in [-1, 1]^d. */
export function uniform(rows: number, d: number, random: () => number): Matrix {
  const m = Matrix.zeros(rows, d);
  for (let i = 0; i < m.data.length; i++) m.data[i] = random() * 2 - 1;
  return m;
}

/**
 * Traffic-like aggregates with the seven features (d = 7): a few service clusters (log-normal
 * around a centre per feature; pps, bps and bpp derived from the counts as nfdump defines
 * them), then log1p, as the log-zscore scaler does. Clustered, like the seed data.
 */
export function traffic(rows: number, random: () => number): Matrix {
  const D = 7;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const centres = [
    { dur: 2, flows: 2, pkts: 5e3, bpp: 1450 },
    { dur: 300, flows: 5e4, pkts: 8e5, bpp: 500 },
    { dur: 250, flows: 20, pkts: 2e6, bpp: 1490 },
    { dur: 280, flows: 4e4, pkts: 1.5e7, bpp: 1370 },
    { dur: 600, flows: 1e4, pkts: 9e7, bpp: 80 },
  ];
  const m = Matrix.zeros(rows, D);
  for (let i = 0; i < rows; i++) {
    const c = centres[Math.floor(random() * centres.length)]!;
    const dur = Math.max(0.001, c.dur * Math.exp(0.8 * gauss()));
    const flows = Math.max(1, Math.round(c.flows * Math.exp(0.9 * gauss())));
    const pkts = Math.max(1000, Math.round(c.pkts * Math.exp(0.7 * gauss())));
    const bytes = Math.round(pkts * Math.min(1500, Math.max(40, c.bpp * Math.exp(0.1 * gauss()))));
    const row = [dur, flows, pkts, bytes, Math.floor(pkts / dur), Math.floor((8 * bytes) / dur), Math.floor(bytes / pkts)];
    row.forEach((v, j) => (m.data[i * D + j] = Math.log1p(v)));
  }
  return m;
}
