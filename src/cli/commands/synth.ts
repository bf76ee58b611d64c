import type { Argv, CommandModule } from 'yargs';
import { usableCores } from '../../io/cores.js';
import { join } from 'node:path';
import { COMPRESSIONS } from '../../synth/nfpcapd.js';
import { DEFAULT_SYNTH_DATE, generateArchive, SYNTH_LAYOUTS, type SynthOptions } from '../../synth/generate.js';
import { SYNTH_CLASSES } from '../../synth/scenario.js';
import type { CliContext } from '../context.js';
import { type ArgsOf } from '../options.js';
import { progressUpdater } from '../progress.js';

const synthBuilder = (y: Argv) =>
  y
    .option('out', { type: 'string', demandOption: true, describe: 'folder to write: flows/<Y/m/d>/nfcapd.*, ground-truth.csv, synth.json (replaced whole)' })
    .option('date', { type: 'string', default: DEFAULT_SYNTH_DATE, describe: 'day to generate, YYYY-MM-DD (UTC)' })
    .option('start', { type: 'string', default: '00:00', describe: 'start time hh:mm (UTC), on a 5-minute boundary' })
    .option('hours', { type: 'number', default: 2, describe: 'length in hours, a multiple of 5 minutes (0.5 = 30 min, 24 = a day)' })
    .option('seed', { type: 'number', default: 1, describe: 'same seed, same traffic, same ground truth' })
    .option('background', { type: 'number', default: 2000, describe: 'background flows per 5-minute file (DNS, NTP, small HTTPS)' })
    .option('scale', { type: 'number', default: 1, describe: 'duration multiplier of the heavy events (tivoli, floods, nfs)' })
    .option('nfs', { type: 'boolean', default: false, describe: 'add NFS bulk transfers (a class outside the seed model: "unknown")' })
    .option('layout', { choices: SYNTH_LAYOUTS, default: 'Y/m/d' as const, describe: 'folders under flows/, as nfcapd -S 1 (Y/m/d), -S 7 (Y-m-d) or none (flat)' })
    .option('compress', { choices: COMPRESSIONS, default: 'none' as const, describe: 'nfcapd file compression' })
    .option('jobs', { type: 'number', default: usableCores(), describe: 'nfpcapd processes at once' })
    .option('nfpcapd', { type: 'string', default: 'nfpcapd', describe: 'the nfpcapd binary (path or name on PATH)' })
    .option('force', { type: 'boolean', default: false, describe: 'replace --out even if it is a non-empty folder that synth did not write' });

type SynthArgs = ArgsOf<typeof synthBuilder>;

export function synthCommand(ctx: CliContext): CommandModule<object, SynthArgs> {
  return {
    command: 'synth',
    describe: 'generate a synthetic nfcapd archive (real files, via nfpcapd) with injected events and their ground truth',
    builder: synthBuilder,
    handler: async (args) => {
      // The flags are the generator's options, every one given (yargs fills the defaults).
      const options: Required<Omit<SynthOptions, 'onProgress'>> = {
        out: args.out,
        date: args.date,
        start: args.start,
        hours: args.hours,
        seed: args.seed,
        background: args.background,
        scale: args.scale,
        nfs: args.nfs,
        layout: args.layout,
        compress: args.compress,
        jobs: args.jobs,
        nfpcapd: args.nfpcapd,
        force: args.force,
      };
      const result = await generateArchive({ ...options, onProgress: progressUpdater(ctx, 'synth', 'files') });
      const perClass = SYNTH_CLASSES.map((c) => [c, result.events.filter((e) => e.class === c).length] as const).filter(([, n]) => n > 0);
      const bytes = result.files.reduce((s, f) => s + f.size, 0);
      ctx.log(
        `generated ${result.files.length} nfcapd files (${(bytes / 1e6).toFixed(1)} MB) for ${new Date(result.fromMs).toISOString().slice(0, 16)}Z .. ${new Date(result.toMs).toISOString().slice(0, 16)}Z from ${(result.packets / 1e6).toFixed(2)} M packets in ${(result.elapsedMs / 1000).toFixed(1)} s (${result.nfpcapd})`,
      );
      ctx.log(`events: ${perClass.map(([c, n]) => `${c} ${n}`).join(', ')}`);
      ctx.log(`wrote ${result.flowsDir} and ${join(result.out, 'ground-truth.csv')}`);
    },
  };
}
