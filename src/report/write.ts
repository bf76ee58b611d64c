import { writeFileAtomic } from '../io/atomic.js';

/** Writes a rendered report (HTML text) under a temporary name and renames it into place. */
export async function writeReport(path: string, html: string): Promise<void> {
  await writeFileAtomic(path, html);
}
