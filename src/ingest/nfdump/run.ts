import { spawn, type ChildProcess } from 'node:child_process';
import { link, mkdtemp, realpath, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { environmentError, excerpt, FlowknnError, inputError, unreadableFile } from '../../errors.js';
import { removeOnInterrupt } from '../../io/interrupt.js';
import { readNfcapdHeader, type NfcapdHeader } from './nfcapd-file.js';
import { StderrJudge, stderrFailure, versionMismatch, type NfdumpWarning } from './stderr.js';
import { dialectOf, probeNfdump, type NfdumpDialect, type NfdumpVersion } from './version.js';

/**
 * nfdump run as a child process (never through a shell: `spawn(binary, [args...], { shell:
 * false })`, so file names and filters reach nfdump exactly as given), with TZ=UTC and LC_ALL=C
 * so that what it prints does not depend on the machine. Its stdout is read as it comes, with
 * backpressure; its stderr is judged line by line (stderr.ts); an input that takes longer than
 * its time limit is killed and fails alone.
 */

/** Options shared by everything that runs nfdump on a file. */
export interface NfdumpOptions {
  /** The nfdump binary: a path, or a name looked up on PATH (default `nfdump`). */
  nfdump?: string;
  /** The binary's version, asked once per run (probeNfdump); asked per file when absent. */
  version?: NfdumpVersion;
  /** An nfdump filter expression (e.g. `proto tcp and packets > 999`), passed as one argument. */
  filter?: string;
  /** Environment of the child; TZ=UTC and LC_ALL=C are always set on top of it. */
  env?: NodeJS.ProcessEnv;
  /** Aborting kills nfdump and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Seconds one input may take, nfdump and the reading of its output together (default: no limit). */
  timeoutS?: number;
}

/** What a file read through nfdump ends with, besides its rows. */
export interface NfdumpOutcome {
  /** The release that read it. */
  readonly nfdump: string;
  /** nfdump's harmless warnings, counted (see stderr.ts). */
  readonly warnings: NfdumpWarning[];
  /** How the output was checked for completeness: `Summary trailer`, `nfdump -I` or `none (...)`. */
  readonly totalsCheck: string;
  /** Flow mode, where nfdump says it (1.7.x): records read and records its filter passed. */
  readonly filtered?: { readonly processed: number; readonly passed: number };
}

/** The version in the options, or the binary's, asked now. */
export async function nfdumpVersionOf(options: NfdumpOptions): Promise<NfdumpVersion> {
  return options.version ?? (await probeNfdump(options.nfdump ?? 'nfdump', options.env));
}

/**
 * Checks the file before nfdump runs: a regular file (its absolute path is returned, so nfdump
 * never sees a name starting with `-`), and a layout the reader can read.
 */
export async function prepareNfcapdInput(file: string, version: NfdumpVersion): Promise<{ path: string; header?: NfcapdHeader; dialect: NfdumpDialect }> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    throw unreadableFile(file, err);
  }
  if (!info.isFile()) throw new FlowknnError('usage', 'is not a regular file, expected an nfcapd file', { file });
  const header = await readNfcapdHeader(file);
  const dialect = dialectOf(version);
  if (header && !dialect.layouts.includes(header.layout)) {
    throw versionMismatch({ file, reader: version.version, header }, `it reads only nfcapd files of layout 1 (nfdump 1.6); this one has layout ${header.layout}`);
  }
  return { path: resolve(file), header, dialect };
}

/** A run of nfcapd files prepared for one nfdump (prepareNfcapdRun). */
export interface NfcapdRun {
  /** The folder nfdump reads (`-R`). */
  readonly folder: string;
  readonly dialect: NfdumpDialect;
  /** nfdump's words about a link, about the file it stands for. */
  named(text: string): string;
  /** Throws when a file nfdump was to read through a symbolic link is gone (nfdump skips a dangling link without a word). */
  verify(): Promise<void>;
  /** Removes the folder (the files stay). */
  dispose(): Promise<void>;
}

/**
 * Several nfcapd files for one nfdump run (`-R FOLDER`): each checked as prepareNfcapdInput
 * checks one, then linked, in the order given, into a fresh folder of their own (nfdump lists a
 * folder's files by name), so that nfdump reads exactly these files, whatever else their folders
 * hold. A hard link where the file system allows one (the file then stays readable if the
 * archive's expiry removes it meanwhile), else a symbolic link, which nfdump follows; a file
 * gone before nfdump lists it would be skipped in silence, so `verify` looks for them after the
 * run.
 */
export async function prepareNfcapdRun(files: readonly string[], version: NfdumpVersion): Promise<NfcapdRun> {
  if (files.length === 0) throw new Error('prepareNfcapdRun: no files');
  const checked: Awaited<ReturnType<typeof prepareNfcapdInput>>[] = [];
  for (const file of files) checked.push(await prepareNfcapdInput(file, version));
  let folder: string | undefined;
  // an interrupt (SIGINT, SIGTERM, SIGHUP) removes the folder too
  let kept = () => {};
  const dispose = async () => {
    if (folder !== undefined) await rm(folder, { recursive: true, force: true }).catch(() => {});
    kept();
  };
  const symbolic: number[] = [];
  const targets: string[] = [];
  try {
    folder = resolve(await mkdtemp(join(tmpdir(), 'flowknn-nfdump-run-')));
    kept = removeOnInterrupt(folder);
    // nfdump reads `-R a:b` as a range from a to b
    if (folder.includes(':')) throw new Error(`the folder's path has a ":", which nfdump reads as a range of files`);
    const width = String(files.length - 1).length;
    // Names nfdump lists in this order and skips none of (it skips names with "pcap", ".stat", a leading dot).
    for (const [i, c] of checked.entries()) {
      const to = join(folder, `part.${String(i).padStart(width, '0')}`);
      // the file itself: link(2) would link a symbolic link as it is (a relative one then dangles)
      const target = await realpath(c.path);
      targets[i] = target;
      try {
        await link(target, to);
      } catch {
        await symlink(target, to);
        symbolic.push(i);
      }
    }
  } catch (err) {
    await dispose();
    throw environmentError(`cannot link the nfcapd files for one nfdump run into a temporary folder${folder === undefined ? '' : ` (${folder})`}: ${err instanceof Error ? err.message : String(err)}`, 'check that the temporary folder (TMPDIR) is writable', err);
  }
  const at = folder;
  const pattern = new RegExp(`${at.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')}/part\\.(\\d+)`, 'gu');
  return {
    folder: at,
    dialect: checked[0]!.dialect,
    named: (text) => text.replace(pattern, (whole, i: string) => files[Number(i)] ?? whole),
    verify: async () => {
      for (const i of symbolic) {
        const gone = await stat(targets[i]!).then(
          () => false,
          () => true,
        );
        // (conservative: a file nfdump had read before it went away fails the run too)
        if (gone) throw inputError(`${files[i]} went away while nfdump read a run of files with it`, { file: files[i] }, 'it is read again on its own');
      }
    },
    dispose,
  };
}

const KILL_GRACE_MS = 2_000;

/** One nfdump child: its stdout as chunks or numbered lines, its stderr judged, its end. */
export class NfdumpRun {
  private readonly child: ChildProcess;
  private readonly binary: string;
  private readonly judge: StderrJudge;
  private spawnError: Error | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;

  constructor(
    private readonly file: string,
    options: NfdumpOptions,
    readonly args: string[],
    context: { header?: NfcapdHeader } = {},
  ) {
    this.binary = options.nfdump ?? options.version?.binary ?? 'nfdump';
    this.signal = options.signal;
    this.judge = new StderrJudge({ file, reader: options.version?.version, header: context.header });
    this.child = spawn(this.binary, args, {
      shell: false,
      // Its own process group, so that a time limit or an early stop ends whatever it started
      // too (a wrapper script's children would otherwise hold its output open).
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...(options.env ?? process.env), TZ: 'UTC', LC_ALL: 'C' },
      signal: options.signal,
      killSignal: 'SIGKILL',
    });
    this.closed = new Promise((resolveClose) => {
      this.child.once('error', (err) => {
        this.spawnError ??= err;
        // A failed spawn emits no 'close' in some Node versions when no stdio was created.
        if (this.child.pid === undefined) resolveClose({ code: null, signal: null });
      });
      this.child.once('close', (code, signal) => {
        if (this.timer) clearTimeout(this.timer);
        resolveClose({ code, signal });
      });
    });
    // An abort ends the whole group too (spawn's own signal option ends only the child).
    options.signal?.addEventListener('abort', () => this.killGroup('SIGKILL'), { once: true });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => this.judge.write(chunk));
    if (options.timeoutS !== undefined && Number.isFinite(options.timeoutS)) {
      // setTimeout takes at most 2^31 - 1 ms (24.8 days; beyond, it fires at once): capped there
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.killGroup('SIGKILL');
      }, Math.min(options.timeoutS * 1000, 2 ** 31 - 1));
      this.timer.unref();
    }
    this.timeoutS = options.timeoutS;
  }

  private readonly timeoutS: number | undefined;

  /** stdout as it comes; honours backpressure (the stream is read only as chunks are used). */
  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    try {
      for await (const chunk of this.child.stdout!) yield chunk as Buffer;
      // Killed by an abort, the group's output may just end (cut in a line): say why it ended.
      if (this.signal?.aborted) throw this.signal.reason;
    } catch (err) {
      // stdout fails when the spawn failed or the run was aborted: report that instead.
      await this.closed;
      this.throwIfFailed();
      throw err;
    }
  }

  /** stdout split into lines; honours backpressure (the stream is read only as lines are used). */
  async *lines(): AsyncGenerator<{ line: string; lineNo: number }, void, undefined> {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let lineNo = 0;
    for await (const chunk of this.chunks()) {
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
        lineNo++;
        yield { line: text.slice(start, nl).replace(/\r$/u, ''), lineNo };
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    rest += decoder.end();
    if (rest !== '') yield { line: rest, lineNo: lineNo + 1 };
  }

  /**
   * Waits for nfdump to end. Throws if it was stopped by the time limit, failed, met a file of
   * a newer release, or said anything on stderr that is not a known harmless warning; returns
   * the harmless warnings, counted.
   */
  async finish(): Promise<NfdumpWarning[]> {
    const { code, signal } = await this.closed;
    this.judge.end();
    this.throwIfFailed();
    if (this.timedOut) {
      throw inputError(
        `nfdump did not finish reading it within ${this.timeoutS} s (the per-input time limit); the input is left out`,
        { file: this.file },
        'raise limits.inputTimeout in the config (or --input-timeout) if the file is that large; else look at the file and the disk it is on',
      );
    }
    const mismatch = this.judge.mismatch();
    if (mismatch) throw mismatch;
    const message = this.judge.unknownText;
    if (signal !== null) {
      throw inputError(`nfdump was killed by ${signal}${message ? `: ${excerpt(message, 400)}` : ''}`, { file: this.file });
    }
    if (code !== 0) {
      throw inputError(`nfdump failed (exit status ${code})${message ? `: ${excerpt(message, 400)}` : ''}`, { file: this.file }, 'is it an nfcapd file, complete and readable?');
    }
    // nfdump 1.7 exits 0 on a truncated or corrupt file, with the error on stderr.
    if (this.judge.unknownCount > 0) throw stderrFailure({ file: this.file }, message);
    return this.judge.counted;
  }

  private throwIfFailed(): void {
    const err = this.spawnError;
    if (!err) return;
    if (err.name === 'AbortError') throw this.signal?.reason ?? err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw environmentError(
        `nfdump not found (tried "${this.binary}"${this.binary.includes('/') ? '' : ' on PATH'}); it is needed to read nfcapd file ${this.file}`,
        "install it (Debian/Ubuntu: apt-get install nfdump), or give the binary's path",
        err,
      );
    }
    if (code === 'EACCES' || code === 'ENOEXEC') {
      throw environmentError(`cannot run nfdump "${this.binary}" (${code})`, 'check that the nfdump binary is executable', err);
    }
    throw environmentError(`cannot run nfdump "${this.binary}": ${err.message}`, undefined, err);
  }

  private killGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, signal);
    } catch {
      this.child.kill(signal);
    }
  }

  /** Ends the child if it still runs (early exit of the consumer, or an error) and waits for it. */
  async dispose(): Promise<void> {
    const child = this.child;
    if (this.timer) clearTimeout(this.timer);
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.stdout?.destroy();
      this.killGroup('SIGTERM');
      const timer = setTimeout(() => this.killGroup('SIGKILL'), KILL_GRACE_MS);
      try {
        await this.closed;
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** A file's own totals, as its writer counted them (`nfdump -r FILE -I`). */
export interface FileTotals {
  readonly flows: number;
  readonly packets: number;
  readonly bytes: number;
  readonly warnings: NfdumpWarning[];
}

/**
 * `nfdump -r FILE -I`: the flow, packet and byte totals nfcapd (or nfpcapd, nfdump -w) wrote
 * into the file's stat record, summed over every record as it was written (in + out
 * counters; records of aggregated files count their aggregated flows). Cheap: nfdump reads
 * the header and appendix, not the records. Where no Summary trailer is printed (1.7.5+) it is
 * what an unfiltered read is checked against.
 */
export async function fileTotals(file: string, path: string, options: NfdumpOptions, header?: NfcapdHeader): Promise<FileTotals> {
  const run = new NfdumpRun(file, { ...options, filter: undefined }, ['-r', path, '-I'], { header });
  const found: Record<string, number> = {};
  try {
    for await (const { line } of run.lines()) {
      const m = /^(Flows|Packets|Bytes):\s*(\d+)\s*$/u.exec(line.trim());
      if (m) found[m[1]!.toLowerCase()] = Number(m[2]);
    }
    const warnings = await run.finish();
    if (found.flows === undefined || found.packets === undefined || found.bytes === undefined) {
      throw inputError('nfdump -I printed no Flows, Packets and Bytes totals for the file', { file }, 'is it an nfcapd file? (nfdump -r FILE -I shows what nfdump sees)');
    }
    return { flows: found.flows, packets: found.packets, bytes: found.bytes, warnings };
  } finally {
    await run.dispose();
  }
}

/** Compares the totals of the rows read with what nfdump or the file says they must be. */
export function checkTotals(file: string, got: { flows: number; packets: number; bytes: number }, want: { flows: number; packets: number; bytes: number }, source: string, line?: number): void {
  if (got.flows === want.flows && got.packets === want.packets && got.bytes === want.bytes) return;
  throw inputError(
    `${source} counts ${want.flows} flows, ${want.packets} packets and ${want.bytes} bytes, but the rows nfdump printed hold ${got.flows}, ${got.packets} and ${got.bytes}`,
    { file, line },
    'nfdump stopped early or the file is damaged; run nfdump -r FILE by hand to see',
  );
}
