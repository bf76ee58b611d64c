import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { FlowknnError, inputError } from '../errors.js';
import { readDayOutputs, readJson, type Summary } from '../pipeline/outputs.js';
import { readArrowFile } from '../schema/arrow.js';

/** The files of a finished night that its report is made from. */
const NIGHT_FILES = ['summary.json', 'manifest.json', 'predictions.arrow', 'alerts.ndjson'] as const;

export type NightOutputs = Awaited<ReturnType<typeof readDayOutputs>>;

/**
 * A finished night's outputs, read back for `flowknn report --nightly DIR`. A night whose files
 * were removed, cut short or damaged after the run fails naming the file, what is wrong with it
 * and how to make the night again (exit 1), instead of a reader's stack trace; predictions with
 * fewer or more rows than summary.json counts are refused too (a file cut at a batch boundary
 * may still read as a shorter table).
 */
export async function readNightOutputs(dir: string): Promise<NightOutputs> {
  let day: NightOutputs;
  try {
    day = await readDayOutputs(dir);
  } catch (err) {
    // A folder that is no night at all keeps the reader's own error (a usage error). In a
    // night, the reader's error (a guarded Arrow read, a missing file) is less plain than
    // saying which of its files is missing or damaged, and how to make the night again.
    if (err instanceof FlowknnError && !(await lstat(join(dir, 'summary.json')).catch(() => undefined))) throw err;
    throw (await diagnose(dir)) ?? err;
  }
  const file = join(dir, 'predictions.arrow');
  if (day.predictions.numRows !== day.summary.rows) {
    throw inputError(`holds ${day.predictions.numRows} rows; summary.json counts ${day.summary.rows}: the file was cut short or replaced after the run`, { file }, again(day.summary));
  }
  return day;
}

/** The first of the night's files that is missing or unreadable, as an error naming it. */
async function diagnose(dir: string): Promise<FlowknnError | undefined> {
  const summary = await readJson<Summary>(join(dir, 'summary.json')).catch(() => undefined);
  // incidents.ndjson is a night's file since incidents were made (its summary counts them)
  for (const name of [...NIGHT_FILES, ...(summary?.incidents !== undefined ? ['incidents.ndjson'] : [])]) {
    const file = join(dir, name);
    const st = await lstat(file).catch(() => undefined);
    if (!st) return inputError("missing: the night's outputs are incomplete", { file }, again(summary));
    if (!st.isFile()) return inputError("not a regular file: the night's outputs are damaged", { file }, again(summary));
  }
  const file = join(dir, 'predictions.arrow');
  try {
    await readArrowFile(file);
  } catch (err) {
    if (err instanceof FlowknnError) return inputError('not a complete Arrow IPC file: cut short or damaged after the run', { file }, again(summary));
    throw err;
  }
  return undefined;
}

function again(summary: Summary | undefined): string {
  return summary?.config?.file && summary.date
    ? `make the night again: flowknn nightly --config ${summary.config.file} --date ${summary.date} --force`
    : 'make the night again with flowknn nightly --force (or flowknn merge for a sharded day)';
}
