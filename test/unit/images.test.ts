// Image pipeline tests against real files written by sharp in a temp dir: formats and odd sources, fit modes,
// normalization values, decode errors, the byte-budgeted cache, and seeded augmentation.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { ImageDecodeError, ImageStore, decodeImage, normalizeInto, type ImageSpec } from '../../src/engine/images';
import type { AugmentConfig } from '../../src/core/config-types';
import { Rng } from '../../src/core/rng';

const dir = mkdtempSync(join(tmpdir(), 'embedlab-images-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const spec = (over: Partial<ImageSpec> = {}): ImageSpec => ({
  height: 8,
  width: 8,
  channels: 3,
  fit: 'cover',
  normalize: 'zero-one',
  ...over,
});

const solid = (w: number, h: number, r: number, g: number, b: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });

/** Seeded uniform source standing in for the trainer's PRNG (the project's own, src/core/rng.ts). */
const rng = (seed: number): Rng => new Rng(seed);

/** Raw RGB with a distinct value per pixel, so flips and crops are visible. */
function gradient(w: number, h: number): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      buf[o] = (x * 255) / (w - 1);
      buf[o + 1] = (y * 255) / (h - 1);
      buf[o + 2] = ((x * 7 + y * 13) * 3) % 256;
    }
  }
  return buf;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tol) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------------------

test('decodes PNG, JPEG, WebP, GIF, TIFF to exactly h·w·c bytes, 3 or 1 channels', async () => {
  const files: Record<string, Sharp> = {
    'a.png': solid(20, 12, 200, 100, 50).png(),
    'a.jpg': solid(20, 12, 200, 100, 50).jpeg(),
    'a.webp': solid(20, 12, 200, 100, 50).webp(),
    'a.gif': solid(20, 12, 200, 100, 50).gif(),
    'a.tiff': solid(20, 12, 200, 100, 50).tiff(),
  };
  for (const [name, img] of Object.entries(files)) {
    const path = join(dir, name);
    await img.toFile(path);
    const rgb = await decodeImage(path, spec({ height: 6, width: 10 }));
    assert.equal(rgb.length, 6 * 10 * 3, name);
    const grey = await decodeImage(path, spec({ height: 6, width: 10, channels: 1 }));
    assert.equal(grey.length, 6 * 10, name);
    // Lossy formats drift a little; the colour must still be recognisable.
    assert.ok(Math.abs(rgb[0] - 200) <= 12 && Math.abs(rgb[1] - 100) <= 12 && Math.abs(rgb[2] - 50) <= 12, `${name}: ${rgb.slice(0, 3)}`);
  }
});

test('odd sources: greyscale → 3 channels, RGBA flattened onto black, 16-bit, palette, CMYK, animated GIF first frame', async () => {
  const s = spec();
  const grey = join(dir, 'grey.png');
  await solid(16, 16, 90, 90, 90).toColourspace('b-w').png().toFile(grey);
  assert.equal((await sharp(grey).metadata()).channels, 1);
  assert.deepEqual([...(await decodeImage(grey, s)).slice(0, 3)], [90, 90, 90]);

  const rgba = join(dir, 'rgba.png');
  const px = Buffer.alloc(16 * 16 * 4);
  for (let i = 0; i < 16 * 16; i++) px.set(i < 128 ? [255, 255, 255, 0] : [0, 255, 0, 255], i * 4); // top half transparent white
  await sharp(px, { raw: { width: 16, height: 16, channels: 4 } }).png().toFile(rgba);
  const flat = await decodeImage(rgba, s);
  assert.deepEqual([...flat.slice(0, 3)], [0, 0, 0], 'transparent → black');
  assert.deepEqual([...flat.slice(-3)], [0, 255, 0], 'opaque kept');

  const deep = join(dir, 'deep.png');
  await sharp(new Uint16Array(16 * 16 * 3).fill(40000), { raw: { width: 16, height: 16, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(deep);
  assert.equal((await sharp(deep).metadata()).depth, 'ushort');
  const d = await decodeImage(deep, s);
  assert.equal(d.length, 192);
  assert.ok(Math.abs(d[0] - (40000 / 65535) * 255) <= 1, `16-bit → ${d[0]}`);

  const pal = join(dir, 'pal.png');
  await solid(16, 16, 0, 0, 255).png({ palette: true }).toFile(pal);
  assert.deepEqual([...(await decodeImage(pal, s)).slice(0, 3)], [0, 0, 255]);

  const cmyk = join(dir, 'cmyk.jpg');
  await solid(16, 16, 200, 100, 50).toColourspace('cmyk').jpeg().toFile(cmyk);
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const c = await decodeImage(cmyk, s);
  assert.equal(c.length, 192);
  assert.ok(Math.abs(c[0] - 200) < 15 && Math.abs(c[1] - 100) < 15 && Math.abs(c[2] - 50) < 40, `cmyk → ${c.slice(0, 3)}`);

  const anim = join(dir, 'anim.gif');
  const frames = Buffer.alloc(16 * 32 * 3);
  for (let i = 0; i < 16 * 16; i++) frames[i * 3] = 255; // frame 0 red
  for (let i = 16 * 16; i < 16 * 32; i++) frames[i * 3 + 2] = 255; // frame 1 blue
  await sharp(frames, { raw: { width: 16, height: 32, channels: 3, pageHeight: 16 } }).gif().toFile(anim);
  assert.equal((await sharp(anim).metadata()).pages, 2);
  const a = await decodeImage(anim, s);
  assert.equal(a.length, 192);
  assert.deepEqual([...a.slice(-3)], [255, 0, 0], 'first frame only, not stacked');
});

test('EXIF orientation is applied', async () => {
  // Stored 40×20, left half red, right half blue; orientation 6 = display rotated 90° clockwise (20×40, red on top).
  const raw = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw[(y * 40 + x) * 3 + (x < 20 ? 0 : 2)] = 255;
  const path = join(dir, 'exif.jpg');
  await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(path);
  assert.equal((await sharp(path).metadata()).orientation, 6);
  const px = await decodeImage(path, spec({ height: 40, width: 20 }));
  assert.ok(px[0] > 240 && px[2] < 15, `top is red: ${px.slice(0, 3)}`);
  assert.ok(px[px.length - 3] < 15 && px[px.length - 1] > 240, `bottom is blue: ${px.slice(-3)}`);
});

test('zero-one, minus-one-one and imagenet values of a solid colour match hand computation', async () => {
  const path = join(dir, 'solid.png');
  await solid(16, 16, 200, 100, 50).png().toFile(path);
  const rgb = [200, 100, 50];
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  for (const normalize of ['zero-one', 'minus-one-one', 'imagenet'] as const) {
    const s = spec({ height: 4, width: 4, normalize });
    const px = await decodeImage(path, s);
    assert.deepEqual([...new Set(px)].sort(), [...new Set(rgb)].sort(), 'resize of a solid image is exact');
    const dst = new Float32Array(5 + px.length).fill(-99);
    normalizeInto(dst, 5, px, s);
    assert.deepEqual([...dst.slice(0, 5)], [-99, -99, -99, -99, -99], 'offset respected');
    const want = rgb.map((v, c) =>
      normalize === 'zero-one' ? v / 255 : normalize === 'minus-one-one' ? v / 127.5 - 1 : (v / 255 - mean[c]) / std[c],
    );
    close(dst.slice(5), Array.from({ length: 16 }, () => want).flat(), 1e-6, normalize);
  }
  // imagenet on one channel uses the mean of the three means and stds.
  const g = new Uint8Array([0, 255, 128]);
  const out = new Float32Array(3);
  normalizeInto(out, 0, g, spec({ channels: 1, normalize: 'imagenet' }));
  const m = (0.485 + 0.456 + 0.406) / 3, sd = (0.229 + 0.224 + 0.225) / 3;
  close(out, [(0 - m) / sd, (1 - m) / sd, (128 / 255 - m) / sd], 1e-6, 'imagenet grey');
  assert.throws(() => normalizeInto(new Float32Array(2), 0, g, spec({ channels: 1 })), RangeError);
});

test('normalize { mean, std }: (v/255 − mean[c]) / std[c] per channel; one value for all; a grey image takes the means of three', () => {
  const px = new Uint8Array([0, 128, 255, 255, 64, 10]);
  const clip = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };
  const out = new Float32Array(6);
  normalizeInto(out, 0, px, spec({ normalize: clip }));
  close(out, [...px].map((v, i) => (v / 255 - clip.mean[i % 3]) / clip.std[i % 3]), 1e-6, 'CLIP statistics');
  normalizeInto(out, 0, px, spec({ normalize: { mean: [0.25], std: [0.5] } }));
  close(out, [...px].map((v) => (v / 255 - 0.25) / 0.5), 1e-6, 'one value for every channel');
  const grey = new Float32Array(2);
  normalizeInto(grey, 0, new Uint8Array([0, 255]), spec({ channels: 1, normalize: clip }));
  const m = (clip.mean[0] + clip.mean[1] + clip.mean[2]) / 3, sd = (clip.std[0] + clip.std[1] + clip.std[2]) / 3;
  close(grey, [-m / sd, (1 - m) / sd], 1e-6, 'grey');
  // The named mode and its statistics give the same numbers.
  const a = new Float32Array(6), b = new Float32Array(6);
  normalizeInto(a, 0, px, spec({ normalize: 'imagenet' }));
  normalizeInto(b, 0, px, spec({ normalize: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } }));
  close(a, [...b], 1e-6, 'imagenet = its statistics');
});

test('cover crops the centre; contain letterboxes with black rows', async () => {
  // 40 wide × 20 high: red band x < 4, green x 4..35, blue x ≥ 36 (the centre 20 columns are well inside green,
  // clear of the resampling kernel's reach).
  const raw = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw[(y * 40 + x) * 3 + (x < 4 ? 0 : x < 36 ? 1 : 2)] = 255;
  const path = join(dir, 'wide.png');
  await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).png().toFile(path);

  const cover = await decodeImage(path, spec({ height: 10, width: 10, fit: 'cover' }));
  for (let i = 0; i < 100; i++) assert.deepEqual([...cover.slice(i * 3, i * 3 + 3)], [0, 255, 0], `cover pixel ${i} is the green centre`);

  const contain = await decodeImage(path, spec({ height: 20, width: 20, fit: 'contain' }));
  const row = (y: number) => contain.slice(y * 60, y * 60 + 60);
  for (const y of [0, 1, 2, 3, 16, 17, 18, 19]) assert.ok(row(y).every((v) => v === 0), `letterbox row ${y} is black`);
  for (const y of [6, 10, 13]) {
    const r = row(y);
    assert.ok(r[0] > 200 && r[1] < 30, `row ${y} starts red`);
    assert.ok(r[57] < 30 && r[59] > 200, `row ${y} ends blue`);
  }
});

test('corrupt, truncated, empty and missing files throw ImageDecodeError naming the path', async () => {
  const full = join(dir, 'full.jpg');
  await sharp({ create: { width: 128, height: 128, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg()
    .toFile(full);
  const bytes = readFileSync(full);
  const bad = {
    random: join(dir, 'random.jpg'),
    truncated: join(dir, 'truncated.jpg'),
    empty: join(dir, 'empty.jpg'),
    missing: join(dir, 'missing.jpg'),
  };
  const junk = Buffer.alloc(2000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 255;
  writeFileSync(bad.random, junk);
  writeFileSync(bad.truncated, bytes.subarray(0, bytes.length >> 1));
  writeFileSync(bad.empty, '');
  for (const [kind, path] of Object.entries(bad)) {
    await assert.rejects(decodeImage(path, spec()), (err: unknown) => {
      assert.ok(err instanceof ImageDecodeError, kind);
      assert.equal(err.path, path);
      assert.ok(err.message.includes(path) && err.reason.length > 0, `${kind}: ${err.message}`);
      return true;
    });
  }

  const store = new ImageStore([full, bad.random, full, bad.truncated, bad.empty], spec(), { cacheBytes: 1 << 20, concurrency: 2 });
  const progress: number[] = [];
  const { failed } = await store.prepare((done) => progress.push(done));
  assert.deepEqual(failed.map((f) => f.index), [1, 3, 4]);
  assert.deepEqual(failed.map((f) => f.path), [bad.random, bad.truncated, bad.empty]);
  assert.match(failed[1].reason, /premature|truncat|end of/i);
  assert.equal(progress.at(-1), 5);
  assert.equal((await store.getBatch([0, 2, 0])).length, 3 * 8 * 8 * 3);
  await assert.rejects(store.getBatch([0, 3]), ImageDecodeError, 'a failed index is refused');
  await assert.rejects(store.getBatch([7]), RangeError);

  // Without prepare(), a bad file surfaces from getBatch itself, and is refused from then on.
  const lazy = new ImageStore([full, bad.truncated], spec(), { cacheBytes: 0 });
  await assert.rejects(lazy.getBatch([0, 1]), (err: unknown) => err instanceof ImageDecodeError && err.path === bad.truncated);
  await assert.rejects(lazy.getBatch([1]), /excluded after failing/);
  assert.equal(lazy.stats().decodes, 2);
});

// ---------------------------------------------------------------------------------------------------------
// Cache and batches.

async function writeSet(n: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const path = join(dir, `set_${i}.png`);
    await solid(24, 16, (i * 37) % 256, (i * 91) % 256, (i * 53) % 256).png().toFile(path);
    paths.push(path);
  }
  return paths;
}

test('cache: full budget means the second pass decodes nothing; half budget stays in budget and matches', async () => {
  const paths = await writeSet(10);
  const s = spec({ normalize: 'imagenet' });
  const per = 8 * 8 * 3;
  const all = Array.from({ length: 10 }, (_, i) => i);

  const full = new ImageStore(paths, s, { cacheBytes: 10 * per, concurrency: 3 });
  await full.prepare();
  assert.deepEqual(full.stats(), { cachedImages: 10, cacheBytes: 10 * per, decodes: 10, hits: 0 });
  const a = await full.getBatch(all);
  const b = await full.getBatch([...all].reverse());
  assert.equal(full.stats().decodes, 10, 'no decode after prepare');
  assert.equal(full.stats().hits, 20);

  const none = new ImageStore(paths, s, { cacheBytes: 0 });
  const c = await none.getBatch(all);
  assert.deepEqual(c, a, 'uncached equals cached');
  assert.deepEqual(none.stats(), { cachedImages: 0, cacheBytes: 0, decodes: 10, hits: 0 });
  for (let i = 0; i < 10; i++) assert.deepEqual(b.subarray(i * per, (i + 1) * per), a.subarray((9 - i) * per, (10 - i) * per));

  const half = new ImageStore(paths, s, { cacheBytes: 5 * per + per / 2 });
  await half.prepare();
  for (let epoch = 0; epoch < 3; epoch++) {
    const batch = await half.getBatch([3, 7, 7, 1, 9, 0, 5]);
    const st = half.stats();
    assert.ok(st.cacheBytes <= 5 * per + per / 2 && st.cachedImages === 5, JSON.stringify(st));
    const want = new Float32Array(7 * per);
    [3, 7, 7, 1, 9, 0, 5].forEach((idx, k) => want.set(a.subarray(idx * per, (idx + 1) * per), k * per));
    assert.deepEqual(batch, want, `epoch ${epoch}`);
  }
  // Without prepare(), getBatch fills the cache itself, so a repeated pass decodes nothing.
  const lazy = new ImageStore(paths, s, { cacheBytes: 10 * per });
  await lazy.getBatch(all);
  await lazy.getBatch(all);
  assert.equal(lazy.stats().decodes, 10);
});

// ---------------------------------------------------------------------------------------------------------
// Augmentation.

const AUG_OFF: AugmentConfig = { flip: 'none', minCropScale: 1, brightness: 0, contrast: 0 };

async function gradientStore(): Promise<{ store: ImageStore; per: number }> {
  const path = join(dir, 'gradient.png');
  await sharp(gradient(16, 12), { raw: { width: 16, height: 12, channels: 3 } }).png().toFile(path);
  const s = spec({ height: 12, width: 16 }); // same size: no resampling, pixels stay exact
  return { store: new ImageStore([path], s, { cacheBytes: 1 << 20 }), per: 12 * 16 * 3 };
}

test('augment: same seed → same batch, different seed → different', async () => {
  const { store } = await gradientStore();
  const cfg: AugmentConfig = { flip: 'both', minCropScale: 0.6, brightness: 0.2, contrast: 0.3 };
  const idx = [0, 0, 0, 0, 0, 0];
  const a = await store.getBatch(idx, { config: cfg, rng: rng(42) });
  const b = await store.getBatch(idx, { config: cfg, rng: rng(42) });
  const c = await store.getBatch(idx, { config: cfg, rng: rng(43) });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('augment: all off is the identity; a flip equals the mirrored array', async () => {
  const { store, per } = await gradientStore();
  const plain = await store.getBatch([0]);
  assert.deepEqual(await store.getBatch([0], { config: AUG_OFF, rng: rng(1) }), plain, 'crop scale 1, no jitter');

  const mirrorH = new Float32Array(per), mirrorV = new Float32Array(per);
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 16; x++) {
      for (let c = 0; c < 3; c++) {
        mirrorH[(y * 16 + (15 - x)) * 3 + c] = plain[(y * 16 + x) * 3 + c];
        mirrorV[((11 - y) * 16 + x) * 3 + c] = plain[(y * 16 + x) * 3 + c];
      }
    }
  }
  // Over 16 draws at p = 0.5 each image is either untouched or exactly mirrored, and both occur.
  for (const [flip, mirror] of [['horizontal', mirrorH], ['vertical', mirrorV]] as const) {
    const batch = await store.getBatch(new Array(16).fill(0), { config: { ...AUG_OFF, flip }, rng: rng(7) });
    let flipped = 0;
    for (let k = 0; k < 16; k++) {
      const img = batch.subarray(k * per, (k + 1) * per);
      const isMirror = img.every((v, i) => v === mirror[i]);
      assert.ok(isMirror || img.every((v, i) => v === plain[i]), `${flip} #${k}`);
      if (isMirror) flipped++;
    }
    assert.ok(flipped > 2 && flipped < 14, `${flip}: ${flipped}/16 flipped`);
  }
});

test('augment: crops resample inside the image; brightness/contrast stay in range', async () => {
  const { store, per } = await gradientStore();
  const s = store.spec;
  // Red channel = x ramp 0..255: any crop keeps it monotone along x and inside [0, 1].
  const crops = await store.getBatch([0, 0, 0, 0], { config: { ...AUG_OFF, minCropScale: 0.5 }, rng: rng(3) });
  const plain = await store.getBatch([0]);
  let changed = 0;
  for (let k = 0; k < 4; k++) {
    const img = crops.subarray(k * per, (k + 1) * per);
    if (!img.every((v, i) => v === plain[i])) changed++;
    for (let y = 0; y < s.height; y++) {
      for (let x = 1; x < s.width; x++) assert.ok(img[(y * 16 + x) * 3] >= img[(y * 16 + x - 1) * 3] - 1e-6, 'x ramp stays monotone');
    }
    assert.ok(img.every((v) => v >= 0 && v <= 1));
  }
  assert.ok(changed >= 3, 'crops change the image');

  const jitter = await store.getBatch(new Array(8).fill(0), {
    config: { flip: 'both', minCropScale: 0.7, brightness: 0.5, contrast: 0.9 },
    rng: rng(11),
  });
  assert.ok(jitter.every((v) => v >= 0 && v <= 1), 'clamped to [0, 1] under zero-one');

  // minus-one-one after clamping stays inside [-1, 1]; imagenet inside the mapped range of [0, 1].
  const path = store.paths[0];
  const mm = new ImageStore([path], { ...s, normalize: 'minus-one-one' }, { cacheBytes: 0 });
  const v = await mm.getBatch([0, 0, 0, 0], { config: { ...AUG_OFF, brightness: 0.8, contrast: 0.8 }, rng: rng(5) });
  assert.ok(v.every((x) => x >= -1 && x <= 1));
  assert.ok(v.some((x) => x === -1 || x === 1), 'strong jitter saturates some pixels');
});
