// ONNX export of a branch (image → embedding), written by our own small protobuf encoder: no protobuf or onnx
// package, and no tfjs at run time — the converter reads the layers-format artifacts (the model.json topology and
// the float32 weights), so an export folder made before model.onnx existed converts in memory at load.
//
// The graph (opset 13, IR version 7):
//   image [N, H, W, C] float32 (the normalised pixels of src/engine/images.ts, NHWC as tfjs takes them)
//   → Transpose(0, 3, 1, 2) → NCHW
//   → per layer: Conv (+ BatchNormalization folded into its weights and bias) [+ Relu], MaxPool, Add, Relu,
//     GlobalAveragePool + Flatten, Gemm (Dense), and L2Normalize as ReduceSumSquare → Max(·, 1e-12) → Sqrt → Div,
//     exactly the L2Normalize layer of models.ts (LpNormalization has no epsilon)
//   → embedding [N, D]
// The batch dimension is symbolic ("N"); H, W, C are fixed (TensorFlow's 'same' padding depends on them).
//
// Mapping (see docs/onnx.md):
//   - Conv2D / InputConv2D kernel [kh, kw, in, out] → ONNX W [out, in, kh, kw]; no bias → zeros.
//   - 'same' padding as TensorFlow computes it, per spatial axis: out = ceil(in / s),
//     total = max((out − 1)·s + (k − 1)·d + 1 − in, 0), begin = floor(total / 2), end = total − begin — the odd
//     pixel goes at the END (bottom / right), unlike PyTorch. Written as explicit pads [top, left, bottom, right].
//   - MaxPool: the same pads (ONNX MaxPool ignores padded cells, as TF does).
//   - ZeroPadding2D (PyTorch padding of the pretrained ResNets) is added to the pads of the one Conv or MaxPool
//     reading it; before a MaxPool only when its input is a ReLU's (zeros and ignored cells then give the same max).
//   - BatchNormalization (inference: moving statistics) right after a linear conv with no other consumer is folded
//     in float64: s = γ / √(σ² + ε), W' = W·s, b' = (b − μ)·s + β. Anywhere else it is an ONNX BatchNormalization.
//   - Dense kernel [in, out] → Gemm B [in, out] (transB = 0), bias → C.

import { fromStockTopology } from './tfjs-stock';

/** The graph's input (NHWC pixels) and output (the embedding) names. */
export const BRANCH_INPUT = 'image';
export const BRANCH_OUTPUT = 'embedding';

// ---------------------------------------------------------------------------------------------------------------
// Protocol buffers: the wire format (https://protobuf.dev/programming-guides/encoding/), encode only.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** The varint bytes of an integer; negative values are 64-bit two's complement (10 bytes), as int64 requires. */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && value >= 0 && value <= 0x7fffffff && Number.isInteger(value)) {
    const out: number[] = [];
    let u = value;
    while (u >= 0x80) { out.push((u & 0x7f) | 0x80); u >>>= 7; }
    out.push(u);
    return Uint8Array.from(out);
  }
  let v = typeof value === 'bigint' ? value : BigInt(value);
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error(`varint: ${value} is not a safe integer`);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

/** Builds one message: fields are appended in call order (ONNX readers accept any order). */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  private tag(field: number, wire: number): this {
    return this.push(encodeVarint(field * 8 + wire));
  }
  /** int32 / int64 / enum / bool field. */
  int(field: number, value: number | bigint): this {
    return this.tag(field, WIRE_VARINT).push(encodeVarint(value));
  }
  /** A repeated int64 field, unpacked (proto2's default, which onnx.proto uses; readers accept both forms). */
  ints(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.tag(field, WIRE_FIXED32).push(b);
  }
  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, WIRE_LEN).push(encodeVarint(value.length)).push(value);
  }
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }
  message(field: number, m: ProtoWriter): this {
    this.tag(field, WIRE_LEN).push(encodeVarint(m.size));
    for (const p of m.parts) this.push(p);
    return this;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ONNX messages (field numbers from onnx/onnx.proto).

const TENSOR_FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const; // AttributeProto.AttributeType
export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7; // ONNX 1.8, the release that introduced opset 13

type AttrValue = number | number[] | string | { float: number };

function attribute(name: string, value: AttrValue): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof value === 'string') return a.int(20, ATTR.STRING).string(4, value);
  if (Array.isArray(value)) return a.int(20, ATTR.INTS).ints(8, value);
  if (typeof value === 'object') return a.int(20, ATTR.FLOAT).float(2, value.float);
  return a.int(20, ATTR.INT).int(3, value);
}

interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

function nodeProto(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  return w;
}

interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

function tensorProto(t: Initializer): ProtoWriter {
  const w = new ProtoWriter().ints(1, t.dims).int(2, TENSOR_FLOAT).string(8, t.name);
  // raw_data is little-endian float32, as ONNX requires.
  let raw: Uint8Array;
  if (LITTLE_ENDIAN) raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  else {
    raw = new Uint8Array(t.data.length * 4);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setFloat32(i * 4, t.data[i], true);
  }
  return w.bytes(9, raw);
}

/** ValueInfoProto of a float tensor; a string dim is symbolic (dim_param). */
function valueInfo(name: string, dims: Array<number | string>): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'string' ? new ProtoWriter().string(2, d) : new ProtoWriter().int(1, d));
  const tensorType = new ProtoWriter().int(1, TENSOR_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: Initializer[];
  inputs: Array<{ name: string; dims: Array<number | string> }>;
  outputs: Array<{ name: string; dims: Array<number | string> }>;
}

/** Serialises a ModelProto. `metadata` goes into metadata_props (shown by Netron, read by ORT's modelMetadata). */
export function encodeModel(g: OnnxGraph, opts: { producerVersion?: string; docString?: string; metadata?: Record<string, string> } = {}): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, nodeProto(n));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensorProto(t));
  for (const i of g.inputs) graph.message(11, valueInfo(i.name, i.dims));
  for (const o of g.outputs) graph.message(12, valueInfo(o.name, o.dims));
  const model = new ProtoWriter()
    .int(1, ONNX_IR_VERSION)
    .string(2, 'embedding-lab')
    .string(3, opts.producerVersion ?? '0')
    .int(5, 1);
  if (opts.docString) model.string(6, opts.docString);
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').int(2, ONNX_OPSET));
  for (const [k, v] of Object.entries(opts.metadata ?? {})) model.message(14, new ProtoWriter().string(1, k).string(2, v));
  return model.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// The converter: tfjs layers topology + weights → OnnxGraph.

/** What the converter reads: the layers-format artifacts (as in model.json + weights.bin). */
export interface LayersArtifacts {
  modelTopology: unknown;
  weightSpecs: Array<{ name: string; shape: number[]; dtype?: string }>;
  weightData: ArrayBuffer;
}

interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: Array<Array<[string, number, number, unknown]>>;
}

type Shape = number[]; // [H, W, C] for images, [D] for vectors (batch excluded)

interface ConvNode extends OnnxNode {
  op: 'Conv';
  weight: Float32Array; // ONNX layout [out, in, kh, kw]
  bias: Float64Array;
  outChannels: number;
  perOut: number; // in·kh·kw
}

export class OnnxExportError extends Error {}

const asPair = (v: unknown, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new OnnxExportError(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
};

/** TensorFlow's padding for one spatial axis: output size and [begin, end] pads. */
export function tfPadding(inSize: number, kernel: number, stride: number, dilation: number, padding: string): { out: number; begin: number; end: number } {
  const kEff = (kernel - 1) * dilation + 1;
  if (padding === 'valid') return { out: Math.ceil((inSize - kEff + 1) / stride), begin: 0, end: 0 };
  if (padding !== 'same') throw new OnnxExportError(`padding '${padding}' is not supported (only 'same' and 'valid')`);
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kEff - inSize, 0);
  const begin = Math.floor(total / 2);
  return { out, begin, end: total - begin };
}

/** A tfjs conv kernel [kh, kw, in, out] in ONNX's layout [out, in, kh, kw]. */
export function hwioToOihw(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const W = new Float32Array(k.length);
  const perOut = cin * kh * kw;
  let src = 0;
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const base = (i * kh + y) * kw + x;
        for (let o = 0; o < cout; o++) W[o * perOut + base] = k[src++];
      }
    }
  }
  return W;
}

/** Folds inference-mode batch normalisation into the conv before it, in float64 (rounded once to float32). */
function foldInto(conv: ConvNode, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, eps: number): void {
  const { weight, bias, perOut } = conv;
  for (let o = 0; o < conv.outChannels; o++) {
    const scale = gamma[o] / Math.sqrt(variance[o] + eps);
    for (let j = o * perOut, end = j + perOut; j < end; j++) weight[j] = weight[j] * scale;
    bias[o] = (bias[o] - mean[o]) * scale + beta[o];
  }
}

/**
 * The layer classes the writer converts (the cases of branchToOnnxGraph): what a backbone entry's `onnxLayers` may
 * name (src/engine/backbones/; test/unit/backbones.test.ts checks every entry against this list).
 */
export const ONNX_LAYER_CLASSES = [
  'InputLayer', 'Conv2D', 'InputConv2D', 'ZeroPadding2D', 'BatchNormalization', 'Activation', 'ReLU', 'MaxPooling2D', 'Add',
  'GlobalAveragePooling2D', 'Dense', 'L2Normalize',
] as const;
export type OnnxLayerClass = (typeof ONNX_LAYER_CLASSES)[number];

/**
 * Converts a branch (one image input, one vector output) to an ONNX graph. Throws OnnxExportError naming the layer
 * for anything outside the supported set (the layers our backbones use).
 */
export function branchToOnnxGraph(art: LayersArtifacts): OnnxGraph {
  // An export's model.json is in stock layers (tfjs-stock.ts): its normalisation block converts as one L2Normalize.
  const topo = fromStockTopology(art.modelTopology) as { class_name?: string; config?: { layers?: LayerJson[]; input_layers?: unknown[][]; output_layers?: unknown[][] } } | null;
  const cfg = topo?.config;
  if (!cfg || !Array.isArray(cfg.layers) || !Array.isArray(cfg.input_layers) || !Array.isArray(cfg.output_layers)) {
    throw new OnnxExportError('the model topology is not a functional layers model (no config.layers / input_layers / output_layers)');
  }
  if (cfg.input_layers.length !== 1 || cfg.output_layers.length !== 1) {
    throw new OnnxExportError(`only a branch (one input, one output) can be exported to ONNX; this model has ${cfg.input_layers.length} input(s) and ${cfg.output_layers.length} output(s)`);
  }

  // Weights by name (float32 only), in the order of the manifest.
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  let off = 0;
  for (const s of art.weightSpecs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (s.dtype && s.dtype !== 'float32') throw new OnnxExportError(`weight ${s.name} is ${s.dtype}; only float32 weights are supported`);
    if ((off + size) * 4 > art.weightData.byteLength) throw new OnnxExportError(`the weight data is shorter than the manifest (at ${s.name})`);
    weights.set(s.name, { shape: s.shape, data: new Float32Array(art.weightData.slice(off * 4, (off + size) * 4)) });
    off += size;
  }
  const weight = (layer: string, w: string, shape?: number[]) => {
    const found = weights.get(`${layer}/${w}`);
    if (!found) throw new OnnxExportError(`layer ${layer}: its weight ${layer}/${w} is missing`);
    if (shape && found.shape.join('x') !== shape.join('x')) throw new OnnxExportError(`layer ${layer}: weight ${w} has shape [${found.shape}], expected [${shape}]`);
    return found.data;
  };

  const layers = cfg.layers;
  const inputsOf = (l: LayerJson): string[] => {
    if (l.inbound_nodes.length === 0) return [];
    if (l.inbound_nodes.length > 1) throw new OnnxExportError(`layer ${l.name} is applied ${l.inbound_nodes.length} times; only a branch whose layers are used once converts`);
    return l.inbound_nodes[0].map(([name, nodeIndex, tensorIndex]) => {
      if (nodeIndex !== 0 || tensorIndex !== 0) throw new OnnxExportError(`layer ${l.name}: shared layers are not supported`);
      return name;
    });
  };
  const consumers = new Map<string, number>();
  for (const l of layers) for (const i of inputsOf(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);

  const nodes: OnnxNode[] = [];
  const inits: Initializer[] = [];
  const tensorOf = new Map<string, string>(); // layer name → ONNX tensor holding its output
  const shapeOf = new Map<string, Shape>();
  const convOf = new Map<string, ConvNode>(); // layer name → the Conv node its output is (for BN folding)
  // ZeroPadding2D (PyTorch-style padding of the pretrained ResNets, backbones/resnet.ts) folded into the pads of the
  // one Conv or MaxPool that reads it: layer name → [top, left, bottom, right] and whether its input is ≥ 0 (a ReLU).
  const padOf = new Map<string, { pads: [number, number, number, number]; nonNegative: boolean }>();
  const takePad = (l: LayerJson, input: string, pool: boolean): [number, number, number, number] => {
    const p = padOf.get(input);
    if (!p) return [0, 0, 0, 0];
    // ONNX MaxPool ignores padded cells where tfjs sees zeros: the same only for an input that is never negative.
    if (pool && !p.nonNegative) throw new OnnxExportError(`layer ${l.name}: a max-pool after zero padding of a possibly negative input is not supported`);
    return p.pads;
  };
  const outName = (layer: string) => `${layer}:out`;
  const emit = (n: OnnxNode) => { nodes.push(n); return n; };
  const activation = (l: LayerJson, x: string, act: unknown): string => {
    if (act === undefined || act === null || act === 'linear') return x;
    if (act === 'relu') return emit({ op: 'Relu', name: `${l.name}/relu`, inputs: [x], outputs: [`${l.name}:relu`] }).outputs[0];
    throw new OnnxExportError(`layer ${l.name}: activation '${String(act)}' is not supported (only relu and linear)`);
  };

  let inputShape: Shape | undefined;
  for (const l of layers) {
    const ins = inputsOf(l);
    const c = l.config;
    const src = ins.map((i) => {
      const t = tensorOf.get(i);
      if (t === undefined) throw new OnnxExportError(`layer ${l.name}: its input ${i} comes later in the topology`);
      return t;
    });
    const srcShape = ins.map((i) => shapeOf.get(i)!);
    const image = () => {
      const s = srcShape[0];
      if (!s || s.length !== 3) throw new OnnxExportError(`layer ${l.name} (${l.class_name}) needs an image input [H, W, C], got [${s}]`);
      if ('data_format' in c && c.data_format !== 'channels_last') throw new OnnxExportError(`layer ${l.name}: data_format ${String(c.data_format)} is not supported`);
      return s;
    };
    const cls = l.class_name;
    if (!(ONNX_LAYER_CLASSES as readonly string[]).includes(cls)) {
      throw new OnnxExportError(`layer ${l.name}: ${cls} has no ONNX mapping here (supported: ${ONNX_LAYER_CLASSES.filter((c) => c !== 'InputLayer').join(', ')})`);
    }
    // The cases are exactly ONNX_LAYER_CLASSES: a class listed without a case, or a case not listed, does not compile.
    const kind = cls as OnnxLayerClass;
    switch (kind) {
      case 'InputLayer': {
        const shape = ((c.batch_input_shape ?? c.batchInputShape) as Array<number | null>).slice(1);
        if (shape.length !== 3 || shape.some((d) => typeof d !== 'number' || d < 1)) throw new OnnxExportError(`the input must be a fixed-size image [H, W, C], got [${shape}]`);
        inputShape = shape as number[];
        emit({ op: 'Transpose', name: 'to_nchw', inputs: [BRANCH_INPUT], outputs: ['image:nchw'], attrs: { perm: [0, 3, 1, 2] } });
        tensorOf.set(l.name, 'image:nchw');
        shapeOf.set(l.name, inputShape);
        break;
      }
      case 'Conv2D':
      case 'InputConv2D': {
        const [h, w, cin] = image();
        const [kh, kw] = asPair(c.kernel_size, `layer ${l.name} kernel_size`);
        const [sh, sw] = asPair(c.strides ?? 1, `layer ${l.name} strides`);
        const [dh, dw] = asPair(c.dilation_rate ?? 1, `layer ${l.name} dilation_rate`);
        const filters = c.filters as number;
        if ((c.groups ?? 1) !== 1) throw new OnnxExportError(`layer ${l.name}: grouped convolutions are not supported`);
        const padding = l.class_name === 'InputConv2D' ? 'same' : (c.padding as string);
        const py = tfPadding(h, kh, sh, dh, padding);
        const px = tfPadding(w, kw, sw, dw, padding);
        const [pt, pl, pb, pr] = takePad(l, ins[0], false);
        const k = weight(l.name, 'kernel', [kh, kw, cin, filters]);
        const perOut = cin * kh * kw;
        const W = hwioToOihw(k, kh, kw, cin, filters);
        const bias = new Float64Array(filters);
        if (l.class_name === 'Conv2D' && c.use_bias !== false) weight(l.name, 'bias', [filters]).forEach((b, o) => { bias[o] = b; });
        const conv = emit({
          op: 'Conv', name: l.name, inputs: [src[0], `${l.name}/W`, `${l.name}/B`], outputs: [outName(l.name)],
          attrs: { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [py.begin + pt, px.begin + pl, py.end + pb, px.end + pr], group: 1 },
          weight: W, bias, outChannels: filters, perOut,
        } as ConvNode) as ConvNode;
        const act = l.class_name === 'Conv2D' ? c.activation : 'linear';
        const out = activation(l, conv.outputs[0], act);
        if (out === conv.outputs[0]) convOf.set(l.name, conv);
        tensorOf.set(l.name, out);
        shapeOf.set(l.name, [py.out, px.out, filters]);
        break;
      }
      case 'ZeroPadding2D': {
        const [h, w, ch] = image();
        const p = c.padding;
        const pairs = typeof p === 'number' ? [[p, p], [p, p]] : Array.isArray(p) ? (p as unknown[]).map((q) => (typeof q === 'number' ? [q, q] : q)) : undefined;
        const ok = pairs?.length === 2 && pairs.every((q) => Array.isArray(q) && q.length === 2 && q.every((v) => Number.isInteger(v) && (v as number) >= 0));
        if (!ok) throw new OnnxExportError(`layer ${l.name}: padding ${JSON.stringify(p)} is not supported`);
        const [[top, bottom], [left, right]] = pairs as number[][];
        const consumers_ = layers.filter((o) => inputsOf(o).includes(l.name));
        if (consumers_.length !== 1 || !['Conv2D', 'MaxPooling2D'].includes(consumers_[0].class_name)) {
          throw new OnnxExportError(`layer ${l.name}: a ZeroPadding2D converts only before one Conv2D or MaxPooling2D`);
        }
        padOf.set(l.name, { pads: [top, left, bottom, right], nonNegative: /:relu$/.test(src[0]) });
        tensorOf.set(l.name, src[0]);
        shapeOf.set(l.name, [h + top + bottom, w + left + right, ch]);
        break;
      }
      case 'BatchNormalization': {
        const s = srcShape[0];
        const ch = s[s.length - 1];
        const axis = c.axis as number | number[];
        const ax = Array.isArray(axis) ? axis : [axis];
        if (ax.length !== 1 || (ax[0] !== -1 && ax[0] !== s.length)) throw new OnnxExportError(`layer ${l.name}: batch normalisation over axis ${JSON.stringify(axis)} is not supported (only the channel axis)`);
        const eps = c.epsilon as number;
        const gamma = c.scale === false ? new Float32Array(ch).fill(1) : weight(l.name, 'gamma', [ch]);
        const beta = c.center === false ? new Float32Array(ch) : weight(l.name, 'beta', [ch]);
        const mean = weight(l.name, 'moving_mean', [ch]);
        const variance = weight(l.name, 'moving_variance', [ch]);
        const conv = convOf.get(ins[0]);
        if (conv && consumers.get(ins[0]) === 1) {
          // Fold into the conv (float64, rounded once to float32).
          foldInto(conv, gamma, beta, mean, variance, eps);
          tensorOf.set(l.name, src[0]);
          convOf.set(l.name, conv);
        } else {
          if (s.length !== 3) throw new OnnxExportError(`layer ${l.name}: batch normalisation of a vector is not supported`);
          for (const [n, d] of [['gamma', gamma], ['beta', beta], ['mean', mean], ['variance', variance]] as const) inits.push({ name: `${l.name}/${n}`, dims: [ch], data: d });
          emit({ op: 'BatchNormalization', name: l.name, inputs: [src[0], `${l.name}/gamma`, `${l.name}/beta`, `${l.name}/mean`, `${l.name}/variance`], outputs: [outName(l.name)], attrs: { epsilon: { float: eps } } });
          tensorOf.set(l.name, outName(l.name));
        }
        shapeOf.set(l.name, s);
        break;
      }
      case 'Activation':
        tensorOf.set(l.name, activation(l, src[0], c.activation));
        shapeOf.set(l.name, srcShape[0]);
        break;
      case 'ReLU':
        if (c.max_value != null) throw new OnnxExportError(`layer ${l.name}: ReLU with max_value is not supported`);
        tensorOf.set(l.name, activation(l, src[0], 'relu'));
        shapeOf.set(l.name, srcShape[0]);
        break;
      case 'MaxPooling2D': {
        const [h, w, ch] = image();
        const [kh, kw] = asPair(c.pool_size, `layer ${l.name} pool_size`);
        const [sh, sw] = asPair(c.strides ?? c.pool_size, `layer ${l.name} strides`);
        const py = tfPadding(h, kh, sh, 1, c.padding as string);
        const px = tfPadding(w, kw, sw, 1, c.padding as string);
        const [pt, pl, pb, pr] = takePad(l, ins[0], true);
        emit({ op: 'MaxPool', name: l.name, inputs: [src[0]], outputs: [outName(l.name)], attrs: { kernel_shape: [kh, kw], strides: [sh, sw], pads: [py.begin + pt, px.begin + pl, py.end + pb, px.end + pr] } });
        tensorOf.set(l.name, outName(l.name));
        shapeOf.set(l.name, [py.out, px.out, ch]);
        break;
      }
      case 'Add': {
        if (src.length < 2) throw new OnnxExportError(`layer ${l.name}: Add needs at least two inputs`);
        if (srcShape.some((s) => s.join('x') !== srcShape[0].join('x'))) throw new OnnxExportError(`layer ${l.name}: Add of different shapes ${srcShape.map((s) => `[${s}]`).join(', ')}`);
        let acc = src[0];
        for (let i = 1; i < src.length; i++) {
          const o = i === src.length - 1 ? outName(l.name) : `${l.name}:${i}`;
          emit({ op: 'Add', name: src.length === 2 ? l.name : `${l.name}/${i}`, inputs: [acc, src[i]], outputs: [o] });
          acc = o;
        }
        tensorOf.set(l.name, acc);
        shapeOf.set(l.name, srcShape[0]);
        break;
      }
      case 'GlobalAveragePooling2D': {
        const [, , ch] = image();
        if (c.keepdims === true) throw new OnnxExportError(`layer ${l.name}: keepdims is not supported`);
        emit({ op: 'GlobalAveragePool', name: l.name, inputs: [src[0]], outputs: [`${l.name}:4d`] });
        emit({ op: 'Flatten', name: `${l.name}/flatten`, inputs: [`${l.name}:4d`], outputs: [outName(l.name)], attrs: { axis: 1 } });
        tensorOf.set(l.name, outName(l.name));
        shapeOf.set(l.name, [ch]);
        break;
      }
      case 'Dense': {
        const s = srcShape[0];
        if (s.length !== 1) throw new OnnxExportError(`layer ${l.name}: Dense on a [${s}] input is not supported (only vectors)`);
        const units = c.units as number;
        inits.push({ name: `${l.name}/kernel`, dims: [s[0], units], data: weight(l.name, 'kernel', [s[0], units]) });
        const inputs = [src[0], `${l.name}/kernel`];
        if (c.use_bias !== false) {
          inits.push({ name: `${l.name}/bias`, dims: [units], data: weight(l.name, 'bias', [units]) });
          inputs.push(`${l.name}/bias`);
        }
        emit({ op: 'Gemm', name: l.name, inputs, outputs: [outName(l.name)], attrs: { transB: 0 } });
        tensorOf.set(l.name, activation(l, outName(l.name), c.activation));
        shapeOf.set(l.name, [units]);
        break;
      }
      case 'L2Normalize': {
        // x / sqrt(max(sum(x², last axis), 1e-12)), as models.ts's L2Normalize.
        const s = srcShape[0];
        if (s.length !== 1) throw new OnnxExportError(`layer ${l.name}: L2Normalize of a [${s}] input is not supported (only vectors)`);
        inits.push({ name: `${l.name}/epsilon`, dims: [], data: Float32Array.of(1e-12) });
        emit({ op: 'ReduceSumSquare', name: `${l.name}/sum_square`, inputs: [src[0]], outputs: [`${l.name}:ss`], attrs: { axes: [1], keepdims: 1 } });
        emit({ op: 'Max', name: `${l.name}/max_eps`, inputs: [`${l.name}:ss`, `${l.name}/epsilon`], outputs: [`${l.name}:clamped`] });
        emit({ op: 'Sqrt', name: `${l.name}/sqrt`, inputs: [`${l.name}:clamped`], outputs: [`${l.name}:norm`] });
        emit({ op: 'Div', name: l.name, inputs: [src[0], `${l.name}:norm`], outputs: [outName(l.name)] });
        tensorOf.set(l.name, outName(l.name));
        shapeOf.set(l.name, s);
        break;
      }
      default: {
        const unhandled: never = kind;
        throw new Error(`branchToOnnxGraph: no case for ${String(unhandled)}`);
      }
    }
  }
  if (!inputShape) throw new OnnxExportError('the model has no InputLayer');
  const outLayer = String(cfg.output_layers[0][0]);
  const outShape = shapeOf.get(outLayer);
  if (!outShape || outShape.length !== 1) throw new OnnxExportError(`the output ${outLayer} is not a vector (shape [${outShape}])`);

  // The graph output must be a node output named `embedding`: rename the final tensor.
  const final = tensorOf.get(outLayer)!;
  const producer = nodes.find((n) => n.outputs.includes(final));
  if (!producer) throw new OnnxExportError(`the output ${outLayer} is the input itself`);
  for (const n of nodes) n.inputs = n.inputs.map((i) => (i === final ? BRANCH_OUTPUT : i));
  producer.outputs = producer.outputs.map((o) => (o === final ? BRANCH_OUTPUT : o));

  // Conv weights and (folded) biases become initializers now that every fold is done.
  for (const n of nodes) {
    if (n.op !== 'Conv') continue;
    const cv = n as ConvNode;
    const [kh, kw] = (cv.attrs!.kernel_shape as number[]);
    inits.push({ name: `${n.name}/W`, dims: [cv.outChannels, cv.perOut / (kh * kw), kh, kw], data: cv.weight });
    inits.push({ name: `${n.name}/B`, dims: [cv.outChannels], data: Float32Array.from(cv.bias) });
  }
  const plain = nodes.map(({ op, name, inputs, outputs, attrs }) => ({ op, name, inputs, outputs, attrs }));
  return {
    name: String((topo?.config as { name?: string }).name ?? 'branch'),
    nodes: plain,
    initializers: inits,
    inputs: [{ name: BRANCH_INPUT, dims: ['N', ...inputShape] }],
    outputs: [{ name: BRANCH_OUTPUT, dims: ['N', outShape[0]] }],
  };
}

/** The ONNX bytes of a branch. `metadata` (e.g. the preprocessing JSON) is stored in the model's metadata_props. */
export function branchToOnnx(art: LayersArtifacts, opts: { metadata?: Record<string, string>; producerVersion?: string } = {}): Uint8Array {
  return encodeModel(branchToOnnxGraph(art), {
    ...opts,
    docString: `Embedding Lab branch: ${BRANCH_INPUT} [N, H, W, C] float32 (normalised NHWC pixels) → ${BRANCH_OUTPUT} [N, D].`,
  });
}
