/**
 * The rows a report draws of a night too big to draw whole: an even sample (a row every
 * `total / (max - max/10)`), plus the most novel rows (up to a tenth of the budget, novelty
 * descending, earlier rows first on a tie) so that what stands out is drawn even when the sample
 * would miss it. Rows are offered in order, batch by batch, and only the kept ones are made:
 * the nightly job draws a night of any size without holding its rows.
 */
export class DrawnSample<T> {
  private readonly notable: number;
  private readonly stride: number;
  private next = 0;
  private readonly even = new Map<number, T>();
  /** Novel candidates, [novelty, index, row]; trimmed to `notable` when it doubles. */
  private novel: [number, number, T][] = [];
  /** The novelty a row must beat to enter `novel` once it is full (after a trim). */
  private floor = Number.NEGATIVE_INFINITY;
  private seen = 0;

  constructor(
    readonly total: number,
    readonly max: number,
    /** Whether rows come with novelty scores: without, the whole budget is the even sample. */
    scored = true,
  ) {
    const all = total <= max;
    this.notable = all || !scored ? 0 : Math.floor(max / 10);
    this.stride = all ? 1 : total / (max - this.notable);
  }

  /**
   * Rows [from, from + n) of the night: `novelty` their scores (non-finite: none), `make` the
   * row at an offset in the batch, called only for rows that may be drawn.
   */
  offer(from: number, n: number, novelty: ArrayLike<number> | undefined, make: (offset: number) => T): void {
    if (from !== this.seen) throw new Error(`DrawnSample: rows offered out of order (${from}, expected ${this.seen})`);
    this.seen += n;
    const made = new Map<number, T>();
    const row = (i: number) => {
      let r = made.get(i);
      if (r === undefined) made.set(i, (r = make(i - from)));
      return r;
    };
    // max - notable positions (j * stride for j below that: a float product may fall short of the end)
    const positions = this.max - this.notable;
    for (let at = Math.floor(this.next * this.stride); at < from + n && this.next < positions; at = Math.floor(++this.next * this.stride)) this.even.set(at, row(at));
    if (this.notable === 0 || novelty === undefined) return;
    for (let j = 0; j < n; j++) {
      const v = novelty[j]!;
      if (!Number.isFinite(v) || v <= this.floor) continue;
      this.novel.push([v, from + j, row(from + j)]);
      if (this.novel.length >= 2 * this.notable) this.trim();
    }
  }

  private trim(): void {
    this.novel.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    this.novel.length = Math.min(this.novel.length, this.notable);
    if (this.notable > 0 && this.novel.length === this.notable) this.floor = this.novel[this.notable - 1]![0];
  }

  /** The drawn rows, in the night's order. */
  rows(): T[] {
    this.trim();
    const kept = new Map(this.even);
    for (const [, i, r] of this.novel) kept.set(i, r);
    return [...kept.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  }
}
