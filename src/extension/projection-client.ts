// The extension host's side of the projection worker thread (projection-worker.ts, bundled as
// dist/projection-worker.js): one worker per client, started on the first job and kept for the next ones, one job
// at a time. A new job while one runs supersedes it; `cancel` and `dispose` end it. Both terminate the thread (the
// computation is a synchronous loop that cannot look at messages), and the job's promise rejects with
// ProjectionCancelled. A crash of the thread (an uncaught exception, running out of memory, process.exit) rejects
// the job with an Error that says so; the next job starts a fresh thread. Messages: src/protocol/projection.ts.
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  isProjectionWorkerToHost,
  type RunJobMessage,
  type WorkerClustersMessage,
  type WorkerJob,
  type WorkerProjectionMessage,
} from '../protocol/projection';

/** The job was superseded by another, cancelled, or its client disposed: not an error to show. */
export class ProjectionCancelled extends Error {
  constructor(reason: string) {
    super(`projection job ${reason}`);
    this.name = 'ProjectionCancelled';
  }
}

export type WorkerResult = WorkerProjectionMessage | WorkerClustersMessage;

interface Pending {
  jobId: number;
  what: string;
  resolve(r: WorkerResult): void;
  reject(err: Error): void;
  onProgress?: (done: number, total: number) => void;
}

export interface ProjectionClientStats {
  /** Worker threads started. */
  workers: number;
  /** Jobs posted to a worker. */
  jobs: number;
  /** Jobs that came back with a result. */
  completed: number;
  cancelled: number;
  crashed: number;
}

/** A row-major Float32 copy of `vectors` in a SharedArrayBuffer (the one copy a table gets; jobs share it). */
export function toShared(vectors: Float32Array, n: number, dim: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(n * dim * Float32Array.BYTES_PER_ELEMENT);
  new Float32Array(sab).set(vectors.subarray(0, n * dim));
  return sab;
}

export class ProjectionWorkerClient {
  private worker: Worker | null = null;
  private pending: Pending | null = null;
  private nextId = 1;
  private disposed = false;
  /** Workers this client terminated on purpose: their exit is not a crash. */
  private readonly ending = new WeakSet<Worker>();
  readonly stats: ProjectionClientStats = { workers: 0, jobs: 0, completed: 0, cancelled: 0, crashed: 0 };

  constructor(readonly file: string, private readonly opts: { name?: string; log?: (m: string) => void } = {}) {}

  get busy(): boolean {
    return this.pending !== null;
  }

  /** The running worker's thread id (for tests), or null when none runs. */
  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** Runs `job` on the shared vectors; supersedes (cancels) a job that is still running. */
  run(vectors: SharedArrayBuffer, n: number, dim: number, job: WorkerJob, onProgress?: (done: number, total: number) => void): Promise<WorkerResult> {
    if (this.disposed) return Promise.reject(new ProjectionCancelled('cancelled: the dashboard was closed'));
    if (this.pending) this.cancel('superseded');
    let w: Worker;
    try {
      w = this.ensureWorker();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const jobId = this.nextId++;
    const what = job.kind === 'kmeans' ? `k-means (k = ${job.k})` : job.kind === 'tsne' ? 't-SNE' : job.kind.toUpperCase();
    return new Promise<WorkerResult>((resolve, reject) => {
      this.pending = { jobId, what, resolve, reject, onProgress };
      this.stats.jobs++;
      w.ref(); // a running job keeps the process alive; an idle worker does not
      const m: RunJobMessage = { type: 'run', jobId, vectors, n, dim, job };
      w.postMessage(m);
    });
  }

  /** Ends the running job, if any (its promise rejects with ProjectionCancelled), by terminating the thread. */
  cancel(reason = 'cancelled'): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.stats.cancelled++;
    this.stopWorker();
    p.reject(new ProjectionCancelled(reason));
  }

  /** Cancels the running job and ends the thread; later jobs are refused. */
  dispose(): void {
    if (this.disposed) return;
    this.cancel('cancelled: the dashboard was closed');
    this.disposed = true;
    this.stopWorker();
  }

  private stopWorker(): void {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    this.ending.add(w);
    w.terminate().catch(() => undefined);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    if (!fs.existsSync(this.file)) throw new Error(`the projection worker ${this.file} is missing: rebuild the extension (npm run build)`);
    // The bundle needs none of the host's node flags (the VS Code extension host's, a debugger's, tsx's).
    const w = new Worker(this.file, { name: this.opts.name ?? 'embedlab-projection', execArgv: [] });
    w.unref();
    w.on('message', (m: unknown) => this.onMessage(w, m));
    w.on('messageerror', (err: Error) => this.fail(w, `the projection worker sent a message the host cannot read: ${err.message}`));
    w.on('error', (err: Error & { code?: string }) => {
      const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'ran out of memory' : `crashed: ${err.message}`;
      this.fail(w, `the projection worker ${why}`);
    });
    w.on('exit', (code: number) => {
      if (!this.ending.has(w)) this.fail(w, `the projection worker stopped unexpectedly (exit code ${code})`);
    });
    this.worker = w;
    this.stats.workers++;
    return w;
  }

  /** The thread died under a job (or between jobs): the job fails with `message`; the next job starts a new thread. */
  private fail(w: Worker, message: string): void {
    if (w !== this.worker) return; // ended on purpose, or already handled (an 'error' is followed by an 'exit')
    this.worker = null;
    this.ending.add(w);
    w.terminate().catch(() => undefined);
    this.opts.log?.(message);
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.stats.crashed++;
    p.reject(new Error(`${message} while computing ${p.what}`));
  }

  private onMessage(w: Worker, m: unknown): void {
    if (w !== this.worker || !isProjectionWorkerToHost(m)) return;
    const p = this.pending;
    if (!p || m.jobId !== p.jobId) return; // a superseded job's late message
    if (m.type === 'progress') {
      p.onProgress?.(m.done, m.total);
      return;
    }
    this.pending = null;
    w.unref();
    if (m.type === 'error') {
      p.reject(new Error(m.message));
      return;
    }
    this.stats.completed++;
    p.resolve(m);
  }
}
