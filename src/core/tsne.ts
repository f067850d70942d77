// Barnes–Hut t-SNE to 2-D (van der Maaten, "Accelerating t-SNE using tree-based algorithms", JMLR 2014), with the
// now-standard settings of Kobak & Berens (2019) and Belkina et al. (2019). Pure TypeScript, synchronous (meant
// for a worker thread), no I/O. Design notes and measured times: docs/projections.md.
//
// 1. Input affinities. k = min(n − 1, ⌊3·perplexity⌋) exact nearest neighbours (knnLeaveOneOut, src/core/knn.ts).
//    The input "distance" fed to the Gaussian kernel is the squared euclidean distance ('euclidean') or the cosine
//    distance 1 − cos ('cosine'; = ½‖x̂ − ŷ‖², so on L2-normalised rows both give the same P: the factor is absorbed
//    by the per-row bandwidth). sklearn uses the same convention. Per row, β = 1/(2σ²) is found by bisection
//    (doubling until bracketed) so that the entropy of p_{j|i} ∝ exp(−β·(d_j − d_min)) equals ln(perplexity) within
//    1e-5 nats (at most 200 steps, as bh-tsne); when ≥ perplexity neighbours tie for nearest (duplicated rows),
//    the β → ∞ limit (uniform over the ties). P = (P_cond + P_condᵀ) / 2n, stored as CSR rows.
//    perplexity is clamped to (n − 1)/3 (so n ≥ 4 gives perplexity ≥ 1).
// 2. Initialisation: PCA (pca2d, on the row-normalised vectors for 'cosine'), scaled so the first coordinate has
//    standard deviation 1e-4 (Kobak & Berens 2019: keeps global structure, deterministic), plus seeded Gaussian
//    noise of standard deviation 1e-6 (1 % of that scale). The noise is what the seed changes: with PCA alone the
//    seed would have no effect; it also separates duplicate rows. Degenerate PCA (all rows equal): seeded Gaussian
//    of standard deviation 1e-4.
// 3. Optimisation (bh-tsne's scheme): gradient descent with momentum 0.5 during early exaggeration (12, for
//    min(250, ⌊iterations/3⌋) iterations) and 0.8 afterwards, learning rate max(200, n/12) (Belkina et al.),
//    per-coordinate gains (+0.2 when the gradient's sign differs from the update's, ×0.8 otherwise, floor 0.01),
//    and the embedding re-centred after each step. As in bh-tsne the step uses the gradient without its factor 4
//    (the learning rate is on that scale); tsneGradient returns the true ∂KL/∂y.
// 4. Gradient: attraction Σ_j p_ij w_ij (y_i − y_j) (w = 1/(1 + ‖y_i − y_j‖²)) over P's upper triangle, each
//    pair computed once and applied to both ends, with the rows relabelled in breadth-first order of P's graph
//    (neighbours get nearby labels, so the coordinates a row needs are close in memory: 2–3× faster at 50,000 rows
//    than the input order); repulsion Σ_j w_ij² (y_i − y_j) / Z with Z = Σ_{k≠l} w_kl by Barnes–Hut on a quadtree
//    rebuilt every iteration. The tree lives in typed arrays (no per-node objects): points are partitioned in
//    place in a permutation, with copies of their coordinates in tree order (a cell's points are contiguous);
//    leaves hold up to LEAF_SIZE points. The points are taken a group at a time (a cell of at most GROUP_SIZE
//    points): one traversal per group builds an interaction list (cells summarised by their centre of mass, and
//    leaves taken point by point) that all of the group's points then run through, two at a time, so the
//    traversal is paid once per group rather than once per point. A cell of side s is summarised when s/2 < θ·d
//    for every point of the group (d: from the point to the cell's centre of mass, bounded below via the group's
//    bounding box). s/2 is
//    bh-tsne's criterion (sptree.cpp: the cell's largest half-width); sklearn and openTSNE compare the full side,
//    so their θ = 0.5 is our 0.25 — at our default the repulsive force is within ~2–4 % of the exact one (tests)
//    at twice the speed. θ = 0 never summarises: the gradient is exact (O(n²)). A cell that contains the group is
//    always opened, so a point never meets itself in a summary (it does in its own leaf, where its w = 1 is taken
//    off Z). Below MIN_SIDE × the root's side or at MAX_DEPTH a cell is a leaf whatever its count (duplicates).
// Cost: the kNN (O(n²·dim), see knn.ts), then per iteration O(nnz(P)) + O(n log n). Memory: the n×k neighbours
// and P (≤ 2nk entries of 12 bytes; ~110 MB transient at 50,000 × k = 90), O(n) for the optimiser and the tree.
// Determinism: every sum runs in a fixed order, and the only randomness is Rng.derive(seed, 'tsne', 'init'), so
// the same input and seed give bit-identical output.

import { knnLeaveOneOut } from './knn';
import { pca2d } from './projection';
import {
  checkProjectionInput, normalizeRows, progressReporter, projectionDistance, smallLayout, symmetrize, type SparseRows,
} from './projection-shared';
import { Rng } from './rng';

export type { SparseRows } from './projection-shared';

export interface TsneOptions {
  /** Fixed seed → identical output (bit-for-bit) for the same input. */
  seed: number;
  /** Default 30, clamped to (n − 1)/3. At least 1. */
  perplexity?: number;
  /** Default 750, of which min(250, ⌊iterations/3⌋) with early exaggeration 12. 0 returns the initial layout. */
  iterations?: number;
  /** Barnes–Hut accuracy, default 0.5; 0 = exact gradient (O(n²), for tests). At most 1. */
  theta?: number;
  /** Input-space metric, default 'euclidean'. */
  distance?: 'euclidean' | 'cosine';
  /** Called at most ~100 times, after iterations (done = iterations finished); first with done = 0. */
  onProgress?: (done: number, total: number) => void;
}

/** Conditional affinities of the k nearest neighbours of each row (n×k, row-major), and P. */
export interface TsneAffinities {
  k: number;
  /** Perplexity actually used (after clamping). */
  perplexity: number;
  /** n×k neighbour indices, nearest first. */
  indices: Int32Array;
  /** n×k conditional probabilities p_{j|i} (each row sums to 1). */
  conditional: Float64Array;
  /** Per-row precision β_i (p_{j|i} ∝ exp(−β_i·d_ij)); Infinity where ≥ perplexity neighbours tie for nearest. */
  beta: Float64Array;
  /** P = (P_cond + P_condᵀ) / 2n: symmetric, sums to 1. */
  P: SparseRows;
}

const EXAGGERATION = 12;
const EXAGGERATION_ITERS = 250;
const LEAF_SIZE = 8;
const GROUP_SIZE = 32;
const MAX_DEPTH = 48;
const MIN_SIDE = 1e-12;
const ENTROPY_TOL = 1e-5;
const BETA_STEPS = 200;


// ---------------------------------------------------------------------------------------------- affinities

/**
 * Finds β for one row of k distances (ascending) so that the entropy of p_j ∝ exp(−β·(d_j − d_0)) is logPerp;
 * writes the normalised p into out[o .. o + k). Returns β.
 */
function calibrateRow(d: Float64Array, o: number, k: number, logPerp: number, out: Float64Array): number {
  const d0 = d[o];
  let mean = 0, ties = 0;
  for (let t = 0; t < k; t++) {
    mean += d[o + t] - d0;
    if (d[o + t] === d0) ties++;
  }
  mean /= k;
  // As β → ∞ the entropy falls to ln(ties): when that is not below the target, the limit (uniform over the
  // nearest ties; β = ∞) is the answer, and bisection would only run out its steps (duplicated rows).
  if (Math.log(ties) >= logPerp - ENTROPY_TOL) {
    for (let t = 0; t < k; t++) out[o + t] = d[o + t] === d0 ? 1 / ties : 0;
    return Infinity;
  }
  let beta = mean > 0 ? 1 / mean : 1;
  let lo = 0, hi = Infinity;
  for (let step = 0; step < BETA_STEPS; step++) {
    let sum = 0, dsum = 0;
    for (let t = 0; t < k; t++) {
      const e = d[o + t] - d0;
      const p = Math.exp(-beta * e);
      sum += p;
      dsum += e * p;
    }
    const h = Math.log(sum) + beta * dsum / sum;
    if (Math.abs(h - logPerp) < ENTROPY_TOL) break;
    if (h > logPerp) { // too flat: sharpen
      lo = beta;
      beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = (lo + beta) / 2;
    }
  }
  let sum = 0;
  for (let t = 0; t < k; t++) { const p = Math.exp(-beta * (d[o + t] - d0)); out[o + t] = p; sum += p; }
  for (let t = 0; t < k; t++) out[o + t] /= sum;
  return beta;
}

/**
 * The input affinities of t-SNE: exact kNN (k = min(n − 1, ⌊3·perplexity⌋), perplexity clamped to (n − 1)/3),
 * per-row bandwidth calibration, and the symmetrised P = (P_cond + P_condᵀ)/2n. Needs n ≥ 4 (perplexity ≥ 1).
 */
export function tsneAffinities(
  vectors: Float32Array, n: number, dim: number, perplexity = 30, distance: 'euclidean' | 'cosine' = 'euclidean',
): TsneAffinities {
  if (!(perplexity >= 1) || !Number.isFinite(perplexity)) throw new RangeError(`tsne: perplexity must be a finite number ≥ 1 (got ${perplexity})`);
  if (n < 4) throw new RangeError(`tsne: affinities need at least 4 rows (got ${n})`);
  const perp = Math.min(perplexity, (n - 1) / 3);
  const k = Math.min(n - 1, Math.floor(3 * perp));
  const indices = new Int32Array(n * k);
  const dist = new Float64Array(n * k);
  knnLeaveOneOut(vectors, n, dim, k, distance === 'cosine' ? 'cosine' : 'squared-euclidean', {}, (rows, idx, ds, kk) => {
    for (let t = 0; t < rows.length; t++) {
      const o = rows[t] * kk;
      for (let u = 0; u < kk; u++) { indices[o + u] = idx[t * kk + u]; dist[o + u] = ds[t * kk + u]; }
    }
  });
  const conditional = new Float64Array(n * k);
  const beta = new Float64Array(n);
  const logPerp = Math.log(perp);
  for (let i = 0; i < n; i++) beta[i] = calibrateRow(dist, i * k, k, logPerp, conditional);
  return { k, perplexity: perp, indices, conditional, beta, P: symmetrize(n, k, indices, conditional, 1 / (2 * n), 'sum') };
}


// ---------------------------------------------------------------------------------------------- Barnes–Hut tree

/** A quadtree in typed arrays, rebuilt in place each iteration. */
class QuadTree {
  readonly n: number;
  /** Point indices in tree order, and their coordinates in that order. */
  readonly perm: Int32Array;
  readonly px: Float64Array;
  readonly py: Float64Array;
  private cap = 0;
  nodes = 0;
  start = new Int32Array(0);
  end = new Int32Array(0);
  firstChild = new Int32Array(0);
  nChild = new Uint8Array(0);
  side2 = new Float64Array(0);
  comX = new Float64Array(0);
  comY = new Float64Array(0);
  private minSide = 0;

  constructor(n: number) {
    this.n = n;
    this.perm = Int32Array.from({ length: n }, (_, i) => i);
    this.px = new Float64Array(n);
    this.py = new Float64Array(n);
    this.grow(Math.max(16, Math.ceil(n / 2)));
  }

  private grow(cap: number): void {
    const copyI = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a.subarray(0, this.nodes)); return b; };
    const copyF = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a.subarray(0, this.nodes)); return b; };
    this.start = copyI(this.start);
    this.end = copyI(this.end);
    this.firstChild = copyI(this.firstChild);
    const nc = new Uint8Array(cap); nc.set(this.nChild.subarray(0, this.nodes)); this.nChild = nc;
    this.side2 = copyF(this.side2);
    this.comX = copyF(this.comX);
    this.comY = copyF(this.comY);
    this.cap = cap;
  }

  private alloc(count: number): number {
    if (this.nodes + count > this.cap) this.grow(Math.max(this.cap * 2, this.nodes + count));
    const at = this.nodes;
    this.nodes += count;
    return at;
  }

  build(Y: Float64Array): void {
    const { n, perm, px, py } = this;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let t = 0; t < n; t++) {
      const i = perm[t];
      const x = Y[2 * i], y = Y[2 * i + 1];
      px[t] = x; py[t] = y;
      if (x < x0) x0 = x; if (x > x1) x1 = x;
      if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const side = Math.max(x1 - x0, y1 - y0);
    this.minSide = side * MIN_SIDE;
    this.nodes = 0;
    const root = this.alloc(1);
    // The root square is slightly larger than the bounding box, so no point lies on its upper edges.
    const half = side > 0 ? side * (0.5 + 1e-9) : 0;
    this.split(root, 0, n, (x0 + x1) / 2, (y0 + y1) / 2, half, 0);
  }

  /** Makes node nd the cell of points [s, e) centred at (cx, cy) with half-side h; recurses. */
  private split(nd: number, s: number, e: number, cx: number, cy: number, h: number, depth: number): void {
    const { px, py } = this;
    this.start[nd] = s;
    this.end[nd] = e;
    this.side2[nd] = 4 * h * h;
    if (e - s <= LEAF_SIZE || depth >= MAX_DEPTH || 2 * h <= this.minSide) {
      this.nChild[nd] = 0;
      let sx = 0, sy = 0;
      for (let t = s; t < e; t++) { sx += px[t]; sy += py[t]; }
      this.comX[nd] = sx / (e - s);
      this.comY[nd] = sy / (e - s);
      return;
    }
    // Partition [s, e) by y < cy, then each part by x < cx: quadrants SW, SE, NW, NE.
    const my = this.partition(s, e, py, cy);
    const m1 = this.partition(s, my, px, cx);
    const m2 = this.partition(my, e, px, cx);
    const bounds = [s, m1, my, m2, e];
    let count = 0;
    for (let q = 0; q < 4; q++) if (bounds[q + 1] > bounds[q]) count++;
    const first = this.alloc(count);
    this.firstChild[nd] = first;
    this.nChild[nd] = count;
    const h2 = h / 2;
    let c = first;
    for (let q = 0; q < 4; q++) {
      if (bounds[q + 1] === bounds[q]) continue;
      this.split(c++, bounds[q], bounds[q + 1], cx + ((q & 1) === 0 ? -h2 : h2), cy + (q < 2 ? -h2 : h2), h2, depth + 1);
    }
    let sx = 0, sy = 0;
    for (let ch = first; ch < first + count; ch++) {
      const w = this.end[ch] - this.start[ch];
      sx += this.comX[ch] * w;
      sy += this.comY[ch] * w;
    }
    this.comX[nd] = sx / (e - s);
    this.comY[nd] = sy / (e - s);
  }

  /** Moves the points of [s, e) with key < pivot to the front (keeping perm, px, py together); returns the split. */
  private partition(s: number, e: number, key: Float64Array, pivot: number): number {
    const { perm, px, py } = this;
    let i = s, j = e - 1;
    for (;;) {
      while (i <= j && key[i] < pivot) i++;
      while (i <= j && key[j] >= pivot) j--;
      if (i >= j) return i;
      const tp = perm[i]; perm[i] = perm[j]; perm[j] = tp;
      const tx = px[i]; px[i] = px[j]; px[j] = tx;
      const ty = py[i]; py[i] = py[j]; py[j] = ty;
      i++; j--;
    }
  }
}

/** The attractive term's pairs: P's upper triangle (j > i) as CSR rows; each pair acts on both ends. */
interface PairRows {
  n: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * P's upper triangle, with the rows relabelled by `order` (order[new] = old; identity when null). P must be
 * symmetric (it is, exactly, from symmetrize).
 */
function upperPairs(P: SparseRows, order: Int32Array | null): PairRows {
  const n = P.n;
  const inv = new Int32Array(n);
  for (let t = 0; t < n; t++) inv[order ? order[t] : t] = t;
  const rowPtr = new Int32Array(n + 1);
  for (let t = 0; t < n; t++) {
    const i = order ? order[t] : t;
    let c = 0;
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) if (inv[P.cols[e]] > t) c++;
    rowPtr[t + 1] = rowPtr[t] + c;
  }
  const cols = new Int32Array(rowPtr[n]);
  const vals = new Float64Array(rowPtr[n]);
  for (let t = 0, z = 0; t < n; t++) {
    const i = order ? order[t] : t;
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
      const u = inv[P.cols[e]];
      if (u > t) { cols[z] = u; vals[z] = P.vals[e]; z++; }
    }
  }
  return { n, rowPtr, cols, vals };
}

/**
 * Breadth-first order of P's graph (from the lowest unvisited row, neighbours in row order): neighbours get
 * nearby labels, so the attractive pass reads the coordinates it needs from a small window (several times faster
 * at 50,000 rows than a random order).
 */
function bfsOrder(P: SparseRows): Int32Array {
  const n = P.n;
  const order = new Int32Array(n);
  const seen = new Uint8Array(n);
  let head = 0, tail = 0;
  for (let s = 0; s < n; s++) {
    if (seen[s]) continue;
    seen[s] = 1;
    order[tail++] = s;
    while (head < tail) {
      const i = order[head++];
      for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) {
        const j = P.cols[e];
        if (!seen[j]) { seen[j] = 1; order[tail++] = j; }
      }
    }
  }
  return order;
}

/** Scratch for the gradient: the tree, a traversal stack and a group's interaction list. */
class Workspace {
  readonly tree: QuadTree;
  /** Traversal stack (from the bottom) and group stack (from the top): at most 3 per level plus 4 each. */
  readonly stack = new Int32Array(8 * (MAX_DEPTH + 2));
  readonly attr: Float64Array;
  /** The interaction list: positions and point counts (1 for a point taken individually). */
  listX: Float64Array;
  listY: Float64Array;
  listN: Float64Array;
  constructor(n: number) {
    this.tree = new QuadTree(n);
    this.attr = new Float64Array(2 * n);
    this.listX = new Float64Array(n + 64);
    this.listY = new Float64Array(n + 64);
    this.listN = new Float64Array(n + 64);
  }
  /** Room for a list of every node and every point (a list never holds more). */
  reserve(entries: number): void {
    if (this.listX.length >= entries) return;
    const cap = Math.max(entries, 2 * this.listX.length);
    this.listX = new Float64Array(cap);
    this.listY = new Float64Array(cap);
    this.listN = new Float64Array(cap);
  }
}

/**
 * Barnes–Hut repulsion: rep[2i..2i+1] = Σ_{j≠i} w_ij² (y_i − y_j) (unnormalised); returns Z = Σ_{i≠j} w_ij.
 * Points are taken a group at a time (a node of at most GROUP_SIZE points, or a leaf): one traversal per group
 * builds its interaction list — cells summarised for every point of the group (half side < θ·(distance from
 * the group's bounding-box centre to the cell's centre of mass − the box's half diagonal), which implies the
 * per-point criterion; a cell that contains the group is always opened) and the points of the leaves reached,
 * one entry each — then every point of the group runs through the list, one flat loop. A group's own points are
 * in the list, the point itself included (w = 1, zero force: 1 is taken off its z).
 */
function repulsion(Y: Float64Array, theta: number, ws: Workspace, rep: Float64Array): number {
  const tree = ws.tree;
  tree.build(Y);
  ws.reserve(tree.nodes + tree.n);
  const { perm, px, py, start, end, firstChild, nChild, side2, comX, comY } = tree;
  const { stack, listX, listY, listN } = ws;
  const th2 = 4 * theta * theta; // (side/2)² < θ²·d²
  let Z = 0;
  // Groups are visited depth-first from the root; the group stack sits at the top of `stack`, growing down.
  const top = stack.length - 1;
  let gsp = top;
  stack[gsp--] = 0;
  while (gsp < top) {
    const g = stack[++gsp];
    const gs = start[g], ge = end[g];
    if (ge - gs > GROUP_SIZE && nChild[g] > 0) {
      const f = firstChild[g];
      for (let c = f + nChild[g] - 1; c >= f; c--) stack[gsp--] = c;
      continue;
    }
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let t = gs; t < ge; t++) {
      const x = px[t], y = py[t];
      if (x < x0) x0 = x; if (x > x1) x1 = x;
      if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const r = Math.sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)) / 2;
    let nl = 0, sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const nd = stack[--sp];
      const s = start[nd], e = end[nd];
      if (e <= gs || s >= ge) { // disjoint from the group (else it contains it or lies inside it)
        const dx = cx - comX[nd], dy = cy - comY[nd];
        const d = Math.sqrt(dx * dx + dy * dy) - r;
        if (d > 0 && side2[nd] < th2 * d * d) {
          listX[nl] = comX[nd]; listY[nl] = comY[nd]; listN[nl] = e - s; nl++;
          continue;
        }
      }
      if (nChild[nd] === 0) {
        for (let u = s; u < e; u++) { listX[nl] = px[u]; listY[nl] = py[u]; listN[nl] = 1; nl++; }
        continue;
      }
      const f = firstChild[nd];
      for (let c = f + nChild[nd] - 1; c >= f; c--) stack[sp++] = c;
    }
    // Two points at a time share the list's loads (the sums of each point keep the one-at-a-time order).
    let t = gs;
    for (; t + 1 < ge; t += 2) {
      const x = px[t], y = py[t], x2 = px[t + 1], y2 = py[t + 1];
      let fx = 0, fy = 0, z = 0, fx2 = 0, fy2 = 0, z2 = 0;
      for (let q = 0; q < nl; q++) {
        const lx = listX[q], ly = listY[q], ln = listN[q];
        const dx = x - lx, dy = y - ly;
        const dx2 = x2 - lx, dy2 = y2 - ly;
        const w = 1 / (1 + dx * dx + dy * dy);
        const w2 = 1 / (1 + dx2 * dx2 + dy2 * dy2);
        const cw = ln * w, cw2 = ln * w2;
        z += cw; z2 += cw2;
        const cww = cw * w, cww2 = cw2 * w2;
        fx += cww * dx; fy += cww * dy;
        fx2 += cww2 * dx2; fy2 += cww2 * dy2;
      }
      const i = perm[t], i2 = perm[t + 1];
      rep[2 * i] = fx; rep[2 * i + 1] = fy;
      rep[2 * i2] = fx2; rep[2 * i2 + 1] = fy2;
      Z += z - 1;
      Z += z2 - 1;
    }
    if (t < ge) {
      const x = px[t], y = py[t];
      let fx = 0, fy = 0, z = 0;
      for (let q = 0; q < nl; q++) {
        const dx = x - listX[q], dy = y - listY[q];
        const w = 1 / (1 + dx * dx + dy * dy);
        const cw = listN[q] * w;
        z += cw;
        const cww = cw * w;
        fx += cww * dx;
        fy += cww * dy;
      }
      const i = perm[t];
      rep[2 * i] = fx;
      rep[2 * i + 1] = fy;
      Z += z - 1;
    }
  }
  return Z;
}

/**
 * The t-SNE gradient on bh-tsne's scale (¼ of ∂KL/∂y): grad[2i..2i+1] = ex·Σ_j p_ij w_ij (y_i − y_j) − Σ_j w_ij²
 * (y_i − y_j)/Z. Repulsion by Barnes–Hut with accuracy theta (0: exact). Returns Z.
 */
function gradient(A: PairRows, Y: Float64Array, theta: number, ex: number, ws: Workspace, grad: Float64Array): number {
  const n = A.n;
  const Z = repulsion(Y, theta, ws, grad);
  const attr = ws.attr;
  attr.fill(0);
  const { rowPtr, cols, vals } = A;
  for (let i = 0; i < n; i++) {
    const xi = Y[2 * i], yi = Y[2 * i + 1];
    let ax = 0, ay = 0;
    for (let e = rowPtr[i], e1 = rowPtr[i + 1]; e < e1; e++) {
      const j = cols[e];
      const dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
      const pw = vals[e] / (1 + dx * dx + dy * dy);
      const fx = pw * dx, fy = pw * dy;
      ax += fx; ay += fy;
      attr[2 * j] -= fx; attr[2 * j + 1] -= fy;
    }
    attr[2 * i] += ax; attr[2 * i + 1] += ay;
  }
  const invZ = Z > 0 ? 1 / Z : 0;
  for (let t = 0; t < 2 * n; t++) grad[t] = ex * attr[t] - grad[t] * invZ;
  return Z;
}

/**
 * The gradient ∂KL(P‖Q)/∂Y of t-SNE (n×2 interleaved), with P multiplied by `exaggeration`: 4·Σ_j (ex·p_ij − q_ij)
 * w_ij (y_i − y_j). P must be symmetric. Repulsion by Barnes–Hut with accuracy theta (0: exact). Also returns
 * Z = Σ_{k≠l} w_kl.
 */
export function tsneGradient(P: SparseRows, Y: Float64Array, theta = 0.5, exaggeration = 1): { grad: Float64Array; Z: number } {
  if (Y.length < 2 * P.n) throw new RangeError('tsneGradient: Y shorter than 2n');
  const grad = new Float64Array(2 * P.n);
  const Z = gradient(upperPairs(P, null), Y, theta, exaggeration, new Workspace(P.n), grad);
  for (let t = 0; t < grad.length; t++) grad[t] *= 4;
  return { grad, Z };
}

// ---------------------------------------------------------------------------------------------- t-SNE

function positiveInt(fn: string, name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${fn}: ${name} must be an integer ≥ ${min} (got ${v})`);
  return v;
}

/** The initial layout (step 2 of the header): PCA scaled to std 1e-4 plus seeded noise, or seeded Gaussian. */
function initialLayout(vectors: Float32Array, n: number, dim: number, distance: 'euclidean' | 'cosine', seed: number): Float64Array {
  const Y = new Float64Array(2 * n);
  const rng = Rng.derive(seed, 'tsne', 'init');
  const p = pca2d(distance === 'cosine' ? normalizeRows(vectors, n, dim) : vectors, n, dim);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += p.x[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (p.x[i] - mean) ** 2;
  const std = Math.sqrt(v / n);
  if (std > 0 && Number.isFinite(std)) {
    const s = 1e-4 / std;
    for (let i = 0; i < n; i++) {
      Y[2 * i] = p.x[i] * s + 1e-6 * rng.normal();
      Y[2 * i + 1] = p.y[i] * s + 1e-6 * rng.normal();
    }
  } else {
    for (let t = 0; t < 2 * n; t++) Y[t] = 1e-4 * rng.normal();
  }
  return Y;
}

/**
 * Barnes–Hut t-SNE of n rows of `vectors` (n×dim, row-major) to 2-D; returns x0, y0, x1, y1, … (length 2n).
 * n ≤ 3: the small layout (PCA scaled to ±1), see smallLayout. Throws RangeError for bad options or non-finite
 * values (naming the row).
 */
export function tsne2d(vectors: Float32Array, n: number, dim: number, opts: TsneOptions): Float32Array {
  const fn = 'tsne2d';
  checkProjectionInput(fn, vectors, n, dim);
  if (!opts || !Number.isFinite(opts.seed)) throw new RangeError(`${fn}: seed must be a finite number (got ${opts?.seed})`);
  const perplexity = opts.perplexity ?? 30;
  if (!(perplexity >= 1) || !Number.isFinite(perplexity)) throw new RangeError(`${fn}: perplexity must be a finite number ≥ 1 (got ${perplexity})`);
  const iterations = positiveInt(fn, 'iterations', opts.iterations ?? 750, 0);
  const theta = opts.theta ?? 0.5;
  if (!(theta >= 0 && theta <= 1)) throw new RangeError(`${fn}: theta must be in [0, 1] (got ${theta})`);
  const distance = projectionDistance(fn, opts.distance);
  const report = progressReporter(iterations, opts.onProgress);
  if (n <= 3) {
    report(iterations);
    return smallLayout(vectors, n, dim, distance);
  }

  const { P } = tsneAffinities(vectors, n, dim, perplexity, distance);
  const Y = initialLayout(vectors, n, dim, distance, opts.seed);
  tsneOptimize(P, Y, { iterations, theta, onProgress: opts.onProgress });
  return Float32Array.from(Y);
}

/**
 * The optimisation of step 3 (header), in place on Y (n×2 interleaved, the initial layout on entry): P symmetric
 * (from tsneAffinities), `iterations` steps, the first min(250, ⌊iterations/3⌋) with exaggeration 12.
 */
export function tsneOptimize(
  P: SparseRows, Y: Float64Array, opts: { iterations: number; theta: number; onProgress?: (done: number, total: number) => void },
): void {
  const n = P.n;
  const { iterations, theta } = opts;
  const report = progressReporter(iterations, opts.onProgress);
  // Internally the rows are relabelled in P's breadth-first order (bfsOrder): X[2t..2t+1] is row order[t].
  const order = bfsOrder(P);
  const A = upperPairs(P, order);
  const X = new Float64Array(2 * n);
  for (let t = 0; t < n; t++) { X[2 * t] = Y[2 * order[t]]; X[2 * t + 1] = Y[2 * order[t] + 1]; }
  report(0);
  const exIters = Math.min(EXAGGERATION_ITERS, Math.floor(iterations / 3));
  const eta = Math.max(200, n / 12);
  const grad = new Float64Array(2 * n);
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n).fill(1);
  const ws = new Workspace(n);
  for (let it = 0; it < iterations; it++) {
    const early = it < exIters;
    gradient(A, X, theta, early ? EXAGGERATION : 1, ws, grad);
    const momentum = early ? 0.5 : 0.8;
    let mx = 0, my = 0;
    for (let t = 0; t < 2 * n; t++) {
      const g = grad[t];
      const u = update[t];
      let gain = Math.sign(g) !== Math.sign(u) ? gains[t] + 0.2 : gains[t] * 0.8;
      if (gain < 0.01) gain = 0.01;
      gains[t] = gain;
      const nu = momentum * u - eta * gain * g;
      update[t] = nu;
      X[t] += nu;
      if ((t & 1) === 0) mx += X[t]; else my += X[t];
    }
    mx /= n; my /= n;
    for (let i = 0; i < n; i++) { X[2 * i] -= mx; X[2 * i + 1] -= my; }
    report(it + 1);
  }
  for (let t = 0; t < n; t++) { Y[2 * order[t]] = X[2 * t]; Y[2 * order[t] + 1] = X[2 * t + 1]; }
}
