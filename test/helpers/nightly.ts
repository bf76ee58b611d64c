import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Nightly configs for tests: each named run writes under DIR/<name>, its config as
 * DIR/<name>.json; `extra` replaces whole top-level sections.
 */
export function nightlyConfigs(base: () => { dir: string; archive: string; model: string; classify?: Record<string, unknown>; aggregate?: Record<string, unknown> }) {
  const config = (name: string, extra: Record<string, unknown> = {}): string => {
    const b = base();
    return JSON.stringify(
      {
        archive: { root: b.archive },
        output: { root: join(b.dir, name) },
        model: { path: b.model },
        ...(b.aggregate ? { aggregate: b.aggregate } : {}),
        classify: b.classify ?? { engine: 'cpu', threads: 1 },
        ...extra,
      },
      null,
      2,
    );
  };
  const writeConfig = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const file = join(base().dir, `${name}.json`);
    await writeFile(file, config(name, extra));
    return file;
  };
  return { config, writeConfig };
}
