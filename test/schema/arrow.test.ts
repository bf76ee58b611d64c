import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { readArrowFile } from '../../src/schema/arrow.js';
import { failure } from '../helpers/failure.js';
import { makeTempDir } from '../helpers/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await makeTempDir('flowknn-arrow-')));
afterAll(() => cleanup?.());

function sample(): Uint8Array {
  const n = 50;
  return tableToIPC(
    tableFromArrays({
      pps: Float64Array.from({ length: n }, (_, i) => i * 1.5),
      key: Array.from({ length: n }, (_, i) => `10.0.0.${i}`),
      flows: Int32Array.from({ length: n }, (_, i) => i),
    }),
    'file',
  );
}

/**
 * Points the `buffers` vector length of the first record batch's metadata at 2^31 - 1, found
 * through the file's own flatbuffers (Arrow's File.fbs and Message.fbs): the corruption that
 * makes apache-arrow's reader loop (apache/arrow-js#315).
 */
function hangingCopy(file: Uint8Array): Uint8Array {
  const b = Uint8Array.from(file);
  const v = new DataView(b.buffer);
  const i32 = (at: number) => v.getInt32(at, true);
  // a flatbuffer table's field: the position of its value, or of the offset to it
  const field = (table: number, index: number) => {
    const vtable = table - i32(table);
    const at = v.getUint16(vtable + 4 + 2 * index, true);
    if (at === 0) throw new Error(`field ${index} absent`);
    return table + at;
  };
  const deref = (at: number) => at + v.getUint32(at, true);
  const footerLength = i32(b.length - 10);
  const footerStart = b.length - 10 - footerLength;
  const footer = deref(footerStart);
  const batches = deref(field(footer, 3)); // Footer.recordBatches: [Block]
  const block = batches + 4; // Block { offset: long, metaDataLength: int, bodyLength: long }
  const messageStart = Number(v.getBigInt64(block, true)) + 8; // past 0xFFFFFFFF and the length
  const message = deref(messageStart);
  const header = deref(field(message, 2)); // Message.header: the RecordBatch table
  const buffers = deref(field(header, 2)); // RecordBatch.buffers: [Buffer]
  v.setInt32(buffers, 0x7fffffff, true);
  return b;
}

describe('reading Arrow files', () => {
  it('a file whose metadata makes the apache-arrow reader loop is refused, naming it, in bounded time', async () => {
    const path = join(dir, 'loops.arrow');
    await writeFile(path, hangingCopy(sample()));
    const t0 = performance.now();
    const err = await failure(readArrowFile(path, { timeoutMs: 3000 }));
    expect(err.exitCode).toBe(1);
    expect(err.file).toBe(path);
    expect(err.message).toMatch(/did not finish within 3 s|asks for more memory/u);
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 60_000);

  it('a whole file is read; a cut or changed one is refused with its name and what is wrong', async () => {
    const bytes = sample();
    const path = join(dir, 'whole.arrow');
    await writeFile(path, bytes);
    const table = await readArrowFile(path);
    expect(table.numRows).toBe(50);
    expect(table.getChild('key')!.get(7)).toBe('10.0.0.7');
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect((await readArrowFile(path, { sha256: sha })).numRows).toBe(50);

    const cut = join(dir, 'cut.arrow');
    await writeFile(cut, bytes.subarray(0, bytes.length - 100));
    const e1 = await failure(readArrowFile(cut));
    expect(e1.format()).toContain(`${cut}: not a whole Arrow IPC file: no ARROW1 magic at the end`);

    const changed = Uint8Array.from(bytes);
    changed[bytes.length - 200] = changed[bytes.length - 200]! ^ 0xff;
    const other = join(dir, 'changed.arrow');
    await writeFile(other, changed);
    const e2 = await failure(readArrowFile(other, { sha256: sha }));
    expect(e2.format()).toContain(`${other}: does not match the sha256 recorded for it`);
  });

  it('seeded single-byte and int32 corruptions: each read ends, with the table or an error naming the file', async () => {
    const seed = Number(process.env.FLOWKNN_ARROW_SEED ?? 315);
    console.log(`arrow corruption: seed ${seed} (set FLOWKNN_ARROW_SEED to change)`);
    let s = seed;
    const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const bytes = sample();
    const outcomes = { read: 0, refused: 0 };
    for (let trial = 0; trial < 30; trial++) {
      const b = Uint8Array.from(bytes);
      const at = Math.floor(rnd() * (b.length - 4));
      if (rnd() < 0.5) b[at] = Math.floor(rnd() * 256);
      else new DataView(b.buffer).setInt32(at, Math.floor(rnd() * 2 ** 31), true);
      const path = join(dir, `fuzz-${trial}.arrow`);
      await writeFile(path, b);
      try {
        const t = await readArrowFile(path, { timeoutMs: 3000 });
        // what the callers do with a table: read every value
        for (const f of t.schema.fields) for (let i = 0; i < t.numRows; i++) t.getChild(f.name)!.get(i);
        outcomes.read++;
      } catch (err) {
        expect(err, `trial ${trial} (byte ${at})`).toBeInstanceOf(FlowknnError);
        expect((err as FlowknnError).file).toBe(path);
        outcomes.refused++;
      }
    }
    expect(outcomes.read + outcomes.refused).toBe(30);
  }, 180_000);
});
