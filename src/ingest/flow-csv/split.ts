/**
 * Where the fields of a flow CSV line start: the comma scan of the byte-level parser. It keeps
 * the starts of the fields up to the last one the header needs, and counts the rest.
 */
export class CommaSplitter {
  /** starts[i]: the first byte of field i; after the last field needed, the line's end + 1. */
  starts = new Int32Array(64);
  /** Fields whose starts are kept (the last needed index + 2). */
  private cap = 0;
  /** The Int32 words over a buffer's memory, for the comma scan. */
  private words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private wordsOf: ArrayBufferLike | undefined;

  /** Keeps the starts of fields 0..lastNeeded (and the end after it). */
  configure(lastNeeded: number): void {
    this.cap = lastNeeded + 2;
    if (this.starts.length < this.cap + 1) this.starts = new Int32Array(this.cap + 1);
  }

  /**
   * Finds the commas of [s, e): the start of each field up to the last one needed goes to
   * `starts` (and the end of the line after the last field), and the count of fields is
   * returned. Whole 4-byte words are tested for commas at once (SWAR: a byte of x = w ^ ',,,,'
   * is zero where the comma is), so most words cost a few integer operations.
   */
  split(buf: Buffer, s: number, e: number): number {
    const st = this.starts;
    const cap = this.cap;
    st[0] = s;
    let nf = 1;
    const off = buf.byteOffset;
    if (this.wordsOf !== buf.buffer) {
      this.wordsOf = buf.buffer;
      this.words = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
    }
    const W = this.words;
    let i = s;
    const headEnd = Math.min(e, s + ((4 - ((off + s) & 3)) & 3));
    for (; i < headEnd; i++) {
      if (buf[i] === 44) {
        if (nf < cap) st[nf] = i + 1;
        nf++;
      }
    }
    const jEnd = (off + e) >> 2;
    let j = (off + i) >> 2;
    // Positions, until the last field needed.
    for (; j < jEnd && nf < cap; j++) {
      const x = W[j]! ^ 0x2c2c2c2c;
      let t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      if (t === 0) continue;
      const base = j * 4 - off + 1;
      do {
        const low = t & -t;
        if (nf < cap) st[nf] = base + ((31 - Math.clz32(low)) >> 3);
        nf++;
        t ^= low;
      } while (t !== 0);
    }
    // Then only the count (the width check), two words a step, without branches: the high
    // bit of each comma byte, summed by a multiply.
    for (; j + 1 < jEnd; j += 2) {
      const x = W[j]! ^ 0x2c2c2c2c;
      const y = W[j + 1]! ^ 0x2c2c2c2c;
      const tx = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      const ty = ~(((y & 0x7f7f7f7f) + 0x7f7f7f7f) | y | 0x7f7f7f7f);
      nf += (Math.imul(tx >>> 7, 0x01010101) >>> 24) + (Math.imul(ty >>> 7, 0x01010101) >>> 24);
    }
    if (j < jEnd) {
      const x = W[j]! ^ 0x2c2c2c2c;
      const t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
      nf += Math.imul(t >>> 7, 0x01010101) >>> 24;
    }
    for (i = Math.max(i, jEnd * 4 - off); i < e; i++) {
      if (buf[i] === 44) {
        if (nf < cap) st[nf] = i + 1;
        nf++;
      }
    }
    if (nf < cap) st[nf] = e + 1;
    return nf;
  }
}
