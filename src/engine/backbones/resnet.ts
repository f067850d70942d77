// The convolutional bodies of the branch (image → feature map), built with tf.layers so that a branch saves and
// loads in the TensorFlow.js layers format.
//
// ResNets, the ImageNet layout: a 7×7/2 conv stem, a 3×3/2 max-pool, 4 stages, global average pooling (in the caller).
//   resnet18: basic blocks [2, 2, 2, 2]; resnet34: basic blocks [3, 4, 6, 3] — conv3×3-BN-ReLU, conv3×3-BN, the
//     identity or a 1×1/stride projection with BN, add, ReLU.
//   resnet50: bottleneck blocks [3, 4, 6, 3], expansion 4, torchvision's v1.5 (the stride on the 3×3 conv):
//     conv1×1-BN-ReLU, conv3×3/stride-BN-ReLU, conv1×1 (4× wider)-BN, projection, add, ReLU.
//   `width` scales the stage widths (1 = 64-128-256-512, ×4 after a bottleneck).
// convnet: a small net for tiny images — 3 × (3×3 conv-BN-ReLU, 2×2 max-pool) at 32-64-128 × width.
//
// Padding. 'tf' (from scratch, the layout every existing checkpoint has): TensorFlow's 'same', asymmetric for
// stride 2 (the extra row and column at the end). 'torch' (pretrained weights): PyTorch's symmetric padding, as
// stock layers — a ZeroPadding2D (`<name>_pad`) of k//2 before each strided k×k conv (k > 1) and before the stem
// max-pool, which then run 'valid'. Zero padding before the max-pool equals PyTorch's -inf padding because its input
// is a ReLU's output (≥ 0). Stride-1 convs with odd kernels and 1×1/2 projections are the same in both.
//
// Layer names (stable: checkpoints load by name; pretrained/resnet-import.ts maps PyTorch keys onto them):
//   stem_pad, stem_conv, stem_bn, stem_relu, stem_pool_pad, stem_pool;
//   s<stage>b<block>_{a,b,c,proj}_{pad,conv,bn,relu}, s<stage>b<block>_add, s<stage>b<block>_out (stage and block
//   1-based; _c for bottlenecks only); convnet: c<i>_{conv,bn,relu}, c<i>_pool.
import type * as TF from '@tensorflow/tfjs';
import type { SymbolicTensor } from '@tensorflow/tfjs';
import type { BackboneName } from '../../core/config-types';
import { stageWidths } from '../../core/config';
import { tf } from '../tf';

export type Padding = 'tf' | 'torch';
type Init = ReturnType<typeof TF.initializers.heNormal>;

/** The custom layer classes the bodies use (models.ts' customLayers(), passed in to keep the imports one-way). */
export interface BodyLayers {
  InputConv2D: new (args: { filters: number; kernelSize: number; strides: number; kernelInitializer?: Init; name?: string }) => TF.layers.Layer;
  BatchNorm: new (args: { axis?: number; momentum?: number; epsilon?: number; name?: string }) => TF.layers.Layer;
}

/** Seeded initialisers, drawn in build order: the same seed gives the same initial weights. */
export class SeededInit {
  private n = 0;
  constructor(private readonly seed: number, readonly fold = false) {}
  he(): Init {
    return tf.initializers.heNormal({ seed: this.seed * 1009 + this.n++ });
  }
  glorot(): Init {
    return tf.initializers.glorotUniform({ seed: this.seed * 1009 + this.n++ });
  }
}

export interface BodyOptions {
  init: SeededInit;
  padding: Padding;
  layers: BodyLayers;
}

/** Stage layout per ResNet: block type and blocks per stage. */
export const RESNET_LAYOUT: Record<Exclude<BackboneName, 'convnet'>, { bottleneck: boolean; blocks: [number, number, number, number] }> = {
  resnet18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  resnet34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  resnet50: { bottleneck: true, blocks: [3, 4, 6, 3] },
};

const apply = (layer: TF.layers.Layer, x: SymbolicTensor | SymbolicTensor[]) => layer.apply(x) as SymbolicTensor;

function convBn(x: SymbolicTensor, o: BodyOptions, filters: number, kernel: number, stride: number, name: string, relu: boolean): SymbolicTensor {
  const { init } = o;
  let padding: 'same' | 'valid' = 'same';
  if (o.padding === 'torch' && stride > 1 && kernel > 1) {
    x = apply(tf.layers.zeroPadding2d({ padding: Math.floor(kernel / 2), name: `${name}_pad` }), x);
    padding = 'valid';
  }
  if (init.fold) {
    return apply(tf.layers.conv2d({
      filters, kernelSize: kernel, strides: stride, padding, useBias: true, activation: relu ? 'relu' : 'linear', name: `${name}_conv`,
    }), x);
  }
  const onImage = x.sourceLayer?.getClassName() === 'InputLayer';
  let y = apply(onImage
    ? new o.layers.InputConv2D({ filters, kernelSize: kernel, strides: stride, kernelInitializer: init.he(), name: `${name}_conv` })
    : tf.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding, useBias: false, kernelInitializer: init.he(), name: `${name}_conv` }), x);
  y = apply(new o.layers.BatchNorm({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` }), y);
  if (relu) y = apply(tf.layers.activation({ activation: 'relu', name: `${name}_relu` }), y);
  return y;
}

function residual(x: SymbolicTensor, y: SymbolicTensor, o: BodyOptions, out: number, stride: number, name: string): SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  const shortcut = stride !== 1 || inChannels !== out ? convBn(x, o, out, 1, stride, `${name}_proj`, false) : x;
  const sum = apply(tf.layers.add({ name: `${name}_add` }), [y, shortcut]);
  return apply(tf.layers.activation({ activation: 'relu', name: `${name}_out` }), sum);
}

function basicBlock(x: SymbolicTensor, o: BodyOptions, filters: number, stride: number, name: string): SymbolicTensor {
  let y = convBn(x, o, filters, 3, stride, `${name}_a`, true);
  y = convBn(y, o, filters, 3, 1, `${name}_b`, false);
  return residual(x, y, o, filters, stride, name);
}

function bottleneck(x: SymbolicTensor, o: BodyOptions, filters: number, stride: number, name: string): SymbolicTensor {
  let y = convBn(x, o, filters, 1, 1, `${name}_a`, true);
  y = convBn(y, o, filters, 3, stride, `${name}_b`, true);
  y = convBn(y, o, filters * 4, 1, 1, `${name}_c`, false);
  return residual(x, y, o, filters * 4, stride, name);
}

/** A ResNet body: image → the last stage's feature map. */
export function resnetBody(input: SymbolicTensor, backbone: keyof typeof RESNET_LAYOUT, width: number, o: BodyOptions): SymbolicTensor {
  const { bottleneck: isBottleneck, blocks } = RESNET_LAYOUT[backbone];
  const widths = stageWidths([64, 128, 256, 512], width);
  let x = convBn(input, o, widths[0], 7, 2, 'stem', true);
  let poolPadding: 'same' | 'valid' = 'same';
  if (o.padding === 'torch') {
    x = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'stem_pool_pad' }), x);
    poolPadding = 'valid';
  }
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: poolPadding, name: 'stem_pool' }), x);
  widths.forEach((w, stage) => {
    for (let b = 0; b < blocks[stage]; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      x = (isBottleneck ? bottleneck : basicBlock)(x, o, w, stride, `s${stage + 1}b${b + 1}`);
    }
  });
  return x;
}

/** The small convnet's body. */
export function convnetBody(input: SymbolicTensor, width: number, o: BodyOptions): SymbolicTensor {
  let x = input;
  stageWidths([32, 64, 128], width).forEach((w, i) => {
    x = convBn(x, o, w, 3, 1, `c${i + 1}`, true);
    x = apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `c${i + 1}_pool` }), x);
  });
  return x;
}
