// embedFolder: rows in sorted file order with labels, corrupt files skipped and listed, vectors equal to a direct
// model.predict on the same decoded images (second implementation), batch size / decode-ahead independence; the same
// on the ONNX Runtime embedder.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { embedFolder, listImages, onnxEmbedder, specOf } from '../../src/engine/embed';
import { branchOnnxBytes, type Preprocessing } from '../../src/engine/export';
import { loadOrt } from '../../src/engine/onnx-runtime';
import { decodeImage, normalizeInto } from '../../src/engine/images';
import { buildBranch } from '../../src/engine/models';
import { generateShapes } from '../../src/engine/synth';
import { readTable, tableSkippedPath } from '../../src/core/table';
import { tf } from '../../src/engine/tf';

const dir = mkdtempSync(join(tmpdir(), 'embedlab-embed-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const pre: Preprocessing = {
  format: 'embedding-lab/preprocessing', version: 1, modelType: 'branch', imageSize: [16, 16], channels: 3, fit: 'cover',
  normalize: 'imagenet', embeddingDim: 8, l2Normalized: true, distance: 'euclidean', labelLevel: 1, lossType: 'triplet',
  inputs: ['image'], outputs: ['l2_normalize'], backbone: 'convnet', sourceRun: null, checkpoint: 'test', createdAt: '',
};

let model: LayersModel;
const data = join(dir, 'data');

test.before(async () => {
  await initBackend('cpu');
  model = buildBranch({ backbone: 'convnet', width: 0.25, embeddingDim: 8, normalize: true, inputShape: [16, 16, 3], seed: 1 });
  await generateShapes(data, { classes: 3, perClass: 23, size: 24, seed: 5 });
  // Corrupt files: one empty, one truncated PNG, one text file with an image extension.
  writeFileSync(join(data, 'circle', 'circle_0005.png'), Buffer.alloc(0));
  const good = readFileSync(join(data, 'square', 'square_0002.png'));
  writeFileSync(join(data, 'square', 'square_0002.png'), good.subarray(0, Math.floor(good.length / 2)));
  writeFileSync(join(data, 'triangle', 'zz_not_an_image.jpg'), 'hello');
  writeFileSync(join(data, 'triangle', 'notes.txt'), 'ignored');
});
test.after(() => model?.dispose());

/** Second implementation: decode each file alone, one predict per image. */
async function reference(files: string[]): Promise<Map<string, Float32Array>> {
  const spec = specOf(pre);
  const per = 16 * 16 * 3;
  const out = new Map<string, Float32Array>();
  for (const f of files) {
    let px: Uint8Array;
    try { px = await decodeImage(f, spec); } catch { continue; }
    const x = new Float32Array(per);
    normalizeInto(x, 0, px, spec);
    const y = tf.tidy(() => model.predict(tf.tensor4d(x, [1, 16, 16, 3])) as Tensor);
    out.set(f, (await y.data()) as Float32Array);
    y.dispose();
  }
  return out;
}

for (const [batchSize, decodeAhead, concurrency] of [[64, 2, undefined], [5, 1, 2], [7, 3, undefined], [1, 2, 1]] as const) {
  test(`embedFolder batch ${batchSize}, ahead ${decodeAhead}, concurrency ${concurrency ?? 'default'}: order, labels, skipped, vectors`, async () => {
    const out = join(dir, `t-${batchSize}-${decodeAhead}.parquet`);
    const res = await embedFolder({ model, pre, modelDir: dir, folder: data, out, batchSize, decodeAhead, concurrency });
    const { images, ignored } = await listImages(data, 1);
    assert.equal(ignored, 1);
    assert.equal(res.ignored, 1);
    const bad = ['circle/circle_0005.png', 'square/square_0002.png', 'triangle/zz_not_an_image.jpg'];
    assert.deepEqual(res.skipped.map((s) => s.path), bad, 'skipped in file order');
    assert.ok(res.skipped.every((s) => s.reason.length > 0));
    const listed = readFileSync(tableSkippedPath(out), 'utf8');
    for (const b of bad) assert.ok(listed.includes(b), `${b} in the sidecar`);
    const expectedRows = images.filter((i) => !bad.includes(i.rel));
    assert.equal(res.rows, expectedRows.length);
    const table = await readTable(out);
    assert.deepEqual(table.paths, expectedRows.map((i) => i.rel), 'rows in sorted file order');
    assert.deepEqual(table.labels, expectedRows.map((i) => i.label));
    assert.ok(table.labels.every((l, i) => table.paths[i].startsWith(`${l}/`)));
    const ref = await reference(expectedRows.map((i) => i.path));
    expectedRows.forEach((img, r) => {
      const want = ref.get(img.path)!;
      const got = table.vectors.subarray(r * 8, r * 8 + 8);
      for (let j = 0; j < 8; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-5, `${img.rel}[${j}]: ${got[j]} vs ${want[j]}`);
    });
    assert.equal(tf.memory().numTensors, model.weights.length, 'no tensors leaked');
  });
}

test('embedFolder on the ONNX Runtime embedder: same rows, skips and vectors (within 1e-5) as the tfjs reference', { skip: loadOrt().ok ? false : 'onnxruntime-node is not available' }, async () => {
  const embedder = await onnxEmbedder(await branchOnnxBytes(model), pre);
  try {
    const out = join(dir, 'onnx.parquet');
    const res = await embedFolder({ embedder, pre, modelDir: dir, folder: data, out, batchSize: 5, decodeAhead: 2 });
    assert.equal(res.engine, 'onnxruntime');
    assert.equal(res.skipped.length, 3);
    const table = await readTable(out);
    assert.equal((table.meta?.engine as { name: string }).name, 'onnxruntime');
    const ref = await reference((await listImages(data, 1)).images.map((i) => i.path));
    assert.equal(table.paths.length, ref.size);
    table.paths.forEach((rel, r) => {
      const want = ref.get(join(data, rel))!;
      for (let j = 0; j < 8; j++) assert.ok(Math.abs(table.vectors[r * 8 + j] - want[j]) < 1e-5, `${rel}[${j}]`);
    });
  } finally {
    await embedder.dispose();
  }
});

test('embedFolder: a folder of only unreadable images fails with exit code 1 and leaves no table', async () => {
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'a.png'), 'x');
  writeFileSync(join(bad, 'b.png'), 'y');
  const out = join(dir, 'bad.csv');
  await assert.rejects(embedFolder({ model, pre, modelDir: dir, folder: bad, out }), (e: Error & { exitCode?: number }) => e.exitCode === 1);
  assert.throws(() => readFileSync(out));
  assert.match(readFileSync(tableSkippedPath(out), 'utf8'), /a\.png/);
});

test('embedFolder: shouldStop aborts after the current batch (exit code 130, no table)', async () => {
  const out = join(dir, 'stopped.parquet');
  let batches = 0;
  await assert.rejects(
    embedFolder({ model, pre, modelDir: dir, folder: data, out, batchSize: 4, onProgress: () => { batches++; }, shouldStop: () => batches >= 2 }),
    (e: Error & { exitCode?: number }) => e.exitCode === 130,
  );
  assert.equal(batches, 2);
  assert.throws(() => readFileSync(out));
});
