// Loss values against hand computation (worked in the comments) and the mining losses against a plain-JS second
// implementation on random batches. Runs on the cpu backend: the formulas are backend-independent.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import { tf } from '../../src/engine/tf';
import { contrastiveLoss, minedTripletLoss, quartetLoss, tripletLoss, type LossOutput } from '../../src/engine/losses';

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
