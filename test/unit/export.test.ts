// Export round trips: branch and full models written in the tfjs layers format, loaded back through our fs IO
// handler (no tfjs-node), give the same outputs within 1e-6; the full model's distances equal distances computed
// from the branch's embeddings (a second implementation), for every loss type and distance.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { DistanceName, ExperimentConfig } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { exportModels, loadExportedModel } from '../../src/engine/export';
import { buildBranch } from '../../src/engine/models';
import { tf } from '../../src/engine/tf';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-export-'));
test.before(async () => { await initBackend('wasm'); });
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

function config(type: ExperimentConfig['loss']['type'], distance: DistanceName, backbone: 'convnet' | 'resnet18'): ExperimentConfig {
  return {
    name: 'x',
    data: { train: '/nowhere', labelLevel: -2, imageSize: [32, 32], channels: 3, fit: 'cover', normalize: 'imagenet', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone, width: 0.25, embeddingDim: 16, normalize: distance !== 'squared-euclidean' },
    loss: { type, margin: 0.2, margin2: 0.1, distance, mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 7, backend: 'wasm', checkpointEverySteps: 0 },
  };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function pairDistance(a: Float32Array, b: Float32Array, dim: number, row: number, distance: DistanceName): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let sq = 0;
  for (let k = 0; k < dim; k++) {
    const x = a[row * dim + k];
    const y = b[row * dim + k];
    dot += x * y; na += x * x; nb += y * y; sq += (x - y) ** 2;
  }
  if (distance === 'cosine') return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb));
  return distance === 'squared-euclidean' ? sq : Math.sqrt(sq);
}

for (const [type, distance, backbone] of [
  ['contrastive', 'euclidean', 'convnet'], ['triplet', 'cosine', 'resnet18'], ['quartet', 'squared-euclidean', 'convnet'],
] as const) {
  test(`${type}/${distance}/${backbone}: branch and full exports reload with identical outputs`, async () => {
    const cfg = config(type, distance, backbone);
    const branch = buildBranch({ ...cfg.model, inputShape: [32, 32, 3], seed: 7 });
    // Perturb BN statistics so that inference-mode BN is not the identity (as after real training).
    for (const w of branch.weights) {
      if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], -0.2, 0.2, 'float32', 3));
      if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 4));
    }
    const runDir = path.join(work, `${type}-${distance}`);
    fs.mkdirSync(runDir, { recursive: true });
    await exportModels(runDir, cfg, branch);

    const streams = type === 'contrastive' ? 2 : type === 'triplet' ? 3 : 4;
    const xs = Array.from({ length: streams }, (_, i) => tf.randomNormal([5, 32, 32, 3], 0, 1, 'float32', 11 + i));
    const embOriginal = await Promise.all(xs.map(async (x) => (await (branch.predict(x) as Tensor).data()) as Float32Array));

    const b = await loadExportedModel(path.join(runDir, 'model', 'branch'));
    assert.equal(b.pre.modelType, 'branch');
    assert.deepEqual(b.pre.imageSize, [32, 32]);
    assert.equal(b.pre.normalize, 'imagenet');
    assert.equal(b.pre.distance, distance);
    assert.ok(embOriginal[0].some((v) => v !== 0), 'a non-degenerate embedding');
    const embReloaded = (await (b.model.predict(xs[0]) as Tensor).data()) as Float32Array;
    assert.ok(maxAbs(embReloaded, embOriginal[0]) <= 1e-6, 'reloaded branch matches');

    const f = await loadExportedModel(path.join(runDir, 'model', 'full'), 'full');
    assert.equal(f.pre.modelType, 'full');
    assert.equal(f.model.inputs.length, streams);
    const outs = f.model.predict(xs) as Tensor | Tensor[];
    const outList = Array.isArray(outs) ? outs : [outs];
    const pairs = streams === 2 ? [[0, 1]] : streams === 3 ? [[0, 1], [0, 2]] : [[0, 1], [0, 2], [2, 3]];
    assert.equal(outList.length, pairs.length);
    assert.deepEqual(f.pre.outputs.length, pairs.length);
    for (let o = 0; o < pairs.length; o++) {
      const got = (await outList[o].data()) as Float32Array;
      const [i, j] = pairs[o];
      const want = Array.from({ length: 5 }, (_, r) => pairDistance(embOriginal[i], embOriginal[j], 16, r, distance));
      assert.ok(maxAbs(got, want) <= 1e-5, `${f.pre.outputs[o]}: full-model distance equals the branch-embedding distance (${maxAbs(got, want)})`);
    }
    (branch as LayersModel).dispose();
    b.model.dispose();
    f.model.dispose();
  });
}

test('a model folder missing its weights gives a clear error', async () => {
  const cfg = config('triplet', 'euclidean', 'convnet');
  const branch = buildBranch({ ...cfg.model, inputShape: [32, 32, 3], seed: 1 });
  const runDir = path.join(work, 'missing');
  fs.mkdirSync(runDir, { recursive: true });
  await exportModels(runDir, cfg, branch, ['branch']);
  fs.rmSync(path.join(runDir, 'model', 'branch', 'weights.bin'));
  await assert.rejects(loadExportedModel(path.join(runDir, 'model', 'branch')), /missing its weights file weights\.bin/);
  fs.writeFileSync(path.join(runDir, 'model', 'branch', 'weights.bin'), Buffer.alloc(12));
  await assert.rejects(loadExportedModel(path.join(runDir, 'model', 'branch')), /truncated or belongs to another model/);
});

test('the BN-folded inference branch gives the same embeddings as the trained branch', async () => {
  for (const backbone of ['convnet', 'resnet18'] as const) {
    const cfg = config('triplet', 'euclidean', backbone);
    const branch = buildBranch({ ...cfg.model, inputShape: [32, 32, 3], seed: 5 });
    for (const w of branch.weights) {
      if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], -0.2, 0.2, 'float32', 8));
      if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 9));
      if (/gamma/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 10));
      if (/beta/.test(w.originalName)) w.write(tf.randomUniform(w.shape as number[], -0.1, 0.1, 'float32', 11));
    }
    const runDir = path.join(work, `fold-${backbone}`);
    fs.mkdirSync(runDir, { recursive: true });
    await exportModels(runDir, cfg, branch, ['branch']);
    const plain = await loadExportedModel(path.join(runDir, 'model', 'branch'));
    const folded = await loadExportedModel(path.join(runDir, 'model', 'branch'), 'branch', { foldBatchNorm: true });
    assert.ok(!folded.model.layers.some((l) => l.getClassName() === 'BatchNormalization'), 'no BN layer left');
    assert.ok(folded.model.layers.length < plain.model.layers.length);
    const x = tf.randomNormal([6, 32, 32, 3], 0, 1, 'float32', 12);
    const a = (await (plain.model.predict(x) as Tensor).data()) as Float32Array;
    const b = (await (folded.model.predict(x) as Tensor).data()) as Float32Array;
    assert.ok(a.some((v) => v !== 0));
    assert.ok(maxAbs(a, b) <= 1e-5, `${backbone}: folded vs plain max |Δ| = ${maxAbs(a, b)}`);
    branch.dispose();
    plain.model.dispose();
    folded.model.dispose();
  }
});
