import { tableFromIPC, type Table } from 'apache-arrow';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInput } from '../../src/ingest/read.js';
import { FLOW_FIELDS } from '../../src/schema/tables.js';
import { runMain } from '../helpers/cli.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, writeFakeNfdump, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';
import { NFDUMP17_DIR, nfdump17, REPO_ROOT } from '../helpers/paths.js';
import { listTree } from '../helpers/tmp.js';

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every column of a flow table, as plain values. */
function columns(t: Table): Record<string, unknown[]> {
  return Object.fromEntries(FLOW_FIELDS.map((f) => [f.name, [...t.getChild(f.name)!.toArray()]]));
}

/** The tables' rows one after another, column by column. */
function joined(tables: Table[]): Record<string, unknown[]> {
  const parts = tables.map(columns);
  return Object.fromEntries(FLOW_FIELDS.map((f) => [f.name, parts.flatMap((p) => p[f.name]!)]));
}

/** flows.csv (254 records, Summary trailer) with the in-packets of its first `n` records made unreadable. */
async function withBadLines(path: string, n: number): Promise<string> {
  const lines = (await readFile(nfdump17('flows.csv'), 'utf8')).split('\n');
  for (let i = 1; i <= n; i++) {
    const cells = lines[i]!.split(',');
    cells[11] = `x${i}`;
    lines[i] = cells.join(',');
  }
  await writeFile(path, lines.join('\n'));
  return path;
}

/** A rejects CSV as rows of cells (RFC 4180 quoting). */
function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  return rows;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flowknn-ingest-stream-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  const sub = join(dir, name);
  await mkdir(sub, { recursive: true });
  return sub;
}

describe('ingest of one flow CSV dump streams it to Arrow', () => {
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

describe('ingest of several flow CSV dumps streams them into one Arrow file', () => {
  it('the rows of each input, in the order given, and the sources in the metadata', async () => {
    const sub = await fresh('several-csv');
    const inputs = [nfdump17('flows.csv'), nfdump17('flows-1.7.5-layout.csv'), nfdump17('flows-nosummary.csv')];
    const out = join(sub, 'all.arrow');
    const r = await runMain(['ingest', ...inputs, '--out', out, '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const got = tableFromIPC(await readFile(out));
    const want = await Promise.all(inputs.map(async (f) => (await readInput(f)).table));
    expect(got.numRows).toBe(want.reduce((n, t) => n + t.numRows, 0));
    expect(columns(got)).toEqual(joined(want));
    expect(got.schema.metadata.get('flowknn.kind')).toBe('flow');
    const sources = JSON.parse(got.schema.metadata.get('flowknn.sources')!) as { file: string; format: string; rows: number }[];
    expect(sources).toEqual(inputs.map((file, i) => ({ file, format: 'flow-csv', rows: want[i]!.numRows })));
    // nothing but the output is left in its folder
    expect(await listTree(sub)).toEqual(['all.arrow', 'all.parquet']);
  });

  it('a file failing at its end (a trailer that disagrees) leaves none of its rows; the others are written, exit 1', async () => {
    const sub = await fresh('several-one-fails');
    const bad = join(sub, 'badsum.csv');
    await writeFile(bad, (await readFile(nfdump17('flows.csv'), 'utf8')).replace(/^254,/mu, '250,'));
    const good = nfdump17('flows-1.7.5-layout.csv');
    const out = join(sub, 'out', 'x.arrow');
    const r = await runMain(['ingest', bad, good, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`flowknn: error: ${esc(bad)}:\\d+: the Summary trailer counts 250 flows`, 'u'));
    expect(r.stderr).toMatch(new RegExp(`1 of 2 inputs failed: ${esc(bad)}\\n`, 'u'));
    const got = tableFromIPC(await readFile(out));
    expect(columns(got)).toEqual(columns((await readInput(good)).table));
    expect(await listTree(join(sub, 'out'))).toEqual(['x.arrow', 'x.parquet']);
  });

  it('every input failing writes nothing: exit 1', async () => {
    const sub = await fresh('several-all-fail');
    const a = await withBadLines(join(sub, 'a.csv'), 1);
    const b = await withBadLines(join(sub, 'b.csv'), 2);
    const r = await runMain(['ingest', a, b, '--out', join(sub, 'out', 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no input could be read \(2 failed\); nothing written/u);
    expect(await listTree(sub)).toEqual(['a.csv', 'b.csv']);
  });

  it('an output that cannot be written fails the run (exit 3), not the inputs', async () => {
    const sub = await fresh('unwritable');
    const blocker = join(sub, 'not-a-folder');
    await writeFile(blocker, 'a file where the output folder should be\n');
    for (const inputs of [[nfdump17('flows.csv')], [nfdump17('flows.csv'), nfdump17('flows-nosummary.csv')]]) {
      const r = await runMain(['ingest', ...inputs, '--out', join(blocker, 'x.arrow')]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/cannot write/u);
      expect(r.stderr).not.toMatch(/inputs failed|no input could be read/u);
    }
    expect(await listTree(sub)).toEqual(['not-a-folder']);
  });

  it('statistics and flow dumps are refused together before anything is read', async () => {
    const sub = await fresh('mixed');
    const r = await runMain(['ingest', nfdump17('flows.csv'), nfdump17('stat-dstip.csv'), '--out', join(sub, 'x.arrow')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot put statistics and flow records in one table/u);
    expect(await listTree(sub)).toEqual([]);
  });
});

describe('reject thresholds and the rejects file', () => {
  it('--max-rejects N keeps a file with N bad lines and fails one with more, naming it and the count; the others go on', async () => {
    const sub = await fresh('max-rejects');
    const two = await withBadLines(join(sub, 'two-bad.csv'), 2);
    const three = await withBadLines(join(sub, 'three-bad.csv'), 3);
    const clean = nfdump17('flows-1.7.5-layout.csv');
    const out = join(sub, 'x.arrow');
    const rejects = join(sub, 'rejects.csv');
    const r = await runMain(['ingest', two, three, clean, '--out', out, '--max-rejects', '2', '--rejects', rejects]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`flowknn: error: ${esc(three)}:4: 3 bad lines, more than the 2 allowed; the file is not used`, 'u'));
    expect(r.stderr).toMatch(new RegExp(`1 of 3 inputs failed: ${esc(three)}\\n`, 'u'));
    expect(r.stderr).toMatch(/252 rows \(flow-csv, streamed\), 2 rejected/u);
    const got = tableFromIPC(await readFile(out));
    const cleanRows = (await readInput(clean)).table.numRows;
    expect(got.numRows).toBe(252 + cleanRows);
    // every rejected line, those of the failed file too: file, line, reason, raw text
    const rows = csvRows(await readFile(rejects, 'utf8'));
    expect(rows[0]).toEqual(['file', 'line', 'reason', 'raw']);
    const listed = rows.slice(1).map(([file, line]) => `${file}:${line}`).sort();
    expect(listed).toEqual([`${three}:2`, `${three}:3`, `${three}:4`, `${two}:2`, `${two}:3`].sort());
    const first = rows.find(([file, line]) => file === two && line === '2')!;
    expect(first[2]).toMatch(/x1/u);
    expect(first[3]).toBe((await readFile(two, 'utf8')).split('\n')[1]);
    expect(await listTree(sub)).toEqual(['rejects.csv', 'three-bad.csv', 'two-bad.csv', 'x.arrow', 'x.parquet']);
  });

  it('--max-reject-fraction keeps a file under the share and fails one over it, naming the share', async () => {
    const sub = await fresh('fraction');
    const two = await withBadLines(join(sub, 'two-bad.csv'), 2); // 2 of 254: 0.79%
    const ten = await withBadLines(join(sub, 'ten-bad.csv'), 10); // 10 of 254: 3.94%
    const out = join(sub, 'x.arrow');
    const r = await runMain(['ingest', two, ten, '--out', out, '--max-reject-fraction', '0.01']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`flowknn: error: ${esc(ten)}:2: 10 of 254 data lines are bad \\(3\\.94%\\), more than the 1\\.00% allowed`, 'u'));
    expect(tableFromIPC(await readFile(out)).numRows).toBe(252);
    // with a count as well, both apply
    const both = await runMain(['ingest', two, '--out', join(sub, 'y.arrow'), '--max-reject-fraction', '0.5', '--max-rejects', '1']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/2 bad lines, more than the 1 allowed/u);
  });

  it('a single file over the threshold: exit 1, no output, the rejects file lists why', async () => {
    const sub = await fresh('single-fails');
    const ten = await withBadLines(join(sub, 'ten-bad.csv'), 10);
    const rejects = join(sub, 'rejects.csv');
    const r = await runMain(['ingest', ten, '--out', join(sub, 'x.arrow'), '--max-rejects', '4', '--rejects', rejects]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${esc(ten)}:6: 5 bad lines, more than the 4 allowed`, 'u'));
    expect(r.stderr).toMatch(new RegExp(`nothing written \\(the rejected lines are listed in ${esc(rejects)}\\)`, 'u'));
    expect(csvRows(await readFile(rejects, 'utf8')).slice(1).map((row) => row[1])).toEqual(['2', '3', '4', '5', '6']);
    expect(await listTree(sub)).toEqual(['rejects.csv', 'ten-bad.csv']);
  });

  it('statistics inputs honour the same thresholds', async () => {
    const sub = await fresh('stat-threshold');
    const lines = (await readFile(nfdump17('stat-dstip.csv'), 'utf8')).split('\n');
    const data = lines.findIndex((l) => /^\d{4}-/u.test(l));
    lines[data] = lines[data]!.replace(/,(\d+),/u, ',zz,');
    const bad = join(sub, 'stat.csv');
    await writeFile(bad, lines.join('\n'));
    const rejects = join(sub, 'rejects.csv');
    const ok = await runMain(['ingest', bad, '--out', join(sub, 'x.arrow'), '--max-reject-fraction', '0.5', '--rejects', rejects]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(csvRows(await readFile(rejects, 'utf8')).slice(1).map((row) => row[1])).toEqual([String(data + 1)]);
    const strict = await runMain(['ingest', bad, '--out', join(sub, 'y.arrow'), '--max-reject-fraction', '0.0001']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/data lines are bad .* more than the 0\.0100% allowed/u);
  });

  it('bad values of the flags are usage errors (exit 2) naming the flag', async () => {
    const sub = await fresh('flags');
    for (const [flag, value] of [['--max-reject-fraction', '1.5'], ['--max-reject-fraction', '-0.1'], ['--max-rejects', '-1'], ['--max-rejects', '2.5']] as const) {
      const r = await runMain(['ingest', nfdump17('flows.csv'), '--out', join(sub, 'x.arrow'), flag, value]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
    expect(await listTree(sub)).toEqual([]);
  });
});

const tools = hasNfdumpTools();
if (!tools) console.warn('nfdump/nfpcapd not on PATH: skipping the nfcapd tests of ingest streaming (apt-get install nfdump)');

describe.skipIf(!tools)('ingest of nfcapd files and flow CSV dumps together', () => {
  let fx: NfcapdFixture;
  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261128, 'test/cli/ingest-stream.test.ts'));
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('flows of nfcapd files (through nfdump) and of CSV dumps, in the order given, as each alone gives them', async () => {
    const sub = await fresh('nfcapd-and-csv');
    const inputs = [fx.files[0]!, nfdump17('flows.csv'), fx.files[1]!, fx.files[2]!];
    const out = join(sub, 'flows.arrow');
    const r = await runMain(['ingest', ...inputs, '--out', out, '--jobs', '3']);
    expect(r.code, r.stderr).toBe(0);
    const got = tableFromIPC(await readFile(out));
    const want = await Promise.all(inputs.map(async (f) => (await readInput(f)).table));
    expect(want.every((t) => t.numRows > 10)).toBe(true);
    expect(columns(got)).toEqual(joined(want));
    const sources = JSON.parse(got.schema.metadata.get('flowknn.sources')!) as { format: string }[];
    expect(sources.map((s) => s.format)).toEqual(['nfcapd', 'flow-csv', 'nfcapd', 'nfcapd']);
    expect(await listTree(sub)).toEqual(['flows.arrow', 'flows.parquet']);
  });

  it('an nfcapd archive folder as it is: every flow of its files', async () => {
    const sub = await fresh('archive-flows');
    const out = join(sub, 'flows.arrow');
    const r = await runMain(['ingest', fx.flowDir, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const want = await Promise.all(fx.files.map(async (f) => (await readInput(f)).table));
    expect(columns(tableFromIPC(await readFile(out)))).toEqual(joined(want));
  });

  it('nfdump printing a bad line: the nfcapd file fails over the threshold, passes within it, and its line is in the rejects file', async () => {
    const sub = await fresh('nfcapd-rejects');
    const line = '1793527805.465|           0.000|1793527805.465|17   |10.0.0.1|  1|10.0.0.2|   53|       1|      60|       0|       0|    1';
    const fake = await writeFakeNfdump(sub, 'fake-nfdump', `for i in 1 2 3; do echo '${line}'; done; echo 'Ident: none'`);
    const rejects = join(sub, 'rejects.csv');
    const strict = await runMain(['ingest', fx.files[0]!, fx.files[1]!, '--out', join(sub, 'a.arrow'), '--nfdump', fake, '--max-reject-fraction', '0.2']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(new RegExp(`${esc(fx.files[0]!)}:4: 1 of 4 data lines are bad \\(25\\.0%\\), more than the 20\\.0% allowed`, 'u'));
    expect(strict.stderr).toMatch(/no input could be read \(2 failed\)/u);
    const kept = await runMain(['ingest', fx.files[0]!, '--out', join(sub, 'b.arrow'), '--nfdump', fake, '--max-reject-fraction', '0.25', '--rejects', rejects]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(tableFromIPC(await readFile(join(sub, 'b.arrow'))).numRows).toBe(3);
    const rows = csvRows(await readFile(rejects, 'utf8'));
    expect(rows.slice(1)).toEqual([[fx.files[0]!, '4', expect.stringMatching(/expected 13 \|-separated fields/u), 'Ident: none']]);
  });

  it('--aggregate takes the same thresholds and rejects file', async () => {
    const sub = await fresh('aggregate-rejects');
    const line = '1793527805.465|           0.000|1793527805.465|17   |10.0.0.1|  1|10.0.0.2|   53|       1|      60|       0|       0|    1';
    const fake = await writeFakeNfdump(sub, 'fake-nfdump', `echo '${line}'; echo 'Ident: none'; echo '${line}'`);
    const rejects = join(sub, 'rejects.csv');
    const out = join(sub, 'agg.arrow');
    const r = await runMain(['ingest', fx.files[0]!, '--aggregate', 'dstip', '--window', 'whole', '--out', out, '--nfdump', fake, '--max-rejects', '1', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    const t = tableFromIPC(await readFile(out));
    expect(t.numRows).toBe(1);
    expect(t.getChild('flows')!.get(0)).toBe(2);
    expect(csvRows(await readFile(rejects, 'utf8')).slice(1).map((row) => row[1])).toEqual(['2']);
    const over = await runMain(['ingest', fx.files[0]!, '--aggregate', 'dstip', '--out', join(sub, 'x.arrow'), '--nfdump', fake, '--max-reject-fraction', '0.3']);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/1 of 3 data lines are bad \(33\.3%\), more than the 30\.0% allowed/u);
  });

  it('SIGINT or SIGTERM in the middle of several inputs leaves no output and no parts', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const sub = await fresh(`interrupted-${signal}`);
      const line = '1793527805.465|           0.000|1793527805.465|17   |10.0.0.1|  1|10.0.0.2|   53|       1|      60|       0|       0|    1';
      const endless = await writeFakeNfdump(sub, 'endless-nfdump', `while :; do echo '${line}'; done`);
      const out = join(sub, 'out', 'x.arrow');
      const argv = ['ingest', fx.files[0]!, fx.files[1]!, nfdump17('flows.csv'), '--out', out, '--nfdump', endless];
      const script = `import { main } from ${JSON.stringify(join(REPO_ROOT, 'src/cli/main.ts'))}; process.exitCode = await main(${JSON.stringify(argv)});`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      // Wait until parts are being written next to the output.
      const until = Date.now() + 30_000;
      let seen: string[] = [];
      while (Date.now() < until) {
        seen = await listTree(join(sub, 'out')).catch(() => []);
        if (seen.some((f) => f.includes('.parts-') && f.includes('.tmp-'))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen.some((f) => f.includes('.parts-')), `parts while reading: ${seen.join(', ')} ${stderr}`).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      child.kill(signal);
      const [code, sig] = await exited;
      expect(sig ?? code, stderr).toBe(signal);
      expect(await listTree(join(sub, 'out'))).toEqual([]);
    }
  });
});
