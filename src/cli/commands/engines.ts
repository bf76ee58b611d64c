import type { Argv, CommandModule } from 'yargs';
import { probeEngines } from '../../engines/registry.js';
import type { CliContext } from '../context.js';
import { outputFormatFrom, outputFormatOption, type OutputFormatArgs } from '../options.js';

export function enginesCommand(ctx: CliContext): CommandModule<object, OutputFormatArgs> {
  return {
    command: 'engines',
    describe: 'list the search engines, whether each can run here (and why not), and the GPU adapter',
    builder: (y: Argv) => outputFormatOption(y),
    handler: async (args) => {
      const probes = await probeEngines();
      if (outputFormatFrom(args) === 'json') {
        ctx.stdout.write(`${JSON.stringify(probes, null, 2)}\n`);
        return;
      }
      for (const p of probes) {
        ctx.stdout.write(`${p.name.padEnd(7)} ${p.usable ? 'usable' : 'not usable'}${p.reason ? `: ${p.reason}` : ''}\n`);
        for (const [key, value] of Object.entries(p.details)) {
          const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
          ctx.stdout.write(`        ${key}: ${text}\n`);
        }
      }
    },
  };
}
