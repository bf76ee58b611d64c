import cliProgress from 'cli-progress';
import type { CliContext } from './context.js';

export interface Progress {
  /** Sets the count done so far. */
  update(done: number): void;
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
    { stream, format: `${label} [{bar}] {value}/{total} ${unit} {percentage}% | {duration_formatted}`, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}

/** A `(done, total)` callback that shows a bar once the total is known and clears it at the end. */
export function progressUpdater(ctx: CliContext, label: string, unit = 'folds'): (done: number, total: number) => void {
  let bar: Progress | undefined;
  return (done, total) => {
    bar ??= progressBar(ctx, label, total, unit);
    bar.update(done);
    if (done >= total) bar.stop();
  };
}
