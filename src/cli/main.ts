import yargs from 'yargs';
import { FlowknnError, usageError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { classifyCommand } from './commands/classify.js';
import { enginesCommand } from './commands/engines.js';
import { evaluateCommand } from './commands/evaluate.js';
import { reportCommand } from './commands/report.js';
import { sweepCommand } from './commands/sweep.js';
import { synthCommand } from './commands/synth.js';
import { ingestCommand } from './commands/ingest.js';
import { labelCommand } from './commands/label.js';
import { modelsCommand } from './commands/models.js';
import { mergeCommand, nightlyCommand } from './commands/nightly.js';
import { notifyCommand } from './commands/notify.js';
import { trainCommand } from './commands/train.js';
import { makeContext } from './context.js';

export interface MainIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Runs the CLI and returns the exit status (see README "Exit codes"): 0 ok, 1 inputs failed,
 * 2 usage, 3 environment. Handlers never exit the process; errors travel up to here.
 */
export async function main(argv: string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const quiet = argv.includes('--quiet') || argv.includes('-q');
  const ctx = makeContext(io.stdout as never, io.stderr as never, quiet);
  const cli = yargs(argv)
    .scriptName('flowknn')
    .usage('$0 <command> [options]\n\nk-nearest-neighbour classification of nfdump traffic aggregates.')
    .command(ingestCommand(ctx))
    .command(trainCommand(ctx))
    .command(labelCommand(ctx))
    .command(modelsCommand(ctx))
    .command(classifyCommand(ctx))
    .command(evaluateCommand(ctx))
    .command(sweepCommand(ctx))
    .command(reportCommand(ctx))
    .command(nightlyCommand(ctx))
    .command(mergeCommand(ctx))
    .command(notifyCommand(ctx))
    .command(synthCommand(ctx))
    .command(enginesCommand(ctx))
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress or notes on stderr' })
    .demandCommand(1, 'name a command (flowknn --help lists them)')
    .strict()
    .version(TOOL_VERSION)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw usageError(msg ?? 'bad arguments', 'flowknn <command> --help shows the options');
    });
  try {
    await cli.parseAsync();
    return ctx.partialFailure ? 1 : 0;
  } catch (err) {
    if (err instanceof FlowknnError) {
      io.stderr.write(`flowknn: error: ${err.format()}\n`);
      return err.exitCode;
    }
    io.stderr.write(`flowknn: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 70;
  }
}
