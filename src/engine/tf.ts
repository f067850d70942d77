// The TensorFlow.js module holder.
//
// Engine code must not assume that the tfjs instance it runs on is the `@tensorflow/tfjs` from our own
// node_modules: a native backend (`@tensorflow/tfjs-node` / `-gpu`) that the user installed into another
// folder brings its own copy of tfjs-core, and tensors, kernels and backends of one copy are invisible to the
// other. backend.ts therefore swaps the module here with `useTf()` once it knows which backend runs, and every
// other engine module reads it through this live binding:
//
//   import { tf } from './tf';      // `tf` always names the current module (ES live binding)
//
// The binding stays live in esbuild's CJS bundles and under tsx (both compile the import into a property read
// on the module object at each use); test/unit/backend.test.ts checks this. Code that must not rely on live
// bindings (e.g. it captured `tf` into a local) can call `getTf()` instead.
//
// Never destructure at import time (`const { conv2d } = tf` at module top level): that freezes the default copy.

import * as defaultTf from '@tensorflow/tfjs';

/** The shape of a tfjs module: ours or the one a native backend package re-exports. */
export type TfModule = typeof import('@tensorflow/tfjs');

/** The tfjs module engine code must use. Defaults to our own `@tensorflow/tfjs`. */
export let tf: TfModule = defaultTf;

/** Our bundled `@tensorflow/tfjs` (the one the wasm and cpu backends register with). */
export const bundledTf: TfModule = defaultTf;

/** Makes `m` the tfjs module for all engine code (called by backend.ts). Returns the previous one. */
export function useTf(m: TfModule): TfModule {
  const previous = tf;
  tf = m;
  return previous;
}

/** The current tfjs module; the same as the `tf` binding, for code that prefers a call. */
export function getTf(): TfModule {
  return tf;
}
