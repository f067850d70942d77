// The computations the projection worker runs (projection-worker.ts), as plain synchronous functions of the
// table's vectors: PCA (core pca2d), t-SNE (core tsne2d), UMAP (core umap2d) and k-means colouring. No I/O, no
// worker_threads: the worker is a thin message loop around `runJob`, and tests can call these directly.
import { knn } from '../core/knn';
import { kmeans } from '../core/metrics';
import { clusterAssignments, pca2d } from '../core/projection';
import { tsne2d } from '../core/tsne';
import { umap2d } from '../core/umap';
import type { WorkerJob } from '../protocol/projection';
import { kmeansSampleSize } from './projection-jobs';

export type Progress = (done: number, total: number) => void;

export interface ProjectionResult { kind: 'projection'; x: Float32Array; y: Float32Array; explained?: [number, number] }
export interface ClustersResult { kind: 'clusters'; k: number; assignments: Int32Array; sampled: boolean }
export type JobResult = ProjectionResult | ClustersResult;

/**
 * Cluster colouring: core k-means (seeded) on all rows when the table is small (= clusterAssignments); on a larger
 * table, k-means on an evenly strided sample, then every row goes to its nearest centroid (core knn, k = 1). An
 * exact k-means of 50 k × 128 takes ~50 s on a 2-core machine, too long to wait for a colouring even off-thread.
 */
export function clusterRows(vectors: Float32Array, n: number, dim: number, k: number, seed: number, onProgress?: Progress): ClustersResult {
  const kk = Math.max(1, Math.min(k, n));
  const ns = kmeansSampleSize(n, kk, dim);
  if (ns >= n) {
    const assignments = clusterAssignments(vectors, n, dim, kk, seed);
    onProgress?.(n, n);
    return { kind: 'clusters', k: kk, assignments, sampled: false };
  }
  const sample = new Float32Array(ns * dim);
  for (let i = 0; i < ns; i++) {
    const r = Math.floor((i * n) / ns);
    sample.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim);
  }
  const km = kmeans(sample, ns, dim, kk, seed);
  const out = new Int32Array(n);
  const chunk = 8192;
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const m = Math.min(chunk, n - r0);
    const res = knn(vectors.subarray(r0 * dim, (r0 + m) * dim), m, km.centroids, kk, dim, 1, 'euclidean');
    out.set(res.indices.subarray(0, m), r0);
    onProgress?.(r0 + m, n);
  }
  return { kind: 'clusters', k: kk, assignments: out, sampled: true };
}

/** Splits 2n interleaved coordinates (x0, y0, x1, y1, …) into x and y. */
export function deinterleave(xy: Float32Array, n: number): { x: Float32Array; y: Float32Array } {
  if (xy.length !== 2 * n) throw new RangeError(`expected ${2 * n} coordinates (2 per row), got ${xy.length}`);
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = xy[2 * i]; y[i] = xy[2 * i + 1]; }
  return { x, y };
}

/** Runs one job to completion (synchronously). Throws on bad input. */
export function runJob(vectors: Float32Array, n: number, dim: number, job: WorkerJob, onProgress?: Progress): JobResult {
  if (!(n >= 1) || !(dim >= 1) || vectors.length < n * dim) throw new RangeError(`bad table: ${n} rows × ${dim} dims in ${vectors.length} values`);
  switch (job.kind) {
    case 'pca': {
      onProgress?.(0, n);
      const p = pca2d(vectors, n, dim);
      onProgress?.(n, n);
      return { kind: 'projection', x: p.x, y: p.y, explained: p.explained };
    }
    case 'tsne': {
      const xy = tsne2d(vectors, n, dim, { seed: job.seed, perplexity: job.perplexity, iterations: job.iterations, theta: job.theta, distance: job.distance, onProgress });
      return { kind: 'projection', ...deinterleave(xy, n) };
    }
    case 'umap': {
      const xy = umap2d(vectors, n, dim, { seed: job.seed, nNeighbors: job.nNeighbors, minDist: job.minDist, spread: job.spread, epochs: job.epochs, distance: job.distance, onProgress });
      return { kind: 'projection', ...deinterleave(xy, n) };
    }
    case 'kmeans':
      return clusterRows(vectors, n, dim, job.k, job.seed, onProgress);
    default: {
      const never: never = job;
      throw new Error(`unknown job ${JSON.stringify(never)}`);
    }
  }
}
