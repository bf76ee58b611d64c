import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const hasNfdump = await promisify(execFile)('nfpcapd', ['-h']).then(
  () => true,
  (e: { code?: unknown }) => e.code !== 'ENOENT',
);
// In CI nfdump is installed by .ci/run: a missing nfdump there is a failure, not a skip.
const run = hasNfdump || process.env.CI === 'true';

describe('nfdump 1.7 fixtures', () => {
  it.skipIf(!run)('are real nfdump output: regenerated from the seeded pcap through nfpcapd and nfdump, byte for byte (skipped where nfdump is not installed)', async () => {
    const { stdout } = await promisify(execFile)('bash', ['test/fixtures/gen/make-nfdump-fixtures.sh', '--check'], { cwd: ROOT, timeout: 120_000 });
    expect(stdout).toContain('fixtures are up to date');
  });
});
