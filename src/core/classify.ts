// Few-shot, open-set classification against a reference set (issue 16, item 4): nearest class centroid (default)
// or a k-NN vote over the reference images; a query whose nearest distance is not below the threshold is `unknown`.
// The search is core/knn.ts's exact blocked kNN. docs/use-model.md says why centroids of unit vectors are re-normalised.
import type { DistanceName } from './config-types';
import { knn } from './knn';

export const UNKNOWN = 'unknown';

export interface Reference {
  /** rows × dim, row-major. */
  vectors: Float32Array;
  /** Class name of each row. */
  labels: string[];
  dim: number;
}

export interface Prediction { label: string; distance: number; runnerUp: string; runnerUpDistance: number }

export interface ClassifyOptions {
  method?: 'centroid' | 'knn';
  /** Neighbours that vote (knn). Default 5. */
  k?: number;
  /** Open set: a nearest distance ≥ threshold is `unknown`. Omit for a closed set. */
  threshold?: number;
  /** Re-normalise the centroids to unit length (for an L2-normalised model). */
  unitCentroids?: boolean;
  /** knn: the k nearest reference rows of each query, already found (a vector index: src/core/vector-index.ts). */
  neighbours?: { indices: Int32Array; distances: Float32Array; k: number };
}

/** Per-class mean vectors, classes in order of first appearance. */
export function centroids(ref: Reference, unit = false): { classes: string[]; vectors: Float32Array } {
  const index = new Map<string, number>();
  for (const l of ref.labels) if (!index.has(l)) index.set(l, index.size);
  const C = index.size;
  const d = ref.dim;
  const sums = new Float64Array(C * d);
  const counts = new Float64Array(C);
  ref.labels.forEach((l, r) => {
    const c = index.get(l)!;
    counts[c]++;
    for (let j = 0; j < d; j++) sums[c * d + j] += ref.vectors[r * d + j];
  });
  const out = new Float32Array(C * d);
  for (let c = 0; c < C; c++) {
    let norm = 0;
    for (let j = 0; j < d; j++) { const m = sums[c * d + j] / counts[c]; sums[c * d + j] = m; norm += m * m; }
    const s = unit && norm > 0 ? 1 / Math.sqrt(norm) : 1;
    for (let j = 0; j < d; j++) out[c * d + j] = sums[c * d + j] * s;
  }
  return { classes: [...index.keys()], vectors: out };
}

/** Predicts a class for each of the nq query rows. */
export function classify(queries: Float32Array, nq: number, ref: Reference, distance: DistanceName, opts: ClassifyOptions = {}): Prediction[] {
  const dim = ref.dim;
  const out: Prediction[] = [];
  const open = (label: string, dist: number) => (opts.threshold !== undefined && !(dist < opts.threshold) ? UNKNOWN : label);
  if ((opts.method ?? 'centroid') === 'centroid') {
    const c = centroids(ref, opts.unitCentroids);
    const res = knn(queries, nq, c.vectors, c.classes.length, dim, 2, distance);
    for (let q = 0; q < nq; q++) {
      const i0 = res.indices[q * res.k];
      const d0 = res.distances[q * res.k];
      const second = res.k > 1;
      out.push({
        label: open(c.classes[i0], d0), distance: d0,
        runnerUp: second ? c.classes[res.indices[q * res.k + 1]] : '', runnerUpDistance: second ? res.distances[q * res.k + 1] : NaN,
      });
    }
    return out;
  }
  const n = ref.labels.length;
  const res = opts.neighbours ?? knn(queries, nq, ref.vectors, n, dim, Math.max(1, Math.floor(opts.k ?? 5)), distance);
  const kk = res.k;
  const votes = new Map<string, number>();
  for (let q = 0; q < nq; q++) {
    votes.clear();
    let top = 0;
    for (let t = 0; t < kk; t++) {
      const y = ref.labels[res.indices[q * kk + t]];
      const v = (votes.get(y) ?? 0) + 1;
      votes.set(y, v);
      if (v > top) top = v;
    }
    // The most votes; a tie goes to the class with the nearest neighbour among the tied (the first in rank order).
    let label = '';
    let dist = NaN;
    let runnerUp = '';
    let runnerUpDistance = NaN;
    for (let t = 0; t < kk; t++) {
      const y = ref.labels[res.indices[q * kk + t]];
      if (!label && votes.get(y) === top) { label = y; dist = res.distances[q * kk + t]; }
    }
    for (let t = 0; t < kk; t++) {
      const y = ref.labels[res.indices[q * kk + t]];
      if (y !== label) { runnerUp = y; runnerUpDistance = res.distances[q * kk + t]; break; }
    }
    out.push({ label: open(label, dist), distance: dist, runnerUp, runnerUpDistance });
  }
  return out;
}

export interface ClassifyReport {
  /** Labelled queries whose class is in the reference. */
  known: number;
  /** Of those, predicted right. */
  correct: number;
  /** correct / known (NaN when known is 0). */
  accuracy: number;
  /** Known queries answered `unknown`. */
  falselyRejected: number;
  /** Labelled queries whose class is not in the reference, and how many of them came out `unknown`. */
  unknownQueries: number;
  unknownRejected: number;
  perClass: Record<string, { precision: number; recall: number; support: number }>;
  /** confusion[true][predicted] counts over labelled queries (true classes outside the reference included). */
  confusion: Record<string, Record<string, number>>;
}

/** Scores predictions against query labels ('' = unlabelled, left out). */
export function classifyReport(predicted: string[], truth: string[], referenceClasses: Iterable<string>): ClassifyReport {
  const refSet = new Set(referenceClasses);
  const confusion: Record<string, Record<string, number>> = {};
  let known = 0; let correct = 0; let falselyRejected = 0; let unknownQueries = 0; let unknownRejected = 0;
  const tp = new Map<string, number>(); const predCount = new Map<string, number>(); const support = new Map<string, number>();
  truth.forEach((y, i) => {
    if (!y) return;
    const p = predicted[i];
    (confusion[y] ??= {})[p] = (confusion[y][p] ?? 0) + 1;
    predCount.set(p, (predCount.get(p) ?? 0) + 1);
    if (refSet.has(y)) {
      known++;
      support.set(y, (support.get(y) ?? 0) + 1);
      if (p === y) { correct++; tp.set(y, (tp.get(y) ?? 0) + 1); } else if (p === UNKNOWN) falselyRejected++;
    } else {
      unknownQueries++;
      if (p === UNKNOWN) unknownRejected++;
    }
  });
  const perClass: ClassifyReport['perClass'] = {};
  for (const c of refSet) {
    const t = tp.get(c) ?? 0;
    const pc = predCount.get(c) ?? 0;
    const s = support.get(c) ?? 0;
    perClass[c] = { precision: pc ? t / pc : NaN, recall: s ? t / s : NaN, support: s };
  }
  return { known, correct, accuracy: known ? correct / known : NaN, falselyRejected, unknownQueries, unknownRejected, perClass, confusion };
}
