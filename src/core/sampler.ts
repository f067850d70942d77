// Draws the training tuples of each epoch: pairs (contrastive), triplets, quartets, and P×K batches for online
// mining. Items are indices into the dataset (`classOf[i]` is item i's class). Every draw for epoch e comes from
// `Rng.derive(seed, kind, e)`, so it is reproducible, independent of call order and of other epochs (resume).
//
// What we do differently from SAS DLPy's ImageEmbeddingTable.load_files:
// - Pairs: an exact, shuffled share of similar pairs (DLPy drew the partner uniformly, so only ~1/classes of the
//   pairs were similar), and a positive is never the anchor's own file.
// - Anchors are drawn class-balanced (a class uniformly among those with >= 2 images, then an image in it), not
//   proportionally to class size with replacement as DLPy did: with imbalanced folders, proportional drawing lets
//   the big classes dominate the loss and rarely shows the small ones; singleton classes cannot be anchors because
//   they have no positive (they still serve as negatives).
// - Quartets: the second negative's class differs from both the anchor's and the first negative's, as in the
//   quadruplet loss of Chen et al. (2017). DLPy drew it from the first negative's class.

import { Rng } from './rng';
import { LabError } from './errors';

export interface Pairs {
  a: Int32Array;
  b: Int32Array;
  /** 1 for a dissimilar pair (different classes), 0 for a similar one: DLPy's `_dissimilar_` convention. */
  y: Float32Array;
}

export interface Triplets {
  a: Int32Array;
  p: Int32Array;
  n: Int32Array;
}

export interface Quartets {
  a: Int32Array;
  p: Int32Array;
  n1: Int32Array;
  n2: Int32Array;
}

/** Thrown when the data cannot support the requested tuples, or for bad arguments. */
export class SamplerError extends LabError {
  constructor(message: string) {
    super('bad-data', message);
  }
}

export class TupleSampler {
  readonly numItems: number;
  readonly numClasses: number;
  /** Classes with at least 2 images: the only possible anchors. */
  readonly anchorClasses: Int32Array;
  /** Classes with at least 1 image: possible negatives. */
  readonly nonEmptyClasses: Int32Array;

  private readonly seed: number;
  /** Items of class c are members[start[c] .. start[c+1]) (in item order). */
  private readonly start: Int32Array;
  private readonly members: Int32Array;
  /** Position of class c in nonEmptyClasses, or -1. */
  private readonly nonEmptyPos: Int32Array;

  /**
   * @param classOf class index of each item (integers in [0, numClasses))
   * @param numClasses number of classes (classes without items are allowed and never drawn)
   * @param seed the run's seed
   */
  constructor(classOf: ArrayLike<number>, numClasses: number, seed: number) {
    if (!Number.isInteger(numClasses) || numClasses < 0) {
      throw new SamplerError(`numClasses must be a non-negative integer (got ${numClasses})`);
    }
    if (!Number.isFinite(seed)) throw new SamplerError(`seed must be a finite number (got ${seed})`);
    this.seed = seed;
    this.numItems = classOf.length;
    this.numClasses = numClasses;

    const counts = new Int32Array(numClasses);
    for (let i = 0; i < classOf.length; i++) {
      const c = classOf[i];
      if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
        throw new SamplerError(`classOf[${i}] must be an integer in [0, ${numClasses}) (got ${c})`);
      }
      counts[c]++;
    }
    this.start = new Int32Array(numClasses + 1);
    for (let c = 0; c < numClasses; c++) this.start[c + 1] = this.start[c] + counts[c];
    this.members = new Int32Array(classOf.length);
    const fill = this.start.slice(0, numClasses);
    for (let i = 0; i < classOf.length; i++) this.members[fill[classOf[i]]++] = i;

    const anchors: number[] = [];
    const nonEmpty: number[] = [];
    this.nonEmptyPos = new Int32Array(numClasses).fill(-1);
    for (let c = 0; c < numClasses; c++) {
      if (counts[c] >= 1) {
        this.nonEmptyPos[c] = nonEmpty.length;
        nonEmpty.push(c);
      }
      if (counts[c] >= 2) anchors.push(c);
    }
    this.anchorClasses = Int32Array.from(anchors);
    this.nonEmptyClasses = Int32Array.from(nonEmpty);
  }

  /** Number of items of class c. */
  classSize(c: number): number {
    return this.start[c + 1] - this.start[c];
  }

  /**
   * `n` pairs for `epoch`: exactly round(n × positiveRatio) similar pairs (y = 0) and the rest dissimilar (y = 1),
   * in shuffled order. Anchors of both kinds are drawn class-balanced from classes with >= 2 images, so the
   * anchor alone says nothing about y; a similar pair's partner is another file of the anchor's class, a
   * dissimilar pair's partner an image of another class (any class with images, chosen uniformly).
   */
  pairs(epoch: number, n: number, positiveRatio = 0.5, part?: number): Pairs {
    checkCount('pairs', n);
    if (!(positiveRatio >= 0 && positiveRatio <= 1)) {
      throw new SamplerError(`pairs: positiveRatio must be in [0, 1] (got ${positiveRatio})`);
    }
    const nPos = Math.round(n * positiveRatio);
    if (n > 0) this.requireAnchors('contrastive pairs');
    if (n - nPos > 0) this.requireClasses(2, 'dissimilar pairs');
    const rng = Rng.derive(this.seed, 'pairs', epoch, ...partTag(part));
    const y = new Float32Array(n);
    y.fill(1, nPos);
    rng.shuffle(y);
    const a = new Int32Array(n);
    const b = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.anchorClasses[rng.int(this.anchorClasses.length)];
      const k = rng.int(this.classSize(c));
      a[i] = this.members[this.start[c] + k];
      b[i] = y[i] === 0 ? this.otherInClass(rng, c, k) : this.anyOf(rng, this.otherClass(rng, c));
    }
    return { a, b, y };
  }

  /** `n` triplets for `epoch`: class-balanced anchor, another file of its class, an image of another class. */
  triplets(epoch: number, n: number, part?: number): Triplets {
    checkCount('triplets', n);
    if (n > 0) {
      this.requireAnchors('triplets');
      this.requireClasses(2, 'triplets');
    }
    const rng = Rng.derive(this.seed, 'triplets', epoch, ...partTag(part));
    const a = new Int32Array(n);
    const p = new Int32Array(n);
    const neg = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = this.anchorClasses[rng.int(this.anchorClasses.length)];
      const k = rng.int(this.classSize(c));
      a[i] = this.members[this.start[c] + k];
      p[i] = this.otherInClass(rng, c, k);
      neg[i] = this.anyOf(rng, this.otherClass(rng, c));
    }
    return { a, p, n: neg };
  }

  /**
   * `n` quartets for `epoch`: a triplet (a, p, n1) plus n2 from a third class, different from both a's and n1's
   * (Chen et al. 2017), so that the second term compares d(a,p) with an inter-class distance d(n1,n2).
   */
  quartets(epoch: number, n: number, part?: number): Quartets {
    checkCount('quartets', n);
    if (n > 0) {
      this.requireAnchors('quartets');
      this.requireClasses(3, 'quartets (a and p from one class, n1 and n2 from two others)');
    }
    const rng = Rng.derive(this.seed, 'quartets', epoch, ...partTag(part));
    const a = new Int32Array(n);
    const p = new Int32Array(n);
    const n1 = new Int32Array(n);
    const n2 = new Int32Array(n);
    const m = this.nonEmptyClasses.length;
    for (let i = 0; i < n; i++) {
      const c = this.anchorClasses[rng.int(this.anchorClasses.length)];
      const k = rng.int(this.classSize(c));
      a[i] = this.members[this.start[c] + k];
      p[i] = this.otherInClass(rng, c, k);
      const c1 = this.otherClass(rng, c);
      n1[i] = this.anyOf(rng, c1);
      // A uniform class among the m - 2 others: skip the two excluded positions in increasing order.
      const x = this.nonEmptyPos[c];
      const y = this.nonEmptyPos[c1];
      const lo = x < y ? x : y;
      const hi = x < y ? y : x;
      let j = rng.int(m - 2);
      if (j >= lo) j++;
      if (j >= hi) j++;
      n2[i] = this.anyOf(rng, this.nonEmptyClasses[j]);
    }
    return { a, p, n1, n2 };
  }

  /**
   * `numBatches` batches for online mining, each of P×K item indices: P distinct classes (among those with >= 2
   * images) × K images, grouped by class (items [jK, (j+1)K) share a class; look labels up with classOf). A class
   * with >= K images gives K distinct ones; a smaller class gives all its images, then repeats random ones to
   * reach K, so a class never contributes only one distinct image.
   */
  pkBatches(epoch: number, P: number, K: number, numBatches: number, part?: number): Int32Array[] {
    if (!Number.isInteger(P) || P < 2) throw new SamplerError(`pkBatches: P (classes per batch) must be an integer >= 2 (got ${P})`);
    if (!Number.isInteger(K) || K < 2) throw new SamplerError(`pkBatches: K (images per class) must be an integer >= 2 (got ${K})`);
    checkCount('pkBatches', numBatches);
    const eligible = this.anchorClasses.length;
    if (numBatches > 0 && P > eligible) {
      throw new SamplerError(
        `P×K batches need P = ${P} classes with at least 2 images, but only ${eligible} ${eligible === 1 ? 'class has' : 'classes have'} them; ` +
          `lower training.classesPerBatch to at most ${eligible}` + (eligible < 2 ? ' (and add classes)' : ''),
      );
    }
    const rng = Rng.derive(this.seed, 'pk', epoch, ...partTag(part));
    const classes = this.anchorClasses.slice(); // scratch permutation for partial Fisher–Yates
    const picked = new Int32Array(K);
    const out: Int32Array[] = [];
    for (let bi = 0; bi < numBatches; bi++) {
      const batch = new Int32Array(P * K);
      for (let j = 0; j < P; j++) {
        const r = j + rng.int(eligible - j);
        const c = classes[r];
        classes[r] = classes[j];
        classes[j] = c;
        const s = this.classSize(c);
        const base = this.start[c];
        if (s >= K) {
          // Floyd's algorithm: K distinct positions in [0, s) in O(K²), independent of s.
          for (let t = 0, v = s - K; v < s; v++, t++) {
            const cand = rng.int(v + 1);
            let dup = false;
            for (let u = 0; u < t; u++) if (picked[u] === cand) { dup = true; break; }
            picked[t] = dup ? v : cand;
          }
        } else {
          for (let t = 0; t < s; t++) picked[t] = t;
          rng.shuffle(picked.subarray(0, s));
          for (let t = s; t < K; t++) picked[t] = rng.int(s);
        }
        for (let t = 0; t < K; t++) batch[j * K + t] = this.members[base + picked[t]];
      }
      out.push(batch);
    }
    return out;
  }

  /** A file of class c other than its k-th (the class has >= 2 files). */
  private otherInClass(rng: Rng, c: number, k: number): number {
    let j = rng.int(this.classSize(c) - 1);
    if (j >= k) j++;
    return this.members[this.start[c] + j];
  }

  /** A class with images other than c, uniformly. */
  private otherClass(rng: Rng, c: number): number {
    let j = rng.int(this.nonEmptyClasses.length - 1);
    if (j >= this.nonEmptyPos[c]) j++;
    return this.nonEmptyClasses[j];
  }

  /** A uniform file of class c. */
  private anyOf(rng: Rng, c: number): number {
    return this.members[this.start[c] + rng.int(this.classSize(c))];
  }

  private requireAnchors(what: string): void {
    if (this.anchorClasses.length === 0) {
      throw new SamplerError(
        `cannot draw ${what}: no class has 2 or more images, so no positive (same-class, different-file) pair exists`,
      );
    }
  }

  private requireClasses(min: number, what: string): void {
    const have = this.nonEmptyClasses.length;
    if (have < min) {
      throw new SamplerError(`cannot draw ${what}: they need at least ${min} classes with images, but there ${have === 1 ? 'is' : 'are'} ${have}`);
    }
  }
}

/**
 * The optional `part` of every draw: the training loop draws each step's tuples on their own (part = the step in
 * the epoch), so an epoch is never held in memory whole; a draw with a part is independent of the same draw without.
 */
function partTag(part: number | undefined): number[] {
  return part === undefined ? [] : [part];
}

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new SamplerError(`${what}: the count must be a non-negative integer (got ${n})`);
}
