// Trains N steps of a ResNet-18 branch from a fixed initialisation on one named backend and writes what a parity
// check compares: the losses, the final weights and the embeddings of the trained model on a fixed batch.
// Run one process per backend (mixing backends in one process is fragile):
//
//   node --import tsx test/gpu/parity-driver.ts --backend webgpu --out /tmp/gpu [--steps 10] [--triplets 4]
//        [--size 32] [--width 0.25] [--seed 7]
//
// Writes <out>.json (losses, step times, weight names and sizes, embedding shape, backend detail) and <out>.bin
// (float32: every weight in order, then the embeddings). The same seed gives the same data and initial weights
// (seeded initialisers), whatever the backend. WEBGPU_CPU_FORWARD is off: every op runs on the device.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { NamedTensorMap, Optimizer, Scalar, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { BackendChoice } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { tripletLoss } from '../../src/engine/losses';
import { buildBranch } from '../../src/engine/models';
import { tf } from '../../src/engine/tf';
import { checkModelFits, checkWebGpuHealth } from '../../src/engine/webgpu';

export interface ParityResult {
  backend: string;
  detail: string;
  losses: number[];
  stepMs: number[];
  weights: Array<{ name: string; size: number }>;
  embeddingShape: [number, number];
}

/** Deterministic pixels in [0, 1): a 32-bit LCG, so every process draws the same batch. */
function pixels(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' }, out: { type: 'string' }, steps: { type: 'string', default: '10' },
      triplets: { type: 'string', default: '4' }, size: { type: 'string', default: '32' }, width: { type: 'string', default: '0.25' },
      seed: { type: 'string', default: '7' }, optimizer: { type: 'string', default: 'adam' }, lr: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out <file prefix> is required');
  const steps = Number(values.steps), triplets = Number(values.triplets), size = Number(values.size), width = Number(values.width);
  const seed = Number(values.seed);
  process.env.EMBEDLAB_WEBGPU_CPU_FORWARD ??= '0';
  const info = await initBackend(values.backend as BackendChoice, { selfTest: false });

  const branch = buildBranch({ backbone: 'resnet18', width, embeddingDim: 32, normalize: true, inputShape: [size, size, 3], seed });
  const optimizer: Optimizer = values.optimizer === 'sgd' ? tf.train.sgd(Number(values.lr ?? 0.01))
    : values.optimizer === 'momentum' ? tf.train.momentum(Number(values.lr ?? 0.01), 0.9) : tf.train.adam(Number(values.lr ?? 1e-3));
  const vars = branch.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const nImages = 3 * triplets;
  checkModelFits(branch, nImages, 'a training batch');
  const losses: number[] = [];
  const stepMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const x = tf.tensor4d(pixels(nImages * size * size * 3, seed * 1000 + s), [nImages, size, size, 3]);
    const { value, grads } = tf.variableGrads(() => {
      const e = branch.apply(x, { training: true }) as Tensor2D;
      const [a, p, n] = tf.split(e, 3, 0) as Tensor2D[];
      const out = tripletLoss(a, p, n, 1.0, 'euclidean');
      tf.dispose([out.posDist, out.negDist, out.active]);
      return out.loss as Scalar;
    }, vars);
    x.dispose();
    const loss = (await value.data())[0];
    value.dispose();
    optimizer.applyGradients(grads as NamedTensorMap);
    tf.dispose(Object.values(grads));
    checkWebGpuHealth();
    losses.push(loss);
    stepMs.push(performance.now() - t0);
  }

  const weights = branch.weights.map((w) => ({ name: w.originalName, size: w.shape.reduce<number>((a, b) => a * (b ?? 1), 1) }));
  const parts: Float32Array[] = [];
  for (const w of branch.weights) parts.push((await w.read().data()) as Float32Array);
  const evalX = tf.tensor4d(pixels(8 * size * size * 3, seed * 1000 + 999), [8, size, size, 3]);
  const emb = branch.predict(evalX) as Tensor2D;
  parts.push((await emb.data()) as Float32Array);
  const embeddingShape = emb.shape as [number, number];
  tf.dispose([evalX, emb]);
  checkWebGpuHealth();

  const total = parts.reduce((n, p) => n + p.length, 0);
  const bin = new Float32Array(total);
  let off = 0;
  for (const p of parts) { bin.set(p, off); off += p.length; }
  fs.writeFileSync(`${values.out}.bin`, Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength));
  const result: ParityResult = { backend: info.name, detail: info.detail, losses, stepMs, weights, embeddingShape };
  fs.writeFileSync(`${values.out}.json`, JSON.stringify(result, null, 1));
}

if (require.main === module) {
  main().then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`parity-driver: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit((e as { exitCode?: number }).exitCode ?? 1);
  });
}
