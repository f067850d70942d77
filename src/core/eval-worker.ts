// Worker-thread entry of evaluate-parallel.ts: k-means + NMI and verification of a table whose vectors and labels
// arrive in SharedArrayBuffers (no copy), while the main thread runs the retrieval metrics.
import { parentPort, workerData } from 'node:worker_threads';
import type { DistanceName } from './config-types';
import { evaluateClusteringAndVerification, type EvalOptions } from './metrics';

export interface EvalWorkerData {
  vectors: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  n: number;
  dim: number;
  distance: DistanceName;
  opts: EvalOptions;
}

const data = workerData as EvalWorkerData;
try {
  const vectors = new Float32Array(data.vectors, 0, data.n * data.dim);
  const labels = new Int32Array(data.labels, 0, data.n);
  parentPort!.postMessage({ ok: true, result: evaluateClusteringAndVerification(vectors, data.dim, labels, data.distance, data.opts) });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
}
