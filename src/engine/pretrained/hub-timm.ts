// timm's `config.json` on the hub: the architecture name and the preprocessing of `pretrained_cfg`. Two shapes exist:
// today's `{ architecture, num_classes, pretrained_cfg: { input_size, mean, … } }` and the older flat one where the
// preprocessing keys sit at the top level (timm's `load_model_config_from_hf` accepts both; so do we). Missing keys
// take timm's `resolve_data_config` defaults.
import { BadDataError } from '../../core/errors';

export type TimmInterpolation = 'bilinear' | 'bicubic' | 'nearest' | 'lanczos' | 'box' | 'hamming';
export type TimmCropMode = 'center' | 'squash' | 'border';

export interface TimmPreprocessing {
  /** [channels, height, width] */
  inputSize: [number, number, number];
  /** Per channel, for pixels in [0, 1]. */
  mean: number[];
  std: number[];
  interpolation: TimmInterpolation;
  /** The centre crop's share of the resized image at evaluation (timm resizes to size / cropPct, then crops). */
  cropPct: number;
  cropMode: TimmCropMode;
  /** timm's evaluation size where it differs from the training one (`test_input_size`). */
  testInputSize?: [number, number, number];
  testCropPct?: number;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const DEFAULT_CROP_PCT = 0.875;
const INTERPOLATIONS: readonly TimmInterpolation[] = ['bilinear', 'bicubic', 'nearest', 'lanczos', 'box', 'hamming'];
const CROP_MODES: readonly TimmCropMode[] = ['center', 'squash', 'border'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The preprocessing section: `pretrained_cfg`, else the top level (the older flat layout). */
function preprocessingSection(config: unknown, where: string): Record<string, unknown> {
  if (!isObject(config)) throw new BadDataError(`${where}: expected a JSON object (timm's model config)`);
  const cfg = config.pretrained_cfg;
  if (cfg === undefined) return config;
  if (!isObject(cfg)) throw new BadDataError(`${where}: pretrained_cfg must be an object`);
  return cfg;
}

function size3(value: unknown, field: string): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => Number.isInteger(v) && (v as number) > 0)) {
    throw new BadDataError(`${field}: must be [channels, height, width] of positive integers (got ${JSON.stringify(value)})`);
  }
  return [value[0] as number, value[1] as number, value[2] as number];
}

function perChannel(value: unknown, channels: number, field: string, positive: boolean): number[] {
  const list = typeof value === 'number' ? new Array<number>(channels).fill(value) : value;
  if (!Array.isArray(list) || list.length !== channels || !list.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0))) {
    throw new BadDataError(`${field}: must be ${channels} ${positive ? 'positive ' : ''}numbers, one per channel (got ${JSON.stringify(value)})`);
  }
  return list as number[];
}

function fraction(value: unknown, field: string): number {
  if (typeof value !== 'number' || !(value > 0) || value > 1) throw new BadDataError(`${field}: must be a number in (0, 1] (got ${JSON.stringify(value)})`);
  return value;
}

/** The preprocessing timm used for these weights, from `config.json` (its `pretrained_cfg`). */
export function timmPreprocessing(config: unknown, where = 'config.json'): TimmPreprocessing {
  const cfg = preprocessingSection(config, where);
  const prefix = config !== cfg ? `${where}: pretrained_cfg.` : `${where}: `;
  const inputSize = cfg.input_size === undefined ? [3, 224, 224] as [number, number, number] : size3(cfg.input_size, `${prefix}input_size`);
  const channels = inputSize[0];
  const defaultMean = channels === 3 ? IMAGENET_MEAN : new Array<number>(channels).fill(0.5);
  const defaultStd = channels === 3 ? IMAGENET_STD : new Array<number>(channels).fill(0.5);
  const mean = cfg.mean === undefined ? defaultMean : perChannel(cfg.mean, channels, `${prefix}mean`, false);
  const std = cfg.std === undefined ? defaultStd : perChannel(cfg.std, channels, `${prefix}std`, true);
  const interpolation = cfg.interpolation === undefined || cfg.interpolation === '' ? 'bicubic' : cfg.interpolation;
  if (typeof interpolation !== 'string' || !INTERPOLATIONS.includes(interpolation as TimmInterpolation)) {
    throw new BadDataError(`${prefix}interpolation: must be one of ${INTERPOLATIONS.map((i) => `"${i}"`).join(', ')} (got ${JSON.stringify(interpolation)})`);
  }
  const cropPct = cfg.crop_pct === undefined || cfg.crop_pct === null ? DEFAULT_CROP_PCT : fraction(cfg.crop_pct, `${prefix}crop_pct`);
  const cropMode = cfg.crop_mode === undefined || cfg.crop_mode === null ? 'center' : cfg.crop_mode;
  if (typeof cropMode !== 'string' || !CROP_MODES.includes(cropMode as TimmCropMode)) {
    throw new BadDataError(`${prefix}crop_mode: must be one of ${CROP_MODES.map((m) => `"${m}"`).join(', ')} (got ${JSON.stringify(cropMode)})`);
  }
  const result: TimmPreprocessing = {
    inputSize, mean, std, interpolation: interpolation as TimmInterpolation, cropPct, cropMode: cropMode as TimmCropMode,
  };
  if (cfg.test_input_size !== undefined && cfg.test_input_size !== null) result.testInputSize = size3(cfg.test_input_size, `${prefix}test_input_size`);
  if (cfg.test_crop_pct !== undefined && cfg.test_crop_pct !== null) result.testCropPct = fraction(cfg.test_crop_pct, `${prefix}test_crop_pct`);
  return result;
}

/** timm's architecture name (`"resnet18"`, `"resnet50"` …), from `architecture` (or the older `arch`). */
export function timmArchitecture(config: unknown, where = 'config.json'): string {
  if (!isObject(config)) throw new BadDataError(`${where}: expected a JSON object (timm's model config)`);
  const arch = config.architecture ?? config.arch;
  if (typeof arch !== 'string' || arch.trim() === '') {
    throw new BadDataError(`${where}: no "architecture" field (a timm model name such as "resnet18"); is this a timm model repo?`);
  }
  return arch.trim();
}
