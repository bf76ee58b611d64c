import type { Argv, CommandModule } from 'yargs';
import { loadNightlyConfig } from '../../pipeline/config.js';
import { watchArchive } from '../../pipeline/watch.js';
import type { CliContext } from '../context.js';
import { type ArgsOf } from '../options.js';
import { liveLine } from '../show.js';
import { configOverrideOptions, notifyCommandOf } from './nightly.js';

const watchBuilder = (y: Argv) =>
  configOverrideOptions(
    y
      .option('config', { type: 'string', demandOption: true, describe: 'job config (the nightly job\'s; aggregate.source must be "nfdump")' })
      .option('once', { type: 'boolean', default: false, describe: 'work off the files there are (the backlog) and exit, instead of following the archive' })
      .option('date', { type: 'string', describe: "only the files of this day, YYYY-MM-DD in the archive's zone (default: the last --days days)" })
      .option('days', { type: 'number', default: 2, describe: 'days looked at, today included (older files are left to the nightly job)' })
      .option('jobs', { type: 'number', describe: 'files read at once (default: limits.jobs of the config, 0 = cores)' })
      .option('retries', { type: 'number', default: 3, describe: 'times a failing file is tried again before it is listed as failed' })
      .option('retry-delay', { type: 'number', default: 10, describe: 'seconds before a failed file is tried again' })
      .option('poll', { type: 'number', default: 30, describe: 'seconds between scans of the archive (new files are seen at once where file events work)' }),
  );

type WatchArgs = ArgsOf<typeof watchBuilder>;

export function watchCommand(ctx: CliContext): CommandModule<object, WatchArgs> {
  return {
    command: 'watch',
    describe: 'follow the archive: classify each nfcapd file as the collector rotates it, update the incidents of its day and notify new ones',
    builder: watchBuilder,
    handler: async (args) => {
      const config = await loadNightlyConfig(args.config);
      const stop = new AbortController();
      const onSignal = () => {
        ctx.log('stopping: the files being read are finished first');
        stop.abort();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      try {
        const r = await watchArchive({
          config,
          once: args.once,
          date: args.date,
          days: args.days,
          jobs: args.jobs,
          retries: args.retries,
          retryDelayMs: args['retry-delay'] * 1000,
          pollMs: args.poll * 1000,
          engine: args.engine,
          nfdump: args.nfdump,
          inputTimeout: args['input-timeout'],
          notify: notifyCommandOf(args['notify-cmd'], config.config.notify.command),
          log: ctx.log,
          command: `flowknn watch --config ${args.config}`,
          signal: stop.signal,
          onFile: (f) => ctx.log(liveLine(f)),
          onReady: (how) => ctx.log(how === 'watch' ? `watching ${config.paths.archive}` : `scanning ${config.paths.archive} every ${args.poll} s`),
        });
        if (args.once) ctx.log(`${r.done} files done${r.failed.length > 0 ? `, ${r.failed.length} failed` : ''}`);
        if (r.failed.length > 0) {
          ctx.stderr.write(`flowknn: ${r.failed.length} files failed:\n${r.failed.map((f) => `  ${f.path}: ${f.error}`).join('\n')}\n`);
          ctx.partialFailure = true;
        }
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    },
  };
}
