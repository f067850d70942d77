// Atomic writes: the final name appears only on commit, failures clean up and say which path.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AtomicFileWriter, describeWriteError, writeFileAtomic, writeJsonAtomic } from '../../src/core/atomic';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'elab-atomic-'));
}

test('writeFileAtomic writes and replaces, leaving no temp files', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'run.json');
    await writeFileAtomic(p, 'first');
    assert.equal(readFileSync(p, 'utf8'), 'first');
    await writeFileAtomic(p, new Uint8Array([104, 105]));
    assert.equal(readFileSync(p, 'utf8'), 'hi');
    assert.deepEqual(readdirSync(dir), ['run.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeJsonAtomic writes pretty JSON with a trailing newline', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'x.json');
    await writeJsonAtomic(p, { a: 1, b: ['é'] });
    assert.equal(readFileSync(p, 'utf8'), '{\n  "a": 1,\n  "b": [\n    "é"\n  ]\n}\n');
    await assert.rejects(writeJsonAtomic(p, undefined), /not JSON-serializable/);
    assert.deepEqual(JSON.parse(readFileSync(p, 'utf8')), { a: 1, b: ['é'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing output folder fails with a clear message', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'nope', 'table.parquet');
    await assert.rejects(writeFileAtomic(p, 'x'), (err: Error) => {
      assert.equal(err.message, `output folder does not exist: ${join(dir, 'nope')}`);
      return true;
    });
    await assert.rejects(AtomicFileWriter.open(p), /output folder does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('error messages name the path for disk full and permission errors', () => {
  const mk = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(describeWriteError(mk('ENOSPC'), '/a/b.csv').message, 'disk full while writing /a/b.csv');
  assert.equal(describeWriteError(mk('EACCES'), '/a/b.csv').message, 'cannot write /a/b.csv: permission denied');
  assert.equal((describeWriteError(mk('EACCES'), '/a/b.csv') as Error & { code?: string }).code, 'EACCES');
  assert.match(describeWriteError(mk('EIO'), '/a/b.csv').message, /^failed to write \/a\/b\.csv: EIO/);
});

test('writing to a read-only folder fails with "permission denied"', { skip: process.getuid?.() === 0 || process.platform === 'win32' }, async () => {
  const dir = tempDir();
  try {
    chmodSync(dir, 0o500);
    await assert.rejects(writeFileAtomic(join(dir, 'a.txt'), 'x'), /cannot write .*a\.txt: permission denied/);
  } finally {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writing over a directory fails clearly', async () => {
  const dir = tempDir();
  try {
    await assert.rejects(writeFileAtomic(dir, 'x'), /it is a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AtomicFileWriter: final name appears only on commit; chunks keep their order', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'big.bin');
    writeFileSync(p, 'old');
    const w = await AtomicFileWriter.open(p);
    // Mix small (coalesced) and large (written through) chunks.
    const chunkAt = (i: number) => Buffer.alloc(i % 10 === 0 ? 100_000 + i : 1 + (i * 37) % 3000, i % 251);
    for (let i = 0; i < 200; i++) {
      const chunk = chunkAt(i);
      await w.write(chunk);
      chunk.fill(0); // the writer must be done with the chunk once write() resolves
    }
    await w.write('tail');
    assert.equal(readFileSync(p, 'utf8'), 'old', 'the old file is untouched before commit');
    assert.ok(existsSync(w.tempPath));
    assert.match(w.tempPath, /[/\\]\.big\.bin\.\d+\.[0-9a-f]+\.tmp$/);
    await w.commit();
    const got = readFileSync(p);
    const want = Buffer.concat([...Array.from({ length: 200 }, (_, i) => chunkAt(i)), Buffer.from('tail')]);
    assert.equal(got.length, want.length);
    assert.ok(got.equals(want));
    assert.equal(w.bytesWritten, want.length);
    assert.deepEqual(readdirSync(dir), ['big.bin']);
    await assert.rejects(w.write('more'), /already committed/);
    await w.abort(); // no-op after commit
    assert.ok(existsSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AtomicFileWriter: unawaited writes are applied in order', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'order.txt');
    const w = await AtomicFileWriter.open(p);
    const parts = Array.from({ length: 500 }, (_, i) => `${i},`);
    await Promise.all(parts.map((s) => w.write(s)));
    await w.commit();
    assert.equal(readFileSync(p, 'utf8'), parts.join(''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AtomicFileWriter: abort leaves nothing behind and keeps an existing file', async () => {
  const dir = tempDir();
  try {
    const fresh = await AtomicFileWriter.open(join(dir, 'a.csv'));
    await fresh.write('x'.repeat(200_000));
    await fresh.abort();
    await fresh.abort(); // idempotent
    assert.deepEqual(readdirSync(dir), []);
    await assert.rejects(fresh.write('y'), /already aborted/);
    await assert.rejects(fresh.commit(), /already aborted/);

    writeFileSync(join(dir, 'b.csv'), 'keep');
    const over = await AtomicFileWriter.open(join(dir, 'b.csv'));
    await over.write('replacement');
    await over.abort();
    assert.deepEqual(readdirSync(dir), ['b.csv']);
    assert.equal(readFileSync(join(dir, 'b.csv'), 'utf8'), 'keep');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Starts a child that writes `target` slowly through `body`, waits for it to print READY, SIGKILLs it. */
async function killMidWrite(body: string, target: string): Promise<void> {
  const dir = join(target, '..');
  const script = join(dir, 'child-writer.ts');
  writeFileSync(script, body);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: resolve(__dirname, '../..') });
  let out = '';
  let errText = '';
  child.stderr.on('data', (d) => { errText += d; });
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`child never got ready: ${errText}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('READY')) { clearTimeout(timer); res(); }
    });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`child exited early (${code}): ${errText}`)); });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((res) => child.on('exit', res));
  child.kill('SIGKILL');
  await exited;
  rmSync(script);
}

test('a process killed mid-write leaves no file under the final name', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  try {
    const target = join(dir, 'out.bin');
    const atomicPath = resolve(__dirname, '../../src/core/atomic.ts');
    await killMidWrite(`
      import { AtomicFileWriter } from ${JSON.stringify(atomicPath)};
      (async () => {
        const w = await AtomicFileWriter.open(${JSON.stringify(target)});
        for (let i = 0; ; i++) {
          await w.write(Buffer.alloc(100_000, 1));
          if (i === 5) process.stdout.write('READY\\n');
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
    `, target);
    assert.equal(existsSync(target), false, 'no file under the final name');
    // Only the stray temp file of the killed process may remain.
    for (const name of readdirSync(dir)) assert.match(name, /^\.out\.bin\.\d+\.[0-9a-f]+\.tmp$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
