// Helpers shared by the 2-D projections, t-SNE (src/core/tsne.ts) and UMAP (src/core/umap.ts): the input check,
// row normalisation, the layout for n ≤ 3, progress reporting, and the sparse symmetrised neighbour matrix both
// build from the k nearest neighbours (docs/projections.md).

import { pca2d } from './projection';

/** A sparse square matrix as CSR rows: row i is cols/vals[rowPtr[i] .. rowPtr[i + 1]). */
export interface SparseRows {
  n: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}



/**
 * Checks (vectors, n, dim) for the 2-D projections: n and dim integers (n ≥ 0, dim ≥ 1), enough values, and every
 * value finite (a non-finite value throws a RangeError that names the row and column).
 */
export function checkProjectionInput(fn: string, vectors: Float32Array, n: number, dim: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${fn}: n must be a non-negative integer (got ${n})`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`${fn}: dim must be a positive integer (got ${dim})`);
  if (!(vectors instanceof Float32Array)) throw new RangeError(`${fn}: vectors must be a Float32Array`);
  if (vectors.length < n * dim) throw new RangeError(`${fn}: vectors has ${vectors.length} values, fewer than n × dim = ${n * dim}`);
  const len = n * dim;
  for (let t = 0; t < len; t++) {
    const v = vectors[t];
    if (v - v !== 0) { // NaN or ±Infinity
      const row = Math.floor(t / dim);
      throw new RangeError(`${fn}: row ${row} has a non-finite value (${v}) at column ${t - row * dim}`);
    }
  }
}

/** The projections' input metric, checked: 'euclidean' (the default) or 'cosine'. */
export function projectionDistance(fn: string, distance: unknown): 'euclidean' | 'cosine' {
  const d = distance ?? 'euclidean';
  if (d !== 'euclidean' && d !== 'cosine') throw new RangeError(`${fn}: distance must be "euclidean" or "cosine" (got ${String(d)})`);
  return d;
}

/** Rows scaled to unit length (zero rows stay zero): the geometry the cosine distance sees. */
export function normalizeRows(vectors: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = i * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += vectors[b + j] * vectors[b + j];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) out[b + j] = vectors[b + j] * inv;
  }
  return out;
}

/**
 * The layout for n ≤ 3, where neither method has neighbours to speak of: the PCA coordinates scaled so the
 * largest |coordinate| is 1 (all zeros when the rows coincide). Deterministic, independent of the seed.
 */
export function smallLayout(vectors: Float32Array, n: number, dim: number, distance: 'euclidean' | 'cosine'): Float32Array {
  const out = new Float32Array(2 * n);
  if (n === 0) return out;
  const p = pca2d(distance === 'cosine' ? normalizeRows(vectors, n, dim) : vectors, n, dim);
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(p.x[i]), Math.abs(p.y[i]));
  if (!(m > 0) || !Number.isFinite(m)) return out;
  for (let i = 0; i < n; i++) { out[2 * i] = p.x[i] / m; out[2 * i + 1] = p.y[i] / m; }
  return out;
}

/** Calls onProgress at most ~100 times over `total` steps (and always at the end). */
export function progressReporter(total: number, onProgress?: (done: number, total: number) => void): (done: number) => void {
  if (!onProgress) return () => {};
  const every = Math.max(1, Math.ceil(total / 100));
  return (done: number) => { if (done % every === 0 || done === total) onProgress(done, total); };
}

/**
 * Symmetrises a matrix given as n rows of k (index, value) entries: 'sum' gives scale·(a_ij + a_ji), 'fuzzy'
 * gives a_ij + a_ji − a_ij·a_ji (UMAP's fuzzy union; scale ignored). Entries of value 0 on both sides are dropped.
 * Row i lists its own entries in their order, then those only in the transpose by ascending source row. Exactly
 * symmetric (the two sides combine the same two numbers).
 */
export function symmetrize(n: number, k: number, indices: Int32Array, values: Float64Array, scale: number, op: 'sum' | 'fuzzy'): SparseRows {
  // Transpose: for row j, the rows i that list j, ascending, with their values.
  const tPtr = new Int32Array(n + 1);
  for (let e = 0; e < n * k; e++) tPtr[indices[e] + 1]++;
  for (let i = 0; i < n; i++) tPtr[i + 1] += tPtr[i];
  const tSrc = new Int32Array(n * k);
  const tVal = new Float64Array(n * k);
  const fill = tPtr.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t];
      const at = fill[j]++;
      tSrc[at] = i;
      tVal[at] = values[i * k + t];
    }
  }
  const a = new Float64Array(n); // own value of entry (i, j)
  const b = new Float64Array(n); // transposed value (j, i)
  const seen = new Int32Array(n).fill(-1);
  const list = new Int32Array(n);
  const rowPtr = new Int32Array(n + 1);
  // Pass 1 counts, pass 2 fills.
  let cols = new Int32Array(0);
  let vals = new Float64Array(0);
  for (let pass = 0; pass < 2; pass++) {
    let nnz = 0;
    seen.fill(-1);
    for (let i = 0; i < n; i++) {
      let m = 0;
      for (let t = 0; t < k; t++) {
        const j = indices[i * k + t];
        if (seen[j] !== i) { seen[j] = i; list[m++] = j; a[j] = 0; b[j] = 0; }
        a[j] += values[i * k + t];
      }
      for (let e = tPtr[i]; e < tPtr[i + 1]; e++) {
        const j = tSrc[e];
        if (seen[j] !== i) { seen[j] = i; list[m++] = j; a[j] = 0; b[j] = 0; }
        b[j] += tVal[e];
      }
      for (let u = 0; u < m; u++) {
        const j = list[u];
        const v = op === 'sum' ? (a[j] + b[j]) * scale : a[j] + b[j] - a[j] * b[j];
        if (v === 0) continue;
        if (pass === 1) { cols[nnz] = j; vals[nnz] = v; }
        nnz++;
      }
      if (pass === 0) rowPtr[i + 1] = nnz;
    }
    if (pass === 0) { cols = new Int32Array(nnz); vals = new Float64Array(nnz); }
  }
  return { n, rowPtr, cols, vals };
}
