// Our conv-gradient kernels on wasm (src/engine/kernels/conv-grad.ts) against tfjs's stock `cpu` kernels.
//
// Error measure everywhere: relError(a, ref) = max|a − ref| / max(1, max|ref|)  (src/engine/backend.ts).
// Inputs are deterministic pseudo-random values in [−1, 1); every comparison reads real kernel outputs.
// `EMBEDLAB_BENCH=1` additionally runs a micro-benchmark (stock vs ours) on ResNet-like shapes.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relError } from '../../src/engine/backend';
import {
  conv2DBackpropFilterViaConv, conv2DBackpropInputViaConv, isOurKernel, registerWasmGradKernels, unregisterWasmGradKernels,
  type ConvPad,
} from '../../src/engine/kernels/conv-grad';

type Shape4 = [number, number, number, number];

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

interface Case { x: Shape4; f: Shape4; s: number | [number, number]; pad: ConvPad }
const CASES: Case[] = [
  { x: [2, 9, 7, 3], f: [1, 1, 3, 4], s: 1, pad: 'valid' },
  { x: [2, 9, 7, 3], f: [1, 1, 3, 4], s: 2, pad: 'same' },
  { x: [2, 9, 7, 3], f: [2, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 9, 7, 3], f: [2, 3, 3, 4], s: 2, pad: 'valid' },
  { x: [3, 11, 11, 4], f: [3, 3, 4, 5], s: 1, pad: 'same' },
  { x: [3, 11, 11, 4], f: [3, 3, 4, 5], s: 2, pad: 'same' },
  { x: [3, 10, 12, 4], f: [3, 3, 4, 5], s: 2, pad: 'valid' },
  { x: [2, 13, 9, 3], f: [5, 5, 3, 6], s: 1, pad: 'valid' },
  { x: [2, 13, 9, 3], f: [5, 5, 3, 6], s: 2, pad: 'same' },
  { x: [2, 15, 17, 3], f: [7, 7, 3, 8], s: 2, pad: 'same' },
  { x: [2, 15, 17, 3], f: [7, 7, 3, 8], s: 1, pad: 'valid' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 2], s: [2, 1], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { x: [2, 10, 10, 3], f: [3, 3, 3, 2], s: 3, pad: 1 },
  // Phase decomposition of dX (and the 1×1 paths): strides 1/2/3, mixed strides, odd sizes, non-square kernels.
  { x: [2, 11, 13, 3], f: [3, 3, 3, 4], s: 3, pad: 'same' },
  { x: [2, 11, 13, 3], f: [5, 2, 3, 4], s: 3, pad: 'valid' },
  { x: [2, 12, 9, 2], f: [7, 7, 2, 3], s: 3, pad: 'same' },
  { x: [2, 9, 11, 3], f: [4, 2, 3, 4], s: [2, 3], pad: 'same' },
  { x: [2, 9, 11, 3], f: [3, 5, 3, 4], s: [3, 2], pad: [[0, 0], [0, 4], [3, 1], [0, 0]] },
  { x: [1, 8, 8, 3], f: [3, 3, 3, 2], s: 2, pad: [[0, 0], [4, 4], [0, 5], [0, 0]] },
  { x: [2, 16, 16, 5], f: [7, 7, 5, 4], s: 2, pad: 'same' },
  { x: [2, 8, 8, 4], f: [4, 4, 4, 3], s: 2, pad: 'same' },
  { x: [2, 7, 7, 4], f: [2, 2, 4, 3], s: 2, pad: 'valid' },
  { x: [2, 9, 7, 3], f: [1, 1, 3, 4], s: 3, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [1, 1, 3, 4], s: 2, pad: 'valid' },
  { x: [2, 9, 7, 3], f: [1, 1, 3, 4], s: [1, 2], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  { x: [2, 6, 6, 3], f: [1, 1, 3, 4], s: 1, pad: 'same' },
  { x: [2, 5, 5, 3], f: [3, 3, 3, 4], s: 1, pad: [[0, 0], [3, 0], [0, 2], [0, 0]] },
];

/** Runs both stock gradient kernels (whatever `backend` has registered) on one case; returns [dW, dX]. */
async function gradsOn(backend: string, c: Case): Promise<[Float32Array, Float32Array]> {
  assert.ok(await tf.setBackend(backend));
  const [dW, dX] = tf.tidy(() => {
    const x = tf.tensor4d(rand(size(c.x), 1), c.x);
    const f = tf.tensor4d(rand(size(c.f), 2), c.f);
    const yShape = tf.conv2d(x, f, c.s, c.pad).shape;
    const dy = tf.tensor4d(rand(size(yShape), 3), yShape);
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f, inputShape: c.x };
    return [
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, attrs as never) as tf.Tensor,
    ];
  });
  const out: [Float32Array, Float32Array] = [dW.dataSync() as Float32Array, dX.dataSync() as Float32Array];
  assert.deepEqual(dW.shape, c.f);
  assert.deepEqual(dX.shape, c.x);
  tf.dispose([dW, dX]);
  return out;
}

test('setup: wasm starts with our conv-gradient kernels', async () => {
  const info = await initBackend('wasm', { selfTest: false });
  assert.equal(info.name, 'wasm');
  assert.ok(isOurKernel(tf, 'Conv2DBackpropFilter'), 'our Conv2DBackpropFilter is registered for wasm');
  assert.ok(isOurKernel(tf, 'Conv2DBackpropInput'), 'our Conv2DBackpropInput replaced the stock one');
  assert.ok(!isOurKernel(tf, 'Conv2DBackpropFilter', 'cpu'), 'cpu keeps its stock kernels (the reference)');
  assert.deepEqual(registerWasmGradKernels(tf), [], 'registering again is a no-op');
});

for (const c of CASES) {
  const name = `x ${c.x.join('×')}, filter ${c.f.slice(0, 2).join('×')}, stride ${c.s}, pad ${JSON.stringify(c.pad)}`;
  test(`wasm kernels match stock cpu: ${name}`, async () => {
    const [refW, refX] = await gradsOn('cpu', c);
    const [ourW, ourX] = await gradsOn('wasm', c);
    const eW = relError(ourW, refW), eX = relError(ourX, refX);
    assert.ok(eW < 1e-5, `Conv2DBackpropFilter relative error ${eW}`);
    assert.ok(eX < 1e-5, `Conv2DBackpropInput relative error ${eX}`);
    // The comparison is not vacuous: the gradients are non-trivial.
    assert.ok(refW.some((v) => Math.abs(v) > 1e-3) && refX.some((v) => Math.abs(v) > 1e-3));
  });
}

test('kernels detect a wrong answer (the comparison can fail)', async () => {
  const c = CASES[5];
  const [refW] = await gradsOn('cpu', c);
  assert.ok(await tf.setBackend('wasm'));
  // The wrong stride gives a same-shaped but different dW.
  const wrong = tf.tidy(() => {
    const x = tf.tensor4d(rand(size(c.x), 1), c.x);
    const y = tf.conv2d(x, tf.zeros(c.f) as tf.Tensor4D, c.s, c.pad);
    const dy = tf.tensor4d(rand(y.size, 3), y.shape);
    return conv2DBackpropFilterViaConv(tf, tf.reverse(x, 1), dy, c.f, c.s, c.pad).dataSync();
  });
  assert.ok(relError(wrong, refW) > 1e-2);
});

test('no tensor leak per kernel call on wasm', async () => {
  assert.ok(await tf.setBackend('wasm'));
  for (const c of [CASES[9], CASES[1], CASES[16], CASES[26]]) {
    await gradsOn('wasm', c);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await gradsOn('wasm', c);
    assert.equal(tf.memory().numTensors, before, `no leak for ${JSON.stringify(c)}`);
  }
});

/** conv(3×3/1)→BN→relu→maxPool→conv(3×3/2)→relu→GAP→dense, training-mode BN; returns each gradient's values. */
function modelGrads(seed: number): { loss: number; grads: Record<string, Float32Array> } {
  // Inside a tidy so that the initial values are released (variables survive a tidy).
  const vars = tf.tidy(() => ({
    w1: tf.variable(tf.mul(tf.tensor4d(rand(3 * 3 * 3 * 8, seed), [3, 3, 3, 8]), 0.3) as tf.Tensor4D),
    gamma: tf.variable(tf.ones([8])),
    beta: tf.variable(tf.zeros([8])),
    w2: tf.variable(tf.mul(tf.tensor4d(rand(3 * 3 * 8 * 6, seed + 1), [3, 3, 8, 6]), 0.2) as tf.Tensor4D),
    wd: tf.variable(tf.tensor2d(rand(6 * 4, seed + 2), [6, 4])),
    bd: tf.variable(tf.zeros([4])),
  }));
  const x = tf.tensor4d(rand(4 * 13 * 11 * 3, seed + 3), [4, 13, 11, 3]);
  const target = tf.tensor2d(rand(4 * 4, seed + 4), [4, 4]);
  const { value, grads } = tf.variableGrads(() => {
    let h: tf.Tensor4D = tf.conv2d(x, vars.w1, 1, 'same');
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.batchNorm(h, mean, variance, vars.beta, vars.gamma, 1e-3) as tf.Tensor4D;
    h = tf.maxPool(tf.relu(h), 2, 2, 'same');
    h = tf.relu(tf.conv2d(h, vars.w2, 2, 'same'));
    const g = tf.mean(h, [1, 2]) as tf.Tensor2D;
    const out = tf.add(tf.matMul(g, vars.wd), vars.bd);
    return tf.mean(tf.square(tf.sub(out, target))) as tf.Scalar;
  });
  const result = {
    loss: value.dataSync()[0],
    grads: Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, t.dataSync() as Float32Array])),
  };
  // Map variable names back to our keys.
  const byName = new Map(Object.entries(vars).map(([k, v]) => [v.name, k]));
  result.grads = Object.fromEntries(Object.entries(result.grads).map(([n, a]) => [byName.get(n) ?? n, a]));
  tf.dispose([value, x, target, ...Object.values(grads), ...Object.values(vars)]);
  return result;
}

test('variableGrads through conv→BN→relu→maxPool→conv/2→GAP→dense: wasm matches cpu, no leak', async () => {
  assert.ok(await tf.setBackend('cpu'));
  const ref = modelGrads(7);
  assert.ok(await tf.setBackend('wasm'));
  const first = modelGrads(7);
  assert.deepEqual(Object.keys(first.grads).sort(), ['bd', 'beta', 'gamma', 'w1', 'w2', 'wd']);
  assert.ok(Math.abs(first.loss - ref.loss) <= 1e-4 * Math.max(1, Math.abs(ref.loss)));
  for (const k of Object.keys(ref.grads)) {
    const e = relError(first.grads[k], ref.grads[k]);
    assert.ok(e < 1e-4, `gradient of ${k}: relative error ${e}`);
    assert.ok(ref.grads[k].some((v) => v !== 0), `gradient of ${k} is non-zero`);
  }
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) modelGrads(7);
  assert.equal(tf.memory().numTensors, before, 'numTensors is stable across 3 variableGrads calls');
});

// Micro-benchmark (opt-in): median of 5 runs after one warm-up; prints stock vs ours.
test('benchmark: stock vs ours on ResNet-like shapes', { skip: !process.env.EMBEDLAB_BENCH }, async () => {
  await initBackend('wasm', { selfTest: false });
  const median = (a: number[]): number => a.slice().sort((p, q) => p - q)[a.length >> 1];
  const time = (f: () => tf.Tensor, reps = 5): number => {
    const t: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      const r = f();
      r.dataSync();
      t.push(performance.now() - t0);
      r.dispose();
    }
    return median(t.slice(1));
  };
  const shapes: Array<[string, Shape4, Shape4, number]> = [
    ['3×3/1 96×16×16×32→32', [96, 16, 16, 32], [3, 3, 32, 32], 1],
    ['3×3/2 96×16×16×32→32', [96, 16, 16, 32], [3, 3, 32, 32], 2],
    ['1×1/2 96×16×16×32→64', [96, 16, 16, 32], [1, 1, 32, 64], 2],
    ['7×7/2 96×64×64×3→16 ', [96, 64, 64, 3], [7, 7, 3, 16], 2],
  ];
  for (const [name, xs, fs, s] of shapes) {
    const x = tf.randomNormal(xs) as tf.Tensor4D, f = tf.randomNormal(fs) as tf.Tensor4D;
    const y = tf.conv2d(x, f, s, 'same');
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC', inputShape: xs } as never;
    unregisterWasmGradKernels(tf);
    const stockDx = time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, attrs) as tf.Tensor);
    registerWasmGradKernels(tf);
    const oursDx = time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, attrs) as tf.Tensor);
    const oursDw = time(() => conv2DBackpropFilterViaConv(tf, x, dy, fs, s, 'same'));
    const fwd = time(() => tf.conv2d(x, f, s, 'same'));
    const directDx = time(() => conv2DBackpropInputViaConv(tf, xs, dy, f, s, 'same'));
    console.log(`${name}: forward ${fwd.toFixed(1)} ms | dX stock ${stockDx.toFixed(1)} ours ${oursDx.toFixed(1)} (${directDx.toFixed(1)})`
      + ` | dW ours ${oursDw.toFixed(1)} (stock wasm: none)`);
    tf.dispose([x, f, y, dy]);
  }
});
