import { describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { keyFilter } from '../../src/ingest/aggregate-input.js';
import { FlowColumns } from '../../src/schema/tables.js';
import { mulberry32, testSeed } from '../helpers/random.js';

type Flow = { first: number; last: number; src: string; dst: string; proto: string; sp: number; dp: number; pkts: number; bytes: number; opkts: number; obytes: number };

function columns(flows: readonly Flow[], counts?: readonly number[]): FlowColumns {
  const c = new FlowColumns();
  flows.forEach((f, i) => {
    c.first_seen.push(f.first);
    c.last_seen.push(f.last);
    c.duration_s.push((f.last - f.first) / 1000);
    c.src_addr.push(f.src);
    c.dst_addr.push(f.dst);
    c.proto.push(f.proto);
    c.src_port.push(f.sp);
    c.dst_port.push(f.dp);
    c.tcp_flags.push(null);
    c.flows.push(counts?.[i] ?? 1);
    c.in_packets.push(f.pkts);
    c.in_bytes.push(f.bytes);
    c.out_packets.push(f.opkts);
    c.out_bytes.push(f.obytes);
    c.source_line.push(i + 1);
  });
  return c;
}

/** nfdump -A of one file, in plain code: per key, the earliest first, the latest last, the sums, the count. */
function nfdumpA(flows: readonly Flow[], fields: readonly (keyof Flow)[]): { rows: Flow[]; counts: number[] } {
  const groups = new Map<string, { row: Flow; n: number }>();
  for (const f of flows) {
    const key = fields.map((k) => String(f[k])).join('|');
    const g = groups.get(key);
    if (!g) {
      // fields outside the key printed as zeros
      groups.set(key, { row: { first: f.first, last: f.last, src: '0.0.0.0', dst: '0.0.0.0', proto: '0', sp: 0, dp: 0, pkts: f.pkts, bytes: f.bytes, opkts: f.opkts, obytes: f.obytes, ...Object.fromEntries(fields.map((k) => [k, f[k]])) }, n: 1 });
      continue;
    }
    g.row.first = Math.min(g.row.first, f.first);
    g.row.last = Math.max(g.row.last, f.last);
    g.row.pkts += f.pkts;
    g.row.bytes += f.bytes;
    g.row.opkts += f.opkts;
    g.row.obytes += f.obytes;
    g.n++;
  }
  const all = [...groups.values()];
  return { rows: all.map((g) => g.row), counts: all.map((g) => g.n) };
}

describe("nfdump's per-file aggregates merged exactly (FlowAggregator scope partials / only)", () => {
  it('gives the aggregates of the flows themselves, for random files, keys and windows', () => {
    const seed = testSeed('aggregate-partials');
    const random = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const keys: [string, (keyof Flow)[]][] = [
      ['dstip', ['dst']],
      ['srcip', ['src']],
      ['dstip+proto', ['dst', 'proto']],
      ['dstport', ['dp']],
      ['srcip+dstip+dstport', ['src', 'dst', 'dp']],
    ];
    let spanned = 0;
    let exactOnly = 0;
    for (let trial = 0; trial < 60; trial++) {
      const [key, fields] = pick(keys);
      const window = pick(['whole', 60, 300, 3600] as const);
      const fileMs = 300_000;
      const t0 = 1_793_491_200_000 + Math.floor(random() * 12) * fileMs;
      const files: Flow[][] = [];
      for (let f = 0; f < 1 + Math.floor(random() * 4); f++) {
        const slot = t0 + f * fileMs;
        const flows: Flow[] = [];
        for (let i = 0; i < 1 + Math.floor(random() * 200); i++) {
          // most flows start in the file's slot; some earlier (long flows exported late); a few without a time
          const untimed = random() < 0.02;
          const first = untimed ? 0 : slot - (random() < 0.2 ? Math.floor(random() * 900_000) : 0) + Math.floor(random() * fileMs);
          const last = untimed ? 0 : first + Math.floor(random() * 120_000);
          flows.push({
            first,
            last,
            src: `10.0.${Math.floor(random() * 3)}.${Math.floor(random() * 4)}`,
            dst: pick(['192.0.2.1', '192.0.2.2', '2001:db8::1', '198.51.100.7']),
            proto: pick(['6', '17']),
            sp: Math.floor(random() * 3),
            dp: pick([53, 80, 443]),
            pkts: 1 + Math.floor(random() * 1000),
            bytes: 40 + Math.floor(random() * 100_000),
            opkts: Math.floor(random() * 3),
            obytes: Math.floor(random() * 500),
          });
        }
        files.push(flows);
      }
      const want = new FlowAggregator({ key, window });
      const got = new FlowAggregator({ key, window });
      for (const flows of files) {
        want.add(columns(flows));
        const own = got.emptyLike();
        const spanning = new Set<string>();
        const a = nfdumpA(flows, fields);
        own.add(columns(a.rows, a.counts), undefined, { partials: spanning });
        if (spanning.size > 0) {
          spanned++;
          own.add(columns(flows), undefined, { only: spanning });
        } else exactOnly++;
        got.merge(own);
      }
      expect(got.rows(), `seed ${seed}, trial ${trial}: ${key}, window ${window}`).toEqual(want.rows());
      expect(got.flowCount).toBe(want.flowCount);
      expect(got.untimedCount).toBe(want.untimedCount);
    }
    // both ways were taken
    expect(spanned).toBeGreaterThan(0);
    expect(exactOnly).toBeGreaterThan(0);
  });

  it("keyFilter names the spanning keys' addresses, within the caller's filter", () => {
    expect(keyFilter(['dstip'], new Set(['192.0.2.1', '2001:db8::1']), undefined)).toBe('dst ip in [ 192.0.2.1 2001:db8::1 ]');
    expect(keyFilter(['proto', 'srcip'], new Set(['6|10.0.0.1', '17|10.0.0.1', '6|10.0.0.2']), 'proto tcp')).toBe('(proto tcp) and (src ip in [ 10.0.0.1 10.0.0.2 ])');
    // no address in the key: every flow of the file (the aggregator keeps the keys asked for)
    expect(keyFilter(['dstport'], new Set(['80']), undefined)).toBeUndefined();
    expect(keyFilter(['dstport'], new Set(['80']), 'net 10.0.0.0/8')).toBe('net 10.0.0.0/8');
    // too many addresses for one argument: unfiltered
    const many = new Set(Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`));
    expect(keyFilter(['dstip'], many, undefined)).toBeUndefined();
  });
});
