// NaN and Infinity below the table readers: the metrics' threshold sweep (which looped forever on a NaN distance)
// and the kNN search (which returned one neighbour k times at distance 0 for a NaN row) refuse them, naming the row.
// Each runs in a child process with a time limit, so a regression to the endless loop fails instead of hanging.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

function runSnippet(code: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

test('thresholdAnalysis refuses a NaN pair distance (it looped forever)', () => {
  const r = runSnippet(`
    const { thresholdAnalysis } = require('./src/core/metrics.ts');
    try { thresholdAnalysis(new Float64Array([0.1, NaN, 0.3]), new Float64Array([0.5, 0.7]), 0.9); console.log('no error'); }
    catch (e) { console.log('error: ' + e.message); }
    const ok = thresholdAnalysis(new Float64Array([0.1, 0.3]), new Float64Array([0.5, 0.7]), 0.9);
    console.log('auc ' + ok.rocAuc);`);
  assert.equal(r.signal, null, `killed after 30 s: the sweep did not end (${r.stderr})`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /error: thresholdAnalysis: a pair distance is NaN/);
  assert.match(r.stdout, /auc 1\n/); // finite input still works: every positive is nearer than every negative
});

test('knn refuses a NaN or Infinity row, naming it, on every path (query, gallery, leave-one-out)', () => {
  const r = runSnippet(`
    const { knn, knnLeaveOneOut } = require('./src/core/knn.ts');
    const dim = 3, n = 6;
    const g = new Float32Array(n * dim).map((_, i) => i % 5);
    const bad = g.slice(); bad[4 * dim + 1] = NaN;
    const inf = g.slice(); inf[2 * dim] = -Infinity;
    const tries = {
      query: () => knn(new Float32Array([NaN, 0, 0]), 1, g, n, dim, 3, 'euclidean'),
      gallery: () => knn(new Float32Array([1, 1, 1]), 1, bad, n, dim, 3, 'cosine'),
      same: () => knn(bad, n, bad, n, dim, 2, 'euclidean', { excludeSelf: true }),
      loo: () => knnLeaveOneOut(inf, n, dim, 2, 'squared-euclidean', {}, () => {}),
    };
    for (const [name, f] of Object.entries(tries)) {
      try { const res = f(); console.log(name + ': no error ' + JSON.stringify(Array.from(res.indices ?? []))); }
      catch (e) { console.log(name + ': ' + e.message); }
    }
    const ok = knn(g.subarray(0, dim), 1, g, n, dim, 2, 'euclidean');
    console.log('ok ' + Array.from(ok.indices).join(','));`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /query: knn: query row 0 holds NaN/);
  assert.match(r.stdout, /gallery: knn: gallery row 4 holds NaN/);
  assert.match(r.stdout, /same: knn: query row 4 holds NaN/);
  assert.match(r.stdout, /loo: knn: query row 2 holds -Infinity/);
  // Row 0 is [0,1,2], row 5 is [0,1,2] again (values i % 5): both at distance 0, the smaller index first.
  assert.match(r.stdout, /ok 0,5\n/);
});
