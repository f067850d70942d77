// `embedlab index` and `knn`/`classify --index` through the real CLI (dist/cli.js), on a seeded clustered table:
// the index's neighbours are exact search's (same rows, exact distances) for the queries checked; an index of
// another table is refused (exit 2); with LanceDB missing (a copy of the CLI whose node_modules lacks it), knn says so
// and searches exactly.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusteredTable } from '../../src/core/clustered-table';
import { openTableWriter } from '../../src/core/table';
import { CLI, ROOT, cli, tmpDir } from './helpers';
import { spawnSync } from 'node:child_process';

const work = tmpDir('index-cli');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

async function writeTable(file: string, rows: number, seed: number): Promise<void> {
  const t = clusteredTable(rows, 16, seed, 20);
  const w = openTableWriter(file, { dim: 16, meta: { distance: 'euclidean' } });
  await w.append(t.paths.map((p, i) => ({ path: p, label: t.labels[i] })), t.vectors);
  await w.commit();
}

const table = path.join(work, 'ref.parquet');
const index = path.join(work, 'ref.index');

test.before(async () => {
  await writeTable(table, 3000, 3);
  await writeTable(path.join(work, 'other.parquet'), 3000, 4);
});

test('index, then knn --index gives exact search\'s neighbours and distances and says which search ran', { timeout: 600_000 }, async () => {
  // Every list probed and 100 × k candidates re-ranked on the full vectors: the top 5 are exact search's whatever the
  // k-means and PQ training drew (at the defaults the index is approximate: a 5th neighbour can be missed; the
  // 100,000-row test in test/unit measures recall there).
  const b = await cli(['index', table, '--out', index, '--partitions', '16', '--nprobes', '16', '--refine', '100', '--json']);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(fs.existsSync(path.join(index, 'index.json')));
  for (const q of ['img/17.png', 'img/2500.png']) {
    const a = await cli(['knn', table, '--query', q, '-k', '5', '--index', index, '--json']);
    const e = await cli(['knn', table, '--query', q, '-k', '5', '--json']);
    assert.equal(a.code, 0, a.stderr);
    const ja = JSON.parse(a.stdout) as { search: string; neighbors: Array<{ path: string; distance: number }> };
    const je = JSON.parse(e.stdout) as { search: string; neighbors: Array<{ path: string; distance: number }> };
    assert.match(ja.search, /^index IVF_PQ \(lancedb 0\.31\.0\)$/);
    assert.equal(je.search, 'exact');
    assert.deepEqual(ja.neighbors.map((n) => n.path), je.neighbors.map((n) => n.path));
    ja.neighbors.forEach((n, i) => assert.ok(Math.abs(n.distance - je.neighbors[i].distance) < 1e-5));
  }
  const c = await cli(['classify', path.join(work, 'other.parquet'), '--reference', table, '--method', 'knn', '-k', '5', '--closed-set', '--index', index, '--out', path.join(work, 'c.csv'), '--json']);
  const ce = await cli(['classify', path.join(work, 'other.parquet'), '--reference', table, '--method', 'knn', '-k', '5', '--closed-set', '--out', path.join(work, 'ce.csv'), '--json']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(ce.code, 0, ce.stderr);
  assert.equal((JSON.parse(ce.stdout.trim().split('\n').pop()!) as { search: string }).search, 'exact');
  assert.match((JSON.parse(c.stdout.trim().split('\n').pop()!) as { search: string }).search, /^index IVF_PQ/);
  // The two result tables agree on (nearly) every prediction: the index is approximate.
  const pa = fs.readFileSync(path.join(work, 'c.csv'), 'utf8').split('\n').map((l) => l.split(',')[2]);
  const pe = fs.readFileSync(path.join(work, 'ce.csv'), 'utf8').split('\n').map((l) => l.split(',')[2]);
  const same = pa.filter((p, i) => p === pe[i]).length;
  assert.ok(same >= 0.98 * pe.length, `${same} of ${pe.length} predictions agree`);
});

test('an index built from another table is refused (exit 2); --index with the centroid method is bad usage', async () => {
  const r = await cli(['knn', path.join(work, 'other.parquet'), '--query', 'img/1.png', '--index', index]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /was built from another table .*ref\.parquet/);
  const c = await cli(['classify', table, '--reference', table, '--closed-set', '--index', index, '--out', path.join(work, 'x.csv')]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--index is for --method knn/);
});

test('without LanceDB installed, knn --index says so and searches exactly (a copy of the CLI without the package)', () => {
  const copy = path.join(work, 'no-lance');
  fs.mkdirSync(path.join(copy, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(copy, 'node_modules'));
  fs.copyFileSync(CLI, path.join(copy, 'dist', 'cli.js'));
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === '@lancedb' || name === 'apache-arrow' || name.startsWith('.')) continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(copy, 'node_modules', name));
  }
  const r = spawnSync(process.execPath, [path.join(copy, 'dist', 'cli.js'), 'knn', table, '--query', 'img/17.png', '-k', '3', '--index', index, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /--index .* not used: the optional dependency @lancedb\/lancedb is not installed .*; searching exactly instead/);
  const j = JSON.parse(r.stdout) as { search: string; indexFallbackReason: string; neighbors: unknown[] };
  assert.equal(j.search, 'exact');
  assert.match(j.indexFallbackReason, /not installed/);
  assert.equal(j.neighbors.length, 3);
  const b = spawnSync(process.execPath, [path.join(copy, 'dist', 'cli.js'), 'index', table, '--out', path.join(work, 'never')], { encoding: 'utf8' });
  assert.equal(b.status, 2, b.stderr);
  assert.match(b.stderr, /cannot build an index: the optional dependency @lancedb\/lancedb is not installed/);
});
