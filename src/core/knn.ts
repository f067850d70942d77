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
// Top-k per query: sorted insertion for k ≤ 16, above that a 2k buffer compacted by selection (see TopK,
// src/core/knn-topk.ts). The kernels (WebAssembly, written as text in knn-kernel.wat, and plain JS) are knn-kernel.ts.
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
import { ceilTo, makeKernel, type Kernel } from './knn-kernel';
import { INSERTION_MAX_K, TopK } from './knn-topk';

export { knnUsesWasm } from './knn-kernel';

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
