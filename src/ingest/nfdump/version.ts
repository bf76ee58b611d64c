import { execFile } from 'node:child_process';
import { environmentError } from '../../errors.js';

/**
 * nfdump is a versioned dependency: what it prints changed between the releases operators run.
 * The version is asked once per run (`nfdump -V`), recorded with the outputs, and decides the
 * arguments and the completeness checks (the dialect below).
 *
 * What `-V` prints:
 *   1.6.x            `nfdump: Version: 1.6.25`
 *   Debian's 1.7.1   `nfdump: Version: NSEL-NEL1.7.1`
 *   1.7.5 and later  `nfdump: Version: 1.7.8-release options: LZ4 ZSTD BZIP2 date: ...`
 * (the program name is the path it was started by).
 */

export interface NfdumpVersion {
  /** The binary asked (as given: a path or a name looked up on PATH). */
  readonly binary: string;
  /** `1.7.8`. */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** The first line `-V` printed, for the record. */
  readonly banner: string;
}

/** The oldest release whose output flowknn reads (1.6.12-1.6.16 lack `%tsr`: see dialectOf). */
export const OLDEST_SUPPORTED = '1.6.12';
/** The releases the compatibility suite runs against. */
export const TESTED_VERSIONS = ['1.6.25', '1.7.1', '1.7.8'] as const;

export function parseNfdumpVersion(text: string): { major: number; minor: number; patch: number } | undefined {
  const m = /Version:\s*[A-Za-z-]*?(\d+)\.(\d+)\.(\d+)/u.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function versionAtLeast(v: { major: number; minor: number; patch: number }, text: string): boolean {
  const [a, b, c] = text.split('.').map(Number) as [number, number, number];
  return v.major !== a ? v.major > a : v.minor !== b ? v.minor > b : v.patch >= c;
}

export function versionText(v: { major: number; minor: number; patch: number }): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/**
 * Runs `BINARY -V` and reads its version. A missing binary, one that does not run, or one
 * that prints no version is an environment error (exit 3) saying what was tried; a release
 * older than 1.6.12 is refused.
 */
export async function probeNfdump(binary = 'nfdump', env: NodeJS.ProcessEnv = process.env): Promise<NfdumpVersion> {
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown }) | null }>((resolve) => {
    execFile(binary, ['-V'], { env: { ...env, LC_ALL: 'C' }, timeout: 30_000, maxBuffer: 1 << 20 }, (err, out, errOut) =>
      resolve({ stdout: String(out), stderr: String(errOut), error: err }),
    );
  });
  const where = `"${binary}"${binary.includes('/') ? '' : ' on PATH'}`;
  if (error?.code === 'ENOENT') {
    throw environmentError(`nfdump not found (tried ${where}); it is needed to read nfcapd files`, "install it (Debian/Ubuntu: apt-get install nfdump), or give the binary's path (--nfdump PATH)");
  }
  if (error?.code === 'EACCES' || error?.code === 'ENOEXEC') {
    throw environmentError(`cannot run nfdump ${where} (${error.code})`, 'check that the nfdump binary is executable');
  }
  const text = `${stdout}\n${stderr}`;
  const v = parseNfdumpVersion(text);
  if (!v) {
    const said = text.trim().split('\n')[0] ?? '';
    throw environmentError(
      `${where} -V printed no nfdump version${said ? ` (it said "${said.slice(0, 120)}")` : ''}${error ? ` and failed (${error.message.split('\n')[0]})` : ''}`,
      'give the path of an nfdump binary (--nfdump PATH)',
    );
  }
  const version = versionText(v);
  if (!versionAtLeast(v, OLDEST_SUPPORTED)) {
    throw environmentError(`nfdump ${version} (${where}) is older than ${OLDEST_SUPPORTED}, the oldest release flowknn reads`, 'install nfdump 1.6.17 or later (1.7.x recommended)');
  }
  const banner = (text.split('\n').find((l) => /Version:/u.test(l)) ?? '').trim();
  return { binary, version, ...v, banner };
}

/**
 * What a release prints, as far as flowknn depends on it (checked against the sources and
 * binaries of 1.6.25, 1.7.1 and 1.7.8):
 * - statSummary: `-s ... -o csv` ends with a `Summary` trailer (flows, bytes, packets): up to
 *   1.7.4. 1.7.5 rewrote the CSV output and prints none; the file's own totals (`-I`) are then
 *   the completeness check.
 * - rawFirstSeen: `%tsr` (first seen as epoch seconds.msec) exists from 1.6.17 on; before, the
 *   flow format uses `%ts`/`%te` (local date and time with msec, printed in UTC: TZ=UTC is set).
 * - layouts: the nfcapd file layouts the release reads: 1.6 reads layout 1 only; 1.7 reads
 *   both (1.6 files through its compatibility code).
 */
export interface NfdumpDialect {
  readonly statSummary: boolean;
  readonly rawFirstSeen: boolean;
  readonly layouts: readonly number[];
}

export function dialectOf(v: { major: number; minor: number; patch: number }): NfdumpDialect {
  return {
    statSummary: !versionAtLeast(v, '1.7.5'),
    rawFirstSeen: versionAtLeast(v, '1.6.17'),
    layouts: versionAtLeast(v, '1.7.0') ? [1, 2] : [1],
  };
}
