// UMAP to 2-D (McInnes, Healy & Melville 2018), following umap-learn's defaults and its optimiser
// (optimize_layout_euclidean). Pure TypeScript, synchronous (meant for a worker thread), no I/O. Design notes and
// measured times: docs/projections.md.
//
// 1. Graph. Exact kNN (knnLeaveOneOut, src/core/knn.ts) of k − 1 other rows, k = min(nNeighbors, n): as in
//    umap-learn, a row is its own first neighbour (distance 0), so nNeighbors = 15 means 14 others. The metric
//    distance itself is used: euclidean, or the cosine distance 1 − cos. smoothKnnDist finds per row ρ (the
//    distance to the nearest neighbour at a non-zero distance) and σ (64 bisection steps) with
//    Σ_j exp(−max(0, d_j − ρ)/σ) = log2(k) over the k − 1 others (σ floored at 1e-3 × the mean distance, as
//    umap-learn); memberships w_ij = exp(−max(0, d_ij − ρ_i)/σ_i); the fuzzy union P + Pᵀ − P∘Pᵀ (symmetrize in
//    tsne.ts); weights below max/epochs dropped.
// 2. Initialisation: PCA, not umap-learn's spectral layout. Decision: the spectral layout needs the graph's
//    Laplacian eigenvectors; for trained embeddings the kNN graph is often disconnected (one component per
//    well-separated class), where the eigenvalue 0 is repeated and power/subspace iteration converges slowly and to
//    an arbitrary basis of component indicators — umap-learn then lays out each component separately, a lot of
//    machinery. PCA is deterministic, O(n·dim²) (under a second at 50,000 × 128), never fails, and Kobak &
//    Linderman (Nat. Biotechnol. 2021) show UMAP with PCA initialisation preserves global structure about as well
//    as with the spectral one (both far better than random). The PCA coordinates (of the row-normalised vectors
//    for 'cosine') are scaled to ±10 (umap-learn's expansion), seeded Gaussian noise of standard deviation 1e-4 is
//    added (as umap-learn does after spectral init; it is also what the seed changes besides the negative
//    samples), and each axis is rescaled to [0, 10] (umap-learn ≥ 0.5 does this for every initialisation). When
//    PCA is degenerate (all rows equal), uniform [−10, 10] noise (umap-learn's random init) replaces it.
// 3. Optimisation: epochs (default 500 for n ≤ 10,000, else 200) of SGD over the edges, each edge sampled every
//    epochs_per_sample = max_w / w_ij epochs, with 5 negative samples per positive sample (uniform over all rows,
//    from Rng.derive(seed, 'umap', 'negatives')); attraction −2ab·d^{2(b−1)}/(1 + a·d^{2b})·(y_i − y_j) moving
//    both ends, repulsion 2b/((0.001 + d²)(1 + a·d^{2b}))·(y_i − y_k) moving the head only; every gradient
//    coordinate clipped to ±4; learning rate 1 decaying linearly to 0 (1 − epoch/epochs after each epoch, as
//    umap-learn). Edges are visited in row order, one after the other (umap-learn's non-parallel mode), so the run
//    is deterministic. a and b come from findAB; d^{2b} = (d²)^b from fastPow (Math.pow would double the run). A
//    negative sample at distance 0 exerts no force (umap-learn pushes it by +4 on both axes, a fixed direction).
//    The layout is Float32 during the SGD (umap-learn's dtype; half the memory for the random reads).
// Cost: the kNN (O(n²·dim)), then O(epochs·nnz·(1 + 5)) for the SGD (nnz ≈ 1.5·n·k).
// Determinism: the same input and seed give bit-identical output; another seed gives other noise and negatives.

import { knnLeaveOneOut } from './knn';
import { pca2d } from './projection';
import { Rng } from './rng';
import {
  checkProjectionInput, normalizeRows, progressReporter, projectionDistance, smallLayout, symmetrize, type SparseRows,
} from './projection-shared';

export interface UmapOptions {
  seed: number;
  /** Neighbours per row, the row itself included (umap-learn's n_neighbors). Default 15; clamped to n. */
  nNeighbors?: number;
  /** Default 0.1. In [0, spread]. */
  minDist?: number;
  /** Default 1.0. */
  spread?: number;
  /** Default: 500 for n ≤ 10,000, else 200 (as umap-learn). 0 returns the initial layout. */
  epochs?: number;
  distance?: 'euclidean' | 'cosine';
  /** Called at most ~100 times, after epochs (done = epochs finished); first with done = 0. */
  onProgress?: (done: number, total: number) => void;
}

const SMOOTH_K_TOLERANCE = 1e-5;
const MIN_K_DIST_SCALE = 1e-3;
const SMOOTH_K_STEPS = 64;
const NEGATIVE_SAMPLE_RATE = 5;
const DEFAULT_EPOCHS_SMALL = 500;
const DEFAULT_EPOCHS_LARGE = 200;

/**
 * a and b of the output kernel 1/(1 + a·d^{2b}): the least-squares fit to the curve that is 1 below minDist and
 * exp(−(d − minDist)/spread) above, on 300 points evenly spaced on [0, 3·spread] (umap-learn's find_ab_params,
 * which calls scipy's curve_fit from (1, 1)). Levenberg–Marquardt with the analytic Jacobian, from (1, 1).
 */
export function findAB(spread: number, minDist: number): { a: number; b: number } {
  if (!(spread > 0) || !Number.isFinite(spread)) throw new RangeError(`findAB: spread must be a positive number (got ${spread})`);
  if (!(minDist >= 0) || !(minDist <= spread)) throw new RangeError(`findAB: minDist must be in [0, spread] (got ${minDist}, spread ${spread})`);
  const N = 300;
  const xs = new Float64Array(N);
  const ys = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const x = (3 * spread * i) / (N - 1);
    xs[i] = x;
    ys[i] = x < minDist ? 1 : Math.exp(-(x - minDist) / spread);
  }
  const sse = (a: number, b: number): number => {
    let s = 0;
    for (let i = 0; i < N; i++) {
      const r = 1 / (1 + a * Math.pow(xs[i], 2 * b)) - ys[i];
      s += r * r;
    }
    return s;
  };
  let a = 1, b = 1;
  let cost = sse(a, b);
  let lambda = 1e-3;
  for (let it = 0; it < 500; it++) {
    // Normal equations JᵀJ δ = −Jᵀr, damped on the diagonal.
    let jaa = 0, jab = 0, jbb = 0, ga = 0, gb = 0;
    for (let i = 0; i < N; i++) {
      const x = xs[i];
      const xp = Math.pow(x, 2 * b);
      const den = 1 + a * xp;
      const f = 1 / den;
      const r = f - ys[i];
      const da = -xp * f * f;
      const db = x > 0 ? -a * xp * 2 * Math.log(x) * f * f : 0;
      jaa += da * da; jab += da * db; jbb += db * db;
      ga += da * r; gb += db * r;
    }
    let accepted = false;
    for (let tries = 0; tries < 40 && !accepted; tries++) {
      const m11 = jaa * (1 + lambda), m22 = jbb * (1 + lambda), m12 = jab;
      const det = m11 * m22 - m12 * m12;
      if (!(Math.abs(det) > 0)) { lambda *= 10; continue; }
      const sa = -(m22 * ga - m12 * gb) / det;
      const sb = -(m11 * gb - m12 * ga) / det;
      const na = a + sa, nb = b + sb;
      const nc = na > 0 && nb > 0 ? sse(na, nb) : Infinity;
      if (nc <= cost) {
        const small = Math.abs(sa) <= 1e-12 * (Math.abs(a) + 1e-12) && Math.abs(sb) <= 1e-12 * (Math.abs(b) + 1e-12);
        const flat = cost - nc <= 1e-15 * cost;
        a = na; b = nb; cost = nc;
        lambda = Math.max(lambda / 10, 1e-12);
        accepted = true;
        if (small || flat) return { a, b };
      } else {
        lambda *= 10;
      }
    }
    if (!accepted) break;
  }
  return { a, b };
}

/**
 * umap-learn's smooth_knn_dist: for each of n rows of m distances to its other neighbours (ascending; the row
 * itself, at distance 0, is not listed), ρ = the first non-zero distance (the largest when fewer; 0 when none)
 * and σ with Σ_j exp(−max(0, d_j − ρ)/σ) = log2(k) within 1e-5 (64 bisection steps; k = m + 1 by default),
 * then σ ≥ 1e-3 × the mean distance of the row (of all rows when ρ = 0; the means include the self distance 0).
 */
export function smoothKnnDist(distances: ArrayLike<number>, n: number, m: number, k = m + 1): { sigmas: Float64Array; rhos: Float64Array } {
  const target = Math.log2(k);
  const sigmas = new Float64Array(n);
  const rhos = new Float64Array(n);
  let total = 0;
  for (let t = 0; t < n * m; t++) total += distances[t];
  const meanAll = n > 0 ? total / (n * (m + 1)) : 0;
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let rho = 0;
    let found = false;
    let rowSum = 0;
    for (let t = 0; t < m; t++) {
      const d = distances[o + t];
      rowSum += d;
      if (!found && d > 0) { rho = d; found = true; }
    }
    if (!found) rho = 0; // every distance 0 (max of none non-zero)
    rhos[i] = rho;
    let lo = 0, hi = Infinity, mid = 1;
    for (let step = 0; step < SMOOTH_K_STEPS; step++) {
      let psum = 0;
      for (let t = 0; t < m; t++) {
        const d = distances[o + t] - rho;
        psum += d > 0 ? Math.exp(-(d / mid)) : 1;
      }
      if (Math.abs(psum - target) < SMOOTH_K_TOLERANCE) break;
      if (psum > target) {
        hi = mid;
        mid = (lo + hi) / 2;
      } else {
        lo = mid;
        mid = hi === Infinity ? mid * 2 : (lo + hi) / 2;
      }
    }
    const floor = MIN_K_DIST_SCALE * (rho > 0 ? rowSum / (m + 1) : meanAll);
    sigmas[i] = mid < floor ? floor : mid;
  }
  return { sigmas, rhos };
}

/**
 * The fuzzy simplicial set: memberships exp(−max(0, d_ij − ρ_i)/σ_i) of each row's m neighbours, combined by
 * the fuzzy union w_ij + w_ji − w_ij·w_ji (symmetric; CSR rows).
 */
export function fuzzyGraph(indices: Int32Array, distances: ArrayLike<number>, n: number, m: number, sigmas: Float64Array, rhos: Float64Array): SparseRows {
  const w = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < m; t++) {
      const d = distances[i * m + t] - rhos[i];
      w[i * m + t] = d <= 0 || sigmas[i] === 0 ? 1 : Math.exp(-(d / sigmas[i]));
    }
  }
  return symmetrize(n, m, indices, w, 1, 'fuzzy');
}

function initialLayout(vectors: Float32Array, n: number, dim: number, distance: 'euclidean' | 'cosine', seed: number): Float64Array {
  const Y = new Float64Array(2 * n);
  const rng = Rng.derive(seed, 'umap', 'init');
  const p = pca2d(distance === 'cosine' ? normalizeRows(vectors, n, dim) : vectors, n, dim);
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(p.x[i]), Math.abs(p.y[i]));
  if (m > 0 && Number.isFinite(m)) {
    const s = 10 / m;
    for (let i = 0; i < n; i++) {
      Y[2 * i] = p.x[i] * s + 1e-4 * rng.normal();
      Y[2 * i + 1] = p.y[i] * s + 1e-4 * rng.normal();
    }
  } else {
    for (let t = 0; t < 2 * n; t++) Y[t] = rng.uniform(-10, 10);
  }
  for (let c = 0; c < 2; c++) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) { const v = Y[2 * i + c]; if (v < lo) lo = v; if (v > hi) hi = v; }
    const span = hi - lo;
    for (let i = 0; i < n; i++) Y[2 * i + c] = span > 0 ? (10 * (Y[2 * i + c] - lo)) / span : 5;
  }
  return Y;
}

const clip = (v: number): number => (v > 4 ? 4 : v < -4 ? -4 : v);

// x^b for the SGD's kernels, where Math.pow (~80 ns here in V8) would dominate the run: log2 x from the exponent
// bits and a 2048-entry table of log2 on [1, 2], then 2^(b·log2 x) from a 2048-entry table of 2^f on [0, 1] and
// a table of 2^e for whole e in [−1000, 999]; both fraction tables linearly interpolated. Relative error below 1e-7
// (b × 4e-8 from the log table, 1.5e-8 from the exp table; checked against Math.pow in the tests). Math.pow where
// the bit tricks do not hold (x not a positive normal number, or b·log2 x outside [−1000, 1000)). Deterministic
// like any pure function of x and b.
const POW_TABLE = 2048;
const POW_SCALE = POW_TABLE / 4503599627370496; // table steps per unit of the 52-bit mantissa field
const log2Table = new Float64Array(POW_TABLE + 2);
const exp2Table = new Float64Array(POW_TABLE + 2);
for (let i = 0; i <= POW_TABLE + 1; i++) {
  log2Table[i] = Math.log2(1 + i / POW_TABLE);
  exp2Table[i] = Math.pow(2, i / POW_TABLE);
}
const pow2Table = Float64Array.from({ length: 2001 }, (_, e) => Math.pow(2, e - 1000));
const powF64 = new Float64Array(1);
const powU32 = new Uint32Array(powF64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** x^b for x > 0 (see above). */
export function fastPow(x: number, b: number): number {
  if (!littleEndian || !(x >= 2.3e-308) || x === Infinity) return Math.pow(x, b);
  powF64[0] = x;
  const hi = powU32[1];
  const p = ((hi & 0xfffff) * 4294967296 + powU32[0]) * POW_SCALE;
  const i = p | 0;
  const y = b * ((hi >>> 20) - 1023 + log2Table[i] + (p - i) * (log2Table[i + 1] - log2Table[i]));
  const yi = Math.floor(y);
  if (yi < -1000 || yi > 999) return Math.pow(x, b);
  const q = (y - yi) * POW_TABLE;
  const j = q | 0;
  return (exp2Table[j] + (q - j) * (exp2Table[j + 1] - exp2Table[j])) * pow2Table[yi + 1000];
}

/**
 * UMAP of n rows of `vectors` (n×dim, row-major) to 2-D; returns x0, y0, x1, y1, … (length 2n). n ≤ 3: the
 * small layout (PCA scaled to ±1). Throws RangeError for bad options or non-finite values (naming the row).
 */
export function umap2d(vectors: Float32Array, n: number, dim: number, opts: UmapOptions): Float32Array {
  const fn = 'umap2d';
  checkProjectionInput(fn, vectors, n, dim);
  if (!opts || !Number.isFinite(opts.seed)) throw new RangeError(`${fn}: seed must be a finite number (got ${opts?.seed})`);
  const nNeighbors = opts.nNeighbors ?? 15;
  if (!Number.isInteger(nNeighbors) || nNeighbors < 2) throw new RangeError(`${fn}: nNeighbors must be an integer ≥ 2 (got ${nNeighbors})`);
  const minDist = opts.minDist ?? 0.1;
  const spread = opts.spread ?? 1;
  if (!(spread > 0) || !Number.isFinite(spread)) throw new RangeError(`${fn}: spread must be a positive number (got ${spread})`);
  if (!(minDist >= 0) || !(minDist <= spread)) throw new RangeError(`${fn}: minDist must be in [0, spread] (got ${minDist}, spread ${spread})`);
  const epochs = opts.epochs ?? (n <= 10000 ? DEFAULT_EPOCHS_SMALL : DEFAULT_EPOCHS_LARGE);
  if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`${fn}: epochs must be an integer ≥ 0 (got ${epochs})`);
  const distance = projectionDistance(fn, opts.distance);
  const report = progressReporter(epochs, opts.onProgress);
  if (n <= 3) {
    report(epochs);
    return smallLayout(vectors, n, dim, distance);
  }
  const { a, b } = findAB(spread, minDist);

  // 1. Graph.
  const k = Math.min(nNeighbors, n);
  const m = k - 1;
  const indices = new Int32Array(n * m);
  const dist = new Float64Array(n * m);
  knnLeaveOneOut(vectors, n, dim, m, distance, {}, (rows, idx, ds, kk) => {
    for (let t = 0; t < rows.length; t++) {
      const o = rows[t] * kk;
      for (let u = 0; u < kk; u++) { indices[o + u] = idx[t * kk + u]; dist[o + u] = ds[t * kk + u]; }
    }
  });
  const { sigmas, rhos } = smoothKnnDist(dist, n, m, k);
  const G = fuzzyGraph(indices, dist, n, m, sigmas, rhos);

  const Y = Float32Array.from(initialLayout(vectors, n, dim, distance, opts.seed));
  umapOptimize(G, Y, { a, b, epochs, seed: opts.seed, onProgress: opts.onProgress });
  return Y;
}

/**
 * The SGD of step 3 (header), in place on Y (n×2 interleaved Float32, the initial layout on entry), over the
 * symmetric graph G (from fuzzyGraph). The layout stays in Float32, as in umap-learn: half the memory of Float64,
 * so the random reads of the negative samples miss the cache less.
 */
export function umapOptimize(
  G: SparseRows, Y: Float32Array, opts: { a: number; b: number; epochs: number; seed: number; onProgress?: (done: number, total: number) => void },
): void {
  const { a, b, epochs } = opts;
  const n = G.n;
  const report = progressReporter(epochs, opts.onProgress);
  // Edges (head, tail) in row order, small weights dropped (umap-learn: below max/epochs, with epochs ≤ 10
  // treated as the default), each sampled every max/w epochs.
  let wmax = 0;
  for (let e = 0; e < G.vals.length; e++) if (G.vals[e] > wmax) wmax = G.vals[e];
  const cut = wmax / (epochs > 10 ? epochs : n <= 10000 ? DEFAULT_EPOCHS_SMALL : DEFAULT_EPOCHS_LARGE);
  let nnz = 0;
  for (let e = 0; e < G.vals.length; e++) if (G.vals[e] >= cut) nnz++;
  const head = new Int32Array(nnz);
  const tail = new Int32Array(nnz);
  const epochsPerSample = new Float64Array(nnz);
  for (let i = 0, t = 0; i < n; i++) {
    for (let e = G.rowPtr[i]; e < G.rowPtr[i + 1]; e++) {
      if (G.vals[e] < cut) continue;
      head[t] = i;
      tail[t] = G.cols[e];
      epochsPerSample[t] = epochs > 0 ? epochs / (epochs * (G.vals[e] / wmax)) : 0;
      t++;
    }
  }
  report(0);
  const rng = Rng.derive(opts.seed, 'umap', 'negatives');
  const epochsPerNegative = new Float64Array(nnz);
  const nextNegative = new Float64Array(nnz);
  const nextSample = new Float64Array(nnz);
  for (let e = 0; e < nnz; e++) {
    epochsPerNegative[e] = epochsPerSample[e] / NEGATIVE_SAMPLE_RATE;
    nextNegative[e] = epochsPerNegative[e];
    nextSample[e] = epochsPerSample[e];
  }
  const ab2 = -2 * a * b;
  const b2 = 2 * b;
  let alpha = 1;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let e = 0; e < nnz; e++) {
      if (nextSample[e] > epoch) continue;
      const j = head[e], kk = tail[e];
      let xj = Y[2 * j], yj = Y[2 * j + 1];
      let dx = xj - Y[2 * kk], dy = yj - Y[2 * kk + 1];
      let d2 = dx * dx + dy * dy;
      if (d2 > 0) {
        const pb = fastPow(d2, b);
        const coeff = (ab2 * pb / d2) / (a * pb + 1);
        const gx = clip(coeff * dx) * alpha, gy = clip(coeff * dy) * alpha;
        xj += gx; yj += gy;
        Y[2 * kk] -= gx; Y[2 * kk + 1] -= gy;
      }
      nextSample[e] += epochsPerSample[e];
      const nNeg = Math.max(0, Math.floor((epoch - nextNegative[e]) / epochsPerNegative[e]));
      for (let p = 0; p < nNeg; p++) {
        const o = rng.int(n);
        if (o === j) continue;
        dx = xj - Y[2 * o]; dy = yj - Y[2 * o + 1];
        d2 = dx * dx + dy * dy;
        if (d2 > 0) { // a coincident sample exerts no force (no direction)
          const coeff = b2 / ((0.001 + d2) * (a * fastPow(d2, b) + 1));
          xj += clip(coeff * dx) * alpha;
          yj += clip(coeff * dy) * alpha;
        }
      }
      Y[2 * j] = xj; Y[2 * j + 1] = yj;
      nextNegative[e] += nNeg * epochsPerNegative[e];
    }
    alpha = 1 - epoch / epochs; // umap-learn's schedule: epochs 0 and 1 both at 1
    report(epoch + 1);
  }
}
