import { spawn } from 'node:child_process';
import { environmentError } from '../errors.js';

/**
 * nfdump's `nfpcapd` turns a pcap file into nfcapd files (`nfpcapd -r file.pcap -w dir`). It is
 * spawned with an argument list, never through a shell, with TZ=UTC: nfpcapd names its files
 * after the local time of the packets, and the archive is named in UTC.
 */

export const NFPCAPD_HINT = 'install nfdump, which provides nfpcapd (Debian/Ubuntu: apt-get install nfdump; macOS: brew install nfdump), or pass its path with --nfpcapd';

// (nfpcapd 1.7.1 lists -j for BZ2 but parses it as an option with an argument: not offered)
export const COMPRESSIONS = ['none', 'lz4', 'lzo'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const COMPRESSION_FLAG: Readonly<Record<Compression, string | null>> = { none: null, lz4: '-y', lzo: '-z' };

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function run(binary: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (b: Buffer) => {
      // the tail is what explains a failure; keep at most 64 KiB
      chunks.push(b);
      kept += b.length;
      while (kept > 65536 && chunks.length > 1) kept -= chunks.shift()!.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

function missing(binary: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return environmentError(`nfpcapd not found (${binary}): the generator needs it to write nfcapd files`, NFPCAPD_HINT, err);
  if (code === 'EACCES') return environmentError(`nfpcapd is not executable (${binary})`, NFPCAPD_HINT, err);
  return environmentError(`cannot run nfpcapd (${binary}): ${(err as Error).message}`, NFPCAPD_HINT, err);
}

/** `nfpcapd -V`, e.g. "nfpcapd: Version: 1.7.1"; an environment error when it cannot run. */
export async function nfpcapdVersion(binary = 'nfpcapd'): Promise<string> {
  let r: Run;
  try {
    r = await run(binary, ['-V'], 30_000);
  } catch (err) {
    throw missing(binary, err);
  }
  const line = r.output.split('\n')[0]?.trim() ?? '';
  if (r.code !== 0 || !/version/iu.test(line)) {
    throw environmentError(`${binary} -V did not print a version (exit ${r.code ?? r.signal}): ${line || 'no output'}`, NFPCAPD_HINT);
  }
  return line;
}

/**
 * The nfpcapd arguments for one pcap (rotation every `rotateSec`, default expiry 300,60).
 * `flows` (the flows the pcap holds, if known) sizes nfpcapd's node cache (-B): its default of
 * 524288 nodes costs ~150 MB and ~0.1 s of page faults per run, which for a day of 288 small
 * slots is most of the time; the cache grows when a capture needs more.
 */
export function nfpcapdArgs(pcap: string, outDir: string, rotateSec = 300, compress: Compression = 'none', flows?: number): string[] {
  const args = ['-r', pcap, '-w', outDir, '-e', '300,60', '-t', String(rotateSec)];
  if (flows !== undefined) {
    let nodes = 16384;
    while (nodes < flows && nodes < 524288) nodes *= 2;
    args.push('-B', String(nodes));
  }
  const flag = COMPRESSION_FLAG[compress];
  if (flag) args.push(flag);
  return args;
}

/** Runs nfpcapd on one pcap; an environment error with nfpcapd's output when it fails. */
export async function runNfpcapd(binary: string, args: readonly string[], timeoutMs = 300_000): Promise<void> {
  let r: Run;
  try {
    r = await run(binary, args, timeoutMs);
  } catch (err) {
    throw missing(binary, err);
  }
  if (r.code !== 0) {
    const tail = r.output.trim().split('\n').slice(-5).join(' | ');
    const how = r.code === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with status ${r.code}`;
    throw environmentError(`nfpcapd ${how} (${[binary, ...args].join(' ')}): ${tail || 'no output'}`, 'check that nfpcapd can read pcap files (nfpcapd -r) and that the temp folder has free space');
  }
}
