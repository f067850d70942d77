// Loss values against hand computation (worked in the comments) and the mining losses against a plain-JS second
// implementation on random batches. Runs on the cpu backend: the formulas are backend-independent.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { DistanceName, MiningName } from '../../src/core/config-types';
import { initBackend } from '../../src/engine/backend';
import { tf } from '../../src/engine/tf';
import { contrastiveLoss, minedTripletLoss, pairwiseDistance, quartetLoss, tripletLoss, type LossOutput } from '../../src/engine/losses';

test.before(async () => {
  await tf.setBackend('cpu');
});

const m2 = (rows: number[][]) => tf.tensor2d(rows) as Tensor2D;
const val = (t: Tensor) => t.dataSync()[0];
function values(o: LossOutput) {
  return { loss: val(o.loss), pos: val(o.posDist), neg: val(o.negDist), active: val(o.active) };
}
const close = (a: number, b: number, tol = 1e-5, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('contrastive: (1−y)·½d² + y·½·max(0, m−d)², y = 1 dissimilar', () => {
  // pair 1: d([0,0],[3,4]) = 5, y=0 → ½·25 = 12.5
  // pair 2: d = 5, y=1, m=2 → ½·max(0, 2−5)² = 0
  // pair 3: d([0,0],[1,0]) = 1, y=1 → ½·(2−1)² = 0.5
  // pair 4: d = 1, y=0 → ½·1 = 0.5          mean = 13.5/4 = 3.375
  const a = m2([[0, 0], [0, 0], [0, 0], [0, 0]]);
  const b = m2([[3, 4], [3, 4], [1, 0], [1, 0]]);
  const y = tf.tensor1d([0, 1, 1, 0]) as Tensor1D;
  const v = values(contrastiveLoss(a, b, y, 2, 'euclidean'));
  close(v.loss, 3.375);
  close(v.pos, 3); // similar pairs: (5 + 1)/2
  close(v.neg, 3); // dissimilar pairs: (5 + 1)/2
  close(v.active, 3 / 4);
  // squared-euclidean uses d = ‖a−b‖²: pair1 ½·625 = 312.5, pair2 max(0, 2−25) = 0, pair3 ½·(2−1)² = 0.5, pair4 0.5
  close(values(contrastiveLoss(a, b, y, 2, 'squared-euclidean')).loss, 313.5 / 4);
});

test('triplet: max(0, d(a,p) − d(a,n) + m), all three distances', () => {
  // t1: d(a,p)=1, d(a,n)=2 → max(0, 1−2+0.5) = 0;  t2: d(a,p)=3, d(a,n)=1 → 3−1+0.5 = 2.5;  mean 1.25
  const a = m2([[0, 0], [0, 0]]);
  const p = m2([[1, 0], [0, 3]]);
  const n = m2([[0, 2], [1, 0]]);
  const v = values(tripletLoss(a, p, n, 0.5, 'euclidean'));
  close(v.loss, 1.25);
  close(v.pos, 2);
  close(v.neg, 1.5);
  close(v.active, 0.5);
  // squared: t1 1−4+0.5 < 0 → 0; t2 9−1+0.5 = 8.5; mean 4.25
  close(values(tripletLoss(a, p, n, 0.5, 'squared-euclidean')).loss, 4.25);
  // cosine: t1 a=[1,0], p=[1,1] → 1−1/√2 = 0.2928932, n=[0,1] → 1; 0.2929−1+0.2 < 0 → 0
  //         t2 p=[−1,0] → 2, n=[1,1] → 0.2928932; 2 − 0.2928932 + 0.2 = 1.9071068; mean 0.9535534
  const ca = m2([[1, 0], [1, 0]]);
  const cp = m2([[1, 1], [-1, 0]]);
  const cn = m2([[0, 1], [1, 1]]);
  close(values(tripletLoss(ca, cp, cn, 0.2, 'cosine')).loss, 0.9535534);
});

test('quartet: max(0, d(a,p)² − d(a,n1)² + m1) + max(0, d(a,p)² − d(n1,n2)² + m2)', () => {
  // d(a,p)=1, d(a,n1)=2, d(n1,n2)=1, m1=0.5, m2=0.25: max(0, 1−4+0.5) + max(0, 1−1+0.25) = 0.25
  // second: d(a,p)=2, d(a,n1)=1, d(n1,n2)=3: max(0, 4−1+0.5) + max(0, 4−9+0.25) = 3.5;  mean 1.875
  const a = m2([[0, 0], [0, 0]]);
  const p = m2([[1, 0], [2, 0]]);
  const n1 = m2([[0, 2], [0, 1]]);
  const n2 = m2([[0, 3], [0, 4]]);
  const v = values(quartetLoss(a, p, n1, n2, 0.5, 0.25, 'euclidean'));
  close(v.loss, 1.875);
  close(v.pos, 1.5);
  close(v.neg, 1.5);
});

test('online mining on a worked batch: batch-hard, batch-all, semi-hard', () => {
  // points on a line: 0, 1 (class 0) and 3, 3.5 (class 1); margin 2.
  // distances: d01=1 d02=3 d03=3.5 d12=2 d13=2.5 d23=0.5
  const e = m2([[0, 0], [1, 0], [3, 0], [3.5, 0]]);
  const labels = tf.tensor1d([0, 0, 1, 1], 'int32') as Tensor1D;
  // batch-hard per anchor: a0 1−3+2=0, a1 1−2+2=1, a2 0.5−2+2=0.5, a3 0.5−2.5+2=0 → 1.5/4
  const hard = values(minedTripletLoss(e, labels, 2, 'euclidean', 'batch-hard'));
  close(hard.loss, 0.375);
  close(hard.pos, 0.75); // (1 + 1 + 0.5 + 0.5)/4
  close(hard.neg, 2.75); // 2·(3 + 3.5 + 2 + 2.5)/8
  // batch-all: non-zero triplets (1,0,2)=1, (1,0,3)=0.5, (2,3,1)=0.5 → mean over non-zero = 2/3
  close(values(minedTripletLoss(e, labels, 2, 'euclidean', 'batch-all')).loss, 2 / 3);
  // semi-hard: (0,1)→n at 3: 0; (1,0)→2: 1; (2,3)→2: 0.5; (3,2)→2.5: 0 → 1.5/4
  close(values(minedTripletLoss(e, labels, 2, 'euclidean', 'semi-hard')).loss, 0.375);
  // no negative farther than the positive → the farthest negative: e = 0, 3 (class 0) and 1 (class 1), m = 0.5
  // (0,1): d=3, negatives {1} → 3−1+0.5 = 2.5; (1,0): d=3, negatives {2} → 3−2+0.5 = 1.5 → mean 2
  const e2 = m2([[0, 0], [3, 0], [1, 0]]);
  close(values(minedTripletLoss(e2, tf.tensor1d([0, 0, 1], 'int32') as Tensor1D, 0.5, 'euclidean', 'semi-hard')).loss, 2);
});

/** Plain-JS reference for the mining losses. */
function referenceMined(e: number[][], labels: number[], m: number, mining: 'batch-all' | 'batch-hard' | 'semi-hard'): number {
  const d = (i: number, j: number) => Math.sqrt(Math.max(e[i].reduce((s, x, k) => s + (x - e[j][k]) ** 2, 0), 1e-12));
  const B = e.length;
  if (mining === 'batch-hard') {
    let sum = 0;
    let anchors = 0;
    for (let a = 0; a < B; a++) {
      let hp = -Infinity;
      let hn = Infinity;
      for (let j = 0; j < B; j++) {
        if (j === a) continue;
        if (labels[j] === labels[a]) hp = Math.max(hp, d(a, j));
        else hn = Math.min(hn, d(a, j));
      }
      if (hp === -Infinity) continue;
      anchors++;
      sum += Math.max(0, hp - hn + m);
    }
    return sum / anchors;
  }
  let sum = 0;
  let count = 0;
  for (let a = 0; a < B; a++) {
    for (let p = 0; p < B; p++) {
      if (p === a || labels[p] !== labels[a]) continue;
      const dap = d(a, p);
      if (mining === 'batch-all') {
        for (let n = 0; n < B; n++) {
          if (labels[n] === labels[a]) continue;
          const l = Math.max(0, dap - d(a, n) + m);
          if (l > 1e-16) { sum += l; count++; }
        }
      } else {
        let semi = Infinity;
        let far = -Infinity;
        for (let n = 0; n < B; n++) {
          if (labels[n] === labels[a]) continue;
          const dan = d(a, n);
          if (dan > dap) semi = Math.min(semi, dan);
          far = Math.max(far, dan);
        }
        sum += Math.max(0, dap - (semi < Infinity ? semi : far) + m);
        count++;
      }
    }
  }
  return count ? sum / count : 0;
}

test('mining losses agree with a plain-JS implementation on random batches', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (let trial = 0; trial < 5; trial++) {
    const B = 12;
    const e = Array.from({ length: B }, () => Array.from({ length: 4 }, rnd));
    const labels = Array.from({ length: B }, (_, i) => i % 3);
    for (const mining of ['batch-all', 'batch-hard', 'semi-hard'] as const) {
      const got = val(minedTripletLoss(m2(e), tf.tensor1d(labels, 'int32') as Tensor1D, 0.3, 'euclidean', mining).loss);
      close(got, referenceMined(e, labels, 0.3, mining), 1e-4, `${mining} trial ${trial}`);
    }
  }
});

test('triplet gradient matches central finite differences', () => {
  const a0 = [0.3, -0.2, 0.5];
  const p0 = [0.1, 0.4, -0.3];
  const n0 = [0.2, -0.1, 0.45];
  const f = (a: number[]) => val(tripletLoss(m2([a]), m2([p0]), m2([n0]), 0.5, 'euclidean').loss);
  const g = tf.grad((a: Tensor) => tripletLoss(a as Tensor2D, m2([p0]), m2([n0]), 0.5, 'euclidean').loss)(m2([a0])).dataSync();
  const h = 1e-3;
  for (let i = 0; i < 3; i++) {
    const up = [...a0];
    const dn = [...a0];
    up[i] += h;
    dn[i] -= h;
    close(g[i], (f(up) - f(dn)) / (2 * h), 2e-3, `dL/da[${i}]`);
  }
});

test('every loss and mining mode is differentiable and gives finite gradients', () => {
  const e0 = tf.randomNormal([12, 4], 0, 1, 'float32', 3) as Tensor2D;
  const labels = tf.tensor1d([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], 'int32') as Tensor1D;
  const fns: Array<[string, (e: Tensor2D) => Tensor]> = [
    ['batch-all', (e) => minedTripletLoss(e, labels, 0.5, 'euclidean', 'batch-all').loss],
    ['batch-hard', (e) => minedTripletLoss(e, labels, 0.5, 'cosine', 'batch-hard').loss],
    ['semi-hard', (e) => minedTripletLoss(e, labels, 0.5, 'squared-euclidean', 'semi-hard').loss],
    ['contrastive', (e) => { const [a, b] = tf.split(e, 2, 0) as Tensor2D[]; return contrastiveLoss(a, b, tf.tensor1d([0, 1, 0, 1, 0, 1]) as Tensor1D, 1, 'euclidean').loss; }],
    ['triplet', (e) => { const [a, p, n] = tf.split(e, 3, 0) as Tensor2D[]; return tripletLoss(a, p, n, 0.5, 'cosine').loss; }],
    ['quartet', (e) => { const [a, p, n1, n2] = tf.split(e, 4, 0) as Tensor2D[]; return quartetLoss(a, p, n1, n2, 0.5, 0.25, 'euclidean').loss; }],
  ];
  for (const [name, f] of fns) {
    const g = tf.grad((e: Tensor) => f(e as Tensor2D))(e0).dataSync();
    assert.ok(g.every(Number.isFinite), `${name}: finite gradient`);
    assert.ok(g.some((x) => x !== 0), `${name}: non-zero gradient`);
  }
});

// ── The B × B × B implementation the mining losses had before issue 19, kept verbatim as the reference: the
// rewrite (mining off the tape, one B × B gradient) must give its loss, statistics and gradients.
// The distance matrix before the Gram matrix got its own gradient (x·xᵀ through a transposed matMul); the mining
// reference below calls the current pairwiseDistance, so that it compares the mining alone.
const REF_EPS = 1e-12;
function referencePairwiseDistance(e: Tensor2D, distance: DistanceName): Tensor2D {
  return tf.tidy(() => {
    if (distance === 'cosine') {
      const n = tf.sqrt(tf.maximum(tf.sum(tf.square(e), -1, true), REF_EPS));
      const u = tf.div(e, n) as Tensor2D;
      return tf.sub(1, tf.matMul(u, u, false, true)) as Tensor2D;
    }
    const sq = tf.sum(tf.square(e), -1, true); // [B,1]
    const d2 = tf.relu(tf.add(tf.sub(sq, tf.mul(2, tf.matMul(e, e, false, true))), tf.transpose(sq))) as Tensor2D;
    return distance === 'squared-euclidean' ? d2 : (tf.sqrt(tf.maximum(d2, REF_EPS)) as Tensor2D);
  });
}

function referenceLabelMasks(labels: Tensor1D): { pos: Tensor2D; neg: Tensor2D } {
  const l = tf.cast(labels, 'float32');
  const same = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32') as Tensor2D;
  const b = labels.shape[0];
  const pos = tf.sub(same, tf.eye(b)) as Tensor2D;
  const neg = tf.sub(1, same) as Tensor2D;
  return { pos, neg };
}

function referenceMinedTripletLoss(
  e: Tensor2D, labels: Tensor1D, margin: number, distance: DistanceName, mining: Exclude<MiningName, 'none'>,
): LossOutput {
  return tf.tidy(() => {
    const d = pairwiseDistance(e, distance);
    const { pos, neg } = referenceLabelMasks(labels);
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

type Mining = 'batch-all' | 'batch-hard' | 'semi-hard';
const MININGS: Mining[] = ['batch-all', 'batch-hard', 'semi-hard'];
const DISTANCES: DistanceName[] = ['euclidean', 'squared-euclidean', 'cosine'];

/** Seeded batches, the degenerate ones included. */
function batches(): Array<{ name: string; e: number[][]; labels: number[] }> {
  let seed = 19;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const randomRows = (n: number, dim: number) => Array.from({ length: n }, () => Array.from({ length: dim }, rnd));
  const unit = (rows: number[][]) => rows.map((r) => { const n = Math.hypot(...r); return r.map((x) => x / n); });
  const out: Array<{ name: string; e: number[][]; labels: number[] }> = [];
  for (let t = 0; t < 3; t++) out.push({ name: `random P×K 4×4 #${t}`, e: randomRows(16, 8), labels: Array.from({ length: 16 }, (_, i) => i >> 2) });
  out.push({ name: 'L2-normalised P×K 6×4', e: unit(randomRows(24, 16)), labels: Array.from({ length: 24 }, (_, i) => i % 6) });
  out.push({ name: 'a class with one image', e: randomRows(9, 4), labels: [0, 0, 0, 0, 1, 1, 1, 1, 2] });
  out.push({ name: 'all one class', e: randomRows(6, 4), labels: [3, 3, 3, 3, 3, 3] });
  // Ties: integer points (exact distances, many equal), and repeated rows (equal distances to every other point).
  out.push({ name: 'ties: integer lattice', e: Array.from({ length: 12 }, (_, i) => [i % 3, (i >> 1) % 2, i % 2 === 0 ? 1 : 0]), labels: Array.from({ length: 12 }, (_, i) => i % 3) });
  const base = randomRows(4, 5);
  out.push({ name: 'ties: repeated rows', e: Array.from({ length: 12 }, (_, i) => base[i % 4]), labels: Array.from({ length: 12 }, (_, i) => (i >> 1) % 3) });
  out.push({ name: 'ties: every embedding equal', e: Array.from({ length: 8 }, () => [0.5, -0.5, 0.25]), labels: [0, 0, 1, 1, 2, 2, 3, 3] });
  return out;
}

for (const [backend, miner] of [['cpu', 'tensor'], ['cpu', 'js'], ['wasm', 'auto']] as const) test(`mining on ${backend}, ${miner} miner: the off-tape rewrite gives the B×B×B reference's loss, statistics and gradients (every mode, distance, degenerate batch)`, async () => {
  if (backend === 'wasm') await initBackend('wasm', { selfTest: false }); // training's backend, with our kernels
  else assert.ok(await tf.setBackend('cpu'));
  const tensorsBefore = tf.memory().numTensors;
  let compared = 0;
  let nonZeroGrads = 0;
  for (const { name, e, labels } of batches()) {
    for (const distance of DISTANCES) {
      for (const mining of MININGS) {
        for (const margin of [0.3, 2]) {
          const what = `${name}, ${distance}, ${mining}, margin ${margin}`;
          tf.tidy(() => {
            const x = m2(e);
            const l = tf.tensor1d(labels, 'int32') as Tensor1D;
            const got = values(minedTripletLoss(x, l, margin, distance, mining, miner));
            const want = values(referenceMinedTripletLoss(x, l, margin, distance, mining));
            for (const k of ['loss', 'pos', 'neg', 'active'] as const) close(got[k], want[k], 1e-5 * Math.max(1, Math.abs(want[k])), `${what}: ${k}`);
            const g = tf.grad((t: Tensor) => minedTripletLoss(t as Tensor2D, l, margin, distance, mining, miner).loss)(x).dataSync();
            const gRef = tf.grad((t: Tensor) => referenceMinedTripletLoss(t as Tensor2D, l, margin, distance, mining).loss)(x).dataSync();
            assert.equal(g.length, gRef.length);
            for (let i = 0; i < g.length; i++) close(g[i], gRef[i], 1e-5 * Math.max(1, Math.abs(gRef[i])), `${what}: dL/de[${i}]`);
            if (gRef.some((v) => v !== 0)) nonZeroGrads++;
          });
          compared++;
        }
      }
    }
  }
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaks');
  assert.ok(await tf.setBackend('cpu'));
  assert.equal(compared, 9 * 3 * 3 * 2);
  assert.ok(nonZeroGrads > compared / 2, `most cases have a gradient to compare (${nonZeroGrads} of ${compared})`);
});

test('mining: backprop makes no B × B × B tensor (the reference\'s does)', async () => {
  const B = 12;
  const x = tf.randomNormal([B, 4], 0, 1, 'float32', 5) as Tensor2D;
  const labels = tf.tensor1d(Array.from({ length: B }, (_, i) => i % 3), 'int32') as Tensor1D;
  type Fn = typeof referenceMinedTripletLoss;
  /** How many kernels of a run output at least B³ elements. */
  const cubic = async (f: () => unknown) => (await tf.profile(() => { tf.tidy(() => { f(); }); })).kernels
    .filter((k) => k.outputShapes.some((s) => (s ?? []).reduce((n, v) => n * v, 1) >= B ** 3)).length;
  for (const mining of MININGS) {
    const run = (fn: Fn) => ({
      forward: () => fn(x, labels, 0.3, 'euclidean', mining).loss,
      both: () => tf.grad((t: Tensor) => fn(t as Tensor2D, labels, 0.3, 'euclidean', mining).loss)(x),
    });
    for (const miner of ['tensor', 'js'] as const) {
      const ours = run((...a) => minedTripletLoss(...a, miner));
      assert.equal(await cubic(ours.both), await cubic(ours.forward), `${mining}, ${miner}: the backward pass adds no B³ kernel`);
      if (miner === 'js') assert.equal(await cubic(ours.both), 0, `${mining}, js: no B³ kernel at all`);
    }
    const ref = run(referenceMinedTripletLoss);
    if (mining !== 'batch-hard') assert.ok(await cubic(ref.both) > await cubic(ref.forward), `${mining}: the reference's backward does (the check can fail)`);
  }
});

test('mining: a NaN embedding gives a NaN loss on every miner (training stops on it)', () => {
  const e = m2([[0, 1], [1, 0], [NaN, 0], [0, -1]]);
  const labels = tf.tensor1d([0, 0, 1, 1], 'int32') as Tensor1D;
  for (const mining of MININGS) {
    for (const miner of ['tensor', 'js'] as const) {
      assert.ok(Number.isNaN(val(minedTripletLoss(e, labels, 0.3, 'euclidean', mining, miner).loss)), `${mining}, ${miner}`);
    }
    assert.ok(Number.isNaN(val(referenceMinedTripletLoss(e, labels, 0.3, 'euclidean', mining).loss)), `reference ${mining}`);
  }
});

test('batch-all: a triplet loss in (0, 1e-16] counts in the sum but not among the non-zero triplets, as before', () => {
  // squared-euclidean on points ~1e-9 apart: every d ~1e-18, so with margin 0 each active triplet's loss is ~1e-18.
  let seed = 5;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const e = m2(Array.from({ length: 8 }, () => [rnd() * 1e-9, rnd() * 1e-9]));
  const labels = tf.tensor1d([0, 0, 1, 1, 2, 2, 3, 3], 'int32') as Tensor1D;
  const want = values(referenceMinedTripletLoss(e, labels, 0, 'squared-euclidean', 'batch-all'));
  assert.ok(want.loss > 0 && want.active === 0, `the case exercises the threshold (${JSON.stringify(want)})`);
  for (const miner of ['tensor', 'js'] as const) {
    const got = values(minedTripletLoss(e, labels, 0, 'squared-euclidean', 'batch-all', miner));
    close(got.loss, want.loss, 1e-5 * want.loss, `${miner}: loss`);
    assert.equal(got.active, want.active, `${miner}: active`);
  }
});

test('pairwiseDistance with its Gram gradient equals the transposed-matMul version, values and gradients', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    if (backend === 'wasm') await initBackend('wasm', { selfTest: false });
    else assert.ok(await tf.setBackend('cpu'));
    const B = 20;
    const x = tf.randomNormal([B, 6], 0, 1, 'float32', 11) as Tensor2D;
    // Off the diagonal (where d is well away from 0): a weighted sum, so every entry's gradient counts.
    const wv = Array.from({ length: B * B }, (_, i) => (Math.floor(i / B) === i % B ? 0 : Math.sin(i)));
    const wt = tf.tensor2d(wv, [B, B]);
    for (const distance of DISTANCES) {
      const got = pairwiseDistance(x, distance).dataSync(), want = referencePairwiseDistance(x, distance).dataSync();
      for (let i = 0; i < got.length; i++) if (wv[i] !== 0) close(got[i], want[i], 1e-5 * Math.max(1, Math.abs(want[i])), `${backend} ${distance}: d[${i}]`);
      const g = tf.grad((t: Tensor) => tf.sum(tf.mul(pairwiseDistance(t as Tensor2D, distance), wt)))(x).dataSync();
      const gRef = tf.grad((t: Tensor) => tf.sum(tf.mul(referencePairwiseDistance(t as Tensor2D, distance), wt)))(x).dataSync();
      for (let i = 0; i < g.length; i++) close(g[i], gRef[i], 1e-5 * Math.max(1, Math.abs(gRef[i])), `${backend} ${distance}: grad[${i}]`);
    }
    tf.dispose([x, wt]);
  }
  assert.ok(await tf.setBackend('cpu'));
});
