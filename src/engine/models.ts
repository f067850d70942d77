// The shared-weight branch, built with the tf.layers functional API so that a branch saves and loads in the
// TensorFlow.js layers format (model.json + weights) without any code of ours but the custom layers registered here.
//
// image → body (backbones/resnet.ts: resnet18/34/50 or the small convnet, TensorFlow or PyTorch padding) → global
// average pooling ('gap') → head → L2 normalisation ('l2_normalize', when `normalize` is set). The head
// (`model.head`): 'dense' (default) is Dense(embeddingDim) named 'embedding'; an array [w1, …, wn] is an MLP of
// Dense-ReLU layers 'head1', 'head1_relu', … and a last Dense(wn) named 'embedding'; 'none' keeps the pooled features.
// All initialisers are seeded, so the same seed gives the same initial weights.
import type * as TF from '@tensorflow/tfjs';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
import type { BackboneName, DistanceName, FreezeMode, ModelConfig } from '../core/config-types';
import { tf } from './tf';
import { batchNormTrain, batchNormTrainAvailable } from './kernels/batchnorm';
import { convnetBody, resnetBody, SeededInit, type Padding } from './backbones/resnet';

export interface BranchSpec extends ModelConfig {
  inputShape: [number, number, number]; // [height, width, channels]
  seed: number;
  /**
   * Inference-only layout: every conv carries a bias and its ReLU, with no BatchNormalization layer (the weights
   * come from `foldBatchNorm`). One fused conv kernel per layer instead of conv + batch-norm + activation.
   */
  foldBatchNorm?: boolean;
  /** Override of the padding convention (default: 'torch' when `pretrained` is set, else 'tf'). */
  padding?: Padding;
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
      // Frozen (model.freeze): the moving statistics normalise and stay as they are, as in inference.
      if (kwargs.training === true && (!this.trainable || (this as { frozenStats?: boolean }).frozenStats)) return super.call(inputs, { ...kwargs, training: false });
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

/** A backbone name this module builds (a model folder's preprocessing.json names its backbone as a string). */
export function isOurBackbone(name: string): name is BackboneName {
  return name === 'resnet18' || name === 'resnet34' || name === 'resnet50' || name === 'convnet';
}

/** The padding a spec builds with: PyTorch's for pretrained weights, else TensorFlow's (backbones/resnet.ts). */
export function paddingOf(spec: Pick<BranchSpec, 'padding' | 'pretrained'>): Padding {
  return spec.padding ?? (spec.pretrained !== undefined ? 'torch' : 'tf');
}

/** Builds the branch: one image [H, W, C] in, one embedding vector out. */
export function buildBranch(spec: BranchSpec): LayersModel {
  const custom = customLayers();
  const init = new SeededInit(spec.seed, spec.foldBatchNorm ?? false);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  const body = { init, padding: paddingOf(spec), layers: custom };
  let x = spec.backbone === 'convnet' ? convnetBody(input, spec.width, body) : resnetBody(input, spec.backbone, spec.width, body);
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  const head = spec.head ?? 'dense';
  const widths = head === 'none' ? [] : head === 'dense' ? [spec.embeddingDim] : head;
  widths.forEach((units, i) => {
    const last = i === widths.length - 1;
    const name = last ? 'embedding' : `head${i + 1}`;
    x = tf.layers.dense({ units, kernelInitializer: init.glorot(), name }).apply(x) as SymbolicTensor;
    if (!last) x = tf.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(x) as SymbolicTensor;
  });
  if (spec.normalize) x = new custom.L2Normalize({ name: 'l2_normalize' }).apply(x) as SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x, name: `branch_${spec.backbone}` });
  freeze(model, spec.freeze ?? 'none');
  return model;
}

/**
 * model.freeze, for training: "backbone" makes every layer up to the pooling non-trainable (only the head learns;
 * BN runs in inference mode); "bn" keeps every BN's moving statistics (inference-mode normalisation, for small
 * batches) while its scale and offset and every other weight train.
 */
function freeze(model: LayersModel, mode: FreezeMode): void {
  if (mode === 'none') return;
  const gap = model.layers.findIndex((l) => l.name === 'gap');
  model.layers.forEach((l, i) => {
    if (mode === 'backbone' && i <= gap) l.trainable = false;
    if (mode === 'bn' && l.getClassName() === 'BatchNormalization') (l as { frozenStats?: boolean }).frozenStats = true;
  });
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
  // The padding and the head follow the trained branch itself (a caller's spec may not know them).
  const names = new Set(branch.layers.map((l) => l.name));
  const padding: Padding = names.has('stem_pad') ? 'torch' : 'tf';
  const hidden = branch.layers.filter((l) => /^head\d+$/.test(l.name)).map((l) => (l.getConfig() as { units: number }).units);
  const dense = branch.layers.find((l) => l.name === 'embedding');
  const head = !dense ? 'none' : hidden.length > 0 ? [...hidden, (dense.getConfig() as { units: number }).units] : spec.head;
  const folded = buildBranch({ ...spec, padding, head, foldBatchNorm: true });
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
