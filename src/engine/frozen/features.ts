// The frozen-feature fast path (issue 15, section 2; docs/pretrained.md, "Frozen-feature training").
//
// With model.freeze "backbone" nothing before the pooling ('gap') changes during training, so the pooled features of
// every image are computed once, in inference mode (what the frozen BN layers do in training too), and the head —
// the branch's own layers after 'gap', trained in place, so checkpoints, resume, best/ and export are the normal
// branch's — learns from them. The training loop of train.ts is unchanged but for where a step's input comes from
// (gather: rows of the feature table instead of decoded pixels) and what runs on it (head: the layers after 'gap').
//
// The cache: `<runs folder>/.feature-cache/<key>/` (EMBEDLAB_FEATURE_CACHE overrides the folder), where key hashes
// the backbone's weights as loaded (every weight of every layer up to 'gap'), its architecture and padding, the
// preprocessing (size, channels, fit, normalisation) and the views. Inside, `index.json` lists the content hash
// (SHA-256 of the file's bytes) of each row and names the `features-<id>.bin` that holds them ([rows, views, dim]
// float32); both are written atomically, the index last, so a reader always finds a complete table. A second run
// over the same images computes nothing; a changed image has a new content hash and only it is computed again.
//
// Augmentation (data.augment): a bounded number of views per image (FROZEN_VIEWS: view 0 the plain image, the others
// augmented with draws from Rng.derive(seed, 'cached-view', contentHash, v)); each training step picks one view per
// sampled image from Rng.derive(seed, 'view-pick', epoch, step), so a resumed run picks the same.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor, Tensor2D } from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../../core/config-types';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic';
import { retrievalMetrics } from '../../core/metrics';
import { Rng } from '../../core/rng';
import type { WorkerEvent } from '../../protocol/events';
import type { ImageStore } from '../images';
import { paddingOf } from '../models';
import { tf } from '../tf';

/** Views cached per image when data.augment is set (view 0 unaugmented). */
export const FROZEN_VIEWS = 4;
const FORMAT = 'embedding-lab/feature-cache';
const VERSION = 1;

/** A dataset as train.ts loads it: its items, the store that decodes them, the item → store index map. */
export interface FrozenDataset {
  index: { items: ReadonlyArray<{ path: string; classIndex: number }> };
  store: ImageStore;
  toStore: Int32Array;
}

export interface FrozenFeatures {
  dim: number;
  views: number;
  /** The features of these training-store indices for step `step` of epoch `epoch` ([n, dim], in order). */
  gather(storeIdx: ArrayLike<number>, epoch: number, step: number): Float32Array;
  /** The head (the branch's layers after 'gap') on features [n, dim]. */
  head(x: Tensor, training: boolean): Tensor2D;
  /** The validation images' embeddings through the head now (val.toStore order). */
  embedValidation(): Float32Array;
  stats: FeatureStats;
}

export interface FeatureStats {
  cacheDir: string;
  key: string;
  /** Images whose features were computed by this run / found in the cache. */
  computed: number;
  reused: number;
  /** Feature extraction time and rate (images × views per second) over the computed ones. */
  seconds: number;
  imagesPerSec: number | null;
  dim: number;
  views: number;
}

/** Whether a run takes the fast path: the backbone frozen and the caller did not turn it off. */
export function frozenFeaturesApply(config: ExperimentConfig, enabled: boolean | undefined): boolean {
  return config.model.freeze === 'backbone' && enabled !== false && process.env.EMBEDLAB_FROZEN_FEATURES !== '0';
}

function gapIndex(branch: LayersModel): number {
  const gap = branch.layers.findIndex((l) => l.name === 'gap');
  if (gap < 0) throw new Error('frozen features: the branch has no pooling layer named gap');
  return gap;
}

/** SHA-256 over every weight of every layer up to the pooling, with the architecture and the preprocessing. */
export function featureKey(config: ExperimentConfig, branch: LayersModel, views: number): string {
  const h = createHash('sha256');
  const { data, model } = config;
  h.update(JSON.stringify({
    format: FORMAT, version: VERSION, backbone: model.backbone, width: model.width, padding: paddingOf(model),
    imageSize: data.imageSize, channels: data.channels, fit: data.fit, normalize: data.normalize, views,
    augment: views > 1 ? data.augment : null, seed: views > 1 ? config.training.seed : null,
  }));
  const gap = gapIndex(branch);
  for (const layer of branch.layers.slice(0, gap + 1)) {
    for (const w of layer.weights) {
      h.update(`${w.originalName}:${w.shape.join('x')};`);
      const v = w.read().dataSync() as Float32Array;
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  }
  return h.digest('hex').slice(0, 32);
}

function contentHash(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

interface CacheIndex { format: string; version: number; dim: number; views: number; file: string; hashes: string[] }

function readCache(dir: string): { index: CacheIndex; data: Float32Array } | undefined {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as CacheIndex;
    if (index.format !== FORMAT || index.version !== VERSION || !/^features-[0-9a-f]+\.bin$/.test(index.file)) return undefined;
    const buf = fs.readFileSync(path.join(dir, index.file));
    if (buf.byteLength !== index.hashes.length * index.views * index.dim * 4) return undefined;
    const data = new Float32Array(buf.byteLength / 4);
    new Uint8Array(data.buffer).set(buf);
    return { index, data };
  } catch {
    return undefined; // no cache, or an unreadable one: computed again
  }
}

async function writeCache(dir: string, dim: number, views: number, rows: Map<string, Float32Array>): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const hashes = [...rows.keys()].sort();
  const data = new Float32Array(hashes.length * views * dim);
  hashes.forEach((h, i) => data.set(rows.get(h)!, i * views * dim));
  const bytes = new Uint8Array(data.buffer);
  const file = `features-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.bin`;
  await writeFileAtomic(path.join(dir, file), bytes);
  await writeJsonAtomic(path.join(dir, 'index.json'), { format: FORMAT, version: VERSION, dim, views, file, hashes } satisfies CacheIndex);
  for (const f of fs.readdirSync(dir)) { // older tables no index names any more
    if (f !== file && /^features-[0-9a-f]+\.bin$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

export interface PrepareArgs {
  config: ExperimentConfig;
  runDir: string;
  branch: LayersModel;
  train: FrozenDataset;
  /** The validation images (may share the training store). */
  val: FrozenDataset;
  validate: boolean;
  /** Compute and record the validation metrics of the untrained head (the run's step-0 baseline). */
  baseline: boolean;
  emit: (e: WorkerEvent) => void;
  base: { runId: string };
  stopPoint: () => void;
  batch?: number;
}

/** Extracts (or finds in the cache) the features of every training and validation image; see the header. */
export async function prepareFrozenFeatures(args: PrepareArgs): Promise<FrozenFeatures> {
  const { config, branch, train, val, emit, base, stopPoint } = args;
  const views = config.data.augment ? FROZEN_VIEWS : 1;
  const gap = gapIndex(branch);
  const headLayers = branch.layers.slice(gap + 1);
  const body = tf.model({ inputs: branch.inputs, outputs: branch.getLayer('gap').output });
  const dim = body.outputs[0].shape[1] as number;
  const key = featureKey(config, branch, views);
  const cacheDir = path.join(process.env.EMBEDLAB_FEATURE_CACHE ?? path.join(path.dirname(path.resolve(args.runDir)), '.feature-cache'), key);
  const [h, w] = config.data.imageSize;
  const spec = [h, w, config.data.channels] as const;

  // Every image a step or the validation can ask for: per store, its content hash.
  const wanted: Array<{ store: ImageStore; storeIdx: number; hash: string }> = [];
  const rowOf = new Map<ImageStore, Map<number, number>>();
  const add = (ds: FrozenDataset) => {
    let m = rowOf.get(ds.store);
    if (!m) { m = new Map(); rowOf.set(ds.store, m); }
    ds.index.items.forEach((it, i) => {
      const s = ds.toStore[i];
      if (m!.has(s)) return;
      m!.set(s, wanted.length);
      wanted.push({ store: ds.store, storeIdx: s, hash: contentHash(it.path) });
    });
  };
  add(train);
  if (args.validate) add(val);
  stopPoint();

  const cached = readCache(cacheDir);
  const rows = new Map<string, Float32Array>();
  if (cached && cached.index.dim === dim && cached.index.views === views) {
    const per = views * dim;
    cached.index.hashes.forEach((hh, i) => rows.set(hh, cached.data.subarray(i * per, (i + 1) * per)));
  }
  const missing = [...new Set(wanted.filter((x) => !rows.has(x.hash)).map((x) => x.hash))];
  const firstOf = new Map<string, { store: ImageStore; storeIdx: number }>();
  for (const x of wanted) if (!firstOf.has(x.hash)) firstOf.set(x.hash, x);
  const t0 = Date.now();
  const batch = args.batch ?? 32;
  const total = missing.length * views;
  let done = 0;
  for (const hh of missing) rows.set(hh, new Float32Array(views * dim));
  for (let v = 0; v < views; v++) {
    for (let i = 0; i < missing.length; i += batch) {
      stopPoint();
      const chunk = missing.slice(i, i + batch);
      const parts = await Promise.all(chunk.map((hh) => {
        const src = firstOf.get(hh)!;
        const augment = v > 0 && config.data.augment ? { config: config.data.augment, rng: Rng.derive(config.training.seed, 'cached-view', hh, v) } : null;
        return src.store.getBatch([src.storeIdx], augment);
      }));
      const pixels = new Float32Array(chunk.length * spec[0] * spec[1] * spec[2]);
      parts.forEach((p, j) => pixels.set(p, j * p.length));
      const y = tf.tidy(() => body.predict(tf.tensor4d(pixels, [chunk.length, ...spec])) as Tensor);
      const f = (await y.data()) as Float32Array;
      y.dispose();
      chunk.forEach((hh, j) => rows.get(hh)!.set(f.subarray(j * dim, (j + 1) * dim), v * dim));
      done += chunk.length;
      emit({ type: 'progress', task: 'embed', done, total, time: new Date().toISOString(), ...base });
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  if (missing.length > 0) await writeCache(cacheDir, dim, views, rows);
  const stats: FeatureStats = {
    cacheDir, key, computed: missing.length, reused: new Set(wanted.map((x) => x.hash)).size - missing.length,
    seconds, imagesPerSec: missing.length > 0 ? total / Math.max(seconds, 1e-6) : null, dim, views,
  };

  // The table this run reads: row r = wanted[r] (views × dim floats).
  const table = new Float32Array(wanted.length * views * dim);
  wanted.forEach((x, r) => table.set(rows.get(x.hash)!, r * views * dim));
  const trainRows = rowOf.get(train.store)!;
  const valRows = rowOf.get(val.store);

  const head = (x: Tensor, training: boolean): Tensor2D => {
    let y = x;
    for (const layer of headLayers) y = layer.apply(y, { training }) as Tensor;
    return y as Tensor2D;
  };
  const embedValidation = (): Float32Array => {
    const n = val.toStore.length;
    const x = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const r = valRows!.get(val.toStore[i])!;
      x.set(table.subarray(r * views * dim, r * views * dim + dim), i * dim); // view 0: the plain image
    }
    return tf.tidy(() => head(tf.tensor2d(x, [n, dim]), false).dataSync() as Float32Array).slice();
  };
  const gather = (storeIdx: ArrayLike<number>, epoch: number, step: number): Float32Array => {
    const out = new Float32Array(storeIdx.length * dim);
    const rng = views > 1 ? Rng.derive(config.training.seed, 'view-pick', epoch, step) : undefined;
    for (let i = 0; i < storeIdx.length; i++) {
      const r = trainRows.get(storeIdx[i]);
      if (r === undefined) throw new Error(`frozen features: no features for training image ${storeIdx[i]}`);
      const v = rng ? rng.uint32() % views : 0;
      const at = (r * views + v) * dim;
      out.set(table.subarray(at, at + dim), i * dim);
    }
    return out;
  };

  const record: Record<string, unknown> = { ...stats };
  if (args.baseline && args.validate) {
    const labels = Int32Array.from(val.index.items.map((it) => it.classIndex));
    const m = retrievalMetrics(embedValidation(), config.model.embeddingDim, labels, config.loss.distance);
    record.baseline = { step: 0, precisionAt1: m.precisionAt1, mapAtR: m.mapAtR, rPrecision: m.rPrecision, count: m.count };
  } else {
    try { // a resumed run keeps the baseline its first start recorded
      const prev = JSON.parse(fs.readFileSync(path.join(args.runDir, 'features.json'), 'utf8')) as { baseline?: unknown };
      if (prev.baseline !== undefined) record.baseline = prev.baseline;
    } catch { /* none */ }
  }
  await writeJsonAtomic(path.join(args.runDir, 'features.json'), record);
  return { dim, views, gather, head, embedValidation, stats };
}
