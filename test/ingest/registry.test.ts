import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { detectFromHead, detectInputFormat, FORMAT_CHOICES, formatByName, headOfText, INPUT_FORMATS, openInput } from '../../src/ingest/registry.js';
import { runMain } from '../helpers/cli.js';
import { failure } from '../helpers/failure.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';
import { nfdump17, SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';

/** The input-format registry: every format told from its first bytes, and only there. */

describe('format registry', () => {
  it('lists each format once, with a kind and a description; --format takes their names', () => {
    const names = INPUT_FORMATS.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const f of INPUT_FORMATS) {
      expect(['flow', 'stat', 'table']).toContain(f.kind);
      expect(f.description.length).toBeGreaterThan(10);
    }
    expect(FORMAT_CHOICES).toEqual(['auto', 'nfcapd', 'arrow', 'flow-json', 'stat-json', 'stat-csv', 'flow-csv', 'stat-text']);
    const err = (() => {
      try {
        formatByName('parquet');
      } catch (e) {
        return e as FlowknnError;
      }
      throw new Error('no error');
    })();
    expect(err.kind).toBe('usage');
    expect(err.hint).toContain('stat-text');
  });

  it.each([
    ['stat-dstip.txt', 'stat-text'],
    ['stat-dstip-plain.txt', 'stat-text'],
    ['stat-dstip-ipv6.txt', 'stat-text'],
    ['stat-dstip.csv', 'stat-csv'],
    ['flows.csv', 'flow-csv'],
    ['flows-nosummary.csv', 'flow-csv'],
    ['flows-1.7.5-layout.csv', 'flow-csv'],
  ])('nfdump 1.7.1 output %s is %s', async (file, format) => {
    expect((await detectInputFormat(nfdump17(file))).name).toBe(format);
  });

  it.each([
    ['{"cnt":1,"type":"FLOW","ident":"none","export_sysid":0,"first":"2026-11-01T10:04:56.377","last":"2026-11-01T10:05:01.265","in_packets":69,"in_bytes":2760}\n', 'flow-json'],
    ['[\n{\n\t"type" : "FLOW",\n\t"t_first" : "2026-12-21T03:02:58.239",\n\t"in_packets" : 372\n}\n]\n', 'flow-json'],
    ['{ "first" : "2026-11-01T10:08:50.788", "last" : "2026-11-01T10:08:51.362", "proto" : 0, "dstip" : "192.0.2.77", "flows" : 1, "packets" : 2, "bytes" : 80, "pps" : 3, "bps" : 1114, "bpp" : 40}\n', 'stat-json'],
    ['cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,output,flags,srcTos,packets,bytes\n', 'flow-csv'],
    ['No matching flows\nts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp\n', 'stat-csv'],
    ['No matching flows\n', 'no-match'],
    ['[\nNo matching flows\n\n]\n', 'no-match'],
  ])('text %j is %s', (text, format) => {
    expect(detectFromHead(headOfText(text, 'x')).name).toBe(format);
  });

  it('what is none of them says what was expected, with the line', () => {
    let err: FlowknnError | undefined;
    try {
      detectFromHead(headOfText('# notes\nhello world\n', 'notes.txt'));
    } catch (e) {
      err = e as FlowknnError;
    }
    expect(err?.kind).toBe('input');
    expect(err?.line).toBe(2);
    expect(err?.message).toMatch(/^not nfdump output: expected/u);
  });
});

describe.skipIf(!tools())('paths that are not regular files', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir('flowknn-registry-'));
  });
  afterAll(() => cleanup?.());

  it('a FIFO (nfdump piped in) is refused as a usage error before anything is read, not an ESPIPE crash', async () => {
    const fifo = join(dir, 'flows.fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer that would block forever if the path were opened for reading and then waited on.
    const writer = spawn('sh', ['-c', `cat '${nfdump17('flows.csv')}' > '${fifo}'`], { stdio: 'ignore' });
    try {
      for (const format of ['auto', 'flow-csv']) {
        const r = await runMain(['ingest', fifo, '--input-format', format, '--out', join(dir, `fifo-${format}.arrow`)]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain('is not a regular file (a pipe, socket or device)');
        expect(r.stderr).not.toMatch(/ESPIPE|at .*\.ts:/u);
      }
      expect((await failure(openInput('/dev/stdin', 'flow-csv'))).kind).toBe('usage');
    } finally {
      writer.kill();
    }
  });
});

describe.skipIf(!tools())('nfdump, one version a run', () => {
  let fx: NfcapdFixture;
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261101, 'test/ingest/registry.test.ts'));
  }, 60_000);
  afterAll(() => fx?.cleanup());

  it('ingest asks nfdump -V once and logs it; a folder of nfcapd files and statistics text read together', async () => {
    const out = join(fx.dir, 'flows.arrow');
    const r = await runMain(['ingest', ...fx.files, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/^nfdump 1\.7\.1 \(nfdump\)$/gmu)).toHaveLength(1);
    const { tableFromIPC } = await import('apache-arrow');
    const { readFile } = await import('node:fs/promises');
    expect(tableFromIPC(await readFile(out)).schema.metadata.get('flowknn.nfdump')).toBe('1.7.1');
    // classify of an nfcapd file says what to do (aggregate first), not that it cannot read it
    const model = join(fx.dir, 'model');
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet'])).code).toBe(0);
    const c = await runMain(['classify', fx.files[0]!, '--model', model, '--engine', 'cpu']);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('holds flow records');
  });

  it('a per-input time limit: a stuck nfdump fails its input alone, naming the limit', async () => {
    const stuck = join(fx.dir, 'stuck-nfdump');
    await writeFile(stuck, `#!/bin/sh\ncase " $* " in *" -V "*) echo 'nfdump: Version: 1.7.1'; exit 0;; esac\nsleep 30\n`, { mode: 0o755 });
    const started = Date.now();
    const r = await runMain(['ingest', fx.files[0]!, fx.files[1]!, '--nfdump', stuck, '--input-timeout', '1', '--out', join(fx.dir, 'stuck.arrow')]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('did not finish reading it within 1 s (the per-input time limit)');
    expect((await runMain(['ingest', fx.files[0]!, '--input-timeout', '0', '--out', join(fx.dir, 'x.arrow')])).code).toBe(2);
  }, 30_000);
});

function tools(): boolean {
  return hasNfdumpTools();
}
