// Seeded procedural "shapes" dataset for demos and tests: one folder per shape class, each image a single
// filled shape drawn as SVG and rasterised by sharp, with a random (class-independent) fill and background
// colour, size, rotation, position jitter and gaussian pixel noise. The same seed gives byte-identical files.
//
// Layout: outDir/<class>/<class>_0001.png (or .jpg).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

export interface ShapesOptions {
  /** Number of classes, 1..SHAPE_NAMES.length; the first `classes` shapes of SHAPE_NAMES are used. */
  classes: number;
  /** Images per class. */
  perClass: number;
  /** Side of the square images in pixels (≥ 8). */
  size: number;
  seed: number;
  /** Output format (default 'png'). */
  format?: 'png' | 'jpeg';
  /** Standard deviation of the gaussian pixel noise on the 0..255 scale (default 8; 0 for none). */
  noise?: number;
}

/** mulberry32: a tiny, fast seeded PRNG; returns uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes seed, class and image number into one 32-bit seed, so each image is independent of draw order. */
function imageSeed(seed: number, cls: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [cls, i]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

// Shapes in unit coordinates (centred on 0, fitting in [-1, 1]², y down). `fg` fills the shape; `bg` cuts holes.
type ShapeDraw = (fg: string, bg: string) => string;

const poly = (pts: number[][]): ShapeDraw => (fg) =>
  `<polygon fill="${fg}" points="${pts.map(([x, y]) => `${x},${y}`).join(' ')}"/>`;

const regular = (n: number, r = 1, phase = -Math.PI / 2): number[][] =>
  Array.from({ length: n }, (_, k) => {
    const a = phase + (2 * Math.PI * k) / n;
    return [+(r * Math.cos(a)).toFixed(4), +(r * Math.sin(a)).toFixed(4)];
  });

const star = (points: number, inner: number): number[][] =>
  Array.from({ length: 2 * points }, (_, k) => {
    const a = -Math.PI / 2 + (Math.PI * k) / points;
    const r = k % 2 === 0 ? 1 : inner;
    return [+(r * Math.cos(a)).toFixed(4), +(r * Math.sin(a)).toFixed(4)];
  });

const SHAPES: Record<string, ShapeDraw> = {
  circle: (fg) => `<circle fill="${fg}" r="0.95"/>`,
  square: poly([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]),
  triangle: poly(regular(3, 1.05, -Math.PI / 2).map(([x, y]) => [x, y + 0.2])),
  star: poly(star(5, 0.42)),
  cross: poly([[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1], [-0.3, 1], [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]]),
  ring: (fg, bg) => `<circle fill="${fg}" r="0.95"/><circle fill="${bg}" r="0.55"/>`,
  pentagon: poly(regular(5, 0.95)),
  hexagon: poly(regular(6, 0.95, 0)),
  heart: (fg) => `<path fill="${fg}" d="M0,0.95 C-0.55,0.5 -1,0.1 -1,-0.35 C-1,-0.8 -0.45,-1.05 0,-0.55 C0.45,-1.05 1,-0.8 1,-0.35 C1,0.1 0.55,0.5 0,0.95 Z"/>`,
  arrow: poly([[-1, -0.25], [0.15, -0.25], [0.15, -0.7], [1, 0], [0.15, 0.7], [0.15, 0.25], [-1, 0.25]]),
  crescent: (fg, bg) => `<circle fill="${fg}" r="0.95"/><circle fill="${bg}" cx="0.45" cy="-0.15" r="0.8"/>`,
  diamond: poly([[0, -1], [0.6, 0], [0, 1], [-0.6, 0]]),
  semicircle: (fg) => `<path fill="${fg}" d="M-1,0.35 A1,1 0 0 1 1,0.35 Z"/>`,
  frame: (fg, bg) =>
    `<rect fill="${fg}" x="-0.85" y="-0.85" width="1.7" height="1.7"/><rect fill="${bg}" x="-0.5" y="-0.5" width="1" height="1"/>`,
  hourglass: poly([[-0.75, -0.95], [0.75, -0.95], [0.12, 0], [0.75, 0.95], [-0.75, 0.95], [-0.12, 0]]),
  chevron: poly([[-1, 0.3], [0, -0.6], [1, 0.3], [1, 0.8], [0, -0.1], [-1, 0.8]]),
  tee: poly([[-0.9, -0.9], [0.9, -0.9], [0.9, -0.45], [0.22, -0.45], [0.22, 0.95], [-0.22, 0.95], [-0.22, -0.45], [-0.9, -0.45]]),
  ell: poly([[-0.7, -0.95], [-0.25, -0.95], [-0.25, 0.45], [0.8, 0.45], [0.8, 0.95], [-0.7, 0.95]]),
  drop: (fg) => `<path fill="${fg}" d="M0,-1 C0.3,-0.45 0.7,-0.1 0.7,0.3 A0.7,0.7 0 0 1 -0.7,0.3 C-0.7,-0.1 -0.3,-0.45 0,-1 Z"/>`,
  lightning: poly([[0.25, -1], [-0.6, 0.15], [-0.05, 0.15], [-0.3, 1], [0.6, -0.2], [0.05, -0.2]]),
};

/** Class names in generation order (20 shapes). Rotation is limited to ±20° so square ≠ diamond, cross ≠ x. */
export const SHAPE_NAMES: readonly string[] = Object.keys(SHAPES);

/** HSL (h in [0,1), s and l in [0,1]) to `#rrggbb`. */
function hslHex(h: number, s: number, l: number): string {
  const f = (n: number): number => {
    const k = (n + h * 12) % 12;
    const a = s * Math.min(l, 1 - l);
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return '#' + [f(0), f(8), f(4)].map((v) => v.toString(16).padStart(2, '0')).join('');
}

/**
 * A fixed table of standard-normal samples (Box–Muller from a constant seed): per-pixel noise is one uniform
 * draw plus a lookup, about 10× cheaper than Box–Muller per pixel, which dominated generation time.
 */
const NORMAL_TABLE: Float64Array = (() => {
  const rand = mulberry32(0x5eed);
  const table = new Float64Array(8192);
  for (let i = 0; i < table.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const a = 2 * Math.PI * rand();
    table[i] = r * Math.cos(a);
    table[i + 1] = r * Math.sin(a);
  }
  return table;
})();

/** One image's SVG content, drawn at (0,0)–(size,size); all randomness comes from `rand` in a fixed order. */
function shapeSvg(name: string, size: number, rand: () => number): string {
  // Foreground and background lightness in opposite bands, so the shape always contrasts; hues are free.
  const darkBg = rand() < 0.5;
  const bg = hslHex(rand(), 0.2 + 0.6 * rand(), darkBg ? 0.1 + 0.2 * rand() : 0.7 + 0.2 * rand());
  const fg = hslHex(rand(), 0.5 + 0.5 * rand(), darkBg ? 0.6 + 0.25 * rand() : 0.15 + 0.25 * rand());
  const radius = size * (0.26 + 0.16 * rand());
  const cx = size / 2 + (rand() - 0.5) * 0.2 * size;
  const cy = size / 2 + (rand() - 0.5) * 0.2 * size;
  const angle = (rand() - 0.5) * 40;
  const n = (v: number): string => v.toFixed(3);
  return (
    `<rect width="${size}" height="${size}" fill="${bg}"/>` +
    `<g transform="translate(${n(cx)} ${n(cy)}) rotate(${n(angle)}) scale(${n(radius)})">${SHAPES[name](fg, bg)}</g>`
  );
}

/** Images rasterised per SVG call: librsvg's per-call overhead dominates at small sizes (8 per call ≈ 5× faster). */
const SHEET = 16;

/**
 * Renders the images with the given per-image seeds as one SVG strip (each image in its own clipped, nested
 * <svg>), splits it, adds noise and encodes each image. Results depend only on (name, size, seed, noise, format).
 */
async function renderChunk(name: string, size: number, seeds: number[], noise: number, format: 'png' | 'jpeg'): Promise<Buffer[]> {
  const rands = seeds.map((s) => mulberry32(s));
  const tiles = rands.map(
    (rand, k) => `<svg x="${k * size}" y="0" width="${size}" height="${size}" overflow="hidden">${shapeSvg(name, size, rand)}</svg>`,
  );
  const width = size * seeds.length;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${size}" viewBox="0 0 ${width} ${size}">${tiles.join('')}</svg>`;
  const strip = await sharp(Buffer.from(svg), { density: 72 })
    .resize(width, size, { fit: 'fill' }) // guards against any rounding of the SVG's size
    .removeAlpha()
    .raw()
    .toBuffer();
  const row = size * 3;
  return Promise.all(
    rands.map((rand, k) => {
      const img = Buffer.alloc(size * row);
      for (let y = 0; y < size; y++) strip.copy(img, y * row, y * width * 3 + k * row, y * width * 3 + (k + 1) * row);
      if (noise > 0) {
        const mask = NORMAL_TABLE.length - 1;
        for (let i = 0; i < img.length; i++) {
          const v = Math.round(img[i] + noise * NORMAL_TABLE[(rand() * 4294967296) & mask]);
          img[i] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
      const enc = sharp(img, { raw: { width: size, height: size, channels: 3 } });
      return format === 'png' ? enc.png({ compressionLevel: 6 }).toBuffer() : enc.jpeg({ quality: 90 }).toBuffer();
    }),
  );
}

/**
 * Writes `classes × perClass` images to `outDir/<class>/<class>_NNNN.<ext>` and returns the class names
 * (in SHAPE_NAMES order) and the number of files written. Deterministic: same options, same bytes.
 */
export async function generateShapes(outDir: string, opts: ShapesOptions): Promise<{ classes: string[]; files: number }> {
  const { classes, perClass, size, seed } = opts;
  const format = opts.format ?? 'png';
  const noise = opts.noise ?? 8;
  if (!Number.isInteger(classes) || classes < 1 || classes > SHAPE_NAMES.length) {
    throw new RangeError(`generateShapes: classes must be 1..${SHAPE_NAMES.length}, got ${classes}`);
  }
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`generateShapes: perClass must be ≥ 1, got ${perClass}`);
  if (!Number.isInteger(size) || size < 8) throw new RangeError(`generateShapes: size must be an integer ≥ 8, got ${size}`);
  if (!(noise >= 0)) throw new RangeError(`generateShapes: noise must be ≥ 0, got ${noise}`);

  const names = SHAPE_NAMES.slice(0, classes);
  const ext = format === 'png' ? 'png' : 'jpg';
  const digits = Math.max(4, String(perClass).length);
  const chunks: Array<{ cls: number; first: number; count: number }> = [];
  for (let cls = 0; cls < classes; cls++) {
    await mkdir(join(outDir, names[cls]), { recursive: true });
    for (let first = 0; first < perClass; first += SHEET) chunks.push({ cls, first, count: Math.min(SHEET, perClass - first) });
  }

  // Two chunks in flight keep both libuv and the JS noise loop busy; every image has its own seed, so the
  // files do not depend on scheduling.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < chunks.length) {
      const { cls, first, count } = chunks[next++];
      const seeds = Array.from({ length: count }, (_, k) => imageSeed(seed, cls, first + k));
      const bufs = await renderChunk(names[cls], size, seeds, noise, format);
      await Promise.all(
        bufs.map((buf, k) =>
          writeFile(join(outDir, names[cls], `${names[cls]}_${String(first + k + 1).padStart(digits, '0')}.${ext}`), buf),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(2, chunks.length) }, worker));
  return { classes: names, files: classes * perClass };
}
