import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { usableCores } from '../io/cores.js';
import { join } from 'node:path';
import { environmentError, excerpt, usageError, wholeNumber } from '../errors.js';
import { writeDirAtomic } from '../io/atomic.js';
import { checkOutput } from '../io/out-path.js';
import { TOOL_VERSION } from '../version.js';
import { formatGroundTruth, type GroundTruthRow } from './ground-truth.js';
import { nfpcapdArgs, nfpcapdVersion, runNfpcapd, type Compression } from './nfpcapd.js';
import { formatAddr } from './packets.js';
import { PacketWindow, type TagStats } from './pcap-writer.js';
import { buildScenario, emitBackground, SYNTH_CLASSES, type SynthClass } from './scenario.js';

/**
 * `flowknn synth`: a synthetic nfcapd archive made by the real nfpcapd from generated pcaps.
 *
 * The time span is cut into 5-minute slots. For each slot the generator emits the packets of
 * the events and of the background that fall in it (src/synth/streams.ts: every packet is a
 * function of its index, so slots are independent), writes them as a pcap into a temp folder,
 * and runs `nfpcapd -r slot.pcap -w DIR -e 300,60 -t 300` (several at once), which writes
 * exactly one file, `nfcapd.YYYYMMDDhhmm`, for the slot; the pcap is deleted. Flows that
 * cross a slot boundary are cut there (one record per 5-tuple per file), as a collector's
 * active timeout would cut them.
 *
 * Output (written whole, atomically):
 *
 *     OUT/flows/YYYY/MM/DD/nfcapd.YYYYMMDDhhmm   (layout Y/m/d, as nfcapd -S 1; or Y-m-d, flat)
 *     OUT/ground-truth.csv                       (src/synth/ground-truth.ts)
 *     OUT/synth.json                             (options, nfpcapd version, files, events)
 *
 * Deterministic: the same options give the same pcaps, hence the same flows, the same
 * `nfdump` statistics and the same ground truth. The nfcapd files themselves are not
 * byte-identical between runs: each record carries nfpcapd's wall-clock "received" time
 * (nfdump's `tr` column), and the file header its creation time.
 */

export const SYNTH_LAYOUTS = ['Y/m/d', 'Y-m-d', 'flat'] as const;
export type SynthLayout = (typeof SYNTH_LAYOUTS)[number];

export const SLOT_SECONDS = 300;
export const DEFAULT_SYNTH_DATE = '2026-11-01';

export interface SynthOptions {
  /** output folder (replaced as a whole) */
  out: string;
  /** YYYY-MM-DD (UTC), default 2026-11-01 */
  date?: string;
  /** hh:mm (UTC), a multiple of 5 minutes; default 00:00 */
  start?: string;
  /** length in hours, a multiple of 5 minutes (1/12 h), at most 24; default 2 */
  hours?: number;
  /** default 1 */
  seed?: number;
  /** background flows per 5-minute file (default 2000) */
  background?: number;
  /** duration multiplier of the heavy events (tivoli, floods, nfs); default 1 */
  scale?: number;
  /** add nfs events (a class outside the seed's published five) */
  nfs?: boolean;
  /** folder layout under OUT/flows (default Y/m/d) */
  layout?: SynthLayout;
  /** nfcapd file compression (default none) */
  compress?: Compression;
  /** nfpcapd processes at once (default: cores) */
  jobs?: number;
  /** nfpcapd binary (default: nfpcapd on PATH) */
  nfpcapd?: string;
  /** replace OUT even if it is a non-empty folder that flowknn synth did not write */
  force?: boolean;
  /** called after each 5-minute file: (files done, files in all) */
  onProgress?: (done: number, total: number) => void;
}

export interface SynthFile {
  /** relative to OUT, with '/' separators */
  path: string;
  slotStartMs: number;
  size: number;
}

export interface SynthResult {
  out: string;
  /** OUT/flows: the archive root to give to discovery / nfdump -R */
  flowsDir: string;
  files: SynthFile[];
  events: GroundTruthRow[];
  /** packets written to the pcaps (events and background) */
  packets: number;
  nfpcapd: string;
  fromMs: number;
  toMs: number;
  elapsedMs: number;
}

interface Resolved {
  out: string;
  date: string;
  start: string;
  hours: number;
  seed: number;
  background: number;
  scale: number;
  nfs: boolean;
  layout: SynthLayout;
  compress: Compression;
  jobs: number;
  nfpcapd: string;
  fromMs: number;
  slots: number;
}

const US_PER_MS = 1000;

function resolveOptions(o: SynthOptions): Resolved {
  const date = o.date ?? DEFAULT_SYNTH_DATE;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/u.exec(date);
  const dayMs = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || !Number.isFinite(dayMs) || new Date(dayMs).toISOString().slice(0, 10) !== date) throw usageError(`--date must be a calendar date YYYY-MM-DD, got "${excerpt(date)}"`);
  const start = o.start ?? '00:00';
  const s = /^(\d{2}):(\d{2})$/u.exec(start);
  if (!s || Number(s[1]) > 23 || Number(s[2]) > 59 || Number(s[2]) % 5 !== 0) throw usageError(`--start must be hh:mm (UTC) on a 5-minute boundary, e.g. 10:05; got "${excerpt(start)}"`);
  const hours = o.hours ?? 2;
  const slots = Math.round(hours * 12);
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 || Math.abs(slots - hours * 12) > 1e-9) {
    throw usageError(`--hours must be a multiple of 5 minutes (1/12 h) between 1/12 and 24, got ${hours}`, 'e.g. --hours 0.5 for 30 minutes, --hours 24 for a day');
  }
  const seed = o.seed ?? 1;
  wholeNumber('--seed', seed, 0, 0xffffffff);
  const background = o.background ?? 2000;
  wholeNumber('--background', background, 0, 5_000_000, 'flows per 5-minute file');
  const scale = o.scale ?? 1;
  if (!Number.isFinite(scale) || scale <= 0 || scale > 100) throw usageError(`--scale must be a number > 0 and <= 100, got ${scale}`);
  const jobs = o.jobs ?? usableCores();
  wholeNumber('--jobs', jobs, 1);
  if (!o.out) throw usageError('--out is required: the folder to write the archive into');
  return {
    out: o.out,
    date,
    start,
    hours,
    seed,
    background,
    scale,
    nfs: o.nfs ?? false,
    layout: o.layout ?? 'Y/m/d',
    compress: o.compress ?? 'none',
    jobs,
    nfpcapd: o.nfpcapd ?? 'nfpcapd',
    fromMs: dayMs + (Number(s[1]) * 60 + Number(s[2])) * 60_000,
    slots,
  };
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `nfcapd.YYYYMMDDhhmm` of a slot start (UTC). */
export function nfcapdName(slotStartMs: number): string {
  const d = new Date(slotStartMs);
  return `nfcapd.${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}

/** The folder of a slot's file under the archive root, as nfcapd -S 1 / -S 7 / no -S would put it. */
export function layoutDir(layout: SynthLayout, slotStartMs: number): string {
  const d = new Date(slotStartMs);
  const y = String(d.getUTCFullYear());
  const mo = pad(d.getUTCMonth() + 1);
  const da = pad(d.getUTCDate());
  return layout === 'Y/m/d' ? `${y}/${mo}/${da}` : layout === 'Y-m-d' ? `${y}-${mo}-${da}` : '';
}

function iso(us: number): string {
  return new Date(Math.floor(us / US_PER_MS)).toISOString();
}

/** Generates the archive; see the module comment. */
export async function generateArchive(options: SynthOptions): Promise<SynthResult> {
  const o = resolveOptions(options);
  const t0 = performance.now();
  // A symlinked --out is written through: the archive replaces the folder it points to.
  const target = (await checkOutput({ flag: '--out', path: o.out, folder: 'synth', force: options.force ?? false }))!.path;
  const version = await nfpcapdVersion(o.nfpcapd);

  const fromUs = o.fromMs * US_PER_MS;
  const slotUs = SLOT_SECONDS * 1_000_000;
  const toUs = fromUs + o.slots * slotUs;
  const scenario = buildScenario({ fromUs, toUs, seed: o.seed, scale: o.scale, nfs: o.nfs });
  const streams = scenario.streams;
  const totals = new Map<number, TagStats>();
  const files: SynthFile[] = [];
  const events: GroundTruthRow[] = [];
  let packets = 0;

  await writeDirAtomic(target, async (tmp) => {
    const pcapDir = await mkdtemp(join(tmpdir(), 'flowknn-synth-'));
    const running = new Set<Promise<void>>();
    let failure: unknown;
    let done = 0;
    try {
      const w = new PacketWindow(fromUs, fromUs + slotUs); // one window, reused slot after slot
      for (let i = 0; i < o.slots && failure === undefined; i++) {
        const a = fromUs + i * slotUs;
        const b = a + slotUs;
        w.reset(a, b);
        // streams are sorted by start: stop at the first that starts after the slot
        for (let k = 0; k < streams.length; k++) {
          const s = streams[k]!;
          if (s.startUs >= b) break;
          if (s.endUs > a) s.emit(w);
        }
        emitBackground(w, o.seed, Math.floor(a / slotUs), o.background);
        for (const [tag, st] of w.tagStats()) {
          const t = totals.get(tag);
          if (!t) totals.set(tag, { ...st });
          else {
            t.packets += st.packets;
            t.bytes += st.bytes;
            t.flows += st.flows;
            t.firstUs = Math.min(t.firstUs, st.firstUs);
            t.lastUs = Math.max(t.lastUs, st.lastUs);
          }
        }
        packets += w.size;
        const flows = w.flowCount;
        const pcap = join(pcapDir, `slot-${i}.pcap`);
        await writeFile(pcap, w.toPcap()); // written before the window is reused
        const slotMs = a / US_PER_MS;
        const name = nfcapdName(slotMs);
        const sub = layoutDir(o.layout, slotMs);
        const work = join(tmp, `.nfpcapd-${i}`);
        await mkdir(work);
        const job = (async () => {
          await runNfpcapd(o.nfpcapd, nfpcapdArgs(pcap, work, SLOT_SECONDS, o.compress, flows));
          await rm(pcap, { force: true });
          const made = await readdir(work);
          if (made.length !== 1 || made[0] !== name) {
            throw environmentError(`nfpcapd wrote ${made.length === 0 ? 'no file' : made.join(', ')} for the slot starting ${new Date(slotMs).toISOString()}; expected ${name}`, 'check the nfdump version (1.7.x expected)');
          }
          const rel = sub === '' ? name : `${sub}/${name}`;
          const dest = join(tmp, 'flows', ...rel.split('/'));
          await mkdir(join(dest, '..'), { recursive: true });
          await rename(join(work, name), dest);
          await rm(work, { recursive: true, force: true });
          files.push({ path: `flows/${rel}`, slotStartMs: slotMs, size: (await stat(dest)).size });
          done++;
          options.onProgress?.(done, o.slots);
        })().catch((err: unknown) => {
          failure ??= err;
        });
        const tracked: Promise<void> = job.finally(() => running.delete(tracked));
        running.add(tracked);
        while (running.size >= o.jobs) await Promise.race(running);
      }
      await Promise.all(running);
    } finally {
      await Promise.all(running);
      await rm(pcapDir, { recursive: true, force: true });
    }
    if (failure !== undefined) throw failure;
    files.sort((x, y) => x.slotStartMs - y.slotStartMs);

    for (const e of scenario.events) {
      const st = totals.get(e.tag);
      if (!st) continue; // every packet fell outside the span (does not happen with the default margins)
      events.push({
        event_id: e.id,
        class: e.class,
        key: e.key,
        host: formatAddr(e.host),
        peer: e.peer,
        service: e.service,
        start: iso(st.firstUs),
        end: iso(st.lastUs),
        startMs: Math.floor(st.firstUs / US_PER_MS),
        endMs: Math.floor(st.lastUs / US_PER_MS),
        flows: st.flows,
        packets: st.packets,
        bytes: st.bytes,
      });
    }
    await writeFile(join(tmp, 'ground-truth.csv'), formatGroundTruth(events));
    const perClass: Partial<Record<SynthClass, number>> = {};
    for (const c of SYNTH_CLASSES) {
      const n = events.filter((e) => e.class === c).length;
      if (n > 0) perClass[c] = n;
    }
    const manifest = {
      generator: `flowknn synth ${TOOL_VERSION}`,
      nfpcapd: version,
      nfpcapd_args: ['-r', '<slot.pcap>', '-w', '<dir>', ...nfpcapdArgs('', '', SLOT_SECONDS, o.compress).slice(4), '-B', '<flows of the slot, 16384 .. 524288>'],
      time_zone: 'UTC',
      options: { date: o.date, start: o.start, hours: o.hours, seed: o.seed, background: o.background, scale: o.scale, nfs: o.nfs, layout: o.layout, compress: o.compress },
      from: new Date(o.fromMs).toISOString(),
      to: new Date(o.fromMs + o.slots * SLOT_SECONDS * 1000).toISOString(),
      archive: 'flows',
      files: files.map((f) => f.path),
      packets,
      events: perClass,
      ground_truth: 'ground-truth.csv',
      note: 'nfcapd files are not byte-identical between runs (nfpcapd stores its wall-clock receive time in each record); flows and nfdump statistics are',
    };
    await writeFile(join(tmp, 'synth.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  });

  return {
    out: o.out,
    flowsDir: join(o.out, 'flows'),
    files,
    events,
    packets,
    nfpcapd: version,
    fromMs: o.fromMs,
    toMs: o.fromMs + o.slots * SLOT_SECONDS * 1000,
    elapsedMs: performance.now() - t0,
  };
}
