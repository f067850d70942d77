// training.backboneLearningRate: head and backbone variables go to two optimizers of the same kind. SGD steps are
// checked exactly (lr·g and lr·m·g), Adam's first step (≈ lr for either rate, so a gradient scale could not do it),
// the state's save/load round trip through model-io, the split of a real branch's variables, and the config field.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Variable } from '@tensorflow/tfjs';
import { validateConfig } from '../../src/core/config';
import { initBackend } from '../../src/engine/backend';
import { loadOptimizer, saveOptimizer } from '../../src/engine/model-io';
import { buildBranch } from '../../src/engine/models';
import { isHeadVariable, splitOptimizer } from '../../src/engine/pretrained/backbone-rate';
import { tf } from '../../src/engine/tf';

test.before(async () => { await initBackend('cpu'); });

let n = 0;
function vars(): { head: Variable; body: Variable } {
  n++;
  return { head: tf.variable(tf.tensor1d([1, 2, 3]), true, `embedding/kernel_t${n}`), body: tf.variable(tf.tensor1d([4, 5, 6]), true, `stem_conv/kernel_t${n}`) };
}
const grads = (v: { head: Variable; body: Variable }) => ({ [v.head.name]: tf.tensor1d([0.5, -1, 2]), [v.body.name]: tf.tensor1d([0.5, -1, 2]) });
const close = (a: ArrayLike<number>, b: number[], tol: number) => b.forEach((x, i) => assert.ok(Math.abs(a[i] - x) <= tol, `${a[i]} vs ${x}`));

test('SGD: the head steps lr·g, the backbone lr·m·g', () => {
  const v = vars();
  splitOptimizer(tf.train.sgd(0.1), tf.train.sgd(0.1 * 0.01)).applyGradients(grads(v));
  close(v.head.dataSync(), [1 - 0.05, 2 + 0.1, 3 - 0.2], 1e-6);
  close(v.body.dataSync(), [4 - 0.0005, 5 + 0.001, 6 - 0.002], 1e-6);
});

test('Adam: the first step is ≈ its learning rate per coordinate, for each part (a gradient scale would not change it)', () => {
  const v = vars();
  splitOptimizer(tf.train.adam(0.1), tf.train.adam(0.001)).applyGradients(grads(v));
  close(v.head.dataSync(), [0.9, 2.1, 2.9], 1e-5);
  close(v.body.dataSync(), [3.999, 5.001, 5.999], 1e-5);
});

test('its state saves and loads through model-io; a checkpoint of a single optimizer is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-split-'));
  try {
    const v = vars();
    const a = splitOptimizer(tf.train.adam(0.1), tf.train.adam(0.01));
    a.applyGradients(grads(v));
    a.applyGradients(grads(v));
    await saveOptimizer(a, dir);
    const names = (JSON.parse(fs.readFileSync(path.join(dir, 'optimizer.json'), 'utf8')) as { className: string; weights: Array<{ name: string }> });
    assert.equal(names.className, 'Adam+backbone');
    assert.ok(names.weights.some((w) => w.name === 'head/iter') && names.weights.some((w) => w.name.startsWith('backbone/stem_conv')));
    // The loaded optimizer continues exactly as the saved one.
    const b = splitOptimizer(tf.train.adam(0.1), tf.train.adam(0.01));
    await loadOptimizer(b, dir);
    const w = vars();
    w.head.assign(v.head);
    w.body.assign(v.body);
    // Same variable order, other names: the state is by position, as in tfjs. Another gradient than before, so
    // that the step depends on the moments (a fresh Adam would step ±lr).
    const g3 = () => tf.tensor1d([2, 0.1, -1]);
    a.applyGradients({ [v.head.name]: g3(), [v.body.name]: g3() });
    const wBefore = [...w.head.dataSync()];
    b.applyGradients({ [w.head.name]: g3(), [w.body.name]: g3() });
    const loadedStep = [...w.head.dataSync()].map((x, i) => x - wBefore[i]);
    close(w.head.dataSync(), [...v.head.dataSync()], 1e-5);
    close(w.body.dataSync(), [...v.body.dataSync()], 1e-5);
    const fresh = vars();
    const c = splitOptimizer(tf.train.adam(0.1), tf.train.adam(0.01));
    const before = [...fresh.head.dataSync()];
    c.applyGradients({ [fresh.head.name]: g3(), [fresh.body.name]: g3() });
    const freshStep = [...fresh.head.dataSync()].map((x, i) => x - before[i]);
    close(freshStep, [-0.1, -0.1, 0.1], 1e-5); // a fresh state steps ±lr; the loaded one does not: its state mattered
    assert.ok(Math.abs(loadedStep[1] - freshStep[1]) > 0.05, `loaded step ${loadedStep[1]} vs fresh ${freshStep[1]}`);
    await assert.rejects(loadOptimizer(tf.train.adam(0.1), dir), /checkpoint optimizer is Adam\+backbone, the config asks for Adam/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a real branch splits into its head (embedding, head<i>) and its backbone, also when names repeat', () => {
  for (let i = 0; i < 2; i++) {
    const b = buildBranch({ backbone: 'resnet18', width: 0.125, embeddingDim: 4, normalize: true, head: [8, 4], inputShape: [16, 16, 3], seed: 1 });
    const names = b.trainableWeights.map((w) => (w as unknown as { val: Variable }).val.name);
    const head = names.filter(isHeadVariable);
    assert.equal(head.length, 4, `head variables: ${head.join(', ')}`);
    assert.ok(head.every((h) => /^(embedding|head1)\//.test(h)));
    assert.equal(names.length - head.length, b.trainableWeights.filter((w) => !/^(embedding|head1)\//.test(w.originalName)).length);
    b.dispose();
  }
});

test('training.backboneLearningRate in the config', () => {
  const r = (tr: Record<string, unknown>) => validateConfig({ data: { train: 'd' }, loss: { type: 'contrastive' }, training: tr }, '/x');
  assert.equal(r({ backboneLearningRate: 0.1 }).config?.training.backboneLearningRate, 0.1);
  assert.equal(r({}).config?.training.backboneLearningRate, undefined);
  assert.deepEqual(r({ backboneLearningRate: 0 }).issues.map((i) => `${i.path}: ${i.message}`), ['training.backboneLearningRate: must be a number > 0 and <= 10 (got 0)']);
});
