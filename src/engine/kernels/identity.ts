// Identity for the wasm backend without a copy.
//
// tfjs's gradient tape keeps every tensor a backward function needs as keep(clone(t)), and clone runs the Identity
// kernel: on wasm that copies the whole buffer (a ResNet-18 w0.25 triplet step made ~460 such copies of its
// activations, ~35 ms). Nothing writes into a tensor's buffer after it is made (kernels write only their fresh
// outputs; Variable.assign swaps buffers), so the clone can share the buffer under the backend's reference count,
// exactly as wasm's own Reshape kernel does. Strings keep the stock kernel.
import type * as TfTypes from '@tensorflow/tfjs';

type TensorInfo = TfTypes.TensorInfo;

export function identityKernel(stock: TfTypes.KernelConfig | undefined): TfTypes.KernelConfig {
  return {
    kernelName: 'Identity',
    backendName: 'wasm',
    setupFunc: stock?.setupFunc,
    kernelFunc: (args) => {
      const x = (args.inputs as { x: TensorInfo }).x;
      if (x.dtype === 'string') {
        if (!stock) throw new Error('Identity: no stock kernel for strings');
        return stock.kernelFunc(args);
      }
      (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}
