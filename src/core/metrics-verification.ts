// Verification metrics of an embedding table (pairs of labelled rows, threshold calibration; the report is
// metrics.ts).
//
// Verification (pairs of labelled rows): a pair is predicted "same" when distance ≤ threshold.
//   ROC AUC = P(d_neg > d_pos) + ½·P(d_neg = d_pos) (ties count half, i.e. the trapezoid rule).
//   Operating points are the distinct pair distances v_1 < … < v_m: point k predicts "same" for d ≤ v_k.
//   Its reported threshold is the midpoint (v_k + v_{k+1}) / 2, and v_m for the last point, so "d ≤ threshold"
//   reproduces the point's counts on the evaluated pairs exactly while leaving a margin for new data.
//   Best F1: the point with the highest F1 (the smallest threshold among equals). At target precision: the
//   LARGEST threshold whose precision ≥ target (the most recall at that precision); null when none reaches it.

import type { DistanceName } from './config-types';
import { uniformStream } from './rng';

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
