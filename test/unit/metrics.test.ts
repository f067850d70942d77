// Retrieval, clustering, verification and kNN-classification metrics: hand-worked cases and a brute-force reference.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateTable, kmeans, knnClassify, nmi, rankMetrics, retrievalMetrics, thresholdAnalysis, verification,
} from '../../src/core/metrics';
import { knnLeaveOneOut } from '../../src/core/knn';
import { Rng, uniformStream } from '../../src/core/rng';

const close = (a: number, b: number, eps = 1e-9, msg?: string) => assert.ok(Math.abs(a - b) <= eps, msg ?? `${a} ≉ ${b}`);

// ------------------------------------------------------------------------------------------------ retrieval

// First in the file, so that the process's peak RSS before it is that of a fresh test process.
test('retrieval in blocks stays within its memory budget (20,000 × 32, k = 298)', (t) => {
  // 67 classes of 298 or 299: k = R_max = 298. Unblocked, the top-k state and results of all rows would take
  // n·(2k·12 + 8 + k·8) = 20,000 · 9,544 B ≈ 182 MiB (plus the kernel's copy, 20,000 · 32 · 12 B ≈ 7 MiB).
  // Budget 16 MiB: the kernel's copy (~8.5 MiB with norms and thresholds, the tile's candidate buffer) and blocks
  // of 768 queries (~7 MiB of top-k state and results): 27 blocks.
  // Growth bound, 16 + 32 + 40 = 88 MiB: the budget, the pivot grouping's transient kernel (≤ 32 MiB, one chunk,
  // garbage once the main kernel is built; ~10 MiB here), and 40 MiB for V8 (heap growth, lazily collected wasm
  // memories and arrays, compiled code), half of what the unblocked state alone would need.
  const n = 20000, dim = 32, classes = 67;
  const r = uniformStream(5);
  const centres = Float32Array.from({ length: classes * dim }, () => r() * 2 - 1);
  const v = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) v[i * dim + d] = centres[(i % classes) * dim + d] + 0.5 * (r() - 0.5);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const memoryBytes = 16 << 20;
  const bound = 88 << 20;
  const rssBefore = process.memoryUsage().rss;
  const maxRssBefore = process.resourceUsage().maxRSS * 1024;
  // The kNN retrieval runs (k = 298), RSS sampled at every block.
  let blocks = 0;
  let sampled = 0;
  knnLeaveOneOut(v, n, dim, 298, 'euclidean', { memoryBytes }, () => {
    blocks++;
    sampled = Math.max(sampled, process.memoryUsage().rss - rssBefore);
  });
  // The metrics themselves (with their n·25 bytes of per-query values): the process's peak RSS, a high-water mark.
  const m = retrievalMetrics(v, dim, labels, 'euclidean', { memoryBytes });
  const peak = process.resourceUsage().maxRSS * 1024 - maxRssBefore;
  t.diagnostic(`${blocks} blocks; sampled RSS growth ${(sampled / 2 ** 20).toFixed(1)} MiB; peak RSS growth ${(peak / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(blocks >= 20, `${blocks} blocks`);
  assert.ok(sampled < bound, `sampled RSS growth ${(sampled / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(peak < bound, `peak RSS growth ${(peak / 2 ** 20).toFixed(0)} MiB`);
  assert.equal(m.count, n);
});

test('retrieval: blocked and unblocked give identical metrics (ties, duplicates, blocks not dividing n)', () => {
  const rand = uniformStream(17);
  for (const [n, dim, C] of [[613, 4, 23], [400, 9, 3]] as const) {
    const v = Float32Array.from({ length: n * dim }, () => Math.round(rand() * 4) / 2);
    for (let i = 0; i < 60; i++) v.copyWithin(((i * 7) % n) * dim, ((i * 13 + 1) % n) * dim, ((i * 13 + 1) % n) * dim + dim);
    const labels = Int32Array.from({ length: n }, () => (rand() < 0.05 ? -1 : Math.floor(rand() * C)));
    labels[3] = 1000; // a singleton
    for (const distance of ['euclidean', 'cosine', 'squared-euclidean'] as const) {
      const ref = retrievalMetrics(v, dim, labels, distance);
      assert.ok(ref.perClass.length > 1);
      for (const opts of [{ queryBlock: 1 }, { queryBlock: 97 }, { queryBlock: 250, blockRows: 16 }, { memoryBytes: 100_000 }, { queryBlock: 61, kernel: 'js' as const }]) {
        assert.deepStrictEqual(retrievalMetrics(v, dim, labels, distance, opts), ref, `${n} ${distance} ${JSON.stringify(opts)}`);
      }
    }
  }
});

test('retrieval: hand-worked 1-D table (a tie, a single-item class, an unlabelled row)', () => {
  // row: x, label
  //   0: 0, 0    1: 1, 0    2: 2, 1    3: 4, 1    4: 3, 2 (only item of class 2)    5: 1.5, -1 (unlabelled)    6: 5, 0
  // Queries: rows 0, 1, 6 (class 0, R = 2) and 2, 3 (class 1, R = 1); rows 4 and 5 only sit in the gallery.
  // Neighbours by distance, ties → smaller row index (✓ = same label):
  //   q0 (x=0):  1(1)✓ 5(1.5) 2(2) 4(3) 3(4) 6(5)✓         P@1 1, R-Prec 1/2, MAP@R (1/1)/2 = 0.5,  first ✓ rank 1
  //   q1 (x=1):  5(.5) 0(1)✓ 2(1) ← tie, 0 before 2; 4(2) 3(3) 6(4)✓
  //                                                        P@1 0, R-Prec 1/2, MAP@R (1/2)/2 = 0.25, first ✓ rank 2
  //   q6 (x=5):  3(1) 4(2) 2(3) 5(3.5) 1(4)✓ 0(5)✓          P@1 0, R-Prec 0, MAP@R 0,              first ✓ rank 5
  //   q2 (x=2):  5(.5) 1(1) 4(1) 0(2) 3(2)✓ 6(3)            P@1 0, R-Prec 0, MAP@R 0,              first ✓ rank 5
  //   q3 (x=4):  4(1) 6(1) 2(2)✓ 5(2.5) 1(3) 0(4)           P@1 0, R-Prec 0, MAP@R 0,              first ✓ rank 3
  // Means over 5 queries: P@1 1/5, R-Prec 1/5, MAP@R 0.75/5 = 0.15; Recall@1 1/5, @2 2/5, @4 3/5, @8 5/5.
  // Per class: 0 → P@1 1/3, MAP@R 0.75/3 = 0.25; 1 → 0, 0.
  const x = Float32Array.from([0, 1, 2, 4, 3, 1.5, 5]);
  const labels = Int32Array.from([0, 0, 1, 1, 2, -1, 0]);
  for (const blockRows of [1, 2, 256]) {
    const m = retrievalMetrics(x, 1, labels, 'euclidean', { blockRows });
    assert.equal(m.count, 5);
    assert.equal(m.excludedSingleton, 1);
    assert.equal(m.excludedUnlabelled, 1);
    close(m.precisionAt1, 0.2);
    close(m.rPrecision, 0.2);
    close(m.mapAtR, 0.15);
    assert.deepEqual(m.recallAtK, { 1: 0.2, 2: 0.4, 4: 0.6, 8: 1 });
    assert.equal(m.perClass.length, 2);
    assert.equal(m.perClass[0].label, 0);
    assert.equal(m.perClass[0].count, 3);
    close(m.perClass[0].precisionAt1, 1 / 3);
    close(m.perClass[0].mapAtR, 0.25);
    assert.deepEqual(m.perClass[1], { label: 1, count: 2, precisionAt1: 0, mapAtR: 0 });
  }
});

test('rankMetrics: the Reality Check MAP@R example and friends', () => {
  // R = 10, relevant at ranks 1 and 3 of the first 10: MAP@R = (1/10)·(1/1 + 2/3), R-Precision = 2/10.
  const rel = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0];
  const m = rankMetrics(rel, 10);
  close(m.mapAtR, (1 + 2 / 3) / 10);
  close(m.rPrecision, 0.2);
  assert.equal(m.precisionAt1, 1);
  assert.equal(m.firstHit, 1);
  // All R relevant first → 1; relevant only after rank R → MAP@R 0, but Recall@K still sees it.
  assert.equal(rankMetrics([1, 1, 1, 0], 3).mapAtR, 1);
  const late = rankMetrics([0, 0, 1, 1], 2);
  assert.equal(late.mapAtR, 0);
  assert.equal(late.rPrecision, 0);
  assert.equal(late.firstHit, 3);
  // R = 4, relevant at ranks 2 and 4: (1/2 + 2/4)/4 = 0.25.
  close(rankMetrics([0, 1, 0, 1], 4).mapAtR, 0.25);
});

/** Reference retrieval metrics: all distances, full sort, definitions applied directly. */
function bruteRetrieval(v: Float32Array, dim: number, labels: Int32Array) {
  const n = labels.length;
  const size = new Map<number, number>();
  for (const y of labels) if (y >= 0) size.set(y, (size.get(y) ?? 0) + 1);
  let count = 0, p1 = 0, rp = 0, map = 0;
  const rk = { 1: 0, 2: 0, 4: 0, 8: 0 };
  for (let q = 0; q < n; q++) {
    const y = labels[q];
    if (y < 0 || (size.get(y) as number) < 2) continue;
    const R = (size.get(y) as number) - 1;
    const order: Array<[number, number]> = [];
    for (let j = 0; j < n; j++) {
      if (j === q) continue;
      let s = 0;
      for (let d = 0; d < dim; d++) s += (v[q * dim + d] - v[j * dim + d]) ** 2;
      order.push([s, j]);
    }
    order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const rel = order.map(([, j]) => labels[j] === y);
    count++;
    p1 += rel[0] ? 1 : 0;
    rp += rel.slice(0, R).filter(Boolean).length / R;
    let ap = 0;
    for (let i = 0; i < R; i++) if (rel[i]) ap += rel.slice(0, i + 1).filter(Boolean).length / (i + 1);
    map += ap / R;
    for (const K of [1, 2, 4, 8] as const) if (rel.slice(0, K).some(Boolean)) rk[K]++;
  }
  return { count, p1: p1 / count, rp: rp / count, map: map / count, rk: { 1: rk[1] / count, 2: rk[2] / count, 4: rk[4] / count, 8: rk[8] / count } };
}

test('retrieval matches a brute-force reference on random data (several block sizes)', () => {
  const rand = uniformStream(11);
  const n = 157, dim = 6;
  const v = Float32Array.from({ length: n * dim }, () => rand());
  // Labels 0..11 with uneven sizes; some unlabelled rows and a singleton class 99.
  const labels = Int32Array.from({ length: n }, (_, i) => (i % 13 === 0 ? -1 : Math.floor(rand() * rand() * 12)));
  labels[5] = 99;
  const ref = bruteRetrieval(v, dim, labels);
  for (const blockRows of [3, 16, 50, 4096]) {
    const m = retrievalMetrics(v, dim, labels, 'squared-euclidean', { blockRows });
    assert.equal(m.count, ref.count);
    close(m.precisionAt1, ref.p1, 1e-12);
    close(m.rPrecision, ref.rp, 1e-12);
    close(m.mapAtR, ref.map, 1e-12);
    for (const K of [1, 2, 4, 8] as const) close(m.recallAtK[K], ref.rk[K], 1e-12);
  }
});

// ------------------------------------------------------------------------------------------------ NMI, k-means

test('nmi: identical, permuted, independent, hand-computed', () => {
  const a = Int32Array.from([0, 0, 1, 1, 2, 2, 2]);
  close(nmi(a, a), 1);
  close(nmi(a, Int32Array.from([5, 5, -1, -1, 3, 3, 3])), 1); // relabelled
  // Independent: every a-class meets every b-class equally often → I = 0.
  close(nmi(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1, 0, 1])), 0);
  const rand = uniformStream(3);
  const x = Int32Array.from({ length: 20000 }, () => Math.floor(rand() * 4));
  const y = Int32Array.from({ length: 20000 }, () => Math.floor(rand() * 4));
  assert.ok(nmi(x, y) < 0.002);
  // a = [0,0,1,1], b = [0,0,0,1]; n = 4.
  //   H(a) = ln 2; H(b) = −(¾ ln ¾ + ¼ ln ¼)
  //   I = ½ ln(½/(½·¾)) + ¼ ln(¼/(½·¾)) + ¼ ln(¼/(½·¼)) = ½ ln(4/3) + ¼ ln(2/3) + ¼ ln 2 ≈ 0.215762
  //   NMI = I / ((H(a) + H(b))/2) ≈ 0.215762 / 0.627741 ≈ 0.343712
  const I = 0.5 * Math.log(4 / 3) + 0.25 * Math.log(2 / 3) + 0.25 * Math.log(2);
  const Hb = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
  const expected = I / ((Math.log(2) + Hb) / 2);
  close(nmi(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 0, 0, 1])), expected, 1e-12);
  close(expected, 0.343712, 1e-6);
  // Degenerate: both single-cluster → 1; one single-cluster → 0.
  assert.equal(nmi(Int32Array.from([1, 1]), Int32Array.from([4, 4])), 1);
  assert.equal(nmi(Int32Array.from([1, 1]), Int32Array.from([0, 1])), 0);
});

function blobs(perClass: number, seed: number) {
  const rand = uniformStream(seed);
  const centres = [[0, 0, 0], [20, 0, 5], [0, 20, -5], [-20, -20, 10]];
  const n = centres.length * perClass;
  const v = new Float32Array(n * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % centres.length;
    labels[i] = c;
    for (let d = 0; d < 3; d++) v[i * 3 + d] = centres[c][d] + (rand() - 0.5) * 2;
  }
  return { v, labels, n };
}

test('kmeans: well-separated blobs are recovered (NMI 1) and the seed makes it deterministic', () => {
  const { v, labels, n } = blobs(40, 5);
  const a = kmeans(v, n, 3, 4, 42);
  close(nmi(labels, a.assignments), 1);
  const b = kmeans(v, n, 3, 4, 42);
  assert.deepEqual(b.assignments, a.assignments);
  assert.deepEqual(b.centroids, a.centroids);
  assert.equal(b.inertia, a.inertia);
  // Inertia is Σ squared distance to the assigned centroid.
  let inertia = 0;
  for (let i = 0; i < n; i++) for (let d = 0; d < 3; d++) inertia += (v[i * 3 + d] - a.centroids[a.assignments[i] * 3 + d]) ** 2;
  close(a.inertia, inertia, 1e-6 * inertia);
  assert.ok(a.iterations >= 1 && a.iterations <= 100);
  assert.throws(() => kmeans(v, n, 3, n + 1, 1));
});

// ------------------------------------------------------------------------------------------------ verification

test('thresholdAnalysis: ROC AUC extremes and a hand-worked case', () => {
  const f = (xs: number[]) => Float64Array.from(xs);
  assert.equal(thresholdAnalysis(f([0.1, 0.2]), f([0.5, 0.6])).rocAuc, 1); // positives all nearer
  assert.equal(thresholdAnalysis(f([0.5, 0.6]), f([0.1, 0.2])).rocAuc, 0); // reversed
  assert.equal(thresholdAnalysis(f([0.3, 0.3]), f([0.3, 0.3, 0.3])).rocAuc, 0.5); // all tied
  const perfect = thresholdAnalysis(f([0.1, 0.2]), f([0.5, 0.6]));
  assert.equal(perfect.bestF1.f1, 1);
  close(perfect.bestF1.threshold, 0.35); // midpoint between 0.2 (last positive) and 0.5 (first negative)

  // pos = {0.1, 0.35, 0.4}, neg = {0.3, 0.4, 0.8}.
  // AUC: for each positive count negatives farther (+1) or tied (+½):
  //   0.1 → 3;  0.35 → 2 (0.4, 0.8);  0.4 → 1 (0.8) + ½ (tie with 0.4)   → 6.5 / 9
  // Sweep over distinct distances (predict "same" when d ≤ v), threshold = midpoint to the next value:
  //   v      tp fp  precision recall  F1      threshold
  //   0.1    1  0   1         1/3     0.5     0.2
  //   0.3    1  1   1/2       1/3     0.4     0.325
  //   0.35   2  1   2/3       2/3     2/3     0.375
  //   0.4    3  2   3/5       1       0.75    0.6
  //   0.8    3  3   1/2       1       2/3     0.8 (last: the value itself)
  const r = thresholdAnalysis(f([0.4, 0.1, 0.35]), f([0.8, 0.3, 0.4]), 0.65);
  close(r.rocAuc, 6.5 / 9);
  assert.equal(r.positives, 3);
  assert.equal(r.negatives, 3);
  close(r.bestF1.f1, 0.75);
  close(r.bestF1.threshold, 0.6);
  close(r.bestF1.precision, 0.6);
  close(r.bestF1.recall, 1);
  // Target precision 0.65: only 0.1 and 0.35 reach it; the largest threshold is 0.375 (recall 2/3).
  assert.ok(r.atPrecision);
  close(r.atPrecision.threshold, 0.375);
  close(r.atPrecision.precision, 2 / 3);
  close(r.atPrecision.recall, 2 / 3);
  close(thresholdAnalysis(f([0.4, 0.1, 0.35]), f([0.8, 0.3, 0.4]), 0.6).atPrecision?.threshold ?? NaN, 0.6);
  close(thresholdAnalysis(f([0.4, 0.1, 0.35]), f([0.8, 0.3, 0.4]), 0.9).atPrecision?.threshold ?? NaN, 0.2);
  assert.equal(thresholdAnalysis(f([0.4, 0.1, 0.35]), f([0.8, 0.3, 0.4]), 1.01).atPrecision, null);
  assert.equal(r.curve.length, 5);
  close(r.curve[2].threshold, 0.375);
  assert.equal(r.histograms.edges.length, r.histograms.positive.length + 1);
  assert.equal(r.histograms.positive.reduce((s, c) => s + c, 0), 3);
  assert.equal(r.histograms.negative.reduce((s, c) => s + c, 0), 3);
  // The curve is capped at 200 points and keeps the marked ones.
  const rand = uniformStream(1);
  const big = thresholdAnalysis(Float64Array.from({ length: 3000 }, () => rand()), Float64Array.from({ length: 3000 }, () => rand() + 0.3), 0.9);
  assert.ok(big.curve.length <= 200);
  assert.ok(big.curve.some((p) => p.threshold === big.bestF1.threshold));
  assert.ok(big.curve.some((p) => p.threshold === big.atPrecision?.threshold));
});

test('verification: all pairs when they fit, a seeded sample keeping all positives otherwise', () => {
  const { v, labels, n } = blobs(10, 2); // 40 rows, 4 classes of 10
  labels[0] = -1; // unlabelled: takes no part
  const m = n - 1;
  const full = verification(v, 3, labels, 'euclidean');
  assert.equal(full.sampled, false);
  const positives = 9 * 8 / 2 + 3 * (10 * 9 / 2); // the class of row 0 has 9 labelled rows
  assert.equal(full.positives, positives);
  assert.equal(full.negatives, (m * (m - 1)) / 2 - positives);
  assert.equal(full.rocAuc, 1);
  assert.equal(full.bestF1.f1, 1);

  const s1 = verification(v, 3, labels, 'euclidean', { maxPairs: 400, seed: 7 });
  assert.equal(s1.sampled, true);
  assert.equal(s1.positives, positives); // 171 ≤ 200: all kept
  assert.equal(s1.positives + s1.negatives, 400);
  const s2 = verification(v, 3, labels, 'euclidean', { maxPairs: 400, seed: 7 });
  assert.deepEqual(s2, s1);
  const s3 = verification(v, 3, labels, 'euclidean', { maxPairs: 200, seed: 7 });
  assert.equal(s3.positives, 100); // more positives than half the budget: a sample of half
  assert.equal(s3.negatives, 100);
});

// ------------------------------------------------------------------------------------------------ kNN classify, report

test('knnClassify: majority vote, ties to the nearest, unlabelled rows ignored', () => {
  // Reference (1-D): A = 0 at x 0, 1; B = 1 at x 10, 11, 12; an unlabelled row at 5.5 (ignored).
  // Queries: 2 (A), 9 (B), 5.4 (B), 5.6 (B), 7 (unlabelled → not counted).
  //   k=1: 2→1 A ✓, 9→10 B ✓, 5.4→1 (4.4 < 4.6) A ✗, 5.6→10 B ✓                     = 3/4
  //   k=2: 5.4 → {1 A, 10 B} tie → nearest A ✗; 5.6 → {10 B, 1 A} tie → nearest B ✓ = 3/4
  const ref = { vectors: Float32Array.from([0, 1, 10, 11, 12, 5.5]), labels: Int32Array.from([0, 0, 1, 1, 1, -1]) };
  const qs = { vectors: Float32Array.from([2, 9, 5.4, 5.6, 7]), labels: Int32Array.from([0, 1, 1, 1, -1]) };
  assert.deepEqual(knnClassify(ref, qs, 1, 'euclidean', 1), { accuracy: 0.75, count: 4, k: 1 });
  assert.deepEqual(knnClassify(ref, qs, 1, 'euclidean', 2), { accuracy: 0.75, count: 4, k: 2 });
  // Majority beats nearest: A at 0, 1, 2; B at 10. Query 6.5 (A): k=1 → B ✗; k=3 → {10 B, 2 A, 1 A} → A ✓.
  const ref2 = { vectors: Float32Array.from([0, 1, 2, 10]), labels: Int32Array.from([0, 0, 0, 1]) };
  const q2 = { vectors: Float32Array.from([6.5]), labels: Int32Array.from([0]) };
  assert.equal(knnClassify(ref2, q2, 1, 'euclidean', 1).accuracy, 0);
  assert.equal(knnClassify(ref2, q2, 1, 'euclidean', 3).accuracy, 1);
});

test('evaluateTable: one JSON-able report with timings', () => {
  const { v, labels } = blobs(25, 9);
  const report = evaluateTable(v, 3, labels, 'euclidean', { seed: 3 });
  const back = JSON.parse(JSON.stringify(report));
  assert.equal(back.classes, 4);
  assert.equal(back.retrieval.precisionAt1, 1);
  assert.equal(back.retrieval.mapAtR, 1);
  assert.ok(back.clustering.nmi > 0.99);
  assert.equal(back.verification.rocAuc, 1);
  for (const key of ['retrieval', 'clustering', 'verification', 'total']) assert.ok(back.timingsMs[key] >= 0);
});

/** The sampler written plainly (a Set for de-duplication, distances from a Float64 copy as pairs are drawn). */
function referenceVerification(v: Float32Array, dim: number, labels: Int32Array, distance: 'euclidean' | 'cosine', maxPairs: number, seed: number) {
  const rows: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) rows.push(i);
  const m = rows.length;
  const x = new Float64Array(m * dim);
  rows.forEach((r, a) => {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += v[r * dim + d] ** 2;
    const scale = distance === 'cosine' && ss > 0 ? 1 / Math.sqrt(ss) : 1;
    for (let d = 0; d < dim; d++) x[a * dim + d] = v[r * dim + d] * scale;
  });
  const dist = (a: number, b: number) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (x[a * dim + d] - x[b * dim + d]) ** 2;
    return distance === 'cosine' ? s / 2 : Math.sqrt(s);
  };
  const lab = rows.map((r) => labels[r]);
  const rng = new Rng(seed); // the same stream as verification()'s sampler
  const rand = () => rng.next();
  const members = new Map<number, number[]>();
  lab.forEach((y, a) => { if (!members.has(y)) members.set(y, []); (members.get(y) as number[]).push(a); });
  const classes = [...members.values()].filter((l) => l.length >= 2);
  const cum: number[] = [];
  let P = 0;
  for (const l of classes) { P += (l.length * (l.length - 1)) / 2; cum.push(P); }
  const pos: number[] = [];
  const neg: number[] = [];
  const seenP = new Set<number>();
  while (pos.length < Math.floor(maxPairs / 2)) { // P exceeds half the budget in the cases below
    const r = Math.floor(rand() * P);
    let lo = 0;
    while (cum[lo] <= r) lo++;
    const t = r - (lo > 0 ? cum[lo - 1] : 0);
    let y = 1;
    while (((y + 1) * y) / 2 <= t) y++;
    const xx = t - (y * (y - 1)) / 2;
    const a = classes[lo][xx], b = classes[lo][y];
    const key = Math.min(a, b) * m + Math.max(a, b);
    if (seenP.has(key)) continue;
    seenP.add(key);
    pos.push(dist(a, b));
  }
  const seenN = new Set<number>();
  while (neg.length < maxPairs - pos.length) {
    const a = Math.floor(rand() * m), b = Math.floor(rand() * m);
    if (a === b || lab[a] === lab[b]) continue;
    const key = Math.min(a, b) * m + Math.max(a, b);
    if (seenN.has(key)) continue;
    seenN.add(key);
    neg.push(dist(a, b));
  }
  return thresholdAnalysis(Float64Array.from(pos), Float64Array.from(neg), 0.9);
}

test('verification: the sampled pairs and their distances match a plain reference (euclidean, cosine)', () => {
  const rand = uniformStream(4);
  const n = 300, dim = 7;
  const v = Float32Array.from({ length: n * dim }, () => rand() * 2 - 1);
  const labels = Int32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? -1 : i % 5));
  for (const distance of ['euclidean', 'cosine'] as const) {
    for (const maxPairs of [500, 3000]) {
      const { sampled, ...got } = verification(v, dim, labels, distance, { maxPairs, seed: 9, targetPrecision: 0.9 });
      assert.equal(sampled, true);
      assert.deepEqual(got, referenceVerification(v, dim, labels, distance, maxPairs, 9), `${distance} ${maxPairs}`);
    }
  }
});
