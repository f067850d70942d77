// Exports in a stock TensorFlow.js (issue 13, item 9): a child process that imports only @tensorflow/tfjs loads the
// exported branch over HTTP with tf.loadLayersModel (its own loader, from a 127.0.0.1 server it starts itself) and
// gives ONNX Runtime's outputs for the same input; the full model loads with dist/tfjs-layers.js (the shipped
// registration module: PairDistance) and gives the distances of ORT's embeddings. Exports made before the stock
// rewrite (InputConv2D, L2Normalize) still load in our loader and, with the module, in a stock tfjs.
// Needs `npm run -s build` (dist/tfjs-layers.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { DistanceName, ExperimentConfig } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { exportModels, loadExportedModel, preprocessingOf, PREPROCESSING_FILE, type Preprocessing } from '../../src/engine/export';
import { saveLayersModel } from '../../src/engine/model-io';
import { buildBranch } from '../../src/engine/models';
import { createOrtSession, loadOrt, onnxBytesOf } from '../../src/engine/onnx-runtime';
import { tf } from '../../src/engine/tf';

const root = path.resolve(__dirname, '..', '..');
const registration = path.join(root, 'dist', 'tfjs-layers.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-stock-'));
const ort = loadOrt();
const needOrt = ort.ok ? {} : { skip: `onnxruntime-node is not available: ${ort.ok ? '' : ort.reason}` };
test.before(async () => { await initBackend('wasm'); });
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

// The child: stock @tensorflow/tfjs (cpu backend), nothing of ours unless REGISTER names the shipped module.
const CHILD = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const tf = require(process.env.TFJS);
const [dir, inputsFile, n] = process.argv.slice(2);
if (process.env.REGISTER) require(process.env.REGISTER).registerEmbeddingLabLayers(tf);
const server = http.createServer((req, res) => {
  const f = path.join(dir, path.basename(req.url));
  if (!fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200); res.end(fs.readFileSync(f));
});
server.listen(0, '127.0.0.1', async () => {
  try {
    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel('http://127.0.0.1:' + server.address().port + '/model.json');
    const buf = fs.readFileSync(inputsFile);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const shape = model.inputs[0].shape.slice(1);
    const per = shape.reduce((a, b) => a * b, 1) * Number(n);
    const xs = model.inputs.map((_, i) => tf.tensor(all.slice(i * per, (i + 1) * per), [Number(n), ...shape]));
    const out = [].concat(model.predict(xs.length === 1 ? xs[0] : xs));
    process.stdout.write(JSON.stringify({
      inputNames: model.inputNames, outputNames: model.outputNames, classes: [...new Set(model.layers.map((l) => l.getClassName()))],
      outputs: out.map((t) => Array.from(t.dataSync())),
    }));
  } catch (err) { process.stdout.write(JSON.stringify({ error: String(err && err.message || err) })); }
  server.close();
});
`;
const childFile = path.join(work, 'stock-child.cjs');
fs.writeFileSync(childFile, CHILD);

interface ChildResult { inputNames?: string[]; outputNames?: string[]; classes?: string[]; outputs?: number[][]; error?: string }
function stockLoad(dir: string, inputs: Float32Array, n: number, register = false): ChildResult {
  const inputsFile = path.join(work, `in-${process.hrtime.bigint()}.f32`);
  fs.writeFileSync(inputsFile, Buffer.from(inputs.buffer, inputs.byteOffset, inputs.byteLength));
  const env = { ...process.env, TFJS: require.resolve('@tensorflow/tfjs'), REGISTER: register ? registration : '' };
  return JSON.parse(execFileSync(process.execPath, [childFile, dir, inputsFile, String(n)], { cwd: work, env, encoding: 'utf8', timeout: 120_000 })) as ChildResult;
}

function config(type: ExperimentConfig['loss']['type'], distance: DistanceName, backbone: 'convnet' | 'resnet18', normalize: boolean): ExperimentConfig {
  return {
    name: 'x',
    data: { train: '/nowhere', labelLevel: -2, imageSize: [32, 24], channels: 3, fit: 'cover', normalize: 'imagenet', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone, width: 0.25, embeddingDim: 16, normalize },
    loss: { type, margin: 0.2, margin2: 0.1, distance, mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 7, backend: 'wasm', checkpointEverySteps: 0 },
  };
}

function trainedLike(cfg: ExperimentConfig, seed: number): LayersModel {
  const branch = buildBranch({ ...cfg.model, inputShape: [32, 24, 3], seed });
  // BN statistics and affine weights away from the identity, as after training.
  for (const w of branch.weights) {
    const s = w.shape as number[];
    if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(s, -0.2, 0.2, 'float32', seed + 1));
    if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(s, 0.5, 1.5, 'float32', seed + 2));
    if (/gamma/.test(w.originalName)) w.write(tf.randomUniform(s, 0.5, 1.5, 'float32', seed + 3));
  }
  return branch;
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function distanceOf(a: Float32Array, b: Float32Array, dim: number, row: number, distance: DistanceName): number {
  let dot = 0, na = 0, nb = 0, sq = 0;
  for (let k = 0; k < dim; k++) {
    const x = a[row * dim + k], y = b[row * dim + k];
    dot += x * y; na += x * x; nb += y * y; sq += (x - y) ** 2;
  }
  if (distance === 'cosine') return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb));
  return distance === 'squared-euclidean' ? sq : Math.sqrt(sq);
}

async function ortEmbed(dir: string, pre: Preprocessing, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await createOrtSession(onnxBytesOf(dir, pre).bytes, [32, 24, 3], 16, { threads: 1 });
  try { return Float32Array.from(await s.run(x, n)); } finally { await s.release(); }
}

const N = 4;
const images = (streams: number, seed: number) => tf.randomNormal([streams * N, 32, 24, 3], 0, 1, 'float32', seed).dataSync() as Float32Array;
const readPre = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, PREPROCESSING_FILE), 'utf8')) as Preprocessing;

for (const [type, distance, backbone, normalize] of [
  ['triplet', 'cosine', 'resnet18', true], ['contrastive', 'euclidean', 'convnet', true], ['quartet', 'squared-euclidean', 'convnet', false],
] as const) {
  test(`${backbone}, normalize ${normalize}: stock tfjs loads the branch with no code of ours and gives ORT's outputs; the full model (${type}/${distance}) with the shipped module`, needOrt, async () => {
    const cfg = config(type, distance, backbone, normalize);
    const runDir = path.join(work, `${type}-${backbone}`);
    fs.mkdirSync(runDir, { recursive: true });
    const branch = trainedLike(cfg, 21);
    await exportModels(runDir, cfg, branch);
    branch.dispose();
    const branchDir = path.join(runDir, 'model', 'branch');
    const pre = readPre(branchDir);

    const streams = type === 'contrastive' ? 2 : type === 'triplet' ? 3 : 4;
    const x = images(streams, 31);
    const per = N * 32 * 24 * 3;
    const embs = await Promise.all(Array.from({ length: streams }, (_, i) => ortEmbed(branchDir, pre, x.subarray(i * per, (i + 1) * per), N)));
    assert.ok(embs[0].some((v) => v !== 0), 'a non-degenerate embedding');

    const b = stockLoad(branchDir, x.subarray(0, per), N);
    assert.equal(b.error, undefined, `stock tfjs loads the branch: ${b.error}`);
    assert.ok(!b.classes!.some((c) => ['InputConv2D', 'L2Normalize'].includes(c)), `stock classes only: ${b.classes}`);
    assert.deepEqual([b.inputNames, b.outputNames], [pre.io?.tfjs?.inputs, pre.io?.tfjs?.outputs], 'preprocessing.json names the tfjs inputs and outputs');
    assert.ok(maxAbs(b.outputs![0], embs[0]) <= 1e-5, `stock tfjs vs ONNX Runtime: max |Δ| = ${maxAbs(b.outputs![0], embs[0])}`);
    if (normalize) {
      for (let r = 0; r < N; r++) assert.ok(Math.abs(Math.hypot(...b.outputs![0].slice(r * 16, r * 16 + 16)) - 1) < 1e-5, 'unit vectors');
    }

    const fullDir = path.join(runDir, 'model', 'full');
    const bare = stockLoad(fullDir, x, N);
    assert.match(bare.error ?? '', /Unknown layer: PairDistance/, 'without the module the full model names the one custom layer');
    const f = stockLoad(fullDir, x, N, true);
    assert.equal(f.error, undefined, `stock tfjs + dist/tfjs-layers.js loads the full model: ${f.error}`);
    assert.deepEqual([f.inputNames, f.outputNames], [readPre(fullDir).inputs, readPre(fullDir).outputs]);
    const pairs = streams === 2 ? [[0, 1]] : streams === 3 ? [[0, 1], [0, 2]] : [[0, 1], [0, 2], [2, 3]];
    assert.equal(f.outputs!.length, pairs.length);
    pairs.forEach(([i, j], o) => {
      const want = Array.from({ length: N }, (_, r) => distanceOf(embs[i], embs[j], 16, r, distance));
      assert.ok(maxAbs(f.outputs![o], want) <= 1e-4 * Math.max(1, ...want), `${f.outputNames![o]}: ${maxAbs(f.outputs![o], want)}`);
    });
  });
}

test('backwards compatibility: an export written before the stock rewrite (InputConv2D, L2Normalize) loads in our loader, in ONNX Runtime and in stock tfjs with the module, with the new export\'s outputs', needOrt, async () => {
  const cfg = config('triplet', 'euclidean', 'resnet18', true);
  const runDir = path.join(work, 'compat');
  fs.mkdirSync(runDir, { recursive: true });
  const branch = trainedLike(cfg, 41);
  await exportModels(runDir, cfg, branch, ['branch'], undefined, 'final', ['tfjs']); // new, tfjs only: no model.onnx
  // The old layout: the training model's own layers, preprocessing without `io` or `onnx`.
  const oldDir = path.join(work, 'old-export');
  fs.mkdirSync(oldDir, { recursive: true });
  const oldPre = { ...preprocessingOf(cfg, 'branch', branch, 'compat', 'final'), tfjs: 'model.json' };
  await saveLayersModel(branch, oldDir, { embeddingLab: oldPre as unknown as object });
  fs.writeFileSync(path.join(oldDir, PREPROCESSING_FILE), JSON.stringify(oldPre));
  const oldJson = fs.readFileSync(path.join(oldDir, 'model.json'), 'utf8');
  assert.match(oldJson, /"InputConv2D"/);
  assert.match(oldJson, /"L2Normalize"/);
  const newDir = path.join(runDir, 'model', 'branch');
  assert.doesNotMatch(fs.readFileSync(path.join(newDir, 'model.json'), 'utf8'), /"InputConv2D"|"L2Normalize"/);

  const x = images(1, 51);
  const want = tf.tidy(() => branch.predict(tf.tensor4d(x, [N, 32, 24, 3])) as Tensor).dataSync() as Float32Array;
  branch.dispose();
  for (const dir of [oldDir, newDir]) {
    for (const fold of [false, true]) {
      const loaded = await loadExportedModel(dir, 'branch', { foldBatchNorm: fold });
      const got = tf.tidy(() => loaded.model.predict(tf.tensor4d(x, [N, 32, 24, 3])) as Tensor).dataSync() as Float32Array;
      loaded.model.dispose();
      assert.ok(maxAbs(got, want) <= 1e-5, `${path.basename(dir)} (fold ${fold}) in our loader: ${maxAbs(got, want)}`);
    }
    // No model.onnx in either: the graph is converted from model.json in memory (the stock block folds back).
    const pre = readPre(dir);
    assert.equal(pre.onnx, undefined);
    const viaOrt = await ortEmbed(dir, pre, x, N);
    assert.ok(maxAbs(viaOrt, want) <= 1e-5, `${path.basename(dir)} converted to ONNX: ${maxAbs(viaOrt, want)}`);
  }
  const stock = stockLoad(oldDir, x, N, true);
  assert.equal(stock.error, undefined, String(stock.error));
  assert.ok(maxAbs(stock.outputs![0], want) <= 1e-5, `old export in stock tfjs + module: ${maxAbs(stock.outputs![0], want)}`);
  assert.match(stockLoad(oldDir, x, N).error ?? '', /Unknown layer: InputConv2D/, 'the old export needs the module');
});

test('a pretrained-style branch (PyTorch padding, head "none": the pooled features normalised) loads in stock tfjs with ORT\'s outputs', needOrt, async () => {
  const cfg = config('triplet', 'cosine', 'resnet18', true);
  cfg.model = { ...cfg.model, head: 'none', embeddingDim: 128 };
  const runDir = path.join(work, 'head-none');
  fs.mkdirSync(runDir, { recursive: true });
  const branch = buildBranch({ ...cfg.model, inputShape: [32, 24, 3], seed: 61, padding: 'torch' });
  assert.ok(branch.layers.some((l) => l.getClassName() === 'ZeroPadding2D'), 'PyTorch padding');
  assert.equal(branch.getLayer('l2_normalize').inboundNodes[0].inboundLayers[0].name, 'gap', 'L2 normalisation right after the pooling');
  await exportModels(runDir, cfg, branch, ['branch']);
  branch.dispose();
  const dir = path.join(runDir, 'model', 'branch');
  const pre = readPre(dir);
  assert.equal(pre.onnx, 'model.onnx');
  const x = images(1, 71);
  const s = await createOrtSession(onnxBytesOf(dir, pre).bytes, [32, 24, 3], 128, { threads: 1 });
  const want = Float32Array.from(await s.run(x, N));
  await s.release();
  const got = stockLoad(dir, x, N);
  assert.equal(got.error, undefined, String(got.error));
  assert.ok(maxAbs(got.outputs![0], want) <= 1e-5, `stock tfjs vs ORT: ${maxAbs(got.outputs![0], want)}`);
});
