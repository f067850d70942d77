// Where pretrained weights come from (`model.pretrained`), and loading them into a branch.
//
// `resolvePretrainedSource` is the one place that turns a source string into a local file: today a .safetensors
// path (absolute; the config resolves relative ones against its folder). Hub ids (`hf:owner/repo`) are resolved
// by the hub client (hub.ts), wired in here: it downloads into the hub cache and returns the cached
// model.safetensors (and the preprocessing its config.json states).
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import type { BackboneName } from '../../core/config-types';
import { BadDataError, LabError } from '../../core/errors';
import { importResnetStateDict, type ImportResult } from './resnet-import';
import { readSafetensors } from './safetensors';

export interface PretrainedSource {
  kind: 'safetensors';
  /** The local file. */
  file: string;
  /** The string it came from (a path or `hf:owner/repo`). */
  source: string;
}

export interface ResolveOptions {
  /** Relative paths resolve against this folder (default: the working directory). */
  baseDir?: string;
  /** Environment for the hub client (HF_HOME, HF_HUB_OFFLINE, HF_TOKEN…); default process.env. */
  env?: Record<string, string | undefined>;
  /** Download progress, for hub ids. */
  onProgress?: (p: { file: string; received: number; total?: number }) => void;
  signal?: AbortSignal;
}

/** Turns `model.pretrained` into a local weights file (downloading hub ids into the hub cache). */
export async function resolvePretrainedSource(source: string, opts: ResolveOptions = {}): Promise<PretrainedSource> {
  if (source.startsWith('hf:')) {
    // The coordinator wires the hub client (hub.ts: downloadFromHub) in here.
    throw new LabError('bad-config', `model.pretrained: hub ids (${source}) are not resolved in this build; download model.safetensors and give its path`);
  }
  const file = path.resolve(opts.baseDir ?? process.cwd(), source);
  if (!/\.safetensors$/i.test(file)) {
    throw new BadDataError(`${file}: model.pretrained must be a .safetensors file (a PyTorch ResNet state dict) or a hub id hf:owner/repo`);
  }
  return { kind: 'safetensors', file, source };
}

/** Loads `source` into a branch built for `backbone` with padding 'torch'. The fc layer is dropped. */
export async function loadPretrainedInto(branch: LayersModel, source: string, backbone: BackboneName, opts: ResolveOptions = {}): Promise<ImportResult & { file: string }> {
  if (backbone === 'convnet') throw new LabError('bad-config', 'model.pretrained: needs a ResNet backbone (resnet18, resnet34 or resnet50), not "convnet"');
  const src = await resolvePretrainedSource(source, opts);
  const { tensors } = readSafetensors(src.file);
  return { ...importResnetStateDict(branch, tensors, backbone, src.file), file: src.file };
}
