/**
 * What an error message may quote of its input: a recognisable head of the line or field, never
 * the whole of it, and never a raw control byte that a terminal would act on.
 */
import { describe, expect, it } from 'vitest';
import { EXCERPT_MAX, excerpt, inputError } from '../src/errors.js';

describe('excerpt', () => {
  it('keeps short text as it is, trailing white space dropped', () => {
    expect(excerpt('12.5 M  ')).toBe('12.5 M');
    expect(excerpt('a'.repeat(EXCERPT_MAX))).toBe('a'.repeat(EXCERPT_MAX));
  });

  it('cuts long text to 200 characters, "..." included (fewer when the caller asks)', () => {
    const cut = excerpt('x'.repeat(50_000_000));
    expect(cut).toHaveLength(EXCERPT_MAX);
    expect(cut.endsWith('...')).toBe(true);
    expect(excerpt('abcdefgh', 5)).toBe('ab...');
  });

  it('escapes control characters, so raw bytes never reach the terminal', () => {
    expect(excerpt('a\u001b[2Jb\tc\nd\u0000e\u007ff\u202eg')).toBe('a\\x1b[2Jb\\tc\\nd\\x00e\\x7ff\\u202eg');
    // an escape counts with its length: nothing past the limit
    expect(excerpt('\u0001'.repeat(100), 20)).toBe('\\x01\\x01\\x01\\x01...');
  });
});

describe('FlowknnError.format', () => {
  it('escapes control characters and cuts overlong lines even where a message forgot excerpt', () => {
    const text = inputError(`got "${'y'.repeat(10_000)}\u001b[31m"`, { file: 'f.csv', line: 3 }).format();
    expect(text.startsWith('f.csv:3: got "yyy')).toBe(true);
    expect(text.length).toBeLessThan(2100);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/u);
  });
});
