import type { Argv, CommandModule } from 'yargs';

import { usageError, excerpt } from '../../errors.js';
import { formatFixed } from '../../eval/format.js';
import { exists } from '../../io/atomic.js';
import { listVersions, parseVersionRef, promoteVersion, registryPaths, type VersionInfo } from '../../model/registry.js';
import type { CliContext } from '../context.js';
import { type ArgsOf, OUTPUT_FORMATS, outputFormatFrom } from '../options.js';

function created(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** The classes a version added and dropped against its parent, e.g. `+nfs`. */
function classChange(v: VersionInfo, all: readonly VersionInfo[]): string {
  const parent = v.info?.parent;
  const p = parent == null ? undefined : all.find((o) => o.name === v.name && o.version === parent);
  if (!p) return '';
  const added = v.model.classes.filter((c) => !p.model.classes.includes(c)).map((c) => `+${c}`);
  const dropped = p.model.classes.filter((c) => !v.model.classes.includes(c)).map((c) => `-${c}`);
  return [...added, ...dropped].join(' ');
}

/** One row per version, as `flowknn models` prints it. */
export function formatVersions(versions: readonly VersionInfo[]): string {
  const heads = ['', 'version', 'created', 'rows', 'classes', 'protocol', 'accuracy', 'macro F1', 'promoted', 'reason (when not promoted)'];
  const right = new Set([3, 6, 7]);
  const out: string[] = [];
  const names = [...new Set(versions.map((v) => v.name))];
  for (const name of names) {
    const rows = versions
      .filter((v) => v.name === name)
      .map((v) => {
        const ev = v.model.evaluation;
        const change = classChange(v, versions);
        const promoted = v.info === null ? '?' : v.info.promoted ? 'yes' : 'no';
        return [
          v.current ? '*' : '',
          `v${v.version}`,
          created(v.info?.created ?? v.model.created),
          String(v.model.train.rows),
          `${v.model.classes.length}${change ? ` ${change}` : ''}`,
          ev?.protocol ?? '-',
          ev ? formatFixed(ev.accuracy, 3) : '-',
          ev ? formatFixed(ev.macro_f1, 3) : '-',
          promoted,
          v.info && !v.info.promoted ? v.info.reason : '',
        ];
      });
    const widths = heads.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, j) => (j === cells.length - 1 ? c : right.has(j) ? c.padStart(widths[j]!) : c.padEnd(widths[j]!)))
        .join('  ')
        .trimEnd();
    if (names.length > 1 || out.length > 0) out.push('');
    out.push(`${name}${rows.some((r) => r[0] === '*') ? '' : '  (no current version)'}`);
    out.push(line(heads));
    for (const r of rows) out.push(line(r));
  }
  if (names.length > 0) out.push('', '* current version');
  return `${out.join('\n').replace(/^\n/u, '')}\n`;
}

function versionJson(v: VersionInfo): Record<string, unknown> {
  return {
    name: v.name,
    version: v.version,
    dir: v.dir,
    current: v.current,
    created: v.info?.created ?? v.model.created,
    parent: v.info?.parent ?? null,
    rows: v.model.train.rows,
    rows_detail: v.info?.rows ?? null,
    classes: v.model.classes,
    settings: { scaler: v.model.scaler.name, k: v.model.k, metric: v.model.metric, weights: v.model.weights },
    evaluation: v.model.evaluation,
    baseline: v.info?.baseline ?? null,
    novelty_threshold: v.model.novelty?.threshold ?? null,
    promoted: v.info?.promoted ?? null,
    reason: v.info?.reason ?? null,
    promoted_at: v.info?.promoted_at ?? null,
    conflicts: v.info?.conflicts.length ?? 0,
    labels: v.info?.labels ?? [],
  };
}

const promoteBuilder = (y: Argv) =>
  y
    .positional('name', { type: 'string', demandOption: true, describe: 'model name in the registry' })
    .positional('model-version', { type: 'string', demandOption: true, describe: 'the version to make current, e.g. v3' })
    .option('registry', { type: 'string', demandOption: true, describe: 'model registry folder' });

type PromoteArgs = ArgsOf<typeof promoteBuilder>;

function promoteCommand(ctx: CliContext): CommandModule<object, PromoteArgs> {
  return {
    command: 'promote <name> <model-version>',
    describe: 'make a version current by hand (one the promotion guard kept back, or an earlier one)',
    builder: promoteBuilder,
    handler: async (args) => {
      const ref = String(args['model-version']);
      const version = parseVersionRef(ref);
      if (version === undefined) throw usageError(`expected a version such as v3, got "${excerpt(ref)}"`);
      const { previous } = await promoteVersion(args.registry, args.name, version, new Date(), ctx.log);
      ctx.stdout.write(`${registryPaths(args.registry, args.name).base}: v${version} is current${previous === null ? '' : previous === version ? ' (it already was)' : ` (was v${previous})`}\n`);
    },
  };
}

/** The options of `flowknn models` (its subcommand, promote, is added where ctx is known). */
const modelsBuilder = (y: Argv) =>
  y
    .option('registry', { type: 'string', demandOption: true, describe: 'model registry folder' })
    .option('name', { type: 'string', describe: 'only this model' })
    .option('format', { choices: OUTPUT_FORMATS, default: 'text' as const, describe: 'what is printed on stdout: a table, or JSON' })
    .option('json', { type: 'boolean', describe: 'the same as --format json' });

type ModelsArgs = ArgsOf<typeof modelsBuilder>;

export function modelsCommand(ctx: CliContext): CommandModule<object, ModelsArgs> {
  return {
    command: 'models',
    describe: 'list the versions in a model registry with their scores (models promote: make one current)',
    builder: (y: Argv) => modelsBuilder(y.command(promoteCommand(ctx))),
    handler: async (args) => {
      if (!(await exists(args.registry))) throw usageError(`--registry ${args.registry}: no such folder`, 'make a first version with: flowknn train --registry ROOT --name NAME --labels DIR');
      const versions = await listVersions(args.registry, args.name);
      if (outputFormatFrom(args) === 'json') {
        ctx.stdout.write(`${JSON.stringify(versions.map(versionJson), null, 2)}\n`);
        return;
      }
      if (versions.length === 0) {
        ctx.stdout.write(`${args.name === undefined ? args.registry : registryPaths(args.registry, args.name).base} holds no model versions\n`);
        return;
      }
      ctx.stdout.write(formatVersions(versions));
    },
  };
}
