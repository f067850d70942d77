// Evaluation metrics for an embedding table (row-major Float32Array n×dim, Int32Array labels, -1 = unlabelled).
//
// Retrieval (leave-one-out inside the table; Musgrave et al. 2020, "A Metric Learning Reality Check" §3.2, and
// pytorch-metric-learning's AccuracyCalculator):
//   For a query q with label y, R = number of OTHER items labelled y. Neighbours are ranked by distance, ties
//   by the smaller row index (see knn.ts), q itself excluded. rel(i) = 1 when the i-th neighbour has label y.
//   P@1 = rel(1).  R-Precision = (Σ_{i≤R} rel(i)) / R.  MAP@R = (1/R) · Σ_{i≤R} P(i)·rel(i), P(i) = (Σ_{j≤i} rel(j))/i.
//   Recall@K = 1 when any of the top K is relevant (the deep-metric-learning convention of Song et al. 2016,
//   not the information-retrieval recall #relevant-in-top-K / R).
//   Averages are over queries (micro, PML's default avg_of_avgs = false). Unlabelled rows and rows whose class
//   has no other item are not queries (as PML excludes them) but stay in the gallery as distractors.
// Clustering: k-means (k-means++ seeding from the seeded project PRNG (rng.ts), Lloyd iterations) and NMI with the
//   arithmetic-mean normalisation, NMI = I(A;B) / ((H(A) + H(B)) / 2) (scikit-learn's default).
// Verification (pairs of labelled rows): a pair is predicted "same" when distance ≤ threshold.
//   ROC AUC = P(d_neg > d_pos) + ½·P(d_neg = d_pos) (ties count half, i.e. the trapezoid rule).
//   Operating points are the distinct pair distances v_1 < … < v_m: point k predicts "same" for d ≤ v_k.
//   Its reported threshold is the midpoint (v_k + v_{k+1}) / 2, and v_m for the last point, so "d ≤ threshold"
//   reproduces the point's counts on the evaluated pairs exactly while leaving a margin for new data.
//   Best F1: the point with the highest F1 (the smallest threshold among equals). At target precision: the
//   LARGEST threshold whose precision ≥ target (the most recall at that precision); null when none reaches it.

import type { DistanceName } from './config-types';
import { knn, knnChunkRows, knnLeaveOneOut, type KnnOptions } from './knn';
import { Rng } from './rng';

// ---------------------------------------------------------------------------------------------------------
// Retrieval

export type RecallAtK = Record<1 | 2 | 4 | 8, number>;

export interface ClassRetrieval {
  label: number;
  /** Queries of this class (its items, when it has at least two). */
  count: number;
  precisionAt1: number;
  mapAtR: number;
}

export interface RetrievalMetrics {
  /** Queries evaluated. Metrics are NaN (null in JSON) when it is 0. */
  count: number;
  /** Rows not used as queries: unlabelled, or the only item of their class. They stay in the gallery. */
  excludedUnlabelled: number;
  excludedSingleton: number;
  precisionAt1: number;
  recallAtK: RecallAtK;
  rPrecision: number;
  mapAtR: number;
  perClass: ClassRetrieval[];
}

/**
 * memoryBytes: the working-memory budget beyond the input vectors (default 512 MiB): the kNN runs in blocks of
 * queries that fit it (see knnLeaveOneOut); queryBlock forces a block size. Same results either way.
 */
export type RetrievalOptions = Pick<KnnOptions, 'blockRows' | 'memoryBytes' | 'kernel' | 'queryBlock'>;

const RECALL_KS = [1, 2, 4, 8] as const;

export function retrievalMetrics(
  vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, opts: RetrievalOptions = {},
): RetrievalMetrics {
  const n = labels.length;
  if (vectors.length < n * dim) throw new RangeError('retrievalMetrics: vectors shorter than labels × dim');
  const classSize = new Map<number, number>();
  for (let i = 0; i < n; i++) if (labels[i] >= 0) classSize.set(labels[i], (classSize.get(labels[i]) ?? 0) + 1);
  let excludedUnlabelled = 0;
  let excludedSingleton = 0;
  let rMax = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] < 0) excludedUnlabelled++;
    else if ((classSize.get(labels[i]) as number) < 2) excludedSingleton++;
    else rMax = Math.max(rMax, (classSize.get(labels[i]) as number) - 1);
  }
  const count = n - excludedUnlabelled - excludedSingleton;
  const perClassAcc = new Map<number, { count: number; p1: number; map: number }>();
  let sumP1 = 0;
  let sumRP = 0;
  let sumMap = 0;
  const sumRecall = [0, 0, 0, 0];
  if (count > 0) {
    // The kNN comes a block of queries at a time (its neighbours dropped after each block); each query's metrics
    // are kept (n·25 bytes) and summed afterwards in row order, so the sums are the same whatever the blocks.
    const p1 = new Uint8Array(n);
    const rp = new Float64Array(n);
    const map = new Float64Array(n);
    const firstHit = new Float64Array(n);
    let rel = new Uint8Array(0);
    knnLeaveOneOut(vectors, n, dim, Math.max(rMax, 8), distance, opts, (rows, nb, _distances, k) => {
      if (rel.length < k) rel = new Uint8Array(k);
      for (let t = 0; t < rows.length; t++) {
        const q = rows[t];
        const y = labels[q];
        if (y < 0) continue;
        const R = (classSize.get(y) as number) - 1;
        if (R < 1) continue;
        const base = t * k;
        const len = Math.min(Math.max(R, 8), k);
        for (let i = 0; i < len; i++) rel[i] = labels[nb[base + i]] === y ? 1 : 0;
        const m = rankMetrics(rel.subarray(0, len), R);
        p1[q] = m.precisionAt1;
        rp[q] = m.rPrecision;
        map[q] = m.mapAtR;
        firstHit[q] = m.firstHit;
      }
    });
    for (let q = 0; q < n; q++) {
      const y = labels[q];
      if (y < 0 || (classSize.get(y) as number) < 2) continue;
      sumP1 += p1[q];
      sumRP += rp[q];
      sumMap += map[q];
      for (let t = 0; t < RECALL_KS.length; t++) if (firstHit[q] <= RECALL_KS[t]) sumRecall[t]++;
      let acc = perClassAcc.get(y);
      if (!acc) { acc = { count: 0, p1: 0, map: 0 }; perClassAcc.set(y, acc); }
      acc.count++; acc.p1 += p1[q]; acc.map += map[q];
    }
  }
  const perClass = [...perClassAcc.entries()].sort((a, b) => a[0] - b[0])
    .map(([label, a]) => ({ label, count: a.count, precisionAt1: a.p1 / a.count, mapAtR: a.map / a.count }));
  return {
    count,
    excludedUnlabelled,
    excludedSingleton,
    precisionAt1: sumP1 / count,
    recallAtK: { 1: sumRecall[0] / count, 2: sumRecall[1] / count, 4: sumRecall[2] / count, 8: sumRecall[3] / count },
    rPrecision: sumRP / count,
    mapAtR: sumMap / count,
    perClass,
  };
}

/**
 * One query's ranking metrics from its relevance list (rel[i] = 1 when the (i+1)-th neighbour is relevant,
 * at least min(R, the list length) entries) and R, the number of relevant items: P@1, R-Precision, MAP@R and
 * the rank of the first relevant neighbour (Infinity when none is listed).
 * Example (Reality Check §3.2): R = 10, relevant at ranks 1 and 3 → MAP@R = (1/1 + 2/3) / 10.
 */
export function rankMetrics(rel: ArrayLike<number>, R: number): { precisionAt1: number; rPrecision: number; mapAtR: number; firstHit: number } {
  let hits = 0;
  let ap = 0;
  let firstHit = Infinity;
  for (let i = 0; i < rel.length; i++) {
    if (!rel[i]) continue;
    if (firstHit === Infinity) firstHit = i + 1;
    if (i < R) { hits++; ap += hits / (i + 1); }
  }
  return { precisionAt1: firstHit === 1 ? 1 : 0, rPrecision: hits / R, mapAtR: ap / R, firstHit };
}

// ---------------------------------------------------------------------------------------------------------
// k-means and NMI

/** A seeded uniform [0, 1) stream from the project's PRNG (src/core/rng.ts). */
function uniformStream(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

export interface KMeansResult {
  assignments: Int32Array;
  /** k×dim. */
  centroids: Float32Array;
  /** Σ squared Euclidean distance of each point to its centroid. */
  inertia: number;
  /** Assignment steps run (Lloyd iterations). */
  iterations: number;
}

/**
 * Euclidean k-means: k-means++ seeding (D² sampling from Rng(seed)), then Lloyd iterations until no
 * assignment changes or maxIter. Assignment ties go to the smaller centroid index; an empty cluster is re-seeded
 * with the point farthest from its centroid. The assignment step is the blocked kNN (k = 1).
 */
export function kmeans(vectors: Float32Array, n: number, dim: number, k: number, seed: number, maxIter = 100): KMeansResult {
  if (!(k >= 1) || k > n) throw new RangeError(`kmeans: k = ${k} must be in [1, n = ${n}]`);
  const rand = uniformStream(seed);
  const centroids = new Float32Array(k * dim);
  // k-means++ seeding.
  const minD = new Float64Array(n).fill(Infinity);
  let c = Math.floor(rand() * n);
  for (let ci = 0; ci < k; ci++) {
    centroids.set(vectors.subarray(c * dim, c * dim + dim), ci * dim);
    if (ci === k - 1) break;
    let total = 0;
    for (let i = 0; i < n; i++) {
      // The partial sum only grows: once it reaches minD[i] the point keeps its distance (same result, fewer steps).
      const lim = minD[i];
      let s = 0;
      for (let d = 0, a = i * dim, b = c * dim; d < dim && s < lim; d++) { const x = vectors[a + d] - vectors[b + d]; s += x * x; }
      if (s < lim) minD[i] = s;
      total += minD[i];
    }
    if (total > 0) {
      let r = rand() * total;
      c = n - 1;
      for (let i = 0; i < n; i++) { r -= minD[i]; if (r < 0 && minD[i] > 0) { c = i; break; } }
    } else {
      c = Math.floor(rand() * n); // every point coincides with a centre already
    }
  }

  const assignments = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  let iterations = 0;
  let inertia = 0;
  // The assignment step in chunks of rows (each row's nearest centroid is its own), so the kernel's copy of the
  // rows stays small whatever n is.
  const chunk = knnChunkRows(dim);
  while (iterations < maxIter) {
    iterations++;
    let changed = 0;
    inertia = 0;
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const rows = Math.min(chunk, n - c0);
      const nn = knn(vectors.subarray(c0 * dim, (c0 + rows) * dim), rows, centroids, k, dim, 1, 'squared-euclidean');
      for (let r = 0, i = c0; r < rows; r++, i++) {
        const a = nn.indices[r];
        if (a !== assignments[i]) { changed++; assignments[i] = a; }
        dist[i] = nn.distances[r];
        inertia += dist[i];
      }
    }
    if (changed === 0) break;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const a = assignments[i];
      counts[a]++;
      for (let d = 0, o = a * dim, v = i * dim; d < dim; d++) sums[o + d] += vectors[v + d];
    }
    const taken = new Set<number>();
    for (let ci = 0; ci < k; ci++) {
      if (counts[ci] > 0) {
        for (let d = 0; d < dim; d++) centroids[ci * dim + d] = sums[ci * dim + d] / counts[ci];
        continue;
      }
      let far = -1;
      for (let i = 0; i < n; i++) if (!taken.has(i) && (far < 0 || dist[i] > dist[far])) far = i;
      taken.add(far);
      centroids.set(vectors.subarray(far * dim, far * dim + dim), ci * dim);
    }
  }
  return { assignments, centroids, inertia, iterations };
}

/**
 * Normalised mutual information of two labelings (any integers; -1 is just another label), arithmetic-mean
 * normalisation: I(A;B) / ((H(A) + H(B)) / 2), natural logs (the base cancels). Two single-cluster labelings
 * give 1, as in scikit-learn; one single-cluster labeling against a non-trivial one gives 0.
 */
export function nmi(a: Int32Array, b: Int32Array): number {
  const n = a.length;
  if (b.length !== n) throw new RangeError('nmi: labelings differ in length');
  if (n === 0) return NaN;
  const dense = (x: Int32Array): { ids: Int32Array; sizes: number[] } => {
    const map = new Map<number, number>();
    const ids = new Int32Array(n);
    const sizes: number[] = [];
    for (let i = 0; i < n; i++) {
      let id = map.get(x[i]);
      if (id === undefined) { id = sizes.length; map.set(x[i], id); sizes.push(0); }
      ids[i] = id;
      sizes[id]++;
    }
    return { ids, sizes };
  };
  const A = dense(a);
  const B = dense(b);
  if (A.sizes.length === 1 && B.sizes.length === 1) return 1;
  const joint = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = A.ids[i] * B.sizes.length + B.ids[i];
    joint.set(key, (joint.get(key) ?? 0) + 1);
  }
  const entropy = (sizes: number[]): number => sizes.reduce((h, c) => h - (c / n) * Math.log(c / n), 0);
  let mi = 0;
  for (const [key, nij] of joint) {
    const ca = A.sizes[Math.floor(key / B.sizes.length)];
    const cb = B.sizes[key % B.sizes.length];
    mi += (nij / n) * Math.log((n * nij) / (ca * cb));
  }
  const denom = (entropy(A.sizes) + entropy(B.sizes)) / 2;
  if (denom <= 0) return 0;
  return Math.min(1, Math.max(0, mi / denom));
}

// ---------------------------------------------------------------------------------------------------------
// Verification (pairs, threshold calibration)

export interface ThresholdPoint { threshold: number; precision: number; recall: number; f1: number }

export interface VerificationResult {
  positives: number;
  negatives: number;
  /** True when the pairs are a seeded sample (all pairs would exceed maxPairs). */
  sampled: boolean;
  rocAuc: number;
  bestF1: { threshold: number; f1: number; precision: number; recall: number };
  atPrecision?: { target: number; threshold: number; precision: number; recall: number } | null;
  /** Precision/recall/F1 against threshold, at most 200 points (always including the best-F1 and target ones). */
  curve: ThresholdPoint[];
  /** Pair-distance histograms on shared edges (bins + 1 edges; the last bin includes its right edge). */
  histograms: { edges: number[]; positive: number[]; negative: number[] };
}

export interface VerificationOptions {
  /** Most pairs evaluated. Default 2e6. */
  maxPairs?: number;
  /** Seed for pair sampling. Default 0. */
  seed?: number;
  /** Precision target for `atPrecision`. Default 0.99. */
  targetPrecision?: number;
}

const CURVE_POINTS = 200;
const HISTOGRAM_BINS = 40;

/**
 * Pair verification over labelled rows (unlabelled rows take no part). All i < j pairs when there are at most
 * maxPairs; otherwise a seeded sample: every positive pair if they fit in half the budget (else a uniform
 * sample of half the budget), and uniformly sampled distinct negative pairs for the rest.
 */
export function verification(
  vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, opts: VerificationOptions = {},
): VerificationResult {
  const maxPairs = Math.max(2, Math.floor(opts.maxPairs ?? 2e6));
  const target = opts.targetPrecision ?? 0.99;
  const rows: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) rows.push(i);
  const m = rows.length;
  const prep = prepareForPairs(vectors, dim, rows, distance);
  const lab = Int32Array.from(rows, (r) => labels[r]);

  const total = (m * (m - 1)) / 2;
  let sampled = false;
  let pos: Float64Array;
  let neg: Float64Array;
  if (total <= maxPairs) {
    const p: number[] = [];
    const q: number[] = [];
    for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++) (lab[a] === lab[b] ? p : q).push(prep.distance(a, b));
    pos = Float64Array.from(p);
    neg = Float64Array.from(q);
  } else {
    sampled = true;
    const rand = uniformStream(opts.seed ?? 0);
    const members = new Map<number, number[]>();
    for (let a = 0; a < m; a++) {
      let list = members.get(lab[a]);
      if (!list) { list = []; members.set(lab[a], list); }
      list.push(a);
    }
    const classes = [...members.values()].filter((l) => l.length >= 2);
    const cum: number[] = [];
    let P = 0;
    for (const l of classes) { P += (l.length * (l.length - 1)) / 2; cum.push(P); }
    const posBudget = Math.floor(maxPairs / 2);
    // Pairs are gathered first (row indices), their distances computed afterwards in row order (see pairDistances).
    const posPairs = new PairList(Math.min(P, posBudget));
    if (P <= posBudget) {
      for (const l of classes) for (let x = 0; x < l.length; x++) for (let y = x + 1; y < l.length; y++) posPairs.push(l[x], l[y]);
    } else {
      const seen = new PairSet(posBudget, m);
      while (posPairs.length < posBudget) {
        const r = Math.floor(rand() * P);
        let lo = 0;
        let hi = cum.length - 1;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (cum[mid] > r) hi = mid; else lo = mid + 1; }
        const t = r - (lo > 0 ? cum[lo - 1] : 0);
        let y = Math.floor((1 + Math.sqrt(1 + 8 * t)) / 2);
        while ((y * (y - 1)) / 2 > t) y--;
        while (((y + 1) * y) / 2 <= t) y++;
        const x = t - (y * (y - 1)) / 2;
        const a = classes[lo][x];
        const b = classes[lo][y];
        if (!seen.add(Math.min(a, b), Math.max(a, b))) continue;
        posPairs.push(a, b);
      }
    }
    const N = total - P;
    const negBudget = maxPairs - posPairs.length;
    if (N <= negBudget) {
      const q: number[] = [];
      for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++) if (lab[a] !== lab[b]) q.push(prep.distance(a, b));
      neg = Float64Array.from(q);
    } else {
      const negPairs = new PairList(negBudget);
      const seen = new PairSet(negBudget, m);
      while (negPairs.length < negBudget) {
        const a = Math.floor(rand() * m);
        const b = Math.floor(rand() * m);
        if (a === b || lab[a] === lab[b]) continue;
        if (!seen.add(Math.min(a, b), Math.max(a, b))) continue;
        negPairs.push(a, b);
      }
      neg = pairDistances(negPairs, m, prep);
    }
    pos = pairDistances(posPairs, m, prep);
  }
  const result = thresholdAnalysis(pos, neg, target);
  return { ...result, sampled };
}

/** A growable-free list of row pairs (capacity known up front). */
class PairList {
  readonly a: Int32Array;
  readonly b: Int32Array;
  length = 0;
  constructor(capacity: number) { this.a = new Int32Array(capacity); this.b = new Int32Array(capacity); }
  push(a: number, b: number): void { this.a[this.length] = a; this.b[this.length] = b; this.length++; }
}

/** A set of pairs a < b < m (open addressing on the key a·m + b, exact in Float64 for m < 2^26): the sampler's de-duplication. */
class PairSet {
  private readonly keys: Float64Array;
  private readonly mask: number;
  constructor(expected: number, private readonly m: number) {
    let size = 16;
    while (size < expected * 2) size *= 2;
    this.keys = new Float64Array(size).fill(-1);
    this.mask = size - 1;
  }
  /** Adds the pair; false when it was already there. */
  add(a: number, b: number): boolean {
    const key = a * this.m + b;
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77)) & this.mask;
    for (;;) {
      const k = this.keys[h];
      if (k === key) return false;
      if (k === -1) { this.keys[h] = key; return true; }
      h = (h + 1) & this.mask;
    }
  }
}

/** Distances of a pair list, computed grouped by first row (a counting sort) so each row is read once per group; the order of the result does not matter (it is sorted). */
function pairDistances(pairs: PairList, m: number, prep: { distance(a: number, b: number): number }): Float64Array {
  const n = pairs.length;
  const start = new Int32Array(m + 1);
  for (let t = 0; t < n; t++) start[pairs.a[t] + 1]++;
  for (let r = 0; r < m; r++) start[r + 1] += start[r];
  const order = new Int32Array(n);
  const fill = start.slice(0, m);
  for (let t = 0; t < n; t++) order[fill[pairs.a[t]]++] = t;
  const out = new Float64Array(n);
  for (let u = 0; u < n; u++) {
    const t = order[u];
    out[u] = prep.distance(pairs.a[t], pairs.b[t]);
  }
  return out;
}

/**
 * Pair distances from the chosen rows (unit-normalised for cosine: 1 − cos = ½‖â − b̂‖²): each coordinate is
 * taken as the Float64 value x·scale (scale = 1, or 1/‖x‖ for cosine), so the sums are those of a Float64 copy,
 * read from the Float32 vectors (half the memory traffic).
 */
function prepareForPairs(vectors: Float32Array, dim: number, rows: number[], distance: DistanceName): { distance(a: number, b: number): number } {
  const m = rows.length;
  const base = Int32Array.from(rows, (r) => r * dim);
  const scale = new Float64Array(m).fill(1);
  if (distance === 'cosine') {
    for (let a = 0; a < m; a++) {
      const src = base[a];
      let ss = 0;
      for (let d = 0; d < dim; d++) ss += vectors[src + d] * vectors[src + d];
      scale[a] = ss > 0 ? 1 / Math.sqrt(ss) : 1;
    }
    return {
      distance(a: number, b: number): number {
        let s = 0;
        const pa = base[a];
        const pb = base[b];
        const sa = scale[a];
        const sb = scale[b];
        for (let d = 0; d < dim; d++) { const t = vectors[pa + d] * sa - vectors[pb + d] * sb; s += t * t; }
        return s / 2;
      },
    };
  }
  const sqrt = distance === 'euclidean';
  return {
    distance(a: number, b: number): number {
      let s = 0;
      const pa = base[a];
      const pb = base[b];
      for (let d = 0; d < dim; d++) { const t = vectors[pa + d] - vectors[pb + d]; s += t * t; }
      return sqrt ? Math.sqrt(s) : s;
    },
  };
}

/**
 * ROC AUC, threshold sweep, best F1, target-precision point, curve and histograms from positive and negative
 * pair distances (see the header for the definitions). Exported for callers that already have pair distances.
 */
export function thresholdAnalysis(pos: Float64Array, neg: Float64Array, targetPrecision = 0.99): Omit<VerificationResult, 'sampled'> {
  pos.sort();
  neg.sort();
  const P = pos.length;
  const N = neg.length;
  // The sweep below advances only past values equal to themselves: a NaN (sorted last) would stall it forever.
  if ((P > 0 && Number.isNaN(pos[P - 1])) || (N > 0 && Number.isNaN(neg[N - 1]))) {
    throw new RangeError('thresholdAnalysis: a pair distance is NaN (the vectors hold NaN or Infinity)');
  }
  // Sweep the distinct distances ascending. At value v: tp = #pos ≤ v, fp = #neg ≤ v.
  const values = new Float64Array(P + N);
  const tps = new Float64Array(P + N);
  const fps = new Float64Array(P + N);
  let m = 0;
  let i = 0;
  let j = 0;
  let aucSum = 0; // Σ over positives of (#neg > p + ½ #neg = p)
  while (i < P || j < N) {
    const v = i < P && (j >= N || pos[i] <= neg[j]) ? pos[i] : neg[j];
    let np = 0;
    let nn = 0;
    while (i < P && pos[i] === v) { i++; np++; }
    while (j < N && neg[j] === v) { j++; nn++; }
    aucSum += np * ((N - j) + nn / 2);
    values[m] = v; tps[m] = i; fps[m] = j; m++;
  }
  const rocAuc = P > 0 && N > 0 ? aucSum / (P * N) : NaN;
  const point = (k: number): ThresholdPoint => {
    const tp = tps[k];
    const precision = tp / (tp + fps[k]);
    const recall = P > 0 ? tp / P : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    const threshold = k + 1 < m ? (values[k] + values[k + 1]) / 2 : values[k];
    return { threshold, precision, recall, f1 };
  };
  let best = -1;
  let bestF = -1;
  let target = -1;
  for (let k = 0; k < m; k++) {
    const tp = tps[k];
    const precision = tp / (tp + fps[k]);
    const recall = P > 0 ? tp / P : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    if (f1 > bestF) { bestF = f1; best = k; }
    if (precision >= targetPrecision) target = k;
  }
  const bp = best >= 0 ? point(best) : null;
  const bestF1 = bp
    ? { threshold: bp.threshold, f1: bp.f1, precision: bp.precision, recall: bp.recall }
    : { threshold: NaN, f1: NaN, precision: NaN, recall: NaN };
  const tpnt = target >= 0 ? point(target) : null;
  const atPrecision = tpnt
    ? { target: targetPrecision, threshold: tpnt.threshold, precision: tpnt.precision, recall: tpnt.recall }
    : null;
  // Downsample the curve: evenly spaced points plus the two marked ones.
  const keep = new Set<number>();
  if (m <= CURVE_POINTS) for (let k = 0; k < m; k++) keep.add(k);
  else {
    const slots = CURVE_POINTS - 2;
    for (let s = 0; s < slots; s++) keep.add(Math.round((s * (m - 1)) / (slots - 1)));
  }
  if (best >= 0) keep.add(best);
  if (target >= 0) keep.add(target);
  const curve = [...keep].sort((a, b) => a - b).map(point);
  // Histograms on shared edges.
  const lo = Math.min(P > 0 ? pos[0] : Infinity, N > 0 ? neg[0] : Infinity);
  const hi = Math.max(P > 0 ? pos[P - 1] : -Infinity, N > 0 ? neg[N - 1] : -Infinity);
  const edges: number[] = [];
  const positive = new Array<number>(HISTOGRAM_BINS).fill(0);
  const negative = new Array<number>(HISTOGRAM_BINS).fill(0);
  if (Number.isFinite(lo)) {
    const width = hi > lo ? (hi - lo) / HISTOGRAM_BINS : 1 / HISTOGRAM_BINS;
    for (let b = 0; b <= HISTOGRAM_BINS; b++) edges.push(lo + b * width);
    const bin = (v: number): number => Math.min(HISTOGRAM_BINS - 1, Math.floor((v - lo) / width));
    for (let t = 0; t < P; t++) positive[bin(pos[t])]++;
    for (let t = 0; t < N; t++) negative[bin(neg[t])]++;
  }
  return { positives: P, negatives: N, rocAuc, bestF1, atPrecision, curve, histograms: { edges, positive, negative } };
}

// ---------------------------------------------------------------------------------------------------------
// Few-shot kNN classification

export interface LabelledVectors { vectors: Float32Array; labels: Int32Array }

/**
 * Classify each labelled query by a majority vote of its k nearest labelled reference rows; a tie between
 * classes goes to the class of the nearest neighbour among the tied ones. Unlabelled rows (on either side)
 * are left out. accuracy = correct / count (NaN when count is 0).
 */
export function knnClassify(
  reference: LabelledVectors, queries: LabelledVectors, dim: number, distance: DistanceName, k = 1,
): { accuracy: number; count: number; k: number } {
  const pick = (t: LabelledVectors): LabelledVectors => {
    const rows: number[] = [];
    for (let i = 0; i < t.labels.length; i++) if (t.labels[i] >= 0) rows.push(i);
    const vectors = new Float32Array(rows.length * dim);
    rows.forEach((r, o) => vectors.set(t.vectors.subarray(r * dim, r * dim + dim), o * dim));
    return { vectors, labels: Int32Array.from(rows, (r) => t.labels[r]) };
  };
  const ref = pick(reference);
  const qs = pick(queries);
  const nq = qs.labels.length;
  const res = knn(qs.vectors, nq, ref.vectors, ref.labels.length, dim, k, distance);
  const kk = res.k;
  let correct = 0;
  const votes = new Map<number, number>();
  for (let q = 0; q < nq; q++) {
    votes.clear();
    let top = 0;
    for (let t = 0; t < kk; t++) {
      const y = ref.labels[res.indices[q * kk + t]];
      const c = (votes.get(y) ?? 0) + 1;
      votes.set(y, c);
      if (c > top) top = c;
    }
    let predicted = -1;
    for (let t = 0; t < kk; t++) {
      const y = ref.labels[res.indices[q * kk + t]];
      if (votes.get(y) === top) { predicted = y; break; }
    }
    if (predicted === qs.labels[q]) correct++;
  }
  return { accuracy: correct / nq, count: nq, k: kk };
}

// ---------------------------------------------------------------------------------------------------------
// One report

export interface EvalReport {
  count: number;
  dim: number;
  distance: DistanceName;
  /** Distinct labels among labelled rows. */
  classes: number;
  unlabelled: number;
  retrieval: RetrievalMetrics;
  /** k-means with k = classes on the labelled rows (unit-normalised first when distance is cosine). */
  clustering: { nmi: number; k: number; iterations: number; inertia: number; seed: number } | null;
  verification: VerificationResult;
  timingsMs: { retrieval: number; clustering: number; verification: number; total: number };
}

export interface EvalOptions extends RetrievalOptions {
  seed?: number;
  maxPairs?: number;
  targetPrecision?: number;
  kmeansMaxIter?: number;
  /** Skip k-means + NMI (clustering: null). */
  skipClustering?: boolean;
}

/** Retrieval + clustering NMI + verification in one JSON-able report, with wall-clock timings per part. */
export function evaluateTable(
  vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, opts: EvalOptions = {},
): EvalReport {
  const t0 = performance.now();
  const retrieval = retrievalMetrics(vectors, dim, labels, distance, {
    blockRows: opts.blockRows, memoryBytes: opts.memoryBytes, kernel: opts.kernel, queryBlock: opts.queryBlock,
  });
  const t1 = performance.now();
  const rest = evaluateClusteringAndVerification(vectors, dim, labels, distance, opts);
  const t3 = performance.now();
  return assembleReport(dim, labels, distance, retrieval, rest, { retrieval: t1 - t0, total: t3 - t0 });
}

/** The parts of evaluateTable after retrieval (k-means + NMI, verification): evaluate-parallel.ts runs them in a worker. */
export interface ClusteringAndVerification {
  classes: number;
  labelled: number;
  clustering: EvalReport['clustering'];
  verification: VerificationResult;
  timingsMs: { clustering: number; verification: number };
}

export function evaluateClusteringAndVerification(
  vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, opts: EvalOptions = {},
): ClusteringAndVerification {
  const t1 = performance.now();
  const seed = opts.seed ?? 0;
  const rows: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) rows.push(i);
  const classes = new Set(Array.from(rows, (r) => labels[r])).size;
  let clustering: EvalReport['clustering'] = null;
  if (!opts.skipClustering && classes >= 1 && rows.length > 0) {
    const x = new Float32Array(rows.length * dim);
    rows.forEach((r, o) => {
      let scale = 1;
      if (distance === 'cosine') {
        let ss = 0;
        for (let d = 0; d < dim; d++) ss += vectors[r * dim + d] ** 2;
        scale = ss > 0 ? 1 / Math.sqrt(ss) : 1;
      }
      for (let d = 0; d < dim; d++) x[o * dim + d] = vectors[r * dim + d] * scale;
    });
    const km = kmeans(x, rows.length, dim, classes, seed, opts.kmeansMaxIter ?? 100);
    const truth = Int32Array.from(rows, (r) => labels[r]);
    clustering = { nmi: nmi(truth, km.assignments), k: classes, iterations: km.iterations, inertia: km.inertia, seed };
  }
  const t2 = performance.now();
  const verification_ = verification(vectors, dim, labels, distance, { maxPairs: opts.maxPairs, seed, targetPrecision: opts.targetPrecision });
  const t3 = performance.now();
  return { classes, labelled: rows.length, clustering, verification: verification_, timingsMs: { clustering: t2 - t1, verification: t3 - t2 } };
}

/** The report from its parts; `total` is the wall-clock time of the whole evaluation. */
export function assembleReport(
  dim: number, labels: Int32Array, distance: DistanceName, retrieval: RetrievalMetrics,
  rest: ClusteringAndVerification, t: { retrieval: number; total: number },
): EvalReport {
  return {
    count: labels.length,
    dim,
    distance,
    classes: rest.classes,
    unlabelled: labels.length - rest.labelled,
    retrieval,
    clustering: rest.clustering,
    verification: rest.verification,
    timingsMs: { retrieval: t.retrieval, clustering: rest.timingsMs.clustering, verification: rest.timingsMs.verification, total: t.total },
  };
}
