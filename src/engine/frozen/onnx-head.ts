// A trained head appended to a frozen ONNX backbone's graph: one .onnx file, image in, embedding out (issue 15,
// section 4). The backbone's ModelProto is not re-encoded: its bytes are walked field by field (protobuf wire format)
// and copied, except the graph's outputs, which are replaced by the embedding; the head's nodes (Flatten for a
// [N, D, 1, 1] feature output, then per layer MatMul + Add (+ Relu), then LpNormalization p=2 when the embedding is
// L2-normalised) and initializers are appended to the graph. Every op exists unchanged since opset 1, so the
// backbone's opset imports hold. Names are prefixed `embedlab_head_` so they cannot clash with the backbone's.
// A backbone whose weights live in external data files resolves them relative to the file it is loaded from: write
// the combined model beside the backbone's data (the caller's choice of folder).
import { encodeVarint, ProtoWriter } from '../onnx';

/** One Dense layer of the head: kernel [inDim, units] row-major (tfjs's layout), bias [units]. */
export interface HeadLayer { kernel: Float32Array; bias: Float32Array; inDim: number; units: number; relu: boolean }

export interface AppendHeadOptions {
  /** The backbone output that holds the pooled features. */
  featureOutput: string;
  /** The feature output is [N, D, 1, 1] (flattened first) rather than [N, D]. */
  featureRank4?: boolean;
  layers: HeadLayer[];
  l2Normalize: boolean;
  /** The combined graph's one output (default "embedding"). */
  outputName?: string;
}

interface Field { field: number; wire: number; start: number; end: number; valueStart: number; valueEnd: number }

function readVarint(buf: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let mul = 1;
  let i = at;
  for (;;) {
    if (i >= buf.length) throw new Error('onnx: truncated varint');
    const b = buf[i++];
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
    if (i - at > 10) throw new Error('onnx: varint too long');
  }
  return { value, next: i };
}

/** The top-level fields of one protobuf message. */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  while (i < buf.length) {
    const start = i;
    const tag = readVarint(buf, i);
    i = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    let valueStart = i;
    if (wire === 0) i = readVarint(buf, i).next;
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = readVarint(buf, i);
      valueStart = len.next;
      i = len.next + len.value;
    } else throw new Error(`onnx: unsupported wire type ${wire} at byte ${start}`);
    if (i > buf.length) throw new Error(`onnx: field ${field} runs past the end`);
    out.push({ field, wire, start, end: i, valueStart, valueEnd: i });
  }
  return out;
}

function lengthDelimited(field: number, body: Uint8Array[]): Uint8Array[] {
  const size = body.reduce((n, b) => n + b.length, 0);
  return [encodeVarint(field * 8 + 2), encodeVarint(size), ...body];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const TENSOR_FLOAT = 1;

function node(op: string, name: string, inputs: string[], output: string, attrs: Array<[string, number]> = []): Uint8Array {
  const w = new ProtoWriter();
  for (const i of inputs) w.string(1, i);
  w.string(2, output).string(3, name).string(4, op);
  for (const [k, v] of attrs) w.message(5, new ProtoWriter().string(1, k).int(20, 2).int(3, v)); // AttributeProto INT
  return w.finish();
}

function initializer(name: string, dims: number[], data: Float32Array): Uint8Array {
  const raw = new Uint8Array(data.length * 4);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  return new ProtoWriter().ints(1, dims).int(2, TENSOR_FLOAT).string(8, name).bytes(9, raw).finish();
}

function outputInfo(name: string, dim: number): Uint8Array {
  const shape = new ProtoWriter().message(1, new ProtoWriter().string(2, 'batch')).message(1, new ProtoWriter().int(1, dim));
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, new ProtoWriter().int(1, TENSOR_FLOAT).message(2, shape))).finish();
}

/** The backbone's model bytes with the head appended (see the header). */
export function appendHeadToOnnx(model: Uint8Array, opts: AppendHeadOptions): Uint8Array {
  if (opts.layers.length === 0 && !opts.l2Normalize) throw new Error('appendHeadToOnnx: no head to append');
  const top = fields(model);
  const graphField = top.filter((f) => f.field === 7 && f.wire === 2);
  if (graphField.length !== 1) throw new Error(`onnx: expected one graph in the model, found ${graphField.length}`);
  const g = graphField[0];
  const graphBytes = model.subarray(g.valueStart, g.valueEnd);
  const graphFields = fields(graphBytes);
  const outName = opts.outputName ?? 'embedding';
  const p = 'embedlab_head_';
  const nodes: Uint8Array[] = [];
  const inits: Uint8Array[] = [];
  let x = opts.featureOutput;
  if (opts.featureRank4) { nodes.push(node('Flatten', `${p}flatten`, [x], `${p}flat`, [['axis', 1]])); x = `${p}flat`; }
  let dim = 0;
  opts.layers.forEach((l, i) => {
    if (l.kernel.length !== l.inDim * l.units || l.bias.length !== l.units) throw new Error(`appendHeadToOnnx: layer ${i + 1} has ${l.kernel.length} kernel and ${l.bias.length} bias values for ${l.inDim}×${l.units}`);
    inits.push(initializer(`${p}${i}_kernel`, [l.inDim, l.units], l.kernel), initializer(`${p}${i}_bias`, [l.units], l.bias));
    nodes.push(node('MatMul', `${p}${i}_matmul`, [x, `${p}${i}_kernel`], `${p}${i}_mm`));
    const last = i === opts.layers.length - 1 && !opts.l2Normalize;
    const added = last && !l.relu ? outName : `${p}${i}_add`;
    nodes.push(node('Add', `${p}${i}_add`, [`${p}${i}_mm`, `${p}${i}_bias`], added));
    x = added;
    if (l.relu) { const r = last ? outName : `${p}${i}_relu`; nodes.push(node('Relu', `${p}${i}_relu`, [x], r)); x = r; }
    dim = l.units;
  });
  if (opts.l2Normalize) nodes.push(node('LpNormalization', `${p}l2`, [x], outName, [['axis', 1], ['p', 2]]));
  if (dim === 0) throw new Error('appendHeadToOnnx: the L2 normalisation alone needs the feature width: give a layer');

  const graphParts: Uint8Array[] = [];
  for (const f of graphFields) if (f.field !== 12) graphParts.push(graphBytes.subarray(f.start, f.end)); // outputs replaced
  for (const n of nodes) graphParts.push(...lengthDelimited(1, [n]));
  for (const t of inits) graphParts.push(...lengthDelimited(5, [t]));
  graphParts.push(...lengthDelimited(12, [outputInfo(outName, dim)]));
  const parts: Uint8Array[] = [];
  for (const f of top) {
    if (f === g) parts.push(...lengthDelimited(7, graphParts));
    else parts.push(model.subarray(f.start, f.end));
  }
  return concat(parts);
}
