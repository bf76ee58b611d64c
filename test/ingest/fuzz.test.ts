/**
 * Fuzz test of every nfdump parser in src/ingest/ (statistics text, CSV and JSON; flow CSV,
 * whole and streamed; flow JSON): seeded random mutations (bytes flipped or
 * inserted, lines cut, dropped, repeated or swapped, fields swapped or emptied, huge and odd
 * numbers, junk and trailer lines, invalid UTF-8, CR) of the seed files (data/seed-2015) and
 * of real nfdump outputs (test/fixtures/nfdump-1.7). Each parser must end every case in rows
 * or a FlowknnError; any other exception is a failure, and so is a case that takes too long,
 * and so is a kept row whose values are out of range or that comes from a line cut short (a
 * silent wrong row).
 *
 * The cases run in a worker thread watched from here: the worker writes the number of the
 * case (and parser) it is in to shared memory, and a case still running after HANG_MS is a
 * hang: the worker is terminated and the test fails naming the case. Every case is a function
 * of (seed, case number), so one failure replays alone:
 *   FLOWKNN_TEST_SEED=<seed> FLOWKNN_FUZZ_CASE=<n> npx vitest run test/ingest/fuzz.test.ts
 * FLOWKNN_FUZZ_CASES sets the number of cases (default 12000).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface FuzzData {
  flowknnFuzz: true;
  seed: number;
  first: number;
  cases: number;
  progress: SharedArrayBuffer;
}

interface Failure {
  case: number;
  parser: string;
  what: string;
  input: string;
}

interface Done {
  type: 'done';
  failures: Failure[];
  known: Record<string, number>;
  outcomes: Record<string, { rows: number; errors: number; maxMs: number }>;
  ms: number;
}

const PARSERS = ['detectFormat', 'parseStatText', 'parseStatCsv', 'parseStatJson', 'parseFlowCsv', 'stream (bytes, random chunks)', 'stream (async source)', 'flow JSON (random chunks)'] as const;
/**
 * Crashes of parsers found by this test and not yet fixed: counted and printed, not failed
 * on, each with a reproduction below. Empty: the ones found so far are fixed and their
 * reproductions now pass.
 */
const KNOWN_BUGS: { parser: (typeof PARSERS)[number]; what: RegExp; bug: string }[] = [];

/** A single parser call slower than this is a failure (inputs are at most ~90 KB). */
const SLOW_MS = 2000;
/** A case running this long is a hang. */
const HANG_MS = 10_000;

const here = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(here, '../..');

/** The inputs mutated: real nfdump 1.7.1 and 1.7.8 outputs and the seed's nfdump 1.6 text. */
function sources(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const release of ['nfdump-1.7', 'nfdump-1.7.8']) {
    const fixtures = join(ROOT, 'test/fixtures', release);
    for (const f of readdirSync(fixtures).sort()) if (/\.(csv|txt|json|ndjson)$/.test(f)) out.push({ name: `${release}/${f}`, text: readFileSync(join(fixtures, f), 'utf8') });
  }
  for (const sub of ['labels', 'probes']) {
    const d = join(ROOT, 'data/seed-2015', sub);
    for (const f of readdirSync(d).sort()) if (/\.(raw|txt)$/.test(f)) out.push({ name: `seed-2015/${sub}/${f}`, text: readFileSync(join(d, f), 'utf8') });
  }
  return out;
}

const ODD_VALUES = [
  '-1', '-0', '0', '-1.500', '9007199254740993', '18446744073709551616', '99999999999999999999999999999', '1e308', '1e999', '-1e999', 'NaN',
  'Infinity', '0x1F', '1.5', '.5', '5.', '+3', '1 M', '1.3 G', '-2.5 k', '52.6 T', '7 X', '65536', '300.1', '3.3', '4294967296', '',
  ' ', '2026-13-45 25:61:61', '0000-00-00 00:00:00', '2015-02-29 00:00:00', '9999-12-31 23:59:59.999', '1d 99:99:99.999', '00:00:00.000',
  '12345678901234567890', '1700000000000', '\u00a0', 'ÿ', '\u2028', '\ud800',
];
const JUNK_LINES = [
  '', 'Summary', 'summary: total flows: 1', 'flows,bytes,packets,avg_bps,avg_pps,avg_bpp', '1,2,3', 'ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp',
  'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt', 'firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows',
  'Top 10 Dst IP Addr ordered by pps:', 'Top Dst IP Addr ordered by bps:', 'Date first seen Duration Proto Dst IP Addr Flows(%) Packets(%) Bytes(%) pps bps bpp',
  'No matched flows', '#', '; comment', ',,,,,,,,,,,,,,', ','.repeat(300), 'x'.repeat(20000), '2015-02-26 14:01:11.476', '2026-11-01 10:00:03,2026-11-01 10:00:03',
  '2015-02-26 14:01:11.476     2.904 any   XXX.XXX.XXX.XXX  1( 0.0)  35252( 0.0)  52.6 M( 0.0)  12139  144.8 M  1491', '\t\t', '\r',
];

/** The input of case `n`: a window of a source file, mutated 1 to 4 times. */
function makeCase(srcs: { name: string; text: string }[], seed: number, n: number, mulberry32: (s: number) => () => number): { name: string; bytes: Buffer; rng: () => number } {
  const rng = mulberry32((seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
  const int = (k: number) => Math.floor(rng() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const src = pick(srcs);
  let lines = src.text.split('\n');
  if (rng() < 0.9) {
    // A window: often with the file's first line (a header) and its last lines (a trailer).
    const start = int(lines.length);
    const window = lines.slice(start, start + 1 + int(30));
    lines = [...(rng() < 0.7 && start > 0 ? [lines[0]!] : []), ...window, ...(rng() < 0.3 ? lines.slice(-5) : [])];
  }
  const line = () => int(Math.max(1, lines.length));
  const splitFields = (l: string) => (l.includes(',') ? { cells: l.split(','), sep: ',' } : { cells: l.split(/(\s+)/), sep: '' });
  const textMutations: (() => void)[] = [
    () => lines.splice(line(), 1),
    () => lines.splice(line(), 0, lines[line()] ?? ''),
    () => {
      const a = line();
      const b = line();
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
    },
    () => {
      const a = line();
      lines[a] = (lines[a] ?? '').slice(0, int((lines[a] ?? '').length + 1));
    },
    () => {
      const a = line();
      const { cells, sep } = splitFields(lines[a] ?? '');
      const i = int(cells.length);
      const j = int(cells.length);
      [cells[i], cells[j]] = [cells[j]!, cells[i]!];
      lines[a] = cells.join(sep);
    },
    () => {
      const a = line();
      const { cells, sep } = splitFields(lines[a] ?? '');
      cells[int(cells.length)] = pick(ODD_VALUES);
      lines[a] = cells.join(sep);
    },
    () => {
      const a = line();
      lines[a] = (lines[a] ?? '').replace(/\d+(?:\.\d+)?/g, (m) => (rng() < 0.3 ? pick(ODD_VALUES) : m));
    },
    () => lines.splice(line(), 0, pick(JUNK_LINES)),
    () => {
      const a = line();
      const { cells, sep } = splitFields(lines[a] ?? '');
      cells.splice(int(cells.length + 1), 0, pick(ODD_VALUES));
      lines[a] = cells.join(sep);
    },
    () => {
      lines = lines.map((l) => `${l}\r`);
    },
    () => {
      lines = [];
    },
  ];
  const k = 1 + int(4);
  const byteOps: ((b: Buffer) => Buffer)[] = [];
  for (let i = 0; i < k; i++) {
    if (rng() < 0.65) pick(textMutations)();
    else {
      byteOps.push(
        pick([
          (b: Buffer) => {
            const c = Buffer.from(b);
            for (let j = 0, m = 1 + int(5); j < m && c.length > 0; j++) c[int(c.length)] = int(256);
            return c;
          },
          (b: Buffer) => {
            const at = int(b.length + 1);
            const ins = Buffer.from(pick([[0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80], [0x00], [0x2c], [0x0a], [0x0d], [0x20, 0x20]]));
            return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
          },
          (b: Buffer) => b.subarray(0, int(b.length + 1)),
          (b: Buffer) => {
            const at = int(b.length + 1);
            return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(40))]);
          },
        ]),
      );
    }
  }
  let bytes: Buffer = Buffer.from(lines.join('\n'));
  for (const op of byteOps) bytes = op(bytes);
  return { name: src.name, bytes, rng };
}

async function runWorker(data: FuzzData): Promise<void> {
  const { FlowknnError } = await import('../../src/errors.js');
  const { parseStatText } = await import('../../src/ingest/stat-text.js');
  const { parseFlowCsv, parseStatCsv } = await import('../../src/ingest/csv.js');
  const { detectFromHead, headOfText } = await import('../../src/ingest/registry.js');
  const { parseFlowCsvChunks, readFlowCsvFrom } = await import('../../src/ingest/flow-csv/stream.js');
  const { parseStatJson } = await import('../../src/ingest/formats/stat-json.js');
  const { flowJsonBatches } = await import('../../src/ingest/formats/flow-json.js');
  const { buildTable } = await import('../../src/schema/arrow.js');
  const { flowSchema, statSchema } = await import('../../src/schema/tables.js');
  const { mulberry32 } = await import('../../src/random.js');
  const progress = new Int32Array(data.progress);
  const srcs = sources();
  const failures: Failure[] = [];
  const known: Record<string, number> = {};
  const outcomes: Done['outcomes'] = Object.fromEntries(PARSERS.map((p) => [p, { rows: 0, errors: 0, maxMs: 0 }]));
  type Table = Parameters<typeof buildTable>[1];
  /** Reads every value back, as a consumer of the table would; returns the row count. */
  const readBack = (t: { numRows: number; schema: { fields: { name: string }[] }; getChild(n: string): { get(i: number): unknown } | null }) => {
    for (const f of t.schema.fields) {
      const col = t.getChild(f.name)!;
      for (let i = 0; i < t.numRows; i++) col.get(i);
    }
    return t.numRows;
  };
  /**
   * Silent wrong rows: every row a parser keeps must hold values in range (counts whole and at
   * least 0, durations up to ten years, times in order, keys printable), and none may come from
   * a last line cut short (a number cut there reads as a smaller number). Returns the first
   * problem of a table, or undefined.
   */
  const wrongRow = (t: { numRows: number; getChild(n: string): { get(i: number): unknown } | null }, text: string, lineBased: boolean): string | undefined => {
    const col = (name: string) => t.getChild(name);
    const num = (name: string, i: number) => {
      const v = col(name)?.get(i);
      return v === null || v === undefined ? null : Number(v);
    };
    const lines = text.split('\n');
    // JSON records end in their closing brace: one cut short is no record at all.
    const cutLine = lineBased && lines[lines.length - 1] !== '' ? lines.length : -1;
    const flow = col('src_addr') !== null;
    for (let i = 0; i < t.numRows; i++) {
      const where = `row ${i + 1} (line ${num('source_line', i)})`;
      if (num('source_line', i) === cutLine) return `${where} kept from the last line, which the input cut short`;
      const counts = flow ? ['flows', 'in_packets', 'in_bytes'] : ['flows', 'packets', 'bytes'];
      for (const c of counts) {
        const v = num(c, i)!;
        if (!Number.isSafeInteger(v) || v < 0) return `${where}: ${c} = ${v}`;
      }
      const d = num('duration_s', i)!;
      if (!(d >= 0 && d <= 10 * 365.25 * 86400)) return `${where}: duration_s = ${d}`;
      if (flow) {
        const a = num('first_seen', i)!;
        const b = num('last_seen', i)!;
        if (!(b >= a)) return `${where}: last seen ${b} before first seen ${a}`;
        for (const c of ['src_addr', 'dst_addr']) if (!/^[\x21-\x7e]{1,64}$/u.test(String(col(c)!.get(i)))) return `${where}: ${c} = ${JSON.stringify(col(c)!.get(i))}`;
      } else {
        for (const c of ['pps', 'bps', 'bpp']) {
          const v = num(c, i)!;
          if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER)) return `${where}: ${c} = ${v}`;
        }
        if (!/^[\x20-\x7e]{1,128}$/u.test(String(col('key')!.get(i)))) return `${where}: key = ${JSON.stringify(String(col('key')!.get(i)).slice(0, 40))}`;
      }
    }
    return undefined;
  };
  const t0 = performance.now();
  for (let n = data.first; n < data.first + data.cases; n++) {
    Atomics.store(progress, 0, n);
    const { name, bytes, rng } = makeCase(srcs, data.seed, n, mulberry32);
    const text = bytes.toString('utf8');
    const file = `case-${n}-${name}`;
    const maxRejects = [0, 0, 3, 1e6][Math.floor(rng() * 4)]!;
    const chunk = 1 + Math.floor(rng() * Math.max(1, bytes.length));
    const batchRows = 1 + Math.floor(rng() * 64);
    let current: (typeof PARSERS)[number] = 'detectFormat';
    /** Reads the table back and checks its rows; a wrong row is a failure of the case. */
    const checked = (t: Parameters<typeof readBack>[0] & Parameters<typeof wrongRow>[0]): number => {
      const rows = readBack(t);
      const wrong = wrongRow(t, text, !current.includes('Json') && !current.includes('JSON'));
      if (wrong) failures.push({ case: n, parser: current, what: `silent wrong row: ${wrong}`, input: JSON.stringify(text.slice(0, 600)) });
      return rows;
    };
    const calls: [(typeof PARSERS)[number], () => number | Promise<number>][] = [
      ['detectFormat', () => (detectFromHead(headOfText(text, file)), 0)],
      [
        'parseStatText',
        () => {
          const { columns } = parseStatText(text, file, { maxRejects });
          return checked(buildTable(statSchema({}), columns as unknown as Record<string, Table[string]>, columns.length));
        },
      ],
      [
        'parseStatCsv',
        () => {
          const { columns } = parseStatCsv(text, file, { maxRejects });
          return checked(buildTable(statSchema({}), columns as unknown as Record<string, Table[string]>, columns.length));
        },
      ],
      ['parseStatJson', () => checked(parseStatJson(text, file, { maxRejects }).table)],
      [
        'parseFlowCsv',
        () => {
          const { columns } = parseFlowCsv(text, file, { maxRejects });
          return checked(buildTable(flowSchema({}), columns as unknown as Record<string, Table[string]>, columns.length));
        },
      ],
      ['stream (bytes, random chunks)', () => parseFlowCsvChunks(bytes, file, { maxRejects, batchRows }, chunk).batches.reduce((a, b) => a + checked(b), 0)],
      [
        'flow JSON (random chunks)',
        async () => {
          function* chunks() {
            for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
          }
          let rows = 0;
          for await (const b of flowJsonBatches(chunks(), file, { maxRejects, batchRows })) rows += checked(b);
          return rows;
        },
      ],
    ];
    if (n % 20 === 0) {
      calls.push([
        'stream (async source)',
        async () => {
          async function* chunks() {
            for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
          }
          const s = readFlowCsvFrom(chunks(), file, { maxRejects, batchRows, blockBytes: 16 + Math.floor(rng() * 4096) });
          let rows = 0;
          for await (const b of s) rows += checked(b);
          return rows;
        },
      ]);
    }
    for (const [parser, call] of calls) {
      Atomics.store(progress, 1, PARSERS.indexOf(parser));
      current = parser;
      const s = performance.now();
      try {
        await call();
        outcomes[parser]!.rows++;
      } catch (err) {
        if (err instanceof FlowknnError) outcomes[parser]!.errors++;
        else {
          const e = err as Error;
          const what = `${e?.name}: ${e?.message}`;
          const bug = KNOWN_BUGS.find((k) => k.parser === parser && k.what.test(what));
          if (bug) known[bug.bug] = (known[bug.bug] ?? 0) + 1;
          else failures.push({ case: n, parser, what: `${what}\n${e?.stack?.split('\n').slice(1, 4).join('\n')}`, input: JSON.stringify(text.slice(0, 600)) });
        }
      }
      const ms = performance.now() - s;
      outcomes[parser]!.maxMs = Math.max(outcomes[parser]!.maxMs, ms);
      if (ms > SLOW_MS) failures.push({ case: n, parser, what: `took ${ms.toFixed(0)} ms`, input: JSON.stringify(text.slice(0, 600)) });
    }
  }
  parentPort!.postMessage({ type: 'done', failures, known, outcomes, ms: performance.now() - t0 } satisfies Done);
}

if (!isMainThread && (workerData as FuzzData | undefined)?.flowknnFuzz) {
  await runWorker(workerData as FuzzData);
} else {
  const { describe, expect, it } = await import('vitest');
  const { testSeed } = await import('../helpers/random.js');

  /** This file in a worker thread, with tsx registered there first (sources are TypeScript). */
  function fuzzWorker(data: FuzzData): Worker {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    const api = new URL('./dist/esm/api/index.mjs', pathToFileURL(pkg)).href;
    const self = pathToFileURL(fileURLToPath(import.meta.url)).href;
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`;
    return new Worker(boot, { eval: true, workerData: data });
  }

  describe('fuzz: every parser ends in rows or a FlowknnError', () => {
    const only = process.env.FLOWKNN_FUZZ_CASE;
    const cases = only !== undefined ? 1 : Number(process.env.FLOWKNN_FUZZ_CASES ?? 12_000);
    const first = only !== undefined ? Number(only) : 0;

    it(`${cases} seeded mutations of the seed files and real nfdump outputs`, async () => {
      const seed = testSeed('fuzz');
      const progress = new SharedArrayBuffer(8);
      const at = new Int32Array(progress);
      Atomics.store(at, 0, -1);
      const worker = fuzzWorker({ flowknnFuzz: true, seed, first, cases, progress });
      const done = await new Promise<Done>((resolve, reject) => {
        let last = -1;
        let since = performance.now();
        const timer = setInterval(() => {
          const now = Atomics.load(at, 0);
          if (now !== last) {
            last = now;
            since = performance.now();
          } else if (now >= 0 && performance.now() - since > HANG_MS) {
            clearInterval(timer);
            void worker.terminate();
            const parser = PARSERS[Atomics.load(at, 1)];
            reject(new Error(`case ${now} (${parser}) ran more than ${HANG_MS} ms: a hang. Replay: FLOWKNN_TEST_SEED=${seed} FLOWKNN_FUZZ_CASE=${now}`));
          }
        }, 200);
        worker.once('message', (m: Done) => {
          clearInterval(timer);
          resolve(m);
        });
        worker.once('error', (err) => {
          clearInterval(timer);
          reject(err);
        });
        worker.once('exit', (code) => {
          clearInterval(timer);
          reject(new Error(`fuzz worker exited (code ${code}) at case ${Atomics.load(at, 0)}`));
        });
      });
      await worker.terminate();
      const lines = Object.entries(done.outcomes).map(([p, o]) => `  ${p}: ${o.rows} rows, ${o.errors} FlowknnError, slowest ${o.maxMs.toFixed(1)} ms`);
      const knownLines = Object.entries(done.known).map(([bug, count]) => `  known bug (${count} cases): ${bug}`);
      console.log(`[fuzz] seed ${seed}: ${cases} cases in ${(done.ms / 1000).toFixed(1)} s\n${[...lines, ...knownLines].join('\n')}`);
      const report = done.failures
        .slice(0, 20)
        .map((f) => `case ${f.case} ${f.parser}: ${f.what}\n  input: ${f.input}\n  replay: FLOWKNN_TEST_SEED=${seed} FLOWKNN_FUZZ_CASE=${f.case}`)
        .join('\n');
      expect(done.failures.length, `${done.failures.length} failures (seed ${seed}):\n${report}`).toBe(0);
      // The mutations reach past the header checks: every parser returned rows in some cases.
      if (cases >= 1000) for (const p of PARSERS.slice(1)) expect(done.outcomes[p]!.rows, p).toBeGreaterThan(0);
    }, 120_000);
  });

  describe('bugs the fuzzer found in the whole-text parsers, fixed', () => {
    it('readInput: a 1.7.5+ flow CSV with duration 1e308 ends in a FlowknnError (was a RangeError from buildTable)', async () => {
      const { FlowknnError } = await import('../../src/errors.js');
      const { readInput } = await import('../../src/ingest/read.js');
      const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const dir = await mkdtemp(join(tmpdir(), 'flowknn-fuzz-'));
      const file = join(dir, 'd.csv');
      await writeFile(file, 'firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n2026-11-01 10:00:03.920,1e308,17,192.168.1.31,49231,10.0.0.53,53,1,88,1\n');
      let err: unknown;
      try {
        await readInput(file, 'auto', { maxRejects: 5 });
      } catch (e) {
        err = e;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      expect(err).toBeInstanceOf(FlowknnError);
    });

    it('parseFlowCsv / parseStatCsv: an epoch time past the int64 range is rejected (was kept, wrapped, and threw TypeError when read back)', async () => {
      const { parseFlowCsv, parseStatCsv } = await import('../../src/ingest/csv.js');
      const flow = 'firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n99999999999999999999999,0.000,17,192.168.1.31,1,10.0.0.53,53,1,88,1\n';
      const stat = 'ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp\n99999999999999999999,2026-11-01 10:05:27,2.256,any,203.0.113.17,1,0.4,136,0.9,199901,1.2,60,708868,1469\n';
      expect(() => parseFlowCsv(flow, 'f.csv', { maxRejects: 1 })).toThrow(/first seen/);
      expect(() => parseStatCsv(stat, 's.csv', { maxRejects: 1 })).toThrow(/ts/);
    });

    it('parseFlowCsv: ICMP type.code outside 0..255 is rejected ("300.1" gave dst_port 76801, "4294967296.0" gave 0)', async () => {
      const { parseFlowCsv } = await import('../../src/ingest/csv.js');
      const text = 'firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n2026-11-01 10:00:03.920,0.000,1,192.168.1.31,0,10.0.0.53,300.1,1,88,1\n';
      expect(() => parseFlowCsv(text, 'i.csv')).toThrow(/port/);
    });
  });
}
