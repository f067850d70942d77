// Reads and checks experiment configs (`*.embedding.json`): JSON Schema validation with ajv against
// schemas/embedding.schema.json (the same file VS Code uses for completion and hover), then the rules a schema
// cannot express (mining only for triplets, batch size = P×K, margins vs distance range…), then defaults and
// absolute paths, giving an ExperimentConfig. Every problem is reported at once, each naming its field
// (`data.imageSize[0]`) and what was expected. `scaffoldConfig` writes the starting config for `embedlab init`.

import Ajv, { type ErrorObject } from 'ajv';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { LossType } from '../protocol/events';
import type {
  AugmentConfig,
  BackboneName,
  ConfigIssue,
  DistanceName,
  ExperimentConfig,
  MiningName,
  ModelConfig,
  HeadSpec,
  FreezeMode,
  TrainingConfig,
} from './config-types';
import schema from '../../schemas/embedding.schema.json';
import { LabError } from './errors';
import { acceptsPretrained, backboneDescriptor, DEFAULT_BACKBONE, isBackboneName, listWords, PRETRAINED_BACKBONES } from './backbones';

export { schema as EMBEDDING_SCHEMA };

/** Defaults that do not depend on other fields (the schema's `default`s say the same). */
export const DEFAULT_AUGMENT: AugmentConfig = { flip: 'horizontal', minCropScale: 0.8, brightness: 0.1, contrast: 0.1 };

/** Margin defaults by loss type: contrastive 2.0 as DLPy's EmbeddingLoss; 0.2 for unit-length triplets (FaceNet). */
export const DEFAULT_MARGIN: Record<LossType, number> = { contrastive: 2.0, triplet: 0.2, quartet: 0.2 };

export { stageWidths } from './backbones';

/** Channels out of a backbone's global average pooling: what model.head "none" gives as the embedding. */
export function featureWidth(backbone: BackboneName, width: number): number {
  return backboneDescriptor(backbone).featureWidth(width);
}

/** Largest distance between unit-length embeddings; undefined when unbounded. */
function maxDistance(distance: DistanceName, normalized: boolean): number | undefined {
  if (distance === 'cosine') return 2;
  if (!normalized) return undefined;
  return distance === 'euclidean' ? 2 : 4;
}

/** A config that cannot be used. The CLI prints `message` and exits with `exitCode`. */
export class ConfigError extends LabError {
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super('bad-config', formatIssues(issues, file));
  }
}

/** One line per issue, each prefixed with the file (and line:column when known). */
export function formatIssues(issues: readonly ConfigIssue[], file?: string): string {
  return issues
    .map((i) => {
      const where = file === undefined ? '' : i.line !== undefined ? `${file}:${i.line}:${i.column ?? 1}: ` : `${file}: `;
      return i.path ? `${where}${i.path}: ${i.message}` : `${where}${i.message}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Schema validation

type SchemaNode = {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  errorMessage?: string;
};

let validator: ReturnType<Ajv['compile']> | undefined;

function getValidator(): ReturnType<Ajv['compile']> {
  if (validator === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    // Annotations that VS Code understands; ajv only has to accept them.
    ajv.addVocabulary(['errorMessage', 'enumDescriptions', 'markdownDescription', 'defaultSnippets']);
    validator = ajv.compile(schema);
  }
  return validator;
}

/** `/data/imageSize/0` → `data.imageSize[0]`. */
function toFieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** A short rendering of a value for "(got …)". */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) {
    const s = JSON.stringify(v);
    return s.length <= 40 ? s : `an array of ${v.length}`;
  }
  if (v !== null && typeof v === 'object') return 'an object';
  // JSON.parse reads 1e999 as Infinity, which JSON.stringify would print as null.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s.length <= 40 ? s : `${s.slice(0, 37)}…"`;
}

const quoteList = (xs: readonly unknown[]): string => xs.map((x) => JSON.stringify(x)).join(', ');

/** "must be …" for a schema node: its type and bounds in words. */
function expectation(node: SchemaNode): string {
  if (node.errorMessage) return node.errorMessage;
  if (node.enum) return `must be one of ${quoteList(node.enum)}`;
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  if (types.length === 1 && (types[0] === 'integer' || types[0] === 'number')) {
    const noun = types[0] === 'integer' ? 'an integer' : 'a number';
    const lo = node.minimum !== undefined ? `>= ${node.minimum}` : node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : '';
    const hi = node.maximum !== undefined ? `<= ${node.maximum}` : node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : '';
    if (node.minimum !== undefined && node.maximum !== undefined) return `must be ${noun} between ${node.minimum} and ${node.maximum}`;
    return `must be ${noun}${lo ? ` ${lo}` : ''}${lo && hi ? ' and' : ''}${hi ? ` ${hi}` : ''}`;
  }
  if (types.length === 1 && types[0] === 'array' && node.items) {
    const n = node.minItems !== undefined && node.minItems === node.maxItems ? `${node.minItems} ` : '';
    const inner = expectation(node.items).replace(/^must be (an? )?/, '');
    return `must be an array of ${n}${n === '1 ' ? inner : inner.replace(/^(integer|number)/, '$1s')}`;
  }
  const words: Record<string, string> = {
    object: 'an object',
    string: node.minLength ? 'a non-empty string' : 'a string',
    boolean: 'true or false',
    null: 'null',
    array: 'an array',
    integer: 'an integer',
    number: 'a number',
  };
  return `must be ${types.map((t) => words[t] ?? t).join(' or ') || 'valid'}`;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest known key, if it is close enough to be a typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const k = key.toLowerCase();
  for (const cand of known) {
    const c = cand.toLowerCase();
    const d = c === k ? 0 : c.startsWith(k) || k.startsWith(c) ? 1 : levenshtein(k, c);
    if (d < bestD) {
      bestD = d;
      best = cand;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Where each key of the four sections lives, for "belongs in …" hints. */
function sectionOf(key: string, except: string): string | undefined {
  const props = (schema as unknown as SchemaNode).properties ?? {};
  for (const section of ['data', 'model', 'loss', 'training']) {
    if (section !== except && props[section]?.properties?.[key]) return section;
  }
  return undefined;
}

function issueFromAjv(e: ErrorObject): ConfigIssue {
  const path = toFieldPath(e.instancePath);
  const node = (e.parentSchema ?? {}) as SchemaNode;
  const got = ` (got ${describeValue(e.data)})`;
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      const sub = node.properties?.[missing];
      const hint = sub?.type === 'object' && missing === 'data' ? ' (an object with at least "train")' : sub?.type === 'object' && missing === 'loss' ? ' (an object with at least "type")' : '';
      return { path: join(path, missing), message: `is required${hint}` };
    }
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(node.properties ?? {});
      const guess = suggestKey(key, known);
      const belongs = !guess && ['', 'data', 'model', 'loss', 'training'].includes(path) ? sectionOf(key, path) : undefined;
      let hint = guess ? ` (did you mean "${guess}"?)` : belongs ? ` (it belongs in "${belongs}")` : '';
      if (!hint && known.length <= 12) hint = ` (known keys: ${quoteList(known)})`;
      return { path: path || '(root)', message: `unknown key "${key}"${hint}` };
    }
    case 'not':
      return { path, message: `${node.errorMessage ?? 'is not allowed'}${got}` };
    case 'anyOf': {
      const forms = (node.anyOf ?? []).map((f) => f.errorMessage).filter(Boolean);
      return { path: path || '(root)', message: `${node.errorMessage ?? forms[0] ?? e.message ?? 'is invalid'}${got}` };
    }
    case 'minItems':
    case 'maxItems':
    case 'type':
    case 'enum':
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'maxLength':
    case 'pattern':
      return { path: path || '(root)', message: `${expectation(node)}${got}` };
    default:
      return { path: path || '(root)', message: `${e.message ?? 'is invalid'}${got}` };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Validation and resolution

/* eslint-disable @typescript-eslint/no-explicit-any -- the raw config has passed the schema; reading it as `any`
   is checked by the schema rather than by the compiler. */

export interface ValidateOptions {
  /** Name used when the config has none (loadConfig passes the file name without `.embedding.json`). */
  defaultName?: string;
}

/** The schema's issues, one per field (not both "type" and "minimum"), unknown keys each on their own. */
function schemaIssues(raw: unknown): ConfigIssue[] {
  const validate = getValidator();
  if (validate(raw)) return [];
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  // A field of several forms (anyOf, e.g. data.normalize: a name or { mean, std }): one issue in the words of its
  // errorMessage when no form fits at all; when the value is an object, the object form's own issues instead.
  const errors = validate.errors ?? [];
  const alternatives = errors.filter((e) => e.keyword === 'anyOf');
  const isContainer = (v: unknown) => v !== null && typeof v === 'object'; // an object or array: its form was chosen
  const within = (e: ErrorObject, a: ErrorObject) => e !== a && (e.instancePath === a.instancePath || e.instancePath.startsWith(`${a.instancePath}/`));
  // An issue of the chosen form, not a "this is not the other form" (type/enum at the field itself).
  const ofForm = (e: ErrorObject, a: ErrorObject) => within(e, a) && !(e.instancePath === a.instancePath && (e.keyword === 'type' || e.keyword === 'enum'));
  const kept = errors.filter((e) => {
    const alt = alternatives.find((a) => within(e, a));
    if (alt) return isContainer(alt.data) && ofForm(e, alt);
    return e.keyword !== 'anyOf' || !isContainer(e.data) || !errors.some((x) => x.keyword !== 'anyOf' && ofForm(x, e));
  });
  for (const e of kept) {
    const issue = issueFromAjv(e);
    const key = `${issue.path}\u0000${e.keyword === 'additionalProperties' ? issue.message : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

/**
 * The rules a schema cannot express. Runs also when the schema found issues, so that every problem is reported
 * at once, but skips any rule that reads a field which is itself invalid (`isBad`).
 * Returns the values it derived (batch size, P, K, margins) for resolution.
 */
function crossFieldIssues(r: any, isBad: (path: string) => boolean) {
  const issues: ConfigIssue[] = [];
  const loss = r?.loss ?? {};
  const tr = r?.training ?? {};
  const data = r?.data ?? {};
  const lossType: LossType | undefined = isBad('loss.type') ? undefined : loss.type;
  // One default with New Experiment and `init`: semi-hard mining for the triplet loss (FaceNet); the others mine nothing.
  const mining: MiningName = loss.mining ?? (lossType === 'triplet' ? 'semi-hard' : 'none');
  const distance: DistanceName = loss.distance ?? 'euclidean';
  const normalized: boolean = r?.model?.normalize ?? true;
  const margin: number = loss.margin ?? (lossType ? DEFAULT_MARGIN[lossType] : 0.2);
  const margin2: number = loss.margin2 ?? margin / 2;

  const norm = data.normalize;
  if (norm !== null && typeof norm === 'object' && Array.isArray(norm.mean) && Array.isArray(norm.std) && !isBad('data.normalize')) {
    if (norm.mean.length !== norm.std.length || norm.mean.length === 2) {
      issues.push({ path: 'data.normalize', message: `mean and std need 1 or 3 values each, as many of one as of the other (got ${norm.mean.length} and ${norm.std.length})` });
    }
  }

  // Mining works on P×K batches of images, which only the triplet loss here uses.
  if (lossType && lossType !== 'triplet' && !isBad('loss.mining') && mining !== 'none') {
    issues.push({
      path: 'loss.mining',
      message: `must be "none" for the ${lossType} loss (got ${JSON.stringify(mining)}); online mining is only for loss.type "triplet"`,
    });
  }

  let batchSize: number = tr.batchSize ?? 32;
  let P: number = tr.classesPerBatch ?? 8;
  let K: number = tr.imagesPerClass ?? 4;
  const pkBad = ['training.batchSize', 'training.classesPerBatch', 'training.imagesPerClass', 'loss.mining'].some(isBad);
  if (lossType === 'triplet' && mining !== 'none' && !pkBad) {
    const hasB = tr.batchSize !== undefined;
    const hasP = tr.classesPerBatch !== undefined;
    const hasK = tr.imagesPerClass !== undefined;
    const withMining = `with loss.mining ${JSON.stringify(mining)}`;
    if (hasP && hasK) {
      if (hasB && batchSize !== P * K) {
        issues.push({
          path: 'training.batchSize',
          message: `must equal training.classesPerBatch × training.imagesPerClass = ${P} × ${K} = ${P * K} ${withMining} (got ${batchSize}); or leave it out`,
        });
      }
      batchSize = P * K;
    } else if (hasP) {
      K = batchSize / P;
      if (!Number.isInteger(K) || K < 2) {
        issues.push({
          path: 'training.batchSize',
          message: `must be a multiple of training.classesPerBatch (${P}) with at least 2 images per class, e.g. ${P * 2}, ${P * 3} or ${P * 4}, ${withMining} (got ${batchSize})`,
        });
      }
    } else {
      P = batchSize / K;
      if (!Number.isInteger(P) || P < 2) {
        issues.push({
          path: 'training.batchSize',
          message: `must be a multiple of training.imagesPerClass (${K}) with at least 2 classes per batch, e.g. ${K * 2}, ${K * 3} or ${K * 4}, ${withMining} (got ${batchSize})`,
        });
      }
    }
  }

  const samplesPerEpoch: number = data.samplesPerEpoch ?? 2048;
  if (!pkBad && !isBad('data.samplesPerEpoch') && samplesPerEpoch < batchSize) {
    issues.push({
      path: 'data.samplesPerEpoch',
      message: `must be >= training.batchSize (${batchSize}) so that an epoch has at least one step (got ${samplesPerEpoch})`,
    });
  }

  const maxD = maxDistance(distance, normalized);
  const marginBad = ['loss.margin', 'loss.distance', 'model.normalize'].some(isBad) || (!lossType && loss.margin === undefined);
  if (!marginBad && maxD !== undefined && margin > maxD) {
    const why = distance === 'cosine' ? 'cosine distances lie in [0, 2]' : `embeddings are unit-length (model.normalize), so ${distance} distances lie in [0, ${maxD}]`;
    issues.push({
      path: 'loss.margin',
      message: `must be <= ${maxD} with loss.distance ${JSON.stringify(distance)}: ${why} and a larger margin can never be met (got ${margin})`,
    });
  }
  if (lossType === 'quartet' && !isBad('loss.margin') && !isBad('loss.margin2') && margin2 > margin) {
    issues.push({
      path: 'loss.margin2',
      message: `must be <= loss.margin (${margin}): the inter-class term is the weaker constraint (Chen et al. 2017) (got ${margin2})`,
    });
  }
  return { issues, lossType, mining, distance, normalized, margin, margin2, batchSize, P, K, samplesPerEpoch };
}

/**
 * model.*: the defaults that depend on other fields (width 1 with pretrained weights; embeddingDim from the head) and
 * the rules between them. `pretrained` resolves against the config's folder unless it is a hub id (`hf:`).
 */
function modelFields(r: any, isBad: (path: string) => boolean, configDir: string): { issues: ConfigIssue[]; model: ModelConfig } {
  const m = r?.model ?? {};
  const issues: ConfigIssue[] = [];
  const backbone: BackboneName = isBad('model.backbone') ? DEFAULT_BACKBONE : m.backbone ?? DEFAULT_BACKBONE;
  const pretrained: string | undefined = isBad('model.pretrained') ? undefined : m.pretrained;
  const width: number = m.width ?? (pretrained !== undefined ? 1 : 0.25);
  const head: HeadSpec = isBad('model.head') ? 'dense' : m.head ?? 'dense';
  if (pretrained !== undefined) {
    const hub = pretrained.startsWith('hf:');
    if (hub ? !/^hf:[^/\s]+\/[^/\s]+$/.test(pretrained) : !/\.safetensors$/i.test(pretrained)) {
      issues.push({ path: 'model.pretrained', message: `must be a .safetensors file (a PyTorch ResNet state dict) or a hub id "hf:owner/repo" (got ${describeValue(pretrained)})` });
    }
    if (!acceptsPretrained(backbone)) {
      issues.push({ path: 'model.backbone', message: `must be ${listWords(PRETRAINED_BACKBONES)} with model.pretrained: the weights are a ResNet's (got "${backbone}")` });
    }
  }
  let embeddingDim: number = m.embeddingDim ?? 64;
  const derived = head === 'none' ? featureWidth(backbone, width) : Array.isArray(head) ? head[head.length - 1] : undefined;
  if (derived !== undefined) {
    if (m.embeddingDim !== undefined && m.embeddingDim !== derived && !['model.embeddingDim', 'model.width', 'model.backbone'].some(isBad)) {
      issues.push({
        path: 'model.embeddingDim',
        message: head === 'none'
          ? `must be ${derived} (the pooled features of ${backbone} at width ${width}) with model.head "none", or be left out (got ${m.embeddingDim})`
          : `must equal the last width of model.head (${derived}), or be left out (got ${m.embeddingDim})`,
      });
    }
    embeddingDim = derived;
  }
  const freeze: FreezeMode = isBad('model.freeze') ? 'none' : m.freeze ?? 'none';
  if (freeze === 'backbone' && head === 'none') {
    issues.push({ path: 'model.freeze', message: 'must not be "backbone" with model.head "none": nothing would be left to train (got "backbone")' });
  }
  const model: ModelConfig = {
    backbone, width, embeddingDim, normalize: m.normalize ?? true,
    ...(head !== 'dense' ? { head } : {}),
    ...(freeze !== 'none' ? { freeze } : {}),
    ...(pretrained !== undefined ? { pretrained: pretrained.startsWith('hf:') ? pretrained : resolvePath(pretrained, configDir) } : {}),
  };
  return { issues, model };
}

/**
 * Validates a parsed config and resolves it: defaults filled in, `data.train`/`data.validation` absolute
 * (relative ones against `configDir`). Returns the config only when there are no issues; otherwise every issue
 * found, schema ones first.
 */
export function validateConfig(
  raw: unknown,
  configDir: string,
  opts: ValidateOptions = {},
): { config?: ExperimentConfig; issues: ConfigIssue[] } {
  const fromSchema = schemaIssues(raw);
  // Fields with a schema issue (unknown-key issues name the parent object, which itself is fine).
  const badPaths = fromSchema.filter((i) => !i.message.startsWith('unknown key')).map((i) => i.path);
  const isBad = (path: string): boolean =>
    badPaths.some((b) => b === '(root)' || b === path || path.startsWith(`${b}.`) || path.startsWith(`${b}[`) || b.startsWith(`${path}[`));
  const x = crossFieldIssues(raw, isBad);
  const mx = modelFields(raw, isBad, configDir);
  const issues = [...fromSchema, ...x.issues, ...mx.issues];
  if (issues.length > 0 || x.lossType === undefined) return { issues };
  const r = raw as any;
  const tr = r.training ?? {};
  const { lossType, mining, distance, margin, margin2, batchSize, P, K, samplesPerEpoch } = x;

  const d = r.data;
  const augment: AugmentConfig | null =
    d.augment === undefined || d.augment === null || d.augment === false
      ? null
      : d.augment === true
        ? { ...DEFAULT_AUGMENT }
        : { ...DEFAULT_AUGMENT, ...d.augment };
  const opt = tr.optimizer ?? {};
  const config: ExperimentConfig = {
    name: r.name ?? sanitizeName(opts.defaultName ?? 'experiment'),
    data: {
      train: resolvePath(d.train, configDir),
      ...(d.validation !== undefined ? { validation: resolvePath(d.validation, configDir) } : {}),
      labelLevel: d.labelLevel ?? -2,
      imageSize: d.imageSize ? [d.imageSize[0], d.imageSize[1]] : [64, 64],
      channels: d.channels ?? 3,
      fit: d.fit ?? 'cover',
      normalize: d.normalize ?? 'imagenet',
      samplesPerEpoch,
      positiveRatio: d.positiveRatio ?? 0.5,
      augment,
      cacheMB: d.cacheMB ?? 512,
      decodeConcurrency: d.decodeConcurrency ?? 4,
      validationLimit: d.validationLimit ?? 2000,
    },
    model: mx.model,
    loss: { type: lossType, margin, margin2, distance, mining },
    training: {
      epochs: tr.epochs ?? 10,
      batchSize,
      classesPerBatch: P,
      imagesPerClass: K,
      ...(lossType === 'triplet' && mining !== 'none' && tr.classesPerBatch === undefined && tr.batchSize === undefined ? { classesPerBatchAuto: true } : {}),
      optimizer: { type: opt.type ?? 'adam', learningRate: opt.learningRate ?? 0.001, momentum: opt.momentum ?? 0.9 },
      seed: tr.seed ?? 1234,
      backend: tr.backend ?? 'auto',
      checkpointEverySteps: tr.checkpointEverySteps ?? 0,
      ...(tr.backboneLearningRate !== undefined ? { backboneLearningRate: tr.backboneLearningRate } : {}),
    },
  };
  return { config, issues: [] };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * The P×K batch for the data at hand: when the config gave neither training.classesPerBatch nor training.batchSize
 * (classesPerBatchAuto), P = min(its default, the classes with at least 2 images), at least 2, and the batch size
 * P×K with it; so a 6-class folder trains with the defaults. Otherwise the training config as it is.
 */
export function fitClassesPerBatch(training: TrainingConfig, classesWithPositives: number): TrainingConfig {
  if (!training.classesPerBatchAuto) return training;
  const P = Math.max(2, Math.min(training.classesPerBatch, classesWithPositives));
  if (P === training.classesPerBatch) return training;
  return { ...training, classesPerBatch: P, batchSize: P * training.imagesPerClass };
}

/** Absolute path: `~/x` → home folder, relative → against `baseDir`. */
function resolvePath(p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(baseDir, p);
}

/** A valid experiment name from any text (e.g. a file name). */
export function sanitizeName(text: string): string {
  const s = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return s === '' ? 'experiment' : s;
}

/** The experiment name implied by a config file name: `shoes.embedding.json` → `shoes`. */
export function nameFromFile(file: string): string {
  return sanitizeName(basename(file).replace(/(\.embedding)?\.json$/i, ''));
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: Math.min(offset, text.length) - lineStart + 1 };
}

/** Parses JSON text; on a syntax error returns an issue with line and column. */
export function parseJsonText(text: string): { value?: unknown; issue?: ConfigIssue } {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return { value: JSON.parse(body) };
  } catch (err) {
    const msg = (err as Error).message;
    const m = /position (\d+)/.exec(msg);
    const offset = m ? Number(m[1]) : body.trimEnd().length; // "Unexpected end of JSON input" has no position
    const { line, column } = lineColumn(body, offset);
    const reason = msg.replace(/\s*in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)$/, '');
    return { issue: { path: '', message: `invalid JSON at line ${line}, column ${column}: ${reason}`, line, column } };
  }
}

/**
 * Reads, validates and resolves a config file. Throws ConfigError (exit code 2) listing every issue, one per line,
 * each prefixed with the file path.
 */
export function loadConfig(file: string): ExperimentConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : (err as Error).message;
    throw new ConfigError([{ path: '', message: `cannot read config: ${why}` }], abs);
  }
  const parsed = parseJsonText(text);
  if (parsed.issue) throw new ConfigError([parsed.issue], abs);
  const { config, issues } = validateConfig(parsed.value, dirname(abs), { defaultName: nameFromFile(abs) });
  if (!config) throw new ConfigError(issues, abs);
  return config;
}

// ---------------------------------------------------------------------------------------------------------------
// Scaffold

export interface ScaffoldOptions {
  name?: string;
  /** Training folder as written into the file (relative to the config file). Default "data/train". */
  train?: string;
  /** Validation folder; omitted from the file when not given. */
  validation?: string;
  backbone?: BackboneName;
  /**
   * Start from pretrained weights (`model.pretrained`: a hub id or a .safetensors path as written into the file):
   * width 1, 128 × 128 images, a dense head of 128, Adam at 1e-4 with the backbone at a tenth of the head's rate.
   */
  pretrained?: string;
  /** Value of "$schema": a path relative to the config file or a URL (see `schemaRef`); omitted when not given. */
  schema?: string;
}

/** A "$schema" value pointing from a config folder to a schema file: relative, with '/' separators. */
export function schemaRef(configDir: string, schemaFile: string): string {
  const rel = relative(configDir, schemaFile).split(sep).join('/');
  return rel.startsWith('.') || isAbsolute(rel) ? rel : `./${rel}`;
}

/**
 * The config that `embedlab init --type <type>` writes. Choices, per type:
 * - contrastive: margin 1.0 rather than DLPy's 2.0. With unit-length embeddings euclidean distances are at most 2,
 *   and 2.0 asks every dissimilar pair to be antipodal, which more than two classes cannot all be; 1.0 (60° apart)
 *   is reachable. Balanced pairs (positiveRatio 0.5).
 * - triplet: semi-hard online mining over P×K = 8×4 batches (FaceNet). Random triplets soon become easy and give
 *   zero loss; batch-hard is stronger but prone to collapse early in training on small, noisy folders, while
 *   semi-hard negatives (farther than the positive, within the margin) keep a useful gradient and stay stable.
 * - quartet: margin 0.2 and margin2 0.1, the second (inter-class) margin smaller as in Chen et al. 2017.
 */
export function scaffoldConfig(type: LossType, opts: ScaffoldOptions = {}): Record<string, unknown> {
  const loss: Record<string, unknown> =
    type === 'contrastive'
      ? { type, margin: 1.0, distance: 'euclidean', mining: 'none' }
      : type === 'triplet'
        ? { type, margin: 0.2, distance: 'euclidean', mining: 'semi-hard' }
        : { type, margin: 0.2, margin2: 0.1, distance: 'euclidean', mining: 'none' };
  const training: Record<string, unknown> = {
    epochs: 10,
    // Triplet mines P×K batches: with batchSize and classesPerBatch left out, P is min(8, the classes the data has).
    ...(type === 'triplet' ? { imagesPerClass: 4 } : { batchSize: 32 }),
    optimizer: { type: 'adam', learningRate: opts.pretrained !== undefined ? 0.0001 : 0.001 },
    ...(opts.pretrained !== undefined ? { backboneLearningRate: 0.1 } : {}),
    seed: 1234,
    backend: 'auto',
  };
  return {
    ...(opts.schema !== undefined ? { $schema: opts.schema } : {}),
    name: sanitizeName(opts.name ?? `my-${type}`),
    data: {
      train: opts.train ?? 'data/train',
      ...(opts.validation !== undefined ? { validation: opts.validation } : {}),
      labelLevel: -2,
      imageSize: opts.pretrained !== undefined ? [128, 128] : [64, 64],
      channels: 3,
      samplesPerEpoch: 2048,
      ...(type === 'contrastive' ? { positiveRatio: 0.5 } : {}),
      augment: { ...DEFAULT_AUGMENT },
    },
    model: opts.pretrained !== undefined
      ? { backbone: opts.backbone === undefined || (isBackboneName(opts.backbone) && !acceptsPretrained(opts.backbone)) ? DEFAULT_BACKBONE : opts.backbone, pretrained: opts.pretrained, embeddingDim: 128, normalize: true }
      : { backbone: opts.backbone ?? DEFAULT_BACKBONE, width: 0.25, embeddingDim: 64, normalize: true },
    loss,
    training,
  };
}
