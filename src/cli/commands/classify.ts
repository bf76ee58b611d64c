import type { Table } from 'apache-arrow';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';

import { inputError } from '../../errors.js';
import { INPUT_FORMATS, readInput } from '../../ingest/read.js';
import { resolvedTimeZone } from '../../io/time-zone.js';
import { uniqueRows } from '../../ingest/sections.js';
import { tableToCsv } from '../../io/csv.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { checkOutputs } from '../../io/out-path.js';
import { writeParquetFile } from '../../io/parquet.js';
import { classifyTables } from '../../knn/classify-tables.js';
import { storedNovelty } from '../../model/folder.js';
import { readModelSpec } from '../../model/registry.js';
import { takeRows, writeArrowFile } from '../../schema/arrow.js';
import type { CliContext } from '../context.js';
import { engineFrom, engineOption, inputFormatFrom, inputFormatOption, timeZoneOption, zoneFrom, type ArgsOf } from '../options.js';
import { formatPredictions } from '../show.js';

const classifyBuilder = (y: Argv) =>
  engineOption(
    inputFormatOption(timeZoneOption(y), INPUT_FORMATS)
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'nfdump statistics (text, CSV or JSON) or flowknn stat and aggregate tables (.arrow)' })
      .option('model', { type: 'string', demandOption: true, describe: 'model folder written by flowknn train, or a registry model (ROOT/NAME: its current version)' })
      .option('out', { type: 'string', describe: 'folder for predictions.arrow, predictions.parquet and predictions.csv (without it: print only)' })
      .option('show', { type: 'boolean', default: false, describe: 'print each row with its neighbours and prediction (default when no --out)' })
      .option('report', { type: 'string', describe: 'also write an HTML report (the rows over the training data, predictions) to this file' })
      .option('unknown-label', { type: 'string', describe: "predict novel rows (k-th neighbour farther than the model's novelty threshold) as this label, e.g. unknown" }),
  );

type ClassifyArgs = ArgsOf<typeof classifyBuilder>;

export function classifyCommand(ctx: CliContext): CommandModule<object, ClassifyArgs> {
  return {
    command: 'classify <inputs..>',
    describe: 'label per-host aggregates with a trained model',
    builder: classifyBuilder,
    handler: async (args) => {
      const format = inputFormatFrom(args, (m) => ctx.stderr.write(`flowknn: warning: ${m}\n`));
      const read = [...args.inputs.map((path) => ({ flag: 'input', path })), { flag: '--model', path: args.model }];
      const [out, report] = await checkOutputs([{ flag: '--out', path: args.out, folder: 'predictions' }, { flag: '--report', path: args.report, file: 'html' }], read);
      const { model, json, warnings } = (await readModelSpec(args.model)).loaded;
      for (const w of warnings ?? []) ctx.log(`warning: ${w}`);
      const zone = zoneFrom(args);
      const tables: Table[] = [];
      const files: string[] = [];
      for (const file of args.inputs) {
        const r = await readInput(file, format, { zone });
        if (r.kind === 'none' || r.table.numRows === 0) {
          ctx.log(`${file}: no rows (nfdump found no matching flows)`);
          continue;
        }
        if (r.kind === 'flow') {
          throw inputError(
            'holds flow records; the model classifies per-host aggregates',
            { file },
            'aggregate them first: flowknn ingest FILES --aggregate dstip --out aggregates.arrow (or nfdump -r FILE -s dstip/pps/bps -n 0 -o csv > stats.csv)',
          );
        }
        const keep = uniqueRows(r.table);
        if (keep.length < r.table.numRows) ctx.log(`${file}: ${r.table.numRows - keep.length} rows repeated in later tables of the same output skipped`);
        tables.push(keep.length < r.table.numRows ? takeRows(r.table, keep) : r.table);
        files.push(file);
      }
      const rows = tables.reduce((s, t) => s + t.numRows, 0);
      const calibration = storedNovelty(json);
      const engine = await engineFrom(args, ctx.log);
      let classified;
      try {
        classified = await classifyTables(model, tables, engine, {
          names: files,
          novelty: calibration ?? undefined,
          unknownLabel: args['unknown-label'],
          meta: () => ({
            'flowknn.model': args.model,
            'flowknn.model_created': json.created,
            'flowknn.engine': engine.name,
            'flowknn.inputs': JSON.stringify(args.inputs),
            'flowknn.time_zone': resolvedTimeZone(zone.timeZone),
          }),
        });
      } finally {
        await engine.dispose();
      }
      const { table, novelty } = classified;
      if (calibration === null && args['unknown-label'] !== undefined) ctx.log(`--unknown-label: the model has no novelty threshold (trained before novelty scores); no row is labelled ${args['unknown-label']}`);
      if (novelty) {
        const flagged = novelty.scores.filter((s) => s > novelty.threshold).length;
        ctx.log(`novel: ${flagged} of ${rows} rows (${novelty.scoreName} beyond ${novelty.threshold.toPrecision(4)})`);
      }
      if (args.show || args.out === undefined) ctx.stdout.write(formatPredictions(table, model.config.k));
      if (out) {
        await writeArrowFile(out.files['predictions.arrow']!, table);
        await writeParquetFile(out.files['predictions.parquet']!, table);
        await writeFileAtomic(out.files['predictions.csv']!, tableToCsv(table));
        ctx.log(`wrote ${join(args.out!, 'predictions.arrow')}, predictions.parquet and predictions.csv: ${rows} rows`);
      }
      if (report) {
        const { classifiedReport, predictionsFromTable, renderReport, writeReport } = await import('../../report/index.js');
        const doc = classifiedReport({
          classes: model.train.classes,
          training: model.train,
          rows: predictionsFromTable(table, 'predictions', novelty ? 'novelty' : undefined).rows,
          novelty: novelty ? { threshold: novelty.threshold, scoreName: novelty.scoreName } : undefined,
          meta: { engine: engine.name, inputs: args.inputs },
        });
        await writeReport(report.path, await renderReport(doc, { onWarning: (w) => ctx.log(`report: ${w}`) }));
        ctx.log(`wrote ${args.report}`);
      }
    },
  };
}
