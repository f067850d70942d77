// What every backbone entry is (Backbone), and the building blocks the bodies share: seeded initialisers and the
// conv-BN-ReLU unit with TensorFlow's or PyTorch's padding (resnet.ts describes the two conventions).
import type * as TF from '@tensorflow/tfjs';
import type { SymbolicTensor } from '@tensorflow/tfjs';
import type { BackboneName } from '../../core/backbones';
import { customLayers } from '../layers';
import type { ImportResult } from '../pretrained/resnet-import';
import type { Tensor32 } from '../pretrained/safetensors';
import { tf } from '../tf';

export type Padding = 'tf' | 'torch';
type Init = ReturnType<typeof TF.initializers.heNormal>;

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
}

/**
 * One backbone: how its body is built, which tfjs layer classes that body is made of (each one needs a converter in
 * the ONNX writer, src/engine/onnx.ts' ONNX_LAYER_CLASSES), and how PyTorch weights map onto it. Its pure facts
 * (name, feature width, the pickers' words) are its descriptor in src/core/backbones.ts.
 * test/unit/backbones.test.ts builds every entry and checks all of it.
 */
export interface Backbone {
  readonly name: BackboneName;
  /** image [H, W, C] → the last feature map (global average pooling and the head follow, in models.ts). */
  body(input: SymbolicTensor, width: number, o: BodyOptions): SymbolicTensor;
  /** The layer classes `body` creates, with either padding and with BN folded or not. */
  readonly onnxLayers: readonly string[];
  /** PyTorch state dicts (model.pretrained, embed --model x.safetensors); absent when it takes no pretrained weights. */
  readonly pretrained?: {
    /** Writes the tensors into a branch built with padding 'torch'; throws BadDataError (naming `file`) first when they do not fit. */
    importStateDict(branch: TF.LayersModel, tensors: Map<string, Tensor32>, file: string): ImportResult;
  };
}

export const apply = (layer: TF.layers.Layer, x: SymbolicTensor | SymbolicTensor[]) => layer.apply(x) as SymbolicTensor;

/**
 * conv (`<name>_conv`) → BN (`<name>_bn`) → ReLU (`<name>_relu`, when `relu`). With PyTorch padding a strided k×k
 * conv (k > 1) gets a ZeroPadding2D (`<name>_pad`) of k//2 and runs 'valid'. The first conv (on the image) is an
 * InputConv2D. With `init.fold` (foldBatchNorm's layout) it is one Conv2D with a bias and the activation.
 */
export function convBn(x: SymbolicTensor, o: BodyOptions, filters: number, kernel: number, stride: number, name: string, relu: boolean): SymbolicTensor {
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
  const layers = customLayers();
  const onImage = x.sourceLayer?.getClassName() === 'InputLayer';
  let y = apply(onImage
    ? new layers.InputConv2D({ filters, kernelSize: kernel, strides: stride, kernelInitializer: init.he(), name: `${name}_conv` })
    : tf.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding, useBias: false, kernelInitializer: init.he(), name: `${name}_conv` }), x);
  y = apply(new layers.BatchNorm({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` }), y);
  if (relu) y = apply(tf.layers.activation({ activation: 'relu', name: `${name}_relu` }), y);
  return y;
}
