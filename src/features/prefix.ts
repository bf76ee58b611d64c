/**
 * Address prefixes as aggregation keys (`dstip/24`): a flood spread over a whole prefix
 * (carpet bombing) is small per host and large per prefix. An IPv4 address is cut to its /v4
 * prefix, an IPv6 address to its /v6 prefix (default 64, a LAN); the key is the prefix as CIDR
 * text, `192.0.2.0/24` or `2001:db8:1::/64` (RFC 5952 form). An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.7`, as some exporters' IPv4 flows are printed) is taken as the IPv4 address,
 * so the same host lands in the same prefix however it was printed.
 */

export interface AddressPrefix {
  /** Prefix length for IPv4 addresses, 0..32. */
  readonly v4: number;
  /** Prefix length for IPv6 addresses, 0..128. */
  readonly v6: number;
}

export const DEFAULT_V6_PREFIX = 64;

/**
 * The prefix lengths after an address field's slash: `24` (IPv6 /64) or `24/56`; a reason
 * string when they are not whole numbers in range.
 */
export function parsePrefixLengths(text: string): AddressPrefix | string {
  const m = /^(\d{1,3})(?:\/(\d{1,3}))?$/u.exec(text);
  if (!m) return `expected /V4 or /V4/V6 prefix lengths (like /24 or /24/56), got "/${text.slice(0, 40)}"`;
  const v4 = Number(m[1]);
  const v6 = m[2] === undefined ? DEFAULT_V6_PREFIX : Number(m[2]);
  if (v4 > 32) return `the IPv4 prefix length must be 0..32, got ${v4}`;
  if (v6 > 128) return `the IPv6 prefix length must be 0..128, got ${v6}`;
  return { v4, v6 };
}

/** The canonical text of the lengths: `24` when IPv6 takes the default, else `24/56`. */
export function prefixLengthsText(p: AddressPrefix): string {
  return p.v6 === DEFAULT_V6_PREFIX ? String(p.v4) : `${p.v4}/${p.v6}`;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when the text is none. */
export function ipv6Groups(text: string): number[] | undefined {
  let s = text;
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (s.indexOf('.', lastColon) >= 0) {
    const v4 = ipv4Value(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push(v4 >>> 16, v4 & 0xffff);
    // the groups before the IPv4 part: "::ffff:" -> "::ffff", "::" stays, "1:2:3:4:5:6:" -> "1:2:3:4:5:6"
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/u.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return undefined;
  return [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
}

/** An IPv4 address as a 32-bit number, or undefined when the text is none. */
export function ipv4Value(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/u.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** ::ffff:a.b.c.d */
function isIpv4Mapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

function ipv4MappedGroups(text: string): boolean {
  const g = text.indexOf(':') < 0 ? undefined : ipv6Groups(text);
  return g !== undefined && isIpv4Mapped(g);
}

function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text of eight groups: lowercase, the longest run of two or more zero groups as `::` (the first of equals). */
export function ipv6Text(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return bestAt < 0 ? hex(0, 8) : `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/**
 * The prefix an address falls in, as CIDR text; undefined when the text is no IP address. A
 * prefix at least as long (`10.1.2.0/24` cut to /16) gives the prefix it lies in, so partial
 * aggregates of prefixes merge by the same key.
 */
export function addressPrefix(address: string, p: AddressPrefix): string | undefined {
  const slash = address.indexOf('/');
  if (slash >= 0) {
    const length = address.slice(slash + 1);
    const host = address.slice(0, slash);
    const max = host.indexOf(':') < 0 || ipv4MappedGroups(host) ? p.v4 : p.v6;
    if (!/^\d{1,3}$/u.test(length) || Number(length) < max) return undefined;
    return addressPrefix(host, p);
  }
  if (address.indexOf(':') < 0) {
    const v = ipv4Value(address);
    if (v === undefined) return undefined;
    const mask = p.v4 === 0 ? 0 : (0xffffffff << (32 - p.v4)) >>> 0;
    return `${ipv4Text((v & mask) >>> 0)}/${p.v4}`;
  }
  const g = ipv6Groups(address);
  if (!g) return undefined;
  if (isIpv4Mapped(g)) return addressPrefix(ipv4Text(((g[6]! << 16) | g[7]!) >>> 0), p);
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(16, Math.max(0, p.v6 - 16 * i));
    g[i] = keep === 0 ? 0 : g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return `${ipv6Text(g)}/${p.v6}`;
}

/** addressPrefix with a cache: a night repeats each address many times. */
export class PrefixCache {
  private readonly seen = new Map<string, string | undefined>();

  constructor(readonly prefix: AddressPrefix) {}

  of(address: string): string | undefined {
    let v = this.seen.get(address);
    if (v === undefined && !this.seen.has(address)) {
      v = addressPrefix(address, this.prefix);
      // bounded: a scan over many addresses must not keep them all
      if (this.seen.size >= 1 << 20) this.seen.clear();
      this.seen.set(address, v);
    }
    return v;
  }
}
