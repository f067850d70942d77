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
//
// The metrics live in metrics-retrieval.ts, metrics-clustering.ts and metrics-verification.ts; this file is the
// report that runs them (evaluateTable) and re-exports them for its importers.

import type { DistanceName } from './config-types';
import { kmeans, nmi } from './metrics-clustering';
import { retrievalMetrics, type RetrievalMetrics, type RetrievalOptions } from './metrics-retrieval';
import { verification, type VerificationResult } from './metrics-verification';

export { kmeans, nmi, type KMeansResult } from './metrics-clustering';
export {
  knnClassify, rankMetrics, retrievalMetrics,
  type ClassRetrieval, type LabelledVectors, type RecallAtK, type RetrievalMetrics, type RetrievalOptions,
} from './metrics-retrieval';
export {
  thresholdAnalysis, verification, type ThresholdPoint, type VerificationOptions, type VerificationResult,
} from './metrics-verification';

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
