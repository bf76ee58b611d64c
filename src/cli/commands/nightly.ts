import type { Argv, CommandModule } from 'yargs';
import { ENGINE_CHOICES } from '../../engines/registry.js';
import { loadNightlyConfig } from '../../pipeline/config.js';
import { mergeShards } from '../../pipeline/merge.js';
import { parseShard, runNightly, type ReportData } from '../../pipeline/nightly.js';
import type { NotifyCommand } from '../../pipeline/notify.js';
import type { Summary } from '../../pipeline/outputs.js';
import type { CliContext } from '../context.js';
import { type ArgsOf } from '../options.js';
import { usageError } from '../../errors.js';
import { liveFile, openLive } from '../../pipeline/live.js';
import { liveLine } from '../show.js';
import { progressBar, throughput, type Progress } from '../progress.js';

/**
 * Renders the nightly report (the charting code loads only when a report is written), with the
 * previous nights of the output root (`history` of them: report.history).
 */
export async function writeNightlyReport(ctx: CliContext, data: Omit<ReportData, 'model'> & { model?: ReportData['model'] }, night: { root: string; history: number }): Promise<void> {
  const { renderReport, writeReport } = await import('../../report/index.js');
  const { nightlyReportOf } = await import('../../report/nightly.js');
  const doc = await nightlyReportOf({ ...data, model: data.model?.model }, night);
  await writeReport(data.reportFile, await renderReport(doc, { onWarning: (w) => ctx.log(`report: ${w}`) }));
}

/**
 * The night in three lines on stdout. With --quiet only when something is wrong (an input
 * failed): cron mails whatever a job prints, and a night that went well should send nothing.
 */
function printSummary(ctx: CliContext, s: Summary, dir: string, reportFile: string | null): void {
  // Drift is something to act on (label rows of this network), so it is said also with --quiet.
  if (s.novelty?.drift) ctx.stderr.write(`flowknn: warning: ${s.novelty.warning}\n`);
  if (ctx.quiet && s.inputs.failed === 0) return;
  const classes = Object.entries(s.predicted)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  ctx.stdout.write(
    `${s.date}: ${s.inputs.ok}/${s.inputs.selected} inputs, ${s.rows} aggregates (${classes || 'none'}), ${s.alerts} alerts${s.incidents ? ` in ${s.incidents.open} incidents${s.incidents.suppressed > 0 ? ` (+${s.incidents.suppressed} suppressed)` : ''}` : ''}, ${s.novel} novel${s.novelty ? ` (${(100 * s.novelty.share).toFixed(1)}% against ${(100 * s.novelty.expected).toFixed(1)}% expected)` : ''}\n` +
      `outputs: ${dir}\n${reportFile ? `report: ${reportFile}\n` : ''}`,
  );
}

/** The notify command: --notify-cmd (a shell line) over the config's notify.command (argv). */
export function notifyCommandOf(shellLine: string | undefined, argv: readonly string[] | null): NotifyCommand | undefined {
  return shellLine !== undefined ? { shellCommand: shellLine } : argv ? { argv } : undefined;
}

/** Options of the commands that run a job config (nightly, watch) that stand in for its keys. */
export function configOverrideOptions<T>(y: Argv<T>) {
  return y
    .option('engine', { choices: ENGINE_CHOICES, describe: 'search engine (default: classify.engine of the config)' })
    .option('nfdump', { type: 'string', describe: 'the nfdump binary (default: "nfdump" of the config, else nfdump on PATH)' })
    .option('notify-cmd', { type: 'string', describe: 'shell command run with the new incidents (NDJSON) on stdin when there are any (overrides notify.command)' })
    .option('input-timeout', { type: 'number', describe: 'seconds one input (an nfcapd file) may take before it fails alone (default: limits.inputTimeout of the config, 1800)' });
}

const nightlyBuilder = (y: Argv) =>
  configOverrideOptions(
    y
      .option('config', { type: 'string', demandOption: true, describe: 'job config (JSON; pipelines/nightly.json documents every key)' })
      .option('date', { type: 'string', describe: "day to process, YYYY-MM-DD in the archive's zone (default: yesterday)" })
      .option('resume', { type: 'boolean', default: false, describe: 'continue an interrupted run: inputs it finished are kept' })
      .option('force', { type: 'boolean', default: false, describe: 'redo the day from scratch, even inputs already done' })
      .option('shard', { type: 'string', describe: "run shard i of n (i/n): a fixed share of the day's inputs, into out/<date>/shards/i-of-n; then flowknn merge" })
      .option('jobs', { type: 'number', describe: 'inputs at once, nfdump processes included (default: limits.jobs of the config, 0 = cores)' })
      .option('file', { type: 'string', describe: 'one nfcapd file just rotated (nfcapd -x "flowknn nightly --config FILE --file %d/%f"): commit it as an input of its day, update the day\'s incidents, notify new ones' }),
  );

type NightlyArgs = ArgsOf<typeof nightlyBuilder>;

export function nightlyCommand(ctx: CliContext): CommandModule<object, NightlyArgs> {
  return {
    command: 'nightly',
    describe: "the nightly job: a day's nfcapd files -> aggregates -> classified -> out/<date>/ (predictions, alerts, summary, manifest, report)",
    builder: nightlyBuilder,
    handler: async (args) => {
      const config = await loadNightlyConfig(args.config);
      if (args.file !== undefined) {
        for (const flag of ['date', 'shard'] as const) if (args[flag] !== undefined) throw usageError(`--file and --${flag} do not go together: the file's name says its day`);
        for (const flag of ['force', 'resume'] as const) if (args[flag]) throw usageError(`--file and --${flag} do not go together: --file commits one input and keeps the others`);
        const live = await openLive({ config, engine: args.engine, nfdump: args.nfdump, inputTimeout: args['input-timeout'], notify: notifyCommandOf(args['notify-cmd'], config.config.notify.command), log: ctx.log, command: `flowknn nightly --config ${args.config} --file ${args.file}` });
        try {
          const r = await liveFile(live, args.file);
          if (r.status === 'failed') {
            ctx.stderr.write(`flowknn: ${r.path} failed: ${r.error ?? ''}\n`);
            ctx.partialFailure = true;
          } else if (!ctx.quiet) ctx.stdout.write(`${liveLine(r)}\n`);
        } finally {
          await live.close();
        }
        return;
      }
      let bar: Progress | undefined;
      const t0 = performance.now();
      const result = await runNightly({
        config,
        date: args.date,
        force: args.force,
        resume: args.resume,
        shard: args.shard === undefined ? undefined : parseShard(args.shard),
        engine: args.engine,
        jobs: args.jobs,
        nfdump: args.nfdump,
        inputTimeout: args['input-timeout'],
        log: ctx.log,
        command: `flowknn nightly --config ${args.config}${args.date ? ` --date ${args.date}` : ''}${args.shard ? ` --shard ${args.shard}` : ''}`,
        // sent once the day is committed, under its lock; a shard's alerts are sent by the merge
        notify: args.shard ? undefined : notifyCommandOf(args['notify-cmd'], config.config.notify.command),
        onProgress: (done, total, rows, bytes) => {
          bar ??= progressBar(ctx, 'inputs', total, 'files');
          bar.update(done, throughput(rows, bytes, t0));
          if (done >= total) bar.stop();
        },
        writeReport: (_dir, data) => writeNightlyReport(ctx, data, { root: config.paths.output, history: config.config.report.history }),
      });
      bar?.stop();
      printSummary(ctx, result.summary, result.dir, result.reportFile);
      if (result.summary.inputs.failed > 0) {
        ctx.stderr.write(`flowknn: ${result.summary.inputs.failed} of ${result.summary.inputs.selected} inputs failed:\n${result.summary.inputs.failed_inputs.map((f) => `  ${f.path}: ${f.error}`).join('\n')}\n`);
        ctx.partialFailure = true;
      }
    },
  };
}

const mergeBuilder = (y: Argv) =>
  y
    .option('config', { type: 'string', demandOption: true, describe: 'the job config the shards ran with' })
    .option('date', { type: 'string', demandOption: true, describe: 'day whose shards to merge, YYYY-MM-DD' });

type MergeArgs = ArgsOf<typeof mergeBuilder>;

export function mergeCommand(ctx: CliContext): CommandModule<object, MergeArgs> {
  return {
    command: 'merge',
    describe: 'combine the shard outputs of a day (nightly --shard i/n) into the files one run writes',
    builder: mergeBuilder,
    handler: async (args) => {
      const config = await loadNightlyConfig(args.config);
      const r = await mergeShards({
        config,
        date: args.date,
        log: ctx.log,
        writeReport: (_dir, data) => writeNightlyReport(ctx, data, { root: config.paths.output, history: config.config.report.history }),
        command: `flowknn merge --config ${args.config} --date ${args.date}`,
        notify: notifyCommandOf(undefined, config.config.notify.command),
      });
      printSummary(ctx, r.summary, r.dir, r.reportFile);
      if (r.summary.inputs.failed > 0) {
        ctx.stderr.write(`flowknn: ${r.summary.inputs.failed} of ${r.summary.inputs.selected} inputs failed:\n${r.summary.inputs.failed_inputs.map((f) => `  ${f.path}: ${f.error}`).join('\n')}\n`);
        ctx.partialFailure = true;
      }
    },
  };
}
