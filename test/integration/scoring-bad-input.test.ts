// Bad input for the scoring commands (export, embed, eval, knn), each through the CLI with its message checked.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, jsonLines, onlyRunDir, smallConfig, tmpDir, writeConfig } from './helpers';

const work = tmpDir('scoring');
const data = path.join(work, 'data');
let runDir = '';

test.before(async () => {
  assert.equal((await cli(['synth', data, '--classes', '3', '--per-class', '6', '--size', '32', '--seed', '9'])).code, 0);
  const cfg = writeConfig(work, smallConfig(data, undefined, { training: { epochs: 1 }, data: { samplesPerEpoch: 32 } }));
  const r = await cli(['train', cfg, '--out', path.join(work, 'runs')]);
  assert.equal(r.code, 0, r.stderr);
  runDir = onlyRunDir(path.join(work, 'runs'));
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test('embed skips corrupt images, lists them in a sidecar and writes the readable ones', async () => {
  const dir = path.join(work, 'with-corrupt');
  fs.cpSync(data, dir, { recursive: true });
  const cls = fs.readdirSync(dir).sort()[1];
  fs.writeFileSync(path.join(dir, cls, 'zz-bad.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  fs.writeFileSync(path.join(dir, cls, 'empty.jpg'), Buffer.alloc(0));
  fs.writeFileSync(path.join(dir, 'README.txt'), 'ignored');
  const out = path.join(work, 'corrupt.csv');
  const r = await cli(['embed', '--model', runDir, dir, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = jsonLines(r.stdout).at(-1)!;
  assert.equal(summary.type, 'embedded');
  assert.equal(summary.rows, 18);
  assert.equal(summary.skipped, 2);
  assert.equal(summary.ignored, 1);
  assert.ok(jsonLines(r.stdout).some((e) => e.type === 'progress'), 'progress events with --json');
  const csv = fs.readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 18);
  const skipped = fs.readFileSync(`${out}.skipped.txt`, 'utf8').trim().split('\n').map((l) => l.split('\t')[0]).sort();
  assert.deepEqual(skipped, [`${cls}/empty.jpg`, `${cls}/zz-bad.png`]);
});

test('embed of an empty folder fails with a message and writes nothing', async () => {
  const dir = path.join(work, 'empty-folder');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  const out = path.join(work, 'empty.parquet');
  const r = await cli(['embed', '--model', runDir, dir, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no images in .*empty-folder/);
  assert.ok(!fs.existsSync(out));
});

test('a model folder missing its weights is named in the error', async () => {
  const model = path.join(work, 'broken-model');
  assert.equal((await cli(['export', runDir, '--type', 'branch', '--out', model])).code, 0);
  fs.rmSync(path.join(model, 'weights.bin'));
  const r = await cli(['embed', '--model', model, data, '--out', path.join(work, 'x.parquet'), '--engine', 'tfjs']);
  assert.equal(r.code, 2); // bad data (README): was 1
  assert.match(r.stderr, /missing its weights file weights\.bin/);
  assert.match(r.stderr, /broken-model/);
  assert.ok(!fs.existsSync(path.join(work, 'x.parquet')));
  // A damaged model.json: named, exit 2, nothing written.
  fs.writeFileSync(path.join(model, 'model.json'), '{"modelTopology": {');
  const j = await cli(['embed', '--model', model, data, '--out', path.join(work, 'x.parquet'), '--engine', 'tfjs']);
  assert.equal(j.code, 2, j.stderr);
  assert.match(j.stderr, /model\.json is not valid JSON/);
  assert.ok(!fs.existsSync(path.join(work, 'x.parquet')));
});

test('eval of a table with mixed vector lengths names the row', async () => {
  const bad = path.join(work, 'mixed.csv');
  fs.writeFileSync(bad, 'path,label,emb_0,emb_1,emb_2\na.png,a,1,2,3\nb.png,a,1,2\nc.png,b,1,2,3\n');
  const r = await cli(['eval', bad]);
  assert.equal(r.code, 2); // bad data (README): was 1
  assert.match(r.stderr, /row 2 .*has 2 values, expected 3/);
});

test('embed --out in a folder that does not exist is refused before any work', async () => {
  const out = path.join(work, 'no', 'such', 'folder', 't.parquet');
  const r = await cli(['embed', '--model', runDir, data, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /output folder does not exist: .*no\/such\/folder/);
});

test('export --out a/b/c makes the folders it needs (it failed when a did not exist)', async () => {
  const out = path.join(work, 'nope', 'deeper', 'full');
  const e = await cli(['export', runDir, '--type', 'full', '--out', out]);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(fs.existsSync(path.join(out, 'model.json')));
});

test('knn with an unreadable query image is bad data: exit 2, the image named', async () => {
  const table = path.join(work, 'for-knn.csv');
  const r = await cli(['embed', '--model', runDir, data, '--out', table]);
  assert.equal(r.code, 0, r.stderr);
  const img = path.join(work, 'broken-query.png');
  fs.writeFileSync(img, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
  const k = await cli(['knn', table, '--query', img, '--model', runDir]);
  assert.equal(k.code, 2, k.stderr);
  assert.match(k.stderr, /cannot read image .*broken-query\.png/);
});

test('embed follows links inside the folder, not those outside it, and says so (as train does)', async () => {
  const dir = path.join(work, 'linked');
  const cls = fs.readdirSync(data).sort();
  fs.mkdirSync(dir);
  fs.cpSync(path.join(data, cls[0]), path.join(dir, cls[0]), { recursive: true });
  fs.cpSync(path.join(data, cls[1]), path.join(dir, '.stash'), { recursive: true });
  fs.symlinkSync(path.join(dir, '.stash'), path.join(dir, cls[1]), 'dir'); // inside: followed
  fs.symlinkSync(path.join(data, cls[2]), path.join(dir, cls[2]), 'dir'); // outside: not followed
  const out = path.join(work, 'linked.csv');
  const r = await cli(['embed', '--model', runDir, dir, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /12 rows/);
  assert.match(r.stderr, new RegExp(`1 symbolic link\\(s\\) point outside .*linked and were not followed: ${cls[2]}`));
  const labels = new Set(fs.readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[1]));
  assert.deepEqual([...labels].sort(), [cls[0], cls[1]]);
});

test('usage errors exit 2 with the usage line', async () => {
  const r = await cli(['embed', data]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing --model/);
  const k = await cli(['knn', path.join(work, 'corrupt.csv'), '--query', 'not/in/table.png']);
  assert.equal(k.code, 2);
  assert.match(k.stderr, /neither a path in the table nor an image file/);
  const x = await cli(['export', runDir, '--type', 'onnx']);
  assert.equal(x.code, 2);
  assert.match(x.stderr, /--type must be branch or full/);
});
