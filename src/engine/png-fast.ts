// A fast path for PNG files that are already the size the model wants.
//
// sharp costs ~1.5 ms of CPU per image whatever its size (libvips pipeline set-up, N-API, thread hand-offs: perf in
// docs/onnx.md); for a 64×64 PNG that is 7× the work of the decode itself, and it bounds `embedlab embed` on a
// 2-core machine. When libvips would do nothing but decode — a PNG of exactly the target size, 8-bit, not
// interlaced, no transparency, no colour profile, gamma or EXIF chunks, RGB/grey/palette into 3 channels or grey
// into 1 — the pixels are fully determined by the PNG format, so we inflate and unfilter them here (zlib on libuv's
// pool). Every chunk's CRC is checked; anything unusual, malformed or truncated returns null and the caller uses
// sharp, which then reports corrupt files in its own words. test/unit/png-fast.test.ts checks the bytes equal
// sharp's for every eligible kind.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { promisify } from 'node:util';

const inflate = promisify(zlib.inflate);
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Chunks that change the pixels libvips returns (colour management, gamma, orientation, transparency). */
const DECLINE = new Set(['iCCP', 'gAMA', 'cHRM', 'eXIf', 'tRNS', 'sBIT', 'APNG', 'acTL']);
const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

export interface FastSpec { height: number; width: number; channels: 1 | 3 }

/** HWC uint8 pixels of a PNG already at `spec`'s size, or null when libvips must decode it. */
export async function decodePngFast(file: string, spec: FastSpec): Promise<Uint8Array | null> {
  if (!crc32 || !/\.png$/i.test(file)) return null;
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch {
    return null;
  }
  return decodePngBuffer(buf, spec);
}

export async function decodePngBuffer(buf: Buffer, spec: FastSpec): Promise<Uint8Array | null> {
  if (!crc32 || buf.length < 8 + 25 || !buf.subarray(0, 8).equals(SIGNATURE)) return null;
  let o = 8;
  let ihdr: Buffer | null = null;
  let plte: Buffer | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (o + 12 <= buf.length) {
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + len > buf.length) return null;
    if (crc32(buf.subarray(o + 4, o + 8 + len)) >>> 0 !== buf.readUInt32BE(o + 8 + len)) return null;
    const data = buf.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') ihdr = data;
    else if (type === 'PLTE') plte = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') { ended = true; break; }
    else if (DECLINE.has(type)) return null;
    o += 12 + len;
  }
  if (!ended || !ihdr || ihdr.length !== 13 || idat.length === 0) return null;
  const width = ihdr.readUInt32BE(0), height = ihdr.readUInt32BE(4);
  const depth = ihdr[8], colour = ihdr[9], interlace = ihdr[12];
  if (width !== spec.width || height !== spec.height || depth !== 8 || interlace !== 0 || ihdr[10] !== 0 || ihdr[11] !== 0) return null;
  const srcChannels = colour === 0 ? 1 : colour === 2 ? 3 : colour === 3 ? 1 : 0;
  if (srcChannels === 0) return null; // grey+alpha, RGBA: libvips flattens them
  if (spec.channels === 1 && colour !== 0) return null; // RGB → luminance is libvips' formula
  if (colour === 3 && (!plte || plte.length % 3 !== 0)) return null;
  let raw: Buffer;
  try {
    raw = await inflate(idat.length === 1 ? idat[0] : Buffer.concat(idat));
  } catch {
    return null;
  }
  const stride = width * srcChannels;
  if (raw.length !== height * (stride + 1)) return null;
  const px = new Uint8Array(height * stride);
  if (!unfilter(raw, px, height, stride, srcChannels)) return null;
  if (colour === 2 || (colour === 0 && spec.channels === 1)) return px;
  const out = new Uint8Array(width * height * 3);
  if (colour === 0) {
    for (let i = 0, j = 0; i < px.length; i++, j += 3) { const v = px[i]; out[j] = v; out[j + 1] = v; out[j + 2] = v; }
    return out;
  }
  const entries = plte!.length / 3;
  for (let i = 0, j = 0; i < px.length; i++, j += 3) {
    const e = px[i];
    if (e >= entries) return null; // an index outside the palette: let libvips judge
    out[j] = plte![3 * e]; out[j + 1] = plte![3 * e + 1]; out[j + 2] = plte![3 * e + 2];
  }
  return out;
}

/** PNG scanline filters (None, Sub, Up, Average, Paeth) reversed into `out`; false on an unknown filter type. */
function unfilter(raw: Buffer, out: Uint8Array, height: number, stride: number, bpp: number): boolean {
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    switch (f) {
      case 0:
        for (let x = 0; x < stride; x++) out[row + x] = raw[src + x];
        break;
      case 1:
        for (let x = 0; x < stride; x++) out[row + x] = (raw[src + x] + (x >= bpp ? out[row + x - bpp] : 0)) & 255;
        break;
      case 2:
        for (let x = 0; x < stride; x++) out[row + x] = (raw[src + x] + (y > 0 ? out[prev + x] : 0)) & 255;
        break;
      case 3:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp] : 0;
          const b = y > 0 ? out[prev + x] : 0;
          out[row + x] = (raw[src + x] + ((a + b) >> 1)) & 255;
        }
        break;
      case 4:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp] : 0;
          const b = y > 0 ? out[prev + x] : 0;
          const c = x >= bpp && y > 0 ? out[prev + x - bpp] : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          out[row + x] = (raw[src + x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
        }
        break;
      default:
        return false;
    }
  }
  return true;
}
