// MaxPoolGrad for the wasm backend as one pass over the pooling windows.
//
// The stock wasm kernel took 57–170 ms for the ResNet stem's 3×3/2 pool over 96×32×32×16 (tf.profile, one call per
// step). Here each output position finds the first maximum of its window (strictly greater, scanning rows then
// columns: the tie rule of the stock cpu and wasm kernels, so ReLU's zeros route the gradient the same way) and
// adds its dy there: a few milliseconds. NHWC, dilation 1.
import type * as TfTypes from '@tensorflow/tfjs';
import type { TfModule } from '../tf';
import type { WasmHeapBackend } from './simd';

type TensorInfo = TfTypes.TensorInfo;

export interface PoolGeometry {
  n: number; h: number; w: number; c: number; oh: number; ow: number;
  fh: number; fw: number; sh: number; sw: number; pt: number; pl: number;
}

/** dx (zeroed by the caller) += dy routed to each window's first maximum of x. */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array, g: PoolGeometry): void {
  const { n, h, w, c, oh, ow, fh, fw, sh, sw, pt, pl } = g;
  const best = new Float32Array(c);
  const pos = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - pt;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(h, r0 + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = q * sw - pl;
        const qMin = Math.max(0, q0);
        const qMax = Math.min(w, q0 + fw);
        best.fill(-Infinity);
        pos.fill(-1);
        for (let i = rMin; i < rMax; i++) {
          for (let j = qMin; j < qMax; j++) {
            const base = xb + (i * w + j) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k];
              if (v > best[k]) { best[k] = v; pos[k] = base + k; }
            }
          }
        }
        const o = ((b * oh + r) * ow + q) * c;
        for (let k = 0; k < c; k++) if (pos[k] >= 0) dx[pos[k]] += dy[o + k];
      }
    }
  }
}


/** Our MaxPoolGrad kernel for wasm; shapes it does not handle (dilation, non-float) go to the stock kernel. */
export function maxPoolGradKernel(tf: TfModule, stock: TfTypes.KernelConfig | undefined): TfTypes.KernelConfig {
  return {
    kernelName: 'MaxPoolGrad',
    backendName: 'wasm',
    setupFunc: stock?.setupFunc,
    kernelFunc: (args) => {
      const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as {
        filterSize: number | [number, number]; strides: number | [number, number];
        pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
      if (input.dtype !== 'float32' || info.dilationHeight !== 1 || info.dilationWidth !== 1) {
        if (!stock) throw new Error('MaxPoolGrad: unsupported input and no stock kernel');
        return stock.kernelFunc(args);
      }
      const backend = args.backend as unknown as WasmHeapBackend;
      const dx = backend.makeOutput(input.shape, 'float32');
      const dxv = backend.typedArrayFromHeap(dx);
      dxv.fill(0);
      maxPoolGradInto(backend.typedArrayFromHeap(input), backend.typedArrayFromHeap(dy), dxv, {
        n: info.batchSize, h: info.inHeight, w: info.inWidth, c: info.inChannels, oh: info.outHeight, ow: info.outWidth,
        fh: info.effectiveFilterHeight, fw: info.effectiveFilterWidth, sh: info.strideHeight, sw: info.strideWidth,
        pt: info.padInfo.top, pl: info.padInfo.left,
      });
      return dx;
    },
  };
}
