// The ONNX Runtime embedding engine: onnxruntime-node (CPU execution provider) running the branch's ONNX graph
// (src/engine/onnx.ts). This module never imports tfjs, and imports onnxruntime-node lazily (it is an optional
// dependency: when it is missing or its native library does not load, `auto` falls back to tfjs and `--engine onnx`
// fails with the reason).
//
// Test hook: EMBEDLAB_TEST_ORT_MODULE replaces the module name that is required (point it at a path that does not
// exist to run as if onnxruntime-node were not installed).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { branchToOnnx, BRANCH_INPUT, BRANCH_OUTPUT, OnnxExportError, type LayersArtifacts } from './onnx';

export const ORT_PACKAGE = 'onnxruntime-node';
export const ONNX_FILE = 'model.onnx';

// The part of onnxruntime-node's API we use (structural, so that type-checking does not need the package).
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
/** ORT's description of a graph input or output (onnxruntime-common's InferenceSession.ValueMetadata). */
export type OrtValueMetadata =
  | { readonly name: string; readonly isTensor: false }
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: ReadonlyArray<number | string> };
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Present in onnxruntime-node ≥ 1.21. */
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array | string, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

export type OrtLoad =
  | { ok: true; ort: OrtModule; version: string; file: string }
  | { ok: false; installed: boolean; reason: string; fix: string };

let cached: OrtLoad | undefined;

const FIX = `install it with \`ONNXRUNTIME_NODE_INSTALL=skip npm install ${ORT_PACKAGE}\` (the project's .npmrc sets that switch for \`npm ci\`), or use --engine tfjs`;

/** Loads onnxruntime-node once (node's resolution, then the folders of EMBEDLAB_BACKEND_PATHS). Never throws. */
export function loadOrt(): OrtLoad {
  if (cached) return cached;
  const pkg = process.env.EMBEDLAB_TEST_ORT_MODULE || ORT_PACKAGE;
  const paths = (process.env.EMBEDLAB_BACKEND_PATHS ?? '').split(path.delimiter).filter(Boolean);
  for (const where of [undefined, ...paths]) {
    let file: string;
    try {
      file = where === undefined ? require.resolve(pkg) : require.resolve(pkg, { paths: [where] });
    } catch {
      continue;
    }
    try {
      const ort = require(file) as OrtModule;
      let version = 'unknown version';
      try {
        version = (JSON.parse(fs.readFileSync(path.join(path.dirname(file), '..', 'package.json'), 'utf8')) as { version: string }).version;
      } catch { /* keep "unknown" */ }
      cached = { ok: true, ort, version, file };
    } catch (err) {
      cached = {
        ok: false, installed: true, fix: FIX,
        reason: `${pkg} is installed (${file}) but failed to load: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`,
      };
    }
    return cached;
  }
  cached = { ok: false, installed: false, fix: FIX, reason: `${pkg} is not installed (looked in node's module path${paths.length ? ` and in ${paths.join(', ')}` : ''})` };
  return cached;
}

/** For tests: forget the cached load (so that a changed EMBEDLAB_TEST_ORT_MODULE takes effect). */
export function resetOrtForTests(): void {
  cached = undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading an export folder without tfjs.

/** Reads model.json + its weight files as the converter's input (fs only). */
export function readLayersArtifacts(dir: string): LayersArtifacts {
  const jsonPath = path.join(dir, 'model.json');
  if (!fs.existsSync(jsonPath)) throw new OnnxExportError(`no model.json in ${dir}`);
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as {
    modelTopology: unknown; weightsManifest?: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype?: string }> }>;
  };
  const specs: LayersArtifacts['weightSpecs'] = [];
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.join(dir, p);
      if (!fs.existsSync(file)) throw new OnnxExportError(`model folder is missing its weights file ${p}: ${dir}`);
      parts.push(fs.readFileSync(file));
    }
  }
  const buf = Buffer.concat(parts);
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (buf.length !== expected) throw new OnnxExportError(`weights in ${dir} have ${buf.length} bytes, the manifest needs ${expected}: the file is truncated or belongs to another model`);
  return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer };
}

/**
 * The ONNX graph of an export folder: its model.onnx when the preprocessing names one, else converted in memory
 * from model.json + weights.bin (exports made before ONNX existed). `source` says which.
 */
export function onnxBytesOf(dir: string, pre: { onnx?: string }): { bytes: Uint8Array; source: 'file' | 'converted' } {
  if (pre.onnx) {
    const file = path.join(dir, pre.onnx);
    if (!fs.existsSync(file)) throw new OnnxExportError(`${dir}: preprocessing.json names ${pre.onnx}, which is missing`);
    return { bytes: fs.readFileSync(file), source: 'file' };
  }
  return { bytes: branchToOnnx(readLayersArtifacts(dir)), source: 'converted' };
}

// ---------------------------------------------------------------------------------------------------------------
// The session.

export interface OrtOptions {
  /** Intra-op threads (default 1: on a small machine sharp's decoding needs the other cores). */
  threads?: number;
}

export const DEFAULT_ORT_THREADS = 1;

/** Session options: CPU EP, all graph optimisations, sequential execution, no spinning of idle pool threads. */
export function sessionOptions(threads: number): Record<string, unknown> {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // Idle intra-op threads would otherwise busy-wait between runs, taking CPU from sharp's decoders.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export interface OrtSessionHandle {
  readonly version: string;
  readonly threads: number;
  /** Runs NHWC float32 pixels [n, h, w, c] → embeddings [n, dim]. */
  run(data: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * Creates an ORT session for a branch graph. `imageShape` is [h, w, c]; `dim` the embedding length (checked
 * against the output). Throws when onnxruntime-node is unavailable (use loadOrt first for the reason).
 */
export async function createOrtSession(bytes: Uint8Array, imageShape: [number, number, number], dim: number, opts: OrtOptions = {}): Promise<OrtSessionHandle> {
  const load = loadOrt();
  if (!load.ok) throw new Error(load.reason);
  const threads = Math.max(1, Math.floor(opts.threads ?? DEFAULT_ORT_THREADS));
  const session = await load.ort.InferenceSession.create(bytes, sessionOptions(threads));
  if (!session.inputNames.includes(BRANCH_INPUT) || !session.outputNames.includes(BRANCH_OUTPUT)) {
    await session.release();
    throw new OnnxExportError(`the ONNX graph has inputs [${session.inputNames}] and outputs [${session.outputNames}]; expected ${BRANCH_INPUT} → ${BRANCH_OUTPUT}`);
  }
  const { Tensor } = load.ort;
  const per = imageShape[0] * imageShape[1] * imageShape[2];
  return {
    version: load.version,
    threads,
    async run(data: Float32Array, n: number): Promise<Float32Array> {
      if (n === 0) return new Float32Array(0);
      if (data.length < n * per) throw new Error(`run: ${data.length} values for ${n} images of ${per}`);
      // onnxruntime-node runs synchronously on this thread (inside a setImmediate); sharp keeps decoding on libuv's.
      const out = await session.run({ [BRANCH_INPUT]: new Tensor('float32', data.subarray(0, n * per), [n, ...imageShape]) });
      const y = out[BRANCH_OUTPUT];
      if (y.dims.length !== 2 || y.dims[0] !== n || y.dims[1] !== dim) throw new Error(`the ONNX graph returned [${y.dims}], expected [${n}, ${dim}]`);
      return y.data as Float32Array;
    },
    release: () => session.release(),
  };
}
