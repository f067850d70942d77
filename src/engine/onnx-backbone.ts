// An .onnx image model (a torchvision/timm export, a DINOv2 or CLIP vision tower) as a FROZEN feature extractor run
// by ONNX Runtime (issue 15; docs/onnx.md, "ONNX backbones"). Everything it needs is read from the graph:
//   - the one image input: rank 4, float32; its layout NCHW or NHWC from where the channel axis (1 or 3) is; its
//     size from the graph when fixed (a size given as well must agree), else from the options (dynamic H/W);
//   - the feature output: the one named by `output` (model.pretrainedOutput), else the graph's only output, else its
//     only pooled one ([N, D], or [N, D, 1, 1]); a token sequence [N, T, D] is not pooled here: name a pooled output.
// Refused, each naming the file: more than one input, an integer or non-float32 input, a dynamic size without a
// configured one, a layout that cannot be told, no pooled output. The pixels come from our image pipeline (NHWC
// float32, normalised as `normalize` says: the graph does not record it) and are transposed for an NCHW graph.
// No tfjs here: onnxruntime-node only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FitMode, NormalizeMode } from '../core/config-types';
import { LabError } from '../core/errors';
import type { Embedder } from './embed';
import type { Preprocessing } from './export';
import { preprocessingFlags } from './pretrained/flags';
import { DEFAULT_ORT_THREADS, loadOrt, sessionOptions, type OrtSession, type OrtValueMetadata } from './onnx-runtime';

/** A model that cannot serve as a backbone (bad data: exit 2). */
export class OnnxBackboneError extends LabError {
  constructor(message: string) { super('bad-data', message); }
}

export interface OnnxBackboneOptions {
  /** [height, width]: required when the graph's size is dynamic; must equal a fixed one. */
  size?: [number, number];
  /** The graph output to use (model.pretrainedOutput). */
  output?: string;
  /** How the pixels are normalised before the graph (default imagenet: torchvision's and timm's usual inputs). */
  normalize?: NormalizeMode;
  fit?: FitMode;
  labelLevel?: number;
  /** ONNX Runtime intra-op threads (default 1). */
  threads?: number;
}

export interface OnnxBackbone {
  file: string;
  input: string;
  output: string;
  layout: 'NCHW' | 'NHWC';
  imageSize: [number, number];
  channels: 1 | 3;
  /** Feature length. */
  dim: number;
  /** The preprocessing the features need (embedFolder's `pre`). */
  pre: Preprocessing;
  /** NHWC normalised pixels [n, h, w, c] → features [n, dim]. */
  embedder: Embedder;
}

type TensorMeta = Extract<OrtValueMetadata, { isTensor: true }>;
const shapeText = (m: TensorMeta) => `[${m.shape.map((d) => (typeof d === 'number' ? String(d) : d)).join(', ')}]`;
const isChannels = (d: number | string | undefined): d is 1 | 3 => d === 1 || d === 3;

/** Opens `file` on ONNX Runtime as a frozen feature extractor (see the header). */
export async function loadOnnxBackbone(file: string, opts: OnnxBackboneOptions = {}): Promise<OnnxBackbone> {
  const where = path.resolve(file);
  if (!fs.existsSync(where) || !fs.statSync(where).isFile()) throw new OnnxBackboneError(`ONNX model not found: ${file}`);
  const load = loadOrt();
  if (!load.ok) throw new LabError('backend', `${file}: ONNX backbones run on ONNX Runtime, and ${load.reason}; ${load.fix.replace(/, or use --engine tfjs$/, '')}`);
  const threads = Math.max(1, Math.floor(opts.threads ?? DEFAULT_ORT_THREADS));
  let session: OrtSession;
  try {
    // By path: a large export's external data (model.onnx.data beside it) resolves relative to the file.
    session = await load.ort.InferenceSession.create(where, sessionOptions(threads));
  } catch (err) {
    throw new OnnxBackboneError(`${file}: ONNX Runtime cannot load it: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  try {
    return await describe(session, file, where, opts, load.version, threads, load.ort.Tensor);
  } catch (err) {
    await session.release();
    throw err;
  }
}

async function describe(session: OrtSession, file: string, where: string, opts: OnnxBackboneOptions, version: string, threads: number,
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => { readonly data: unknown; readonly dims: readonly number[] }): Promise<OnnxBackbone> {
  const inputs = session.inputMetadata;
  const outputs = session.outputMetadata;
  if (!inputs || !outputs) throw new OnnxBackboneError(`${file}: this onnxruntime-node does not describe graph inputs (needs 1.21 or newer)`);
  const tensors = inputs.filter((m): m is TensorMeta => m.isTensor);
  const images = tensors.filter((m) => m.shape.length === 4);
  if (images.length > 1) throw new OnnxBackboneError(`${file}: the model has ${images.length} image inputs (${images.map((m) => `${m.name} ${shapeText(m)}`).join(', ')}); a backbone takes one image`);
  if (inputs.length !== 1 || images.length !== 1) {
    throw new OnnxBackboneError(`${file}: a backbone takes one image input [N, C, H, W] or [N, H, W, C]; the model has ${inputs.map((m) => (m.isTensor ? `${m.name} ${shapeText(m)}` : `${m.name} (not a tensor)`)).join(', ')}`);
  }
  const input = images[0];
  if (input.type !== 'float32') {
    throw new OnnxBackboneError(`${file}: input ${input.name} is ${input.type}${/int/.test(input.type) ? ' (integer pixels)' : ''}; only float32 inputs are supported (export the model with a float32 input and the normalisation outside it)`);
  }
  const [, a, b, c] = input.shape;
  const layout: 'NCHW' | 'NHWC' | undefined = isChannels(a) && !isChannels(c) ? 'NCHW' : isChannels(c) && !isChannels(a) ? 'NHWC' : isChannels(a) ? 'NCHW' : undefined;
  if (!layout) throw new OnnxBackboneError(`${file}: cannot tell the layout of input ${input.name} ${shapeText(input)}: neither axis 1 (NCHW) nor axis 3 (NHWC) has 1 or 3 channels`);
  const channels = (layout === 'NCHW' ? a : c) as 1 | 3;
  const [gh, gw] = layout === 'NCHW' ? [b, c] : [a, b];
  const fixed = typeof gh === 'number' && typeof gw === 'number' ? [gh, gw] as [number, number] : undefined;
  if (opts.size && [gh, gw].some((d, i) => typeof d === 'number' && d !== opts.size![i])) {
    throw new OnnxBackboneError(`${file}: the graph's input ${input.name} is ${shapeText(input)} (${layout}), the configured size is ${opts.size[0]}×${opts.size[1]} (H×W)`);
  }
  const imageSize = fixed ?? opts.size;
  if (!imageSize) throw new OnnxBackboneError(`${file}: input ${input.name} ${shapeText(input)} has a dynamic size; give the image size (--size H[,W], or data.imageSize)`);

  // The feature output.
  const outs = outputs.filter((m): m is TensorMeta => m.isTensor);
  const pooled = (m: TensorMeta) => m.shape.length === 2 || (m.shape.length === 4 && m.shape[2] === 1 && m.shape[3] === 1);
  let output: TensorMeta | undefined;
  if (opts.output !== undefined) {
    output = outs.find((m) => m.name === opts.output);
    if (!output) throw new OnnxBackboneError(`${file}: no output named ${opts.output} (model.pretrainedOutput); the outputs are ${outs.map((m) => `${m.name} ${shapeText(m)}`).join(', ')}`);
    if (!pooled(output)) throw new OnnxBackboneError(`${file}: output ${output.name} ${shapeText(output)} is not a pooled feature vector [N, D]; name a pooled output`);
  } else {
    const candidates = outs.filter(pooled);
    if (candidates.length !== 1) {
      throw new OnnxBackboneError(`${file}: ${candidates.length === 0 ? 'no pooled feature output [N, D]' : `${candidates.length} pooled outputs`} among ${outs.map((m) => `${m.name} ${shapeText(m)}`).join(', ')}; name the one to use with model.pretrainedOutput`);
    }
    output = candidates[0];
  }
  const outName = output.name;

  const [h, w] = imageSize;
  const per = h * w * channels;
  const dims = (n: number) => (layout === 'NCHW' ? [n, channels, h, w] : [n, h, w, channels]);
  const toLayout = (data: Float32Array, n: number): Float32Array => {
    if (layout === 'NHWC') return data.subarray(0, n * per);
    const outBuf = new Float32Array(n * per);
    const plane = h * w;
    for (let i = 0; i < n; i++) {
      const src = i * per;
      for (let p = 0; p < plane; p++) for (let k = 0; k < channels; k++) outBuf[src + k * plane + p] = data[src + p * channels + k];
    }
    return outBuf;
  };
  let dim = typeof output.shape[1] === 'number' ? output.shape[1] : 0;
  const runBatch = async (data: Float32Array, n: number): Promise<Float32Array> => {
    const res = await session.run({ [input.name]: new Tensor('float32', toLayout(data, n), dims(n)) });
    const y = res[outName];
    const d = y.dims.slice(1).reduce((p, q) => p * q, 1);
    if (y.dims[0] !== n || (dim && d !== dim)) throw new OnnxBackboneError(`${file}: output ${outName} came back [${y.dims}], expected [${n}, ${dim || 'D'}]`);
    return y.data as Float32Array;
  };
  // A graph exported with a fixed batch (no dynamic axes: torch.onnx.export's default) runs in chunks of that size,
  // the last one padded with zeros.
  const fixedBatch = typeof input.shape[0] === 'number' && input.shape[0] > 0 ? input.shape[0] : undefined;
  const run = async (data: Float32Array, n: number): Promise<Float32Array> => {
    if (n === 0) return new Float32Array(0);
    if (data.length < n * per) throw new Error(`run: ${data.length} values for ${n} images of ${per}`);
    if (fixedBatch === undefined || fixedBatch === n) return runBatch(data, n);
    const parts: Float32Array[] = [];
    for (let i = 0; i < n; i += fixedBatch) {
      const m = Math.min(fixedBatch, n - i);
      const chunk = new Float32Array(fixedBatch * per);
      chunk.set(data.subarray(i * per, (i + m) * per));
      const r = await runBatch(chunk, fixedBatch);
      parts.push(r.slice(0, m * (r.length / fixedBatch)));
    }
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) { out.set(p, off); off += p.length; }
    return out;
  };
  // One image of zeros: checks that the graph runs at this size, and measures a symbolic feature length.
  try {
    const probe = await run(new Float32Array(per), 1);
    dim = probe.length;
  } catch (err) {
    if (err instanceof OnnxBackboneError) throw err;
    throw new OnnxBackboneError(`${file}: the graph does not run on a ${h}×${w}×${channels} image: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }

  const base = path.basename(where);
  const pre: Preprocessing = {
    format: 'embedding-lab/preprocessing', version: 1, modelType: 'branch',
    imageSize: [h, w], channels, fit: opts.fit ?? 'cover', normalize: opts.normalize ?? 'imagenet',
    embeddingDim: dim, l2Normalized: false, distance: 'cosine', labelLevel: opts.labelLevel ?? -2,
    inputs: [input.name], outputs: [outName], io: { onnx: { inputs: [input.name], outputs: [outName] } },
    backbone: `onnx:${base}`, onnx: base, sourceRun: null, checkpoint: where, createdAt: new Date().toISOString(),
  };
  const embedder: Embedder = {
    engine: 'onnx', name: 'onnxruntime',
    detail: `onnxruntime-node ${version}, CPU, ${threads} intra-op thread${threads === 1 ? '' : 's'}, ${base} (${layout}, output ${outName})`,
    embed: run,
    dispose: () => session.release(),
  };
  return { file: where, input: input.name, output: outName, layout, imageSize: [h, w], channels, dim, pre, embedder };
}

/**
 * The CLI's `--model <file.onnx>` (embed, knn): the backbone with its preprocessing from the flags — `--size H[,W]`
 * (needed when the graph's size is dynamic), `--normalize imagenet|zero-one|minus-one-one` (default imagenet) or
 * `--mean`/`--std`,
 * `--pretrained-output <name>`. Bad flags are usage errors (exit 2).
 */
export async function openOnnxBackbone(file: string, flags: { size?: string; normalize?: string; mean?: string; std?: string; output?: string; threads?: number; engine?: string }): Promise<{ embedder: Embedder; pre: Preprocessing; dir: string; fallbackReason?: string; backbone: OnnxBackbone }> {
  if (flags.engine === 'tfjs') throw new LabError('bad-usage', `--engine tfjs cannot run ${file}: an ONNX model runs on ONNX Runtime (--engine onnx or auto)`);
  const { size, normalize } = preprocessingFlags(flags);
  const backbone = await loadOnnxBackbone(file, { size, normalize, output: flags.output, threads: flags.threads });
  return { embedder: backbone.embedder, pre: backbone.pre, dir: backbone.file, backbone };
}

/**
 * The backbone a table was embedded with (`knn --query <image>` on a table whose metadata names an .onnx model): the
 * size, normalisation, fit and output recorded in the table's preprocessing, so the query gets the same features.
 */
export async function openOnnxBackboneAs(file: string, recorded: unknown, opts: { threads?: number; engine?: string } = {}): ReturnType<typeof openOnnxBackbone> {
  if (opts.engine === 'tfjs') throw new LabError('bad-usage', `--engine tfjs cannot run ${file}: an ONNX model runs on ONNX Runtime (--engine onnx or auto)`);
  const pre = (recorded ?? {}) as Partial<Preprocessing>;
  const backbone = await loadOnnxBackbone(file, {
    size: pre.imageSize, normalize: pre.normalize, fit: pre.fit, output: pre.outputs?.[0], labelLevel: pre.labelLevel, threads: opts.threads,
  });
  return { embedder: backbone.embedder, pre: backbone.pre, dir: backbone.file, backbone };
}
