import { RecordBatch, Table } from 'apache-arrow';
import pLimit from 'p-limit';
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { FlowknnError, usageError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { INPUT_FORMATS, readInput, type InputFormat, type ReadResult } from '../../ingest/read.js';
import type { Reject } from '../../ingest/issues.js';
import { writeArrowFile, withMetadata } from '../../schema/arrow.js';
import type { CliContext } from '../context.js';
import { progressUpdater } from '../progress.js';

interface IngestArgs {
  files: string[];
  out: string;
  format: InputFormat;
  'max-rejects': number;
  rejects?: string;
  jobs: number;
}

/** Joins tables of one kind into one, recording every source in the schema metadata. */
export function concatTables(results: ReadResult[]): Table {
  const first = results[0]!.table.schema;
  const meta: Record<string, string> = Object.fromEntries(first.metadata);
  delete meta['flowknn.source'];
  delete meta['flowknn.format'];
  meta['flowknn.sources'] = JSON.stringify(results.map((r) => ({ file: r.file, format: r.format, rows: r.table.numRows })));
  const schema = withMetadata(first.fields, meta);
  return new Table(results.flatMap((r) => r.table.batches.map((b) => new RecordBatch(schema, b.data))));
}

export function ingestCommand(ctx: CliContext): CommandModule<object, IngestArgs> {
  return {
    command: 'ingest <files..>',
    describe: 'read nfdump outputs (stat text, stat CSV, flow CSV) into one Arrow IPC file',
    builder: (y: Argv) =>
      y
        .positional('files', { type: 'string', array: true, demandOption: true, describe: 'nfdump output files (plain or .gz)' })
        .option('out', { type: 'string', demandOption: true, describe: 'Arrow IPC file to write (.arrow)' })
        .option('format', { choices: INPUT_FORMATS, default: 'auto' as const, describe: 'input format (auto: detected per file)' })
        .option('max-rejects', { type: 'number', default: 0, describe: 'bad lines a file may have before it fails (0: fail on the first)' })
        .option('rejects', { type: 'string', describe: 'CSV file listing rejected lines (file, line, reason, raw text)' })
        .option('jobs', { type: 'number', default: availableParallelism(), describe: 'files read at once' }) as unknown as Argv<IngestArgs>,
    handler: async (args) => {
      if (!Number.isInteger(args['max-rejects']) || args['max-rejects'] < 0) throw usageError(`--max-rejects must be a whole number >= 0`);
      if (!Number.isInteger(args.jobs) || args.jobs < 1) throw usageError(`--jobs must be a whole number >= 1`);
      const limit = pLimit(args.jobs);
      const onFile = progressUpdater(ctx, 'reading', 'files');
      let done = 0;
      const outcomes = await Promise.all(
        args.files.map((file) =>
          limit(async () => {
            try {
              return { file, result: await readInput(file, args.format, { maxRejects: args['max-rejects'] }) };
            } catch (err) {
              if (err instanceof FlowknnError) return { file, error: err };
              throw err;
            } finally {
              onFile(++done, args.files.length);
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
        const table = concatTables(ok);
        await writeArrowFile(args.out, table);
        const rejects: Reject[] = ok.flatMap((r) => r.rejects);
        if (args.rejects) await writeFileAtomic(args.rejects, rejectsCsv(rejects));
        for (const r of ok) ctx.log(`${r.file}: ${r.table.numRows} rows (${r.format})${r.rejects.length ? `, ${r.rejects.length} rejected` : ''}`);
        ctx.log(`wrote ${args.out}: ${table.numRows} ${[...kinds][0]} rows from ${ok.length} file(s)`);
      }
      if (failed.length > 0) {
        if (ok.length === 0) {
          // Every input failed: exit as they did when they agree (all missing: usage), else as input.
          const kind = failed.every((e) => e.kind === failed[0]!.kind) ? failed[0]!.kind : 'input';
          throw new FlowknnError(kind, `no input could be read (${failed.length} failed); nothing written`);
        }
        ctx.stderr.write(`flowknn: ${failed.length} of ${args.files.length} inputs failed: ${failed.map((e) => e.file).join(', ')}\n`);
        ctx.partialFailure = true;
      }
    },
  };
}

export function rejectsCsv(rejects: Reject[]): string {
  const q = (s: string) => `"${s.replace(/"/gu, '""')}"`;
  return `file,line,reason,raw\n${rejects.map((r) => [q(r.file), r.line, q(r.reason), q(r.raw)].join(',')).join('\n')}${rejects.length ? '\n' : ''}`;
}
