import { execFile, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The nfdump releases the compatibility suite runs against: Debian bookworm's 1.7.1 (on PATH),
 * and 1.6.25 (the last 1.6) and 1.7.8 (current upstream) built from the source tarballs in
 * ../shared/vendor/nfdump by `.ci/run` into /opt/flowknn-nfdump/<version> (or
 * $FLOWKNN_NFDUMP_ROOT/<version>).
 */

export interface NfdumpRelease {
  readonly version: '1.6.25' | '1.7.1' | '1.7.8';
  readonly nfdump: string;
  readonly nfcapd: string;
  /** 1.7 only (the 1.6 build here has no nfpcapd). */
  readonly nfpcapd?: string;
  /** The flag that names nfcapd's output folder: -l (1.6), -w (1.7). */
  readonly flowDirFlag: '-l' | '-w';
}

export const RELEASE_ROOT = process.env.FLOWKNN_NFDUMP_ROOT ?? '/opt/flowknn-nfdump';

function versionOf(binary: string): string | undefined {
  try {
    const out = execFileSync(binary, ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /(\d+\.\d+\.\d+)/u.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The releases found here, and why the others are not. */
export function nfdumpReleases(): { found: NfdumpRelease[]; missing: string[] } {
  const found: NfdumpRelease[] = [];
  const missing: string[] = [];
  for (const version of ['1.6.25', '1.7.1', '1.7.8'] as const) {
    const bin = version === '1.7.1' ? '/usr/bin' : join(RELEASE_ROOT, version, 'bin');
    const nfdump = join(bin, 'nfdump');
    const got = versionOf(nfdump);
    if (got !== version) {
      missing.push(`nfdump ${version} (${nfdump}: ${got ? `is ${got}` : 'not found'}; ${version === '1.7.1' ? 'apt-get install nfdump' : `../shared/vendor/nfdump/build.sh ${version} ${join(RELEASE_ROOT, version)}`})`);
      continue;
    }
    const nfpcapd = join(bin, 'nfpcapd');
    found.push({ version, nfdump, nfcapd: join(bin, 'nfcapd'), ...(existsSync(nfpcapd) ? { nfpcapd } : {}), flowDirFlag: version.startsWith('1.6') ? '-l' : '-w' });
  }
  return { found, missing };
}

export function hasSoftflowd(): boolean {
  return existsSync('/usr/sbin/softflowd') || existsSync('/usr/bin/softflowd');
}

/** A free UDP port on loopback (bound, read, released). */
async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `nfpcapd -r PCAP -w DIR -e 300,60 -t 300` of a release: nfcapd files of 5-minute slots. */
export async function nfpcapdArchive(release: NfdumpRelease, pcap: string, dir: string): Promise<string[]> {
  if (!release.nfpcapd) throw new Error(`nfdump ${release.version} has no nfpcapd here`);
  await mkdir(dir, { recursive: true });
  await run(release.nfpcapd, ['-r', pcap, '-w', dir, '-e', '300,60', '-t', '300'], { env: { ...process.env, TZ: 'UTC' } });
  return (await readdir(dir)).filter((f) => /^nfcapd\.\d{12}$/u.test(f)).sort().map((f) => join(dir, f));
}

/**
 * A real exporter into a real collector: `softflowd -r PCAP -v 9|10 -a` (NetFlow v9 or IPFIX,
 * packet times from the pcap) sends to `nfcapd -p PORT -B 4000000` of the release on loopback;
 * softflowd waits on its control socket once the pcap is read, so it is asked for its
 * statistics until it has flushed its flows and ended; then nfcapd is stopped, which closes
 * its file. The file is renamed to `nfcapd.<name>` (the collector names it by wall-clock time).
 */
export async function softflowdArchive(release: NfdumpRelease, version: 9 | 10, pcap: string, dir: string, name: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const port = await freeUdpPort();
  const env = { ...process.env, TZ: 'UTC' };
  let collectorLog = '';
  const collector = spawn(release.nfcapd, [release.flowDirFlag, dir, '-p', String(port), '-b', '127.0.0.1', '-B', '4000000', '-t', '3600'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  collector.stdout!.on('data', (c: Buffer) => (collectorLog += c.toString()));
  collector.stderr!.on('data', (c: Buffer) => (collectorLog += c.toString()));
  const collectorDone = new Promise<void>((resolve) => collector.once('close', () => resolve()));
  try {
    // Its log is block-buffered on a pipe: wait for its socket instead (Linux: /proc/net/udp).
    const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
    await waitFor(`nfcapd ${release.version} to listen on ${port}`, async () => (await readFile('/proc/net/udp', 'utf8')).includes(hexPort) || collector.exitCode !== null, 15_000);
    if (collector.exitCode !== null) throw new Error(`nfcapd ${release.version} ended at once: ${collectorLog.slice(-500)}`);
    const sock = join(dir, '..', `softflowd-${port}.ctl`);
    const exporter = spawn('softflowd', ['-r', pcap, '-n', `127.0.0.1:${port}`, '-v', String(version), '-a', '-d', '-c', sock, '-p', join(dir, '..', `softflowd-${port}.pid`)], { env, stdio: 'ignore' });
    let ended = false;
    exporter.once('close', () => (ended = true));
    await waitFor('softflowd to read the pcap and end', async () => {
      if (ended) return true;
      await run('softflowctl', ['-c', sock, 'statistics']).catch(() => undefined);
      return ended;
    }, 60_000);
    // nfcapd has the datagrams once they are on its socket; give it a moment to take them in.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    collector.kill('SIGTERM');
    await collectorDone;
  }
  const files = (await readdir(dir)).filter((f) => /^nfcapd\.\d{12}$/u.test(f));
  if (files.length !== 1) throw new Error(`nfcapd ${release.version} left ${files.length} files in ${dir}: ${collectorLog.slice(-500)}`);
  const target = join(dir, `nfcapd.${name}`);
  await rename(join(dir, files[0]!), target);
  return target;
}
