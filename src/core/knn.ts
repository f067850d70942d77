// Exact k-nearest-neighbour search in blocks (DESIGN.md: "kNN works in blocks … never builds an N×N matrix").
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
// Work: queries × gallery are cut into B×B tiles (B = blockRows, shrunk so the Float64 tile fits memoryBytes).
// A tile's dot products are computed by a small WebAssembly SIMD kernel (a 4×2 register tile of f64x2
// accumulators), with a plain-JS kernel of identical arithmetic as the fallback, and then fed to a bounded
// top-k per query: sorted insertion for k ≤ 16, above that a 2k buffer compacted by a native sort (see TopK). When the queries
// are the gallery (same array), only tiles on and above the diagonal are computed and each distance updates
// both rows. Memory: the vectors are copied once into the kernel's memory as Float64 (n·dim·8 bytes) plus one
// tile and the top-k state (n·k·12 bytes, n·2k·12 for k > 16); never an n×n matrix.

import type { DistanceName } from './config-types';

export interface KnnOptions {
  /** Queries and gallery are the same table (pass the same array): skip the pair i == j. */
  excludeSelf?: boolean;
  /** Tile side: rows of queries (and gallery columns) per block. Default 256. */
  blockRows?: number;
  /** Upper bound for the Float64 distance tile in bytes (B·B·8). Default 4 MiB. */
  memoryBytes?: number;
  /** Dot-product kernel: 'auto' (WebAssembly SIMD when available), 'wasm' or 'js'. Same results either way. */
  kernel?: 'auto' | 'wasm' | 'js';
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
  const same = queries === gallery && nq === ng;
  if (excludeSelf && !same) throw new Error('knn: excludeSelf needs the queries to be the gallery (same array, nq === ng)');
  const kk = Math.max(0, Math.min(Math.floor(k), excludeSelf ? ng - 1 : ng));
  const indices = new Int32Array(nq * kk);
  const distances = new Float32Array(nq * kk);
  if (kk === 0 || nq === 0) return { indices, distances, k: kk };

  const memoryBytes = opts.memoryBytes ?? 4 * 1024 * 1024;
  let B = Math.max(1, Math.floor(opts.blockRows ?? 256));
  B = Math.max(1, Math.min(B, Math.floor(Math.sqrt(memoryBytes / 8))));

  const kernel = makeKernel(queries, nq, same ? null : gallery, ng, dim, distance === 'cosine', B, opts.kernel ?? 'auto');
  const top = new TopK(nq, kk);
  const sq = kernel.sqNormsQ;
  const sg = kernel.sqNormsG;

  if (same && !excludeSelf) for (let i = 0; i < nq; i++) top.push(i, 0, i);

  for (let i0 = 0; i0 < nq; i0 += B) {
    const rows = Math.min(B, nq - i0);
    for (let j0 = same ? i0 : 0; j0 < ng; j0 += B) {
      const cols = Math.min(B, ng - j0);
      const tile = kernel.tile(i0, rows, j0, cols);
      const ld = kernel.ld;
      for (let r = 0; r < rows; r++) {
        const i = i0 + r;
        const si = sq[i];
        const base = r * ld;
        const cStart = same && j0 === i0 ? r + 1 : 0;
        for (let c = cStart; c < cols; c++) {
          const j = j0 + c;
          let s = si + sg[j] - 2 * tile[base + c];
          if (s < 0) s = 0;
          top.offer(i, s, j);
          if (same) top.offer(j, s, i);
        }
      }
    }
  }

  top.finish();
  const scale = distance === 'cosine' ? 0.5 : 1;
  for (let t = 0; t < nq * kk; t++) {
    const s = top.d[t];
    indices[t] = top.idx[t];
    distances[t] = distance === 'euclidean' ? Math.sqrt(s) : distance === 'cosine' ? Math.min(2, s * scale) : s;
  }
  return { indices, distances, k: kk };
}

// ---------------------------------------------------------------------------------------------------------
// Bounded top-k per query, ordered by (s, index).
// k ≤ 16: a sorted list with insertion. Larger k: an unsorted buffer of 2k slots; a candidate is appended when it
// beats the current threshold, and a full buffer is compacted to its k best (a native sort of the distances finds
// the k-th value; equal values keep the smaller indices), which also tightens the threshold. This keeps the hot
// path to one comparison and an append, instead of a branchy heap update per accepted candidate.

class TopK {
  readonly d: Float64Array;
  readonly idx: Int32Array;
  private readonly cnt: Int32Array;
  /** Slots per query: k (sorted list) or 2k (buffer). */
  private readonly cap: number;
  /** The current threshold (s, index) per query: a candidate must be smaller to enter. */
  private readonly worstD: Float64Array;
  private readonly worstI: Int32Array;
  private readonly scratch: Float64Array;

  constructor(readonly n: number, readonly k: number) {
    this.cap = k <= INSERTION_MAX_K ? k : 2 * k;
    this.d = new Float64Array(n * this.cap);
    this.idx = new Int32Array(n * this.cap);
    this.cnt = new Int32Array(n);
    this.worstD = new Float64Array(n).fill(Infinity);
    this.worstI = new Int32Array(n).fill(0x7fffffff);
    this.scratch = new Float64Array(this.cap);
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

  /** Keep the k best of a buffer holding more than k entries; set the threshold to the k-th best. */
  private compact(q: number): void {
    const k = this.k;
    const base = q * this.cap;
    const c = this.cnt[q];
    const d = this.d;
    const idx = this.idx;
    const sc = this.scratch.subarray(0, c);
    sc.set(d.subarray(base, base + c));
    const tau = selectKth(sc, k - 1);
    let below = 0;
    for (let t = 0; t < c; t++) if (sc[t] < tau) below++;
    // Entries equal to tau: keep the (k − below) smallest indices.
    const ties: number[] = [];
    for (let t = 0; t < c; t++) if (d[base + t] === tau) ties.push(idx[base + t]);
    ties.sort((a, b) => a - b);
    const lastTie = ties[k - below - 1];
    let w = 0;
    for (let t = 0; t < c; t++) {
      const v = d[base + t];
      const j = idx[base + t];
      if (v < tau || (v === tau && j <= lastTie)) { d[base + w] = v; idx[base + w] = j; w++; }
    }
    this.cnt[q] = w; // = k
    this.worstD[q] = tau;
    this.worstI[q] = lastTie;
  }

  /** Leave each query's k best in its first k slots, sorted ascending by (s, index), packed n×k. */
  finish(): void {
    const k = this.k;
    if (k <= INSERTION_MAX_K) return;
    const cap = this.cap;
    const d = this.d;
    const idx = this.idx;
    const order: number[] = [];
    const tmpD = new Float64Array(k);
    const tmpI = new Int32Array(k);
    for (let q = 0; q < this.n; q++) {
      const base = q * cap;
      if (this.cnt[q] > k) this.compact(q);
      order.length = 0;
      for (let t = 0; t < k; t++) order.push(t);
      order.sort((a, b) => d[base + a] - d[base + b] || idx[base + a] - idx[base + b]);
      for (let t = 0; t < k; t++) { tmpD[t] = d[base + order[t]]; tmpI[t] = idx[base + order[t]]; }
      d.set(tmpD, q * k);
      idx.set(tmpI, q * k);
    }
  }
}

/** The (m+1)-th smallest value of a (reordered in place): Hoare quickselect, median-of-three pivot. */
function selectKth(a: Float64Array, m: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    let x = a[lo];
    let y = a[mid];
    const z = a[hi];
    if (x > y) { const t = x; x = y; y = t; }
    if (y > z) { y = z; if (x > y) y = x; }
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (m <= j) hi = j;
    else if (m >= i) lo = i;
    else return a[m];
  }
  return a[m];
}

// ---------------------------------------------------------------------------------------------------------
// Dot-product tiles. Both kernels compute dot(a, b) = Σ_even a·b + Σ_odd a·b in Float64, so their results
// are bit-identical.

interface Kernel {
  sqNormsQ: Float64Array;
  sqNormsG: Float64Array;
  /** Row stride (in elements) of the tile returned by `tile`. */
  ld: number;
  /** Dot products of queries [i0, i0+rows) × gallery [j0, j0+cols); row r, column c at [r·ld + c]. */
  tile(i0: number, rows: number, j0: number, cols: number): Float64Array;
}

const ceilTo = (x: number, m: number): number => Math.ceil(x / m) * m;

function makeKernel(
  queries: Float32Array, nq: number, gallery: Float32Array | null, ng: number, dim: number,
  normalize: boolean, B: number, choice: 'auto' | 'wasm' | 'js',
): Kernel {
  const wasm = choice === 'js' ? null : wasmModule();
  if (choice === 'wasm' && !wasm) throw new Error('knn: WebAssembly SIMD is not available');
  const dimP = ceilTo(dim, 2);
  const nqP = ceilTo(nq + 4, 4);
  const ngP = gallery ? ceilTo(ng + 4, 4) : 0;
  const ld = ceilTo(B, 2);
  const tileLen = ceilTo(B, 4) * ld;
  // Layout (in Float64 elements): queries | gallery | tile | norms Q | norms G.
  const offQ = 0;
  const offG = offQ + nqP * dimP;
  const offT = offG + ngP * dimP;
  const offNQ = offT + tileLen;
  const offNG = offNQ + nqP;
  const total = offNG + (gallery ? ngP : 0);

  let mem: Float64Array;
  let instance: WasmKernelExports | null = null;
  if (wasm) {
    const memory = new (wasmApi() as WasmApi).Memory({ initial: Math.ceil((total * 8) / 65536) + 1 });
    instance = new (wasmApi() as WasmApi).Instance(wasm, { e: { m: memory } }).exports as unknown as WasmKernelExports;
    mem = new Float64Array(memory.buffer, 0, total);
  } else {
    mem = new Float64Array(total);
  }
  copyRows(queries, nq, dim, dimP, normalize, mem, offQ);
  if (gallery) copyRows(gallery, ng, dim, dimP, normalize, mem, offG);
  const gOff = gallery ? offG : offQ;
  const nOffG = gallery ? offNG : offNQ;
  const rowBytes = dimP * 8;

  if (instance) {
    const ex = instance;
    ex.norms(offQ * 8, rowBytes, nqP, offNQ * 8);
    if (gallery) ex.norms(offG * 8, rowBytes, ngP, offNG * 8);
    const tile = mem.subarray(offT, offT + tileLen);
    return {
      sqNormsQ: mem.subarray(offNQ, offNQ + nqP),
      sqNormsG: mem.subarray(nOffG, nOffG + (gallery ? ngP : nqP)),
      ld,
      tile(i0, rows, j0, cols) {
        ex.dots((offQ + i0 * dimP) * 8, (gOff + j0 * dimP) * 8, rowBytes, ceilTo(rows, 4), ceilTo(cols, 2), offT * 8, ld * 8);
        return tile;
      },
    };
  }

  const sqQ = new Float64Array(nqP);
  for (let i = 0; i < nq; i++) sqQ[i] = dotJs(mem, offQ + i * dimP, mem, offQ + i * dimP, dimP);
  let sqG = sqQ;
  if (gallery) {
    sqG = new Float64Array(ngP);
    for (let j = 0; j < ng; j++) sqG[j] = dotJs(mem, offG + j * dimP, mem, offG + j * dimP, dimP);
  }
  const tile = mem.subarray(offT, offT + tileLen);
  return {
    sqNormsQ: sqQ,
    sqNormsG: sqG,
    ld,
    tile(i0, rows, j0, cols) {
      for (let r = 0; r < rows; r++) {
        const a = offQ + (i0 + r) * dimP;
        for (let c = 0; c < cols; c++) tile[r * ld + c] = dotJs(mem, a, mem, gOff + (j0 + c) * dimP, dimP);
      }
      return tile;
    },
  };
}

/** Copy n rows into dst (row stride dimP, zero padding), optionally scaled to unit length. */
function copyRows(src: Float32Array, n: number, dim: number, dimP: number, normalize: boolean, dst: Float64Array, off: number): void {
  for (let i = 0; i < n; i++) {
    const s = i * dim;
    const o = off + i * dimP;
    let scale = 1;
    if (normalize) {
      let ss = 0;
      for (let d = 0; d < dim; d++) ss += src[s + d] * src[s + d];
      scale = ss > 0 ? 1 / Math.sqrt(ss) : 1;
    }
    for (let d = 0; d < dim; d++) dst[o + d] = src[s + d] * scale;
  }
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
//   dots(a, b, rowBytes, rows, cols, out, ldBytes)  rows % 4 == 0, cols % 2 == 0, rowBytes % 16 == 0
//       out[r·ld + c] = dot(A_r, B_c) for the rows at byte offsets a + r·rowBytes and b + c·rowBytes
//   norms(a, rowBytes, rows, out)                     out[r] = dot(A_r, A_r)
// Each dot keeps an f64x2 accumulator (lane 0 = even coordinates, lane 1 = odd) and returns lane0 + lane1.

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number }) => { buffer: ArrayBuffer };
  validate(bytes: Uint8Array): boolean;
}
interface WasmKernelExports {
  dots(a: number, b: number, rowBytes: number, rows: number, cols: number, out: number, ldBytes: number): void;
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
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do { let b = n & 0x7f; n >>>= 7; if (n !== 0) b |= 0x80; out.push(b); } while (n !== 0);
    return out;
  };
  const sleb = (n: number): number[] => {
    const out: number[] = [];
    for (;;) {
      const b = n & 0x7f; n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
      out.push(b | 0x80);
    }
  };
  const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

  const I32 = 0x7f;
  const V128 = 0x7b;
  // Instructions.
  const get = (l: number): number[] => [0x20, ...uleb(l)];
  const set = (l: number): number[] => [0x21, ...uleb(l)];
  const i32c = (v: number): number[] => [0x41, ...sleb(v)];
  const add = [0x6a];
  const mul = [0x6c];
  const geU = [0x4f];
  const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
  const load = simd(0x00, 4, 0); // v128.load align=16 offset=0
  const zero = simd(0x0c, ...new Array<number>(16).fill(0)); // v128.const 0
  const fadd = simd(0xf0); // f64x2.add
  const fmul = simd(0xf2); // f64x2.mul
  const lane = (l: number): number[] => simd(0x21, l); // f64x2.extract_lane
  const f64add = [0xa0];
  const f64store = [0x39, 3, 0];
  const loopWhileLess = (counter: number, limit: number, body: number[]): number[] => [
    0x02, 0x40, 0x03, 0x40, ...get(counter), ...get(limit), ...geU, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b,
  ];
  const hsum = (acc: number): number[] => [...get(acc), ...lane(0), ...get(acc), ...lane(1), ...f64add];

  // dots: params a0 b1 rowBytes2 rows3 cols4 out5 ld6; i32 locals 7..19; v128 locals 20..30.
  const [A, Bp, RB, ROWS, COLS, OUT, LD] = [0, 1, 2, 3, 4, 5, 6];
  const [AI, AEND, BJ, BEND, K, A1, A2, A3, B1, O, OC, LD2, LD3] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const ACC = [20, 21, 22, 23, 24, 25, 26, 27]; // acc[r*2 + c]
  const [X0, X1, Y] = [28, 29, 30];
  const aRows = [AI, A1, A2, A3];
  const inner: number[] = [
    ...get(BJ), ...get(K), ...add, ...load, ...set(X0),
    ...get(B1), ...get(K), ...add, ...load, ...set(X1),
  ];
  for (let r = 0; r < 4; r++) {
    inner.push(...get(aRows[r]), ...get(K), ...add, ...load, ...set(Y));
    for (let c = 0; c < 2; c++) {
      inner.push(...get(ACC[r * 2 + c]), ...get(Y), ...get(c === 0 ? X0 : X1), ...fmul, ...fadd, ...set(ACC[r * 2 + c]));
    }
  }
  inner.push(...get(K), ...i32c(16), ...add, ...set(K));
  const colBody: number[] = [...get(BJ), ...get(RB), ...add, ...set(B1)];
  for (const acc of ACC) colBody.push(...zero, ...set(acc));
  colBody.push(...i32c(0), ...set(K), ...loopWhileLess(K, RB, inner));
  const rowOff = [null, LD, LD2, LD3];
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 2; c++) {
      colBody.push(...get(OC));
      if (rowOff[r] !== null) colBody.push(...get(rowOff[r] as number), ...add);
      if (c === 1) colBody.push(...i32c(8), ...add);
      colBody.push(...hsum(ACC[r * 2 + c]), ...f64store);
    }
  }
  colBody.push(
    ...get(BJ), ...get(RB), ...get(RB), ...add, ...add, ...set(BJ),
    ...get(OC), ...i32c(16), ...add, ...set(OC),
  );
  const rowBody: number[] = [
    ...get(AI), ...get(RB), ...add, ...set(A1),
    ...get(A1), ...get(RB), ...add, ...set(A2),
    ...get(A2), ...get(RB), ...add, ...set(A3),
    ...get(Bp), ...set(BJ), ...get(O), ...set(OC),
    ...loopWhileLess(BJ, BEND, colBody),
    ...get(A3), ...get(RB), ...add, ...set(AI),
    ...get(O), ...get(LD3), ...get(LD), ...add, ...add, ...set(O),
  ];
  const dotsBody: number[] = [
    ...vec([[...uleb(13), I32], [...uleb(11), V128]]),
    ...get(A), ...get(ROWS), ...get(RB), ...mul, ...add, ...set(AEND),
    ...get(Bp), ...get(COLS), ...get(RB), ...mul, ...add, ...set(BEND),
    ...get(LD), ...get(LD), ...add, ...set(LD2),
    ...get(LD2), ...get(LD), ...add, ...set(LD3),
    ...get(A), ...set(AI), ...get(OUT), ...set(O),
    ...loopWhileLess(AI, AEND, rowBody),
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
      [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), 0],
      [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0],
    ])),
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...str('dots'), 0x00, 0], [...str('norms'), 0x00, 1]])),
    ...section(10, vec([
      [...uleb(dotsBody.length), ...dotsBody],
      [...uleb(normsBody.length), ...normsBody],
    ])),
  ];
  return Uint8Array.from(bytes);
}
