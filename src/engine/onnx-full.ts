// ONNX export of the FULL model (2, 3 or 4 image streams in → the distances out), composed from the branch graph of
// src/engine/onnx.ts (its public branchToOnnxGraph and encodeModel; nothing of the converter is repeated here).
//
// The graph (opset 13), for S streams named as the TensorFlow.js full model names them (models.ts buildFullModel):
//   image_<stream> [N, H, W, C] float32, one input per stream
//   → Concat(axis 0) → the branch graph once on [S·N, H, W, C] → embedding [S·N, D]
//   → Split(axis 0) into S equal parts → one embedding [N, D] per stream
//   → per output pair (i, j), as models.ts's PairDistance (all three keep the [N, 1] shape of the tfjs outputs):
//       euclidean:          Sqrt(Max(ReduceSumSquare(e_i − e_j), 1e-12))
//       squared-euclidean:  ReduceSumSquare(e_i − e_j)
//       cosine:             1 − (e_i · e_j) / (‖e_i‖ ‖e_j‖), each norm Sqrt(Max(ReduceSumSquare(e), 1e-12)), the dot
//                           product a MatMul with a column of ones (opset 13's ReduceSum takes its axes as an int64
//                           input, which our float-only initializers do not write)
//   → d_<i>_<j> [N, 1]
// One branch run over the concatenated batch instead of S copies of the branch: the weights are stored once and
// every stream sees the same arithmetic. docs/onnx.md, "The full model".
import type { DistanceName } from '../core/config-types';
import { branchToOnnxGraph, BRANCH_INPUT, BRANCH_OUTPUT, encodeModel, OnnxExportError, type LayersArtifacts, type OnnxGraph } from './onnx';
import { DEFAULT_ORT_THREADS, loadOrt, sessionOptions, type OrtTensor } from './onnx-runtime';

export type Streams = 2 | 3 | 4;

/** The streams' names (the tfjs full model's inputs are `image_<name>`). */
export const STREAM_NAMES: Record<Streams, readonly string[]> = {
  2: ['a', 'b'],
  3: ['anchor', 'positive', 'negative'],
  4: ['anchor', 'positive', 'negative1', 'negative2'],
};

/** The distances the full model outputs, in order: [stream i, stream j, output name]. */
export const FULL_OUTPUTS: Record<Streams, ReadonlyArray<readonly [number, number, string]>> = {
  2: [[0, 1, 'd_a_b']],
  3: [[0, 1, 'd_anchor_positive'], [0, 2, 'd_anchor_negative']],
  4: [[0, 1, 'd_anchor_positive'], [0, 2, 'd_anchor_negative1'], [2, 3, 'd_negative1_negative2']],
};

export const fullInputNames = (streams: Streams): string[] => STREAM_NAMES[streams].map((n) => `image_${n}`);
export const fullOutputNames = (streams: Streams): string[] => FULL_OUTPUTS[streams].map(([, , n]) => n);

type Node = OnnxGraph['nodes'][number];

/** The full model's graph from the branch's layers artifacts. */
export function fullToOnnxGraph(branch: LayersArtifacts, streams: Streams, distance: DistanceName): OnnxGraph {
  if (!(streams in STREAM_NAMES)) throw new OnnxExportError(`a full model has 2, 3 or 4 streams (got ${String(streams)})`);
  if (!['euclidean', 'squared-euclidean', 'cosine'].includes(distance)) throw new OnnxExportError(`unknown distance ${JSON.stringify(distance)}`);
  const g = branchToOnnxGraph(branch);
  const [imageIn] = g.inputs;
  const [embOut] = g.outputs;
  const dim = embOut.dims[1];
  if (typeof dim !== 'number') throw new OnnxExportError(`the branch's embedding has no fixed length ([${embOut.dims}])`);
  const names = STREAM_NAMES[streams];
  const inputs = fullInputNames(streams);
  // The branch's own names never start with "full/" or "image_" (they are layer names and ":"-suffixed tensors);
  // checked, so that a future branch layer cannot shadow a tensor of ours.
  const taken = new Set(g.nodes.flatMap((n) => [...n.outputs, n.name]).concat(g.initializers.map((t) => t.name)));
  for (const n of [...inputs, ...fullOutputNames(streams)]) if (taken.has(n)) throw new OnnxExportError(`the branch graph already has a tensor named ${n}`);

  const nodes: Node[] = [];
  const inits = [...g.initializers];
  nodes.push({ op: 'Concat', name: 'full/concat', inputs, outputs: [BRANCH_INPUT], attrs: { axis: 0 } });
  nodes.push(...g.nodes);
  const emb = names.map((n) => `full/embedding_${n}`);
  nodes.push({ op: 'Split', name: 'full/split', inputs: [BRANCH_OUTPUT], outputs: emb, attrs: { axis: 0 } });
  const eps = 'full/epsilon';
  inits.push({ name: eps, dims: [], data: Float32Array.of(1e-12) });
  const norms = new Map<number, string>();
  const normOf = (i: number): string => {
    const t = `full/norm_${names[i]}`;
    if (!norms.has(i)) {
      nodes.push({ op: 'ReduceSumSquare', name: `${t}/sum_square`, inputs: [emb[i]], outputs: [`${t}:ss`], attrs: { axes: [1], keepdims: 1 } });
      nodes.push({ op: 'Max', name: `${t}/max_eps`, inputs: [`${t}:ss`, eps], outputs: [`${t}:clamped`] });
      nodes.push({ op: 'Sqrt', name: t, inputs: [`${t}:clamped`], outputs: [t] });
      norms.set(i, t);
    }
    return t;
  };
  if (distance === 'cosine') {
    inits.push({ name: 'full/ones', dims: [dim, 1], data: new Float32Array(dim).fill(1) });
    inits.push({ name: 'full/one', dims: [], data: Float32Array.of(1) });
  }
  for (const [i, j, out] of FULL_OUTPUTS[streams]) {
    const p = `full/${out}`;
    if (distance === 'cosine') {
      nodes.push({ op: 'Mul', name: `${p}/mul`, inputs: [emb[i], emb[j]], outputs: [`${p}:prod`] });
      nodes.push({ op: 'MatMul', name: `${p}/dot`, inputs: [`${p}:prod`, 'full/ones'], outputs: [`${p}:dot`] });
      nodes.push({ op: 'Mul', name: `${p}/norms`, inputs: [normOf(i), normOf(j)], outputs: [`${p}:norms`] });
      nodes.push({ op: 'Div', name: `${p}/cos`, inputs: [`${p}:dot`, `${p}:norms`], outputs: [`${p}:cos`] });
      nodes.push({ op: 'Sub', name: p, inputs: ['full/one', `${p}:cos`], outputs: [out] });
      continue;
    }
    nodes.push({ op: 'Sub', name: `${p}/sub`, inputs: [emb[i], emb[j]], outputs: [`${p}:diff`] });
    if (distance === 'squared-euclidean') {
      nodes.push({ op: 'ReduceSumSquare', name: p, inputs: [`${p}:diff`], outputs: [out], attrs: { axes: [1], keepdims: 1 } });
      continue;
    }
    nodes.push({ op: 'ReduceSumSquare', name: `${p}/sum_square`, inputs: [`${p}:diff`], outputs: [`${p}:ss`], attrs: { axes: [1], keepdims: 1 } });
    nodes.push({ op: 'Max', name: `${p}/max_eps`, inputs: [`${p}:ss`, eps], outputs: [`${p}:clamped`] });
    nodes.push({ op: 'Sqrt', name: p, inputs: [`${p}:clamped`], outputs: [out] });
  }
  const imageDims = imageIn.dims.slice(1);
  return {
    name: `full_${streams}`,
    nodes,
    initializers: inits,
    inputs: inputs.map((name) => ({ name, dims: ['N', ...imageDims] })),
    outputs: fullOutputNames(streams).map((name) => ({ name, dims: ['N', 1] })),
  };
}

/** The ONNX bytes of the full model. `metadata` (e.g. the preprocessing JSON) goes into metadata_props. */
export function fullToOnnx(branch: LayersArtifacts, streams: Streams, distance: DistanceName, opts: { metadata?: Record<string, string>; producerVersion?: string } = {}): Uint8Array {
  const ins = fullInputNames(streams).join(', ');
  const outs = fullOutputNames(streams).join(', ');
  return encodeModel(fullToOnnxGraph(branch, streams, distance), {
    ...opts,
    docString: `Embedding Lab full model (${distance}): ${ins} [N, H, W, C] float32 (normalised NHWC pixels) → ${outs} [N, 1].`,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The full graph on ONNX Runtime.

export interface FullOrtSession {
  readonly version: string;
  readonly threads: number;
  /** One NHWC float32 batch [n, h, w, c] per stream → one Float32Array of n distances per output. */
  run(streams: readonly Float32Array[], n: number): Promise<Float32Array[]>;
  release(): Promise<void>;
}

/** An ORT session for a full graph of `streams` inputs (named as fullInputNames) on images of [h, w, c]. */
export async function createFullOrtSession(bytes: Uint8Array, streams: Streams, imageShape: [number, number, number], opts: { threads?: number } = {}): Promise<FullOrtSession> {
  const load = loadOrt();
  if (!load.ok) throw new Error(load.reason);
  const threads = Math.max(1, Math.floor(opts.threads ?? DEFAULT_ORT_THREADS));
  const session = await load.ort.InferenceSession.create(bytes, sessionOptions(threads));
  const inputs = fullInputNames(streams);
  const outputs = fullOutputNames(streams);
  if (inputs.some((n) => !session.inputNames.includes(n)) || outputs.some((n) => !session.outputNames.includes(n))) {
    await session.release();
    throw new OnnxExportError(`the ONNX graph has inputs [${session.inputNames}] and outputs [${session.outputNames}]; a ${streams}-stream full model has [${inputs}] → [${outputs}]`);
  }
  const { Tensor } = load.ort;
  const per = imageShape[0] * imageShape[1] * imageShape[2];
  return {
    version: load.version,
    threads,
    async run(data, n) {
      if (data.length !== streams) throw new Error(`run: ${data.length} streams given, the model takes ${streams}`);
      if (n === 0) return outputs.map(() => new Float32Array(0));
      const feeds: Record<string, OrtTensor> = {};
      data.forEach((d, s) => {
        if (d.length < n * per) throw new Error(`run: ${d.length} values for ${n} images of ${per} (stream ${s})`);
        feeds[inputs[s]] = new Tensor('float32', d.subarray(0, n * per), [n, ...imageShape]);
      });
      const out = await session.run(feeds);
      return outputs.map((name) => {
        const y = out[name];
        if (y.dims.length !== 2 || y.dims[0] !== n || y.dims[1] !== 1) throw new Error(`the ONNX graph returned ${name} [${y.dims}], expected [${n}, 1]`);
        return Float32Array.from(y.data as Float32Array);
      });
    },
    release: () => session.release(),
  };
}
