// The projection worker thread (bundled as dist/projection-worker.js): PCA, t-SNE, UMAP and k-means colouring off
// the extension host's event loop. A message loop around runJob (projection-jobs.ts); messages are typed in
// src/protocol/projection.ts. Jobs run one at a time to completion; the host cancels one by terminating the thread.
import { parentPort } from 'node:worker_threads';
import { isHostToProjectionWorker, type ProjectionWorkerToHost } from '../protocol/projection';
import { runJob } from './projection-run';

/** Progress at most every PROGRESS_MS (plus the first and the last), so a fast loop does not flood the host. */
const PROGRESS_MS = 100;

const port = parentPort;
if (!port) throw new Error('projection-worker.js runs as a worker thread (node:worker_threads), not as a script');

const send = (m: ProjectionWorkerToHost, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
/** The array itself when it owns its whole buffer (then the buffer can be transferred), else a copy that does. */
const own = <T extends Float32Array | Int32Array>(a: T): T => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer) ? a : a.slice() as T);

port.on('message', (raw: unknown) => {
  if (!isHostToProjectionWorker(raw)) {
    const jobId = typeof (raw as { jobId?: unknown })?.jobId === 'number' ? (raw as { jobId: number }).jobId : -1;
    send({ type: 'error', jobId, message: `malformed message to the projection worker: ${JSON.stringify(raw)?.slice(0, 200)}` });
    return;
  }
  const { jobId, job, n, dim } = raw;
  const t0 = performance.now();
  let last = -Infinity;
  const onProgress = (done: number, total: number) => {
    const now = performance.now();
    if (done < total && now - last < PROGRESS_MS) return;
    last = now;
    send({ type: 'progress', jobId, done, total });
  };
  try {
    const have = raw.vectors.byteLength / Float32Array.BYTES_PER_ELEMENT;
    if (!(n >= 1) || !(dim >= 1) || have < n * dim) throw new RangeError(`bad table: ${n} rows × ${dim} dims in ${have} values`);
    const vectors = new Float32Array(raw.vectors, 0, n * dim);
    const r = runJob(vectors, n, dim, job, onProgress);
    const ms = Math.round(performance.now() - t0);
    if (r.kind === 'projection') {
      const x = own(r.x), y = own(r.y);
      send({ type: 'projection', jobId, x, y, ...(r.explained ? { explained: r.explained } : {}), ms }, [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer]);
    } else {
      const assignments = own(r.assignments);
      send({ type: 'clusters', jobId, k: r.k, assignments, sampled: r.sampled, ms }, [assignments.buffer as ArrayBuffer]);
    }
  } catch (err) {
    send({ type: 'error', jobId, message: err instanceof Error ? err.message : String(err) });
  }
});
