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

/** Full pairwise distance matrix of a [B, D] batch → [B, B]. */
export function pairwiseDistance(e: Tensor2D, distance: DistanceName): Tensor2D {
  return tf.tidy(() => {
    if (distance === 'cosine') {
      const n = tf.sqrt(tf.maximum(tf.sum(tf.square(e), -1, true), EPS));
      const u = tf.div(e, n) as Tensor2D;
      return tf.sub(1, tf.matMul(u, u, false, true)) as Tensor2D;
    }
    const sq = tf.sum(tf.square(e), -1, true); // [B,1]
    const d2 = tf.relu(tf.add(tf.sub(sq, tf.mul(2, tf.matMul(e, e, false, true))), tf.transpose(sq))) as Tensor2D;
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
  const same = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32') as Tensor2D;
  const b = labels.shape[0];
  const pos = tf.sub(same, tf.eye(b)) as Tensor2D;
  const neg = tf.sub(1, same) as Tensor2D;
  return { pos, neg };
}

/** Triplet loss with online mining over a labelled batch of embeddings [B, D]. */
export function minedTripletLoss(
  e: Tensor2D, labels: Tensor1D, margin: number, distance: DistanceName, mining: Exclude<MiningName, 'none'>,
): LossOutput {
  return tf.tidy(() => {
    const d = pairwiseDistance(e, distance);
    const { pos, neg } = labelMasks(labels);
    const posCount = tf.maximum(tf.sum(pos), 1);
    const negCount = tf.maximum(tf.sum(neg), 1);
    const posDist = tf.div(tf.sum(tf.mul(d, pos)), posCount);
    const negDist = tf.div(tf.sum(tf.mul(d, neg)), negCount);
    // Larger than any distance in the batch; it only fills masked-out entries, which are never selected while the
    // batch has a negative for every anchor (P ≥ 2 classes guarantees that).
    const bigC = tf.add(tf.max(d), 1);

    if (mining === 'batch-hard') {
      const hardestPos = tf.max(tf.mul(d, pos), 1); // pos mask is 0/1 and distances ≥ 0
      const hardestNeg = tf.min(tf.add(d, tf.mul(tf.sub(1, neg), bigC)), 1);
      const hasPos = tf.cast(tf.greater(tf.sum(pos, 1), 0), 'float32');
      const per = tf.mul(tf.relu(tf.add(tf.sub(hardestPos, hardestNeg), margin)), hasPos);
      const anchors = tf.maximum(tf.sum(hasPos), 1);
      return { loss: tf.div(tf.sum(per), anchors), posDist, negDist, active: tf.div(tf.sum(tf.step(per)), anchors) };
    }

    // [B, B, 1] positives (a, p) against [B, 1, B] negatives (a, n).
    const dap = tf.expandDims(d, 2);
    const dan = tf.expandDims(d, 1);
    const valid = tf.mul(tf.expandDims(pos, 2), tf.expandDims(neg, 1)); // [B, B, B]
    if (mining === 'batch-all') {
      const per = tf.mul(tf.relu(tf.add(tf.sub(dap, dan), margin)), valid);
      const nonZero = tf.sum(tf.step(tf.sub(per, 1e-16)));
      const nValid = tf.maximum(tf.sum(valid), 1);
      return { loss: tf.div(tf.sum(per), tf.maximum(nonZero, 1)), posDist, negDist, active: tf.div(nonZero, nValid) };
    }

    // semi-hard: for each positive pair (a, p), the smallest d(a, n) with d(a, n) > d(a, p); else the largest d(a, n).
    const farther = tf.mul(valid, tf.step(tf.sub(dan, dap))); // [B, B, B]: d(a,n) > d(a,p)
    const hasFarther = tf.step(tf.sum(farther, 2)); // [B, B]
    const semiHardNeg = tf.min(tf.add(tf.mul(dan, farther), tf.mul(tf.sub(1, farther), tf.expandDims(tf.expandDims(bigC, 0), 0))), 2);
    const hardestNeg = tf.max(tf.mul(d, neg), 1, true); // [B, 1]: the farthest negative per anchor
    const chosen = tf.add(tf.mul(hasFarther, semiHardNeg), tf.mul(tf.sub(1, hasFarther), hardestNeg));
    const per = tf.mul(tf.relu(tf.add(tf.sub(d, chosen), margin)), pos);
    return {
      loss: tf.div(tf.sum(per), posCount),
      posDist,
      negDist,
      active: tf.div(tf.sum(tf.step(per)), posCount),
    };
  });
}
