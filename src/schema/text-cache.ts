/**
 * Strings of recent byte runs: flow records repeat the same few addresses and protocol names
 * line after line, so most are found here instead of being decoded again, and the strings
 * (their hashes already computed) are the ones the aggregator's maps have seen. Direct-mapped:
 * a miss replaces the slot. ASCII runs are cached; others are decoded as UTF-8 each time.
 */
export class TextCache {
  private static readonly SIZE = 1 << 14;
  private readonly strings: (string | undefined)[] = new Array<string | undefined>(TextCache.SIZE);
  private readonly decoder = new TextDecoder();

  get(b: Uint8Array, s: number, e: number): string {
    let h = 0x811c9dc5;
    let ascii = true;
    for (let i = s; i < e; i++) {
      const c = b[i]!;
      if (c > 0x7f) ascii = false;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (!ascii) return this.decoder.decode(b.subarray(s, e));
    const slot = (h ^ (h >>> 15)) & (TextCache.SIZE - 1);
    const hit = this.strings[slot];
    if (hit !== undefined && hit.length === e - s) {
      let i = 0;
      while (i < hit.length && hit.charCodeAt(i) === b[s + i]) i++;
      if (i === hit.length) return hit;
    }
    const text = String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]);
    this.strings[slot] = text;
    return text;
  }
}
