// The fused Adam step (src/engine/kernels/adam.ts) against tf.train.adam on the same backend: identical weights and
// optimizer state, bit for bit, over several steps; and its state loads into the stock optimizer and back.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { ADAM_UPDATE, adamUpdateInto, fusedAdam } from '../../src/engine/kernels/adam';

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * scale;
  });
}

type Grads = Parameters<tf.AdamOptimizer['applyGradients']>[0];
const named = (vars: tf.Variable[], grads: tf.Tensor[]): Grads => Object.fromEntries(vars.map((v, i) => [v.name, grads[i]])) as unknown as Grads;

test('adamUpdateInto: one step by hand', () => {
  // m = v = 0, g = 2, t = 1: m' = 0.2, v' = 0.004, m̂ = 2, v̂ = 4, w' = w − lr·2/(2 + ε).
  const out = [new Float32Array(1), new Float32Array(1), new Float32Array(1)];
  adamUpdateInto(Float32Array.of(1), Float32Array.of(0), Float32Array.of(0), Float32Array.of(2), 1,
    { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, oneMinusAccBeta1: Math.fround(1 - 0.9), oneMinusAccBeta2: Math.fround(1 - 0.999) }, out[0], out[1], out[2]);
  assert.ok(Math.abs(out[1][0] - 0.2) < 1e-7);
  assert.ok(Math.abs(out[2][0] - 0.004) < 1e-9);
  assert.ok(Math.abs(out[0][0] - (1 - 0.1 * 2 / (2 + 1e-7))) < 1e-6, `w' = ${out[0][0]}`);
});

test('fused Adam equals tf.train.adam bit for bit on wasm, and shares its state format', async () => {
  await initBackend('wasm');
  assert.ok(tf.getKernel(ADAM_UPDATE, 'wasm'), 'the wasm backend registers the Adam kernel');
  const shapes = [[3, 3, 4, 5], [5], [17, 9], [1]];
  const make = (tag: string) => shapes.map((s, i) => tf.variable(tf.tensor(rand(s.reduce((a, b) => a * b, 1), 10 + i), s), true, `${tag}_${i}`));
  const ours = make('ours'), stock = make('stock');
  const optOurs = fusedAdam(tf, 0.01), optStock = tf.train.adam(0.01);
  assert.equal(optOurs.getClassName(), optStock.getClassName());
  for (let step = 0; step < 6; step++) {
    const grads = shapes.map((s, i) => tf.tensor(rand(s.reduce((a, b) => a * b, 1), 100 * step + i, step === 3 ? 1e-4 : 2), s));
    optOurs.applyGradients(named(ours, grads));
    optStock.applyGradients(named(stock, grads));
    tf.dispose(grads);
    ours.forEach((v, i) => assert.deepEqual(v.dataSync(), stock[i].dataSync(), `step ${step}, variable ${i}`));
  }
  const wo = await optOurs.getWeights(), ws = await optStock.getWeights();
  assert.deepEqual(wo.map((w) => w.name.replace('ours', 'x')), ws.map((w) => w.name.replace('stock', 'x')));
  wo.forEach((w, i) => assert.deepEqual(w.tensor.dataSync(), ws[i].tensor.dataSync(), `state ${w.name}`));
  // The stock optimizer's state loads into ours (a checkpoint written before this kernel resumes the same).
  const resumed = fusedAdam(tf, 0.01);
  await resumed.setWeights(ws.map((w) => ({ name: w.name.replace('stock', 'ours'), tensor: w.tensor })));
  const g = shapes.map((s, i) => tf.tensor(rand(s.reduce((a, b) => a * b, 1), 999 + i), s));
  const copy = ours.map((v, i) => tf.variable(stock[i].clone(), true, `copy_${i}`));
  resumed.applyGradients(named(copy, g));
  optStock.applyGradients(named(stock, g));
  copy.forEach((v, i) => assert.deepEqual(v.dataSync(), stock[i].dataSync(), `resumed variable ${i}`));
});
