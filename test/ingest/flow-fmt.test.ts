/**
 * nfdump's flow output (`-o fmt:` FLOW_FMT) parsed from bytes, as flowknn reads nfcapd files:
 * every input, however it is cut into chunks, gives the rows, rejects and errors of the text
 * rules (parseFlowFmtLine applied to each line). Checked on real nfdump output of nfcapd files
 * made by nfpcapd, and on 10^4 seeded mutations of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { FLOW_FMT, parseFlowFmt, parseFlowFmtLine } from '../../src/ingest/flow-fmt.js';
import { flowArgs } from '../../src/ingest/nfdump/flows.js';
import { FileRejects } from '../../src/ingest/rejects.js';
import { FlowColumns } from '../../src/schema/tables.js';
import { hasNfdumpTools, makeNfcapdFixture, nfcapdSeed, nfdumpText, type NfcapdFixture } from '../helpers/nfcapd-fixture.js';
import { mulberry32, testSeed } from '../helpers/random.js';

/** Lines as nfdump 1.7.1 prints them (the first two verbatim from a file made by nfpcapd): UDP, TCP, ICMP, IPv6. */
const REAL = [
  '1793491200.004|           0.000|1793491200.004|17   |                         192.168.21.253| 55733|                              10.0.0.53|    53|       1|      74|       0|       0|    1',
  '1793491200.007|           0.000|1793491200.007|17   |                              10.0.0.53|    53|                         192.168.21.253| 55733|       1|     203|       0|       0|    1',
  '1793491201.120|          12.345|1793491213.065|6    |                          192.168.0.177| 49627|                              10.0.0.10|   443|      14|    9120|       0|       0|    1',
  '1793491202.500|           0.999|1793491203.099|1    |                               10.0.0.1|     0|                          192.168.3.4|   8.0|       2|     168|       0|       0|    1',
  '1793491203.000|           1.000|1793491204.000|17   |                          2001:db8::53| 53000|                         2001:db8:1::53|    53|       3|     300|       0|       0|    2',
];

/** The text rules, line by line, with the line splitting nfdump's output gets. */
function reference(bytes: Buffer, maxRejectFraction?: number, maxRejects?: number) {
  const columns = new FlowColumns();
  const rejects = new FileRejects('f', { maxRejects, maxRejectFraction });
  const text = bytes.toString('utf8');
  const parts = text.split('\n');
  const last = parts.pop()!;
  let rows = 0;
  parts.forEach((line, i) => {
    if (parseFlowFmtLine(line.replace(/\r$/u, ''), i + 1, columns, rejects)) rows++;
  });
  if (last !== '' && parseFlowFmtLine(last, parts.length + 1, columns, rejects)) rows++;
  rejects.finish(rows + rejects.count);
  return { columns, rejects };
}

type Outcome = { columns: FlowColumns; rejects: { line: number; reason: string; raw: string }[] } | { error: string };

function outcome(run: () => { columns: FlowColumns; rejects: FileRejects }): Outcome {
  try {
    const r = run();
    return { columns: r.columns, rejects: r.rejects.first.map(({ line, reason, raw }) => ({ line, reason, raw })) };
  } catch (err) {
    if (err instanceof FlowknnError) return { error: err.format() };
    throw err;
  }
}

function plain(c: FlowColumns): Record<string, unknown[]> {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, [...(v as unknown[])]]));
}

function expectSame(bytes: Buffer, chunk: number, threshold: { maxRejectFraction?: number; maxRejects?: number }, what: string): Outcome {
  const want = outcome(() => reference(bytes, threshold.maxRejectFraction, threshold.maxRejects));
  const got = outcome(() => parseFlowFmt(bytes, 'f', threshold, chunk));
  if ('error' in want || 'error' in got) {
    expect(got, what).toEqual(want);
  } else {
    expect(plain(got.columns), what).toEqual(plain(want.columns));
    expect(got.rejects, what).toEqual(want.rejects);
  }
  return want;
}

describe('nfdump flow output parsed from bytes', () => {
  it('a real line gives the flow nfdump printed', () => {
    const { columns: c } = parseFlowFmt(Buffer.from(`${REAL.join('\n')}\n`), 'f');
    expect(c.length).toBe(5);
    expect(c.first_seen[2]).toBe(1793491201120);
    expect(c.last_seen[2]).toBe(1793491213465);
    expect(c.duration_s[2]).toBe(12.345);
    expect(c.src_addr[2]).toBe('192.168.0.177');
    expect(c.dst_port[2]).toBe(443);
    expect(c.proto.slice(0, 4)).toEqual(['UDP', 'UDP', 'TCP', 'ICMP']);
    expect(c.dst_port[3]).toBe(8 * 256); // ICMP echo request, type.code 8.0
    expect(c.dst_addr[4]).toBe('2001:db8:1::53');
    expect(c.flows[4]).toBe(2);
    expect(c.in_bytes.reduce((a, b) => a + b)).toBe(74 + 203 + 9120 + 168 + 300);
    expect(c.source_line).toEqual([1, 2, 3, 4, 5]);
  });

  it('any cut into chunks gives the same rows, down to one byte at a time', () => {
    const bytes = Buffer.from(`\n${REAL.join('\r\n')}\nNo matching flows\n${REAL[0]}`);
    for (const chunk of [1, 2, 3, 7, 64, 200, bytes.length]) expectSame(bytes, chunk, { maxRejects: 0 }, `chunks of ${chunk}`);
  });

  it('a bad line fails the file naming the line, or is counted within the threshold', () => {
    const bytes = Buffer.from(`${REAL[0]}\n${REAL[1]!.replace('|    53|', '|  99999|')}\n${REAL[2]}\n`);
    const fail = outcome(() => parseFlowFmt(bytes, 'flows.txt'));
    expect('error' in fail && fail.error).toMatch(/^flows\.txt:2: a bad line \(no bad lines allowed\).*line 2: ports: expected 0\.\.65535/u);
    const kept = parseFlowFmt(bytes, 'flows.txt', { maxRejects: 1 });
    expect(kept.columns.length).toBe(2);
    expect(kept.rejects.first.map((r) => r.line)).toEqual([2]);
    const share = outcome(() => parseFlowFmt(bytes, 'flows.txt', { maxRejectFraction: 0.2 }));
    expect('error' in share && share.error).toMatch(/1 of 3 data lines are bad \(33\.3%\), more than the 20\.0% allowed/u);
  });

  describe('10^4 seeded mutations: the bytes give what the text rules give', () => {
    let fx: NfcapdFixture | undefined;
    let corpus: string[] = REAL;
    beforeAll(async () => {
      if (!hasNfdumpTools()) return;
      fx = await makeNfcapdFixture(nfcapdSeed(20261128, 'test/ingest/flow-fmt.test.ts'));
      const lines = (await nfdumpText(flowArgs(fx.files[1]!))).split('\n').filter((l) => l !== '');
      corpus = [...REAL, ...lines];
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('real nfdump output of an nfcapd file made by nfpcapd, whole and in chunks', async () => {
      if (!fx) return; // without nfdump only the built-in lines are used (next test)
      const text = await nfdumpText(flowArgs(fx.files[0]!));
      const bytes = Buffer.from(text);
      const want = expectSame(bytes, bytes.length, {}, 'whole');
      expect('columns' in want && want.columns.length).toBeGreaterThan(10);
      for (const chunk of [1, 97, 65536]) expectSame(bytes, chunk, {}, `chunks of ${chunk}`);
    });

    it('mutated lines', () => {
      const seed = testSeed('flow-fmt mutations');
      const rand = mulberry32(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const odd = ['', ' ', '-1', '0', '00', '017', '255', '256', '65535', '65536', '255.255', '256.0', '8.256', '1.2.3', '9007199254740991', '9007199254740992',
        '999999999999999', '1000000000000000', '123456789012345678901234567890', '1e3', '+1', '0x10', '1793491200.04', '1793491200.0040', '.004', '1793491200.',
        '\t17', '17\t', '\u00a0', '\r', 'ÿ', 'TCP', 'icmp-v6', '::1', 'fe80::1%eth0', '10.0.0.1 ', ' 10.0.0.1', 'a b', 'No matching flows', '|'];
      const cases = 10_000;
      let rows = 0;
      let errors = 0;
      for (let n = 0; n < cases; n++) {
        const lines = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(corpus));
        const mutations = 1 + Math.floor(rand() * 3);
        for (let m = 0; m < mutations; m++) {
          const at = Math.floor(rand() * lines.length);
          const line = lines[at]!;
          const cells = line.split('|');
          switch (Math.floor(rand() * 8)) {
            case 0: // a field replaced by an odd value, padded or not
              cells[Math.floor(rand() * cells.length)] = rand() < 0.5 ? pick(odd) : `   ${pick(odd)}`;
              lines[at] = cells.join('|');
              break;
            case 1: // two fields swapped
              {
                const i = Math.floor(rand() * cells.length);
                const j = Math.floor(rand() * cells.length);
                [cells[i], cells[j]] = [cells[j]!, cells[i]!];
                lines[at] = cells.join('|');
              }
              break;
            case 2: // cut
              lines[at] = line.slice(0, Math.floor(rand() * line.length));
              break;
            case 3: // a byte changed
              {
                const i = Math.floor(rand() * line.length);
                lines[at] = line.slice(0, i) + String.fromCharCode(Math.floor(rand() * 128)) + line.slice(i + 1);
              }
              break;
            case 4: // a field dropped or added
              if (rand() < 0.5) cells.splice(Math.floor(rand() * cells.length), 1);
              else cells.splice(Math.floor(rand() * cells.length), 0, pick(odd));
              lines[at] = cells.join('|');
              break;
            case 5: // a digit added to a number (huge values, more decimals)
              {
                const i = Math.floor(rand() * cells.length);
                cells[i] = `${cells[i]}${Math.floor(rand() * 10)}`;
                lines[at] = cells.join('|');
              }
              break;
            case 6: // CR, blank or junk lines
              lines.splice(at, 0, pick(['', '\r', 'No matching flows', '  ', 'Ident: none', pick(odd)]));
              break;
            default: // padding changed: removed or tabs
              lines[at] = rand() < 0.5 ? line.replace(/ +/gu, '') : line.replace(/ {2}/u, '\t');
          }
        }
        let text = lines.join(rand() < 0.2 ? '\r\n' : '\n');
        if (rand() < 0.7) text += '\n';
        let bytes = Buffer.from(text, 'utf8');
        if (rand() < 0.05) bytes = Buffer.concat([bytes.subarray(0, 10), Buffer.from([0xc3]), bytes.subarray(10)]); // invalid UTF-8
        const chunk = rand() < 0.3 ? 1 + Math.floor(rand() * 8) : 1 + Math.floor(rand() * 400);
        const threshold = rand() < 0.5 ? { maxRejects: Math.floor(rand() * 3) } : { maxRejectFraction: rand() };
        const want = expectSame(bytes, chunk, threshold, `case ${n} (seed ${seed}): ${JSON.stringify(bytes.toString('utf8'))}, chunks of ${chunk}, ${JSON.stringify(threshold)}`);
        if ('error' in want) errors++;
        else rows += want.columns.length;
      }
      console.log(`${cases} cases: ${rows} rows, ${errors} failed files`);
      expect(rows).toBeGreaterThan(cases);
      expect(errors).toBeGreaterThan(cases / 10);
    });
  });
});

it('FLOW_FMT asks nfdump for the 13 fields the parser reads', () => {
  expect(FLOW_FMT.slice(4).split('|')).toHaveLength(13);
});
