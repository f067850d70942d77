// Convolution gradient kernels for the tfjs `wasm` backend, written as forward convolutions.
//
// tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel (so no conv net can train on it) and its
// `Conv2DBackpropInput` is a slow direct loop. Both gradients are themselves convolutions, which the wasm
// backend runs fast through XNNPACK (see shared/notes/engine-findings.md, section 1). Forward convolution, NHWC:
//
//   y[n,oh,ow,co] = Σ_{kh,kw,c} x[n, oh·sh + kh − pt, ow·sw + kw − pl, c] · W[kh,kw,c,co]
//
// dW (Conv2DBackpropFilter): dW[kh,kw,c,co] = Σ_{n,oh,ow} x[n, oh·sh + kh − pt, …, c] · dy[n,oh,ow,co]
//   = conv2d(xᵀ [C,H,W,N], dyᵀ [OH,OW,N,Co], stride 1, dilation = (sh,sw), pads [pt, pb'], [pl, pr'])
//   → [C,KH,KW,Co], transposed to [KH,KW,C,Co]. pb' is chosen so that the output is exactly KH rows; when it
//   would be negative (the forward pass never reads the last rows of x), x is sliced instead.
//
// dX (Conv2DBackpropInput): dX[n,h,w,c] = Σ dy[n,oh,ow,co] · W[kh,kw,c,co] over oh·sh + kh − pt = h
//   = conv2d(zero-inserted dy, reverse(W, [0,1]) transposed to [KH,KW,Co,C], stride 1, pad KH−1−pt …),
//   where "zero-inserted" puts sh−1 zero rows (sw−1 zero columns) after every row (column) of dy. Pads that
//   would be negative are clamped to 0 and the result is cropped to the input's size.
//
// The functions are pure tfjs ops, so they also run (and are checked) on other backends. Kernel functions use
// the input Tensors directly; a bare TensorInfo is wrapped inside the tidy so that the wrapper is released.
// Supported: NHWC, any stride, 'valid' / 'same' / numeric / explicit pads, dilation 1 (tfjs has no gradient
// for dilated convs anyway), any kernel size.

import type { TfModule } from '../tf';
import type * as TfTypes from '@tensorflow/tfjs';
import { tileKernel } from './tile';

type Tensor4D = TfTypes.Tensor4D;
type TensorInfo = TfTypes.TensorInfo;
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
export type ConvPad = 'valid' | 'same' | number | ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil';
type Shape4 = [number, number, number, number];

/** Geometry of a forward NHWC convolution (dilation 1). */
interface ConvGeometry {
  n: number; h: number; w: number; c: number;
  kh: number; kw: number; co: number;
  sh: number; sw: number;
  pt: number; pb: number; pl: number; pr: number;
  oh: number; ow: number;
}

function geometry(
  tf: TfModule, xShape: Shape4, filterShape: Shape4, strides: number | [number, number], pad: ConvPad,
  dimRoundingMode: RoundingMode | undefined, dataFormat: string | undefined,
): ConvGeometry {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`conv-grad kernels support only NHWC, got dataFormat '${dataFormat}'`);
  }
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  return {
    n: xShape[0], h: xShape[1], w: xShape[2], c: xShape[3],
    kh: filterShape[0], kw: filterShape[1], co: filterShape[3],
    sh: info.strideHeight, sw: info.strideWidth,
    pt: info.padInfo.top, pb: info.padInfo.bottom, pl: info.padInfo.left, pr: info.padInfo.right,
    oh: info.outHeight, ow: info.outWidth,
  };
}

function checkDy(g: ConvGeometry, dyShape: number[]): void {
  const want = [g.n, g.oh, g.ow, g.co];
  if (dyShape.length !== 4 || dyShape.some((d, i) => d !== want[i])) {
    throw new Error(`conv-grad: dy has shape [${dyShape.join(',')}], expected [${want.join(',')}]`);
  }
}

/**
 * dW of an NHWC conv2d as one forward convolution. Returns [KH,KW,C,Co]. Must be called inside a tidy or
 * disposed by the caller (intermediates are tidied).
 */
export function conv2DBackpropFilterViaConv(
  tf: TfModule, x: Tensor4D, dy: Tensor4D, filterShape: Shape4, strides: number | [number, number], pad: ConvPad,
  dimRoundingMode?: RoundingMode, dataFormat?: string,
): Tensor4D {
  const g = geometry(tf, x.shape, filterShape, strides, pad, dimRoundingMode, dataFormat);
  if (x.shape[3] !== filterShape[2]) throw new Error(`conv-grad: x has ${x.shape[3]} channels, filter expects ${filterShape[2]}`);
  checkDy(g, dy.shape);
  return tf.tidy(() => {
    // Rows (columns) of x the forward pass reads: up to (OH−1)·sh + KH − pt.
    const hUsed = Math.min(g.h, (g.oh - 1) * g.sh + g.kh - g.pt);
    const wUsed = Math.min(g.w, (g.ow - 1) * g.sw + g.kw - g.pl);
    const xs = hUsed < g.h || wUsed < g.w ? tf.slice(x, [0, 0, 0, 0], [g.n, hUsed, wUsed, g.c]) : x;
    const pbEff = (g.oh - 1) * g.sh + g.kh - g.pt - hUsed; // ≥ 0 by construction
    const prEff = (g.ow - 1) * g.sw + g.kw - g.pl - wUsed;
    const xt = tf.transpose(xs, [3, 1, 2, 0]); // [C, H, W, N]: batch C, channels N
    const dyt = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Co]: an OH×OW filter
    const pads: ExplicitPadding = [[0, 0], [g.pt, pbEff], [g.pl, prEff], [0, 0]];
    const r = tf.conv2d(xt, dyt, 1, pads, 'NHWC', [g.sh, g.sw]); // [C, KH, KW, Co]
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

/**
 * dX of an NHWC conv2d as one forward convolution over the zero-inserted dy. Returns xShape.
 * Must be called inside a tidy or disposed by the caller (intermediates are tidied).
 */
export function conv2DBackpropInputViaConv(
  tf: TfModule, xShape: Shape4, dy: Tensor4D, filter: Tensor4D, strides: number | [number, number], pad: ConvPad,
  dimRoundingMode?: RoundingMode, dataFormat?: string,
): Tensor4D {
  const g = geometry(tf, xShape, filter.shape, strides, pad, dimRoundingMode, dataFormat);
  checkDy(g, dy.shape);
  return tf.tidy(() => {
    let d: Tensor4D = dy;
    if (g.sh > 1 || g.sw > 1) {
      // Zero insertion: [N,OH,1,OW,1,Co] → pad to [N,OH,sh,OW,sw,Co] → [N, OH·sh, OW·sw, Co]. The trailing
      // zero rows are harmless: the pad arithmetic below counts them as input rows.
      const d6 = tf.reshape(dy, [g.n, g.oh, 1, g.ow, 1, g.co]);
      const p6 = tf.pad(d6, [[0, 0], [0, 0], [0, g.sh - 1], [0, 0], [0, g.sw - 1], [0, 0]]);
      d = tf.reshape(p6, [g.n, g.oh * g.sh, g.ow * g.sw, g.co]);
    }
    const dinH = d.shape[1], dinW = d.shape[2];
    const padT = g.kh - 1 - g.pt, padL = g.kw - 1 - g.pl;
    const padB = g.h - dinH - padT + g.kh - 1, padR = g.w - dinW - padL + g.kw - 1;
    const pads: ExplicitPadding = [[0, 0], [Math.max(padT, 0), Math.max(padB, 0)], [Math.max(padL, 0), Math.max(padR, 0)], [0, 0]];
    const wr = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [KH, KW, Co, C]
    const out = tf.conv2d(d, wr, 1, pads, 'NHWC');
    const top = Math.max(padT, 0) - padT, left = Math.max(padL, 0) - padL;
    if (top === 0 && left === 0 && out.shape[1] === g.h && out.shape[2] === g.w) return out;
    return tf.slice(out, [0, top, left, 0], [g.n, g.h, g.w, g.c]);
  });
}

interface BackpropFilterAttrs {
  strides: number | [number, number]; pad: ConvPad; dataFormat?: string; dimRoundingMode?: RoundingMode;
  filterShape: Shape4;
}
interface BackpropInputAttrs {
  strides: number | [number, number]; pad: ConvPad; dataFormat?: string; dimRoundingMode?: RoundingMode;
  inputShape: Shape4;
}

/** A Tensor as-is; a bare TensorInfo wrapped (call inside a tidy so the wrapper is released). */
function asTensor4D(tf: TfModule, t: TensorInfo | undefined): Tensor4D {
  if (t == null) throw new Error('conv-grad: missing kernel input');
  if (t instanceof tf.Tensor) return t as Tensor4D;
  return tf.engine().makeTensorFromTensorInfo(t) as Tensor4D;
}

/** The kernel config of our Conv2DBackpropFilter for `backendName`, bound to `tf`. */
export function backpropFilterKernel(tf: TfModule, backendName: string): TfTypes.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as BackpropFilterAttrs;
      return tf.tidy(() => conv2DBackpropFilterViaConv(
        tf, asTensor4D(tf, inputs.x), asTensor4D(tf, inputs.dy), a.filterShape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat));
    },
  };
}

/** The kernel config of our Conv2DBackpropInput for `backendName`, bound to `tf`. */
export function backpropInputKernel(tf: TfModule, backendName: string): TfTypes.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const a = attrs as unknown as BackpropInputAttrs;
      return tf.tidy(() => conv2DBackpropInputViaConv(
        tf, a.inputShape, asTensor4D(tf, inputs.dy), asTensor4D(tf, inputs.filter), a.strides, a.pad, a.dimRoundingMode, a.dataFormat));
    },
  };
}

/** Marker on the kernel functions we register, so registration is idempotent per tfjs copy. */
const OURS = Symbol.for('embedlab.conv-grad');
/** Stock kernels we replaced, per tfjs-core copy (keyed by its engine: namespace objects differ), to restore them. */
const replacedStock = new WeakMap<object, Map<string, TfTypes.KernelConfig>>();

function isOurs(k: TfTypes.KernelConfig | undefined): boolean {
  return k != null && (k.kernelFunc as unknown as Record<symbol, unknown>)[OURS] === true;
}

function mark(k: TfTypes.KernelConfig): TfTypes.KernelConfig {
  (k.kernelFunc as unknown as Record<symbol, unknown>)[OURS] = true;
  return k;
}

export interface RegisterOptions {
  /**
   * Replace wasm's stock Conv2DBackpropInput with ours. Default true: ours is several times faster on
   * ResNet-like shapes (numbers in the report of the issue that added this file; rerun with
   * test/unit/kernels.test.ts `EMBEDLAB_BENCH=1`).
   */
  replaceInput?: boolean;
  /** Replace the stock Tile with the broadcast-based one in kernels/tile.ts (default true; BN gradients use it). */
  replaceTile?: boolean;
  /** Backend to register for; default 'wasm'. ('cpu' works too, but tests use stock cpu as the reference.) */
  backendName?: string;
}

/**
 * Registers our Conv2DBackpropFilter (missing on wasm) and, unless `replaceInput: false`, our
 * Conv2DBackpropInput in place of the stock one. Idempotent: kernels that are already ours are left alone.
 * Returns the kernel names it registered now.
 */
export function registerWasmGradKernels(tf: TfModule, opts: RegisterOptions = {}): string[] {
  const backendName = opts.backendName ?? 'wasm';
  const replaceInput = opts.replaceInput ?? true;
  const done: string[] = [];
  const stock = replacedStock.get(tf.engine()) ?? new Map<string, TfTypes.KernelConfig>();
  replacedStock.set(tf.engine(), stock);
  const install = (config: TfTypes.KernelConfig): void => {
    const existing = tf.getKernel(config.kernelName, backendName);
    if (isOurs(existing)) return;
    if (existing != null) {
      stock.set(`${config.kernelName}/${backendName}`, existing);
      tf.unregisterKernel(config.kernelName, backendName);
    }
    tf.registerKernel(mark(config));
    done.push(config.kernelName);
  };
  install(backpropFilterKernel(tf, backendName));
  if (replaceInput) install(backpropInputKernel(tf, backendName));
  if (opts.replaceTile ?? true) install(tileKernel(tf, backendName, tf.getKernel('Tile', backendName)));
  return done;
}

/** Removes our kernels for `backendName` (default wasm) and restores the stock ones we replaced. */
export function unregisterWasmGradKernels(tf: TfModule, backendName = 'wasm'): void {
  const stock = replacedStock.get(tf.engine());
  for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile']) {
    if (!isOurs(tf.getKernel(name, backendName))) continue;
    tf.unregisterKernel(name, backendName);
    const original = stock?.get(`${name}/${backendName}`);
    if (original != null) {
      tf.registerKernel(original);
      // A backend runs kernel setup functions (wasm: binding the C function) when it initialises; if it
      // already has, bind the restored kernel now.
      const backend = tf.findBackend(backendName);
      if (backend != null && original.setupFunc != null) original.setupFunc(backend);
      stock?.delete(`${name}/${backendName}`);
    }
  }
}

/** True when our kernel is the one registered for `kernelName` on `backendName`. */
export function isOurKernel(tf: TfModule, kernelName: string, backendName = 'wasm'): boolean {
  return isOurs(tf.getKernel(kernelName, backendName));
}

/**
 * Plain-loop reference of both conv gradients (NHWC, dilation 1) for tiny shapes: the startup self-test
 * compares the registered kernels with it. Arrays are row-major; returns { dW [KH,KW,C,Co], dX [N,H,W,C] }.
 */
export function naiveConv2DGrads(
  tf: TfModule, x: Float32Array, xShape: Shape4, filter: Float32Array, filterShape: Shape4, dy: Float32Array,
  strides: number | [number, number], pad: ConvPad,
): { dW: Float32Array; dX: Float32Array } {
  const g = geometry(tf, xShape, filterShape, strides, pad, undefined, 'NHWC');
  const dW = new Float32Array(g.kh * g.kw * g.c * g.co);
  const dX = new Float32Array(g.n * g.h * g.w * g.c);
  for (let n = 0; n < g.n; n++) for (let oh = 0; oh < g.oh; oh++) for (let ow = 0; ow < g.ow; ow++) {
    for (let kh = 0; kh < g.kh; kh++) {
      const h = oh * g.sh + kh - g.pt;
      if (h < 0 || h >= g.h) continue;
      for (let kw = 0; kw < g.kw; kw++) {
        const w = ow * g.sw + kw - g.pl;
        if (w < 0 || w >= g.w) continue;
        for (let c = 0; c < g.c; c++) {
          const xi = ((n * g.h + h) * g.w + w) * g.c + c;
          for (let co = 0; co < g.co; co++) {
            const d = dy[((n * g.oh + oh) * g.ow + ow) * g.co + co];
            const fi = ((kh * g.kw + kw) * g.c + c) * g.co + co;
            dW[fi] += x[xi] * d;
            dX[xi] += filter[fi] * d;
          }
        }
      }
    }
  }
  return { dW, dX };
}
