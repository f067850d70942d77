// The ResNet entries of the backbone registry (index.ts): their bodies (image → feature map), built with tf.layers so
// that a branch saves and loads in the TensorFlow.js layers format, and their PyTorch weights (pretrained/resnet-import.ts).
//
// ResNets, the ImageNet layout: a 7×7/2 conv stem, a 3×3/2 max-pool, 4 stages, global average pooling (in the caller).
//   resnet18: basic blocks [2, 2, 2, 2]; resnet34: basic blocks [3, 4, 6, 3] — conv3×3-BN-ReLU, conv3×3-BN, the
//     identity or a 1×1/stride projection with BN, add, ReLU.
//   resnet50: bottleneck blocks [3, 4, 6, 3], expansion 4, torchvision's v1.5 (the stride on the 3×3 conv):
//     conv1×1-BN-ReLU, conv3×3/stride-BN-ReLU, conv1×1 (4× wider)-BN, projection, add, ReLU.
//   `width` scales the stage widths (1 = 64-128-256-512, ×4 after a bottleneck).
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
//   1-based; _c for bottlenecks only).
import type { SymbolicTensor } from '@tensorflow/tfjs';
import { RESNET_LAYOUT, stageWidths, type ResnetName } from '../../core/backbones';
import { importResnetStateDict } from '../pretrained/resnet-import';
import { tf } from '../tf';
import { apply, convBn, type Backbone, type BodyOptions } from './blocks';

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
function resnetBody(input: SymbolicTensor, backbone: ResnetName, width: number, o: BodyOptions): SymbolicTensor {
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

const resnet = (name: ResnetName): Backbone => ({
  name,
  body: (input, width, o) => resnetBody(input, name, width, o),
  onnxLayers: ['InputConv2D', 'Conv2D', 'ZeroPadding2D', 'BatchNormalization', 'Activation', 'MaxPooling2D', 'Add'],
  pretrained: { importStateDict: (branch, tensors, file) => importResnetStateDict(branch, tensors, name, file) },
});

export const resnet18 = resnet('resnet18');
export const resnet34 = resnet('resnet34');
export const resnet50 = resnet('resnet50');
