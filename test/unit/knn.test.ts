// Blocked kNN against a brute-force reference (every distance, full sort by (distance, index)).
import test from 'node:test';
import assert from 'node:assert/strict';
import { knn, knnLeaveOneOut, knnUsesWasm } from '../../src/core/knn';
import type { DistanceName } from '../../src/core/config-types';
import { uniformStream } from '../../src/core/rng';

function randomTable(n: number, dim: number, seed: number): Float32Array {
  const r = uniformStream(seed);
  return Float32Array.from({ length: n * dim }, () => r() * 2 - 1);
}

/** Second implementation: all distances in Float64 straight from the definition, full sort. */
function bruteKnn(q: Float32Array, nq: number, g: Float32Array, ng: number, dim: number, k: number, distance: DistanceName, excludeSelf: boolean) {
  const out: Array<Array<[number, number]>> = [];
  for (let i = 0; i < nq; i++) {
    const row: Array<[number, number]> = [];
    for (let j = 0; j < ng; j++) {
      if (excludeSelf && i === j) continue;
      let s = 0, dot = 0, nqq = 0, ngg = 0;
      for (let d = 0; d < dim; d++) {
        const a = q[i * dim + d], b = g[j * dim + d];
        s += (a - b) ** 2; dot += a * b; nqq += a * a; ngg += b * b;
      }
      // Cosine with a zero vector (header): it stays zero, so ½‖q̂ − ĝ‖² is ½ against a unit vector, 0 against another zero.
      const cos = nqq * ngg > 0 ? 1 - dot / Math.sqrt(nqq * ngg) : nqq + ngg > 0 ? 0.5 : 0;
      const dist = distance === 'euclidean' ? Math.sqrt(s) : distance === 'squared-euclidean' ? s : cos;
      row.push([dist, j]);
    }
    row.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.push(row.slice(0, k));
  }
  return out;
}

function assertSame(res: ReturnType<typeof knn>, ref: Array<Array<[number, number]>>, label: string) {
  const k = res.k;
  for (let i = 0; i < ref.length; i++) {
    for (let t = 0; t < k; t++) {
      assert.equal(res.indices[i * k + t], ref[i][t][1], `${label}: query ${i} rank ${t}`);
      assert.ok(Math.abs(res.distances[i * k + t] - ref[i][t][0]) < 1e-4, `${label}: distance ${i}/${t}`);
    }
  }
}

test('knn matches brute force: leave-one-out, several block sizes (smaller than k, not dividing n), all distances', () => {
  const n = 103, dim = 11;
  const v = randomTable(n, dim, 7);
  for (const distance of ['euclidean', 'squared-euclidean', 'cosine'] as const) {
    for (const k of [1, 5, 30]) { // 30 > 16: the heap path
      const ref = bruteKnn(v, n, v, n, dim, k, distance, true);
      for (const blockRows of [1, 3, 8, 50, 1000]) {
        for (const kernel of ['js', 'auto'] as const) {
          const res = knn(v, n, v, n, dim, k, distance, { excludeSelf: true, blockRows, kernel });
          assert.equal(res.k, k);
          assertSame(res, ref, `${distance} k=${k} B=${blockRows} ${kernel}`);
        }
      }
    }
  }
});

test('knn: blocks of queries (queryOffset, knnLeaveOneOut) give exactly the rows of the whole leave-one-out result', () => {
  // Values on a coarse grid and copied rows: many exact ties and duplicates (distance 0), so the order by index matters.
  const n = 301, dim = 5;
  const r = uniformStream(21);
  const v = Float32Array.from({ length: n * dim }, () => Math.round(r() * 4) / 2);
  for (let i = 0; i < 40; i++) v.copyWithin(((i * 7 + 3) % n) * dim, ((i * 11) % n) * dim, ((i * 11) % n) * dim + dim);
  for (const distance of ['euclidean', 'squared-euclidean', 'cosine'] as const) {
    for (const k of [3, 40]) {
      for (const kernel of ['js', 'auto'] as const) {
        const full = knn(v, n, v, n, dim, k, distance, { excludeSelf: true, kernel });
        const label = `${distance} k=${k} ${kernel}`;
        // One block by offset (rows 100..222), tiles not dividing it.
        const part = knn(v, 123, v, n, dim, k, distance, { excludeSelf: true, queryOffset: 100, blockRows: 16, kernel });
        assert.deepEqual(part.indices, full.indices.slice(100 * k, 223 * k), label);
        assert.deepEqual(part.distances, full.distances.slice(100 * k, 223 * k), label);
        for (const [queryBlock, blockRows] of [[1, 8], [37, 8], [100, 256], [300, 7]]) {
          const seen = new Uint8Array(n);
          const kk = knnLeaveOneOut(v, n, dim, k, distance, { queryBlock, blockRows, kernel }, (rows, indices, distances, kb) => {
            assert.equal(kb, k);
            assert.ok(rows.length <= queryBlock);
            rows.forEach((row, t) => {
              seen[row]++;
              assert.deepEqual(indices.slice(t * k, t * k + k), full.indices.slice(row * k, row * k + k), `${label} Q=${queryBlock} row ${row}`);
              assert.deepEqual(distances.slice(t * k, t * k + k), full.distances.slice(row * k, row * k + k), `${label} Q=${queryBlock} row ${row}`);
            });
          });
          assert.equal(kk, k);
          assert.ok(seen.every((c) => c === 1), 'every row is a query once');
        }
      }
    }
  }
  // Self included with an offset: each query's own row first (distance 0, or a smaller duplicate).
  const self = knn(v, 10, v, n, dim, 2, 'euclidean', { queryOffset: 50 });
  for (let t = 0; t < 10; t++) assert.equal(self.distances[t * 2], 0);
  assert.throws(() => knn(Float32Array.from(v), 10, v, n, dim, 2, 'euclidean', { queryOffset: 0 }));
  assert.throws(() => knn(v, 10, v, n, dim, 2, 'euclidean', { queryOffset: n - 5 }));
});

test('knn matches brute force: separate queries and gallery, odd dim', () => {
  const nq = 37, ng = 59, dim = 5;
  const q = randomTable(nq, dim, 1);
  const g = randomTable(ng, dim, 2);
  for (const k of [3, 20]) {
    const ref = bruteKnn(q, nq, g, ng, dim, k, 'euclidean', false);
    for (const blockRows of [2, 7, 64]) assertSame(knn(q, nq, g, ng, dim, k, 'euclidean', { blockRows }), ref, `B=${blockRows}`);
  }
});

test('knn: memoryBytes caps the tile and does not change the result', () => {
  const n = 80, dim = 9;
  const v = randomTable(n, dim, 3);
  const a = knn(v, n, v, n, dim, 10, 'cosine', { excludeSelf: true });
  const b = knn(v, n, v, n, dim, 10, 'cosine', { excludeSelf: true, memoryBytes: 8 * 5 * 5 });
  assert.deepEqual(b.indices, a.indices);
  assert.deepEqual(b.distances, a.distances);
});

test('knn: ties go to the smaller gallery index; duplicates are at distance exactly 0', () => {
  // 1-D gallery: 0:[2] 1:[0] 2:[2] 3:[4] 4:[0]; query [2]: 0 and 2 at 0, then 1, 3, 4 at distance 2.
  const g = Float32Array.from([2, 0, 2, 4, 0]);
  const q = Float32Array.from([2]);
  for (const blockRows of [1, 2, 5]) {
    for (const k of [5, 4]) {
      const res = knn(q, 1, g, 5, 1, k, 'euclidean', { blockRows });
      assert.deepEqual(Array.from(res.indices), [0, 2, 1, 3, 4].slice(0, k));
      assert.deepEqual(Array.from(res.distances), [0, 0, 2, 2, 2].slice(0, k));
    }
  }
  // Heap path (k > 16) with many exact duplicates.
  const dup = new Float32Array(40 * 3);
  for (let i = 0; i < 40; i++) dup.set([i % 4, 1, -1], i * 3);
  const res = knn(dup, 40, dup, 40, 3, 25, 'squared-euclidean', { excludeSelf: true, blockRows: 6 });
  const ref = bruteKnn(dup, 40, dup, 40, 3, 25, 'squared-euclidean', true);
  assertSame(res, ref, 'duplicates');
});

test('knn: self included when not excluded; k clamped to the gallery', () => {
  const v = Float32Array.from([0, 0, 3, 4, 6, 8]);
  const res = knn(v, 3, v, 3, 2, 10, 'euclidean');
  assert.equal(res.k, 3);
  assert.deepEqual(Array.from(res.indices), [0, 1, 2, 1, 0, 2, 2, 1, 0]);
  assert.deepEqual(Array.from(res.distances), [0, 5, 10, 0, 5, 5, 0, 5, 10]);
  const loo = knn(v, 3, v, 3, 2, 10, 'euclidean', { excludeSelf: true });
  assert.equal(loo.k, 2);
  assert.deepEqual(Array.from(loo.indices), [1, 2, 0, 2, 1, 0]);
  assert.throws(() => knn(v, 3, Float32Array.from(v), 3, 2, 1, 'euclidean', { excludeSelf: true }));
});

test('knn: the WebAssembly and JS kernels give bit-identical results', { skip: !knnUsesWasm() }, () => {
  const n = 64, dim = 33;
  const v = randomTable(n, dim, 9);
  const a = knn(v, n, v, n, dim, 20, 'squared-euclidean', { excludeSelf: true, kernel: 'wasm', blockRows: 12 });
  const b = knn(v, n, v, n, dim, 20, 'squared-euclidean', { excludeSelf: true, kernel: 'js', blockRows: 12 });
  assert.deepEqual(a.indices, b.indices);
  assert.deepEqual(a.distances, b.distances);
});

test('knn: Float32 pre-filter, exact Float64 and JS kernels agree bit for bit (k > block, ties, cosine, k = 1 gallery)', { skip: !knnUsesWasm() }, () => {
  const n = 150, dim = 19;
  const v = randomTable(n, dim, 21);
  // Exact duplicates: ties at distance 0, broken by index.
  v.copyWithin(10 * dim, 3 * dim, 4 * dim);
  v.copyWithin(77 * dim, 3 * dim, 4 * dim);
  const variants = [
    { kernel: 'wasm', filter: 'auto' }, { kernel: 'wasm', filter: 'off' }, { kernel: 'js', filter: 'auto' },
  ] as const;
  for (const distance of ['euclidean', 'squared-euclidean', 'cosine'] as const) {
    for (const [k, blockRows] of [[40, 8], [149, 16], [1, 5], [17, 256]] as const) {
      const ref = bruteKnn(v, n, v, n, dim, k, distance, true);
      const results = variants.map((o) => knn(v, n, v, n, dim, k, distance, { excludeSelf: true, blockRows, ...o }));
      assertSame(results[0], ref, `${distance} k=${k} B=${blockRows}`);
      for (const r of results.slice(1)) { assert.deepEqual(r.indices, results[0].indices); assert.deepEqual(r.distances, results[0].distances); }
    }
    // Separate gallery, k = 1 (the assignment step of k-means) and k = 3.
    const g = randomTable(23, dim, 22);
    for (const k of [1, 3]) {
      const ref = bruteKnn(v, n, g, 23, dim, k, distance, false);
      const results = variants.map((o) => knn(v, n, g, 23, dim, k, distance, { blockRows: 32, ...o }));
      assertSame(results[0], ref, `${distance} gallery k=${k}`);
      for (const r of results.slice(1)) { assert.deepEqual(r.indices, results[0].indices); assert.deepEqual(r.distances, results[0].distances); }
    }
  }
  // The duplicates of row 3 are its nearest, at exactly 0, in index order.
  const res = knn(v, n, v, n, dim, 2, 'euclidean', { excludeSelf: true });
  assert.deepEqual(Array.from(res.indices.subarray(6, 8)), [10, 77]);
  assert.deepEqual(Array.from(res.distances.subarray(6, 8)), [0, 0]);
});

test('knn: near-ties the Float32 products cannot separate still rank by the Float64 value', { skip: !knnUsesWasm() }, () => {
  // Gallery points differ from the query by amounts far below Float32 resolution of the dot products' sums.
  const dim = 16, ng = 40;
  const q = new Float32Array(dim).fill(1000);
  const g = new Float32Array(ng * dim);
  for (let j = 0; j < ng; j++) {
    for (let d = 0; d < dim; d++) g[j * dim + d] = 1000 + ((j * 7 + d) % 5) * 2 ** -13;
  }
  const ref = bruteKnn(q, 1, g, ng, dim, ng, 'squared-euclidean', false);
  for (const filter of ['auto', 'off'] as const) {
    const res = knn(q, 1, g, ng, dim, ng, 'squared-euclidean', { filter, blockRows: 8 });
    assert.deepEqual(Array.from(res.indices), ref[0].map(([, j]) => j), filter);
  }
});

test('knn: huge values (Float32 products would overflow) fall back to the Float64 kernel', () => {
  const n = 30, dim = 4;
  const v = randomTable(n, dim, 5).map((x) => x * 1e20);
  const ref = bruteKnn(v, n, v, n, dim, 5, 'euclidean', true);
  const res = knn(v, n, v, n, dim, 5, 'euclidean', { excludeSelf: true });
  for (let i = 0; i < n; i++) for (let t = 0; t < 5; t++) assert.equal(res.indices[i * 5 + t], ref[i][t][1]);
});

test('knn: the WebAssembly SIMD kernel assembles and validates (Node ≥ 20 has SIMD)', () => {
  assert.ok(knnUsesWasm());
});
