// The CLI end to end with the ONNX export and the ONNX Runtime engine: export --format onnx|both|tfjs, embed on
// both engines (tables equal within 1e-5, the engine recorded), auto converting an old tfjs-only export in memory,
// knn with an image query, and `--engine onnx` without onnxruntime-node (simulated with the EMBEDLAB_TEST_ORT_MODULE
// hook, which points the lazy require at a module that does not exist) → exit 2 with the reason.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTable } from '../../src/core/table';
import { cli, jsonLines, tmpDir } from './helpers';

const work = tmpDir('onnx-cli');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
const NO_ORT = { EMBEDLAB_TEST_ORT_MODULE: path.join(work, 'no-such-module') };

const run = path.join(work, 'run');
const data = path.join(work, 'data');
const out = (name: string) => path.join(work, name);

test.before(async () => {
  // A run folder with its resolved config only: `export --untrained` needs no checkpoint (weights follow from the seed).
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({
    name: 'onnx-cli',
    data: { train: data, labelLevel: -2, imageSize: [40, 32], channels: 3, fit: 'cover', normalize: 'imagenet', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone: 'resnet18', width: 0.25, embeddingDim: 24, normalize: true },
    loss: { type: 'triplet', margin: 0.2, margin2: 0.1, distance: 'euclidean', mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 11, backend: 'wasm', checkpointEverySteps: 0 },
  }));
  const s = await cli(['synth', data, '--classes', '4', '--per-class', '9', '--size', '48', '--seed', '4']);
  assert.equal(s.code, 0, s.stderr);
});

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('export --format onnx / both / tfjs (default) write the files preprocessing.json names', async () => {
  for (const [fmt, files] of [['onnx', ['model.onnx']], ['both', ['model.json', 'model.onnx']], [undefined, ['model.json']]] as const) {
    const dir = out(`m-${fmt ?? 'default'}`);
    const r = await cli(['export', run, '--type', 'branch', '--untrained', '--out', dir, ...(fmt ? ['--format', fmt] : [])]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`exported branch model (${files.join(', ')})`), r.stdout);
    const present = fs.readdirSync(dir).filter((f) => /^model\./.test(f)).sort();
    assert.deepEqual(present, [...files]);
    const pre = JSON.parse(fs.readFileSync(path.join(dir, 'preprocessing.json'), 'utf8'));
    assert.equal(pre.onnx, files.includes('model.onnx' as never) ? 'model.onnx' : undefined);
    assert.equal(pre.tfjs, files.includes('model.json' as never) ? 'model.json' : undefined);
    assert.equal(pre.width, 0.25);
    // Each format's names (issue 13, item 10); the top level names the folder's TensorFlow.js model, else its graph.
    assert.deepEqual(Object.keys(pre.io).sort(), files.map((f) => (f === 'model.onnx' ? 'onnx' : 'tfjs')).sort());
    if (pre.io.onnx) assert.deepEqual(pre.io.onnx, { inputs: ['image'], outputs: ['embedding'] });
    assert.deepEqual(pre.outputs, (pre.io.tfjs ?? pre.io.onnx).outputs);
    if (fmt === 'onnx') assert.deepEqual(pre.outputs, ['embedding']);
  }
  // The full model exports to ONNX too (issue 16, item 3): one input per stream, the distances out.
  const full = await cli(['export', run, '--type', 'full', '--untrained', '--out', out('m-full'), '--format', 'onnx']);
  assert.equal(full.code, 0, full.stderr);
  assert.deepEqual(fs.readdirSync(out('m-full')).filter((f) => /^model\./.test(f)), ['model.onnx']);
  const fullPre = JSON.parse(fs.readFileSync(path.join(out('m-full'), 'preprocessing.json'), 'utf8'));
  assert.deepEqual(fullPre.io, { onnx: { inputs: ['image_anchor', 'image_positive', 'image_negative'], outputs: ['d_anchor_positive', 'd_anchor_negative'] } });
  const bad2 = await cli(['export', run, '--type', 'branch', '--untrained', '--out', out('m-x'), '--format', 'pb']);
  assert.equal(bad2.code, 2);
  assert.match(bad2.stderr, /--format must be one of tfjs, onnx, both/);
});

test('embed --engine onnx (ONNX-only export) = embed --engine tfjs (tfjs export) within 1e-5; auto converts a tfjs-only export', async () => {
  const runs = [
    ['onnx', out('m-onnx'), 'onnx', 'onnxruntime'],
    ['tfjs', out('m-default'), 'tfjs', 'tfjs-wasm'],
    ['auto-converted', out('m-default'), 'auto', 'onnxruntime'],
    ['auto-both-2threads', out('m-both'), 'auto', 'onnxruntime'],
  ] as const;
  const tables: Record<string, Awaited<ReturnType<typeof readTable>>> = {};
  for (const [key, model, engine, expected] of runs) {
    const table = out(`t-${key}.parquet`);
    const r = await cli(['embed', '--model', model, data, '--out', table, '--engine', engine, '--backend', 'wasm', '--json',
      ...(key.endsWith('2threads') ? ['--threads', '2'] : []), '--batch', key === 'onnx' ? '5' : '64']);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const eng = events.find((e) => e.type === 'engine')!;
    assert.equal(eng.engine, expected, `${key}: engine event`);
    assert.equal(eng.fallbackReason, undefined);
    if (key === 'auto-converted') assert.match(String(eng.detail), /converted from model\.json/);
    if (key.endsWith('2threads')) assert.match(String(eng.detail), /2 intra-op threads, model\.onnx/);
    const done = events.find((e) => e.type === 'embedded')!;
    assert.equal(done.engine, expected);
    assert.equal(done.rows, 36);
    tables[key] = await readTable(table);
    assert.equal((tables[key].meta?.engine as { name: string }).name, expected, `${key}: the table's metadata records the engine`);
  }
  for (const key of ['tfjs', 'auto-converted', 'auto-both-2threads']) {
    assert.deepEqual(tables[key].paths, tables.onnx.paths);
    assert.deepEqual(tables[key].labels, tables.onnx.labels);
    const d = maxAbs(tables[key].vectors, tables.onnx.vectors);
    assert.ok(d <= 1e-5, `${key} vs onnx: max |Δ| = ${d}`);
  }
  const plain = await cli(['embed', '--model', out('m-both'), data, '--out', out('t-plain.csv')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /images\/s; onnxruntime-node [\d.]+, CPU, 1 intra-op thread, model\.onnx\)/);
});

test('--engine onnx without onnxruntime-node: exit 2 with the reason, no table; auto falls back to tfjs and says why', async () => {
  const table = out('t-none.parquet');
  const r = await cli(['embed', '--model', out('m-both'), data, '--out', table, '--engine', 'onnx'], { env: NO_ORT });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--engine onnx cannot run: .*no-such-module is not installed/);
  assert.match(r.stderr, /--engine tfjs/);
  assert.ok(!fs.existsSync(table));

  const a = await cli(['embed', '--model', out('m-both'), data, '--out', table, '--json', '--backend', 'wasm'], { env: NO_ORT });
  assert.equal(a.code, 0, a.stderr);
  const eng = jsonLines(a.stdout).find((e) => e.type === 'engine')!;
  assert.equal(eng.engine, 'tfjs-wasm');
  assert.match(String(eng.fallbackReason), /not installed/);
  const t = await readTable(table);
  assert.ok(maxAbs(t.vectors, (await readTable(out('t-onnx.parquet'))).vectors) <= 1e-5);

  // An ONNX-only export cannot run on tfjs: exit 2 either way, with the fix.
  const o = await cli(['embed', '--model', out('m-onnx'), data, '--out', out('t-x.parquet')], { env: NO_ORT });
  assert.equal(o.code, 2, o.stderr);
  assert.match(o.stderr, /holds only an ONNX model and ONNX Runtime cannot run it/);
  const t2 = await cli(['embed', '--model', out('m-onnx'), data, '--out', out('t-x.parquet'), '--engine', 'tfjs']);
  assert.equal(t2.code, 2, t2.stderr);
  assert.match(t2.stderr, /holds only the ONNX model \(model\.onnx\); embed it with --engine onnx or auto, or export it again with --format tfjs or both/);

  const env = await cli(['env'], { env: NO_ORT });
  assert.equal(env.code, 0);
  assert.match(env.stdout, /✗ onnxruntime\s+.*not installed/);
  const bad = await cli(['embed', '--model', out('m-both'), data, '--out', table, '--engine', 'torch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--engine must be auto, onnx or tfjs/);
  const badThreads = await cli(['embed', '--model', out('m-both'), data, '--out', table, '--threads', '0']);
  assert.equal(badThreads.code, 2);
});

test('knn --query <image file> embeds the query on the chosen engine; its own row is the nearest', async () => {
  const table = out('t-auto-both-2threads.parquet'); // made with m-both: both engines can embed the query
  const t = await readTable(table);
  const rel = t.paths[7];
  for (const engine of ['onnx', 'tfjs'] as const) {
    const r = await cli(['knn', table, '--query', path.join(data, rel), '-k', '3', '--engine', engine, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { engine: string; neighbors: Array<{ path: string; distance: number }> };
    assert.equal(res.engine, engine === 'onnx' ? 'onnxruntime' : 'tfjs-wasm');
    assert.equal(res.neighbors[0].path, rel);
    assert.ok(res.neighbors[0].distance < 1e-3, `distance to itself ${res.neighbors[0].distance}`);
  }
  const r = await cli(['knn', table, '--query', path.join(data, rel), '--engine', 'onnx'], { env: NO_ORT });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--engine onnx cannot run/);
});
