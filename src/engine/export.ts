// Deployment exports. Both are TensorFlow.js layers models (model.json + weights.bin) with a small
// preprocessing.json beside them, so that scoring needs no experiment config:
//   branch: one image [H, W, C] in → one embedding vector out;
//   full:   2, 3 or 4 image streams in → the distances out (d(a,b); d(a,p), d(a,n); d(a,p), d(a,n1), d(n1,n2)).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import type { DistanceName, ExperimentConfig, FitMode, NormalizeMode } from '../core/config-types';
import { runPaths } from '../core/run-folder';
import type { LossType } from '../protocol/events';
import { loadLayersModelFromDir, loadWeightsInto, readableDir, saveLayersModel, writeDirAtomic } from './model-io';
import { buildBranch, buildFullModel, foldBatchNorm } from './models';

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
  lossType: LossType;
  inputs: string[];
  outputs: string[];
  backbone: string;
  /** The backbone's width multiplier (absent in exports made before it was recorded). */
  width?: number;
  sourceRun: string | null;
  checkpoint: string;
  createdAt: string;
}

export function preprocessingOf(config: ExperimentConfig, modelType: 'branch' | 'full', model: LayersModel, sourceRun: string | null, checkpoint: string): Preprocessing {
  return {
    format: 'embedding-lab/preprocessing', version: 1, modelType,
    imageSize: config.data.imageSize, channels: config.data.channels, fit: config.data.fit, normalize: config.data.normalize,
    embeddingDim: config.model.embeddingDim, l2Normalized: config.model.normalize, distance: config.loss.distance,
    labelLevel: config.data.labelLevel, lossType: config.loss.type,
    inputs: model.inputs.map((i) => i.name.replace(/\/.*$/, '')), outputs: model.outputNames,
    backbone: config.model.backbone, width: config.model.width, sourceRun, checkpoint, createdAt: new Date().toISOString(),
  };
}

export function streamsFor(lossType: LossType): 2 | 3 | 4 {
  return lossType === 'contrastive' ? 2 : lossType === 'triplet' ? 3 : 4;
}

async function writeExport(dir: string, model: LayersModel, pre: Preprocessing): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    await saveLayersModel(model, tmp, { embeddingLab: pre as unknown as object });
    fs.writeFileSync(path.join(tmp, PREPROCESSING_FILE), JSON.stringify(pre, null, 2));
  });
}

/** Writes model/branch and model/full of a run from the given branch weights (called at the end of training). */
export async function exportModels(runDir: string, config: ExperimentConfig, branch: LayersModel, which: Array<'branch' | 'full'> = ['branch', 'full'], outDirs?: Partial<Record<'branch' | 'full', string>>, checkpoint = 'final'): Promise<string[]> {
  const p = runPaths(runDir);
  const written: string[] = [];
  for (const type of which) {
    const dir = outDirs?.[type] ?? (type === 'branch' ? p.branch : p.full);
    const model = type === 'branch' ? branch : buildFullModel(branch, streamsFor(config.loss.type), config.loss.distance);
    await writeExport(dir, model, preprocessingOf(config, type, model, path.basename(runDir), checkpoint));
    written.push(dir);
  }
  return written;
}

/**
 * Exports from a run folder's best checkpoint (else its last). With `untrained`, exports the network as it was
 * before training instead (initial weights are a function of the seed), as a baseline to compare against.
 */
export async function exportRun(runDir: string, type: 'branch' | 'full', outDir?: string, opts: { untrained?: boolean } = {}): Promise<{ dir: string; checkpoint: string }> {
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
    const [dir] = await exportModels(runDir, config, branch, [type], outDir ? { [type]: outDir } : undefined, opts.untrained ? 'untrained' : path.relative(runDir, ckpt));
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

/**
 * Resolves `<runDir>` (its model/branch) or a model folder, and loads the model with its preprocessing.
 * With `foldBatchNorm` (scoring), a branch of ours is replaced by its BN-folded inference copy.
 */
export async function loadExportedModel(runOrModelDir: string, type: 'branch' | 'full' = 'branch', opts: { foldBatchNorm?: boolean } = {}): Promise<LoadedModel> {
  let dir = runOrModelDir;
  if (!fs.existsSync(dir)) throw new Error(`model folder does not exist: ${dir}`);
  if (!fs.existsSync(path.join(dir, PREPROCESSING_FILE)) && fs.existsSync(runPaths(dir).config)) {
    dir = type === 'branch' ? runPaths(dir).branch : runPaths(dir).full;
    if (!readableDir(dir)) {
      await exportRun(runOrModelDir, type);
    }
  }
  const readable = readableDir(dir);
  if (!readable) throw new Error(`no model.json in ${dir}: pass a run folder or a folder written by \`embedlab export\``);
  const prePath = path.join(readable, PREPROCESSING_FILE);
  if (!fs.existsSync(prePath)) throw new Error(`model folder ${readable} has no ${PREPROCESSING_FILE}; export it again with \`embedlab export\``);
  const pre = JSON.parse(fs.readFileSync(prePath, 'utf8')) as Preprocessing;
  let model = await loadLayersModelFromDir(readable);
  if (opts.foldBatchNorm && type === 'branch' && pre.width !== undefined && (pre.backbone === 'resnet18' || pre.backbone === 'convnet')) {
    const folded = foldBatchNorm(model, {
      backbone: pre.backbone, width: pre.width, embeddingDim: pre.embeddingDim, normalize: pre.l2Normalized,
      inputShape: [pre.imageSize[0], pre.imageSize[1], pre.channels], seed: 0,
    });
    model.dispose();
    model = folded;
  }
  return { model, pre, dir: readable };
}
