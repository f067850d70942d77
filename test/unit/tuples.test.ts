// The tuples CSV of `embedlab score` (src/core/tuples.ts): DLPy's and readable column names per stream count, paths
// resolved against the CSV's folder, a pair's target in both polarities, and the bad input (each error names its
// line or the columns wanted); the correct-row rule.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dlPredColumn, readTuples, tupleCorrect } from '../../src/core/tuples';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-tuples-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
const imgs = path.join(work, 'img');
fs.mkdirSync(imgs);
for (const f of ['a.png', 'b.png', 'c.png', 'd.png']) fs.writeFileSync(path.join(imgs, f), 'x');
let n = 0;
const csv = (text: string) => {
  const f = path.join(work, `t${n++}.csv`);
  fs.writeFileSync(f, text);
  return f;
};

test('column names: DLPy\'s _path_k / _image_k, the model\'s image_<stream>, plain names; relative paths against the CSV\'s folder', () => {
  const t3 = readTuples(csv('_id_,_path_,_path_1,_path_2,_label_\n1,img/a.png,img/b.png,img/c.png,x\n'), 3);
  assert.deepEqual(t3.columns, ['_path_', '_path_1', '_path_2']);
  assert.deepEqual(t3.rows[0].files, ['a', 'b', 'c'].map((x) => path.join(imgs, `${x}.png`)));
  assert.deepEqual(t3.rows[0].given, ['img/a.png', 'img/b.png', 'img/c.png']);
  assert.equal(t3.rows[0].line, 2);
  assert.deepEqual(readTuples(csv('_IMAGE_,_image_1,_image_2\nimg/a.png,img/b.png,img/c.png\n'), 3).columns, ['_IMAGE_', '_image_1', '_image_2'], 'case-insensitive');
  assert.deepEqual(readTuples(csv('Anchor,Positive,Negative\nimg/a.png,img/b.png,img/c.png\n'), 3).columns, ['Anchor', 'Positive', 'Negative']);
  assert.deepEqual(readTuples(csv('image_anchor,image_positive,image_negative1,image_negative2\nimg/a.png,img/b.png,img/c.png,img/d.png\n'), 4).columns.length, 4);
  // DLPy's quartet panels (Anchor / Positive / Negative / Negative1) and the explicit negative1/negative2.
  assert.deepEqual(readTuples(csv('anchor,positive,negative,negative1\nimg/a.png,img/b.png,img/c.png,img/d.png\n'), 4).columns, ['anchor', 'positive', 'negative', 'negative1']);
  assert.deepEqual(readTuples(csv('negative2,negative1,positive,anchor\nimg/d.png,img/c.png,img/b.png,img/a.png\n'), 4).rows[0].given, ['img/a.png', 'img/b.png', 'img/c.png', 'img/d.png'], 'by name, in any order');
  // An absolute path stays as it is; a BOM and CRLF line ends are fine.
  const abs = path.join(imgs, 'a.png');
  assert.deepEqual(readTuples(csv(`\uFEFFa,b\r\n${abs},img/b.png\r\n\r\n`), 2).rows.map((r) => r.files[0]), [abs]);
});

test('a pair\'s target: DLPy\'s _dissimilar_ (1 = different) and label (same/different, 1 = same); none → null', () => {
  const d = readTuples(csv('_path_,_path_1,_dissimilar_\nimg/a.png,img/b.png,1\nimg/a.png,img/c.png,0\nimg/a.png,img/d.png,\n'), 2);
  assert.equal(d.target, '_dissimilar_');
  assert.deepEqual(d.rows.map((r) => r.same), [false, true, null]);
  const l = readTuples(csv('a,b,label\nimg/a.png,img/b.png,same\nimg/a.png,img/c.png,0\n'), 2);
  assert.deepEqual(l.rows.map((r) => r.same), [true, false]);
  assert.equal(readTuples(csv('a,b\nimg/a.png,img/b.png\n'), 2).target, null);
  assert.equal(readTuples(csv('anchor,positive,negative,label\nimg/a.png,img/b.png,img/c.png,dog\n'), 3).rows[0].same, null, 'no target for triplets: a label column is just data');
  assert.throws(() => readTuples(csv('a,b,_dissimilar_\nimg/a.png,img/b.png,maybe\n'), 2), /line 2: column _dissimilar_: .*maybe.*1 = different classes/);
});

test('bad tuples: missing columns (the sets wanted), empty cells, files that do not exist, short rows — each names the line', () => {
  assert.throws(() => readTuples(csv('anchor,positive\nimg/a.png,img/b.png\n'), 3), /line 1: the model scores triplets \(3 images a row\).*anchor,positive,negative.*it has "anchor", "positive"/);
  assert.throws(() => readTuples(csv('anchor,positive,negative\nimg/a.png,img/b.png,img/c.png\n'), 4), /scores quartets.*negative1,negative2/, 'a triplet file for a quartet model');
  assert.throws(() => readTuples(csv('a,b\nimg/a.png,img/b.png\nimg/a.png,\n'), 2), /line 3: column b is empty/);
  assert.throws(() => readTuples(csv('a,b\nimg/a.png,img/b.png\nimg/a.png,img/nope.png\n'), 2), new RegExp(`line 3: image b does not exist: .*${path.join('img', 'nope.png').replace(/[.\\]/g, '\\$&')}`));
  assert.throws(() => readTuples(csv('a,b,label\nimg/a.png\n'), 2), /line 2: 1 field\(s\), the header has columns up to 2/);
  assert.throws(() => readTuples(csv(''), 2), /is empty: it needs a header/);
  assert.throws(() => readTuples(csv('a,b\n'), 2), /has a header but no rows/);
  assert.throws(() => readTuples(path.join(work, 'none.csv'), 2), /tuples file does not exist/);
});

test('a correct tuple: the positive pair closer than every negative pair (ties are not correct)', () => {
  assert.equal(tupleCorrect([0.1, 0.2]), true);
  assert.equal(tupleCorrect([0.2, 0.2]), false);
  assert.equal(tupleCorrect([0.3, 0.2]), false);
  assert.equal(tupleCorrect([0.1, 0.2, 0.3]), true);
  assert.equal(tupleCorrect([0.1, 0.2, 0.05]), false, 'quartet: d(a,p) must also be below d(n1,n2)');
  assert.equal(tupleCorrect([NaN, 1]), false);
  assert.deepEqual([0, 1, 2].map(dlPredColumn), ['_DL_Pred0_', '_DL_Pred1_', '_DL_Pred2_']);
});
