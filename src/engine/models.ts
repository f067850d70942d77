// Backbones for the shared-weight branch, built with the tf.layers functional API so that a branch saves and
// loads in the TensorFlow.js layers format (model.json + weights) without any code of ours but the custom layers
// registered here.
//
// resnet18: the ImageNet layout — 7×7/2 conv stem, 3×3/2 max-pool, 4 stages of 2 basic blocks (conv-BN-ReLU,
//   conv-BN, identity or 1×1/stride projection shortcut with BN, add, ReLU), global average pooling. `width`
//   scales the stage widths (1.0 = 64-128-256-512). Padding is TensorFlow's 'same' (asymmetric for stride 2),
//   which has the same FLOPs as PyTorch's symmetric padding.
// convnet: a small net for tiny images — 3 × (3×3 conv-BN-ReLU, 2×2 max-pool) at 32-64-128 × width, then GAP.
// Both end in Dense(embeddingDim) and, when `normalize` is set, an L2 normalisation layer.
// All initialisers are seeded, so the same seed gives the same initial weights.
import type * as TF from '@tensorflow/tfjs';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
import type { DistanceName, ModelConfig } from '../core/config-types';
import { tf } from './tf';
import { batchNormTrain, batchNormTrainAvailable } from './kernels/batchnorm';

export interface BranchSpec extends ModelConfig {
  inputShape: [number, number, number]; // [height, width, channels]
  seed: number;
  /**
   * Inference-only layout: every conv carries a bias and its ReLU, with no BatchNormalization layer (the weights
   * come from `foldBatchNorm`). One fused conv kernel per layer instead of conv + batch-norm + activation.
   */
  foldBatchNorm?: boolean;
}

type TfModule = typeof TF;
interface InputConvArgs {
  filters: number;
  kernelSize: number;
  strides: number;
  kernelInitializer?: ReturnType<typeof TF.initializers.heNormal>;
  name?: string;
}
interface CustomLayers {
  L2Normalize: new (args?: TF.serialization.ConfigDict) => TF.layers.Layer;
  InputConv2D: new (args: InputConvArgs) => TF.layers.Layer;
  PairDistance: new (args: { distance: DistanceName; name?: string }) => TF.layers.Layer;
  BatchNorm: new (args: BatchNormArgs) => TF.layers.Layer;
}
interface BatchNormArgs { axis?: number; momentum?: number; epsilon?: number; name?: string }
/** The fields of tf.layers' BatchNormalization that TrainBatchNorm reads (not in its public typings). */
interface BatchNormFields {
  axis: number; momentum: number; epsilon: number; center: boolean; scale: boolean;
  gamma: TF.LayerVariable; beta: TF.LayerVariable; movingMean: TF.LayerVariable; movingVariance: TF.LayerVariable;
}
const customByTf = new WeakMap<object, CustomLayers>();

/** Our custom layers, defined against the tfjs instance in use and registered for (de)serialisation. */
export function customLayers(t: TfModule = tf): CustomLayers {
  const known = customByTf.get(t);
  if (known) return known;

  class L2Normalize extends t.layers.Layer {
    static className = 'L2Normalize';
    override computeOutputShape(inputShape: TF.Shape | TF.Shape[]): TF.Shape | TF.Shape[] {
      return inputShape;
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return t.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return t.div(x, t.sqrt(t.maximum(t.sum(t.square(x), -1, true), 1e-12)));
      });
    }
  }

  class PairDistance extends t.layers.Layer {
    static className = 'PairDistance';
    readonly distance: DistanceName;
    constructor(args: { distance: DistanceName; name?: string }) {
      super({ name: args.name });
      this.distance = args.distance;
    }
    override computeOutputShape(inputShape: TF.Shape | TF.Shape[]): TF.Shape {
      const first = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as TF.Shape;
      return [first[0], 1];
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return t.tidy(() => {
        const [a, b] = inputs as TF.Tensor[];
        if (this.distance === 'cosine') {
          const na = t.sqrt(t.maximum(t.sum(t.square(a), -1, true), 1e-12));
          const nb = t.sqrt(t.maximum(t.sum(t.square(b), -1, true), 1e-12));
          return t.sub(1, t.div(t.sum(t.mul(a, b), -1, true), t.mul(na, nb)));
        }
        const sq = t.sum(t.square(t.sub(a, b)), -1, true);
        return this.distance === 'squared-euclidean' ? sq : t.sqrt(t.maximum(sq, 1e-12));
      });
    }
    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), distance: this.distance };
    }
  }

  // The first conv of the network (its input is the image): 'same' padding, no bias, linear. tf.layers' Conv2D always
  // runs tf.fused.conv2d, whose custom gradient computes dX eagerly — for the first layer that is a full
  // Conv2DBackpropInput of the image (~150 ms of a ResNet-18 step on wasm) that nothing uses. tf.conv2d's gradient
  // is lazy per input, so calling it here skips that work. Its one weight is `<name>/kernel`, as for Conv2D.
  class InputConv2D extends t.layers.Layer {
    static className = 'InputConv2D';
    readonly filters: number;
    readonly kernelSize: number;
    readonly strides: number;
    private readonly init?: ReturnType<typeof TF.initializers.heNormal>;
    private kernel?: TF.LayerVariable;
    constructor(args: InputConvArgs) {
      super({ name: args.name });
      this.filters = args.filters;
      this.kernelSize = args.kernelSize;
      this.strides = args.strides;
      this.init = args.kernelInitializer;
    }
    override build(inputShape: TF.Shape | TF.Shape[]): void {
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as TF.Shape;
      const cin = shape[shape.length - 1] as number;
      this.kernel = this.addWeight('kernel', [this.kernelSize, this.kernelSize, cin, this.filters], 'float32',
        this.init ?? t.initializers.heNormal({}));
      this.built = true;
    }
    override computeOutputShape(inputShape: TF.Shape | TF.Shape[]): TF.Shape {
      const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as TF.Shape;
      const out = (d: number | null) => (d === null ? null : Math.ceil(d / this.strides));
      return [s[0], out(s[1]), out(s[2]), this.filters];
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as TF.Tensor4D;
      return t.conv2d(x, this.kernel!.read() as TF.Tensor4D, this.strides, 'same');
    }
    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides };
    }
  }

  // tf.layers' BatchNormalization, except that training mode over the last axis runs as one forward and one
  // backward kernel where the backend has them (kernels/batchnorm.ts: wasm), instead of moments() + batchNorm()
  // differentiated op by op. Same weights, config and class name, so saved models are stock BatchNormalization
  // layers (it is deliberately not registered: loading uses the stock class). Inference is the stock code.
  const StockBatchNorm = Object.getPrototypeOf(t.layers.batchNormalization({})).constructor as new (args: BatchNormArgs) => TF.layers.Layer;
  class TrainBatchNorm extends StockBatchNorm {
    static className = 'BatchNormalization';
    override call(inputs: TF.Tensor | TF.Tensor[], kwargs: Record<string, unknown>): TF.Tensor | TF.Tensor[] {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs);
      const f = this as unknown as BatchNormFields;
      const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
      if (kwargs.training !== true || axis !== x.rank - 1 || !f.center || !f.scale || x.dtype !== 'float32' || !batchNormTrainAvailable(t)) {
        return super.call(inputs, kwargs);
      }
      return t.tidy(() => {
        const [y, mean, variance] = batchNormTrain(t, x, f.gamma.read(), f.beta.read(), f.epsilon);
        // The moving averages exactly as the stock layer updates them.
        for (const [v, value] of [[f.movingMean, mean], [f.movingVariance, variance]] as const) {
          t.tidy(() => {
            const orig = v.read();
            v.write(t.sub(orig, t.mul(t.sub(orig, value), 1 - f.momentum)));
          });
        }
        t.dispose([mean, variance]);
        return y;
      });
    }
  }

  t.serialization.registerClass(L2Normalize);
  t.serialization.registerClass(PairDistance);
  t.serialization.registerClass(InputConv2D);
  const layers: CustomLayers = { L2Normalize, PairDistance, InputConv2D, BatchNorm: TrainBatchNorm };
  customByTf.set(t, layers);
  return layers;
}

class SeededInit {
  private n = 0;
  constructor(private readonly seed: number, readonly fold = false) {}
  he(): ReturnType<typeof TF.initializers.heNormal> {
    return tf.initializers.heNormal({ seed: this.seed * 1009 + this.n++ });
  }
  glorot(): ReturnType<typeof TF.initializers.heNormal> {
    return tf.initializers.glorotUniform({ seed: this.seed * 1009 + this.n++ });
  }
}

function convBn(x: SymbolicTensor, init: SeededInit, filters: number, kernel: number, stride: number, name: string, relu: boolean): SymbolicTensor {
  if (init.fold) {
    return tf.layers.conv2d({
      filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: true, activation: relu ? 'relu' : 'linear', name: `${name}_conv`,
    }).apply(x) as SymbolicTensor;
  }
  const onImage = x.sourceLayer?.getClassName() === 'InputLayer';
  let y = (onImage
    ? new (customLayers().InputConv2D)({ filters, kernelSize: kernel, strides: stride, kernelInitializer: init.he(), name: `${name}_conv` })
    : tf.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: false, kernelInitializer: init.he(), name: `${name}_conv` })
  ).apply(x) as SymbolicTensor;
  y = new (customLayers().BatchNorm)({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` }).apply(y) as SymbolicTensor;
  if (relu) y = tf.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(y) as SymbolicTensor;
  return y;
}

function basicBlock(x: SymbolicTensor, init: SeededInit, filters: number, stride: number, name: string): SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  let y = convBn(x, init, filters, 3, stride, `${name}_a`, true);
  y = convBn(y, init, filters, 3, 1, `${name}_b`, false);
  const shortcut = stride !== 1 || inChannels !== filters ? convBn(x, init, filters, 1, stride, `${name}_proj`, false) : x;
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as SymbolicTensor;
  return tf.layers.activation({ activation: 'relu', name: `${name}_out` }).apply(sum) as SymbolicTensor;
}

function stageWidths(base: number[], width: number): number[] {
  return base.map((w) => Math.max(4, Math.round(w * width)));
}

/** Builds the branch: one image [H, W, C] in, one embedding vector out. */
export function buildBranch(spec: BranchSpec): LayersModel {
  const custom = customLayers();
  const init = new SeededInit(spec.seed, spec.foldBatchNorm ?? false);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  let x: SymbolicTensor;
  if (spec.backbone === 'resnet18') {
    const [w1, w2, w3, w4] = stageWidths([64, 128, 256, 512], spec.width);
    x = convBn(input, init, w1, 7, 2, 'stem', true);
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem_pool' }).apply(x) as SymbolicTensor;
    [w1, w2, w3, w4].forEach((w, stage) => {
      x = basicBlock(x, init, w, stage === 0 ? 1 : 2, `s${stage + 1}b1`);
      x = basicBlock(x, init, w, 1, `s${stage + 1}b2`);
    });
  } else {
    x = input;
    stageWidths([32, 64, 128], spec.width).forEach((w, i) => {
      x = convBn(x, init, w, 3, 1, `c${i + 1}`, true);
      x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `c${i + 1}_pool` }).apply(x) as SymbolicTensor;
    });
  }
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  x = tf.layers.dense({ units: spec.embeddingDim, kernelInitializer: init.glorot(), name: 'embedding' }).apply(x) as SymbolicTensor;
  if (spec.normalize) x = new custom.L2Normalize({ name: 'l2_normalize' }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name: `branch_${spec.backbone}` });
}

/**
 * The full model: 2, 3 or 4 image streams through the one shared branch, distances out.
 * contrastive: [d(a,b)]; triplet: [d(a,p), d(a,n)]; quartet: [d(a,p), d(a,n1), d(n1,n2)].
 */
export function buildFullModel(branch: LayersModel, streams: 2 | 3 | 4, distance: DistanceName): LayersModel {
  const custom = customLayers();
  const shape = branch.inputs[0].shape.slice(1) as number[];
  const names = streams === 2 ? ['a', 'b'] : streams === 3 ? ['anchor', 'positive', 'negative'] : ['anchor', 'positive', 'negative1', 'negative2'];
  const inputs = names.map((n) => tf.input({ shape, name: `image_${n}` }));
  const emb = inputs.map((i) => branch.apply(i) as SymbolicTensor);
  const pairs: Array<[number, number, string]> =
    streams === 2 ? [[0, 1, 'd_a_b']] : streams === 3 ? [[0, 1, 'd_anchor_positive'], [0, 2, 'd_anchor_negative']]
      : [[0, 1, 'd_anchor_positive'], [0, 2, 'd_anchor_negative1'], [2, 3, 'd_negative1_negative2']];
  const outputs = pairs.map(([i, j, name]) => new custom.PairDistance({ distance, name }).apply([emb[i], emb[j]]) as SymbolicTensor);
  return tf.model({ inputs, outputs, name: `full_${streams}` });
}

/**
 * The inference-only copy of a trained branch: each conv's BatchNormalization (moving statistics) folded into the
 * conv's weights and bias — W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε) — so inference runs one fused conv (+ReLU)
 * kernel per layer. Outputs equal the original's up to float32 rounding.
 */
export function foldBatchNorm(branch: LayersModel, spec: BranchSpec): LayersModel {
  const folded = buildBranch({ ...spec, foldBatchNorm: true });
  const byName = new Map(branch.layers.map((l) => [l.name, l]));
  tf.tidy(() => {
    for (const layer of folded.layers) {
      const src = byName.get(layer.name);
      if (layer.weights.length === 0) continue;
      if (!src) throw new Error(`foldBatchNorm: the trained branch has no layer ${layer.name}`);
      if (layer.getClassName() === 'Conv2D' && layer.name.endsWith('_conv')) {
        const bn = byName.get(layer.name.replace(/_conv$/, '_bn'));
        if (!bn) throw new Error(`foldBatchNorm: no batch norm after ${layer.name}`);
        const [kernel] = src.getWeights();
        const [gamma, beta, mean, variance] = bn.getWeights();
        const eps = (bn.getConfig() as { epsilon: number }).epsilon;
        const scale = tf.div(gamma, tf.sqrt(tf.add(variance, eps)));
        layer.setWeights([tf.mul(kernel, scale), tf.sub(beta, tf.mul(mean, scale))]);
      } else {
        layer.setWeights(src.getWeights());
      }
    }
  });
  return folded;
}

export function parameterCount(model: LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}
