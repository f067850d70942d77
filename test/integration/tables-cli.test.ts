// Bad and foreign tables through the real CLI (dist/cli.js): NaN / Infinity refused by eval, eval --reference and
// knn with exit 2 naming the row and column (eval hung forever on a NaN); Parquet written by DuckDB with ZSTD read by
// eval; damaged Parquet and malformed CSV exit 2 naming the file; `-k -5` gets a real message; paths holding
// terminal escape codes are printed escaped.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { collect, startCli, tmpDir, type CliResult } from './helpers';

const work = tmpDir('tables');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

/** The CLI, killed after `ms` (a hang fails the test instead of stalling the suite). */
async function cliWithin(args: string[], ms = 60_000): Promise<CliResult & { killed: boolean }> {
  const child = startCli(args);
  let killed = false;
  const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, ms);
  const r = await collect(child);
  clearTimeout(timer);
  return { ...r, killed };
}

/** A labelled CSV table: 3 classes × 4 rows of dim 4, well separated; `edit` may change one value. */
function csvTable(name: string, edit?: { row: number; col: number; value: string }): string {
  const lines = ['path,label,emb_0,emb_1,emb_2,emb_3'];
  for (let i = 0; i < 12; i++) {
    const c = i % 3;
    const v = [0, 1, 2, 3].map((j) => String((j === c ? 10 : 0) + ((i * 7 + j) % 5) * 0.01));
    if (edit && edit.row === i + 1) v[edit.col] = edit.value;
    lines.push(`c${c}/img${i}.png,c${c},${v.join(',')}`);
  }
  const file = path.join(work, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

for (const value of ['NaN', 'Infinity', '-Infinity']) {
  test(`eval refuses a table holding ${value} (exit 2, row and column named) instead of hanging`, async () => {
    const file = csvTable(`bad-${value}.csv`, { row: 5, col: 2, value });
    const r = await cliWithin(['eval', file]);
    assert.equal(r.killed, false, 'eval did not finish within 60 s');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`bad-${value}\\.csv: row 5, column emb_2: ${value}`));
  });
}

test('eval --reference refuses a reference table holding NaN (exit 2)', async () => {
  const good = csvTable('good.csv');
  const ref = csvTable('ref-nan.csv', { row: 1, col: 0, value: 'NaN' });
  const ok = await cliWithin(['eval', good, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const r = await cliWithin(['eval', good, '--reference', ref]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /ref-nan\.csv: row 1, column emb_0: NaN/);
});

test('knn refuses a table holding NaN (exit 2), even when the query row is a finite one', async () => {
  const file = csvTable('knn-nan.csv', { row: 3, col: 1, value: 'NaN' });
  const r = await cliWithin(['knn', file, '--query', 'c0/img0.png', '-k', '3']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /knn-nan\.csv: row 3, column emb_1: NaN/);
});

test('eval reads a ZSTD Parquet table written by DuckDB (polars\' default codec), and refuses its NaN', async () => {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    const file = path.join(work, 'duck.parquet');
    const bad = path.join(work, 'duck-nan.parquet');
    const select = (nanRow: number) => `select 'c' || (i % 3)::varchar || '/' || i::varchar || '.png' as path, 'c' || (i % 3)::varchar as label,
      [case when i % 3 = 0 then 10.0 else 0.0 end + i * 0.001, case when i % 3 = 1 then 10.0 else 0.0 end,
       case when i = ${nanRow} then 'nan'::FLOAT else (case when i % 3 = 2 then 10.0 else 0.0 end) end]::FLOAT[] as embedding from range(30) t(i)`;
    await db.run(`copy (${select(-1)}) to '${file}' (format parquet, compression zstd)`);
    await db.run(`copy (${select(17)}) to '${bad}' (format parquet, compression zstd)`);
    const r = await cliWithin(['eval', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rows: number; retrieval: { precisionAt1: number } };
    assert.equal(report.rows, 30);
    assert.equal(report.retrieval.precisionAt1, 1); // three tight, far-apart clusters
    const b = await cliWithin(['eval', bad]);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /duck-nan\.parquet: row 18, column embedding\[2\]: NaN/);
  } finally {
    db.closeSync();
  }
});

test('a damaged Parquet file is bad data: exit 2, the file named', async () => {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  const file = path.join(work, 'damaged.parquet');
  try {
    await db.run(`copy (select 'p' || i::varchar as path, 'c' || (i % 2)::varchar as label, [i, 1]::FLOAT[] as embedding from range(20) t(i)) to '${file}' (format parquet, compression uncompressed)`);
  } finally {
    db.closeSync();
  }
  const bytes = fs.readFileSync(file);
  bytes.fill(0xff, 4, 24); // the first page header
  fs.writeFileSync(file, bytes);
  for (const args of [['eval', file], ['knn', file, '--query', 'p1']]) {
    const r = await cliWithin(args);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /damaged\.parquet/, `${args[0]}: the message names the file`);
  }
});

test('a CSV table with mixed vector lengths is bad data: exit 2, the row named', async () => {
  const bad = path.join(work, 'mixed.csv');
  fs.writeFileSync(bad, 'path,label,emb_0,emb_1,emb_2\na.png,a,1,2,3\nb.png,a,1,2\nc.png,b,1,2,3\n');
  for (const args of [['eval', bad], ['knn', bad, '--query', 'a.png']]) {
    const r = await cliWithin(args);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /mixed\.csv: row 2 .*has 2 values, expected 3/);
  }
});

test('-k -5 says what is wrong with it (was: "ambiguous")', async () => {
  const file = csvTable('k.csv');
  for (const args of [['-k', '-5'], ['--k', '-5'], ['-k', '0']]) {
    const r = await cliWithin(['knn', file, '--query', 'c0/img0.png', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`-k must be a positive integer \\(got ${args[1]}\\)`));
    assert.doesNotMatch(r.stderr, /ambiguous/);
  }
});

test('paths holding terminal escape codes are printed escaped (knn, eval, errors)', async () => {
  const evil = 'x\x1b]0;pwned\x07\x1b[2J';
  const lines = ['path,label,emb_0,emb_1'];
  for (let i = 0; i < 6; i++) lines.push(`"${i === 2 ? `${evil}.png` : `p${i}.png`}",c${i % 2},${i},${i % 2}`);
  const file = path.join(work, `t${evil}.csv`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const k = await cliWithin(['knn', file, '--query', 'p1.png', '-k', '6']);
  assert.equal(k.code, 0, k.stderr);
  assert.ok(!k.stdout.includes('\x1b') && !k.stdout.includes('\x07'), JSON.stringify(k.stdout));
  assert.match(k.stdout, /x\\x1b\]0;pwned\\x07\\x1b\[2J\.png/);
  const e = await cliWithin(['eval', file]);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(!e.stdout.includes('\x1b') && !e.stderr.includes('\x1b'), JSON.stringify(e.stdout));
  const bad = path.join(work, `bad${evil}.csv`);
  fs.writeFileSync(bad, 'path,label,emb_0\na,b,oops\n');
  const b = await cliWithin(['eval', bad]);
  assert.equal(b.code, 2, b.stderr);
  assert.ok(!b.stderr.includes('\x1b'), JSON.stringify(b.stderr));
  assert.match(b.stderr, /bad x\\x1b|badx\\x1b/);
  // --json output stays exact (JSON escapes control characters itself).
  const j = await cliWithin(['knn', file, '--query', 'p1.png', '-k', '6', '--json']);
  assert.ok((JSON.parse(j.stdout) as { neighbors: Array<{ path: string }> }).neighbors.some((n) => n.path === `${evil}.png`));
});

test('bad arguments of synth and export are bad usage (exit 2), not failures', async () => {
  for (const args of [['--classes', 'abc'], ['--size', '-3'], ['--per-class', '1.5'], ['--format', 'gif']]) {
    const r = await cliWithin(['synth', path.join(work, 'synth-bad'), ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${args[0]} must be`));
  }
  assert.ok(!fs.existsSync(path.join(work, 'synth-bad')));
  const e = await cliWithin(['export', work, '--type', 'branch']);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /not a run folder \(no config\.json\)/);
});
