import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';

import { usageError } from '../../errors.js';
import { NFDUMP_STAT7 } from '../../features/feature-set.js';
import { labelsFromCsv, labelsFromPredictions, labelsTable, pendingFileName, type LabelBatch } from '../../model/labels.js';
import { registryPaths, versionNumbers } from '../../model/registry.js';
import { writeArrowFile } from '../../schema/arrow.js';
import type { CliContext } from '../context.js';
import { type ArgsOf } from '../options.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { checkOutput } from '../../io/out-path.js';
import { suggestFromNight } from '../../model/label-suggest.js';

const addBuilder = (y: Argv) =>
  y
    .option('registry', { type: 'string', demandOption: true, describe: 'model registry folder' })
    .option('name', { type: 'string', demandOption: true, describe: 'model name in the registry' })
    .option('csv', { type: 'string', describe: 'CSV of key,window,label (window: its start, YYYY-MM-DD hh:mm UTC or ISO 8601), looked up in --data' })
    .option('data', { type: 'string', array: true, describe: 'aggregates or predictions tables (.arrow) holding the rows --csv names' })
    .option('predictions', { type: 'string', describe: 'predictions file (.csv or .arrow) with a label column filled in; rows left empty are skipped' })
    .example('$0 label add --registry models --name seed --csv labels.csv --data out/2026-11-01/aggregates.arrow', '')
    .example('$0 label add --registry models --name seed --predictions out/probes/predictions.csv', '');

type LabelAddArgs = ArgsOf<typeof addBuilder>;

function addCommand(ctx: CliContext): CommandModule<object, LabelAddArgs> {
  return {
    command: 'add',
    describe: 'add operator labels to a registry model; the next train --registry takes them in',
    builder: addBuilder,
    handler: async (args) => {
      if ((args.csv === undefined) === (args.predictions === undefined)) throw usageError('give exactly one of --csv FILE (with --data TABLE.arrow...) and --predictions FILE');
      if (args.predictions !== undefined && args.data !== undefined) throw usageError('--data goes with --csv; a predictions file carries its own rows');
      const paths = registryPaths(args.registry, args.name);
      const featureSet = NFDUMP_STAT7;
      const batch: LabelBatch = args.csv !== undefined ? await labelsFromCsv(args.csv, args.data ?? [], featureSet) : await labelsFromPredictions(args.predictions!, featureSet);
      const now = new Date();
      const file = join(paths.pending, pendingFileName(now));
      const meta = {
        'flowknn.created': now.toISOString(),
        'flowknn.labels_from': args.csv !== undefined ? 'csv' : 'predictions',
        'flowknn.inputs': JSON.stringify(args.csv !== undefined ? [args.csv, ...(args.data ?? [])] : [args.predictions]),
      };
      await writeArrowFile(file, labelsTable(batch.rows, featureSet, meta));
      const perClass = new Map<string, number>();
      for (const r of batch.rows) perClass.set(r.label, (perClass.get(r.label) ?? 0) + 1);
      const counts = [...perClass].map(([c, n]) => `${c} ${n}`).join(', ');
      if (batch.repeated > 0) ctx.log(`${batch.repeated} repeated line${batch.repeated === 1 ? '' : 's'} (same row, same label) merged`);
      if (batch.unlabelled > 0) ctx.log(`${batch.unlabelled} row${batch.unlabelled === 1 ? '' : 's'} without a label skipped`);
      if ((await versionNumbers(args.registry, args.name)).length === 0) ctx.log(`${paths.base} has no version yet: the first train --registry takes these labels in beside its --labels`);
      ctx.stdout.write(`added ${batch.rows.length} label${batch.rows.length === 1 ? '' : 's'} (${counts}) to ${file}\n`);
      ctx.stdout.write(`  the next version takes them in: flowknn train --registry ${args.registry} --name ${args.name}\n`);
    },
  };
}

const suggestBuilder = (y: Argv) =>
  y
    .option('night', { type: 'string', demandOption: true, describe: 'a night folder the nightly job wrote (predictions.arrow, alerts.ndjson, summary.json)' })
    .option('n', { type: 'number', default: 30, describe: 'rows to suggest' })
    .option('out', { type: 'string', describe: 'CSV file to write (default: print it)' })
    .example('$0 label suggest --night out/nightly/2026-11-01 --out to-label.csv', 'then fill in the label column and: flowknn label add --registry models --name seed --predictions to-label.csv');

type LabelSuggestArgs = ArgsOf<typeof suggestBuilder>;

function suggestCommand(ctx: CliContext): CommandModule<object, LabelSuggestArgs> {
  return {
    command: 'suggest',
    describe: "pick a night's rows most worth a label (novel, split votes; one per incident or host, spread over classes and features) as a CSV for label add --predictions",
    builder: suggestBuilder,
    handler: async (args) => {
      const out = args.out === undefined ? undefined : (await checkOutput({ flag: '--out', path: args.out, file: 'csv' }, [{ flag: '--night', path: join(args.night, 'predictions.arrow') }]))!;
      const s = await suggestFromNight(args.night, args.n, NFDUMP_STAT7);
      const counts = Object.entries(s.byClass).map(([c, k]) => `${c} ${k}`).join(', ');
      const novel = s.picked.filter((p) => p.noveltyRatio > 1).length;
      ctx.log(`suggested ${s.picked.length} of ${s.rows} rows (${counts || 'none'}; ${novel} novel, ${new Set(s.picked.map((p) => p.group)).size} incidents or hosts${s.excluded > 0 ? `; ${s.excluded} rows already labelled (training rows, pending labels) left out` : ''})`);
      if (out === undefined) {
        ctx.stdout.write(s.csv);
        return;
      }
      await writeFileAtomic(out.path, s.csv);
      ctx.stdout.write(`wrote ${args.out}: fill in the label column of the rows you label (leave the others empty), then
  flowknn label add --registry REGISTRY --name NAME --predictions ${args.out}
`);
    },
  };
}

export function labelCommand(ctx: CliContext): CommandModule<object, object> {
  return {
    command: 'label',
    describe: 'operator labels for the next model version (label add, label suggest)',
    builder: (y: Argv) => y.command(addCommand(ctx)).command(suggestCommand(ctx)).demandCommand(1, 'name a label command: add, suggest'),
    handler: () => undefined,
  };
}
