import { isInside, MAC_ROUTER, PROTO_TCP, PROTO_UDP, type Addr } from './packets.js';

/**
 * The fast path for big synthetic captures: one time window (a 5-minute slot) of packets is
 * collected in flat typed arrays, sorted by time, and serialised as a pcap in one buffer.
 *
 * A packet is (time, flow, payload length, TCP flags, seq, ack); a flow is a template frame
 * (Ethernet + IP + L4 header, in `buildFrame`'s layout) built once, whose per-packet fields (IP
 * length, IP id, checksums, TCP seq/ack/flags, UDP length) are filled in while writing, the
 * checksums from precomputed partial sums. The bytes are exactly what `buildFrame` produces
 * for the same packet and IP id (a test checks it); each record stores the headers only
 * (incl_len = header length, orig_len = the full frame), so a pcap costs 16 + 42..74 bytes per
 * packet whatever the payload. Templates live in flat arrays too: a window of 10^5 flows and
 * 10^6 packets makes almost no garbage, and `reset` reuses the memory for the next window.
 *
 * Flows carry a tag (an event index, or -1): for every tag the window counts packets, bytes (IP
 * total length, as nfdump counts), first/last packet time and distinct flows, which is how the
 * ground truth knows exactly what it injected. Tagged flows are looked up by 5-tuple, so two
 * registrations of one tuple are one flow, as nfpcapd sees them; untagged (background) flows
 * are not, for speed: they never share a tuple with a tagged flow (different destinations).
 */

/** snaplen field of the global header: at least the longest header (IPv6 + TCP = 74 bytes). */
export const FAST_SNAPLEN = 96;
const SEC = 1_000_000;
/** packets per window (64 Mi: ~4.5 GB of pcap, far beyond a sensible slot) */
export const MAX_WINDOW_PACKETS = 2 ** 26;
/** the radix sort takes 30-bit relative times: windows up to ~17 minutes */
const MAX_WINDOW_US = 2 ** 30 - 1;
/** longest template header: Ethernet 14 + IPv6 40 + TCP 20 */
const MAX_HDR = 74;

export interface TagStats {
  packets: number;
  bytes: number;
  firstUs: number;
  lastUs: number;
  flows: number;
}

const F_V4 = 1;
const F_TCP = 2;

function grown<T extends Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array>(a: T, size: number): T {
  if (a.length >= size) return a;
  let cap = Math.max(a.length * 2, 1024);
  while (cap < size) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

export class PacketWindow {
  private _fromUs = 0;
  private _toUs = 0;
  // templates (flows)
  private nFlows = 0;
  private hdr = new Uint8Array(1024 * MAX_HDR); // MAX_HDR bytes per flow
  private hdrLen = new Uint8Array(1024);
  private fFlags = new Uint8Array(1024);
  private ipSum = new Uint32Array(1024);
  private l4Sum = new Uint32Array(1024);
  private ipId = new Uint16Array(1024);
  private fTag = new Int32Array(1024);
  private seen = new Uint8Array(1024);
  private readonly byKey = new Map<string, number>();
  // packets
  private n = 0;
  private t = new Float64Array(1 << 16);
  private flow = new Int32Array(1 << 16);
  private payload = new Uint16Array(1 << 16);
  private flags = new Uint8Array(1 << 16);
  private seq = new Uint32Array(1 << 16);
  private ack = new Uint32Array(1 << 16);
  private tags = new Map<number, TagStats>();
  private out: Buffer = Buffer.alloc(0);

  /** Packets outside [fromUs, toUs) (µs since the Unix epoch) are dropped silently. */
  constructor(fromUs: number, toUs: number) {
    this.reset(fromUs, toUs);
  }

  /** Empties the window and moves it to [fromUs, toUs), keeping its memory. */
  reset(fromUs: number, toUs: number): void {
    if (!(toUs > fromUs) || toUs - fromUs > MAX_WINDOW_US) throw new Error(`window must be 0 < length <= ${Math.floor(MAX_WINDOW_US / SEC)} s`);
    this._fromUs = fromUs;
    this._toUs = toUs;
    this.nFlows = 0;
    this.n = 0;
    this.byKey.clear();
    this.tags = new Map();
  }

  get fromUs(): number {
    return this._fromUs;
  }

  get toUs(): number {
    return this._toUs;
  }

  get size(): number {
    return this.n;
  }

  /** flows (5-tuple templates) registered in this window */
  get flowCount(): number {
    return this.nFlows;
  }

  /**
   * The flow id of a 5-tuple; `tag` marks the flow's packets as an event's traffic toward its
   * host. A tagged tuple registered again gets the same id.
   */
  flowId(src: Addr, dst: Addr, proto: 'tcp' | 'udp', sport: number, dport: number, ttl: number, tag = -1): number {
    let key = '';
    if (tag >= 0) {
      key = `${addrKey(src)}|${addrKey(dst)}|${proto}|${sport}|${dport}`;
      const known = this.byKey.get(key);
      if (known !== undefined) return known;
    }
    const id = this.nFlows++;
    this.ensureFlows(id + 1);
    this.makeTemplate(id, src, dst, proto === 'tcp', sport, dport, ttl, tag);
    if (tag >= 0) this.byKey.set(key, id);
    return id;
  }

  private ensureFlows(size: number): void {
    if (this.hdrLen.length >= size && this.hdr.length >= size * MAX_HDR) return;
    this.hdr = grown(this.hdr, size * MAX_HDR);
    this.hdrLen = grown(this.hdrLen, size);
    this.fFlags = grown(this.fFlags, size);
    this.ipSum = grown(this.ipSum, size);
    this.l4Sum = grown(this.l4Sum, size);
    this.ipId = grown(this.ipId, size);
    this.fTag = grown(this.fTag, size);
    this.seen = grown(this.seen, size);
  }

  private makeTemplate(id: number, src: Addr, dst: Addr, tcp: boolean, sport: number, dport: number, ttl: number, tag: number): void {
    if (src.v !== dst.v) throw new Error('source and destination must be the same IP version');
    const v4 = src.v === 4;
    const h = this.hdr;
    const o = id * MAX_HDR;
    const len = 14 + (v4 ? 20 : 40) + (tcp ? 20 : 8);
    h.fill(0, o, o + MAX_HDR);
    // Ethernet: outbound traffic (src inside) goes to the router MAC, inbound comes from it
    const inside = isInside(src);
    const host = inside ? src : dst;
    const hb = host.bytes;
    const macHost = (at: number) => {
      h[at] = 0x02;
      h[at + 1] = 0x42;
      h[at + 2] = host.v === 4 ? 0x04 : 0x06;
      h[at + 3] = 0;
      h[at + 4] = hb[hb.length - 2]!;
      h[at + 5] = hb[hb.length - 1]!;
    };
    if (inside) {
      h.set(MAC_ROUTER, o);
      macHost(o + 6);
    } else {
      macHost(o);
      h.set(MAC_ROUTER, o + 6);
    }
    h[o + 12] = v4 ? 0x08 : 0x86;
    h[o + 13] = v4 ? 0x00 : 0xdd;
    const ip = o + 14;
    const protoNum = tcp ? PROTO_TCP : PROTO_UDP;
    let ipSum = 0;
    if (v4) {
      h[ip] = 0x45;
      h[ip + 6] = 0x40; // DF
      h[ip + 8] = ttl;
      h[ip + 9] = protoNum;
      h.set(src.bytes, ip + 12);
      h.set(dst.bytes, ip + 16);
      ipSum = sumWords(h, ip, ip + 20); // length, id and checksum are still zero
    } else {
      h[ip] = 0x60;
      h[ip + 6] = protoNum;
      h[ip + 7] = ttl;
      h.set(src.bytes, ip + 8);
      h.set(dst.bytes, ip + 24);
    }
    const l4 = ip + (v4 ? 20 : 40);
    h[l4] = sport >> 8;
    h[l4 + 1] = sport & 0xff;
    h[l4 + 2] = dport >> 8;
    h[l4 + 3] = dport & 0xff;
    if (tcp) {
      h[l4 + 12] = 5 << 4;
      h[l4 + 14] = 64240 >> 8;
      h[l4 + 15] = 64240 & 0xff;
    }
    // pseudo header (addresses, protocol) + the static L4 words; lengths and per-packet fields come later
    const l4Sum = sumWords(src.bytes, 0, src.bytes.length) + sumWords(dst.bytes, 0, dst.bytes.length) + protoNum + sumWords(h, l4, l4 + (tcp ? 20 : 8));
    this.hdrLen[id] = len;
    this.fFlags[id] = (v4 ? F_V4 : 0) | (tcp ? F_TCP : 0);
    this.ipSum[id] = ipSum;
    this.l4Sum[id] = l4Sum;
    this.ipId[id] = (src.bytes[src.bytes.length - 1]! * 257 + sport) & 0xffff;
    this.fTag[id] = tag;
    this.seen[id] = 0;
  }

  /** Adds one packet (TCP: flags/seq/ack used; UDP: ignored). */
  push(tUs: number, flow: number, payload: number, flags = 0, seq = 0, ack = 0): void {
    if (tUs < this._fromUs || tUs >= this._toUs) return;
    const i = this.n;
    if (i === this.t.length) this.growPackets();
    this.n = i + 1;
    this.t[i] = tUs;
    this.flow[i] = flow;
    this.payload[i] = payload;
    this.flags[i] = flags;
    this.seq[i] = seq;
    this.ack[i] = ack;
    const tag = this.fTag[flow]!;
    if (tag >= 0) {
      let st = this.tags.get(tag);
      if (!st) {
        st = { packets: 0, bytes: 0, firstUs: tUs, lastUs: tUs, flows: 0 };
        this.tags.set(tag, st);
      }
      const ff = this.fFlags[flow]!;
      st.packets++;
      st.bytes += (ff & F_V4 ? 20 : 40) + (ff & F_TCP ? 20 : 8) + payload;
      if (tUs < st.firstUs) st.firstUs = tUs;
      if (tUs > st.lastUs) st.lastUs = tUs;
      if (!this.seen[flow]) {
        this.seen[flow] = 1;
        st.flows++;
      }
    }
  }

  private growPackets(): void {
    if (this.n >= MAX_WINDOW_PACKETS) throw new Error(`more than ${MAX_WINDOW_PACKETS} packets in one window; lower the traffic volume (--scale)`);
    const size = this.n + 1;
    this.t = grown(this.t, size);
    this.flow = grown(this.flow, size);
    this.payload = grown(this.payload, size);
    this.flags = grown(this.flags, size);
    this.seq = grown(this.seq, size);
    this.ack = grown(this.ack, size);
  }

  /** Per-tag counts of the packets pushed so far. */
  tagStats(): ReadonlyMap<number, TagStats> {
    return this.tags;
  }

  /** Packet indices in time order; equal times keep the order they were pushed in. */
  private timeOrder(): Uint32Array {
    const n = this.n;
    const rel = new Uint32Array(n);
    const from = this._fromUs;
    for (let i = 0; i < n; i++) rel[i] = this.t[i]! - from;
    return radixOrder(rel, n);
  }

  /**
   * The window as a pcap file: packets in time order (ties: the order they were pushed). IP
   * ids count up per flow. The buffer is the window's own and is overwritten by the next
   * `toPcap` after a `reset`: write it out (or copy it) first.
   */
  toPcap(): Buffer {
    const n = this.n;
    const order = this.timeOrder();
    let size = 24;
    for (let i = 0; i < n; i++) size += 16 + this.hdrLen[this.flow[i]!]!;
    if (this.out.length < size) this.out = Buffer.allocUnsafe(Math.max(size, Math.floor(this.out.length * 1.5)));
    const out = this.out;
    writeGlobalHeader(out);
    let at = 24;
    const h = this.hdr;
    for (let r = 0; r < n; r++) {
      const i = order[r]!;
      const id = this.flow[i]!;
      const hlen = this.hdrLen[id]!;
      const ff = this.fFlags[id]!;
      const tcp = (ff & F_TCP) !== 0;
      const v4 = (ff & F_V4) !== 0;
      const payload = this.payload[i]!;
      const tUs = this.t[i]!;
      const sec = Math.floor(tUs / SEC);
      const usec = tUs - sec * SEC;
      u32le(out, at, sec);
      u32le(out, at + 4, usec);
      u32le(out, at + 8, hlen);
      u32le(out, at + 12, hlen + payload);
      const f = at + 16;
      const src = id * MAX_HDR;
      for (let k = 0; k < hlen; k++) out[f + k] = h[src + k]!;
      const l4len = (tcp ? 20 : 8) + payload;
      const ip = f + 14;
      let l4: number;
      if (v4) {
        const total = 20 + l4len;
        const ipid = this.ipId[id]!;
        this.ipId[id] = (ipid + 1) & 0xffff;
        out[ip + 2] = total >> 8;
        out[ip + 3] = total & 0xff;
        out[ip + 4] = ipid >> 8;
        out[ip + 5] = ipid & 0xff;
        const c = fold16(this.ipSum[id]! + total + ipid);
        out[ip + 10] = c >> 8;
        out[ip + 11] = c & 0xff;
        l4 = ip + 20;
      } else {
        out[ip + 4] = l4len >> 8;
        out[ip + 5] = l4len & 0xff;
        l4 = ip + 40;
      }
      let s = this.l4Sum[id]! + l4len;
      if (tcp) {
        const sq = this.seq[i]!;
        const ak = this.ack[i]!;
        const fl = this.flags[i]!;
        out[l4 + 4] = sq >>> 24;
        out[l4 + 5] = (sq >>> 16) & 0xff;
        out[l4 + 6] = (sq >>> 8) & 0xff;
        out[l4 + 7] = sq & 0xff;
        out[l4 + 8] = ak >>> 24;
        out[l4 + 9] = (ak >>> 16) & 0xff;
        out[l4 + 10] = (ak >>> 8) & 0xff;
        out[l4 + 11] = ak & 0xff;
        out[l4 + 13] = fl;
        s += (sq >>> 16) + (sq & 0xffff) + (ak >>> 16) + (ak & 0xffff) + fl;
        const c = fold16(s);
        out[l4 + 16] = c >> 8;
        out[l4 + 17] = c & 0xff;
      } else {
        out[l4 + 4] = l4len >> 8;
        out[l4 + 5] = l4len & 0xff;
        s += l4len;
        let c = fold16(s);
        if (c === 0) c = 0xffff;
        out[l4 + 6] = c >> 8;
        out[l4 + 7] = c & 0xff;
      }
      at = f + hlen;
    }
    return out.subarray(0, at);
  }
}

function sumWords(buf: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0);
  return s;
}

/** one's complement of the folded 16-bit sum (the Internet checksum) */
function fold16(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return ~x & 0xffff;
}

function u32le(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

function addrKey(a: Addr): string | number {
  const b = a.bytes;
  return a.v === 4 ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : Buffer.from(b.buffer, b.byteOffset, 16).toString('hex');
}

/** Stable two-pass LSD radix sort of packet indices by time (µs from the window start < 2^30). */
function radixOrder(rel: Uint32Array, n: number): Uint32Array {
  const BITS = 15;
  const R = 1 << BITS;
  const MASK = R - 1;
  const a = new Uint32Array(n);
  const b = new Uint32Array(n);
  const count = new Uint32Array(R + 1);
  for (let i = 0; i < n; i++) count[(rel[i]! & MASK) + 1]!++;
  for (let r = 0; r < R; r++) count[r + 1]! += count[r]!;
  for (let i = 0; i < n; i++) a[count[rel[i]! & MASK]!++] = i;
  count.fill(0);
  for (let i = 0; i < n; i++) count[(rel[i]! >>> BITS) + 1]!++;
  for (let r = 0; r < R; r++) count[r + 1]! += count[r]!;
  for (let k = 0; k < n; k++) {
    const i = a[k]!;
    b[count[rel[i]! >>> BITS]!++] = i;
  }
  return b;
}

function writeGlobalHeader(out: Buffer): void {
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(FAST_SNAPLEN, 16);
  out.writeUInt32LE(1, 20);
}
