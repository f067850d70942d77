// The experiment config (`*.embedding.json`) after validation: every default filled in and every path absolute.
// The JSON Schema in schemas/embedding.schema.json describes the file as written by users; core/config.ts
// validates against it and resolves it into this shape.

import type { LossType } from '../protocol/events';

export type DistanceName = 'euclidean' | 'squared-euclidean' | 'cosine';
export type MiningName = 'none' | 'batch-all' | 'batch-hard' | 'semi-hard';
/** The backbones are listed once, in core/backbones.ts (their builders under src/engine/backbones/). */
export type { BackboneName } from './backbones';
import type { BackboneName } from './backbones';
/** After global average pooling: nothing (the pooled features are the embedding), one dense layer, or an MLP. */
export type HeadSpec = 'none' | 'dense' | number[];
export type FreezeMode = 'none' | 'backbone' | 'bn';
export type FitMode = 'cover' | 'contain';
/** The channel statistics a network was trained with, for pixels in [0, 1]: out = (v − mean) / std (1 or 3 values). */
export interface NormalizeStats { mean: number[]; std: number[] }
/** A named pixel scaling, or the mean/std of the pretrained network (e.g. CLIP's, from timm's config.json). */
export type NormalizeMode = 'imagenet' | 'zero-one' | 'minus-one-one' | NormalizeStats;
export type BackendChoice = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'tensorflow-gpu' | 'webgpu';
export type FlipMode = 'none' | 'horizontal' | 'vertical' | 'both';

export interface AugmentConfig {
  /** Random flips. */
  flip: FlipMode;
  /** Smallest side fraction of a random crop that is scaled back to imageSize; 1 turns cropping off. */
  minCropScale: number;
  /** Brightness jitter: a random offset in [-b, b] on the 0..1 pixel scale; 0 turns it off. */
  brightness: number;
  /** Contrast jitter: a random factor in [1-c, 1+c]; 0 turns it off. */
  contrast: number;
}

export interface DataConfig {
  train: string; // absolute
  validation?: string; // absolute
  labelLevel: number;
  imageSize: [number, number]; // [height, width]
  channels: 1 | 3;
  fit: FitMode;
  normalize: NormalizeMode;
  samplesPerEpoch: number;
  positiveRatio: number; // contrastive pairs: share of similar pairs
  augment: AugmentConfig | null; // null = no augmentation
  cacheMB: number;
  decodeConcurrency: number;
  validationLimit: number; // most images embedded for per-epoch validation
}

export interface ModelConfig {
  backbone: BackboneName;
  width: number;
  /** The embedding's length; with head "none" the backbone's feature width, with an MLP head its last width. */
  embeddingDim: number;
  normalize: boolean;
  /** Default "dense" (Dense(embeddingDim)); an array lists every layer's width, the last being embeddingDim. */
  head?: HeadSpec;
  /** Weights to start from: an absolute .safetensors path, or a hub id (`hf:owner/repo`). Unset: from scratch. */
  pretrained?: string;
  /** What training leaves fixed (default "none"). */
  freeze?: FreezeMode;
}

export interface LossConfig {
  type: LossType;
  margin: number;
  /** Quartet only: the second margin (m2 in Chen et al., 2017). */
  margin2: number;
  distance: DistanceName;
  mining: MiningName;
}

export interface OptimizerConfig {
  type: 'adam' | 'sgd' | 'momentum' | 'rmsprop';
  learningRate: number;
  momentum: number;
}

export interface TrainingConfig {
  epochs: number;
  batchSize: number; // tuples per step (pairs, triplets or quartets); for mining: images per step = P×K
  classesPerBatch: number; // P, online mining only
  imagesPerClass: number; // K, online mining only
  /** Neither classesPerBatch nor batchSize was given: the trainer lowers P to the classes the data has (fitClassesPerBatch). */
  classesPerBatchAuto?: boolean;
  optimizer: OptimizerConfig;
  seed: number;
  backend: BackendChoice;
  checkpointEverySteps: number; // 0 = at epoch ends only
  /** The backbone's learning rate as a multiple of optimizer.learningRate (the head's); unset = 1. */
  backboneLearningRate?: number;
}

export interface ExperimentConfig {
  name: string;
  data: DataConfig;
  model: ModelConfig;
  loss: LossConfig;
  training: TrainingConfig;
}

export interface ConfigIssue {
  /** Field path such as `data.imageSize[0]` or `loss.type`. */
  path: string;
  message: string;
  /** 1-based position in the file, when known (JSON syntax errors). */
  line?: number;
  column?: number;
}
