import { describe, expect, it } from 'vitest';
import { runNotify } from '../../src/pipeline/notify.js';
import { failure } from '../helpers/failure.js';

const env = { date: '2026-11-01', alerts: 1, summary: '/tmp/summary.json' };

describe('the notify command', () => {
  it('one that runs past its time is ended with everything it started, and the error says it timed out', async () => {
    const t0 = performance.now();
    // the shell forks: the sleep outlives a kill of the shell alone and holds its stderr open
    const err = await failure(runNotify({ shellCommand: 'sleep 30; echo done' }, '{}\n', env, 300));
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('did not finish within 0.3 s');
  }, 40_000);

  it('a command that fails: exit 3 with the end of its stderr', async () => {
    const err = await failure(runNotify({ shellCommand: 'cat > /dev/null; echo "no route to pager" >&2; exit 4' }, '{}\n', env));
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('exited with 4: no route to pager');
  });
});
