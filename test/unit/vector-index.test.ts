// The vector index (src/core/vector-index.ts, LanceDB IVF-PQ) against exact search (src/core/knn.ts) on a seeded
// 100,000 × 128 clustered table: recall@10 ≥ 0.95 asserted; the distances it returns are the exact ones; an index
// built from another table, or for another distance, is refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusteredTable } from '../../src/core/clustered-table';
import { knn } from '../../src/core/knn';
import { buildIndex, loadLance, openIndex, rowDistance } from '../../src/core/vector-index';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vindex-test-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('IVF-PQ index of a seeded 100,000 × 128 table: recall@10 ≥ 0.95 against exact kNN; exact distances; another table refused', { timeout: 900_000 }, async (t) => {
  if (!(await loadLance()).ok) { t.skip('@lancedb/lancedb is not installed (an optional dependency)'); return; }
  const rows = 100_000;
  const dim = 128;
  const table = clusteredTable(rows, dim, 18);
  const info = await buildIndex(table, dir, { distance: 'euclidean', source: 'seeded' });
  assert.equal(info.table.rows, rows);
  const idx = await openIndex(dir, table, 'euclidean', rowDistance('euclidean', table.vectors, dim));
  const nq = 200;
  const queries = new Float32Array(nq * dim);
  // Queries near the data but not in it: a table row moved by a little noise (seeded: row r, coordinate j).
  for (let i = 0; i < nq; i++) {
    const r = Math.floor((i * rows) / nq) + 3;
    for (let j = 0; j < dim; j++) queries[i * dim + j] = table.vectors[r * dim + j] + 0.05 * Math.sin(i * 131 + j * 7);
  }
  const exact = knn(queries, nq, table.vectors, rows, dim, 10, 'euclidean');
  const ann = await idx.search(queries, nq, 10);
  idx.close();
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const truth = new Set(exact.indices.subarray(q * 10, q * 10 + 10));
    for (let t2 = 0; t2 < 10; t2++) {
      const row = ann.indices[q * 10 + t2];
      if (truth.has(row)) hit++;
      // The distance shown is the exact one (recomputed here in float64 from the vectors).
      let s = 0;
      for (let j = 0; j < dim; j++) { const d = queries[q * dim + j] - table.vectors[row * dim + j]; s += d * d; }
      assert.ok(Math.abs(ann.distances[q * 10 + t2] - Math.sqrt(s)) < 1e-4);
    }
  }
  const recall = hit / (10 * nq);
  t.diagnostic(`recall@10 ${recall} (${info.index.numPartitions} partitions, nprobes ${info.index.nprobes}, refine ${info.index.refineFactor}; build ${info.buildSeconds.toFixed(1)} s)`);
  assert.ok(recall >= 0.95, `recall@10 ${recall}`);

  // Another table: one vector changed is another table.
  const other = { ...table, vectors: table.vectors.slice() };
  other.vectors[5] += 1;
  await assert.rejects(openIndex(dir, other, 'euclidean', rowDistance('euclidean', other.vectors, dim)), /was built from another table/);
  await assert.rejects(openIndex(dir, table, 'cosine', rowDistance('cosine', table.vectors, dim)), /built for euclidean distance, this search uses cosine/);
  await assert.rejects(openIndex(path.join(dir, 'lance'), table, 'euclidean', rowDistance('euclidean', table.vectors, dim)), /is not a vector index \(no index\.json\)/);
});
