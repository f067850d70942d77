// The engine's custom layers, defined once per tfjs instance and registered for (de)serialisation: the three of
// custom.ts (shared with the stand-alone registration module, tfjs-layers.ts) and the training batch norm.
import type * as TF from '@tensorflow/tfjs';
import { tf } from '../tf';
import { registerCustomLayers, type CustomLayerClasses } from './custom';
import { defineTrainBatchNorm, type BatchNormClass } from './train-batchnorm';

export type { InputConvArgs, PairDistanceName } from './custom';
export type { BatchNormArgs } from './train-batchnorm';

export interface CustomLayers extends CustomLayerClasses {
  BatchNorm: BatchNormClass;
}

const customByTf = new WeakMap<object, CustomLayers>();

/** Our custom layers, defined against the tfjs instance in use and registered for (de)serialisation. */
export function customLayers(t: typeof TF = tf): CustomLayers {
  const known = customByTf.get(t);
  if (known) return known;
  const layers: CustomLayers = { ...registerCustomLayers(t), BatchNorm: defineTrainBatchNorm(t) };
  customByTf.set(t, layers);
  return layers;
}
