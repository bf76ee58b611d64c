/**
 * What a user sees when an input or an argument is wrong: the exit status documented in the
 * README (1 input content, 2 usage or missing path, 3 environment), a message naming the file,
 * the line where one applies and what was expected, and no output (nor temporary files) left
 * behind.
 */
import { makeVector, Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runBin, runMain } from '../helpers/cli.js';
import { SEED_DIR, SEED_LABELS, seedLabel } from '../helpers/paths.js';
import { listTree, makeTempDir } from '../helpers/tmp.js';

let root = '';
let cleanup: () => Promise<void> = async () => undefined;
let n = 0;

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTempDir('flowknn-errors-'));
});
afterAll(async () => {
  await cleanup();
});

/** A fresh case folder: inputs go to `in/`, outputs to `out/` (created empty). */
async function fresh(): Promise<{ inDir: string; outDir: string }> {
  const base = join(root, `case-${++n}`);
  const inDir = join(base, 'in');
  const outDir = join(base, 'out');
  await mkdir(inDir, { recursive: true });
  await mkdir(outDir, { recursive: true });
  return { inDir, outDir };
}

/** A seed file with one line replaced (1-based line number). */
async function editedSeed(src: string, dest: string, lineNo: number, edit: (line: string) => string): Promise<string> {
  const lines = (await readFile(src, 'utf8')).split('\n');
  const before = lines[lineNo - 1]!;
  const after = edit(before);
  expect(after, 'the edit must change the line').not.toBe(before);
  lines[lineNo - 1] = after;
  await writeFile(dest, lines.join('\n'));
  return dest;
}

/** The error lines the CLI printed (`flowknn: error: ...`). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('flowknn: error: '));
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('bad input files (in-process main)', () => {
  it('an empty file: exit 1, names the file, says nfdump output was expected, writes nothing', async () => {
    const { inDir, outDir } = await fresh();
    const file = join(inDir, 'empty.raw');
    await writeFile(file, '');
    const out = join(outDir, 'x.arrow');
    const r = await runMain(['ingest', file, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`flowknn: error: ${file}: empty input`);
    expect(r.stderr).toMatch(/expected nfdump output/);
    expect(r.stderr).toMatch(/nothing written/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a file of blank lines and comments only is empty too', async () => {
    const { inDir, outDir } = await fresh();
    const file = join(inDir, 'comments.raw');
    await writeFile(file, '# Http session medium\n\n# nothing else\n');
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}`);
    expect(r.stderr).toMatch(/empty input/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a truncated line (a seed line cut in half): exit 1, file:line, says the line ends too early', async () => {
    const { inDir, outDir } = await fresh();
    // http.raw: two "#" lines, then the first aggregate on line 3.
    const file = await editedSeed(seedLabel('http'), join(inDir, 'http.raw'), 3, (l) => l.slice(0, Math.floor(l.length / 2)));
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    const [first] = errorLines(r.stderr);
    expect(first).toMatch(new RegExp(`^flowknn: error: ${esc(file)}:3: `));
    expect(first).toMatch(/expected/);
    expect(first).toMatch(/truncated line\?/);
    // The hint quotes the line.
    expect(r.stderr).toContain('hint: line: 2015-02-26 14:01:11.476');
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a non-numeric field: exit 1, file:line, names the column and what a number looks like', async () => {
    const { inDir, outDir } = await fresh();
    const file = await editedSeed(seedLabel('http'), join(inDir, 'http.raw'), 5, (l) => l.replace(' 1272( 0.0)', ' 12x2( 0.0)'));
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`flowknn: error: ${file}:5: packets: expected a number like 1234, 1.3 M or 1.3M, got "12x2"`);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('an unknown unit "1.3 X": exit 1, file:line, names the unit and the units allowed', async () => {
    const { inDir, outDir } = await fresh();
    const file = await editedSeed(join(SEED_DIR, 'probes/test-samples.raw'), join(inDir, 'probes.raw'), 1, (l) => l.replace('1.3 M(', '1.3 X('));
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    const [first] = errorLines(r.stderr);
    expect(first).toMatch(new RegExp(`^flowknn: error: ${esc(file)}:1: packets: `));
    expect(first).toContain('1.3 X');
    expect(first).toMatch(/unit k, K, M, G or T/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a file that is not nfdump output (a README): exit 1, file and its first non-comment line', async () => {
    const { inDir, outDir } = await fresh();
    const file = join(inDir, 'README.md');
    await copyFile(join(SEED_DIR, 'README.md'), file);
    const lines = (await readFile(file, 'utf8')).split('\n');
    const firstText = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#')) + 1;
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    const [first] = errorLines(r.stderr);
    expect(first).toMatch(new RegExp(`^flowknn: error: ${esc(file)}:${firstText}: not nfdump output: expected nfdump statistics text`));
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a CSV that is not nfdump CSV: exit 1, file:1', async () => {
    const { inDir, outDir } = await fresh();
    const file = join(inDir, 'people.csv');
    await writeFile(file, 'name,age\nbob,3\n');
    const r = await runMain(['ingest', file, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`flowknn: error: ${file}:1: not nfdump output`);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a bad line in a label file fails train with file:line and leaves no model folder', async () => {
    const { inDir, outDir } = await fresh();
    const labels = join(inDir, 'labels');
    await mkdir(labels);
    for (const name of ['classes.txt', 'smtp.raw', 'http.raw', 'tivoli.raw', 'small-flood.raw', 'incoming-floods.raw', 'nfs.raw']) {
      await copyFile(join(SEED_LABELS, name), join(labels, name));
    }
    const bad = await editedSeed(seedLabel('tivoli'), join(labels, 'tivoli.raw'), 10, (l) => l.slice(0, 50));
    const r = await runMain(['train', '--labels', labels, '--protocol', 'none', '--out', join(outDir, 'model')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`flowknn: error: ${esc(bad)}:10: .*expected`));
    expect(await listTree(outDir)).toEqual([]);
  });
});

describe('several inputs to ingest', () => {
  it('ingest good.raw bad.raw: writes the good rows, exits 1, lists bad.raw', async () => {
    const { inDir, outDir } = await fresh();
    const good = join(inDir, 'good.raw');
    await copyFile(seedLabel('nfs'), good);
    const bad = await editedSeed(seedLabel('http'), join(inDir, 'bad.raw'), 5, (l) => l.replace(' 1272( 0.0)', ' 12x2( 0.0)'));
    const out = join(outDir, 'x.arrow');
    const r = await runMain(['ingest', good, bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`flowknn: error: ${bad}:5: packets: expected a number`);
    expect(r.stderr).toMatch(new RegExp(`1 of 2 inputs failed: ${esc(bad)}`));
    expect(await listTree(outDir)).toEqual(['x.arrow', 'x.parquet']);
    const table = tableFromIPC(await readFile(out));
    expect(table.numRows).toBe(16); // nfs.raw
    const files = new Set(Array.from({ length: table.numRows }, (_, i) => table.getChild('source_file')!.get(i) as string));
    expect(files).toEqual(new Set([good]));
  });

  it('ingest bad.raw alone: exit 1 and nothing written', async () => {
    const { inDir, outDir } = await fresh();
    const bad = await editedSeed(seedLabel('http'), join(inDir, 'bad.raw'), 5, (l) => l.replace(' 1272( 0.0)', ' 12x2( 0.0)'));
    const out = join(outDir, 'x.arrow');
    const r = await runMain(['ingest', bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:5:`);
    expect(r.stderr).toMatch(/nothing written/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('ingest good.raw missing.raw: exit 1, the missing one is named in the list of failed inputs', async () => {
    const { inDir, outDir } = await fresh();
    const good = join(inDir, 'good.raw');
    await copyFile(seedLabel('nfs'), good);
    const missing = join(inDir, 'missing.raw');
    const r = await runMain(['ingest', good, missing, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${missing}: no such file`);
    expect(r.stderr).toMatch(new RegExp(`1 of 2 inputs failed: ${esc(missing)}`));
  });
});

describe('usage and environment', () => {
  it('a missing labels folder: exit 2, names the path, writes nothing', async () => {
    const { outDir } = await fresh();
    const r = await runMain(['train', '--labels', '/nonexistent/flowknn-labels', '--out', join(outDir, 'model')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flowknn: error: labels: /nonexistent/flowknn-labels does not exist');
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a missing input file to ingest: exit 2 (a missing path is a usage error)', async () => {
    const { inDir, outDir } = await fresh();
    const missing = join(inDir, 'missing.raw');
    const r = await runMain(['ingest', missing, '--out', join(outDir, 'x.arrow')]);
    expect(r.stderr).toContain(`${missing}: no such file`);
    expect(r.code).toBe(2);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a missing input file to classify: exit 2', async () => {
    const { inDir } = await fresh();
    const r = await runMain(['classify', join(inDir, 'missing.raw'), '--model', join(inDir, 'no-model')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flowknn: error: /);
  });

  it('an unknown flag: exit 2, names the flag, writes nothing', async () => {
    const { outDir } = await fresh();
    const r = await runMain(['ingest', seedLabel('nfs'), '--out', join(outDir, 'x.arrow'), '--bogus-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bogus-flag|bogusFlag/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('an unknown command or a bad choice: exit 2', async () => {
    expect((await runMain(['frobnicate'])).code).toBe(2);
    const r = await runMain(['ingest', seedLabel('nfs'), '--out', join(root, 'never.arrow'), '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/xml/);
  });

  it('an output path that cannot be created (under a regular file): exit 3, names the path', async () => {
    const { outDir } = await fresh();
    const blocker = join(outDir, 'not-a-folder');
    await writeFile(blocker, 'x');
    const out = join(blocker, 'x.arrow');
    const r = await runMain(['ingest', seedLabel('nfs'), '--out', out]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(blocker);
    expect(await listTree(outDir)).toEqual(['not-a-folder']);
  });
});

describe('a model folder from an incompatible feature set', () => {
  let modelDir = '';
  let pristine = '';
  const probes = join(SEED_DIR, 'probes/test-samples.raw');

  beforeAll(async () => {
    const { outDir } = await fresh();
    modelDir = join(outDir, 'model');
    const r = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--out', modelDir, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    pristine = await readFile(join(modelDir, 'model.json'), 'utf8');
  });

  async function classifyWith(modelJson: string) {
    await writeFile(join(modelDir, 'model.json'), modelJson);
    const { outDir } = await fresh();
    const pred = join(outDir, 'pred');
    const r = await runMain(['classify', probes, '--model', modelDir, '--out', pred]);
    return { r, outDir };
  }

  function featureSetLine(text: string): number {
    return text.split('\n').findIndex((l) => l.includes('"feature_set"')) + 1;
  }

  it('the untouched model classifies (control)', async () => {
    const { r, outDir } = await classifyWith(pristine);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(outDir)).toEqual(['pred/', 'pred/predictions.arrow', 'pred/predictions.csv', 'pred/predictions.parquet']);
  });

  it('renamed feature column: exit 1, model.json:line, says which feature set was expected', async () => {
    const json = JSON.parse(pristine) as { feature_set: { columns: string[] } };
    expect(json.feature_set.columns).toEqual(['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp']);
    json.feature_set.columns[6] = 'bytes_per_packet';
    const text = `${JSON.stringify(json, null, 2)}\n`;
    const { r, outDir } = await classifyWith(text);
    expect(r.code).toBe(1);
    const [first] = errorLines(r.stderr);
    expect(first).toMatch(new RegExp(`^flowknn: error: ${esc(join(modelDir, 'model.json'))}:${featureSetLine(text)}: `));
    expect(first).toContain('bytes_per_packet');
    expect(first).toContain('nfdump-stat7@1 (duration_s, flows, packets, bytes, pps, bps, bpp)');
    expect(r.stdout).toBe('');
    expect(await listTree(outDir)).toEqual([]);
  });

  it('feature columns in another order: exit 1', async () => {
    const json = JSON.parse(pristine) as { feature_set: { columns: string[] } };
    json.feature_set.columns.reverse();
    const text = `${JSON.stringify(json, null, 2)}\n`;
    const { r, outDir } = await classifyWith(text);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(modelDir, 'model.json')}:${featureSetLine(text)}:`);
    expect(r.stderr).toContain('nfdump-stat7@1 (duration_s, flows, packets, bytes, pps, bps, bpp)');
    expect(await listTree(outDir)).toEqual([]);
  });

  it('another feature set name: exit 1, names both', async () => {
    const json = JSON.parse(pristine) as { feature_set: { name: string } };
    json.feature_set.name = 'nfdump-stat9';
    const text = `${JSON.stringify(json, null, 2)}\n`;
    const { r, outDir } = await classifyWith(text);
    expect(r.code).toBe(1);
    const [first] = errorLines(r.stderr);
    expect(first).toContain(`${join(modelDir, 'model.json')}:${featureSetLine(text)}:`);
    expect(first).toContain('nfdump-stat9@1');
    expect(first).toMatch(/it knows nfdump-stat7@1 \(duration_s, flows, packets, bytes, pps, bps, bpp\)/);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('scaler.scale cut to 3 of 7 entries: exit 1, model.json:line names the key and the 7 it needs (not "fitted on 7 features, data has 7")', async () => {
    const json = JSON.parse(pristine) as { scaler: { name: string; scale: number[] } };
    expect(json.scaler.name).toBe('log-zscore');
    json.scaler.scale = json.scaler.scale.slice(0, 3);
    const text = `${JSON.stringify(json, null, 2)}\n`;
    const { r, outDir } = await classifyWith(text);
    expect(r.code).toBe(1);
    const scaleLine = text.split('\n').findIndex((l) => l.includes('"scale"')) + 1;
    expect(errorLines(r.stderr)).toEqual([`flowknn: error: ${join(modelDir, 'model.json')}:${scaleLine}: scaler.scale has 3 entries; scaler log-zscore over feature set nfdump-stat7@1 needs 7 (one per feature)`]);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('evaluate --model refuses it too', async () => {
    const json = JSON.parse(pristine) as { feature_set: { version: number } };
    json.feature_set.version = 2;
    await writeFile(join(modelDir, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
    const r = await runMain(['evaluate', '--model', modelDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nfdump-stat7@2');
    expect(r.stderr).toContain('model.json:');
  });
});

describe('through the built CLI (node bin/flowknn.js)', () => {
  beforeAll(async () => {
    await ensureBuilt();
  });

  it('a non-numeric field: exit status 1, file:line on stderr, nothing written', async () => {
    const { inDir, outDir } = await fresh();
    const bad = await editedSeed(seedLabel('http'), join(inDir, 'bad.raw'), 5, (l) => l.replace(' 1272( 0.0)', ' 12x2( 0.0)'));
    const r = await runBin(['ingest', bad, '--out', join(outDir, 'x.arrow')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`flowknn: error: ${bad}:5: packets: expected a number like 1234, 1.3 M or 1.3M, got "12x2"`);
    expect(await listTree(outDir)).toEqual([]);
  });

  it('a missing labels folder: exit status 2', async () => {
    const { outDir } = await fresh();
    const r = await runBin(['train', '--labels', '/nonexistent/flowknn-labels', '--out', join(outDir, 'model')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/flowknn-labels does not exist');
    expect(await listTree(outDir)).toEqual([]);
  });

  it('an unknown flag: exit status 2', async () => {
    const r = await runBin(['ingest', seedLabel('nfs'), '--out', join(root, 'never.arrow'), '--bogus-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bogus/);
  });

  it('good and bad inputs: exit status 1, the good rows written', async () => {
    const { inDir, outDir } = await fresh();
    const good = join(inDir, 'good.raw');
    await copyFile(seedLabel('incoming-floods'), good);
    const bad = join(inDir, 'bad.raw');
    await writeFile(bad, '');
    const out = join(outDir, 'x.arrow');
    const r = await runBin(['ingest', good, bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`1 of 2 inputs failed: ${bad}`);
    expect(tableFromIPC(await readFile(out)).numRows).toBe(13);
    expect(await listTree(outDir)).toEqual(['x.arrow', 'x.parquet']);
  });
});

describe('what an error quotes of its input', () => {
  it('a labels CSV with a 1 MB cell full of control bytes: the message names file:line and quotes at most 200 characters, escaped', async () => {
    const { inDir, outDir } = await fresh();
    const csv = join(inDir, 'labelled.csv');
    const field = `${'9'.repeat(1_000_000)}\u001b[2J\u0007x`;
    await writeFile(csv, `label,duration_s,flows,packets,bytes,pps,bps,bpp\nweb,1,2,3,4,5,6,7\nweb,${field},2,3,4,5,6,7\n`);
    const r = await runMain(['train', '--labels', csv, '--out', join(outDir, 'model'), '--protocol', 'none']);
    expect(r.code).toBe(1);
    const [line] = errorLines(r.stderr);
    expect(line).toMatch(new RegExp(`^flowknn: error: ${esc(csv)}:3: duration_s: expected a number, got "9{197}\\.\\.\\."$`, 'u'));
    expect(r.stderr.length).toBeLessThan(1000);
    expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/u);
    expect(await listTree(outDir)).toEqual([]);
  });
});

describe('a bad feature value names the file and line of its row', () => {
  it('classify an Arrow table whose row 3 has bytes = -1: exit 1, names the table, the row and the nfdump file:line it was read from', async () => {
    const { inDir, outDir } = await fresh();
    const modelDir = join(outDir, 'model');
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', modelDir, '--quiet'])).code).toBe(0);
    const table = join(inDir, 'http.arrow');
    expect((await runMain(['ingest', seedLabel('http'), '--out', table, '--quiet'])).code).toBe(0);
    const t = tableFromIPC(await readFile(table));
    const bytes = Float64Array.from(t.getChild('bytes')!.toArray() as Float64Array);
    bytes[2] = -1;
    const line = Number(t.getChild('source_line')!.get(2));
    const cols = Object.fromEntries(t.schema.fields.map((f) => [f.name, f.name === 'bytes' ? makeVector(bytes) : t.getChild(f.name)!]));
    const plain = new Table(cols);
    // the schema metadata (flowknn.kind = stat) is what makes classify read it as a stat table
    await writeFile(table, tableToIPC(new Table(new Schema(plain.schema.fields, t.schema.metadata), plain.batches), 'file'));
    const r = await runMain(['classify', table, '--model', modelDir, '--engine', 'cpu']);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([`flowknn: error: ${table}: row 3 (read from ${seedLabel('http')}:${line}): bytes: expected a number >= 0, got -1`]);
  });
});

describe('Int64 and Uint64 columns in Arrow inputs', () => {
  /** The stat table of a seed file, with the given feature columns stored as 64-bit integers. */
  async function wideTable(src: string, dest: string, columns: Record<string, 'Int64' | 'Uint64'>, edit: (name: string, values: bigint[]) => void = () => undefined): Promise<Table> {
    const t = tableFromIPC(await readFile(src));
    const cols = Object.fromEntries(
      t.schema.fields.map((f) => {
        const kind = columns[f.name];
        if (kind === undefined) return [f.name, t.getChild(f.name)!];
        const values = Array.from(t.getChild(f.name)!.toArray() as Float64Array, (v) => BigInt(Math.round(v)));
        edit(f.name, values);
        return [f.name, makeVector(kind === 'Int64' ? BigInt64Array.from(values) : BigUint64Array.from(values))];
      }),
    );
    const plain = new Table(cols);
    await writeFile(dest, tableToIPC(new Table(new Schema(plain.schema.fields, t.schema.metadata), plain.batches), 'file'));
    return t;
  }

  it('ingest a table and the same with Int64/Uint64 counts: both parts read as the same numbers (they were joined as 8e-320)', async () => {
    const { inDir, outDir } = await fresh();
    const plain = join(inDir, 'http.arrow');
    expect((await runMain(['ingest', seedLabel('http'), '--out', plain, '--quiet'])).code).toBe(0);
    const wide = join(inDir, 'wide.arrow');
    await wideTable(plain, wide, { flows: 'Int64', packets: 'Uint64' });
    const out = join(outDir, 'joined.arrow');
    const r = await runMain(['ingest', plain, wide, '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const joined = tableFromIPC(await readFile(out));
    const n = joined.numRows / 2;
    for (const c of ['flows', 'packets']) {
      const v = Array.from(joined.getChild(c)!.toArray() as Float64Array);
      expect(v.slice(n), c).toEqual(v.slice(0, n).map((x) => Math.round(x)));
    }
  });

  it('a label table whose bytes are Uint64 beyond 2^53 - 1: exit 1, names the file, column and row; no model', async () => {
    const { inDir, outDir } = await fresh();
    const model = join(outDir, 'model');
    expect((await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet'])).code).toBe(0);
    const labels = join(inDir, 'labels.arrow');
    await wideTable(join(model, 'train.arrow'), labels, { bytes: 'Uint64' }, (name, values) => {
      values[4] = 2n ** 60n + 1n;
    });
    const r = await runMain(['train', '--labels', labels, '--out', join(outDir, 'm2'), '--protocol', 'none', '--engine', 'cpu']);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([`flowknn: error: ${labels}: column bytes (Uint64) holds 1152921504606846977 in row 5, beyond 2^53 - 1, the largest whole number a double holds exactly`]);
    expect(await listTree(outDir)).toEqual(['model/', 'model/model.json', 'model/train.arrow', 'model/train.parquet']);
  });
});
