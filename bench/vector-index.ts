// The vector index (src/core/vector-index.ts, LanceDB IVF-PQ) against exact blocked kNN (src/core/knn.ts) on a seeded
// clustered table, in one run: build time and the process's peak RSS growth, query latency p50/p99 (one query at a
// time, as `embedlab knn --index` asks), recall@10 of the index's top 10 against exact search's.
//   node --import tsx bench/vector-index.ts [--rows 100000] [--dim 128] [--queries 200]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { clusteredTable } from '../src/core/clustered-table';
import { knn } from '../src/core/knn';
import { buildIndex, openIndex, rowDistance } from '../src/core/vector-index';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, dim: { type: 'string', default: '128' }, queries: { type: 'string', default: '200' }, seed: { type: 'string', default: '7' } } });
const rows = Number(values.rows);
const dim = Number(values.dim);
const nq = Number(values.queries);

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function main(): Promise<void> {
  const t = clusteredTable(rows, dim, Number(values.seed));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vindex-'));
  try {
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
    const info = await buildIndex(t, dir, { distance: 'euclidean', source: `seeded ${rows}×${dim}` });
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    const idx = await openIndex(dir, t, 'euclidean', rowDistance('euclidean', t.vectors, dim));
    // Queries: table rows (leave-one-out as knn --query <path> does not; we keep the row itself as exact does).
    const qRows = Array.from({ length: nq }, (_, i) => Math.floor((i * rows) / nq) + 1);
    const annMs: number[] = [];
    const exactMs: number[] = [];
    let hit = 0;
    for (const r of qRows) {
      const q = t.vectors.slice(r * dim, (r + 1) * dim);
      let s = performance.now();
      const a = await idx.search(q, 1, 10);
      annMs.push(performance.now() - s);
      s = performance.now();
      const e = knn(q, 1, t.vectors, rows, dim, 10, 'euclidean');
      exactMs.push(performance.now() - s);
      const truth = new Set(e.indices);
      for (const i of a.indices) if (truth.has(i)) hit++;
    }
    idx.close();
    // Exact search of all the queries in one blocked call (how eval and a batch of queries run it): per-query time.
    const all = new Float32Array(nq * dim);
    qRows.forEach((r, i) => all.set(t.vectors.subarray(r * dim, (r + 1) * dim), i * dim));
    const sb = performance.now();
    knn(all, nq, t.vectors, rows, dim, 10, 'euclidean');
    const exactBatchMsPerQuery = (performance.now() - sb) / nq;
    const du = (d: string): number => fs.readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? du(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
    const out = {
      rows, dim, queries: nq, engine: info.engine, index: info.index, buildSeconds: +info.buildSeconds.toFixed(2),
      buildPeakRssGrowthMiB: +((peak - rss0) / 2 ** 20).toFixed(0), indexMiB: +(du(dir) / 2 ** 20).toFixed(1),
      annP50ms: +pct(annMs, 0.5).toFixed(2), annP99ms: +pct(annMs, 0.99).toFixed(2),
      exactP50ms: +pct(exactMs, 0.5).toFixed(2), exactP99ms: +pct(exactMs, 0.99).toFixed(2), exactBatchMsPerQuery: +exactBatchMsPerQuery.toFixed(2),
      recallAt10: +(hit / (10 * nq)).toFixed(4), loadavg: os.loadavg().map((x) => +x.toFixed(1)),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
void main();
