import { formatAddr, ip4, ip4n, ip6, type Addr } from './packets.js';
import type { PacketWindow } from './pcap-writer.js';
import { hash32, Rng } from './rng.js';
import { IncomingFlood, PolledConnection, TcpTransfer, UdpFlood, udpExchange, type Stream, type TcpTransferSpec } from './streams.js';

/**
 * The injected events of a synthetic archive, with traffic shaped like the seed's classes
 * (data/seed-2015, nfdump `-s dstip` aggregates: the key of every event is the address that
 * RECEIVES its traffic, as in the seed's labels):
 *
 * | class | host (dstip) | traffic |
 * | --- | --- | --- |
 * | http | an outside client (198.51.100.0/24) | 1-3 downloads from a web server 10.0.0.10-12 (TCP/80, 443): 1 100-30 000 full segments in 0.05-3 s, bpp ~1490 |
 * | smtp | the mail server 10.0.0.25 | one inbound message (TCP/25) from an outside MTA: 1 050-8 000 segments in 0.1-2 s |
 * | tivoli | the monitoring poller 10.0.0.5 | 50-400 agents (10.1.0.0/16, TCP/1918) polled every 30 s over 10-30 min, each answering with a burst of >= 100 full segments (300-2000 pps in all): many flows, long, bpp ~1490 |
 * | small-flood | an outside target (203.0.113.1-126) | one inside host (192.168.200.0/24) sending ~1350-byte UDP datagrams at 40-120 kpps for 5-30 s, ~30-45 datagrams per port pair |
 * | incoming-floods | an inside host (10.0.1.0/24) | spoofed sources (100.64.0.0/10): TCP SYNs to 80/443 mixed with UDP reflection answers, 5-30 kpps for 30-180 s, bpp 320-450 |
 * | nfs (optional) | an NFS client (10.0.2.0/24) | 2-6 TCP/2049 read streams from 10.0.2.2 at 15-50 kpps in total for 20-60 s |
 *
 * tivoli is a monitoring poller: small requests to many agents. The seed's tivoli rows (dstip
 * aggregates with 51-498 flows, 10^7 packets, bpp 1419-1491) are what such a poller RECEIVES,
 * so the agents' answers are bulk bursts; the polls themselves go to the agents' addresses and
 * are not events.
 *
 * The volume knob `scale` multiplies the durations of the heavy classes (tivoli, floods, nfs);
 * rates (pps, bpp) and the per-flow shapes stay as above. The seed's own volumes are larger
 * (its incoming floods and tivoli rows hold 10^7 packets): the generator keeps rates realistic
 * and durations short so that a day stays quick to generate.
 *
 * Event hosts receive nothing but their event's traffic, so a host's dstip aggregate over an
 * event's time span is exactly that event. Background traffic (DNS, NTP, small HTTPS requests
 * between 192.168.0.0/17 clients, the resolver 10.0.0.53 / 2001:db8:1::53, 192.0.2.0/24 and
 * 198.18.0.0/15) fills every 5-minute slot with many small flows.
 */

export const SYNTH_CLASSES = ['http', 'smtp', 'tivoli', 'small-flood', 'incoming-floods', 'nfs'] as const;
export type SynthClass = (typeof SYNTH_CLASSES)[number];

/** Events per hour of generated time (at least one of each class per run). */
export const EVENTS_PER_HOUR: Readonly<Record<SynthClass, number>> = {
  http: 6,
  smtp: 4,
  tivoli: 0.5,
  'small-flood': 1,
  'incoming-floods': 0.5,
  nfs: 0.5,
};

export interface ScenarioOptions {
  /** generated time span, µs since the Unix epoch */
  fromUs: number;
  toUs: number;
  seed: number;
  /** multiplies the duration of tivoli, flood and nfs events (default 1) */
  scale?: number;
  /** include nfs events (a class the seed's published model does not know) */
  nfs?: boolean;
}

export interface SynthEvent {
  /** e0001, e0002, ... in order of start */
  id: string;
  /** index into the scenario's events; the tag of its packets */
  tag: number;
  class: SynthClass;
  /** the aggregation key: events are keyed by destination address */
  key: 'dstip';
  host: Addr;
  /** the other side: a server, the flooding host, or "N sources in ..." */
  peer: string;
  /** e.g. tcp/443, udp/53+123, tcp/80+443 udp */
  service: string;
  streams: Stream[];
  startUs: number;
  endUs: number;
}

export interface Scenario {
  readonly events: readonly SynthEvent[];
  /** every event's streams, by start time */
  readonly streams: readonly Stream[];
}

const SEC = 1_000_000;
const MIN = 60 * SEC;
const MSS = 1460;

interface Planned {
  class: SynthClass;
  startUs: number;
  host: Addr;
  peer: string;
  service: string;
  make: (tag: number) => Stream[];
}

interface Ctx {
  fromUs: number;
  toUs: number;
  scale: number;
}

/** A start time such that an event of `durUs` fits in the span (with margins), and the clamped duration. */
function place(rng: Rng, ctx: Ctx, durUs: number): { start: number; dur: number } {
  const margin = 2 * SEC;
  const room = ctx.toUs - ctx.fromUs - 2 * margin;
  const dur = Math.min(durUs, Math.max(SEC, room - SEC));
  const start = ctx.fromUs + margin + Math.floor(rng.float() * Math.max(0, room - dur));
  return { start, dur };
}

function ephemeral(rng: Rng): number {
  return rng.int(32768, 60999);
}

const WEB_SERVERS: readonly { addr: string; port: number }[] = [
  { addr: '10.0.0.10', port: 80 },
  { addr: '10.0.0.11', port: 443 },
  { addr: '10.0.0.12', port: 443 },
];

/** What is drawn for one planned TCP connection. */
interface DrawnConnection {
  readonly sport: number;
  readonly rttUs: number;
  readonly opener: number;
  readonly dataBytes: number;
  readonly seed: number;
}

/** A planned TCP transfer: the drawn connection between its ends (full-size segments, server TTL 64). */
function plannedTransfer(d: DrawnConnection, ends: Pick<TcpTransferSpec, 'client' | 'server' | 'dport' | 'startUs' | 'sender' | 'gapUs' | 'clientTtl' | 'tagToClient' | 'tagToServer'>): TcpTransfer {
  return new TcpTransfer({ ...ends, sport: d.sport, rttUs: d.rttUs, openerBytes: d.opener, dataBytes: d.dataBytes, mss: MSS, serverTtl: 64, seed: d.seed });
}

function planHttp(rng: Rng, ctx: Ctx, client: Addr): Planned {
  const server = rng.pick(WEB_SERVERS);
  const conns = rng.float() < 0.75 ? 1 : rng.int(2, 3);
  const specs = Array.from({ length: conns }, (_, j) => {
    const segs = Math.round(rng.logUniform(1100, 30000));
    const durUs = rng.logUniform(0.05, 3) * SEC;
    return {
      offset: j === 0 ? 0 : rng.int(200_000, 5_000_000) * j,
      dataBytes: (segs - 1) * MSS + rng.int(1, MSS),
      gapUs: Math.max(durUs / segs, SEC / 60000),
      rttUs: rng.int(8_000, 90_000),
      opener: rng.int(300, 900),
      clientTtl: rng.int(48, 60),
      sport: ephemeral(rng),
      seed: rng.seed(),
    };
  });
  const { start } = place(rng, ctx, 20 * SEC);
  const srv = ip4(server.addr);
  return {
    class: 'http',
    startUs: start,
    host: client,
    peer: server.addr,
    service: `tcp/${server.port}`,
    make: (tag) =>
      specs.map(
        (s) =>
          plannedTransfer(s, { client, server: srv, dport: server.port, startUs: start + s.offset, sender: 'server', gapUs: s.gapUs, clientTtl: s.clientTtl, tagToClient: tag }),
      ),
  };
}

function planSmtp(rng: Rng, ctx: Ctx): Planned {
  const mail = ip4('10.0.0.25');
  const mta = ip4n((203 << 24) | (0 << 16) | (113 << 8) | rng.int(129, 254));
  const segs = Math.round(rng.logUniform(1050, 8000));
  const durUs = rng.logUniform(0.1, 2) * SEC;
  const spec = {
    dataBytes: (segs - 1) * MSS + rng.int(1, MSS),
    gapUs: Math.max(durUs / segs, SEC / 15000),
    rttUs: rng.int(10_000, 120_000),
    opener: rng.int(60, 120),
    clientTtl: rng.int(45, 58),
    sport: ephemeral(rng),
    seed: rng.seed(),
  };
  const { start } = place(rng, ctx, 10 * SEC);
  return {
    class: 'smtp',
    startUs: start,
    host: mail,
    peer: formatAddr(mta),
    service: 'tcp/25',
    make: (tag) => [
      // the opener is the server's banner; the client sends the mail
      plannedTransfer(spec, { client: mta, server: mail, dport: 25, startUs: start, sender: 'client', gapUs: spec.gapUs, clientTtl: spec.clientTtl, tagToServer: tag }),
    ],
  };
}

function planTivoli(rng: Rng, ctx: Ctx): Planned {
  const poller = ip4('10.0.0.5');
  const intervalUs = 30 * SEC;
  const pps = rng.logUniform(300, 2000);
  // at most pps * 0.3 agents: every answer is >= 100 segments, so each agent's flow in a
  // 5-minute file holds >= 1000 packets (it survives the seed's 1000-packet limit)
  const agents = Math.max(1, Math.round(Math.min(rng.logUniform(50, 400), pps * 0.3)));
  const segs = Math.max(2, Math.round((pps * 30) / agents));
  const respBytes = (segs - 1) * MSS + rng.int(200, MSS);
  const gapUs = rng.int(100, 300);
  const { start, dur } = place(rng, ctx, Math.max(2 * MIN, rng.logUniform(10, 30) * MIN * ctx.scale));
  const specs = Array.from({ length: agents }, (_, a) => ({
    offset: Math.floor((a / agents) * intervalUs) + rng.int(0, 500_000),
    sport: ephemeral(rng),
    rttUs: rng.int(200, 900),
    reqBytes: rng.int(90, 140),
    seed: rng.seed(),
  }));
  return {
    class: 'tivoli',
    startUs: start,
    host: poller,
    peer: `${agents} agents in 10.1.0.0/16`,
    service: 'tcp/1918',
    make: (tag) =>
      specs.map(
        (s, a) =>
          new PolledConnection({
            poller,
            agent: ip4n((10 << 24) | (1 << 16) | (a + 1)),
            sport: s.sport,
            dport: 1918,
            startUs: start + s.offset,
            stopUs: start + dur,
            intervalUs,
            rttUs: s.rttUs,
            reqBytes: s.reqBytes,
            respBytes,
            mss: MSS,
            gapUs,
            seed: s.seed,
            tagToPoller: tag,
          }),
      ),
  };
}

// no port 53: nfpcapd turns every DNS packet into a flow of its own, which would blur the flood shape
const FLOOD_PORTS = [123, 80, 443, 1900, 19, 27015] as const;

function planSmallFlood(rng: Rng, ctx: Ctx, victim: Addr): Planned {
  const flooder = ip4n((192 << 24) | (168 << 16) | (200 << 8) | rng.int(1, 254));
  const pps = rng.logUniform(40_000, 120_000);
  const nPorts = rng.int(1, 3);
  const dports = Array.from({ length: nPorts }, () => rng.pick(FLOOD_PORTS)).filter((p, i, xs) => xs.indexOf(p) === i);
  const perFlow = Math.round(rng.logUniform(30, 45));
  const payload = rng.int(1322, 1345);
  const seed = rng.seed();
  const { start, dur } = place(rng, ctx, Math.max(2 * SEC, rng.logUniform(5, 30) * SEC * ctx.scale));
  const packets = Math.max(1, Math.round((pps * dur) / SEC));
  return {
    class: 'small-flood',
    startUs: start,
    host: victim,
    peer: formatAddr(flooder),
    service: `udp/${[...dports].sort((a, b) => a - b).join('+')}`,
    make: (tag) => [new UdpFlood({ src: flooder, dst: victim, startUs: start, packets, gapUs: SEC / pps, perFlow, dports, payload, ttl: 64, seed, tag })],
  };
}

function planIncomingFlood(rng: Rng, ctx: Ctx, victim: Addr): Planned {
  const pps = rng.logUniform(5_000, 30_000);
  const perSource = rng.logUniform(15, 150);
  const bpp = rng.uniform(320, 450);
  const ampMean = 20 + 8 + (400 + 1449) / 2;
  const ampShare = (bpp - 40) / (ampMean - 40);
  const seed = rng.seed();
  const { start, dur } = place(rng, ctx, Math.max(5 * SEC, rng.logUniform(30, 180) * SEC * ctx.scale));
  const packets = Math.max(1, Math.round((pps * dur) / SEC));
  const spec = { victim, startUs: start, packets, gapUs: SEC / pps, perSource, ampShare, seed };
  const sources = new IncomingFlood(spec).sources;
  return {
    class: 'incoming-floods',
    startUs: start,
    host: victim,
    peer: `${sources} sources in 100.64.0.0/10`,
    service: 'tcp/80+443 udp',
    make: (tag) => [new IncomingFlood({ ...spec, tag })],
  };
}

function planNfs(rng: Rng, ctx: Ctx, client: Addr): Planned {
  const server = ip4('10.0.2.2');
  const conns = rng.int(2, 6);
  const pps = rng.logUniform(15_000, 50_000);
  const { start, dur } = place(rng, ctx, Math.max(3 * SEC, rng.logUniform(20, 60) * SEC * ctx.scale));
  const segs = Math.max(2, Math.round((pps * (dur / SEC)) / conns));
  const specs = Array.from({ length: conns }, (_, j) => ({
    offset: j === 0 ? 0 : rng.int(0, 2 * SEC),
    dataBytes: segs * MSS - rng.int(0, 1000),
    rttUs: rng.int(200, 600),
    opener: rng.int(120, 200),
    sport: rng.int(600, 1023),
    seed: rng.seed(),
  }));
  return {
    class: 'nfs',
    startUs: start,
    host: client,
    peer: formatAddr(server),
    service: 'tcp/2049',
    make: (tag) =>
      specs.map(
        (s) =>
          plannedTransfer(s, { client, server, dport: 2049, startUs: start + s.offset, sender: 'server', gapUs: (conns * SEC) / pps, clientTtl: 64, tagToClient: tag }),
      ),
  };
}

/** Distinct addresses prefix.first .. prefix.last in a seeded order, cycling when used up. */
function addressPool(seed: number, base: number, first: number, last: number): () => Addr {
  const rng = new Rng(seed);
  const xs = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  let k = 0;
  return () => ip4n(base + xs[k++ % xs.length]!);
}

export function eventCount(cls: SynthClass, hours: number): number {
  return Math.max(1, Math.round(EVENTS_PER_HOUR[cls] * hours));
}

/** The events of a run: the same options give the same events. */
export function buildScenario(opts: ScenarioOptions): Scenario {
  const ctx: Ctx = { fromUs: opts.fromUs, toUs: opts.toUs, scale: opts.scale ?? 1 };
  if (!(ctx.toUs > ctx.fromUs)) throw new Error('empty time span');
  const hours = (ctx.toUs - ctx.fromUs) / (3600 * SEC);
  const seed = opts.seed >>> 0;
  const httpClients = addressPool(hash32(seed, 101), (198 << 24) | (51 << 16) | (100 << 8), 1, 254);
  const floodTargets = addressPool(hash32(seed, 102), (203 << 24) | (0 << 16) | (113 << 8), 1, 126);
  const floodVictims = addressPool(hash32(seed, 103), (10 << 24) | (0 << 16) | (1 << 8), 1, 254);
  const nfsClients = addressPool(hash32(seed, 104), (10 << 24) | (0 << 16) | (2 << 8), 10, 254);

  const planned: Planned[] = [];
  SYNTH_CLASSES.forEach((cls, ci) => {
    if (cls === 'nfs' && !opts.nfs) return;
    const n = eventCount(cls, hours);
    for (let i = 0; i < n; i++) {
      // one generator per event: adding a class or events of one class leaves the others as they were
      const rng = new Rng(hash32(seed, 1 + ci, i));
      switch (cls) {
        case 'http':
          planned.push(planHttp(rng, ctx, httpClients()));
          break;
        case 'smtp':
          planned.push(planSmtp(rng, ctx));
          break;
        case 'tivoli':
          planned.push(planTivoli(rng, ctx));
          break;
        case 'small-flood':
          planned.push(planSmallFlood(rng, ctx, floodTargets()));
          break;
        case 'incoming-floods':
          planned.push(planIncomingFlood(rng, ctx, floodVictims()));
          break;
        case 'nfs':
          planned.push(planNfs(rng, ctx, nfsClients()));
          break;
      }
    }
  });
  planned.sort((a, b) => a.startUs - b.startUs || SYNTH_CLASSES.indexOf(a.class) - SYNTH_CLASSES.indexOf(b.class) || formatAddr(a.host).localeCompare(formatAddr(b.host)));
  const events: SynthEvent[] = planned.map((p, tag) => {
    const streams = p.make(tag);
    return {
      id: `e${String(tag + 1).padStart(4, '0')}`,
      tag,
      class: p.class,
      key: 'dstip',
      host: p.host,
      peer: p.peer,
      service: p.service,
      streams,
      startUs: Math.min(...streams.map((s) => s.startUs)),
      endUs: Math.max(...streams.map((s) => s.endUs)),
    };
  });
  const streams = events.flatMap((e) => e.streams).sort((a, b) => a.startUs - b.startUs);
  return { events, streams };
}

// ---------------------------------------------------------------------------
// background

const RESOLVER = ip4('10.0.0.53');
const RESOLVER6 = ip6('2001:db8:1::53');

function insideClient(rng: Rng): Addr {
  return ip4n((192 << 24) | (168 << 16) | (rng.int(0, 127) << 8) | rng.int(1, 254));
}

/**
 * Background traffic of one window: about `flows` flows of small exchanges (each exchange is
 * two flows): DNS over IPv4 (60%) and IPv6 (5%), NTP (10%), short HTTPS requests (25%). At
 * least one exchange per window, so that nfpcapd writes a file for every slot.
 */
export function emitBackground(w: PacketWindow, seed: number, slot: number, flows: number): void {
  const rng = new Rng(hash32(seed, 0xb6, slot));
  const exchanges = Math.max(1, Math.round(flows / 2));
  const span = w.toUs - w.fromUs;
  for (let i = 0; i < exchanges; i++) {
    const t = w.fromUs + Math.floor(rng.float() * span);
    const kind = rng.float();
    if (kind < 0.6) {
      udpExchange(w, { client: insideClient(rng), server: RESOLVER, sport: ephemeral(rng), dport: 53, startUs: t, replyUs: rng.int(300, 3_000), query: rng.int(28, 60), answer: rng.int(60, 300) });
    } else if (kind < 0.65) {
      const client = ip6(`2001:db8:1::${rng.int(0x100, 0xffff).toString(16)}`);
      udpExchange(w, { client, server: RESOLVER6, sport: ephemeral(rng), dport: 53, startUs: t, replyUs: rng.int(300, 3_000), query: rng.int(30, 60), answer: rng.int(80, 400) });
    } else if (kind < 0.75) {
      const server = ip4n((192 << 24) | (0 << 16) | (2 << 8) | rng.int(1, 254));
      udpExchange(w, { client: insideClient(rng), server, sport: 123, dport: 123, startUs: t, replyUs: rng.int(5_000, 50_000), query: 48, answer: 48 });
    } else {
      const server = ip4n((198 << 24) | ((18 + rng.int(0, 1)) << 16) | (rng.int(0, 255) << 8) | rng.int(1, 254));
      const segs = rng.int(1, 12);
      new TcpTransfer({
        client: insideClient(rng),
        server,
        sport: ephemeral(rng),
        dport: 443,
        startUs: t,
        rttUs: rng.int(5_000, 80_000),
        sender: 'server',
        openerBytes: rng.int(300, 900),
        dataBytes: (segs - 1) * MSS + rng.int(1, MSS),
        mss: MSS,
        gapUs: rng.int(100, 500),
        clientTtl: 64,
        serverTtl: rng.int(48, 60),
        seed: rng.seed(),
      }).emit(w);
    }
  }
}
