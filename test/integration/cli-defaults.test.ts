// Defaults that fit the data, and config values JSON cannot print, through the real CLI:
// - `init --type triplet` on a 6-class folder trains as it is: training.classesPerBatch defaults to min(8, classes
//   with 2+ images) and the batch size with it (was: the sampler refused P = 8 for 6 classes);
//   a link to a class folder outside the data root is not followed, and a warning names it;
// - `epochs: 1e999` (Infinity to JSON.parse) is reported as "got Infinity", not "got null".
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, jsonLines, tmpDir } from './helpers';

const work = tmpDir('defaults');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test('a triplet config from init trains on a 6-class folder: P = 6, batch 6 × 4 = 24', { timeout: 600_000 }, async () => {
  const data = path.join(work, 'six');
  assert.equal((await cli(['synth', data, '--classes', '6', '--per-class', '5', '--size', '32', '--seed', '3'])).code, 0);
  // A seventh class behind a link that points outside the data root: not followed, and said so.
  const elsewhere = path.join(work, 'elsewhere');
  fs.cpSync(path.join(data, fs.readdirSync(data).sort()[0]), path.join(elsewhere, 'seventh'), { recursive: true });
  fs.symlinkSync(path.join(elsewhere, 'seventh'), path.join(data, 'seventh'), 'dir');
  const cfgFile = path.join(work, 'six.embedding.json');
  const init = await cli(['init', '--type', 'triplet', '--train', data, '--out', cfgFile]);
  assert.equal(init.code, 0, init.stderr);
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, Record<string, unknown>>;
  assert.notEqual(cfg.loss.mining, 'none', 'init\'s triplet config mines P×K batches');
  assert.equal(cfg.training.classesPerBatch, undefined);
  assert.equal(cfg.training.batchSize, undefined);
  // Small and fast; the batch fields stay as init wrote them.
  cfg.data = { ...cfg.data, imageSize: [32, 32], samplesPerEpoch: 48, validationLimit: 0 };
  cfg.model = { ...cfg.model, backbone: 'convnet', width: 0.25, embeddingDim: 16 };
  cfg.training = { ...cfg.training, epochs: 1, backend: 'wasm' };
  fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  const r = await cli(['train', cfgFile, '--out', path.join(work, 'runs'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const started = jsonLines(r.stdout).find((e) => e.type === 'started');
  assert.equal((started?.train as { classes: number } | undefined)?.classes, 6);
  const warning = jsonLines(r.stdout).find((e) => e.type === 'warning' && /outside/.test(String(e.message)));
  assert.deepEqual(warning?.paths, ['seventh']);
  assert.equal(started?.batchSize, 24);
  assert.equal(started?.stepsPerEpoch, 2);
  assert.ok(jsonLines(r.stdout).some((e) => e.type === 'done'));
});

test('epochs: 1e999 is reported as Infinity, not null', async () => {
  const cfgFile = path.join(work, 'inf.embedding.json');
  fs.writeFileSync(cfgFile, `{"data": {"train": "${work.replace(/\\/g, '/')}"}, "loss": {"type": "triplet"}, "training": {"epochs": 1e999}}`);
  const r = await cli(['train', cfgFile, '--out', path.join(work, 'runs-inf')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /training\.epochs: .*\(got Infinity\)/);
  assert.doesNotMatch(r.stderr, /got null/);
});
