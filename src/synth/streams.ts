import { ip4n, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type Addr } from './packets.js';
import type { PacketWindow } from './pcap-writer.js';
import { hash32, unit } from './rng.js';

/**
 * Traffic streams with closed-form packet schedules: the time and content of a stream's k-th
 * packet are functions of k (and the stream's seed), never of earlier packets. A stream can
 * therefore emit just the packets of one time window, and the slots of an archive can be
 * generated one by one, each with the same packets the whole run would give.
 */
export interface Stream {
  /** time of the first packet, µs since the Unix epoch */
  readonly startUs: number;
  /** after the last packet (exclusive) */
  readonly endUs: number;
  /** Pushes the stream's packets that fall in the window (the window drops others). */
  emit(w: PacketWindow): void;
}

function halfRtt(rttUs: number): number {
  return Math.max(1, Math.round(rttUs / 2));
}

// ---------------------------------------------------------------------------

export interface TcpTransferSpec {
  client: Addr;
  server: Addr;
  sport: number;
  dport: number;
  startUs: number;
  rttUs: number;
  /** the side that sends the bulk data (server: a download; client: an upload, e.g. SMTP DATA) */
  sender: 'server' | 'client';
  /** first payload, sent by the receiving side before the data (HTTP request, SMTP banner); <= mss */
  openerBytes: number;
  dataBytes: number;
  mss: number;
  /** mean time between data segments (µs, may be fractional) */
  gapUs: number;
  clientTtl: number;
  serverTtl: number;
  seed: number;
  /** tag of the packets toward the client / the server (event index, -1: none) */
  tagToClient?: number;
  tagToServer?: number;
}

/**
 * One TCP connection: handshake, an opener from the receiving side, `dataBytes` in MSS-sized
 * segments from the sender (the receiver ACKs every second segment), then FIN/FIN/ACK.
 */
export class TcpTransfer implements Stream {
  readonly startUs: number;
  readonly endUs: number;
  private readonly h: number;
  private readonly isnC: number;
  private readonly isnS: number;
  private readonly tOpen: number;
  private readonly tData: number;
  private readonly segments: number;
  private readonly tFin: number;

  constructor(readonly s: TcpTransferSpec) {
    this.h = halfRtt(s.rttUs);
    this.isnC = hash32(s.seed, 1) & 0x7fffffff;
    this.isnS = hash32(s.seed, 2) & 0x7fffffff;
    this.startUs = s.startUs;
    this.tOpen = s.startUs + 2 * this.h + 100;
    this.tData = this.tOpen + this.h + 200;
    this.segments = Math.max(1, Math.ceil(s.dataBytes / s.mss));
    this.tFin = this.segTime(this.segments - 1) + this.h + 1_000 + (hash32(s.seed, 3) % 20_000);
    this.endUs = this.tFin + 2 * this.h + 1;
  }

  private segTime(k: number): number {
    return this.tData + Math.floor(k * this.s.gapUs + unit(this.s.seed, k) * this.s.gapUs * 0.5);
  }

  emit(w: PacketWindow): void {
    const s = this.s;
    if (w.toUs <= this.startUs || w.fromUs >= this.endUs) return;
    const c2s = w.flowId(s.client, s.server, 'tcp', s.sport, s.dport, s.clientTtl, s.tagToServer ?? -1);
    const s2c = w.flowId(s.server, s.client, 'tcp', s.dport, s.sport, s.serverTtl, s.tagToClient ?? -1);
    const h = this.h;
    const fromClient = s.sender === 'client';
    const snd = fromClient ? c2s : s2c;
    const rcv = fromClient ? s2c : c2s;
    const sndIsn = (fromClient ? this.isnC : this.isnS) + 1;
    const rcvIsn = (fromClient ? this.isnS : this.isnC) + 1;
    const opener = Math.min(s.openerBytes, s.mss);
    const t0 = this.startUs;
    pushHandshake(w, t0, h, c2s, s2c, this.isnC, this.isnS);
    if (opener > 0) w.push(this.tOpen, rcv, opener, TCP_PSH | TCP_ACK, rcvIsn, sndIsn);
    const rcvSeq = rcvIsn + opener;
    // data segments and the receiver's ACKs, only those near the window
    const gap = Math.max(s.gapUs, 1e-6);
    const n = this.segments;
    const kLo = Math.max(0, Math.floor((w.fromUs - this.tData - h) / gap) - 2);
    const kHi = Math.min(n - 1, Math.ceil((w.toUs - this.tData) / gap) + 2);
    for (let k = kLo; k <= kHi; k++) {
      const t = this.segTime(k);
      const size = k < n - 1 ? s.mss : s.dataBytes - (n - 1) * s.mss;
      w.push(t, snd, size, k === n - 1 ? TCP_PSH | TCP_ACK : TCP_ACK, sndIsn + k * s.mss, rcvSeq);
      if (k % 2 === 1 || k === n - 1) w.push(t + h, rcv, 0, TCP_ACK, rcvSeq, sndIsn + Math.min((k + 1) * s.mss, s.dataBytes));
    }
    const cSeq = fromClient ? sndIsn + s.dataBytes : rcvSeq;
    const sSeq = fromClient ? rcvSeq : sndIsn + s.dataBytes;
    pushClose(w, this.tFin, h, c2s, s2c, cSeq, sSeq);
  }
}

/** A TCP handshake opened by side a at t0: SYN, SYN-ACK half an RTT later, ACK. */
function pushHandshake(w: PacketWindow, t0: number, h: number, a2b: number, b2a: number, isnA: number, isnB: number): void {
  w.push(t0, a2b, 0, TCP_SYN, isnA, 0);
  w.push(t0 + h, b2a, 0, TCP_SYN | TCP_ACK, isnB, isnA + 1);
  w.push(t0 + 2 * h, a2b, 0, TCP_ACK, isnA + 1, isnB + 1);
}

/** A TCP close begun by side a at t (its next sequence number aSeq, b's bSeq): FIN, FIN, ACK. */
function pushClose(w: PacketWindow, t: number, h: number, a2b: number, b2a: number, aSeq: number, bSeq: number): void {
  w.push(t, a2b, 0, TCP_FIN | TCP_ACK, aSeq, bSeq);
  w.push(t + h, b2a, 0, TCP_FIN | TCP_ACK, bSeq, aSeq + 1);
  w.push(t + 2 * h, a2b, 0, TCP_ACK, aSeq + 1, bSeq + 1);
}

// ---------------------------------------------------------------------------

export interface PolledConnectionSpec {
  poller: Addr;
  agent: Addr;
  sport: number;
  dport: number;
  startUs: number;
  /** no poll starts after this time */
  stopUs: number;
  intervalUs: number;
  rttUs: number;
  reqBytes: number;
  /** bytes of each answer */
  respBytes: number;
  mss: number;
  /** time between the segments of an answer (µs) */
  gapUs: number;
  seed: number;
  /** tag of the packets toward the poller */
  tagToPoller?: number;
}

/**
 * A monitoring poller's persistent TCP connection to one agent: a request every interval
 * (with jitter), answered by a burst of `respBytes` in MSS-sized segments; the poller ACKs
 * every second segment.
 */
export class PolledConnection implements Stream {
  readonly startUs: number;
  readonly endUs: number;
  private readonly h: number;
  private readonly isnP: number;
  private readonly isnA: number;
  private readonly base: number;
  private readonly polls: number;
  private readonly segs: number;
  private readonly span: number;
  private readonly tFin: number;

  constructor(readonly s: PolledConnectionSpec) {
    this.h = halfRtt(s.rttUs);
    this.isnP = hash32(s.seed, 1) & 0x7fffffff;
    this.isnA = hash32(s.seed, 2) & 0x7fffffff;
    this.startUs = s.startUs;
    this.base = s.startUs + 2 * this.h + 1_000;
    this.segs = Math.max(1, Math.ceil(s.respBytes / s.mss));
    this.span = this.h + 200 + Math.ceil(this.segs * s.gapUs) + this.h;
    this.polls = Math.max(1, Math.floor((s.stopUs - this.base - this.span - s.intervalUs / 4) / s.intervalUs) + 1);
    this.tFin = this.pollTime(this.polls - 1) + this.span + 1_000;
    this.endUs = this.tFin + 2 * this.h + 1;
  }

  private pollTime(j: number): number {
    return this.base + j * this.s.intervalUs + Math.floor(unit(this.s.seed, j) * this.s.intervalUs * 0.25);
  }

  emit(w: PacketWindow): void {
    const s = this.s;
    if (w.toUs <= this.startUs || w.fromUs >= this.endUs) return;
    const p2a = w.flowId(s.poller, s.agent, 'tcp', s.sport, s.dport, 64, -1);
    const a2p = w.flowId(s.agent, s.poller, 'tcp', s.dport, s.sport, 64, s.tagToPoller ?? -1);
    const h = this.h;
    const t0 = this.startUs;
    const pIsn = this.isnP + 1;
    const aIsn = this.isnA + 1;
    pushHandshake(w, t0, h, p2a, a2p, this.isnP, this.isnA);
    const iv = s.intervalUs;
    const jLo = Math.max(0, Math.floor((w.fromUs - this.base - this.span) / iv) - 1);
    const jHi = Math.min(this.polls - 1, Math.floor((w.toUs - this.base) / iv) + 1);
    const n = this.segs;
    for (let j = jLo; j <= jHi; j++) {
      const tp = this.pollTime(j);
      const pSeq = pIsn + j * s.reqBytes;
      const aSeq = aIsn + j * s.respBytes;
      w.push(tp, p2a, s.reqBytes, TCP_PSH | TCP_ACK, pSeq, aSeq);
      const tr = tp + h + 200;
      for (let k = 0; k < n; k++) {
        const t = tr + Math.floor(k * s.gapUs);
        const size = k < n - 1 ? s.mss : s.respBytes - (n - 1) * s.mss;
        w.push(t, a2p, size, k === n - 1 ? TCP_PSH | TCP_ACK : TCP_ACK, aSeq + k * s.mss, pSeq + s.reqBytes);
        if (k % 2 === 1 || k === n - 1) w.push(t + h, p2a, 0, TCP_ACK, pSeq + s.reqBytes, aSeq + Math.min((k + 1) * s.mss, s.respBytes));
      }
    }
    const pEnd = pIsn + this.polls * s.reqBytes;
    const aEnd = aIsn + this.polls * s.respBytes;
    pushClose(w, this.tFin, h, p2a, a2p, pEnd, aEnd);
  }
}

// ---------------------------------------------------------------------------

export interface UdpFloodSpec {
  src: Addr;
  dst: Addr;
  startUs: number;
  packets: number;
  /** mean time between datagrams (µs) */
  gapUs: number;
  /** datagrams per (source port, destination port) pair: the flood tool moves on after that many */
  perFlow: number;
  dports: readonly number[];
  /** mean UDP payload; each datagram is within ±10 bytes */
  payload: number;
  ttl: number;
  seed: number;
  tag?: number;
}

/** One host sending a stream of large UDP datagrams to one target, hopping over ports. */
export class UdpFlood implements Stream {
  readonly startUs: number;
  readonly endUs: number;
  constructor(readonly s: UdpFloodSpec) {
    this.startUs = s.startUs;
    this.endUs = this.time(s.packets - 1) + 1;
  }

  private time(i: number): number {
    return this.s.startUs + Math.floor(i * this.s.gapUs + unit(this.s.seed, i) * this.s.gapUs * 0.5);
  }

  emit(w: PacketWindow): void {
    const s = this.s;
    if (w.toUs <= this.startUs || w.fromUs >= this.endUs) return;
    const iLo = Math.max(0, Math.floor((w.fromUs - s.startUs) / s.gapUs) - 2);
    const iHi = Math.min(s.packets - 1, Math.ceil((w.toUs - s.startUs) / s.gapUs) + 2);
    const portSeed = hash32(s.seed, 11);
    const dportSeed = hash32(s.seed, 12);
    const sizeSeed = hash32(s.seed, 13);
    let tuple = -1;
    let flow = -1;
    for (let i = iLo; i <= iHi; i++) {
      const tu = Math.floor(i / s.perFlow);
      if (tu !== tuple) {
        tuple = tu;
        const sport = 1024 + Math.floor(unit(portSeed, tu) * 64000);
        const dport = s.dports[Math.floor(unit(dportSeed, tu) * s.dports.length)]!;
        flow = w.flowId(s.src, s.dst, 'udp', sport, dport, s.ttl, s.tag ?? -1);
      }
      w.push(this.time(i), flow, s.payload - 10 + Math.floor(unit(sizeSeed, i) * 21));
    }
  }
}

// ---------------------------------------------------------------------------

export interface IncomingFloodSpec {
  victim: Addr;
  startUs: number;
  packets: number;
  gapUs: number;
  /** mean packets per (spoofed) source; sources are drawn from 100.64.0.0/10 */
  perSource: number;
  /** share of sources sending UDP reflection answers (400-1449 byte payloads); the rest send TCP SYNs */
  ampShare: number;
  seed: number;
  tag?: number;
}

// reflection sources: NTP, SSDP, memcached, CLDAP (not DNS: nfpcapd makes one flow per DNS packet)
const AMP_PORTS = [123, 1900, 11211, 389] as const;
const SPOOF_BASE = (100 << 24) | (64 << 16);

/** longest time one source sends (µs): below nfpcapd's 60 s inactive timeout, so one source is one flow per file */
const SOURCE_SPAN_US = 30_000_000;

/**
 * Many sources flooding one host: TCP SYNs to 80/443 mixed with UDP reflection answers. The
 * flood runs in blocks of at most 30 s; each block has its own `concurrent` sources, and each
 * packet of a block comes from one of them at random (`perSource` packets each on average).
 */
export class IncomingFlood implements Stream {
  readonly startUs: number;
  readonly endUs: number;
  /** sources active at once (per block) */
  readonly concurrent: number;
  /** packets per block */
  private readonly block: number;
  /** distinct sources over the whole flood */
  readonly sources: number;
  constructor(readonly s: IncomingFloodSpec) {
    this.startUs = s.startUs;
    this.endUs = this.time(s.packets - 1) + 1;
    this.concurrent = Math.max(1, Math.min(Math.round(s.packets / s.perSource), Math.floor(SOURCE_SPAN_US / (s.perSource * s.gapUs))));
    this.block = Math.max(1, Math.round(this.concurrent * s.perSource));
    this.sources = Math.ceil(s.packets / this.block) * this.concurrent;
  }

  private time(i: number): number {
    return this.s.startUs + Math.floor(i * this.s.gapUs + unit(this.s.seed, i) * this.s.gapUs * 0.5);
  }

  emit(w: PacketWindow): void {
    const s = this.s;
    if (w.toUs <= this.startUs || w.fromUs >= this.endUs) return;
    const seedSrc = hash32(s.seed, 21);
    const seedAddr = hash32(s.seed, 22);
    const seedKind = hash32(s.seed, 23);
    const seedPort = hash32(s.seed, 24);
    const seedDport = hash32(s.seed, 25);
    const seedTtl = hash32(s.seed, 26);
    const seedLen = hash32(s.seed, 27);
    const seedSeq = hash32(s.seed, 28);
    const iLo = Math.max(0, Math.floor((w.fromUs - s.startUs) / s.gapUs) - 2);
    const iHi = Math.min(s.packets - 1, Math.ceil((w.toUs - s.startUs) / s.gapUs) + 2);
    const c = this.concurrent;
    const firstSrc = Math.floor(iLo / this.block) * c;
    const nSrc = (Math.floor(iHi / this.block) + 1) * c - firstSrc;
    const flows = new Int32Array(nSrc).fill(-1);
    const amp = new Uint8Array(nSrc);
    for (let i = iLo; i <= iHi; i++) {
      const src = Math.floor(i / this.block) * c + Math.floor(unit(seedSrc, i) * c);
      const slot = src - firstSrc;
      let flow = flows[slot]!;
      if (flow < 0) {
        const addr = ip4n(SPOOF_BASE + Math.floor(unit(seedAddr, src) * (1 << 22)));
        const ttl = 40 + Math.floor(unit(seedTtl, src) * 80);
        if (unit(seedKind, src) < s.ampShare) {
          amp[slot] = 1;
          const sport = AMP_PORTS[Math.floor(unit(seedPort, src) * AMP_PORTS.length)]!;
          flow = w.flowId(addr, s.victim, 'udp', sport, 1024 + Math.floor(unit(seedDport, src) * 64000), ttl, s.tag ?? -1);
        } else {
          flow = w.flowId(addr, s.victim, 'tcp', 1024 + Math.floor(unit(seedPort, src) * 64000), unit(seedDport, src) < 0.5 ? 80 : 443, ttl, s.tag ?? -1);
        }
        flows[slot] = flow;
      }
      const t = this.time(i);
      if (amp[slot]) w.push(t, flow, 400 + Math.floor(unit(seedLen, i) * 1050));
      else w.push(t, flow, 0, TCP_SYN, Math.floor(unit(seedSeq, i) * 4294967296), 0);
    }
  }
}

// ---------------------------------------------------------------------------

export interface UdpExchangeSpec {
  client: Addr;
  server: Addr;
  sport: number;
  dport: number;
  startUs: number;
  /** time until the answer (µs) */
  replyUs: number;
  query: number;
  answer: number;
}

/** One UDP question and its answer (DNS, NTP). */
export function udpExchange(w: PacketWindow, x: UdpExchangeSpec): void {
  const q = w.flowId(x.client, x.server, 'udp', x.sport, x.dport, 64, -1);
  const a = w.flowId(x.server, x.client, 'udp', x.dport, x.sport, 64, -1);
  w.push(x.startUs, q, x.query);
  w.push(x.startUs + x.replyUs, a, x.answer);
}
