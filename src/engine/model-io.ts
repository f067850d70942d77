// Saving and loading models in the TensorFlow.js layers format (model.json + weights.bin) through our own IO
// handlers: they need only node:fs, not tfjs-node's file:// handler. Folders are written atomically: everything
// goes into a temp folder beside the target, which is then swapped in by rename (the previous version survives
// as `<dir>.old` until the new one is in place, and loaders fall back to it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { LayersModel, Optimizer, Tensor } from '@tensorflow/tfjs';

type NamedTensor = { name: string; tensor: Tensor };
import { BadDataError } from '../core/errors';
import { customLayers } from './models';
import { tf } from './tf';

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** Writes a folder atomically: `fill` writes into a fresh temp folder, which then replaces `dir`. */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    for (const f of fs.readdirSync(tmp)) fsyncFile(path.join(tmp, f));
    const old = `${dir}.old`;
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The folder to read: `dir`, or `dir.old` when a swap was interrupted between its two renames. */
export function readableDir(dir: string): string | undefined {
  if (fs.existsSync(path.join(dir, 'model.json'))) return dir;
  if (fs.existsSync(path.join(`${dir}.old`, 'model.json'))) return `${dir}.old`;
  return undefined;
}

/** Saves a layers model as model.json + weights.bin into `dir` (which must exist). */
export async function saveLayersModel(model: LayersModel, dir: string, userDefinedMetadata?: { [key: string]: object }): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts: TF.io.ModelArtifacts) => {
    const weightData = artifacts.weightData;
    const buffers = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
    const bytes = Buffer.concat(buffers.map((b) => Buffer.from(b)));
    writeLayersArtifacts(dir, { modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs ?? [], weightData: bytes }, userDefinedMetadata);
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.length } };
  }));
}

/** Writes layers-format artifacts (topology, weight specs, float32 weight bytes) as model.json + weights.bin into `dir`. */
export function writeLayersArtifacts(dir: string, art: { modelTopology: unknown; weightSpecs: unknown[]; weightData: ArrayBuffer | Uint8Array }, userDefinedMetadata?: { [key: string]: object }): void {
  const bytes = art.weightData instanceof Uint8Array ? art.weightData : new Uint8Array(art.weightData);
  fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: art.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }],
    userDefinedMetadata,
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
}

/** An IO handler that reads a layers model folder with node:fs (no tfjs-node needed). */
export function dirHandler(dir: string): TF.io.IOHandler {
  return {
    load: async () => {
      const jsonPath = path.join(dir, 'model.json');
      if (!fs.existsSync(jsonPath)) throw new BadDataError(`model folder has no model.json: ${dir}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      } catch (err) {
        throw new BadDataError(`${jsonPath} is not valid JSON (${err instanceof Error ? err.message : String(err)}): the model folder is damaged; export the model again`);
      }
      const json = parsed as {
        modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: TF.io.WeightsManifestEntry[] }>;
        userDefinedMetadata?: { [key: string]: object };
      };
      const specs: TF.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const file = path.join(dir, p);
          if (!fs.existsSync(file)) throw new BadDataError(`model folder is missing its weights file ${p}: ${dir}`);
          parts.push(fs.readFileSync(file));
        }
      }
      const buf = Buffer.concat(parts);
      const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
      if (buf.length !== expected) {
        throw new BadDataError(`weights in ${dir} have ${buf.length} bytes, the manifest needs ${expected}: the file is truncated or belongs to another model`);
      }
      const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData, userDefinedMetadata: json.userDefinedMetadata };
    },
  };
}

export async function loadLayersModelFromDir(dir: string): Promise<LayersModel> {
  customLayers();
  return tf.loadLayersModel(dirHandler(dir));
}

/** Copies weights by name from a saved folder into an existing model of the same architecture. */
export async function loadWeightsInto(model: LayersModel, dir: string): Promise<void> {
  const loaded = await loadLayersModelFromDir(dir);
  try {
    const byName = new Map(loaded.weights.map((w) => [w.originalName, w]));
    for (const w of model.weights) {
      const src = byName.get(w.originalName);
      if (!src) throw new Error(`checkpoint ${dir} has no weight ${w.originalName}`);
      if (src.shape.join('x') !== w.shape.join('x')) {
        throw new Error(`checkpoint ${dir}: weight ${w.originalName} has shape [${src.shape}], the model needs [${w.shape}]`);
      }
      w.write(src.read());
    }
  } finally {
    loaded.dispose();
  }
}

/** Optimizer state as optimizer.json (names, shapes) + optimizer.bin (float32 data, in order). */
export async function saveOptimizer(optimizer: Optimizer, dir: string): Promise<void> {
  const weights = await optimizer.getWeights();
  const specs: Array<{ name: string; shape: number[]; dtype: string }> = [];
  const parts: Buffer[] = [];
  for (const w of weights) {
    const data = (await w.tensor.data()) as Float32Array | Int32Array;
    specs.push({ name: w.name, shape: w.tensor.shape, dtype: w.tensor.dtype });
    const f = w.tensor.dtype === 'float32' ? (data as Float32Array) : Float32Array.from(data);
    parts.push(Buffer.from(f.buffer, f.byteOffset, f.byteLength));
  }
  fs.writeFileSync(path.join(dir, 'optimizer.bin'), Buffer.concat(parts));
  fs.writeFileSync(path.join(dir, 'optimizer.json'), JSON.stringify({ className: optimizer.getClassName(), weights: specs }));
}

export async function loadOptimizer(optimizer: Optimizer, dir: string): Promise<void> {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'optimizer.json'), 'utf8')) as {
    className: string; weights: Array<{ name: string; shape: number[]; dtype: string }>;
  };
  if (meta.className !== optimizer.getClassName()) {
    throw new Error(`checkpoint optimizer is ${meta.className}, the config asks for ${optimizer.getClassName()}`);
  }
  const buf = fs.readFileSync(path.join(dir, 'optimizer.bin'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  let off = 0;
  const named: NamedTensor[] = meta.weights.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const values = all.subarray(off, off + size);
    off += size;
    const t = s.dtype === 'int32' ? tf.tensor(Int32Array.from(values), s.shape, 'int32') : tf.tensor(values, s.shape, 'float32');
    return { name: s.name, tensor: t };
  });
  await optimizer.setWeights(named);
  for (const n of named) n.tensor.dispose();
}
