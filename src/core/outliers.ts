// Outlier scores per row (issue 16, item 5): the distance to the row's k-th nearest other row (core/knn.ts's exact
// blocked leave-one-out kNN, bounded memory), and the distance to its own class's centroid (NaN for an unlabelled
// row; centroids re-normalised to unit length for an L2-normalised model, as classify's).
import { centroids } from './classify';
import type { DistanceName } from './config-types';
import { knnLeaveOneOut, type KnnOptions } from './knn';
import { pairDistance } from './threshold';

export interface OutlierScores {
  /** Distance to the k-th nearest other row. */
  kth: Float32Array;
  /** Distance to the centroid of the row's class (NaN when unlabelled). */
  centroid: Float64Array;
  /** The k used (clamped to n − 1). */
  k: number;
}

export function outlierScores(
  vectors: Float32Array, n: number, dim: number, labels: string[], k: number, distance: DistanceName,
  opts: { unitCentroids?: boolean; knn?: KnnOptions } = {},
): OutlierScores {
  const kth = new Float32Array(n).fill(NaN);
  const kk = knnLeaveOneOut(vectors, n, dim, k, distance, opts.knn ?? {}, (rows, _indices, distances, kq) => {
    for (let t = 0; t < rows.length; t++) kth[rows[t]] = distances[t * kq + kq - 1];
  });
  const centroid = new Float64Array(n).fill(NaN);
  const rows = labels.map((l, i) => (l ? i : -1)).filter((i) => i >= 0);
  if (rows.length) {
    const ref = new Float32Array(rows.length * dim);
    rows.forEach((r, o) => ref.set(vectors.subarray(r * dim, r * dim + dim), o * dim));
    const c = centroids({ vectors: ref, labels: rows.map((r) => labels[r]), dim }, opts.unitCentroids);
    const index = new Map(c.classes.map((name, i) => [name, i]));
    for (const r of rows) centroid[r] = pairDistance(vectors, r, c.vectors, index.get(labels[r])!, dim, distance);
  }
  return { kth, centroid, k: kk };
}
