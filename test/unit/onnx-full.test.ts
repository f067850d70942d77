// The full model's ONNX graph (src/engine/onnx-full.ts) on ONNX Runtime against the TensorFlow.js full model
// (models.ts buildFullModel) on the same random images: 2, 3 and 4 streams × the three distances, on a ResNet with
// BatchNorm statistics perturbed (so that inference BN is not the identity) and on the convnet; every distance
// within 1e-5. Also: the graph's names are the tfjs model's, and a stream count the graph does not have is refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { DistanceName } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { fullOnnxBytes } from '../../src/engine/export';
import { buildBranch, buildFullModel } from '../../src/engine/models';
import { createFullOrtSession, fullInputNames, fullOutputNames, fullToOnnxGraph } from '../../src/engine/onnx-full';
import { artifactsOf } from '../../src/engine/export';
import { loadOrt } from '../../src/engine/onnx-runtime';
import { tf } from '../../src/engine/tf';

const ort = loadOrt();
const needOrt = ort.ok ? {} : { skip: `onnxruntime-node is not available: ${ort.ok ? '' : ort.reason}` };

test.before(async () => { await initBackend('wasm'); });

function perturbBatchNorm(branch: LayersModel, seed: number): void {
  for (const w of branch.weights) {
    const shape = w.shape as number[];
    if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.3, 0.3, 'float32', seed));
    if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.3, 2, 'float32', seed + 1));
    if (/gamma/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + 2));
    if (/beta/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.2, 0.2, 'float32', seed + 3));
  }
}

function randomImages(n: number, shape: [number, number, number], seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < out.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s / 2 ** 32 * 2 - 1; }
  return out;
}

const cases: Array<{ backbone: 'resnet18' | 'convnet'; streams: 2 | 3 | 4; distance: DistanceName; normalize: boolean }> = [
  { backbone: 'resnet18', streams: 3, distance: 'euclidean', normalize: true },
  { backbone: 'resnet18', streams: 4, distance: 'squared-euclidean', normalize: false },
  { backbone: 'resnet18', streams: 2, distance: 'cosine', normalize: false },
  { backbone: 'convnet', streams: 2, distance: 'euclidean', normalize: true },
  { backbone: 'convnet', streams: 3, distance: 'cosine', normalize: true },
  { backbone: 'convnet', streams: 4, distance: 'euclidean', normalize: false },
];

for (const c of cases) {
  test(`full model ONNX = tfjs (${c.backbone}, ${c.streams} streams, ${c.distance}, normalize ${c.normalize}) within 1e-5`, needOrt, async () => {
    const shape: [number, number, number] = [36, 28, 3];
    const branch = buildBranch({ backbone: c.backbone, width: 0.25, embeddingDim: 12, normalize: c.normalize, inputShape: shape, seed: 5 });
    perturbBatchNorm(branch, 31);
    const full = buildFullModel(branch, c.streams, c.distance);
    try {
      assert.deepEqual(full.inputNames, fullInputNames(c.streams), 'the ONNX inputs are named as the tfjs model\'s');
      assert.deepEqual(full.outputNames, fullOutputNames(c.streams), 'the ONNX outputs are named as the tfjs model\'s');
      const n = 5;
      const xs = Array.from({ length: c.streams }, (_, s) => randomImages(n, shape, 100 + s));
      const want = tf.tidy(() => {
        const y = full.predict(xs.map((x) => tf.tensor4d(x, [n, ...shape]))) as Tensor | Tensor[];
        return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array); // one output: a tensor, not an array
      });
      const session = await createFullOrtSession(await fullOnnxBytes(branch, c.streams, c.distance), c.streams, shape);
      let got: Float32Array[];
      try { got = await session.run(xs, n); } finally { await session.release(); }
      assert.equal(got.length, want.length);
      for (let o = 0; o < want.length; o++) {
        assert.equal(got[o].length, n);
        let m = 0;
        for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(got[o][i] - want[o][i]));
        assert.ok(m <= 1e-5, `${full.outputNames[o]}: max |ONNX − tfjs| = ${m}`);
        // Not a degenerate comparison: the distances differ from row to row.
        assert.ok(Math.max(...want[o]) - Math.min(...want[o]) > 1e-4, `${full.outputNames[o]} varies over the rows: ${Array.from(want[o])}`);
      }
    } finally {
      branch.dispose();
    }
  });
}

test('one branch run over the concatenated streams: the weights are stored once, whatever the stream count', async () => {
  const branch = buildBranch({ backbone: 'convnet', width: 0.25, embeddingDim: 8, normalize: true, inputShape: [16, 16, 3], seed: 2 });
  try {
    const art = await artifactsOf(branch);
    const weightFloats = art.weightData.byteLength / 4;
    for (const streams of [2, 3, 4] as const) {
      const g = fullToOnnxGraph(art, streams, 'euclidean');
      const stored = g.initializers.reduce((s, t) => s + t.data.length, 0);
      // Our constants (an epsilon) on top of the branch's (BN folded into the conv biases: at most as many floats).
      assert.ok(stored <= weightFloats + 1, `${streams} streams: ${stored} floats stored for a branch of ${weightFloats}`);
      assert.deepEqual(g.inputs.map((i) => [i.name, i.dims]), fullInputNames(streams).map((nm) => [nm, ['N', 16, 16, 3]]));
      assert.deepEqual(g.outputs.map((o) => [o.name, o.dims]), fullOutputNames(streams).map((nm) => [nm, ['N', 1]]));
    }
    assert.throws(() => fullToOnnxGraph(art, 5 as never, 'euclidean'), /2, 3 or 4 streams/);
    assert.throws(() => fullToOnnxGraph(art, 3, 'manhattan' as never), /unknown distance/);
  } finally {
    branch.dispose();
  }
});
