// Blocked kNN against a brute-force reference (every distance, full sort by (distance, index)).
import test from 'node:test';
import assert from 'node:assert/strict';
import { knn, knnUsesWasm } from '../../src/core/knn';
import type { DistanceName } from '../../src/core/config-types';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTable(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed);
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
      const dist = distance === 'euclidean' ? Math.sqrt(s) : distance === 'squared-euclidean' ? s : 1 - dot / Math.sqrt(nqq * ngg);
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
