// The shared-weight branch, built with the tf.layers functional API so that a branch saves and loads in the
// TensorFlow.js layers format (model.json + weights) without any code of ours but the custom layers registered here.
//
// image → body (the backbone's entry in backbones/, TensorFlow's or PyTorch's padding) → global average pooling
// ('gap') → head → L2 normalisation ('l2_normalize', when `normalize` is set). The head (`model.head`): 'dense'
// (default) is Dense(embeddingDim) named 'embedding'; an array [w1, …, wn] is an MLP of Dense-ReLU layers 'head1',
// 'head1_relu', … and a last Dense(wn) named 'embedding'; 'none' keeps the pooled features.
// All initialisers are seeded, so the same seed gives the same initial weights.
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
import { isBackboneName } from '../core/backbones';
import type { DistanceName, FreezeMode, ModelConfig } from '../core/config-types';
import { tf } from './tf';
import { backboneOf, SeededInit, type Padding } from './backbones';
import { customLayers } from './layers';

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

export { customLayers, type CustomLayers } from './layers';

/** A backbone name this module builds (a model folder's preprocessing.json names its backbone as a string). */
export const isOurBackbone = isBackboneName;

/** The padding a spec builds with: PyTorch's for pretrained weights, else TensorFlow's (backbones/resnet.ts). */
export function paddingOf(spec: Pick<BranchSpec, 'padding' | 'pretrained'>): Padding {
  return spec.padding ?? (spec.pretrained !== undefined ? 'torch' : 'tf');
}

/** Builds the branch: one image [H, W, C] in, one embedding vector out. */
export function buildBranch(spec: BranchSpec): LayersModel {
  const custom = customLayers();
  const init = new SeededInit(spec.seed, spec.foldBatchNorm ?? false);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  let x = backboneOf(spec.backbone).body(input, spec.width, { init, padding: paddingOf(spec) });
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
