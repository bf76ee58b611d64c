import { RecordBatch, RecordBatchReader, type Schema } from 'apache-arrow';
import pLimit from 'p-limit';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { environmentError, FlowknnError, usageError } from '../errors.js';
import type { WallClockZone } from '../io/time-zone.js';
import { flowSchema } from '../schema/tables.js';
import type { InputKind } from './format.js';
import type { NfdumpOptions, NfdumpOutcome } from './nfdump/run.js';
import type { InputFormat } from './read.js';
import { openInput } from './registry.js';
import { validateThreshold, type RejectSink, type RejectThreshold } from './rejects.js';
import { removeOnInterrupt } from '../io/interrupt.js';
import { writeArrowStream } from '../io/arrow-stream.js';

/**
 * Flow records of several inputs (nfdump flow CSV dumps, nfcapd files read through nfdump) into
 * one Arrow IPC file, with memory bounded by a few record batches per input being read, not
 * by the inputs' sizes.
 *
 * An input's rows are valid only once the whole input has been read: a reject threshold
 * checked at its end, a Summary trailer that disagrees, or nfdump reporting an error after
 * printing flows fails the input after batches of it were parsed. So each input is streamed
 * to a part file of its own (Arrow IPC, in a hidden folder next to the output), several at
 * once (`jobs`); the parts of the inputs that succeeded are then copied, batch by batch and in
 * the order of the inputs, into the output, written under a temporary name and renamed when
 * complete. A failed input leaves nothing in the output; an interrupted run (an error,
 * SIGINT, SIGTERM, SIGHUP) removes the parts and the temporary output. The price is that
 * the rows go through the disk twice. A single input needs no parts: it is streamed straight
 * into the output, which it alone can spoil.
 */

export interface FlowInputsOptions extends RejectThreshold {
  /** Inputs read at once (default 1). */
  jobs?: number;
  /** The inputs' format (default `auto`: detected per file). */
  format?: InputFormat;
  /** nfcapd inputs: the nfdump binary, its version, a filter expression, a time limit. */
  nfdump?: NfdumpOptions;
  /** The zone nfdump printed local times in (text, CSV and JSON inputs). */
  zone?: WallClockZone;
  /** Where every rejected line of every input goes (e.g. a RejectsWriter). */
  rejects?: RejectSink;
  /** Told of each input as it ends (in the order they end). */
  onInput?: (input: FlowInputOutcome) => void;
  /** More schema metadata of the output (the nfdump release, the zone times were read in). */
  meta?: Record<string, string>;
}

export interface FlowInputOutcome {
  readonly file: string;
  /** As detected (or forced); absent when the input failed before that was known. */
  readonly format?: string;
  /** Rows the input gave (0 when it failed). */
  readonly rows: number;
  /** Its rejected lines (within its threshold, or the ones that failed it). */
  readonly rejected: number;
  readonly error?: FlowknnError;
  /** nfcapd inputs: which nfdump read it and what it warned of. */
  readonly nfdump?: NfdumpOutcome;
}

export interface FlowInputsResult {
  /** One per input, in the order given. */
  readonly inputs: FlowInputOutcome[];
  /** False when no input could be read: then nothing was written. */
  readonly written: boolean;
  readonly rows: number;
  readonly batches: number;
}

/**
 * The batches of a source under another schema (same fields), handing each back to the source
 * once written; it keeps the error the source ended with, to tell an input's failure from
 * the writer's.
 */
class Relabelled implements AsyncIterable<RecordBatch> {
  private readonly origin = new WeakMap<RecordBatch, RecordBatch>();
  sourceError: unknown;

  constructor(
    private readonly source: AsyncIterable<RecordBatch> & { recycle?(batch: RecordBatch): void },
    readonly schema: Schema,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<RecordBatch> {
    try {
      for await (const b of this.source) {
        const r = new RecordBatch(this.schema, b.data);
        this.origin.set(r, b);
        yield r;
      }
    } catch (err) {
      this.sourceError = err;
      throw err;
    }
  }

  recycle(batch: RecordBatch): void {
    const o = this.origin.get(batch);
    if (o) this.source.recycle?.(o);
  }
}

function notFlows(inputs: readonly { file: string; kind?: string }[]): FlowknnError {
  const odd = inputs.filter((o) => o.kind !== undefined && o.kind !== 'flow');
  return usageError(
    `cannot put statistics and flow records in one table: ${odd.map((o) => `${o.file} holds ${o.kind} rows`).join(', ')}`,
    'ingest them into separate files',
  );
}

/**
 * Reads every input's flow records and writes them, in the order of the inputs, to one Arrow
 * IPC file at `out` (see the file comment). Inputs that fail are listed in the result with
 * their error (FlowknnError) and leave nothing in the output; when none can be read nothing
 * is written. An input holding statistics or aggregates is a usage error for the whole run,
 * and nothing is written.
 */
export async function writeFlowInputs(files: readonly string[], out: string, options: FlowInputsOptions = {}): Promise<FlowInputsResult> {
  validateThreshold(options);
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw usageError(`jobs: expected a whole number >= 1, got ${jobs}`);
  if (files.length === 0) return { inputs: [], written: false, rows: 0, batches: 0 };

  type Read = FlowInputOutcome & { kind?: InputKind; batches: number };
  // Reads one input into `target` (the output itself, or a part). A FlowknnError of the input
  // fails only that input; one of writing (an unwritable folder, a full disk) fails the run.
  // An input of another kind is opened, not written.
  const readOne = async (file: string, target: string, schema: (format: string) => Schema): Promise<Read> => {
    let rejected = 0;
    const sink: RejectSink = {
      add: (r) => {
        rejected++;
        options.rejects?.add(r);
      },
    };
    let format: string | undefined;
    let read: Read;
    let batches: Relabelled | undefined;
    try {
      const input = await openInput(file, options.format ?? 'auto', {
        maxRejects: options.maxRejects,
        maxRejectFraction: options.maxRejectFraction,
        rejects: sink,
        nfdump: options.nfdump,
        zone: options.zone,
      });
      format = input.format;
      if (input.kind !== 'flow' && input.kind !== 'none') {
        read = { file, format, kind: input.kind, rows: 0, rejected, batches: 0 };
      } else {
        const s = schema(input.format);
        batches = new Relabelled(input, s);
        const w = await writeArrowStream(target, batches, { schema: s });
        read = { file, format, kind: 'flow', rows: w.rows, rejected, batches: w.batches, nfdump: input.summary?.nfdump };
      }
    } catch (err) {
      const ofInput = batches === undefined || batches.sourceError === err;
      if (!(err instanceof FlowknnError) || !ofInput) throw err;
      read = { file, format, rows: 0, rejected, error: err, batches: 0 };
    }
    options.onInput?.(read);
    return read;
  };
  const result = (reads: Read[], written: boolean, rows: number, batches: number): FlowInputsResult => ({
    inputs: reads.map(({ file, format, rows: r, rejected, error, nfdump }) => ({ file, format, rows: r, rejected, ...(error ? { error } : {}), ...(nfdump ? { nfdump } : {}) })),
    written,
    rows,
    batches,
  });

  if (files.length === 1) {
    const file = files[0]!;
    const r = await readOne(file, out, (format) => flowSchema({ ...options.meta, 'flowknn.sources': JSON.stringify([{ file, format }]) }));
    if (r.kind !== undefined && r.kind !== 'flow') throw notFlows([r]);
    return r.error ? result([r], false, 0, 0) : result([r], true, r.rows, r.batches);
  }

  // The parts go next to the output: on the disk chosen for it, not in a temp folder that may
  // be small or in memory.
  const dir = dirname(out);
  const area = join(dir, `.${basename(out)}.parts-${process.pid}-${randomBytes(4).toString('hex')}`);
  let made: string | undefined;
  try {
    made = await mkdir(dir, { recursive: true });
    await mkdir(area);
  } catch (err) {
    throw environmentError(`cannot write next to ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'choose an output path in a writable folder with free space', err);
  }
  const release = removeOnInterrupt(area);
  let written = false;
  try {
    const limit = pLimit(jobs);
    const part = (i: number) => join(area, `${i}.arrow`);
    const settled = await Promise.allSettled(files.map((file, i) => limit(() => readOne(file, part(i), () => flowSchema({})))));
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) throw failure.reason;
    const reads = settled.map((s) => (s as PromiseFulfilledResult<Read>).value);
    if (reads.some((r) => !r.error && r.kind !== 'flow')) throw notFlows(reads.filter((r) => !r.error));
    const ok = reads.flatMap((r, i) => (r.error ? [] : [{ ...r, part: part(i) }]));
    if (ok.length === 0) return result(reads, false, 0, 0);
    const schema = flowSchema({ ...options.meta, 'flowknn.sources': JSON.stringify(ok.map((r) => ({ file: r.file, format: r.format, rows: r.rows }))) });
    const w = await writeArrowStream(out, concatParts(ok.map((r) => r.part), schema), { schema });
    written = true;
    return result(reads, true, w.rows, w.batches);
  } finally {
    await rm(area, { recursive: true, force: true });
    release();
    // Folders made for an output that was not written go too (those still empty).
    if (!written && made !== undefined) await removeEmptyFolders(dir, made);
  }
}

/** rmdir from `dir` up to `top`, stopping at the first folder that is not empty. */
async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
  }
}

/** The record batches of Arrow IPC part files, one after another, under `schema`; each part is removed once read. */
async function* concatParts(parts: readonly string[], schema: Schema): AsyncGenerator<RecordBatch> {
  for (const part of parts) {
    const handle = await open(part, 'r');
    try {
      const reader = await RecordBatchReader.from(handle);
      for await (const batch of reader) yield new RecordBatch(schema, batch.data);
    } finally {
      await handle.close().catch(() => undefined);
    }
    await rm(part, { force: true });
  }
}
