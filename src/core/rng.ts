// Seeded pseudo-random numbers for sampling and augmentation: sfc32 (Chris Doty-Humphrey's "small fast counting"
// generator, 128-bit state, passes PractRand) seeded by a cyrb128-style hash of (seed, ...tags).
// `Rng.derive(seed, 'triplets', epoch)` gives a stream that depends only on its arguments, so epoch e of a run is
// reproducible on its own (resume) and independent of how many numbers other epochs or other consumers drew.

export type RngTag = string | number;

const TWO_POW_32 = 4294967296;
const SMALL_N = 2097152; // 2^21

/** Hashes a string to four 32-bit words (cyrb128, public domain). */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** Canonical text for a seed and tags; the type prefixes keep 'n:1' (number) apart from 's:1' (string). */
function keyOf(seed: number, tags: readonly RngTag[]): string {
  let key = `seed:${seed}`;
  for (const t of tags) key += typeof t === 'number' ? `\u0000n:${t}` : `\u0000s:${t}`;
  return key;
}

/** A seeded generator. Not cryptographic. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  /** A generator for `seed` (any finite number; the same seed gives the same sequence). */
  constructor(seed: number) {
    [this.a, this.b, this.c, this.d] = hash128(keyOf(seed, []));
    this.warmUp();
  }

  /**
   * An independent stream for `seed` and the given tags, e.g. `Rng.derive(seed, 'pairs', epoch)`. The stream
   * depends only on the arguments, never on other generators' use.
   */
  static derive(seed: number, ...tags: RngTag[]): Rng {
    const r = Object.create(Rng.prototype) as Rng;
    [r.a, r.b, r.c, r.d] = hash128(keyOf(seed, tags));
    r.spareNormal = undefined;
    r.warmUp();
    return r;
  }

  private warmUp(): void {
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // sfc32 must not start from all zeros
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1) (32 bits of resolution). */
  next(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** A uniform number in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n), without modulo bias. `n` must be an integer in [1, 2^32]. */
  int(n: number): number {
    if (n <= SMALL_N && n >= 1 && (n | 0) === n) {
      // Lemire's multiply-shift with rejection: u·n < 2^53 is exact in a double for n <= 2^21.
      for (;;) {
        const x = this.uint32() * n;
        const hi = Math.floor(x / TWO_POW_32);
        const lo = x - hi * TWO_POW_32;
        if (lo >= n || lo >= (TWO_POW_32 - n) % n) return hi;
      }
    }
    if (!(n >= 1 && n <= TWO_POW_32 && Number.isInteger(n))) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32] (got ${n})`);
    }
    // Large n: accept only draws below the largest multiple of n that fits in 32 bits.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A standard normal deviate (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next(); // log(0) guard
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles an array or typed array in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(arr: ArrayLike<T>): T {
    if (arr.length === 0) throw new RangeError('Rng.pick: empty array');
    return arr[this.int(arr.length)];
  }
}

/** A seeded uniform [0, 1) stream as a function (`new Rng(seed).next()`), for code that takes a `() => number`. */
export function uniformStream(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
