// Our import of PyTorch ResNet state dicts against PyTorch itself: torchvision's resnet18/34/50 with seeded random
// weights and BN statistics (scripts/make-pretrained-fixtures.py, run with Debian's python3-torch), in torchvision's
// layout (F32) and timm's (F16), give PyTorch's pooled features (eval mode) within 1e-4 relative — on identical
// float inputs (64×64 and an odd 57×71, which catches padding errors) and through our image pipeline (png-fast and
// sharp) with ImageNet normalisation. Then the errors: another architecture, another width, a missing key, a shape
// mismatch, an unexpected key, timm's deep stem — and a prefixed state dict loading as the plain one.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { LabError } from '../../src/core/errors';
import { initBackend } from '../../src/engine/backend';
import { decodeImage, normalizeInto } from '../../src/engine/images';
import { buildBranch, paddingOf } from '../../src/engine/models';
import { importResnetStateDict } from '../../src/engine/pretrained/resnet-import';
import { readSafetensors } from '../../src/engine/pretrained/safetensors';
import { loadPretrainedInto } from '../../src/engine/pretrained/source';
import { tf } from '../../src/engine/tf';
import { chwToHwc, pretrainedFixtures, relativeError, writeSafetensorsF32, type Fixtures } from './pretrained-fixtures';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-pretrained-'));
let fx: Fixtures;
test.before(async () => {
  fx = pretrainedFixtures();
  await initBackend('wasm');
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

type Arch = 'resnet18' | 'resnet34' | 'resnet50';
/** A pretrained-layout branch whose output is the pooled features; any input size. */
function featureBranch(backbone: Arch, width = 1): LayersModel {
  return buildBranch({
    backbone, width, embeddingDim: 0, normalize: false, head: 'none', pretrained: 'x.safetensors',
    inputShape: [null, null, 3] as unknown as [number, number, number], seed: 1,
  });
}

function predict(model: LayersModel, hwc: Float32Array, h: number, w: number): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor4d(hwc, [1, h, w, 3])) as Tensor).dataSync() as Float32Array);
}

for (const name of ['resnet18', 'resnet34', 'resnet50', 'resnet18-timm', 'resnet34-timm', 'resnet50-timm']) {
  test(`${name}: our import gives PyTorch's pooled features within 1e-4 (relative)`, async () => {
    const m = fx.models[name];
    const model = featureBranch(m.backbone);
    try {
      const res = await loadPretrainedInto(model, path.join(fx.dir, m.file), m.backbone);
      assert.ok(res.dropped.includes('fc.weight') && res.dropped.includes('fc.bias'), 'fc is dropped');
      assert.equal(res.dropped.some((k) => k.endsWith('num_batches_tracked')), m.layout === 'torchvision');
      for (const input of fx.inputs) {
        const [, h, w] = input.shape;
        const ours = predict(model, chwToHwc(input.data, input.shape), h, w);
        const err = relativeError(ours, m.features[input.name]);
        assert.ok(err < 1e-4, `${name} on ${input.name} (${h}×${w}): relative error ${err.toExponential(2)}`);
      }
    } finally {
      model.dispose();
    }
  });
}

test('through our image pipeline (png-fast and sharp decoding, ImageNet normalisation): PyTorch\'s features on the same PNGs', async () => {
  assert.deepEqual(fx.mean, [0.485, 0.456, 0.406]);
  assert.deepEqual(fx.std, [0.229, 0.224, 0.225]);
  for (const name of ['resnet18', 'resnet50-timm']) {
    const m = fx.models[name];
    const model = featureBranch(m.backbone);
    await loadPretrainedInto(model, path.join(fx.dir, m.file), m.backbone);
    for (const img of fx.images) {
      const spec = { height: img.height, width: img.width, channels: 3 as const, fit: 'cover' as const, normalize: 'imagenet' as const };
      const pixels = await decodeImage(path.join(fx.dir, img.file), spec);
      const x = new Float32Array(pixels.length);
      normalizeInto(x, 0, pixels, spec);
      const err = relativeError(predict(model, x, img.height, img.width), m.imageFeatures);
      assert.ok(err < 1e-4, `${name} on ${img.file}: relative error ${err.toExponential(2)}`);
    }
    model.dispose();
  }
});

test('TensorFlow padding (the from-scratch layout) does not give PyTorch\'s features: the padding matters', async () => {
  const m = fx.models.resnet18;
  const torchLayout = featureBranch('resnet18');
  await loadPretrainedInto(torchLayout, path.join(fx.dir, m.file), 'resnet18');
  const tfLayout = buildBranch({ backbone: 'resnet18', width: 1, embeddingDim: 0, normalize: false, head: 'none', inputShape: [64, 64, 3], seed: 1 });
  assert.equal(paddingOf({}), 'tf');
  // Same weights by layer name (the padding layers have none).
  for (const l of tfLayout.layers) if (l.weights.length) l.setWeights(torchLayout.getLayer(l.name).getWeights());
  const input = fx.inputs[0];
  const err = relativeError(predict(tfLayout, chwToHwc(input.data, input.shape), 64, 64), m.features[input.name]);
  assert.ok(err > 1e-2, `tf padding should differ clearly, got ${err}`);
  assert.throws(() => importResnetStateDict(tfLayout, readSafetensors(path.join(fx.dir, m.file)).tensors, 'resnet18', 'x'), /padding "torch"/);
  torchLayout.dispose();
  tfLayout.dispose();
});

function rejects(fn: () => unknown, pattern: RegExp): Promise<void> {
  return assert.rejects(async () => fn(), (err: unknown) => {
    assert.ok(err instanceof LabError && err.code === 'bad-data' && err.exitCode === 2, `a bad-data LabError: ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('a state dict of another architecture or width says what the file looks like; a missing, reshaped or unexpected key is named', async () => {
  const r18 = path.join(fx.dir, fx.models.resnet18.file);
  const r50 = path.join(fx.dir, fx.models.resnet50.file);
  const model = featureBranch('resnet18');
  const before = model.getWeights().map((w) => w.dataSync().slice());
  await rejects(() => loadPretrainedInto(model, r50, 'resnet18'),
    /resnet50\.safetensors: the weights are resnet50 \(bottleneck blocks \[3, 4, 6, 3\]\) at width 1, but the model is resnet18 at width 1; set model\.backbone "resnet50"/);
  const narrow = featureBranch('resnet18', 0.5);
  await rejects(() => loadPretrainedInto(narrow, r18, 'resnet18'), /resnet18 \(basic blocks \[2, 2, 2, 2\]\) at width 1, but the model is resnet18 at width 0\.5; set model\.width 1/);
  narrow.dispose();

  const base = readSafetensors(r18).tensors;
  const variant = (name: string, edit: (m: Map<string, { shape: number[]; data: Float32Array }>) => void): string => {
    const m = new Map([...base].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
    edit(m);
    const file = path.join(work, `${name}.safetensors`);
    writeSafetensorsF32(file, m);
    return file;
  };
  await rejects(() => loadPretrainedInto(model, variant('missing', (m) => m.delete('layer3.1.bn2.running_var')), 'resnet18'),
    /missing\.safetensors: missing key "layer3\.1\.bn2\.running_var"/);
  await rejects(() => loadPretrainedInto(model, variant('reshaped', (m) => m.set('layer2.0.conv2.weight', { shape: [128, 128, 1, 1], data: new Float32Array(128 * 128) })), 'resnet18'),
    /"layer2\.0\.conv2\.weight" has shape \[128, 128, 1, 1\] \(OIHW\), but our layer s2b1_b_conv needs \[128, 128, 3, 3\]/);
  await rejects(() => loadPretrainedInto(model, variant('bn-reshaped', (m) => m.set('bn1.bias', { shape: [32], data: new Float32Array(32) })), 'resnet18'),
    /"bn1\.bias" has shape \[32\], but our layer stem_bn needs \[64\]/);
  await rejects(() => loadPretrainedInto(model, variant('extra', (m) => m.set('layer1.0.se.fc1.weight', { shape: [4, 64], data: new Float32Array(256) })), 'resnet18'),
    /unexpected key "layer1\.0\.se\.fc1\.weight" \(shape \[4, 64\]\)/);
  await rejects(() => loadPretrainedInto(model, variant('deep-stem', (m) => {
    m.set('conv1.0.weight', { shape: [32, 3, 3, 3], data: new Float32Array(864) });
    m.delete('conv1.weight');
  }), 'resnet18'), /a deep 3-conv stem \(timm's resnet\*c\/resnet\*d variants\), which Embedding Lab does not build/);
  await rejects(() => loadPretrainedInto(model, variant('resnet101', (m) => {
    for (let b = 6; b < 23; b++) m.set(`layer3.${b}.conv1.weight`, { shape: [1], data: new Float32Array(1) });
  }), 'resnet18'), /a ResNet \(basic blocks \[2, 2, 23, 2\]\) at width 1, which Embedding Lab does not build/);
  const notResnet = path.join(work, 'not-resnet.safetensors');
  writeSafetensorsF32(notResnet, new Map([['encoder.weight', { shape: [2], data: new Float32Array(2) }]]));
  await rejects(() => loadPretrainedInto(model, notResnet, 'resnet18'), /not a ResNet state dict/);
  await rejects(() => loadPretrainedInto(model, path.join(work, 'nothing.safetensors'), 'resnet18'), /not found/);
  // Nothing was written by any failed import.
  model.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), before[i]));

  // A prefixed state dict (as DataParallel saves it) loads like the plain one.
  const prefixed = path.join(work, 'prefixed.safetensors');
  writeSafetensorsF32(prefixed, new Map([...base].map(([k, t]) => [`module.${k}`, { shape: t.shape, data: t.data }])));
  const res = await loadPretrainedInto(model, prefixed, 'resnet18');
  assert.equal(res.prefix, 'module.');
  const input = fx.inputs[0];
  assert.ok(relativeError(predict(model, chwToHwc(input.data, input.shape), 64, 64), fx.models.resnet18.features[input.name]) < 1e-4);
  model.dispose();
});

test('a one-channel model takes the stem summed over RGB: a grey image gives the RGB model\'s features of that grey image', async () => {
  const m = fx.models.resnet18;
  const rgb = featureBranch('resnet18');
  await loadPretrainedInto(rgb, path.join(fx.dir, m.file), 'resnet18');
  const grey = buildBranch({ backbone: 'resnet18', width: 1, embeddingDim: 0, normalize: false, head: 'none', pretrained: 'x', inputShape: [32, 32, 1], seed: 1 });
  await loadPretrainedInto(grey, path.join(fx.dir, m.file), 'resnet18');
  const g = new Float32Array(32 * 32).map((_, i) => Math.sin(i * 0.37));
  const g3 = new Float32Array(32 * 32 * 3).map((_, i) => g[Math.floor(i / 3)]);
  const a = tf.tidy(() => (grey.predict(tf.tensor4d(g, [1, 32, 32, 1])) as Tensor).dataSync());
  const b = predict(rgb, g3, 32, 32);
  assert.ok(relativeError(a, b) < 1e-5);
  rgb.dispose();
  grey.dispose();
});
