// Tuple sampling invariants over many draws: positives share the anchor's class but not its file, negatives do
// not, quartet n2 comes from a third class, pairs are exactly balanced, draws are reproducible per seed and epoch,
// P×K batches have P distinct classes × K images, singleton classes are never anchors, and bad data is refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng';
import { SamplerError, TupleSampler } from '../../src/core/sampler';

// 7 classes with imbalanced sizes; class 5 and class 6 are singletons, class 3 has exactly 2 images.
const SIZES = [50, 10, 3, 2, 25, 1, 1];
const classOf: number[] = [];
SIZES.forEach((n, c) => { for (let i = 0; i < n; i++) classOf.push(c); });
new Rng(7).shuffle(classOf); // items of a class are not contiguous
const NUM_CLASSES = SIZES.length;
const sampler = new TupleSampler(classOf, NUM_CLASSES, 42);
const N = 20000;

const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.from(x).every((v, i) => v === y[i]);

test('rng: reproducible, derived streams independent, int unbiased range, shuffle is a permutation', () => {
  const a = Rng.derive(1, 'x', 3);
  const b = Rng.derive(1, 'x', 3);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notEqual(Rng.derive(1, 'x', 4).next(), Rng.derive(1, 'x', 3).next());
  assert.notEqual(Rng.derive(1, 'x', '3').next(), Rng.derive(1, 'x', 3).next());
  const r = new Rng(5);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, String(counts));
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < 20000; i++) { const z = r.normal(); sum += z; sq += z * z; }
  assert.ok(Math.abs(sum / 20000) < 0.05 && Math.abs(sq / 20000 - 1) < 0.05);
  const arr = Int32Array.from({ length: 50 }, (_, i) => i);
  r.shuffle(arr);
  assert.deepEqual(Array.from(arr).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.throws(() => r.int(0), RangeError);
});

test('pairs: exact balance, positives same class different file, negatives other class, anchors not singletons', () => {
  for (const ratio of [0.5, 0.3, 0.999]) {
    const { a, b, y } = sampler.pairs(0, N, ratio);
    let pos = 0;
    for (let i = 0; i < N; i++) {
      assert.ok(SIZES[classOf[a[i]]] >= 2, 'anchor from a class with >= 2 images');
      if (y[i] === 0) {
        pos++;
        assert.equal(classOf[a[i]], classOf[b[i]]);
        assert.notEqual(a[i], b[i]);
      } else {
        assert.equal(y[i], 1);
        assert.notEqual(classOf[a[i]], classOf[b[i]]);
      }
    }
    assert.equal(pos, Math.round(N * ratio));
  }
  const { y } = sampler.pairs(3, 1000);
  assert.ok(!same(y.subarray(0, 500), new Float32Array(500)), 'positives are shuffled, not first');
  const odd = sampler.pairs(0, 7, 0.5);
  assert.equal(Array.from(odd.y).filter((v) => v === 0).length, 4);
});

test('triplets: p same class different file, n other class, class-balanced anchors', () => {
  const { a, p, n } = sampler.triplets(1, N);
  const anchorsPerClass = new Array(NUM_CLASSES).fill(0);
  const negClasses = new Set<number>();
  for (let i = 0; i < N; i++) {
    assert.equal(classOf[a[i]], classOf[p[i]]);
    assert.notEqual(a[i], p[i]);
    assert.notEqual(classOf[a[i]], classOf[n[i]]);
    anchorsPerClass[classOf[a[i]]]++;
    negClasses.add(classOf[n[i]]);
  }
  assert.equal(anchorsPerClass[5] + anchorsPerClass[6], 0, 'singleton classes are never anchors');
  for (const c of [0, 1, 2, 3, 4]) assert.ok(Math.abs(anchorsPerClass[c] - N / 5) < N / 25, String(anchorsPerClass));
  assert.ok(negClasses.has(5) && negClasses.has(6), 'singletons still serve as negatives');
});

test('quartets: n2 class differs from both the anchor and n1', () => {
  const { a, p, n1, n2 } = sampler.quartets(2, N);
  const n2Classes = new Set<number>();
  for (let i = 0; i < N; i++) {
    const ca = classOf[a[i]];
    assert.equal(ca, classOf[p[i]]);
    assert.notEqual(a[i], p[i]);
    assert.notEqual(classOf[n1[i]], ca);
    assert.notEqual(classOf[n2[i]], ca);
    assert.notEqual(classOf[n2[i]], classOf[n1[i]]);
    n2Classes.add(classOf[n2[i]]);
  }
  assert.equal(n2Classes.size, NUM_CLASSES, 'every class can be the second negative');
});

test('same seed and epoch give identical draws; another epoch or seed differs; call order does not matter', () => {
  const other = new TupleSampler(classOf, NUM_CLASSES, 42);
  other.triplets(9, 100); // consuming other epochs first changes nothing
  const t1 = sampler.triplets(5, 1000);
  const t2 = other.triplets(5, 1000);
  assert.ok(same(t1.a, t2.a) && same(t1.p, t2.p) && same(t1.n, t2.n));
  assert.ok(!same(t1.a, sampler.triplets(6, 1000).a));
  assert.ok(!same(t1.a, new TupleSampler(classOf, NUM_CLASSES, 43).triplets(5, 1000).a));
  const p1 = sampler.pairs(5, 500);
  const p2 = other.pairs(5, 500);
  assert.ok(same(p1.a, p2.a) && same(p1.b, p2.b) && same(p1.y, p2.y));
  const q1 = sampler.quartets(5, 500);
  assert.ok(same(q1.n2, other.quartets(5, 500).n2));
  assert.ok(same(sampler.pkBatches(5, 4, 3, 3)[2], other.pkBatches(5, 4, 3, 3)[2]));
});

test('pkBatches: P distinct classes (with >= 2 images) × K images, distinct when the class is big enough', () => {
  const P = 4;
  const K = 4;
  const batches = sampler.pkBatches(0, P, K, 500);
  assert.equal(batches.length, 500);
  for (const batch of batches) {
    assert.equal(batch.length, P * K);
    const classes = new Set<number>();
    for (let j = 0; j < P; j++) {
      const block = Array.from(batch.subarray(j * K, (j + 1) * K));
      const c = classOf[block[0]];
      assert.ok(block.every((i) => classOf[i] === c), 'a block shares one class');
      assert.ok(SIZES[c] >= 2);
      classes.add(c);
      const distinct = new Set(block).size;
      assert.equal(distinct, Math.min(K, SIZES[c]), `class ${c} of size ${SIZES[c]}`);
    }
    assert.equal(classes.size, P);
  }
  assert.throws(() => sampler.pkBatches(0, 6, 4, 1), /only 5 classes have them.*at most 5/);
  assert.throws(() => sampler.pkBatches(0, 4, 1, 1), SamplerError);
});

test('errors when the data cannot support the tuples', () => {
  const single = new TupleSampler([0, 0, 0], 1, 1);
  assert.throws(() => single.triplets(0, 10), /at least 2 classes/);
  assert.throws(() => single.pairs(0, 10), /at least 2 classes/);
  assert.equal(single.pairs(0, 10, 1).y.every((v) => v === 0), true, 'all-positive pairs need only one class');
  const singletons = new TupleSampler([0, 1, 2], 3, 1);
  assert.throws(() => singletons.triplets(0, 10), /no class has 2 or more images/);
  const two = new TupleSampler([0, 0, 1], 2, 1);
  assert.throws(() => two.quartets(0, 10), /at least 3 classes/);
  assert.throws(() => new TupleSampler([0, 3], 2, 1), /classOf\[1\]/);
  assert.throws(() => sampler.triplets(0, -1), SamplerError);
});

test('fast: 100k tuples of each kind well under 100 ms', () => {
  // CPU time, best of 3: the shared test machine's load would otherwise make wall time meaningless.
  const big = Int32Array.from({ length: 50000 }, (_, i) => i % 1000);
  const s = new TupleSampler(big, 1000, 1);
  s.triplets(0, 1000); // warm up
  const draws = { pairs: () => s.pairs(1, 100000), triplets: () => s.triplets(1, 100000), quartets: () => s.quartets(1, 100000), pk: () => s.pkBatches(1, 16, 4, 1563) };
  for (const [name, draw] of Object.entries(draws)) {
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const c0 = process.cpuUsage();
      draw();
      const c = process.cpuUsage(c0);
      best = Math.min(best, (c.user + c.system) / 1000);
    }
    assert.ok(best < 100, `${name}: ${best.toFixed(1)} ms of CPU`);
  }
});
