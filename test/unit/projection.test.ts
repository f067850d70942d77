import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterAssignments, covariance, fixSign, jacobiEigen, neighborsCsv, pca2d, projectionCacheValid, projectionCachePath, projectionCsv, makeProjectionCache, topEigen } from '../../src/core/projection';

/** Second implementation: dense covariance by the textbook formula, eigenvectors by the QR-free power method with
 * full deflation on the whole matrix (no blocks, no Jacobi), run to a fixed large number of iterations. */
function bruteTop2(vectors: Float32Array, n: number, dim: number): { vals: number[]; vecs: number[][] } {
  const mean = new Array(dim).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += vectors[i * dim + j] / n;
  const C: number[][] = Array.from({ length: dim }, () => new Array(dim).fill(0));
  for (let i = 0; i < n; i++) for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) {
    C[a][b] += (vectors[i * dim + a] - mean[a]) * (vectors[i * dim + b] - mean[b]) / (n - 1);
  }
  const vals: number[] = [];
  const vecs: number[][] = [];
  for (let c = 0; c < 2; c++) {
    let v = Array.from({ length: dim }, (_, j) => 1 + j * 0.01);
    for (let it = 0; it < 5000; it++) {
      const w = C.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
      for (const u of vecs) { const d = u.reduce((s, x, j) => s + x * w[j], 0); for (let j = 0; j < dim; j++) w[j] -= d * u[j]; }
      const nrm = Math.hypot(...w);
      v = w.map((x) => x / nrm);
    }
    const Cv = C.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
    vals.push(v.reduce((s, x, j) => s + x * Cv[j], 0));
    vecs.push(v);
  }
  return { vals, vecs };
}

function synthetic(n: number, dim: number, seed: number, scales: number[]): Float32Array {
  let s = seed >>> 0;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const v = new Float32Array(n * dim);
  // Latent axes with decreasing scales, mixed by a fixed rotation-ish matrix, plus an offset.
  const mix = Array.from({ length: dim }, (_, a) => Array.from({ length: dim }, (_, b) => Math.cos((a + 1) * (b + 2) * 0.7)));
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: dim }, (_, a) => gauss() * (scales[a] ?? 0.05));
    for (let b = 0; b < dim; b++) {
      let x = 3 + b * 0.1;
      for (let a = 0; a < dim; a++) x += z[a] * mix[a][b] / Math.sqrt(dim);
      v[i * dim + b] = x;
    }
  }
  return v;
}

test('hand case: points on a line and a cross give the obvious axes, signs and coordinates', () => {
  // Four points: (±2, 0) and (0, ±1), shifted by (10, 5). PC1 = x axis (variance 8/3), PC2 = y axis (2/3).
  const v = new Float32Array([12, 5, 8, 5, 10, 6, 10, 4]);
  const p = pca2d(v, 4, 2);
  assert.deepEqual(Array.from(p.mean), [10, 5]);
  assert.ok(Math.abs(p.eigenvalues[0] - 8 / 3) < 1e-12 && Math.abs(p.eigenvalues[1] - 2 / 3) < 1e-12);
  assert.deepEqual(Array.from(p.components), [1, 0, 0, 1]);
  assert.deepEqual(Array.from(p.x), [2, -2, 0, 0]);
  assert.deepEqual(Array.from(p.y), [0, 0, 1, -1]);
  assert.ok(Math.abs(p.explained[0] - 0.8) < 1e-12 && Math.abs(p.explained[1] - 0.2) < 1e-12);
  // Mirrored data: the sign convention keeps the largest coefficient positive, so the axes do not flip.
  const m = new Float32Array([8, 5, 12, 5, 10, 4, 10, 6]);
  assert.deepEqual(Array.from(pca2d(m, 4, 2).components), [1, 0, 0, 1]);
});

test('covariance matches the textbook formula; jacobiEigen reconstructs the matrix', () => {
  const n = 37, dim = 5;
  const v = synthetic(n, dim, 7, [3, 2, 1, 0.5, 0.2]);
  const { mean, cov } = covariance(v, n, dim);
  for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += (v[i * dim + a] - mean[a]) * (v[i * dim + b] - mean[b]);
    assert.ok(Math.abs(s / (n - 1) - cov[a * dim + b]) < 1e-9);
  }
  const e = jacobiEigen(cov, dim);
  for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += e.vectors[k * dim + a] * e.values[k] * e.vectors[k * dim + b];
    assert.ok(Math.abs(s - cov[a * dim + b]) < 1e-9, 'V Λ Vᵀ = C');
  }
  for (let k = 1; k < dim; k++) assert.ok(e.values[k] <= e.values[k - 1]);
});

for (const [n, dim] of [[300, 12], [500, 32], [200, 3]] as const) {
  test(`PCA (${n} × ${dim}) agrees with a brute-force eigen decomposition`, () => {
    const scales = Array.from({ length: dim }, (_, a) => 4 / (a + 1) ** 1.3);
    const v = synthetic(n, dim, 11 + dim, scales);
    const p = pca2d(v, n, dim);
    const b = bruteTop2(v, n, dim);
    for (let c = 0; c < 2; c++) {
      assert.ok(Math.abs(p.eigenvalues[c] - b.vals[c]) < 1e-8 * b.vals[0], `eigenvalue ${c}: ${p.eigenvalues[c]} vs ${b.vals[c]}`);
      const ref = Float64Array.from(b.vecs[c]);
      fixSign(ref);
      for (let j = 0; j < dim; j++) assert.ok(Math.abs(p.components[c * dim + j] - ref[j]) < 1e-6, `component ${c}[${j}]`);
    }
    // Coordinates are the centred rows projected on the components; their variance is the eigenvalue.
    let vx = 0, vy = 0, cxy = 0;
    for (let i = 0; i < n; i++) { vx += p.x[i] ** 2; vy += p.y[i] ** 2; cxy += p.x[i] * p.y[i]; }
    assert.ok(Math.abs(vx / (n - 1) - b.vals[0]) < 1e-4 * b.vals[0]);
    assert.ok(Math.abs(vy / (n - 1) - b.vals[1]) < 1e-4 * b.vals[0]);
    assert.ok(Math.abs(cxy / (n - 1)) < 1e-4 * b.vals[0], 'the two axes are uncorrelated');
  });
}

test('topEigen on a larger matrix matches Jacobi on the whole matrix', () => {
  const dim = 40;
  const v = synthetic(400, dim, 3, Array.from({ length: dim }, (_, a) => 1 / (a + 1)));
  const { cov } = covariance(v, 400, dim);
  const full = jacobiEigen(cov, dim);
  const top = topEigen(cov, dim, 2);
  for (let c = 0; c < 2; c++) {
    assert.ok(Math.abs(top.values[c] - full.values[c]) < 1e-10 * full.values[0]);
    const ref = full.vectors.slice(c * dim, c * dim + dim);
    fixSign(ref);
    for (let j = 0; j < dim; j++) assert.ok(Math.abs(top.vectors[c * dim + j] - ref[j]) < 1e-6);
  }
});

test('PCA is deterministic, handles constant and tiny tables, and is fast for 50,000 × 128', () => {
  const v = synthetic(100, 8, 5, [2, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(pca2d(v, 100, 8), pca2d(v, 100, 8));
  const flat = new Float32Array(30).fill(2);
  const f = pca2d(flat, 10, 3);
  assert.deepEqual(Array.from(f.x), new Array(10).fill(0));
  assert.deepEqual(f.explained, [0, 0]);
  const one = pca2d(new Float32Array([1, 2, 3]), 3, 1);
  assert.deepEqual(Array.from(one.x), [-1, 0, 1]);
  assert.deepEqual(Array.from(one.y), [0, 0, 0]);

  const n = 50_000, dim = 128;
  const big = new Float32Array(n * dim);
  let s = 1;
  for (let i = 0; i < big.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; big[i] = (s / 4294967296 - 0.5) * (1 + (i % dim) / 16); }
  const t0 = performance.now();
  const p = pca2d(big, n, dim);
  const ms = performance.now() - t0;
  console.log(`pca2d 50,000 × 128: ${ms.toFixed(0)} ms, explained ${p.explained.map((e) => e.toFixed(4)).join(', ')}`);
  assert.equal(p.x.length, n);
  assert.ok(ms < 20_000, `too slow: ${ms} ms`);
});

test('k-means colouring, cache validity and CSV exports', () => {
  const v = new Float32Array([0, 0, 0.1, 0, 10, 10, 10.1, 10]);
  const a = clusterAssignments(v, 4, 2, 2, 1);
  assert.equal(a[0], a[1]);
  assert.equal(a[2], a[3]);
  assert.notEqual(a[0], a[2]);

  const p = pca2d(v, 4, 2);
  const id = { rows: 4, dim: 2, size: 100, mtimeMs: 5 };
  const c = JSON.parse(JSON.stringify(makeProjectionCache(p, id))) as Record<string, unknown>;
  assert.ok(projectionCacheValid(c, id));
  assert.ok(!projectionCacheValid(c, { ...id, mtimeMs: 6 }));
  assert.ok(!projectionCacheValid({ ...(c as object), x: [1] }, id));
  assert.equal(projectionCachePath('/t/a.parquet', 'pca'), '/t/a.parquet.projection-pca.json');
  assert.equal(projectionCachePath('/t/a.parquet', 'umap', 3), '/t/a.parquet.projection-umap-3.json');
  // The key: method, seed and every parameter must match; a v1 file (no key) is stale.
  const umapKey = { method: 'umap' as const, seed: 3, params: { nNeighbors: 15, minDist: 0.1, distance: 'euclidean' } };
  const u = JSON.parse(JSON.stringify(makeProjectionCache({ x: [1, 2, 3, 4], y: [4, 3, 2, 1] }, id, umapKey))) as Record<string, unknown>;
  assert.ok(projectionCacheValid(u, id, umapKey));
  assert.ok(projectionCacheValid(u, id, { ...umapKey, params: { distance: 'euclidean', minDist: 0.1, nNeighbors: 15 } }), 'key order does not matter');
  assert.ok(!projectionCacheValid(u, id), 'a UMAP cache is not a PCA cache');
  assert.ok(!projectionCacheValid(c, id, umapKey), 'a PCA cache is not a UMAP cache');
  assert.ok(!projectionCacheValid(u, id, { ...umapKey, seed: 4 }), 'another seed');
  assert.ok(!projectionCacheValid(u, id, { ...umapKey, method: 'tsne' }), 'another method');
  assert.ok(!projectionCacheValid(u, id, { ...umapKey, params: { ...umapKey.params, minDist: 0.2 } }), 'another parameter value');
  assert.ok(!projectionCacheValid(u, id, { ...umapKey, params: { nNeighbors: 15, minDist: 0.1 } }), 'a parameter missing');
  assert.ok(!projectionCacheValid({ ...(u as object), x: [1, 2, null, 4] }, id, umapKey), 'a non-finite coordinate');
  assert.ok(!projectionCacheValid({ ...(c as object), version: 1 }, id), 'version 1 files are recomputed');

  assert.equal(projectionCsv(['a/1.png', 'b,"x".png'], ['a', 'b'], [0.5, -1], [2, 1e-7], [0, 1]),
    'path,label,x,y,cluster\na/1.png,a,0.5,2,0\n"b,""x"".png",b,-1,1e-7,1\n');
  assert.equal(projectionCsv(['p'], [''], [1], [2]), 'path,label,x,y\np,"",1,2\n', 'an empty label is "", as in tables (pandas and DuckDB read it as empty, not missing)');
  assert.throws(() => projectionCsv(['p'], [], [1], [2]), RangeError);
  assert.equal(neighborsCsv({ path: 'q.png', label: 'a' }, [{ rank: 1, path: 'q.png', label: 'a', distance: 0 }, { rank: 2, path: 'x.png', label: 'b', distance: 0.75 }], 0.5),
    'query,rank,path,label,distance,wrong_label,beyond_threshold\nq.png,1,q.png,a,0,0,0\nq.png,2,x.png,b,0.75,1,1\n');
});
