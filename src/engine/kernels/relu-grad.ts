// ReLU's gradient as one kernel on wasm.
//
// tfjs-core differentiates Relu as mul(dy, cast(step(x), 'float32')): three kernels and two temporary buffers the
// size of the activation, for each of a ResNet-18's 17 ReLUs. EmbedLabReluGrad computes dx = x > 0 ? dy : 0 in one
// pass on the wasm heap (the stock rule: step(0) = 0, and NaN in x gives NaN, as step(NaN) = NaN does). The Relu
// gradient config is replaced for all backends; those without the kernel get the stock expression.
import type * as TfTypes from '@tensorflow/tfjs';
import type { TfModule } from '../tf';
import { simdKernels, type WasmHeapBackend } from './simd';

export const RELU_GRAD = 'EmbedLabReluGrad';

type TensorInfo = TfTypes.TensorInfo;

export function reluGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    dx[i] = v > 0 ? dy[i] : v !== v ? v : 0; // v !== v: NaN
  }
}


const registered = new WeakSet<object>();

/** Registers the wasm kernel and our Relu gradient (once per tfjs engine). */
export function registerReluGrad(tf: TfModule): void {
  if (tf.getKernel(RELU_GRAD, 'wasm') == null) {
    tf.registerKernel({
      kernelName: RELU_GRAD,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
        if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error(`${RELU_GRAD} takes float32`);
        const b = backend as unknown as WasmHeapBackend;
        const out = b.makeOutput(x.shape, 'float32');
        const xv = b.typedArrayFromHeap(x), dyv = b.typedArrayFromHeap(dy), dxv = b.typedArrayFromHeap(out);
        const simd = simdKernels(backend);
        const n4 = simd ? xv.length >> 2 : 0;
        if (simd && n4 > 0) simd.reluGrad(xv.byteOffset, dyv.byteOffset, dxv.byteOffset, n4);
        reluGradInto(xv.subarray(4 * n4), dyv.subarray(4 * n4), dxv.subarray(4 * n4)); // the tail (all of it without SIMD)
        return out;
      },
    });
  }
  if (registered.has(tf.engine())) return;
  registered.add(tf.engine());
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const g = dy as TfTypes.Tensor;
      return {
        x: () => (tf.getKernel(RELU_GRAD, tf.getBackend()) != null && x.dtype === 'float32' && g.dtype === 'float32'
          ? tf.engine().runKernel(RELU_GRAD, { x, dy: g }, {}) as TfTypes.Tensor
          : tf.mul(g, tf.cast(tf.step(x), 'float32'))),
      };
    },
  });
}
