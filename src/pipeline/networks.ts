import { BlockList, isIP } from 'node:net';

/**
 * Address blocks (`networks.own`, the hosts of suppression rules): an address or a CIDR block,
 * IPv4 or IPv6. Matching is node's BlockList, which also matches an IPv4-mapped IPv6 address
 * (`::ffff:10.0.0.1`) against an IPv4 block, as nfdump prints the addresses of some exporters.
 */

export interface Cidr {
  readonly text: string;
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `2001:db8::/32`, or one address (a /32 or /128); a reason string when it is neither. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const kind = isIP(address);
  if (kind === 0) return `"${text.slice(0, 60)}" is not an IPv4 or IPv6 address or CIDR block`;
  const family = kind === 4 ? 'ipv4' : 'ipv6';
  const max = kind === 4 ? 32 : 128;
  if (slash < 0) return { text, address, prefix: max, family };
  const p = text.slice(slash + 1);
  const prefix = /^\d{1,3}$/u.test(p) ? Number(p) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) return `"${text.slice(0, 60)}": the prefix length must be a whole number from 0 to ${max}`;
  return { text, address, prefix, family };
}

/** A set of blocks an address is looked up in. */
export class NetworkSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(blocks: readonly Cidr[]) {
    for (const b of blocks) this.list.addSubnet(b.address, b.prefix, b.family);
    this.size = blocks.length;
  }

  /**
   * Whether the text is an address inside one of the blocks (false for anything that is no
   * address). A prefix key (`10.0.2.0/24`, from an aggregation by dstip/24) is looked up by its
   * first address.
   */
  has(text: string | null | undefined): boolean {
    if (!text) return false;
    const slash = text.indexOf('/');
    const address = slash < 0 ? text : text.slice(0, slash);
    const kind = isIP(address);
    if (kind === 0) return false;
    return this.list.check(address, kind === 4 ? 'ipv4' : 'ipv6');
  }
}
