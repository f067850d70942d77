// The safetensors reader on hand-built files: every dtype converted to float32 (F16 and BF16 bit patterns decoded
// by hand), lazy reads of a subset, and each malformed case refused with a BadDataError (exit code 2) naming the
// file. The byte layouts here are written byte by byte, independently of the reader.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitCodeOf, LabError } from '../../src/core/errors';
import { readSafetensors, readSafetensorsHeader } from '../../src/engine/pretrained/safetensors';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-st-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A file from a header object (or raw header text) and the data bytes; `headerLen` overrides the length field. */
function file(header: unknown, data: Uint8Array, opts: { headerLen?: bigint; pad?: number } = {}): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(text + ' '.repeat(opts.pad ?? 0), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.headerLen ?? BigInt(h.length));
  const p = path.join(work, `f${n++}.safetensors`);
  fs.writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}
const u16 = (...xs: number[]) => { const b = Buffer.alloc(xs.length * 2); xs.forEach((x, i) => b.writeUInt16LE(x, i * 2)); return b; };
const f32 = (...xs: number[]) => { const b = Buffer.alloc(xs.length * 4); xs.forEach((x, i) => b.writeFloatLE(x, i * 4)); return b; };
const f64 = (...xs: number[]) => { const b = Buffer.alloc(xs.length * 8); xs.forEach((x, i) => b.writeDoubleLE(x, i * 8)); return b; };
const i64 = (...xs: bigint[]) => { const b = Buffer.alloc(xs.length * 8); xs.forEach((x, i) => b.writeBigInt64LE(x, i * 8)); return b; };

function rejects(p: string, pattern: RegExp): void {
  assert.throws(() => readSafetensors(p), (err: unknown) => {
    assert.ok(err instanceof LabError, `a LabError, got ${String(err)}`);
    assert.equal(err.code, 'bad-data');
    assert.equal(exitCodeOf(err), 2);
    assert.ok(err.message.includes(p), `names the file: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('every float dtype and I64 read as float32; F16 and BF16 bit patterns decode to the hand-computed values', () => {
  // F16: 1, -2, 0x3555 = 1.0100110101b × 2^-2 = 0.333251953125, 2^-24 (smallest subnormal), 65504 (largest), +inf.
  const half = u16(0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x7c00);
  // BF16: 1, -5, 0.15625, 3.140625 (0x4049 = 1.1001001b × 2^1), -0.
  const bf = u16(0x3f80, 0xc0a0, 0x3e20, 0x4049, 0x8000);
  const single = f32(0.5, -1.25, 3.1415927);
  const dbl = f64(1e-3, -7.5);
  const long = i64(123456n);
  const parts = [single, half, bf, dbl, long];
  const offs: Array<[number, number]> = [];
  let at = 0;
  for (const p of parts) { offs.push([at, at + p.length]); at += p.length; }
  const p = file({
    __metadata__: { format: 'pt' },
    a_f32: { dtype: 'F32', shape: [3], data_offsets: offs[0] },
    b_f16: { dtype: 'F16', shape: [2, 3], data_offsets: offs[1] },
    c_bf16: { dtype: 'BF16', shape: [5], data_offsets: offs[2] },
    d_f64: { dtype: 'F64', shape: [2, 1], data_offsets: offs[3] },
    e_i64: { dtype: 'I64', shape: [], data_offsets: offs[4] },
  }, Buffer.concat(parts), { pad: 5 });
  const { header, tensors } = readSafetensors(p);
  assert.deepEqual(header.metadata, { format: 'pt' });
  assert.deepEqual([...header.tensors.keys()], ['a_f32', 'b_f16', 'c_bf16', 'd_f64', 'e_i64']);
  assert.deepEqual([...tensors.get('a_f32')!.data], [0.5, -1.25, Math.fround(3.1415927)]);
  const h = tensors.get('b_f16')!;
  assert.deepEqual(h.shape, [2, 3]);
  assert.equal(h.dtype, 'F16');
  assert.deepEqual([...h.data], [1, -2, 0.333251953125, 2 ** -24, 65504, Infinity]);
  assert.deepEqual([...tensors.get('c_bf16')!.data], [1, -5, 0.15625, 3.140625, -0]);
  assert.ok(Object.is(tensors.get('c_bf16')!.data[4], -0));
  assert.deepEqual([...tensors.get('d_f64')!.data], [Math.fround(1e-3), -7.5]);
  const l = tensors.get('e_i64')!;
  assert.deepEqual(l.shape, []);
  assert.deepEqual([...l.data], [123456]);
});

test('reads only the tensors asked for; a missing name is a clear error', () => {
  const p = file({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(1, 2, 3));
  const { tensors } = readSafetensors(p, ['y']);
  assert.deepEqual([...tensors.keys()], ['y']);
  assert.deepEqual([...tensors.get('y')!.data], [2, 3]);
  assert.throws(() => readSafetensors(p, ['z']), /has no tensor "z"/);
  assert.deepEqual(readSafetensorsHeader(p).tensors.get('y')!.shape, [2]);
});

test('an empty tensor and an empty file of tensors are valid', () => {
  const p = file({ e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }, Buffer.alloc(0));
  assert.equal(readSafetensors(p).tensors.get('e')!.data.length, 0);
  assert.equal(readSafetensors(file({}, Buffer.alloc(0))).tensors.size, 0);
});

test('malformed files are refused with a BadDataError naming the file and the problem', () => {
  const ok = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  // Shorter than the length field.
  const tiny = path.join(work, 'tiny.safetensors');
  fs.writeFileSync(tiny, Buffer.from([1, 2, 3]));
  rejects(tiny, /shorter than the 8-byte header length/);
  // Header length past the end of the file (e.g. a truncated download, or not a safetensors file at all).
  rejects(file(ok, f32(1, 2), { headerLen: 10_000n }), /header length \(10000 bytes\) is past the end of the file/);
  const notSt = path.join(work, 'model.bin');
  fs.writeFileSync(notSt, Buffer.from('PK\u0003\u0004 this is a zip file, as torch.save writes them'));
  rejects(notSt, /past the end of the file .*looks like a PyTorch checkpoint \(zip\)/);
  rejects(file('{"x": {"dtype": "F32", ', Buffer.alloc(0)), /not valid JSON/);
  rejects(file('[1, 2]', Buffer.alloc(0)), /not a JSON object/);
  rejects(file({ x: { dtype: 'F17', shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), /tensor "x": unknown dtype "F17"/);
  rejects(file({ x: { shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), /tensor "x": no "dtype"/);
  rejects(file({ x: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, f32(1, 2)), /"shape" must be an array of non-negative integers/);
  rejects(file({ x: { dtype: 'F32', shape: [2], data_offsets: [0] } }, f32(1, 2)), /"data_offsets" must be two/);
  // Offsets past the end: the data is shorter than the header says.
  rejects(file(ok, f32(1)), /data_offsets \[0, 8\] are past the end of the data \(4 bytes after the header\); the file is truncated/);
  // Offsets that disagree with shape × dtype size.
  rejects(file({ x: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), /8 bytes at data_offsets \[0, 8\], but shape \[2\] of F16 needs 4/);
  // Overlap, a hole, trailing bytes.
  rejects(file({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)),
    /tensors "x" and "y" overlap/);
  rejects(file({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, y: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3)),
    /bytes 4\.\.8 of the data belong to no tensor \(before "y"\)/);
  rejects(file(ok, f32(1, 2, 3)), /4 bytes after the last tensor belong to no tensor/);
  rejects(file({ __metadata__: { n: 1 }, ...ok }, f32(1, 2)), /"__metadata__" must be an object of strings/);
  // A known dtype that is not converted.
  rejects(file({ x: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, Buffer.from([1, 2])), /dtype F8_E4M3, which is not read here/);
  rejects(path.join(work, 'absent.safetensors'), /not found/);
});
