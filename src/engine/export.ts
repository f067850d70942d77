// Deployment exports, each a folder with a small preprocessing.json, so that scoring needs no experiment config:
//   branch: one image [H, W, C] in → one embedding vector out — TensorFlow.js layers model (model.json +
//           weights.bin) and/or ONNX (model.onnx, src/engine/onnx.ts; named by preprocessing.json's `onnx`);
//   full:   2, 3 or 4 image streams in → the distances out (d(a,b); d(a,p), d(a,n); d(a,p), d(a,n1), d(n1,n2)) —
//           TensorFlow.js, and ONNX when asked for (`export --type full --format onnx|both`; src/engine/onnx-full.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { LayersModel } from '@tensorflow/tfjs';
import type { DistanceName, ExperimentConfig, FitMode, NormalizeMode } from '../core/config-types';
import { runPaths } from '../core/run-folder';
import type { LossType } from '../protocol/events';
import { loadLayersModelFromDir, loadWeightsInto, readableDir, writeDirAtomic, writeLayersArtifacts } from './model-io';
import { buildBranch, buildFullModel, foldBatchNorm, isOurBackbone } from './models';
import { loadPretrainedInto } from './pretrained/source';
import { branchToOnnx, BRANCH_INPUT, BRANCH_OUTPUT, OnnxExportError, type LayersArtifacts } from './onnx';
import { fullInputNames, fullOutputNames, fullToOnnx } from './onnx-full';
import { StockExportError, stockVectorLengths, toStockArtifacts } from './tfjs-stock';
import { ONNX_FILE } from './onnx-runtime';
import { tf } from './tf';

export const PREPROCESSING_FILE = 'preprocessing.json';

export interface Preprocessing {
  format: 'embedding-lab/preprocessing';
  version: 1;
  modelType: 'branch' | 'full';
  imageSize: [number, number]; // [height, width]
  channels: 1 | 3;
  fit: FitMode;
  normalize: NormalizeMode;
  embeddingDim: number;
  l2Normalized: boolean;
  distance: DistanceName;
  labelLevel: number;
  /** The loss it was trained with; absent for a pretrained network used as it is (onnx-backbone.ts). */
  lossType?: LossType;
  /**
   * The input and output names of the model this file describes: in preprocessing.json the TensorFlow.js model's
   * layer names when the folder has one (else the ONNX graph's), in model.onnx's metadata the ONNX graph's, in a
   * table's metadata those of the engine that embedded it. `io` names them per format.
   */
  inputs: string[];
  outputs: string[];
  /** Input and output names per format in the folder (absent in exports made before it was recorded). */
  io?: { tfjs?: ModelIo; onnx?: ModelIo };
  backbone: string;
  /** The backbone's width multiplier (absent in exports made before it was recorded). */
  width?: number;
  /** The ONNX graph of the model in this folder (`model.onnx`), when it was exported; absent otherwise. */
  onnx?: string;
  /** The TensorFlow.js model in this folder (`model.json`); absent in an ONNX-only export. */
  tfjs?: string;
  sourceRun: string | null;
  checkpoint: string;
  createdAt: string;
}

export interface ModelIo { inputs: string[]; outputs: string[] }

/** The ONNX graph's names (every branch graph of ours: src/engine/onnx.ts). */
const ONNX_BRANCH_IO: ModelIo = { inputs: [BRANCH_INPUT], outputs: [BRANCH_OUTPUT] };

/**
 * The preprocessing as the given format of the model sees it: top-level `inputs`/`outputs` are that format's
 * names (for exports older than `io`: the ONNX graph's fixed names, or the recorded TensorFlow.js names).
 */
export function preprocessingFor(pre: Preprocessing, format: ExportFormat): Preprocessing {
  const io = pre.io?.[format] ?? (format === 'onnx' ? ONNX_BRANCH_IO : { inputs: pre.inputs, outputs: pre.outputs });
  return { ...pre, inputs: [...io.inputs], outputs: [...io.outputs], io: { ...pre.io, [format]: io } };
}

export function preprocessingOf(config: ExperimentConfig, modelType: 'branch' | 'full', model: LayersModel, sourceRun: string | null, checkpoint: string): Preprocessing {
  return {
    format: 'embedding-lab/preprocessing', version: 1, modelType,
    imageSize: config.data.imageSize, channels: config.data.channels, fit: config.data.fit, normalize: config.data.normalize,
    embeddingDim: config.model.embeddingDim, l2Normalized: config.model.normalize, distance: config.loss.distance,
    labelLevel: config.data.labelLevel, lossType: config.loss.type,
    inputs: model.inputNames, outputs: model.outputNames,
    backbone: config.model.backbone, width: config.model.width, sourceRun, checkpoint, createdAt: new Date().toISOString(),
  };
}

export function streamsFor(lossType: LossType): 2 | 3 | 4 {
  return lossType === 'contrastive' ? 2 : lossType === 'triplet' ? 3 : 4;
}

export type ExportFormat = 'tfjs' | 'onnx';

/** The layers-format artifacts of a model in memory (topology + float32 weights), as model.json + weights.bin hold them. */
export async function artifactsOf(model: LayersModel): Promise<LayersArtifacts> {
  let art: LayersArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a: TF.io.ModelArtifacts) => {
    const wd = a.weightData;
    const parts = wd === undefined ? [] : Array.isArray(wd) ? wd : [wd];
    const bytes = Buffer.concat(parts.map((b) => Buffer.from(b)));
    art = { modelTopology: a.modelTopology, weightSpecs: a.weightSpecs ?? [], weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return art!;
}

/** The ONNX bytes of a branch in memory, with its preprocessing in the model's metadata. */
export async function branchOnnxBytes(branch: LayersModel, pre?: Preprocessing): Promise<Uint8Array> {
  return branchToOnnx(await artifactsOf(branch), pre ? { metadata: { 'embedding-lab/preprocessing': JSON.stringify(pre) } } : {});
}

function stockOrCustom(art: LayersArtifacts, vectorLength: ReadonlyMap<string, number>): LayersArtifacts {
  try {
    return toStockArtifacts(art, vectorLength);
  } catch (err) {
    if (err instanceof StockExportError) return art;
    throw err;
  }
}

/** The ONNX bytes of a full model built on `branch`, with its preprocessing in the model's metadata. */
export async function fullOnnxBytes(branch: LayersModel, streams: 2 | 3 | 4, distance: DistanceName, pre?: Preprocessing): Promise<Uint8Array> {
  return fullToOnnx(await artifactsOf(branch), streams, distance, pre ? { metadata: { 'embedding-lab/preprocessing': JSON.stringify(pre) } } : {});
}

/** `branch`: the full model's branch (its ONNX graph is composed from the branch's: onnx-full.ts). */
async function writeExport(dir: string, model: LayersModel, pre: Preprocessing, formats: readonly ExportFormat[], onnxBestEffort: boolean, branch?: LayersModel): Promise<void> {
  const tfjs = formats.includes('tfjs');
  const onnx = formats.includes('onnx');
  const streams = pre.inputs.length as 2 | 3 | 4;
  const ONNX_IO: ModelIo = pre.modelType === 'full' ? { inputs: fullInputNames(streams), outputs: fullOutputNames(streams) } : ONNX_BRANCH_IO;
  const tfjsIo: ModelIo = { inputs: pre.inputs, outputs: pre.outputs };
  const described = (io: Preprocessing['io']): Preprocessing => {
    const top = io?.tfjs ?? io?.onnx ?? tfjsIo;
    return { ...pre, ...(tfjs ? { tfjs: 'model.json' } : {}), ...(io?.onnx ? { onnx: ONNX_FILE } : {}), inputs: top.inputs, outputs: top.outputs, io };
  };
  let full = described({ ...(tfjs ? { tfjs: tfjsIo } : {}), ...(onnx ? { onnx: ONNX_IO } : {}) });
  // Converted before the folder is touched: an unsupported layer leaves the previous export in place.
  let onnxBytes: Uint8Array | undefined;
  try {
    if (onnx && pre.modelType === 'full' && !branch) throw new Error('writeExport: a full model\'s ONNX export needs its branch');
    onnxBytes = !onnx ? undefined : pre.modelType === 'full'
      ? await fullOnnxBytes(branch!, streams, pre.distance, preprocessingFor(full, 'onnx'))
      : await branchOnnxBytes(model, preprocessingFor(full, 'onnx'));
  } catch (err) {
    // Best effort (the default of exportModels, at the end of training): the tfjs export is written without it.
    if (!(onnxBestEffort && tfjs && err instanceof OnnxExportError)) throw err;
    full = described(tfjs ? { tfjs: tfjsIo } : undefined);
  }
  // Stock layers only (src/engine/tfjs-stock.ts): the branch loads in a stock TensorFlow.js. A layer without a stock
  // form keeps its custom class (our loader and dist/tfjs-layers.js still load it).
  const stock = tfjs ? stockOrCustom(await artifactsOf(model), stockVectorLengths(model)) : undefined;
  await writeDirAtomic(dir, async (tmp) => {
    if (stock) writeLayersArtifacts(tmp, stock, { embeddingLab: full as unknown as object });
    if (onnxBytes) fs.writeFileSync(path.join(tmp, ONNX_FILE), onnxBytes);
    fs.writeFileSync(path.join(tmp, PREPROCESSING_FILE), JSON.stringify(full, null, 2));
  });
}

/**
 * Writes model/branch and model/full of a run from the given branch weights (called at the end of training).
 * By default both get model.json + weights.bin and model.onnx (the full model's graph composed from the branch's:
 * src/engine/onnx-full.ts), the ONNX graph best effort (a layer without an ONNX mapping leaves it out instead of
 * failing the export); formats given explicitly are all required.
 */
export async function exportModels(runDir: string, config: ExperimentConfig, branch: LayersModel, which: Array<'branch' | 'full'> = ['branch', 'full'], outDirs?: Partial<Record<'branch' | 'full', string>>, checkpoint = 'final', explicitFormats?: readonly ExportFormat[]): Promise<string[]> {
  const p = runPaths(runDir);
  const written: string[] = [];
  for (const type of which) {
    const formats: readonly ExportFormat[] = explicitFormats ?? ['tfjs', 'onnx'];
    const dir = outDirs?.[type] ?? (type === 'branch' ? p.branch : p.full);
    // The run's own model folders always keep the TensorFlow.js model (the run folder layout promises model.json).
    const fmts: readonly ExportFormat[] = path.resolve(dir) === path.resolve(type === 'branch' ? p.branch : p.full) && !formats.includes('tfjs') ? [...formats, 'tfjs'] : formats;
    const model = type === 'branch' ? branch : buildFullModel(branch, streamsFor(config.loss.type), config.loss.distance);
    await writeExport(dir, model, preprocessingOf(config, type, model, path.basename(runDir), checkpoint), fmts, explicitFormats === undefined, type === 'full' ? branch : undefined);
    written.push(dir);
  }
  return written;
}

/**
 * Exports from a run folder's best checkpoint (else its last). With `untrained`, exports the network as it was
 * before training instead (initial weights are a function of the seed), as a baseline to compare against.
 */
export async function exportRun(runDir: string, type: 'branch' | 'full', outDir?: string, opts: { untrained?: boolean; formats?: readonly ExportFormat[] } = {}): Promise<{ dir: string; checkpoint: string }> {
  const p = runPaths(runDir);
  if (!fs.existsSync(p.config)) throw new Error(`not a run folder (no config.json): ${runDir}`);
  const config = JSON.parse(fs.readFileSync(p.config, 'utf8')) as ExperimentConfig;
  const ckpt = opts.untrained ? 'untrained' : readableDir(p.best) ?? readableDir(p.last);
  if (!ckpt) throw new Error(`run ${runDir} has no checkpoint to export (checkpoints/best and checkpoints/last are missing)`);
  if (opts.untrained && !outDir) throw new Error('an untrained export needs --out, so that it never replaces the run\'s trained model');
  const [h, w] = config.data.imageSize;
  const branch = buildBranch({ ...config.model, inputShape: [h, w, config.data.channels], seed: config.training.seed });
  try {
    if (!opts.untrained) await loadWeightsInto(branch, ckpt);
    else if (config.model.pretrained !== undefined) await loadPretrainedInto(branch, config.model.pretrained, config.model.backbone); // the baseline: the pretrained network
    const [dir] = await exportModels(runDir, config, branch, [type], outDir ? { [type]: outDir } : undefined, opts.untrained ? 'untrained' : path.relative(runDir, ckpt), opts.formats);
    return { dir, checkpoint: ckpt };
  } finally {
    branch.dispose();
  }
}

export interface LoadedModel {
  model: LayersModel;
  pre: Preprocessing;
  dir: string;
}

export interface ExportLocation {
  dir: string;
  pre: Preprocessing;
  /** model.json is there (TensorFlow.js). */
  hasTfjs: boolean;
  /** model.onnx is there (named by pre.onnx). */
  hasOnnx: boolean;
}

/** `dir` or `dir.old` (an interrupted swap): the one holding preprocessing.json and a model. */
function exportDirOf(dir: string): string | undefined {
  for (const d of [dir, `${dir}.old`]) {
    if (fs.existsSync(path.join(d, 'model.json'))) return d;
    const pre = path.join(d, PREPROCESSING_FILE);
    if (fs.existsSync(pre)) {
      try {
        const onnx = (JSON.parse(fs.readFileSync(pre, 'utf8')) as Preprocessing).onnx;
        if (onnx && fs.existsSync(path.join(d, onnx))) return d;
      } catch { /* unreadable: not this one */ }
    }
  }
  return undefined;
}

/**
 * Resolves `<runDir>` (its model/branch or model/full; exported first when missing — `beforeExport` runs before,
 * e.g. to start a tfjs backend) or a model folder, and reads its preprocessing. Loads no model.
 */
export async function locateExport(runOrModelDir: string, type: 'branch' | 'full' = 'branch', opts: { beforeExport?: () => Promise<void> } = {}): Promise<ExportLocation> {
  let dir = runOrModelDir;
  if (!fs.existsSync(dir)) throw new Error(`model folder does not exist: ${dir}`);
  if (!fs.existsSync(path.join(dir, PREPROCESSING_FILE)) && fs.existsSync(runPaths(dir).config)) {
    dir = type === 'branch' ? runPaths(dir).branch : runPaths(dir).full;
    if (!exportDirOf(dir)) {
      await opts.beforeExport?.();
      await exportRun(runOrModelDir, type);
    }
  }
  const readable = exportDirOf(dir);
  if (!readable) throw new Error(`no model.json or model.onnx in ${dir}: pass a run folder or a folder written by \`embedlab export\``);
  const prePath = path.join(readable, PREPROCESSING_FILE);
  if (!fs.existsSync(prePath)) throw new Error(`model folder ${readable} has no ${PREPROCESSING_FILE}; export it again with \`embedlab export\``);
  const pre = JSON.parse(fs.readFileSync(prePath, 'utf8')) as Preprocessing;
  return {
    dir: readable, pre,
    hasTfjs: fs.existsSync(path.join(readable, 'model.json')),
    hasOnnx: Boolean(pre.onnx && fs.existsSync(path.join(readable, pre.onnx))),
  };
}

/**
 * Resolves `<runDir>` (its model/branch) or a model folder, and loads the TensorFlow.js model with its
 * preprocessing. With `foldBatchNorm` (scoring), a branch of ours is replaced by its BN-folded inference copy.
 */
export async function loadExportedModel(runOrModelDir: string, type: 'branch' | 'full' = 'branch', opts: { foldBatchNorm?: boolean } = {}): Promise<LoadedModel> {
  const loc = await locateExport(runOrModelDir, type);
  const { pre, dir: readable } = loc;
  if (!loc.hasTfjs) {
    throw new Error(`${readable} holds only the ONNX model (${pre.onnx}); embed it with --engine onnx (or auto), or export it again with --format tfjs or both`);
  }
  let model = await loadLayersModelFromDir(readable);
  if (opts.foldBatchNorm && type === 'branch' && pre.width !== undefined && isOurBackbone(pre.backbone)) {
    const folded = foldBatchNorm(model, {
      backbone: pre.backbone, width: pre.width, embeddingDim: pre.embeddingDim, normalize: pre.l2Normalized,
      inputShape: [pre.imageSize[0], pre.imageSize[1], pre.channels], seed: 0,
    });
    model.dispose();
    model = folded;
  }
  return { model, pre, dir: readable };
}
