// The explorer's projections: the cache beside the table (atomic writes), the job's cache key, and the worker
// thread's bundle.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic';
import { makeProjectionCache, projectionCachePath, projectionCacheValid, type ProjectionCacheKey } from '../core/projection';
import { jobMethod, jobParams, jobSeed, type ProjectionJob } from '../protocol/projection';
import type { ProjectionView } from '../protocol/webview';
import { toShared } from './projection-client';
import type { LoadedTable } from './dashboard-table-views';


/** The table's vectors in a SharedArrayBuffer, copied once per loaded table; every worker job shares it. */
export function sharedVectors(t: LoadedTable): SharedArrayBuffer {
  t.shared ??= toShared(t.table.vectors, t.id.rows, t.id.dim);
  return t.shared;
}

/** The cache key of a projection job: method, seed and every parameter. */
export function cacheKeyOf(job: ProjectionJob): ProjectionCacheKey {
  return { method: jobMethod(job), seed: jobSeed(job), params: jobParams(job) };
}

export function projectionViewOf(key: ProjectionCacheKey, c: { x: number[]; y: number[]; explained?: [number, number] }, cached: boolean): ProjectionView {
  return {
    method: key.method, ...(key.seed !== null ? { seed: key.seed } : {}), ...(Object.keys(key.params).length ? { params: { ...key.params } } : {}),
    x: c.x, y: c.y, ...(c.explained ? { explained: c.explained } : {}), ...(cached ? { cached: true } : {}),
  };
}

/** The projection `key` of the table from the cache beside it, when the file is there and matches; else null. */
export function readProjectionCache(t: LoadedTable, key: ProjectionCacheKey): ProjectionView | null {
  try {
    const c = JSON.parse(fs.readFileSync(projectionCachePath(t.file, key.method, key.seed), 'utf8')) as unknown;
    return projectionCacheValid(c, t.id, key) ? projectionViewOf(key, c, true) : null;
  } catch {
    return null; // no cache, or unreadable: compute
  }
}

/** Writes a projection beside the table (atomically: a reader never sees half a file). */
export async function writeProjectionCache(t: LoadedTable, key: ProjectionCacheKey, p: { x: ArrayLike<number>; y: ArrayLike<number>; explained?: [number, number] }): Promise<string> {
  const file = projectionCachePath(t.file, key.method, key.seed);
  await writeFileAtomic(file, JSON.stringify(makeProjectionCache(p, t.id, key)) + '\n');
  return file;
}

/**
 * The projection worker's bundle beside this file (dist/projection-worker.js next to dist/extension.js); from the
 * sources (tests and tools under tsx, src/extension/) the repository's built dist/projection-worker.js.
 */
export const DEFAULT_PROJECTION_WORKER = [path.join(__dirname, 'projection-worker.js'), path.resolve(__dirname, '..', '..', 'dist', 'projection-worker.js')]
  .find((f) => fs.existsSync(f)) ?? path.join(__dirname, 'projection-worker.js');
