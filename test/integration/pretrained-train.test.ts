// Training from pretrained weights through the real CLI (worker process, sharp, tfjs on wasm): `model.pretrained`
// (a path relative to the config) names a PyTorch resnet18 state dict (the fixtures of
// scripts/make-pretrained-fixtures.py). The run starts from it: after one step at a negligible learning rate its
// checkpoint's convolutions and BN scales/offsets are the file's, its head is the seeded fresh one, and the run's
// `export --untrained` baseline (the network before training) gives PyTorch's pooled features. A file of another
// architecture stops the run with exit code 2 and says which backbone to set.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { validateConfig } from '../../src/core/config';
import { initBackend } from '../../src/engine/backend';
import { loadLayersModelFromDir } from '../../src/engine/model-io';
import { buildBranch } from '../../src/engine/models';
import { readSafetensors } from '../../src/engine/pretrained/safetensors';
import { tf } from '../../src/engine/tf';
import { startFakeHub } from '../unit/hub-fixture';
import { chwToHwc, pretrainedFixtures, relativeError, type Fixtures } from '../unit/pretrained-fixtures';
import { cli, jsonLines, onlyRunDir, tmpDir, writeConfig } from './helpers';

const work = tmpDir('pretrained-train');
let fx: Fixtures;
test.before(async () => {
  fx = pretrainedFixtures();
  fs.mkdirSync(path.join(work, 'weights'));
  for (const m of ['resnet18', 'resnet50']) fs.symlinkSync(path.join(fx.dir, fx.models[m].file), path.join(work, 'weights', fx.models[m].file));
  const r = await cli(['synth', path.join(work, 'data'), '--classes', '3', '--per-class', '4', '--size', '64', '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  await initBackend('wasm');
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

function config(weights: string, backbone = 'resnet18'): Record<string, unknown> {
  return {
    name: 'from-pretrained',
    data: { train: 'data', imageSize: [64, 64], samplesPerEpoch: 2, validationLimit: 0, augment: false },
    model: { pretrained: `weights/${weights}`, backbone, embeddingDim: 16 },
    loss: { type: 'triplet', margin: 0.2, mining: 'none' },
    training: { epochs: 1, batchSize: 2, optimizer: { type: 'sgd', learningRate: 1e-12 }, seed: 5, backend: 'wasm' },
  };
}

/** OIHW → HWIO, as a plain array. */
function hwio(data: Float32Array, [o, i, kh, kw]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) out[((h * kw + w) * i + b) * o + a] = data[((a * i + b) * kh + h) * kw + w];
  return out;
}

test('a run with model.pretrained starts from the file\'s weights, with a freshly initialised head', async () => {
  const cfgFile = writeConfig(work, config('resnet18.safetensors'));
  const resolved = validateConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), work);
  assert.equal(resolved.config?.model.pretrained, path.join(work, 'weights', 'resnet18.safetensors'), 'relative to the config file');
  assert.equal(resolved.config?.model.width, 1, 'width 1 by default with pretrained weights');
  const runs = path.join(work, 'runs');
  const r = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  assert.equal(jsonLines(r.stdout).filter((e) => e.type === 'step').length, 1);
  const runDir = onlyRunDir(runs);

  // The checkpoint after one step at lr 1e-12: the file's convolutions and BN affine weights.
  const ckpt = await loadLayersModelFromDir(path.join(runDir, 'checkpoints', 'last'));
  const { tensors } = readSafetensors(path.join(fx.dir, fx.models.resnet18.file));
  const pairs: Array<[string, string, number]> = [
    ['stem_conv', 'conv1.weight', 0], ['stem_bn', 'bn1.weight', 0], ['stem_bn', 'bn1.bias', 1],
    ['s2b1_proj_conv', 'layer2.0.downsample.0.weight', 0], ['s4b2_b_conv', 'layer4.1.conv2.weight', 0], ['s4b2_b_bn', 'layer4.1.bn2.bias', 1],
  ];
  for (const [layer, key, index] of pairs) {
    const t = tensors.get(key)!;
    const want = t.shape.length === 4 ? hwio(t.data, t.shape) : t.data;
    const got = ckpt.getLayer(layer).getWeights()[index].dataSync();
    assert.ok(relativeError(got, want) < 1e-6, `${layer} holds ${key}`);
  }
  // The moving statistics moved (one training step, momentum 0.9) but started from the file's.
  const mean = ckpt.getLayer('stem_bn').getWeights()[2].dataSync();
  const fileMean = tensors.get('bn1.running_mean')!.data;
  const moved = relativeError(mean, fileMean);
  assert.ok(moved > 0 && moved < 0.5, `moving mean moved a little from the file's (${moved})`);
  // The head: the seeded initialisation of the same spec, not anything from the file (its fc is dropped).
  const fresh = buildBranch({ ...resolved.config!.model, inputShape: [64, 64, 3], seed: 5 });
  assert.ok(relativeError(ckpt.getLayer('embedding').getWeights()[0].dataSync(), fresh.getLayer('embedding').getWeights()[0].dataSync()) < 1e-6);
  fresh.dispose();
  ckpt.dispose();

  // The run's baseline (its network before training) is the pretrained network: PyTorch's pooled features.
  const out = path.join(work, 'untrained');
  const e = await cli(['export', runDir, '--type', 'branch', '--untrained', '--out', out, '--format', 'tfjs']);
  assert.equal(e.code, 0, e.stderr);
  const exported: LayersModel = await loadLayersModelFromDir(out);
  const body = tf.model({ inputs: exported.inputs, outputs: exported.getLayer('gap').output });
  for (const input of fx.inputs.filter((i) => i.shape[1] === 64 && i.shape[2] === 64)) {
    const got = tf.tidy(() => (body.predict(tf.tensor4d(chwToHwc(input.data, input.shape), [1, 64, 64, 3])) as Tensor).dataSync());
    const err = relativeError(got, fx.models.resnet18.features[input.name]);
    assert.ok(err < 1e-4, `${input.name}: relative error ${err}`);
  }
  exported.dispose();
});

test('a state dict of another architecture stops the run with exit code 2, naming the backbone to set', async () => {
  const cfgFile = writeConfig(work, config('resnet50.safetensors'), 'wrong.embedding.json');
  const r = await cli(['train', cfgFile, '--out', path.join(work, 'runs-wrong')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /resnet50\.safetensors: the weights are resnet50 \(bottleneck blocks \[3, 4, 6, 3\]\) at width 1, but the model is resnet18 at width 1; set model\.backbone "resnet50"/);
});

test('model.freeze "backbone": the run trains the head and leaves every backbone weight and BN statistic as the file has them', async () => {
  const cfg = config('resnet18.safetensors');
  (cfg.model as Record<string, unknown>).freeze = 'backbone';
  (cfg.training as Record<string, unknown>).optimizer = { type: 'sgd', learningRate: 0.05 };
  (cfg.data as Record<string, unknown>).samplesPerEpoch = 4;
  const cfgFile = writeConfig(work, cfg, 'frozen.embedding.json');
  const runs = path.join(work, 'runs-frozen');
  const r = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  const steps = jsonLines(r.stdout).filter((e) => e.type === 'step');
  assert.equal(steps.length, 2);
  const started = jsonLines(r.stdout).find((e) => e.type === 'started')!;
  assert.equal(started.parameters, 512 * 16 + 16, 'only the head is trainable');
  const ckpt = await loadLayersModelFromDir(path.join(onlyRunDir(runs), 'checkpoints', 'last'));
  const { tensors } = readSafetensors(path.join(fx.dir, fx.models.resnet18.file));
  for (const [layer, prefix] of [['stem', ''], ['s3b1_proj', 'layer3.0.downsample.'], ['s4b2_b', 'layer4.1.']] as const) {
    const conv = prefix.endsWith('downsample.') ? `${prefix}0` : prefix === '' ? 'conv1' : `${prefix}conv2`;
    const bn = prefix.endsWith('downsample.') ? `${prefix}1` : prefix === '' ? 'bn1' : `${prefix}bn2`;
    const t = tensors.get(`${conv}.weight`)!;
    assert.deepEqual(ckpt.getLayer(`${layer}_conv`).getWeights()[0].dataSync(), hwio(t.data, t.shape), `${layer}_conv`);
    const w = ckpt.getLayer(`${layer}_bn`).getWeights();
    ['weight', 'bias', 'running_mean', 'running_var'].forEach((f, i) => assert.deepEqual(w[i].dataSync(), tensors.get(`${bn}.${f}`)!.data, `${layer}_bn ${f}`));
  }
  const fresh = buildBranch({ backbone: 'resnet18', width: 1, embeddingDim: 16, normalize: true, pretrained: 'x', inputShape: [64, 64, 3], seed: 5 });
  assert.ok(relativeError(ckpt.getLayer('embedding').getWeights()[0].dataSync(), fresh.getLayer('embedding').getWeights()[0].dataSync()) > 1e-4, 'the head trained');
  fresh.dispose();
  ckpt.dispose();
});

test('training.backboneLearningRate: the backbone steps at a fraction of the head\'s rate (Adam: about that fraction of a step)', async () => {
  const cfg = config('resnet18.safetensors');
  (cfg.training as Record<string, unknown>).optimizer = { type: 'adam', learningRate: 0.01 };
  (cfg.training as Record<string, unknown>).backboneLearningRate = 0.001;
  const cfgFile = writeConfig(work, cfg, 'rates.embedding.json');
  const runs = path.join(work, 'runs-rates');
  const r = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  const dir = path.join(onlyRunDir(runs), 'checkpoints', 'last');
  assert.equal((JSON.parse(fs.readFileSync(path.join(dir, 'optimizer.json'), 'utf8')) as { className: string }).className, 'Adam+backbone');
  const ckpt = await loadLayersModelFromDir(dir);
  const { tensors } = readSafetensors(path.join(fx.dir, fx.models.resnet18.file));
  // One Adam step moves each weight by about its rate: 1e-5 in the backbone, 1e-2 in the head.
  const t = tensors.get('layer4.1.conv2.weight')!;
  const body = ckpt.getLayer('s4b2_b_conv').getWeights()[0].dataSync();
  const want = hwio(t.data, t.shape);
  let maxBody = 0;
  for (let i = 0; i < body.length; i++) maxBody = Math.max(maxBody, Math.abs(body[i] - want[i]));
  assert.ok(maxBody > 0 && maxBody <= 1.01e-5, `backbone step ${maxBody}`);
  const fresh = buildBranch({ backbone: 'resnet18', width: 1, embeddingDim: 16, normalize: true, pretrained: 'x', inputShape: [64, 64, 3], seed: 5 });
  const head = ckpt.getLayer('embedding').getWeights()[0].dataSync();
  const head0 = fresh.getLayer('embedding').getWeights()[0].dataSync();
  let maxHead = 0;
  for (let i = 0; i < head.length; i++) maxHead = Math.max(maxHead, Math.abs(head[i] - head0[i]));
  assert.ok(maxHead > 5e-3 && maxHead <= 1.01e-2, `head step ${maxHead}`);
  fresh.dispose();
  ckpt.dispose();
});

test('model.pretrained "hf:owner/repo": the worker downloads into the hub cache (progress events), trains from it, and reuses it offline; a config.json of another architecture is refused', async () => {
  const weights = fs.readFileSync(path.join(fx.dir, fx.models.resnet18.file));
  const timmConfig = { architecture: 'resnet18', pretrained_cfg: { input_size: [3, 64, 64], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear', crop_pct: 0.875 } };
  const hub = await startFakeHub({
    repo: 'test-org/resnet18-fixture', commit: 'c'.repeat(40),
    files: { 'model.safetensors': { bytes: weights, lfs: true }, 'config.json': { bytes: Buffer.from(JSON.stringify(timmConfig)), lfs: false } },
  });
  const wrong = await startFakeHub({
    repo: 'test-org/resnet50-fixture', commit: 'd'.repeat(40),
    files: { 'model.safetensors': { bytes: weights, lfs: true }, 'config.json': { bytes: Buffer.from(JSON.stringify({ ...timmConfig, architecture: 'resnet50' })), lfs: false } },
  });
  try {
    const cache = path.join(work, 'hf-cache');
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '' };
    const cfg = config('x');
    (cfg.model as Record<string, unknown>).pretrained = 'hf:test-org/resnet18-fixture';
    const cfgFile = writeConfig(work, cfg, 'hub.embedding.json');
    const r = await cli(['train', cfgFile, '--out', path.join(work, 'runs-hub'), '--json'], { env });
    assert.equal(r.code, 0, `train failed: ${r.stderr}`);
    const downloads = jsonLines(r.stdout).filter((e) => e.type === 'progress' && e.task === 'download');
    assert.ok(downloads.length >= 2, 'download progress events');
    const last = downloads.at(-1)!;
    assert.ok((last.done as number) >= weights.length && last.done === last.total, `the last progress event is complete (${String(last.done)}/${String(last.total)})`);
    const blob = path.join(cache, 'models--test-org--resnet18-fixture', 'snapshots', 'c'.repeat(40), 'model.safetensors');
    assert.deepEqual(fs.readFileSync(blob), weights, 'the file in the hub cache, huggingface_hub layout');
    const ckpt = await loadLayersModelFromDir(path.join(onlyRunDir(path.join(work, 'runs-hub')), 'checkpoints', 'last'));
    const t = readSafetensors(path.join(fx.dir, fx.models.resnet18.file)).tensors.get('conv1.weight')!;
    assert.ok(relativeError(ckpt.getLayer('stem_conv').getWeights()[0].dataSync(), hwio(t.data, t.shape)) < 1e-6, 'trained from the downloaded weights');
    ckpt.dispose();

    // Offline: no request reaches the hub, the cache serves the run.
    const before = hub.requests.length;
    const off = await cli(['train', cfgFile, '--out', path.join(work, 'runs-hub-offline'), '--json'], { env: { ...env, HF_HUB_OFFLINE: '1' } });
    assert.equal(off.code, 0, `offline train failed: ${off.stderr}`);
    assert.equal(hub.requests.length, before, 'offline: no request');

    // config.json says resnet50 while the config asks for resnet18: refused before any weight is read.
    (cfg.model as Record<string, unknown>).pretrained = 'hf:test-org/resnet50-fixture';
    const wrongFile = writeConfig(work, cfg, 'hub-wrong.embedding.json');
    const w = await cli(['train', wrongFile, '--out', path.join(work, 'runs-hub-wrong')], { env: { ...env, HF_ENDPOINT: wrong.url } });
    assert.equal(w.code, 2, w.stderr);
    assert.match(w.stderr, /is a resnet50 \(its config\.json says so\); set model\.backbone "resnet50"/);
  } finally {
    await hub.close();
    await wrong.close();
  }
});

test('fine-tuning from pretrained weights (model.freeze "bn": small batches keep the file\'s BN statistics) raises the best validation MAP@R above the run\'s own baseline, validated before its first step', async () => {
  const data = path.join(work, 'ft');
  for (const [dir, per, seed] of [['train', '10', '11'], ['val', '6', '12']] as const) {
    const s = await cli(['synth', path.join(data, dir), '--classes', '4', '--per-class', per, '--size', '32', '--seed', seed]);
    assert.equal(s.code, 0, s.stderr);
  }
  const cfgFile = writeConfig(work, {
    name: 'fine-tune',
    data: { train: 'ft/train', validation: 'ft/val', imageSize: [32, 32], samplesPerEpoch: 96, augment: false },
    model: { pretrained: 'weights/resnet18.safetensors', backbone: 'resnet18', embeddingDim: 32, freeze: 'bn' },
    loss: { type: 'triplet', margin: 0.2, mining: 'semi-hard' },
    training: { epochs: 3, classesPerBatch: 4, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001 }, seed: 7, backend: 'wasm' },
  }, 'fine-tune.embedding.json');
  const r = await cli(['train', cfgFile, '--out', path.join(work, 'runs-ft'), '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  const ev = jsonLines(r.stdout);
  const baseline = ev.find((e) => e.type === 'baseline') as unknown as { validation: { mapAtR: number } } | undefined;
  assert.ok(baseline, 'a baseline event before the first step');
  assert.ok(ev.findIndex((e) => e.type === 'baseline') < ev.findIndex((e) => e.type === 'step'), 'before the first step');
  const maps = ev.filter((e) => e.type === 'epoch').map((e) => (e as unknown as { validation: { mapAtR: number } }).validation.mapAtR);
  assert.equal(maps.length, 3);
  assert.ok(Math.max(...maps) > baseline.validation.mapAtR + 0.02, `validation MAP@R ${maps.join(', ')} against the baseline ${baseline.validation.mapAtR}`);
});
