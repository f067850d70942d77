// End-to-end training through the CLI on a generated image dataset (real PNGs, decoded by sharp, real tfjs training
// on the default wasm backend), then the deploy round trip: export both models, reload them, embed, eval.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, jsonLines, onlyRunDir, smallConfig, tmpDir, writeConfig } from './helpers';

const work = tmpDir('train');
const train = path.join(work, 'train');
const val = path.join(work, 'val');

test.before(async () => {
  // Same shape classes, different draws: the validation images are new images of the training classes.
  const a = await cli(['synth', train, '--classes', '8', '--per-class', '24', '--size', '32', '--seed', '1']);
  assert.equal(a.code, 0, a.stderr);
  const b = await cli(['synth', val, '--classes', '8', '--per-class', '12', '--size', '32', '--seed', '2']);
  assert.equal(b.code, 0, b.stderr);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));

async function evalMapAtR(table: string): Promise<Record<string, unknown> & { retrieval: { mapAtR: number; precisionAt1: number } }> {
  const r = await cli(['eval', table, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('train a triplet model, then export, reload, embed and eval through the CLI', async () => {
  const runs = path.join(work, 'runs');
  // Semi-hard mining over P×K batches: random triplets learn far more slowly from scratch (they collapse toward the
  // margin first), and this run must show learning within a CI-sized budget.
  const cfg = writeConfig(work, smallConfig(train, val, {
    loss: { mining: 'semi-hard' },
    data: { samplesPerEpoch: 1024 },
    training: { epochs: 6, batchSize: 32, classesPerBatch: 8, imagesPerClass: 4 },
  }));
  const r = await cli(['train', cfg, '--out', runs, '--json']);
  assert.equal(r.code, 0, `train failed: ${r.stderr}`);
  const events = jsonLines(r.stdout);
  const started = events.find((e) => e.type === 'started')!;
  assert.equal(started.backend, 'wasm', 'the first event records the backend');
  assert.equal((started.train as { images: number }).images, 8 * 24);
  const steps = events.filter((e) => e.type === 'step');
  assert.equal(steps.length, 6 * 32, 'epochs × ceil(samplesPerEpoch / batchSize) steps');
  for (const s of steps) {
    assert.ok(Number.isFinite(s.loss as number) && (s.posDist as number) >= 0 && (s.negDist as number) >= 0 && (s.imagesPerSec as number) > 0);
  }
  const epochs = events.filter((e) => e.type === 'epoch');
  assert.equal(epochs.length, 6);
  assert.equal(events.at(-1)!.type, 'done');

  const runDir = onlyRunDir(runs);
  for (const f of ['config.json', 'run.json', 'events.jsonl', 'checkpoints/last/model.json', 'checkpoints/last/weights.bin',
    'checkpoints/last/optimizer.bin', 'checkpoints/last/state.json', 'checkpoints/best/model.json', 'model/branch/model.json',
    'model/branch/preprocessing.json', 'model/branch/model.onnx', 'model/full/model.json', 'model/full/preprocessing.json',
    'model/full/model.onnx']) {
    assert.ok(fs.existsSync(path.join(runDir, f)), `run folder has ${f}`);
  }
  // The end of training exports the full model's ONNX graph too (issue 16): one input per stream, the distances out.
  const trainedFullPre = JSON.parse(fs.readFileSync(path.join(runDir, 'model/full/preprocessing.json'), 'utf8'));
  assert.equal(trainedFullPre.onnx, 'model.onnx');
  assert.deepEqual(trainedFullPre.io.onnx, { inputs: ['image_anchor', 'image_positive', 'image_negative'], outputs: ['d_anchor_positive', 'd_anchor_negative'] });
  const info = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
  assert.equal(info.status, 'done');
  assert.equal(info.backend, 'wasm');
  const logged = fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n');
  assert.equal(logged.length, events.length, 'events.jsonl holds every event the worker emitted');

  // Baseline: the same network before training (initial weights follow from the seed).
  const untrained = path.join(work, 'untrained');
  const u = await cli(['export', runDir, '--type', 'branch', '--untrained', '--out', untrained]);
  assert.equal(u.code, 0, u.stderr);

  // Explicit exports of both kinds, reloaded by embed / checked by file.
  const branchOut = path.join(work, 'exported-branch');
  const fullOut = path.join(work, 'exported-full');
  assert.equal((await cli(['export', runDir, '--type', 'branch', '--out', branchOut])).code, 0);
  const fe = await cli(['export', runDir, '--type', 'full', '--out', fullOut]);
  assert.equal(fe.code, 0, fe.stderr);
  const fullPre = JSON.parse(fs.readFileSync(path.join(fullOut, 'preprocessing.json'), 'utf8'));
  assert.deepEqual(fullPre.outputs.length, 2, 'a triplet full model has two distance outputs');
  assert.equal(fullPre.inputs.length, 3);

  const tTrained = path.join(work, 'val-trained.parquet');
  const tBase = path.join(work, 'val-untrained.csv');
  const e1 = await cli(['embed', '--model', branchOut, val, '--out', tTrained, '--json']);
  assert.equal(e1.code, 0, e1.stderr);
  const e2 = await cli(['embed', '--model', untrained, val, '--out', tBase]);
  assert.equal(e2.code, 0, e2.stderr);

  // The Parquet table read by an independent reader (hyparquet), the CSV checked by columns and rows.
  const hp = await import('hyparquet');
  const bytes = fs.readFileSync(tTrained);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta = await hp.parquetMetadataAsync(file);
  assert.equal(Number(meta.num_rows), 8 * 12);
  const rows = (await hp.parquetReadObjects({ file })) as Array<{ path: string; label: string; embedding: number[] }>;
  assert.equal(rows.length, 96);
  assert.ok(rows.every((row) => row.embedding.length === 32 && /^[a-z-]+\/[^/]+$/.test(row.path) && row.path.startsWith(row.label + '/')));
  const norms = rows.map((row) => Math.hypot(...row.embedding));
  assert.ok(norms.every((n) => Math.abs(n - 1) < 1e-4), 'normalize: true gives unit vectors');
  const csv = fs.readFileSync(tBase, 'utf8').trim().split('\n');
  assert.deepEqual(csv[0].split(','), ['path', 'label', ...Array.from({ length: 32 }, (_, i) => `emb_${i}`)]);
  assert.equal(csv.length, 1 + 96);

  const trained = await evalMapAtR(tTrained);
  const base = await evalMapAtR(tBase);
  console.log(`validation MAP@R: untrained ${base.retrieval.mapAtR.toFixed(4)} → trained ${trained.retrieval.mapAtR.toFixed(4)}; P@1 ${base.retrieval.precisionAt1.toFixed(4)} → ${trained.retrieval.precisionAt1.toFixed(4)}`);
  assert.ok(trained.retrieval.mapAtR > base.retrieval.mapAtR + 0.1, `training must raise MAP@R clearly (${base.retrieval.mapAtR} → ${trained.retrieval.mapAtR})`);
  const lastEpoch = epochs.at(-1)!.validation as { mapAtR: number };
  assert.ok(Math.abs(lastEpoch.mapAtR - trained.retrieval.mapAtR) < 0.15, 'the per-epoch validation agrees with eval on the embedded table');

  // knn: a path in the table comes back first at distance 0.
  const q = rows[5].path;
  const k = await cli(['knn', tTrained, '--query', q, '-k', '5', '--json']);
  assert.equal(k.code, 0, k.stderr);
  const hits = JSON.parse(k.stdout).neighbors as Array<{ path: string; distance: number }>;
  assert.equal(hits.length, 5);
  assert.equal(hits[0].path, q);
  assert.ok(hits[0].distance < 1e-5);
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i].distance >= hits[i - 1].distance);
  // …and an image file outside the table is embedded on the fly with the model from the table's metadata.
  const k2 = await cli(['knn', tTrained, '--query', path.join(val, q), '-k', '3', '--json']);
  assert.equal(k2.code, 0, k2.stderr);
  const hits2 = JSON.parse(k2.stdout).neighbors as Array<{ path: string; distance: number }>;
  assert.equal(hits2[0].path, q);
  assert.ok(hits2[0].distance < 1e-3, `re-embedding the same file gives the same vector (${hits2[0].distance})`);
});
