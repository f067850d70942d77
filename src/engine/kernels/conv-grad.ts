// Convolution gradient kernels for the tfjs `wasm` backend, written as forward convolutions.
//
// tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel (so no conv net can train on it) and its
// `Conv2DBackpropInput` is a slow direct loop. Both gradients are themselves convolutions, which the wasm
// backend runs fast through XNNPACK (docs/engine-kernels.md). Forward convolution, NHWC:
//
//   y[n,oh,ow,co] = Σ_{kh,kw,c} x[n, oh·sh + kh − pt, ow·sw + kw − pl, c] · W[kh,kw,c,co]
//
// dW (Conv2DBackpropFilter): dW[kh,kw,c,co] = Σ_{n,oh,ow} x[n, oh·sh + kh − pt, …, c] · dy[n,oh,ow,co]
//   = conv2d(xᵀ [C,H,W,N], dyᵀ [OH,OW,N,Co], stride 1, dilation = (sh,sw), pads [pt, pb'], [pl, pr'])
//   → [C,KH,KW,Co], transposed to [KH,KW,C,Co]. pb' is chosen so that the output is exactly KH rows; when it
//   would be negative (the forward pass never reads the last rows of x), x is sliced instead.
//
// dX (Conv2DBackpropInput): dX[n,h,w,c] = Σ dy[n,oh,ow,co] · W[kh,kw,c,co] over oh·sh + kh − pt = h.
//   Phase (sub-pixel) decomposition: the input rows h = sh·i + φ of one phase φ receive taps kh ≡ φ + pt (mod sh)
//   only, so dX is sh·sw stride-1 convolutions of dy with the sub-filters, computed as ONE conv2d whose output
//   channels stack all phases (filter [Th, Tw, Co, sh·sw·C], built by a loop in rearrange.ts), then interleaved
//   back into [N,H,W,C] (a loop in rearrange.ts; the stock DepthToSpace / rank-6 Transpose / Reverse kernels are
//   slow on wasm). Unlike the zero-insertion formulation (conv over dy with sh−1 zero rows after every row) no
//   multiply touches an inserted zero: sh·sw × fewer FLOPs. Stride 1 is the same code with one phase.
//   1×1 filters: conv2d(dy, Wᵀ) scattered to the strided positions.
//   Measured on the ResNet-18 width-0.25 shapes (median of 5, interleaved with the zero-insertion version):
//   stem 7×7/2 dX 600 → 150 ms, 3×3/1 on 96×2×2×128 39 → 18 ms, 3×3/2 on 96×4×4×64 40 → 20 ms.
//
// The functions are tfjs ops plus exact value copies (dataSync), so they also run (and are checked) on other backends. Kernel functions use
// the input Tensors directly; a bare TensorInfo is wrapped inside the tidy so that the wrapper is released.
// Supported: NHWC, any stride, 'valid' / 'same' / numeric / explicit pads, dilation 1 (tfjs has no gradient
// for dilated convs anyway), any kernel size.

import type { TfModule } from '../tf';
import type * as TfTypes from '@tensorflow/tfjs';
import { identityKernel } from './identity';
import { maxPoolGradKernel } from './maxpool-grad';
import { tileKernel } from './tile';
import { interleavePhases, phaseFilterValues, scatterStrided, transpose2D, type PhaseAxis } from './rearrange';

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
 * dX of an NHWC conv2d. Returns xShape. Must be called inside a tidy or disposed by the caller (intermediates are
 * tidied). 1×1 filters: one matMul (dy · Wᵀ), scattered to the strided positions. Otherwise the phase (sub-pixel)
 * decomposition: one stride-1 convolution of dy with all sh·sw sub-filters stacked along the output channels,
 * interleaved back with depthToSpace (see phaseFilter for the derivation).
 */
export function conv2DBackpropInputViaConv(
  tf: TfModule, xShape: Shape4, dy: Tensor4D, filter: Tensor4D, strides: number | [number, number], pad: ConvPad,
  dimRoundingMode?: RoundingMode, dataFormat?: string,
): Tensor4D {
  const g = geometry(tf, xShape, filter.shape, strides, pad, dimRoundingMode, dataFormat);
  checkDy(g, dy.shape);
  return tf.tidy(() => (g.kh === 1 && g.kw === 1 ? backpropInput1x1(tf, g, dy, filter) : backpropInputPhases(tf, g, dy, filter)));
}

/** Ceiling division for possibly negative numerators. */
const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * Phase decomposition of dX along one axis (s = stride, k = kernel size, p0 = leading pad). With h = s·i + φ:
 *   dX[s·i + φ] = Σ_{j=0}^{T−1} dy[i − A + j] · W[φ + p0 + s·(A − j)]     (taps outside [0, k) are zero)
 * where A = ⌈(k−1−p0)/s⌉ and T = A + ⌈p0/s⌉ + 1 cover every tap of every phase. So all phases are one stride-1
 * correlation of dy (leading pad A) with a T-tap filter whose output channel block φ holds the taps
 * W[φ + p0 + s·(A − j)] (rearrange.ts builds it). No multiply touches an inserted zero.
 */
function phaseAxis(k: number, s: number, p0: number): PhaseAxis {
  const a = ceilDiv(k - 1 - p0, s);
  return { a, t: a + ceilDiv(p0, s) + 1, s, k, p0 };
}

function backpropInputPhases(tf: TfModule, g: ConvGeometry, dy: Tensor4D, filter: Tensor4D): Tensor4D {
  const ph = phaseAxis(g.kh, g.sh, g.pt), pw = phaseAxis(g.kw, g.sw, g.pl);
  const hp = ceilDiv(g.h, g.sh), wp = ceilDiv(g.w, g.sw); // rows / columns per phase
  const f = tf.tensor4d(phaseFilterValues(filter.dataSync() as Float32Array, g.c, g.co, ph, pw),
    [ph.t, pw.t, g.co, g.sh * g.sw * g.c]);
  // Output row i needs dy rows i − A … i − A + T − 1: leading pad A, trailing pad so that there are hp rows.
  const padT = ph.a, padB = hp + ph.t - 1 - g.oh - ph.a;
  const padL = pw.a, padR = wp + pw.t - 1 - g.ow - pw.a;
  const pads: ExplicitPadding = [[0, 0], [Math.max(padT, 0), Math.max(padB, 0)], [Math.max(padL, 0), Math.max(padR, 0)], [0, 0]];
  const out: Tensor4D = tf.conv2d(dy, f, 1, pads, 'NHWC'); // [N, ≥hp, ≥wp, sh·sw·C]
  const top = Math.max(padT, 0) - padT, left = Math.max(padL, 0) - padL;
  if (g.sh === 1 && g.sw === 1) {
    if (top === 0 && left === 0 && out.shape[1] === g.h && out.shape[2] === g.w) return out;
    return tf.slice(out, [0, top, left, 0], [g.n, g.h, g.w, g.c]);
  }
  const v = interleavePhases(out.dataSync() as Float32Array, out.shape, top, left, g.sh, g.sw, g.n, g.h, g.w, g.c);
  return tf.tensor4d(v, [g.n, g.h, g.w, g.c]);
}

/** dX of a 1×1 conv: conv2d(dy, Wᵀ) placed at the strided input positions (oh·sh − pt), zeros elsewhere. */
function backpropInput1x1(tf: TfModule, g: ConvGeometry, dy: Tensor4D, filter: Tensor4D): Tensor4D {
  const wt = tf.tensor4d(transpose2D(filter.dataSync() as Float32Array, g.c, g.co), [1, 1, g.co, g.c]);
  const d = tf.conv2d(dy, wt, 1, 'valid', 'NHWC'); // [N, OH, OW, C]
  if (g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.oh === g.h && g.ow === g.w) return d;
  const v = scatterStrided(d.dataSync() as Float32Array, g.n, g.oh, g.ow, g.c, g.h, g.w, g.sh, g.sw, g.pt, g.pl);
  return tf.tensor4d(v, [g.n, g.h, g.w, g.c]);
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
  /** Replace MaxPoolGrad with ours (maxpool-grad.ts; wasm only). Default true on wasm. */
  replaceMaxPoolGrad?: boolean;
  /** Replace Identity with a buffer-sharing one (identity.ts; wasm only). Default true on wasm. */
  replaceIdentity?: boolean;
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
  if (backendName === 'wasm' && (opts.replaceMaxPoolGrad ?? true)) install(maxPoolGradKernel(tf, tf.getKernel('MaxPoolGrad', backendName)));
  if (backendName === 'wasm' && (opts.replaceIdentity ?? true)) install(identityKernel(tf.getKernel('Identity', backendName)));
  return done;
}

/** Removes our kernels for `backendName` (default wasm) and restores the stock ones we replaced. */
export function unregisterWasmGradKernels(tf: TfModule, backendName = 'wasm'): void {
  const stock = replacedStock.get(tf.engine());
  for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'MaxPoolGrad', 'Identity']) {
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
