// appendHeadToOnnx (src/engine/frozen/onnx-head.ts): a small ONNX "backbone" (Conv + Relu + GlobalAveragePool,
// written by our encoder) with a head appended runs in ONNX Runtime and gives the head's numbers computed here by
// hand from the backbone's own ONNX Runtime features; loadOnnxBackbone (what `embed --model` uses) picks the
// embedding as the one output.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeModel, type OnnxGraph } from '../../src/engine/onnx';
import { loadOrt } from '../../src/engine/onnx-runtime';
import { loadOnnxBackbone } from '../../src/engine/onnx-backbone';
import { appendHeadToOnnx, type HeadLayer } from '../../src/engine/frozen/onnx-head';

let seed = 9;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
const randoms = (n: number) => Float32Array.from({ length: n }, rnd);

function backbone(flatten: boolean): Uint8Array {
  const g: OnnxGraph = {
    name: 'tiny',
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['image', 'w', 'b'], outputs: ['c'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'relu', inputs: ['c'], outputs: ['r'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['r'], outputs: [flatten ? 'g' : 'pooled'] },
      ...(flatten ? [{ op: 'Flatten', name: 'flat', inputs: ['g'], outputs: ['pooled'], attrs: { axis: 1 } }] : []),
    ],
    initializers: [{ name: 'w', dims: [5, 3, 3, 3], data: randoms(5 * 27) }, { name: 'b', dims: [5], data: randoms(5) }],
    inputs: [{ name: 'image', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'pooled', dims: flatten ? ['N', 5] : ['N', 5, 1, 1] }],
  };
  return encodeModel(g);
}

function dense(x: Float32Array, n: number, l: HeadLayer): Float32Array {
  const y = new Float32Array(n * l.units);
  for (let r = 0; r < n; r++) for (let u = 0; u < l.units; u++) {
    let s = l.bias[u];
    for (let k = 0; k < l.inDim; k++) s += x[r * l.inDim + k] * l.kernel[k * l.units + u];
    y[r * l.units + u] = l.relu ? Math.max(0, s) : s;
  }
  return y;
}

test('a head appended to an ONNX backbone gives the head of the backbone\'s features (MLP + L2, and one dense layer)', async () => {
  const load = loadOrt();
  assert.ok(load.ok, load.ok ? '' : load.reason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-onnx-head-'));
  try {
    const n = 3;
    const image = randoms(n * 3 * 8 * 8);
    for (const [flatten, layers, l2] of [
      [false, [{ inDim: 5, units: 6, relu: true, kernel: randoms(30), bias: randoms(6) }, { inDim: 6, units: 4, relu: false, kernel: randoms(24), bias: randoms(4) }], true],
      [true, [{ inDim: 5, units: 4, relu: false, kernel: randoms(20), bias: randoms(4) }], false],
    ] as Array<[boolean, HeadLayer[], boolean]>) {
      const bytes = backbone(flatten);
      const file = path.join(dir, `bb-${flatten}.onnx`);
      fs.writeFileSync(file, bytes);
      const s0 = await load.ort.InferenceSession.create(file);
      const feats = (await s0.run({ image: new load.ort.Tensor('float32', image, [n, 3, 8, 8]) })).pooled.data as Float32Array;
      await s0.release();
      let want: Float32Array = Float32Array.from(feats);
      for (const l of layers) want = dense(want, n, l);
      const units = layers[layers.length - 1].units;
      if (l2) for (let r = 0; r < n; r++) { let s = 0; for (let u = 0; u < units; u++) s += want[r * units + u] ** 2; for (let u = 0; u < units; u++) want[r * units + u] /= Math.sqrt(s); }

      const combined = path.join(dir, `combined-${flatten}.onnx`);
      fs.writeFileSync(combined, appendHeadToOnnx(bytes, { featureOutput: 'pooled', featureRank4: !flatten, layers, l2Normalize: l2 }));
      const s1 = await load.ort.InferenceSession.create(combined);
      assert.deepEqual(s1.outputNames, ['embedding'], 'the embedding replaces the features as the one output');
      const got: { dims: readonly number[]; data: unknown } = (await s1.run({ image: new load.ort.Tensor('float32', image, [n, 3, 8, 8]) })).embedding;
      await s1.release();
      assert.deepEqual(got.dims, [n, units]);
      const data = got.data as Float32Array;
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(data[i] - want[i]) < 1e-5, `${flatten ? 'flat' : 'rank-4'} features, value ${i}: ${data[i]} vs ${want[i]}`);

      // What `embed --model combined.onnx` opens: the embedding is its one pooled output.
      const bb = await loadOnnxBackbone(combined, { size: [8, 8] });
      assert.equal(bb.output, 'embedding');
      assert.equal(bb.dim, units);
      await bb.embedder.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('appendHeadToOnnx refuses a model without one graph and a layer whose weights do not fit', () => {
  assert.throws(() => appendHeadToOnnx(Uint8Array.of(8, 7), { featureOutput: 'x', layers: [{ inDim: 1, units: 1, relu: false, kernel: Float32Array.of(1), bias: Float32Array.of(0) }], l2Normalize: false }), /one graph/);
  assert.throws(() => appendHeadToOnnx(backbone(true), { featureOutput: 'pooled', layers: [{ inDim: 5, units: 2, relu: false, kernel: new Float32Array(9), bias: new Float32Array(2) }], l2Normalize: false }), /layer 1 has 9 kernel/);
});
