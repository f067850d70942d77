// The training loop. It runs inside the worker process and reports through `emit` (JSON-lines events).
//
// One step: the sampler's tuples for this step are decoded (from the pixel cache) and augmented while the previous
// step computes; all streams are concatenated into one batch that goes through the one shared branch (so the
// weights are shared by construction and BN statistics cover every stream); the loss and its gradients are taken
// with tf.variableGrads; the loss is read back (asynchronously) and checked to be finite BEFORE the gradients are
// applied, so a NaN never reaches the weights and the last checkpoint on disk stays good.
//
// Determinism: the tuples of epoch e and the augmentation of step s depend only on (seed, e, s), so a resumed run
// draws exactly what the uninterrupted run would have drawn.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, Optimizer, Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { ExperimentConfig } from '../core/config-types';
import { fitClassesPerBatch } from '../core/config';
import { checkTrainable, scanDataset, summarize, withoutItems, type DatasetIndex } from '../core/dataset';
import { CollapseWatch } from '../core/collapse-watch';
import { retrievalMetrics } from '../core/metrics';
import { saveThreshold, thresholdFromVectors } from '../core/threshold';
import { Rng } from '../core/rng';
import { TupleSampler } from '../core/sampler';
import { appendEvent, lastCheckpointState, runPaths, writeConfigSnapshot as writeSnapshot, writeRunInfo, type RunInfo } from '../core/run-folder';
import { LabError } from '../core/errors';
import type { BackendName, DatasetSummary, WorkerEvent } from '../protocol/events';
import { PROTOCOL_VERSION } from '../protocol/events';
import { checkModelFits, checkWebGpuHealth, initBackend } from './backend';
import { ImageStore, type ImageSpec } from './images';
import { contrastiveLoss, minedTripletLoss, quartetLoss, tripletLoss, type LossOutput } from './losses';
import { loadOptimizer, loadWeightsInto, readableDir, saveLayersModel, saveOptimizer, writeDirAtomic } from './model-io';
import { fusedAdam } from './kernels/adam';
import { buildBranch, parameterCount } from './models';
import { loadPretrainedInto } from './pretrained/source';
import { splitOptimizer } from './pretrained/backbone-rate';
import { exportModels } from './export';
import { frozenFeaturesApply, prepareFrozenFeatures } from './frozen/features';
import { tf } from './tf';

export class TrainingError extends LabError {
  constructor(message: string, code: 'nan-loss' | 'bad-data' | 'io' | 'internal', exitCode = 1, readonly step?: number) {
    super(code, message, { exitCode });
  }
}

/** Thrown at a stop point outside the step loop (decoding, validation) when a stop was asked for. */
class StopRequested extends Error {}

export interface TrainOptions {
  config: ExperimentConfig;
  runDir: string; // created by the caller; config.json is written here
  configFile?: string;
  resume?: boolean; // continue from runDir/checkpoints/last
  emit: (e: WorkerEvent) => void;
  shouldStop: () => boolean;
  backendSearchPaths?: string[];
  /** Test hook: makes the loss of this global step NaN (EMBEDLAB_TEST_NAN_AT_STEP in the worker). */
  nanAtStep?: number;
  /** model.freeze "backbone": train the head on cached backbone features (frozen/features.ts); false: through the network. */
  frozenFeatures?: boolean;
}

interface CheckpointState {
  epoch: number; // epoch in progress (0-based)
  stepInEpoch: number; // steps of that epoch already done
  globalStep: number;
  bestMapAtR: number | null;
  backend: BackendName;
}

export function imageSpecOf(config: ExperimentConfig): ImageSpec {
  const [height, width] = config.data.imageSize;
  return { height, width, channels: config.data.channels, fit: config.data.fit, normalize: config.data.normalize };
}

function makeOptimizer(config: ExperimentConfig): Optimizer {
  const o = config.training.optimizer;
  const make = (learningRate: number): Optimizer => {
    switch (o.type) {
      case 'adam': return fusedAdam(tf, learningRate); // tf.train.adam, one kernel per variable on wasm (kernels/adam.ts)
      case 'sgd': return tf.train.sgd(learningRate);
      case 'momentum': return tf.train.momentum(learningRate, o.momentum);
      case 'rmsprop': return tf.train.rmsprop(learningRate, 0.9, o.momentum);
    }
  };
  // training.backboneLearningRate: the backbone at a multiple of the head's rate (pretrained/backbone-rate.ts).
  const m = config.training.backboneLearningRate;
  return m === undefined || m === 1 ? make(o.learningRate) : splitOptimizer(make(o.learningRate), make(o.learningRate * m));
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
function sameStats(mean: number[], std: number[]): boolean {
  return mean.length === 3 && mean.every((m, i) => Math.abs(m - IMAGENET.mean[i]) < 1e-3 && Math.abs(std[i] - IMAGENET.std[i]) < 1e-3);
}

/** Decodes every image of a dataset once; corrupt images are reported and dropped from the index. */
async function loadDataset(root: string, config: ExperimentConfig, emit: (e: WorkerEvent) => void, base: { runId: string }, requireTrainable: boolean, limit?: number, seed = 0, stopPoint: () => void = () => undefined) {
  let index = await scanDataset(root, { labelLevel: config.data.labelLevel });
  if (index.outsideLinks?.length) {
    const links = index.outsideLinks;
    emit({
      type: 'warning', code: 'other', time: new Date().toISOString(), ...base, paths: links,
      message: `${links.length} symbolic link(s) point outside ${root} and were not followed: ${links.slice(0, 3).join(', ')}${links.length > 3 ? ', …' : ''}`,
    });
  }
  stopPoint();
  if (requireTrainable) checkTrainable(index, config.loss.type);
  if (limit !== undefined && index.items.length > limit) {
    // A seeded subset, stratified by nothing but the shuffle: enough for a stable per-epoch estimate.
    const order = index.items.map((_, i) => i);
    Rng.derive(seed, 'validation-subset').shuffle(order);
    const keep = new Set(order.slice(0, limit));
    index = withoutItems(index, index.items.map((_, i) => i).filter((i) => !keep.has(i)));
  }
  const storePaths = index.items.map((it) => it.path);
  const store = new ImageStore(storePaths, imageSpecOf(config), {
    cacheBytes: config.data.cacheMB * 1024 * 1024, concurrency: config.data.decodeConcurrency,
  });
  const total = index.items.length;
  const { failed } = await store.prepare((done) => {
    stopPoint(); // a stop asked for while decoding ends the decoding workers after their current image
    if (done === total || done % 256 === 0) emit({ type: 'progress', task: 'decode', done, total, time: new Date().toISOString(), ...base });
  });
  if (failed.length > 0) {
    emit({
      type: 'warning', code: 'skipped-images', time: new Date().toISOString(), ...base,
      message: `${failed.length} unreadable image(s) skipped in ${root}: ${failed.slice(0, 3).map((f) => `${f.path} (${f.reason})`).join('; ')}${failed.length > 3 ? '; …' : ''}`,
      paths: failed.map((f) => f.path),
    });
    index = withoutItems(index, failed.map((f) => f.index));
    if (requireTrainable) checkTrainable(index, config.loss.type);
  }
  // The store was built over the original list; keep a map from the new item order to store indices.
  const storeIndexOf = new Map<string, number>();
  storePaths.forEach((p, i) => storeIndexOf.set(p, i));
  const toStore = Int32Array.from(index.items.map((it) => storeIndexOf.get(it.path) ?? -1));
  const s = summarize(index);
  const summary: DatasetSummary = {
    root, classes: s.classes, images: s.images, skipped: failed.length, ignored: index.ignored, classesWithPositives: s.classesWithPositives,
  };
  return { index, store, toStore, summary };
}

function trainSubset(train: Awaited<ReturnType<typeof loadDataset>>, limit: number, seed: number) {
  const n = train.index.items.length;
  if (n <= limit) return train;
  const order = Array.from({ length: n }, (_, i) => i);
  Rng.derive(seed, 'validation-subset').shuffle(order);
  const keep = order.slice(0, limit).sort((a, b) => a - b);
  const drop = new Set(keep);
  const index = withoutItems(train.index, order.filter((i) => !drop.has(i)));
  return { ...train, index, toStore: Int32Array.from(keep.map((i) => train.toStore[i])) };
}

/** Embeds images (by store index) with the branch in inference mode; async reads only. */
export async function embedStore(branch: LayersModel, store: ImageStore, storeIdx: ArrayLike<number>, spec: ImageSpec, batch = 64, stopPoint?: () => void): Promise<Float32Array> {
  const dim = (branch.outputs[0].shape[1] ?? 0) as number;
  const out = new Float32Array(storeIdx.length * dim);
  for (let i = 0; i < storeIdx.length; i += batch) {
    stopPoint?.();
    const idx = Array.from({ length: Math.min(batch, storeIdx.length - i) }, (_, j) => storeIdx[i + j]);
    const pixels = await store.getBatch(idx, null);
    const y = tf.tidy(() => branch.predict(tf.tensor4d(pixels, [idx.length, spec.height, spec.width, spec.channels])) as Tensor);
    out.set((await y.data()) as Float32Array, i * dim);
    y.dispose();
  }
  return out;
}

function streamsOf(config: ExperimentConfig): number {
  if (config.loss.mining !== 'none') return 1;
  return config.loss.type === 'contrastive' ? 2 : config.loss.type === 'triplet' ? 3 : 4;
}

export async function runTraining(opts: TrainOptions): Promise<{ status: 'done' | 'stopped'; bestMapAtR: number | null }> {
  const { config, runDir, emit: emitRaw } = opts;
  const t0 = Date.now();
  const runId = path.basename(runDir);
  const base = { runId };
  const now = () => new Date().toISOString();
  const paths = runPaths(runDir);
  const emit = (e: WorkerEvent) => {
    appendEvent(runDir, e);
    emitRaw(e);
  };
  // A stop (SIGTERM, Ctrl-C, the supervisor gone) is honoured at every phase: between steps with a checkpoint,
  // and, before the first step or during validation, at these points.
  const stopPoint = () => { if (opts.shouldStop()) throw new StopRequested('stopped'); };
  const { epochs } = config.training;
  let batchSize = config.training.batchSize; // lowered with a defaulted classesPerBatch once the data is listed

  // run.json says running (with this pid) from the start, so a run stopped or killed while it decodes is visible.
  const info: RunInfo = {
    runId, name: config.name, status: 'running', backend: null, lossType: config.loss.type,
    configFile: opts.configFile ?? null, startedAt: now(), updatedAt: now(), endedAt: null, epoch: 0, epochs,
    step: 0, bestMapAtR: null, lastMapAtR: null, pid: process.pid, error: null,
  };
  if (opts.resume) {
    try {
      const prev = JSON.parse(fs.readFileSync(paths.run, 'utf8')) as RunInfo;
      Object.assign(info, { startedAt: prev.startedAt, lastMapAtR: prev.lastMapAtR, bestMapAtR: prev.bestMapAtR ?? null, backend: prev.backend ?? null });
      if (opts.configFile === undefined && typeof prev.configFile === 'string') info.configFile = path.resolve(runDir, prev.configFile);
    } catch { /* a missing run.json is rebuilt */ }
    const ckpt = lastCheckpointState(runDir);
    if (ckpt) Object.assign(info, { epoch: ckpt.epoch, step: ckpt.step });
  }
  await writeRunInfo(runDir, info);

  let state: CheckpointState = { epoch: info.epoch, stepInEpoch: 0, globalStep: info.step, bestMapAtR: info.bestMapAtR, backend: info.backend ?? 'wasm' };
  let branch: LayersModel | undefined;
  let optimizer: Optimizer | undefined;
  const finish = async (status: 'done' | 'stopped') => {
    Object.assign(info, { status, epoch: state.epoch, step: state.globalStep, bestMapAtR: state.bestMapAtR, endedAt: now(), pid: null });
    await writeRunInfo(runDir, info);
    emit({ type: 'done', time: now(), ...base, status, epoch: state.epoch, step: state.globalStep, bestMapAtR: state.bestMapAtR, seconds: (Date.now() - t0) / 1000 });
    branch?.dispose();
    optimizer?.dispose();
    return { status, bestMapAtR: state.bestMapAtR };
  };

  try {
  stopPoint();
  const backend = await initBackend(config.training.backend, { searchPaths: opts.backendSearchPaths });
  state.backend = backend.name;
  info.backend = backend.name;
  const spec = imageSpecOf(config);
  stopPoint();

  branch = buildBranch({ ...config.model, inputShape: [spec.height, spec.width, spec.channels], seed: config.training.seed });
  // Refuse a step that cannot fit before decoding anything (a batch size of 1e8 would run for minutes, then fail
  // with "Invalid typed array length"), naming the field to lower.
  const imagesPerStep = config.loss.mining !== 'none' ? config.training.classesPerBatch * config.training.imagesPerClass : config.training.batchSize * streamsOf(config);
  // (A step on cached features runs the head only: its size is not the CNN's; frozen/features.ts.)
  if (!frozenFeaturesApply(config, opts.frozenFeatures)) checkStepMemory(branch, imagesPerStep, config, backend.name);
  // On webgpu, refuse a batch whose largest activation exceeds the device's storage-buffer limit up front (it would
  // otherwise compute wrong numbers silently); a no-op on the other backends.
  checkModelFits(branch, imagesPerStep, 'a training batch');

  const train = await loadDataset(config.data.train, config, emit, base, true, undefined, 0, stopPoint);
  config.training = fitClassesPerBatch(config.training, train.summary.classesWithPositives); // default P ≤ the classes there are
  batchSize = config.training.batchSize;
  const valRoot = config.data.validation;
  // Without a validation folder, per-epoch metrics come from a seeded subset of the training images (same store).
  // data.validationLimit = 0 turns per-epoch validation off.
  const validate = config.data.validationLimit > 0;
  const val = valRoot && validate
    ? await loadDataset(valRoot, config, emit, base, false, config.data.validationLimit, config.training.seed, stopPoint)
    : validate ? trainSubset(train, config.data.validationLimit, config.training.seed) : train;
  stopPoint();

  const model = branch;
  const opt = makeOptimizer(config);
  optimizer = opt;
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);

  state = { epoch: 0, stepInEpoch: 0, globalStep: 0, bestMapAtR: null, backend: backend.name };
  if (opts.resume) {
    const dir = readableDir(paths.last);
    if (dir) {
      await loadWeightsInto(model, dir);
      if (fs.existsSync(path.join(dir, 'optimizer.json'))) await loadOptimizer(opt, dir);
      state = { ...JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as CheckpointState, backend: backend.name };
    } else if (info.step > 0) {
      throw new TrainingError(`nothing to resume: ${paths.last} holds no checkpoint`, 'io', 2);
    } // else: stopped before its first step: it starts from the beginning
  }

  // model.pretrained: its weights before the first step (a resumed run has them in its checkpoint); the head keeps its
  // seeded initialisation.
  if (config.model.pretrained !== undefined && state.globalStep === 0) {
    // Hub ids download into the hub cache first: progress in bytes (at most one event per 1 % or per file's end).
    let lastPct = -1;
    const loaded = await loadPretrainedInto(branch, config.model.pretrained, config.model.backbone, {
      onProgress: (p) => {
        const total = p.total ?? 0;
        const pct = total > 0 ? Math.floor((100 * p.received) / total) : -1;
        if (pct === lastPct && p.received !== total) return;
        lastPct = pct;
        emit({ type: 'progress', task: 'download', done: p.received, total, time: new Date().toISOString(), ...base });
      },
      onWarning: (message) => emit({ type: 'warning', code: 'other', time: new Date().toISOString(), ...base, message }),
    });
    const pre = loaded.preprocessing;
    if (pre && config.data.normalize === 'imagenet' && !sameStats(pre.mean, pre.std)) {
      emit({ type: 'warning', code: 'other', time: new Date().toISOString(), ...base,
        message: `${config.model.pretrained} was trained with mean ${JSON.stringify(pre.mean)} and std ${JSON.stringify(pre.std)} (its config.json), not ImageNet's; set data.normalize to match: { "mean": ${JSON.stringify(pre.mean)}, "std": ${JSON.stringify(pre.std)} }` });
    }
  }

  const classOf = Int32Array.from(train.index.items.map((it) => it.classIndex));
  const sampler = new TupleSampler(classOf, train.index.classes.length, config.training.seed);
  const stepsPerEpoch = Math.max(1, Math.ceil(config.data.samplesPerEpoch / batchSize));
  const streams = streamsOf(config);
  // The frozen-feature fast path: the steps read cached pooled features and run the head only (frozen/features.ts).
  const frozen = frozenFeaturesApply(config, opts.frozenFeatures)
    ? await prepareFrozenFeatures({ config, runDir, branch: model, train, val, validate, baseline: state.globalStep === 0, emit, base, stopPoint })
    : undefined;

  Object.assign(info, { epoch: state.epoch, step: state.globalStep, bestMapAtR: state.bestMapAtR });
  await writeRunInfo(runDir, info);

  emit({
    type: 'started', time: now(), ...base, protocolVersion: PROTOCOL_VERSION, runDir, backend: backend.name, backendDetail: backend.detail,
    parameters: parameterCount(model), lossType: config.loss.type, epochs, stepsPerEpoch, batchSize,
    train: train.summary, validation: valRoot ? val.summary : undefined,
    resumedFrom: opts.resume ? { epoch: state.epoch, step: state.globalStep } : undefined,
  });

  // Validation before the first step (a fresh run): the network as it starts — for pretrained weights the number
  // training must beat (the dashboard's level line, the run summary's gain). A stop here ends the run as stopped.
  if (validate && state.globalStep === 0 && !opts.resume) {
    const vecs = frozen ? frozen.embedValidation() : await embedStore(model, val.store, val.toStore, spec, 64, stopPoint);
    const m0 = retrievalMetrics(vecs, config.model.embeddingDim, Int32Array.from(val.index.items.map((it) => it.classIndex)), config.loss.distance);
    emit({ type: 'baseline', time: now(), ...base, step: 0, validation: { precisionAt1: m0.precisionAt1, mapAtR: m0.mapAtR, rPrecision: m0.rPrecision, count: m0.count } });
  }

  const saveLast = async () => {
    await writeDirAtomic(paths.last, async (tmp) => {
      await saveLayersModel(model, tmp);
      await saveOptimizer(opt, tmp);
      fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state));
    });
    emit({ type: 'checkpoint', time: now(), ...base, epoch: state.epoch, step: state.globalStep, path: paths.last, kind: 'last' });
    // run.json follows the checkpoint: after a crash (a full disk, a kill) it names the step a resume continues from.
    Object.assign(info, { epoch: state.epoch, step: state.globalStep, bestMapAtR: state.bestMapAtR });
    await writeRunInfo(runDir, info);
  };

  // The tuples of one step, drawn when the step is prepared (never a whole epoch at once, so memory does not grow
  // with data.samplesPerEpoch): from Rng.derive(seed, kind, epoch, step), so a resumed run draws the same.
  interface StepDraw { streams: Int32Array[]; y?: Float32Array; labels?: Int32Array }
  const drawStep = (epoch: number, s: number): StepDraw => {
    const toStore = (ix: Int32Array) => ix.map((i) => train.toStore[i]);
    if (config.loss.mining !== 'none') {
      const [b] = sampler.pkBatches(epoch, config.training.classesPerBatch, config.training.imagesPerClass, 1, s);
      return { streams: [toStore(b)], labels: b.map((i) => classOf[i]) };
    }
    if (config.loss.type === 'contrastive') {
      const t = sampler.pairs(epoch, batchSize, config.data.positiveRatio, s);
      return { streams: [toStore(t.a), toStore(t.b)], y: t.y };
    }
    if (config.loss.type === 'triplet') {
      const t = sampler.triplets(epoch, batchSize, s);
      return { streams: [t.a, t.p, t.n].map(toStore) };
    }
    const t = sampler.quartets(epoch, batchSize, s);
    return { streams: [t.a, t.p, t.n1, t.n2].map(toStore) };
  };

  const fetchStep = (epoch: number, s: number): { draw: StepDraw; pixels: Promise<Float32Array> } => {
    const draw = drawStep(epoch, s);
    const all = new Int32Array(draw.streams.reduce((n, x) => n + x.length, 0));
    let off = 0;
    for (const x of draw.streams) { all.set(x, off); off += x.length; }
    const augment = config.data.augment ? { config: config.data.augment, rng: Rng.derive(config.training.seed, 'augment', epoch, s) } : null;
    return { draw, pixels: frozen ? Promise.resolve(frozen.gather(all, epoch, s)) : train.store.getBatch(all, augment) };
  };

  const computeLoss = (x: Tensor, draw: StepDraw): LossOutput => {
    const e = (frozen ? frozen.head(x, true) : model.apply(x, { training: true })) as Tensor2D;
    const { margin, margin2, distance, mining } = config.loss;
    if (mining !== 'none') {
      return minedTripletLoss(e, tf.tensor1d(draw.labels!, 'int32') as Tensor1D, margin, distance, mining);
    }
    const parts = tf.split(e, streams, 0) as Tensor2D[];
    if (config.loss.type === 'contrastive') return contrastiveLoss(parts[0], parts[1], tf.tensor1d(draw.y!), margin, distance);
    if (config.loss.type === 'triplet') return tripletLoss(parts[0], parts[1], parts[2], margin, distance);
    return quartetLoss(parts[0], parts[1], parts[2], parts[3], margin, margin2, distance);
  };

  let status: 'done' | 'stopped' = 'done';
  let lastCheckpointStep = state.globalStep;
  let lastValidation: { vecs: Float32Array; labels: Int32Array } | undefined; // for threshold.json (core/threshold.ts)
  const collapseWatch = new CollapseWatch({ lossType: config.loss.type, mining: config.loss.mining, margin: config.loss.margin });
  outer: for (let epoch = state.epoch; epoch < epochs; epoch++) {
    const tEpoch = Date.now();
    let lossSum = 0;
    let lossCount = 0;
    let posSum = 0;
    let negSum = 0;
    let next = state.stepInEpoch < stepsPerEpoch ? fetchStep(epoch, state.stepInEpoch) : null;
    for (let s = state.stepInEpoch; s < stepsPerEpoch; s++) {
      const tStep = Date.now();
      const cur = next!;
      const pixels = await cur.pixels;
      next = s + 1 < stepsPerEpoch ? fetchStep(epoch, s + 1) : null; // decode ahead while this step computes
      const nImages = pixels.length / (frozen ? frozen.dim : spec.height * spec.width * spec.channels);
      const x = frozen ? tf.tensor2d(pixels, [nImages, frozen.dim]) : tf.tensor4d(pixels, [nImages, spec.height, spec.width, spec.channels]);
      let side: LossOutput | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const out = computeLoss(x, cur.draw);
        side = { loss: out.loss, posDist: tf.keep(out.posDist), negDist: tf.keep(out.negDist), active: tf.keep(out.active) };
        return out.loss as Scalar;
      }, vars);
      x.dispose();
      const [lossArr, posArr, negArr, actArr] = await Promise.all([value.data(), side!.posDist.data(), side!.negDist.data(), side!.active.data()]);
      let loss = lossArr[0];
      if (opts.nanAtStep === state.globalStep) loss = Number.NaN;
      tf.dispose([value, side!.posDist, side!.negDist, side!.active]);
      if (!Number.isFinite(loss)) {
        tf.dispose(Object.values(grads));
        throw new TrainingError(
          `loss became ${loss} at step ${state.globalStep} (epoch ${epoch + 1}, step ${s + 1} of ${stepsPerEpoch}); the weights were not updated and the last good checkpoint is kept in ${paths.last}. Lower training.optimizer.learningRate or check the data.`,
          'nan-loss', 1, state.globalStep,
        );
      }
      opt.applyGradients(grads as Record<string, Tensor>);
      checkWebGpuHealth(); // an uncaptured GPU error is fatal
      tf.dispose(Object.values(grads));
      state.globalStep++;
      state.stepInEpoch = s + 1;
      lossSum += loss;
      lossCount++;
      posSum += posArr[0];
      negSum += negArr[0];
      const dt = (Date.now() - tStep) / 1000;
      emit({
        type: 'step', time: now(), ...base, epoch, step: state.globalStep - 1, loss, posDist: posArr[0], negDist: negArr[0],
        imagesPerSec: nImages / Math.max(dt, 1e-6), learningRate: config.training.optimizer.learningRate, activeFraction: actArr[0],
      });
      // Yield one macrotask turn: with the pixels cached and wasm reads resolving at once, a step never waits on
      // I/O, and signal handlers (SIGTERM → stop) only run when the event loop gets a turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.shouldStop()) {
        status = 'stopped';
        await saveLast();
        break outer;
      }
      const every = config.training.checkpointEverySteps;
      if (every > 0 && state.globalStep - lastCheckpointStep >= every) {
        await saveLast();
        lastCheckpointStep = state.globalStep;
      }
    }

    // Collapse watch: the positive and negative distances meeting, or the loss sitting at the margin, is the
    // classic failure of embedding training (lower the learning rate, use mining, or a larger batch). Warned while
    // it holds, cleared (a warning event with `cleared: true`) when it ends (src/core/collapse-watch.ts).
    if (lossCount > 0) {
      for (const n of collapseWatch.epochEnd(epoch, { pos: posSum / lossCount, neg: negSum / lossCount, loss: lossSum / lossCount })) {
        emit({ type: 'warning', code: n.code, time: now(), ...base, message: n.message, ...(n.cleared ? { cleared: true } : {}) });
      }
    }

    // End of epoch: validation retrieval metrics, best model, last checkpoint.
    let m: ReturnType<typeof retrievalMetrics> | undefined;
    if (validate) {
      let vecs: Float32Array;
      try {
        vecs = frozen ? frozen.embedValidation() : await embedStore(model, val.store, val.toStore, spec, 64, stopPoint);
      } catch (err) {
        if (!(err instanceof StopRequested)) throw err;
        // Stopped while validating: the epoch's steps are done; the checkpoint says so, and a resume validates.
        status = 'stopped';
        await saveLast();
        break;
      }
      const labels = Int32Array.from(val.index.items.map((it) => it.classIndex));
      m = retrievalMetrics(vecs, config.model.embeddingDim, labels, config.loss.distance);
      lastValidation = { vecs, labels };
    }
    const mapAtR = m ? m.mapAtR : null;
    const best = mapAtR !== null && (state.bestMapAtR === null || mapAtR > state.bestMapAtR);
    if (best) state.bestMapAtR = mapAtR;
    state.epoch = epoch + 1;
    state.stepInEpoch = 0;
    emit({
      type: 'epoch', time: now(), ...base, epoch, step: state.globalStep, trainLoss: lossCount ? lossSum / lossCount : null,
      seconds: (Date.now() - tEpoch) / 1000, best,
      validation: m ? { precisionAt1: m.precisionAt1, mapAtR: m.mapAtR, rPrecision: m.rPrecision, count: m.count } : undefined,
    });
    if (best) {
      await writeDirAtomic(paths.best, async (tmp) => {
        await saveLayersModel(model, tmp, { best: { epoch, step: state.globalStep, mapAtR: mapAtR as number } });
      });
      emit({ type: 'checkpoint', time: now(), ...base, epoch, step: state.globalStep, path: paths.best, kind: 'best' });
    }
    await saveLast();
    lastCheckpointStep = state.globalStep;
    Object.assign(info, { epoch: state.epoch, step: state.globalStep, bestMapAtR: state.bestMapAtR, lastMapAtR: mapAtR });
    await writeRunInfo(runDir, info);
    if (opts.shouldStop()) {
      status = state.epoch < epochs ? 'stopped' : 'done';
      break;
    }
  }

  if (status === 'done') await exportModels(runDir, config, model);
  // The model's threshold from the last validation, as `eval --save-threshold` would write it; only with a validation
  // folder (a subset of the training images would flatter it), and never failing a finished run.
  if (status === 'done' && lastValidation && valRoot) {
    try {
      await saveThreshold(runDir, thresholdFromVectors(lastValidation.vecs, config.model.embeddingDim, lastValidation.labels, config.loss.distance, valRoot));
    } catch { /* none calibrated (e.g. no negative pairs): `eval --save-threshold` still can */ }
  }
  return await finish(status);
  } catch (err) {
    if (!(err instanceof StopRequested)) throw err;
    return await finish('stopped'); // before the first step: nothing trained, the last checkpoint (if any) is kept
  }
}

/** Bytes one training step needs, roughly: the batch's pixels (decoded, in flight and as a tensor) and every
 * layer's activations kept for the backward pass and their gradients. */
export function estimateStepBytes(branch: LayersModel, imagesPerStep: number, pixelsPerImage: number): number {
  let perImage = 0;
  for (const layer of branch.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as Array<Array<number | null>>;
    for (const sh of shapes) perImage += sh.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
  }
  return imagesPerStep * 4 * (3 * pixelsPerImage + 2 * perImage);
}

/** What one step may use: the wasm backend addresses at most 4 GiB; any backend, at most ~3/4 of the machine's memory. */
function stepMemoryBudget(backend: BackendName): number {
  const machine = os.totalmem() * 0.75;
  return backend === 'wasm' ? Math.min(machine, 4 * 1024 ** 3) : machine;
}

function checkStepMemory(branch: LayersModel, imagesPerStep: number, config: ExperimentConfig, backend: BackendName): void {
  const [h, w] = config.data.imageSize;
  const pixels = h * w * config.data.channels;
  const need = estimateStepBytes(branch, imagesPerStep, pixels);
  const budget = stepMemoryBudget(backend);
  if (need <= budget) return;
  const perImage = need / imagesPerStep;
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
  const field = config.loss.mining !== 'none' ? 'training.classesPerBatch (or training.imagesPerClass)' : 'training.batchSize';
  const maxImages = Math.max(1, Math.floor(budget / perImage));
  const maxValue = config.loss.mining !== 'none' ? Math.max(1, Math.floor(maxImages / config.training.imagesPerClass)) : Math.max(1, Math.floor(maxImages / streamsOf(config)));
  throw new LabError('bad-config',
    `${field}: one training step of ${imagesPerStep} images at ${h}×${w}×${config.data.channels} needs about ${gib(need)}, more than the ${gib(budget)} the ${backend} backend can use here; ` +
    `lower ${field.split(' ')[0]} to at most ${maxValue} (or data.imageSize)`);
}

/** Writes the resolved config snapshot into a fresh run folder (its data folders relative to it). */
export async function writeConfigSnapshot(runDir: string, config: ExperimentConfig): Promise<void> {
  await writeSnapshot(runDir, config);
}

export type { DatasetIndex };
