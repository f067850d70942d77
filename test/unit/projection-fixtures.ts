// Shared by tsne.test.ts and umap.test.ts: seeded Gaussian blobs and the quality measures of a 2-D layout,
// written independently of the projections (brute-force rankings); the seeded numbers are src/core/rng.ts's.

import { uniformStream } from '../../src/core/rng';

export { uniformStream };

export function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
}

/** `classes` Gaussian blobs of `per` points in `dim` dimensions (centres at distance ~√dim·spread), rows in class order. */
export function blobs(classes: number, per: number, dim: number, seed: number, spread = 1, noise = 0.35): { v: Float32Array; labels: Int32Array; n: number } {
  const r = uniformStream(seed);
  const n = classes * per;
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => gaussian(r) * spread));
  const v = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes; // interleaved, so row order says nothing about the class
    labels[i] = c;
    for (let j = 0; j < dim; j++) v[i * dim + j] = centres[c][j] + gaussian(r) * noise;
  }
  return { v, labels, n };
}

export function sqDist(v: ArrayLike<number>, dim: number, i: number, j: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) { const x = v[i * dim + d] - v[j * dim + d]; s += x * x; }
  return s;
}

/** Rows of j ≠ i sorted by (squared distance, index). */
export function ranking(v: ArrayLike<number>, n: number, dim: number, i: number): number[] {
  const js = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i);
  const d = js.map((j) => sqDist(v, dim, i, j));
  return js.map((j, t) => [d[t], j]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[1]);
}

/** Leave-one-out k-NN classification accuracy in the 2-D layout. */
export function knnAccuracy(Y: ArrayLike<number>, labels: Int32Array, n: number, k = 5): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const votes = new Map<number, number>();
    for (const j of ranking(Y, n, 2, i).slice(0, k)) votes.set(labels[j], (votes.get(labels[j]) ?? 0) + 1);
    const best = [...votes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    if (best === labels[i]) ok++;
  }
  return ok / n;
}

/** Trustworthiness (Venna & Kaski 2001), as sklearn.manifold.trustworthiness. */
export function trustworthiness(X: ArrayLike<number>, dim: number, Y: ArrayLike<number>, n: number, k: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const inRank = new Map<number, number>();
    ranking(X, n, dim, i).forEach((j, r) => inRank.set(j, r + 1));
    for (const j of ranking(Y, n, 2, i).slice(0, k)) {
      const r = inRank.get(j) as number;
      if (r > k) sum += r - k;
    }
  }
  return 1 - (2 / (n * k * (2 * n - 3 * k - 1))) * sum;
}
