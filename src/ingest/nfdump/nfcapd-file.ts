import { open } from 'node:fs/promises';

/**
 * The first bytes of an nfcapd file: enough to know it is one, which file layout it has, and,
 * for layout 2, which nfdump release wrote it (so that a reader too old for it can say so
 * instead of calling the file corrupt).
 *
 * nfdump's file headers (little endian as written on x86):
 * - layout 1 (nfdump 1.6, nffile.h `file_header_t`): magic 0xA50C (u16), version 1 (u16),
 *   flags (u32), NumBlocks (u32), ident (128 chars). No writer version.
 * - layout 2 (nfdump 1.7, nffileV2.h `fileHeaderV2_t`): magic, version 2, nfdversion (u32,
 *   0xMMmmpprr with the high nibble 0xF for builds from the git tree: 1.7.8 is 0xF1070800),
 *   created (time_t), compression (u8), encryption (u8), appendixBlocks (u16), creator (u32:
 *   1 nfcapd, 2 nfpcapd, 3 sfcapd, 4 nfdump, ...).
 */

export interface NfcapdHeader {
  readonly layout: 1 | 2;
  /** The nfdump release that wrote a layout 2 file (`1.7.8`); undefined for layout 1. */
  readonly writer?: string;
  /** The program that wrote it (layout 2), e.g. `nfcapd`. */
  readonly creator?: string;
}

const CREATORS = ['unknown', 'nfcapd', 'nfpcapd', 'sfcapd', 'nfdump', 'nfanon', 'nfprofile', 'geolookup', 'ft2nfdump', 'torlookup'];

/** Reads the header from the first bytes of a file; undefined when they are not an nfcapd file's. */
export function parseNfcapdHeader(head: Uint8Array): NfcapdHeader | undefined {
  if (head.length < 4) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint16(0, true) !== 0xa50c) return undefined;
  const layout = view.getUint16(2, true);
  if (layout === 1) return { layout: 1 };
  if (layout !== 2) return undefined;
  if (head.length < 24) return { layout: 2 };
  const v = view.getUint32(4, true);
  const writer = `${(v >>> 24) & 0x0f}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}`;
  // 1.7.1 leaves the creator 0 (unknown).
  const c = view.getUint32(20, true);
  return c === 0 ? { layout: 2, writer } : { layout: 2, writer, creator: CREATORS[c] ?? `creator ${c}` };
}

/** The header of a file on disk; undefined when it is not an nfcapd file (or cannot be read). */
export async function readNfcapdHeader(file: string): Promise<NfcapdHeader | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return undefined; // unreadable: the reader that opens it says why
  }
  try {
    const head = Buffer.alloc(24);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return parseNfcapdHeader(head.subarray(0, bytesRead));
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}
