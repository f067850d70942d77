// Retrieval and few-shot classification metrics of an embedding table (row-major Float32Array n×dim, Int32Array
// labels, -1 = unlabelled); the report that combines them with clustering and verification is metrics.ts.
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

import type { DistanceName } from './config-types';
import { knn, knnLeaveOneOut, type KnnOptions } from './knn';

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
