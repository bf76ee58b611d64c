import type { Table } from 'apache-arrow';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { FlowknnError, usageError } from '../errors.js';
import type { Reject } from '../ingest/issues.js';
import type { NfdumpOptions } from '../ingest/nfdump/run.js';
import { withMetadata } from '../schema/arrow.js';
import { aggregatesOfParts, type DayAggregates } from './stream.js';
import { commitInput, readPartJson, workId, type InputRecord, type PlannedInput } from './commit-input.js';
import { FLOWS_MAX_ROWS, type LoadedConfig } from './config.js';
import { mergePartials, nightlyAggregateTable } from './inputs.js';
import { readPart } from './outputs.js';

/**
 * Two stages of the nightly job between planning and classifying: reading the inputs not
 * committed yet (in parallel, each committed on its own), and collecting the committed inputs
 * into the day's aggregates and rejects.
 */

/**
 * Reads and commits the planned inputs, `jobs` at once (nfdump processes included). An input
 * that fails is committed as failed and the others go on; what is not about an input (a full
 * disk, nfdump gone) stops taking inputs, lets the running ones finish, and is thrown.
 */
export async function runInputs(
  todo: readonly PlannedInput[],
  p: { config: LoadedConfig; nfdump: NfdumpOptions; workDir: string; jobs: number; log: (m: string) => void; onInput?: (rec: InputRecord, size: number) => void },
): Promise<InputRecord[]> {
  const limit = pLimit(Math.max(1, p.jobs));
  const done: InputRecord[] = [];
  let fatal: FlowknnError | undefined;
  await Promise.all(
    todo.map((input) =>
      limit(async () => {
        if (fatal) return;
        let rec: InputRecord;
        try {
          rec = await commitInput(input, p);
        } catch (err) {
          fatal ??= err as FlowknnError;
          return;
        }
        done.push(rec);
        p.onInput?.(rec, input.size);
      }),
    ),
  );
  if (fatal) throw fatal;
  return done;
}

/**
 * The day's aggregates and rejects from its committed inputs, in path order, as a stream
 * (stream.ts): with the nfdump source each input's rows are final, and they are read one input
 * at a time, however many there are; with the flows source the inputs hold partial aggregates,
 * merged across inputs one input at a time into the night's groups, held in memory. Stops
 * (exit 2) past limits.maxRows (for the flows source FLOWS_MAX_ROWS when none is set).
 */
export async function collectDay(p: { config: LoadedConfig; date: string; inputs: readonly InputRecord[]; workDir: string }): Promise<{ day: DayAggregates; rejects: Reject[] }> {
  const cfg = p.config.config;
  const flows = cfg.aggregate.source === 'flows';
  const limit = cfg.limits.maxRows ?? (flows ? FLOWS_MAX_ROWS : Number.POSITIVE_INFINITY);
  const tooMany = (rowCount: number) => {
    if (rowCount <= limit) return;
    throw usageError(
      `${p.date}: ${rowCount.toLocaleString('en-US')} aggregates to classify, more than limits.maxRows (${limit.toLocaleString('en-US')}${cfg.limits.maxRows === null ? ', the flows source\'s default' : ''}) in ${p.config.file}`,
      flows
        ? 'the flows source holds the night\'s groups in memory while it merges them: keep fewer with aggregate.minPackets, aggregate.minBytes or aggregate.top, use "source": "nfdump" (streamed in bounded memory), or raise limits.maxRows if this machine has the memory; the inputs read so far are kept'
        : 'keep fewer with aggregate.minPackets, aggregate.minBytes or aggregate.top, or raise or remove limits.maxRows (the nfdump source streams the night in bounded memory); the inputs read so far are kept',
    );
  };
  const ok = p.inputs.filter((r) => r.status === 'ok');
  const rejects: Reject[] = [];
  for (const rec of ok) {
    for (const r of await readPartJson<Reject[]>(join(p.workDir, `${workId(rec.path)}.rejects.json`), rec.parts?.rejects)) rejects.push(r);
  }
  const partOf = (rec: InputRecord) => readPart(join(p.workDir, `${workId(rec.path)}.arrow`), rec.parts?.arrow);
  const dayMeta = { 'flowknn.date': p.date, 'flowknn.key': cfg.aggregate.key, 'flowknn.window_s': cfg.aggregate.source === 'nfdump' ? 'file' : String(cfg.aggregate.window) };
  if (ok.length === 0) {
    const empty = nightlyAggregateTable([], [], [], dayMeta);
    // its empty batch too: parquet-wasm fails on a night's schema given no batch at all
    return {
      day: aggregatesOfParts(empty.schema, 0, async function* () {
        yield empty;
      }),
      rejects,
    };
  }
  if (flows) {
    const aggregates = await mergePartials(
      (async function* () {
        for (const rec of ok) yield await partOf(rec);
      })(),
      cfg,
      dayMeta,
    );
    // the limit applies to the night's aggregates, after the minimums
    tooMany(aggregates.numRows);
    return {
      day: aggregatesOfParts(aggregates.schema, aggregates.numRows, async function* () {
        yield aggregates;
      }),
      rejects,
    };
  }
  const rows = ok.reduce((n, r) => n + r.rows, 0);
  tooMany(rows);
  // the first part gives the day's schema, and is the stream's first part (read once)
  let first: Table | undefined = await partOf(ok[0]!);
  const { 'flowknn.source': _one, ...inputMeta } = Object.fromEntries(first.schema.metadata);
  const schema = withMetadata(first.schema.fields, { ...inputMeta, ...dayMeta });
  return {
    day: aggregatesOfParts(schema, rows, async function* () {
      for (const [i, rec] of ok.entries()) {
        const part = i === 0 && first ? first : await partOf(rec);
        first = undefined;
        yield part;
      }
    }),
    rejects,
  };
}
