// The tile kernels of exact kNN (src/core/knn.ts): the WebAssembly SIMD kernel (its text is knn-kernel.wat,
// assembled at build time into knn-kernel-wasm.ts) and a plain-JS kernel of identical arithmetic.
// Both compute dot(a, b) = Σ_even a·b + Σ_odd a·b in Float64 and s = (‖q‖² + ‖g‖²) − (dot + dot),
// clamped at 0, so their results are bit-identical. The exports of the WebAssembly module are described at the top
// of knn-kernel.wat.

import { KNN_KERNEL_WASM_BASE64 } from './knn-kernel-wasm';

export interface Kernel {
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

export const ceilTo = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * The kernel over `queries` (slot t holds row order[t] when an order is given) and a separate gallery, or with
 * gallery null the queries themselves: `symmetric` (the gallery rows' thresholds are the queries', both sides
 * update) or not (the gallery side's thresholds are −∞: only the query side collects).
 */
export function makeKernel(
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
    // The Float32 pre-filter (see the header of knn.ts): only where its error bound holds, i.e. no value so large that a
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
    const bytes = Uint8Array.from(atob(KNN_KERNEL_WASM_BASE64), (ch) => ch.charCodeAt(0));
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
