// A model's verification threshold (issue 16, item 1): `eval --save-threshold <run|model>` writes threshold.json,
// and verify / classify / duplicates read it. Two embeddings are "the same" when their distance is BELOW the
// threshold (eval's sweep puts it half-way between the last accepted and the first rejected pair distance, so
// `d < threshold` is the rule it was calibrated with). docs/use-model.md has the file's layout and placement.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from './atomic';
import type { DistanceName } from './config-types';
import { BadDataError, LabError } from './errors';
import { verification } from './metrics-verification';

export const THRESHOLD_FILE = 'threshold.json';

export interface ThresholdFile {
  format: 'embedding-lab/threshold';
  version: 1;
  /** The threshold commands use unless told otherwise (the best-F1 one). */
  threshold: number;
  distance: DistanceName;
  /** Vector length of the table it came from. */
  dim: number;
  bestF1: { threshold: number; f1: number; precision: number; recall: number };
  atPrecision: { target: number; threshold: number; precision: number; recall: number } | null;
  /** Where it came from: the evaluated table and its pair counts. */
  source: { table: string; rows: number; labels: number; positives: number; negatives: number; sampled: boolean; rocAuc: number };
  createdAt: string;
}

/** The model a threshold belongs to: its vector length and distance (from preprocessing.json or a run's config.json). */
export interface ModelFacts { dim: number; distance: DistanceName; dir: string }

const isRun = (dir: string) => fs.existsSync(path.join(dir, 'config.json')) && fs.existsSync(path.join(dir, 'run.json'));

/** Where `eval --save-threshold <target>` writes: `<run>/model/threshold.json` (it outlives re-exports of model/branch), or `<modelDir>/threshold.json`. */
export function thresholdPathFor(target: string): string {
  const dir = path.resolve(target);
  return isRun(dir) ? path.join(dir, 'model', THRESHOLD_FILE) : path.join(dir, THRESHOLD_FILE);
}

/** The places a model's threshold may be, most specific first: a model folder's own, then its run's (for `<run>/model/branch`). */
export function thresholdCandidates(...targets: string[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    const dir = path.resolve(t);
    out.push(thresholdPathFor(dir));
    const parent = path.dirname(dir);
    if (path.basename(parent) === 'model' && isRun(path.dirname(parent))) out.push(path.join(parent, THRESHOLD_FILE));
  }
  return [...new Set(out)];
}

/** Reads the vector length and distance of a run or model folder. */
export function modelFacts(target: string): ModelFacts {
  const dir = path.resolve(target);
  if (!fs.existsSync(dir)) throw new BadDataError(`model folder does not exist: ${dir}`);
  const pres = isRun(dir) ? [path.join(dir, 'model', 'branch', 'preprocessing.json')] : [path.join(dir, 'preprocessing.json')];
  for (const p of pres) {
    if (!fs.existsSync(p)) continue;
    const pre = readJson(p) as { embeddingDim?: unknown; distance?: unknown };
    if (typeof pre.embeddingDim === 'number' && typeof pre.distance === 'string') return { dim: pre.embeddingDim, distance: pre.distance as DistanceName, dir };
  }
  if (isRun(dir)) {
    const cfg = readJson(path.join(dir, 'config.json')) as { model?: { embeddingDim?: unknown }; loss?: { distance?: unknown } };
    if (typeof cfg.model?.embeddingDim === 'number') return { dim: cfg.model.embeddingDim, distance: (cfg.loss?.distance as DistanceName | undefined) ?? 'euclidean', dir };
  }
  throw new BadDataError(`${dir} is neither a run folder nor a model folder (no preprocessing.json)`);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadDataError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

interface EvalVerification {
  positives: number; negatives: number; sampled: boolean; rocAuc: number;
  bestF1: ThresholdFile['bestF1']; atPrecision?: ThresholdFile['atPrecision'];
}

/** The threshold file for an eval report (`evaluateTable…` plus table, rows, labels). */
export function thresholdFromReport(report: { table: string; rows: number; labels: number; dim: number; distance: DistanceName; verification: EvalVerification }, now = new Date()): ThresholdFile {
  const v = report.verification;
  if (!Number.isFinite(v.bestF1.threshold)) throw new BadDataError(`${report.table}: no threshold could be calibrated (${v.positives} positive and ${v.negatives} negative pairs)`);
  return {
    format: 'embedding-lab/threshold', version: 1, threshold: v.bestF1.threshold, distance: report.distance, dim: report.dim,
    bestF1: v.bestF1, atPrecision: v.atPrecision ?? null,
    source: { table: report.table, rows: report.rows, labels: report.labels, positives: v.positives, negatives: v.negatives, sampled: v.sampled, rocAuc: v.rocAuc },
    createdAt: now.toISOString(),
  };
}

/** The threshold file for labelled vectors (training's last validation): eval's verification over their pairs. */
export function thresholdFromVectors(vectors: Float32Array, dim: number, labels: Int32Array, distance: DistanceName, source: string, targetPrecision = 0.95): ThresholdFile {
  const v = verification(vectors, dim, labels, distance, { targetPrecision });
  const classes = new Set(Array.from(labels).filter((l) => l >= 0)).size;
  return thresholdFromReport({ table: source, rows: labels.length, labels: classes, dim, distance, verification: v });
}

/** Writes the threshold into a run or model folder after checking it fits the model (vector length, distance). */
export async function saveThreshold(target: string, t: ThresholdFile): Promise<string> {
  const facts = modelFacts(target);
  if (facts.dim !== t.dim) throw new BadDataError(`the table has vectors of length ${t.dim}, model ${facts.dir} gives ${facts.dim}: it was not embedded with this model`);
  if (facts.distance !== t.distance) throw new BadDataError(`the threshold was calibrated on ${t.distance} distances, model ${facts.dir} uses ${facts.distance}: evaluate with --distance ${facts.distance}`);
  const file = thresholdPathFor(target);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, t);
  return file;
}

/** Parses and checks a threshold.json. */
export function parseThresholdFile(file: string, text: string): ThresholdFile {
  let obj: Partial<ThresholdFile>;
  try { obj = JSON.parse(text) as Partial<ThresholdFile>; } catch (err) { throw new BadDataError(`${file} is not JSON: ${(err as Error).message}`); }
  if (obj?.format !== 'embedding-lab/threshold' || typeof obj.threshold !== 'number' || !Number.isFinite(obj.threshold) || typeof obj.dim !== 'number' || typeof obj.distance !== 'string') {
    throw new BadDataError(`${file} is not a threshold file (format embedding-lab/threshold with a finite threshold, dim and distance); write it again with \`embedlab eval <table> --save-threshold <run|model>\``);
  }
  return obj as ThresholdFile;
}

/** The first threshold file found for these folders, or null. */
export function findThreshold(...targets: string[]): { file: string; value: ThresholdFile } | null {
  for (const file of thresholdCandidates(...targets)) {
    if (fs.existsSync(file)) return { file, value: parseThresholdFile(file, fs.readFileSync(file, 'utf8')) };
  }
  return null;
}

export interface ResolvedThreshold { value: number; source: string }

/**
 * The threshold a command uses: `--threshold <distance>` when given, `--threshold best-f1|precision` to pick one of the
 * saved ones, else the saved default. No saved file and no number: a usage error saying how to make one.
 */
export function resolveThreshold(override: string | undefined, targets: string[], expect?: { dim?: number; distance?: DistanceName }): ResolvedThreshold {
  if (override !== undefined && override !== 'best-f1' && override !== 'precision') {
    const x = Number(override);
    if (override.trim() === '' || !Number.isFinite(x) || x < 0) throw new LabError('bad-usage', `--threshold must be a distance ≥ 0, best-f1 or precision (got ${JSON.stringify(override)})`);
    return { value: x, source: '--threshold' };
  }
  const found = findThreshold(...targets);
  if (!found) {
    const m = targets[0] ?? '<run|model>';
    throw new LabError('bad-usage', `model ${m} has no saved threshold (${THRESHOLD_FILE}); calibrate one on labelled images: `
      + `\`embedlab embed --model ${m} <labelled folder> --out t.parquet && embedlab eval t.parquet --save-threshold ${m}\`, or pass --threshold <distance>`);
  }
  const t = found.value;
  if (expect?.dim !== undefined && t.dim !== expect.dim) throw new BadDataError(`${found.file} was calibrated on vectors of length ${t.dim}, the model gives ${expect.dim}; save it again with eval --save-threshold`);
  if (expect?.distance !== undefined && t.distance !== expect.distance) throw new BadDataError(`${found.file} was calibrated on ${t.distance} distances, the model uses ${expect.distance}`);
  if (override === 'precision') {
    if (!t.atPrecision) throw new BadDataError(`${found.file} has no target-precision threshold (the target was not reachable)`);
    return { value: t.atPrecision.threshold, source: `${found.file} (precision ≥ ${t.atPrecision.target})` };
  }
  if (override === 'best-f1') return { value: t.bestF1.threshold, source: `${found.file} (best F1)` };
  return { value: t.threshold, source: found.file };
}

/** The verdict rule, in one place: same when the distance is below the threshold. */
export const isSame = (distance: number, threshold: number): boolean => distance < threshold;

export interface PairStats { count: number; tp: number; fp: number; tn: number; fn: number; accuracy: number; precision: number; recall: number }

/** Accuracy, precision and recall of verdicts against labels (true = same). */
export function pairStats(verdicts: ArrayLike<boolean>, labels: ArrayLike<boolean>): PairStats {
  let tp = 0; let fp = 0; let tn = 0; let fn = 0;
  for (let i = 0; i < verdicts.length; i++) {
    if (verdicts[i]) { if (labels[i]) tp++; else fp++; } else if (labels[i]) fn++; else tn++;
  }
  const count = tp + fp + tn + fn;
  return { count, tp, fp, tn, fn, accuracy: count ? (tp + tn) / count : NaN, precision: tp + fp ? tp / (tp + fp) : NaN, recall: tp + fn ? tp / (tp + fn) : NaN };
}

/** A pairs file's label cell: same/1/true → true, different/0/false → false, empty → null; anything else is an error. */
export function parsePairLabel(cell: string): boolean | null {
  const s = cell.trim().toLowerCase();
  if (s === '') return null;
  if (s === 'same' || s === '1' || s === 'true' || s === 'yes') return true;
  if (s === 'different' || s === '0' || s === 'false' || s === 'no') return false;
  throw new Error(`label must be same/different or 1/0 (got ${JSON.stringify(cell)})`);
}

/** The distance between row ia of a and row ib of b, in Float64 (eval's pair arithmetic: cosine as ½‖â − b̂‖²). */
export function pairDistance(a: Float32Array, ia: number, b: Float32Array, ib: number, dim: number, distance: DistanceName): number {
  const pa = ia * dim;
  const pb = ib * dim;
  let sa = 1;
  let sb = 1;
  if (distance === 'cosine') {
    let na = 0; let nb = 0;
    for (let d = 0; d < dim; d++) { na += a[pa + d] * a[pa + d]; nb += b[pb + d] * b[pb + d]; }
    sa = na > 0 ? 1 / Math.sqrt(na) : 1;
    sb = nb > 0 ? 1 / Math.sqrt(nb) : 1;
  }
  let s = 0;
  for (let d = 0; d < dim; d++) { const t = a[pa + d] * sa - b[pb + d] * sb; s += t * t; }
  return distance === 'euclidean' ? Math.sqrt(s) : distance === 'cosine' ? s / 2 : s;
}
