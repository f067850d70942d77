// The result tables (src/core/results-table.ts) as other tools read them: DuckDB (a second, independent Parquet
// reader) and hyparquet read every column type, the missing values as NULL and the key/value metadata; the CSV is the
// format the commands wrote before (header, quoting, empty for a missing value).
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { resultFormatOf, resultsCsv, writeResultsTable, type ResultColumn } from '../../src/core/results-table';

const work = mkdtempSync(join(tmpdir(), 'elab-results-'));
let db: DuckDBConnection;
test.before(async () => { db = await (await DuckDBInstance.create(':memory:')).connect(); });
test.after(() => { db?.closeSync(); rmSync(work, { recursive: true, force: true }); });

const N = 1000; // long enough for multi-byte RLE run headers (runs over 63 rows)
const cols: ResultColumn[] = [
  { name: 'path', type: 'string', values: Array.from({ length: N }, (_, i) => `c${i % 3}/img, "${i}".png`) },
  { name: 'label', type: 'string', values: Array.from({ length: N }, (_, i) => (i < 100 ? null : i % 5 === 0 ? '' : `ü${i % 3}`)) },
  { name: 'distance', type: 'double', values: Array.from({ length: N }, (_, i) => (i % 7 === 0 ? NaN : Math.sin(i) * 1e3)) },
  { name: 'group', type: 'int', values: Int32Array.from({ length: N }, (_, i) => i - 500) },
  { name: 'same', type: 'boolean', values: Array.from({ length: N }, (_, i) => (i >= 900 ? null : i % 3 === 0)) },
];
const want = (i: number) => ({
  path: `c${i % 3}/img, "${i}".png`, label: i < 100 ? null : i % 5 === 0 ? '' : `ü${i % 3}`,
  distance: i % 7 === 0 ? null : Math.sin(i) * 1e3, group: i - 500, same: i >= 900 ? null : i % 3 === 0,
});

test('Parquet results: DuckDB and hyparquet read every type, NULLs where values are missing, and the metadata', async () => {
  const file = join(work, 'r.parquet');
  await writeResultsTable(file, cols, { embedding_lab: '{"command":"test"}' });
  const got = (await db.runAndReadAll(`select path, label, distance, "group", same from read_parquet('${file}')`)).getRowObjectsJS() as Array<Record<string, unknown>>;
  assert.equal(got.length, N);
  for (let i = 0; i < N; i++) assert.deepEqual({ ...got[i], group: Number(got[i].group) }, want(i), `DuckDB row ${i}`);
  const types = (await db.runAndReadAll(`select column_name, column_type from (describe select * from read_parquet('${file}'))`)).getRowObjectsJS() as Array<{ column_name: string; column_type: string }>;
  assert.deepEqual(types.map((t) => `${t.column_name}:${t.column_type}`), ['path:VARCHAR', 'label:VARCHAR', 'distance:DOUBLE', 'group:BIGINT', 'same:BOOLEAN']);

  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const objs = await parquetReadObjects({ file: ab }) as Array<Record<string, unknown>>;
  for (let i = 0; i < N; i++) assert.deepEqual({ ...objs[i], group: Number(objs[i].group) }, want(i), `hyparquet row ${i}`);
  assert.deepEqual(parquetMetadata(ab).key_value_metadata, [{ key: 'embedding_lab', value: '{"command":"test"}' }]);
});

test('CSV results: the header, quoted strings, empty for a missing value; the extension chooses the format', async () => {
  const small = cols.map((c) => ({ ...c, values: Array.from(c.values as ArrayLike<unknown>).slice(98, 101) }) as ResultColumn);
  assert.equal(resultsCsv(small), [
    'path,label,distance,group,same',
    '"c2/img, ""98"".png",,,-402,false', // 98 = 7 × 14: NaN, no value
    `"c0/img, ""99"".png",,${Math.sin(99) * 1e3},-401,true`,
    `"c1/img, ""100"".png","",${Math.sin(100) * 1e3},-400,false`, // an empty string is quoted, unlike a missing value
  ].join('\n') + '\n');
  const file = join(work, 'r.csv');
  await writeResultsTable(file, small);
  assert.equal(readFileSync(file, 'utf8'), resultsCsv(small));
  assert.equal(resultFormatOf('a/B.PARQUET'), 'parquet');
  assert.equal(resultFormatOf('a.csv'), 'csv');
  assert.equal(resultFormatOf('a.json'), undefined);
  await assert.rejects(writeResultsTable(join(work, 'r.txt'), small), /neither \.csv nor \.parquet/);
  assert.throws(() => resultsCsv([cols[0], { name: 'x', type: 'int', values: [1] }]), /column x has 1 values/);
});
