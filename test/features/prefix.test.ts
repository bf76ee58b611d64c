import { describe, expect, it } from 'vitest';
import { addressPrefix, ipv6Groups, ipv6Text, parsePrefixLengths, PrefixCache } from '../../src/features/prefix.js';
import { pythonPrefixes } from '../helpers/ipaddress.js';
import { mulberry32, testSeed } from '../helpers/random.js';

const BROKEN = ['1.2.3', '1.2.3.256', '01.2.3.4', '1.2.3.4.5', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'gg::1', '::1.2.3', '', 'x1.2.3.4', ':1::', '1:2:3:4:5:6:7:1.2.3.4', 'host.example'];

describe('address prefixes', () => {
  it('equal Python ipaddress on random IPv4, IPv6 (compressed, full, upper case), IPv4-mapped and broken addresses', () => {
    const seed = testSeed('address prefixes vs ipaddress');
    const rnd = mulberry32(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const group = () => [0, 0, 0, int(0x10000), int(16)][int(5)]!;
    const v4 = () => [int(256), int(256), int(256), int(256)].join('.');
    const cases: [string, number, number][] = [];
    for (let i = 0; i < 4000; i++) {
      const r = rnd();
      let a: string;
      if (r < 0.35) a = v4();
      else if (r < 0.8) {
        const g = Array.from({ length: 8 }, group);
        a = rnd() < 0.5 ? ipv6Text(g) : g.map((x) => x.toString(16)).join(':');
        if (rnd() < 0.3) a = a.toUpperCase();
      } else if (r < 0.9) a = `::ffff:${v4()}`;
      else if (r < 0.95) a = `${Array.from({ length: 6 }, () => int(0x10000).toString(16)).join(':')}:${v4()}`;
      else a = BROKEN[int(BROKEN.length)]!;
      cases.push([a, int(33), int(129)]);
    }
    const expected = pythonPrefixes(cases);
    let bad = 0;
    cases.forEach(([a, p4, p6], i) => {
      const ours = addressPrefix(a, { v4: p4, v6: p6 }) ?? 'NONE';
      expect(ours, `${JSON.stringify(a)} /${p4} /${p6}`).toBe(expected[i]);
      if (ours === 'NONE') bad++;
    });
    expect(bad).toBeGreaterThan(100); // the broken ones were refused, not only the good ones taken
  });

  it('hand-checked cases: RFC 5952 text, the mapped form, the edges of the lengths', () => {
    expect(addressPrefix('192.0.2.77', { v4: 24, v6: 64 })).toBe('192.0.2.0/24');
    expect(addressPrefix('192.0.2.77', { v4: 0, v6: 64 })).toBe('0.0.0.0/0');
    expect(addressPrefix('192.0.2.77', { v4: 32, v6: 64 })).toBe('192.0.2.77/32');
    expect(addressPrefix('::ffff:192.0.2.77', { v4: 24, v6: 64 })).toBe('192.0.2.0/24');
    expect(addressPrefix('2001:DB8:0:0:1:0:0:1', { v4: 24, v6: 64 })).toBe('2001:db8::/64');
    expect(addressPrefix('2001:db8:0:0:1:0:0:1', { v4: 24, v6: 128 })).toBe('2001:db8::1:0:0:1/128');
    expect(addressPrefix('2001:db8:aaaa:bbbb::1', { v4: 24, v6: 56 })).toBe('2001:db8:aaaa:bb00::/56');
    // a prefix cut again (partial aggregates merged): to a shorter or equal length only
    expect(addressPrefix('10.1.2.0/24', { v4: 24, v6: 64 })).toBe('10.1.2.0/24');
    expect(addressPrefix('10.1.2.0/24', { v4: 16, v6: 64 })).toBe('10.1.0.0/16');
    expect(addressPrefix('10.1.0.0/16', { v4: 24, v6: 64 })).toBeUndefined();
    expect(addressPrefix('2001:db8:1::/64', { v4: 24, v6: 64 })).toBe('2001:db8:1::/64');
    expect(addressPrefix('2001:db8:1::/48', { v4: 24, v6: 64 })).toBeUndefined();
    expect(addressPrefix('10.1.2.0/x', { v4: 24, v6: 64 })).toBeUndefined();
    expect(ipv6Groups('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Text([1, 0, 0, 2, 0, 0, 0, 3])).toBe('1:0:0:2::3'); // the longer run
    expect(ipv6Text([1, 0, 0, 2, 0, 0, 3, 4])).toBe('1::2:0:0:3:4'); // the first of equal runs
    expect(ipv6Text([1, 0, 2, 3, 4, 5, 6, 7])).toBe('1:0:2:3:4:5:6:7'); // one zero group stays
    expect(parsePrefixLengths('24')).toEqual({ v4: 24, v6: 64 });
    expect(parsePrefixLengths('24/48')).toEqual({ v4: 24, v6: 48 });
    for (const bad of ['', '33', '24/129', '24/', 'x', '1/2/3', '-1']) expect(typeof parsePrefixLengths(bad), bad).toBe('string');
    const cache = new PrefixCache({ v4: 16, v6: 32 });
    expect(cache.of('10.1.2.3')).toBe('10.1.0.0/16');
    expect(cache.of('10.1.2.3')).toBe('10.1.0.0/16');
    expect(cache.of('nope')).toBeUndefined();
    expect(cache.of('nope')).toBeUndefined();
  });
});
