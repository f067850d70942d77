// Image pipeline: decode files with sharp into fixed-size uint8 HWC pixels, keep them in a byte-budgeted
// cache, and produce normalized (optionally augmented) NHWC float32 batches. Deliberately free of tfjs:
// everything here is plain typed arrays, so the trainer wraps the output in a tensor itself.
//
// Decoding conventions (decodeImage):
//   - EXIF orientation is applied; only the first page/frame of multi-page files (GIF, TIFF, WebP) is used.
//   - Transparency is flattened onto BLACK, the same colour as the `contain` letterbox, so "no content" always
//     reads as 0 whatever the source format.
//   - Any source (greyscale, grey+alpha, palette, 16-bit, CMYK) ends up as 8-bit sRGB (channels 3) or 8-bit
//     luminance (channels 1).
//   - Invalid pixel data, truncated files included, is an error (`failOn: 'error'`): a half-grey truncated
//     JPEG is worse than a skipped one.

import sharp, { type OutputInfo } from 'sharp';
import { affineFor, INV255, normalizeAffine, type Affine } from './normalize';
import { decodePngFast } from './png-fast';
import type { AugmentConfig, FitMode, NormalizeMode } from '../core/config-types';

/** The size and encoding every image is brought to. */
export interface ImageSpec {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: FitMode;
  normalize: NormalizeMode;
}

/** A file that sharp could not read or decode (missing, empty, corrupt, truncated, unsupported). */
export class ImageDecodeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`Cannot decode image ${path}: ${reason}`);
    this.name = 'ImageDecodeError';
  }
}

/** Bytes of one decoded image: h·w·c. */
export function imageBytes(spec: Pick<ImageSpec, 'height' | 'width' | 'channels'>): number {
  return spec.height * spec.width * spec.channels;
}

/**
 * Decodes `path` into exactly height·width·channels bytes of HWC uint8 pixels.
 * `cover` scales to fill and crops the centre; `contain` scales to fit and letterboxes with black.
 * Throws ImageDecodeError naming the path and sharp's reason.
 */
export async function decodeImage(path: string, spec: ImageSpec): Promise<Uint8Array> {
  // PNGs already at the target size decode without libvips (png-fast.ts: the same bytes, ~7× less CPU).
  const fast = await decodePngFast(path, spec);
  if (fast) return fast;
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await decodeRaw(path, spec);
  } catch {
    // libvips keeps one process-wide error buffer, so concurrent failures can swap or lose each other's
    // messages ("Unknown error"). Failures are rare: retry alone, one at a time, for the file's own reason.
    out = await serialRetry(path, spec);
  }
  const { data, info } = out;
  const { height, width, channels } = spec;
  if (info.width !== width || info.height !== height || info.channels !== channels || data.length !== imageBytes(spec)) {
    throw new ImageDecodeError(
      path,
      `decoded to ${info.width}×${info.height}×${info.channels} (${data.length} bytes), expected ${width}×${height}×${channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

function decodeRaw(path: string, spec: ImageSpec): Promise<{ data: Buffer; info: OutputInfo }> {
  let img = sharp(path, { failOn: 'error', autoOrient: true, page: 0, pages: 1 })
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .resize(spec.width, spec.height, {
      fit: spec.fit,
      position: 'centre',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    });
  img = spec.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
  return img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
}

/** sharp's message with repeated lines (left by concurrent failures in libvips's shared buffer) removed. */
function tidyReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [...new Set(text.split('\n').map((l) => l.trim()).filter(Boolean))];
  return lines.join('; ') || 'unknown error';
}

let retryLane: Promise<unknown> = Promise.resolve();

/** Runs one more decode after every earlier retry has finished; throws ImageDecodeError with sharp's message. */
function serialRetry(path: string, spec: ImageSpec): Promise<{ data: Buffer; info: OutputInfo }> {
  const attempt = retryLane.then(() =>
    decodeRaw(path, spec).catch((err: unknown) => {
      throw new ImageDecodeError(path, tidyReason(err));
    }),
  );
  retryLane = attempt.catch(() => undefined);
  return attempt;
}

// Normalization: src/engine/normalize.ts (normalizeInto is re-exported here for the pipeline's callers).
export { normalizeInto } from './normalize';

// ---------------------------------------------------------------------------------------------------------
// Augmentation ("random mutation"): flips, random crop rescaled with bilinear interpolation, brightness and
// contrast jitter. Works on a Float64 copy of the image on the 0..255 scale (so with every transform off the
// result is bit-identical to the plain path); the random draws per image happen in this fixed order, each only
// when its transform is enabled: flipH, flipV, crop scale, crop x, crop y, brightness, contrast.

/** Minimal random source; next() returns a uniform float in [0, 1). */
export interface Rng {
  next(): number;
}

/**
 * Augments one HWC uint8 image into `out` (same size, values on the 0..255 scale, clamped), drawing from `rng`
 * in a fixed order. Brightness is drawn on the 0..1 scale as in AugmentConfig.
 * Exported for tests and benchmarks; ImageStore.getBatch is the normal entry point.
 */
export function augmentImage(
  pixels: Uint8Array,
  out: Float64Array,
  height: number,
  width: number,
  channels: number,
  config: AugmentConfig,
  rng: Rng,
): void {
  const flipH = (config.flip === 'horizontal' || config.flip === 'both') && rng.next() < 0.5;
  const flipV = (config.flip === 'vertical' || config.flip === 'both') && rng.next() < 0.5;

  // Crop window (continuous coordinates, same aspect as the image).
  let scale = 1, x0 = 0, y0 = 0;
  if (config.minCropScale < 1) {
    const min = Math.max(0, config.minCropScale);
    scale = min + (1 - min) * rng.next();
    x0 = rng.next() * width * (1 - scale);
    y0 = rng.next() * height * (1 - scale);
  }
  const offset = config.brightness > 0 ? (2 * rng.next() - 1) * config.brightness * 255 : 0;
  const factor = config.contrast > 0 ? 1 + (2 * rng.next() - 1) * config.contrast : 1;

  const rowStride = width * channels;
  if (scale === 1) {
    // Pure copy with flips: exact, no resampling.
    for (let y = 0; y < height; y++) {
      const dy = flipV ? height - 1 - y : y;
      for (let x = 0; x < width; x++) {
        const dx = flipH ? width - 1 - x : x;
        const s = y * rowStride + x * channels, d = dy * rowStride + dx * channels;
        for (let c = 0; c < channels; c++) out[d + c] = pixels[s + c];
      }
    }
  } else {
    // Bilinear sampling of the crop at pixel centres, edges clamped.
    for (let y = 0; y < height; y++) {
      let sy = y0 + (y + 0.5) * scale - 0.5;
      if (sy < 0) sy = 0;
      else if (sy > height - 1) sy = height - 1;
      const yA = Math.floor(sy), yB = yA + 1 < height ? yA + 1 : yA, fy = sy - yA;
      const dy = flipV ? height - 1 - y : y;
      for (let x = 0; x < width; x++) {
        let sx = x0 + (x + 0.5) * scale - 0.5;
        if (sx < 0) sx = 0;
        else if (sx > width - 1) sx = width - 1;
        const xA = Math.floor(sx), xB = xA + 1 < width ? xA + 1 : xA, fx = sx - xA;
        const dx = flipH ? width - 1 - x : x;
        const pAA = yA * rowStride + xA * channels, pAB = yA * rowStride + xB * channels;
        const pBA = yB * rowStride + xA * channels, pBB = yB * rowStride + xB * channels;
        const d = dy * rowStride + dx * channels;
        for (let c = 0; c < channels; c++) {
          const top = pixels[pAA + c] + (pixels[pAB + c] - pixels[pAA + c]) * fx;
          const bottom = pixels[pBA + c] + (pixels[pBB + c] - pixels[pBA + c]) * fx;
          out[d + c] = top + (bottom - top) * fy;
        }
      }
    }
  }

  if (offset !== 0 || factor !== 1) {
    const n = height * rowStride;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += out[i];
    const mean = sum / n;
    for (let i = 0; i < n; i++) {
      const v = (out[i] - mean) * factor + mean + offset;
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The store.

export interface ImageStoreOptions {
  /** Most bytes of decoded uint8 pixels kept between batches. 0 disables caching. */
  cacheBytes: number;
  /** Decodes in flight at once (default 4; sharp measured best at 2–4 on this class of machine). */
  concurrency?: number;
}

export interface ImageStoreStats {
  /** Images currently held in the cache. */
  cachedImages: number;
  /** Bytes of pixels currently held in the cache (never above the budget). */
  cacheBytes: number;
  /** sharp decodes performed so far (prepare and getBatch). */
  decodes: number;
  /** Distinct images of a getBatch call that were served from the cache (a repeat within a batch counts once). */
  hits: number;
}

export interface PrepareResult {
  failed: Array<{ index: number; path: string; reason: string }>;
}

/** Runs `fn` over `items` with at most `limit` promises in flight; resolves when all are settled. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * Decoded images of a fixed list of files, addressed by index into `paths`.
 *
 * Cache policy: the first images decoded (in prepare, or later in getBatch) are kept until the budget is full
 * and never evicted. Training samples uniformly, so this gives the same hit rate as an LRU of the same size
 * without its churn. Images past the budget are decoded again each time a batch needs them.
 *
 * Memory: the cache (≤ cacheBytes) plus, per getBatch call, its output and the uncached images of that batch.
 */
export class ImageStore {
  private readonly cache = new Map<number, Uint8Array>();
  private readonly failed = new Map<number, string>();
  private readonly bytesPerImage: number;
  private readonly concurrency: number;
  private readonly affine: Affine;
  private cachedBytes = 0;
  private decodes = 0;
  private hits = 0;

  constructor(
    readonly paths: readonly string[],
    readonly spec: ImageSpec,
    private readonly opts: ImageStoreOptions,
  ) {
    if (!(spec.height > 0 && spec.width > 0) || !Number.isInteger(spec.height) || !Number.isInteger(spec.width)) {
      throw new RangeError(`ImageStore: bad image size ${spec.height}×${spec.width}`);
    }
    this.bytesPerImage = imageBytes(spec);
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
    this.affine = affineFor(spec.normalize, spec.channels);
  }

  get size(): number {
    return this.paths.length;
  }

  /** Floats per image in a batch: h·w·c. */
  get elementsPerImage(): number {
    return this.bytesPerImage;
  }

  /**
   * Decodes every image once (bounded concurrency), filling the cache up to its budget. Files that fail are
   * reported in `failed`, never thrown; the caller must leave those indices out of later batches.
   */
  async prepare(onProgress?: (done: number, total: number) => void): Promise<PrepareResult> {
    const total = this.paths.length;
    const todo: number[] = [];
    for (let i = 0; i < total; i++) if (!this.cache.has(i) && !this.failed.has(i)) todo.push(i);
    let done = total - todo.length;
    onProgress?.(done, total);
    await forEachLimit(todo, this.concurrency, async (index) => {
      try {
        const pixels = await this.decode(index);
        this.remember(index, pixels);
      } catch (err) {
        if (!(err instanceof ImageDecodeError)) throw err;
        this.failed.set(index, err.reason);
      }
      done++;
      onProgress?.(done, total);
    });
    const failed = [...this.failed.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, reason]) => ({ index, path: this.paths[index], reason }));
    return { failed };
  }

  /**
   * Normalized NHWC float32 for `indices`, in order (repeats allowed). Uncached images are decoded
   * concurrently. With `augment`, each image is augmented in batch order with draws from `augment.rng`, so a
   * seeded rng gives the same batch whatever order the decodes finish in.
   * Throws for an index that failed in prepare() or fails to decode now (ImageDecodeError).
   */
  async getBatch(
    indices: ArrayLike<number>,
    augment?: { config: AugmentConfig; rng: Rng } | null,
  ): Promise<Float32Array> {
    const n = indices.length;
    const per = this.bytesPerImage;

    // Resolve every distinct index to pixels: cache hits now, misses decoded concurrently.
    const pixelsOf = new Map<number, Uint8Array>();
    const misses: number[] = [];
    const missSet = new Set<number>();
    for (let k = 0; k < n; k++) {
      const index = indices[k];
      if (pixelsOf.has(index) || missSet.has(index)) continue;
      if (!Number.isInteger(index) || index < 0 || index >= this.paths.length) {
        throw new RangeError(`ImageStore.getBatch: index ${index} out of range 0..${this.paths.length - 1}`);
      }
      const reason = this.failed.get(index);
      if (reason !== undefined) {
        throw new ImageDecodeError(this.paths[index], `excluded after failing in prepare(): ${reason}`);
      }
      const hit = this.cache.get(index);
      if (hit) {
        this.hits++;
        pixelsOf.set(index, hit);
      } else {
        misses.push(index);
        missSet.add(index);
      }
    }
    await forEachLimit(misses, this.concurrency, async (index) => {
      let pixels: Uint8Array;
      try {
        pixels = await this.decode(index);
      } catch (err) {
        if (err instanceof ImageDecodeError) this.failed.set(index, err.reason); // refuse it quickly from now on
        throw err;
      }
      this.remember(index, pixels);
      pixelsOf.set(index, pixels);
    });

    const out = new Float32Array(n * per);
    const { channels, height, width } = this.spec;
    const work = augment ? new Float64Array(per) : null;
    for (let k = 0; k < n; k++) {
      const pixels = pixelsOf.get(indices[k]) as Uint8Array;
      if (augment && work) {
        augmentImage(pixels, work, height, width, channels, augment.config, augment.rng);
        normalizeAffine(out, k * per, work, INV255, this.affine, channels);
      } else {
        normalizeAffine(out, k * per, pixels, INV255, this.affine, channels);
      }
    }
    return out;
  }

  stats(): ImageStoreStats {
    return { cachedImages: this.cache.size, cacheBytes: this.cachedBytes, decodes: this.decodes, hits: this.hits };
  }

  /** Drops every cached image (the failed list is kept). */
  clearCache(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  private async decode(index: number): Promise<Uint8Array> {
    this.decodes++;
    return decodeImage(this.paths[index], this.spec);
  }

  private remember(index: number, pixels: Uint8Array): void {
    if (this.cache.has(index) || this.cachedBytes + pixels.length > this.opts.cacheBytes) return;
    // Copy out of sharp's (possibly pooled, larger) Buffer so the cache holds exactly h·w·c bytes per image.
    this.cache.set(index, pixels.byteOffset === 0 && pixels.buffer.byteLength === pixels.length ? pixels : pixels.slice());
    this.cachedBytes += pixels.length;
  }
}
