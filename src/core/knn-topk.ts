// The bounded top-k per query of exact kNN (src/core/knn.ts), ordered by (s, index).
// k ≤ 16: a sorted list with insertion. Larger k: an unsorted buffer of 2k slots; a candidate is appended when it
// beats the current threshold, and a full buffer is compacted to its k best (an in-place selection by (s, index)),
// which also tightens the threshold. This keeps the hot path to one
// comparison and an append, instead of a branchy heap update per accepted candidate. The thresholds' values live
// in the kernel's memory (worstD, src/core/knn-kernel.ts), where the kernel reads them to drop pairs that cannot enter.

/** k at or below which the per-query top-k is a sorted insertion list; above it a compacted 2k buffer. */
export const INSERTION_MAX_K = 16;

export class TopK {
  readonly d: Float64Array;
  readonly idx: Int32Array;
  private readonly cnt: Int32Array;
  /** Slots per query: k (sorted list) or 2k (buffer). */
  private readonly cap: number;
  /** The current threshold (s, index) per query: a candidate must be smaller to enter. */
  private worstD: Float64Array;
  private readonly worstI: Int32Array;
  /** Queries in use (at most n; see reset). */
  private rows: number;

  constructor(readonly n: number, readonly k: number, worstD: Float64Array) {
    this.cap = k <= INSERTION_MAX_K ? k : 2 * k;
    this.d = new Float64Array(n * this.cap);
    this.idx = new Int32Array(n * this.cap);
    this.cnt = new Int32Array(n);
    this.worstD = worstD;
    worstD.fill(Infinity, 0, n);
    this.worstI = new Int32Array(n).fill(0x7fffffff);
    this.rows = n;
  }

  /** Start over with `rows` empty queries whose thresholds live in worstD (the kernel's, for the next block). */
  reset(rows: number, worstD: Float64Array): void {
    this.rows = rows;
    this.worstD = worstD;
    worstD.fill(Infinity, 0, rows);
    this.worstI.fill(0x7fffffff, 0, rows);
    this.cnt.fill(0, 0, rows);
  }

  /** Fast reject, then push. */
  offer(q: number, s: number, j: number): void {
    const w = this.worstD[q];
    if (s < w || (s === w && j < this.worstI[q])) this.push(q, s, j);
  }

  push(q: number, s: number, j: number): void {
    const k = this.k;
    const cap = this.cap;
    const base = q * cap;
    const d = this.d;
    const idx = this.idx;
    let c = this.cnt[q];
    if (k > INSERTION_MAX_K) {
      d[base + c] = s; idx[base + c] = j;
      this.cnt[q] = ++c;
      if (c === cap) this.compact(q);
      return;
    }
    // Sorted ascending; drop the last when full.
    let p = c < k ? c : k - 1;
    while (p > 0) {
      const pd = d[base + p - 1];
      if (pd < s || (pd === s && idx[base + p - 1] < j)) break;
      if (p < k) { d[base + p] = pd; idx[base + p] = idx[base + p - 1]; }
      p--;
    }
    d[base + p] = s; idx[base + p] = j;
    if (c < k) this.cnt[q] = ++c;
    if (c === k) { this.worstD[q] = d[base + k - 1]; this.worstI[q] = idx[base + k - 1]; }
  }

  /** Keep the k best of a buffer holding more than k entries (a selection by (s, index), in place); set the threshold to the k-th best. */
  private compact(q: number): void {
    const k = this.k;
    const base = q * this.cap;
    selectPairs(this.d, this.idx, base, base + this.cnt[q] - 1, base + k - 1);
    this.cnt[q] = k;
    this.worstD[q] = this.d[base + k - 1];
    this.worstI[q] = this.idx[base + k - 1];
  }

  /** Set the threshold of every query holding at least k entries (buffer mode), without waiting for a full buffer. */
  tighten(): void {
    if (this.k <= INSERTION_MAX_K) return;
    for (let q = 0; q < this.rows; q++) if (this.cnt[q] >= this.k) this.compact(q);
  }

  /** Leave each query's k best in its first k slots, sorted ascending by (s, index), packed n×k. */
  finish(): void {
    const k = this.k;
    if (k <= INSERTION_MAX_K) return;
    const cap = this.cap;
    const d = this.d;
    const idx = this.idx;
    for (let q = 0; q < this.rows; q++) {
      const base = q * cap;
      if (this.cnt[q] > k) this.compact(q);
      sortPairs(d, idx, base, base + k - 1);
      // Pack in place: row q moves to [q·k, q·k + k), which never overlaps a later row's slots.
      if (q > 0) { d.copyWithin(q * k, base, base + k); idx.copyWithin(q * k, base, base + k); }
    }
  }
}

/** Sort d[lo..hi] ascending by (d, idx), carrying idx: quicksort with insertion sort for short ranges. */
function sortPairs(d: Float64Array, idx: Int32Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const mid = (lo + hi) >> 1;
    // Median of three by (d, idx), moved to hi as the pivot.
    if (pairLess(d, idx, mid, lo)) swapPair(d, idx, mid, lo);
    if (pairLess(d, idx, hi, lo)) swapPair(d, idx, hi, lo);
    if (pairLess(d, idx, mid, hi)) swapPair(d, idx, mid, hi);
    const pd = d[hi];
    const pi = idx[hi];
    let i = lo;
    for (let j = lo; j < hi; j++) {
      const v = d[j];
      if (v < pd || (v === pd && idx[j] < pi)) { swapPair(d, idx, i, j); i++; }
    }
    swapPair(d, idx, i, hi);
    // Recurse on the smaller side.
    if (i - lo < hi - i) { sortPairs(d, idx, lo, i - 1); lo = i + 1; } else { sortPairs(d, idx, i + 1, hi); hi = i - 1; }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = d[i];
    const x = idx[i];
    let j = i - 1;
    while (j >= lo && (d[j] > v || (d[j] === v && idx[j] > x))) { d[j + 1] = d[j]; idx[j + 1] = idx[j]; j--; }
    d[j + 1] = v; idx[j + 1] = x;
  }
}

function pairLess(d: Float64Array, idx: Int32Array, a: number, b: number): boolean {
  return d[a] < d[b] || (d[a] === d[b] && idx[a] < idx[b]);
}

function swapPair(d: Float64Array, idx: Int32Array, a: number, b: number): void {
  const t = d[a]; d[a] = d[b]; d[b] = t;
  const u = idx[a]; idx[a] = idx[b]; idx[b] = u;
}

/**
 * Reorder d[lo..hi] (with idx) so that position m holds the element of rank m − lo by (s, index), everything
 * before it smaller and everything after it larger: Hoare quickselect, median-of-three pivot. The pairs are
 * distinct (a gallery index appears once per query), so the order is strict.
 */
function selectPairs(d: Float64Array, idx: Int32Array, lo: number, hi: number, m: number): void {
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    if (pairLess(d, idx, mid, lo)) swapPair(d, idx, mid, lo);
    if (pairLess(d, idx, hi, lo)) swapPair(d, idx, hi, lo);
    if (pairLess(d, idx, hi, mid)) swapPair(d, idx, hi, mid);
    const pd = d[mid];
    const pi = idx[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (d[i] < pd || (d[i] === pd && idx[i] < pi)) i++;
      while (d[j] > pd || (d[j] === pd && idx[j] > pi)) j--;
      if (i <= j) { swapPair(d, idx, i, j); i++; j--; }
    }
    if (m <= j) hi = j;
    else if (m >= i) lo = i;
    else return;
  }
}