import yargs from 'yargs';
import { FlowknnError, usageError } from '../errors.js';
import { didYouMean } from '../suggest.js';
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
import { watchCommand } from './commands/watch.js';
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
  let args: string[];
  try {
    args = operandsAfterDashes(argv);
  } catch (err) {
    return report(err, io);
  }
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  const quiet = flags.includes('--quiet') || flags.includes('-q');
  const ctx = makeContext(io.stdout as never, io.stderr as never, quiet);
  const cli = yargs(args)
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
    .command(watchCommand(ctx))
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
      throw usageError(misspelt(msg ?? '', flags, cli as unknown as YargsState) ?? msg ?? 'bad arguments', 'flowknn <command> --help shows the options');
    });
  try {
    await cli.parseAsync();
    return ctx.partialFailure ? 1 : 0;
  } catch (err) {
    return report(err, io);
  }
}

/** What yargs knows at the point it failed: the options of the command being parsed, and the
 *  commands of that level (undocumented accessors, stable across yargs 17 and 18). */
interface YargsState {
  getOptions(): { key: Record<string, unknown>; boolean: string[] };
  getInternalMethods(): { getCommandInstance(): { getCommands(): string[] } };
}

/**
 * A failure caused by a misspelt command or option, said as such with the near name: yargs says
 * `Unknown argument: trian` for a command and, when a required option was misspelt, only that the
 * option is missing (`--modle m`: "Missing required argument: model").
 */
function misspelt(msg: string, flags: readonly string[], y: YargsState): string | undefined {
  if (!/^(Unknown arguments?|Missing required arguments?):/u.test(msg)) return undefined;
  const options = y.getOptions();
  const known = new Set(Object.keys(options.key));
  const booleans = new Set(options.boolean);
  const unknownFlags: string[] = [];
  for (const token of flags) {
    const m = /^--?([^=\s]+)/u.exec(token);
    if (!m || /^-\d/u.test(token)) continue;
    const name = m[1]!;
    const plain = name.startsWith('no-') && booleans.has(name.slice(3)) ? name.slice(3) : name;
    const camel = plain.replace(/-([a-z])/gu, (_, c: string) => c.toUpperCase());
    if (!known.has(plain) && !known.has(camel) && ![...known].some((k) => k.replace(/-([a-z])/gu, (_, c: string) => c.toUpperCase()) === camel)) unknownFlags.push(name);
  }
  const commands = y.getInternalMethods().getCommandInstance().getCommands();
  const listed = /^Unknown arguments?: (.*)$/u.exec(msg)?.[1]?.split(', ') ?? [];
  const command = commands.length > 0 ? listed.find((a) => flags.includes(a)) : undefined;
  if (command !== undefined) return `unknown command "${command}"${didYouMean(command, commands)}`;
  if (unknownFlags.length === 0) return undefined;
  const longNames = [...known].filter((k) => k.length > 1);
  return `unknown option${unknownFlags.length > 1 ? 's' : ''} ${unknownFlags.map((f) => `--${f}${didYouMean(f, longNames, (n) => `--${n}`)}`).join(', ')}`;
}

function report(err: unknown, io: MainIo): number {
  if (err instanceof FlowknnError) {
    io.stderr.write(`flowknn: error: ${err.format()}\n`);
    return err.exitCode;
  }
  io.stderr.write(`flowknn: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}

/**
 * The arguments as yargs should see them. After `--` every argument is an operand (a file), as
 * POSIX utilities read them, but yargs assigns none of them to a command's positionals (it keeps
 * them in `_`, and its count of positionals ignores them): an operand that starts with a dash is
 * written as `./-name` (the same file) and all are put back without the `--`. A lone `-` is
 * refused: yargs drops it without a word (`ingest -` did nothing and exited 0), and flowknn reads
 * and writes only files.
 */
export function operandsAfterDashes(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  argv.forEach((a, i) => {
    if (a !== '-') return;
    const prev = argv[i - 1];
    // `--out -` or `--labels -`: the dash is an option's value (before any `--`)
    if ((end < 0 || i < end) && prev !== undefined && /^--?[^-=][^=]*$/u.test(prev)) {
      throw usageError(`${prev} -: "-" (standard input or output) is not supported`, 'give a file path');
    }
    throw usageError('"-": reading standard input is not supported; write it to a file first', 'e.g. nfdump ... > stats.txt, then give stats.txt');
  });
  if (end < 0) return [...argv];
  return [...argv.slice(0, end), ...argv.slice(end + 1).map((a) => (a.startsWith('-') ? `./${a}` : a))];
}
