// The frozen-feature fast path (src/engine/frozen/features.ts) through real parts: a synth dataset (sharp), the
// PyTorch resnet18 fixture (scripts/make-pretrained-fixtures.py) loaded by model.pretrained, tfjs on wasm.
//   - through the CLI: a model.freeze "backbone" run trains its head on cached features; its validation MAP@R beats
//     its own step-0 baseline (features.json); a second run computes no features (all reused); a changed image
//     file is the one computed again;
//   - a second implementation: the head trained on cached features equals (1e-5) the head trained through the
//     frozen network (TrainOptions.frozenFeatures false) for the same seed and steps.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { LayersModel } from '@tensorflow/tfjs';
import { validateConfig } from '../../src/core/config';
import { initBackend } from '../../src/engine/backend';
import { loadLayersModelFromDir } from '../../src/engine/model-io';
import { runTraining } from '../../src/engine/train';
import { pretrainedFixtures, type Fixtures } from '../unit/pretrained-fixtures';
import { cli, jsonLines, tmpDir, writeConfig } from './helpers';

const work = tmpDir('frozen-features');
let fx: Fixtures;
test.before(async () => {
  fx = pretrainedFixtures();
  fs.mkdirSync(path.join(work, 'weights'));
  fs.symlinkSync(path.join(fx.dir, fx.models.resnet18.file), path.join(work, 'weights', fx.models.resnet18.file));
  const r = await cli(['synth', path.join(work, 'data'), '--classes', '4', '--per-class', '6', '--size', '64', '--seed', '11']);
  assert.equal(r.code, 0, r.stderr);
  await initBackend('wasm');
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

function config(over: { epochs?: number; samplesPerEpoch?: number; validationLimit?: number; lr?: number } = {}): Record<string, unknown> {
  return {
    name: 'frozen',
    data: { train: 'data', imageSize: [64, 64], samplesPerEpoch: over.samplesPerEpoch ?? 64, validationLimit: over.validationLimit ?? 24, augment: false },
    model: { pretrained: `weights/${fx.models.resnet18.file}`, backbone: 'resnet18', embeddingDim: 16, freeze: 'backbone' },
    loss: { type: 'triplet', margin: 0.2, mining: 'none' },
    training: { epochs: over.epochs ?? 4, batchSize: 8, optimizer: { type: 'adam', learningRate: over.lr ?? 0.01 }, seed: 7, backend: 'wasm' },
  };
}

function runDirs(runs: string): string[] {
  return fs.readdirSync(runs).filter((d) => fs.existsSync(path.join(runs, d, 'run.json'))).map((d) => path.join(runs, d)).sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
}
const featuresOf = (runDir: string) => JSON.parse(fs.readFileSync(path.join(runDir, 'features.json'), 'utf8')) as {
  key: string;
  computed: number; reused: number; dim: number; baseline?: { mapAtR: number };
};

test('a frozen-backbone run trains the head on cached features, beats its step-0 baseline, and reuses the cache', async () => {
  const cfgFile = writeConfig(work, config());
  const runs = path.join(work, 'runs');
  const r = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  const events = jsonLines(r.stdout);
  assert.equal(events.filter((e) => e.type === 'step').length, 4 * 8);
  const epochs = events.filter((e) => e.type === 'epoch') as unknown as Array<{ validation: { mapAtR: number } }>;
  assert.equal(epochs.length, 4);
  const [first] = runDirs(runs);
  const f1 = featuresOf(first);
  assert.equal(f1.computed, 24, 'every image computed once');
  assert.equal(f1.reused, 0);
  assert.equal(f1.dim, 512);
  const baseline = f1.baseline!.mapAtR;
  const last = epochs[epochs.length - 1].validation.mapAtR;
  assert.ok(last > baseline + 0.02, `validation MAP@R ${last} beats the untrained head's ${baseline}`);
  for (const f of ['model.json', 'weights.bin']) assert.ok(fs.existsSync(path.join(first, 'checkpoints', 'last', f)));
  // The export is the normal branch (backbone + the trained head): its head is the checkpoint's.
  const exported = await loadLayersModelFromDir(path.join(first, 'model', 'branch'));
  const ckpt = await loadLayersModelFromDir(path.join(first, 'checkpoints', 'last'));
  assert.deepEqual(exported.getLayer('embedding').getWeights()[0].dataSync(), ckpt.getLayer('embedding').getWeights()[0].dataSync());
  assert.ok(fs.readdirSync(path.join(first, 'model', 'branch')).some((f) => f.endsWith('.onnx')), 'an ONNX export beside it');
  exported.dispose();
  ckpt.dispose();

  // A second run: nothing computed.
  const r2 = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  const second = runDirs(runs)[1];
  assert.deepEqual([featuresOf(second).computed, featuresOf(second).reused], [0, 24]);
  assert.equal(featuresOf(second).baseline!.mapAtR, baseline, 'the same features give the same baseline');

  // One image changed: it alone is computed again.
  const cls = fs.readdirSync(path.join(work, 'data')).sort()[0];
  const img = path.join(work, 'data', cls, fs.readdirSync(path.join(work, 'data', cls)).sort()[0]);
  const changed = await sharp(fs.readFileSync(img)).negate().png().toBuffer();
  fs.writeFileSync(img, changed);
  const r3 = await cli(['train', cfgFile, '--out', runs, '--json']);
  assert.equal(r3.code, 0, r3.stderr);
  const third = runDirs(runs)[2];
  assert.deepEqual([featuresOf(third).computed, featuresOf(third).reused], [1, 23]);
});

test('the head trained on cached features equals the head trained through the frozen network (1e-5)', async () => {
  const cfg = config({ epochs: 1, samplesPerEpoch: 24, validationLimit: 0, lr: 0.01 });
  const cfgFile = writeConfig(work, cfg, 'same.embedding.json');
  const { config: resolved } = validateConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), work);
  assert.ok(resolved);
  const heads: LayersModel[] = [];
  const seconds: number[] = [];
  for (const frozenFeatures of [true, false]) {
    const runDir = path.join(work, `same-${frozenFeatures}`);
    fs.mkdirSync(runDir);
    const t0 = Date.now();
    const res = await runTraining({ config: structuredClone(resolved), runDir, emit: () => undefined, shouldStop: () => false, frozenFeatures });
    seconds.push((Date.now() - t0) / 1000);
    assert.equal(res.status, 'done');
    assert.equal(fs.existsSync(path.join(runDir, 'features.json')), frozenFeatures);
    heads.push(await loadLayersModelFromDir(path.join(runDir, 'checkpoints', 'last')));
  }
  const [a, b] = heads.map((m) => m.getLayer('embedding').getWeights().map((w) => w.dataSync()));
  const init = (await import('../../src/engine/models')).buildBranch({ ...resolved.model, inputShape: [64, 64, 3], seed: 7 }).getLayer('embedding').getWeights()[0].dataSync();
  let moved = 0;
  for (let i = 0; i < init.length; i++) moved = Math.max(moved, Math.abs(a[0][i] - init[i]));
  assert.ok(moved > 1e-3, `the head trained (moved ${moved})`);
  for (let k = 0; k < 2; k++) {
    let worst = 0;
    for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
    assert.ok(worst < 1e-5, `embedding weight ${k}: largest difference ${worst}`);
  }
  // The backbone is untouched in both.
  const conv = heads.map((m) => m.getLayer('s4b2_b_conv').getWeights()[0].dataSync());
  assert.deepEqual(conv[0], conv[1]);
  heads.forEach((m) => m.dispose());
  console.log(`# 3 steps: ${seconds[0].toFixed(1)} s on cached features (extraction included), ${seconds[1].toFixed(1)} s through the network`);
});

test('a frozen-feature run stopped mid-epoch and resumed ends with the uninterrupted run\'s head; the baseline is kept', async () => {
  const cfg = config({ epochs: 2, samplesPerEpoch: 24, validationLimit: 12, lr: 0.01 });
  const cfgFile = writeConfig(work, cfg, 'resume.embedding.json');
  const { config: resolved } = validateConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), work);
  assert.ok(resolved);
  const straight = path.join(work, 'resume-straight');
  const stopped = path.join(work, 'resume-stopped');
  fs.mkdirSync(straight);
  fs.mkdirSync(stopped);
  assert.equal((await runTraining({ config: structuredClone(resolved), runDir: straight, emit: () => undefined, shouldStop: () => false })).status, 'done');
  let steps = 0;
  const first = await runTraining({ config: structuredClone(resolved), runDir: stopped, emit: (e) => { if (e.type === 'step') steps++; }, shouldStop: () => steps >= 4 });
  assert.equal(first.status, 'stopped');
  const baseline = featuresOf(stopped).baseline;
  assert.ok(baseline);
  const events: string[] = [];
  const second = await runTraining({ config: structuredClone(resolved), runDir: stopped, resume: true, emit: (e) => events.push(e.type === 'step' ? `step ${e.step}` : e.type), shouldStop: () => false });
  assert.equal(second.status, 'done');
  assert.deepEqual(events.filter((e) => e.startsWith('step')), ['step 4', 'step 5'], 'the resumed run does the two steps left');
  assert.deepEqual(featuresOf(stopped).baseline, baseline);
  assert.equal(featuresOf(stopped).computed, 0, 'the resumed run finds every feature in the cache');
  const [a, b] = await Promise.all([straight, stopped].map((d) => loadLayersModelFromDir(path.join(d, 'checkpoints', 'last'))));
  assert.deepEqual(a.getLayer('embedding').getWeights()[0].dataSync(), b.getLayer('embedding').getWeights()[0].dataSync());
  a.dispose();
  b.dispose();
});

test('with data.augment a bounded number of views per image is cached, and the steps draw among them', async () => {
  const cfg = config({ epochs: 1, samplesPerEpoch: 16, validationLimit: 0 });
  (cfg.data as Record<string, unknown>).augment = true;
  const cfgFile = writeConfig(work, cfg, 'views.embedding.json');
  const { config: resolved } = validateConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), work);
  assert.ok(resolved?.data.augment);
  const runDir = path.join(work, 'views');
  fs.mkdirSync(runDir);
  assert.equal((await runTraining({ config: resolved, runDir, emit: () => undefined, shouldStop: () => false })).status, 'done');
  const f = featuresOf(runDir) as ReturnType<typeof featuresOf> & { views: number; cacheDir: string };
  assert.equal(f.views, 4);
  const index = JSON.parse(fs.readFileSync(path.join(f.cacheDir, 'index.json'), 'utf8')) as { views: number; dim: number; hashes: string[]; file: string };
  assert.equal(index.views, 4);
  assert.ok(index.hashes.length >= 24);
  // The views of one image differ (augmented) and view 0 is the plain image's features (the no-augment cache's).
  const table = new Float32Array(new Uint8Array(fs.readFileSync(path.join(f.cacheDir, index.file))).buffer);
  const row = table.subarray(0, 4 * 512);
  assert.notDeepEqual(Array.from(row.subarray(0, 512)), Array.from(row.subarray(512, 1024)));
  const plainDir = path.join(path.dirname(f.cacheDir), featuresOf(path.join(work, 'same-true')).key); // test 2's cache (no views)
  const plain = JSON.parse(fs.readFileSync(path.join(plainDir, 'index.json'), 'utf8')) as { hashes: string[]; file: string };
  const plainTable = new Float32Array(new Uint8Array(fs.readFileSync(path.join(plainDir, plain.file))).buffer);
  const at = plain.hashes.indexOf(index.hashes[0]);
  assert.ok(at >= 0);
  const want = plainTable.subarray(at * 512, at * 512 + 512);
  let worst = 0;
  for (let i = 0; i < 512; i++) worst = Math.max(worst, Math.abs(want[i] - row[i]));
  assert.ok(worst < 1e-5, `view 0 is the plain image (${worst})`);
});

test('a validation folder gets its own features; the epoch\'s validation and the baseline are over its images', async () => {
  const r = await cli(['synth', path.join(work, 'val'), '--classes', '4', '--per-class', '3', '--size', '64', '--seed', '12']);
  assert.equal(r.code, 0, r.stderr);
  const cfg = config({ epochs: 1, samplesPerEpoch: 16 });
  (cfg.data as Record<string, unknown>).validation = 'val';
  const cfgFile = writeConfig(work, cfg, 'val.embedding.json');
  const { config: resolved } = validateConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), work);
  assert.ok(resolved);
  const runDir = path.join(work, 'with-val');
  fs.mkdirSync(runDir);
  const epochs: Array<{ validation?: { count: number; mapAtR: number } }> = [];
  await runTraining({ config: resolved, runDir, emit: (e) => { if (e.type === 'epoch') epochs.push(e); }, shouldStop: () => false });
  assert.equal(epochs[0].validation?.count, 12);
  const f = featuresOf(runDir) as ReturnType<typeof featuresOf> & { baseline: { count: number } };
  assert.equal(f.baseline.count, 12);
  assert.equal(f.computed, 12, 'the training images come from the cache, the validation images are new');
  assert.equal(f.reused, 24);
});
