// Scoring: stream a folder of images through an exported branch into an embedding table.
// Memory stays bounded whatever the folder's size: only the file list, the batch being decoded and the batch being
// embedded are held; rows are appended to a streaming table writer (written atomically). Decoding of batch k+1
// (sharp, on libuv threads) overlaps the embedding of batch k (on this thread).
//
// The network runs in an Embedder: ONNX Runtime (onnxruntime-node, src/engine/onnx-runtime.ts) or a TensorFlow.js
// LayersModel. openEmbedder picks one: `auto` takes ONNX Runtime when it loads (the graph comes from the folder's
// model.onnx or is converted in memory from model.json), else tfjs; `onnx` / `tfjs` never fall back (exit code 2).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import sharp from 'sharp';
import { labelOf, walkImages } from '../core/dataset';
import { BadDataError } from '../core/errors';
import { openTableWriter, writeSkippedList } from '../core/table';
import type { Preprocessing } from './export';
import { decodeImage, normalizeInto, type ImageSpec } from './images';
import { createOrtSession, DEFAULT_ORT_THREADS, loadOrt, onnxBytesOf } from './onnx-runtime';
import { tf } from './tf';
import { LabError } from '../core/errors';

export interface FolderImage {
  path: string; // absolute
  rel: string; // relative to the folder, '/' separators
  label: string; // '' when the folder is not class-structured
}

/**
 * Lists the images under `folder` with labels from labelLevel: the walker training uses (core/dataset.ts
 * walkImages: sorted, recursive, hidden entries skipped, links inside the folder followed, links outside it
 * reported in `outsideLinks`).
 */
export async function listImages(folder: string, labelLevel: number): Promise<{ images: FolderImage[]; ignored: number; outsideLinks: string[] }> {
  if (!fs.existsSync(folder)) throw new BadDataError(`folder does not exist: ${folder}`);
  if (!fs.statSync(folder).isDirectory()) throw new BadDataError(`not a folder: ${folder}`);
  const { files, ignored, outsideLinks } = await walkImages(folder);
  const images = files.map((rel): FolderImage => {
    const parts = rel.split('/');
    return { path: path.join(folder, ...parts), rel, label: parts.length > 1 ? labelOf(parts, labelLevel) ?? '' : '' };
  });
  return { images, ignored, outsideLinks };
}

export function specOf(pre: Preprocessing): ImageSpec {
  return { height: pre.imageSize[0], width: pre.imageSize[1], channels: pre.channels, fit: pre.fit, normalize: pre.normalize };
}

/**
 * Decodes `items` (at most `concurrency` in flight) and normalises each image straight into its slot of a new
 * batch buffer; failures are returned, not thrown, and their slots squeezed out.
 */
async function decodeBatch(items: FolderImage[], spec: ImageSpec, concurrency: number) {
  const per = spec.height * spec.width * spec.channels;
  const data = new Float32Array(items.length * per);
  const ok = new Uint8Array(items.length);
  const reasons: Array<string | undefined> = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        normalizeInto(data, i * per, await decodeImage(items[i].path, spec), spec);
        ok[i] = 1;
      } catch (err) {
        reasons[i] = reasonOf(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const rows: FolderImage[] = [];
  const failures: Array<{ path: string; reason: string }> = [];
  items.forEach((item, i) => {
    if (ok[i]) {
      if (rows.length !== i) data.copyWithin(rows.length * per, i * per, (i + 1) * per);
      rows.push(item);
    } else failures.push({ path: item.rel, reason: reasons[i] ?? 'unknown error' });
  });
  return { rows, data: data.subarray(0, rows.length * per), failures };
}

function reasonOf(err: unknown): string {
  return (err as { reason?: string } | null)?.reason ?? (err instanceof Error ? err.message : String(err));
}

/** Runs the branch on a normalized NHWC batch; the read is async (required by the webgpu backend). */
export async function embedPixels(model: LayersModel, data: Float32Array, n: number, spec: ImageSpec): Promise<Float32Array> {
  if (n === 0) return new Float32Array(0);
  // batchSize n: predict's default (32) would split a larger batch and concatenate the parts.
  const y = tf.tidy(() => model.predict(tf.tensor4d(data, [n, spec.height, spec.width, spec.channels]), { batchSize: n }) as Tensor);
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Embedders.

export type EngineChoice = 'auto' | 'onnx' | 'tfjs';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'onnx', 'tfjs'];

/** Runs the branch on normalised NHWC float32 batches. */
export interface Embedder {
  readonly engine: 'onnx' | 'tfjs';
  /** 'onnxruntime', or 'tfjs-<backend>' (tfjs-wasm, tfjs-tensorflow, …). */
  readonly name: string;
  /** A line for logs and the table's metadata (version, threads, backend). */
  readonly detail: string;
  /** data holds n images of the preprocessing's [h, w, c]; returns n × dim values. */
  embed(data: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** A TensorFlow.js branch as an Embedder (the caller keeps ownership of the model unless `owns`). */
export function tfjsEmbedder(model: LayersModel, pre: Preprocessing, owns = false): Embedder {
  const spec = specOf(pre);
  const backend = tf.getBackend();
  return {
    engine: 'tfjs', name: `tfjs-${backend}`, detail: `TensorFlow.js ${tf.version_core} on ${backend}`,
    embed: (data, n) => embedPixels(model, data, n, spec),
    dispose: async () => { if (owns) model.dispose(); },
  };
}

/** The ONNX branch graph on onnxruntime-node as an Embedder. */
export async function onnxEmbedder(bytes: Uint8Array, pre: Preprocessing, opts: { threads?: number; source?: string } = {}): Promise<Embedder> {
  const s = await createOrtSession(bytes, [pre.imageSize[0], pre.imageSize[1], pre.channels], pre.embeddingDim, { threads: opts.threads });
  return {
    engine: 'onnx', name: 'onnxruntime',
    detail: `onnxruntime-node ${s.version}, CPU, ${s.threads} intra-op thread${s.threads === 1 ? '' : 's'}${opts.source ? `, ${opts.source}` : ''}`,
    embed: (data, n) => s.run(data, n),
    dispose: () => s.release(),
  };
}

export interface OpenEmbedderOptions {
  engine?: EngineChoice;
  /** ONNX Runtime intra-op threads (default 1). */
  threads?: number;
  /** The tfjs backend, when tfjs runs (default 'auto'). */
  backend?: string;
}

export interface OpenedEmbedder {
  embedder: Embedder;
  pre: Preprocessing;
  dir: string;
  /** Why `auto` did not take ONNX Runtime (absent when it did, or when the engine was asked for). */
  fallbackReason?: string;
}

/** An engine that was asked for (`--engine onnx`) but cannot run here: exit code 2, with the reason. */
export class EngineError extends LabError {
  constructor(message: string) {
    super('bad-usage', message);
  }
}

/**
 * Opens the branch of a run folder or export folder on the chosen engine (see the header). Only a branch
 * (image → vector) can be opened.
 */
export async function openEmbedder(runOrModelDir: string, opts: OpenEmbedderOptions = {}): Promise<OpenedEmbedder> {
  const choice = opts.engine ?? 'auto';
  if (!ENGINE_CHOICES.includes(choice)) throw new EngineError(`--engine must be one of ${ENGINE_CHOICES.join(', ')} (got ${JSON.stringify(choice)})`);
  const { locateExport, loadExportedModel, preprocessingFor } = await import('./export');
  const { initBackend } = await import('./backend');
  let backendStarted = false;
  const startTfjs = async () => {
    if (!backendStarted) await initBackend((opts.backend ?? 'auto') as Parameters<typeof initBackend>[0]);
    backendStarted = true;
  };
  // A run folder without its model/branch is exported first, which needs tfjs.
  const loc = await locateExport(runOrModelDir, 'branch', { beforeExport: startTfjs });
  if (loc.pre.modelType !== 'branch') throw new EngineError(`${loc.dir} holds a ${loc.pre.modelType} model; embedding needs a branch (export it with --type branch)`);
  let fallbackReason: string | undefined;
  if (choice !== 'tfjs') {
    const ort = loadOrt();
    let why: string | undefined;
    if (!ort.ok) why = `${ort.reason}; ${ort.fix}`;
    else {
      try {
        const { bytes, source } = onnxBytesOf(loc.dir, loc.pre);
        const embedder = await onnxEmbedder(bytes, loc.pre, { threads: opts.threads ?? DEFAULT_ORT_THREADS, source: source === 'file' ? loc.pre.onnx : 'converted from model.json' });
        return { embedder, pre: preprocessingFor(loc.pre, 'onnx'), dir: loc.dir };
      } catch (err) {
        why = `the ONNX graph of ${loc.dir} does not run: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (choice === 'onnx') throw new EngineError(`--engine onnx cannot run: ${why}`);
    fallbackReason = why;
    if (!loc.hasTfjs) throw new EngineError(`${loc.dir} holds only an ONNX model and ONNX Runtime cannot run it: ${why}`);
  }
  if (!loc.hasTfjs) throw new EngineError(`${loc.dir} holds only the ONNX model (${loc.pre.onnx}); embed it with --engine onnx or auto, or export it again with --format tfjs or both`);
  await startTfjs();
  const loaded = await loadExportedModel(loc.dir, 'branch', { foldBatchNorm: true });
  return { embedder: tfjsEmbedder(loaded.model, loaded.pre, true), pre: preprocessingFor(loaded.pre, 'tfjs'), dir: loaded.dir, fallbackReason };
}

/** Embeds individual image files (a query outside any table). Throws on an unreadable image. */
export async function embedFiles(model: LayersModel | Embedder, pre: Preprocessing, files: string[]): Promise<Float32Array> {
  const spec = specOf(pre);
  const items = files.map((f) => ({ path: f, rel: f, label: '' }));
  const { rows, data, failures } = await decodeBatch(items, spec, 4);
  if (failures.length) throw new BadDataError(`cannot read image ${failures[0].path}: ${failures[0].reason}`);
  return isEmbedder(model) ? model.embed(data, rows.length) : embedPixels(model, data, rows.length, spec);
}

function isEmbedder(m: LayersModel | Embedder): m is Embedder {
  return typeof (m as Embedder).embed === 'function' && typeof (m as Embedder).engine === 'string';
}

export interface EmbedFolderOptions {
  /** The network: an Embedder (see openEmbedder), or a tfjs branch. */
  embedder?: Embedder;
  /** A tfjs branch (when no embedder is given). */
  model?: LayersModel;
  pre: Preprocessing;
  modelDir: string;
  folder: string;
  out: string;
  /** Images per predict call (default 64). */
  batchSize?: number;
  /**
   * Most decodes submitted at once (default: no limit beyond the decode-ahead window). Keep it at least one batch:
   * decodes can only be submitted while this thread is free, so a small value starves libuv during predict.
   */
  concurrency?: number;
  /** Batches decoded ahead of the one being embedded (default 2); memory grows by one batch buffer per step. */
  decodeAhead?: number;
  onProgress?: (done: number, total: number) => void;
  /** Symbolic links under the folder (relative paths) that point outside it: not followed. */
  onOutsideLinks?: (links: string[]) => void;
  shouldStop?: () => boolean;
  /** Picks the images to embed from the folder's sorted list (a shard's slice: src/core/shards.ts); default all. */
  select?: (images: FolderImage[]) => FolderImage[];
  /** Added to the table's metadata (e.g. the model's hash). */
  meta?: Record<string, unknown>;
}

export interface EmbedFolderResult {
  rows: number;
  /** Images in the folder, and those `select` kept (the ones embedded or skipped). */
  filesInFolder: number;
  filesSeen: number;
  first: string | null;
  last: string | null;
  skipped: Array<{ path: string; reason: string }>;
  ignored: number;
  seconds: number;
  out: string;
  /** The Embedder's name and detail (as recorded in the table's metadata). */
  engine: string;
  engineDetail: string;
}

export const DEFAULT_EMBED_BATCH = 64;
export const DEFAULT_DECODE_AHEAD = 2;

interface BatchSlot {
  data: Float32Array; // batch × per floats, reused
  ok: Uint8Array; // 1 = decoded into its slot
  reasons: Array<string | undefined>;
  pending: number; // decodes of this batch not yet settled
  ready: Promise<void>;
  resolve: () => void;
}

/**
 * Decode pipeline over `images` in batches of `batch`: every image of batches k … k+ahead−1 is submitted to sharp
 * (libuv threads) as soon as batch k is the one waited for, so libuv has `ahead` batches of work queued while this
 * thread is busy in a synchronous predict (a decode that completes then cannot start another one until predict
 * returns). Each image is normalised straight into its slot of a reused batch buffer: ahead + 1 buffers in all.
 */
class DecodePipeline {
  private readonly per: number;
  private readonly slots: BatchSlot[];
  private nextImage = 0;
  private launchEnd = 0; // images below this index may be submitted
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly images: readonly FolderImage[],
    private readonly spec: ImageSpec,
    private readonly batch: number,
    private readonly ahead: number,
    private readonly cap: number,
  ) {
    this.per = spec.height * spec.width * spec.channels;
    const buffers = Math.min(ahead + 1, Math.ceil(images.length / batch));
    this.slots = Array.from({ length: buffers }, () => this.newSlot());
  }

  get batches(): number {
    return Math.ceil(this.images.length / this.batch);
  }

  /** Allows batches up to `k + ahead − 1` to decode (batch k's buffer must be free by then). */
  open(k: number): void {
    const end = Math.min(this.images.length, (k + this.ahead) * this.batch);
    if (end > this.launchEnd) this.launchEnd = end;
    this.pump();
  }

  /** Waits for batch k, squeezes out its failures; the buffer stays k's until release(k). */
  async take(k: number): Promise<{ rows: FolderImage[]; data: Float32Array; failures: Array<{ path: string; reason: string }> }> {
    const slot = this.slots[k % this.slots.length];
    await slot.ready;
    const first = k * this.batch;
    const n = Math.min(this.batch, this.images.length - first);
    const rows: FolderImage[] = [];
    const failures: Array<{ path: string; reason: string }> = [];
    const per = this.per;
    for (let i = 0; i < n; i++) {
      if (slot.ok[i]) {
        if (rows.length !== i) slot.data.copyWithin(rows.length * per, i * per, (i + 1) * per);
        rows.push(this.images[first + i]);
      } else failures.push({ path: this.images[first + i].rel, reason: slot.reasons[i] ?? 'unknown error' });
    }
    return { rows, data: slot.data.subarray(0, rows.length * per), failures };
  }

  /** Batch k's buffer may be reused (for batch k + buffers). */
  release(k: number): void {
    const i = k % this.slots.length;
    this.slots[i] = this.newSlot(this.slots[i].data);
  }

  /** Stops submitting and waits for the decodes already submitted (so no file is read after embedFolder returns). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.inFlight > 0) await new Promise<void>((r) => { this.idle = r; });
  }

  private newSlot(data?: Float32Array): BatchSlot {
    let resolve!: () => void;
    const ready = new Promise<void>((r) => { resolve = r; });
    return {
      data: data ?? new Float32Array(this.batch * this.per), ok: new Uint8Array(this.batch), reasons: new Array(this.batch),
      pending: -1, ready, resolve,
    };
  }

  private pump(): void {
    while (!this.stopped && this.nextImage < this.launchEnd && this.inFlight < this.cap) {
      const index = this.nextImage++;
      const k = Math.floor(index / this.batch);
      const slot = this.slots[k % this.slots.length];
      if (slot.pending < 0) slot.pending = Math.min(this.batch, this.images.length - k * this.batch);
      this.inFlight++;
      void this.decodeOne(index, index - k * this.batch, slot);
    }
  }

  private async decodeOne(index: number, i: number, slot: BatchSlot): Promise<void> {
    try {
      const pixels = await decodeImage(this.images[index].path, this.spec);
      normalizeInto(slot.data, i * this.per, pixels, this.spec);
      slot.ok[i] = 1;
    } catch (err) {
      slot.reasons[i] = reasonOf(err);
    }
    this.inFlight--;
    if (--slot.pending === 0) slot.resolve();
    if (this.stopped) {
      if (this.inFlight === 0) this.idle?.();
    } else this.pump();
  }
}

export async function embedFolder(o: EmbedFolderOptions): Promise<EmbedFolderResult> {
  const t0 = Date.now();
  // libvips' operation cache only pays when the same operation on the same file repeats; a folder is decoded once.
  // Off, decoding took ~5 % less CPU per 64×64 PNG (1.38–1.56 vs 1.47–1.83 ms, interleaved A/B), same pixels.
  // (Process-wide, and harmless elsewhere: the training pixel cache is our own, src/engine/images.ts.)
  sharp.cache(false);
  const folder = path.resolve(o.folder);
  const listed = await listImages(folder, o.pre.labelLevel);
  const { ignored, outsideLinks } = listed;
  if (outsideLinks.length) o.onOutsideLinks?.(outsideLinks);
  if (listed.images.length === 0) {
    throw new BadDataError(`no images in ${folder}${ignored ? ` (${ignored} non-image file(s) ignored)` : ''}${outsideLinks.length ? ` (${outsideLinks.length} link(s) to outside it not followed)` : ''}`);
  }
  const images = o.select ? o.select(listed.images) : listed.images;
  const spec = specOf(o.pre);
  const batch = Math.max(1, Math.floor(o.batchSize ?? DEFAULT_EMBED_BATCH));
  const ahead = Math.max(1, Math.floor(o.decodeAhead ?? DEFAULT_DECODE_AHEAD));
  const cap = o.concurrency != null ? Math.max(1, Math.floor(o.concurrency)) : Infinity;
  const dim = o.pre.embeddingDim;
  if (!o.embedder && !o.model) throw new Error('embedFolder: give an embedder or a model');
  const embedder = o.embedder ?? tfjsEmbedder(o.model!, o.pre);
  const meta = {
    model: path.resolve(o.modelDir), folder, dim, distance: o.pre.distance, l2Normalized: o.pre.l2Normalized,
    preprocessing: o.pre, engine: { name: embedder.name, detail: embedder.detail }, createdAt: new Date().toISOString(), ...o.meta,
  };
  const writer = openTableWriter(o.out, { dim, meta });
  const skipped: Array<{ path: string; reason: string }> = [];
  const decoder = new DecodePipeline(images, spec, batch, ahead, cap);
  let rows = 0;
  // At most one table write outstanding: it runs (on libuv) while the next batch is embedded.
  let writing: Promise<void> = Promise.resolve();
  try {
    decoder.open(0);
    for (let k = 0; k < decoder.batches; k++) {
      const cur = await decoder.take(k);
      decoder.open(k + 1); // batch k+ahead starts decoding before this thread blocks in predict
      skipped.push(...cur.failures);
      const vecs = cur.rows.length ? await embedder.embed(cur.data, cur.rows.length) : new Float32Array(0);
      decoder.release(k);
      await writing;
      if (cur.rows.length) {
        writing = writer.append(cur.rows.map((r) => ({ path: r.rel, label: r.label })), vecs);
        writing.catch(() => undefined); // awaited before the next append or the commit
      }
      rows += cur.rows.length;
      o.onProgress?.(Math.min((k + 1) * batch, images.length), images.length);
      if (o.shouldStop?.()) throw Object.assign(new Error('stopped'), { exitCode: 130 });
    }
    await writing;
    if (rows === 0) throw Object.assign(new Error(`none of the ${images.length} image(s) in ${folder} could be read; see the list of skipped files`), { exitCode: 1 });
    await writer.commit();
  } catch (err) {
    await decoder.stop();
    await writing.catch(() => undefined);
    await writer.abort();
    if (skipped.length) await writeSkippedList(o.out, skipped).catch(() => undefined);
    throw err;
  }
  await writeSkippedList(o.out, skipped); // removes a stale list when nothing was skipped
  return {
    rows, skipped, ignored, seconds: (Date.now() - t0) / 1000, out: o.out, engine: embedder.name, engineDetail: embedder.detail,
    filesInFolder: listed.images.length, filesSeen: images.length, first: images[0]?.rel ?? null, last: images[images.length - 1]?.rel ?? null,
  };
}
