import { describe, expect, it } from 'vitest';
import { parseDateTime, parseDuration, parseHumanNumber, parsePlainNumber, type Parsed } from '../../src/ingest/fields.js';

function value<T>(p: Parsed<T>): T {
  if (!p.ok) throw new Error(`expected a value, got failure: ${p.expected}`);
  return p.value;
}

function failure<T>(p: Parsed<T>): string {
  if (p.ok) throw new Error(`expected a failure, got ${String(p.value)}`);
  return p.expected;
}

describe('parseHumanNumber', () => {
  it('reads plain integers as they are', () => {
    expect(value(parseHumanNumber('127800'))).toBe(127800);
    expect(value(parseHumanNumber('0'))).toBe(0);
    expect(value(parseHumanNumber('  35252 '))).toBe(35252);
  });

  it('applies decimal units with or without a blank before the unit', () => {
    expect(value(parseHumanNumber('1.3 M'))).toBe(1300000);
    expect(value(parseHumanNumber('1.3M'))).toBe(1300000);
    expect(value(parseHumanNumber('52.6 M'))).toBe(52600000);
    expect(value(parseHumanNumber('52.6 G'))).toBe(52600000000);
    expect(value(parseHumanNumber('144.8 M'))).toBe(144800000);
    expect(value(parseHumanNumber('2 T'))).toBe(2000000000000);
  });

  it('treats k and K alike, as 1000 (not 1024)', () => {
    expect(value(parseHumanNumber('1.8 k'))).toBe(1800);
    expect(value(parseHumanNumber('1.8 K'))).toBe(1800);
    expect(value(parseHumanNumber('1.8K'))).toBe(1800);
  });

  it('gives the nearest double to the decimal value (no double rounding)', () => {
    // 0.1 * 1e6 style products can miss; the parser must equal the literal.
    for (const [text, expected] of [
      ['0.7 M', 700000],
      ['4.7 G', 4.7e9],
      ['125.6 G', 125.6e9],
      ['18.2 G', 18.2e9],
      ['1.1 T', 1.1e12],
    ] as const) {
      expect(value(parseHumanNumber(text)), text).toBe(expected);
    }
  });

  it('rejects an unknown unit, naming the unit', () => {
    const msg = failure(parseHumanNumber('1.3 X'));
    expect(msg).toMatch(/unit/i);
    expect(msg).toContain('1.3 X');
    expect(msg).toMatch(/k, K, M, G or T/);
  });

  it('rejects text that is not a number', () => {
    expect(failure(parseHumanNumber('abc'))).toContain('"abc"');
    expect(parseHumanNumber('').ok).toBe(false);
    expect(parseHumanNumber('1.3 MM').ok).toBe(false);
    expect(parseHumanNumber('35x52').ok).toBe(false);
    expect(parseHumanNumber('1,300').ok).toBe(false);
  });
});

describe('parsePlainNumber', () => {
  it('reads CSV numbers and rejects units and blanks', () => {
    expect(value(parsePlainNumber('16639781'))).toBe(16639781);
    expect(value(parsePlainNumber('2.256'))).toBe(2.256);
    expect(value(parsePlainNumber('    0.000'))).toBe(0);
    expect(parsePlainNumber('1.3 M').ok).toBe(false);
    expect(parsePlainNumber('').ok).toBe(false);
    expect(failure(parsePlainNumber('x1'))).toContain('"x1"');
  });
});

describe('parseDuration', () => {
  it('reads nfdump 1.6 seconds with milliseconds', () => {
    expect(value(parseDuration('387.262'))).toBe(387.262);
    expect(value(parseDuration('2.904'))).toBe(2.904);
    expect(value(parseDuration('4295562.914'))).toBe(4295562.914);
    expect(value(parseDuration('0.000'))).toBe(0);
  });

  it('reads nfdump 1.7 HH:MM:SS.mmm to exactly the same double as the seconds form', () => {
    expect(value(parseDuration('00:06:27.262'))).toBe(387.262);
    expect(value(parseDuration('00:00:02.904'))).toBe(2.904);
    expect(value(parseDuration('00:02:29.965'))).toBe(149.965);
    expect(value(parseDuration('00:13:02.526'))).toBe(782.526);
    expect(value(parseDuration('01:00:00.000'))).toBe(3600);
    expect(value(parseDuration('00:00:05'))).toBe(5);
  });

  it('reads the day prefix nfdump 1.7 prints past 24 hours', () => {
    expect(value(parseDuration('1d 02:00:00.500'))).toBe(93600.5);
    // The seed's longest duration, 4295562.914 s, as 1.7 would print it: 49d 17:12:42.914.
    expect(value(parseDuration('49d 17:12:42.914'))).toBe(4295562.914);
  });

  it('rejects what is not a duration, saying what was expected', () => {
    for (const bad of ['', 'abc', '-1.5', '1:2:3', '00:06', '00:06:27.2621', '2.9s', '1d', '00:75:00', '00:00:60.000']) {
      const msg = failure(parseDuration(bad));
      expect(msg, bad).toMatch(/387\.262 or 00:06:27\.262/);
    }
  });
});

describe('parseDateTime', () => {
  it('reads nfdump time stamps as UTC epoch milliseconds', () => {
    expect(value(parseDateTime('2015-02-26 14:01:11.476'))).toBe(Date.UTC(2015, 1, 26, 14, 1, 11, 476));
    expect(value(parseDateTime('2026-11-01 10:05:25'))).toBe(Date.UTC(2026, 10, 1, 10, 5, 25));
    expect(value(parseDateTime('2026-11-01T10:05:25.008'))).toBe(Date.UTC(2026, 10, 1, 10, 5, 25, 8));
    expect(value(parseDateTime('2015-03-11 13:21:24.7'))).toBe(Date.UTC(2015, 2, 11, 13, 21, 24, 700));
  });

  it('rejects malformed or impossible times', () => {
    for (const bad of ['', 'yesterday', '2015-02-26', '2015-02-26 14:01', '26/02/2015 14:01:11', '2015-13-01 00:00:00', '2015-02-26 24:00:00', '2015-02-26 14:61:00']) {
      expect(parseDateTime(bad).ok, bad).toBe(false);
    }
    expect(failure(parseDateTime('yesterday'))).toContain('yesterday');
  });

  it('rejects calendar dates that do not exist instead of rolling them into the next month', () => {
    // Date.UTC(2015, 1, 30) is 2015-03-02: a hand-edited "2015-02-30" must not become March 2.
    for (const bad of ['2015-02-30 00:00:00', '2015-04-31 12:00:00', '2015-02-29 00:00:00']) {
      expect(parseDateTime(bad).ok, bad).toBe(false);
    }
    expect(value(parseDateTime('2016-02-29 00:00:00'))).toBe(Date.UTC(2016, 1, 29));
  });
});
