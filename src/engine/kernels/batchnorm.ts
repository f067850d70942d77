// Training-mode batch normalisation as one forward and one backward kernel.
//
// tfjs-layers normalises a batch in training with moments() followed by batchNorm(), and autodiff differentiates
// through both: per BN layer and step that is ~35 small kernels (Mean, Sub, Square, Sum, Multiply, Tile, RealDiv,
// FusedBatchNorm …), each a full pass over the activation. On the wasm backend they cost ~300 ms of a ~1.1 s
// ResNet-18 w0.25 triplet step (tf.profile). The closed forms need two passes forward and two backward:
//
//   forward, per channel c over the M = N·H·W rows:  μ = Σx/M,  σ² = Σx²/M − μ² (biased, as tf.moments),
//     s = 1/√(σ²+ε),  y = γ·s·(x−μ) + β
//   backward:  dβ = Σdy,  dγ = s·Σdy·(x−μ),
//     dx = γ·s·(dy − dβ/M − (x−μ)·s·dγ/M)      (= ∂L/∂x through μ and σ² as well; Ioffe & Szegedy 2015)
//
// Sums are accumulated in Float64. The kernels run on typed arrays: on wasm they read and write the backend's heap
// in place (no copies); on cpu they use its value arrays. Other backends keep the stock layer (see models.ts).
import type * as TfTypes from '@tensorflow/tfjs';
import type { TfModule } from '../tf';
import { simdKernels, type SimdKernels, type WasmHeapBackend } from './simd';

export const BN_TRAIN = 'EmbedLabBatchNormTrain';
export const BN_TRAIN_GRAD = 'EmbedLabBatchNormTrainGrad';

type Tensor = TfTypes.Tensor;
type TensorInfo = TfTypes.TensorInfo;

/** Forward pass over x viewed as [M, C]. Writes y (M·C) and per-channel mean, biased variance and 1/√(σ²+ε). */
export function batchNormTrainForward(
  x: Float32Array, m: number, c: number, gamma: Float32Array, beta: Float32Array, epsilon: number,
  y: Float32Array, mean: Float32Array, variance: Float32Array, invStd: Float32Array,
): void {
  // One pass for Σx and Σx² in Float64: σ² = Σx²/M − μ² loses ~μ²/σ²·2⁻⁵² relatively, far below float32 unless
  // |μ|/σ > 10⁵, where a shifted second pass is used instead.
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  for (let r = 0; r < m; r++) {
    const o = r * c;
    for (let k = 0; k < c; k++) {
      const v = x[o + k];
      sum[k] += v;
      sq[k] += v * v;
    }
  }
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  let shifted = false;
  for (let k = 0; k < c; k++) {
    const mu = sum[k] / m;
    let v = Math.max(0, sq[k] / m - mu * mu);
    if (mu * mu > 1e10 * v) { shifted = true; v = 0; }
    mean[k] = mu;
    variance[k] = v;
  }
  if (shifted) {
    sq.fill(0);
    for (let r = 0; r < m; r++) {
      const o = r * c;
      for (let k = 0; k < c; k++) {
        const d = x[o + k] - mean[k];
        sq[k] += d * d;
      }
    }
    for (let k = 0; k < c; k++) variance[k] = sq[k] / m;
  }
  for (let k = 0; k < c; k++) {
    const s = 1 / Math.sqrt(variance[k] + epsilon);
    invStd[k] = s;
    scale[k] = gamma[k] * s;
    shift[k] = beta[k] - (sum[k] / m) * gamma[k] * s;
  }
  for (let r = 0; r < m; r++) {
    const o = r * c;
    for (let k = 0; k < c; k++) y[o + k] = x[o + k] * scale[k] + shift[k];
  }
}

/** Backward pass: dx (M·C), dγ and dβ (C) from dy, x and the forward statistics. */
export function batchNormTrainBackward(
  dy: Float32Array, x: Float32Array, m: number, c: number, gamma: Float32Array, mean: Float32Array, invStd: Float32Array,
  dx: Float32Array, dGamma: Float32Array, dBeta: Float32Array,
): void {
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c); // Σ dy·x; Σ dy·(x − μ) = Σ dy·x − μ·Σ dy
  for (let r = 0; r < m; r++) {
    const o = r * c;
    for (let k = 0; k < c; k++) {
      const g = dy[o + k];
      sdy[k] += g;
      sdyx[k] += g * x[o + k];
    }
  }
  // dx = a·dy + b·x + d per channel, with a = γs, b = −γs³·Σdy(x−μ)/M, d = −a·Σdy/M − b·μ.
  const a = new Float64Array(c);
  const b = new Float64Array(c);
  const d = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    const s = invStd[k];
    const centred = sdyx[k] - mean[k] * sdy[k];
    a[k] = gamma[k] * s;
    b[k] = -gamma[k] * s * s * s * centred / m;
    d[k] = -a[k] * sdy[k] / m - b[k] * mean[k];
    dGamma[k] = centred * s;
    dBeta[k] = sdy[k];
  }
  for (let r = 0; r < m; r++) {
    const o = r * c;
    for (let k = 0; k < c; k++) dx[o + k] = a[k] * dy[o + k] + b[k] * x[o + k] + d[k];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Typed-array access to a backend's tensors.

interface CpuLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

/** Allocates outputs, then returns views of inputs and outputs (views last: a wasm allocation can move the heap). */
function withArrays(
  backendName: string, backend: unknown, inputs: TensorInfo[], outShapes: number[][],
  body: (ins: Float32Array[], outs: Float32Array[]) => void,
): TensorInfo[] {
  for (const t of inputs) if (t.dtype !== 'float32') throw new Error(`batch norm kernels take float32, got ${t.dtype}`);
  if (backendName === 'wasm') {
    const b = backend as WasmHeapBackend;
    const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
    body(inputs.map((t) => b.typedArrayFromHeap(t)), outs.map((t) => b.typedArrayFromHeap(t)));
    return outs;
  }
  const b = backend as CpuLike;
  const outVals = outShapes.map((s) => new Float32Array(s.reduce((p, q) => p * q, 1)));
  body(inputs.map((t) => b.data.get(t.dataId).values as Float32Array), outVals);
  return outShapes.map((s, i) => b.makeTensorInfo(s, 'float32', outVals[i]));
}

// ---------------------------------------------------------------------------------------------------------
// The same two kernels with the passes over the activation in WebAssembly SIMD (simd.ts) on the wasm backend's
// memory: channels in groups of 4 (every ResNet/convnet width here), per-channel arithmetic in JS.

interface WasmBackendLike extends WasmHeapBackend {
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array };
}

const ptr = (b: WasmBackendLike, t: TensorInfo): number => b.dataIdMap.get(t.dataId).memoryOffset;

function forwardSimd(k: SimdKernels, b: WasmBackendLike, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, eps: number): TensorInfo[] {
  const c = x.shape[x.shape.length - 1];
  const m = x.shape.reduce((p, q) => p * q, 1) / c;
  const outs = [b.makeOutput(x.shape, 'float32'), b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
  const acc = k.malloc(16 * c + 8 * c);
  try {
    new Float64Array(b.wasm.HEAPU8.buffer, acc, 2 * c).fill(0);
    k.stats(ptr(b, x), m, c / 4, acc);
    const sums = new Float64Array(b.wasm.HEAPU8.buffer, acc, 2 * c);
    const [mean, variance, invStd] = outs.slice(1).map((t) => b.typedArrayFromHeap(t));
    const g = b.typedArrayFromHeap(gamma), bt = b.typedArrayFromHeap(beta);
    let shifted = false;
    for (let i = 0; i < c; i++) {
      const mu = sums[i] / m;
      const v = Math.max(0, sums[c + i] / m - mu * mu);
      if (mu * mu > 1e10 * v) shifted = true;
      mean[i] = mu;
      variance[i] = v;
    }
    if (shifted) { // rare: |μ|/σ > 10⁵; the JS kernel's shifted pass
      const y = b.typedArrayFromHeap(outs[0]);
      batchNormTrainForward(b.typedArrayFromHeap(x), m, c, g, bt, eps, y, mean, variance, invStd);
      return outs;
    }
    const coef = new Float32Array(b.wasm.HEAPU8.buffer, acc + 16 * c, 2 * c);
    for (let i = 0; i < c; i++) {
      const s = 1 / Math.sqrt(variance[i] + eps);
      invStd[i] = s;
      coef[i] = g[i] * s;
      coef[c + i] = bt[i] - (sums[i] / m) * g[i] * s;
    }
    k.affine(ptr(b, x), ptr(b, outs[0]), m, c / 4, acc + 16 * c);
    return outs;
  } finally {
    k.free(acc);
  }
}

function backwardSimd(k: SimdKernels, b: WasmBackendLike, dy: TensorInfo, x: TensorInfo, gamma: TensorInfo, mean: TensorInfo, invStd: TensorInfo): TensorInfo[] {
  const c = x.shape[x.shape.length - 1];
  const m = x.shape.reduce((p, q) => p * q, 1) / c;
  const outs = [b.makeOutput(x.shape, 'float32'), b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
  const acc = k.malloc(16 * c + 12 * c);
  try {
    new Float64Array(b.wasm.HEAPU8.buffer, acc, 2 * c).fill(0);
    k.gradStats(ptr(b, dy), ptr(b, x), m, c / 4, acc);
    const sums = new Float64Array(b.wasm.HEAPU8.buffer, acc, 2 * c);
    const coef = new Float32Array(b.wasm.HEAPU8.buffer, acc + 16 * c, 3 * c);
    const [dGamma, dBeta] = outs.slice(1).map((t) => b.typedArrayFromHeap(t));
    const g = b.typedArrayFromHeap(gamma), mu = b.typedArrayFromHeap(mean), is = b.typedArrayFromHeap(invStd);
    for (let i = 0; i < c; i++) {
      const s = is[i];
      const sdy = sums[i];
      const centred = sums[c + i] - mu[i] * sdy;
      const a = g[i] * s;
      const bb = -g[i] * s * s * s * centred / m;
      coef[i] = a;
      coef[c + i] = bb;
      coef[2 * c + i] = -a * sdy / m - bb * mu[i];
      dGamma[i] = centred * s;
      dBeta[i] = sdy;
    }
    k.affine2(ptr(b, dy), ptr(b, x), ptr(b, outs[0]), m, c / 4, acc + 16 * c);
    return outs;
  } finally {
    k.free(acc);
  }
}

/** The backends these kernels are written for. */
export const BATCH_NORM_BACKENDS = ['wasm', 'cpu'] as const;

export function batchNormKernels(backendName: string): TfTypes.KernelConfig[] {
  return [
    {
      kernelName: BN_TRAIN, backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
        const c = x.shape[x.shape.length - 1];
        const m = x.shape.reduce((p, q) => p * q, 1) / c;
        const eps = (attrs as unknown as { epsilon: number }).epsilon;
        const simd = backendName === 'wasm' && c % 4 === 0 && x.dtype === 'float32' ? simdKernels(backend) : null;
        if (simd) return forwardSimd(simd, backend as unknown as WasmBackendLike, x, gamma, beta, eps);
        return withArrays(backendName, backend, [x, gamma, beta], [x.shape, [c], [c], [c]], ([xv, g, bt], [y, mu, v, s]) =>
          batchNormTrainForward(xv, m, c, g, bt, eps, y, mu, v, s));
      },
    },
    {
      kernelName: BN_TRAIN_GRAD, backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { dy, x, gamma, mean, invStd } = inputs as Record<string, TensorInfo>;
        const c = x.shape[x.shape.length - 1];
        const m = x.shape.reduce((p, q) => p * q, 1) / c;
        const simd = backendName === 'wasm' && c % 4 === 0 && x.dtype === 'float32' && dy.dtype === 'float32' ? simdKernels(backend) : null;
        if (simd) return backwardSimd(simd, backend as unknown as WasmBackendLike, dy, x, gamma, mean, invStd);
        return withArrays(backendName, backend, [dy, x, gamma, mean, invStd], [x.shape, [c], [c]], ([g, xv, gm, mu, s], [dx, dg, db]) =>
          batchNormTrainBackward(g, xv, m, c, gm, mu, s, dx, dg, db));
      },
    },
  ];
}

/** Registers both kernels for `backendName` (idempotent). */
export function registerBatchNormKernels(tf: TfModule, backendName: string): void {
  for (const k of batchNormKernels(backendName)) if (tf.getKernel(k.kernelName, backendName) == null) tf.registerKernel(k);
}

/** True when the active backend has our batch-norm kernels. */
export function batchNormTrainAvailable(tf: TfModule): boolean {
  return tf.getKernel(BN_TRAIN, tf.getBackend()) != null && tf.getKernel(BN_TRAIN_GRAD, tf.getBackend()) != null;
}

/**
 * Training-mode batch norm over the last axis: returns [y, mean, variance] (variance biased, as tf.moments), with
 * the closed-form gradient for x, γ and β. Needs the kernels on the active backend (batchNormTrainAvailable).
 * The caller disposes mean and variance (they are kept out of any tidy).
 */
export function batchNormTrain(tf: TfModule, x: Tensor, gamma: Tensor, beta: Tensor, epsilon: number): [Tensor, Tensor, Tensor] {
  let stats: Tensor[] = [];
  const op = tf.customGrad(((xi: Tensor, g: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    const [y, mean, variance, invStd] = tf.engine().runKernel(BN_TRAIN, { x: xi, gamma: g, beta: b }, { epsilon } as unknown as TfTypes.NamedAttrMap) as Tensor[];
    stats = [tf.keep(mean), tf.keep(variance)]; // the kernel scope keeps only y and the saved tensors
    save([xi, g, mean, invStd]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sg, sm, ss] = saved;
        return tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: sx, gamma: sg, mean: sm, invStd: ss }, {}) as Tensor[];
      },
    };
  }) as unknown as Parameters<TfModule['customGrad']>[0]);
  const y = op(x, gamma, beta);
  return [y, stats[0], stats[1]];
}
