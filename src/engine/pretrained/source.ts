// Where pretrained weights come from (`model.pretrained`), and loading them into a branch.
//
// `resolvePretrainedSource` is the one place that turns a source string into a local file: today a .safetensors
// path (absolute; the config resolves relative ones against its folder). Hub ids (`hf:owner/repo`) are resolved
// by the hub client (hub.ts), wired in here: it downloads into the hub cache and returns the cached
// model.safetensors (and the preprocessing its config.json states).
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import { acceptsPretrained, isBackboneName, listWords, PRETRAINED_BACKBONES, type BackboneName } from '../../core/backbones';
import { BadDataError, LabError } from '../../core/errors';
import { backboneOf } from '../backbones';
import { downloadFromHub, isHubId } from './hub';
import { timmArchitecture, timmPreprocessing, type TimmPreprocessing } from './hub-timm';
import type { ImportResult } from './resnet-import';
import { readSafetensors } from './safetensors';

export interface PretrainedSource {
  kind: 'safetensors';
  /** The local file. */
  file: string;
  /** The string it came from (a path or `hf:owner/repo`). */
  source: string;
  /** For hub ids: the preprocessing timm's config.json states, and its architecture (e.g. "resnet18"). */
  preprocessing?: TimmPreprocessing;
  architecture?: string;
  /** For hub ids: the commit the files belong to. */
  commit?: string;
}

export interface ResolveOptions {
  /** Relative paths resolve against this folder (default: the working directory). */
  baseDir?: string;
  /** Environment for the hub client (HF_HOME, HF_HUB_OFFLINE, HF_TOKEN…); default process.env. */
  env?: Record<string, string | undefined>;
  /** Download progress, for hub ids. */
  onProgress?: (p: { file: string; received: number; total?: number }) => void;
  /** Non-fatal notes (e.g. "no network, using the cached copy"). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

/** Turns `model.pretrained` into a local weights file (downloading hub ids into the hub cache). */
export async function resolvePretrainedSource(source: string, opts: ResolveOptions = {}): Promise<PretrainedSource> {
  if (isHubId(source)) {
    const r = await downloadFromHub(source, {
      env: opts.env, signal: opts.signal, onWarning: opts.onWarning,
      onProgress: opts.onProgress && ((p) => opts.onProgress!({ file: p.file, received: p.bytes, total: p.total })),
    });
    const file = r.files['model.safetensors'];
    const config = r.config;
    return {
      kind: 'safetensors', file, source, commit: r.commit,
      ...(config ? { preprocessing: timmPreprocessing(config, `${source} config.json`), architecture: safeArchitecture(config, source) } : {}),
    };
  }
  const file = path.resolve(opts.baseDir ?? process.cwd(), source);
  if (!/\.safetensors$/i.test(file)) {
    throw new BadDataError(`${file}: model.pretrained must be a .safetensors file (a PyTorch ResNet state dict) or a hub id hf:owner/repo`);
  }
  return { kind: 'safetensors', file, source };
}

function safeArchitecture(config: Record<string, unknown>, source: string): string | undefined {
  try { return timmArchitecture(config, `${source} config.json`); } catch { return undefined; }
}

/** Loads `source` into a branch built for `backbone` with padding 'torch'. The fc layer is dropped. */
export async function loadPretrainedInto(branch: LayersModel, source: string, backbone: BackboneName, opts: ResolveOptions = {}): Promise<ImportResult & { file: string; preprocessing?: TimmPreprocessing }> {
  const importer = backboneOf(backbone).pretrained;
  if (!importer) throw new LabError('bad-config', `model.pretrained: needs a ResNet backbone (${listWords(PRETRAINED_BACKBONES, '')}), not "${backbone}"`);
  const src = await resolvePretrainedSource(source, opts);
  if (src.architecture && isBackboneName(src.architecture) && acceptsPretrained(src.architecture) && src.architecture !== backbone) {
    throw new LabError('bad-config', `model.backbone: ${source} is a ${src.architecture} (its config.json says so); set model.backbone "${src.architecture}" (got "${backbone}")`);
  }
  const { tensors } = readSafetensors(src.file);
  return { ...importer.importStateDict(branch, tensors, src.file), file: src.file, ...(src.preprocessing ? { preprocessing: src.preprocessing } : {}) };
}
