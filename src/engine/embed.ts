// Scoring: stream a folder of images through an exported branch into an embedding table.
// Memory stays bounded whatever the folder's size: only the file list, the batch being decoded and the batch being
// embedded are held; rows are appended to a streaming table writer (written atomically). Decoding of batch k+1
// (sharp, on libuv threads) overlaps the embedding of batch k (tfjs, on this thread).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { isImageFile, labelOf } from '../core/dataset';
import { openTableWriter, writeSkippedList } from '../core/table';
import type { Preprocessing } from './export';
import { decodeImage, normalizeInto, type ImageSpec } from './images';
import { tf } from './tf';

export interface FolderImage {
  path: string; // absolute
  rel: string; // relative to the folder, '/' separators
  label: string; // '' when the folder is not class-structured
}

/** Lists the images under `folder` (sorted, recursive, hidden entries skipped) with labels from labelLevel. */
export function listImages(folder: string, labelLevel: number): { images: FolderImage[]; ignored: number } {
  if (!fs.existsSync(folder)) throw Object.assign(new Error(`folder does not exist: ${folder}`), { exitCode: 2 });
  if (!fs.statSync(folder).isDirectory()) throw Object.assign(new Error(`not a folder: ${folder}`), { exitCode: 2 });
  const images: FolderImage[] = [];
  let ignored = 0;
  const walk = (dir: string, parts: string[]) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full, [...parts, e.name]);
      else if (e.isFile() || e.isSymbolicLink()) {
        if (!isImageFile(e.name)) { ignored++; continue; }
        const rel = [...parts, e.name];
        images.push({ path: full, rel: rel.join('/'), label: rel.length > 1 ? labelOf(rel, labelLevel) ?? '' : '' });
      }
    }
  };
  walk(folder, []);
  return { images, ignored };
}

export function specOf(pre: Preprocessing): ImageSpec {
  return { height: pre.imageSize[0], width: pre.imageSize[1], channels: pre.channels, fit: pre.fit, normalize: pre.normalize };
}

/** Decodes a batch concurrently; failures are returned, not thrown. */
async function decodeBatch(items: FolderImage[], spec: ImageSpec, concurrency: number) {
  const per = spec.height * spec.width * spec.channels;
  const pixels: Array<Uint8Array | null> = new Array(items.length).fill(null);
  const failures: Array<{ path: string; reason: string }> = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        pixels[i] = await decodeImage(items[i].path, spec);
      } catch (err) {
        failures.push({ path: items[i].rel, reason: (err as { reason?: string }).reason ?? (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const ok = items.map((_, i) => i).filter((i) => pixels[i] !== null);
  const data = new Float32Array(ok.length * per);
  ok.forEach((i, j) => normalizeInto(data, j * per, pixels[i]!, spec));
  return { rows: ok.map((i) => items[i]), data, failures };
}

/** Runs the branch on a normalized NHWC batch; the read is async (required by the webgpu backend). */
export async function embedPixels(model: LayersModel, data: Float32Array, n: number, spec: ImageSpec): Promise<Float32Array> {
  if (n === 0) return new Float32Array(0);
  const y = tf.tidy(() => model.predict(tf.tensor4d(data, [n, spec.height, spec.width, spec.channels])) as Tensor);
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

/** Embeds individual image files (a query outside any table). Throws on an unreadable image. */
export async function embedFiles(model: LayersModel, pre: Preprocessing, files: string[]): Promise<Float32Array> {
  const spec = specOf(pre);
  const items = files.map((f) => ({ path: f, rel: f, label: '' }));
  const { rows, data, failures } = await decodeBatch(items, spec, 4);
  if (failures.length) throw new Error(`cannot read image ${failures[0].path}: ${failures[0].reason}`);
  return embedPixels(model, data, rows.length, spec);
}

export interface EmbedFolderOptions {
  model: LayersModel;
  pre: Preprocessing;
  modelDir: string;
  folder: string;
  out: string;
  batchSize?: number;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  shouldStop?: () => boolean;
}

export interface EmbedFolderResult {
  rows: number;
  skipped: Array<{ path: string; reason: string }>;
  ignored: number;
  seconds: number;
  out: string;
}

export async function embedFolder(o: EmbedFolderOptions): Promise<EmbedFolderResult> {
  const t0 = Date.now();
  const folder = path.resolve(o.folder);
  const { images, ignored } = listImages(folder, o.pre.labelLevel);
  if (images.length === 0) {
    throw Object.assign(new Error(`no images in ${folder}${ignored ? ` (${ignored} non-image file(s) ignored)` : ''}`), { exitCode: 2 });
  }
  const spec = specOf(o.pre);
  const batch = o.batchSize ?? 64;
  const concurrency = o.concurrency ?? 4;
  const dim = o.pre.embeddingDim;
  const meta = {
    model: path.resolve(o.modelDir), folder, dim, distance: o.pre.distance, l2Normalized: o.pre.l2Normalized,
    preprocessing: o.pre, createdAt: new Date().toISOString(),
  };
  const writer = openTableWriter(o.out, { dim, meta });
  const skipped: Array<{ path: string; reason: string }> = [];
  let rows = 0;
  try {
    let pending = decodeBatch(images.slice(0, batch), spec, concurrency);
    for (let start = 0; start < images.length; start += batch) {
      const cur = await pending;
      const nextStart = start + batch;
      if (nextStart < images.length) pending = decodeBatch(images.slice(nextStart, nextStart + batch), spec, concurrency);
      skipped.push(...cur.failures);
      const vecs = await embedPixels(o.model, cur.data, cur.rows.length, spec);
      await writer.append(cur.rows.map((r) => ({ path: r.rel, label: r.label })), vecs);
      rows += cur.rows.length;
      o.onProgress?.(Math.min(nextStart, images.length), images.length);
      if (o.shouldStop?.()) throw Object.assign(new Error('stopped'), { exitCode: 130 });
    }
    if (rows === 0) throw Object.assign(new Error(`none of the ${images.length} image(s) in ${folder} could be read; see the list of skipped files`), { exitCode: 1 });
    await writer.commit();
  } catch (err) {
    await writer.abort();
    if (skipped.length) await writeSkippedList(o.out, skipped).catch(() => undefined);
    throw err;
  }
  await writeSkippedList(o.out, skipped); // removes a stale list when nothing was skipped
  return { rows, skipped, ignored, seconds: (Date.now() - t0) / 1000, out: o.out };
}
