// The training-mode batch-norm kernels (src/engine/kernels/batchnorm.ts) and our MaxPoolGrad
// (src/engine/kernels/maxpool-grad.ts): against hand-worked values, finite differences of the loss, and tfjs's
// stock layer and kernels (the BN layer's moments()+batchNorm() path; the cpu backend's MaxPoolGrad).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relError } from '../../src/engine/backend';
import { batchNormTrainBackward, batchNormTrainForward, batchNormTrainAvailable } from '../../src/engine/kernels/batchnorm';
import { customLayers } from '../../src/engine/models';

function rand(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * scale + offset;
  });
}

test('batch-norm forward and backward: a hand-worked 4×2 case', () => {
  // Channel 0: x = 1, 2, 3, 6 → μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5. Channel 1: x = 0, 0, 2, 2 → μ = 1, σ² = 1.
  const x = Float32Array.from([1, 0, 2, 0, 3, 2, 6, 2]);
  const gamma = Float32Array.from([2, 0.5]);
  const beta = Float32Array.from([1, -1]);
  const eps = 0.5; // σ² + ε = 4 and 1.5
  const y = new Float32Array(8), mean = new Float32Array(2), variance = new Float32Array(2), invStd = new Float32Array(2);
  batchNormTrainForward(x, 4, 2, gamma, beta, eps, y, mean, variance, invStd);
  assert.deepEqual([...mean], [3, 1]);
  assert.deepEqual([...variance], [3.5, 1]);
  assert.ok(Math.abs(invStd[0] - 0.5) < 1e-7);
  assert.ok(Math.abs(invStd[1] - 1 / Math.sqrt(1.5)) < 1e-7);
  // Channel 0: y = 2·(x − 3)/2 + 1 = x − 2 → −1, 0, 1, 4.
  const s1 = 1 / Math.sqrt(1.5);
  const want = [-1, -1 - 0.5 * s1, 0, -1 - 0.5 * s1, 1, -1 + 0.5 * s1, 4, -1 + 0.5 * s1];
  want.forEach((w, i) => assert.ok(Math.abs(y[i] - w) < 1e-6, `y[${i}] = ${y[i]}, want ${w}`));
  // Backward with dy = 1 everywhere on channel 0 and dy = x on channel 1:
  // channel 0: dβ = 4, dγ = Σ x̂ = 0, dx = γs(dy − 1 − x̂·0) = 0.
  // channel 1: x̂ = (−1, −1, 1, 1)·s1, dβ = 4, dγ = Σ x·x̂ = 4·s1, dx = γs(dy − dβ/M − x̂·dγ/M) = 0.5·s1·(x − 1 − x̂·s1)
  //   = 0.5·s1·(x − 1)(1 − s1²) → ±0.5·s1·(1 − 1/1.5).
  const dy = Float32Array.from([1, 0, 1, 0, 1, 2, 1, 2]);
  const dx = new Float32Array(8), dg = new Float32Array(2), db = new Float32Array(2);
  batchNormTrainBackward(dy, x, 4, 2, gamma, mean, invStd, dx, dg, db);
  assert.deepEqual([...db], [4, 4]);
  assert.ok(Math.abs(dg[0]) < 1e-6 && Math.abs(dg[1] - 4 * s1) < 1e-6, `dγ = ${[...dg]}`);
  const e = 0.5 * s1 * (1 - 1 / 1.5);
  const wantDx = [0, -e, 0, -e, 0, e, 0, e];
  wantDx.forEach((w, i) => assert.ok(Math.abs(dx[i] - w) < 1e-6, `dx[${i}] = ${dx[i]}, want ${w}`));
});

test('batch-norm backward equals finite differences of the loss Σ w·y', () => {
  const m = 6, c = 3, eps = 1e-3;
  const x = Float64Array.from(rand(m * c, 11, 2, 0.5));
  const gamma = Float64Array.from(rand(c, 12, 1, 1));
  const beta = Float64Array.from(rand(c, 13));
  const w = Float64Array.from(rand(m * c, 14));
  // The loss in float64, written independently of the kernel.
  const loss = (xv: Float64Array, g: Float64Array, b: Float64Array): number => {
    let l = 0;
    for (let k = 0; k < c; k++) {
      let mu = 0;
      for (let r = 0; r < m; r++) mu += xv[r * c + k] / m;
      let v = 0;
      for (let r = 0; r < m; r++) v += (xv[r * c + k] - mu) ** 2 / m;
      for (let r = 0; r < m; r++) l += w[r * c + k] * (g[k] * (xv[r * c + k] - mu) / Math.sqrt(v + eps) + b[k]);
    }
    return l;
  };
  const f32 = (a: Float64Array) => Float32Array.from(a);
  const y = new Float32Array(m * c), mean = new Float32Array(c), variance = new Float32Array(c), invStd = new Float32Array(c);
  batchNormTrainForward(f32(x), m, c, f32(gamma), f32(beta), eps, y, mean, variance, invStd);
  const dx = new Float32Array(m * c), dg = new Float32Array(c), db = new Float32Array(c);
  batchNormTrainBackward(f32(w), f32(x), m, c, f32(gamma), mean, invStd, dx, dg, db);
  const h = 1e-5;
  const numeric = (arr: Float64Array, i: number, which: 'x' | 'g' | 'b'): number => {
    const plus = Float64Array.from(arr), minus = Float64Array.from(arr);
    plus[i] += h; minus[i] -= h;
    const args = (a: Float64Array): [Float64Array, Float64Array, Float64Array] =>
      which === 'x' ? [a, gamma, beta] : which === 'g' ? [x, a, beta] : [x, gamma, a];
    return (loss(...args(plus)) - loss(...args(minus))) / (2 * h);
  };
  for (let i = 0; i < m * c; i++) assert.ok(Math.abs(dx[i] - numeric(x, i, 'x')) < 2e-4, `dx[${i}] ${dx[i]} vs ${numeric(x, i, 'x')}`);
  for (let k = 0; k < c; k++) {
    assert.ok(Math.abs(dg[k] - numeric(gamma, k, 'g')) < 2e-4, `dγ[${k}]`);
    assert.ok(Math.abs(db[k] - numeric(beta, k, 'b')) < 2e-4, `dβ[${k}]`);
  }
});

test('the training BN layer on wasm equals the stock tf.layers BatchNormalization: output, gradients, moving statistics', async () => {
  await initBackend('wasm');
  assert.ok(batchNormTrainAvailable(tf), 'the wasm backend registers the batch-norm kernels');
  for (const shape of [[5, 7, 6, 4], [96, 8, 8, 16]] as [number, number, number, number][]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const c = shape[3];
    const x = tf.tensor4d(rand(n, 21, 3, 0.7), shape);
    const w = tf.tensor4d(rand(n, 22), shape);
    const ours = new (customLayers(tf).BatchNorm)({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: 'ours' });
    const stock = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: 'stock' });
    ours.apply(x); stock.apply(x); // build
    const weights = [tf.tensor1d(rand(c, 23, 0.5, 1)), tf.tensor1d(rand(c, 24)), tf.tensor1d(rand(c, 25)), tf.tensor1d(rand(c, 26, 0.2, 1))];
    ours.setWeights(weights);
    stock.setWeights(weights);
    const run = (layer: tf.layers.Layer) => {
      const vars = layer.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
      const f = (xi: tf.Tensor) => tf.sum(tf.mul(layer.apply(xi, { training: true }) as tf.Tensor, w));
      const y = tf.tidy(() => layer.apply(x, { training: true }) as tf.Tensor).dataSync();
      const dx = tf.grad(f)(x).dataSync();
      const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, vars);
      const g = vars.map((v) => grads[v.name].dataSync());
      const moving = layer.getWeights().slice(2).map((t) => t.dataSync());
      return { y, dx, g, moving };
    };
    const a = run(ours), b = run(stock);
    assert.ok(relError(a.y, b.y) < 1e-5, `y ${relError(a.y, b.y)}`);
    assert.ok(relError(a.dx, b.dx) < 1e-4, `dx ${relError(a.dx, b.dx)}`);
    a.g.forEach((g, i) => assert.ok(relError(g, b.g[i]) < 1e-4, `d${i === 0 ? 'γ' : 'β'} ${relError(g, b.g[i])}`));
    // Four training applications each (y, grad, variableGrads evaluate the layer): the moving averages moved alike.
    a.moving.forEach((mv, i) => assert.ok(relError(mv, b.moving[i]) < 1e-5, `moving ${i} ${relError(mv, b.moving[i])}`));
    assert.ok(relError(a.moving[0], weights[2].dataSync()) > 1e-3, 'the moving mean was updated');
  }
});

test('MaxPoolGrad on wasm (ours) equals the cpu backend\'s, ties included', async () => {
  const cases: { shape: [number, number, number, number]; f: number; s: number; pad: 'same' | 'valid' }[] = [
    { shape: [3, 9, 9, 4], f: 3, s: 2, pad: 'same' },
    { shape: [2, 8, 7, 3], f: 3, s: 2, pad: 'valid' },
    { shape: [2, 6, 6, 2], f: 2, s: 2, pad: 'valid' },
    { shape: [2, 7, 5, 3], f: 3, s: 1, pad: 'same' },
    { shape: [4, 16, 16, 8], f: 3, s: 2, pad: 'same' },
  ];
  const grads = async (backend: string) => {
    await initBackend(backend as 'wasm' | 'cpu');
    return cases.map(({ shape, f, s, pad }, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      // relu(x) has many exact zeros: the windows that are all zero test the tie rule.
      const x = tf.relu(tf.tensor4d(rand(n, 31 + i), shape));
      const w = tf.tensor(rand(tf.maxPool(x, f, s, pad).size, 41 + i));
      const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.maxPool(xi as tf.Tensor4D, f, s, pad), [-1]), w)))(x);
      return g.dataSync();
    });
  };
  const cpu = await grads('cpu');
  const wasm = await grads('wasm');
  cases.forEach((c, i) => {
    // The same positions receive gradient (the routing, ties included); sums of several windows may round apart.
    assert.deepEqual(wasm[i].map((v) => (v !== 0 ? 1 : 0)), cpu[i].map((v) => (v !== 0 ? 1 : 0)), `routing ${JSON.stringify(c)}`);
    assert.ok(relError(wasm[i], cpu[i]) < 1e-6, `values ${JSON.stringify(c)}: ${relError(wasm[i], cpu[i])}`);
  });
});

test('ReLU gradient on wasm (one kernel) equals the cpu backend\'s stock mul(dy, step(x)), zeros and NaN included', async () => {
  const xs = Float32Array.from([...rand(200, 51, 2), 0, -0, NaN, 1e-30, -1e-30, Infinity, -Infinity]);
  const dys = Float32Array.from([...rand(200, 52, 3), 5, 6, 7, 8, 9, 10, 11]);
  const grads = async (backend: 'wasm' | 'cpu') => {
    await initBackend(backend);
    const x = tf.tensor1d(xs), dy = tf.tensor1d(dys);
    const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.relu(xi), dy)))(x);
    return dx.dataSync();
  };
  const cpu = await grads('cpu');
  const wasm = await grads('wasm');
  assert.equal(tf.getKernel('EmbedLabReluGrad', 'wasm') != null, true);
  assert.deepEqual([...wasm].map(String), [...cpu].map(String));
});

test('the WebAssembly SIMD batch-norm passes equal the JavaScript kernels (forward and backward)', async () => {
  await initBackend('wasm');
  const { simdKernels } = await import('../../src/engine/kernels/simd');
  assert.ok(simdKernels(tf.backend()), 'SIMD kernels bound to the wasm backend memory');
  for (const shape of [[7, 5, 3, 8], [96, 4, 4, 64]] as [number, number, number, number][]) {
    const n = shape.reduce((a, b) => a * b, 1), c = shape[3], m = n / c;
    const xv = rand(n, 61, 3, 0.4), dyv = rand(n, 62), gv = rand(c, 63, 0.5, 1), bv = rand(c, 64);
    const [y, mean, variance, invStd] = tf.engine().runKernel('EmbedLabBatchNormTrain',
      { x: tf.tensor(xv, shape), gamma: tf.tensor1d(gv), beta: tf.tensor1d(bv) }, { epsilon: 1e-5 } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    const ry = new Float32Array(n), rm = new Float32Array(c), rv = new Float32Array(c), rs = new Float32Array(c);
    batchNormTrainForward(xv, m, c, gv, bv, 1e-5, ry, rm, rv, rs);
    assert.ok(relError(y.dataSync(), ry) < 1e-5, `y ${relError(y.dataSync(), ry)}`);
    assert.ok(relError(mean.dataSync(), rm) < 1e-6 && relError(variance.dataSync(), rv) < 1e-5 && relError(invStd.dataSync(), rs) < 1e-5);
    const [dx, dg, db] = tf.engine().runKernel('EmbedLabBatchNormTrainGrad',
      { dy: tf.tensor(dyv, shape), x: tf.tensor(xv, shape), gamma: tf.tensor1d(gv), mean, invStd }, {}) as tf.Tensor[];
    const rdx = new Float32Array(n), rdg = new Float32Array(c), rdb = new Float32Array(c);
    batchNormTrainBackward(dyv, xv, m, c, gv, rm, rs, rdx, rdg, rdb);
    assert.ok(relError(dx.dataSync(), rdx) < 1e-5, `dx ${relError(dx.dataSync(), rdx)}`);
    assert.ok(relError(dg.dataSync(), rdg) < 1e-5 && relError(db.dataSync(), rdb) < 1e-5);
  }
});
