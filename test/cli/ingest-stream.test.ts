import { tableFromIPC } from 'apache-arrow';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInput } from '../../src/ingest/read.js';
import { runMain } from '../helpers/cli.js';
import { NFDUMP17_DIR } from '../helpers/paths.js';

describe('ingest of one flow CSV dump streams it to Arrow', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flowknn-ingest-stream-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the same rows and values as reading the file whole', async () => {
    const src = join(NFDUMP17_DIR, 'flows.csv');
    const out = join(dir, 'flows.arrow');
    const r = await runMain(['ingest', src, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/254 rows \(flow-csv, streamed\)/u);
    const got = tableFromIPC(await readFile(out));
    const want = (await readInput(src)).table;
    expect(got.numRows).toBe(254);
    expect(got.schema.metadata.get('flowknn.kind')).toBe('flow');
    for (const col of ['first_seen', 'dst_addr', 'dst_port', 'proto', 'in_packets', 'in_bytes']) {
      expect(got.getChild(col)!.toArray(), col).toEqual(want.getChild(col)!.toArray());
    }
  });

  it('a trailer that disagrees fails with file and line, and writes nothing', async () => {
    const bad = join(dir, 'badsum.csv');
    await writeFile(bad, (await readFile(join(NFDUMP17_DIR, 'flows.csv'), 'utf8')).replace(/^254,/mu, '250,'));
    const out = join(dir, 'bad.arrow');
    const r = await runMain(['ingest', bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/badsum\.csv:\d+: the Summary trailer counts 250 flows/u);
    expect((await readdir(dir)).filter((f) => f.startsWith('bad.arrow') || f.startsWith('.bad.arrow'))).toEqual([]);
  });
});
