import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root (the folder holding package.json). */
export const REPO_ROOT = resolve(here, '../..');

/** The seed data set the tool ships with. */
export const SEED_DIR: string = join(REPO_ROOT, 'data/seed-2015');

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
