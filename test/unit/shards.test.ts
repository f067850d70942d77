// Shard arithmetic and the shard environment (src/core/shards.ts): every file in exactly one shard, in order;
// Kubernetes and Slurm variables read as documented; bad specs refused with the reason.
import test from 'node:test';
import assert from 'node:assert/strict';
import { expandTableGlob, parsePartName, parseShard, partName, partOrder, shardFromEnv, shardRange } from '../../src/core/shards';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

test('shardRange: the N slices cover 0…n−1 once each, in order, sizes differing by at most 1', () => {
  for (const n of [1, 2, 3, 7, 10, 99, 1000]) {
    for (const count of [1, 2, 3, 4, 7, 10]) {
      if (count > n) continue;
      let next = 0;
      const sizes: number[] = [];
      for (let index = 0; index < count; index++) {
        const r = shardRange(n, { index, count });
        assert.equal(r.start, next);
        next = r.end;
        sizes.push(r.end - r.start);
      }
      assert.equal(next, n);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${n}/${count}: ${sizes.join(',')}`);
    }
  }
  assert.deepEqual(shardRange(10, { index: 1, count: 3 }), { start: 3, end: 6 }); // ⌊10/3⌋, ⌊20/3⌋ by hand
});

test('parseShard: i/N, 0-based; bad specs name the reason', () => {
  assert.deepEqual(parseShard('0/1', {}), { index: 0, count: 1 });
  assert.deepEqual(parseShard('2/3', {}), { index: 2, count: 3 });
  assert.throws(() => parseShard('3/2', {}), /shard 3 is out of range: shards are numbered from 0 to 1/);
  assert.throws(() => parseShard('3/3', {}), /out of range/);
  assert.throws(() => parseShard('0/0', {}), /at least 1/);
  assert.throws(() => parseShard('-1/3', {}), /whole number/);
  assert.throws(() => parseShard('1.5/3', {}), /whole number/);
  assert.throws(() => parseShard('1/2/3', {}), /must be i\/N/);
  assert.throws(() => parseShard('0/1000001', {}), /more than/);
});

test('shardFromEnv: Kubernetes Indexed Job and Slurm arrays (offset by SLURM_ARRAY_TASK_MIN)', () => {
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: '4', EMBEDLAB_SHARD_COUNT: '8' }), { index: 4, count: 8 });
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: '4' }, 5), { index: 4, count: 5 });
  assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 0, count: 4 });
  assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 });
  assert.throws(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_STEP: '2' }), /consecutive ids/);
  assert.throws(() => shardFromEnv({ JOB_COMPLETION_INDEX: 'x', EMBEDLAB_SHARD_COUNT: '3' }), /JOB_COMPLETION_INDEX must be a whole number/);
  assert.throws(() => shardFromEnv({}), /neither JOB_COMPLETION_INDEX/);
});

test('part names round-trip and sort by index (part-10 after part-9); a glob skips hidden temp files', () => {
  assert.equal(partName({ index: 3, count: 12 }), 'part-3-of-12.parquet');
  assert.deepEqual(parsePartName('part-3-of-12.parquet'), { index: 3, count: 12 });
  assert.equal(parsePartName('.part-3-of-12.parquet.123.ab.tmp'), null);
  const names = ['part-10-of-12.parquet', 'part-9-of-12.parquet', 'part-0-of-12.parquet'].sort(partOrder);
  assert.deepEqual(names, ['part-0-of-12.parquet', 'part-9-of-12.parquet', 'part-10-of-12.parquet']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shards-'));
  try {
    for (const n of ['part-1-of-2.parquet', 'part-0-of-2.parquet', '.part-0-of-2.parquet.9.ab.tmp', 'other.csv']) fs.writeFileSync(path.join(dir, n), '');
    assert.deepEqual(expandTableGlob(path.join(dir, 'part-*.parquet')).map((f) => path.basename(f)), ['part-0-of-2.parquet', 'part-1-of-2.parquet']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
