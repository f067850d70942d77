// Clustering metrics of an embedding table: k-means and NMI (the report is metrics.ts).
//
// Clustering: k-means (k-means++ seeding from the seeded project PRNG (rng.ts), Lloyd iterations) and NMI with the
//   arithmetic-mean normalisation, NMI = I(A;B) / ((H(A) + H(B)) / 2) (scikit-learn's default).

import { knn, knnChunkRows } from './knn';
import { uniformStream } from './rng';

// ---------------------------------------------------------------------------------------------------------
// k-means and NMI

export interface KMeansResult {
  assignments: Int32Array;
  /** k×dim. */
  centroids: Float32Array;
  /** Σ squared Euclidean distance of each point to its centroid. */
  inertia: number;
  /** Assignment steps run (Lloyd iterations). */
  iterations: number;
}

/**
 * Euclidean k-means: k-means++ seeding (D² sampling from Rng(seed)), then Lloyd iterations until no
 * assignment changes or maxIter. Assignment ties go to the smaller centroid index; an empty cluster is re-seeded
 * with the point farthest from its centroid. The assignment step is the blocked kNN (k = 1).
 */
export function kmeans(vectors: Float32Array, n: number, dim: number, k: number, seed: number, maxIter = 100): KMeansResult {
  if (!(k >= 1) || k > n) throw new RangeError(`kmeans: k = ${k} must be in [1, n = ${n}]`);
  const rand = uniformStream(seed);
  const centroids = new Float32Array(k * dim);
  // k-means++ seeding.
  const minD = new Float64Array(n).fill(Infinity);
  let c = Math.floor(rand() * n);
  for (let ci = 0; ci < k; ci++) {
    centroids.set(vectors.subarray(c * dim, c * dim + dim), ci * dim);
    if (ci === k - 1) break;
    let total = 0;
    for (let i = 0; i < n; i++) {
      // The partial sum only grows: once it reaches minD[i] the point keeps its distance (same result, fewer steps).
      const lim = minD[i];
      let s = 0;
      for (let d = 0, a = i * dim, b = c * dim; d < dim && s < lim; d++) { const x = vectors[a + d] - vectors[b + d]; s += x * x; }
      if (s < lim) minD[i] = s;
      total += minD[i];
    }
    if (total > 0) {
      let r = rand() * total;
      c = n - 1;
      for (let i = 0; i < n; i++) { r -= minD[i]; if (r < 0 && minD[i] > 0) { c = i; break; } }
    } else {
      c = Math.floor(rand() * n); // every point coincides with a centre already
    }
  }

  const assignments = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  let iterations = 0;
  let inertia = 0;
  // The assignment step in chunks of rows (each row's nearest centroid is its own), so the kernel's copy of the
  // rows stays small whatever n is.
  const chunk = knnChunkRows(dim);
  while (iterations < maxIter) {
    iterations++;
    let changed = 0;
    inertia = 0;
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const rows = Math.min(chunk, n - c0);
      const nn = knn(vectors.subarray(c0 * dim, (c0 + rows) * dim), rows, centroids, k, dim, 1, 'squared-euclidean');
      for (let r = 0, i = c0; r < rows; r++, i++) {
        const a = nn.indices[r];
        if (a !== assignments[i]) { changed++; assignments[i] = a; }
        dist[i] = nn.distances[r];
        inertia += dist[i];
      }
    }
    if (changed === 0) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const a = assignments[i];
      counts[a]++;
      for (let d = 0, o = a * dim, v = i * dim; d < dim; d++) sums[o + d] += vectors[v + d];
    }
    const taken = new Set<number>();
    for (let ci = 0; ci < k; ci++) {
      if (counts[ci] > 0) {
        for (let d = 0; d < dim; d++) centroids[ci * dim + d] = sums[ci * dim + d] / counts[ci];
        continue;
      }
      let far = -1;
      for (let i = 0; i < n; i++) if (!taken.has(i) && (far < 0 || dist[i] > dist[far])) far = i;
      taken.add(far);
      centroids.set(vectors.subarray(far * dim, far * dim + dim), ci * dim);
    }
  }
  return { assignments, centroids, inertia, iterations };
}

/**
 * Normalised mutual information of two labelings (any integers; -1 is just another label), arithmetic-mean
 * normalisation: I(A;B) / ((H(A) + H(B)) / 2), natural logs (the base cancels). Two single-cluster labelings
 * give 1, as in scikit-learn; one single-cluster labeling against a non-trivial one gives 0.
 */
export function nmi(a: Int32Array, b: Int32Array): number {
  const n = a.length;
  if (b.length !== n) throw new RangeError('nmi: labelings differ in length');
  if (n === 0) return NaN;
  const dense = (x: Int32Array): { ids: Int32Array; sizes: number[] } => {
    const map = new Map<number, number>();
    const ids = new Int32Array(n);
    const sizes: number[] = [];
    for (let i = 0; i < n; i++) {
      let id = map.get(x[i]);
      if (id === undefined) { id = sizes.length; map.set(x[i], id); sizes.push(0); }
      ids[i] = id;
      sizes[id]++;
    }
    return { ids, sizes };
  };
  const A = dense(a);
  const B = dense(b);
  if (A.sizes.length === 1 && B.sizes.length === 1) return 1;
  const joint = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = A.ids[i] * B.sizes.length + B.ids[i];
    joint.set(key, (joint.get(key) ?? 0) + 1);
  }
  const entropy = (sizes: number[]): number => sizes.reduce((h, c) => h - (c / n) * Math.log(c / n), 0);
  let mi = 0;
  for (const [key, nij] of joint) {
    const ca = A.sizes[Math.floor(key / B.sizes.length)];
    const cb = B.sizes[key % B.sizes.length];
    mi += (nij / n) * Math.log((n * nij) / (ca * cb));
  }
  const denom = (entropy(A.sizes) + entropy(B.sizes)) / 2;
  if (denom <= 0) return 0;
  return Math.min(1, Math.max(0, mi / denom));
}
