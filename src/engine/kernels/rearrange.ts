// Plain-loop data rearrangements for the conv-gradient kernels (conv-grad.ts). On the wasm backend the generic
// memory-movement kernels are slow for these shapes (measured with tf.profile on ResNet-18 width 0.25 gradients:
// a rank-6 Transpose of a 3×3×64×128 filter 34 ms, Reverse 8–18 ms, DepthToSpace of 96×2×2×256 10 ms), while a
// typed-array loop over the same data takes well under a millisecond, so the small, irregular rearrangements are
// done here on the values (exact copies, no arithmetic).

/** Per-axis phase geometry (see phaseAxis in conv-grad.ts). */
export interface PhaseAxis { a: number; t: number; s: number; k: number; p0: number }

/**
 * The stacked phase sub-filters of a [KH,KW,C,Co] filter: F[j, l, co, (φh·sw + φw)·C + c] =
 * W[φh + pt + sh·(Ah − j), φw + pl + sw·(Aw − l), c, co], zero where that tap lies outside the filter.
 * Returns [Th, Tw, Co, sh·sw·C] values.
 */
export function phaseFilterValues(w: Float32Array, c: number, co: number, ph: PhaseAxis, pw: PhaseAxis): Float32Array {
  const cs = ph.s * pw.s * c;
  const out = new Float32Array(ph.t * pw.t * co * cs);
  for (let j = 0; j < ph.t; j++) for (let fh = 0; fh < ph.s; fh++) {
    const kh = fh + ph.p0 + ph.s * (ph.a - j);
    if (kh < 0 || kh >= ph.k) continue;
    for (let l = 0; l < pw.t; l++) for (let fw = 0; fw < pw.s; fw++) {
      const kw = fw + pw.p0 + pw.s * (pw.a - l);
      if (kw < 0 || kw >= pw.k) continue;
      const src = (kh * pw.k + kw) * c * co; // W[kh, kw, :, :] is [C, Co]
      const dst = (j * pw.t + l) * co * cs + (fh * pw.s + fw) * c; // F[j, l, :, block]
      for (let ci = 0; ci < c; ci++) {
        const s0 = src + ci * co;
        let d = dst + ci;
        for (let o = 0; o < co; o++, d += cs) out[d] = w[s0 + o];
      }
    }
  }
  return out;
}

/**
 * Interleaves the phase outputs of a [N, Ho, Wo, sh·sw·C] convolution (read from row `top`, column `left`)
 * into [N, H, W, C]: out[n, sh·i + φh, sw·k + φw, c] = src[n, top + i, left + k, (φh·sw + φw)·C + c].
 */
export function interleavePhases(
  src: Float32Array, srcShape: readonly number[], top: number, left: number, sh: number, sw: number,
  n: number, h: number, w: number, c: number,
): Float32Array {
  const [, ho, wo, cs] = srcShape;
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) {
    const i = Math.floor(y / sh), fh = y - i * sh;
    const rowSrc = ((b * ho + top + i) * wo + left) * cs + fh * sw * c;
    const rowDst = (b * h + y) * w * c;
    for (let x = 0; x < w; x++) {
      const k = Math.floor(x / sw), fw = x - k * sw;
      const s0 = rowSrc + k * cs + fw * c, d0 = rowDst + x * c;
      for (let ci = 0; ci < c; ci++) out[d0 + ci] = src[s0 + ci];
    }
  }
  return out;
}

/** [R, C] → [C, R]. */
export function transpose2D(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/**
 * [N, OH, OW, C] values to [N, H, W, C] with src[n, oh, ow] at (oh·sh − pt, ow·sw − pl) and zeros elsewhere
 * (positions outside [0, H) × [0, W) are dropped): the input gradient of a strided 1×1 convolution.
 */
export function scatterStrided(
  src: Float32Array, n: number, oh: number, ow: number, c: number, h: number, w: number, sh: number, sw: number, pt: number, pl: number,
): Float32Array {
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) {
    const y = i * sh - pt;
    if (y < 0 || y >= h) continue;
    for (let k = 0; k < ow; k++) {
      const x = k * sw - pl;
      if (x < 0 || x >= w) continue;
      const s0 = ((b * oh + i) * ow + k) * c, d0 = ((b * h + y) * w + x) * c;
      for (let ci = 0; ci < c; ci++) out[d0 + ci] = src[s0 + ci];
    }
  }
  return out;
}
