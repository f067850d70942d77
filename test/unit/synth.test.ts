// Tests for the seeded shapes dataset: byte-identical output per seed, layout and counts, variety within a
// class, and classes that differ in shape (not just colour).

import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { SHAPE_NAMES, generateShapes } from '../../src/engine/synth';

const root = mkdtempSync(join(tmpdir(), 'embedlab-synth-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** sha256 over every file's relative path and bytes, in sorted order. */
function hashTree(dir: string): string {
  const h = createHash('sha256');
  for (const cls of readdirSync(dir).sort()) {
    for (const f of readdirSync(join(dir, cls)).sort()) {
      h.update(`${cls}/${f}\0`);
      h.update(readFileSync(join(dir, cls, f)));
    }
  }
  return h.digest('hex');
}

test('at least 16 distinct, lower-case class names', () => {
  assert.ok(SHAPE_NAMES.length >= 16);
  assert.equal(new Set(SHAPE_NAMES).size, SHAPE_NAMES.length);
  for (const name of ['circle', 'square', 'triangle', 'star', 'cross', 'ring', 'heart', 'arrow']) assert.ok(SHAPE_NAMES.includes(name), name);
  for (const name of SHAPE_NAMES) assert.match(name, /^[a-z]+$/);
});

test('layout, counts and determinism (same seed → byte-identical files; other seed → different)', async () => {
  const opts = { classes: 5, perClass: 7, size: 24, seed: 123 };
  const a = await generateShapes(join(root, 'a'), opts);
  const b = await generateShapes(join(root, 'b'), opts);
  const c = await generateShapes(join(root, 'c'), { ...opts, seed: 124 });
  assert.deepEqual(a, { classes: SHAPE_NAMES.slice(0, 5), files: 35 });
  assert.deepEqual(b, a);
  assert.deepEqual(c.classes, a.classes);
  assert.deepEqual(readdirSync(join(root, 'a')).sort(), [...a.classes].sort());
  for (const cls of a.classes) {
    const files = readdirSync(join(root, 'a', cls)).sort();
    assert.deepEqual(files, Array.from({ length: 7 }, (_, i) => `${cls}_${String(i + 1).padStart(4, '0')}.png`));
  }
  assert.equal(hashTree(join(root, 'a')), hashTree(join(root, 'b')));
  assert.notEqual(hashTree(join(root, 'a')), hashTree(join(root, 'c')));

  const meta = await sharp(join(root, 'a', 'star', 'star_0003.png')).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 24, 24, 3]);

  const j = await generateShapes(join(root, 'j'), { ...opts, classes: 2, perClass: 2, format: 'jpeg' });
  assert.equal(j.files, 4);
  assert.equal((await sharp(join(root, 'j', 'circle', 'circle_0002.jpg')).metadata()).format, 'jpeg');

  await assert.rejects(generateShapes(join(root, 'x'), { ...opts, classes: SHAPE_NAMES.length + 1 }), RangeError);
  await assert.rejects(generateShapes(join(root, 'x'), { ...opts, size: 4 }), RangeError);
});

/**
 * Foreground mask of an image (pixels far from the corner background colour), cropped to its bounding box and
 * resampled to G×G, so it captures shape independently of size and position.
 */
const G = 12;
async function mask(path: string): Promise<{ area: number; grid: Float64Array }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const corner = (x: number, y: number) => [0, 1, 2].map((c) => data[(y * info.width + x) * 3 + c]);
  const cs = [corner(0, 0), corner(info.width - 1, 0), corner(0, info.height - 1), corner(info.width - 1, info.height - 1)];
  const bg = [0, 1, 2].map((c) => cs.map((p) => p[c]).sort((x, y) => x - y)[1]); // robust to a shape touching one corner
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = Math.abs(data[i * 3] - bg[0]) + Math.abs(data[i * 3 + 1] - bg[1]) + Math.abs(data[i * 3 + 2] - bg[2]);
    m[i] = d > 60 ? 1 : 0;
  }
  let x0 = info.width, y0 = info.height, x1 = -1, y1 = -1;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if (m[y * info.width + x]) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const grid = new Float64Array(G * G);
  for (let gy = 0; gy < G; gy++) {
    for (let gx = 0; gx < G; gx++) {
      const x = Math.floor(x0 + ((gx + 0.5) * (x1 - x0 + 1)) / G), y = Math.floor(y0 + ((gy + 0.5) * (y1 - y0 + 1)) / G);
      grid[gy * G + gx] = m[y * info.width + x];
    }
  }
  return { area: m.reduce((a, v) => a + v, 0) / n, grid };
}

test('images vary within a class; shapes are distinguishable by their masks', async () => {
  const per = 12;
  const dir = join(root, 'shapes');
  const { classes } = await generateShapes(dir, { classes: 5, perClass: per, size: 32, seed: 7, noise: 4 });
  const masks: Float64Array[][] = [];
  const areas: number[] = [];
  for (const cls of classes) {
    const files = readdirSync(join(dir, cls)).sort();
    const bytes = files.map((f) => readFileSync(join(dir, cls, f)).toString('base64'));
    assert.equal(new Set(bytes).size, per, `${cls}: every image differs`);
    const ms = await Promise.all(files.map((f) => mask(join(dir, cls, f))));
    masks.push(ms.map((m) => m.grid));
    areas.push(...ms.map((m) => m.area));
  }
  // Each mask is a plausible shape: neither empty nor the whole frame.
  for (const area of areas) assert.ok(area > 0.05 && area < 0.8, `area ${area}`);
  // Nearest class-mean mask (leave-one-out) recognises most images: the class is in the shape, not the colour.
  const n = masks[0][0].length;
  const sums = masks.map((ms) => {
    const s = new Float64Array(n);
    for (const m of ms) for (let i = 0; i < n; i++) s[i] += m[i];
    return s;
  });
  let correct = 0;
  masks.forEach((ms, truth) => {
    for (const m of ms) {
      let best = -1, bestD = Infinity;
      sums.forEach((s, k) => {
        const count = k === truth ? per - 1 : per;
        let d = 0;
        for (let i = 0; i < n; i++) d += Math.abs((s[i] - (k === truth ? m[i] : 0)) / count - m[i]);
        if (d < bestD) [best, bestD] = [k, d];
      });
      if (best === truth) correct++;
    }
  });
  const acc = correct / (per * classes.length);
  assert.ok(acc >= 0.7, `nearest-mean accuracy ${acc} (chance 0.2; 0.87 when written)`);
});
