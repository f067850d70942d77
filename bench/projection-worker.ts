// The explorer's projections through the projection worker thread, as the extension host runs them
// (ProjectionWorkerClient + dist/projection-worker.js, the explorer's parameters and seed): wall time per method
// for an N × D table of L2-normalised rows in C gaussian classes, and how often the host's event loop ran meanwhile
// (a 10 ms timer: the worker must not block it). Needs dist/projection-worker.js: run `npm run build` first.
//
//   node --import tsx bench/projection-worker.ts [--rows 5000] [--dim 64] [--classes 20] [--methods pca,umap,tsne]
//
// The last line of output is one JSON object.
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ProjectionWorkerClient, toShared } from '../src/extension/projection-client';
import { projectionJob } from '../src/extension/projection-jobs';
import type { ProjectionMethod } from '../src/protocol/webview';

const { values: a } = parseArgs({ options: {
  rows: { type: 'string', default: '5000' }, dim: { type: 'string', default: '64' }, classes: { type: 'string', default: '20' },
  methods: { type: 'string', default: 'pca,umap,tsne' },
} });
const N = Number(a.rows), D = Number(a.dim), C = Number(a.classes);
const methods = a.methods!.split(',') as ProjectionMethod[];

function table(): Float32Array {
  let s = 12345;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const centres = Array.from({ length: C }, () => Array.from({ length: D }, gauss));
  const v = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    const c = centres[i % C];
    let norm = 0;
    for (let j = 0; j < D; j++) { const x = c[j] + 0.6 * gauss(); v[i * D + j] = x; norm += x * x; }
    norm = Math.sqrt(norm);
    for (let j = 0; j < D; j++) v[i * D + j] /= norm;
  }
  return v;
}

(async () => {
  const load0 = loadavg().map((x) => Number(x.toFixed(2)));
  const shared = toShared(table(), N, D);
  const client = new ProjectionWorkerClient(path.resolve(__dirname, '..', 'dist', 'projection-worker.js'));
  const results: Record<string, { wallMs: number; workerMs: number; ticks: number; progress: number; params: unknown }> = {};
  try {
    for (const m of methods) {
      const job = projectionJob(m, N, 'cosine');
      let ticks = 0, progress = 0;
      const timer = setInterval(() => ticks++, 10);
      const t0 = performance.now();
      const r = await client.run(shared, N, D, job, () => progress++);
      const wallMs = Math.round(performance.now() - t0);
      clearInterval(timer);
      if (r.type !== 'projection' || r.x.length !== N) throw new Error(`${m}: bad result`);
      const { kind: _kind, ...params } = job;
      results[m] = { wallMs, workerMs: r.ms, ticks, progress, params };
      console.log(`${m}: ${wallMs} ms wall (${r.ms} ms in the worker), ${ticks} host timer ticks of 10 ms meanwhile, ${progress} progress messages`);
    }
  } finally {
    client.dispose();
  }
  const load1 = loadavg().map((x) => Number(x.toFixed(2)));
  console.log(JSON.stringify({ rows: N, dim: D, classes: C, results, loadavg: { start: load0, end: load1 }, time: new Date().toISOString() }));
})();
