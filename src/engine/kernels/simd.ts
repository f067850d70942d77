// WebAssembly SIMD loops for the memory-bound training kernels (batchnorm.ts, relu-grad.ts), run on the wasm
// backend's own memory: the module imports tfjs-backend-wasm's WebAssembly.Memory, so it reads and writes tensors
// in place. Plain JavaScript loops cost ~7–13 ns per element on the 2-core development machine (tf.profile: the
// JS batch-norm kernels took ~155 ms of a ~800 ms ResNet-18 step); these process four floats per instruction.
//
// Assembled from bytes here (as src/core/knn.ts does): no build step, no file to load. Exports (pointers are byte
// offsets into the backend's memory; c4 = channels / 4, rows of `c4` groups of 4 floats, channels innermost):
//   stats(x, m, c4, acc)            acc (Float64, 2·c):  acc[k] += Σ_r x[r,k],  acc[c + k] += Σ_r x[r,k]²
//   gradStats(dy, x, m, c4, acc)    acc[k] += Σ dy[r,k],  acc[c + k] += Σ dy[r,k]·x[r,k]
//   affine(x, y, m, c4, coef)       y[r,k] = x[r,k]·a[k] + b[k]              (a, b: Float32 at coef, coef + 4c)
//   affine2(dy, x, dx, m, c4, coef) dx[r,k] = dy[r,k]·a[k] + x[r,k]·b[k] + d[k]   (a, b, d at coef, +4c, +8c)
//   reluGrad(x, dy, dx, n4)         dx = x > 0 ? dy : (x is NaN ? x : 0), 4 floats at a time
// Sums are Float64 (each float promoted, products of two floats exact), the affine maps Float32.

import type { TensorInfo } from '@tensorflow/tfjs';
import { section, sleb, str, uleb, vec } from '../../core/wasm-encode';

/** What our JS kernels use of tfjs-backend-wasm's backend: fresh outputs and views of tensors on its heap. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

interface WasmModuleLike { asm?: { memory?: unknown }; _malloc?(bytes: number): number; _free?(ptr: number): void }

export interface SimdKernels {
  stats(x: number, m: number, c4: number, acc: number): void;
  gradStats(dy: number, x: number, m: number, c4: number, acc: number): void;
  affine(x: number, y: number, m: number, c4: number, coef: number): void;
  affine2(dy: number, x: number, dx: number, m: number, c4: number, coef: number): void;
  reluGrad(x: number, dy: number, dx: number, n4: number): void;
  malloc(bytes: number): number;
  free(ptr: number): void;
}

const cache = new WeakMap<object, SimdKernels | null>();

/** The SIMD kernels bound to a wasm backend's memory, or null when unavailable (no SIMD, no memory export). */
export function simdKernels(backend: unknown): SimdKernels | null {
  const b = backend as { wasm?: WasmModuleLike };
  if (!b || typeof b !== 'object' || !b.wasm) return null;
  if (cache.has(b.wasm)) return cache.get(b.wasm)!;
  let k: SimdKernels | null = null;
  try {
    const memory = b.wasm.asm?.memory;
    const api = (globalThis as unknown as { WebAssembly?: { validate(x: Uint8Array): boolean; Module: new (x: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: Record<string, unknown> }; Memory: new (d: { initial: number }) => object } }).WebAssembly;
    if (memory && api && b.wasm._malloc && b.wasm._free && process.env.EMBEDLAB_NO_SIMD_KERNELS !== '1') {
      const bytes = assemble();
      if (api.validate(bytes)) {
        const e = new api.Instance(new api.Module(bytes), { e: { m: memory } }).exports as unknown as SimdKernels;
        const wasm = b.wasm;
        k = {
          stats: e.stats, gradStats: e.gradStats, affine: e.affine, affine2: e.affine2, reluGrad: e.reluGrad,
          malloc: (n) => wasm._malloc!(n), free: (p) => wasm._free!(p),
        };
      }
    }
  } catch {
    k = null;
  }
  cache.set(b.wasm, k);
  return k;
}

export function assemble(): Uint8Array {
  const I32 = 0x7f, V128 = 0x7b;
  const get = (l: number): number[] => [0x20, ...uleb(l)];
  const set = (l: number): number[] => [0x21, ...uleb(l)];
  const i32c = (v: number): number[] => [0x41, ...sleb(v)];
  const add = [0x6a], shl = [0x74], geU = [0x4f];
  const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
  const load = (off = 0): number[] => simd(0x00, 0, ...uleb(off)); // align hint 1 (tfjs buffers may be 8-aligned)
  const store = (off = 0): number[] => simd(0x0b, 0, ...uleb(off));
  const f32add = simd(0xe4), f32mul = simd(0xe6), f32gt = simd(0x44), f32ne = simd(0x42);
  const f64add = simd(0xf0), f64mul = simd(0xf2), promoteLow = simd(0x5f);
  const vand = simd(0x4e), bitselect = simd(0x52), vzero = simd(0x0c, ...new Array<number>(16).fill(0));
  const highToLow = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15); // i8x16.shuffle v v
  // for (i = 0; i < n; i++) body  — counter and limit are locals
  const loop = (i: number, n: number, body: number[]): number[] => [
    ...i32c(0), ...set(i),
    0x02, 0x40, 0x03, 0x40, ...get(i), ...get(n), ...geU, 0x0d, 1, ...body, ...get(i), ...i32c(1), ...add, ...set(i), 0x0c, 0, 0x0b, 0x0b,
  ];
  const ptrAdd = (p: number, bytes: number): number[] => [...get(p), ...i32c(bytes), ...add, ...set(p)];
  const fn = (locals: Array<[number, number]>, body: number[]): number[] => {
    const l = vec(locals.map(([count, type]) => [...uleb(count), type]));
    const code = [...l, ...body, 0x0b];
    return [...uleb(code.length), ...code];
  };

  // stats(x0, m1, c4_2, acc3): locals r4 g5 a6 c8_7 (i32), v8 (v128)
  const stats = fn([[4, I32], [1, V128]], [
    ...get(2), ...i32c(5), ...shl, ...set(7), // 8c = c4·32
    ...loop(4, 1, [
      ...get(3), ...set(6),
      ...loop(5, 2, [
        ...get(0), ...load(0), ...set(8),
        ...accumulateSq(),
        ...ptrAdd(0, 16), ...ptrAdd(6, 32),
      ]),
    ]),
  ]);
  function accumulateSq(): number[] {
    // Σx: promote x; Σx²: promote x, then square in f64 (exact).
    const A = 6, V = 8, C8 = 7;
    const base = [...get(A), ...get(C8), ...add];
    return [
      ...get(A), ...get(A), ...load(0), ...get(V), ...promoteLow, ...f64add, ...store(0),
      ...get(A), ...get(A), ...load(16), ...get(V), ...get(V), ...highToLow, ...promoteLow, ...f64add, ...store(16),
      ...base, ...base, ...load(0), ...get(V), ...promoteLow, ...get(V), ...promoteLow, ...f64mul, ...f64add, ...store(0),
      ...base, ...base, ...load(16), ...get(V), ...get(V), ...highToLow, ...promoteLow, ...get(V), ...get(V), ...highToLow, ...promoteLow, ...f64mul, ...f64add, ...store(16),
    ];
  }
  // gradStats(dy0, x1, m2, c4_3, acc4): locals r5 g6 a7 c8_8 (i32), v9 w10 (v128)
  const gradStats = fn([[4, I32], [2, V128]], [
    ...get(3), ...i32c(5), ...shl, ...set(8),
    ...loop(5, 2, [
      ...get(4), ...set(7),
      ...loop(6, 3, [
        ...get(0), ...load(0), ...set(9), ...get(1), ...load(0), ...set(10),
        ...get(7), ...get(7), ...load(0), ...get(9), ...promoteLow, ...f64add, ...store(0),
        ...get(7), ...get(7), ...load(16), ...get(9), ...get(9), ...highToLow, ...promoteLow, ...f64add, ...store(16),
        ...get(7), ...get(8), ...add, ...get(7), ...get(8), ...add, ...load(0),
        ...get(9), ...promoteLow, ...get(10), ...promoteLow, ...f64mul, ...f64add, ...store(0),
        ...get(7), ...get(8), ...add, ...get(7), ...get(8), ...add, ...load(16),
        ...get(9), ...get(9), ...highToLow, ...promoteLow, ...get(10), ...get(10), ...highToLow, ...promoteLow, ...f64mul, ...f64add, ...store(16),
        ...ptrAdd(0, 16), ...ptrAdd(1, 16), ...ptrAdd(7, 32),
      ]),
    ]),
  ]);
  // affine(x0, y1, m2, c4_3, coef4): locals r5 g6 a7 c4b8 (i32: a ptr, 4c)
  const affine = fn([[4, I32]], [
    ...get(3), ...i32c(4), ...shl, ...set(8), // 4c = c4·16
    ...loop(5, 2, [
      ...get(4), ...set(7),
      ...loop(6, 3, [
        ...get(1),
        ...get(0), ...load(0), ...get(7), ...load(0), ...f32mul,
        ...get(7), ...get(8), ...add, ...load(0), ...f32add,
        ...store(0),
        ...ptrAdd(0, 16), ...ptrAdd(1, 16), ...ptrAdd(7, 16),
      ]),
    ]),
  ]);
  // affine2(dy0, x1, dx2, m3, c4_4, coef5): locals r6 g7 a8 c4b9
  const affine2 = fn([[4, I32]], [
    ...get(4), ...i32c(4), ...shl, ...set(9),
    ...loop(6, 3, [
      ...get(5), ...set(8),
      ...loop(7, 4, [
        ...get(2),
        ...get(0), ...load(0), ...get(8), ...load(0), ...f32mul,
        ...get(1), ...load(0), ...get(8), ...get(9), ...add, ...load(0), ...f32mul, ...f32add,
        ...get(8), ...get(9), ...add, ...get(9), ...add, ...load(0), ...f32add,
        ...store(0),
        ...ptrAdd(0, 16), ...ptrAdd(1, 16), ...ptrAdd(2, 16), ...ptrAdd(8, 16),
      ]),
    ]),
  ]);
  // reluGrad(x0, dy1, dx2, n4_3): locals i4 (i32), v5 (v128)
  const reluGrad = fn([[1, I32], [1, V128]], [
    ...loop(4, 3, [
      ...get(0), ...load(0), ...set(5),
      ...get(2),
      // bitselect(x, dy & (x > 0), x != x)
      ...get(5), ...get(1), ...load(0), ...get(5), ...vzero, ...f32gt, ...vand, ...get(5), ...get(5), ...f32ne, ...bitselect,
      ...store(0),
      ...ptrAdd(0, 16), ...ptrAdd(1, 16), ...ptrAdd(2, 16),
    ]),
  ]);

  const types = [
    [0x60, ...vec([[I32], [I32], [I32], [I32]]), 0], // (i32 ×4) → ()
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0],
  ];
  const funcs: Array<[string, number, number[]]> = [
    ['stats', 0, stats], ['gradStats', 1, gradStats], ['affine', 1, affine], ['affine2', 2, affine2], ['reluGrad', 0, reluGrad],
  ];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, 0x00]])), // memory, min 0, no max
    ...section(3, vec(funcs.map(([, t]) => uleb(t)))),
    ...section(7, vec(funcs.map(([name], i) => [...str(name), 0x00, ...uleb(i)]))),
    ...section(10, vec(funcs.map(([, , body]) => body))),
  ];
  return Uint8Array.from(bytes);
}
