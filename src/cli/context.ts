import type { Writable } from 'node:stream';

/** What a command may touch besides its arguments: passed in, never module-level state, so
 *  tests can run commands in-process with their own streams. */
export interface CliContext {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Progress and notes (stderr); silent with --quiet. */
  log(message: string): void;
  readonly quiet: boolean;
  /** Set by a command whose job ran but some inputs failed (exit 1). */
  partialFailure: boolean;
}

export function makeContext(stdout: Writable, stderr: Writable, quiet = false): CliContext {
  return {
    stdout,
    stderr,
    quiet,
    log: (message: string) => {
      if (!quiet) stderr.write(`${message}\n`);
    },
    partialFailure: false,
  };
}
