// UMAP (src/core/umap.ts) against independent computations: umap-learn's published a, b and a second curve fit
// (golden-section search on the squared error), the smooth-kNN equation checked per row on brute-force distances,
// a hand-worked fuzzy union, determinism, and separation / trustworthiness of Gaussian blobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fastPow, findAB, fuzzyGraph, smoothKnnDist, umap2d } from '../../src/core/umap';
import { symmetrize, type SparseRows } from '../../src/core/projection-shared';
import { blobs, gaussian, knnAccuracy, uniformStream, ranking, sqDist, trustworthiness } from './projection-fixtures';


function dense(P: SparseRows): number[][] {
  const D = Array.from({ length: P.n }, () => new Array<number>(P.n).fill(0));
  for (let i = 0; i < P.n; i++) for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) D[i][P.cols[e]] += P.vals[e];
  return D;
}

/** Squared error of 1/(1 + a x^{2b}) against umap-learn's target curve on its 300 points. */
function curveError(spread: number, minDist: number, a: number, b: number): number {
  let s = 0;
  for (let i = 0; i < 300; i++) {
    const x = (3 * spread * i) / 299;
    const y = x < minDist ? 1 : Math.exp(-(x - minDist) / spread);
    s += (1 / (1 + a * Math.pow(x, 2 * b)) - y) ** 2;
  }
  return s;
}

/** Second fit: golden-section search over b, each b with the best a by an inner golden-section search. */
function goldenFit(spread: number, minDist: number): { a: number; b: number } {
  const golden = (f: (x: number) => number, lo: number, hi: number): number => {
    const g = (Math.sqrt(5) - 1) / 2;
    let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    let f1 = f(x1), f2 = f(x2);
    for (let it = 0; it < 200 && hi - lo > 1e-11; it++) {
      if (f1 < f2) { hi = x2; x2 = x1; f2 = f1; x1 = hi - g * (hi - lo); f1 = f(x1); }
      else { lo = x1; x1 = x2; f1 = f2; x2 = lo + g * (hi - lo); f2 = f(x2); }
    }
    return (lo + hi) / 2;
  };
  const bestA = (b: number) => golden((a) => curveError(spread, minDist, a, b), 1e-3, 50);
  const b = golden((bb) => curveError(spread, minDist, bestA(bb), bb), 0.1, 3);
  return { a: bestA(b), b };
}

test('findAB: umap-learn\'s a, b for spread 1, minDist 0.1, and a second fit for other pairs', () => {
  const { a, b } = findAB(1, 0.1);
  // umap-learn (scipy curve_fit): a = 1.5769434603113077, b = 0.8950608779109733.
  assert.ok(Math.abs(a - 1.5769) < 1e-3 && Math.abs(b - 0.8951) < 1e-3, `a ${a}, b ${b}`);
  assert.ok(Math.abs(a - 1.5769434603) < 1e-6 && Math.abs(b - 0.8950608779) < 1e-6, `a ${a}, b ${b}`);
  for (const [spread, minDist] of [[1, 0.1], [1, 0.5], [2, 0.25], [1, 0], [0.5, 0.05]]) {
    const got = findAB(spread, minDist);
    const want = goldenFit(spread, minDist);
    assert.ok(Math.abs(got.a - want.a) < 1e-4 * want.a && Math.abs(got.b - want.b) < 1e-4, `(${spread}, ${minDist}): ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    // And it is a minimum: no better point nearby.
    const e = curveError(spread, minDist, got.a, got.b);
    for (const [da, db] of [[1e-4, 0], [-1e-4, 0], [0, 1e-4], [0, -1e-4]]) assert.ok(curveError(spread, minDist, got.a + da, got.b + db) >= e);
  }
  assert.throws(() => findAB(1, 2), RangeError);
  assert.throws(() => findAB(0, 0), RangeError);
});

test('smoothKnnDist: ρ is the nearest non-zero distance and Σ exp(−max(0, d − ρ)/σ) = log2(k) on every row', () => {
  const n = 60, dim = 7, k = 15, m = k - 1;
  const r = uniformStream(8);
  const v = Float32Array.from({ length: n * dim }, () => gaussian(r));
  for (let j = 0; j < dim; j++) v[1 * dim + j] = v[0 * dim + j]; // rows 0 and 1 coincide
  const d = new Float64Array(n * m);
  for (let i = 0; i < n; i++) ranking(v, n, dim, i).slice(0, m).forEach((j, t) => { d[i * m + t] = Math.sqrt(sqDist(v, dim, i, j)); });
  const { sigmas, rhos } = smoothKnnDist(d, n, m);
  for (let i = 0; i < n; i++) {
    const row = Array.from(d.subarray(i * m, (i + 1) * m));
    assert.equal(rhos[i], row.find((x) => x > 0));
    const psum = row.reduce((s, x) => s + Math.exp(-Math.max(0, x - rhos[i]) / sigmas[i]), 0);
    assert.ok(Math.abs(psum - Math.log2(k)) < 1e-4, `row ${i}: ${psum} vs ${Math.log2(k)}`);
  }
  assert.equal(d[0], 0); // row 0's nearest is its duplicate, and ρ skipped it
  assert.ok(rhos[0] > 0);
});

test('fuzzy union on a hand-worked graph: w_ij + w_ji − w_ij·w_ji, symmetric, zeros dropped', () => {
  // 4 rows × 2 neighbours. Row 2 lists row 0 with weight 0.
  const indices = Int32Array.from([1, 2, 0, 3, 3, 0, 1, 2]);
  const weights = Float64Array.from([0.5, 0.2, 0.4, 0.9, 0.3, 0, 1, 0.6]);
  const G = symmetrize(4, 2, indices, weights, 1, 'fuzzy');
  const want = [
    [0, 0.5 + 0.4 - 0.2, 0.2, 0],
    [0.7, 0, 0, 0.9 + 1 - 0.9],
    [0.2, 0, 0, 0.3 + 0.6 - 0.18],
    [0, 1, 0.72, 0],
  ];
  const got = dense(G);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(got[i][j] - want[i][j]) < 1e-15, `(${i}, ${j}): ${got[i][j]} vs ${want[i][j]}`);
  assert.equal(G.rowPtr[4], 8); // (0,1) (0,2) (1,0) (1,3) (2,0) (2,3) (3,1) (3,2)
  // Memberships: exp(−max(0, d − ρ)/σ) per row, then the union.
  const F = fuzzyGraph(Int32Array.from([1, 2, 0, 2, 0, 1]), Float64Array.from([1, 2, 1, 3, 2, 3]), 3, 2, Float64Array.from([0.5, 2, 1]), Float64Array.from([1, 1, 2]));
  const w01 = 1, w02 = Math.exp(-2), w10 = 1, w12 = Math.exp(-1), w20 = 1, w21 = Math.exp(-1);
  const fd = dense(F);
  const u = (x: number, y: number) => x + y - x * y;
  assert.ok(Math.abs(fd[0][1] - u(w01, w10)) < 1e-15 && Math.abs(fd[0][2] - u(w02, w20)) < 1e-15 && Math.abs(fd[1][2] - u(w12, w21)) < 1e-15);
  assert.equal(fd[1][2], fd[2][1]);
});

test('fastPow agrees with Math.pow to 1e-7 (relative) over the range the SGD meets, and falls back outside it', () => {
  const r = uniformStream(17);
  let worst = 0;
  for (const b of [0.8950608779109733, 0.5, 1, 1.7, 0.79]) {
    for (let t = 0; t < 20000; t++) {
      const x = Math.exp((r() - 0.5) * 60); // 1e-13 … 1e13
      worst = Math.max(worst, Math.abs(fastPow(x, b) / Math.pow(x, b) - 1));
    }
    for (const x of [1, 2, 0.5, 1.9999999, 1e-150, 1e150]) worst = Math.max(worst, Math.abs(fastPow(x, b) / Math.pow(x, b) - 1));
    // Near the ends of the double range: Math.pow itself where the result overflows or underflows (or x is subnormal).
    for (const x of [1e-300, 1e300, 5e-324, 1e-310]) {
      const want = Math.pow(x, b);
      if (want === 0 || want === Infinity || x < 2.3e-308) assert.equal(fastPow(x, b), want);
      else worst = Math.max(worst, Math.abs(fastPow(x, b) / want - 1));
    }
  }
  assert.ok(worst < 1e-7, `worst relative error ${worst}`);
  assert.equal(fastPow(0, 0.9), 0);
  assert.equal(fastPow(Infinity, 0.9), Infinity);
});

test('determinism: the same seed gives bit-identical output, another seed another layout', () => {
  const { v, n } = blobs(3, 30, 8, 2);
  const a = umap2d(v, n, 8, { seed: 42, epochs: 200 });
  const b = umap2d(v, n, 8, { seed: 42, epochs: 200 });
  const c = umap2d(v, n, 8, { seed: 43, epochs: 200 });
  assert.equal(a.length, 2 * n);
  assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
  assert.notDeepEqual(Buffer.from(a.buffer), Buffer.from(c.buffer));
  for (const x of a) assert.ok(Number.isFinite(x));
});

test('separation: 5 Gaussian blobs in 32-D come apart in 2-D (kNN accuracy, trustworthiness), euclidean and cosine', () => {
  const dim = 32;
  const { v, labels, n } = blobs(5, 60, dim, 13);
  let calls = 0, last = -1;
  const Y = umap2d(v, n, dim, {
    seed: 1,
    onProgress: (done, total) => { calls++; assert.equal(total, 500); assert.ok(done > last); last = done; },
  });
  assert.equal(last, 500);
  assert.ok(calls <= 102, `${calls} progress calls`);
  const acc = knnAccuracy(Y, labels, n);
  const trust = trustworthiness(v, dim, Y, n, 10);
  assert.ok(acc >= 0.98, `kNN accuracy ${acc}`);
  assert.ok(trust >= 0.9, `trustworthiness ${trust}`);
  // Blobs are pulled together: the mean distance to a same-class point is well below that to other classes.
  let same = 0, ns = 0, other = 0, no = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const d = Math.sqrt(sqDist(Y, 2, i, j));
    if (labels[i] === labels[j]) { same += d; ns++; } else { other += d; no++; }
  }
  assert.ok(same / ns < 0.3 * (other / no), `within ${same / ns}, between ${other / no}`);
  const Yc = umap2d(v, n, dim, { seed: 1, distance: 'cosine', epochs: 200 });
  assert.ok(knnAccuracy(Yc, labels, n) >= 0.98);
  // epochs: 0 is the initial layout, PCA in the [0, 10] box.
  const Y0 = umap2d(v, n, dim, { seed: 1, epochs: 0 });
  assert.ok(Math.min(...Y0) >= 0 && Math.max(...Y0) <= 10 && Math.max(...Y0) > 9.99);
});

test('bad input: a NaN names its row; bad options throw RangeError', () => {
  const v = new Float32Array(10 * 3).fill(0.5);
  v[4 * 3] = NaN;
  assert.throws(() => umap2d(v, 10, 3, { seed: 1 }), (e: unknown) => e instanceof RangeError && /row 4\b/.test(e.message));
  const ok = Float32Array.from({ length: 30 }, (_, t) => Math.sin(t));
  assert.throws(() => umap2d(ok, 10, 3, { seed: 1, nNeighbors: 1 }), RangeError);
  assert.throws(() => umap2d(ok, 10, 3, { seed: 1, minDist: 2 }), RangeError);
  assert.throws(() => umap2d(ok, 10, 3, { seed: 1, spread: 0 }), RangeError);
  assert.throws(() => umap2d(ok, 10, 3, { seed: 1, epochs: 1.5 }), RangeError);
  assert.throws(() => umap2d(ok, 10, 3, { seed: Infinity }), RangeError);
});

test('small n: 0 → empty, 1 → origin, 2 and 3 → PCA scaled to ±1; 4 and 5 and duplicates run', () => {
  assert.equal(umap2d(new Float32Array(0), 0, 4, { seed: 1 }).length, 0);
  assert.deepEqual(Array.from(umap2d(new Float32Array([3, 4]), 1, 2, { seed: 1 })), [0, 0]);
  assert.deepEqual(Array.from(umap2d(new Float32Array([0, 0, 2, 0]), 2, 2, { seed: 1 })).map((x) => Math.abs(x)), [1, 0, 1, 0]);
  assert.equal(umap2d(new Float32Array([0, 0, 4, 0, 0, 1]), 3, 2, { seed: 1 }).length, 6);
  for (const n of [4, 5]) {
    const r = uniformStream(n);
    const y = umap2d(Float32Array.from({ length: n * 3 }, () => r()), n, 3, { seed: 1 });
    assert.equal(y.length, 2 * n);
    for (const x of y) assert.ok(Number.isFinite(x));
  }
  const y = umap2d(new Float32Array(40 * 3).fill(1), 40, 3, { seed: 1, epochs: 50 });
  for (const x of y) assert.ok(Number.isFinite(x));
});
