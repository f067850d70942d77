// evaluateTable on two threads: the retrieval metrics (exact leave-one-out kNN, the largest part) on this thread,
// k-means + NMI and verification in a worker thread at the same time. The report is the one evaluateTable makes
// (same code and seeds, so the same numbers); timingsMs.total is the wall-clock time of the whole evaluation.
//
// Small tables (below PARALLEL_MIN_ROWS) run inline: starting a worker costs tens of milliseconds. When no worker
// script can be found or a worker cannot start, the parts run inline too and `onNote` says why; an error inside
// the parts is an error either way.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DistanceName } from './config-types';
import type { EvalWorkerData } from './eval-worker';
import {
  assembleReport, evaluateClusteringAndVerification, evaluateTable,
  type ClusteringAndVerification, type EvalOptions, type EvalReport,
} from './metrics';
import { retrievalMetrics } from './metrics-retrieval';

export const PARALLEL_MIN_ROWS = 4000;

export interface ParallelEvalOptions extends EvalOptions {
  /** 'auto' (default): a worker thread for tables of at least PARALLEL_MIN_ROWS rows; 'off': evaluateTable inline. */
  parallel?: 'auto' | 'off';
  /** The worker script (default: eval-worker.js beside this bundle, or eval-worker.ts beside this source file). */
  workerScript?: string;
  onNote?: (message: string) => void;
}

/** dist/eval-worker.js when running from the bundles, src/core/eval-worker.ts when running from source (tsx). */
function defaultWorkerScript(): string | null {
  for (const name of ['eval-worker.js', 'eval-worker.ts']) {
    const p = path.join(__dirname, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function runWorker(script: string, data: EvalWorkerData): Promise<ClusteringAndVerification> {
  return new Promise((resolve, reject) => {
    // TypeScript source (tests, benchmarks run through tsx): register tsx's require hook in the worker first.
    const worker = script.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(script)});`, { eval: true, workerData: data, execArgv: [] })
      : new Worker(script, { workerData: data, execArgv: [] });
    let settled = false;
    worker.once('message', (m: { ok: boolean; result?: ClusteringAndVerification; error?: string }) => {
      settled = true;
      if (m.ok) resolve(m.result!);
      else reject(Object.assign(new Error(m.error), { inWorker: true }));
      void worker.terminate();
    });
    worker.once('error', (e) => { if (!settled) { settled = true; reject(e); } });
    worker.once('exit', (code) => { if (!settled) { settled = true; reject(new Error(`the evaluation worker exited with code ${code}`)); } });
  });
}

export async function evaluateTableParallel(
  vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, opts: ParallelEvalOptions = {},
): Promise<EvalReport> {
  const n = labels.length;
  const script = opts.workerScript ?? defaultWorkerScript();
  if ((opts.parallel ?? 'auto') === 'off' || n < PARALLEL_MIN_ROWS) return evaluateTable(vectors, dim, labels, distance, opts);
  if (!script) {
    opts.onNote?.('no evaluation worker script next to the program: evaluating on one thread');
    return evaluateTable(vectors, dim, labels, distance, opts);
  }
  const t0 = performance.now();
  const sv = new SharedArrayBuffer(n * dim * 4);
  new Float32Array(sv).set(vectors.subarray(0, n * dim));
  const sl = new SharedArrayBuffer(n * 4);
  new Int32Array(sl).set(labels);
  const { parallel: _p, workerScript: _w, onNote: _n, ...evalOpts } = opts;
  const pending = runWorker(script, { vectors: sv, labels: sl, n, dim, distance, opts: evalOpts });
  pending.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  const retrieval = retrievalMetrics(vectors, dim, labels, distance, {
    blockRows: opts.blockRows, memoryBytes: opts.memoryBytes, kernel: opts.kernel, queryBlock: opts.queryBlock,
  });
  const t1 = performance.now();
  let rest: ClusteringAndVerification;
  try {
    rest = await pending;
  } catch (e) {
    if ((e as { inWorker?: boolean }).inWorker) throw e;
    opts.onNote?.(`the evaluation worker could not run (${(e as Error).message}): evaluating the rest on this thread`);
    rest = evaluateClusteringAndVerification(vectors, dim, labels, distance, evalOpts);
  }
  return assembleReport(dim, labels, distance, retrieval, rest, { retrieval: t1 - t0, total: performance.now() - t0 });
}
