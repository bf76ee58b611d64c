import { excerpt, inputError, type FlowknnError } from '../../errors.js';
import type { NfcapdHeader } from './nfcapd-file.js';

/**
 * What nfdump says on stderr, line by line. nfdump 1.7 exits 0 on a truncated or corrupt file
 * and says so only on stderr, so by default a line on stderr fails the input. Two kinds of
 * line are known and judged apart:
 *
 * - harmless warnings: nfdump read every flow and says it passed over something it does not
 *   use. They are counted (the run's manifest and summary record them) and do not fail the
 *   input, provided nfdump exits 0 and the flow totals check out (the readers check them).
 *   `Skip unknown record type 9` is nfdump 1.7 reading an nfcapd file of nfdump 1.6 written
 *   from a NetFlow v9 or IPFIX exporter: type 9 is 1.6's sampler record (7 and 8 its exporter
 *   records), which 1.7 has replaced.
 * - version mismatches: the file was written by a newer nfdump than the one reading it.
 *   `Unknown extension 'N'` (per record) is 1.7.1 meeting an extension added later (38 in
 *   files of 1.7.8's nfcapd from NetFlow v9/IPFIX); `bad version: 2` is 1.6 meeting a 1.7
 *   file. The flows printed are incomplete or absent: the input fails with a message naming
 *   both versions and what to do.
 */

export interface NfdumpWarning {
  /** The line with its numbers kept (`Skip unknown record type 9`). */
  readonly message: string;
  readonly count: number;
}

const HARMLESS: readonly RegExp[] = [/^Skip unknown record type \d+$/u];
const UNKNOWN_EXTENSION = /^Unknown extension '(\d+)'$/u;
const BAD_LAYOUT = /bad version: (\d+)$/u;

/** The reader's side, for messages: which nfdump read which file. */
export interface StderrContext {
  readonly file: string;
  readonly reader?: string;
  readonly header?: NfcapdHeader;
}

/** Stderr as it comes: known lines are counted, others kept (up to a limit) to fail the input. */
export class StderrJudge {
  private readonly warnings = new Map<string, number>();
  private unknown = '';
  private unknownLines = 0;
  private extension: string | undefined;
  private badLayout: string | undefined;
  private partial = '';

  constructor(
    private readonly ctx: StderrContext,
    private readonly keepBytes = 16 * 1024,
  ) {}

  write(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
  }

  private line(raw: string): void {
    const line = raw.replace(/\r$/u, '').trim();
    if (line === '') return;
    if (HARMLESS.some((re) => re.test(line))) {
      this.warnings.set(line, (this.warnings.get(line) ?? 0) + 1);
      return;
    }
    const ext = UNKNOWN_EXTENSION.exec(line);
    if (ext) {
      this.extension ??= ext[1];
      return;
    }
    const layout = BAD_LAYOUT.exec(line);
    if (layout) {
      this.badLayout ??= layout[1];
      return;
    }
    this.unknownLines++;
    if (this.unknown.length < this.keepBytes) this.unknown += `${this.unknown ? '; ' : ''}${line}`.slice(0, this.keepBytes - this.unknown.length);
  }

  /** The harmless warnings, most frequent first. */
  get counted(): NfdumpWarning[] {
    return [...this.warnings].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count || (a.message < b.message ? -1 : 1));
  }

  /** Unknown lines seen (0: stderr held only known lines, or nothing). */
  get unknownCount(): number {
    return this.unknownLines;
  }

  /** The text of the unknown lines, joined with `; `. */
  get unknownText(): string {
    return this.unknown;
  }

  /** The failure a version mismatch means, if stderr showed one. */
  mismatch(): FlowknnError | undefined {
    if (this.extension !== undefined) return versionMismatch(this.ctx, `it does not know the record extension ${this.extension} the file uses`);
    if (this.badLayout !== undefined) return versionMismatch(this.ctx, `it reads only nfcapd files of layout 1 (nfdump 1.6); this one has layout ${this.badLayout}`);
    return undefined;
  }
}

/** An input error naming the reader and the writer of a file and what to do. */
export function versionMismatch(ctx: StderrContext, why: string): FlowknnError {
  const reader = ctx.reader ? `nfdump ${ctx.reader}` : 'this nfdump';
  const h = ctx.header;
  const writer = h?.writer ? `nfdump ${h.writer}${h.creator ? ` (${h.creator})` : ''}` : h?.layout === 1 ? 'nfdump 1.6' : 'another nfdump release';
  const newer = h?.writer ? `nfdump ${h.writer} or later` : 'a newer nfdump';
  return inputError(
    `nfdump version mismatch: the file was written by ${writer}; ${reader}, which read it, cannot read it: ${why}`,
    { file: ctx.file },
    `read it with ${newer} (--nfdump PATH on the command line, or "nfdump" in the nightly config)`,
  );
}

/** The unknown stderr text as an input error (nfdump exits 0 on damaged files). */
export function stderrFailure(ctx: StderrContext, text: string): FlowknnError {
  return inputError(`nfdump reported an error: ${excerpt(text, 400)}`, { file: ctx.file }, 'a truncated or corrupt nfcapd file? (nfdump -v FILE checks it)');
}
