import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FlowknnError, usageError } from '../errors.js';
import { discoverArchive, formatInZone, parseNfcapdName, selectionRange, type ArchiveFile } from '../ingest/archive.js';
import { usableCores } from '../io/cores.js';
import { readJson } from './outputs.js';
import { planInput, workId, type InputRecord } from './commit-input.js';
import { dayPaths } from './day.js';
import { liveFile, liveFileOf, openLive, type Live, type LiveOptions, type LiveResult } from './live.js';

/**
 * `flowknn watch`: follows the archive for new complete nfcapd files and runs the per-file pass
 * (live.ts) on each. A file is complete once it has its slot name (`nfcapd.YYYYMMDDhhmm`):
 * nfcapd writes `nfcapd.current.PID` and renames it when the slot ends, so the rename is the
 * signal; a `nfcapd.current.*` file is never read.
 *
 * New files are seen by fs.watch on the archive (recursive, so nfcapd -S day folders are
 * followed) and, as a fallback where that is not available or misses an event (network file
 * systems), by a scan every `pollMs`. A file is done when its input is committed and its alert
 * rows are kept (live.ts), so a restart after a kill picks up exactly what was not finished: a
 * backlog (the collector ran while the watcher was down) is worked off in time order, up to
 * `jobs` files at once. A file that fails is tried again after `retryDelayMs`, at most
 * `retries` more times, and then listed as failed (its record says so, as the nightly job's
 * would; the nightly run retries it).
 */

export interface WatchOptions extends LiveOptions {
  /** Work off the files there are and return, instead of following the archive. */
  readonly once?: boolean;
  /** Only the files of this day (YYYY-MM-DD in the archive's zone); default: the last `days` days. */
  readonly date?: string;
  /** Days looked at, today included (default 2: a file of yesterday's last slot comes after midnight). */
  readonly days?: number;
  /** Files read at once (default: limits.jobs of the config, 0 = cores). */
  readonly jobs?: number;
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** Seconds between scans of the archive (the fallback to fs.watch). */
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  /** Each file done (committed, failed for good, or found done before). */
  readonly onFile?: (result: LiveResult) => void;
  /** Once following has started (after the first scan's files are queued). */
  readonly onReady?: (how: 'watch' | 'poll') => void;
}

export interface WatchResult {
  readonly done: number;
  readonly failed: { path: string; error: string }[];
}

interface Pending {
  file: ArchiveFile;
  attempts: number;
}

export async function watchArchive(options: WatchOptions): Promise<WatchResult> {
  const { config, log } = options;
  const cfg = config.config;
  const timeZone = cfg.archive.timeZone;
  const now = options.now ?? Date.now;
  if (options.date !== undefined) selectionRange({ date: options.date, timeZone });
  const days = options.days ?? 2;
  if (!Number.isInteger(days) || days < 1) throw usageError(`--days: expected a whole number of days of at least 1, got ${days}`);
  const live = await openLive(options);
  const jobs = Math.max(1, options.jobs ?? (cfg.limits.jobs || usableCores()));
  const retries = options.retries ?? 3;
  const failed: { path: string; error: string }[] = [];
  let done = 0;
  // path -> the file waiting or running; finished files are forgotten once they are done on disk
  const queued = new Map<string, Pending>();
  const waiting: Pending[] = [];
  const finished = new Set<string>();
  let running = 0;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const dayWanted = (date: string) => {
    if (options.date !== undefined) return date === options.date;
    const today = formatInZone(now(), timeZone).slice(0, 10);
    const [y, m, d] = today.split('-').map(Number) as [number, number, number];
    const first = new Date(Date.UTC(y, m - 1, d - (days - 1))).toISOString().slice(0, 10);
    return date >= first && date <= today;
  };

  const enqueue = async (file: ArchiveFile) => {
    if (queued.has(file.path) || finished.has(file.path)) return;
    const { date } = liveFileOf(config, file.path);
    if (!dayWanted(date)) return;
    if (await isDone(live, file, date)) {
      finished.add(file.path);
      return;
    }
    const p = { file, attempts: 0 };
    queued.set(file.path, p);
    waiting.push(p);
    // time order: the oldest slot first (a backlog is worked off as the collector wrote it)
    waiting.sort((a, b) => a.file.slotStartMs - b.file.slotStartMs || (a.file.relPath < b.file.relPath ? -1 : 1));
    poke();
  };

  const scan = async () => {
    const listing = await discoverArchive(config.paths.archive, { timeZone, allowEmpty: true });
    for (const f of listing.files) await enqueue(f);
  };

  const run = async (p: Pending) => {
    running++;
    p.attempts++;
    let result: LiveResult | undefined;
    let error: string | null = null;
    try {
      result = await liveFile(live, p.file.path);
      if (result.status === 'failed') error = result.error;
    } catch (err) {
      error = err instanceof FlowknnError ? err.format() : String(err);
    }
    if (error !== null && p.attempts <= retries && !options.signal?.aborted) {
      log(`${p.file.relPath}: attempt ${p.attempts} of ${retries + 1} failed (${error.split('\n')[0]}); trying again in ${Math.round((options.retryDelayMs ?? 5000) / 1000)} s`);
      setTimeout(() => {
        waiting.unshift(p);
        waiting.sort((a, b) => a.file.slotStartMs - b.file.slotStartMs);
        running--;
        poke();
      }, options.retryDelayMs ?? 5000);
      return;
    }
    queued.delete(p.file.path);
    finished.add(p.file.path);
    if (error !== null) {
      failed.push({ path: p.file.relPath, error });
      log(`failed: ${p.file.relPath} after ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}: ${error}`);
    } else done++;
    if (result) options.onFile?.(result);
    running--;
    poke();
  };

  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await scan();
    if (!options.once) {
      try {
        watcher = fsWatch(config.paths.archive, { recursive: true }, (_event, name) => {
          if (typeof name !== 'string' || !parseNfcapdName(basename(name), timeZone).ok) return;
          const path = join(config.paths.archive, name);
          void stat(path).then(
            (st) => (st.isFile() ? enqueue({ path, relPath: name.split('\\').join('/'), slotStartMs: (parseNfcapdName(basename(name), timeZone) as { slotStartMs: number }).slotStartMs, size: st.size }) : undefined),
            () => undefined,
          ).catch((err: unknown) => log(`warning: ${path}: ${String(err)}`));
        });
        watcher.on('error', (err) => {
          log(`warning: watching ${config.paths.archive} failed (${err.message}); scanning every ${(options.pollMs ?? 30_000) / 1000} s`);
          watcher?.close();
          watcher = undefined;
        });
      } catch (err) {
        log(`warning: cannot watch ${config.paths.archive} (${(err as Error).message}); scanning every ${(options.pollMs ?? 30_000) / 1000} s`);
      }
      const tick = () => {
        timer = setTimeout(() => {
          scan().then(tick, (err: unknown) => {
            log(`warning: scanning ${config.paths.archive}: ${err instanceof FlowknnError ? err.format() : String(err)}`);
            tick();
          });
        }, options.pollMs ?? 30_000);
      };
      tick();
      options.onReady?.(watcher ? 'watch' : 'poll');
    }
    const aborted = new Promise<void>((r) => options.signal?.addEventListener('abort', () => r(), { once: true }));
    aborted.then(poke, () => undefined);
    for (;;) {
      while (running < jobs && waiting.length > 0 && !options.signal?.aborted) void run(waiting.shift()!);
      const idle = running === 0 && waiting.length === 0 && queued.size === 0;
      if (options.signal?.aborted && running === 0) break;
      if (options.once && idle) break;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    watcher?.close();
    if (timer) clearTimeout(timer);
    await live.close();
  }
  return { done, failed };
}

/**
 * Whether a file's pass is done: its input committed for this config and file (size, mtime),
 * and its alert rows kept for that input and the current model. A failed input is not done:
 * the watcher tries it (again).
 */
async function isDone(live: Live, file: ArchiveFile, date: string): Promise<boolean> {
  const paths = dayPaths(live.options.config.paths.output, date);
  const planned = await planInput(file, paths.inputs, live.options.config.digest, () => undefined);
  if (!('reuse' in planned)) return false;
  const rec: InputRecord = planned.reuse;
  const kept = await readJson<{ digest: string; model: string }>(join(paths.live, `${workId(file.relPath)}.alerts.json`)).catch(() => undefined);
  return kept !== undefined && kept.digest === rec.digest && kept.model === live.modelId;
}
