// The small convnet of the backbone registry (index.ts), for tiny images: 3 × (3×3 conv-BN-ReLU, 2×2 max-pool) at
// 32-64-128 × width, TensorFlow's 'same' padding. It takes no pretrained weights.
// Layer names (stable: checkpoints load by name): c<i>_{conv,bn,relu}, c<i>_pool (1-based).
import type { SymbolicTensor } from '@tensorflow/tfjs';
import { stageWidths } from '../../core/backbones';
import { tf } from '../tf';
import { apply, convBn, type Backbone, type BodyOptions } from './blocks';

function convnetBody(input: SymbolicTensor, width: number, o: BodyOptions): SymbolicTensor {
  let x = input;
  stageWidths([32, 64, 128], width).forEach((w, i) => {
    x = convBn(x, o, w, 3, 1, `c${i + 1}`, true);
    x = apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `c${i + 1}_pool` }), x);
  });
  return x;
}

export const convnet: Backbone = {
  name: 'convnet',
  body: convnetBody,
  onnxLayers: ['InputConv2D', 'Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D'],
};
