import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { loadNightlyConfig } from '../../pipeline/config.js';
import { notifyDay } from '../../pipeline/notify-day.js';
import type { CliContext } from '../context.js';
import { type ArgsOf } from '../options.js';
import { notifyCommandOf } from './nightly.js';

const notifyBuilder = (y: Argv) =>
  y
    .option('config', { type: 'string', demandOption: true, describe: 'the job config the day ran with (its notify.command and output.root)' })
    .option('date', { type: 'string', demandOption: true, describe: 'the day, YYYY-MM-DD' })
    .option('notify-cmd', { type: 'string', describe: 'shell command run with the incidents (NDJSON) on stdin (overrides notify.command)' });

type NotifyArgs = ArgsOf<typeof notifyBuilder>;

/** `flowknn notify`: sends a finished day's open incidents (again), and records it in the day's notify.json. */
export function notifyCommand(ctx: CliContext): CommandModule<object, NotifyArgs> {
  return {
    command: 'notify',
    describe: "send a finished day's open incidents with the notify command (again, whatever notify.json says), recording the outcome in notify.json",
    builder: notifyBuilder,
    handler: async (args) => {
      const config = await loadNightlyConfig(args.config);
      const command = notifyCommandOf(args['notify-cmd'], config.config.notify.command);
      if (!command) throw usageError(`${args.config} has no notify.command, and no --notify-cmd was given`, 'set notify.command in the config (e.g. ["/usr/local/bin/page-noc"]) or give --notify-cmd \'shell line\'');
      const r = await notifyDay({ config, date: args.date, command, log: ctx.log, lockCommand: `flowknn notify --config ${args.config} --date ${args.date}` });
      ctx.stdout.write(r.sent === 0 ? `${args.date}: no open incidents to send\n` : `${args.date}: sent ${r.sent} incident${r.sent === 1 ? '' : 's'} (${r.alerts} alerts, attempt ${r.state.attempts})\n`);
    },
  };
}
