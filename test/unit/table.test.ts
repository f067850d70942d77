// Embedding tables: Parquet (checked with the independent reader hyparquet) and CSV round trips,
// readTable errors, atomicity and bounded memory while streaming.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  formatFloat32, openTableWriter, readSkippedList, readTable, readTableMeta, tableMetaPath, tableSkippedPath,
  writeSkippedList, type TableRow,
} from '../../src/core/table';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'elab-table-'));
}

/** Deterministic pseudo-random float32 values in [-1, 1) with some special cases mixed in. */
function makeVectors(rows: number, dim: number, seed: number): Float32Array {
  const v = new Float32Array(rows * dim);
  let s = seed >>> 0;
  for (let i = 0; i < v.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
  const specials = [0, 1, -1, 0.1, 1e-30, -3.4028234663852886e38, 1.401298464324817e-45, 123456.789];
  for (let i = 0; i < Math.min(specials.length, v.length); i++) v[i * 7 % v.length] = specials[i];
  return v;
}

const UNICODE_PATHS = ['猫/图片 1.jpg', 'émile/naïve café.png', 'emoji/😀🐕.jpeg', 'a,b/"quoted".jpg', 'line\nbreak.jpg', 'ä/å/ø.webp'];

function makeRows(start: number, n: number): TableRow[] {
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return { path: i < UNICODE_PATHS.length ? UNICODE_PATHS[i] : `class_${i % 7}/img_${i}.jpg`, label: i % 3 === 0 ? '' : `class_${i % 7}` };
  });
}

async function writeTable(path: string, rows: number, dim: number, batch: number, opts: { rowGroupRows?: number; meta?: Record<string, unknown> } = {}) {
  const all = makeVectors(rows, dim, 42);
  const w = openTableWriter(path, { dim, ...opts });
  for (let start = 0; start < rows; start += batch) {
    const n = Math.min(batch, rows - start);
    await w.append(makeRows(start, n), all.slice(start * dim, (start + n) * dim));
  }
  const res = await w.commit();
  return { all, res };
}

test('Parquet round trip through the independent reader hyparquet', { timeout: 60_000 }, async () => {
  const hp = await import('hyparquet');
  const dir = tempDir();
  try {
    const p = join(dir, 'emb.parquet');
    const rows = 20_003;
    const dim = 16;
    const meta = { modelDir: 'runs/x/model', distance: 'cosine', preprocessing: { size: 224 } };
    const { all, res } = await writeTable(p, rows, dim, 777, { rowGroupRows: 1000, meta });
    assert.deepEqual(res, { rows, path: p });

    const buf = readFileSync(p);
    assert.equal(buf.subarray(0, 4).toString(), 'PAR1');
    assert.equal(buf.subarray(-4).toString(), 'PAR1');
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const md = hp.parquetMetadata(ab);
    assert.equal(md.num_rows, BigInt(rows));
    assert.equal(md.row_groups.length, 21);
    assert.equal(md.row_groups.reduce((s, g) => s + Number(g.num_rows), 0), rows);
    assert.match(md.created_by ?? '', /embedding-lab/);
    assert.deepEqual(md.schema.map((e) => e.name), ['schema', 'path', 'label', 'embedding', 'list', 'element']);
    const schema = hp.parquetSchema(md);
    assert.deepEqual(schema.children.map((c) => c.element.name), ['path', 'label', 'embedding']);
    assert.equal(schema.children[0].element.type, 'BYTE_ARRAY');
    assert.equal(schema.children[0].element.logical_type?.type, 'STRING');
    assert.equal(schema.children[2].element.converted_type, 'LIST');
    assert.equal(schema.children[2].children[0].children[0].element.type, 'FLOAT');
    const kv = md.key_value_metadata?.find((e) => e.key === 'embedding_lab');
    assert.ok(kv?.value, 'key/value metadata embedding_lab present');
    assert.deepEqual(JSON.parse(kv.value), { ...meta, dim, count: rows });

    const objs = await hp.parquetReadObjects({ file: ab });
    assert.equal(objs.length, rows);
    const want = makeRows(0, rows);
    for (let i = 0; i < rows; i++) {
      const o = objs[i];
      assert.equal(o.path, want[i].path, `path of row ${i}`);
      assert.equal(o.label, want[i].label, `label of row ${i}`);
      assert.equal(o.embedding.length, dim);
      for (let j = 0; j < dim; j++) {
        if (o.embedding[j] !== all[i * dim + j]) assert.fail(`row ${i} value ${j}: ${o.embedding[j]} !== ${all[i * dim + j]}`);
      }
    }

    // And through our own readTable.
    const t = await readTable(p);
    assert.equal(t.dim, dim);
    assert.deepEqual(t.paths, want.map((r) => r.path));
    assert.deepEqual(t.labels, want.map((r) => r.label));
    assert.deepEqual(t.vectors, all);
    assert.deepEqual(t.meta, { ...meta, dim, count: rows });
    assert.deepEqual(await readTableMeta(p), { ...meta, dim, count: rows });
    assert.deepEqual(readdirSync(dir).sort(), ['emb.parquet', 'emb.parquet.meta.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Parquet: dim 1 and a single row', async () => {
  const hp = await import('hyparquet');
  const dir = tempDir();
  try {
    const p = join(dir, 'one.parquet');
    const w = openTableWriter(p, { dim: 1 });
    await w.append([{ path: 'a.jpg', label: '' }], new Float32Array([0.25]));
    await w.commit();
    const buf = readFileSync(p);
    const objs = await hp.parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) });
    assert.deepEqual(objs.map((o) => ({ ...o, embedding: Array.from(o.embedding as number[]) })), [{ path: 'a.jpg', label: '', embedding: [0.25] }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CSV round trip: header, quoting, row count, float32 exactness', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'emb.csv');
    const rows = 2_345;
    const dim = 5;
    const { all } = await writeTable(p, rows, dim, 100, { meta: { distance: 'euclidean' } });
    const text = readFileSync(p, 'utf8');
    assert.ok(text.startsWith('path,label,emb_0,emb_1,emb_2,emb_3,emb_4\n'));
    assert.ok(text.includes('"a,b/""quoted"".jpg"'), 'comma and quotes are quoted');
    assert.ok(text.includes('"line\nbreak.jpg"'), 'newlines are quoted');

    const t = await readTable(p);
    assert.equal(t.dim, dim);
    assert.equal(t.paths.length, rows);
    const want = makeRows(0, rows);
    assert.deepEqual(t.paths, want.map((r) => r.path));
    assert.deepEqual(t.labels, want.map((r) => r.label));
    assert.deepEqual(t.vectors, all);
    assert.deepEqual(t.meta, { distance: 'euclidean', dim, count: rows });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formatFloat32 round-trips every kind of float32 exactly', () => {
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  let s = 12345;
  for (let i = 0; i < 200_000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[0] = s;
    const v = f[0];
    if (Number.isNaN(v)) continue;
    const text = formatFloat32(v);
    assert.ok(Object.is(Math.fround(Number(text)), v), `${v} → ${text}`);
    assert.ok(text.length <= 16, text);
  }
  for (const v of [0, -0, 1, -1, 0.5, 0.1, 3.4028234663852886e38, 1.401298464324817e-45, Infinity, -Infinity, 16777216, 1e20]) {
    assert.ok(Object.is(Math.fround(Number(formatFloat32(v))), Math.fround(v)), `${v} → ${formatFloat32(v)}`);
  }
  assert.equal(formatFloat32(0.5), '0.5');
  assert.equal(formatFloat32(0.1), '0.1');
  assert.equal(formatFloat32(3), '3');
  assert.equal(formatFloat32(NaN), 'NaN');
});

test('CSV keeps NaN, ±Infinity and -0 (read back with nonFinite: keep; refused by default, naming row and column)', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 's.csv');
    const w = openTableWriter(p, { dim: 4 });
    await w.append([{ path: 'x', label: 'y' }], new Float32Array([NaN, Infinity, -Infinity, -0]));
    await w.commit();
    await assert.rejects(readTable(p), (err: Error & { exitCode?: number }) => {
      assert.match(err.message, /s\.csv: row 1, column emb_0: NaN/);
      assert.equal(err.exitCode, 2);
      return true;
    });
    const t = await readTable(p, { nonFinite: 'keep' });
    assert.ok(Number.isNaN(t.vectors[0]));
    assert.equal(t.vectors[1], Infinity);
    assert.equal(t.vectors[2], -Infinity);
    assert.ok(Object.is(t.vectors[3], -0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTable: CSV with CRLF, BOM, a trailing blank line and no final newline', async () => {
  const dir = tempDir();
  try {
    const a = join(dir, 'a.csv');
    writeFileSync(a, '\ufeffpath,label,emb_0,emb_1\r\n"q,1",cat,1,2\r\nb,,3.5,-4e-3\r\n\r\n');
    const t = await readTable(a);
    assert.deepEqual(t.paths, ['q,1', 'b']);
    assert.deepEqual(t.labels, ['cat', '']);
    assert.deepEqual(Array.from(t.vectors), [1, 2, 3.5, Math.fround(-4e-3)]);
    assert.equal(t.meta, null);
    const b = join(dir, 'b.csv');
    writeFileSync(b, 'label,emb_1,path,emb_0\ndog,2,p.jpg,1'); // columns in any order
    const u = await readTable(b);
    assert.deepEqual(u.paths, ['p.jpg']);
    assert.deepEqual(Array.from(u.vectors), [1, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTable errors name the file and row', async () => {
  const dir = tempDir();
  try {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const header = 'path,label,' + Array.from({ length: 64 }, (_, j) => `emb_${j}`).join(',') + '\n';
    const good = (i: number) => `img${i}.jpg,c,` + Array.from({ length: 64 }, () => '0.5').join(',') + '\n';
    const short = 'img16.jpg,c,' + Array.from({ length: 63 }, () => '0.5').join(',') + '\n';
    let text = header;
    for (let i = 0; i < 16; i++) text += good(i);
    const mixed = write('mixed.csv', text + short);
    await assert.rejects(readTable(mixed), (err: Error) => {
      assert.equal(err.message, `${mixed}: row 17 (line 18) has 63 values, expected 64`);
      return true;
    });
    const nonNum = write('nonnum.csv', 'path,label,emb_0,emb_1\na,b,1,oops\n');
    await assert.rejects(readTable(nonNum), new RegExp(`${nonNum}: row 1 \\(line 2\\), column emb_1: not a number: "oops"$`));
    await assert.rejects(readTable(write('emptyval.csv', 'path,label,emb_0,emb_1\na,b,1,\n')), /row 1 \(line 2\), column emb_1: not a number: ""/);
    await assert.rejects(readTable(write('nolabel.csv', 'path,emb_0\na,1\n')), /nolabel\.csv: missing column label/);
    await assert.rejects(readTable(write('noemb.csv', 'path,label\na,b\n')), /noemb\.csv: missing column emb_0/);
    await assert.rejects(readTable(write('gap.csv', 'path,label,emb_0,emb_2\na,b,1,2\n')), /gap\.csv: missing column emb_1/);
    await assert.rejects(readTable(write('headeronly.csv', header)), /headeronly\.csv: empty table/);
    await assert.rejects(readTable(write('nothing.csv', '')), /nothing\.csv: empty table/);
    await assert.rejects(readTable(write('unterminated.csv', 'path,label,emb_0\n"a,b,1\n')), /unterminated quoted field starting at line 2/);
    await assert.rejects(readTable(write('t.tsv', 'x')), /unsupported table format "\.tsv" .*use \.parquet or \.csv/);
    await assert.rejects(readTable(join(dir, 'missing.csv')), /table not found: .*missing\.csv/);
    await assert.rejects(readTable(write('bad.parquet', 'not parquet at all')), /bad\.parquet: not a readable Parquet file/);
    const badMeta = write('badmeta.csv', 'path,label,emb_0\na,b,1\n');
    writeFileSync(tableMetaPath(badMeta), '{oops');
    await assert.rejects(readTable(badMeta), /badmeta\.csv\.meta\.json: invalid JSON/);

    // An empty Parquet table (committed with no rows) is readable by hyparquet but an error for readTable.
    const emptyPq = join(dir, 'empty.parquet');
    await openTableWriter(emptyPq, { dim: 3 }).commit();
    await assert.rejects(readTable(emptyPq), /empty\.parquet: empty table/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('openTableWriter validates its arguments and batches', async () => {
  const dir = tempDir();
  try {
    assert.throws(() => openTableWriter(join(dir, 'x.json'), { dim: 4 }), /unsupported table format "\.json" .*use \.parquet or \.csv/);
    assert.throws(() => openTableWriter(join(dir, 'x'), { dim: 4 }), /"\(no extension\)"/);
    assert.throws(() => openTableWriter(join(dir, 'x.csv'), { dim: 0 }), /dim must be a positive integer/);
    const missing = join(dir, 'no', 'such');
    assert.throws(() => openTableWriter(join(missing, 'x.parquet'), { dim: 4 }), { message: `output folder does not exist: ${missing}` });

    for (const ext of ['parquet', 'csv']) {
      const p = join(dir, `v.${ext}`);
      const w = openTableWriter(p, { dim: 3 });
      await assert.rejects(w.append([{ path: 'a', label: '' }], new Float32Array(4)), /batch of 1 rows needs 1 × 3 = 3 values, got 4/);
      // A rejected batch leaves the writer usable.
      await w.append([{ path: 'a', label: '' }, { path: 'b', label: 'l' }], new Float32Array([1, 2, 3, 4, 5, 6]));
      assert.equal(w.rows, 2);
      assert.deepEqual(await w.commit(), { rows: 2, path: p });
      await assert.rejects(w.append([], new Float32Array(0)), /already committed/);
      assert.deepEqual(Array.from((await readTable(p)).vectors), [1, 2, 3, 4, 5, 6]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('table writes are atomic: nothing under the final name before commit; abort leaves nothing', async () => {
  const dir = tempDir();
  try {
    for (const ext of ['parquet', 'csv']) {
      const p = join(dir, `t.${ext}`);
      const w = openTableWriter(p, { dim: 8, rowGroupRows: 10, meta: { a: 1 } });
      await w.append(makeRows(0, 50), makeVectors(50, 8, 1));
      assert.equal(existsSync(p), false);
      assert.equal(existsSync(tableMetaPath(p)), false);
      await w.commit();
      assert.ok(existsSync(p));
      assert.deepEqual(JSON.parse(readFileSync(tableMetaPath(p), 'utf8')), { a: 1, dim: 8, count: 50 });

      // Rewriting: the old table stays until the new one commits; an aborted rewrite keeps it.
      const before = readFileSync(p);
      const w2 = openTableWriter(p, { dim: 8 });
      await w2.append(makeRows(0, 5), makeVectors(5, 8, 2));
      assert.ok(readFileSync(p).equals(before));
      await w2.abort();
      await w2.abort();
      assert.ok(readFileSync(p).equals(before));
      await assert.rejects(w2.commit(), /already aborted/);
    }
    assert.deepEqual(readdirSync(dir).sort(), ['t.csv', 't.csv.meta.json', 't.parquet', 't.parquet.meta.json']);

    const fresh = join(dir, 'fresh.parquet');
    const w3 = openTableWriter(fresh, { dim: 4 });
    await w3.append(makeRows(0, 3), makeVectors(3, 4, 3));
    await w3.abort();
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('fresh')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a table writer killed (SIGKILL) mid-write leaves no table under the final name', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  try {
    const target = join(dir, 'killed.parquet');
    const script = join(dir, 'child.ts');
    writeFileSync(script, `
      import { openTableWriter } from ${JSON.stringify(resolve(__dirname, '../../src/core/table.ts'))};
      (async () => {
        const w = openTableWriter(${JSON.stringify(target)}, { dim: 64, rowGroupRows: 100, meta: { x: 1 } });
        for (let i = 0; ; i++) {
          await w.append(Array.from({ length: 100 }, (_, k) => ({ path: 'p' + k, label: '' })), new Float32Array(6400).fill(i));
          if (i === 5) process.stdout.write('READY\\n');
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
    `);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errText = '';
    child.stderr.on('data', (d) => { errText += d; });
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`child never got ready: ${errText}`)), 20_000);
      child.stdout.on('data', (d) => { if (String(d).includes('READY')) { clearTimeout(timer); res(); } });
      child.once('exit', (code) => { clearTimeout(timer); rej(new Error(`child exited early (${code}): ${errText}`)); });
    });
    child.removeAllListeners('exit');
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
    assert.equal(existsSync(target), false);
    assert.equal(existsSync(tableMetaPath(target)), false);
    const stray = readdirSync(dir).filter((n) => n !== 'child.ts');
    for (const name of stray) assert.match(name, /^\.killed\.parquet\.\d+\.[0-9a-f]+\.tmp$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('skipped list and meta sidecars', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'e.parquet');
    assert.equal(tableSkippedPath(p), `${p}.skipped.txt`);
    assert.equal(tableMetaPath(p), `${p}.meta.json`);
    assert.equal(await readTableMeta(p), null);
    const failures = [{ path: 'a/b.jpg', reason: 'corrupt JPEG' }, { path: 'tab\there.png', reason: 'line\nbreak \\ slash' }];
    await writeSkippedList(p, failures);
    assert.equal(readFileSync(tableSkippedPath(p), 'utf8').split('\n')[0], 'a/b.jpg\tcorrupt JPEG');
    assert.equal(readFileSync(tableSkippedPath(p), 'utf8').split('\n').length, 3);
    assert.deepEqual(await readSkippedList(p), failures);
    await writeSkippedList(p, []);
    assert.equal(existsSync(tableSkippedPath(p)), false);
    assert.deepEqual(await readSkippedList(p), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bounded memory and throughput: 100,000 × 128 to Parquet in batches of 1,000', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  try {
    const dim = 128;
    const rows = 100_000;
    const batch = 1_000;
    const tableBytes = rows * dim * 4; // ~51 MB of floats
    const vectors = makeVectors(batch, dim, 7);
    const names = makeRows(0, batch);
    const p = join(dir, 'big.parquet');
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const t0 = performance.now();
    const w = openTableWriter(p, { dim });
    for (let b = 0; b < rows / batch; b++) {
      vectors[0] = b; // differ per batch
      await w.append(names, vectors);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    await w.commit();
    const pqSeconds = (performance.now() - t0) / 1000;
    const growth = peak - baseline;
    console.log(`# parquet write: ${rows} × ${dim} in ${pqSeconds.toFixed(2)} s = ${Math.round(rows / pqSeconds)} rows/s; ` +
      `rss growth ${(growth / 2 ** 20).toFixed(1)} MiB for a ${(tableBytes / 2 ** 20).toFixed(1)} MiB table`);
    assert.ok(growth < tableBytes / 2, `rss grew ${growth} bytes while writing a ${tableBytes}-byte table`);

    // CSV write rate and readTable times for 20,000 × 128.
    const small = 20_000;
    for (const ext of ['parquet', 'csv']) {
      const q = join(dir, `read.${ext}`);
      const t1 = performance.now();
      const w2 = openTableWriter(q, { dim });
      for (let b = 0; b < small / batch; b++) await w2.append(names, vectors);
      await w2.commit();
      const writeS = (performance.now() - t1) / 1000;
      const t2 = performance.now();
      const t = await readTable(q);
      const readS = (performance.now() - t2) / 1000;
      assert.equal(t.paths.length, small);
      console.log(`# ${ext}: write ${small} × ${dim} in ${writeS.toFixed(2)} s = ${Math.round(small / writeS)} rows/s; readTable ${readS.toFixed(2)} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
