/**
 * The known name nearest to a misspelt one, for "did you mean" in messages about commands,
 * options and config keys. Distance is the optimal string alignment distance (Levenshtein with
 * adjacent transpositions, Damerau 1964): `trian` is one edit from `train`, `lables` from `labels`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word` (case ignored), when it is near enough to be a slip: at most
 * two edits, and at most half the word's length (so `x` suggests nothing, `ad` suggests `add`).
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best !== undefined && bestDistance <= 2 && bestDistance * 2 <= word.length ? best : undefined;
}

/** ` (did you mean X?)` when a near name exists, else nothing. */
export function didYouMean(word: string, candidates: Iterable<string>, show: (name: string) => string = (n) => n): string {
  const near = nearest(word, candidates);
  return near === undefined ? '' : ` (did you mean ${show(near)}?)`;
}
