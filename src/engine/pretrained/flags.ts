// The preprocessing flags of a pretrained model used as it is (`embed --model <file.onnx|file.safetensors|hf:…>`):
// `--size H[,W]` and `--normalize imagenet|zero-one|minus-one-one`, or `--mean m[,m,m] --std s[,s,s]` (the network's own
// statistics for pixels in [0, 1]). Bad values are usage errors (exit 2).
import type { NormalizeMode, NormalizeStats } from '../../core/config-types';
import { LabError } from '../../core/errors';
import { NAMED_STATS } from '../normalize';

export const NORMALIZE_MODES = Object.keys(NAMED_STATS) as readonly NormalizeMode[];

/** A comma list of 1 or 3 finite numbers (`--mean` / `--std`); `positive` for a standard deviation. */
function statList(flag: string, text: string, positive: boolean): number[] {
  const v = text.split(',').map((t) => Number(t.trim()));
  if ((v.length !== 1 && v.length !== 3) || v.some((x) => !Number.isFinite(x) || (positive ? !(x > 0) : Math.abs(x) > 255))) {
    throw new LabError('bad-usage', `--${flag} must be 1 or 3 comma-separated ${positive ? 'positive ' : ''}numbers for pixels in [0, 1], e.g. ${positive ? '0.229,0.224,0.225' : '0.485,0.456,0.406'} (got ${JSON.stringify(text)})`);
  }
  return v;
}

export function preprocessingFlags(flags: { size?: string; normalize?: string; mean?: string; std?: string }): { size?: [number, number]; normalize?: NormalizeMode } {
  let size: [number, number] | undefined;
  if (flags.size !== undefined) {
    const parts = flags.size.split(',').map((t) => Number(t.trim()));
    if (parts.length > 2 || parts.some((d) => !Number.isInteger(d) || d < 8 || d > 4096)) throw new LabError('bad-usage', `--size must be H or H,W: integers from 8 to 4096 (got ${JSON.stringify(flags.size)})`);
    size = [parts[0], parts[1] ?? parts[0]];
  }
  if (flags.normalize !== undefined && !NORMALIZE_MODES.includes(flags.normalize as NormalizeMode)) {
    throw new LabError('bad-usage', `--normalize must be one of ${NORMALIZE_MODES.join(', ')} (got ${JSON.stringify(flags.normalize)})`);
  }
  if ((flags.mean === undefined) !== (flags.std === undefined)) throw new LabError('bad-usage', '--mean and --std go together');
  if (flags.mean !== undefined && flags.std !== undefined) {
    if (flags.normalize !== undefined) throw new LabError('bad-usage', '--normalize and --mean/--std are two ways to say the same thing: give one');
    const mean = statList('mean', flags.mean, false);
    const std = statList('std', flags.std, true);
    if (mean.length !== std.length) throw new LabError('bad-usage', `--mean has ${mean.length} value(s), --std ${std.length}: give as many of each`);
    return { size, normalize: normalizeOf(mean, std) };
  }
  return { size, normalize: flags.normalize as NormalizeMode | undefined };
}

/** The named mode a mean/std pair is (so tables and exports keep saying "imagenet"), else the statistics themselves. */
export function normalizeOf(mean: readonly number[], std: readonly number[]): NormalizeMode {
  return normalizeModeOf(mean, std) ?? ({ mean: [...mean], std: [...std] } satisfies NormalizeStats);
}

/** The named normalisation a mean/std pair (pixels in [0, 1]) is, or undefined. */
export function normalizeModeOf(mean: readonly number[], std: readonly number[]): NormalizeMode | undefined {
  const three = (v: readonly number[]) => (v.length === 1 ? [v[0], v[0], v[0]] : v);
  const near = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-3);
  return (Object.keys(NAMED_STATS) as Array<keyof typeof NAMED_STATS>)
    .find((k) => near(three(mean), three(NAMED_STATS[k].mean)) && near(three(std), three(NAMED_STATS[k].std)));
}

/** `--model` names a pretrained source (hf:owner/repo, or a .safetensors file) rather than a run or model folder. */
export function isPretrainedSource(model: string): boolean {
  return /^hf:/.test(model) || /\.safetensors$/i.test(model);
}
