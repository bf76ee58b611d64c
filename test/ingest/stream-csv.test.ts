import { Table, type RecordBatch } from 'apache-arrow';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { parseFlowCsv } from '../../src/ingest/csv.js';
import type { Reject } from '../../src/ingest/issues.js';
import { readInput } from '../../src/ingest/read.js';
import { csvField } from '../../src/io/csv.js';
import { FileRejects, RejectsWriter } from '../../src/ingest/rejects.js';
import type { FlowCsvStreamOptions } from '../../src/ingest/flow-csv/parser.js';
import { parseFlowCsvChunks, readFlowCsvFrom, readFlowCsvStream } from '../../src/ingest/flow-csv/stream.js';
import { stopFlowCsvWorkers } from '../../src/ingest/flow-csv/workers.js';
import { writeArrowStream } from '../../src/io/arrow-stream.js';
import { readArrowFile } from '../../src/schema/arrow.js';
import { FLOW_FIELDS } from '../../src/schema/tables.js';
import { nfdump17, REPO_ROOT } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';
import { failure } from '../helpers/failure.js';

const FIXTURES = ['flows.csv', 'flows-nosummary.csv', 'flows-1.7.5-layout.csv'] as const;
const bytesOf = (name: string) => readFileSync(nfdump17(name));
const textOf = (name: string) => readFileSync(nfdump17(name), 'utf8');

/** Every value of every column, as Arrow's get() gives them. */
function values(table: Table): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const f of table.schema.fields) {
    const col = table.getChild(f.name)!;
    out[f.name] = Array.from({ length: table.numRows }, (_, i) => col.get(i));
  }
  return out;
}

function expectSameTable(actual: Table, expected: Table, label: string): void {
  expect(actual.numRows, label).toBe(expected.numRows);
  expect(
    actual.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
    label,
  ).toEqual(expected.schema.fields.map((f) => [f.name, String(f.type), f.nullable]));
  const a = values(actual);
  const e = values(expected);
  for (const name of Object.keys(e)) {
    // Object.is: -0 and NaN count, and numbers must be the same double.
    const diff = e[name]!.findIndex((v, i) => !Object.is(v, a[name]![i]));
    expect(diff, `${label}: column ${name} differs first at row ${diff}: ${String(e[name]![diff])} vs ${String(a[name]![diff])}`).toBe(-1);
  }
}

async function collect(stream: AsyncIterable<RecordBatch>): Promise<Table> {
  const batches: RecordBatch[] = [];
  for await (const b of stream) batches.push(b);
  return new Table(batches);
}


/** The fixture's data lines (1-based line numbers as in the file). */
function editLines(name: string, edit: (lines: string[]) => void): string {
  const lines = textOf(name).split('\n');
  edit(lines);
  return lines.join('\n');
}

/** Replaces field `k` (0-based) of line `n` (1-based). */
function setField(lines: string[], n: number, k: number, value: string): void {
  const cells = lines[n - 1]!.split(',');
  cells[k] = value;
  lines[n - 1] = cells.join(',');
}

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('flowknn-stream-'));
});
afterAll(async () => {
  await stopFlowCsvWorkers();
  await cleanup();
});

describe('stream parser = parseFlowCsv on the real nfdump outputs', () => {
  for (const name of FIXTURES) {
    it(`${name}: same table as readInput, one thread, batches of 100`, async () => {
      const expected = (await readInput(nfdump17(name))).table;
      const stream = readFlowCsvStream(nfdump17(name), { batchRows: 100 });
      const table = await collect(stream);
      expectSameTable(table, expected, name);
      expect(table.batches.map((b) => b.numRows)).toEqual([100, 100, 54]);
      expect(table.schema.metadata.get('flowknn.kind')).toBe('flow');
      expect(stream.stats.rows).toBe(254);
      expect(stream.stats.rejected).toBe(0);
    });

    it(`${name}: same table with 2 parse threads and small blocks`, async () => {
      const expected = (await readInput(nfdump17(name))).table;
      for (const blockBytes of [700, 4096, 30_000]) {
        const table = await collect(readFlowCsvStream(nfdump17(name), { threads: 2, blockBytes, batchRows: 64 }));
        expectSameTable(table, expected, `${name} blocks of ${blockBytes}`);
      }
    });
  }

  it('layouts are told apart; the Summary trailer is read and agrees', async () => {
    const layouts: Record<string, unknown> = {};
    for (const name of FIXTURES) {
      const s = readFlowCsvStream(nfdump17(name));
      await collect(s);
      layouts[name] = s.stats.layout;
      if (name === 'flows.csv') expect(s.stats.summary).toMatchObject({ flows: 254, bytes: 16639781, packets: 15757 });
      else expect(s.stats.summary).toBeUndefined();
    }
    expect(layouts).toEqual({
      'flows.csv': 'nfdump-1.6/1.7.4',
      'flows-nosummary.csv': 'nfdump-1.6/1.7.4 -q (no header)',
      'flows-1.7.5-layout.csv': 'nfdump-1.7.5+',
    });
  });

  it('header-less -q output: data from line 1, the legacy columns', async () => {
    const t = await collect(readFlowCsvStream(nfdump17('flows-nosummary.csv')));
    expect(t.getChild('source_line')!.get(0)).toBe(1);
    expect(t.getChild('proto')!.get(0)).toBe('UDP');
    expect(t.getChild('tcp_flags')!.get(0)).toBe('........');
  });

  it('1.7.5+ layout: milliseconds, numeric protocols named, absent columns null', async () => {
    const t = await collect(readFlowCsvStream(nfdump17('flows-1.7.5-layout.csv')));
    expect(t.getChild('first_seen')!.get(0)).toBe(Date.UTC(2026, 10, 1, 10, 0, 3, 920));
    expect(new Set(values(t).proto)).toEqual(new Set(['TCP', 'UDP']));
    expect(values(t).tcp_flags!.every((v) => v === null)).toBe(true);
    expect(values(t).out_bytes!.every((v) => v === null)).toBe(true);
  });

  it('CRLF line ends and a UTF-8 BOM give the same table', () => {
    const crlf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(textOf('flows.csv').replace(/\n/g, '\r\n'))]);
    const expected = new Table(parseFlowCsvChunks(bytesOf('flows.csv'), 'a').batches);
    expectSameTable(new Table(parseFlowCsvChunks(crlf, 'b').batches), expected, 'crlf');
  });
});

describe('chunks and blocks', () => {
  it('a chunk boundary at every byte position of a small file changes nothing', () => {
    // The header, 12 records of both address families and the trailer (counts edited to match).
    const lines = textOf('flows.csv').split('\n');
    const rows = lines.slice(1, 13);
    const packets = rows.reduce((a, l) => a + Number(l.split(',')[11]), 0);
    const bytes = rows.reduce((a, l) => a + Number(l.split(',')[12]), 0);
    const text = [lines[0], ...rows, 'Summary', 'flows,bytes,packets,avg_bps,avg_pps,avg_bpp', `12,${bytes},${packets},1,1,1`, ''].join('\n');
    const all = Buffer.from(text);
    const expected = new Table(parseFlowCsvChunks(all, 'small.csv').batches);
    expect(expected.numRows).toBe(12);
    for (let p = 1; p < all.length; p++) {
      const parts = [all.subarray(0, p), all.subarray(p)];
      const batches: RecordBatch[] = [];
      const got = parseFlowCsvChunks(Buffer.concat(parts), 'small.csv', { batchRows: 5 }, p);
      batches.push(...got.batches);
      expectSameTable(new Table(batches), expected, `split at ${p}`);
    }
  });

  it('tiny reads from the file (every size 1..23 bytes) give the same table', async () => {
    const expected = (await readInput(nfdump17('flows.csv'))).table;
    for (let hw = 1; hw <= 23; hw++) {
      const t = await collect(readFlowCsvStream(nfdump17('flows.csv'), { highWaterMark: hw, batchRows: 1000 }));
      expectSameTable(t, expected, `reads of ${hw} bytes`);
    }
  });

  it('any byte source works (readFlowCsvFrom), chunked oddly', async () => {
    const data = bytesOf('flows-1.7.5-layout.csv');
    async function* chunks() {
      for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7) % 500 + 1) yield data.subarray(i, i + n);
    }
    const t = await collect(readFlowCsvFrom(chunks(), 'stdin'));
    expectSameTable(t, (await readInput(nfdump17('flows-1.7.5-layout.csv'))).table, 'source');
  });
});

describe('gzip', () => {
  it('.gz (told by its magic bytes, whatever the name) gives the same table', async () => {
    const file = join(dir, 'flows.csv.gz');
    await writeFile(file, gzipSync(bytesOf('flows.csv')));
    const other = join(dir, 'flows-gz-no-suffix.csv');
    await writeFile(other, gzipSync(bytesOf('flows.csv')));
    const expected = (await readInput(nfdump17('flows.csv'))).table;
    for (const f of [file, other]) {
      for (const threads of [1, 2]) {
        const s = readFlowCsvStream(f, { threads, blockBytes: 8192 });
        expectSameTable(await collect(s), expected, `${f} threads ${threads}`);
        expect(s.stats.gzip).toBe(true);
      }
    }
  });

  it('a truncated gzip file fails with a clear message', async () => {
    const file = join(dir, 'cut.csv.gz');
    const gz = gzipSync(bytesOf('flows.csv'));
    await writeFile(file, gz.subarray(0, Math.floor(gz.length / 2)));
    const err = await failure(collect(readFlowCsvStream(file)));
    expect(err.file).toBe(file);
    expect(err.message).toMatch(/gzip data is corrupt or truncated/);
  });
});

describe('bad input', () => {
  it('a wrong header fails naming the file and line', () => {
    const text = Buffer.from(textOf('stat-dstip.csv'));
    const err = (() => {
      try {
        parseFlowCsvChunks(text, 'stat.csv');
      } catch (e) {
        return e as FlowknnError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(FlowknnError);
    expect(err!.file).toBe('stat.csv');
    expect(err!.line).toBe(1);
    expect(err!.message).toMatch(/expected the nfdump flow CSV header/);
    const noBytes = Buffer.from(textOf('flows.csv').replace(',ipkt,ibyt,', ',ipkt,ixxx,'));
    expect(() => parseFlowCsvChunks(noBytes, 'h.csv')).toThrow(/header lacks bytes/);
  });

  it('a Summary trailer that disagrees with the rows fails naming the file', async () => {
    const file = join(dir, 'flows-cut.csv');
    await writeFile(file, editLines('flows.csv', (l) => l.splice(100, 1)));
    for (const threads of [1, 2]) {
      const err = await failure(collect(readFlowCsvStream(file, { threads, blockBytes: 4096 })));
      expect(err.file).toBe(file);
      expect(err.message).toMatch(/Summary trailer counts 254 flows but the 253 records/);
      expect(err.format()).toContain(file);
    }
    // Flows right, bytes wrong.
    const bytesOff = join(dir, 'flows-bytes.csv');
    await writeFile(bytesOff, textOf('flows.csv').replace('254,16639781,15757', '254,16639780,15757'));
    expect((await failure(collect(readFlowCsvStream(bytesOff)))).message).toMatch(/counts 16639780 bytes/);
  });

  it('non-UTF-8 bytes: the row is rejected with the reason, or the file fails', async () => {
    const lines = textOf('flows.csv').split('\n');
    // Line 6: the source address gets a byte 0xff (Latin-1 "ÿ"), not UTF-8.
    const cells = lines[5]!.split(',');
    const bad = Buffer.concat([
      Buffer.from(`${lines.slice(0, 5).join('\n')}\n${cells.slice(0, 3).join(',')},10.0.`),
      Buffer.from([0xff]),
      Buffer.from(`.1,${cells.slice(4).join(',')}\n${lines.slice(6).join('\n')}`),
    ]);
    expect(bad.includes(Buffer.from([0xff]))).toBe(true);
    const err = await failure(() => parseFlowCsvChunks(bad, 'latin1.csv'));
    expect(err.file).toBe('latin1.csv');
    expect(err.line).toBe(6);
    expect(err.message).toMatch(/not valid UTF-8/);
    const ok = parseFlowCsvChunks(bad, 'latin1.csv', { maxRejects: 1 });
    expect(ok.stats.rows).toBe(253);
    expect(ok.rejects.first[0]).toMatchObject({ line: 6, reason: expect.stringMatching(/address: not valid UTF-8/) });
    // In the header: not a flow CSV header.
    const head = Buffer.concat([Buffer.from([0xff, 0xfe]), bytesOf('flows.csv')]);
    expect((await failure(() => parseFlowCsvChunks(head, 'h.csv'))).message).toMatch(/flow CSV header lacks first seen/);
  });

  it('negative or absurd values are rejected with reasons', () => {
    // flows.csv columns: 0 ts, 1 te, 2 td, 5 sp, 6 dp, 11 ipkt, 12 ibyt.
    const cases: [number, number, string, RegExp][] = [
      [2, 2, '-1.500', /duration: negative/],
      [3, 11, '9007199254740993', /packets: 9007199254740993 is above 2\^53 - 1/],
      [4, 12, '-88', /bytes: negative/],
      [5, 5, '70000', /source port: expected a port 0\.\.65535/],
      [6, 6, '300.1', /destination port: expected an ICMP type\.code with both parts 0\.\.255/],
      [7, 0, '2026-02-30 10:00:00', /first seen: expected a valid date/],
      [8, 11, '1.5', /packets: expected a whole number/],
      [9, 2, '999999999999', /duration: expected a duration from 0 to 10 years/],
      [10, 12, '1e999', /bytes: .* above 2\^53 - 1/],
    ];
    const text = editLines('flows.csv', (l) => {
      for (const [line, k, v] of cases) setField(l, line, k, v);
    });
    const err = (() => {
      try {
        parseFlowCsvChunks(Buffer.from(text), 'absurd.csv');
      } catch (e) {
        return e as FlowknnError;
      }
      return undefined;
    })();
    expect(err?.line).toBe(2);
    expect(err?.message).toMatch(/duration: negative/);
    const seen: Reject[] = [];
    const r = parseFlowCsvChunks(Buffer.from(text), 'absurd.csv', { maxRejects: cases.length, rejects: { add: (x) => seen.push(x) } });
    expect(r.stats.rows).toBe(254 - cases.length);
    expect(seen.map((x) => x.line)).toEqual(cases.map((c) => c[0]));
    for (const [i, c] of cases.entries()) expect(seen[i]!.reason, `line ${c[0]}`).toMatch(c[3]);
    expect(seen[0]!.raw).toBe(text.split('\n')[1]);
    // The Summary still counts every record line, rejected ones included: no mismatch error.
    expect(r.stats.summary?.flows).toBe(254);
  });

  it('the 2^53 - 1 edge: 9007199254740991 is kept, 9007199254740992 is not', () => {
    const text = editLines('flows-1.7.5-layout.csv', (l) => {
      setField(l, 2, 7, '9007199254740991');
      setField(l, 3, 8, '9007199254740992');
    });
    const seen: Reject[] = [];
    const r = parseFlowCsvChunks(Buffer.from(text), 'edge.csv', { maxRejects: 5, rejects: { add: (x) => seen.push(x) } });
    const t = new Table(r.batches);
    expect(t.getChild('in_packets')!.get(0)).toBe(9007199254740991);
    expect(seen.map((x) => x.line)).toEqual([3]);
  });

  it('empty, header-only, binary and over-long inputs fail clearly', async () => {
    expect((await failure(() => parseFlowCsvChunks(Buffer.alloc(0), 'e.csv'))).message).toMatch(/no CSV header/);
    const header = textOf('flows.csv').split('\n')[0]!;
    expect((await failure(() => parseFlowCsvChunks(Buffer.from(`${header}\n`), 'h.csv'))).message).toMatch(/no data lines/);
    expect((await failure(() => parseFlowCsvChunks(Buffer.from(`${header}\n\0\0\0`), 'b.csv'))).message).toMatch(/binary data/);
    const long = Buffer.from(`${header}\n${'1'.repeat(5000)}\n${textOf('flows-nosummary.csv')}`);
    const seen: Reject[] = [];
    const r = parseFlowCsvChunks(long, 'l.csv', { maxLineBytes: 1000, maxRejects: 1, rejects: { add: (x) => seen.push(x) } }, 300);
    expect(r.stats.rows).toBe(254);
    expect(seen[0]).toMatchObject({ line: 2, reason: expect.stringMatching(/longer than 1000 bytes/) });
    expect(seen[0]!.raw.length).toBeLessThan(300);
    const err = await failure(() => parseFlowCsvChunks(Buffer.from('x'.repeat(5000)), 'x.csv', { maxLineBytes: 1000 }, 700));
    expect(err.message).toMatch(/longer than 1000 bytes: not nfdump CSV/);
    expect((await failure(collect(readFlowCsvStream(join(dir, 'missing.csv'))))).message).toBe('no such file');
  });
});

describe('rejects: threshold and rejects file', () => {
  /** flows.csv with `n` records made bad (packets "x") at lines 10, 20, 30, ... */
  const withBad = (n: number) =>
    Buffer.from(
      editLines('flows.csv', (l) => {
        for (let i = 1; i <= n; i++) setField(l, i * 10, 11, 'x');
      }),
    );

  it('a count threshold fails the file naming it and its first bad lines', async () => {
    const err = await failure(() => parseFlowCsvChunks(withBad(3), 'bad.csv', { maxRejects: 2 }));
    expect(err.file).toBe('bad.csv');
    expect(err.line).toBe(30);
    expect(err.message).toMatch(/3 bad lines, more than the 2 allowed/);
    expect(err.message).toContain('line 10: packets: expected a number, got "x"');
    expect(err.message).toContain('line 20:');
    expect(parseFlowCsvChunks(withBad(2), 'bad.csv', { maxRejects: 2 }).stats.rows).toBe(252);
  });

  it('a fraction threshold is checked at the end of the file', async () => {
    // 3 of 254 data lines = 1.18%.
    const err = await failure(() => parseFlowCsvChunks(withBad(3), 'frac.csv', { maxRejectFraction: 0.01 }));
    expect(err.message).toMatch(/3 of 254 data lines are bad \(1\.18%\), more than the 1\.00% allowed/);
    expect(err.message).toContain('line 10:');
    expect(parseFlowCsvChunks(withBad(3), 'frac.csv', { maxRejectFraction: 0.02 }).stats.rows).toBe(251);
    expect(() => new FileRejects('x', { maxRejectFraction: 2 })).toThrow(/between 0 and 1/);
  });

  it('the same rejects, in order, with 2 parse threads', async () => {
    const file = join(dir, 'bad-threads.csv');
    await writeFile(file, withBad(5));
    const seen: Reject[] = [];
    const s = readFlowCsvStream(file, { threads: 2, blockBytes: 2000, maxRejects: 5, rejects: { add: (r) => seen.push(r) } });
    const t = await collect(s);
    expect(t.numRows).toBe(249);
    expect(seen.map((r) => r.line)).toEqual([10, 20, 30, 40, 50]);
    expect(seen[0]!.file).toBe(file);
    const err = await failure(collect(readFlowCsvStream(file, { threads: 2, blockBytes: 2000, maxRejects: 4 })));
    expect(err.line).toBe(50);
  });

  it('the rejects CSV (file, line, reason, raw) is written atomically', async () => {
    const path = join(dir, 'rejects', 'rejects.csv');
    const w = await RejectsWriter.open(path);
    parseFlowCsvChunks(withBad(2), 'a "quoted", file.csv', { maxRejects: 2, rejects: w });
    // Not there before commit.
    expect((await listTree(join(dir, 'rejects'))).filter((f) => f === 'rejects.csv')).toEqual([]);
    await w.commit();
    const text = await readFile(path, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('file,line,reason,raw');
    expect(lines).toHaveLength(3);
    expect(lines[1]!.startsWith('"a ""quoted"", file.csv",10,"packets: expected a number, got ""x""",')).toBe(true);
    expect(lines[1]!.endsWith(`${csvField(textOf('flows.csv').split('\n')[9]!.split(',').map((c, i) => (i === 11 ? 'x' : c)).join(','))}`)).toBe(true);
    expect(await listTree(join(dir, 'rejects'))).toEqual(['rejects.csv']);
    // An aborted writer leaves nothing, and an old file stays as it was.
    const w2 = await RejectsWriter.open(path);
    w2.add({ file: 'f', line: 1, reason: 'r', raw: 'x' });
    await w2.abort();
    expect(await listTree(join(dir, 'rejects'))).toEqual(['rejects.csv']);
    expect(await readFile(path, 'utf8')).toBe(text);
  });
});

describe('Arrow IPC output: nothing half-written', () => {
  it('writes an Arrow file readInput reads back as the same flow table', async () => {
    const out = join(dir, 'arrow', 'flows.arrow');
    const res = await writeArrowStream(out, readFlowCsvStream(nfdump17('flows.csv'), { batchRows: 100 }));
    expect(res).toMatchObject({ rows: 254, batches: 3 });
    const back = await readArrowFile(out);
    expectSameTable(back, (await readInput(nfdump17('flows.csv'))).table, 'arrow file');
    const r = await readInput(out);
    expect(r.kind).toBe('flow');
    expect(FLOW_FIELDS.map((f) => f.name)).toEqual(back.schema.fields.map((f) => f.name));
    expect(await listTree(join(dir, 'arrow'))).toEqual(['flows.arrow']);
  });

  it('a file that fails (bad row, Summary mismatch) leaves no output and keeps an old one', async () => {
    const sub = join(dir, 'fail');
    const out = join(sub, 'flows.arrow');
    await writeArrowStream(out, readFlowCsvStream(nfdump17('flows.csv')));
    const before = await readFile(out);
    const bad = join(dir, 'fail-input.csv');
    await writeFile(bad, editLines('flows.csv', (l) => setField(l, 200, 11, '-1')));
    // Batches of 50: four are written before line 200 fails the file.
    const err = await failure(writeArrowStream(out, readFlowCsvStream(bad, { batchRows: 50 })));
    expect(err.line).toBe(200);
    const cut = join(dir, 'fail-cut.csv');
    await writeFile(cut, editLines('flows.csv', (l) => l.splice(3, 1)));
    await failure(writeArrowStream(out, readFlowCsvStream(cut, { batchRows: 50, threads: 2, blockBytes: 3000 })));
    expect(await listTree(sub)).toEqual(['flows.arrow']);
    expect(Buffer.compare(await readFile(out), before)).toBe(0);
    await failure(writeArrowStream(join(sub, 'new.arrow'), readFlowCsvStream(bad, { batchRows: 50 })));
    expect(await listTree(sub)).toEqual(['flows.arrow']);
  });

  it('an aborted write leaves nothing', async () => {
    const sub = join(dir, 'abort');
    const ac = new AbortController();
    async function* slow() {
      for await (const b of readFlowCsvStream(nfdump17('flows.csv'), { batchRows: 10 })) {
        if (b.getChild('source_line')!.get(0) > 100) ac.abort();
        yield b;
      }
    }
    const err = await failure(writeArrowStream(join(sub, 'x.arrow'), slow(), { signal: ac.signal }));
    expect(err.message).toMatch(/stopped/);
    expect(await listTree(sub)).toEqual([]);
  });

  it('SIGTERM or SIGINT while writing removes the temporary file; the process ends by the signal', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const sub = join(dir, `signal-${signal}`);
      const script = `
        import { readFlowCsvStream } from ${JSON.stringify(join(REPO_ROOT, 'src/ingest/flow-csv/stream.ts'))};
        import { writeArrowStream } from ${JSON.stringify(join(REPO_ROOT, 'src/io/arrow-stream.ts'))};
        async function* forever() {
          for (let i = 0; ; i++) {
            for await (const b of readFlowCsvStream(${JSON.stringify(nfdump17('flows.csv'))}, { batchRows: 50 })) {
              yield b;
              if (i === 0) process.stdout.write('writing\\n');
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        }
        await writeArrowStream(${JSON.stringify(join(sub, 'out.arrow'))}, forever());
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          if (c.toString().includes('writing')) resolve();
        });
        child.once('exit', () => reject(new Error(`child exited early: ${stderr}`)));
      });
      expect((await listTree(sub)).some((f) => f.includes('.tmp-')), 'a temporary file while writing').toBe(true);
      child.kill(signal);
      const [code, sig] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      expect(sig ?? code, stderr).toBe(signal);
      expect(await listTree(sub)).toEqual([]);
    }
  });
});

describe('values agree with parseFlowCsv on edited inputs it also accepts', () => {
  it('shuffled columns, blanks around cells, epoch-ms times, ICMP type.code', () => {
    const base = textOf('flows-1.7.5-layout.csv').split('\n');
    const header = base[0]!.split(',');
    const perm = header.map((_, i) => header.length - 1 - i);
    const lines = base.map((l, n) => {
      if (l === '') return l;
      const cells = l.split(',');
      if (n === 3) cells[0] = String(Date.UTC(2026, 10, 1, 10, 0, 15, 299));
      if (n === 4) [cells[2], cells[6]] = ['1', '3.3'];
      if (n === 5) cells[3] = `  ${cells[3]}  `;
      return perm.map((p) => cells[p]).join(',');
    });
    const text = lines.join('\n');
    const { columns } = parseFlowCsv(text, 'p.csv');
    const t = new Table(parseFlowCsvChunks(Buffer.from(text), 'p.csv', {}, 97).batches);
    for (const name of ['first_seen', 'last_seen', 'duration_s', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'flows', 'in_packets', 'in_bytes', 'source_line'] as const) {
      expect(values(t)[name], name).toEqual(columns[name]);
    }
    expect(t.getChild('dst_port')!.get(3)).toBe(3 * 256 + 3);
    expect(t.getChild('proto')!.get(3)).toBe('ICMP');
  });

  it('options are validated', () => {
    const opts: FlowCsvStreamOptions = { maxRejects: -1 };
    expect(() => parseFlowCsvChunks(bytesOf('flows.csv'), 'x', opts)).toThrow(/whole number >= 0/);
  });
});
