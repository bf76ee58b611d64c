import { basename, dirname, join } from 'node:path';
import { routerFolder } from '../ingest/archive.js';
import { FlowknnError } from '../errors.js';
import { NfdumpRun, type NfdumpOptions } from '../ingest/nfdump/run.js';
import { hostOf, type Drilldown, type Incident, type TopEntry } from './incidents.js';
import type { ManifestInput } from './outputs.js';

/**
 * An incident's drill-down: the nfdump command that lists its host's top peers, ports and
 * protocols over the incident's nfcapd files, and, run through the same runner as the inputs
 * (no shell, TZ=UTC, its own time limit), those lists. A failure is a note on the incident and
 * a warning in the log: the night's outputs never depend on it.
 *
 * The files are given as nfdump's range `-R ROOT/FIRST:LAST` (FIRST and LAST below the archive
 * root, so day folders are walked); with the `flows` source a window's flows can lie in the
 * file after it, so the range runs one file further and `-t` keeps the incident's time. With
 * several routers' archives under the root (`live/rtr1/`, `live/rtr2/`), only the files of the
 * incident's routers count, and two or more routers' folders are read over one range with
 * `-M ROOT/rtr1:rtr2 -R FIRST:LAST` (FIRST and LAST below each router's folder).
 */

export interface DrilldownContext {
  readonly archiveRoot: string;
  readonly source: 'nfdump' | 'flows';
  /** aggregate.key */
  readonly key: string;
  /** The night's inputs (manifest.json): the files a range may start and end at. */
  readonly inputs: readonly Pick<ManifestInput, 'path' | 'slot_start' | 'status'>[];
  /** archive.interval, ms */
  readonly intervalMs: number;
  readonly top: number;
  readonly nfdump: string;
}

/** One argument as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/u.test(arg) ? arg : `'${arg.replace(/'/gu, `'\\''`)}'`;
}

/** nfdump's -t time: `yyyy/MM/dd.hh:mm:ss` (UTC: flowknn runs nfdump with TZ=UTC). */
function nfdumpTime(ms: number): string {
  const t = new Date(ms).toISOString();
  return `${t.slice(0, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)}.${t.slice(11, 19)}`;
}

/** The command for an incident, or why there is none (a key without an address, no file). */
export function drilldownCommand(incident: Incident, ctx: DrilldownContext): { argv: string[]; files: number } | string {
  const h = hostOf(ctx.key, incident.flowknn.key);
  if (h.ip === null && h.net === null) return `the key ${ctx.key} holds no address to filter on`;
  const match = h.ip !== null ? `ip ${h.ip}` : `net ${h.net}`;
  const start = Date.parse(incident.event.start);
  const end = Date.parse(incident.event.end);
  const ok = ctx.inputs.filter((i) => i.status === 'ok');
  let files: typeof ok;
  if (ctx.source === 'nfdump') {
    const named = new Set(incident.flowknn.source_files);
    files = ok.filter((i) => named.has(i.path));
  } else {
    files = ok.filter((i) => {
      const slot = Date.parse(i.slot_start);
      return slot + ctx.intervalMs > start && slot <= end;
    });
  }
  if (files.length === 0) return 'no nfcapd input of the night covers its time';
  // Several routers' archives (live/rtr1/, live/rtr2/): only the incident's routers' files, each
  // router's folder read over the same range (nfdump -M, as NfSen does).
  const routers = incident.flowknn.routers ?? [];
  const placed = files
    .map((f) => ({ slot: Date.parse(f.slot_start), ...routerFolder(join(ctx.archiveRoot, f.path)) }))
    .filter((p) => routers.length === 0 || routers.includes(p.router));
  if (placed.length === 0) return `no nfcapd input of its router${routers.length === 1 ? '' : 's'} (${routers.join(', ')}) covers its time`;
  // the earliest file first (by slot); nfdump -M needs FIRST in its first folder
  placed.sort((a, b) => a.slot - b.slot || (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
  const first = placed[0]!.below;
  const last = placed[placed.length - 1]!.below;
  const folders = [...new Set(placed.map((p) => p.folder))];
  if (placed.some((p) => p.folder.includes(':') || p.below.includes(':'))) return 'a folder of its files has ":" in its name, which nfdump reads as a separator';
  let range: string[];
  if (folders.length === 1) {
    range = first === last ? ['-r', join(folders[0]!, first)] : ['-R', `${join(folders[0]!, first)}:${last}`];
  } else {
    const parent = dirname(folders[0]!);
    if (folders.some((f) => dirname(f) !== parent)) return `its routers' archives (${folders.join(', ')}) are not side by side in one folder, which nfdump -M needs`;
    if (new Set(placed.map((p) => p.below.split('/').length)).size > 1) return `its routers' archives (${folders.join(', ')}) have different date folders, which nfdump -M cannot read over one range`;
    range = ['-M', `${folders[0]!}:${folders.slice(1).map((f) => basename(f)).join(':')}`, first === last ? '-r' : '-R', first === last ? first : `${first}:${last}`];
  }
  const [peerStat, portStat, filter] = h.role === 'destination' ? ['srcip', 'dstport', `dst ${match}`] : h.role === 'source' ? ['dstip', 'dstport', `src ${match}`] : ['ip', 'port', match];
  const time = ctx.source === 'flows' ? ['-t', `${nfdumpTime(start)}-${nfdumpTime(end - 1)}`] : [];
  const argv = [ctx.nfdump, ...range, ...time, '-n', String(ctx.top), '-s', `${peerStat}/bytes`, '-s', `${portStat}/bytes`, '-s', 'proto/bytes', '-o', 'csv', filter];
  return { argv, files: placed.length };
}

export function commandText(argv: readonly string[]): string {
  return ['TZ=UTC', ...argv.map(shellQuote)].join(' ');
}

/**
 * The three statistics nfdump prints for the command, each `-o csv` table in turn (a header
 * `ts,te,td,pr,val,...`, rows, a blank line), then its Summary; columns found by name.
 */
export function parseDrilldown(lines: readonly string[]): { peers: TopEntry[]; ports: TopEntry[]; protocols: TopEntry[] } {
  const tables: TopEntry[][] = [];
  let at: { pr: number; val: number; fl: number; pkt: number; byt: number } | undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === 'Summary') break;
    if (/^ts,te,td,/u.test(line)) {
      const names = line.split(',');
      const find = (...n: string[]) => names.findIndex((x) => n.includes(x));
      at = { pr: find('pr'), val: find('val'), fl: find('fl'), pkt: find('pkt', 'ipkt'), byt: find('byt', 'ibyt') };
      if (Object.values(at).some((v) => v < 0)) throw new Error(`nfdump printed a statistics header without the columns expected: ${line.slice(0, 120)}`);
      tables.push([]);
      continue;
    }
    if (line === '' || !at) continue;
    const f = line.split(',');
    const num = (i: number) => {
      const v = Number(f[i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`nfdump printed a statistics line that does not read: ${line.slice(0, 120)}`);
      return v;
    };
    const proto = tables.length === 3 && f[at.pr] && f[at.pr] !== 'any';
    tables[tables.length - 1]!.push({ value: proto ? f[at.pr]! : (f[at.val] ?? '').trim(), flows: num(at.fl), packets: num(at.pkt), bytes: num(at.byt) });
  }
  if (tables.length !== 3 && tables.length !== 0) throw new Error(`nfdump printed ${tables.length} statistics where 3 were asked for`);
  return { peers: tables[0] ?? [], ports: tables[1] ?? [], protocols: tables[2] ?? [] };
}

/** Runs an incident's drill-down; never throws (a failure is the result's note). */
export async function runDrilldown(argv: readonly string[], options: NfdumpOptions): Promise<Pick<Drilldown, 'peers' | 'ports' | 'protocols' | 'note'>> {
  const label = argv.find((a) => a.startsWith('/')) ?? 'drill-down';
  const run = new NfdumpRun(label, { ...options, nfdump: argv[0] }, argv.slice(1));
  try {
    const lines: string[] = [];
    for await (const { line } of run.lines()) {
      lines.push(line);
      if (lines.length > 10_000) throw new Error('nfdump printed more than 10000 lines');
    }
    await run.finish();
    return { ...parseDrilldown(lines), note: null };
  } catch (err) {
    const message = err instanceof FlowknnError ? err.message : err instanceof Error ? err.message : String(err);
    return { peers: null, ports: null, protocols: null, note: `failed: ${message.split('\n')[0]!.slice(0, 300)}` };
  } finally {
    await run.dispose().catch(() => undefined);
  }
}
