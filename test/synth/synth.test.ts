import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { synthCommand } from '../../src/cli/commands/synth.js';
import { makeContext } from '../../src/cli/context.js';
import { FlowknnError } from '../../src/errors.js';
import { discoverArchive } from '../../src/ingest/archive.js';
import { generateArchive, type SynthResult } from '../../src/synth/generate.js';
import { parseGroundTruth, readGroundTruth, type GroundTruthRow } from '../../src/synth/ground-truth.js';
import { buildFrame, ip4, ip6, toPcap, type Packet } from '../../src/synth/packets.js';
import { PacketWindow } from '../../src/synth/pcap-writer.js';
import { Rng } from '../../src/synth/rng.js';
import { buildScenario, SYNTH_CLASSES } from '../../src/synth/scenario.js';
import * as fixture from '../fixtures/gen/pcap.js';
import { Collector } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';
import { failure } from '../helpers/failure.js';

const exec = promisify(execFile);

const hasTools = await exec('nfpcapd', ['-V']).then(
  () => exec('nfdump', ['-V']).then(
    () => true,
    () => false,
  ),
  (e: { code?: unknown }) => e.code !== 'ENOENT',
);
// as in test/fixtures.test.ts: in CI a missing nfdump is a failure, not a skip
const run = hasTools || process.env.CI === 'true';
if (!run) console.warn('nfdump/nfpcapd not on PATH: skipping the synthetic archive tests (apt-get install nfdump)');


interface StatRow {
  flows: number;
  packets: number;
  bytes: number;
  pps: number;
  bpp: number;
}

/** `nfdump -R dir -s dstip/pps/bps -n 0 -o csv`: the first table (ordered by pps), by address. */
async function dstStats(flowsDir: string): Promise<{ text: string; rows: Map<string, StatRow> }> {
  const { stdout } = await exec('nfdump', ['-R', flowsDir, '-s', 'dstip/pps/bps', '-n', '0', '-o', 'csv'], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' }, maxBuffer: 1 << 28 });
  const lines = stdout.split('\n');
  expect(lines[0]).toBe('ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp');
  const rows = new Map<string, StatRow>();
  for (const line of lines.slice(1)) {
    if (line.trim() === '') break;
    const f = line.split(',');
    rows.set(f[4]!, { flows: Number(f[5]), packets: Number(f[7]), bytes: Number(f[9]), pps: Number(f[11]), bpp: Number(f[13]) });
  }
  return { text: stdout, rows };
}

describe('packet writer', () => {
  it('writes exactly the frames buildFrame builds (IPv4/IPv6, TCP/UDP, checksums included)', () => {
    const rng = new Rng(7);
    const addrs = [
      [ip4('10.0.0.10'), ip4('198.51.100.7')],
      [ip4('203.0.113.66'), ip4('192.168.1.66')],
      [ip6('2001:db8:1::443'), ip6('2001:db8:ff00::7')],
    ] as const;
    const w = new PacketWindow(0, 300_000_000);
    const packets: { p: Packet; id: number }[] = [];
    for (let i = 0; i < 400; i++) {
      const [a, b] = rng.pick(addrs);
      const [src, dst] = rng.float() < 0.5 ? [a, b] : [b, a];
      const tcp = rng.float() < 0.5;
      const sport = rng.int(1, 65535);
      const dport = rng.int(1, 65535);
      const ttl = rng.int(1, 255);
      const payload = rng.int(0, 1460);
      const seq = rng.int(0, 0xffffffff);
      const ack = rng.int(0, 0xffffffff);
      const flags = rng.int(0, 0x3f);
      const flow = w.flowId(src, dst, tcp ? 'tcp' : 'udp', sport, dport, ttl);
      w.push(i * 1000, flow, payload, flags, seq, ack);
      packets.push({ p: { tUs: i * 1000, src, dst, ttl, payload, order: i, l4: tcp ? { proto: 'tcp', sport, dport, seq, ack, flags } : { proto: 'udp', sport, dport } }, id: 0 });
    }
    const pcap = w.toPcap();
    let off = 24;
    for (const { p } of packets) {
      const incl = pcap.readUInt32LE(off + 8);
      const orig = pcap.readUInt32LE(off + 12);
      const frameBytes = pcap.subarray(off + 16, off + 16 + incl);
      const id = p.src.v === 4 ? frameBytes.readUInt16BE(18) : 0;
      const { frame, origLen } = buildFrame(p, id);
      expect(orig).toBe(origLen);
      expect(Buffer.from(frameBytes).equals(Buffer.from(frame))).toBe(true);
      off += 16 + incl;
    }
    expect(off).toBe(pcap.length);
  });

  it('src/synth toPcap writes the same bytes as the fixture generator (so it can import it from src)', () => {
    const packets = fixture.generate(20261101);
    expect(toPcap(packets, fixture.EPOCH_SEC).equals(fixture.toPcap(packets))).toBe(true);
  });

  it('orders packets by time, ties in the order they were pushed', () => {
    const w = new PacketWindow(1_000_000, 2_000_000);
    const f = w.flowId(ip4('10.0.0.1'), ip4('10.0.0.2'), 'udp', 1, 2, 64);
    for (const [t, len] of [
      [1_500_000, 1],
      [1_200_000, 2],
      [1_500_000, 3],
      [999_999, 99], // outside the window: dropped
      [1_000_000, 4],
    ] as const)
      w.push(t, f, len);
    const pcap = w.toPcap();
    const out: number[] = [];
    for (let off = 24; off < pcap.length; off += 16 + pcap.readUInt32LE(off + 8)) out.push(pcap.readUInt32LE(off + 12) - 42);
    expect(out).toEqual([4, 2, 1, 3]);
  });
});

describe('scenario', () => {
  const hour = { fromUs: Date.UTC(2026, 10, 1, 10) * 1000, toUs: Date.UTC(2026, 10, 1, 11) * 1000 };

  it('has every class of the seed, inside the span, keyed by a host that only that class uses', () => {
    const sc = buildScenario({ ...hour, seed: 3 });
    expect(new Set(sc.events.map((e) => e.class))).toEqual(new Set(SYNTH_CLASSES.filter((c) => c !== 'nfs')));
    for (const e of sc.events) {
      expect(e.startUs).toBeGreaterThanOrEqual(hour.fromUs);
      expect(e.startUs).toBeLessThan(hour.toUs);
    }
    const classOf = new Map<string, string>();
    for (const e of sc.events) {
      const host = e.host.bytes.join('.');
      expect(classOf.get(host) ?? e.class).toBe(e.class);
      classOf.set(host, e.class);
    }
  });

  it('--nfs adds nfs events and leaves the other events as they were', () => {
    const base = buildScenario({ ...hour, seed: 3 });
    const more = buildScenario({ ...hour, seed: 3, nfs: true });
    const key = (e: (typeof base.events)[number]) => `${e.class} ${e.host.bytes.join('.')} ${e.startUs} ${e.endUs} ${e.peer}`;
    expect(more.events.filter((e) => e.class === 'nfs').length).toBeGreaterThan(0);
    expect(more.events.filter((e) => e.class !== 'nfs').map(key)).toEqual(base.events.map(key));
  });
});

describe.skipIf(!run)('synthetic archive through nfpcapd (30 minutes)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let a: SynthResult;
  let b: SynthResult;
  let truth: GroundTruthRow[];
  let stats: Awaited<ReturnType<typeof dstStats>>;
  const opts = { date: '2026-11-01', start: '10:00', hours: 0.5, seed: 42, background: 500 };
  /** 5 minutes, short heavy events */
  const small = { ...opts, hours: 1 / 12, scale: 0.05 };

  beforeAll(async () => {
    tmp = await makeTempDir('flowknn-synth-');
    a = await generateArchive({ ...opts, out: join(tmp.dir, 'a') });
    b = await generateArchive({ ...opts, out: join(tmp.dir, 'b'), layout: 'flat', jobs: 1 });
    truth = await readGroundTruth(join(tmp.dir, 'a', 'ground-truth.csv'));
    stats = await dstStats(a.flowsDir);
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('writes one nfcapd file per 5 minutes in day folders, ground truth and synth.json, and nothing else', async () => {
    const names = ['1000', '1005', '1010', '1015', '1020', '1025'].map((t) => `flows/2026/11/01/nfcapd.20261101${t}`);
    expect(a.files.map((f) => f.path)).toEqual(names);
    for (const f of a.files) {
      expect(f.size).toBeGreaterThan(0);
      expect((await stat(join(a.out, f.path))).size).toBe(f.size);
    }
    expect((await readdir(a.out)).sort()).toEqual(['flows', 'ground-truth.csv', 'synth.json']);
    expect((await readdir(tmp.dir)).sort()).toEqual(['a', 'b']); // no temporary folders left
    const manifest = JSON.parse(await readFile(join(a.out, 'synth.json'), 'utf8')) as { files: string[]; options: { seed: number }; nfpcapd: string };
    expect(manifest.files).toEqual(names);
    expect(manifest.options.seed).toBe(42);
    expect(manifest.nfpcapd).toMatch(/Version/u);
    // the flat layout of the second run
    expect(b.files.map((f) => f.path)).toEqual(names.map((n) => n.replace('2026/11/01/', '')));
  });

  it('is an archive that discovery reads: the day, sorted, nothing skipped', async () => {
    const l = await discoverArchive(a.flowsDir, { date: '2026-11-01' });
    expect(l.files.map((f) => `flows/${f.relPath}`)).toEqual(a.files.map((f) => f.path));
    expect(l.files.map((f) => f.slotStartMs)).toEqual(a.files.map((f) => f.slotStartMs));
    expect(l.skipped).toEqual([]);
  });

  it('ground truth: every seed class, consistent rows, inside the span', () => {
    expect(truth).toEqual(a.events);
    expect(new Set(truth.map((r) => r.class))).toEqual(new Set(['http', 'smtp', 'tivoli', 'small-flood', 'incoming-floods']));
    truth.forEach((r, i) => {
      expect(r.event_id).toBe(`e${String(i + 1).padStart(4, '0')}`);
      expect(r.startMs).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 1, 10));
      expect(r.endMs).toBeLessThan(Date.UTC(2026, 10, 1, 10, 30));
      expect(r.startMs).toBeLessThanOrEqual(r.endMs);
      expect(r.packets).toBeGreaterThanOrEqual(r.flows);
      expect(r.bytes).toBeGreaterThanOrEqual(r.packets * 40);
    });
    const startsInOrder = truth.map((r) => r.startMs);
    expect(startsInOrder).toEqual([...startsInOrder].sort((x, y) => x - y));
  });

  it('nfdump sees every injected host with exactly the flows, packets and bytes of its events', () => {
    const perHost = new Map<string, { flows: number; packets: number; bytes: number }>();
    for (const r of truth) {
      const s = perHost.get(r.host) ?? { flows: 0, packets: 0, bytes: 0 };
      s.flows += r.flows;
      s.packets += r.packets;
      s.bytes += r.bytes;
      perHost.set(r.host, s);
    }
    for (const [host, t] of perHost) {
      const n = stats.rows.get(host);
      expect(n, host).toBeDefined();
      expect({ host, flows: n!.flows, packets: n!.packets, bytes: n!.bytes }).toEqual({ host, ...t });
    }
  });

  it('the traffic has the shapes of the seed classes', () => {
    const of = (cls: string) => truth.filter((r) => r.class === cls).map((r) => ({ r, n: stats.rows.get(r.host)! }));
    // the outgoing flood's target has the highest pps of all destinations
    const top = [...stats.rows.entries()].sort((x, y) => y[1].pps - x[1].pps)[0]!;
    expect(of('small-flood').map((x) => x.r.host)).toContain(top[0]);
    for (const { n } of of('small-flood')) {
      expect(n.pps).toBeGreaterThan(30_000);
      expect(n.bpp).toBeGreaterThan(1340);
      expect(n.bpp).toBeLessThan(1380);
      expect(n.packets / n.flows).toBeGreaterThan(25); // tens of datagrams per port pair, as in the seed
    }
    for (const { n } of of('http')) {
      expect(n.bpp).toBeGreaterThanOrEqual(1400);
      expect(n.flows).toBeLessThanOrEqual(3);
      expect(n.packets).toBeGreaterThan(1000);
    }
    for (const { n } of of('smtp')) expect(n.bpp).toBeGreaterThanOrEqual(1400);
    for (const { n } of of('tivoli')) {
      expect(n.flows).toBeGreaterThanOrEqual(50);
      expect(n.bpp).toBeGreaterThanOrEqual(1400);
    }
    for (const { n } of of('incoming-floods')) {
      expect(n.bpp).toBeGreaterThan(300);
      expect(n.bpp).toBeLessThan(470);
      expect(n.flows).toBeGreaterThan(100);
      expect(n.pps).toBeGreaterThan(3000);
    }
  });

  it('same seed: the same ground truth and the same nfdump statistics (other layout, one nfpcapd at a time)', async () => {
    expect(await readFile(join(b.out, 'ground-truth.csv'), 'utf8')).toBe(await readFile(join(a.out, 'ground-truth.csv'), 'utf8'));
    expect((await dstStats(b.flowsDir)).text).toBe(stats.text);
  });

  it('another seed: other events', async () => {
    const c = await generateArchive({ ...small, seed: 43, out: join(tmp.dir, 'c') });
    const d = await generateArchive({ ...small, out: join(tmp.dir, 'd') });
    expect(c.events.map((e) => e.host)).not.toEqual(d.events.map((e) => e.host));
  });

  it('replaces its own earlier output, refuses a foreign non-empty folder (usage, exit 2) unless forced', async () => {
    const out = join(tmp.dir, 'mine');
    await mkdir(out);
    await writeFile(join(out, 'precious.txt'), 'keep me');
    const err = await failure(generateArchive({ ...small, out }));
    expect(err.kind).toBe('usage');
    expect(err.message).toMatch(/non-empty folder that flowknn synth did not write/u);
    expect(await readFile(join(out, 'precious.txt'), 'utf8')).toBe('keep me');
    await generateArchive({ ...small, out, force: true });
    await generateArchive({ ...small, out }); // a synth folder: replaced without --force
    expect((await readdir(out)).sort()).toEqual(['flows', 'ground-truth.csv', 'synth.json']);
  });
});

describe('synth errors', () => {
  it('nfpcapd missing: an environment error (exit 3) with the install hint, nothing written', async () => {
    const tmp = await makeTempDir('flowknn-synth-');
    try {
      const err = await failure(generateArchive({ out: join(tmp.dir, 'out'), hours: 1 / 12, nfpcapd: join(tmp.dir, 'no-such-nfpcapd') }));
      expect(err.kind).toBe('environment');
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(/nfpcapd not found/u);
      expect(err.hint).toMatch(/apt-get install nfdump/u);
      expect(await readdir(tmp.dir)).toEqual([]);
    } finally {
      await tmp.cleanup();
    }
  });

  it('nfpcapd failing: an environment error with its message; no output folder, no temp files left', async () => {
    const tmp = await makeTempDir('flowknn-synth-');
    try {
      const fake = join(tmp.dir, 'fake-nfpcapd');
      await writeFile(fake, '#!/bin/sh\nif [ "$1" = "-V" ]; then echo "nfpcapd: Version: 1.7.1"; exit 0; fi\necho "Short read from pcap: disk on fire" >&2\nexit 1\n', { mode: 0o755 });
      const work = join(tmp.dir, 'work');
      await mkdir(work);
      const pcapTmp = join(tmp.dir, 'pcaps');
      await mkdir(pcapTmp);
      const before = process.env.TMPDIR;
      process.env.TMPDIR = pcapTmp; // where the slot pcaps go
      let err: FlowknnError;
      try {
        err = await failure(generateArchive({ out: join(work, 'out'), hours: 0.25, scale: 0.05, background: 10, nfpcapd: fake }));
      } finally {
        if (before === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = before;
      }
      expect(err.kind).toBe('environment');
      expect(err.message).toMatch(/^nfpcapd exited with status 1 \(.*fake-nfpcapd -r .*slot-\d\.pcap -w .*\): Short read from pcap: disk on fire$/u);
      expect(await readdir(work)).toEqual([]);
      expect(await readdir(pcapTmp)).toEqual([]);
    } finally {
      await tmp.cleanup();
    }
  });

  it('bad options are usage errors naming the flag', async () => {
    for (const [o, flag] of [
      [{ hours: 0.3 }, '--hours'],
      [{ hours: 25 }, '--hours'],
      [{ date: '2026-02-30' }, '--date'],
      [{ start: '10:03' }, '--start'],
      [{ seed: -1 }, '--seed'],
      [{ seed: 1.5 }, '--seed'],
      [{ background: -5 }, '--background'],
      [{ scale: 0 }, '--scale'],
      [{ jobs: 0 }, '--jobs'],
    ] as const) {
      const err = await failure(generateArchive({ out: '/nonexistent/never-written', ...o }));
      expect(err.kind, JSON.stringify(o)).toBe('usage');
      expect(err.message.startsWith(flag), err.message).toBe(true);
    }
  });

  it('reads back a ground-truth file and rejects a broken one with file and line', () => {
    const text = 'event_id,class,key,host,peer,service,start,end,flows,packets,bytes\ne0001,http,dstip,198.51.100.1,10.0.0.10,tcp/80,2026-11-01T10:00:00.000Z,2026-11-01T10:00:01.500Z,1,1200,1790000\n';
    expect(parseGroundTruth(text)).toEqual([
      {
        event_id: 'e0001',
        class: 'http',
        key: 'dstip',
        host: '198.51.100.1',
        peer: '10.0.0.10',
        service: 'tcp/80',
        start: '2026-11-01T10:00:00.000Z',
        end: '2026-11-01T10:00:01.500Z',
        startMs: Date.UTC(2026, 10, 1, 10),
        endMs: Date.UTC(2026, 10, 1, 10, 0, 1, 500),
        flows: 1,
        packets: 1200,
        bytes: 1790000,
      },
    ]);
    let err: unknown;
    try {
      parseGroundTruth(text.replace(',http,', ',ftp,'), 'gt.csv');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlowknnError);
    expect((err as FlowknnError).format()).toMatch(/^gt\.csv:2: unknown class "ftp"/u);
  });
});

describe.skipIf(!run)('flowknn synth (command)', () => {
  it('generates an archive from flags and reports what it wrote', async () => {
    const tmp = await makeTempDir('flowknn-synth-cli-');
    try {
      const stderr = new Collector();
      const ctx = makeContext(new Collector(), stderr);
      const out = join(tmp.dir, 'demo');
      await yargs(['synth', '--out', out, '--date', '2026-11-02', '--start', '23:50', '--hours', '0.25', '--seed', '5', '--background', '100', '--scale', '0.05', '--layout', 'Y-m-d', '--nfs'])
        .command(synthCommand(ctx))
        .strict()
        .exitProcess(false)
        .fail((msg, e) => {
          throw e ?? new Error(msg);
        })
        .parseAsync();
      // across midnight: two day folders
      expect((await readdir(join(out, 'flows'))).sort()).toEqual(['2026-11-02', '2026-11-03']);
      expect((await readdir(join(out, 'flows', '2026-11-02'))).sort()).toEqual(['nfcapd.202611022350', 'nfcapd.202611022355']);
      expect(await readdir(join(out, 'flows', '2026-11-03'))).toEqual(['nfcapd.202611030000']);
      const gt = await readGroundTruth(join(out, 'ground-truth.csv'));
      expect(gt.some((r) => r.class === 'nfs')).toBe(true);
      expect(stderr.text).toMatch(/generated 3 nfcapd files .* for 2026-11-02T23:50Z \.\. 2026-11-03T00:05Z/u);
      expect(stderr.text).toMatch(/events: http \d+, smtp \d+, tivoli \d+, small-flood \d+, incoming-floods \d+, nfs \d+/u);
    } finally {
      await tmp.cleanup();
    }
  });
});
