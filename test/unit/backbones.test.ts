// The backbone registry drives everything, checked from the registry itself (no list of names copied here): every
// descriptor of src/core/backbones.ts has exactly one entry under src/engine/backbones/ and the schema's enum lists
// exactly those names; every entry builds with each padding it supports (BN folded or not), its pooled width is the
// descriptor's featureWidth, its body is made of exactly the layer classes it declares for the ONNX writer, and its
// ONNX export run by ONNX Runtime equals tfjs within 1e-5 (BatchNorm with non-trivial statistics; the pooled features
// L2-normalised, as a branch's are by default). Entries that take pretrained weights load a state dict in
// torchvision's naming, generated here from the stage layout.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import {
  BACKBONE_CHOICES, BACKBONE_NAMES, backboneDescriptor, backboneOfHubId, backbonePicks, DEFAULT_BACKBONE,
  PRETRAINED_BACKBONES, RESNET_LAYOUT, stageWidths, type BackboneName,
} from '../../src/core/backbones';
import { EMBEDDING_SCHEMA, featureWidth, validateConfig } from '../../src/core/config';
import { initCommand } from '../../src/cli/init';
import { initBackend } from '../../src/engine/backend';
import { BACKBONE_REGISTRY, backboneOf, type Padding } from '../../src/engine/backbones';
import { branchOnnxBytes } from '../../src/engine/export';
import { buildBranch, foldBatchNorm, isOurBackbone, type BranchSpec } from '../../src/engine/models';
import { ONNX_LAYER_CLASSES } from '../../src/engine/onnx';
import { createOrtSession, loadOrt } from '../../src/engine/onnx-runtime';
import type { Tensor32 } from '../../src/engine/pretrained/safetensors';
import { tf } from '../../src/engine/tf';

const ort = loadOrt();
const needOrt = ort.ok ? {} : { skip: `onnxruntime-node is not available: ${ort.ok ? '' : ort.reason}` };
test.before(async () => { await initBackend('wasm'); });

const registered = Object.keys(BACKBONE_REGISTRY) as BackboneName[];
const paddingsOf = (name: BackboneName): Padding[] => (backboneOf(name).pretrained ? ['tf', 'torch'] : ['tf']);
/** Small enough to build every backbone quickly; ResNets at 1/8 width, the convnet at 1/4. */
const widthOf = (name: BackboneName) => (name in RESNET_LAYOUT ? 0.125 : 0.25);
const SHAPE: [number, number, number] = [36, 28, 3];

function specOf(name: BackboneName, padding: Padding): BranchSpec {
  return { backbone: name, width: widthOf(name), embeddingDim: 0, head: 'none', normalize: true, inputShape: SHAPE, seed: 11, padding };
}

/** The body's layers: everything between the image input and global average pooling. */
function bodyClasses(branch: LayersModel): Set<string> {
  const gap = branch.layers.findIndex((l) => l.name === 'gap');
  assert.ok(gap > 0, 'the branch has a global average pooling named gap');
  return new Set(branch.layers.slice(1, gap).map((l) => l.getClassName()));
}

/** Random BatchNorm parameters and statistics, as after training (inference-mode BN is then not the identity). */
function perturbBatchNorm(branch: LayersModel, seed: number): void {
  for (const w of branch.weights) {
    const shape = w.shape as number[];
    if (/moving_mean/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.3, 0.3, 'float32', seed));
    if (/moving_variance/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.3, 2, 'float32', seed + 1));
    if (/gamma/.test(w.originalName)) w.write(tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + 2));
    if (/beta/.test(w.originalName)) w.write(tf.randomUniform(shape, -0.2, 0.2, 'float32', seed + 3));
  }
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('one entry per descriptor, keyed by its name; pretrained importers exactly where the descriptor takes pretrained weights', () => {
  assert.ok(registered.length >= 1);
  assert.deepEqual([...registered].sort(), [...BACKBONE_NAMES].sort());
  assert.equal(new Set(BACKBONE_NAMES).size, BACKBONE_NAMES.length, 'names are unique');
  for (const name of registered) {
    assert.equal(BACKBONE_REGISTRY[name].name, name);
    assert.equal(backboneOf(name), BACKBONE_REGISTRY[name]);
    assert.equal(BACKBONE_REGISTRY[name].pretrained !== undefined, PRETRAINED_BACKBONES.includes(name), `${name}: importer ⇔ descriptor`);
    assert.ok(isOurBackbone(name));
  }
  assert.ok(!isOurBackbone('resnet101') && !isOurBackbone(''));
  assert.ok(BACKBONE_NAMES.includes(DEFAULT_BACKBONE));
});

test('the schema\'s model.backbone enum and default are the registry\'s; its description names each backbone', () => {
  const prop = (EMBEDDING_SCHEMA as { properties: { model: { properties: { backbone: { enum: string[]; default: string; description: string } } } } })
    .properties.model.properties.backbone;
  assert.deepEqual(prop.enum, [...BACKBONE_NAMES]);
  assert.equal(prop.default, DEFAULT_BACKBONE);
  for (const name of BACKBONE_NAMES) assert.ok(prop.description.includes(`"${name}"`), `the description names ${name}`);
});

test('config, usage strings and pickers come from the registry', () => {
  const base = { name: 'x', data: { train: '.' }, loss: { type: 'triplet' } };
  for (const name of BACKBONE_NAMES) {
    const ok = validateConfig({ ...base, model: { backbone: name } }, process.cwd());
    assert.deepEqual(ok.issues, [], `${name} validates`);
    assert.equal(ok.config?.model.backbone, name);
    const pre = validateConfig({ ...base, model: { backbone: name, pretrained: 'w.safetensors' } }, process.cwd());
    assert.equal(pre.issues.some((i) => i.path === 'model.backbone'), !PRETRAINED_BACKBONES.includes(name), `${name} with model.pretrained`);
  }
  assert.ok(validateConfig({ ...base, model: { backbone: 'resnet101' } }, process.cwd()).issues.some((i) => i.path === 'model.backbone'));
  assert.ok(initCommand.usage.includes(`--backbone ${BACKBONE_NAMES.join('|')}`), initCommand.usage);
  assert.equal(BACKBONE_CHOICES, BACKBONE_NAMES.join('|'));
  assert.deepEqual(backbonePicks(true).map((p) => p.name), [...PRETRAINED_BACKBONES]);
  const scratch = backbonePicks(false);
  assert.ok(scratch.length >= 1 && scratch.every((p) => BACKBONE_NAMES.includes(p.name) && p.summary.length > 0));
  for (const name of PRETRAINED_BACKBONES) {
    assert.equal(backboneOfHubId(`hf:timm/${name}.a1_in1k`), name);
    assert.equal(backboneOfHubId(`hf:timm/${name}d.ra2_in1k`), undefined, 'a variant (resnet50d) is not the plain architecture');
  }
  assert.equal(backboneOfHubId('hf:facebook/dinov2-small'), undefined);
});

for (const name of registered) {
  for (const padding of paddingsOf(name)) {
    test(`${name}, ${padding} padding: builds (BN folded and not), pools to featureWidth, is made of its declared ONNX layers, ONNX Runtime = tfjs within 1e-5`, needOrt, async () => {
      const entry = backboneOf(name);
      for (const cls of entry.onnxLayers) assert.ok((ONNX_LAYER_CLASSES as readonly string[]).includes(cls), `${name} declares ${cls}, which the ONNX writer converts`);
      const spec = specOf(name, padding);
      const dim = backboneDescriptor(name).featureWidth(spec.width);
      assert.equal(featureWidth(name, spec.width), dim);
      spec.embeddingDim = dim;
      const branch = buildBranch(spec);
      perturbBatchNorm(branch, 5);
      const folded = foldBatchNorm(branch, spec);
      try {
        assert.deepEqual(branch.getLayer('gap').outputShape, [null, dim], 'the pooled features have featureWidth channels');
        const used = new Set([...bodyClasses(branch), ...bodyClasses(folded)]);
        for (const cls of used) assert.ok(entry.onnxLayers.includes(cls), `${name} builds a ${cls} but does not declare it`);
        const n = 3;
        const x = tf.randomNormal([n, ...SHAPE], 0, 1, 'float32', 9).dataSync() as Float32Array;
        const want = tf.tidy(() => branch.predict(tf.tensor4d(x, [n, ...SHAPE])) as Tensor).dataSync() as Float32Array;
        assert.ok(want.some((v) => Math.abs(v) > 0.05), 'a non-degenerate output');
        for (const [what, model] of [['unfolded', branch], ['BN folded', folded]] as const) {
          const s = await createOrtSession(await branchOnnxBytes(model), SHAPE, dim, { threads: 1 });
          try {
            const d = maxAbs(await s.run(x, n), want);
            assert.ok(d <= 1e-5, `${what}: max |ORT − tfjs| = ${d}`);
          } finally {
            await s.release();
          }
        }
      } finally {
        branch.dispose();
        folded.dispose();
      }
    });
  }
}

test('each entry\'s declared ONNX layers are all used by some build of it (the declaration is not a copied superset)', () => {
  for (const name of registered) {
    const used = new Set<string>();
    for (const padding of paddingsOf(name)) {
      const spec = { ...specOf(name, padding), embeddingDim: featureWidth(name, widthOf(name)) };
      const branch = buildBranch(spec);
      const folded = buildBranch({ ...spec, foldBatchNorm: true });
      for (const c of [...bodyClasses(branch), ...bodyClasses(folded)]) used.add(c);
      branch.dispose();
      folded.dispose();
    }
    assert.deepEqual([...used].sort(), [...backboneOf(name).onnxLayers].sort(), name);
  }
});

/** A torchvision state dict for a ResNet layout (random values), named as torchvision.models.resnet names it. */
function torchvisionStateDict(name: keyof typeof RESNET_LAYOUT, width: number, seed: number): Map<string, Tensor32> {
  const { bottleneck, blocks } = RESNET_LAYOUT[name];
  const out = new Map<string, Tensor32>();
  let s = seed;
  const rand = (shape: number[], lo = -0.5, hi = 0.5) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; data[i] = lo + (hi - lo) * (s / 2147483648); }
    return { dtype: 'F32', shape, data };
  };
  const conv = (key: string, o: number, i: number, k: number) => out.set(`${key}.weight`, rand([o, i, k, k]));
  const bn = (key: string, c: number) => {
    out.set(`${key}.weight`, rand([c], 0.5, 1.5));
    out.set(`${key}.bias`, rand([c]));
    out.set(`${key}.running_mean`, rand([c]));
    out.set(`${key}.running_var`, rand([c], 0.5, 2));
    out.set(`${key}.num_batches_tracked`, { dtype: 'I64', shape: [], data: new Float32Array(1) });
  };
  const widths = stageWidths([64, 128, 256, 512], width);
  conv('conv1', widths[0], 3, 7);
  bn('bn1', widths[0]);
  let cin = widths[0];
  widths.forEach((w, stage) => {
    for (let b = 0; b < blocks[stage]; b++) {
      const p = `layer${stage + 1}.${b}`;
      const cout = bottleneck ? w * 4 : w;
      const kernels = bottleneck ? [[w, cin, 1], [w, w, 3], [cout, w, 1]] : [[w, cin, 3], [w, w, 3]];
      kernels.forEach(([o, i, k], j) => { conv(`${p}.conv${j + 1}`, o, i, k); bn(`${p}.bn${j + 1}`, o); });
      if ((stage > 0 && b === 0) || cin !== cout) { conv(`${p}.downsample.0`, cout, cin, 1); bn(`${p}.downsample.1`, cout); }
      cin = cout;
    }
  });
  out.set('fc.weight', rand([10, cin]));
  out.set('fc.bias', rand([10]));
  return out;
}

test('entries with pretrained weights import a torchvision state dict of their layout (every tensor but fc and the counters; the stem transposed OIHW → HWIO)', () => {
  for (const name of PRETRAINED_BACKBONES) {
    assert.ok(name in RESNET_LAYOUT, `${name}: this test generates ResNet state dicts; give a new kind its own`);
    const width = widthOf(name);
    const sd = torchvisionStateDict(name as keyof typeof RESNET_LAYOUT, width, 3);
    const branch = buildBranch({ ...specOf(name, 'torch'), embeddingDim: featureWidth(name, width) });
    try {
      const r = backboneOf(name).pretrained!.importStateDict(branch, sd, 'synthetic.safetensors');
      const counters = [...sd.keys()].filter((k) => k.endsWith('num_batches_tracked'));
      assert.equal(r.loaded, sd.size - 2 - counters.length);
      assert.deepEqual(new Set(r.dropped), new Set(['fc.weight', 'fc.bias', ...counters]));
      const stem = sd.get('conv1.weight')!;
      const [o, i, kh, kw] = stem.shape;
      const ours = branch.getLayer('stem_conv').getWeights()[0].dataSync();
      for (const [oo, ii, h, w] of [[0, 0, 0, 0], [o - 1, i - 1, kh - 1, kw - 1], [1, 2, 3, 4]]) {
        assert.equal(ours[((h * kw + w) * i + ii) * o + oo], stem.data[((oo * i + ii) * kh + h) * kw + w]);
      }
      const other = PRETRAINED_BACKBONES.find((b) => b !== name && RESNET_LAYOUT[b as keyof typeof RESNET_LAYOUT].blocks.join() !== RESNET_LAYOUT[name as keyof typeof RESNET_LAYOUT].blocks.join());
      if (other) {
        assert.throws(() => backboneOf(name).pretrained!.importStateDict(branch, torchvisionStateDict(other as keyof typeof RESNET_LAYOUT, width, 4), 'other.safetensors'),
          (e: Error) => e.message.includes('other.safetensors') && e.message.includes(`model.backbone "${other}"`));
      }
    } finally {
      branch.dispose();
    }
  }
});
