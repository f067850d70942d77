/**
 * Atomic file writes.
 *
 * Every file the project writes (run.json, checkpoints, embedding tables, sidecars) goes through this
 * module so that a reader never sees a half-written file under its final name:
 *
 *   1. the data goes to a temp file in the SAME folder (`.<name>.<pid>.<random>.tmp`, so the final
 *      rename never crosses file systems),
 *   2. the temp file is fsync'ed and closed,
 *   3. it is renamed over the final name (atomic on POSIX, replace-existing on Windows),
 *   4. the folder is fsync'ed, best effort, so the rename itself survives a power loss.
 *
 * A process killed at any point leaves at most a stray `.tmp` file, never a truncated final file; the next writer
 * of the same path removes it (when its pid no longer runs).
 * On failure the temp file is removed and the error is rethrown with a message naming the path
 * ("output folder does not exist: …", "disk full while writing …", "cannot write …: permission denied").
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, readdirSync, unlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Chunks smaller than this are coalesced in memory before they reach the file. */
const COALESCE_LIMIT = 64 * 1024;
/** Size of the coalescing buffer: the most a writer holds in memory besides the caller's chunk. */
const BUFFER_SIZE = 1024 * 1024;

/** An fs error code, when there is one. */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns a raw fs error into one whose message says what went wrong with which path.
 * The original error stays available as `cause`, and its `code` is kept.
 */
export function describeWriteError(err: unknown, path: string): Error {
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  let message: string;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      message = `output folder does not exist: ${dirname(path)}`;
      break;
    case 'ENOSPC':
    case 'EDQUOT':
      message = `disk full while writing ${path}`;
      break;
    case 'EACCES':
    case 'EPERM':
      message = `cannot write ${path}: permission denied`;
      break;
    case 'EROFS':
      message = `cannot write ${path}: read-only file system`;
      break;
    case 'EISDIR':
      message = `cannot write ${path}: it is a directory`;
      break;
    default:
      message = `failed to write ${path}: ${detail}`;
  }
  const out = new Error(message, { cause: err }) as Error & { code?: string };
  if (code) out.code = code;
  return out;
}

/** Temp files of writers that were neither committed nor aborted; removed if the process exits normally. */
const liveTempFiles = new Set<string>();
let exitHookInstalled = false;
function trackTemp(tempPath: string): void {
  liveTempFiles.add(tempPath);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of liveTempFiles) {
        try { unlinkSync(p); } catch { /* already gone */ }
      }
    });
  }
}

/** `.<name>.<pid>.<random>.tmp` beside `path`. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether a process with this pid runs (EPERM: it does, as another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

const cleaned = new Set<string>();

/**
 * Removes the temp files that killed writers of `path` left beside it (`.<name>.<pid>.<hex>.tmp` whose pid is no
 * longer running). Done once per path per process, when a writer of that path opens; best effort.
 */
export function removeStaleTemps(path: string): number {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try { names = readdirSync(dir); } catch { return 0; }
  let removed = 0;
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(n.slice(prefix.length));
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, n));
      removed++;
    } catch { /* gone, or not ours to remove */ }
  }
  return removed;
}

/** fsync a folder so a rename inside it is durable. Best effort: not possible on Windows, and not fatal anywhere. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // Unsupported (Windows, some network file systems): the data itself is already synced.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** rename, retrying briefly on Windows where a reader (virus scanner, indexer) can hold the target open. */
async function renameReplacing(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.rename(from, to);
      return;
    } catch (err) {
      const code = errorCode(err);
      if (process.platform !== 'win32' || attempt >= 10 || !(code === 'EPERM' || code === 'EACCES' || code === 'EBUSY')) throw err;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

/**
 * A streaming atomic writer: data goes to a temp file beside `path`, which replaces `path` only on commit().
 *
 * ```ts
 * const w = await AtomicFileWriter.open('out/table.csv');
 * try {
 *   for (const chunk of chunks) await w.write(chunk);
 *   await w.commit();
 * } catch (err) {
 *   await w.abort();
 *   throw err;
 * }
 * ```
 *
 * write() resolves once the chunk has been written or copied, so the caller may reuse its buffer
 * afterwards; awaiting each write() is the backpressure that keeps memory bounded (at most ~1 MiB
 * is buffered here). Writes are applied in call order even if not awaited. After any failure the
 * temp file is removed and every later call rejects with the same error.
 */
export class AtomicFileWriter {
  /** Bytes accepted so far (the offset the next write() starts at). */
  get bytesWritten(): number { return this.accepted; }

  private accepted = 0;
  private readonly pending = Buffer.allocUnsafe(BUFFER_SIZE);
  private pendingLength = 0;
  private queue: Promise<void> = Promise.resolve();
  private state: 'open' | 'committed' | 'aborted' | 'failed' = 'open';
  private failure: Error | undefined;

  private constructor(
    /** The final path: it appears (or is replaced) only when commit() succeeds. */
    readonly path: string,
    /** The temp file that receives the data until commit(). */
    readonly tempPath: string,
    private fh: FileHandle | undefined,
  ) {}

  /** Creates the temp file. Fails with "output folder does not exist: …" etc. */
  static async open(path: string): Promise<AtomicFileWriter> {
    if (!cleaned.has(path)) {
      cleaned.add(path);
      removeStaleTemps(path);
    }
    const tempPath = tempPathFor(path);
    let fh: FileHandle;
    try {
      const st = await fsp.stat(path).catch(() => undefined);
      if (st?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      fh = await fsp.open(tempPath, 'wx');
    } catch (err) {
      throw describeWriteError(err, path);
    }
    trackTemp(tempPath);
    return new AtomicFileWriter(path, tempPath, fh);
  }

  /** Appends a chunk (strings are written as UTF-8). */
  write(chunk: string | Uint8Array): Promise<void> {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    return this.enqueue(async () => {
      this.assertOpen('write');
      if (bytes.byteLength === 0) return;
      this.accepted += bytes.byteLength;
      if (bytes.byteLength < COALESCE_LIMIT) {
        if (this.pendingLength + bytes.byteLength > BUFFER_SIZE) await this.flushPending();
        this.pending.set(bytes, this.pendingLength);
        this.pendingLength += bytes.byteLength;
      } else {
        await this.flushPending();
        await this.writeAll(bytes);
      }
    });
  }

  /** Flushes, fsyncs and closes the temp file, then renames it over the final path. */
  commit(): Promise<void> {
    return this.enqueue(async () => {
      this.assertOpen('commit');
      await this.flushPending();
      const fh = this.fh!;
      try {
        await fh.sync();
      } catch (err) {
        throw describeWriteError(err, this.path);
      }
      this.fh = undefined;
      try {
        await fh.close();
        await renameReplacing(this.tempPath, this.path);
      } catch (err) {
        throw describeWriteError(err, this.path);
      }
      this.state = 'committed';
      liveTempFiles.delete(this.tempPath);
      await syncDir(dirname(this.path));
    });
  }

  /** Discards everything written: closes and removes the temp file. Safe to call more than once, and a no-op after commit(). */
  async abort(): Promise<void> {
    // Let writes already queued settle first, so none of them touches the file after it is removed.
    await this.queue.catch(() => undefined);
    if (this.state === 'committed' || this.state === 'aborted') return;
    if (this.state === 'open') this.state = 'aborted';
    await this.cleanup();
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      try {
        await op();
      } catch (err) {
        if (this.state === 'open') {
          this.state = 'failed';
          this.failure = err instanceof Error ? err : new Error(String(err));
          await this.cleanup();
        }
        throw err;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(op: string): void {
    if (this.state === 'failed' && this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error(`cannot ${op} ${this.path}: the writer was already ${this.state}`);
  }

  private async flushPending(): Promise<void> {
    if (this.pendingLength === 0) return;
    const n = this.pendingLength;
    this.pendingLength = 0;
    await this.writeAll(this.pending.subarray(0, n));
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < bytes.byteLength) {
        const { bytesWritten } = await this.fh!.write(bytes, off, bytes.byteLength - off);
        off += bytesWritten;
      }
    } catch (err) {
      throw describeWriteError(err, this.path);
    }
  }

  private async cleanup(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.pendingLength = 0;
    await fh?.close().catch(() => undefined);
    await fsp.unlink(this.tempPath).catch(() => undefined);
    liveTempFiles.delete(this.tempPath);
  }
}

/** Writes a whole file atomically (temp file, fsync, rename). Strings are written as UTF-8. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const w = await AtomicFileWriter.open(path);
  try {
    await w.write(data);
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

/** Writes `value` as pretty-printed JSON (2-space indent, trailing newline), atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) throw new Error(`cannot write ${path}: value is not JSON-serializable`);
  await writeFileAtomic(path, text + '\n');
}
