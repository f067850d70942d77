// The pure parts of "use the model" (issue 16): duplicate groups against a brute-force union of all pairs, few-shot
// classification against hand-computed centroids and votes, the threshold file's placement, lookup and checks.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { duplicateGroups } from '../../src/core/duplicates';
import { centroids, classify, classifyReport, UNKNOWN } from '../../src/core/classify';
import { findThreshold, isSame, pairStats, parsePairLabel, resolveThreshold, saveThreshold, thresholdFromReport, thresholdPathFor } from '../../src/core/threshold';
import { exitCodeOf } from '../../src/core/errors';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** Brute force: Float64 euclidean distances of every pair, components by repeated relabelling. */
function bruteGroups(v: Float32Array, n: number, dim: number, t: number): number[][] {
  const comp = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => (comp[x] === x ? x : (comp[x] = find(comp[x])));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) { const x = v[i * dim + d] - v[j * dim + d]; s += x * x; }
      if (Math.sqrt(s) < t) { const a = find(i); const b = find(j); if (a !== b) comp[Math.max(a, b)] = Math.min(a, b); }
    }
  }
  const m = new Map<number, number[]>();
  for (let i = 0; i < n; i++) { const r = find(i); m.set(r, [...(m.get(r) ?? []), i]); }
  return [...m.values()].filter((g) => g.length > 1).sort((a, b) => b.length - a.length || a[0] - b[0]);
}

test('duplicate groups equal the components of all pairs below t, with clusters larger than the first k (widened passes)', () => {
  const r = rng(7);
  const dim = 6;
  // Blobs of 1..40 points around random centres (tight), plus scattered singles; thresholds across scales.
  const rows: number[] = [];
  let blob = 0;
  while (rows.length / dim < 600) {
    const size = 1 + Math.floor(r() * (blob % 5 === 0 ? 40 : 4));
    const c = Array.from({ length: dim }, () => r() * 20);
    for (let s = 0; s < size; s++) for (let d = 0; d < dim; d++) rows.push(c[d] + (r() - 0.5) * 0.3);
    blob++;
  }
  const n = rows.length / dim;
  const v = Float32Array.from(rows);
  for (const t of [0.05, 0.2, 0.45, 1.3, 3.7]) {
    const want = bruteGroups(v, n, dim, t);
    const got = duplicateGroups(v, n, dim, t, 'euclidean', { k: 3, memoryBytes: 2 * 1024 * 1024, blockRows: 64 });
    assert.deepEqual(got.groups, want, `t = ${t}`);
    if (t >= 0.45) assert.ok(got.widened > 0, 'some rows had more than k neighbours below t');
  }
});

test('duplicate groups: exact copies (distance 0) group, a threshold of 0 finds nothing, tiny tables work', () => {
  const v = Float32Array.from([0, 0, 1, 1, 0, 0, 5, 5, 0, 0]);
  assert.deepEqual(duplicateGroups(v, 5, 2, 1e-6, 'euclidean').groups, [[0, 2, 4]]);
  assert.deepEqual(duplicateGroups(v, 5, 2, 0, 'euclidean').groups, [], 'd < 0 never holds');
  assert.deepEqual(duplicateGroups(v, 1, 2, 10, 'euclidean').groups, []);
  assert.deepEqual(duplicateGroups(v, 5, 2, 100, 'euclidean', { k: 1 }).groups, [[0, 1, 2, 3, 4]]);
});

test('centroid classification: hand-computed centroids, runner-up, open-set unknown at d ≥ threshold', () => {
  const ref = { vectors: Float32Array.from([0, 0, 2, 0, 10, 0, 10, 2]), labels: ['a', 'a', 'b', 'b'], dim: 2 };
  const c = centroids(ref);
  assert.deepEqual(c.classes, ['a', 'b']);
  assert.deepEqual(Array.from(c.vectors), [1, 0, 10, 1]);
  const q = Float32Array.from([1, 1, 9, 1, 5.5, 0]);
  const p = classify(q, 3, ref, 'euclidean');
  assert.deepEqual(p.map((x) => x.label), ['a', 'b', 'a']);
  assert.ok(Math.abs(p[0].distance - 1) < 1e-6 && p[0].runnerUp === 'b' && Math.abs(p[0].runnerUpDistance - 9) < 1e-6);
  // |(5.5,0)-(1,0)| = 4.5, |(5.5,0)-(10,1)| = sqrt(20.25+1)
  assert.ok(Math.abs(p[2].distance - 4.5) < 1e-6);
  const open = classify(q, 3, ref, 'euclidean', { threshold: 4.5 });
  assert.deepEqual(open.map((x) => x.label), ['a', 'b', UNKNOWN], '4.5 is not below 4.5');
  const unit = centroids({ vectors: Float32Array.from([1, 0, 0, 1]), labels: ['x', 'x'], dim: 2 }, true);
  assert.ok(Math.abs(unit.vectors[0] - Math.SQRT1_2) < 1e-6 && Math.abs(unit.vectors[1] - Math.SQRT1_2) < 1e-6);
});

test('k-NN vote: the majority wins, a tie goes to the nearest, runner-up is the nearest other class', () => {
  const ref = { vectors: Float32Array.from([0, 1, 2, 3, 3.2]), labels: ['a', 'b', 'b', 'c', 'c'], dim: 1 };
  const p = classify(Float32Array.from([0.9, 3.1, 0.2]), 3, ref, 'euclidean', { method: 'knn', k: 3 });
  // 0.9: neighbours b(1) a(0) b(2) → b; 3.1: c c b → c; 0.2: a b b → b (2 votes), distance to its nearest b = 0.8
  assert.deepEqual(p.map((x) => x.label), ['b', 'c', 'b']);
  assert.equal(p[0].runnerUp, 'a');
  assert.ok(Math.abs(p[2].distance - 0.8) < 1e-6 && p[2].runnerUp === 'a' && Math.abs(p[2].runnerUpDistance - 0.2) < 1e-6);
  const tie = classify(Float32Array.from([0.4]), 1, ref, 'euclidean', { method: 'knn', k: 2 });
  assert.equal(tie[0].label, 'a', 'a (0.4) and b (0.6) have a vote each: the nearer wins');
});

test('classify report: accuracy over known classes, per-class precision/recall, confusion, unknown rejection', () => {
  const truth = ['a', 'a', 'b', 'b', 'z', 'z', ''];
  const pred = ['a', 'b', 'b', UNKNOWN, UNKNOWN, 'a', 'a'];
  const r = classifyReport(pred, truth, ['a', 'b']);
  assert.equal(r.known, 4);
  assert.equal(r.correct, 2);
  assert.equal(r.accuracy, 0.5);
  assert.equal(r.falselyRejected, 1);
  assert.equal(r.unknownQueries, 2);
  assert.equal(r.unknownRejected, 1);
  assert.deepEqual(r.perClass.a, { precision: 0.5, recall: 0.5, support: 2 }); // predicted a: rows 0 and 5 (z)
  assert.deepEqual(r.perClass.b, { precision: 0.5, recall: 0.5, support: 2 });
  assert.deepEqual(r.confusion, { a: { a: 1, b: 1 }, b: { b: 1, [UNKNOWN]: 1 }, z: { [UNKNOWN]: 1, a: 1 } });
});

test('pair verdicts and stats; pair labels', () => {
  assert.equal(isSame(0.5, 0.5), false);
  assert.equal(isSame(0.49, 0.5), true);
  const s = pairStats([true, true, false, false, true], [true, false, false, true, true]);
  assert.deepEqual(s, { count: 5, tp: 2, fp: 1, tn: 1, fn: 1, accuracy: 3 / 5, precision: 2 / 3, recall: 2 / 3 });
  assert.equal(parsePairLabel('Same'), true);
  assert.equal(parsePairLabel('0'), false);
  assert.equal(parsePairLabel(''), null);
  assert.throws(() => parsePairLabel('maybe'), /same\/different/);
});

test('threshold.json: written into a run\'s model folder, found from model/branch, checked against the model, overridden', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-thr-'));
  try {
    const run = path.join(dir, 'run');
    fs.mkdirSync(path.join(run, 'model', 'branch'), { recursive: true });
    fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({ model: { embeddingDim: 4 }, loss: { distance: 'euclidean' } }));
    fs.writeFileSync(path.join(run, 'run.json'), '{}');
    fs.writeFileSync(path.join(run, 'model', 'branch', 'preprocessing.json'), JSON.stringify({ embeddingDim: 4, distance: 'euclidean' }));
    const report = {
      table: 't.parquet', rows: 10, labels: 2, dim: 4, distance: 'euclidean' as const,
      verification: { positives: 20, negatives: 25, sampled: false, rocAuc: 0.9, bestF1: { threshold: 0.7, f1: 0.8, precision: 0.75, recall: 0.86 }, atPrecision: { target: 0.95, threshold: 0.4, precision: 0.96, recall: 0.5 } },
    };
    assert.throws(() => resolveThreshold(undefined, [run]), (e: Error) => exitCodeOf(e) === 2 && /eval t\.parquet --save-threshold/.test(e.message));
    const file = await saveThreshold(run, thresholdFromReport(report));
    assert.equal(file, path.join(run, 'model', 'threshold.json'));
    assert.equal(thresholdPathFor(run), file);
    assert.equal(findThreshold(path.join(run, 'model', 'branch'))!.file, file, 'found from the branch folder');
    assert.equal(resolveThreshold(undefined, [run]).value, 0.7);
    assert.equal(resolveThreshold('precision', [path.join(run, 'model', 'branch')]).value, 0.4);
    assert.deepEqual(resolveThreshold('1.25', [run]), { value: 1.25, source: '--threshold' });
    assert.throws(() => resolveThreshold('abc', [run]), /--threshold must be/);
    assert.throws(() => resolveThreshold(undefined, [run], { dim: 8 }), (e: Error) => exitCodeOf(e) === 2 && /length 4/.test(e.message));
    await assert.rejects(saveThreshold(run, thresholdFromReport({ ...report, dim: 8 })), (e: Error) => exitCodeOf(e) === 2 && /length 8/.test(e.message));
    await assert.rejects(saveThreshold(run, thresholdFromReport({ ...report, distance: 'cosine' })), /--distance euclidean/);
    fs.writeFileSync(file, '{"format":"x"}');
    assert.throws(() => resolveThreshold(undefined, [run]), (e: Error) => exitCodeOf(e) === 2 && /not a threshold file/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('outlier scores: k-th neighbour distance and own-centroid distance, against hand-computed values', async () => {
  const { outlierScores } = await import('../../src/core/outliers');
  // 1-D: a at 0, 1, 2 (centroid 1), b at 10, 20 (centroid 15), one unlabelled at 100.
  const v = Float32Array.from([0, 1, 2, 10, 20, 100]);
  const s = outlierScores(v, 6, 1, ['a', 'a', 'a', 'b', 'b', ''], 2, 'euclidean');
  assert.equal(s.k, 2);
  assert.deepEqual(Array.from(s.kth), [2, 1, 2, 9, 18, 90]);
  assert.deepEqual(Array.from(s.centroid).slice(0, 5), [1, 0, 1, 5, 5]);
  assert.ok(Number.isNaN(s.centroid[5]));
});
