import { Table } from 'apache-arrow';
import pLimit from 'p-limit';
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { usableCores } from '../../io/cores.js';
import { checkOutputs } from '../../io/out-path.js';
import type { Argv, CommandModule } from 'yargs';
import { FlowknnError, inputError, usageError } from '../../errors.js';
import { FlowAggregator, type AggregateOptions } from '../../features/aggregate.js';
import { discoverArchive } from '../../ingest/archive.js';
import { flowInputKind, writeFlowInputs } from '../../ingest/flows-to-arrow.js';
import { looksLikeNfcapd, readNfcapdFlows } from '../../ingest/nfcapd.js';
import { flowCsvStream, INPUT_FORMATS, readInput, sniffFormat, type InputFormat, type ReadOptions, type ReadResult } from '../../ingest/read.js';
import { RejectsWriter, type RejectSink } from '../../ingest/rejects.js';
import type { Reject } from '../../ingest/issues.js';
import { joinTables, writeArrowFile } from '../../schema/arrow.js';
import type { CliContext } from '../context.js';
import { progressUpdater, throughput } from '../progress.js';

interface IngestArgs {
  date?: string;
  from?: string;
  to?: string;
  aggregate?: string;
  window: string;
  'min-packets'?: number;
  'min-bytes'?: number;
  top?: string;
  nfdump?: string;
  filter?: string;
  files: string[];
  out: string;
  format: InputFormat;
  'max-rejects'?: number;
  'max-reject-fraction'?: number;
  rejects?: string;
  jobs: number;
}

/** Joins tables of one kind into one, recording every source in the schema metadata. */
export function concatTables(results: (Pick<ReadResult, 'file' | 'format'> & { table?: Table })[]): Table {
  const first = results[0]!.table!.schema;
  const meta: Record<string, string> = Object.fromEntries(first.metadata);
  delete meta['flowknn.source'];
  delete meta['flowknn.format'];
  meta['flowknn.sources'] = JSON.stringify(results.map((r) => ({ file: r.file, format: r.format, rows: r.table!.numRows })));
  return joinTables(
    results.map((r) => r.table!),
    meta,
  );
}

export function ingestCommand(ctx: CliContext): CommandModule<object, IngestArgs> {
  return {
    command: 'ingest <files..>',
    describe: 'read nfcapd files (through nfdump) and nfdump outputs (stat text, stat CSV, flow CSV) into one Arrow IPC file, or aggregate their flows per host',
    builder: (y: Argv) =>
      y
        .positional('files', { type: 'string', array: true, demandOption: true, describe: 'nfdump output files (plain or .gz), nfcapd files, or nfcapd archive folders' })
        .option('date', { type: 'string', describe: 'archive folders: the nfcapd files of this day (YYYY-MM-DD, UTC)' })
        .option('from', { type: 'string', describe: 'archive folders: files from this time on (inclusive)' })
        .option('to', { type: 'string', describe: 'archive folders: files before this time (exclusive)' })
        .option('out', { type: 'string', demandOption: true, describe: 'Arrow IPC file to write (.arrow)' })
        .option('format', { choices: INPUT_FORMATS, default: 'auto' as const, describe: 'input format (auto: detected per file)' })
        .option('max-rejects', { type: 'number', describe: 'bad lines a file may have before it fails (default 0: fail on the first; no limit on the count when only --max-reject-fraction is given)' })
        .option('max-reject-fraction', { type: 'number', describe: 'largest share of a file\'s data lines (0..1) that may be bad, checked when the file has been read' })
        .option('rejects', { type: 'string', describe: 'CSV file listing every rejected line (file, line, reason, raw text), also those of failed files' })
        .option('jobs', { type: 'number', default: usableCores(), describe: 'files read at once' })
        .option('aggregate', { type: 'string', describe: 'aggregate flow records into per-key features: dstip, srcip, dstip+proto, dstip+dstport, ...' })
        .option('window', { type: 'string', default: '5m', describe: 'with --aggregate: aligned time windows (300, 5m, 1h) or whole' })
        .option('min-packets', { type: 'number', describe: 'with --aggregate: keep aggregates with at least this many packets' })
        .option('min-bytes', { type: 'number', describe: 'with --aggregate: keep aggregates with at least this many bytes' })
        .option('top', { type: 'string', describe: 'with --aggregate: keep the top N per window by pps or bps, e.g. 10:pps' })
        .option('nfdump', { type: 'string', describe: 'nfcapd inputs: the nfdump binary (default: nfdump on PATH)' })
        .option('filter', { type: 'string', describe: 'nfcapd inputs: an nfdump filter expression for the flows read' }) as unknown as Argv<IngestArgs>,
    handler: async (args) => {
      const maxRejects = args['max-rejects'];
      const maxRejectFraction = args['max-reject-fraction'];
      if (maxRejects !== undefined && !(Number.isInteger(maxRejects) && maxRejects >= 0)) throw usageError(`--max-rejects must be a whole number >= 0, got ${maxRejects}`);
      if (maxRejectFraction !== undefined && !(maxRejectFraction >= 0 && maxRejectFraction <= 1)) {
        throw usageError(`--max-reject-fraction must be between 0 and 1 (a share of a file's data lines), got ${maxRejectFraction}`);
      }
      if (!Number.isInteger(args.jobs) || args.jobs < 1) throw usageError(`--jobs must be a whole number >= 1`);
      const aggregator = args.aggregate === undefined ? undefined : makeAggregator(args);
      const files = await expandArchives(args, ctx);
      // The outputs are checked against every input (src/io/out-path.ts); symlinks are written through.
      const read = [...args.files, ...files].map((path) => ({ flag: 'input', path }));
      const [out, rejectsOut] = await checkOutputs([{ flag: '--out', path: args.out, file: 'arrow' }, { flag: '--rejects', path: args.rejects, file: 'csv' }], read);
      args.out = out!.path;
      args.rejects = rejectsOut?.path;
      // Flow records without aggregation are streamed to the output; statistics (small) are
      // read whole and joined.
      const kinds = aggregator ? [] : await Promise.all(files.map((f) => flowInputKind(f, args.format)));
      const streamed = kinds.some((k) => k === 'flow-csv' || k === 'nfcapd');
      if (streamed && kinds.includes('stat')) {
        const listed = files.map((f, i) => (kinds[i] === undefined ? undefined : `${f} (${kinds[i] === 'stat' ? 'stat' : 'flow'})`)).filter((x) => x !== undefined);
        throw usageError(`cannot put statistics and flow records in one table: ${listed.join(', ')}`, 'ingest them into separate files');
      }
      const rejects = args.rejects === undefined ? undefined : await RejectsWriter.open(args.rejects);
      let failed: FlowknnError[];
      try {
        const threshold = { maxRejects, maxRejectFraction };
        failed = streamed ? await streamFlows(files, args, ctx, threshold, rejects) : await readWhole(files, args, ctx, aggregator, threshold, rejects);
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

/**
 * Flow CSV dumps and nfcapd files, as they are: streamed into one Arrow file in record
 * batches, memory bounded whatever their sizes (src/ingest/flows-to-arrow.ts). Returns the
 * inputs that failed, each reported on stderr.
 */
async function streamFlows(files: string[], args: IngestArgs, ctx: CliContext, threshold: Threshold, rejects: RejectSink | undefined): Promise<FlowknnError[]> {
  const onFile = progressUpdater(ctx, 'reading', 'files');
  let done = 0;
  let rows = 0;
  let bytes = 0;
  const t0 = performance.now();
  const result = await writeFlowInputs(files, args.out, {
    ...threshold,
    jobs: args.jobs,
    format: args.format,
    nfdump: { nfdump: args.nfdump, filter: args.filter },
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
    for (const o of result.inputs) if (!o.error) ctx.log(`${o.file}: ${o.rows} rows (${o.format}, streamed)${o.rejected ? `, ${o.rejected} rejected` : ''}`);
    const ok = result.inputs.length - failed.length;
    ctx.log(`wrote ${args.out}: ${result.rows} flow rows in ${result.batches} batches from ${ok} file(s)`);
  }
  return failed;
}

/** Statistics inputs (read whole and joined), or any input with --aggregate. Returns the inputs that failed. */
async function readWhole(
  files: string[],
  args: IngestArgs,
  ctx: CliContext,
  aggregator: FlowAggregator | undefined,
  threshold: Threshold,
  rejects: RejectSink | undefined,
): Promise<FlowknnError[]> {
  const limit = pLimit(args.jobs);
  const onFile = progressUpdater(ctx, 'reading', 'files');
  let done = 0;
  let rows = 0;
  let bytes = 0;
  const t0 = performance.now();
  const outcomes = await Promise.all(
    files.map((file) =>
      limit(async () => {
        let rejected = 0;
        const sink: RejectSink = {
          add: (r) => {
            rejected++;
            rejects?.add(r);
          },
        };
        try {
          const options: ReadOptions = { ...threshold, rejects: sink, nfdump: { nfdump: args.nfdump, filter: args.filter } };
          const result = aggregator ? await aggregateInput(aggregator, file, args.format, options) : outcome(await readInput(file, args.format, options));
          rows += result.rows;
          return { file, result: { ...result, rejected } };
        } catch (err) {
          if (err instanceof FlowknnError) return { file, error: err };
          throw err;
        } finally {
          bytes += sizeOf(file);
          onFile(++done, files.length, throughput(rows, bytes, t0));
        }
      }),
    ),
  );
  const ok = outcomes.flatMap((o) => (o.result ? [o.result] : []));
  const failed = outcomes.flatMap((o) => (o.error ? [o.error] : []));
  for (const e of failed) ctx.stderr.write(`flowknn: error: ${e.format()}\n`);
  if (ok.length > 0) {
    const kinds = new Set(ok.map((r) => r.kind));
    if (kinds.size > 1) {
      throw usageError(`cannot put statistics and flow records in one table: ${ok.map((r) => `${r.file} (${r.kind})`).join(', ')}`, 'ingest them into separate files');
    }
    const table = aggregator ? aggregator.table({ 'flowknn.sources': JSON.stringify(ok.map((r) => ({ file: r.file, format: r.format, rows: r.rows }))) }) : concatTables(ok);
    await writeArrowFile(args.out, table);
    for (const r of ok) ctx.log(`${r.file}: ${r.rows} rows (${r.format})${r.rejected ? `, ${r.rejected} rejected` : ''}`);
    ctx.log(`wrote ${args.out}: ${table.numRows} ${args.aggregate === undefined ? [...kinds][0] : 'aggregate'} rows from ${ok.length} file(s)`);
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
    const listing = await discoverArchive(input, { date: args.date, from: args.from, to: args.to });
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
type InputOutcome = Omit<ReadResult, 'table'> & { rows: number; table?: Table };

function outcome(r: ReadResult): InputOutcome {
  return { ...r, rows: r.table.numRows };
}

/**
 * Adds one input's flow records to the aggregates. nfcapd flows go straight from nfdump's
 * output into the aggregator, batch by batch, without an Arrow table in between; a file's
 * batches are added only once nfdump has finished without error, so a failed file adds
 * nothing. The result carries an empty table of the file's kind and its row count.
 */
/**
 * One input into the aggregation, batch by batch as it is read (nfcapd through nfdump, flow CSV
 * streamed), into an aggregator of its own that joins the common one only when the input was
 * read whole: memory grows with the groups, not with the flows, and a failed input adds nothing.
 */
async function aggregateInput(aggregator: FlowAggregator, file: string, format: InputFormat, options: ReadOptions): Promise<InputOutcome> {
  const own = aggregator.emptyLike();
  if (format === 'nfcapd' || (format === 'auto' && (await looksLikeNfcapd(file).catch(() => false)))) {
    let rejects: readonly Reject[] = [];
    let rows = 0;
    const flows = readNfcapdFlows(file, { ...options.nfdump, maxRejects: options.maxRejects, maxRejectFraction: options.maxRejectFraction, rejects: options.rejects });
    for await (const batch of flows) {
      own.add(batch.columns, file);
      rows += batch.columns.length;
      rejects = batch.rejects;
    }
    aggregator.merge(own);
    return { file, format: 'nfcapd', kind: 'flow', rows, rejects: [...rejects] };
  }
  if (format === 'flow-csv' || (format === 'auto' && (await sniffFormat(file)) === 'flow-csv')) {
    const rejects: Reject[] = [];
    const stream = flowCsvStream(file, options, rejects);
    let rows = 0;
    for await (const batch of stream) {
      own.addTable(new Table(batch), file);
      rows += batch.numRows;
    }
    if (rows === 0) throw inputError('no flow records; expected flow records after the header', { file });
    aggregator.merge(own);
    return { file, format: 'flow-csv', kind: 'flow', rows, rejects };
  }
  const r = await readInput(file, format, options);
  if (r.kind !== 'flow') {
    throw usageError(`--aggregate needs flow records; ${file} holds ${r.kind} rows`, 'give nfcapd files or flow CSV (nfdump -o csv)');
  }
  own.addTable(r.table, file);
  aggregator.merge(own);
  return { file, format: r.format, kind: r.kind, rows: r.table.numRows, rejects: r.rejects };
}

/** Size of an input for the progress line (0 when it cannot be read: its error says why elsewhere). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
