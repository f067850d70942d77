// PyTorch ResNet state dicts → our tfjs branch (backbones/resnet.ts, built with padding 'torch').
//
// Key naming. torchvision and timm (resnet18/34/50, e.g. `timm/resnet18.a1_in1k`) use the same names:
//   conv1.weight, bn1.{weight,bias,running_mean,running_var[,num_batches_tracked]}           → stem_conv, stem_bn
//   layer<L>.<B>.conv<k>.weight, layer<L>.<B>.bn<k>.*  (k = 1, 2 [, 3 in bottlenecks])        → s<L>b<B+1>_{a,b,c}_*
//   layer<L>.<B>.downsample.0.weight, layer<L>.<B>.downsample.1.*                            → s<L>b<B+1>_proj_*
//   fc.weight, fc.bias                                                                        → dropped (as DLPy drops
//                                                                                               the output layer)
// A prefix every key shares (`module.`, `model.`, `backbone.`…) is stripped. timm's deep-stem and avg-pool-shortcut
// variants (resnet18d…: conv1.0, downsample.1 a conv) are recognised and refused by name.
//
// Tensors: conv weights OIHW → HWIO; BN weight/bias/running_mean/running_var → gamma/beta/movingMean/
// movingVariance. Our BN has PyTorch's epsilon (1e-5), and momentum 0.9 in tfjs's convention (moving = 0.9·moving
// + 0.1·batch) is PyTorch's momentum 0.1. num_batches_tracked is not needed (it only matters for momentum=None).
// A one-channel model takes the 3-channel stem summed over its input channels (as timm's adapt_input_conv).
//
// Errors (BadDataError, exit 2): an architecture other than the configured one says what the file looks like
// (backbone and width); otherwise the first missing key, the first shape mismatch (both shapes) or the first
// unexpected key.
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { listWords, PRETRAINED_BACKBONES, RESNET_LAYOUT, type BackboneName, type ResnetName } from '../../core/backbones';
import { BadDataError } from '../../core/errors';
import { tf } from '../tf';
import type { Tensor32 } from './safetensors';

export type { ResnetName } from '../../core/backbones';

export interface ResnetGuess {
  /** One of ours, when the layout matches one. */
  backbone?: ResnetName;
  /** e.g. "resnet50 (bottleneck blocks [3, 4, 6, 3]) at width 1". */
  description: string;
  width?: number;
}

export interface ImportResult {
  /** Tensors written into the branch. */
  loaded: number;
  /** Keys not used on purpose: the classifier (fc.*) and num_batches_tracked. */
  dropped: string[];
  /** The stripped key prefix ('' when none). */
  prefix: string;
}

type Shapes = Map<string, number[]>;
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The prefix every key shares before the stem's `conv1.weight` ('' when none), or undefined if there is no stem. */
function keyPrefix(keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const m = /^(.*?)conv1(\.0)?\.weight$/.exec(k);
    if (m && !/layer\d/.test(m[1]) && keys.every((x) => x.startsWith(m[1]))) return m[1];
  }
  return undefined;
}

const KNOWN_NAMES: Record<string, string> = {
  'false:2,2,2,2': 'resnet18', 'false:3,4,6,3': 'resnet34', 'true:3,4,6,3': 'resnet50', 'true:3,4,23,3': 'resnet101',
  'true:3,8,36,3': 'resnet152', 'false:1,1,1,1': 'resnet10t', 'true:2,2,2,2': 'resnet26',
};

/** What a state dict's keys and shapes say about the network (keys without prefix). */
export function guessResnet(shapes: Shapes): ResnetGuess {
  if (shapes.has('conv1.0.weight')) {
    return { description: 'a ResNet with a deep 3-conv stem (timm\'s resnet*c/resnet*d variants), which Embedding Lab does not build' };
  }
  const stem = shapes.get('conv1.weight');
  if (!stem || stem.length !== 4) return { description: 'not a ResNet state dict (no 4-d conv1.weight)' };
  const bottleneck = shapes.has('layer1.0.conv3.weight');
  const blocks = [0, 0, 0, 0];
  for (const k of shapes.keys()) {
    const m = /^layer([1-4])\.(\d+)\./.exec(k);
    if (m) blocks[Number(m[1]) - 1] = Math.max(blocks[Number(m[1]) - 1], Number(m[2]) + 1);
  }
  const avgDown = [...shapes.keys()].some((k) => /^layer\d\.0\.downsample\.1\.weight$/.test(k) && shapes.get(k)!.length === 4);
  const width = stem[0] / 64;
  const name = KNOWN_NAMES[`${bottleneck}:${blocks.join(',')}`];
  const kind = `${bottleneck ? 'bottleneck' : 'basic'} blocks ${fmt(blocks)}`;
  const description = `${name ?? 'a ResNet'} (${kind}) at width ${width}${avgDown ? ' with avg-pool shortcuts (timm\'s resnet*d)' : ''}`;
  const ours = name !== undefined && name in RESNET_LAYOUT && !avgDown ? name as ResnetName : undefined;
  if (!ours) return { description: `${description}, which Embedding Lab does not build (it builds ${listWords(PRETRAINED_BACKBONES, '', 'and')})`, width };
  return { backbone: ours, description, width };
}

/** Our layer name → the PyTorch module it comes from. */
function torchModule(layer: string): string | undefined {
  if (layer === 'stem') return '';
  const m = /^s(\d)b(\d+)_(a|b|c|proj)$/.exec(layer);
  if (!m) return undefined;
  return `layer${m[1]}.${Number(m[2]) - 1}.${m[3] === 'proj' ? 'downsample.' : ''}`;
}
const CONV: Record<string, string> = { a: 'conv1', b: 'conv2', c: 'conv3', proj: '0', stem: 'conv1' };
const BN: Record<string, string> = { a: 'bn1', b: 'bn2', c: 'bn3', proj: '1', stem: 'bn1' };

/** OIHW → HWIO; with `sumInputs`, a 3-input stem becomes a 1-input one. */
function oihwToHwio(t: Tensor32, sumInputs: boolean): { data: Float32Array; shape: number[] } {
  const [O, I, kh, kw] = t.shape;
  const In = sumInputs ? 1 : I;
  const out = new Float32Array(kh * kw * In * O);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      for (let h = 0; h < kh; h++) {
        for (let w = 0; w < kw; w++) {
          out[((h * kw + w) * In + (sumInputs ? 0 : i)) * O + o] += t.data[((o * I + i) * kh + h) * kw + w];
        }
      }
    }
  }
  return { data: out, shape: [kh, kw, In, O] };
}

/**
 * Writes a ResNet state dict into `branch` (built for `backbone` with padding 'torch'). `file` names the source in
 * errors. Throws BadDataError before touching any weight when anything does not fit.
 */
export function importResnetStateDict(branch: LayersModel, tensors: Map<string, Tensor32>, backbone: BackboneName, file: string): ImportResult {
  const allKeys = [...tensors.keys()];
  const prefix = keyPrefix(allKeys) ?? '';
  const shapes: Shapes = new Map();
  for (const k of allKeys) shapes.set(prefix ? k.slice(prefix.length) : k, tensors.get(k)!.shape);
  const guess = guessResnet(shapes);
  const width = (branch.getLayer('stem_conv').getWeights()[0].shape[3] ?? 0) / 64;
  if (guess.backbone === undefined) throw new BadDataError(`${file}: the weights are ${guess.description}`);
  if (guess.backbone !== backbone || guess.width !== width) {
    const fix = guess.backbone !== backbone ? `model.backbone "${guess.backbone}"` : '';
    const fixW = guess.width !== width ? `model.width ${guess.width}` : '';
    throw new BadDataError(`${file}: the weights are ${guess.description}, but the model is ${backbone} at width ${width}; set ${[fix, fixW].filter(Boolean).join(' and ')}`);
  }
  if (!branch.layers.some((l) => l.name === 'stem_pad')) {
    throw new Error('importResnetStateDict: the branch was built with TensorFlow padding; pretrained weights need padding "torch"');
  }
  const get = (key: string): Tensor32 => {
    const t = tensors.get(prefix + key);
    if (!t) throw new BadDataError(`${file}: missing key "${prefix}${key}" (expected by our layer for it; the file looks like ${guess.description})`);
    return t;
  };
  const used = new Set<string>();
  const writes: Array<{ layer: string; values: Array<{ data: Float32Array; shape: number[] }> }> = [];
  for (const layer of branch.layers) {
    const m = /^(.*)_(conv|bn)$/.exec(layer.name);
    if (!m) continue;
    const module = torchModule(m[1]);
    if (module === undefined) throw new Error(`importResnetStateDict: no PyTorch name for layer ${layer.name}`);
    const part = m[1] === 'stem' ? 'stem' : /_(a|b|c|proj)$/.exec(m[1])![1];
    const ours = layer.getWeights().map((w) => w.shape as number[]);
    let values: Array<{ data: Float32Array; shape: number[] }>;
    if (m[2] === 'conv') {
      const key = `${module}${CONV[part]}.weight`;
      const t = get(key);
      used.add(key);
      const sum = t.shape.length === 4 && ours[0].length === 4 && ours[0][2] === 1 && t.shape[1] === 3 && layer.name === 'stem_conv';
      const shapeOk = t.shape.length === 4 && ours[0].length === 4 && t.shape[0] === ours[0][3] && (sum || t.shape[1] === ours[0][2]) && t.shape[2] === ours[0][0] && t.shape[3] === ours[0][1];
      if (!shapeOk) {
        throw new BadDataError(`${file}: "${prefix}${key}" has shape ${fmt(t.shape)} (OIHW), but our layer ${layer.name} needs ${fmt([ours[0][3], ours[0][2], ours[0][0], ours[0][1]])} (HWIO ${fmt(ours[0])})`);
      }
      values = [oihwToHwio(t, sum)];
    } else {
      values = ['weight', 'bias', 'running_mean', 'running_var'].map((field, i) => {
        const key = `${module}${BN[part]}.${field}`;
        const t = get(key);
        used.add(key);
        if (t.shape.length !== 1 || t.shape[0] !== ours[i][0]) {
          throw new BadDataError(`${file}: "${prefix}${key}" has shape ${fmt(t.shape)}, but our layer ${layer.name} needs ${fmt(ours[i])}`);
        }
        return { data: t.data, shape: t.shape };
      });
    }
    writes.push({ layer: layer.name, values });
  }
  const dropped: string[] = [];
  for (const key of shapes.keys()) {
    if (used.has(key)) continue;
    if (/^fc\.(weight|bias)$/.test(key) || key.endsWith('.num_batches_tracked') || key === 'num_batches_tracked') {
      dropped.push(prefix + key);
      continue;
    }
    throw new BadDataError(`${file}: unexpected key "${prefix}${key}" (shape ${fmt(shapes.get(key)!)}): our ${backbone} has no layer for it`);
  }
  // Everything checked: write.
  for (const w of writes) {
    const ts: Tensor[] = w.values.map((v) => tf.tensor(v.data, v.shape, 'float32'));
    branch.getLayer(w.layer).setWeights(ts);
    tf.dispose(ts);
  }
  return { loaded: used.size, dropped, prefix };
}
