// Our broadcast-based Tile on wasm against the stock cpu kernel, including the BatchNorm-gradient layout.
import test from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend';
import { isOurKernel } from '../../src/engine/kernels/conv-grad';
import { tileLayout } from '../../src/engine/kernels/tile';
import { tf } from '../../src/engine/tf';

const cases: Array<[number[], number[]]> = [
  [[1, 1, 1, 32], [48, 16, 16, 1]], // BN gradient: per-channel stats to N×H×W×C
  [[2, 3], [2, 2]],
  [[3], [4]],
  [[2, 1, 3], [1, 5, 2]],
  [[2, 3, 4, 5], [2, 1, 2, 1]],
  [[2, 2, 2, 2], [2, 2, 2, 2]], // 8 merged axes: falls back to the stock kernel
  [[5, 7], [1, 1]],
];

test('tileLayout merges axes of the same kind and drops size-1 axes', () => {
  assert.deepEqual(tileLayout([1, 1, 1, 32], [48, 16, 16, 1]), { out: [12288, 32], xShape: [1, 32] });
  assert.deepEqual(tileLayout([2, 3], [1, 1]), { out: [6], xShape: [6] });
  assert.equal(tileLayout([2, 2, 2, 2], [2, 2, 2, 2]), undefined);
});

test('Tile on wasm (ours) equals Tile on cpu (stock)', async () => {
  const inputs = cases.map(([shape]) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 1.7) * 3));
  await tf.setBackend('cpu');
  const expected = cases.map(([shape, reps], i) => tf.tile(tf.tensor(inputs[i], shape), reps).dataSync().slice());
  await initBackend('wasm');
  assert.ok(isOurKernel(tf, 'Tile'), 'our Tile is registered on wasm');
  cases.forEach(([shape, reps], i) => {
    const before = tf.memory().numTensors;
    const x = tf.tensor(inputs[i], shape);
    const y = tf.tile(x, reps);
    assert.deepEqual(y.shape, shape.map((d, k) => d * reps[k]));
    assert.deepEqual(Array.from(y.dataSync()), Array.from(expected[i]), `case ${i}: ${shape} × ${reps}`);
    tf.dispose([x, y]);
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  });
});
