// The registration module for a stock TensorFlow.js: built alone into dist/tfjs-layers.js (no other code of ours
// at run time, no tfjs import), shipped in the package, for loading Embedding Lab models with `tf.loadLayersModel`:
//
//   const tf = require('@tensorflow/tfjs');
//   require('embedding-lab/dist/tfjs-layers.js').registerEmbeddingLabLayers(tf);
//
// A branch exported now is stock layers only (src/engine/tfjs-stock.ts) and needs none of this. The full model's
// distance layer (PairDistance: no stock layer takes a square root) needs it, and so do exports made before the
// stock rewrite (InputConv2D, L2Normalize). The classes are the engine's own (src/engine/layers/custom.ts).
import type * as TF from '@tensorflow/tfjs';
import { registerCustomLayers } from './layers/custom';

const registered = new WeakSet<object>();

/** Registers Embedding Lab's custom layers (PairDistance, L2Normalize, InputConv2D) with this tfjs. Idempotent. */
export function registerEmbeddingLabLayers(tf: typeof TF): void {
  if (registered.has(tf)) return;
  registerCustomLayers(tf);
  registered.add(tf);
}
