// Embedding losses over the outputs of the shared branch. Formulas (docs/losses.md has the derivations):
//   contrastive (Hadsell et al., 2006): L = (1−y)·½d² + y·½·max(0, m − d)²      y = 1 means DISSIMILAR (DLPy)
//   triplet (Schroff et al., 2015):     L = max(0, d(a,p) − d(a,n) + m)
//   quartet (Chen et al., 2017):        L = max(0, d(a,p)² − d(a,n1)² + m1) + max(0, d(a,p)² − d(n1,n2)² + m2)
// d is the configured distance, applied literally: euclidean ‖x−y‖₂, squared-euclidean ‖x−y‖₂², cosine 1 − cos(x,y).
// Every loss is the mean over the tuples of the batch. Online mining (triplet only) works on a P×K batch through
// the full pairwise distance matrix: batch-all (mean over the triplets with non-zero loss), batch-hard (hardest
// positive and hardest negative per anchor) and semi-hard (per positive pair, the closest negative that is farther
// than the positive; the farthest negative when there is none, as in FaceNet and TF-Addons).
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { DistanceName, MiningName } from '../core/config-types';
import { tf } from './tf';

/** Clamp before sqrt so that the gradient at d = 0 stays finite. */
const EPS = 1e-12;

/** Row-wise distance between two [B, D] matrices → [B]. */
export function rowDistance(a: Tensor2D, b: Tensor2D, distance: DistanceName): Tensor1D {
  return tf.tidy(() => {
    if (distance === 'cosine') {
      const dot = tf.sum(tf.mul(a, b), -1);
      const na = tf.sqrt(tf.maximum(tf.sum(tf.square(a), -1), EPS));
      const nb = tf.sqrt(tf.maximum(tf.sum(tf.square(b), -1), EPS));
      return tf.sub(1, tf.div(dot, tf.mul(na, nb))) as Tensor1D;
    }
    const sq = tf.sum(tf.square(tf.sub(a, b)), -1) as Tensor1D;
    return distance === 'squared-euclidean' ? sq : (tf.sqrt(tf.maximum(sq, EPS)) as Tensor1D);
  });
}

/**
 * x·xᵀ for a [B, D] matrix, with its gradient (dy + dyᵀ)·x. tfjs-wasm runs a matMul with a transposed operand ~8×
 * slower than one without (1.9 against 0.25 ms at [96,128]), and the stock MatMul gradient transposes both ways:
 * here the forward transposes x itself and the gradient is one plain matMul.
 */
function gram(x: Tensor2D): Tensor2D {
  const op = tf.customGrad(((xIn: Tensor, save: (ts: Tensor[]) => void) => {
    save([xIn]);
    return {
      value: tf.matMul(xIn as Tensor2D, tf.transpose(xIn as Tensor2D)),
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => tf.matMul(tf.add(dy as Tensor2D, tf.transpose(dy as Tensor2D)), saved[0] as Tensor2D),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as Tensor2D;
}

/** Full pairwise distance matrix of a [B, D] batch → [B, B]. */
export function pairwiseDistance(e: Tensor2D, distance: DistanceName): Tensor2D {
  return tf.tidy(() => {
    if (distance === 'cosine') {
      const n = tf.sqrt(tf.maximum(tf.sum(tf.square(e), -1, true), EPS));
      const u = tf.div(e, n) as Tensor2D;
      return tf.sub(1, gram(u)) as Tensor2D;
    }
    const sq = tf.sum(tf.square(e), -1, true); // [B,1]
    const d2 = tf.relu(tf.add(tf.sub(sq, tf.mul(2, gram(e))), tf.transpose(sq))) as Tensor2D;
    return distance === 'squared-euclidean' ? d2 : (tf.sqrt(tf.maximum(d2, EPS)) as Tensor2D);
  });
}

export interface LossOutput {
  loss: Tensor; // scalar
  posDist: Tensor; // scalar: mean anchor–positive distance
  negDist: Tensor; // scalar: mean anchor–negative distance
  active: Tensor; // scalar: share of tuples with a non-zero loss
}

// Masks that depend on distances use tf.step (zero gradient), not tf.greater (no gradient at all), because they
// sit on the path from the weights to the loss.
function activeShare(perTuple: Tensor): Tensor {
  return tf.mean(tf.step(perTuple));
}

/** Contrastive loss over pairs; y = 1 for a dissimilar pair. */
export function contrastiveLoss(a: Tensor2D, b: Tensor2D, y: Tensor1D, margin: number, distance: DistanceName): LossOutput {
  return tf.tidy(() => {
    const d = rowDistance(a, b, distance);
    const similarTerm = tf.mul(tf.sub(1, y), tf.mul(0.5, tf.square(d)));
    const dissimilarTerm = tf.mul(y, tf.mul(0.5, tf.square(tf.relu(tf.sub(margin, d)))));
    const perPair = tf.add(similarTerm, dissimilarTerm);
    const nPos = tf.maximum(tf.sum(tf.sub(1, y)), 1);
    const nNeg = tf.maximum(tf.sum(y), 1);
    return {
      loss: tf.mean(perPair),
      posDist: tf.div(tf.sum(tf.mul(tf.sub(1, y), d)), nPos),
      negDist: tf.div(tf.sum(tf.mul(y, d)), nNeg),
      active: activeShare(perPair),
    };
  });
}

export function tripletLoss(a: Tensor2D, p: Tensor2D, n: Tensor2D, margin: number, distance: DistanceName): LossOutput {
  return tf.tidy(() => {
    const dap = rowDistance(a, p, distance);
    const dan = rowDistance(a, n, distance);
    const perTriplet = tf.relu(tf.add(tf.sub(dap, dan), margin));
    return { loss: tf.mean(perTriplet), posDist: tf.mean(dap), negDist: tf.mean(dan), active: activeShare(perTriplet) };
  });
}

export function quartetLoss(
  a: Tensor2D, p: Tensor2D, n1: Tensor2D, n2: Tensor2D, margin1: number, margin2: number, distance: DistanceName,
): LossOutput {
  return tf.tidy(() => {
    const dap = rowDistance(a, p, distance);
    const dan = rowDistance(a, n1, distance);
    const dnn = rowDistance(n1, n2, distance);
    const ap2 = tf.square(dap);
    const perQuartet = tf.add(
      tf.relu(tf.add(tf.sub(ap2, tf.square(dan)), margin1)),
      tf.relu(tf.add(tf.sub(ap2, tf.square(dnn)), margin2)),
    );
    return { loss: tf.mean(perQuartet), posDist: tf.mean(dap), negDist: tf.mean(dan), active: activeShare(perQuartet) };
  });
}

/** Masks for a labelled batch: same-label pairs without the diagonal, and different-label pairs. */
function labelMasks(labels: Tensor1D): { pos: Tensor2D; neg: Tensor2D } {
  const l = tf.cast(labels, 'float32');
  // 1 − step(|lᵢ − lⱼ|) is lᵢ = lⱼ (exact for labels below 2²⁴) without tf.equal, which tfjs-wasm broadcasts slowly.
  const same = tf.sub(1, tf.step(tf.abs(tf.sub(tf.expandDims(l, 1), tf.expandDims(l, 0))))) as Tensor2D;
  const b = labels.shape[0];
  const pos = tf.sub(same, tf.eye(b)) as Tensor2D;
  const neg = tf.sub(1, same) as Tensor2D;
  return { pos, neg };
}

/**
 * What a mining mode makes of the B × B distance matrix, computed off the tape: the loss, the share of active
 * tuples, and W = ∂loss/∂d (B × B). Every mining loss is piecewise linear in d, so W is its exact gradient.
 */
interface Mined { loss: Tensor; active: Tensor; w: Tensor2D }

/**
 * The loss as one op of d with its own gradient, dy · W. The mining (including any B × B × B comparison) runs
 * in the op's forward function, which tfjs does not record on the tape, so backprop is one B × B multiply
 * instead of the gradients of every masking, min and max op (tf.min's gradient is an Equal of [B,B,B] against
 * [B,B,1], which tfjs-wasm broadcasts slowly). Returns [loss, active] as one vector (customGrad has one output).
 */
function minedOp(d: Tensor2D, mine: (d: Tensor2D) => Mined): Tensor1D {
  const op = tf.customGrad(((dIn: Tensor, save: (ts: Tensor[]) => void) => {
    const m = mine(dIn as Tensor2D);
    save([m.w]);
    return {
      value: tf.stack([tf.reshape(m.loss, []), tf.reshape(m.active, [])]) as Tensor1D,
      // Only the loss has a gradient; `active` is a count.
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => tf.mul(tf.slice(dy as Tensor, [0], [1]), saved[0]),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(d) as Tensor1D;
}

/**
 * Where the mining runs: `tensor` in tfjs ops (B × B × B for semi-hard and batch-all, forward only), `js` in plain
 * loops over the read-back distances (B·(K−1)·B steps; only where reading a tensor is free: wasm and cpu keep
 * their data in this process). `auto` takes `js` on wasm and cpu. Both give the same loss and gradient.
 */
export type Miner = 'auto' | 'tensor' | 'js';
const CPU_RESIDENT = new Set(['wasm', 'cpu']);

/** Triplet loss with online mining over a labelled batch of embeddings [B, D]. */
export function minedTripletLoss(
  e: Tensor2D, labels: Tensor1D, margin: number, distance: DistanceName, mining: Exclude<MiningName, 'none'>,
  miner: Miner = 'auto',
): LossOutput {
  return tf.tidy(() => {
    const d = pairwiseDistance(e, distance);
    const { pos, neg } = labelMasks(labels);
    const posCount = tf.maximum(tf.sum(pos), 1);
    const negCount = tf.maximum(tf.sum(neg), 1);
    const posDist = tf.div(tf.sum(tf.mul(d, pos)), posCount);
    const negDist = tf.div(tf.sum(tf.mul(d, neg)), negCount);
    const js = mining !== 'batch-hard' && (miner === 'js' || (miner === 'auto' && CPU_RESIDENT.has(tf.getBackend())));
    const out = js
      ? minedOp(d, (dd) => mineInJs(dd, labels, margin, mining))
      : minedOp(d, (dd) => (mining === 'batch-hard' ? batchHard : mining === 'batch-all' ? batchAll : semiHard)(dd, pos, neg, posCount, margin));
    return { loss: tf.reshape(tf.slice(out, [0], [1]), []), posDist, negDist, active: tf.reshape(tf.slice(out, [1], [1]), []) };
  });
}

// The three miners. Each computes the loss exactly as the B × B × B formulation it replaced (kept as the reference
// in test/unit/losses.test.ts), and W as the gradient that formulation's tape gave: where a min or max ties, tfjs
// hands the full upstream gradient to every tied element, so W counts a tied negative once per tie.

/**
 * 1 where x equals its extreme: `hi − lo` is never negative (lo is a minimum or hi a maximum), and it is 0 exactly
 * when the two are equal. The same mask as tf.equal, without the comparison op tfjs-wasm broadcasts slowly.
 */
function atExtreme(hi: Tensor, lo: Tensor): Tensor {
  return tf.sub(1, tf.step(tf.sub(hi, lo)));
}

/** Batch-hard: per anchor, the farthest positive and the closest negative; mean over anchors with a positive. */
function batchHard(d: Tensor2D, pos: Tensor2D, neg: Tensor2D, _posCount: Tensor, margin: number): Mined {
  // Larger than any distance in the batch; it only fills masked-out entries, which are never selected while the
  // batch has a negative for every anchor (P ≥ 2 classes guarantees that).
  const maxD = tf.max(d);
  const bigC = tf.add(maxD, 1);
  const posD = tf.mul(d, pos); // pos mask is 0/1 and distances ≥ 0
  const hardestPos = tf.max(posD, 1, true); // [B, 1]
  const negD = tf.add(d, tf.mul(tf.sub(1, neg), bigC));
  const hardestNeg = tf.min(negD, 1, true);
  const hasPos = tf.cast(tf.greater(tf.sum(pos, 1, true), 0), 'float32');
  const x = tf.add(tf.sub(hardestPos, hardestNeg), margin);
  const per = tf.mul(tf.relu(x), hasPos); // [B, 1]
  const anchors = tf.maximum(tf.sum(hasPos), 1);
  const g = tf.div(tf.mul(tf.step(x), hasPos), anchors); // ∂loss/∂(hardestPos − hardestNeg) per anchor
  // tf.max / tf.min hand their gradient to every element equal to the extreme (then × pos, resp. × 1).
  const atPos = tf.mul(atExtreme(hardestPos, posD), pos);
  const atNeg = atExtreme(negD, hardestNeg);
  // A minimum at a masked-out entry (only when the batch is one class) also differentiates bigC = max(d) + 1,
  // whose gradient goes to every entry at the batch maximum.
  const bigCGrad = tf.sum(tf.mul(tf.mul(g, atNeg), tf.sub(1, neg)));
  const atMax = atExtreme(maxD, d);
  return {
    loss: tf.div(tf.sum(per), anchors),
    active: tf.div(tf.sum(tf.step(per)), anchors),
    w: tf.sub(tf.mul(g, tf.sub(atPos, atNeg)), tf.mul(bigCGrad, atMax)) as Tensor2D,
  };
}

/** Batch-all: every valid (a, p, n); the mean over the triplets with a non-zero loss. */
function batchAll(d: Tensor2D, pos: Tensor2D, neg: Tensor2D, _posCount: Tensor, margin: number): Mined {
  // [B, B, 1] positives (a, p) against [B, 1, B] negatives (a, n).
  const valid = tf.mul(tf.expandDims(pos, 2), tf.expandDims(neg, 1)); // [B, B, B]
  const x = tf.add(tf.sub(tf.expandDims(d, 2), tf.expandDims(d, 1)), margin);
  const per = tf.mul(tf.relu(x), valid);
  const nonZero = tf.sum(tf.step(tf.sub(per, 1e-16)));
  const nValid = tf.maximum(tf.sum(valid), 1);
  const denom = tf.maximum(nonZero, 1);
  const act = tf.mul(tf.step(x), valid); // relu's gradient (x > 0) on the valid triplets
  // d(a, p) enters each of its triplets with +1, d(a, n) with −1.
  const w = tf.div(tf.sub(tf.sum(act, 2), tf.sum(act, 1)), denom) as Tensor2D;
  return { loss: tf.div(tf.sum(per), denom), active: tf.div(nonZero, nValid), w };
}

/**
 * Semi-hard: for each positive pair (a, p), the smallest d(a, n) with d(a, n) > d(a, p); else the largest
 * d(a, n) (FaceNet, TF-Addons). Mean over positive pairs.
 */
function semiHard(d: Tensor2D, pos: Tensor2D, neg: Tensor2D, posCount: Tensor, margin: number): Mined {
  const bigC = tf.add(tf.max(d), 1);
  const dap = tf.expandDims(d, 2); // [B, B, 1]
  const dan = tf.expandDims(d, 1); // [B, 1, B]
  const valid = tf.mul(tf.expandDims(pos, 2), tf.expandDims(neg, 1)); // [B, B, B]
  const farther = tf.mul(valid, tf.step(tf.sub(dan, dap))); // [B, B, B]: d(a,n) > d(a,p)
  const hasFarther = tf.step(tf.sum(farther, 2)); // [B, B]
  const masked = tf.add(tf.mul(dan, farther), tf.mul(tf.sub(1, farther), bigC)); // [B, B, B]
  const semiHardNeg = tf.min(masked, 2, true); // [B, B, 1]
  const negD = tf.mul(d, neg);
  const hardestNeg = tf.max(negD, 1, true); // [B, 1]: the farthest negative per anchor
  const semi = tf.reshape(semiHardNeg, d.shape);
  const chosen = tf.add(tf.mul(hasFarther, semi), tf.mul(tf.sub(1, hasFarther), hardestNeg));
  const x = tf.add(tf.sub(d, chosen), margin);
  const per = tf.mul(tf.relu(x), pos);
  const g = tf.div(tf.mul(tf.step(x), pos), posCount); // ∂loss/∂d(a, p) along the positive, per pair
  // The chosen negative takes −g: the semi-hard one (every farther negative at the minimum; masked − min ≥ 0, so
  // "not above the minimum" is equality), or, without one, every negative at the anchor's maximum.
  const atSemi = tf.mul(farther, atExtreme(masked, semiHardNeg)); // [B, B, B]
  const semiW = tf.sum(tf.mul(atSemi, tf.expandDims(tf.mul(g, hasFarther), 2)), 1); // [B, B] over p
  const hardW = tf.mul(tf.sum(tf.mul(g, tf.sub(1, hasFarther)), 1, true), tf.mul(atExtreme(hardestNeg, negD), neg));
  return {
    loss: tf.div(tf.sum(per), posCount),
    active: tf.div(tf.sum(tf.step(per)), posCount),
    w: tf.sub(g, tf.add(semiW, hardW)) as Tensor2D,
  };
}

/**
 * Semi-hard and batch-all in plain loops over the distances read back (the same decisions as the tensor miners,
 * in float32: the same comparisons on the same values, x = (d(a,p) − d(a,n)) + m rounded as tfjs rounds it).
 */
function mineInJs(d: Tensor2D, labels: Tensor1D, margin: number, mining: 'batch-all' | 'semi-hard'): Mined {
  const B = d.shape[0];
  const dv = d.dataSync() as Float32Array;
  const lv = labels.dataSync();
  const m = Math.fround(margin);
  const f = Math.fround;
  // A NaN or infinite distance makes the tensor miners' loss NaN (train.ts stops on it): so here too.
  if (!dv.every(Number.isFinite)) return { loss: tf.scalar(NaN), active: tf.scalar(NaN), w: tf.fill([B, B], NaN) as Tensor2D };
  const w = new Float64Array(B * B);
  let sum = 0;
  let active = 0;
  let result: { loss: number; active: number; scale: number };
  if (mining === 'batch-all') {
    const tiny = f(1e-16);
    let valid = 0;
    for (let a = 0; a < B; a++) {
      const row = a * B;
      for (let p = 0; p < B; p++) {
        if (p === a || lv[p] !== lv[a]) continue;
        const dap = dv[row + p];
        for (let n = 0; n < B; n++) {
          if (lv[n] === lv[a]) continue;
          valid++;
          const x = f(f(dap - dv[row + n]) + m);
          if (!(x > 0)) continue;
          sum += x;
          w[row + p] += 1;
          w[row + n] -= 1;
          if (f(x - tiny) > 0) active++;
        }
      }
    }
    const denom = Math.max(active, 1);
    result = { loss: sum / denom, active: active / Math.max(valid, 1), scale: 1 / denom };
  } else {
    let posCount = 0;
    const ties: number[] = [];
    for (let a = 0; a < B; a++) {
      const row = a * B;
      // The fallback: the largest of d·neg over the row (the row's non-negatives count as 0).
      let hardest = 0;
      for (let n = 0; n < B; n++) if (lv[n] !== lv[a] && dv[row + n] > hardest) hardest = dv[row + n];
      for (let p = 0; p < B; p++) {
        if (p === a || lv[p] !== lv[a]) continue;
        posCount++;
        const dap = dv[row + p];
        let semi = Infinity;
        for (let n = 0; n < B; n++) {
          if (lv[n] === lv[a]) continue;
          const dan = dv[row + n];
          if (dan > dap && dan < semi) semi = dan;
        }
        const hasFarther = semi !== Infinity;
        const chosen = hasFarther ? semi : hardest;
        const x = f(f(dap - chosen) + m);
        if (!(x > 0)) continue;
        sum += x;
        active++;
        w[row + p] += 1;
        // Every negative at the chosen value takes the gradient (tfjs's min and max do so on ties).
        ties.length = 0;
        for (let n = 0; n < B; n++) if (lv[n] !== lv[a] && dv[row + n] === chosen && (!hasFarther || dv[row + n] > dap)) ties.push(n);
        for (const n of ties) w[row + n] -= 1;
      }
    }
    const denom = Math.max(posCount, 1);
    result = { loss: sum / denom, active: active / denom, scale: 1 / denom };
  }
  const wf = new Float32Array(B * B);
  for (let i = 0; i < wf.length; i++) wf[i] = w[i] * result.scale;
  return { loss: tf.scalar(result.loss), active: tf.scalar(result.active), w: tf.tensor2d(wf, [B, B]) };
}
