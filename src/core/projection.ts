// 2-D projections of an embedding table for the explorer: PCA (exact covariance, top-2 eigenvectors), k-means
// colouring (metrics.kmeans), the cache file beside the table, and CSV export. Pure TypeScript, no I/O.
//
// PCA: one pass builds the dim×dim covariance in Float64 (4 rows per sweep of the upper triangle, so 50,000 × 128
// is ~0.4 G multiply-adds), then block subspace iteration with Rayleigh–Ritz (block of min(dim, 8) vectors, a Jacobi
// eigensolver for the small block) gives the top two eigenvectors; dim ≤ 8 is solved by Jacobi directly.
// Sign convention (deterministic, like sklearn's svd_flip): each component's largest-magnitude coefficient is
// positive (the first such index on a tie). The start block is fixed, so the same table gives the same projection.

import { kmeans } from './metrics-clustering';
import { csvQuote, formatFloat32 } from './table';

export interface Pca2d {
  /** Row i's coordinates on the first and second principal axes. */
  x: Float32Array;
  y: Float32Array;
  /** The two unit components, row-major (2 × dim). */
  components: Float64Array;
  mean: Float64Array;
  /** Variances along the two components (eigenvalues of the sample covariance, n − 1 denominator). */
  eigenvalues: [number, number];
  /** eigenvalues / total variance (0 when the table has no variance). */
  explained: [number, number];
  totalVariance: number;
}

/** Mean and sample covariance (n − 1 denominator; n when n = 1) of n rows, as a full symmetric dim×dim matrix. */
export function covariance(vectors: Float32Array, n: number, dim: number): { mean: Float64Array; cov: Float64Array } {
  if (vectors.length < n * dim) throw new RangeError('covariance: vectors shorter than n × dim');
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const b = i * dim;
    for (let j = 0; j < dim; j++) mean[j] += vectors[b + j];
  }
  if (n > 0) for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const r0 = new Float64Array(dim), r1 = new Float64Array(dim), r2 = new Float64Array(dim), r3 = new Float64Array(dim);
  const center = (row: number, out: Float64Array) => {
    const b = row * dim;
    for (let j = 0; j < dim; j++) out[j] = vectors[b + j] - mean[j];
  };
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    center(i, r0); center(i + 1, r1); center(i + 2, r2); center(i + 3, r3);
    for (let a = 0; a < dim; a++) {
      const a0 = r0[a], a1 = r1[a], a2 = r2[a], a3 = r3[a];
      const base = a * dim;
      for (let c = a; c < dim; c++) cov[base + c] += a0 * r0[c] + a1 * r1[c] + a2 * r2[c] + a3 * r3[c];
    }
  }
  for (; i < n; i++) {
    center(i, r0);
    for (let a = 0; a < dim; a++) {
      const a0 = r0[a];
      if (a0 === 0) continue;
      const base = a * dim;
      for (let c = a; c < dim; c++) cov[base + c] += a0 * r0[c];
    }
  }
  const denom = n > 1 ? n - 1 : 1;
  for (let a = 0; a < dim; a++) {
    for (let c = a; c < dim; c++) {
      const v = cov[a * dim + c] / denom;
      cov[a * dim + c] = v;
      cov[c * dim + a] = v;
    }
  }
  return { mean, cov };
}

/**
 * Eigen-decomposition of a small symmetric m×m matrix by cyclic Jacobi rotations. Returns eigenvalues in
 * descending order and the eigenvectors as rows (m × m, row-major, row i ↔ value i).
 */
export function jacobiEigen(a: Float64Array, m: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a.subarray(0, m * m));
  const V = new Float64Array(m * m);
  for (let i = 0; i < m; i++) V[i * m + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < m; p++) {
      diag += A[p * m + p] * A[p * m + p];
      for (let q = p + 1; q < m; q++) off += A[p * m + q] * A[p * m + q];
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = A[p * m + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = A[p * m + p], aqq = A[q * m + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < m; k++) { // A ← Jᵀ A J (columns, then rows)
          const akp = A[k * m + p], akq = A[k * m + q];
          A[k * m + p] = c * akp - s * akq;
          A[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = A[p * m + k], aqk = A[q * m + k];
          A[p * m + k] = c * apk - s * aqk;
          A[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) { // V ← V J (V's columns are the eigenvectors)
          const vkp = V[k * m + p], vkq = V[k * m + q];
          V[k * m + p] = c * vkp - s * vkq;
          V[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => A[y * m + y] - A[x * m + x] || x - y);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * m);
  order.forEach((col, i) => {
    values[i] = A[col * m + col];
    for (let k = 0; k < m; k++) vectors[i * m + k] = V[k * m + col];
  });
  return { values, vectors };
}

/** Flips v (in place) so that its largest-magnitude entry is positive (the first one on a tie). */
export function fixSign(v: Float64Array, offset = 0, len = v.length - offset): void {
  let best = 0;
  let bi = -1;
  for (let j = 0; j < len; j++) {
    const a = Math.abs(v[offset + j]);
    if (a > best + 1e-12 * best) { best = a; bi = j; }
  }
  if (bi >= 0 && v[offset + bi] < 0) for (let j = 0; j < len; j++) v[offset + j] = -v[offset + j];
}

/** Top `count` eigenpairs of a symmetric dim×dim matrix (descending), eigenvectors as rows with fixSign applied. */
export function topEigen(cov: Float64Array, dim: number, count: number, opts: { tol?: number; maxIter?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  const want = Math.min(count, dim);
  const m = Math.min(dim, Math.max(8, 2 * want));
  if (m === dim) {
    const e = jacobiEigen(cov, dim);
    const vectors = e.vectors.slice(0, want * dim);
    for (let c = 0; c < want; c++) fixSign(vectors, c * dim, dim);
    return { values: e.values.slice(0, want), vectors };
  }
  const tol = opts.tol ?? 1e-12;
  const maxIter = opts.maxIter ?? 2000;
  // Q: m column vectors stored as rows (m × dim), from a fixed sequence (mulberry32, seed 0x9e3779b9).
  let s = 0x9e3779b9 >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  let Q = new Float64Array(m * dim);
  for (let i = 0; i < Q.length; i++) Q[i] = rand();
  orthonormalize(Q, m, dim);
  const Z = new Float64Array(m * dim);
  const H = new Float64Array(m * m);
  let values: Float64Array = new Float64Array(m);
  let prev: Float64Array = new Float64Array(want * dim);
  for (let it = 0; it < maxIter; it++) {
    matRows(cov, dim, Q, m, Z); // Z = (C Qᵀ)ᵀ: row r = C q_r
    // Rayleigh–Ritz on span(Q): H = Q C Qᵀ, rotate Q by H's eigenvectors.
    for (let a = 0; a < m; a++) for (let b = a; b < m; b++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += Q[a * dim + j] * Z[b * dim + j];
      H[a * m + b] = d; H[b * m + a] = d;
    }
    const e = jacobiEigen(H, m);
    values = e.values;
    // Next block: the rotated Z (= C times the Ritz vectors), orthonormalised; the Ritz vectors themselves for the check.
    const ritz = new Float64Array(m * dim);
    const next = new Float64Array(m * dim);
    for (let r = 0; r < m; r++) for (let a = 0; a < m; a++) {
      const w = e.vectors[r * m + a];
      if (w === 0) continue;
      for (let j = 0; j < dim; j++) { ritz[r * dim + j] += w * Q[a * dim + j]; next[r * dim + j] += w * Z[a * dim + j]; }
    }
    // Converged when the wanted Ritz vectors stop moving (|cos| → 1).
    let worst = 0;
    for (let c = 0; c < want; c++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += ritz[c * dim + j] * prev[c * dim + j];
      worst = Math.max(worst, 1 - Math.abs(d));
    }
    prev = ritz.slice(0, want * dim);
    if (it > 0 && worst < tol) break;
    if (values[0] <= 0) break; // zero matrix: any basis will do
    orthonormalize(next, m, dim);
    Q = next;
  }
  const vectors = prev;
  for (let c = 0; c < want; c++) fixSign(vectors, c * dim, dim);
  return { values: values.slice(0, want), vectors };
}

function matRows(C: Float64Array, dim: number, Q: Float64Array, m: number, out: Float64Array): void {
  for (let r = 0; r < m; r++) {
    const qo = r * dim;
    for (let i = 0; i < dim; i++) {
      let d = 0;
      const co = i * dim;
      for (let j = 0; j < dim; j++) d += C[co + j] * Q[qo + j];
      out[qo + i] = d;
    }
  }
}

/** Modified Gram–Schmidt on m rows of length dim (in place); a dependent row is replaced by a unit basis vector. */
function orthonormalize(Q: Float64Array, m: number, dim: number): void {
  for (let r = 0; r < m; r++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < r; p++) {
        let d = 0;
        for (let j = 0; j < dim; j++) d += Q[r * dim + j] * Q[p * dim + j];
        for (let j = 0; j < dim; j++) Q[r * dim + j] -= d * Q[p * dim + j];
      }
    }
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += Q[r * dim + j] ** 2;
    norm = Math.sqrt(norm);
    if (norm < 1e-150) {
      Q.fill(0, r * dim, r * dim + dim);
      Q[r * dim + (r % dim)] = 1;
      r--; // re-orthogonalise the replacement
      continue;
    }
    for (let j = 0; j < dim; j++) Q[r * dim + j] /= norm;
  }
}

/** PCA of n rows to 2-D (fewer than 2 dims: the missing axis is 0). */
export function pca2d(vectors: Float32Array, n: number, dim: number): Pca2d {
  if (!(dim >= 1)) throw new RangeError(`pca2d: bad dim ${dim}`);
  const { mean, cov } = covariance(vectors, n, dim);
  return pca2dFromCovariance(vectors, n, dim, mean, cov);
}

/**
 * The rest of PCA once the mean and the (symmetric) covariance are known: the top two eigenvectors and the
 * projection of every row. Shared by pca2d and the extension host's sliced variant, which builds the covariance
 * in slices.
 */
export function pca2dFromCovariance(vectors: Float32Array, n: number, dim: number, mean: Float64Array, cov: Float64Array): Pca2d {
  let total = 0;
  for (let j = 0; j < dim; j++) total += cov[j * dim + j];
  const e = topEigen(cov, dim, 2);
  const components = new Float64Array(2 * dim);
  components.set(e.vectors.subarray(0, Math.min(2, dim) * dim));
  const eig: [number, number] = [Math.max(0, e.values[0] ?? 0), Math.max(0, e.values[1] ?? 0)];
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  let m0 = 0, m1 = 0;
  for (let j = 0; j < dim; j++) { m0 += mean[j] * components[j]; m1 += mean[j] * components[dim + j]; }
  for (let i = 0; i < n; i++) {
    const b = i * dim;
    let a0 = 0, a1 = 0;
    for (let j = 0; j < dim; j++) { const v = vectors[b + j]; a0 += v * components[j]; a1 += v * components[dim + j]; }
    x[i] = a0 - m0;
    y[i] = a1 - m1;
  }
  return { x, y, components, mean, eigenvalues: eig, explained: total > 0 ? [eig[0] / total, eig[1] / total] : [0, 0], totalVariance: total };
}

/** k-means cluster of each row (for colouring), seeded; metrics.kmeans does the work. */
export function clusterAssignments(vectors: Float32Array, n: number, dim: number, k: number, seed = 1): Int32Array {
  return kmeans(vectors, n, dim, Math.max(1, Math.min(k, n)), seed).assignments;
}

// ---------------------------------------------------------------------------------------------- cache beside the table

export type ProjectionCacheMethod = 'pca' | 'umap' | 'tsne';

/** What a cached projection was computed with: the method, its seed (null for PCA) and every parameter. */
export interface ProjectionCacheKey {
  method: ProjectionCacheMethod;
  seed: number | null;
  /** The method's parameters (none for PCA): a cache computed with other values is not reused. */
  params: Record<string, number | string>;
}

export const PCA_CACHE_KEY: ProjectionCacheKey = { method: 'pca', seed: null, params: {} };

export interface ProjectionCache extends ProjectionCacheKey {
  version: 2;
  /** Identity of the table the projection was computed from. */
  table: { rows: number; dim: number; size: number; mtimeMs: number };
  explained?: [number, number];
  x: number[];
  y: number[];
}

/** `<table>.projection-<method>[-<seed>].json`, beside the table (one file per method and seed; params are checked inside). */
export function projectionCachePath(tablePath: string, method: ProjectionCacheMethod, seed?: number | null): string {
  return `${tablePath}.projection-${method}${method === 'pca' || seed === undefined || seed === null ? '' : `-${seed}`}.json`;
}

export function makeProjectionCache(
  p: { x: ArrayLike<number>; y: ArrayLike<number>; explained?: [number, number] }, table: ProjectionCache['table'], key: ProjectionCacheKey = PCA_CACHE_KEY,
): ProjectionCache {
  const params: Record<string, number | string> = {};
  for (const k of Object.keys(key.params).sort()) params[k] = key.params[k];
  return {
    version: 2, method: key.method, seed: key.method === 'pca' ? null : key.seed, params, table,
    ...(p.explained ? { explained: [p.explained[0], p.explained[1]] as [number, number] } : {}), x: Array.from(p.x), y: Array.from(p.y),
  };
}

function sameParams(a: unknown, b: Record<string, number | string>): boolean {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return false;
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && (a as Record<string, unknown>)[k] === b[k]);
}

/**
 * Whether a parsed cache file holds the projection `key` asks for (method, seed, parameters) of this very table
 * (same rows, dim, file size and mtime), with one finite coordinate pair per row.
 */
export function projectionCacheValid(c: unknown, table: ProjectionCache['table'], key: ProjectionCacheKey = PCA_CACHE_KEY): c is ProjectionCache {
  if (typeof c !== 'object' || c === null) return false;
  const p = c as Partial<ProjectionCache>;
  const seed = key.method === 'pca' ? null : key.seed;
  return p.version === 2 && p.method === key.method && (p.seed ?? null) === seed && sameParams(p.params, key.params)
    && !!p.table && p.table.rows === table.rows && p.table.dim === table.dim && p.table.size === table.size && p.table.mtimeMs === table.mtimeMs
    && Array.isArray(p.x) && Array.isArray(p.y) && p.x.length === table.rows && p.y.length === table.rows
    && p.x.every(Number.isFinite) && p.y.every(Number.isFinite);
}

// ---------------------------------------------------------------------------------------------- CSV

/** `path,label,x,y[,cluster]`, one line per row, in table order. */
export function projectionCsv(
  paths: readonly string[], labels: readonly string[], x: ArrayLike<number>, y: ArrayLike<number>, clusters?: ArrayLike<number> | null,
): string {
  const n = paths.length;
  if (labels.length !== n || x.length !== n || y.length !== n || (clusters && clusters.length !== n)) {
    throw new RangeError('projectionCsv: paths, labels, coordinates and clusters differ in length');
  }
  const lines = new Array<string>(n + 1);
  lines[0] = clusters ? 'path,label,x,y,cluster' : 'path,label,x,y';
  for (let i = 0; i < n; i++) {
    const base = `${csvQuote(paths[i])},${csvQuote(labels[i])},${formatFloat32(x[i])},${formatFloat32(y[i])}`;
    lines[i + 1] = clusters ? `${base},${clusters[i]}` : base;
  }
  return lines.join('\n') + '\n';
}

/** `query,rank,path,label,distance,wrong_label,beyond_threshold` for one neighbour list. */
export function neighborsCsv(
  query: { path: string; label?: string }, neighbors: ReadonlyArray<{ rank: number; path: string; label: string; distance: number }>,
  threshold?: number | null,
): string {
  const lines = ['query,rank,path,label,distance,wrong_label,beyond_threshold'];
  for (const nb of neighbors) {
    const wrong = query.label ? (nb.label !== query.label ? 1 : 0) : '';
    const beyond = threshold === undefined || threshold === null ? '' : nb.distance > threshold ? 1 : 0;
    lines.push(`${csvQuote(query.path)},${nb.rank},${csvQuote(nb.path)},${csvQuote(nb.label)},${formatFloat32(nb.distance)},${wrong},${beyond}`);
  }
  return lines.join('\n') + '\n';
}
