// An .onnx image model as a frozen feature extractor (issue 15): torch.onnx.export'ed fixtures made by
// scripts/make-onnx-backbone-fixtures.py with Debian's python3-torch (into the gitignored .cache/), their
// features through loadOnnxBackbone (ONNX Runtime) and through `embedlab embed --model <file.onnx>` compared with
// PyTorch's own outputs for the same pixels (our real image pipeline: sharp decoding, resize, normalisation) within
// 1e-4 relative; the input layout (NCHW / NHWC) and size read from the graph; the pooled output picked; and the
// refusals: a dynamic size without --size, two image inputs, an integer input, a size the graph does not take.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTable } from '../../src/core/table';
import { listImages, specOf } from '../../src/engine/embed';
import type { Preprocessing } from '../../src/engine/export';
import { decodeImage, normalizeInto } from '../../src/engine/images';
import { loadOnnxBackbone, OnnxBackboneError } from '../../src/engine/onnx-backbone';
import { loadOrt } from '../../src/engine/onnx-runtime';
import { generateShapes } from '../../src/engine/synth';
import { cli, ROOT, tmpDir } from './helpers';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'scripts', 'make-onnx-backbone-fixtures.py');
const work = tmpDir('onnx-backbone');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
const data = path.join(work, 'data');
let fixtures = '';
const refs: Record<string, Float32Array> = {};
const pixels: Record<string, Float32Array> = {};
let rels: string[] = [];

const JOBS = { resnet18_nchw: [64, 64], tiny_nhwc_dyn: [30, 20], tiny_nchw_b1: [30, 20] } as const;

/** The normalised NHWC pixels of the folder's images, as `embed` makes them (same decoder, same spec). */
async function pixelsOf(h: number, w: number): Promise<Float32Array> {
  const spec = specOf({ imageSize: [h, w], channels: 3, fit: 'cover', normalize: 'imagenet' } as Preprocessing);
  const { images } = await listImages(data, -2);
  const out = new Float32Array(images.length * h * w * 3);
  for (let i = 0; i < images.length; i++) normalizeInto(out, i * h * w * 3, await decodeImage(images[i].path, spec), spec);
  return out;
}

test.before(async () => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`${PYTHON} cannot import torch, torchvision and numpy (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}): `
      + 'install Debian\'s python3-torch and python3-torchvision (apt-get install python3-torch python3-torchvision; .ci/run does)');
  }
  assert.ok(loadOrt().ok, 'onnxruntime-node must load (ONNXRUNTIME_NODE_INSTALL=skip npm ci)');
  await generateShapes(data, { classes: 2, perClass: 3, size: 50, seed: 4 });
  rels = (await listImages(data, -2)).images.map((i) => i.rel);
  const hash = createHash('sha256').update(fs.readFileSync(SCRIPT));
  const jobs: Array<{ model: string; input: string; shape: number[]; output: string }> = [];
  for (const [model, [h, w]] of Object.entries(JOBS)) {
    pixels[model] = await pixelsOf(h, w);
    hash.update(Buffer.from(pixels[model].buffer));
  }
  // Generated once per script and inputs into .cache/ (gitignored): the resnet18 fixture is ~45 MB.
  fixtures = path.join(ROOT, '.cache', 'onnx-backbone', hash.digest('hex').slice(0, 16));
  fs.mkdirSync(fixtures, { recursive: true });
  for (const [model, [h, w]] of Object.entries(JOBS)) {
    const input = path.join(fixtures, `${model}.in.f32`);
    fs.writeFileSync(input, Buffer.from(pixels[model].buffer));
    jobs.push({ model, input, shape: [rels.length, h, w, 3], output: path.join(fixtures, `${model}.ref.f32`) });
  }
  if (!fs.existsSync(path.join(fixtures, 'done'))) {
    // Fixtures of an older script or older inputs are dropped (~45 MB each).
    for (const old of fs.readdirSync(path.dirname(fixtures))) if (old !== path.basename(fixtures)) fs.rmSync(path.join(path.dirname(fixtures), old), { recursive: true, force: true });
    fs.writeFileSync(path.join(fixtures, 'jobs.json'), JSON.stringify(jobs));
    execFileSync(PYTHON, [SCRIPT, fixtures, path.join(fixtures, 'jobs.json')], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  }
  for (const j of jobs) {
    const b = fs.readFileSync(j.output);
    refs[j.model] = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
});

/** max |a − b| relative to max |b| (at least 1). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
  return m / scale;
}

test('a torchvision resnet18 exported NCHW: layout, size and output read from the graph; features = PyTorch\'s within 1e-4', async () => {
  const bb = await loadOnnxBackbone(path.join(fixtures, 'resnet18_nchw.onnx'));
  try {
    assert.deepEqual([bb.layout, bb.imageSize, bb.channels, bb.input, bb.output, bb.dim], ['NCHW', [64, 64], 3, 'pixels', 'features', 512]);
    assert.deepEqual([bb.pre.imageSize, bb.pre.embeddingDim, bb.pre.normalize, bb.pre.outputs], [[64, 64], 512, 'imagenet', ['features']]);
    const got = await bb.embedder.embed(pixels.resnet18_nchw, rels.length);
    assert.ok(refs.resnet18_nchw.some((v) => v > 0.01), 'non-trivial reference features');
    const e = relErr(got, refs.resnet18_nchw);
    assert.ok(e <= 1e-4, `ONNX Runtime vs PyTorch: ${e}`);
  } finally {
    await bb.embedder.dispose();
  }
});

test('embedlab embed --model <resnet18.onnx> writes PyTorch\'s features for each image (the zero-shot baseline); knn embeds a query image the same way', async () => {
  const out = path.join(work, 't.parquet');
  const r = await cli(['embed', '--model', path.join(fixtures, 'resnet18_nchw.onnx'), data, '--out', out, '--normalize', 'imagenet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /6 rows × 512/);
  const t = await readTable(out);
  assert.deepEqual(t.paths, rels);
  assert.deepEqual(t.labels, rels.map((p) => p.split('/')[0]));
  const e = relErr(t.vectors, refs.resnet18_nchw);
  assert.ok(e <= 1e-4, `table vs PyTorch: ${e}`);
  const meta = t.meta as { preprocessing: Preprocessing; engine: { detail: string } };
  assert.deepEqual(meta.preprocessing.imageSize, [64, 64]);
  assert.equal(meta.preprocessing.backbone, 'onnx:resnet18_nchw.onnx');
  assert.match(meta.engine.detail, /NCHW, output features/);

  // knn with an image query: embedded by the .onnx model the table records, with the table's preprocessing.
  const query = path.join(data, rels[4]);
  const k = await cli(['knn', out, '--query', query, '-k', '2', '--json']);
  assert.equal(k.code, 0, k.stderr);
  const hits = JSON.parse(k.stdout.trim().split('\n').pop()!) as { engine: string; distance: string; neighbors: Array<{ path: string; distance: number }> };
  assert.equal(hits.engine, 'onnxruntime');
  assert.equal(hits.distance, 'cosine');
  assert.equal(hits.neighbors[0].path, rels[4], 'the query image is its own nearest neighbour');
  assert.ok(hits.neighbors[0].distance < 1e-5, `distance to itself ${hits.neighbors[0].distance}`);

  const fixedSize = await cli(['embed', '--model', path.join(fixtures, 'resnet18_nchw.onnx'), data, '--out', path.join(work, 'x.parquet'), '--size', '32']);
  assert.equal(fixedSize.code, 2);
  assert.match(fixedSize.stderr, /input pixels is \[N, 3, 64, 64\] \(NCHW\), the configured size is 32×32/);
  assert.ok(!fs.existsSync(path.join(work, 'x.parquet')));
  const badFlag = await cli(['embed', '--model', path.join(fixtures, 'resnet18_nchw.onnx'), data, '--out', path.join(work, 'x.parquet'), '--normalize', 'unit']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--normalize must be one of imagenet, zero-one, minus-one-one/);
});

test('an NHWC export with dynamic H and W: needs a size, then takes the pooled output of two and gives PyTorch\'s features', async () => {
  const file = path.join(fixtures, 'tiny_nhwc_dyn.onnx');
  await assert.rejects(loadOnnxBackbone(file), (e: Error) => e instanceof OnnxBackboneError && /input image \[N, H, W, 3\] has a dynamic size; give the image size/.test(e.message));
  const bb = await loadOnnxBackbone(file, { size: [30, 20] });
  try {
    assert.deepEqual([bb.layout, bb.imageSize, bb.output, bb.dim], ['NHWC', [30, 20], 'pooled', 16]);
    const e = relErr(await bb.embedder.embed(pixels.tiny_nhwc_dyn, rels.length), refs.tiny_nhwc_dyn);
    assert.ok(e <= 1e-4, `ONNX Runtime vs PyTorch: ${e}`);
  } finally {
    await bb.embedder.dispose();
  }
  await assert.rejects(loadOnnxBackbone(file, { size: [30, 20], output: 'tokens' }), /output tokens \[N, T, .*\] is not a pooled feature vector \[N, D\]/);
  await assert.rejects(loadOnnxBackbone(file, { size: [30, 20], output: 'cls' }), /no output named cls \(model\.pretrainedOutput\); the outputs are tokens .*, pooled \[N, 16\]/);
  const named = await loadOnnxBackbone(file, { size: [30, 20], output: 'pooled' });
  await named.embedder.dispose();
  const r = await cli(['embed', '--model', file, data, '--out', path.join(work, 'd.parquet')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dynamic size; give the image size \(--size H\[,W\]/);
});

test('a graph exported with a fixed batch of 1 and a pooled [N, C, 1, 1] output runs image by image', async () => {
  const bb = await loadOnnxBackbone(path.join(fixtures, 'tiny_nchw_b1.onnx'));
  try {
    assert.deepEqual([bb.layout, bb.imageSize, bb.output, bb.dim], ['NCHW', [30, 20], 'y', 8]);
    const got = await bb.embedder.embed(pixels.tiny_nchw_b1, rels.length);
    assert.equal(got.length, rels.length * 8);
    const e = relErr(got, refs.tiny_nchw_b1);
    assert.ok(e <= 1e-4, `ONNX Runtime vs PyTorch: ${e}`);
  } finally {
    await bb.embedder.dispose();
  }
});

test('refused with a clear error: two image inputs, an integer input, a missing file', async () => {
  await assert.rejects(loadOnnxBackbone(path.join(fixtures, 'two_images.onnx')), /the model has 2 image inputs \(left \[1, 3, 16, 16\], right \[1, 3, 16, 16\]\); a backbone takes one image/);
  await assert.rejects(loadOnnxBackbone(path.join(fixtures, 'uint8_input.onnx')), /input image is uint8 \(integer pixels\); only float32 inputs are supported/);
  await assert.rejects(loadOnnxBackbone(path.join(work, 'none.onnx')), /ONNX model not found/);
  const r = await cli(['embed', '--model', path.join(fixtures, 'uint8_input.onnx'), data, '--out', path.join(work, 'u.parquet')]);
  assert.equal(r.code, 2, 'bad data: exit 2');
  assert.match(r.stderr, /uint8_input\.onnx: input image is uint8/);
});
