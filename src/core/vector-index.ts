/**
 * An approximate nearest-neighbour index of a table (issue 18): `embedlab index <table> --out <dir>`, then
 * `knn`/`classify --index <dir>`. The engine is LanceDB (`@lancedb/lancedb`, an optional dependency: an embedded
 * vector database over Lance/Arrow files, its IVF-PQ index). docs/vector-index.md records why and what was measured.
 *
 * `<dir>/index.json` records the table it was built from (its fingerprint: a sha256 of its paths and vectors), the
 * distance, the index type and parameters; `<dir>/lance/` is the LanceDB database (one table `vectors`: `row`, the
 * row's number in the table, and `vector`). A search asks LanceDB for candidates (IVF partitions probed, PQ codes,
 * then `refineFactor` × k candidates re-ranked on the full vectors) and ranks them again here with the table's own
 * exact distance, so the distances printed are the same as exact search's and only recall is approximate.
 *
 * An index of another table (another fingerprint) is refused. Without the optional dependency, `loadLance` says so
 * and the caller runs exact search, saying that it does (never silently).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DistanceName } from './config-types';
import { BadDataError, LabError } from './errors';
import { writeJsonAtomic } from './atomic';

export const INDEX_FORMAT = 'embedding-lab-vector-index/1';

/** The optional engine is not installed (or does not load on this platform): exit 2 where it was asked for. */
export class IndexEngineError extends LabError {
  constructor(message: string) { super('bad-usage', message); }
}

export interface IndexInfo {
  format: typeof INDEX_FORMAT;
  engine: string;
  /** The table's fingerprint (tableFingerprint), its rows and dim. */
  table: { fingerprint: string; rows: number; dim: number; source: string };
  distance: DistanceName;
  index: { type: 'IVF_PQ'; numPartitions: number; numSubVectors: number; nprobes: number; refineFactor: number };
  buildSeconds: number;
  createdAt: string;
}

export interface TableLike { paths: string[]; vectors: Float32Array; dim: number }

/** sha256 of the rows' paths and the vectors' bytes: an index answers for this table and no other. */
export function tableFingerprint(t: TableLike): string {
  const h = createHash('sha256');
  h.update(`${t.paths.length}x${t.dim}\0`);
  for (const p of t.paths) h.update(p).update('\0');
  h.update(new Uint8Array(t.vectors.buffer, t.vectors.byteOffset, t.vectors.byteLength));
  return `sha256:${h.digest('hex')}`;
}

type Lance = typeof import('@lancedb/lancedb');

/** Loads LanceDB; `{ ok: false, reason }` when the optional dependency is missing or does not load here. */
export async function loadLance(): Promise<{ ok: true; lance: Lance; version: string } | { ok: false; reason: string }> {
  try {
    const lance = await import('@lancedb/lancedb');
    let version = 'unknown';
    try {
      const pkg = join(dirname(require.resolve('@lancedb/lancedb')), '..', 'package.json');
      version = (JSON.parse(await fsp.readFile(pkg, 'utf8')) as { version: string }).version;
    } catch { /* not where it is usually */ }
    return { ok: true, lance, version };
  } catch (err) {
    return { ok: false, reason: `the optional dependency @lancedb/lancedb is not installed or does not load on ${process.platform}-${process.arch} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); install it with npm install @lancedb/lancedb@0.31.0` };
  }
}

const lanceDistance = (d: DistanceName): 'l2' | 'cosine' => (d === 'cosine' ? 'cosine' : 'l2');

export interface BuildOptions {
  distance: DistanceName;
  /** IVF partitions (default ≈ √rows, at least 1). */
  numPartitions?: number;
  /** PQ sub-vectors (default dim / 8, dividing dim). */
  numSubVectors?: number;
  nprobes?: number;
  refineFactor?: number;
  source?: string;
}

function defaultSubVectors(dim: number): number {
  for (let s = Math.max(1, Math.floor(dim / 8)); s >= 1; s--) if (dim % s === 0) return s;
  return 1;
}

/** Builds the index of `t` into `dir` (made; a previous index there is replaced). */
export async function buildIndex(t: TableLike, dir: string, o: BuildOptions): Promise<IndexInfo> {
  const l = await loadLance();
  if (!l.ok) throw new IndexEngineError(`cannot build an index: ${l.reason}`);
  const t0 = performance.now();
  const n = t.paths.length;
  const dim = t.dim;
  if (n < 256) throw new BadDataError(`a table of ${n} rows is too small for an IVF-PQ index (it needs at least 256 rows to train its codebooks); exact search is fast at this size`);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.rm(join(dir, 'lance'), { recursive: true, force: true });
  const db = await l.lance.connect(join(dir, 'lance'));
  // The CommonJS build LanceDB itself requires: an ESM import would be a second copy whose Table it does not accept.
  const arrow = require('apache-arrow') as typeof import('apache-arrow');
  const batchRows = 65536;
  let table: Awaited<ReturnType<typeof db.createTable>> | undefined;
  for (let s = 0; s < n; s += batchRows) {
    const e = Math.min(n, s + batchRows);
    const len = e - s;
    const itemField = new arrow.Field('item', new arrow.Float32(), true);
    const listType = new arrow.FixedSizeList(dim, itemField);
    const schema = new arrow.Schema([new arrow.Field('row', new arrow.Int32(), false), new arrow.Field('vector', listType, false)]);
    const rowData = arrow.makeData({ type: new arrow.Int32(), length: len, data: Int32Array.from({ length: len }, (_, i) => s + i) });
    const values = arrow.makeData({ type: new arrow.Float32(), length: len * dim, data: t.vectors.subarray(s * dim, e * dim) });
    const vecData = arrow.makeData({ type: listType, length: len, nullCount: 0, child: values });
    const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: len, nullCount: 0, children: [rowData, vecData] });
    const batch = new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
    if (!table) table = await db.createTable('vectors', batch, { mode: 'overwrite' });
    else await table.add(batch);
  }
  const numPartitions = o.numPartitions ?? Math.max(1, Math.round(Math.sqrt(n)));
  const numSubVectors = o.numSubVectors ?? defaultSubVectors(dim);
  if (dim % numSubVectors !== 0) throw new BadDataError(`--sub-vectors ${numSubVectors} does not divide the vector length ${dim}`);
  await table!.createIndex('vector', { config: l.lance.Index.ivfPq({ numPartitions, numSubVectors, distanceType: lanceDistance(o.distance) }), replace: true });
  const info: IndexInfo = {
    format: INDEX_FORMAT, engine: `lancedb ${l.version}`,
    table: { fingerprint: tableFingerprint(t), rows: n, dim, source: o.source ?? '' },
    distance: o.distance,
    index: { type: 'IVF_PQ', numPartitions, numSubVectors, nprobes: o.nprobes ?? Math.max(20, Math.ceil(numPartitions / 16)), refineFactor: o.refineFactor ?? 10 },
    buildSeconds: (performance.now() - t0) / 1000, createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(join(dir, 'index.json'), info);
  db.close();
  return info;
}

/** Reads `<dir>/index.json`; a folder that is not an index is an error naming it. */
export async function readIndexInfo(dir: string): Promise<IndexInfo> {
  let text: string;
  try { text = await fsp.readFile(join(dir, 'index.json'), 'utf8'); } catch {
    throw new BadDataError(`${dir} is not a vector index (no index.json): build one with embedlab index <table> --out ${dir}`);
  }
  const info = JSON.parse(text) as IndexInfo;
  if (info.format !== INDEX_FORMAT) throw new BadDataError(`${dir}/index.json is not an index of this version (format ${String(info.format)})`);
  return info;
}

export interface OpenIndex {
  info: IndexInfo;
  /** The k nearest rows of each query (nq × dim), ranked by the exact distance; distances as exact search gives them. */
  search(queries: Float32Array, nq: number, k: number): Promise<{ indices: Int32Array; distances: Float32Array }>;
  close(): void;
}

/**
 * Opens an index for table `t`: refused (naming both) when it was built from another table or for another
 * distance than `distance`.
 */
export async function openIndex(dir: string, t: TableLike, distance: DistanceName, exactDistance: (q: Float32Array, qo: number, row: number) => number): Promise<OpenIndex> {
  const info = await readIndexInfo(dir);
  const fp = tableFingerprint(t);
  if (info.table.fingerprint !== fp || info.table.dim !== t.dim) {
    throw new BadDataError(`index ${dir} was built from another table (${info.table.source || 'unknown'}: ${info.table.rows} rows × ${info.table.dim}, ${info.table.fingerprint.slice(0, 19)}…), `
      + `not this one (${t.paths.length} rows × ${t.dim}, ${fp.slice(0, 19)}…): build it again with embedlab index`);
  }
  if (info.distance !== distance && lanceDistance(info.distance) !== lanceDistance(distance)) {
    throw new BadDataError(`index ${dir} was built for ${info.distance} distance, this search uses ${distance}: build it again with --distance ${distance}`);
  }
  const l = await loadLance();
  if (!l.ok) throw new IndexEngineError(l.reason);
  const db = await l.lance.connect(join(dir, 'lance'));
  const table = await db.openTable('vectors');
  const dim = t.dim;
  return {
    info,
    async search(queries, nq, k) {
      const indices = new Int32Array(nq * k).fill(-1);
      const distances = new Float32Array(nq * k).fill(Infinity);
      for (let q = 0; q < nq; q++) {
        const qv = queries.subarray(q * dim, (q + 1) * dim);
        const hits = await table.vectorSearch(Array.from(qv)).distanceType(lanceDistance(info.distance)).limit(k)
          .nprobes(info.index.nprobes).refineFactor(info.index.refineFactor).select(['row', '_distance']).toArray() as Array<{ row: number }>;
        const ranked = hits.map((h) => ({ row: h.row, d: exactDistance(queries, q * dim, h.row) })).sort((a, b) => a.d - b.d || a.row - b.row);
        ranked.slice(0, k).forEach((h, i) => { indices[q * k + i] = h.row; distances[q * k + i] = h.d; });
      }
      return { indices, distances };
    },
    close() { table.close(); db.close(); },
  };
}

/** The exact distance of a query to a table row, as knn() computes it. */
export function rowDistance(distance: DistanceName, vectors: Float32Array, dim: number): (q: Float32Array, qo: number, row: number) => number {
  return (q, qo, row) => {
    const b = row * dim;
    if (distance === 'cosine') {
      let dot = 0; let na = 0; let nb = 0;
      for (let j = 0; j < dim; j++) { const x = q[qo + j]; const y = vectors[b + j]; dot += x * y; na += x * x; nb += y * y; }
      return 1 - dot / (Math.sqrt(na * nb) || 1);
    }
    let s = 0;
    for (let j = 0; j < dim; j++) { const d = q[qo + j] - vectors[b + j]; s += d * d; }
    return distance === 'squared-euclidean' ? s : Math.sqrt(s);
  };
}
