// Scoring tuples with the full model (issue 16, item 3): each row's 2, 3 or 4 images in → the model's distances
// out. The full model runs on ONNX Runtime when its export folder has model.onnx (`export --type full --format
// onnx|both`, src/engine/onnx-full.ts) and onnxruntime-node loads, else on TensorFlow.js (`--engine` as embed's).
// An image that cannot be decoded leaves its row out (listed with the row's line); the other rows are scored.
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { TupleRow } from '../core/tuples';
import { EngineError, specOf, type EngineChoice, type OpenEmbedderOptions } from './embed';
import type { Preprocessing } from './export';
import { decodeImage, normalizeInto } from './images';
import { createFullOrtSession, fullOutputNames, type Streams } from './onnx-full';
import { DEFAULT_ORT_THREADS, loadOrt } from './onnx-runtime';
import { tf } from './tf';

/** The full model as a function: one normalised NHWC batch per stream → one array of n distances per output. */
export interface FullScorer {
  readonly engine: 'onnx' | 'tfjs';
  /** 'onnxruntime' or 'tfjs-<backend>'. */
  readonly name: string;
  readonly detail: string;
  readonly streams: Streams;
  /** The output names, in the model's order (d_anchor_positive, …). */
  readonly outputs: string[];
  score(streams: readonly Float32Array[], n: number): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface OpenedScorer { scorer: FullScorer; pre: Preprocessing; dir: string; fallbackReason?: string }

/** A TensorFlow.js full model as a FullScorer (owns the model). */
export function tfjsFullScorer(model: LayersModel, pre: Preprocessing): FullScorer {
  const spec = specOf(pre);
  const backend = tf.getBackend();
  const streams = model.inputs.length as Streams;
  return {
    engine: 'tfjs', name: `tfjs-${backend}`, detail: `TensorFlow.js ${tf.version_core} on ${backend}`, streams, outputs: [...model.outputNames],
    async score(data, n) {
      if (n === 0) return model.outputNames.map(() => new Float32Array(0));
      const ys = tf.tidy(() => {
        const xs = data.map((d) => tf.tensor4d(d.subarray(0, n * spec.height * spec.width * spec.channels), [n, spec.height, spec.width, spec.channels]));
        const y = model.predict(xs, { batchSize: n });
        return Array.isArray(y) ? y : [y as Tensor];
      });
      try {
        return await Promise.all(ys.map(async (y) => Float32Array.from(await y.data() as Float32Array)));
      } finally {
        for (const y of ys) y.dispose();
      }
    },
    dispose: async () => { model.dispose(); },
  };
}

/**
 * Opens the full model of a run folder (its model/full, exported first when missing) or of a full export folder.
 * `auto`: ONNX Runtime when the folder has model.onnx and onnxruntime-node loads, else TensorFlow.js (with the
 * reason); `onnx` / `tfjs` never fall back.
 */
export async function openFullScorer(runOrModelDir: string, opts: OpenEmbedderOptions = {}): Promise<OpenedScorer> {
  const choice: EngineChoice = opts.engine ?? 'auto';
  const { locateExport, loadExportedModel, preprocessingFor } = await import('./export');
  const { initBackend } = await import('./backend');
  let started = false;
  const startTfjs = async () => {
    if (!started) await initBackend((opts.backend ?? 'auto') as Parameters<typeof initBackend>[0]);
    started = true;
  };
  const loc = await locateExport(runOrModelDir, 'full', { beforeExport: startTfjs });
  if (loc.pre.modelType !== 'full') {
    throw new EngineError(`${loc.dir} holds a ${loc.pre.modelType} model; scoring tuples needs the full model (a run folder, its model/full, or \`embedlab export <run> --type full\`)`);
  }
  const streams = loc.pre.inputs.length as Streams;
  let fallbackReason: string | undefined;
  if (choice !== 'tfjs') {
    const ort = loadOrt();
    let why: string | undefined;
    if (!loc.hasOnnx) why = `${loc.dir} has no model.onnx (export it with \`embedlab export <run> --type full --format both\`)`;
    else if (!ort.ok) why = `${ort.reason}; ${ort.fix}`;
    else {
      try {
        const { onnxBytesOf } = await import('./onnx-runtime');
        const { bytes } = onnxBytesOf(loc.dir, loc.pre);
        const pre = preprocessingFor(loc.pre, 'onnx');
        const s = await createFullOrtSession(bytes, streams, [pre.imageSize[0], pre.imageSize[1], pre.channels], { threads: opts.threads ?? DEFAULT_ORT_THREADS });
        const scorer: FullScorer = {
          engine: 'onnx', name: 'onnxruntime', streams, outputs: fullOutputNames(streams),
          detail: `onnxruntime-node ${s.version}, CPU, ${s.threads} intra-op thread${s.threads === 1 ? '' : 's'}, ${pre.onnx}`,
          score: (data, n) => s.run(data, n),
          dispose: () => s.release(),
        };
        return { scorer, pre, dir: loc.dir };
      } catch (err) {
        why = `the ONNX graph of ${loc.dir} does not run: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (choice === 'onnx') throw new EngineError(`--engine onnx cannot run: ${why}`);
    fallbackReason = why;
  }
  if (!loc.hasTfjs) throw new EngineError(`${loc.dir} holds only the ONNX model (${loc.pre.onnx})${fallbackReason ? ` and ONNX Runtime cannot run it: ${fallbackReason}` : '; score it with --engine onnx or auto'}`);
  await startTfjs();
  const loaded = await loadExportedModel(loc.dir, 'full');
  return { scorer: tfjsFullScorer(loaded.model, loaded.pre), pre: preprocessingFor(loaded.pre, 'tfjs'), dir: loaded.dir, fallbackReason };
}

export interface TupleFailure { line: number; stream: number; path: string; reason: string }

export interface ScoredTuples {
  /** One array per output: rows.length distances (NaN where the row was skipped). */
  distances: Float32Array[];
  /** 1 = the row was scored. */
  ok: Uint8Array;
  failures: TupleFailure[];
}

/**
 * Scores the rows in batches of `batch`: the batch's distinct images are decoded once (at most `concurrency` at
 * a time), a row with an undecodable image is left out, the others go through the model together.
 */
export async function scoreTuples(opened: OpenedScorer, rows: readonly TupleRow[], opts: { batch?: number; concurrency?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<ScoredTuples> {
  const { scorer, pre } = opened;
  const spec = specOf(pre);
  const per = spec.height * spec.width * spec.channels;
  const S = scorer.streams;
  const B = Math.max(1, Math.floor(opts.batch ?? 64));
  const conc = Math.max(1, Math.floor(opts.concurrency ?? 8));
  const distances = scorer.outputs.map(() => new Float32Array(rows.length).fill(NaN));
  const ok = new Uint8Array(rows.length);
  const failures: TupleFailure[] = [];
  const buffers = Array.from({ length: S }, () => new Float32Array(B * per));
  for (let b0 = 0; b0 < rows.length; b0 += B) {
    const batch = rows.slice(b0, b0 + B);
    const files = [...new Set(batch.flatMap((r) => r.files))];
    const pixels = new Map<string, Uint8Array | { reason: string }>();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(conc, files.length) }, async () => {
      for (let i = next++; i < files.length; i = next++) {
        try {
          pixels.set(files[i], await decodeImage(files[i], spec));
        } catch (err) {
          pixels.set(files[i], { reason: (err as { reason?: string }).reason ?? (err instanceof Error ? err.message : String(err)) });
        }
      }
    }));
    const kept: number[] = [];
    batch.forEach((r, t) => {
      const bad = r.files.findIndex((f) => !(pixels.get(f) instanceof Uint8Array));
      if (bad >= 0) {
        failures.push({ line: r.line, stream: bad, path: r.given[bad], reason: (pixels.get(r.files[bad]) as { reason: string }).reason });
        return;
      }
      r.files.forEach((f, s) => normalizeInto(buffers[s], kept.length * per, pixels.get(f) as Uint8Array, spec));
      kept.push(t);
    });
    if (kept.length) {
      const out = await scorer.score(buffers, kept.length);
      out.forEach((d, o) => kept.forEach((t, k) => { distances[o][b0 + t] = d[k]; }));
      for (const t of kept) ok[b0 + t] = 1;
    }
    opts.onProgress?.(Math.min(b0 + B, rows.length), rows.length);
  }
  return { distances, ok, failures };
}
