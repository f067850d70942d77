// Sharded embedding and tables in parts (issue 18), through the real CLI (dist/cli.js): 3 shards run as 3 separate
// processes at once (one with --shard i/N, one as a Kubernetes Indexed Job pod, one as a Slurm array task) give
// exactly the rows and vectors of one unsharded run; a shard killed mid-way leaves no part and its re-run completes
// the table; a truncated part is named by status and by eval and fixed by re-running its shard; a folder of two
// models is refused; eval on the folder equals eval on the single table; DuckDB's one-line query reads the parts.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { readTable } from '../../src/core/table';
import { cli, collect, jsonLines, onlyRunDir, smallConfig, startCli, tmpDir, writeConfig } from './helpers';

const work = tmpDir('shards');
const data = path.join(work, 'data');
const model = path.join(work, 'model');
const modelB = path.join(work, 'model-b');
const single = path.join(work, 'single.parquet');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test.before(async () => {
  assert.equal((await cli(['synth', data, '--classes', '3', '--per-class', '100', '--size', '32', '--seed', '5'])).code, 0);
  const cfg = writeConfig(work, smallConfig(data, undefined, { training: { epochs: 1 }, data: { samplesPerEpoch: 32 } }));
  const r = await cli(['train', cfg, '--out', path.join(work, 'runs')]);
  assert.equal(r.code, 0, r.stderr);
  const run = onlyRunDir(path.join(work, 'runs'));
  // Shards share an exported model (a run folder would be exported by each shard at once).
  assert.equal((await cli(['export', run, '--type', 'branch', '--out', model])).code, 0);
  assert.equal((await cli(['export', run, '--type', 'branch', '--untrained', '--out', modelB])).code, 0);
  const s = await cli(['embed', '--model', model, data, '--out', single, '--engine', 'tfjs']);
  assert.equal(s.code, 0, s.stderr);
});

const embedArgs = (out: string, ...more: string[]) => ['embed', '--model', model, data, '--out', out, '--engine', 'tfjs', '--json', ...more];
const noShardEnv = { JOB_COMPLETION_INDEX: '', EMBEDLAB_SHARD_COUNT: '', SLURM_ARRAY_TASK_ID: '', SLURM_ARRAY_TASK_COUNT: '', SLURM_ARRAY_TASK_MIN: '' };

async function sameAsSingle(folder: string): Promise<void> {
  const a = await readTable(single);
  const b = await readTable(folder);
  assert.deepEqual(b.paths, a.paths);
  assert.deepEqual(b.labels, a.labels);
  assert.equal(b.dim, a.dim);
  assert.equal(b.vectors.length, a.vectors.length);
  let worst = 0;
  for (let i = 0; i < a.vectors.length; i++) worst = Math.max(worst, Math.abs(a.vectors[i] - b.vectors[i]));
  assert.ok(worst <= 1e-6, `largest difference ${worst}`);
}

const parts = path.join(work, 'parts');

test('3 shards as 3 processes at once (--shard 0/3, a Kubernetes pod, a Slurm task) give the rows and vectors of one run', async () => {
  const runs = [
    startCli(embedArgs(parts, '--shard', '0/3'), { env: noShardEnv }),
    startCli(embedArgs(parts, '--shard', 'auto'), { env: { ...noShardEnv, JOB_COMPLETION_INDEX: '1', EMBEDLAB_SHARD_COUNT: '3' } }),
    startCli(embedArgs(parts, '--shard', 'auto'), { env: { ...noShardEnv, SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' } }),
  ].map(collect);
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const summaries = results.map((r) => jsonLines(r.stdout).find((l) => l.type === 'embedded')!);
  assert.deepEqual(summaries.map((s) => (s.shard as { index: number }).index), [0, 1, 2]);
  assert.equal(summaries.reduce((n, s) => n + (s.filesSeen as number), 0), 300);
  assert.deepEqual(fs.readdirSync(parts).filter((f) => f.endsWith('.parquet')).sort(), ['part-0-of-3.parquet', 'part-1-of-3.parquet', 'part-2-of-3.parquet']);
  const man = JSON.parse(fs.readFileSync(path.join(parts, 'part-1-of-3.manifest.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(man.filesSeen, 100);
  assert.equal(man.rows, 100);
  assert.equal(man.skipped, 0);
  assert.match(man.modelHash as string, /^sha256:[0-9a-f]{64}$/);
  const st = await cli(['status', parts, '--json']);
  assert.equal(st.code, 0, st.stdout);
  const status = JSON.parse(st.stdout) as { complete: boolean; rows: number; parts: Array<{ state: string }> };
  assert.equal(status.complete, true);
  assert.equal(status.rows, 300);
  await sameAsSingle(parts);
});

test('eval on the folder of parts (and on a glob) equals eval on the single table', async () => {
  const strip = (s: string) => { const j = JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>; delete j.table; delete j.timingsMs; return j; };
  const a = await cli(['eval', single, '--json']);
  const b = await cli(['eval', parts, '--json']);
  const c = await cli(['eval', path.join(parts, 'part-*.parquet'), '--json']);
  for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(strip(b.stdout), strip(a.stdout));
  assert.deepEqual(strip(c.stdout), strip(a.stdout));
  const k = await cli(['knn', parts, '--query', readFirstPath(), '-k', '3', '--json']);
  const k1 = await cli(['knn', single, '--query', readFirstPath(), '-k', '3', '--json']);
  assert.equal(k.code, 0, k.stderr);
  assert.deepEqual((JSON.parse(k.stdout) as { neighbors: unknown }).neighbors, (JSON.parse(k1.stdout) as { neighbors: unknown }).neighbors);
});

function readFirstPath(): string {
  const cls = fs.readdirSync(data).sort()[1];
  return `${cls}/${fs.readdirSync(path.join(data, cls)).sort()[3]}`;
}

test('DuckDB\'s one-line query reads the folder of parts as one table', async () => {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const glob = path.join(parts, 'part-*.parquet').replace(/'/g, "''");
  const reader = await con.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT path) AS paths, sum(embedding[1]) AS s FROM read_parquet('${glob}')`);
  const [n, paths, s] = reader.getRows()[0];
  const t = await readTable(single);
  let sum = 0;
  for (let i = 0; i < t.paths.length; i++) sum += t.vectors[i * t.dim];
  assert.equal(Number(n), 300);
  assert.equal(Number(paths), 300);
  assert.ok(Math.abs(Number(s) - sum) < 1e-3, `${String(s)} vs ${sum}`);
  con.closeSync();
  db.closeSync();
});

test('a shard killed mid-way leaves no part (status and eval name it missing); its re-run completes the table', async () => {
  const folder = path.join(work, 'killed');
  for (const s of ['0/3', '2/3']) assert.equal((await cli(embedArgs(folder, '--shard', s))).code, 0);
  const child = startCli(embedArgs(folder, '--shard', '1/3', '--batch', '4'), { env: noShardEnv });
  const done = collect(child);
  let progressed = 0;
  await new Promise<void>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      progressed += (d.toString().match(/"type":"progress"/g) ?? []).length;
      if (progressed >= 3) { child.kill('SIGKILL'); resolve(); }
    });
  });
  const r = await done;
  assert.equal(r.code, null, 'the shard was killed');
  const names = fs.readdirSync(folder);
  assert.ok(!names.includes('part-1-of-3.parquet'), names.join(', '));
  assert.ok(names.some((n) => /^\.part-1-of-3\.parquet\..*\.tmp$/.test(n)), `the killed job's temp file: ${names.join(', ')}`);
  const st = await cli(['status', folder]);
  assert.equal(st.code, 1);
  assert.match(st.stdout, /part-1-of-3\.parquet\s+missing/);
  assert.match(st.stdout, /re-run shard 1\/3/);
  const e = await cli(['eval', folder]);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /part-1-of-3\.parquet: missing/);
  assert.equal((await cli(embedArgs(folder, '--shard', '1/3'))).code, 0);
  assert.equal((await cli(['status', folder])).code, 0);
  assert.ok(!fs.readdirSync(folder).some((n) => n.endsWith('.tmp')), 'the re-run removed the dead temp file');
  await sameAsSingle(folder);
});

test('a truncated part is named by status and eval; re-running its shard replaces only that part', async () => {
  const folder = path.join(work, 'truncated');
  fs.cpSync(parts, folder, { recursive: true });
  const victim = path.join(folder, 'part-2-of-3.parquet');
  fs.truncateSync(victim, Math.floor(fs.statSync(victim).size / 2));
  const st = await cli(['status', folder]);
  assert.equal(st.code, 1);
  assert.match(st.stdout, /part-2-of-3\.parquet\s+truncated/);
  const e = await cli(['eval', folder]);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /part-2-of-3\.parquet: truncated/);
  const before = fs.statSync(path.join(folder, 'part-0-of-3.parquet')).mtimeMs;
  assert.equal((await cli(embedArgs(folder, '--shard', '2/3'))).code, 0);
  assert.equal(fs.statSync(path.join(folder, 'part-0-of-3.parquet')).mtimeMs, before, 'part 0 untouched');
  assert.equal((await cli(['status', folder])).code, 0);
  await sameAsSingle(folder);
});

test('parts of two models in one folder are refused (embed, and reading a glob of two tables)', async () => {
  const r = await cli(['embed', '--model', modelB, data, '--out', parts, '--shard', '1/3', '--engine', 'tfjs']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /holds parts of another model \(part-0-of-3\.parquet/);
  const other = path.join(work, 'two', 'b.parquet');
  fs.mkdirSync(path.dirname(other));
  fs.copyFileSync(single, path.join(work, 'two', 'a.parquet'));
  assert.equal((await cli(['embed', '--model', modelB, data, '--out', other, '--engine', 'tfjs'])).code, 0);
  const e = await cli(['eval', path.join(work, 'two', '*.parquet')]);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /part .*b\.parquet was embedded with another model/);
  // A part of another split in the folder is refused too.
  const n4 = await cli(embedArgs(parts, '--shard', '0/4'));
  assert.equal(n4.code, 2);
  assert.match(n4.stderr, /parts of another split than 4 shards/);
});

for (const [spec, env, msg] of [
  ['3/2', {}, /shard 3 is out of range: shards are numbered from 0 to 1/],
  ['0/0', {}, /number of shards must be at least 1/],
  ['2/2', {}, /shard 2 is out of range/],
  ['a/3', {}, /the index must be a whole number/],
  ['1', {}, /--shard must be i\/N/],
  ['auto', {}, /neither JOB_COMPLETION_INDEX .* nor SLURM_ARRAY_TASK_ID/],
  ['auto', { JOB_COMPLETION_INDEX: '0' }, /pass --shard-count N or set EMBEDLAB_SHARD_COUNT/],
  ['auto', { JOB_COMPLETION_INDEX: '5', EMBEDLAB_SHARD_COUNT: '3' }, /JOB_COMPLETION_INDEX=5, 3 shards\): shard 5 is out of range/],
] as const) {
  test(`embed --shard ${spec}${Object.keys(env).length ? ` with ${JSON.stringify(env)}` : ''} is refused (exit 2) before the model loads`, async () => {
    const r = await cli(embedArgs(path.join(work, 'never'), '--shard', spec), { env: { ...noShardEnv, ...env } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.ok(!fs.existsSync(path.join(work, 'never')));
  });
}
