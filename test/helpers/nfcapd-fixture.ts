import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate, toPcap } from '../fixtures/gen/pcap.js';
import { makeTempDir } from './tmp.js';

const run = promisify(execFile);

/** True when nfdump and nfpcapd are on PATH (the nfcapd tests need both). */
export function hasNfdumpTools(): boolean {
  try {
    execFileSync('nfdump', ['-V'], { stdio: 'ignore' });
    execFileSync('nfpcapd', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // nfpcapd -h exits non-zero on some builds; only a missing binary counts.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * The seed of a test file's traffic: FLOWKNN_NFCAPD_SEED when set (to reproduce or explore a
 * failure), else the given default. Printed, so every run says what it generated.
 */
export function nfcapdSeed(fallback: number, what: string): number {
  const env = process.env.FLOWKNN_NFCAPD_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) : fallback;
  if (!Number.isInteger(seed)) throw new Error(`FLOWKNN_NFCAPD_SEED must be an integer, got "${env}"`);
  console.log(`${what}: nfcapd files from pcap seed ${seed} (set FLOWKNN_NFCAPD_SEED to change)`);
  return seed;
}

export interface NfcapdFixture {
  readonly seed: number;
  readonly dir: string;
  /** Folder holding only the nfcapd files (nfpcapd's output). */
  readonly flowDir: string;
  /** The nfcapd files, in time order. */
  readonly files: string[];
  readonly cleanup: () => Promise<void>;
}

/**
 * Seeded pcap (test/fixtures/gen/pcap.ts) -> `nfpcapd -r X.pcap -w DIR -e 300,60 -t 300` ->
 * three 5-minute nfcapd files, fresh in a temp dir, as make-nfdump-fixtures.sh makes them.
 */
export async function makeNfcapdFixture(seed: number): Promise<NfcapdFixture> {
  const { dir, cleanup } = await makeTempDir('flowknn-nfcapd-');
  const pcap = join(dir, 'traffic.pcap');
  const flowDir = join(dir, 'flows');
  await mkdir(flowDir);
  await writeFile(pcap, toPcap(generate(seed)));
  await run('nfpcapd', ['-r', pcap, '-w', flowDir, '-e', '300,60', '-t', '300']);
  const files = (await readdir(flowDir))
    .filter((f) => /^nfcapd\.\d{12}$/u.test(f))
    .sort()
    .map((f) => join(flowDir, f));
  if (files.length === 0) throw new Error(`nfpcapd wrote no nfcapd files into ${flowDir}`);
  return { seed, dir, flowDir, files, cleanup };
}

/** Runs the real nfdump (argument list, TZ=UTC) and returns its stdout. */
export async function nfdumpText(args: string[]): Promise<string> {
  const { stdout } = await run('nfdump', args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' }, maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** One row of nfdump's statistics CSV, as text (`ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp`). */
export interface StatCsvRow {
  section: number;
  ts: string;
  te: string;
  td: string;
  pr: string;
  val: string;
  fl: string;
  pkt: string;
  byt: string;
  pps: string;
  bps: string;
  bpp: string;
}

/** Splits `nfdump -s ... -o csv` output into its rows (one section per print order), as text. */
export function splitStatCsv(text: string): StatCsvRow[] {
  const rows: StatCsvRow[] = [];
  let section = -1;
  for (const line of text.split('\n')) {
    if (line.startsWith('ts,te,td,')) {
      section++;
      continue;
    }
    if (/^summary/iu.test(line)) break;
    const c = line.split(',');
    if (c.length !== 14) continue;
    rows.push({ section, ts: c[0]!, te: c[1]!, td: c[2]!, pr: c[3]!, val: c[4]!, fl: c[5]!, pkt: c[7]!, byt: c[9]!, pps: c[11]!, bps: c[12]!, bpp: c[13]! });
  }
  return rows;
}

/**
 * Writes an executable stand-in for nfdump (a POSIX shell script) and returns its path; for
 * tests that must see exactly what flowknn passes, or control what "nfdump" prints. It answers
 * `-V` as the given release (default 1.7.1) and `-I` (a file's totals) with the given totals,
 * or by running the real nfdump on the file (`real`, the default); any other call runs `body`,
 * whose flow listing gets nfdump's Summary line of what it printed.
 */
export async function writeFakeNfdump(
  dir: string,
  name: string,
  body: string,
  options: { version?: string; totals?: 'real' | { flows: number; packets: number; bytes: number } } = {},
): Promise<string> {
  const path = join(dir, name);
  const version = options.version ?? '1.7.1';
  const t = options.totals ?? 'real';
  const totals = t === 'real' ? 'exec nfdump "$@"' : `printf 'Flows: %s\\nPackets: %s\\nBytes: %s\\n' ${t.flows} ${t.packets} ${t.bytes}; exit 0`;
  // Flow listings (-o fmt:) end with nfdump's Summary line, which flowknn checks the rows
  // against: the stand-in prints one that counts the flow lines it printed, as nfdump would.
  const summary = `awk -F'|' '{ print } NF == 13 { f += $13; p += $9 + $11; b += $10 + $12 } END { printf "Summary: total flows: %d, total bytes: %d, total packets: %d, avg bps: 0, avg pps: 0, avg bpp: 0\\n", f, b, p }'`;
  await writeFile(
    path,
    `#!/bin/sh\ncase " $* " in *" -V "*) echo 'nfdump: Version: ${version}'; exit 0;; *" -I "*) ${totals};; esac\n` +
      `case "$*" in *fmt:*) st=$(mktemp); { (\n${body}\n); echo $? > "$st"; } | ${summary}; r=$(cat "$st"); rm -f "$st"; exit \${r:-0};; esac\n${body}\n`,
  );
  await chmod(path, 0o755);
  return path;
}
