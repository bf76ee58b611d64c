/**
 * Packet building blocks for synthetic traffic: addresses, real Ethernet/IPv4/IPv6/TCP/UDP
 * headers, and a classic libpcap writer.
 *
 * Taken from the fixture generator `test/fixtures/gen/pcap.ts` (our own code) so that src/ can
 * use it; `buildFrame` and `toPcap` produce the same bytes as the fixture's versions (a test
 * checks it), so the fixture generator can import them from here.
 *
 * Every header is real: IPv4 total length and header checksum, IPv6 payload length, TCP/UDP
 * lengths and checksums (over the pseudo header and an all-zero payload). Packets are captured
 * with a snap length, as tcpdump -s does: orig_len is the full frame, incl_len the stored
 * prefix, so a file stays small while the IP lengths say ~1500 bytes.
 */

import { ipv6Text } from '../features/prefix.js';

export type Addr = { v: 4; bytes: Uint8Array } | { v: 6; bytes: Uint8Array };

export const SNAPLEN = 80;

export function ip4(s: string): Addr {
  const parts = s.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${s}`);
  return { v: 4, bytes: Uint8Array.from(parts) };
}

/** An IPv4 address from its 32-bit value. */
export function ip4n(n: number): Addr {
  const x = n >>> 0;
  return { v: 4, bytes: Uint8Array.from([x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff]) };
}

export function ip6(s: string): Addr {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':').filter((x) => x.length > 0) : [];
  const t = tail !== undefined && tail.length > 0 ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${s}`);
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  return { v: 6, bytes };
}

/** Text form as nfdump prints it (IPv4 dotted quad; IPv6 compressed, lower case, RFC 5952). */
export function formatAddr(a: Addr): string {
  if (a.v === 4) return Array.from(a.bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a.bytes[i]! << 8) | a.bytes[i + 1]!);
  return ipv6Text(groups);
}

// ---------------------------------------------------------------------------
// packet building

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface L4Tcp {
  proto: 'tcp';
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
}
export interface L4Udp {
  proto: 'udp';
  sport: number;
  dport: number;
}

export interface Packet {
  /** microseconds since the pcap's epoch (see `toPcap`) */
  tUs: number;
  src: Addr;
  dst: Addr;
  l4: L4Tcp | L4Udp;
  /** L4 payload length in bytes (all zero bytes) */
  payload: number;
  ttl: number;
  /** tie-breaker for identical timestamps: creation order */
  order: number;
}

export function sum16(buf: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  for (let i = start; i < end; i += 2) {
    s += (buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0);
  }
  return s;
}

export function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return ~x & 0xffff;
}

export const MAC_ROUTER = Uint8Array.from([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);

/** Locally administered MAC derived from the last two address bytes. */
export function macFor(a: Addr): Uint8Array {
  const n = a.bytes.length;
  return Uint8Array.from([0x02, 0x42, a.v === 4 ? 0x04 : 0x06, 0x00, a.bytes[n - 2]!, a.bytes[n - 1]!]);
}

/** 10/8, 192.168/16 and 2001:db8:1::/48 are "ours" (decides the Ethernet direction). */
export function isInside(a: Addr): boolean {
  if (a.v === 4) return a.bytes[0] === 10 || (a.bytes[0] === 192 && a.bytes[1] === 168);
  return a.bytes[0] === 0x20 && a.bytes[1] === 0x01 && a.bytes[2] === 0x0d && a.bytes[3] === 0xb8 && a.bytes[4] === 0 && a.bytes[5] === 1;
}

/** Build the full frame (header bytes + zero payload) and return it with its original length. */
export function buildFrame(p: Packet, ipId: number): { frame: Uint8Array; origLen: number } {
  const l4hdr = p.l4.proto === 'tcp' ? 20 : 8;
  const l4len = l4hdr + p.payload;
  const iphdr = p.src.v === 4 ? 20 : 40;
  const origLen = 14 + iphdr + l4len;
  const hdrLen = 14 + iphdr + l4hdr;
  const frame = new Uint8Array(hdrLen); // payload bytes are zero and beyond the header
  const dv = new DataView(frame.buffer);

  // Ethernet: outbound traffic (src inside) goes to the router MAC, inbound from it
  const inside = isInside(p.src);
  frame.set(inside ? MAC_ROUTER : macFor(p.dst), 0);
  frame.set(inside ? macFor(p.src) : MAC_ROUTER, 6);
  dv.setUint16(12, p.src.v === 4 ? 0x0800 : 0x86dd);

  const protoNum = p.l4.proto === 'tcp' ? PROTO_TCP : PROTO_UDP;
  const ip = 14;
  if (p.src.v === 4) {
    frame[ip] = 0x45;
    frame[ip + 1] = 0;
    dv.setUint16(ip + 2, iphdr + l4len);
    dv.setUint16(ip + 4, ipId & 0xffff);
    dv.setUint16(ip + 6, 0x4000); // DF
    frame[ip + 8] = p.ttl;
    frame[ip + 9] = protoNum;
    frame.set(p.src.bytes, ip + 12);
    frame.set(p.dst.bytes, ip + 16);
    dv.setUint16(ip + 10, fold(sum16(frame, ip, ip + 20)));
  } else {
    dv.setUint32(ip, 0x60000000);
    dv.setUint16(ip + 4, l4len);
    frame[ip + 6] = protoNum;
    frame[ip + 7] = p.ttl;
    frame.set(p.src.bytes, ip + 8);
    frame.set(p.dst.bytes, ip + 24);
  }

  const l4 = ip + iphdr;
  dv.setUint16(l4, p.l4.sport);
  dv.setUint16(l4 + 2, p.l4.dport);
  let csumOff: number;
  if (p.l4.proto === 'tcp') {
    dv.setUint32(l4 + 4, p.l4.seq >>> 0);
    dv.setUint32(l4 + 8, p.l4.ack >>> 0);
    frame[l4 + 12] = 5 << 4;
    frame[l4 + 13] = p.l4.flags;
    dv.setUint16(l4 + 14, 64240);
    csumOff = l4 + 16;
  } else {
    dv.setUint16(l4 + 4, l4len);
    csumOff = l4 + 6;
  }
  // pseudo header + L4 header; the zero payload adds nothing to the sum
  let s = sum16(p.src.bytes, 0, p.src.bytes.length);
  s = sum16(p.dst.bytes, 0, p.dst.bytes.length, s);
  s += protoNum + (l4len & 0xffff) + Math.floor(l4len / 0x10000);
  s = sum16(frame, l4, l4 + l4hdr, s);
  let c = fold(s);
  if (p.l4.proto === 'udp' && c === 0) c = 0xffff;
  dv.setUint16(csumOff, c);
  return { frame, origLen };
}

/** The pcap global header: classic libpcap, little endian, v2.4, LINKTYPE_ETHERNET. */
export function pcapHeader(snaplen = SNAPLEN): Buffer {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeInt32LE(0, 8); // thiszone
  gh.writeUInt32LE(0, 12); // sigfigs
  gh.writeUInt32LE(snaplen, 16);
  gh.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  return gh;
}

/**
 * Serialise packets as a classic little-endian pcap file. Packet times are `epochSec` seconds
 * since the Unix epoch plus `tUs`. IP ids count up per source address, starting at a value
 * derived from the address.
 */
export function toPcap(packets: readonly Packet[], epochSec: number, snaplen = SNAPLEN): Buffer {
  const SEC = 1_000_000;
  const chunks: Buffer[] = [pcapHeader(snaplen)];
  const ipIds = new Map<string, number>();
  for (const p of packets) {
    const key = Buffer.from(p.src.bytes).toString('hex');
    const id = ipIds.get(key) ?? (p.src.bytes[p.src.bytes.length - 1]! * 257) & 0xffff;
    ipIds.set(key, (id + 1) & 0xffff);
    const { frame, origLen } = buildFrame(p, id);
    const incl = Math.min(origLen, snaplen);
    const rec = Buffer.alloc(16 + incl); // bytes past the header are the zero payload
    const abs = epochSec * SEC + p.tUs;
    rec.writeUInt32LE(Math.floor(abs / SEC), 0);
    rec.writeUInt32LE(abs % SEC, 4);
    rec.writeUInt32LE(incl, 8);
    rec.writeUInt32LE(origLen, 12);
    Buffer.from(frame.buffer, frame.byteOffset, Math.min(frame.length, incl)).copy(rec, 16);
    chunks.push(rec);
  }
  return Buffer.concat(chunks);
}
