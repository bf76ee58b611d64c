import cliProgress from 'cli-progress';
import type { CliContext } from './context.js';

export interface Progress {
  /** Sets the count done so far, and optionally the text after the bar (rows, MB/s...). */
  update(done: number, info?: string): void;
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr when it is a terminal; nothing at all otherwise (logs of
 * scheduled runs stay clean) or with --quiet.
 */
export function progressBar(ctx: CliContext, label: string, total: number, unit: string): Progress {
  const stream = ctx.stderr as NodeJS.WriteStream;
  if (ctx.quiet || !stream.isTTY || total < 2) return NONE;
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} ${unit} {percentage}% | {duration_formatted}{info}`, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  return {
    update: (done, info) => bar.update(done, { info: info ? ` | ${info}` : '' }),
    stop: () => bar.stop(),
  };
}

/** A `(done, total, info?)` callback that shows a bar once the total is known and clears it at the end. */
export function progressUpdater(ctx: CliContext, label: string, unit = 'folds'): (done: number, total: number, info?: string) => void {
  let bar: Progress | undefined;
  return (done, total, info) => {
    bar ??= progressBar(ctx, label, total, unit);
    bar.update(done, info);
    if (done >= total) bar.stop();
  };
}

/** Throughput for a progress line: rows read and MB/s of input since `startMs` (performance.now()). */
export function throughput(rows: number, bytes: number, startMs: number): string {
  const seconds = Math.max(1e-3, (performance.now() - startMs) / 1000);
  return `${rows.toLocaleString('en-US')} rows | ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`;
}
