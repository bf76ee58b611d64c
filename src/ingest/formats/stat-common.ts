import { resolvedTimeZone } from '../../io/time-zone.js';
import type { OpenOptions } from '../format.js';
import type { ParseOptions, Reject } from '../issues.js';
import { FileRejects, validateThreshold } from '../rejects.js';

/**
 * What the statistics readers share: how the reject threshold applies to a line parser, and
 * the metadata of their tables.
 *
 * The line parsers count bad lines with LineIssues, which knows only a count: with a fraction
 * and no count they may reject any number, and the share is checked once the file is parsed,
 * with the message of every other reader.
 */
export function statThreshold(options: OpenOptions): ParseOptions {
  const base: ParseOptions = { maxRejects: options.maxRejects, rejects: options.rejects, zone: options.zone };
  if (options.maxRejectFraction === undefined) return base;
  validateThreshold(options);
  return { ...base, maxRejects: options.maxRejects ?? Number.POSITIVE_INFINITY };
}

export function checkShare(file: string, rows: number, rejects: readonly Reject[], options: OpenOptions): void {
  if (options.maxRejectFraction === undefined || rejects.length === 0) return;
  const share = new FileRejects(file, { maxRejectFraction: options.maxRejectFraction });
  for (const r of rejects) share.add(r.line, r.reason, r.raw);
  share.finish(rows + rejects.length);
}

/** Schema metadata of a statistics table: its source, format and the zone its times were read in. */
export function statMeta(file: string, format: string, options: OpenOptions): Record<string, string> {
  return { 'flowknn.source': file, 'flowknn.format': format, 'flowknn.time_zone': resolvedTimeZone(options.zone?.timeZone ?? 'UTC') };
}
