// Tables and other tools' files, checked with a real DuckDB (@duckdb/node-api, a dev dependency): Parquet that
// DuckDB wrote with each codec it has reads back through readTable; our Parquet and CSV read back in DuckDB
// (an empty label as '' — not NULL — in both); NaN / Infinity are refused naming the row and column; a table and
// its .meta.json are written as a pair when a real (tmpfs) disk fills.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { openTableWriter, readTable, tableMetaPath } from '../../src/core/table';

const work = mkdtempSync(join(tmpdir(), 'elab-duckdb-'));
let db: DuckDBConnection;

test.before(async () => {
  db = await (await DuckDBInstance.create(':memory:')).connect();
});
test.after(() => {
  db?.closeSync();
  rmSync(work, { recursive: true, force: true });
});

async function rows(sql: string): Promise<Array<Record<string, unknown>>> {
  return (await db.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

// 300 rows × 5: path, a label ('' every third row), and values computed in SQL as FLOAT (float32).
const N = 300;
const SELECT = `select 'c' || (i % 4)::varchar || '/img ' || i::varchar || '.png' as path,
  case when i % 3 = 0 then '' else 'c' || (i % 4)::varchar end as label,
  [i * 0.25, 0 - i, 1.0 / (i + 1), sin(i), 1e-3 * i * i]::FLOAT[] as embedding from range(${N}) t(i)`;

function expected(i: number): number[] {
  return [i * 0.25, 0 - i, 1 / (i + 1), Math.sin(i), 1e-3 * i * i].map(Math.fround);
}

for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd', 'brotli', 'lz4_raw']) {
  test(`readTable reads Parquet that DuckDB wrote with ${codec}`, async () => {
    const file = join(work, `duck-${codec}.parquet`);
    // Small row groups: several per file, as polars and DuckDB write large tables.
    await db.run(`copy (${SELECT}) to ${sqlString(file)} (format parquet, compression ${codec}, row_group_size 128)`);
    const meta = await rows(`select distinct compression from parquet_metadata(${sqlString(file)})`);
    assert.deepEqual(meta.map((m) => String(m.compression).toLowerCase()), [codec === 'lz4_raw' ? 'lz4_raw' : codec]);
    const t = await readTable(file);
    assert.equal(t.paths.length, N);
    assert.equal(t.dim, 5);
    for (let i = 0; i < N; i++) {
      assert.equal(t.paths[i], `c${i % 4}/img ${i}.png`);
      assert.equal(t.labels[i], i % 3 === 0 ? '' : `c${i % 4}`);
      assert.deepEqual(Array.from(t.vectors.subarray(i * 5, i * 5 + 5)), expected(i), `row ${i}`);
    }
  });
}

const TRICKY = ['plain.png', 'a,b/"quoted".jpg', 'line\nbreak.jpg', '猫/图片 1.jpg', ' lead space.png', ''];

async function writeOurs(file: string): Promise<Float32Array> {
  const dim = 3;
  const w = openTableWriter(file, { dim, meta: { distance: 'cosine' } });
  const vectors = new Float32Array(TRICKY.length * dim).map((_, k) => Math.fround(Math.sin(k) * 10 ** ((k % 7) - 3)));
  await w.append(TRICKY.map((p, i) => ({ path: p || 'empty-label.png', label: i % 2 === 0 ? '' : `class ${p.slice(0, 3)}` })), vectors);
  await w.commit();
  return vectors;
}

for (const format of ['parquet', 'csv'] as const) {
  // CSV: DuckDB reads a quoted "" as NULL too unless allow_quoted_nulls = false (pandas: keep_default_na=False);
  // an unquoted empty field is NULL either way, so only "" lets a reader tell an empty label from a missing one.
  test(`DuckDB reads our ${format}: paths, empty labels as '' (not NULL), float32 values exactly`, async () => {
    const file = join(work, `ours.${format}`);
    const vectors = await writeOurs(file);
    const got = format === 'parquet'
      ? await rows(`select path, label, embedding from read_parquet(${sqlString(file)})`)
      : await rows(`select path, label, [emb_0, emb_1, emb_2] as embedding from read_csv(${sqlString(file)}, header = true, allow_quoted_nulls = false, columns = {'path': 'VARCHAR', 'label': 'VARCHAR', 'emb_0': 'FLOAT', 'emb_1': 'FLOAT', 'emb_2': 'FLOAT'})`);
    assert.equal(got.length, TRICKY.length);
    got.forEach((r, i) => {
      assert.equal(r.path, TRICKY[i] || 'empty-label.png');
      assert.equal(r.label, i % 2 === 0 ? '' : `class ${TRICKY[i].slice(0, 3)}`, `row ${i}: label`);
      assert.deepEqual((r.embedding as number[]).map(Math.fround), Array.from(vectors.subarray(i * 3, i * 3 + 3)), `row ${i}: vector`);
    });
  });
}

test('CSV writes an empty label as "" (an empty field is NaN to pandas, NULL to DuckDB)', async () => {
  const file = join(work, 'empty-label.csv');
  const w = openTableWriter(file, { dim: 1 });
  await w.append([{ path: 'a.png', label: '' }], new Float32Array([1]));
  await w.commit();
  assert.equal(readFileSync(file, 'utf8'), 'path,label,emb_0\na.png,"",1\n');
});

for (const bad of ['nan', 'inf', '-inf']) {
  test(`readTable refuses ${bad} in a Parquet file DuckDB wrote, naming the row and column`, async () => {
    const file = join(work, `bad-${bad}.parquet`);
    await db.run(`copy (select 'x' || i::varchar as path, 'c' || (i % 2)::varchar as label,
      [1.0, case when i = 6 then '${bad}'::FLOAT else 0.5 end, 2.0]::FLOAT[] as embedding from range(10) t(i))
      to ${sqlString(file)} (format parquet, compression zstd)`);
    await assert.rejects(readTable(file), (err: Error & { exitCode?: number }) => {
      assert.match(err.message, new RegExp(`bad-${bad}\\.parquet: row 7, column embedding\\[1\\]: ${bad === 'nan' ? 'NaN' : bad === 'inf' ? 'Infinity' : '-Infinity'}`));
      assert.equal(err.exitCode, 2);
      return true;
    });
  });
}

test('a damaged Parquet page is a data error (exit 2) that names the file', async () => {
  const file = join(work, 'damaged.parquet');
  await db.run(`copy (${SELECT}) to ${sqlString(file)} (format parquet, compression uncompressed)`);
  const bytes = readFileSync(file);
  bytes.fill(0xff, 4, 24); // the first page header, just after the magic
  writeFileSync(file, bytes);
  await assert.rejects(readTable(file), (err: Error & { exitCode?: number }) => {
    assert.match(err.message, /damaged\.parquet/);
    assert.equal(err.exitCode, 2);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// A full disk: a real tmpfs, filled to k free pages for k = 0…6. Each attempt leaves the table and its meta both,
// or neither, and no temp file. (Before the pair write, one free page let the table in and not its meta.)

function tryMount(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a full disk leaves the table and its .meta.json as a pair: both or neither', async (t) => {
  const mnt = join(work, 'tmpfs');
  mkdirSync(mnt);
  if (!tryMount(mnt)) {
    t.skip('cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)');
    return;
  }
  try {
    for (const format of ['csv', 'parquet']) {
      const outcomes = new Set<string>();
      for (let free = 0; free <= 6; free++) {
        // Fill the file system with 4 KiB files (one page each), then free `free` pages.
        const fill = join(mnt, 'fill');
        mkdirSync(fill);
        let n = 0;
        try {
          for (;;) writeFileSync(join(fill, String(n++)), Buffer.alloc(4096, 1));
        } catch (err) {
          assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
          try { unlinkSync(join(fill, String(n - 1))); } catch { /* not created */ }
          n--;
        }
        for (let k = 0; k < free; k++) unlinkSync(join(fill, String(--n)));
        const file = join(mnt, `t.${format}`);
        let error: unknown;
        try {
          const w = openTableWriter(file, { dim: 8, meta: { note: 'x'.repeat(200) } });
          try {
            await w.append([{ path: 'a.png', label: 'a' }, { path: 'b.png', label: '' }], new Float32Array(16).fill(0.25));
            await w.commit();
          } catch (err) {
            await w.abort();
            throw err;
          }
        } catch (err) {
          error = err;
        }
        const table = existsSync(file);
        const meta = existsSync(tableMetaPath(file));
        assert.equal(table, meta, `${format}, ${free} free page(s): table ${table}, meta ${meta} (${String(error)})`);
        assert.equal(table, error === undefined, `${format}, ${free} free page(s): ${String(error)}`);
        if (error) assert.match(String(error), /disk full/);
        const left = readdirSync(mnt).filter((f) => f !== 'fill' && !f.startsWith('t.'));
        assert.deepEqual(left, [], `${format}, ${free} free page(s): temp files left`);
        if (table) assert.equal((await readTable(file)).paths.length, 2);
        outcomes.add(table ? 'written' : 'refused');
        rmSync(fill, { recursive: true });
        rmSync(file, { force: true });
        rmSync(tableMetaPath(file), { force: true });
      }
      assert.deepEqual([...outcomes].sort(), ['refused', 'written'], `${format}: both a full disk and enough room were tried`);
    }
  } finally {
    execFileSync('umount', [mnt]);
  }
});
