// `embedlab embed --model <pretrained source>`: a PyTorch ResNet state dict (.safetensors, or a hub id served by a
// loopback stand-in of the Hugging Face hub) embeds a folder as it is — the zero-shot baseline. The table's vectors
// are PyTorch's pooled features of the same PNGs (the fixtures of scripts/make-pretrained-fixtures.py), on ONNX
// Runtime (the branch converted in memory) and on TensorFlow.js; knn embeds a query with the preprocessing the table
// records. Bad sources exit 2.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTable } from '../../src/core/table';
import { startFakeHub } from '../unit/hub-fixture';
import { pretrainedFixtures, relativeError, type Fixtures } from '../unit/pretrained-fixtures';
import { cli, jsonLines, tmpDir } from './helpers';

const work = tmpDir('pretrained-embed');
let fx: Fixtures;
test.before(() => {
  fx = pretrainedFixtures();
  for (const [cls, img] of [['a', 'rgb.png'], ['b', 'rgba.png']]) {
    fs.mkdirSync(path.join(work, 'photos', cls), { recursive: true });
    fs.copyFileSync(path.join(fx.dir, img), path.join(work, 'photos', cls, img));
  }
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

async function vectorsOf(table: string): Promise<{ paths: string[]; vectors: Float32Array; dim: number; meta: Record<string, unknown> | undefined }> {
  const t = await readTable(table);
  return { paths: t.paths, vectors: t.vectors, dim: t.dim, meta: t.meta as Record<string, unknown> | undefined };
}

for (const engine of ['onnx', 'tfjs'] as const) {
  test(`embed --model <resnet.safetensors> --engine ${engine}: the rows are PyTorch's pooled features`, async () => {
    for (const name of ['resnet18', 'resnet50-timm']) {
      const m = fx.models[name];
      const out = path.join(work, `${name}-${engine}.parquet`);
      const r = await cli(['embed', '--model', path.join(fx.dir, m.file), path.join(work, 'photos'), '--out', out, '--size', '64', '--engine', engine, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonLines(r.stdout).find((e) => e.type === 'engine')!.engine, engine === 'onnx' ? 'onnxruntime' : 'tfjs-wasm');
      const t = await vectorsOf(out);
      assert.equal(t.dim, m.backbone === 'resnet50' ? 2048 : 512);
      assert.equal(t.paths.length, 2);
      for (let i = 0; i < 2; i++) {
        const err = relativeError(t.vectors.subarray(i * t.dim, (i + 1) * t.dim), m.imageFeatures);
        assert.ok(err < 1e-4, `${name} ${t.paths[i]} on ${engine}: relative error ${err.toExponential(2)}`);
      }
      const pre = t.meta?.preprocessing as { distance: string; normalize: string; imageSize: number[] };
      assert.equal(pre.distance, 'cosine');
      assert.equal(pre.normalize, 'imagenet');
      assert.deepEqual(pre.imageSize, [64, 64]);
    }
  });
}

test('knn --query <image> on a table embedded with a pretrained source embeds the query the same way (itself at distance 0)', async () => {
  const table = path.join(work, 'resnet18-onnx.parquet');
  const query = path.join(work, 'query.png');
  fs.copyFileSync(path.join(fx.dir, 'rgb.png'), query);
  const r = await cli(['knn', table, '--query', query, '-k', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { neighbors: Array<{ distance: number }> };
  assert.equal(res.neighbors.length, 2);
  assert.ok(res.neighbors[0].distance < 1e-5, `the same picture: ${res.neighbors[0].distance}`);
});

test('embed --model hf:owner/repo: downloads into the hub cache, takes the input size and normalisation from timm\'s config.json', async () => {
  const m = fx.models['resnet18-timm'];
  const timmConfig = { architecture: 'resnet18', pretrained_cfg: { input_size: [3, 64, 64], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bicubic', crop_pct: 0.95 } };
  const hub = await startFakeHub({
    repo: 'timm/resnet18.fixture', commit: 'e'.repeat(40),
    files: { 'model.safetensors': { bytes: fs.readFileSync(path.join(fx.dir, m.file)), lfs: true }, 'config.json': { bytes: Buffer.from(JSON.stringify(timmConfig)), lfs: false } },
  });
  try {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(work, 'hf'), HF_TOKEN: '' };
    const out = path.join(work, 'hub.csv');
    const r = await cli(['embed', '--model', 'hf:timm/resnet18.fixture', path.join(work, 'photos'), '--out', out, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(jsonLines(r.stdout).some((e) => e.type === 'progress' && e.task === 'download'), 'download progress');
    const t = await vectorsOf(out);
    assert.ok(relativeError(t.vectors.subarray(0, t.dim), m.imageFeatures) < 1e-4);
    assert.equal((t.meta?.preprocessing as { checkpoint: string }).checkpoint, `hf:timm/resnet18.fixture@${'e'.repeat(40)}`);

    // `embedlab env` lists the cached model and its size (Check Environment shows the same list).
    const envOut = await cli(['env', '--json'], { env });
    assert.equal(envOut.code, 0, envOut.stderr);
    const listed = (JSON.parse(envOut.stdout) as { pretrained: { cacheDir: string; models: Array<{ id: string; bytes: number }> } }).pretrained;
    assert.equal(listed.cacheDir, path.join(work, 'hf'));
    const entry = listed.models.find((x) => x.id === 'hf:timm/resnet18.fixture');
    assert.equal(entry?.bytes, fs.statSync(path.join(fx.dir, m.file)).size + JSON.stringify(timmConfig).length);

    // A repo that does not exist: exit 2, the hub's word.
    const missing = await cli(['embed', '--model', 'hf:timm/no-such-model', path.join(work, 'photos'), '--out', path.join(work, 'x.csv')], { env });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /timm\/no-such-model/);
  } finally {
    await hub.close();
  }
});

test('embed --mean/--std: ImageNet\'s numbers are the named mode (PyTorch\'s features); other statistics are recorded and reused by knn --query', async () => {
  const m = fx.models.resnet18;
  const photos = path.join(work, 'photos');
  const named = path.join(work, 'stats-imagenet.parquet');
  const r = await cli(['embed', '--model', path.join(fx.dir, m.file), photos, '--out', named, '--size', '64', '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225']);
  assert.equal(r.code, 0, r.stderr);
  const t = await vectorsOf(named);
  assert.equal((t.meta?.preprocessing as { normalize: unknown }).normalize, 'imagenet');
  assert.ok(relativeError(t.vectors.subarray(0, t.dim), m.imageFeatures) < 1e-4);

  const clip = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };
  const own = path.join(work, 'stats-clip.parquet');
  const c = await cli(['embed', '--model', path.join(fx.dir, m.file), photos, '--out', own, '--size', '64', '--mean', clip.mean.join(','), '--std', clip.std.join(',')]);
  assert.equal(c.code, 0, c.stderr);
  const u = await vectorsOf(own);
  assert.deepEqual((u.meta?.preprocessing as { normalize: unknown }).normalize, clip);
  assert.ok(relativeError(u.vectors.subarray(0, u.dim), m.imageFeatures) > 1e-3, 'other statistics give other features');
  const query = path.join(work, 'stats-query.png');
  fs.copyFileSync(path.join(fx.dir, 'rgb.png'), query);
  const k = await cli(['knn', own, '--query', query, '-k', '1', '--json']);
  assert.equal(k.code, 0, k.stderr);
  assert.ok((JSON.parse(k.stdout.trim().split('\n').pop()!) as { neighbors: Array<{ distance: number }> }).neighbors[0].distance < 1e-5, 'the query embedded with the recorded statistics');

  for (const [args, msg] of [
    [['--mean', '0.5'], /--mean and --std go together/],
    [['--mean', '0.5', '--std', '0.5', '--normalize', 'imagenet'], /give one/],
    [['--mean', '0.5,0.5', '--std', '0.5,0.5'], /--mean must be 1 or 3/],
    [['--mean', '0.5', '--std', '0'], /--std must be 1 or 3 comma-separated positive numbers/],
    [['--mean', '0.5,0.5,0.5', '--std', '0.5'], /--mean has 3 value\(s\), --std 1/],
  ] as Array<[string[], RegExp]>) {
    const b = await cli(['embed', '--model', path.join(fx.dir, m.file), photos, '--out', path.join(work, 'bad-stats.csv'), ...args]);
    assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
    assert.match(b.stderr, msg);
    assert.ok(!fs.existsSync(path.join(work, 'bad-stats.csv')));
  }
});

test('bad pretrained sources: a truncated file (naming it, nothing written) and a bad --size exit 2', async () => {
  const bad = path.join(work, 'truncated.safetensors');
  fs.writeFileSync(bad, fs.readFileSync(path.join(fx.dir, fx.models.resnet18.file)).subarray(0, 1000));
  const r = await cli(['embed', '--model', bad, path.join(work, 'photos'), '--out', path.join(work, 'bad.csv'), '--size', '64']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /truncated\.safetensors/);
  assert.ok(!fs.existsSync(path.join(work, 'bad.csv')), 'nothing written');
  const flag = await cli(['embed', '--model', path.join(fx.dir, fx.models.resnet18.file), path.join(work, 'photos'), '--out', path.join(work, 'bad.csv'), '--size', 'abc']);
  assert.equal(flag.code, 2, flag.stderr);
  assert.match(flag.stderr, /--size must be H or H,W/);
});
