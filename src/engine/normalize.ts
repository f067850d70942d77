// Normalization of decoded pixels: every mode is an affine map of the 0..1 value, per channel:
// out = v01 · scale[c] + shift[c], with scale = 1/std and shift = −mean/std. A named mode is its statistics
// (NAMED_STATS); given statistics ({ mean, std }) have 1 value for every channel or 3; one channel takes the mean of
// three (as ImageNet's on a grey image).
import type { NormalizeMode, NormalizeStats } from '../core/config-types';

/** The statistics of each named mode, for pixels in [0, 1]. */
export const NAMED_STATS: Readonly<Record<Exclude<NormalizeMode, NormalizeStats>, NormalizeStats>> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  'zero-one': { mean: [0], std: [1] },
  'minus-one-one': { mean: [0.5], std: [0.5] },
};

export const INV255 = 1 / 255;

export interface Affine {
  scale: Float64Array;
  shift: Float64Array;
}

export function affineFor(mode: NormalizeMode, channels: 1 | 3): Affine {
  const stats = typeof mode === 'object' ? mode : NAMED_STATS[mode];
  if (!stats) throw new Error(`unknown normalize mode: ${String(mode)}`);
  const pick = (v: number[], c: number) => (v.length === 1 ? v[0] : channels === 1 ? (v[0] + v[1] + v[2]) / 3 : v[c]);
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const mean = pick(stats.mean, c);
    const std = pick(stats.std, c);
    scale[c] = 1 / std;
    shift[c] = -mean / std;
  }
  return { scale, shift };
}

/** Writes the normalized float32 values of one HWC uint8 image into `dst` starting at element `offset`. */
export function normalizeInto(dst: Float32Array, offset: number, pixels: Uint8Array, spec: { normalize: NormalizeMode; channels: 1 | 3 }): void {
  normalizeAffine(dst, offset, pixels, INV255, affineFor(spec.normalize, spec.channels), spec.channels);
}

/** dst[offset + i] = src[i] · pre · scale[c] + shift[c], with c = i mod channels (HWC). */
export function normalizeAffine(
  dst: Float32Array,
  offset: number,
  src: ArrayLike<number>,
  pre: number,
  { scale, shift }: Affine,
  channels: number,
): void {
  const n = src.length;
  if (offset < 0 || offset + n > dst.length) throw new RangeError(`normalizeInto: ${n} values at ${offset} overflow ${dst.length}`);
  if (channels === 1) {
    const a = pre * scale[0], b = shift[0];
    for (let i = 0; i < n; i++) dst[offset + i] = src[i] * a + b;
    return;
  }
  // Three channels, unrolled (the hot loop of getBatch).
  const a0 = pre * scale[0], a1 = pre * scale[1], a2 = pre * scale[2];
  const b0 = shift[0], b1 = shift[1], b2 = shift[2];
  for (let i = 0; i < n; i += 3) {
    dst[offset + i] = src[i] * a0 + b0;
    dst[offset + i + 1] = src[i + 1] * a1 + b1;
    dst[offset + i + 2] = src[i + 2] * a2 + b2;
  }
}
