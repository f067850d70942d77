// The explorer's projection worker thread (the built dist/projection-worker.js, run by ProjectionWorkerClient as the
// extension host runs it): PCA and k-means through it are core pca2d / clusterAssignments exactly, t-SNE and UMAP
// give two finite coordinates per row and the same ones every time, and the host's event loop keeps running while
// the worker computes. Superseding, cancelling and disposing terminate the thread; a thread that dies (exit,
// uncaught exception) fails its job with an error that says so, and the next job gets a fresh thread.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { tmpDir } from '../integration/helpers';
import { clusterAssignments, pca2d } from '../../src/core/projection';
import { tsne2d } from '../../src/core/tsne';
import { umap2d } from '../../src/core/umap';
import { ProjectionCancelled, ProjectionWorkerClient, toShared, type WorkerResult } from '../../src/extension/projection-client';
import { kmeansJob, kmeansSampleSize, projectionJob } from '../../src/extension/projection-jobs';
import { clusterRows, deinterleave } from '../../src/extension/projection-run';
import type { WorkerClustersMessage, WorkerJob, WorkerProjectionMessage } from '../../src/protocol/projection';

const ROOT = path.resolve(__dirname, '..', '..');
const WORKER = path.join(ROOT, 'dist', 'projection-worker.js');
const work = tmpDir('projection-worker');
const clients: ProjectionWorkerClient[] = [];
after(() => {
  for (const c of clients) c.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

function client(file = WORKER): ProjectionWorkerClient {
  assert.ok(fs.existsSync(file), `${file} is missing: run \`npm run build\` first`);
  const c = new ProjectionWorkerClient(file);
  clients.push(c);
  return c;
}

/** n rows in `classes` gaussian-ish blobs (a fixed LCG), so t-SNE and UMAP have structure to find. */
function blobs(n: number, dim: number, classes = 4, seed = 7): Float32Array {
  const v = new Float32Array(n * dim);
  let x = seed >>> 0;
  const r = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32 - 0.5; };
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    for (let j = 0; j < dim; j++) v[i * dim + j] = (j % classes === c ? 3 : 0) + r() * (1 + (j % 3));
  }
  return v;
}

const asProjection = (r: WorkerResult): WorkerProjectionMessage => { assert.equal(r.type, 'projection'); return r as WorkerProjectionMessage; };
const asClusters = (r: WorkerResult): WorkerClustersMessage => { assert.equal(r.type, 'clusters'); return r as WorkerClustersMessage; };
const finite = (a: Float32Array) => a.every(Number.isFinite);

/** Runs `job` and records the progress it reports. */
async function runWith(c: ProjectionWorkerClient, v: Float32Array, n: number, dim: number, job: WorkerJob) {
  const progress: Array<[number, number]> = [];
  const r = await c.run(toShared(v, n, dim), n, dim, job, (d, t) => progress.push([d, t]));
  return { r, progress };
}

describe('projection worker: the same numbers as core', () => {
  it('PCA through the worker is pca2d bit for bit; progress starts at 0 and ends at n', async () => {
    const n = 1003, dim = 17;
    const v = blobs(n, dim);
    const c = client();
    const { r, progress } = await runWith(c, v, n, dim, { kind: 'pca' });
    const p = asProjection(r);
    const ref = pca2d(v, n, dim);
    assert.ok(p.x instanceof Float32Array && p.y instanceof Float32Array, 'typed arrays come back (transferred)');
    assert.deepEqual(Array.from(p.x), Array.from(ref.x));
    assert.deepEqual(Array.from(p.y), Array.from(ref.y));
    assert.deepEqual(p.explained, ref.explained);
    assert.deepEqual(progress[0], [0, n]);
    assert.deepEqual(progress.at(-1), [n, n]);
    assert.equal(c.stats.workers, 1);
    assert.equal(c.stats.completed, 1);
  });

  it('k-means through the worker is clusterAssignments on a small table, and the sampled k-means on a large one', async () => {
    const c = client();
    const n = 300, dim = 8;
    const v = blobs(n, dim, 5);
    const small = asClusters((await runWith(c, v, n, dim, kmeansJob(5, 1))).r);
    assert.equal(small.sampled, false);
    assert.equal(small.k, 5);
    assert.deepEqual(Array.from(small.assignments), Array.from(clusterAssignments(v, n, dim, 5, 1)));
    // Large: k-means on a strided sample, every row to its nearest centroid (as before, in the host).
    const N = 12_000, D = 16;
    assert.ok(kmeansSampleSize(N, 8, D) < N);
    const V = blobs(N, D, 8, 3);
    const { r, progress } = await runWith(c, V, N, D, kmeansJob(8, 1));
    const large = asClusters(r);
    assert.equal(large.sampled, true);
    assert.equal(large.assignments.length, N);
    assert.deepEqual(Array.from(large.assignments), Array.from(clusterRows(V, N, D, 8, 1).assignments));
    assert.ok(large.assignments.every((a) => a >= 0 && a < 8));
    assert.deepEqual(progress.at(-1), [N, N]);
    assert.equal(c.stats.workers, 1, 'one thread served every job');
  });

  it('t-SNE and UMAP through the worker: 2 finite coordinates per row, core\'s numbers, the same every time; the seed matters', async () => {
    const c = client();
    const n = 150, dim = 12;
    const v = blobs(n, dim);
    // Fewer iterations than the explorer's (the test's time), the rest of the explorer's parameters.
    const short = (method: 'tsne' | 'umap', seed: number): WorkerJob => {
      const j = projectionJob(method, n, 'euclidean', seed);
      return j.kind === 'tsne' ? { ...j, iterations: 300 } : j.kind === 'umap' ? { ...j, epochs: 200 } : j;
    };
    for (const method of ['tsne', 'umap'] as const) {
      const job = short(method, 1);
      const first = await runWith(c, v, n, dim, job);
      const a = asProjection(first.r);
      assert.equal(a.x.length, n, `${method}: one x per row`);
      assert.equal(a.y.length, n, `${method}: one y per row`);
      assert.ok(finite(a.x) && finite(a.y), `${method}: finite coordinates`);
      assert.ok(first.progress.length >= 2, `${method}: progress reported (${first.progress.length} messages)`);
      const b = asProjection((await runWith(c, v, n, dim, job)).r);
      assert.deepEqual(Array.from(b.x), Array.from(a.x), `${method}: deterministic`);
      assert.deepEqual(Array.from(b.y), Array.from(a.y), `${method}: deterministic`);
      const direct = job.kind === 'tsne'
        ? tsne2d(v, n, dim, { seed: job.seed, perplexity: job.perplexity, iterations: job.iterations, theta: job.theta, distance: job.distance })
        : job.kind === 'umap'
          ? umap2d(v, n, dim, { seed: job.seed, nNeighbors: job.nNeighbors, minDist: job.minDist, spread: job.spread, epochs: job.epochs, distance: job.distance })
          : assert.fail('not a t-SNE or UMAP job');
      const d = deinterleave(direct, n);
      assert.deepEqual(Array.from(a.x), Array.from(d.x), `${method}: the worker computes what core computes`);
      assert.deepEqual(Array.from(a.y), Array.from(d.y));
      const other = asProjection((await runWith(c, v, n, dim, short(method, 2))).r);
      assert.notDeepEqual(Array.from(other.x), Array.from(a.x), `${method}: another seed gives another layout`);
    }
  });
});

describe('projection worker: off the event loop, cancellation, crashes', () => {
  const n = 2500, dim = 24;
  const big = blobs(n, dim, 6);
  const longJob = projectionJob('tsne', n, 'euclidean', 1);

  it('the host\'s timers keep running while the worker computes t-SNE', async () => {
    const c = client();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const small = 400;
    const r = asProjection(await c.run(toShared(big, small, dim), small, dim, { ...projectionJob('tsne', small, 'euclidean', 1), iterations: 300 } as WorkerJob));
    const ms = performance.now() - t0;
    clearInterval(timer);
    assert.equal(r.x.length, small);
    assert.ok(ticks >= Math.min(10, ms / 50), `${ticks} timer ticks in ${Math.round(ms)} ms of worker time`);
  });

  it('a new job supersedes the running one: its thread is terminated and its promise says cancelled', async () => {
    const c = client();
    const shared = toShared(big, n, dim);
    let started!: () => void;
    const running = new Promise<void>((r) => { started = r; });
    const first = c.run(shared, n, dim, longJob, (d) => { if (d > 0) started(); });
    const firstOutcome = first.then(() => 'resolved', (e: unknown) => e);
    await Promise.race([running, firstOutcome]);
    const thread1 = c.threadId;
    assert.notEqual(thread1, null);
    const t0 = performance.now();
    const second = asProjection(await c.run(shared, n, dim, { kind: 'pca' }));
    const outcome = await firstOutcome;
    assert.ok(outcome instanceof ProjectionCancelled, `the superseded job: ${String(outcome)}`);
    assert.match((outcome as Error).message, /superseded/);
    assert.equal(second.x.length, n);
    assert.deepEqual(Array.from(second.x), Array.from(pca2d(big, n, dim).x));
    assert.ok(performance.now() - t0 < 20_000, 'the second job did not wait for the first one');
    assert.notEqual(c.threadId, thread1, 'a fresh thread');
    assert.equal(c.stats.workers, 2);
    assert.equal(c.stats.cancelled, 1);
  });

  it('dispose (the panel closes) ends the running job at once and refuses new ones', async () => {
    const c = client();
    let started!: () => void;
    const running = new Promise<void>((r) => { started = r; });
    const job = c.run(toShared(big, n, dim), n, dim, longJob, (d) => { if (d > 0) started(); });
    const outcome = job.then(() => 'resolved', (e: unknown) => e);
    await Promise.race([running, outcome]);
    const t0 = performance.now();
    c.dispose();
    const err = await outcome;
    assert.ok(err instanceof ProjectionCancelled, String(err));
    assert.ok(performance.now() - t0 < 2000, 'cancelled at once, not after the job');
    assert.equal(c.busy, false);
    assert.equal(c.threadId, null, 'no thread left');
    await assert.rejects(c.run(toShared(big, 10, dim), 10, dim, { kind: 'pca' }), ProjectionCancelled);
  });

  it('a thread that exits or throws fails its job with a clear error; the next job gets a fresh thread', async () => {
    // A worker that dies on k-means with k = 13 (exit code 7) or k = 14 (an uncaught exception), else is the real one.
    const crashy = path.join(work, 'crashy-worker.js');
    fs.writeFileSync(crashy, `const { parentPort } = require('node:worker_threads');
const crash = (m) => m.job.kind === 'kmeans' && (m.job.k === 13 || m.job.k === 14);
const on = parentPort.on.bind(parentPort);
// The real worker's listener never sees the crashing jobs.
parentPort.on = (ev, fn) => on(ev, ev === 'message' ? (m) => { if (!crash(m)) fn(m); } : fn);
require(${JSON.stringify(WORKER)});
on('message', (m) => {
  if (m.job.kind === 'kmeans' && m.job.k === 13) process.exit(7);
  if (m.job.kind === 'kmeans' && m.job.k === 14) throw new Error('boom in the worker');
});
`);
    const c = client(crashy);
    const v = blobs(200, 8);
    const shared = toShared(v, 200, 8);
    const ok = asProjection(await c.run(shared, 200, 8, { kind: 'pca' }));
    assert.equal(ok.x.length, 200);
    await assert.rejects(c.run(shared, 200, 8, kmeansJob(13)), (e: Error) => {
      assert.ok(!(e instanceof ProjectionCancelled));
      assert.match(e.message, /^the projection worker stopped unexpectedly \(exit code 7\) while computing k-means \(k = 13\)$/);
      return true;
    });
    assert.equal(c.busy, false);
    const again = asProjection(await c.run(shared, 200, 8, { kind: 'pca' }));
    assert.deepEqual(Array.from(again.x), Array.from(ok.x), 'a fresh thread after the crash');
    // An uncaught exception: the 'error' event names it.
    await assert.rejects(c.run(shared, 200, 8, kmeansJob(14)), /^Error: the projection worker crashed: boom in the worker while computing k-means \(k = 14\)$/);
    assert.equal(c.threadId, null, 'the crashed thread is gone');
    assert.equal(asProjection(await c.run(shared, 200, 8, { kind: 'pca' })).x.length, 200);
    assert.equal(c.stats.workers, 3, 'one thread per crash, plus the first');
    assert.equal(c.stats.crashed, 2);
    // A job that throws inside the worker (bad input) is an error; the thread stays.
    const tid = c.threadId;
    await assert.rejects(c.run(shared, 1000, 8, { kind: 'pca' }), /bad table: 1000 rows × 8 dims in 1600 values/);
    assert.equal(c.threadId, tid, 'the same thread after a job error');
  });

  it('a missing worker file is an error that says how to fix it', async () => {
    const c = new ProjectionWorkerClient(path.join(work, 'nope.js'));
    clients.push(c);
    await assert.rejects(c.run(toShared(big, 10, dim), 10, dim, { kind: 'pca' }), /nope\.js is missing: rebuild the extension/);
  });
});
