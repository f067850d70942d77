// A pretrained ResNet (a .safetensors state dict or a hub id `hf:owner/repo`) used as it is: the zero-shot baseline
// of `embedlab embed --model <source>` and `knn`, FiftyOne's "compute embeddings with a zoo model". The branch is
// the backbone with PyTorch padding and no head (the pooled features are the vector, compared by cosine distance, as
// for an ONNX backbone), its batch norm folded for inference, run on ONNX Runtime when it loads (converted in
// memory) and on TensorFlow.js otherwise.
//
// Preprocessing: flags first (`--size H[,W]`, `--normalize`), then what the source states (timm's pretrained_cfg in
// a hub repo's config.json: input size and mean/std), then ImageNet's defaults (224 × 224, ImageNet mean/std).
import type { LayersModel } from '@tensorflow/tfjs';
import { backboneDescriptor } from '../../core/backbones';
import type { NormalizeMode } from '../../core/config-types';
import { LabError } from '../../core/errors';
import type { Embedder, EngineChoice } from '../embed';
import type { Preprocessing } from '../export';
import { normalizeOf, preprocessingFlags } from './flags';
import { guessResnet, importResnetStateDict } from './resnet-import';
import { readSafetensors } from './safetensors';
import { resolvePretrainedSource, type ResolveOptions } from './source';

export interface PretrainedFlags {
  size?: string;
  normalize?: string;
  mean?: string;
  std?: string;
  engine?: EngineChoice;
  threads?: number;
  backend?: string;
}

export interface OpenedPretrained {
  embedder: Embedder;
  pre: Preprocessing;
  /** The source string (recorded in a table's metadata as its model). */
  dir: string;
  /** The weights file on disk (the hub cache's copy for hf:owner/repo): what a shard manifest's model hash reads. */
  file: string;
  fallbackReason?: string;
}

/** Opens `source` as an embedder: see the header. `recorded` (a table's preprocessing) takes the place of flags. */
export async function openPretrainedEmbedder(source: string, flags: PretrainedFlags = {}, opts: ResolveOptions & { recorded?: Partial<Preprocessing> } = {}): Promise<OpenedPretrained> {
  const parsed = preprocessingFlags(flags);
  const src = await resolvePretrainedSource(source, opts);
  const { tensors } = readSafetensors(src.file);
  const shapes = new Map([...tensors].map(([k, t]) => [k.replace(/^(module\.|model\.)/, ''), t.shape]));
  const guess = guessResnet(shapes);
  if (!guess.backbone || guess.width === undefined) throw new LabError('bad-data', `${src.file}: the weights are ${guess.description}`);

  let normalize: NormalizeMode = opts.recorded?.normalize ?? parsed.normalize ?? 'imagenet';
  if (!opts.recorded?.normalize && !parsed.normalize && src.preprocessing) {
    // timm's pretrained_cfg: a named mode when it is one, else its own mean/std (CLIP's, Inception's…).
    normalize = normalizeOf(src.preprocessing.mean, src.preprocessing.std);
  }
  const stated = src.preprocessing ? [src.preprocessing.inputSize[1], src.preprocessing.inputSize[2]] as [number, number] : undefined;
  const [h, w] = opts.recorded?.imageSize ?? parsed.size ?? stated ?? [224, 224];
  const channels = shapes.get('conv1.weight')?.[1] === 1 ? 1 : 3; // guessResnet found the stem

  const { initBackend } = await import('../backend');
  const { buildBranch, foldBatchNorm } = await import('../models');
  const { branchOnnxBytes, preprocessingFor } = await import('../export');
  const { onnxEmbedder, tfjsEmbedder } = await import('../embed');
  const { loadOrt, DEFAULT_ORT_THREADS } = await import('../onnx-runtime');
  await initBackend((flags.backend ?? 'auto') as Parameters<typeof initBackend>[0]);

  const features = backboneDescriptor(guess.backbone).featureWidth(guess.width);
  const spec = {
    backbone: guess.backbone, width: guess.width, embeddingDim: features, normalize: false, head: 'none' as const,
    pretrained: source, inputShape: [h, w, channels] as [number, number, number], seed: 0,
  };
  const branch = buildBranch(spec);
  let folded: LayersModel;
  try {
    importResnetStateDict(branch, tensors, guess.backbone, src.file);
    folded = foldBatchNorm(branch, spec);
  } finally {
    branch.dispose();
  }
  const pre: Preprocessing = {
    format: 'embedding-lab/preprocessing', version: 1, modelType: 'branch',
    imageSize: [h, w], channels, fit: opts.recorded?.fit ?? 'cover', normalize,
    embeddingDim: features, l2Normalized: false, distance: 'cosine', labelLevel: opts.recorded?.labelLevel ?? -2,
    inputs: [folded.inputs[0].name], outputs: [folded.outputs[0].name.split('/')[0]],
    backbone: guess.backbone, width: guess.width, sourceRun: null, checkpoint: src.commit ? `${source}@${src.commit}` : source,
    createdAt: new Date().toISOString(),
  };

  const choice = flags.engine ?? 'auto';
  let fallbackReason: string | undefined;
  if (choice !== 'tfjs') {
    const ort = loadOrt();
    if (ort.ok) {
      try {
        const onnxPre = preprocessingFor(pre, 'onnx');
        const embedder = await onnxEmbedder(await branchOnnxBytes(folded, onnxPre), onnxPre, { threads: flags.threads ?? DEFAULT_ORT_THREADS, source: `${source}, converted in memory` });
        folded.dispose();
        return { embedder, pre: onnxPre, dir: source, file: src.file };
      } catch (err) {
        fallbackReason = `the converted graph does not run: ${err instanceof Error ? err.message : String(err)}`;
      }
    } else fallbackReason = `${ort.reason}; ${ort.fix}`;
    if (choice === 'onnx') throw new LabError('bad-usage', `--engine onnx cannot run: ${fallbackReason}`);
  }
  return { embedder: tfjsEmbedder(folded, preprocessingFor(pre, 'tfjs'), true), pre: preprocessingFor(pre, 'tfjs'), dir: source, file: src.file, ...(fallbackReason ? { fallbackReason } : {}) };
}
