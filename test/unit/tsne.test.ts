// t-SNE (src/core/tsne.ts) against independent computations: the entropy of each calibrated row, P rebuilt
// densely from the conditional rows, an O(n²) gradient written from the formula, finite differences of the KL
// divergence, and separation / trustworthiness of Gaussian blobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsne2d, tsneAffinities, tsneGradient, type SparseRows } from '../../src/core/tsne';
import { blobs, gaussian, knnAccuracy, uniformStream, ranking, sqDist, trustworthiness } from './projection-fixtures';


function dense(P: SparseRows): Float64Array {
  const n = P.n;
  const D = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) D[i * n + P.cols[e]] += P.vals[e];
  return D;
}

/** KL(P‖Q) from the definition, Q_ij = w_ij / Σ_{k≠l} w_kl, w = 1/(1 + ‖y_i − y_j‖²). */
function klDivergence(Pd: Float64Array, Y: ArrayLike<number>, n: number): number {
  let Z = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) Z += 1 / (1 + sqDist(Y, 2, i, j));
  let kl = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const p = Pd[i * n + j];
    if (i === j || p === 0) continue;
    kl += p * Math.log(p / (1 / (1 + sqDist(Y, 2, i, j)) / Z));
  }
  return kl;
}

/** The exact gradient from its formula: 4 Σ_j (ex·p_ij − q_ij) w_ij (y_i − y_j), dense, O(n²). */
function exactGradient(Pd: Float64Array, Y: ArrayLike<number>, n: number, ex = 1): Float64Array {
  let Z = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) Z += 1 / (1 + sqDist(Y, 2, i, j));
  const g = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    if (i === j) continue;
    const w = 1 / (1 + sqDist(Y, 2, i, j));
    const c = 4 * (ex * Pd[i * n + j] - w / Z) * w;
    g[2 * i] += c * (Y[2 * i] - Y[2 * j]);
    g[2 * i + 1] += c * (Y[2 * i + 1] - Y[2 * j + 1]);
  }
  return g;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let t = 0; t < a.length; t++) { num += (a[t] - b[t]) ** 2; den += b[t] ** 2; }
  return Math.sqrt(num / den);
}

function randomLayout(n: number, seed: number, scale = 10): Float64Array {
  const r = uniformStream(seed);
  return Float64Array.from({ length: 2 * n }, () => (r() - 0.5) * scale);
}

test('calibration: every conditional row has entropy ln(perplexity), over the exact k nearest, with p ∝ exp(−β d²)', () => {
  const n = 120, dim = 6;
  const r = uniformStream(3);
  const v = Float32Array.from({ length: n * dim }, () => gaussian(r) * (1 + r()));
  const perplexity = 7;
  const A = tsneAffinities(v, n, dim, perplexity, 'euclidean');
  assert.equal(A.k, 21);
  assert.equal(A.perplexity, 7);
  for (let i = 0; i < n; i++) {
    const nearest = ranking(v, n, dim, i).slice(0, A.k);
    assert.deepEqual(Array.from(A.indices.subarray(i * A.k, (i + 1) * A.k)), nearest, `row ${i} neighbours`);
    let h = 0, sum = 0;
    for (let t = 0; t < A.k; t++) {
      const p = A.conditional[i * A.k + t];
      sum += p;
      if (p > 0) h -= p * Math.log(p);
    }
    assert.ok(Math.abs(sum - 1) < 1e-12, `row ${i} sums to ${sum}`);
    assert.ok(Math.abs(h - Math.log(perplexity)) < 1e-4, `row ${i}: entropy ${h} vs ${Math.log(perplexity)}`);
    // Shape: log(p_t / p_0) = −β (d_t − d_0), with d the squared euclidean distance (computed here in Float64).
    const d0 = sqDist(v, dim, i, nearest[0]);
    for (let t = 1; t < A.k; t++) {
      const want = -A.beta[i] * (sqDist(v, dim, i, nearest[t]) - d0);
      const got = Math.log(A.conditional[i * A.k + t] / A.conditional[i * A.k]);
      assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, Math.abs(want)), `row ${i}, neighbour ${t}: ${got} vs ${want}`);
    }
  }
});

test('P is (P_cond + P_condᵀ)/2n: rebuilt densely here, symmetric, sums to 1; the cosine P of unit rows equals the euclidean one', () => {
  const n = 80, dim = 5;
  const r = uniformStream(11);
  const v = Float32Array.from({ length: n * dim }, () => gaussian(r));
  for (let i = 0; i < n; i++) { // unit rows, so that cosine and euclidean rank alike
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[i * dim + j] ** 2;
    for (let j = 0; j < dim; j++) v[i * dim + j] /= Math.sqrt(s);
  }
  const A = tsneAffinities(v, n, dim, 5);
  const want = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let t = 0; t < A.k; t++) {
    const j = A.indices[i * A.k + t];
    const p = A.conditional[i * A.k + t] / (2 * n);
    want[i * n + j] += p;
    want[j * n + i] += p;
  }
  const got = dense(A.P);
  let total = 0;
  for (let t = 0; t < n * n; t++) {
    assert.ok(Math.abs(got[t] - want[t]) < 1e-15, `entry ${t}`);
    total += got[t];
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(got[i * n + j], got[j * n + i]);
  assert.ok(Math.abs(total - 1) < 1e-12);
  for (let i = 0; i < n; i++) assert.equal(got[i * n + i], 0);
  // ½‖x̂ − ŷ‖² = 1 − cos: same neighbours, and the bandwidth absorbs the factor ½ (up to the calibration tolerance).
  const C = tsneAffinities(v, n, dim, 5, 'cosine');
  assert.deepEqual(C.indices, A.indices);
  const cd = dense(C.P);
  for (let t = 0; t < n * n; t++) assert.ok(Math.abs(cd[t] - got[t]) < 1e-5 * (got[t] + 1e-3));
});

test('perplexity is clamped to (n − 1)/3 and k to n − 1', () => {
  const r = uniformStream(5);
  const v = Float32Array.from({ length: 10 * 3 }, () => r());
  const A = tsneAffinities(v, 10, 3, 30);
  assert.equal(A.perplexity, 3);
  assert.equal(A.k, 9);
  const B = tsneAffinities(v, 4, 3, 30);
  assert.equal(B.perplexity, 1);
  assert.equal(B.k, 3);
  for (let t = 0; t < 4 * 3; t++) assert.ok(Number.isFinite(B.conditional[t]));
  // Perplexity 1 (n = 4): entropy 0, all the mass on the nearest neighbour.
  for (let i = 0; i < 4; i++) assert.equal(B.conditional[i * 3], 1);
  // Ties: 8 copies of one row among 30 rows, perplexity 3 (k = 9): a copy's 7 twins tie for nearest, more than
  // the perplexity, so its row is uniform over them (the β → ∞ limit); other rows calibrate as usual, unless their
  // nearest are the copies (all at one distance).
  const w = Float32Array.from({ length: 30 * 3 }, () => r());
  for (let i = 1; i < 8; i++) for (let j = 0; j < 3; j++) w[i * 3 + j] = w[j];
  const T = tsneAffinities(w, 30, 3, 3);
  assert.equal(T.k, 9);
  for (let i = 0; i < 8; i++) {
    assert.equal(T.beta[i], Infinity);
    assert.deepEqual(Array.from(T.conditional.subarray(i * 9, i * 9 + 9)), [1, 1, 1, 1, 1, 1, 1, 0, 0].map((x) => x / 7));
  }
  for (let i = 8; i < 30; i++) {
    const row = Array.from(T.conditional.subarray(i * 9, i * 9 + 9));
    const h = -row.reduce((acc, p) => acc + (p > 0 ? p * Math.log(p) : 0), 0);
    if (Number.isFinite(T.beta[i])) assert.ok(Math.abs(h - Math.log(3)) < 1e-4, `row ${i}`);
    else assert.ok(row.filter((p) => p > 0).length >= 3 && row.every((p) => p === 0 || p === row[0]), `row ${i}: ${row}`); // equidistant from ≥ 3 copies
  }
});

test('gradient: θ = 0 equals the O(n²) formula (with and without exaggeration); θ = 0.5 is close', () => {
  const { v, n } = blobs(4, 40, 10, 7);
  const A = tsneAffinities(v, n, 10, 15);
  const Pd = dense(A.P);
  const Y = randomLayout(n, 9, 30);
  for (const ex of [1, 12]) {
    const want = exactGradient(Pd, Y, n, ex);
    const got = tsneGradient(A.P, Y, 0, ex).grad;
    assert.ok(relErr(got, want) < 1e-12, `θ = 0, ex = ${ex}: relative error ${relErr(got, want)}`);
  }
  // Barnes–Hut: the repulsive part (P = 0) is where the approximation is; the full gradient is checked too.
  const empty: SparseRows = { n, rowPtr: new Int32Array(n + 1), cols: new Int32Array(0), vals: new Float64Array(0) };
  const repWant = exactGradient(new Float64Array(n * n), Y, n);
  const rep = tsneGradient(empty, Y, 0.5);
  assert.ok(relErr(rep.grad, repWant) < 0.05, `θ = 0.5 repulsion: relative error ${relErr(rep.grad, repWant)}`);
  assert.ok(relErr(rep.grad, repWant) > 0, 'θ = 0.5 approximates (else the test checks nothing)');
  const full = tsneGradient(A.P, Y, 0.5).grad;
  assert.ok(relErr(full, exactGradient(Pd, Y, n)) < 0.05);
  // Smaller θ, smaller error.
  assert.ok(relErr(tsneGradient(empty, Y, 0.2).grad, repWant) < relErr(rep.grad, repWant));
});

test('gradient: θ = 0 matches central finite differences of KL(P‖Q)', () => {
  const n = 24, dim = 4;
  const r = uniformStream(21);
  const v = Float32Array.from({ length: n * dim }, () => gaussian(r));
  const A = tsneAffinities(v, n, dim, 4);
  const Pd = dense(A.P);
  const Y = randomLayout(n, 4, 6);
  const g = tsneGradient(A.P, Y, 0).grad;
  const h = 1e-5;
  const fd = new Float64Array(2 * n);
  for (let t = 0; t < 2 * n; t++) {
    const keep = Y[t];
    Y[t] = keep + h;
    const up = klDivergence(Pd, Y, n);
    Y[t] = keep - h;
    const down = klDivergence(Pd, Y, n);
    Y[t] = keep;
    fd[t] = (up - down) / (2 * h);
  }
  assert.ok(relErr(g, fd) < 1e-6, `relative error ${relErr(g, fd)}`);
});

test('determinism: the same seed gives bit-identical output, another seed another layout', () => {
  const { v, n } = blobs(3, 30, 8, 2);
  const a = tsne2d(v, n, 8, { seed: 42, iterations: 300 });
  const b = tsne2d(v, n, 8, { seed: 42, iterations: 300 });
  const c = tsne2d(v, n, 8, { seed: 43, iterations: 300 });
  assert.equal(a.length, 2 * n);
  assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
  assert.notDeepEqual(Buffer.from(a.buffer), Buffer.from(c.buffer));
  for (const x of a) assert.ok(Number.isFinite(x));
});

test('separation: 5 Gaussian blobs in 32-D come apart in 2-D (kNN accuracy, trustworthiness) and KL falls', () => {
  const dim = 32;
  const { v, labels, n } = blobs(5, 60, dim, 13);
  let calls = 0, last = -1;
  const Y = tsne2d(v, n, dim, {
    seed: 1,
    onProgress: (done, total) => { calls++; assert.equal(total, 750); assert.ok(done > last); last = done; },
  });
  assert.equal(last, 750);
  assert.ok(calls <= 102, `${calls} progress calls`);
  const acc = knnAccuracy(Y, labels, n);
  const trust = trustworthiness(v, dim, Y, n, 10);
  assert.ok(acc >= 0.98, `kNN accuracy ${acc}`);
  assert.ok(trust >= 0.9, `trustworthiness ${trust}`);
  // The initial layout (iterations: 0) vs a short and the full run, KL computed here from P.
  const Pd = dense(tsneAffinities(v, n, dim, 30).P);
  const kl0 = klDivergence(Pd, tsne2d(v, n, dim, { seed: 1, iterations: 0 }), n);
  const kl300 = klDivergence(Pd, tsne2d(v, n, dim, { seed: 1, iterations: 300 }), n);
  const kl750 = klDivergence(Pd, Y, n);
  assert.ok(kl300 < kl0 && kl750 < kl300, `KL ${kl0} → ${kl300} → ${kl750}`);
  assert.ok(kl750 < 0.5 * kl0, `KL ${kl0} → ${kl750}`);
});

test('bad input: a NaN names its row; bad options throw RangeError', () => {
  const v = new Float32Array(10 * 3).fill(0.5);
  v[7 * 3 + 2] = NaN;
  assert.throws(() => tsne2d(v, 10, 3, { seed: 1 }), (e: unknown) => e instanceof RangeError && /row 7\b/.test(e.message) && /column 2/.test(e.message));
  v[7 * 3 + 2] = Infinity;
  assert.throws(() => tsne2d(v, 10, 3, { seed: 1 }), /row 7\b/);
  const ok = Float32Array.from({ length: 30 }, (_, t) => Math.sin(t));
  assert.throws(() => tsne2d(ok, 10, 3, { seed: 1, perplexity: 0.5 }), RangeError);
  assert.throws(() => tsne2d(ok, 10, 3, { seed: 1, theta: 1.5 }), RangeError);
  assert.throws(() => tsne2d(ok, 10, 3, { seed: 1, iterations: -1 }), RangeError);
  assert.throws(() => tsne2d(ok, 10, 3, { seed: Number.NaN }), RangeError);
  assert.throws(() => tsne2d(ok, 11, 3, { seed: 1 }), RangeError); // fewer values than n × dim
  assert.throws(() => tsne2d(ok, 10, 0, { seed: 1 }), RangeError);
});

test('small n: 0 → empty, 1 → origin, 2 and 3 → PCA coordinates scaled to ±1; 4 and 5 run', () => {
  assert.equal(tsne2d(new Float32Array(0), 0, 4, { seed: 1 }).length, 0);
  assert.deepEqual(Array.from(tsne2d(new Float32Array([3, 4]), 1, 2, { seed: 1 })), [0, 0]);
  const two = tsne2d(new Float32Array([0, 0, 2, 0]), 2, 2, { seed: 1 });
  assert.deepEqual(Array.from(two).map((x) => Math.abs(x)), [1, 0, 1, 0]);
  assert.ok(two[0] === -two[2]);
  const three = tsne2d(new Float32Array([0, 0, 4, 0, 0, 1]), 3, 2, { seed: 1 });
  assert.equal(three.length, 6);
  assert.ok(Math.max(...Array.from(three).map(Math.abs)) === 1);
  assert.deepEqual(Array.from(tsne2d(new Float32Array(6).fill(2), 3, 2, { seed: 1 })), [0, 0, 0, 0, 0, 0]);
  for (const n of [4, 5]) {
    const r = uniformStream(n);
    const y = tsne2d(Float32Array.from({ length: n * 3 }, () => r()), n, 3, { seed: 1 });
    assert.equal(y.length, 2 * n);
    for (const x of y) assert.ok(Number.isFinite(x));
  }
  // Duplicated rows (all identical): finite output, no endless tree.
  const y = tsne2d(new Float32Array(40 * 3).fill(1), 40, 3, { seed: 1, iterations: 50 });
  for (const x of y) assert.ok(Number.isFinite(x));
});
