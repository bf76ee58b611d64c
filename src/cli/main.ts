import yargs from 'yargs';
import { FlowknnError, usageError } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { TOOL_VERSION } from '../version.js';
import type { CommandModule } from 'yargs';
import type { CliContext } from './context.js';
import { makeContext } from './context.js';

type CommandFactory = (ctx: CliContext) => CommandModule<object, never>;

/**
 * The commands, each loaded when needed: a run loads only the module of the command it names
 * (the others' modules and libraries cost a few hundred milliseconds of start-up), and all of
 * them when it names none (help, a misspelt command). In the order --help lists them.
 */
const COMMANDS: Record<string, () => Promise<CommandFactory>> = {
  ingest: async () => (await import('./commands/ingest.js')).ingestCommand as CommandFactory,
  train: async () => (await import('./commands/train.js')).trainCommand as CommandFactory,
  label: async () => (await import('./commands/label.js')).labelCommand as CommandFactory,
  models: async () => (await import('./commands/models.js')).modelsCommand as CommandFactory,
  classify: async () => (await import('./commands/classify.js')).classifyCommand as CommandFactory,
  evaluate: async () => (await import('./commands/evaluate.js')).evaluateCommand as CommandFactory,
  sweep: async () => (await import('./commands/sweep.js')).sweepCommand as CommandFactory,
  report: async () => (await import('./commands/report.js')).reportCommand as CommandFactory,
  nightly: async () => (await import('./commands/nightly.js')).nightlyCommand as CommandFactory,
  merge: async () => (await import('./commands/nightly.js')).mergeCommand as CommandFactory,
  notify: async () => (await import('./commands/notify.js')).notifyCommand as CommandFactory,
  watch: async () => (await import('./commands/watch.js')).watchCommand as CommandFactory,
  synth: async () => (await import('./commands/synth.js')).synthCommand as CommandFactory,
  engines: async () => (await import('./commands/engines.js')).enginesCommand as CommandFactory,
};


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
  // the first word that is not a flag (the global flags, -q, --help and --version, take no value)
  const word = args.find((a) => !a.startsWith('-'));
  const named = word !== undefined && Object.hasOwn(COMMANDS, word) ? [word] : Object.keys(COMMANDS);
  let factories: CommandFactory[];
  try {
    factories = await Promise.all(named.map((n) => COMMANDS[n]!()));
  } catch (err) {
    return report(err, io);
  }
  const cli = yargs(args)
    .scriptName('flowknn')
    .usage('$0 <command> [options]\n\nk-nearest-neighbour classification of nfdump traffic aggregates.');
  for (const f of factories) cli.command(f(ctx));
  cli
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
