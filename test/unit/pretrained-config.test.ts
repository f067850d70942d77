// The config fields of pretrained training: model.pretrained (resolved against the config's folder; hub ids kept),
// model.head ("dense", "none", an MLP) with the embeddingDim it implies, the width default with pretrained weights,
// resnet34/resnet50, and each bad value reported on its field.
import test from 'node:test';
import assert from 'node:assert/strict';
import { featureWidth, validateConfig } from '../../src/core/config';
import { buildBranch, foldBatchNorm } from '../../src/engine/models';
import type { Tensor } from '@tensorflow/tfjs';
import { tf } from '../../src/engine/tf';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { exportModels, loadExportedModel } from '../../src/engine/export';

const base = { data: { train: 'data' }, loss: { type: 'triplet' } };
const resolve = (model: Record<string, unknown>) => validateConfig({ ...base, model }, '/experiments/shoes');
const issues = (model: Record<string, unknown>) => resolve(model).issues.map((i) => `${i.path}: ${i.message}`);

test('model.pretrained: a relative path resolves against the config folder, a hub id stays; width defaults to 1', () => {
  assert.deepEqual(resolve({ pretrained: 'weights/r18.safetensors' }).config?.model,
    { backbone: 'resnet18', width: 1, embeddingDim: 64, normalize: true, pretrained: '/experiments/shoes/weights/r18.safetensors' });
  assert.deepEqual(resolve({ pretrained: 'hf:timm/resnet50.a1_in1k', backbone: 'resnet50', width: 1 }).config?.model,
    { backbone: 'resnet50', width: 1, embeddingDim: 64, normalize: true, pretrained: 'hf:timm/resnet50.a1_in1k' });
  // From scratch: nothing new in the resolved config (existing run folders read the same).
  assert.deepEqual(resolve({}).config?.model, { backbone: 'resnet18', width: 0.25, embeddingDim: 64, normalize: true });
  assert.deepEqual(resolve({ backbone: 'resnet34' }).config?.model.backbone, 'resnet34');
});

test('model.head: "none" makes the pooled features the embedding, an MLP\'s last width is embeddingDim', () => {
  assert.equal(resolve({ head: 'none', pretrained: 'a.safetensors' }).config?.model.embeddingDim, 512);
  assert.equal(resolve({ head: 'none', backbone: 'resnet50', pretrained: 'a.safetensors' }).config?.model.embeddingDim, 2048);
  assert.equal(resolve({ head: 'none', width: 0.25 }).config?.model.embeddingDim, 128);
  assert.deepEqual(resolve({ head: [256, 32] }).config?.model, { backbone: 'resnet18', width: 0.25, embeddingDim: 32, normalize: true, head: [256, 32] });
  assert.equal(featureWidth('convnet', 0.5), 64);
});

test('bad model fields are reported on their field', () => {
  assert.deepEqual(issues({ pretrained: 'model.pt' }), ['model.pretrained: must be a .safetensors file (a PyTorch ResNet state dict) or a hub id "hf:owner/repo" (got "model.pt")']);
  assert.deepEqual(issues({ pretrained: 'hf:resnet18' }), ['model.pretrained: must be a .safetensors file (a PyTorch ResNet state dict) or a hub id "hf:owner/repo" (got "hf:resnet18")']);
  assert.deepEqual(issues({ pretrained: '' }), ['model.pretrained: must be a non-empty string (got "")']);
  assert.deepEqual(issues({ pretrained: 'a.safetensors', backbone: 'convnet' }),
    ['model.backbone: must be "resnet18", "resnet34" or "resnet50" with model.pretrained: the weights are a ResNet\'s (got "convnet")']);
  assert.deepEqual(issues({ backbone: 'resnet101' }), ['model.backbone: must be one of "resnet18", "resnet34", "resnet50", "convnet" (got "resnet101")']);
  assert.deepEqual(issues({ head: 'mlp' }), ['model.head: must be "dense", "none" or an array of layer widths such as [512, 128] (got "mlp")']);
  assert.deepEqual(issues({ head: [] }), ['model.head: must be "dense", "none" or an array of layer widths such as [512, 128] (got [])']);
  assert.ok(issues({ head: [512, 0.5] }).includes('model.head[1]: must be an integer between 1 and 8192 (got 0.5)'));
  assert.deepEqual(issues({ head: [256, 32], embeddingDim: 64 }), ['model.embeddingDim: must equal the last width of model.head (32), or be left out (got 64)']);
  assert.deepEqual(issues({ head: 'none', embeddingDim: 64, pretrained: 'a.safetensors' }),
    ['model.embeddingDim: must be 512 (the pooled features of resnet18 at width 1) with model.head "none", or be left out (got 64)']);
  assert.deepEqual(issues({ pretrained: 5 }), ['model.pretrained: must be a non-empty string (got 5)']);
});

test('the built branch follows the head: layer names and output widths', async () => {
  await initBackend('cpu');
  const names = (head: 'none' | 'dense' | number[], embeddingDim: number) => {
    const b = buildBranch({ backbone: 'convnet', width: 0.25, embeddingDim, normalize: true, head, inputShape: [16, 16, 3], seed: 1 });
    const out = [b.outputs[0].shape[1], b.layers.slice(b.layers.findIndex((l) => l.name === 'gap')).map((l) => l.name)];
    b.dispose();
    return out;
  };
  assert.deepEqual(names('dense', 8), [8, ['gap', 'embedding', 'l2_normalize']]);
  assert.deepEqual(names('none', 32), [32, ['gap', 'l2_normalize']]);
  assert.deepEqual(names([24, 12, 6], 6), [6, ['gap', 'head1', 'head1_relu', 'head2', 'head2_relu', 'embedding', 'l2_normalize']]);
});

test('the BN-folded scoring copy of a torch-padded resnet with an MLP head gives the same outputs (it reads padding and head from the branch)', async () => {
  await initBackend('cpu');
  const spec = { backbone: 'resnet34' as const, width: 0.125, embeddingDim: 6, normalize: false, head: [12, 6], padding: 'torch' as const, inputShape: [37, 29, 3] as [number, number, number], seed: 3 };
  const branch = buildBranch(spec);
  // Non-trivial BN statistics, so that folding has something to fold.
  for (const l of branch.layers.filter((x) => x.getClassName() === 'BatchNormalization')) {
    const [g, b, m, v] = l.getWeights();
    l.setWeights([tf.randomUniform(g.shape, 0.5, 1.5, 'float32', 1), tf.randomNormal(b.shape, 0, 0.2, 'float32', 2), tf.randomNormal(m.shape, 0, 0.2, 'float32', 3), tf.randomUniform(v.shape, 0.5, 2, 'float32', 4)]);
  }
  // The caller's spec knows neither the padding nor the head (as embed's does not).
  const folded = foldBatchNorm(branch, { backbone: 'resnet34', width: 0.125, embeddingDim: 6, normalize: false, inputShape: [37, 29, 3], seed: 0 });
  assert.ok(folded.layers.some((l) => l.name === 'stem_pad') && folded.layers.some((l) => l.name === 'head1'));
  const x = tf.randomNormal([2, 37, 29, 3], 0, 1, 'float32', 9);
  const a = (branch.predict(x) as Tensor).dataSync();
  const b = (folded.predict(x) as Tensor).dataSync();
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(a[i])); }
  assert.ok(d / m < 1e-4, `folded differs: ${d / m}`);
});

test('model.freeze: "backbone" trains only the head and its BN keeps its statistics; "bn" trains every weight but no BN statistics', async () => {
  await initBackend('cpu');
  assert.equal(resolve({ freeze: 'backbone' }).config?.model.freeze, 'backbone');
  assert.equal(resolve({}).config?.model.freeze, undefined);
  assert.deepEqual(issues({ freeze: 'all' }), ['model.freeze: must be one of "none", "backbone", "bn" (got "all")']);
  assert.deepEqual(issues({ freeze: 'backbone', head: 'none' }), ['model.freeze: must not be "backbone" with model.head "none": nothing would be left to train (got "backbone")']);

  const spec = { backbone: 'convnet' as const, width: 0.25, embeddingDim: 4, normalize: false, head: [8, 4], inputShape: [8, 8, 3] as [number, number, number], seed: 2 };
  const stats = (b: ReturnType<typeof buildBranch>) => b.layers.filter((l) => l.getClassName() === 'BatchNormalization').flatMap((l) => l.getWeights().slice(2).map((w) => [...w.dataSync()]));
  const x = tf.randomNormal([4, 8, 8, 3], 1, 2, 'float32', 5);
  for (const mode of ['none', 'backbone', 'bn'] as const) {
    const b = buildBranch({ ...spec, freeze: mode });
    const trainable = b.trainableWeights.map((w) => w.originalName);
    const before = stats(b);
    const inference = (b.predict(x) as Tensor).dataSync();
    const training = (b.apply(x, { training: true }) as Tensor).dataSync();
    const after = stats(b);
    if (mode === 'none') {
      assert.ok(trainable.includes('c1_conv/kernel') && trainable.includes('c1_bn/gamma'));
      assert.notDeepEqual(after, before, 'training mode updates the moving statistics');
    } else {
      assert.deepEqual(after, before, `${mode}: the moving statistics stay`);
      assert.deepEqual(training, inference, `${mode}: training mode normalises with the moving statistics`);
    }
    if (mode === 'backbone') assert.deepEqual(trainable, ['head1/kernel', 'head1/bias', 'embedding/kernel', 'embedding/bias']);
    if (mode === 'bn') assert.ok(trainable.includes('c1_conv/kernel') && trainable.includes('c1_bn/gamma') && trainable.includes('c1_bn/beta'));
    b.dispose();
  }
});

test('scoring folds BN for every backbone: an exported torch-padded resnet34 with an MLP head loads folded, same outputs', async () => {
  await initBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'embedlab-fold-'));
  try {
    const resolved = validateConfig({ data: { train: 'd', imageSize: [33, 31] }, loss: { type: 'triplet' },
      model: { backbone: 'resnet34', width: 0.125, head: [12, 6], normalize: true, pretrained: 'w.safetensors' } }, dir).config!;
    const branch = buildBranch({ ...resolved.model, inputShape: [33, 31, 3], seed: 4 });
    await exportModels(dir, resolved, branch, ['branch'], { branch: join(dir, 'branch') }, 'test', ['tfjs']);
    const folded = await loadExportedModel(join(dir, 'branch'), 'branch', { foldBatchNorm: true });
    assert.ok(!folded.model.layers.some((l) => l.getClassName() === 'BatchNormalization'), 'folded');
    const x = tf.randomNormal([2, 33, 31, 3], 0, 1, 'float32', 8);
    const a = (branch.predict(x) as Tensor).dataSync();
    const b = (folded.model.predict(x) as Tensor).dataSync();
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    assert.ok(d < 1e-4, `folded differs by ${d}`);
    branch.dispose();
    folded.model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
