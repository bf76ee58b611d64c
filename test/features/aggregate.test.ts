import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import {
  AGGREGATE_FIELDS,
  aggregateFlows,
  FlowAggregator,
  nfdumpDuration,
  nfdumpRates,
  nfdumpSortValue,
  parseKeySpec,
  parseWindow,
  type AggregateOptions,
  type AggregateRow,
} from '../../src/features/aggregate.js';
import { featureMatrix, NFDUMP_STAT7 } from '../../src/features/feature-set.js';
import { readNfcapdFlows, readNfcapdFlowTable } from '../../src/ingest/nfdump/flows.js';
import { readInput } from '../../src/ingest/read.js';
import { FlowColumns } from '../../src/schema/tables.js';
import {
  hasNfdumpTools,
  makeNfcapdFixture,
  nfcapdSeed,
  nfdumpText,
  splitStatCsv,
  type NfcapdFixture,
  type StatCsvRow,
} from '../helpers/nfcapd-fixture.js';
import { pythonPrefixes } from '../helpers/ipaddress.js';
import { nfdump17 } from '../helpers/paths.js';

function usage(fn: () => unknown): FlowknnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlowknnError) return err;
    throw err;
  }
  throw new Error('expected a FlowknnError');
}

/** Our aggregate as nfdump's stat CSV prints it: td,fl,pkt,byt,pps,bps,bpp (and ts/te to the second). */
function asNfdump(r: AggregateRow): string {
  const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return [sec(r.firstSeen), sec(r.lastSeen), nfdumpDuration(r.durationMs), r.flows, r.packets, r.bytes, r.pps, r.bps, r.bpp].join(',');
}
function nfdumpRow(r: StatCsvRow): string {
  return [r.ts, r.te, r.td, r.fl, r.pkt, r.byt, r.pps, r.bps, r.bpp].join(',');
}

/** Aggregates the flows of the files (flow mode) as one input. */
async function aggregateFiles(files: string[], options: AggregateOptions): Promise<FlowAggregator> {
  const agg = new FlowAggregator(options);
  for (const file of files) for await (const b of readNfcapdFlows(file)) agg.add(b.columns, file);
  return agg;
}

/**
 * Compares every row of nfdump's statistics (every section: the same aggregates once per order)
 * with our aggregate of the same key; returns the number of keys compared.
 */
function expectSameAsNfdump(ours: AggregateRow[], theirs: StatCsvRow[], keyOf: (r: StatCsvRow) => string, what: string): number {
  const byKey = new Map(ours.map((r) => [r.key, r]));
  const keys = new Set<string>();
  for (const row of theirs) {
    const key = keyOf(row);
    keys.add(key);
    const mine = byKey.get(key);
    expect(mine, `${what}: ${key} missing from flowknn's aggregation`).toBeDefined();
    expect(asNfdump(mine!), `${what}: ${key}`).toBe(nfdumpRow(row));
  }
  expect([...byKey.keys()].sort(), `${what}: same keys`).toEqual([...keys].sort());
  return keys.size;
}

describe('nfdump formulas', () => {
  it('pps, bps, bpp truncate; a zero duration gives 0', () => {
    expect(nfdumpRates(2, 3000, 3000)).toEqual({ pps: 0, bps: 8000, bpp: 1500 });
    expect(nfdumpRates(136, 199901, 2256)).toEqual({ pps: 60, bps: 708868, bpp: 1469 }); // FORMATS.md's row
    expect(nfdumpRates(3600, 5139879, 149977)).toEqual({ pps: 24, bps: 274168, bpp: 1427 });
    expect(nfdumpRates(5, 700, 0)).toEqual({ pps: 0, bps: 0, bpp: 140 });
    expect(nfdumpRates(0, 0, 10)).toEqual({ pps: 0, bps: 0, bpp: 0 });
    expect(nfdumpDuration(149977)).toBe('149.977');
    expect(nfdumpDuration(0)).toBe('0.000');
  });

  it('sort values use nfdump\'s integer arithmetic, exact beyond 2^53', () => {
    expect(nfdumpSortValue('pps', 3, 0, 2000)).toBe(1);
    expect(nfdumpSortValue('bps', 0, 1000, 3)).toBe(2666666);
    expect(nfdumpSortValue('pps', 5, 5, 0)).toBe(0);
    const bytes = 2 ** 50 + 1; // 8000 * bytes > 2^53
    expect(nfdumpSortValue('bps', 0, bytes, 7)).toBe(Number((8000n * BigInt(bytes)) / 7n));
  });

  it('key specs and windows', () => {
    expect(parseKeySpec('dstip').fields).toEqual(['dstip']);
    expect(parseKeySpec('DstIP+proto').name).toBe('dstip+proto');
    expect(parseKeySpec(['srcip', 'dstport']).name).toBe('srcip+dstport');
    expect(parseKeySpec('dstip/24').name).toBe('dstip/24');
    expect(parseKeySpec('DSTIP/24/64+proto').name).toBe('dstip/24+proto');
    expect(parseKeySpec('srcip/16/48').prefixes).toEqual([{ v4: 16, v6: 48 }]);
    expect(parseKeySpec('dstip+proto').prefixes).toEqual([undefined, undefined]);
    for (const bad of ['', 'dstip+', 'dstmac', 'dstip+dstip', 'dstip/24+dstip', 'dstip/33', 'dstip/24/129', 'dstip/', 'proto/8', 'dstport/24']) {
      const err = usage(() => parseKeySpec(bad));
      expect(err.kind).toBe('usage');
      expect(err.exitCode).toBe(2);
    }
    expect(parseWindow('whole')).toBe('whole');
    expect(parseWindow('300')).toBe(300);
    expect(parseWindow('5m')).toBe(300);
    expect(parseWindow('1h')).toBe(3600);
    expect(parseWindow(60)).toBe(60);
    for (const bad of ['0', '-5', '1.5', 'five', 2.5]) expect(usage(() => parseWindow(bad)).kind).toBe('usage');
    expect(usage(() => new FlowAggregator({ top: { n: 0, by: 'pps' } })).kind).toBe('usage');
  });
});

describe('aggregation of hand-made flows', () => {
  const T0 = Date.UTC(2026, 10, 1, 10, 0, 0);
  function flows(rows: [first: number, last: number, src: string, dst: string, proto: string, dport: number, pkts: number, bytes: number][]): FlowColumns {
    const c = new FlowColumns();
    rows.forEach(([first, last, src, dst, proto, dport, pkts, bytes], i) => {
      c.first_seen.push(first);
      c.last_seen.push(last);
      c.duration_s.push((last - first) / 1000);
      c.src_addr.push(src);
      c.dst_addr.push(dst);
      c.src_port.push(40000 + i);
      c.dst_port.push(dport);
      c.proto.push(proto);
      c.tcp_flags.push(null);
      c.flows.push(1);
      c.in_packets.push(pkts);
      c.in_bytes.push(bytes);
      c.out_packets.push(i === 0 ? 2 : null);
      c.out_bytes.push(i === 0 ? 100 : null);
      c.source_line.push(i + 1);
    });
    return c;
  }
  const sample = flows([
    [T0 + 299_999, T0 + 400_000, 'a', 'x', 'TCP', 80, 10, 1000], // first seen in window 0, lasts into window 1
    [T0 + 300_000, T0 + 300_500, 'b', 'x', 'UDP', 53, 3, 300],
    [T0 + 310_000, T0 + 311_000, 'a', 'y', 'TCP', 443, 4, 6000],
    [T0 + 10, T0 + 10, 'c', 'x', 'TCP', 80, 1, 60],
  ]);

  it("router in the key: the aggregator's router, or a column of partials; none given is an error", () => {
    const agg = new FlowAggregator({ key: 'dstip+router', window: 'whole', router: 'rtr1' });
    agg.add(sample);
    const other = agg.emptyLike('rtr2');
    other.add(sample);
    agg.merge(other);
    const rows = agg.rows();
    expect(rows.map((r) => r.key).sort()).toEqual(['x|rtr1', 'x|rtr2', 'y|rtr1', 'y|rtr2']);
    const x1 = rows.find((r) => r.key === 'x|rtr1')!;
    expect(x1.values).toEqual(['x', 'rtr1']);
    expect(x1.flows).toBe(3);
    expect(agg.table({}).getChild('router')!.toArray()).toEqual(rows.map((r) => r.values[1]));
    // partial aggregates of several routers carry their router as a column
    const merged = new FlowAggregator({ key: 'router', window: 'whole' });
    merged.add({ ...sample, length: sample.length, router: ['rtr1', 'rtr2', 'rtr1', 'rtr1'] });
    expect(merged.rows().map((r) => [r.key, r.flows])).toEqual(expect.arrayContaining([['rtr1', 3], ['rtr2', 1]]));
    expect(usage(() => new FlowAggregator({ key: 'dstip+router' }).add(sample)).message).toContain('no router given');
    // a key without router leaves the column empty
    const plain = new FlowAggregator({ key: 'dstip', window: 'whole', router: 'rtr1' });
    plain.add(sample);
    expect(plain.table({}).getChild('router')!.toArray()).toEqual([null, null]);
  });

  it('windows are aligned; a flow belongs to the window of its first seen', () => {
    const agg = new FlowAggregator({ key: 'dstip', window: 300 });
    agg.add(sample);
    const rows = agg.rows();
    expect(rows.map((r) => [r.windowStart! - T0, r.key, r.flows, r.packets, r.bytes])).toEqual([
      [0, 'x', 2, 13, 1160], // in + out counters of the first flow
      [300_000, 'x', 1, 3, 300], // pps sort value 1000 * 3 / 500 = 6
      [300_000, 'y', 1, 4, 6000], // 1000 * 4 / 1000 = 4
    ]);
    const x0 = rows[0]!;
    expect([x0.firstSeen - T0, x0.lastSeen - T0, x0.durationMs]).toEqual([10, 400_000, 399_990]);
    expect(agg.flowCount).toBe(4);
  });

  it('whole, composite keys, counters, minimum filters and top-N', () => {
    const whole = (o: AggregateOptions) => {
      const a = new FlowAggregator({ window: 'whole', ...o });
      a.add(sample);
      return a.rows();
    };
    expect(whole({}).map((r) => [r.windowStart, r.key, r.flows])).toEqual([
      [null, 'y', 1],
      [null, 'x', 3],
    ]);
    expect(whole({ key: 'dstip+proto' }).map((r) => r.key).sort()).toEqual(['x|TCP', 'x|UDP', 'y|TCP']);
    expect(whole({ key: 'srcip+dstport' }).map((r) => r.key).sort()).toEqual(['a|443', 'a|80', 'b|53', 'c|80']);
    expect(whole({ counters: 'in' }).find((r) => r.key === 'x')!.packets).toBe(14);
    expect(whole({ counters: 'out' }).find((r) => r.key === 'x')!.packets).toBe(2);
    expect(whole({ minPackets: 15 }).map((r) => r.key)).toEqual(['x']);
    expect(whole({ minBytes: 5000 }).map((r) => r.key)).toEqual(['y']);
    expect(whole({ minFlows: 2 }).map((r) => r.key)).toEqual(['x']);
    expect(whole({ top: { n: 1, by: 'pps' } }).map((r) => r.key)).toEqual(['y']);
    // b: 8000 * 300 / 500 = 4800; a: 8000 * 7100 / 100001 = 567; c: duration 0 -> 0
    expect(whole({ key: 'srcip', top: { n: 1, by: 'bps' } }).map((r) => r.key)).toEqual(['b']);
  });

  it('an aggregate table the NFDUMP_STAT7 models read directly', async () => {
    const table = await aggregateFlows([sample], { key: 'dstip+dstport', window: 300 }, { 'flowknn.source': 'hand-made' });
    expect(table.schema.fields.map((f) => f.name)).toEqual(AGGREGATE_FIELDS.map((f) => f.name));
    const meta = table.schema.metadata;
    expect([meta.get('flowknn.kind'), meta.get('flowknn.key'), meta.get('flowknn.window_s'), meta.get('flowknn.source')]).toEqual([
      'aggregate',
      'dstip+dstport',
      '300',
      'hand-made',
    ]);
    for (const c of NFDUMP_STAT7.columns) expect(table.getChild(c), c).not.toBeNull();
    const m = featureMatrix(table, NFDUMP_STAT7, 'hand-made');
    expect([m.rows, m.cols]).toEqual([3, 7]); // x|80 (two flows) in window 0; x|53, y|443 in window 1
    expect(table.getChild('src_addr')!.toArray()).toEqual([null, null, null]);
    expect([...table.getChild('dst_port')!.toArray()]).toEqual([80, 53, 443]);
    expect([...table.getChild('key')!.toArray()]).toEqual(['x|80', 'x|53', 'y|443']);
  });
});

const tools = hasNfdumpTools();
if (!tools) console.warn('nfdump/nfpcapd not on PATH: skipping the nfdump comparison tests (apt-get install nfdump)');

describe.skipIf(!tools)('aggregation equals nfdump -s on real nfcapd files', () => {
  let fx: NfcapdFixture;
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(7, 'test/features/aggregate.test.ts'));
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  for (const stat of ['dstip', 'srcip'] as const) {
    it(`${stat}: every address of every file, flows/packets/bytes/duration/pps/bps/bpp as nfdump prints them`, async () => {
      let compared = 0;
      for (const file of fx.files) {
        const ours = (await aggregateFiles([file], { key: stat, window: 'whole' })).rows();
        const theirs = splitStatCsv(await nfdumpText(['-r', file, '-s', `${stat}/pps/bps`, '-n', '0', '-o', 'csv']));
        expect(new Set(theirs.map((r) => r.section))).toEqual(new Set([0, 1]));
        compared += expectSameAsNfdump(ours, theirs, (r) => r.val, `${stat} ${file}`);
      }
      expect(compared).toBeGreaterThan(40);
    });
  }

  it('the whole folder as one input (nfdump -R), both keys', async () => {
    for (const stat of ['dstip', 'srcip']) {
      const ours = (await aggregateFiles(fx.files, { key: stat, window: 'whole' })).rows();
      const theirs = splitStatCsv(await nfdumpText(['-R', fx.flowDir, '-s', `${stat}/pps/bps`, '-n', '0', '-o', 'csv']));
      expectSameAsNfdump(ours, theirs, (r) => r.val, `${stat} -R`);
    }
  });

  it('dstip/24 and srcip/16/48: per prefix, the sums of nfdump\'s own per-host aggregates (prefixes from Python ipaddress)', async () => {
    for (const [key, field, v4, v6] of [['dstip/24', 'dstip', 24, 64], ['srcip/16/48', 'srcip', 16, 48]] as const) {
      const ours = new Map((await aggregateFiles(fx.files, { key, window: 'whole' })).rows().map((r) => [r.key, r]));
      const hosts = splitStatCsv(await nfdumpText(['-R', fx.flowDir, '-s', `${field}/pps`, '-n', '0', '-o', 'csv'])).filter((r) => r.section === 0);
      const prefixes = pythonPrefixes(hosts.map((h) => [h.val, v4, v6] as const));
      const sums = new Map<string, { hosts: number; fl: number; pkt: number; byt: number; ts: string; te: string }>();
      hosts.forEach((h, i) => {
        const s = sums.get(prefixes[i]!) ?? { hosts: 0, fl: 0, pkt: 0, byt: 0, ts: h.ts, te: h.te };
        sums.set(prefixes[i]!, { hosts: s.hosts + 1, fl: s.fl + Number(h.fl), pkt: s.pkt + Number(h.pkt), byt: s.byt + Number(h.byt), ts: h.ts < s.ts ? h.ts : s.ts, te: h.te > s.te ? h.te : s.te });
      });
      expect([...ours.keys()].sort(), key).toEqual([...sums.keys()].sort());
      const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      for (const [prefix, s] of sums) {
        const r = ours.get(prefix)!;
        expect([r.flows, r.packets, r.bytes, sec(r.firstSeen), sec(r.lastSeen)], `${key} ${prefix}`).toEqual([s.fl, s.pkt, s.byt, s.ts, s.te]);
      }
      // the comparison means something: prefixes of several hosts, and IPv6 ones
      expect([...sums.values()].filter((s) => s.hosts > 1).length, key).toBeGreaterThan(3);
      expect([...sums.keys()].some((p) => p.includes(':')), key).toBe(true);
      expect(hosts.length, key).toBeGreaterThan(sums.size);
    }
  });

  it('dstip+proto equals -s dstip:p, dstport equals -s dstport, srcport+... by the same rules', async () => {
    const perProto = (await aggregateFiles(fx.files, { key: 'dstip+proto', window: 'whole' })).rows();
    const theirsP = splitStatCsv(await nfdumpText(['-R', fx.flowDir, '-s', 'dstip:p/pps', '-n', '0', '-o', 'csv']));
    expectSameAsNfdump(perProto, theirsP, (r) => `${r.val}|${r.pr}`, 'dstip:p');
    const ports = (await aggregateFiles(fx.files, { key: 'dstport', window: 'whole' })).rows();
    const theirsD = splitStatCsv(await nfdumpText(['-R', fx.flowDir, '-s', 'dstport/bps', '-n', '0', '-o', 'csv']));
    expectSameAsNfdump(ports, theirsD, (r) => r.val, 'dstport');
  });

  it('top-N by pps and bps picks nfdump\'s top N (where no tie crosses the cut)', async () => {
    const file = fx.files[1]!;
    for (const by of ['pps', 'bps'] as const) {
      const all = (await aggregateFiles([file], { key: 'dstip', window: 'whole', orderBy: by })).rows();
      const sortValue = (r: AggregateRow) => nfdumpSortValue(by, r.packets, r.bytes, r.durationMs);
      for (const n of [1, 3, 5, 10]) {
        if (n < all.length && sortValue(all[n - 1]!) === sortValue(all[n]!)) continue; // a tie: nfdump's pick is hash order
        const top = (await aggregateFiles([file], { key: 'dstip', window: 'whole', top: { n, by } })).rows();
        const theirs = splitStatCsv(await nfdumpText(['-r', file, '-s', `dstip/${by}`, '-n', String(n), '-o', 'csv']));
        expect(top.map((r) => r.key).sort(), `top ${n} by ${by}`).toEqual(theirs.map((r) => r.val).sort());
        expectSameAsNfdump(top, theirs, (r) => r.val, `top ${n} by ${by}`);
      }
      // nfdump's printed order is by the same sort values
      const theirsAll = splitStatCsv(await nfdumpText(['-r', file, '-s', `dstip/${by}`, '-n', '0', '-o', 'csv']));
      const byKey = new Map(all.map((r) => [r.key, r]));
      expect(theirsAll.map((r) => sortValue(byKey.get(r.val)!))).toEqual(all.map(sortValue));
    }
  });

  it('minimum packets equals nfdump 1.7.1 -l (minPackets N = -l N-1)', async () => {
    const ours = (await aggregateFiles(fx.files, { key: 'dstip', window: 'whole', minPackets: 200 })).rows();
    const theirs = splitStatCsv(await nfdumpText(['-R', fx.flowDir, '-s', 'dstip/pps', '-n', '0', '-o', 'csv', '-l', '199']));
    expect(ours.length).toBeGreaterThan(0);
    expectSameAsNfdump(ours, theirs, (r) => r.val, 'minPackets');
  });

  it('5-minute windows partition the whole input; the whole equals nfdump over the folder', async () => {
    const windows = (await aggregateFiles(fx.files, { key: 'dstip', window: 300 })).rows();
    const whole = (await aggregateFiles(fx.files, { key: 'dstip', window: 'whole' })).rows();
    expect(new Set(windows.map((r) => r.windowStart)).size).toBeGreaterThanOrEqual(3);
    for (const r of windows) {
      expect(r.windowStart! % 300_000).toBe(0);
      expect(r.firstSeen).toBeGreaterThanOrEqual(r.windowStart!);
      expect(r.firstSeen).toBeLessThan(r.windowStart! + 300_000);
    }
    for (const w of whole) {
      const parts = windows.filter((r) => r.key === w.key);
      expect(parts.reduce((s, r) => s + r.flows, 0), w.key).toBe(w.flows);
      expect(parts.reduce((s, r) => s + r.packets, 0), w.key).toBe(w.packets);
      expect(parts.reduce((s, r) => s + r.bytes, 0), w.key).toBe(w.bytes);
      expect(Math.min(...parts.map((r) => r.firstSeen))).toBe(w.firstSeen);
      expect(Math.max(...parts.map((r) => r.lastSeen))).toBe(w.lastSeen);
    }
    // each window against an independent count of the raw flows whose first seen falls in it
    const { table } = await readNfcapdFlowTable(fx.files[1]!);
    const firsts = table.getChild('first_seen')!.toArray() as ArrayLike<number | bigint>;
    const dsts = table.getChild('dst_addr')!.toArray() as string[];
    const agg = new FlowAggregator({ key: 'dstip', window: 300 });
    agg.addTable(table);
    for (const r of agg.rows()) {
      let n = 0;
      for (let i = 0; i < dsts.length; i++) {
        const t = Number(firsts[i]);
        if (dsts[i] === r.key && t >= r.windowStart! && t < r.windowStart! + 300_000) n++;
      }
      expect(n, `${r.key} @ ${r.windowStart}`).toBe(r.flows);
    }
  });

  it('from an Arrow flow table (addTable) the same as from the batches', async () => {
    const file = fx.files[2]!;
    const { table } = await readNfcapdFlowTable(file);
    const a = new FlowAggregator({ key: 'srcip+dstport', window: 60 });
    a.addTable(table, file);
    const b = await aggregateFiles([file], { key: 'srcip+dstport', window: 60 });
    expect(a.rows()).toEqual(b.rows());
    const t = await aggregateFlows(readNfcapdFlows(file), { key: 'srcip+dstport', window: 60 });
    expect(t.numRows).toBe(b.rows().length);
  });

  it('files aggregated apart and merged equal all files through one aggregator, also where hosts span files', async () => {
    for (const options of [{ key: 'dstip', window: 'whole' as const }, { key: 'srcip+proto', window: 300 }, { key: 'dstip', window: 600, minPackets: 3, top: { n: 5, by: 'pps' as const } }]) {
      const one = await aggregateFiles(fx.files, options);
      const merged = new FlowAggregator(options);
      for (const file of fx.files) {
        const own = merged.emptyLike();
        for await (const batch of readNfcapdFlows(file)) own.add(batch.columns, file);
        merged.merge(own);
      }
      expect(merged.flowCount).toBe(one.flowCount);
      expect(merged.rows()).toEqual(one.rows());
    }
    expect(() => new FlowAggregator({ key: 'dstip' }).merge(new FlowAggregator({ key: 'srcip' }))).toThrow(/different settings/u);
  });
});

describe('aggregation of an nfdump flow CSV equals nfdump -s on the same flows (committed fixtures)', () => {
  it('flows-1.7.5-layout.csv (ms first seen + duration) vs stat-dstip.csv', async () => {
    const flows = await readInput(nfdump17('flows-1.7.5-layout.csv'));
    const agg = new FlowAggregator({ key: 'dstip', window: 'whole' });
    agg.addTable(flows.table, flows.file);
    const { readFile } = await import('node:fs/promises');
    const theirs = splitStatCsv(await readFile(nfdump17('stat-dstip.csv'), 'utf8'));
    expect(theirs.length).toBeGreaterThan(10);
    expectSameAsNfdump(agg.rows(), theirs, (r) => r.val, 'fixture');
  });
});
