// The jobs of the projection worker thread, as the extension host builds them: which parameters t-SNE and UMAP get
// for a table (they are part of the cache key, so they are spelled out here rather than left to core's defaults),
// and the k-means sample size. No computation: that is projection-run.ts, which only the worker bundle includes.
import type { KmeansJob, ProjectionDistance, ProjectionJob, TsneParams, UmapParams } from '../protocol/projection';
import { DEFAULT_PROJECTION_SEED } from '../protocol/projection';
import type { ProjectionMethod } from '../protocol/webview';

/** Rows k-means sees at most (k·dim·sample·100 iterations ≈ 1e8 multiply-adds, ~0.5 s); the rest are assigned. */
export function kmeansSampleSize(n: number, k: number, dim: number): number {
  return Math.min(n, Math.max(4 * k, 256, Math.floor(1e8 / (Math.max(1, k) * Math.max(1, dim) * 100))));
}

/**
 * The neighbour distance t-SNE and UMAP use for a table: cosine when the table is compared by cosine distance,
 * else euclidean (squared euclidean ranks neighbours the same way). For L2-normalised vectors both give the same
 * neighbours (|a − b|² = 2 − 2 cos), so the table's own distance decides only for unnormalised tables.
 */
export function projectionDistance(tableDistance: string): ProjectionDistance {
  return tableDistance === 'cosine' ? 'cosine' : 'euclidean';
}

/** t-SNE's parameters for n rows: perplexity 30 (capped at (n − 1) / 3, as t-SNE needs 3·perplexity < n), 750 iterations, θ = 0.5 (core tsne2d's defaults). */
export function tsneParams(n: number, distance: ProjectionDistance): TsneParams {
  return { perplexity: Math.max(1, Math.min(30, Math.floor((n - 1) / 3))), iterations: 750, theta: 0.5, distance };
}

/**
 * UMAP's parameters for n rows (umap-learn's defaults, as core umap2d's): 15 neighbours, the row itself included
 * (at most n), min_dist 0.1, spread 1, 500 epochs up to 10,000 rows and 200 above.
 */
export function umapParams(n: number, distance: ProjectionDistance): UmapParams {
  return { nNeighbors: Math.max(2, Math.min(15, n)), minDist: 0.1, spread: 1, epochs: n <= 10_000 ? 500 : 200, distance };
}

/** The job that computes `method` for a table of n rows with the given distance and seed. */
export function projectionJob(method: ProjectionMethod, n: number, tableDistance: string, seed = DEFAULT_PROJECTION_SEED): ProjectionJob {
  const d = projectionDistance(tableDistance);
  switch (method) {
    case 'pca': return { kind: 'pca' };
    case 'tsne': return { kind: 'tsne', seed, ...tsneParams(n, d) };
    case 'umap': return { kind: 'umap', seed, ...umapParams(n, d) };
  }
}

export function kmeansJob(k: number, seed = DEFAULT_PROJECTION_SEED): KmeansJob {
  return { kind: 'kmeans', k, seed };
}

