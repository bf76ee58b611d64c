import type { RecordBatch } from 'apache-arrow';
import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { FlowknnError, inputError, unreadableFile } from '../../errors.js';
import { buildTable, type ColumnValues } from '../../schema/arrow.js';
import { FlowColumns, flowSchema } from '../../schema/tables.js';
import { flowSpan, protoName } from '../csv.js';
import { checkCount, parseDateTime } from '../fields.js';
import { generatedReader, type InputFormat, type OpenOptions, type ReadSummary, type SniffHead } from '../format.js';
import { FileRejects } from '../rejects.js';
import { JsonObjectSplitter } from './json-objects.js';
import { resolvedTimeZone } from '../../io/time-zone.js';

/**
 * nfdump's flow records as JSON: `-o json` (1.6 and 1.7: an array of objects) and `-o ndjson`
 * (1.7.5+: one object per line), plain or gzip, streamed record by record. The fields flowknn
 * reads, by the names each release uses:
 *
 *   first seen   `first` (1.7), `t_first` (1.6): local time `YYYY-MM-DDThh:mm:ss.mmm`
 *   last seen    `last`, `t_last`
 *   addresses    `src4_addr`/`dst4_addr` or `src6_addr`/`dst6_addr`
 *   ports        `src_port`, `dst_port`;  protocol `proto` (a number)
 *   counters     `in_packets`, `in_bytes`, `out_packets`, `out_bytes` (when the record has
 *                them), `aggr_flows` (aggregated records); `tcp_flags`
 *
 * Times carry milliseconds, so durations are exact. A record whose `type` is not `FLOW` (or
 * that lacks a field) is rejected with its line.
 */
export const flowJsonFormat: InputFormat = {
  name: 'flow-json',
  kind: 'flow',
  description: 'nfdump flow records as JSON (nfdump -o json, -o ndjson), plain or gzip',
  sniff: (head: SniffHead) => {
    const text = head.lines.slice(0, 40).join('\n');
    const start = text.trimStart();
    if (!start.startsWith('[') && !start.startsWith('{')) return false;
    return /"(?:t_)?first"\s*:/u.test(text) && /"in_packets"\s*:/u.test(text);
  },
  open: async (file, options) => generatedReader('flow-json', 'flow', file, (done) => flowJsonBatches(openBytes(file, options.signal), file, options, done)),
};

const BATCH_ROWS = 65_536;

/**
 * The flow records of nfdump JSON from any byte source (a file, a test's chunks), as record
 * batches; `done` gets the counts once the source has ended.
 */
export async function* flowJsonBatches(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, file: string, options: OpenOptions, done?: (summary: ReadSummary) => void): AsyncGenerator<RecordBatch> {
  const rejects = new FileRejects(file, options, options.rejects);
  const splitter = new JsonObjectSplitter(file);
  const decoder = new StringDecoder('utf8');
  const batchRows = options.batchRows ?? BATCH_ROWS;
  const meta = { 'flowknn.source': file, 'flowknn.format': 'flow-json', 'flowknn.time_zone': resolvedTimeZone(options.zone?.timeZone ?? 'UTC') };
  let cols = new FlowColumns();
  let rows = 0;
  let layout: string | undefined;
  const table = (c: FlowColumns) => buildTable(flowSchema(meta), c as unknown as Record<string, ColumnValues>, c.length).batches[0]!;
  for await (const chunk of source) {
    for (const rec of splitter.push(decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))) {
      if ('error' in rec.value) {
        rejects.add(rec.line, rec.value.error as string, rec.text);
        continue;
      }
      layout ??= 't_first' in rec.value ? 'nfdump 1.6 json' : rec.text.includes('\n') ? 'nfdump 1.7 json' : 'nfdump 1.7 ndjson';
      const why = pushFlow(cols, rec.value, rec.line, options);
      if (why !== undefined) {
        rejects.add(rec.line, why, rec.text);
        continue;
      }
      if (cols.length >= batchRows) {
        rows += cols.length;
        yield table(cols);
        cols = new FlowColumns();
      }
    }
  }
  splitter.push(decoder.end());
  splitter.end();
  rejects.finish(splitter.count);
  if (rows + cols.length === 0 && !splitter.noMatch) {
    const why = rejects.count > 0 ? `all ${rejects.count} records were rejected` : 'no records';
    throw inputError(`${why}; expected nfdump JSON flow records`, { file, line: rejects.first[0]?.line });
  }
  rows += cols.length;
  if (cols.length > 0) yield table(cols);
  done?.({ rows, rejected: rejects.count, rejects: rejects.first, layout });
}

/** The file's bytes, gunzipped when gzip; usage errors for a path that is not a readable file. */
export async function* openBytes(file: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw unreadableFile(file, err);
  }
  try {
    if ((await fh.stat()).isDirectory()) throw new FlowknnError('usage', 'is a folder, expected a file', { file });
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    const gzip = bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
    const raw = fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false, signal });
    const source: AsyncIterable<Buffer> = gzip ? raw.pipe(createGunzip()) : raw;
    if (gzip) raw.on('error', (err) => (source as ReturnType<typeof createGunzip>).destroy(err));
    try {
      for await (const chunk of source) {
        if (chunk.includes(0)) throw inputError('binary data: expected nfdump JSON output', { file });
        yield chunk;
      }
    } catch (err) {
      if (err instanceof FlowknnError || (err as Error).name === 'AbortError') throw err;
      if (gzip) throw inputError(`gzip data is corrupt or truncated (${(err as Error).message})`, { file });
      throw new FlowknnError('input', `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file });
    } finally {
      raw.destroy();
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function whole(rec: Record<string, unknown>, name: string, optional: boolean): number | string {
  const v = rec[name];
  if (v === undefined && optional) return 0;
  if (typeof v !== 'number') return `${name}: expected a number, got ${v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 40)}`;
  return checkCount(name, v, String(v)) ?? v;
}

/** Adds one record; returns why it was rejected, or undefined. */
function pushFlow(cols: FlowColumns, rec: Record<string, unknown>, line: number, options: OpenOptions): string | undefined {
  const type = rec.type;
  if (type !== undefined && type !== 'FLOW') return `a record of type ${JSON.stringify(type).slice(0, 30)}, not FLOW`;
  const firstText = str(rec.first) ?? str(rec.t_first);
  const lastText = str(rec.last) ?? str(rec.t_last);
  if (firstText === undefined || lastText === undefined) return 'expected first and last seen ("first"/"last", or "t_first"/"t_last" of 1.6)';
  const first = parseDateTime(firstText, options.zone);
  const last = parseDateTime(lastText, options.zone);
  if (!first.ok) return `first seen: expected ${first.expected}`;
  if (!last.ok) return `last seen: expected ${last.expected}`;
  // The rules of every flow reader: last not before first, a span of at most ten years, a
  // record without times (first seen 0) without a span.
  const span = flowSpan(first.value, last.value, null);
  if ('expected' in span) return span.expected;
  const src = str(rec.src4_addr) ?? str(rec.src6_addr);
  const dst = str(rec.dst4_addr) ?? str(rec.dst6_addr);
  if (!src || !dst) return 'expected source and destination addresses (src4_addr/dst4_addr or src6_addr/dst6_addr)';
  if (!/^[0-9A-Fa-f.:]{1,45}$/u.test(src) || !/^[0-9A-Fa-f.:]{1,45}$/u.test(dst)) return 'addresses: expected IPv4 or IPv6 addresses';
  const values: number[] = [];
  for (const [name, optional] of [
    ['src_port', false],
    ['dst_port', false],
    ['proto', false],
    ['in_packets', false],
    ['in_bytes', false],
    ['out_packets', true],
    ['out_bytes', true],
    ['aggr_flows', true],
  ] as const) {
    const v = whole(rec, name, optional);
    if (typeof v === 'string') return v;
    values.push(v);
  }
  const [sp, dp, proto, inPackets, inBytes, outPackets, outBytes, flows] = values as [number, number, number, number, number, number, number, number];
  if (sp > 65535 || dp > 65535) return `ports: expected 0..65535, got ${sp} and ${dp}`;
  if (proto > 255) return `proto: expected 0..255, got ${proto}`;
  cols.first_seen.push(first.value);
  cols.last_seen.push(span.last);
  cols.duration_s.push(span.durationS);
  cols.src_addr.push(src);
  cols.dst_addr.push(dst);
  cols.src_port.push(sp);
  cols.dst_port.push(dp);
  cols.proto.push(protoName(String(proto)));
  const flags = str(rec.tcp_flags);
  cols.tcp_flags.push(flags !== undefined && /^[\x21-\x7e]{1,16}$/u.test(flags) ? flags : null);
  // nfdump counts `aggr_flows ? aggr_flows : 1` for a record.
  cols.flows.push(flows > 0 ? flows : 1);
  cols.in_packets.push(inPackets);
  cols.in_bytes.push(inBytes);
  cols.out_packets.push('out_packets' in rec ? outPackets : null);
  cols.out_bytes.push('out_bytes' in rec ? outBytes : null);
  cols.source_line.push(line);
  return undefined;
}

