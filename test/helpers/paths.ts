import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root (the folder holding package.json). */
export const REPO_ROOT = resolve(here, '../..');

/**
 * The seed data set: `data/seed-2015` in the repository when it is there, else the shared
 * copy beside the repository (`../shared/data/seed-2015`).
 */
export const SEED_DIR: string = (() => {
  const candidates = [join(REPO_ROOT, 'data/seed-2015'), resolve(REPO_ROOT, '../shared/data/seed-2015')];
  const found = candidates.find((d) => existsSync(join(d, 'labels')) && existsSync(join(d, 'probes')));
  if (!found) throw new Error(`seed data not found; looked in ${candidates.join(' and ')}`);
  return found;
})();

export const SEED_LABELS = join(SEED_DIR, 'labels');
export const SEED_PROBES = join(SEED_DIR, 'probes');

/** Real nfdump 1.7.1 output (see test/fixtures/nfdump-1.7/README.md). */
export const NFDUMP17_DIR = join(REPO_ROOT, 'test/fixtures/nfdump-1.7');

export function seedLabel(name: string): string {
  return join(SEED_LABELS, `${name}.raw`);
}

export function nfdump17(name: string): string {
  return join(NFDUMP17_DIR, name);
}
