// ONNX export: our protobuf encoder against hand-worked bytes; the written model decoded again by an independent
// reader written here; TensorFlow's 'same' padding; and parity — ONNX Runtime running the exported graph against
// the tfjs branch (unfolded, inference mode, BatchNorm with non-trivial statistics) on random inputs and on real
// images decoded by sharp, for resnet18 (widths 0.25 and 0.5, square RGB and non-square greyscale) and convnet.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { embedFolder, listImages, onnxEmbedder, openEmbedder, specOf, tfjsEmbedder } from '../../src/engine/embed';
import { artifactsOf, branchOnnxBytes, exportModels, type Preprocessing } from '../../src/engine/export';
import { decodeImage, normalizeInto } from '../../src/engine/images';
import { buildBranch, foldBatchNorm, type BranchSpec } from '../../src/engine/models';
import { branchToOnnx, encodeVarint, hwioToOihw, OnnxExportError, ProtoWriter, tfPadding } from '../../src/engine/onnx';
import { createOrtSession, loadOrt, onnxBytesOf } from '../../src/engine/onnx-runtime';
import { generateShapes } from '../../src/engine/synth';
import { readTable } from '../../src/core/table';
import { tf } from '../../src/engine/tf';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-onnx-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
const ort = loadOrt();
const needOrt = ort.ok ? {} : { skip: `onnxruntime-node is not available: ${ort.ok ? '' : ort.reason}` };

test.before(async () => { await initBackend('wasm'); });

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// ---------------------------------------------------------------------------------------------------------------
// The wire format, against bytes worked out by hand from https://protobuf.dev/programming-guides/encoding/.

test('varints: hand-worked bytes, including 64-bit two\'s complement for negative int64', () => {
  assert.equal(hex(encodeVarint(0)), '00');
  assert.equal(hex(encodeVarint(1)), '01');
  assert.equal(hex(encodeVarint(127)), '7f');
  assert.equal(hex(encodeVarint(150)), '9601'); // 150 = 0b1_0010110 → 1001 0110, 0000 0001
  assert.equal(hex(encodeVarint(300)), 'ac02');
  assert.equal(hex(encodeVarint(2 ** 31)), '8080808008');
  assert.equal(hex(encodeVarint(2 ** 35)), '8080808080' + '01');
  assert.equal(hex(encodeVarint(-1)), 'ffffffffffffffffff01');
  assert.equal(hex(encodeVarint(-2)), 'feffffffffffffffff01');
  assert.throws(() => encodeVarint(0.5));
});

test('fields: tag = field·8 + wire type; length-delimited strings and nested messages; little-endian fixed32', () => {
  assert.equal(hex(new ProtoWriter().int(1, 150).finish()), '089601'); // the protobuf guide's "Test1" example
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67'); // its "Test2"
  assert.equal(hex(new ProtoWriter().message(3, new ProtoWriter().int(1, 150)).finish()), '1a03089601'); // "Test3"
  assert.equal(hex(new ProtoWriter().float(1, 1.5).finish()), '0d0000c03f');
  assert.equal(hex(new ProtoWriter().ints(8, [1, 2]).finish()), '40014002'); // repeated int64, unpacked
  assert.equal(hex(new ProtoWriter().int(16, 1).finish()), '8001' + '01'); // field 16 needs a two-byte tag
  assert.equal(hex(new ProtoWriter().bytes(9, new Uint8Array(200)).finish()).slice(0, 6), '4ac801'); // length 200 = c8 01
});

test("TensorFlow 'same' padding: the odd pixel goes at the end", () => {
  assert.deepEqual(tfPadding(64, 7, 2, 1, 'same'), { out: 32, begin: 2, end: 3 });
  assert.deepEqual(tfPadding(32, 3, 2, 1, 'same'), { out: 16, begin: 0, end: 1 });
  assert.deepEqual(tfPadding(7, 3, 2, 1, 'same'), { out: 4, begin: 1, end: 1 });
  assert.deepEqual(tfPadding(33, 2, 2, 1, 'same'), { out: 17, begin: 0, end: 1 });
  assert.deepEqual(tfPadding(32, 2, 2, 1, 'same'), { out: 16, begin: 0, end: 0 });
  assert.deepEqual(tfPadding(10, 3, 1, 1, 'same'), { out: 10, begin: 1, end: 1 });
  assert.deepEqual(tfPadding(10, 3, 1, 2, 'same'), { out: 10, begin: 2, end: 2 });
  assert.deepEqual(tfPadding(10, 3, 2, 1, 'valid'), { out: 4, begin: 0, end: 0 });
});

test('conv kernel layout [kh, kw, in, out] → [out, in, kh, kw]', () => {
  const kh = 2, kw = 3, cin = 2, cout = 4;
  const k = Float32Array.from({ length: kh * kw * cin * cout }, (_, i) => i);
  const w = hwioToOihw(k, kh, kw, cin, cout);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
    assert.equal(w[((o * cin + i) * kh + y) * kw + x], k[((y * kw + x) * cin + i) * cout + o]);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// An independent reader: decodes the bytes we wrote, field by field (no code shared with the encoder).

type Field = { field: number; wire: number; value: bigint | Uint8Array };
function decodeMessage(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[p++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (p < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ field, wire, value: buf.subarray(p, p + len) });
      p += len;
    } else if (wire === 5) { out.push({ field, wire, value: buf.subarray(p, p + 4) }); p += 4; }
    else throw new Error(`unexpected wire type ${wire} at ${p}`);
  }
  assert.equal(p, buf.length, 'the message ends exactly at its length');
  return out;
}
const str = (v: bigint | Uint8Array) => new TextDecoder().decode(v as Uint8Array);
const sub = (fs_: Field[], n: number) => fs_.filter((f) => f.field === n).map((f) => f.value as Uint8Array);
const int = (fs_: Field[], n: number) => fs_.filter((f) => f.field === n).map((f) => BigInt.asIntN(64, f.value as bigint));

function branchSpec(backbone: 'resnet18' | 'convnet', width: number, inputShape: [number, number, number], dim = 16): BranchSpec {
  return { backbone, width, embeddingDim: dim, normalize: true, inputShape, seed: 7 };
}

/** Random BatchNorm parameters and statistics, as after real training (inference-mode BN is then not the identity). */
function perturbBatchNorm(branch: LayersModel, seed: number): void {
  for (const w of branch.weights) {
    const shape = w.shape as number[];
    if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.3, 0.3, 'float32', seed));
    if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.3, 2, 'float32', seed + 1));
    if (/gamma/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + 2));
    if (/beta/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.2, 0.2, 'float32', seed + 3));
  }
}

test('the written ModelProto, read back by an independent decoder: IR version, opset, graph, initializers, metadata', async () => {
  const branch = buildBranch(branchSpec('resnet18', 0.25, [40, 28, 1], 12));
  try {
    const bytes = branchToOnnx(await artifactsOf(branch), { metadata: { 'embedding-lab/preprocessing': '{"x":1}' } });
    const model = decodeMessage(bytes);
    assert.deepEqual(int(model, 1), [7n], 'ir_version 7');
    const [opset] = sub(model, 8).map(decodeMessage);
    assert.equal(str(sub(opset, 1)[0]), '', 'the default (ai.onnx) domain');
    assert.deepEqual(int(opset, 2), [13n], 'opset 13');
    assert.equal(str(sub(model, 2)[0]), 'embedding-lab');
    const [meta] = sub(model, 14).map(decodeMessage);
    assert.equal(str(sub(meta, 1)[0]), 'embedding-lab/preprocessing');
    assert.equal(str(sub(meta, 2)[0]), '{"x":1}');
    const graph = decodeMessage(sub(model, 7)[0]);
    const nodes = sub(graph, 1).map(decodeMessage);
    const ops = nodes.map((n) => str(sub(n, 4)[0]));
    assert.equal(ops[0], 'Transpose');
    assert.equal(ops.filter((o) => o === 'Conv').length, 1 + 4 * 2 * 2 + 3, '17 convs + 3 projection shortcuts = 20');
    assert.ok(!ops.includes('BatchNormalization'), 'every BN folded into its conv');
    assert.deepEqual(ops.slice(-7), ['GlobalAveragePool', 'Flatten', 'Gemm', 'ReduceSumSquare', 'Max', 'Sqrt', 'Div']);
    // The stem conv: 7×7 stride 2 on 40×28 → pads [top 2, left 2, bottom 3, right 3] (TF puts the extra pixel last).
    const stem = nodes[1];
    const attrs = new Map(sub(stem, 5).map(decodeMessage).map((a) => [str(sub(a, 1)[0]), a]));
    assert.deepEqual(int(attrs.get('pads')!, 8), [2n, 2n, 3n, 3n]);
    assert.deepEqual(int(attrs.get('strides')!, 8), [2n, 2n]);
    assert.deepEqual(int(attrs.get('kernel_shape')!, 8), [7n, 7n]);
    assert.deepEqual(int(attrs.get('pads')!, 20), [7n], 'attribute type INTS');
    // The input: image [N, 40, 28, 1] float; the output: embedding [N, 12].
    const valueInfo = (b: Uint8Array) => {
      const vi = decodeMessage(b);
      const tensorType = decodeMessage(sub(decodeMessage(sub(vi, 2)[0]), 1)[0]);
      const dims = sub(decodeMessage(sub(tensorType, 2)[0]), 1).map(decodeMessage).map((d) => (sub(d, 2).length ? str(sub(d, 2)[0]) : Number(int(d, 1)[0])));
      return { name: str(sub(vi, 1)[0]), elemType: Number(int(tensorType, 1)[0]), dims };
    };
    assert.deepEqual(valueInfo(sub(graph, 11)[0]), { name: 'image', elemType: 1, dims: ['N', 40, 28, 1] });
    assert.deepEqual(valueInfo(sub(graph, 12)[0]), { name: 'embedding', elemType: 1, dims: ['N', 12] });
    // Initializers: the stem's W is [16, 1, 7, 7] float32 raw data, equal to the BN-folded tfjs kernel.
    const inits = new Map(sub(graph, 5).map(decodeMessage).map((t) => [str(sub(t, 8)[0]), t]));
    const w = inits.get('stem_conv/W')!;
    assert.deepEqual(int(w, 1), [16n, 1n, 7n, 7n]);
    assert.deepEqual(int(w, 2), [1n], 'FLOAT');
    const raw = sub(w, 9)[0];
    assert.equal(raw.length, 16 * 49 * 4);
    const folded = foldBatchNorm(branch, branchSpec('resnet18', 0.25, [40, 28, 1], 12));
    try {
      const k = folded.getLayer('stem_conv').getWeights()[0].dataSync() as Float32Array;
      const got = new Float32Array(raw.slice().buffer);
      assert.ok(maxAbs(got, hwioToOihw(k, 7, 7, 1, 16)) < 1e-6, 'stem weights = tfjs foldBatchNorm of the kernel, transposed');
    } finally {
      folded.dispose();
    }
    // Every node input is an earlier output, an initializer or the graph input.
    const known = new Set<string>(['image', ...inits.keys()]);
    for (const n of nodes) {
      for (const i of sub(n, 1).map(str)) assert.ok(known.has(i), `${str(sub(n, 3)[0])}: input ${i} is defined before`);
      for (const o of sub(n, 2).map(str)) known.add(o);
    }
    assert.ok(known.has('embedding'));
  } finally {
    branch.dispose();
  }
});

test('layers without an ONNX mapping are refused, naming the layer (best effort in the default export)', async () => {
  const input = tf.input({ shape: [8, 8, 3], name: 'image' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c' }).apply(input) as SymbolicTensor;
  x = tf.layers.flatten({ name: 'flat' }).apply(x) as SymbolicTensor;
  x = tf.layers.dense({ units: 4, name: 'd' }).apply(x) as SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x });
  try {
    const art = await artifactsOf(m);
    assert.throws(() => branchToOnnx(art), (e: Error) => e instanceof OnnxExportError && /layer flat: Flatten has no ONNX mapping/.test(e.message));
    // At the end of training (default formats) the ONNX graph is best effort: the tfjs export is still written.
    const runDir = path.join(work, 'unsupported');
    fs.mkdirSync(runDir, { recursive: true });
    await exportModels(runDir, config('convnet'), m, ['branch']);
    const pre = JSON.parse(fs.readFileSync(path.join(runDir, 'model', 'branch', 'preprocessing.json'), 'utf8')) as Preprocessing;
    assert.equal(pre.onnx, undefined);
    assert.equal(pre.tfjs, 'model.json');
    assert.ok(!fs.existsSync(path.join(runDir, 'model', 'branch', 'model.onnx')));
    // Asked for explicitly, it is an error, and the folder is left as it was.
    await assert.rejects(exportModels(runDir, config('convnet'), m, ['branch'], { branch: path.join(work, 'unsupported-out') }, 'x', ['onnx']), OnnxExportError);
    assert.ok(!fs.existsSync(path.join(work, 'unsupported-out')));
  } finally {
    m.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Parity with tfjs through ONNX Runtime.

async function ortRun(bytes: Uint8Array, x: Float32Array, n: number, shape: [number, number, number], dim: number): Promise<Float32Array> {
  const s = await createOrtSession(bytes, shape, dim, { threads: 1 });
  try {
    return await s.run(x, n);
  } finally {
    await s.release();
  }
}

/** Real images: generated shapes decoded and normalised by our sharp pipeline. */
async function realImages(shape: [number, number, number], n: number): Promise<Float32Array> {
  const dir = path.join(work, `img-${shape.join('x')}`);
  if (!fs.existsSync(dir)) await generateShapes(dir, { classes: 3, perClass: Math.ceil(n / 3), size: 48, seed: 3, format: 'jpeg' });
  const spec = { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3, fit: 'cover' as const, normalize: 'imagenet' as const };
  const files = (await listImages(dir, 1)).images.slice(0, n);
  const per = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(n * per);
  for (let i = 0; i < n; i++) normalizeInto(x, i * per, await decodeImage(files[i].path, spec), spec);
  return x;
}

const CASES: Array<[string, BranchSpec]> = [
  ['resnet18 width 0.25, 64×64×3', branchSpec('resnet18', 0.25, [64, 64, 3], 32)],
  ['resnet18 width 0.5, 40×28×1 (non-square, greyscale)', branchSpec('resnet18', 0.5, [40, 28, 1], 16)],
  ['convnet width 0.5, 33×17×3 (odd sizes)', branchSpec('convnet', 0.5, [33, 17, 3], 8)],
  ['convnet width 0.25, 32×32×1', branchSpec('convnet', 0.25, [32, 32, 1], 16)],
  // PyTorch padding (pretrained weights): ZeroPadding2D + valid conv / max-pool, folded into the ONNX pads.
  ['resnet18 width 0.25, PyTorch padding, 57×45×3 (odd sizes)', { ...branchSpec('resnet18', 0.25, [57, 45, 3], 16), padding: 'torch' }],
  ['resnet50 width 0.125, PyTorch padding, 64×64×3 (bottlenecks)', { ...branchSpec('resnet18', 0.125, [64, 64, 3], 16), backbone: 'resnet50', padding: 'torch' }],
];

for (const [name, spec] of CASES) {
  test(`ONNX Runtime = tfjs within 1e-5: ${name}, BatchNorm with non-trivial statistics`, needOrt, async () => {
    const branch = buildBranch(spec);
    perturbBatchNorm(branch, 21);
    const folded = foldBatchNorm(branch, spec);
    try {
      const bytes = await branchOnnxBytes(branch);
      const foldedBytes = await branchOnnxBytes(folded); // the converter also takes the BN-folded layout
      const per = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
      for (const [what, n, x] of [
        ['random N(0, 1)', 7, tf.randomNormal([7, ...spec.inputShape], 0, 1, 'float32', 5).dataSync() as Float32Array],
        ['one image', 1, tf.randomUniform([1, ...spec.inputShape], -2, 2, 'float32', 6).dataSync() as Float32Array],
        ['real images (sharp)', 9, await realImages(spec.inputShape, 9)],
      ] as const) {
        assert.equal(x.length, n * per);
        const want = tf.tidy(() => branch.predict(tf.tensor4d(x, [n, ...spec.inputShape])) as Tensor).dataSync() as Float32Array;
        assert.ok(want.some((v) => Math.abs(v) > 0.05), 'a non-degenerate embedding');
        const got = await ortRun(bytes, x, n, spec.inputShape, spec.embeddingDim);
        const d = maxAbs(got, want);
        assert.ok(d <= 1e-5, `${what}: max |ORT − tfjs| = ${d}`);
        const d2 = maxAbs(await ortRun(foldedBytes, x, n, spec.inputShape, spec.embeddingDim), want);
        assert.ok(d2 <= 1e-5, `${what}, converted from the folded branch: max |Δ| = ${d2}`);
      }
    } finally {
      branch.dispose();
      folded.dispose();
    }
  });
}

test('L2 normalisation keeps the layer\'s epsilon: a near-zero vector is divided by √1e-12, not scaled to unit length', needOrt, async () => {
  const spec = branchSpec('convnet', 0.25, [16, 16, 3], 8);
  const branch = buildBranch(spec);
  try {
    // Embedding weights so small that Σx² < 1e-12 before normalisation.
    const dense = branch.getLayer('embedding');
    dense.setWeights(dense.getWeights().map((w, i) => (i === 0 ? tf.mul(w, 1e-9) : tf.zerosLike(w))));
    const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 70).dataSync() as Float32Array;
    const want = tf.tidy(() => branch.predict(tf.tensor4d(x, [3, 16, 16, 3])) as Tensor).dataSync() as Float32Array;
    const got = await ortRun(await branchOnnxBytes(branch), x, 3, [16, 16, 3], 8);
    const norm = Math.hypot(...want.subarray(0, 8));
    assert.ok(norm > 0 && norm < 0.1, `tfjs leaves a short vector (|y| = ${norm})`);
    assert.ok(maxAbs(got, want) <= 1e-6, `max |Δ| = ${maxAbs(got, want)}`);
  } finally {
    branch.dispose();
  }
});

test('a BatchNormalization that follows no linear conv becomes an ONNX BatchNormalization (parity)', needOrt, async () => {
  const input = tf.input({ shape: [12, 10, 3], name: 'image' });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', name: 'c1' }).apply(input) as SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn', epsilon: 1e-3 }).apply(x) as SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, padding: 'same', name: 'pool' }).apply(x) as SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  x = tf.layers.dense({ units: 5, useBias: false, name: 'emb' }).apply(x) as SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x });
  perturbBatchNorm(m, 40);
  try {
    const bytes = branchToOnnx(await artifactsOf(m));
    const xs = tf.randomNormal([4, 12, 10, 3], 0, 1, 'float32', 41).dataSync() as Float32Array;
    const want = tf.tidy(() => m.predict(tf.tensor4d(xs, [4, 12, 10, 3])) as Tensor).dataSync() as Float32Array;
    const got = await ortRun(bytes, xs, 4, [12, 10, 3], 5);
    assert.ok(maxAbs(got, want) <= 1e-5, `max |Δ| = ${maxAbs(got, want)}`);
  } finally {
    m.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Export folders and the engines.

function config(backbone: 'resnet18' | 'convnet'): ExperimentConfig {
  return {
    name: 'x',
    data: { train: '/nowhere', labelLevel: 1, imageSize: [32, 24], channels: 3, fit: 'cover', normalize: 'imagenet', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone, width: 0.25, embeddingDim: 16, normalize: true },
    loss: { type: 'triplet', margin: 0.2, margin2: 0.1, distance: 'euclidean', mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 7, backend: 'wasm', checkpointEverySteps: 0 },
  };
}

test('exportModels writes model.onnx beside the branch; the file and the in-memory conversion of model.json agree; embedFolder on both engines', needOrt, async () => {
  const cfg = config('resnet18');
  const branch = buildBranch({ ...cfg.model, inputShape: [32, 24, 3], seed: 7 });
  perturbBatchNorm(branch, 50);
  const runDir = path.join(work, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(cfg)); // a run folder (openEmbedder resolves model/branch)
  await exportModels(runDir, cfg, branch, ['branch', 'full']);
  branch.dispose();
  const dir = path.join(runDir, 'model', 'branch');
  const pre = JSON.parse(fs.readFileSync(path.join(dir, 'preprocessing.json'), 'utf8')) as Preprocessing;
  assert.equal(pre.onnx, 'model.onnx');
  assert.equal(pre.tfjs, 'model.json');
  assert.ok(fs.existsSync(path.join(dir, 'model.onnx')));
  // The full model gets its ONNX graph too (one input per stream, the distances out; src/engine/onnx-full.ts).
  const fullPre = JSON.parse(fs.readFileSync(path.join(runDir, 'model', 'full', 'preprocessing.json'), 'utf8')) as Preprocessing;
  assert.equal(fullPre.onnx, 'model.onnx');
  assert.ok(fs.existsSync(path.join(runDir, 'model', 'full', 'model.onnx')));
  assert.deepEqual(fullPre.io!.onnx, { inputs: ['image_anchor', 'image_positive', 'image_negative'], outputs: ['d_anchor_positive', 'd_anchor_negative'] });
  // Each format's own input and output names (issue 13, item 10): the tfjs layers', the ONNX graph's.
  assert.deepEqual(pre.io, { tfjs: { inputs: ['image'], outputs: ['l2_normalize'] }, onnx: { inputs: ['image'], outputs: ['embedding'] } });
  assert.deepEqual([pre.inputs, pre.outputs], [['image'], ['l2_normalize']], 'preprocessing.json: top level = the TensorFlow.js model');
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { userDefinedMetadata: { embeddingLab: Preprocessing } };
  assert.deepEqual(modelJson.userDefinedMetadata.embeddingLab.outputs, ['l2_normalize']);
  const onnxMeta = sub(decodeMessage(fs.readFileSync(path.join(dir, 'model.onnx'))), 14).map(decodeMessage)
    .find((m) => str(sub(m, 1)[0]) === 'embedding-lab/preprocessing')!;
  const preInOnnx = JSON.parse(str(sub(onnxMeta, 2)[0])) as Preprocessing;
  assert.deepEqual([preInOnnx.inputs, preInOnnx.outputs], [['image'], ['embedding']], 'the ONNX file\'s metadata names its graph\'s tensors');
  assert.deepEqual(preInOnnx.io, pre.io);
  const fromFile = onnxBytesOf(dir, pre);
  if (!ort.ok) throw new Error(ort.reason);
  const session = await ort.ort.InferenceSession.create(fromFile.bytes);
  assert.deepEqual([session.inputNames, session.outputNames], [pre.io!.onnx!.inputs, pre.io!.onnx!.outputs], 'as ONNX Runtime reads the graph');
  await session.release();
  const converted = onnxBytesOf(dir, {});
  assert.equal(fromFile.source, 'file');
  assert.equal(converted.source, 'converted');

  const data = path.join(work, 'data');
  await generateShapes(data, { classes: 3, perClass: 11, size: 40, seed: 9 });
  const tables: Record<string, Awaited<ReturnType<typeof readTable>>> = {};
  const onnx = await openEmbedder(runDir, { engine: 'onnx' });
  const auto = await openEmbedder(dir, { engine: 'auto', threads: 2 });
  const tfj = await openEmbedder(dir, { engine: 'tfjs', backend: 'wasm' });
  const inMemory = await onnxEmbedder(converted.bytes, pre);
  try {
    assert.equal(onnx.embedder.name, 'onnxruntime');
    assert.match(onnx.embedder.detail, /1 intra-op thread, model\.onnx/);
    assert.match(auto.embedder.detail, /2 intra-op threads/);
    assert.equal(tfj.embedder.name, 'tfjs-wasm');
    for (const [k, e, batchSize] of [['onnx', onnx.embedder, 5], ['auto', auto.embedder, 64], ['tfjs', tfj.embedder, 7], ['memory', inMemory, 1]] as const) {
      const out = path.join(work, `t-${k}.parquet`);
      const opened = { onnx, auto, tfjs: tfj }[k as 'onnx' | 'auto' | 'tfjs'];
      const res = await embedFolder({ embedder: e, pre: opened?.pre ?? pre, modelDir: dir, folder: data, out, batchSize });
      assert.equal(res.engine, e.name);
      tables[k] = await readTable(out);
      assert.equal((tables[k].meta?.engine as { name: string }).name, e.name, 'the engine is recorded in the metadata');
      if (k !== 'memory') {
        const tablePre = tables[k].meta?.preprocessing as Preprocessing;
        assert.deepEqual(tablePre.outputs, e.engine === 'onnx' ? ['embedding'] : ['l2_normalize'], `${k}: the table names the outputs of the engine that ran`);
      }
    }
  } finally {
    for (const e of [onnx.embedder, auto.embedder, tfj.embedder, inMemory]) await e.dispose();
  }
  for (const k of ['auto', 'tfjs', 'memory']) {
    assert.deepEqual(tables[k].paths, tables.onnx.paths);
    assert.deepEqual(tables[k].labels, tables.onnx.labels);
    const d = maxAbs(tables[k].vectors, tables.onnx.vectors);
    assert.ok(d <= 1e-5, `${k} vs onnx: max |Δ| = ${d}`);
  }
  assert.equal(tables.onnx.paths.length, 33);
});

test('tfjsEmbedder and an ONNX embedder agree on a query image (embedFiles path)', needOrt, async () => {
  const cfg = config('convnet');
  const branch = buildBranch({ ...cfg.model, inputShape: [32, 24, 3], seed: 3 });
  perturbBatchNorm(branch, 60);
  const pre = { imageSize: [32, 24], channels: 3, fit: 'cover', normalize: 'imagenet', embeddingDim: 16 } as unknown as Preprocessing;
  const spec = specOf(pre);
  const x = await realImages([32, 24, 3], 3);
  assert.equal(spec.width, 24);
  const a = tfjsEmbedder(branch, pre);
  const b = await onnxEmbedder(await branchOnnxBytes(branch), pre);
  try {
    assert.ok(maxAbs(await a.embed(x, 3), await b.embed(x, 3)) <= 1e-5);
  } finally {
    await b.dispose();
    branch.dispose();
  }
});
