// evaluateTableParallel: the same report as evaluateTable (retrieval on this thread, k-means + verification in a
// real worker thread), the inline fallback when the worker cannot start, and errors raised inside the worker.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { evaluateTable, type EvalReport } from '../../src/core/metrics';
import { evaluateTableParallel, PARALLEL_MIN_ROWS } from '../../src/core/evaluate-parallel';
import { Rng } from '../../src/core/rng';

function table(n: number, dim: number, classes: number, seed: number): { v: Float32Array; labels: Int32Array } {
  const r = new Rng(seed);
  const centres = Float32Array.from({ length: classes * dim }, () => r.next() * 2 - 1);
  const labels = Int32Array.from({ length: n }, (_, i) => (i % 11 === 0 ? -1 : i % classes)); // some unlabelled rows
  const v = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) v[i * dim + d] = centres[Math.max(0, labels[i]) * dim + d] + (r.next() - 0.5) * 1.5;
  return { v, labels };
}
const strip = (r: EvalReport) => ({ ...r, timingsMs: null });

test('the parallel evaluation gives the same report as evaluateTable, from a worker thread', async () => {
  const n = PARALLEL_MIN_ROWS + 500, dim = 24;
  const { v, labels } = table(n, dim, 30, 5);
  const notes: string[] = [];
  const par = await evaluateTableParallel(v, dim, labels, 'euclidean', { seed: 4, maxPairs: 50_000, targetPrecision: 0.9, onNote: (m) => notes.push(m) });
  const seq = evaluateTable(v, dim, labels, 'euclidean', { seed: 4, maxPairs: 50_000, targetPrecision: 0.9 });
  assert.deepEqual(notes, [], 'the worker ran (no fallback note)');
  assert.deepEqual(strip(par), strip(seq));
  assert.ok(par.clustering && par.clustering.k === 30);
  assert.ok(par.timingsMs.total > 0 && par.timingsMs.clustering > 0 && par.timingsMs.verification > 0);
  // Cosine too (the worker unit-normalises for k-means as evaluateTable does).
  const parC = await evaluateTableParallel(v, dim, labels, 'cosine', { seed: 2, maxPairs: 20_000 });
  assert.deepEqual(strip(parC), strip(evaluateTable(v, dim, labels, 'cosine', { seed: 2, maxPairs: 20_000 })));
});

test('no worker: the parts run inline with a note, and the report is the same', async () => {
  const n = PARALLEL_MIN_ROWS, dim = 8;
  const { v, labels } = table(n, dim, 12, 9);
  const notes: string[] = [];
  const rep = await evaluateTableParallel(v, dim, labels, 'euclidean', { seed: 1, maxPairs: 10_000, workerScript: path.join(__dirname, 'no-such-worker.js'), onNote: (m) => notes.push(m) });
  assert.equal(notes.length, 1);
  assert.match(notes[0], /evaluation worker could not run .*no-such-worker\.js.*on this thread/);
  assert.deepEqual(strip(rep), strip(evaluateTable(v, dim, labels, 'euclidean', { seed: 1, maxPairs: 10_000 })));
});

test('an error inside the worker is an error, not a fallback', async () => {
  const n = PARALLEL_MIN_ROWS, dim = 4;
  const { v, labels } = table(n, dim, 5, 3);
  const notes: string[] = [];
  await assert.rejects(
    evaluateTableParallel(v, dim, labels, 'euclidean', { workerScript: path.join(__dirname, 'fixtures', 'failing-eval-worker.js'), onNote: (m) => notes.push(m) }),
    /k-means failed: boom from the worker/,
  );
  assert.deepEqual(notes, []);
});
