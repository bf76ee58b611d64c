import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { FlowAggregator } from '../../src/features/aggregate.js';
import { aggregateFlowInput } from '../../src/ingest/aggregate-input.js';
import { nfcapdFormat } from '../../src/ingest/formats/nfcapd.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';

/**
 * When nfdump itself fails on a file's aggregates (`-A`), the file fails once: it is not read a
 * second time as flows, which would fail the same way in twice the time. nfdump is the real one,
 * behind a wrapper that logs each run and, for `-A`, stalls past the time limit.
 */

const ready = hasNfdumpTools();
let fx: NfcapdFixture;
let wrapper: string;
let log: string;

describe.skipIf(!ready && process.env.CI !== 'true')('nfdump failing on a file aggregated by nfdump -A', () => {
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261206, 'test/ingest/aggregate-input-failures.test.ts'));
    log = join(fx.dir, 'nfdump-runs.log');
    wrapper = join(fx.dir, 'nfdump-stalling-on-A');
    // -V (the version probe) and flow reads run the real nfdump; -A sleeps past the limit
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> '${log}'\nfor a in "$@"; do [ "$a" = "-A" ] && exec sleep 30; done\nexec nfdump "$@"\n`);
    await chmod(wrapper, 0o755);
  }, 120_000);
  afterAll(() => fx?.cleanup());

  it('a time limit passed by nfdump -A fails the file once, naming the limit; no second read as flows', async () => {
    await writeFile(log, '');
    const agg = new FlowAggregator({ key: 'dstip', window: 'whole' });
    const err = await aggregateFlowInput(fx.files[0]!, nfcapdFormat, agg, { nfdump: { nfdump: wrapper, timeoutS: 1 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlowknnError);
    expect((err as FlowknnError).message).toContain('within 1 s');
    const runs = (await readFile(log, 'utf8')).trim().split('\n').filter((l) => l !== '-V');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toContain('-A dstip');
    // the same file without the wrapper's stall is read as nfdump's aggregates
    const ok = await aggregateFlowInput(fx.files[0]!, nfcapdFormat, new FlowAggregator({ key: 'dstip', window: 'whole' }), {});
    expect(ok.via).toMatch(/^-A dstip/u);
  }, 60_000);
});
