// The PNG fast path (src/engine/png-fast.ts) against sharp: for every kind of PNG it takes, the pixels are the
// bytes sharp's pipeline (decodeImage without the fast path) produces; every other kind is declined (null).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodePngBuffer, decodePngFast } from '../../src/engine/png-fast';
import { decodeImage, ImageDecodeError, type ImageSpec } from '../../src/engine/images';

function pattern(w: number, h: number, ch: number, seed: number): Buffer {
  let s = seed >>> 0;
  const b = Buffer.alloc(w * h * ch);
  for (let i = 0; i < b.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    // smooth gradients plus noise: every PNG filter type gets chosen by the encoder somewhere
    b[i] = ((i % (w * ch)) * 3 + Math.floor(i / (w * ch)) * 5 + ((s >>> 24) & 15)) & 255;
  }
  return b;
}

/** What sharp makes of the file: the decodeImage pipeline with the fast path out of the way (a buffer input). */
async function viaSharp(file: string, spec: ImageSpec): Promise<Uint8Array> {
  let img = sharp(fs.readFileSync(file), { failOn: 'error', autoOrient: true, page: 0, pages: 1 })
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .resize(spec.width, spec.height, { fit: spec.fit, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } });
  img = spec.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
  const { data } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

test('PNG fast path: the same bytes as sharp for RGB, grey and palette PNGs at the target size; declines the rest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-png-'));
  const W = 37, H = 29;
  const spec3: ImageSpec = { width: W, height: H, channels: 3, fit: 'cover', normalize: 'imagenet' };
  const spec1: ImageSpec = { ...spec3, channels: 1 };
  const write = async (name: string, img: ReturnType<typeof sharp>) => { const f = path.join(dir, name); await img.toFile(f); return f; };
  const rgb = (w = W, h = H, seed = 1) => sharp(pattern(w, h, 3, seed), { raw: { width: w, height: h, channels: 3 } });
  const files = {
    rgb: await write('rgb.png', rgb().png({ compressionLevel: 9, adaptiveFiltering: true })),
    rgbFast: await write('rgb-fast.png', rgb(W, H, 2).png({ compressionLevel: 1, adaptiveFiltering: false })),
    grey: await write('grey.png', sharp(pattern(W, H, 1, 3), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png()),
    palette: await write('palette.png', rgb(W, H, 4).png({ palette: true, colours: 64 })),
    rgba: await write('rgba.png', sharp(pattern(W, H, 4, 5), { raw: { width: W, height: H, channels: 4 } }).png()),
    bigger: await write('bigger.png', rgb(W + 8, H + 4, 6).png()),
    deep: await write('deep.png', rgb(W, H, 7).png().toColourspace('rgb16')),
    interlaced: await write('interlaced.png', rgb(W, H, 8).png({ progressive: true })),
    profiled: await write('profiled.png', rgb(W, H, 9).withIccProfile('p3').png()),
  };
  const taken = async (f: string, spec: ImageSpec) => decodePngFast(f, spec);
  for (const [name, spec] of [['rgb', spec3], ['rgbFast', spec3], ['grey', spec3], ['grey', spec1], ['palette', spec3]] as const) {
    const fast = await taken(files[name], spec);
    assert.ok(fast, `${name} (${spec.channels} ch) takes the fast path`);
    assert.deepEqual(Buffer.from(fast), Buffer.from(await viaSharp(files[name], spec)), `${name} (${spec.channels} ch): same bytes as sharp`);
    assert.deepEqual(Buffer.from(await decodeImage(files[name], spec)), Buffer.from(fast), `${name}: decodeImage uses it`);
  }
  for (const [name, spec] of [['rgb', spec1], ['palette', spec1], ['rgba', spec3], ['bigger', spec3], ['deep', spec3], ['interlaced', spec3], ['profiled', spec3]] as const) {
    assert.equal(await taken(files[name], spec), null, `${name} (${spec.channels} ch) is left to sharp`);
    // …and decodeImage still decodes it through sharp.
    assert.deepEqual(Buffer.from(await decodeImage(files[name], spec)), Buffer.from(await viaSharp(files[name], spec)), `${name} via sharp`);
  }
  // Damaged files are declined and then reported by sharp: a flipped bit (CRC), a truncated file.
  const good = fs.readFileSync(files.rgb);
  const flipped = Buffer.from(good); flipped[60] ^= 0x10;
  assert.equal(await decodePngBuffer(flipped, spec3), null);
  const cut = path.join(dir, 'cut.png');
  fs.writeFileSync(cut, good.subarray(0, good.length - 30));
  assert.equal(await decodePngFast(cut, spec3), null);
  await assert.rejects(decodeImage(cut, spec3), ImageDecodeError);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('PNG fast path: the test files are the colour types they claim (IHDR)', async () => {
  const grey = await sharp(pattern(8, 8, 1, 1), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const pal = await sharp(pattern(8, 8, 3, 1), { raw: { width: 8, height: 8, channels: 3 } }).png({ palette: true }).toBuffer();
  assert.equal(grey[25], 0, 'greyscale PNG');
  assert.equal(pal[25], 3, 'palette PNG');
});
