import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowArgs, flowBatchTable, readNfcapdFlows, readNfcapdFlowTable, type FlowBatch } from '../../src/ingest/nfdump/flows.js';
import { readNfcapdHeader } from '../../src/ingest/nfdump/nfcapd-file.js';
import { scanNfcapdStats, statArgs } from '../../src/ingest/nfdump/stats.js';
import { FLOW_FIELDS } from '../../src/schema/tables.js';
import {
  hasNfdumpTools,
  makeNfcapdFixture,
  nfcapdSeed,
  nfdumpText,
  splitStatCsv,
  writeFakeNfdump,
  type NfcapdFixture,
} from '../helpers/nfcapd-fixture.js';
import { failure } from '../helpers/failure.js';


async function collect(file: string, options: Parameters<typeof readNfcapdFlows>[1] = {}): Promise<FlowBatch[]> {
  const out: FlowBatch[] = [];
  for await (const b of readNfcapdFlows(file, options)) out.push(b);
  return out;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isRunning(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isRunning(pid);
}

/** A file name with every character a shell would act on. */
const NASTY = `we ird 'single' "double" $HOME; echo x|y &(z)`;

const tools = hasNfdumpTools();
if (!tools) console.warn('nfdump/nfpcapd not on PATH: skipping the nfcapd ingest tests (apt-get install nfdump)');

describe.skipIf(!tools)('nfcapd through nfdump', () => {
  let fx: NfcapdFixture;

  beforeAll(async () => {
    fx = await makeNfcapdFixture(nfcapdSeed(20261101, 'test/ingest/nfcapd.test.ts'));
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  describe('flow mode', () => {
    it('reads every flow record of each file, totals as nfdump counts them', async () => {
      for (const file of fx.files) {
        const batches = await collect(file);
        const rows = batches.reduce((n, b) => n + b.columns.length, 0);
        const sum = (pick: (b: FlowBatch) => number[]) => batches.reduce((s, b) => s + pick(b).reduce((a, v) => a + v, 0), 0);
        // nfdump's own totals: the Summary trailer of -o csv is `flows,bytes,packets,...`.
        const csv = (await nfdumpText(['-r', file, '-o', 'csv'])).trim().split('\n');
        const [flows, bytes, packets] = csv[csv.length - 1]!.split(',').map(Number);
        expect(rows).toBeGreaterThan(10);
        expect(sum((b) => b.columns.flows)).toBe(flows);
        expect(sum((b) => b.columns.in_bytes) + sum((b) => b.columns.out_bytes as number[])).toBe(bytes);
        expect(sum((b) => b.columns.in_packets) + sum((b) => b.columns.out_packets as number[])).toBe(packets);
        // nfpcapd makes unidirectional flows: out counters are 0 (so nfdump's in+out = in).
        expect(sum((b) => b.columns.out_packets as number[])).toBe(0);
        expect(batches.every((b) => b.rejects.length === 0)).toBe(true);
      }
    });

    it('first and last seen carry nfdump\'s milliseconds (not %ter\'s, which 1.7.1 prints wrong)', async () => {
      const file = fx.files[1]!;
      const [batch] = await collect(file, { batchRows: 1_000_000 });
      const c = batch!.columns;
      // %ts/%te print the local time with .mmm; TZ=UTC makes it ISO-comparable.
      const lines = (await nfdumpText(['-r', file, '-q', '-o', 'fmt:%ts|%te'])).trim().split('\n');
      expect(lines).toHaveLength(c.length);
      const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
      lines.forEach((line, i) => {
        const [ts, te] = line.split('|').map((s) => s.trim());
        expect(iso(c.first_seen[i]!), `row ${i + 1}`).toBe(ts);
        expect(iso(c.last_seen[i]!), `row ${i + 1}`).toBe(te);
        expect(c.duration_s[i]).toBe((c.last_seen[i]! - c.first_seen[i]!) / 1000);
      });
      // 1.7.1's %ter really does drop the hundreds of the milliseconds: the reason for %td.
      const ter = (await nfdumpText(['-r', file, '-q', '-N', '-o', 'fmt:%ter'])).trim().split('\n').map((s) => s.trim());
      const wrong = ter.filter((t, i) => Number(t.split('.')[1]) !== c.last_seen[i]! % 1000);
      expect(wrong.length).toBeGreaterThan(0);
    });

    it('yields batches of at most batchRows, with full IPv6 addresses and protocol names', async () => {
      const batches = await collect(fx.files[2]!, { batchRows: 16 });
      expect(batches.length).toBeGreaterThan(2);
      expect(batches.every((b) => b.columns.length <= 16)).toBe(true);
      expect(batches.slice(0, -1).every((b) => b.columns.length === 16)).toBe(true);
      const addrs = batches.flatMap((b) => [...b.columns.src_addr, ...b.columns.dst_addr]);
      expect(addrs).toContain('2001:db8:1::53');
      expect(addrs.some((a) => a.includes('..'))).toBe(false); // no condensed v6
      const protos = new Set(batches.flatMap((b) => b.columns.proto));
      expect([...protos].sort()).toEqual(['TCP', 'UDP']);
      // source_line numbers nfdump's output lines: its header is line 1, the flows 2..n+1
      const lines = batches.flatMap((b) => b.columns.source_line);
      expect(lines).toEqual(lines.map((_, i) => i + 2));
    });

    it('builds Arrow flow tables with the flow schema', async () => {
      const [batch] = await collect(fx.files[0]!);
      const t = flowBatchTable(batch!);
      expect(t.schema.fields.map((f) => f.name)).toEqual(FLOW_FIELDS.map((f) => f.name));
      expect(t.schema.metadata.get('flowknn.kind')).toBe('flow');
      expect(t.schema.metadata.get('flowknn.format')).toBe('nfcapd');
      expect(t.numRows).toBe(batch!.columns.length);
      const whole = await readNfcapdFlowTable(fx.files[0]!, { batchRows: 10 });
      expect(whole.table.numRows).toBe(batch!.columns.length);
      expect(whole.table.batches.length).toBe(Math.ceil(batch!.columns.length / 10));
    });

    it('passes the filter expression to nfdump', async () => {
      const all = await readNfcapdFlowTable(fx.files[0]!);
      const udp = await readNfcapdFlowTable(fx.files[0]!, { filter: 'proto udp' });
      const none = await readNfcapdFlowTable(fx.files[0]!, { filter: 'packets > 999999999' });
      expect(udp.table.numRows).toBeGreaterThan(0);
      expect(udp.table.numRows).toBeLessThan(all.table.numRows);
      expect(new Set(udp.table.getChild('proto')!.toArray())).toEqual(new Set(['UDP']));
      expect(none.table.numRows).toBe(0);
    });
  });

  describe('stat mode', () => {
    it("gives nfdump's -s dstip/ORDER -n 0 -o csv rows, and the totals", async () => {
      const file = fx.files[1]!;
      for (const order of ['pps', 'bps']) {
        const scan = await scanNfcapdStats(file, { order });
        expect(scan.rejects).toEqual([]);
        const raw = splitStatCsv(await nfdumpText(['-r', file, '-s', `dstip/${order}`, '-n', '0', '-o', 'csv']));
        expect(scan.key.length).toBe(raw.length);
        raw.forEach((r, i) => {
          expect(scan.key[i]).toBe(r.val);
          expect([scan.flows[i], scan.packets[i], scan.bytes[i], scan.pps[i], scan.bps[i], scan.bpp[i]]).toEqual([r.fl, r.pkt, r.byt, r.pps, r.bps, r.bpp].map(Number));
          expect(scan.durationS[i]!.toFixed(3)).toBe(r.td);
          expect(new Date(scan.firstSeen[i]!).toISOString().slice(0, 19).replace('T', ' ')).toBe(r.ts);
        });
        expect(scan.outcome?.totalsCheck).toBe('Summary trailer');
        expect(scan.outcome?.nfdump).toMatch(/^1\.7\.1$/u);
      }
    });

    it('srcip, minimum packets (aggregate, like -l) and a filter expression', async () => {
      const file = fx.files[1]!;
      const src = await scanNfcapdStats(file, { stat: 'srcip' });
      const dst = await scanNfcapdStats(file, { stat: 'dstip' });
      expect(new Set(src.key)).not.toEqual(new Set(dst.key));
      const big = await scanNfcapdStats(file, { minPackets: 100 });
      expect(big.key).toEqual(dst.key.filter((_, i) => dst.packets[i]! >= 100));
      expect(big.key.length).toBeGreaterThan(0);
      // nfdump 1.7.1 still has -l: minPackets N is `-l N-1`.
      const viaL = splitStatCsv(await nfdumpText(['-r', file, '-s', 'dstip/pps', '-n', '0', '-o', 'csv', '-l', '99'])).map((r) => r.val);
      expect(new Set(big.key)).toEqual(new Set(viaL));
      expect(statArgs('/f', { filter: 'proto tcp' }).at(-1)).toBe('proto tcp');
      const tcp = await scanNfcapdStats(file, { filter: 'proto tcp' });
      expect(tcp.key.length).toBeGreaterThan(0);
      expect(tcp.totalFlows).toBeLessThan(dst.totalFlows);
    });

    it('a filter that matches nothing gives no rows, not an error', async () => {
      const scan = await scanNfcapdStats(fx.files[0]!, { filter: 'packets > 999999999' });
      expect(scan.key).toEqual([]);
    });

    it('rejects bad statistic or order names before running nfdump', async () => {
      for (const options of [{ stat: 'dstip; rm -rf /' }, { order: '-w /tmp/x' }, { top: -1 }]) {
        const err = await failure(scanNfcapdStats(fx.files[0]!, options));
        expect(err.kind).toBe('usage');
      }
    });
  });

  describe('no shell: names and filters reach nfdump unchanged', () => {
    it('passes an argument list: the exact file name and filter, as single arguments', async () => {
      const dir = join(fx.dir, NASTY);
      await mkdir(dir, { recursive: true });
      const file = join(dir, `nf cap$d;'"x`);
      await copyFile(fx.files[0]!, file);
      const record = join(fx.dir, 'argv.txt');
      // prints each argument on its own line, NUL-terminated, then no flows
      const fake = await writeFakeNfdump(fx.dir, 'fake-nfdump', `for a in "$@"; do printf '%s\\0' "$a" >> '${record}'; done; echo 'No matching flows'`, {
        version: '1.7.8',
        totals: { flows: 0, packets: 0, bytes: 0 },
      });
      const filter = `payload content 'a b$HOME;"x' and not ident "$(touch /tmp/pwned)"`;
      await collect(file, { nfdump: fake, filter });
      const argv = (await readFile(record, 'utf8')).split('\0').slice(0, -1);
      expect(argv).toEqual(flowArgs(resolve(file), filter));
      expect(argv[1]).toBe(resolve(file));
      expect(argv.at(-1)).toBe(filter);
      await writeFile(record, '');
      await scanNfcapdStats(file, { nfdump: fake, filter });
      const statArgv = (await readFile(record, 'utf8')).split('\0').slice(0, -1);
      expect(statArgv).toEqual(statArgs(resolve(file), { filter }));
      expect(statArgv.at(-1)).toBe(filter);
    });

    it('the real nfdump reads a file so named, and applies a quoted-string filter', async () => {
      const dir = join(fx.dir, NASTY);
      await mkdir(dir, { recursive: true });
      const file = join(dir, `-nf cap$d;'"x`);
      await copyFile(fx.files[0]!, file);
      const plain = (await readNfcapdFlowTable(fx.files[0]!)).table.numRows;
      expect((await readNfcapdFlowTable(file)).table.numRows).toBe(plain);
      const needle = `payload content 'a b$HOME;"x'`;
      expect((await readNfcapdFlowTable(file, { filter: needle })).table.numRows).toBe(0);
      expect((await readNfcapdFlowTable(file, { filter: `not ${needle}` })).table.numRows).toBe(plain);
      const stats = await scanNfcapdStats(file, { filter: `not ${needle}` });
      expect(stats.key.length).toBe((await scanNfcapdStats(fx.files[0]!)).key.length);
    });
  });

  describe('failures', () => {
    it('nfdump missing: environment error (exit 3) that says how to install it', async () => {
      const bogus = await failure(collect(fx.files[0]!, { nfdump: join(fx.dir, 'no', 'such', 'nfdump') }));
      expect(bogus.kind).toBe('environment');
      expect(bogus.exitCode).toBe(3);
      expect(bogus.message).toContain('nfdump not found');
      expect(bogus.hint).toContain('apt-get install nfdump');
      // PATH without nfdump (an empty folder)
      const empty = join(fx.dir, 'empty-bin');
      await mkdir(empty, { recursive: true });
      for (const read of [() => collect(fx.files[0]!, { env: { PATH: empty } }), () => scanNfcapdStats(fx.files[0]!, { env: { PATH: empty } })]) {
        const err = await failure(read());
        expect(err.kind).toBe('environment');
        expect(err.exitCode).toBe(3);
        expect(err.format()).toContain('apt-get install nfdump');
      }
    });

    it('a truncated nfcapd file: input error naming the file and quoting nfdump, no hang', async () => {
      const whole = await readFile(fx.files[2]!);
      for (const cut of [40, Math.floor(whole.length / 2), whole.length - 7]) {
        const file = join(fx.dir, `truncated-${cut}.nfcapd`);
        await writeFile(file, whole.subarray(0, cut));
        const started = Date.now();
        for (const read of [() => collect(file), () => scanNfcapdStats(file)]) {
          const err = await failure(read());
          expect(err.kind).toBe('input');
          expect(err.exitCode).toBe(1);
          expect(err.file).toBe(file);
          expect(err.format()).toContain(file);
          expect(err.message).toMatch(/nfdump (reported an error|failed)/u);
          // nfdump's own words, e.g. "Open file ...: appendix offset error"
          expect(err.message).toMatch(/error|short read|corrupt/iu);
        }
        expect(Date.now() - started).toBeLessThan(10_000);
      }
    });

    it('not an nfcapd file, a missing file, a folder', async () => {
      const text = join(fx.dir, 'notes.txt');
      await writeFile(text, 'hello\n');
      const err = await failure(collect(text));
      expect(err.kind).toBe('input');
      expect(err.message).toMatch(/short read/iu);
      expect(await readNfcapdHeader(text)).toBeUndefined();
      expect(await readNfcapdHeader(fx.files[0]!)).toEqual({ layout: 2, writer: '1.7.1' });
      const missing = await failure(collect(join(fx.dir, 'nope')));
      expect(missing.kind).toBe('usage');
      expect(missing.message).toBe('no such file');
      expect((await failure(scanNfcapdStats(fx.flowDir))).kind).toBe('usage');
    });

    it('nfdump exiting non-zero, or printing lines that are not flows', async () => {
      const dying = await writeFakeNfdump(fx.dir, 'dying-nfdump', `echo 'Segmentation fault in nfx.c' >&2; exit 139`);
      const err = await failure(collect(fx.files[0]!, { nfdump: dying }));
      expect(err.kind).toBe('input');
      expect(err.message).toContain('exit status 139');
      expect(err.message).toContain('Segmentation fault in nfx.c');
      const chatty = await writeFakeNfdump(fx.dir, 'chatty-nfdump', `echo '1793527805.465|0.000|1793527805.065|17|10.0.0.1|1|10.0.0.2|53|1|60|0|0|1'; echo 'Ident: none'`);
      const bad = await failure(collect(fx.files[0]!, { nfdump: chatty }));
      expect(bad.kind).toBe('input');
      expect(bad.line).toBe(2);
      const ok = await collect(fx.files[0]!, { nfdump: chatty, maxRejects: 1 });
      expect(ok[0]!.columns.length).toBe(1);
      expect(ok[0]!.rejects.map((r) => r.line)).toEqual([2]);
    });

    it('stopping early kills nfdump; so does an abort signal', async () => {
      const pidFile = join(fx.dir, 'endless.pid');
      const endless = await writeFakeNfdump(
        fx.dir,
        'endless-nfdump',
        `echo $$ > '${pidFile}'; while :; do echo '1793527805.465|0.000|1793527805.065|17|10.0.0.1|1|10.0.0.2|53|1|60|0|0|1'; done`,
      );
      let seen = 0;
      for await (const batch of readNfcapdFlows(fx.files[0]!, { nfdump: endless, batchRows: 1000 })) {
        seen += batch.columns.length;
        if (seen >= 3000) break;
      }
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(await waitGone(pid)).toBe(true);

      const controller = new AbortController();
      const reason = new Error('stop now');
      const p = (async () => {
        for await (const batch of readNfcapdFlows(fx.files[0]!, { nfdump: endless, batchRows: 1000, signal: controller.signal })) {
          if (batch.columns.length > 0) controller.abort(reason);
        }
      })();
      await expect(p).rejects.toBe(reason);
      const pid2 = Number(await readFile(pidFile, 'utf8'));
      expect(pid2).not.toBe(pid);
      expect(await waitGone(pid2)).toBe(true);
    });
  });
});
