// Extension host ⇄ projection worker thread (dist/projection-worker.js, a node worker_threads Worker). The host
// posts one `run` per job; the worker answers with `progress` messages, then exactly one `projection`, `clusters`
// or `error` for that job. One job at a time per worker: a job that is superseded or whose panel closes is cancelled
// by terminating the worker (the computations are synchronous loops that could not see a cancel message anyway).
//
// Vectors travel as a SharedArrayBuffer (row-major Float32 n × dim): the host copies a table into one once and
// every job on that table shares it, with no copy per job. Results travel back as transferred typed arrays.
// Pure types and tiny helpers: no node, no DOM.

import type { ProjectionMethod } from './webview';

export const PROJECTION_WORKER_PROTOCOL_VERSION = 1;

/** The seed of t-SNE and UMAP (and of k-means colouring) unless the webview asks for another. */
export const DEFAULT_PROJECTION_SEED = 1;

export type ProjectionDistance = 'euclidean' | 'cosine';

export interface TsneParams { perplexity: number; iterations: number; theta: number; distance: ProjectionDistance }
export interface UmapParams { nNeighbors: number; minDist: number; spread: number; epochs: number; distance: ProjectionDistance }

/** A 2-D projection job; t-SNE and UMAP carry every parameter explicitly (they are part of the cache key). */
export type ProjectionJob =
  | { kind: 'pca' }
  | ({ kind: 'tsne'; seed: number } & TsneParams)
  | ({ kind: 'umap'; seed: number } & UmapParams);

/** k-means colouring (exact on small tables, on a strided sample then nearest centroid on large ones). */
export interface KmeansJob { kind: 'kmeans'; k: number; seed: number }

export type WorkerJob = ProjectionJob | KmeansJob;

// ---------------------------------------------------------------------------------------------- host → worker

export interface RunJobMessage {
  type: 'run';
  jobId: number;
  /** Row-major Float32 n × dim (shared, never copied). */
  vectors: SharedArrayBuffer;
  n: number;
  dim: number;
  job: WorkerJob;
}

export type HostToProjectionWorker = RunJobMessage;

// ---------------------------------------------------------------------------------------------- worker → host

export interface WorkerProgressMessage { type: 'progress'; jobId: number; done: number; total: number }
export interface WorkerProjectionMessage {
  type: 'projection';
  jobId: number;
  /** Row i's coordinates (transferred). */
  x: Float32Array;
  y: Float32Array;
  /** PCA only: the share of the variance each axis explains. */
  explained?: [number, number];
  ms: number;
}
export interface WorkerClustersMessage { type: 'clusters'; jobId: number; k: number; assignments: Int32Array; sampled: boolean; ms: number }
/** The job threw (bad input, a bug): the worker stays usable. A crash of the thread itself is seen by the host. */
export interface WorkerErrorMessage { type: 'error'; jobId: number; message: string }

export type ProjectionWorkerToHost = WorkerProgressMessage | WorkerProjectionMessage | WorkerClustersMessage | WorkerErrorMessage;

// ---------------------------------------------------------------------------------------------- helpers

export function isProjectionWorkerToHost(v: unknown): v is ProjectionWorkerToHost {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as { type?: unknown; jobId?: unknown };
  return (m.type === 'progress' || m.type === 'projection' || m.type === 'clusters' || m.type === 'error') && typeof m.jobId === 'number';
}

export function isHostToProjectionWorker(v: unknown): v is HostToProjectionWorker {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<RunJobMessage>;
  return m.type === 'run' && typeof m.jobId === 'number' && typeof m.n === 'number' && typeof m.dim === 'number'
    && typeof m.job === 'object' && m.job !== null && (m.vectors instanceof SharedArrayBuffer);
}

/** The method a projection job computes. */
export function jobMethod(job: ProjectionJob): ProjectionMethod {
  return job.kind;
}

/** The parameters of a job that identify its result (the seed excluded), in a fixed key order, for the cache. */
export function jobParams(job: ProjectionJob): Record<string, number | string> {
  switch (job.kind) {
    case 'pca': return {};
    case 'tsne': return { perplexity: job.perplexity, iterations: job.iterations, theta: job.theta, distance: job.distance };
    case 'umap': return { nNeighbors: job.nNeighbors, minDist: job.minDist, spread: job.spread, epochs: job.epochs, distance: job.distance };
  }
}

/** A job's seed (null for PCA, which has none). */
export function jobSeed(job: ProjectionJob): number | null {
  return job.kind === 'pca' ? null : job.seed;
}
