import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Vitest's default (one worker fewer than the cores) runs the files one at a time on a
    // 2-core machine, while much of the suite waits on child processes (nfdump, softflowd, the
    // built CLI, Chromium): two files at once took the suite from 913 s to 608 s there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
