// Exact k-nearest-neighbour search in blocks: it never builds an N×N matrix.
//
// Definitions
// - Vectors are row-major Float32Array (n×dim). Distances:
//     squared-euclidean  s(q,g) = ‖q‖² + ‖g‖² − 2·q·g          (clamped at 0)
//     euclidean          √s(q,g)
//     cosine             1 − cos(q,g) = ½·‖q̂ − ĝ‖² with q̂ = q/‖q‖   (computed as ½·s(q̂,ĝ), clamped to [0, 2];
//                        a zero vector is left as is, so its distance to any unit vector is ½)
// - Ranking is by the Float64 value of s, then by the smaller gallery index: (s, index) is a strict total order,
//   so the k nearest are unique and their order is deterministic whatever the block sizes. The returned
//   distances are Float32, so two neighbours can print equal and still be ordered by their Float64 value.
// - Dot products accumulate in Float64 (products of Float32 values are exact in Float64), two interleaved
//   partial sums (even and odd coordinates) added at the end. Norms use the same order, so identical vectors
//   are at distance exactly 0 and duplicates tie exactly.
//
// Work: queries × gallery are cut into B×B tiles (B = blockRows, shrunk so the tile's candidate buffer, B·B·12
// bytes, fits memoryBytes). A small WebAssembly SIMD kernel scans a tile (a 4×2 register tile of accumulators):
// it computes each pair's s and compares it with the current threshold of its query (and, when the queries are the
// gallery, of the gallery row too): the threshold is the k-th best s of that query so far, kept in the kernel's
// memory by the top-k. Only pairs with s ≤ threshold come back to JS as candidates, which the top-k then tests
// exactly by (s, index) (the kernel's test admits ties, and thresholds only tighten, so a stale one only lets more
// through). A plain-JS kernel of identical arithmetic is the fallback.
// Float32 pre-filter (exact results): the scan runs on Float32 copies with Float32 products and sums (twice the
// SIMD width), and tests a LOWER BOUND of s: (‖q‖² + ‖g‖²)·(1 − eps) − 2·dot32, where eps bounds the Float32
// error, |2·dot32 − 2·dot| ≤ eps·(‖q‖² + ‖g‖²) (Higham's γ for the products and sums each term goes through, plus
// the rounding of cosine's unit vectors to Float32; Σ|q_d·g_d| ≤ ‖q‖·‖g‖ ≤ (‖q‖² + ‖g‖²)/2). A pair that can
// enter passes the test, and every candidate's s is then recomputed exactly in Float64 (the arithmetic above)
// before the top-k sees it, so results are bit-identical to the Float64 kernel. It is used only where the bound
// holds: no |value| above 1e15 (no Float32 overflow) and no non-zero row with ‖x‖² < 2^-80 (no underflow).
// Top-k per query: sorted insertion for k ≤ 16, above that a 2k buffer compacted by selection (see TopK).
// When the queries are the gallery (same array), only tiles on and above the diagonal are computed and each s
// updates both rows; the tiles next to the diagonal go first, and for more than two blocks of rows the rows are
// first grouped by their nearest of ⌈n/B⌉ pivot rows, so near rows share tiles and thresholds tighten early (an
// order of work only: the top-k keeps the original indices).
// Memory: the vectors are copied once into the kernel's memory as Float64 and Float32 (n·dim·12 bytes, in the
// grouped order for leave-one-out), the candidate buffer, and the top-k state (n·k·12 bytes, n·2k·12 for k > 16)
// with the n×k result; never an n×n matrix.
// Leave-one-out in blocks (knnLeaveOneOut, and knn with queryOffset): when the top-k state and results of all n
// queries (n·(2k·12 + k·8) bytes: 3.2 GB at 100,000 × k = 999) would not fit memoryBytes, the queries are taken a
// block at a time (rows of the gallery, as many as the budget allows) and scanned against the whole gallery; each
// pair is then computed once per side (twice the kernel work of the symmetric tiles), the self pair is skipped by
// its global index, and a block's top-k state and results are reused by the next. The kernel's copy of the gallery
// is made once. Ranks and distances are those of the symmetric path ((s, index) is a total order).

import type { DistanceName } from './config-types';
import { section, sleb, str, uleb, vec } from './wasm-encode';

export interface KnnOptions {
  /** Queries and gallery are the same table (pass the same array): skip the pair i == j. */
  excludeSelf?: boolean;
  /** Tile side: rows of queries (and gallery columns) per block. Default 256 (at most 16384). */
  blockRows?: number;
  /**
   * Working-memory budget in bytes, beyond the input vectors. Caps the tile's candidate buffer (B·B·12); in
   * knnLeaveOneOut it also bounds the kernel's copy of the vectors plus the top-k state and results of a block of
   * queries (see knnLeaveOneOut). Default 512 MiB.
   */
  memoryBytes?: number;
  /**
   * The queries are rows [queryOffset, queryOffset + nq) of the gallery: pass the gallery array as `queries`. With
   * excludeSelf, query i skips gallery row queryOffset + i. Each call copies the whole gallery into the kernel
   * (for many blocks, knnLeaveOneOut copies it once).
   */
  queryOffset?: number;
  /** knnLeaveOneOut: queries per block. Default: all of them (the symmetric path) when they fit memoryBytes, else as many as fit. */
  queryBlock?: number;
  /** Dot-product kernel: 'auto' (WebAssembly SIMD when available), 'wasm' or 'js'. Same results either way. */
  kernel?: 'auto' | 'wasm' | 'js';
  /** Leave-one-out: group near rows before tiling (see knn), 'auto' (for more than two blocks of rows) or 'off'. Same results either way. */
  reorder?: 'auto' | 'off';
  /** The WebAssembly kernel's Float32 pre-filter (see the header): 'auto' (used where its error bound holds) or 'off'. Same results either way. */
  filter?: 'auto' | 'off';
}

export interface KnnResult {
  /** nq×k gallery indices, nearest first. */
  indices: Int32Array;
  /** nq×k distances in the requested metric. */
  distances: Float32Array;
  /** Neighbours per query: the requested k, clamped to the number of available gallery items. */
  k: number;
}

/** k at or below which the per-query top-k is a sorted insertion list; above it a compacted 2k buffer. */
const INSERTION_MAX_K = 16;
/** Candidate codes pack (row << 15 | column) of the tile, so B < 2^15. */
const MAX_BLOCK = 16384;
const FLAG_Q = 0x40000000;
/** Default working-memory budget (memoryBytes). */
export const KNN_DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024;
/** Rows per kernel call where only the queries' kernel memory is at stake (k = 1 against a small gallery): ~32 MiB of copies. */
const CHUNK_BYTES = 32 * 1024 * 1024;

/** The tile side B: blockRows, capped so the candidate buffer (B·B·12 bytes) fits memoryBytes. */
function tileSide(opts: KnnOptions): number {
  const memoryBytes = opts.memoryBytes ?? KNN_DEFAULT_MEMORY_BYTES;
  const B = Math.max(1, Math.floor(opts.blockRows ?? 256));
  return Math.max(1, Math.min(B, MAX_BLOCK, Math.floor(Math.sqrt(memoryBytes / 12))));
}

/** Rows per call that keep a kernel's copy of the queries (dim·12 bytes a row) near CHUNK_BYTES. */
export function knnChunkRows(dim: number): number {
  return Math.max(1024, Math.floor(CHUNK_BYTES / (ceilTo(dim, 8) * 12)));
}

/**
 * Exact kNN of `nq` queries among `ng` gallery vectors. With `excludeSelf` the queries must be the gallery
 * (leave-one-out). k is clamped to ng (ng − 1 with excludeSelf); the result's `k` says which was used.
 */
export function knn(
  queries: Float32Array, nq: number, gallery: Float32Array, ng: number, dim: number, k: number,
  distance: DistanceName, opts: KnnOptions = {},
): KnnResult {
  if (!(dim >= 1) || !Number.isInteger(dim)) throw new RangeError(`knn: bad dim ${dim}`);
  if (queries.length < nq * dim || gallery.length < ng * dim) throw new RangeError('knn: vectors shorter than n×dim');
  const excludeSelf = opts.excludeSelf === true;
  const offset = opts.queryOffset;
  if (offset !== undefined) {
    if (queries !== gallery || !Number.isInteger(offset) || offset < 0 || offset + nq > ng) {
      throw new RangeError('knn: queryOffset needs the queries to be rows [queryOffset, queryOffset + nq) of the gallery (pass the gallery array)');
    }
  }
  const same = queries === gallery && nq === ng && offset === undefined;
  if (excludeSelf && !same && offset === undefined) throw new Error('knn: excludeSelf needs the queries to be the gallery (same array, nq === ng)');
  // NaN passes no threshold test: such a row would never be ranked and its top-k would stay at its initial fill.
  // With queryOffset only the block's own rows are checked (the blocks of a leave-one-out cover the gallery).
  if (offset !== undefined) assertFiniteRows(gallery, offset, nq, dim, 'query');
  else {
    assertFiniteRows(queries, 0, nq, dim, 'query');
    if (!same) assertFiniteRows(gallery, 0, ng, dim, 'gallery');
  }
  const kk = Math.max(0, Math.min(Math.floor(k), excludeSelf ? ng - 1 : ng));
  const indices = new Int32Array(nq * kk);
  const distances = new Float32Array(nq * kk);
  if (kk === 0 || nq === 0) return { indices, distances, k: kk };
  const B = tileSide(opts);

  if (offset !== undefined) {
    new GalleryRun(gallery, ng, dim, kk, distance, B, opts, null, nq, excludeSelf).block(offset, nq, indices, distances);
    return { indices, distances, k: kk };
  }

  // Leave-one-out over a larger table: the kernel holds the rows grouped by their nearest of ⌈n/B⌉ evenly spaced
  // pivot rows, so that near rows tend to share a tile and the diagonal tiles (pass 0 below) give every row a tight
  // threshold early. The top-k keeps the original indices (orig[row]), so ranks and ties are unchanged.
  let orig: Int32Array | null = null;
  if (same && (opts.reorder ?? 'auto') === 'auto' && nq > 2 * B) {
    orig = pivotOrder(queries, nq, dim, Math.ceil(nq / B), distance, { blockRows: B, kernel: opts.kernel, filter: opts.filter });
  }
  const ids = orig ?? Int32Array.from({ length: nq }, (_, i) => i);

  const kernel = makeKernel(queries, nq, same ? null : gallery, ng, dim, distance === 'cosine', B, opts.kernel ?? 'auto', opts.filter ?? 'auto', kk, orig, true);
  const top = new TopK(nq, kk, kernel.thresholds);

  if (same && !excludeSelf) for (let i = 0; i < nq; i++) top.push(i, 0, ids[i]);

  const candS = kernel.candS;
  const candC = kernel.candC;
  // With the queries as the gallery, the tiles on and next to the diagonal go first (pass 0), then every query's
  // threshold is set from what it holds (tighten): where near rows sit close together (sorted by class, or grouped
  // by pivots below) every row starts the other tiles (pass 1) with a tight threshold.
  for (let pass = same ? 0 : 1; pass < 2; pass++) {
    for (let i0 = 0; i0 < nq; i0 += B) {
      const rows = Math.min(B, nq - i0);
      const jStart = !same ? 0 : pass === 0 ? i0 : i0 + 2 * B;
      const jEnd = same && pass === 0 ? i0 + 2 * B : ng;
      for (let j0 = jStart; j0 < jEnd; j0 += B) {
        const cols = Math.min(B, ng - j0);
        const count = kernel.scan(i0, rows, j0, cols, same && j0 === i0);
        for (let t = 0; t < count; t++) {
          const code = candC[t];
          const s = candS[t];
          const i = i0 + ((code >>> 15) & 0x7fff);
          const j = j0 + (code & 0x7fff);
          if ((code & FLAG_Q) !== 0) top.offer(i, s, same ? ids[j] : j);
          if (code < 0) top.offer(j, s, ids[i]);
        }
      }
    }
    if (pass === 0) top.tighten();
  }

  top.finish();
  const scale = distance === 'cosine' ? 0.5 : 1;
  for (let i = 0; i < nq; i++) {
    const o = ids[i] * kk;
    for (let t = 0, u = i * kk; t < kk; t++, u++) {
      const s = top.d[u];
      indices[o + t] = top.idx[u];
      distances[o + t] = distance === 'euclidean' ? Math.sqrt(s) : distance === 'cosine' ? Math.min(2, s * scale) : s;
    }
  }
  return { indices, distances, k: kk };
}

/**
 * Leave-one-out kNN of the n rows of `vectors` (each row's k nearest other rows, as knn with excludeSelf), handed
 * to `onBlock` a block of queries at a time, so that memory stays within opts.memoryBytes (default 512 MiB)
 * whatever n is. onBlock(rows, indices, distances, k): rows[t] is the table row of the block's t-th query, its
 * neighbours are indices[t·k .. t·k + k) (nearest first) and distances likewise. The arrays are reused by the next
 * block: read them in the callback. Every row is a query exactly once; blocks may come in any row order. Returns
 * k (clamped to n − 1); onBlock is not called when it is 0.
 * Memory: the kernel's copy of the vectors (n·dim·12 bytes) and, per query of a block, its top-k state and result
 * (2k·12 + k·8 bytes for k > 16). When all n fit the budget, one block (the symmetric path of knn); otherwise blocks
 * of as many queries as fit (at least one tile of rows, B), or opts.queryBlock. Same results either way.
 */
export function knnLeaveOneOut(
  vectors: Float32Array, n: number, dim: number, k: number, distance: DistanceName, opts: KnnOptions,
  onBlock: (rows: Int32Array, indices: Int32Array, distances: Float32Array, k: number) => void,
): number {
  if (!(dim >= 1) || !Number.isInteger(dim)) throw new RangeError(`knn: bad dim ${dim}`);
  if (vectors.length < n * dim) throw new RangeError('knn: vectors shorter than n×dim');
  const kk = Math.max(0, Math.min(Math.floor(k), n - 1));
  if (kk === 0) return kk;
  assertFiniteRows(vectors, 0, n, dim, 'query');
  const B = tileSide(opts);
  const budget = opts.memoryBytes ?? KNN_DEFAULT_MEMORY_BYTES;
  const perQuery = leaveOneOutBytesPerQuery(kk);
  // Kernel: Float64 + Float32 rows, norms, thresholds (both sides), the row order; and the candidate buffer.
  const fixed = (n + 8) * (ceilTo(dim, 8) * 12 + 40) + ceilTo(B, 4) * ceilTo(B, 2) * 12;
  const qb = opts.queryBlock;
  if (qb === undefined && fixed + n * perQuery <= budget) {
    const res = knn(vectors, n, vectors, n, dim, kk, distance, { ...opts, excludeSelf: true, queryOffset: undefined });
    onBlock(Int32Array.from({ length: n }, (_, i) => i), res.indices, res.distances, kk);
    return kk;
  }
  let nb: number;
  if (qb !== undefined) nb = Math.max(1, Math.floor(qb));
  else {
    nb = Math.floor((budget - fixed) / perQuery);
    nb = Math.max(B, nb - (nb % B)); // whole tiles of rows, at least one
  }
  nb = Math.min(nb, n);
  const order = (opts.reorder ?? 'auto') === 'auto' && n > 2 * B
    ? pivotOrder(vectors, n, dim, Math.ceil(n / B), distance, { blockRows: B, kernel: opts.kernel, filter: opts.filter })
    : null;
  const rows = order ?? Int32Array.from({ length: n }, (_, i) => i);
  const run = new GalleryRun(vectors, n, dim, kk, distance, B, opts, order, nb, true);
  const indices = new Int32Array(nb * kk);
  const distances = new Float32Array(nb * kk);
  for (let t0 = 0; t0 < n; t0 += nb) {
    const m = Math.min(nb, n - t0);
    run.block(t0, m, indices, distances);
    onBlock(rows.subarray(t0, t0 + m), indices.subarray(0, m * kk), distances.subarray(0, m * kk), kk);
  }
  return kk;
}

/** Throws a RangeError naming the first of rows [from, from + count) that holds NaN or ±Infinity. */
function assertFiniteRows(v: Float32Array, from: number, count: number, dim: number, what: string): void {
  for (let i = from * dim, end = (from + count) * dim; i < end; i++) {
    const x = v[i];
    if (x - x !== 0) throw new RangeError(`knn: ${what} row ${Math.floor(i / dim)} holds ${String(x)} (at value ${i % dim}); distances need finite vectors`);
  }
}

/** Bytes per query of the top-k state (entries, count, threshold index) and its k results. */
export function leaveOneOutBytesPerQuery(k: number): number {
  return (k <= INSERTION_MAX_K ? k : 2 * k) * 12 + 8 + k * 8;
}

/**
 * Queries that are rows of the gallery (the kernel holds the gallery once, in `order` when given: slot t holds
 * row order[t]), run a block of slots at a time against the whole gallery, without symmetric updates: the top-k
 * state covers one block (at most maxRows queries) and is reused.
 */
class GalleryRun {
  private readonly kernel: Kernel;
  private readonly top: TopK;

  constructor(
    vectors: Float32Array, private readonly n: number, dim: number, private readonly k: number,
    private readonly distance: DistanceName, private readonly B: number, opts: KnnOptions,
    private readonly order: Int32Array | null, maxRows: number, private readonly excludeSelf: boolean,
  ) {
    this.kernel = makeKernel(vectors, n, null, n, dim, distance === 'cosine', B, opts.kernel ?? 'auto', opts.filter ?? 'auto', k, order, false);
    this.top = new TopK(maxRows, k, this.kernel.thresholds.subarray(0, maxRows));
  }

  /** The queries in slots [t0, t0 + rows): their neighbours (table rows, nearest first) in rows × k of outIdx, outDist. */
  block(t0: number, rows: number, outIdx: Int32Array, outDist: Float32Array): void {
    const { kernel, top, B, n, k, order, excludeSelf } = this;
    top.reset(rows, kernel.thresholds.subarray(t0, t0 + rows));
    const candS = kernel.candS;
    const candC = kernel.candC;
    // Pass 0: the gallery slots around each tile of queries (near rows when grouped, see knn), at least k of them,
    // so that tighten() gives every query a threshold; pass 1: the rest.
    const W = Math.max(B, Math.ceil(k / B) * B);
    for (let pass = 0; pass < 2; pass++) {
      for (let i0 = t0; i0 < t0 + rows; i0 += B) {
        const r = Math.min(B, t0 + rows - i0);
        const w0 = Math.max(0, i0 - W);
        const w1 = Math.min(n, i0 + r + W);
        for (let part = 0; part < 2; part++) {
          if (pass === 0 && part === 1) break;
          const a = pass === 0 ? w0 : part === 0 ? 0 : w1;
          const b = pass === 0 ? w1 : part === 0 ? w0 : n;
          for (let j0 = a; j0 < b; j0 += B) {
            const count = kernel.scan(i0, r, j0, Math.min(B, b - j0), false);
            for (let t = 0; t < count; t++) {
              const code = candC[t];
              const i = i0 + ((code >>> 15) & 0x7fff);
              const j = j0 + (code & 0x7fff);
              if (excludeSelf && i === j) continue;
              top.offer(i - t0, candS[t], order ? order[j] : j);
            }
          }
        }
      }
      if (pass === 0) top.tighten();
    }
    top.finish();
    const distance = this.distance;
    for (let u = 0; u < rows * k; u++) {
      const s = top.d[u];
      outIdx[u] = top.idx[u];
      outDist[u] = distance === 'euclidean' ? Math.sqrt(s) : distance === 'cosine' ? Math.min(2, s * 0.5) : s;
    }
  }
}

/** Row order grouping rows by their nearest of p evenly spaced pivot rows (a stable counting sort by cell). */
function pivotOrder(v: Float32Array, n: number, dim: number, p: number, distance: DistanceName, opts: KnnOptions): Int32Array {
  const piv = new Float32Array(p * dim);
  for (let c = 0; c < p; c++) {
    const r = Math.floor((c * n) / p);
    piv.set(v.subarray(r * dim, r * dim + dim), c * dim);
  }
  // In chunks of rows, so that the kernel's copy of the queries stays small (each row's nearest pivot is its own).
  const cell = new Int32Array(n);
  const chunk = knnChunkRows(dim);
  for (let c0 = 0; c0 < n; c0 += chunk) {
    const m = Math.min(chunk, n - c0);
    cell.set(knn(v.subarray(c0 * dim, (c0 + m) * dim), m, piv, p, dim, 1, distance, opts).indices, c0);
  }
  const start = new Int32Array(p + 1);
  for (let i = 0; i < n; i++) start[cell[i] + 1]++;
  for (let c = 0; c < p; c++) start[c + 1] += start[c];
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[start[cell[i]]++] = i;
  return order;
}

// ---------------------------------------------------------------------------------------------------------
// Bounded top-k per query, ordered by (s, index).
// k ≤ 16: a sorted list with insertion. Larger k: an unsorted buffer of 2k slots; a candidate is appended when it
// beats the current threshold, and a full buffer is compacted to its k best (an in-place selection by (s, index)),
// which also tightens the threshold. This keeps the hot path to one
// comparison and an append, instead of a branchy heap update per accepted candidate. The thresholds' values live
// in the kernel's memory (worstD), where the kernel reads them to drop pairs that cannot enter.

class TopK {
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

// ---------------------------------------------------------------------------------------------------------
// Tiles. Both kernels compute dot(a, b) = Σ_even a·b + Σ_odd a·b in Float64 and s = (‖q‖² + ‖g‖²) − (dot + dot),
// clamped at 0, so their results are bit-identical.

interface Kernel {
  /** Threshold per query (nq values), read by `scan`; the top-k keeps them current. */
  thresholds: Float64Array;
  /** Candidate buffer filled by `scan`: s values and codes (flags | row << 15 | column). */
  candS: Float64Array;
  candC: Int32Array;
  /**
   * Queries [i0, i0+rows) × gallery [j0, j0+cols): writes the pairs whose s is ≤ the query's threshold (flag
   * bit 30) or, when the queries are the gallery, ≤ the gallery row's threshold (bit 31) to the candidate buffer
   * and returns their number. `diag`: the tile is on the diagonal (i0 == j0), only pairs with column > row count.
   */
  scan(i0: number, rows: number, j0: number, cols: number, diag: boolean): number;
}

const ceilTo = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * The kernel over `queries` (slot t holds row order[t] when an order is given) and a separate gallery, or with
 * gallery null the queries themselves: `symmetric` (the gallery rows' thresholds are the queries', both sides
 * update) or not (the gallery side's thresholds are −∞: only the query side collects).
 */
function makeKernel(
  queries: Float32Array, nq: number, gallery: Float32Array | null, ng: number, dim: number,
  normalize: boolean, B: number, choice: 'auto' | 'wasm' | 'js', filter: 'auto' | 'off', k: number,
  order: Int32Array | null, symmetric: boolean,
): Kernel {
  // With k = 1 and a separate gallery, the kernel also tightens each query's threshold as it goes (a local copy).
  const k1 = k === 1 && gallery ? 1 : 0;
  const wasm = choice === 'js' ? null : wasmModule();
  if (choice === 'wasm' && !wasm) throw new Error('knn: WebAssembly SIMD is not available');
  const dimP = ceilTo(dim, 8);
  const nqP = ceilTo(nq + 4, 4);
  const ngP = gallery ? ceilTo(ng + 4, 4) : 0;
  // Gallery-side thresholds: the gallery's own, −∞ for the queries as gallery (not symmetric), or none (symmetric).
  const ntg = gallery ? ngP : symmetric ? 0 : nqP;
  const cap = ceilTo(B, 4) * ceilTo(B, 2);
  // Layout (in Float64 elements): queries | gallery | norms Q | norms G | thresholds Q | thresholds G | cand s |
  // cand codes | Float32 queries | Float32 gallery (the last two for the WebAssembly Float32 pre-filter).
  const offQ = 0;
  const offG = offQ + nqP * dimP;
  const offNQ = offG + ngP * dimP;
  const offNG = offNQ + nqP;
  const offTQ = offNG + ngP;
  const offTG = offTQ + nqP;
  const offCS = offTG + ntg;
  const offCC = offCS + cap;
  const offQ32 = offCC + Math.ceil(cap / 2);
  const offG32 = offQ32 + (nqP * dimP) / 2;
  const offLQ = offG32 + (ngP * dimP) / 2; // norms lowered by the pre-filter's error bound
  const offLG = offLQ + nqP;
  const total = wasm ? offLG + ngP : offQ32;

  let mem: Float64Array;
  let buffer: ArrayBuffer;
  let instance: WasmKernelExports | null = null;
  if (wasm) {
    const memory = new (wasmApi() as WasmApi).Memory({ initial: Math.ceil((total * 8) / 65536) + 1 });
    instance = new (wasmApi() as WasmApi).Instance(wasm, { e: { m: memory } }).exports as unknown as WasmKernelExports;
    buffer = memory.buffer;
    mem = new Float64Array(buffer, 0, total);
  } else {
    mem = new Float64Array(total);
    buffer = mem.buffer as ArrayBuffer;
  }
  const q32 = wasm && filter === 'auto' ? new Float32Array(buffer, offQ32 * 8, nqP * dimP) : null;
  const g32 = wasm && filter === 'auto' && gallery ? new Float32Array(buffer, offG32 * 8, ngP * dimP) : null;
  let maxAbs = copyRows(queries, nq, dim, dimP, normalize, mem, offQ, q32, order);
  if (gallery) maxAbs = Math.max(maxAbs, copyRows(gallery, ng, dim, dimP, normalize, mem, offG, g32, null));
  const gOff = gallery ? offG : offQ;
  const nOffG = gallery ? offNG : offNQ;
  const tOffG = ntg > 0 ? offTG : offTQ;
  const rowBytes = dimP * 8;

  if (instance) {
    instance.norms(offQ * 8, rowBytes, nqP, offNQ * 8);
    if (gallery) instance.norms(offG * 8, rowBytes, ngP, offNG * 8);
  } else {
    for (let i = 0; i < nqP; i++) mem[offNQ + i] = dotJs(mem, offQ + i * dimP, mem, offQ + i * dimP, dimP);
    for (let j = 0; j < ngP; j++) mem[offNG + j] = dotJs(mem, offG + j * dimP, mem, offG + j * dimP, dimP);
  }
  // Padding rows: NaN norms make their s NaN, which passes no threshold test. A separate gallery (or the queries
  // as gallery, not symmetric) never collects: its thresholds are −∞.
  mem.fill(NaN, offNQ + nq, offNQ + nqP);
  if (gallery) mem.fill(NaN, offNG + ng, offNG + ngP);
  mem.fill(-Infinity, offTG, offTG + ntg);
  const thresholds = mem.subarray(offTQ, offTQ + nq);
  const candS = mem.subarray(offCS, offCS + cap);
  const candC = new Int32Array(buffer, offCC * 8, cap);

  if (instance) {
    const ex = instance;
    // The Float32 pre-filter (see the header): only where its error bound holds, i.e. no value so large that a
    // Float32 product could overflow and no row so small (but non-zero) that products could underflow.
    let f32 = q32 !== null && maxAbs <= 1e15;
    if (f32) {
      const norms = mem.subarray(offNQ, offNG + ngP);
      for (let t = 0; t < norms.length; t++) if (norms[t] > 0 && norms[t] < 2 ** -80) { f32 = false; break; }
    }
    if (f32) {
      // |2·dot32 − 2·dot| ≤ eps·(nq + ng): Float32 rounding of the inputs (cosine), of the products and of the
      // lanes·+3 sums each term goes through, with a margin for the Float64 steps.
      const lanes = dimP / 4;
      const eps = (lanes + 6) * 2 ** -24 * 1.01 + (lanes + 8) * 2 ** -50;
      for (let t = 0; t < nqP; t++) mem[offLQ + t] = mem[offNQ + t] * (1 - eps);
      for (let t = 0; t < ngP; t++) mem[offLG + t] = mem[offNG + t] * (1 - eps);
      const lOffG = gallery ? offLG : offLQ;
      const epsUp = 2.01 * eps;
      const gOff32 = gallery ? offG32 : offQ32;
      const rowBytes32 = dimP * 4;
      return {
        thresholds, candS, candC,
        scan(i0, rows, j0, cols, diag) {
          // Whole 4×2 groups off the diagonal need no per-pair checks.
          const fn = !diag && rows % 4 === 0 && cols % 2 === 0 ? ex.scan32f : ex.scan32;
          const count = fn(
            offQ32 * 8 + i0 * rowBytes32, gOff32 * 8 + j0 * rowBytes32, rowBytes32, ceilTo(rows, 4), ceilTo(cols, 2),
            (offLQ + i0) * 8, (lOffG + j0) * 8, (offTQ + i0) * 8, (tOffG + j0) * 8, offCS * 8, offCC * 8, diag ? 0 : 1, rows, cols, k1, epsUp,
          );
          ex.exact((offQ + i0 * dimP) * 8, (gOff + j0 * dimP) * 8, rowBytes, (offNQ + i0) * 8, (nOffG + j0) * 8, offCS * 8, offCC * 8, count);
          return count;
        },
      };
    }
    return {
      thresholds, candS, candC,
      scan(i0, rows, j0, cols, diag) {
        return ex.scan64(
          (offQ + i0 * dimP) * 8, (gOff + j0 * dimP) * 8, rowBytes, ceilTo(rows, 4), ceilTo(cols, 2),
          (offNQ + i0) * 8, (nOffG + j0) * 8, (offTQ + i0) * 8, (tOffG + j0) * 8, offCS * 8, offCC * 8, diag ? 0 : 1, rows, cols, k1,
        );
      },
    };
  }

  return {
    thresholds, candS, candC,
    scan(i0, rows, j0, cols, diag) {
      let count = 0;
      for (let r = 0; r < rows; r++) {
        const a = offQ + (i0 + r) * dimP;
        const nqr = mem[offNQ + i0 + r];
        const tq = mem[offTQ + i0 + r];
        for (let c = diag ? r + 1 : 0; c < cols; c++) {
          const dot = dotJs(mem, a, mem, gOff + (j0 + c) * dimP, dimP);
          let s = (nqr + mem[nOffG + j0 + c]) - (dot + dot);
          if (s < 0) s = 0;
          const f = (s <= tq ? 1 : 0) | (s <= mem[tOffG + j0 + c] ? 2 : 0);
          if (f !== 0) { candS[count] = s; candC[count] = (f << 30) | (r << 15) | c; count++; }
        }
      }
      return count;
    },
  };
}

/**
 * Copy n rows into dst (row stride dimP, zero padding; slot i gets row order[i] when an order is given), optionally
 * scaled to unit length, and into dst32 (the Float32 copy, same layout) when given. Returns the largest |value|
 * copied (NaN when a value is NaN).
 */
function copyRows(
  src: Float32Array, n: number, dim: number, dimP: number, normalize: boolean, dst: Float64Array, off: number,
  dst32: Float32Array | null, order: Int32Array | null,
): number {
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const s = (order ? order[i] : i) * dim;
    const o = off + i * dimP;
    let scale = 1;
    if (normalize) {
      let ss = 0;
      for (let d = 0; d < dim; d++) ss += src[s + d] * src[s + d];
      scale = ss > 0 ? 1 / Math.sqrt(ss) : 1;
    }
    for (let d = 0; d < dim; d++) {
      const x = src[s + d] * scale;
      dst[o + d] = x;
      const ax = Math.abs(x);
      if (!(ax <= maxAbs)) maxAbs = ax === ax ? ax : NaN;
    }
    if (dst32) for (let d = 0, o32 = i * dimP; d < dim; d++) dst32[o32 + d] = dst[o + d];
  }
  return maxAbs;
}

/** Float64 dot product with even/odd partial sums (the WebAssembly kernel's order). len is even. */
function dotJs(a: Float64Array, ao: number, b: Float64Array, bo: number, len: number): number {
  let e = 0;
  let o = 0;
  for (let d = 0; d < len; d += 2) {
    e += a[ao + d] * b[bo + d];
    o += a[ao + d + 1] * b[bo + d + 1];
  }
  return e + o;
}

// ---------------------------------------------------------------------------------------------------------
// The WebAssembly SIMD kernel, assembled from bytes here (no build step, no file to load). It imports its
// memory as e.m and exports:
//   scan64(a, b, rowBytes, rows, cols, nq, ng, tq, tg, outS, outC, notDiag, rowLimit, colLimit, k1) → count
//       rows % 4 == 0, cols % 2 == 0, rowBytes % 32 == 0; Float64 rows A_r at a + r·rowBytes, columns B_c at
//       b + c·rowBytes, their norms at nq + 8r and ng + 8c, thresholds at tq + 8r and tg + 8c. For each pair (r, c)
//       with r < rowLimit, c < colLimit, and notDiag or c > r: s = max((nq_r + ng_c) − (dot + dot), 0);
//       f = (s ≤ tq_r) | (s ≤ tg_c) << 1; when f ≠ 0 the pair is appended: outS[count] = s,
//       outC[count] = f << 30 | r << 15 | c. With k1, tq_r (a local copy) becomes min(tq_r, s) after each append.
//   scan32(…same…, k1, epsUp) → count
//       The same over Float32 copies of the rows (rowBytes of the Float32 rows), with Float32 products and sums
//       (each f32x4 lane sums a quarter of the coordinates, then the lanes are added), given norms lowered by the
//       error bound, nq·(1 − eps), and without the clamp: its s is a lower bound of the exact s (see the header).
//       With k1, tq_r follows the upper bound s + epsUp·(nqL_r + ngL_c). `exact` replaces the s it writes.
//   scan32f: scan32 without the per-pair checks (no diagonal; rowLimit and colLimit cover the padded tile).
//   exact(a, b, rowBytes, nq, ng, outS, outC, count)
//       For each appended pair, outS[t] = the exact s of scan64 (same arithmetic), from the Float64 rows.
//   norms(a, rowBytes, rows, out)                     out[r] = dot(A_r, A_r)
// Each Float64 dot keeps an f64x2 accumulator (lane 0 = even coordinates, lane 1 = odd) and returns lane0 + lane1.

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number }) => { buffer: ArrayBuffer };
  validate(bytes: Uint8Array): boolean;
}
interface WasmKernelExports {
  scan32(a: number, b: number, rowBytes: number, rows: number, cols: number, nq: number, ng: number, tq: number, tg: number,
    outS: number, outC: number, notDiag: number, rowLimit: number, colLimit: number, k1: number, eps: number): number;
  exact(a: number, b: number, rowBytes: number, nq: number, ng: number, outS: number, outC: number, count: number): void;
  scan32f: WasmKernelExports['scan32'];
  scan64(a: number, b: number, rowBytes: number, rows: number, cols: number, nq: number, ng: number, tq: number, tg: number,
    outS: number, outC: number, notDiag: number, rowLimit: number, colLimit: number, k1: number): number;
  norms(a: number, rowBytes: number, rows: number, out: number): void;
}

const wasmApi = (): WasmApi | undefined => (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let cachedModule: object | null | undefined;

function wasmModule(): object | null {
  if (cachedModule !== undefined) return cachedModule;
  cachedModule = null;
  const api = wasmApi();
  if (!api) return null;
  try {
    const bytes = assembleKernel();
    if (api.validate(bytes)) cachedModule = new api.Module(bytes);
  } catch {
    cachedModule = null;
  }
  return cachedModule;
}

/** True when the WebAssembly SIMD kernel is in use (for reports and tests). */
export function knnUsesWasm(): boolean {
  return wasmModule() !== null;
}

function assembleKernel(): Uint8Array {

  const I32 = 0x7f;
  const F64 = 0x7c;
  const V128 = 0x7b;
  // Instructions.
  const get = (l: number): number[] => [0x20, ...uleb(l)];
  const set = (l: number): number[] => [0x21, ...uleb(l)];
  const tee = (l: number): number[] => [0x22, ...uleb(l)];
  const i32c = (v: number): number[] => [0x41, ...sleb(v)];
  const add = [0x6a];
  const sub = [0x6b];
  const mul = [0x6c];
  const and = [0x71];
  const or = [0x72];
  const shl = [0x74];
  const ltS = [0x48];
  const gtS = [0x4a];
  const geU = [0x4f];
  const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
  const load = simd(0x00, 4, 0); // v128.load align=16 offset=0
  const loadAt = (offset: number): number[] => simd(0x00, 4, ...uleb(offset));
  const zero = simd(0x0c, ...new Array<number>(16).fill(0)); // v128.const 0
  const fadd = simd(0xf0); // f64x2.add
  const fmul = simd(0xf2); // f64x2.mul
  const f32add = simd(0xe4); // f32x4.add
  const f32mul = simd(0xe6); // f32x4.mul
  const lane32 = (l: number): number[] => simd(0x1f, l); // f32x4.extract_lane
  const shuffle = (...lanes: number[]): number[] => simd(0x0d, ...lanes); // i8x16.shuffle
  const promote = [0xbb]; // f64.promote_f32
  const f64mul = [0xa2];
  const i32load = [0x28, 2, 0];
  const shrU = [0x76];
  const lane = (l: number): number[] => simd(0x21, l); // f64x2.extract_lane
  const f64add = [0xa0];
  const f64sub = [0xa1];
  const f64max = [0xa5];
  const f64min = [0xa4];
  const f64le = [0x65];
  const f64zero = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];
  const f64load = (offset: number): number[] => [0x2b, 3, ...uleb(offset)];
  const f64store = [0x39, 3, 0];
  const i32store = [0x36, 2, 0];
  const loopWhileLess = (counter: number, limit: number, body: number[]): number[] => [
    0x02, 0x40, 0x03, 0x40, ...get(counter), ...get(limit), ...geU, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b,
  ];
  const hsum = (acc: number): number[] => [...get(acc), ...lane(0), ...get(acc), ...lane(1), ...f64add];

  // scan64 / scan32: params a0 b1 rowBytes2 rows3 cols4 nq5 ng6 tq7 tg8 outS9 outC10 notDiag11 rowLimit12 colLimit13,
  // scan32 also eps14 (f64).
  const buildScan = (f32: boolean, checks: boolean): number[] => {
    const [A, Bp, RB, ROWS, COLS, NQ, NG, TQ, TG, OS, OC, ND, RL, CL] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    const K1 = 14;
    const EPS = 15;
    // Locals: 12 i32, 13 f64, 11 v128, 7 i32.
    const L = f32 ? 16 : 15;
    const [AI, AEND, BJ, BEND, K, A1, A2, A3, B1, RR, CC, CNT] = Array.from({ length: 12 }, (_, t) => L + t);
    const NQR = [L + 12, L + 13, L + 14, L + 15];
    const TQR = [L + 16, L + 17, L + 18, L + 19];
    const NGC = [L + 20, L + 21];
    const TGC = [L + 22, L + 23];
    const S = L + 24;
    const ACC = Array.from({ length: 8 }, (_, t) => L + 25 + t); // acc[r*2 + c]
    const [X0, X1, Y] = [L + 33, L + 34, L + 35];
    const FL = L + 36; // flags
    const ROK = [L + 37, L + 38, L + 39, L + 40]; // row r of the block is inside the tile
    const COK = [L + 41, L + 42]; // column c of the pair is inside the tile
    const vmul = f32 ? f32mul : fmul;
    const vadd = f32 ? f32add : fadd;
    // The dot product as an f64: lane0 + lane1 (f64x2); for f32x4, (l0 + l2) + (l1 + l3) in Float32, promoted.
    const dot = (acc: number): number[] => f32
      ? [
        ...get(acc), ...get(acc), ...get(acc), ...shuffle(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7), ...f32add, ...tee(acc),
        ...get(acc), ...get(acc), ...shuffle(4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15), ...f32add, ...lane32(0), ...promote,
      ]
      : hsum(acc);
    const aRows = [AI, A1, A2, A3];
    const inner: number[] = [];
    for (let half = 0; half < 2; half++) {
      const off = half * 16;
      inner.push(...get(BJ), ...get(K), ...add, ...loadAt(off), ...set(X0));
      inner.push(...get(B1), ...get(K), ...add, ...loadAt(off), ...set(X1));
      for (let r = 0; r < 4; r++) {
        inner.push(...get(aRows[r]), ...get(K), ...add, ...loadAt(off), ...set(Y));
        for (let c = 0; c < 2; c++) {
          inner.push(...get(ACC[r * 2 + c]), ...get(Y), ...get(c === 0 ? X0 : X1), ...vmul, ...vadd, ...set(ACC[r * 2 + c]));
        }
      }
    }
    inner.push(...get(K), ...i32c(32), ...add, ...set(K));
    const colBody: number[] = [...get(BJ), ...get(RB), ...add, ...set(B1)];
    for (const acc of ACC) colBody.push(...zero, ...set(acc));
    colBody.push(...i32c(0), ...set(K), ...loopWhileLess(K, RB, inner));
    // Column norms and thresholds: ng + 8·CC (+8), tg + 8·CC (+8).
    for (let c = 0; c < 2; c++) {
      colBody.push(...get(NG), ...get(CC), ...i32c(3), ...shl, ...add, ...f64load(c * 8), ...set(NGC[c]));
      colBody.push(...get(TG), ...get(CC), ...i32c(3), ...shl, ...add, ...f64load(c * 8), ...set(TGC[c]));
      if (checks) colBody.push(...get(CC), ...i32c(c), ...add, ...get(CL), ...ltS, ...set(COK[c]));
    }
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 2; c++) {
        const acc = ACC[r * 2 + c];
        // scan64: s = max((nq_r + ng_c) − (dot + dot), 0). scan32 (whose norms come lowered by the error bound,
        // nq·(1 − eps)): s = (nqL_r + ngL_c) − (dot + dot), no clamp (a lower bound of the exact s).
        colBody.push(...get(NQR[r]), ...get(NGC[c]), ...f64add, ...dot(acc), ...tee(S), ...get(S), ...f64add, ...f64sub);
        if (!f32) colBody.push(...f64zero, ...f64max);
        colBody.push(
          ...set(S),
          // f = (s ≤ tq_r) | (s ≤ tg_c) << 1, and with checks: & −(((CC + c > RR + r) | notDiag) & (RR + r < rowLimit) & (CC + c < colLimit))
          ...get(S), ...get(TQR[r]), ...f64le,
          ...get(S), ...get(TGC[c]), ...f64le, ...i32c(1), ...shl, ...or,
          ...(checks ? [
            ...i32c(0), ...get(CC), ...i32c(c), ...add, ...get(RR), ...i32c(r), ...add, ...gtS, ...get(ND), ...or,
            ...get(ROK[r]), ...and, ...get(COK[c]), ...and, ...sub, ...and,
          ] : []),
          ...tee(FL),
          0x04, 0x40, // if
          ...get(OS), ...get(CNT), ...i32c(3), ...shl, ...add, ...get(S), ...f64store,
          ...get(OC), ...get(CNT), ...i32c(2), ...shl, ...add,
          ...get(FL), ...i32c(30), ...shl,
          ...get(RR), ...i32c(r), ...add, ...i32c(15), ...shl, ...or,
          ...get(CC), ...i32c(c), ...add, ...or,
          ...i32store,
          ...get(CNT), ...i32c(1), ...add, ...set(CNT),
          // k = 1: the query's threshold follows its best candidate at once (an upper bound of its exact s).
          ...get(K1), 0x04, 0x40,
          ...get(TQR[r]), ...get(S),
          ...(f32 ? [...get(EPS), ...get(NQR[r]), ...get(NGC[c]), ...f64add, ...f64mul, ...f64add] : []),
          ...f64min, ...set(TQR[r]),
          0x0b,
          0x0b, // end
        );
      }
    }
    colBody.push(
      ...get(BJ), ...get(RB), ...get(RB), ...add, ...add, ...set(BJ),
      ...get(CC), ...i32c(2), ...add, ...set(CC),
    );
    const rowBody: number[] = [
      ...get(AI), ...get(RB), ...add, ...set(A1),
      ...get(A1), ...get(RB), ...add, ...set(A2),
      ...get(A2), ...get(RB), ...add, ...set(A3),
    ];
    for (let r = 0; r < 4; r++) {
      rowBody.push(...get(NQ), ...get(RR), ...i32c(3), ...shl, ...add, ...f64load(r * 8), ...set(NQR[r]));
      rowBody.push(...get(TQ), ...get(RR), ...i32c(3), ...shl, ...add, ...f64load(r * 8), ...set(TQR[r]));
      if (checks) rowBody.push(...get(RR), ...i32c(r), ...add, ...get(RL), ...ltS, ...set(ROK[r]));
    }
    rowBody.push(
      ...get(Bp), ...set(BJ), ...i32c(0), ...set(CC),
      ...loopWhileLess(BJ, BEND, colBody),
      ...get(A3), ...get(RB), ...add, ...set(AI),
      ...get(RR), ...i32c(4), ...add, ...set(RR),
    );
    return [
      ...vec([[...uleb(12), I32], [...uleb(13), F64], [...uleb(11), V128], [...uleb(7), I32]]),
      ...get(A), ...get(ROWS), ...get(RB), ...mul, ...add, ...set(AEND),
      ...get(Bp), ...get(COLS), ...get(RB), ...mul, ...add, ...set(BEND),
      ...get(A), ...set(AI), ...i32c(0), ...set(RR), ...i32c(0), ...set(CNT),
      ...loopWhileLess(AI, AEND, rowBody),
      ...get(CNT),
      0x0b,
    ];
  };
  const scan64Body = buildScan(false, true);
  const scan32Body = buildScan(true, true);
  const scan32fBody = buildScan(true, false);

  // exact: params a0 b1 rowBytes2 nq3 ng4 outS5 outC6 count7; i32 locals t8 code9 pa10 pb11 k12; v128 acc13.
  // For each candidate t < count (code = outC[t]: row r = code >>> 15 & 0x7fff, column c = code & 0x7fff):
  // outS[t] = max((nq_r + ng_c) − (dot + dot), 0) with the f64x2 dot of scan64.
  const eInner: number[] = [
    ...get(13), ...get(10), ...get(12), ...add, ...load, ...get(11), ...get(12), ...add, ...load, ...fmul, ...fadd, ...set(13),
    ...get(12), ...i32c(16), ...add, ...set(12),
  ];
  const eBody: number[] = [
    ...get(6), ...get(8), ...i32c(2), ...shl, ...add, ...i32load, ...set(9),
    ...get(0), ...get(9), ...i32c(15), ...shrU, ...i32c(0x7fff), ...and, ...get(2), ...mul, ...add, ...set(10),
    ...get(1), ...get(9), ...i32c(0x7fff), ...and, ...get(2), ...mul, ...add, ...set(11),
    ...zero, ...set(13), ...i32c(0), ...set(12),
    ...loopWhileLess(12, 2, eInner),
    ...get(5), ...get(8), ...i32c(3), ...shl, ...add,
    ...get(3), ...get(9), ...i32c(15), ...shrU, ...i32c(0x7fff), ...and, ...i32c(3), ...shl, ...add, ...f64load(0),
    ...get(4), ...get(9), ...i32c(0x7fff), ...and, ...i32c(3), ...shl, ...add, ...f64load(0), ...f64add,
    ...hsum(13), ...tee(14), ...get(14), ...f64add, ...f64sub, ...f64zero, ...f64max,
    ...f64store,
    ...get(8), ...i32c(1), ...add, ...set(8),
  ];
  const exactBody: number[] = [
    ...vec([[...uleb(5), I32], [...uleb(1), V128], [...uleb(1), F64]]),
    ...i32c(0), ...set(8),
    ...loopWhileLess(8, 7, eBody),
    0x0b,
  ];

  // norms: params a0 rowBytes1 rows2 out3; i32 locals ai4 aEnd5 k6 o7; v128 acc8 y9.
  const nInner: number[] = [
    ...get(4), ...get(6), ...add, ...load, ...set(9),
    ...get(8), ...get(9), ...get(9), ...fmul, ...fadd, ...set(8),
    ...get(6), ...i32c(16), ...add, ...set(6),
  ];
  const nRow: number[] = [
    ...zero, ...set(8), ...i32c(0), ...set(6),
    ...loopWhileLess(6, 1, nInner),
    ...get(7), ...hsum(8), ...f64store,
    ...get(4), ...get(1), ...add, ...set(4),
    ...get(7), ...i32c(8), ...add, ...set(7),
  ];
  const normsBody: number[] = [
    ...vec([[...uleb(4), I32], [...uleb(2), V128]]),
    ...get(0), ...get(2), ...get(1), ...mul, ...add, ...set(5),
    ...get(0), ...set(4), ...get(3), ...set(7),
    ...loopWhileLess(4, 5, nRow),
    0x0b,
  ];

  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([
      [0x60, ...vec(new Array<number[]>(15).fill([I32])), 1, I32],
      [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0],
      [0x60, ...vec([...new Array<number[]>(15).fill([I32]), [F64]]), 1, I32],
      [0x60, ...vec(new Array<number[]>(8).fill([I32])), 0],
    ])),
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1], [2], [3], [2]])),
    ...section(7, vec([
      [...str('scan64'), 0x00, 0], [...str('norms'), 0x00, 1], [...str('scan32'), 0x00, 2], [...str('exact'), 0x00, 3], [...str('scan32f'), 0x00, 4],
    ])),
    ...section(10, vec([
      [...uleb(scan64Body.length), ...scan64Body],
      [...uleb(normsBody.length), ...normsBody],
      [...uleb(scan32Body.length), ...scan32Body],
      [...uleb(exactBody.length), ...exactBody],
      [...uleb(scan32fBody.length), ...scan32fBody],
    ])),
  ];
  return Uint8Array.from(bytes);
}
