// A reader for the safetensors format (https://github.com/huggingface/safetensors), the format of PyTorch state
// dicts on the Hugging Face hub:
//
//   [8 bytes: N, u64 little-endian] [N bytes: JSON header] [byte buffer]
//   header = { "<tensor name>": { "dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [begin, end] }, …,
//              "__metadata__": { "<key>": "<string>" } (optional) }
//
// Offsets are relative to the byte buffer, little-endian, C order. The header is validated as strictly as the
// reference implementation does: the header length within the file, valid JSON, every entry with a known dtype,
// a shape of non-negative integers and offsets whose length is shape × dtype size, and the tensors tiling the
// buffer exactly (no overlap, no hole, nothing after the last one). Any violation is a BadDataError (exit code 2)
// naming the file; nothing is returned half-read.
//
// Reading is lazy: the header is read and checked first (one small read), then only the tensors asked for, each
// with one read straight into its own buffer. F32, F16, BF16 and F64 become Float32Array; integer tensors (such as
// BN's `num_batches_tracked`, I64) become Float32Array too (exact up to 2^24). Other known dtypes (F8, BOOL, U64…)
// are listed but refused when read.
import * as fs from 'node:fs';
import { BadDataError } from '../../core/errors';

/** Bytes per element of every dtype the format defines. */
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};
/** The dtypes `readTensor` converts to float32. */
const READABLE = new Set(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32']);
/** The reference implementation's limit on the header (100 MB). */
const MAX_HEADER = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file: [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Every tensor, in header order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export interface Tensor32 {
  dtype: string; // the stored dtype
  shape: number[];
  data: Float32Array;
}

function bad(file: string, why: string): BadDataError {
  return new BadDataError(`${file}: not a valid safetensors file: ${why}`);
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function openFile(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BadDataError(`${file}: pretrained weights file not found`);
    if (code === 'EISDIR') throw new BadDataError(`${file}: is a folder, not a .safetensors file`);
    throw err;
  }
}

/** Parses and checks the header (the first 8 + N bytes) against the file's size. */
export function parseHeader(file: string, head: Uint8Array, fileSize: number): SafetensorsHeader {
  if (fileSize < 8 || head.length < 8) throw bad(file, `the file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    // A zip (torch.save's .pt/.pth/.bin) or pickle file is the usual mistake.
    const hint = head[0] === 0x50 && head[1] === 0x4b ? '; this looks like a PyTorch checkpoint (zip) — convert it with safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
      : head[0] === 0x80 ? '; this looks like a pickled PyTorch checkpoint — convert it with safetensors.torch.save_file' : '';
    throw bad(file, `the header length (${n} bytes) is past the end of the file (${fileSize} bytes)${hint}`);
  }
  if (n > BigInt(MAX_HEADER)) throw bad(file, `the header length (${n} bytes) exceeds the format's limit of ${MAX_HEADER} bytes`);
  const headerLen = Number(n);
  if (head.length < 8 + headerLen) throw bad(file, 'the header is truncated');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw bad(file, `the header is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad(file, 'the header is not a JSON object');
  const bufferStart = 8 + headerLen;
  const bufferLen = fileSize - bufferStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw bad(file, '"__metadata__" must be an object of strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw bad(file, `tensor "${name}": the entry is not an object`);
    if (typeof e.dtype !== 'string') throw bad(file, `tensor "${name}": no "dtype"`);
    const size = DTYPE_SIZE[e.dtype];
    if (size === undefined) throw bad(file, `tensor "${name}": unknown dtype "${e.dtype}" (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(file, `tensor "${name}": "shape" must be an array of non-negative integers (got ${JSON.stringify(e.shape)})`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw bad(file, `tensor "${name}": "data_offsets" must be two non-negative integers [begin, end] (got ${JSON.stringify(offs)})`);
    }
    const [begin, end] = offs as [number, number];
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * size;
    if (end < begin) throw bad(file, `tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
    if (end > bufferLen) {
      throw bad(file, `tensor "${name}": data_offsets [${begin}, ${end}] are past the end of the data (${bufferLen} bytes after the header); the file is truncated`);
    }
    if (end - begin !== expected) {
      throw bad(file, `tensor "${name}": ${end - begin} bytes at data_offsets [${begin}, ${end}], but shape [${shape.join(', ')}] of ${e.dtype} needs ${expected}`);
    }
    tensors.set(name, { name, dtype: e.dtype, shape, begin: bufferStart + begin, end: bufferStart + end });
  }
  // The tensors must tile the buffer: sorted by offset, each starts where the previous one ended.
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = bufferStart;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < at) throw bad(file, `tensors "${prev?.name}" and "${t.name}" overlap (bytes ${t.begin - bufferStart}..${at - bufferStart} of the data)`);
    if (t.begin > at) throw bad(file, `bytes ${at - bufferStart}..${t.begin - bufferStart} of the data belong to no tensor (before "${t.name}")`);
    at = t.end;
    prev = t;
  }
  if (at !== fileSize) throw bad(file, `${fileSize - at} bytes after the last tensor belong to no tensor`);
  return { file, tensors, metadata };
}

/** Reads and checks the header only. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openFile(file);
  try {
    return headerOf(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function headerOf(fd: number, file: string): SafetensorsHeader {
  const size = fs.fstatSync(fd).size;
  const lenBytes = readExactly(fd, 8, 0);
  if (lenBytes.length < 8) return parseHeader(file, lenBytes, size);
  const n = lenBytes.readBigUInt64LE(0);
  // Past the end or over the limit: parseHeader says which, from the 8 bytes alone.
  if (n > BigInt(size - 8) || n > BigInt(MAX_HEADER)) return parseHeader(file, lenBytes, size);
  return parseHeader(file, Buffer.concat([lenBytes, readExactly(fd, Number(n), 8)]), size);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The little-endian bytes of one tensor as float32. */
export function toFloat32(bytes: Uint8Array, dtype: string, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
    default:
      throw new Error(`toFloat32: dtype ${dtype} is not converted`);
  }
  return out;
}

/**
 * Reads a safetensors file: the header, then the tensors named by `names` (all of them by default), as float32.
 * A name not in the file, or a tensor of a dtype that does not convert, is a BadDataError naming the file.
 */
export function readSafetensors(file: string, names?: readonly string[]): { header: SafetensorsHeader; tensors: Map<string, Tensor32> } {
  const fd = openFile(file);
  try {
    const header = headerOf(fd, file);
    const wanted = names ?? [...header.tensors.keys()];
    const out = new Map<string, Tensor32>();
    for (const name of wanted) {
      const info = header.tensors.get(name);
      if (!info) throw new BadDataError(`${file}: has no tensor "${name}"`);
      if (!READABLE.has(info.dtype)) throw new BadDataError(`${file}: tensor "${name}" has dtype ${info.dtype}, which is not read here (F32, F16, BF16, F64 and integer dtypes are)`);
      const bytes = readExactly(fd, info.end - info.begin, info.begin);
      if (bytes.length !== info.end - info.begin) throw new BadDataError(`${file}: the file was cut short while reading tensor "${name}"`);
      out.set(name, { dtype: info.dtype, shape: info.shape, data: toFloat32(bytes, info.dtype, info.shape.reduce((a, b) => a * b, 1)) });
    }
    return { header, tensors: out };
  } finally {
    fs.closeSync(fd);
  }
}
