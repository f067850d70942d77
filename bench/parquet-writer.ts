// Our streaming Parquet writer (src/core/parquet-writer.ts, through openTableWriter) against hyparquet-writer's
// streaming ParquetWriter, on the same table: N rows × dim float32 (path, label, embedding list<float>), appended in
// batches as `embedlab embed` does. Each writer runs in its own process (peak RSS is per process); then a real
// DuckDB reads each file (row count, Σ of every value, a sample of rows compared exactly) and so does our reader.
//
//   node --import tsx bench/parquet-writer.ts [--rows 1000000] [--dim 64] [--batch 1000] [--codec UNCOMPRESSED|SNAPPY]
// Results: docs/tables.md ("Why our own Parquet writer").
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' }, dim: { type: 'string', default: '64' }, batch: { type: 'string', default: '1000' },
    codec: { type: 'string', default: 'UNCOMPRESSED' }, child: { type: 'string' }, out: { type: 'string' },
  },
});
const N = Number(args.rows);
const DIM = Number(args.dim);
const BATCH = Number(args.batch);

/** Batch b's rows: deterministic, distinct values (so DuckDB's Σ checks every value). */
function batchOf(start: number, n: number): { paths: string[]; labels: string[]; vectors: Float32Array } {
  const paths: string[] = new Array(n);
  const labels: string[] = new Array(n);
  const vectors = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const r = start + i;
    paths[i] = `class_${r % 100}/image_${r}.jpg`;
    labels[i] = r % 7 === 0 ? '' : `class_${r % 100}`;
    for (let j = 0; j < DIM; j++) vectors[i * DIM + j] = Math.fround(Math.sin(r * 0.001 + j) * 0.5);
  }
  return { paths, labels, vectors };
}

async function writeOurs(file: string): Promise<void> {
  const { openTableWriter } = await import('../src/core/table');
  const w = openTableWriter(file, { dim: DIM });
  for (let s = 0; s < N; s += BATCH) {
    const b = batchOf(s, Math.min(BATCH, N - s));
    await w.append(b.paths.map((p, i) => ({ path: p, label: b.labels[i] })), b.vectors);
  }
  await w.commit();
}

async function writeHyparquet(file: string, codec: string): Promise<void> {
  const hw = await import('hyparquet-writer');
  const schema = [
    { name: 'root', num_children: 3 },
    { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'label', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'embedding', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'FLOAT', repetition_type: 'REQUIRED' },
  ] as const;
  const writer = hw.fileWriter(file);
  const pw = new hw.ParquetWriter({ writer, schema: schema as never, codec: codec as never, statistics: false });
  // Row groups of 8,192 rows, as ours: write() cuts each call's columns into row groups, so hand it whole groups.
  const GROUP = 8192;
  for (let s = 0; s < N; s += GROUP) {
    const n = Math.min(GROUP, N - s);
    const paths: string[] = [];
    const labels: string[] = [];
    const lists: number[][] = [];
    for (let b0 = 0; b0 < n; b0 += BATCH) {
      const b = batchOf(s + b0, Math.min(BATCH, n - b0));
      paths.push(...b.paths);
      labels.push(...b.labels);
      for (let i = 0; i < b.paths.length; i++) lists.push(Array.from(b.vectors.subarray(i * DIM, (i + 1) * DIM))); // its API takes arrays (a Float32Array is refused)
    }
    await pw.write({
      columnData: [
        { name: 'path', data: paths, nullable: false }, { name: 'label', data: labels, nullable: false },
        { name: 'embedding', data: lists, nullable: false },
      ],
      rowGroupSize: GROUP,
    });
  }
  await pw.finish();
}

async function child(which: string, file: string): Promise<void> {
  const t0 = process.hrtime.bigint();
  if (which === 'ours') await writeOurs(file);
  else await writeHyparquet(file, String(args.codec));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

async function duckCheck(file: string): Promise<{ rows: number; sumOk: boolean; sampleOk: boolean; emptyLabels: number }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    const f = `'${file}'`;
    const [agg] = (await db.runAndReadAll(`select count(*)::DOUBLE as n, sum(list_sum(embedding::DOUBLE[])) as s, count(*) filter (where label = '')::DOUBLE as e from read_parquet(${f})`)).getRowObjectsJS() as Array<{ n: number; s: number; e: number }>;
    let expected = 0;
    let empty = 0;
    for (let s = 0; s < N; s += BATCH) {
      const b = batchOf(s, Math.min(BATCH, N - s));
      for (const v of b.vectors) expected += v;
      for (const l of b.labels) if (l === '') empty++;
    }
    const sample = [0, 1, 4097, 8191, 8192, Math.floor(N / 2), N - 1].filter((r) => r < N);
    const got = (await db.runAndReadAll(`select path, label, embedding from (select row_number() over () - 1 as r, * from read_parquet(${f})) where r in (${sample.join(',')}) order by r`)).getRowObjectsJS() as Array<{ path: string; label: string; embedding: number[] }>;
    const sampleOk = got.length === sample.length && got.every((g, k) => {
      const b = batchOf(sample[k], 1);
      return g.path === b.paths[0] && g.label === b.labels[0] && g.embedding.every((x, j) => Math.fround(x) === b.vectors[j]);
    });
    return { rows: agg.n, sumOk: Math.abs(agg.s - expected) <= 1e-6 * N * DIM, sampleOk, emptyLabels: agg.e === empty ? empty : -1 };
  } finally {
    db.closeSync();
  }
}

async function main(): Promise<void> {
  if (args.child) return child(args.child, String(args.out));
  const dir = mkdtempSync(join(tmpdir(), 'pq-bench-'));
  try {
    const results: Record<string, unknown>[] = [];
    for (const which of ['ours', 'hyparquet-writer']) {
      const file = join(dir, `${which}.parquet`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', which, '--out', file, '--rows', String(N), '--dim', String(DIM), '--batch', String(BATCH), '--codec', String(args.codec)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) { results.push({ writer: which, failed: r.stderr.slice(-2000) }); continue; }
      const timing = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seconds: number; maxRssMiB: number };
      const duck = await duckCheck(file);
      results.push({ writer: which, ...timing, rowsPerSec: Math.round(N / timing.seconds), fileMiB: statSync(file).size / 2 ** 20, duckdb: duck });
      rmSync(file);
    }
    process.stdout.write(JSON.stringify({ rows: N, dim: DIM, batch: BATCH, hyparquetCodec: args.codec, results }, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
