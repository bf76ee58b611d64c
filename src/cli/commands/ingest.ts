import pLimit from 'p-limit';
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { stat } from 'node:fs/promises';
import { usableCores } from '../../io/cores.js';
import { checkOutputs } from '../../io/out-path.js';
import type { Argv, CommandModule } from 'yargs';
import { FlowknnError, usageError, wholeNumber } from '../../errors.js';
import { FlowAggregator, type AggregateOptions } from '../../features/aggregate.js';
import type { Table } from 'apache-arrow';
import { discoverArchive, parseNfcapdName, routerOf } from '../../ingest/archive.js';
import { writeFlowInputs } from '../../ingest/flows-to-arrow.js';
import type { InputFormat as FormatSpec, InputKind } from '../../ingest/format.js';
import type { NfdumpOptions } from '../../ingest/nfdump/run.js';
import { INPUT_FORMATS, readInput, type InputFormat, type ReadOptions, type ReadResult } from '../../ingest/read.js';
import { detectInputFormat, formatByName, inputFormatOf, kindOf } from '../../ingest/registry.js';
import { aggregateFlowInput, runsOfInputs, type RunCandidate } from '../../ingest/aggregate-input.js';
import { checkNfdumpFilter } from '../../ingest/nfdump/filter.js';
import { probeNfdump } from '../../ingest/nfdump/version.js';
import { RejectsWriter, type RejectSink } from '../../ingest/rejects.js';
import { resolvedTimeZone, type WallClockZone } from '../../io/time-zone.js';
import { preloadParquet, writeParquetFile, writeParquetFromArrowFile } from '../../io/parquet.js';
import { joinTables, writeArrowFile } from '../../schema/arrow.js';
import type { CliContext } from '../context.js';
import { type ArgsOf, inputFormatFrom, inputFormatOption, timeZoneOption, zoneFrom } from '../options.js';
import { progressUpdater, throughput } from '../progress.js';

/** Joins tables of one kind into one, recording every source in the schema metadata. */
export function concatTables(results: (Pick<ReadResult, 'file' | 'format'> & { table?: Table })[], extra: Record<string, string> = {}): Table {
  const first = results[0]!.table!.schema;
  const meta: Record<string, string> = { ...Object.fromEntries(first.metadata), ...extra };
  delete meta['flowknn.source'];
  delete meta['flowknn.format'];
  meta['flowknn.sources'] = JSON.stringify(results.map((r) => ({ file: r.file, format: r.format, rows: r.table!.numRows })));
  return joinTables(
    results.map((r) => r.table!),
    meta,
  );
}

const ingestBuilder = (y: Argv) =>
  inputFormatOption(timeZoneOption(y), INPUT_FORMATS)
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'nfdump output files (plain or .gz), nfcapd files, or nfcapd archive folders' })
    .option('date', { type: 'string', describe: 'archive folders: the nfcapd files of this day (YYYY-MM-DD, in --time-zone, the zone nfcapd named its files in)' })
    .option('from', { type: 'string', describe: 'archive folders: files from this time on (inclusive)' })
    .option('to', { type: 'string', describe: 'archive folders: files before this time (exclusive)' })
    .option('out', { type: 'string', demandOption: true, describe: 'Arrow IPC file to write (.arrow); its Parquet copy goes beside it (.parquet)' })
    .option('max-rejects', { type: 'number', describe: 'bad lines a file may have before it fails (default 0: fail on the first; no limit on the count when only --max-reject-fraction is given)' })
    .option('max-reject-fraction', { type: 'number', describe: 'largest share of a file\'s data lines (0..1) that may be bad, checked when the file has been read' })
    .option('rejects', { type: 'string', describe: 'CSV file listing every rejected line (file, line, reason, raw text), also those of failed files' })
    .option('jobs', { type: 'number', default: usableCores(), describe: 'files read at once' })
    .option('aggregate', { type: 'string', describe: 'aggregate flow records into per-key features: dstip, srcip, dstip+proto, dstip+dstport, ...; dstip/24 (IPv6 /64) or dstip/24/48 for address prefixes; +router: per router, the archive folder a file lies in (NfSen live/<router>/)' })
    .option('window', { type: 'string', default: '5m', describe: 'with --aggregate: aligned time windows (300, 5m, 1h) or whole' })
    .option('min-packets', { type: 'number', describe: 'with --aggregate: keep aggregates with at least this many packets' })
    .option('min-bytes', { type: 'number', describe: 'with --aggregate: keep aggregates with at least this many bytes' })
    .option('top', { type: 'string', describe: 'with --aggregate: keep the top N per window by pps or bps, e.g. 10:pps' })
    .option('nfdump', { type: 'string', describe: 'nfcapd inputs: the nfdump binary (default: nfdump on PATH)' })
    .option('filter', { type: 'string', describe: 'nfcapd inputs: an nfdump filter expression for the flows read' })
    .option('input-timeout', { type: 'number', default: 1800, describe: 'nfcapd inputs: seconds nfdump may take on one file before it fails alone (a run of files read by one nfdump: that many times its files)' });

type IngestArgs = ArgsOf<typeof ingestBuilder>;

export function ingestCommand(ctx: CliContext): CommandModule<object, IngestArgs> {
  return {
    command: 'ingest <files..>',
    describe: 'read nfcapd files (through nfdump) and nfdump outputs (statistics as text, CSV or JSON; flows as CSV, csv-fast, JSON or NDJSON) into one Arrow IPC file, or aggregate their flows per host',
    builder: ingestBuilder,
    handler: async (args) => {
      const format: InputFormat = inputFormatFrom(args, (m) => ctx.stderr.write(`flowknn: warning: ${m}\n`));
      const maxRejects = args['max-rejects'];
      const maxRejectFraction = args['max-reject-fraction'];
      if (maxRejects !== undefined) wholeNumber('--max-rejects', maxRejects, 0);
      if (maxRejectFraction !== undefined && !(maxRejectFraction >= 0 && maxRejectFraction <= 1)) {
        throw usageError(`--max-reject-fraction must be between 0 and 1 (a share of a file's data lines), got ${maxRejectFraction}`);
      }
      wholeNumber('--jobs', args.jobs, 1);
      const timeout = args['input-timeout'];
      if (timeout !== undefined && !(timeout > 0)) throw usageError(`--input-timeout must be a number of seconds > 0, got ${timeout}`);
      const zone = zoneFrom(args);
      const aggregator = args.aggregate === undefined ? undefined : makeAggregator(args);
      const files = await expandArchives(args, ctx);
      // Each input's format, told once from its first bytes (undefined: its read says why).
      const formats: (FormatSpec | undefined)[] = await Promise.all(files.map((f) => (format === 'auto' ? detectInputFormat(f) : Promise.resolve(formatByName(format))).catch(() => undefined)));
      const nfdump = await nfdumpFor(formats, args, ctx);
      // The outputs are checked against every input (src/io/out-path.ts); symlinks are written through.
      const read = [...args.files, ...files].map((path) => ({ flag: 'input', path }));
      const [out, rejectsOut] = await checkOutputs([{ flag: '--out', path: args.out, file: 'arrow' }, { flag: '--rejects', path: args.rejects, file: 'csv' }], read);
      args.out = out!.path;
      const parquetOut = out!.files['parquet']!;
      args.rejects = rejectsOut?.path;
      // Flow records without aggregation are streamed to the output; statistics (small) are
      // read whole and joined.
      const kinds: (InputKind | undefined)[] = aggregator ? [] : formats.map((f) => (f ? kindOf(f) : undefined));
      const streamed = kinds.some((k) => k === 'flow');
      if (streamed && kinds.includes('stat')) {
        const listed = files.map((f, i) => (kinds[i] === undefined ? undefined : `${f} (${kinds[i] === 'stat' ? 'stat' : 'flow'})`)).filter((x) => x !== undefined);
        throw usageError(`cannot put statistics and flow records in one table: ${listed.join(', ')}`, 'ingest them into separate files');
      }
      const rejects = args.rejects === undefined ? undefined : await RejectsWriter.open(args.rejects);
      preloadParquet();
      let failed: FlowknnError[];
      try {
        const threshold = { maxRejects, maxRejectFraction };
        const reading = { ...threshold, nfdump, zone, format };
        failed = streamed ? await streamFlows(files, args, ctx, reading, rejects, parquetOut) : await readWhole(files, args, ctx, aggregator, reading, rejects, parquetOut, formats);
        await rejects?.commit();
      } catch (err) {
        await rejects?.abort();
        throw err;
      }
      if (rejects) ctx.log(`wrote ${rejects.path}: ${rejects.count} rejected lines`);
      if (failed.length > 0) {
        if (failed.length === files.length) {
          // Every input failed: exit as they did when they agree (all missing: usage), else as input.
          const kind = failed.every((e) => e.kind === failed[0]!.kind) ? failed[0]!.kind : 'input';
          throw new FlowknnError(kind, `no input could be read (${failed.length} failed); nothing written${rejects ? ` (the rejected lines are listed in ${rejects.path})` : ''}`);
        }
        ctx.stderr.write(`flowknn: ${failed.length} of ${files.length} inputs failed: ${failed.map((e) => e.file).join(', ')}\n`);
        ctx.partialFailure = true;
      }
    },
  };
}

interface Threshold {
  maxRejects?: number;
  maxRejectFraction?: number;
}

/** How inputs are read: the reject threshold, nfdump (asked for its version once) and the zone. */
interface Reading extends Threshold {
  nfdump: NfdumpOptions;
  zone: WallClockZone;
  /** The input format asked for (auto: told per file). */
  format: InputFormat;
}

/** What the output records of how it was read: the zone of nfdump's local times, the nfdump release. */
function runMeta(reading: Reading): Record<string, string> {
  return { 'flowknn.time_zone': resolvedTimeZone(reading.zone.timeZone), ...(reading.nfdump.version ? { 'flowknn.nfdump': reading.nfdump.version.version } : {}) };
}

/**
 * nfdump's options for the run: when an input is an nfcapd file, the binary is asked for its
 * version once (`nfdump -V`), and the version is logged and used for every file.
 */
async function nfdumpFor(formats: readonly (FormatSpec | undefined)[], args: IngestArgs, ctx: CliContext): Promise<NfdumpOptions> {
  const base: NfdumpOptions = { nfdump: args.nfdump, filter: args.filter, timeoutS: args['input-timeout'] };
  if (!formats.some((f) => f?.name === 'nfcapd')) {
    if (args.filter !== undefined) throw usageError('--filter: none of the inputs is an nfcapd file, and only nfdump reading nfcapd files applies a filter', 'filter when nfdump prints the text (nfdump -r FILE ... FILTER), or give the nfcapd files');
    return base;
  }
  const version = await probeNfdump(args.nfdump ?? 'nfdump');
  ctx.log(`nfdump ${version.version} (${version.binary})`);
  // Once, before any file: a bad filter is a usage error, not the failure of every input.
  if (args.filter !== undefined) await checkNfdumpFilter(version.binary, args.filter);
  return { ...base, version };
}

/**
 * Flow CSV dumps and nfcapd files, as they are: streamed into one Arrow file in record
 * batches, memory bounded whatever their sizes (src/ingest/flows-to-arrow.ts). Returns the
 * inputs that failed, each reported on stderr.
 */
async function streamFlows(files: string[], args: IngestArgs, ctx: CliContext, reading: Reading, rejects: RejectSink | undefined, parquetOut: string): Promise<FlowknnError[]> {
  const onFile = progressUpdater(ctx, 'reading', 'files');
  let done = 0;
  let rows = 0;
  let bytes = 0;
  const t0 = performance.now();
  const result = await writeFlowInputs(files, args.out, {
    maxRejects: reading.maxRejects,
    maxRejectFraction: reading.maxRejectFraction,
    jobs: args.jobs,
    format: reading.format,
    nfdump: reading.nfdump,
    zone: reading.zone,
    meta: runMeta(reading),
    rejects,
    onInput: (input) => {
      rows += input.rows;
      bytes += sizeOf(input.file);
      onFile(++done, files.length, throughput(rows, bytes, t0));
    },
  });
  const failed = result.inputs.flatMap((o) => (o.error ? [o.error] : []));
  for (const e of failed) ctx.stderr.write(`flowknn: error: ${e.format()}\n`);
  if (result.written) {
    for (const o of result.inputs) if (!o.error) ctx.log(`${o.file}: ${o.rows} rows (${o.format}, streamed)${o.rejected ? `, ${o.rejected} rejected` : ''}${warned(o.nfdump?.warnings)}`);
    const ok = result.inputs.length - failed.length;
    ctx.log(`wrote ${args.out}: ${result.rows} flow rows in ${result.batches} batches from ${ok} file(s)`);
    // The Parquet copy is made from the Arrow file, batch by batch: memory stays bounded.
    await writeParquetFromArrowFile(args.out, parquetOut);
    ctx.log(`wrote ${parquetOut}`);
  }
  return failed;
}

/** Statistics inputs (read whole and joined), or any input with --aggregate. Returns the inputs that failed. */
async function readWhole(
  files: string[],
  args: IngestArgs,
  ctx: CliContext,
  aggregator: FlowAggregator | undefined,
  reading: Reading,
  rejects: RejectSink | undefined,
  parquetOut: string,
  formats: readonly (FormatSpec | undefined)[],
): Promise<FlowknnError[]> {
  const limit = pLimit(args.jobs);
  const onFile = progressUpdater(ctx, 'reading', 'files');
  let done = 0;
  let rows = 0;
  let bytes = 0;
  const t0 = performance.now();
  type Outcome = { file: string; result?: InputOutcome & { rejected: number }; error?: FlowknnError };
  const alone = async (file: string): Promise<Outcome> => {
    let rejected = 0;
    const sink: RejectSink = {
      add: (r) => {
        rejected++;
        rejects?.add(r);
      },
    };
    try {
      const options: ReadOptions = { maxRejects: reading.maxRejects, maxRejectFraction: reading.maxRejectFraction, rejects: sink, nfdump: reading.nfdump, zone: reading.zone };
      const result = aggregator ? await aggregateInput(aggregator, file, reading.format, options) : outcome(await readInput(file, reading.format, options));
      rows += result.rows;
      return { file, result: { ...result, rejected } };
    } catch (err) {
      if (err instanceof FlowknnError) return { file, error: err };
      throw err;
    } finally {
      bytes += sizeOf(file);
      onFile(++done, files.length, throughput(rows, bytes, t0));
    }
  };
  // nfcapd files of one window are read by one nfdump where the aggregation allows (runsOfInputs).
  const runs = aggregator ? runsOfInputs(files.map((f, i) => candidate(f, formats[i], args)), aggregator, args.jobs) : files.map((_, i) => [i]);
  // A run that fails is read again file by file, each file under its own rules (rejects,
  // thresholds, errors), failing alone, once the first pass is done, as many at once as --jobs.
  const retry: number[] = [];
  const together = async (run: readonly number[]): Promise<[number, Outcome][]> => {
    const list = run.map((i) => files[i]!);
    const label = `${list[0]} .. ${list.at(-1)} (${list.length} files)`;
    try {
      const result = await aggregateRun(aggregator!, list, label, formats[run[0]!]!, reading);
      rows += result.rows;
      for (const file of list) bytes += sizeOf(file);
      done += list.length;
      onFile(done, files.length, throughput(rows, bytes, t0));
      return [[run[0]!, { file: label, result: { ...result, rejected: 0 } }]];
    } catch (err) {
      if (!(err instanceof FlowknnError)) throw err;
      ctx.log(`${label}: read file by file (one nfdump over them: ${err.file !== undefined && !err.message.includes(err.file) ? `${err.file}: ` : ''}${err.message})`);
      retry.push(...run);
      return [];
    }
  };
  const first = await Promise.all(runs.map((run) => limit(async (): Promise<[number, Outcome][]> => (run.length === 1 ? [[run[0]!, await alone(files[run[0]!]!)]] : await together(run)))));
  const again = await Promise.all(retry.map((i) => limit(async (): Promise<[number, Outcome]> => [i, await alone(files[i]!)])));
  // in the order of the inputs (a run where its first file is)
  const outcomes = [...first.flat(), ...again].sort((a, b) => a[0] - b[0]).map(([, o]) => o);
  const ok = outcomes.flatMap((o) => (o.result ? [o.result] : []));
  const failed = outcomes.flatMap((o) => (o.error ? [o.error] : []));
  for (const e of failed) ctx.stderr.write(`flowknn: error: ${e.format()}\n`);
  if (ok.length > 0) {
    // Inputs where nfdump found nothing take the kind of the others.
    const kinds = new Set(ok.map((r) => r.kind).filter((k) => k !== 'none'));
    if (kinds.size > 1) {
      throw usageError(`cannot put statistics and flow records in one table: ${ok.map((r) => `${r.file} (${r.kind})`).join(', ')}`, 'ingest them into separate files');
    }
    // A run of files read by one nfdump counts its rows together.
    const sources = JSON.stringify(ok.map((r) => (r.files ? { files: r.files, format: r.format, rows: r.rows } : { file: r.file, format: r.format, rows: r.rows })));
    const zone = runMeta(reading);
    const withRows = ok.filter((r) => r.table !== undefined && (r.kind !== 'none' || ok.every((o) => o.kind === 'none')));
    const table = aggregator ? aggregator.table({ 'flowknn.sources': sources, ...zone }) : concatTables(withRows.length > 0 ? withRows : ok, zone);
    await writeArrowFile(args.out, table);
    await writeParquetFile(parquetOut, table);
    for (const r of ok) ctx.log(`${r.file}: ${r.rows} ${r.via === undefined ? 'rows' : 'flows'} (${r.format}${r.via !== undefined && r.via !== 'flows' ? `, nfdump ${r.via}` : ''}${r.refused !== undefined ? `, read as flows; nfdump -A refused: ${r.refused}` : ''})${r.rejected ? `, ${r.rejected} rejected` : ''}${r.kind === 'none' ? ' (nfdump found no matching flows)' : ''}${r.untimed ? `, ${r.untimed} records without a time (first seen 0: their hosts' duration and rates are 0, as nfdump computes them)` : ''}${warned(r.summary?.nfdump?.warnings)}`);
    ctx.log(`wrote ${args.out} and ${parquetOut}: ${table.numRows} ${args.aggregate === undefined ? ([...kinds][0] ?? 'stat') : 'aggregate'} rows from ${ok.reduce((n, r) => n + (r.files?.length ?? 1), 0)} file(s)`);
  }
  return failed;
}

/**
 * Inputs as files: a folder is an nfcapd archive, replaced by its nfcapd files (by slot time,
 * selected with --date or --from/--to; files still being written are skipped).
 */
async function expandArchives(args: IngestArgs, ctx: CliContext): Promise<string[]> {
  const out: string[] = [];
  for (const input of args.files) {
    const info = await stat(input).catch(() => undefined);
    if (!info?.isDirectory()) {
      out.push(input);
      continue;
    }
    const listing = await discoverArchive(input, { date: args.date, from: args.from, to: args.to, timeZone: args['time-zone'] });
    ctx.log(`${input}: ${listing.files.length} nfcapd files${listing.skipped.length ? `, ${listing.skipped.length} skipped (${listing.skipped.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ')}${listing.skipped.length > 3 ? '; ...' : ''})` : ''}`);
    out.push(...listing.files.map((f) => f.path));
  }
  return out;
}

function makeAggregator(args: IngestArgs): FlowAggregator {
  let top: AggregateOptions['top'];
  if (args.top !== undefined) {
    const m = /^(\d+)(?::(pps|bps))?$/u.exec(args.top);
    if (!m || Number(m[1]) < 1) throw usageError(`--top: expected N or N:pps or N:bps with N >= 1, got "${args.top}"`);
    top = { n: Number(m[1]), by: (m[2] as 'pps' | 'bps' | undefined) ?? 'pps' };
  }
  return new FlowAggregator({ key: args.aggregate, window: args.window, minPackets: args['min-packets'], minBytes: args['min-bytes'], top });
}

/** What ingest keeps of an input: its table, or (when aggregating) only how many rows it gave. */
type InputOutcome = Omit<ReadResult, 'table'> & { rows: number; table?: Table; untimed?: number; via?: string; refused?: string; files?: readonly string[] };

function outcome(r: ReadResult): InputOutcome {
  return { ...r, rows: r.table.numRows };
}

/** `, nfdump warned: Skip unknown record type 9 (x3)` when nfdump printed known harmless warnings. */
function warned(warnings: readonly { message: string; count: number }[] | undefined): string {
  if (!warnings || warnings.length === 0) return '';
  return `, nfdump warned: ${warnings.map((w) => `${w.message} (x${w.count})`).join('; ')}`;
}

/**
 * One input into the aggregation, batch by batch as it is read (through the format registry),
 * into an aggregator of its own that joins the common one only when the input was read whole:
 * memory grows with the groups, not with the flows, and a failed input adds nothing.
 */
async function aggregateInput(aggregator: FlowAggregator, file: string, format: string, options: ReadOptions): Promise<InputOutcome> {
  // the key's router: the archive folder the file lies in (NfSen's live/<router>/...)
  const own = aggregator.emptyLike(aggregator.key.fields.includes('router') ? routerOf(file) : undefined);
  const read = await aggregateFlowInput(file, await inputFormatOf(file, format), own, options);
  const untimed = own.untimedCount;
  const flows = own.flowCount;
  aggregator.merge(own);
  const summary = read.summary;
  return { file, format: read.format, kind: read.kind, rows: flows, rejects: summary.rejects, summary, untimed, via: read.via, refused: read.refused };
}

/** What runsOfInputs needs of an input: nfcapd or not, its slot start and router (from its path). */
function candidate(file: string, format: FormatSpec | undefined, args: IngestArgs): RunCandidate {
  if (format?.name !== 'nfcapd') return { nfcapd: false };
  const name = parseNfcapdName(basename(file), args['time-zone']);
  return { nfcapd: true, slotStartMs: name.ok ? name.slotStartMs : undefined, router: routerOf(file) };
}

/**
 * A run of nfcapd files through one nfdump (aggregateFlowInput with `together`), all or nothing:
 * no flow line may be rejected (a file's own threshold applies only when it is read alone), and
 * any failure throws, for the caller to read the files one by one. (A line of nfdump's
 * aggregates the reader refuses sends the run, as one, through the flow reader, as it does a file.)
 */
async function aggregateRun(aggregator: FlowAggregator, run: readonly string[], label: string, format: FormatSpec, reading: Reading): Promise<InputOutcome> {
  const own = aggregator.emptyLike(aggregator.key.fields.includes('router') ? routerOf(run[0]!) : undefined);
  // the time limit is per file: a run has its files' worth
  const nfdump = { ...reading.nfdump, timeoutS: reading.nfdump.timeoutS === undefined ? undefined : reading.nfdump.timeoutS * run.length };
  const read = await aggregateFlowInput(label, format, own, { maxRejects: 0, rejects: { add: () => {} }, nfdump, zone: reading.zone, together: run });
  const untimed = own.untimedCount;
  const flows = own.flowCount;
  aggregator.merge(own);
  return { file: label, files: run, format: read.format, kind: read.kind, rows: flows, rejects: [], summary: read.summary, untimed, via: read.via, refused: read.refused };
}

/** Size of an input for the progress line (0 when it cannot be read: its error says why elsewhere). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
