// Benchmark of the frozen-feature fast path (src/engine/frozen/features.ts): one process, one synth dataset, one
// pretrained ResNet (model.pretrained, model.freeze "backbone"), the same config trained twice through runTraining:
//   1. on cached features (TrainOptions.frozenFeatures true): feature extraction images/s (features.json, the first
//      run computes every image) and head-training images/s (images of steps 2..n over the wall time between their
//      step events: every per-step cost of the loop included);
//   2. through the frozen CNN (frozenFeatures false): training images/s the same way, over fewer steps.
// The last line of output is one JSON object.
//
//   node --import tsx bench/frozen-head.ts [--weights .cache/pretrained-fixtures/resnet18.safetensors]
//     [--backbone resnet18] [--size 64] [--classes 8] [--per-class 16] [--batch 32] [--steps 50] [--cnn-steps 4]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { validateConfig } from '../src/core/config';
import { initBackend } from '../src/engine/backend';
import { generateShapes } from '../src/engine/synth';
import { runTraining } from '../src/engine/train';
import type { WorkerEvent } from '../src/protocol/events';

const { values: a } = parseArgs({
  options: {
    weights: { type: 'string', default: path.resolve(__dirname, '..', '.cache', 'pretrained-fixtures', 'resnet18.safetensors') },
    backbone: { type: 'string', default: 'resnet18' }, size: { type: 'string', default: '64' },
    classes: { type: 'string', default: '8' }, 'per-class': { type: 'string', default: '16' }, batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '50' }, 'cnn-steps': { type: 'string', default: '4' }, backend: { type: 'string', default: 'wasm' },
  },
});
const size = Number(a.size);
const batch = Number(a.batch);
const median = (xs: number[]) => { const s = [...xs].sort((p, q) => p - q); return s.length ? s[Math.floor(s.length / 2)] : Number.NaN; };

async function main(): Promise<void> {
  if (!fs.existsSync(a.weights!)) throw new Error(`${a.weights}: no such weights file (make the fixtures: python3 scripts/make-pretrained-fixtures.py, or pass --weights)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-frozen-bench-'));
  try {
    await generateShapes(path.join(work, 'data'), { classes: Number(a.classes), perClass: Number(a['per-class']), size, seed: 1 });
    const backend = await initBackend(a.backend as 'wasm');
    const raw = (steps: number) => ({
      name: 'frozen-bench',
      data: { train: path.join(work, 'data'), imageSize: [size, size], samplesPerEpoch: steps * batch, validationLimit: 0, augment: false },
      model: { pretrained: path.resolve(a.weights!), backbone: a.backbone, embeddingDim: 64, freeze: 'backbone' },
      loss: { type: 'triplet', margin: 0.2, mining: 'none' },
      training: { epochs: 1, batchSize: batch, optimizer: { type: 'adam', learningRate: 1e-3 }, seed: 3, backend: a.backend },
    });
    const run = async (frozenFeatures: boolean, steps: number) => {
      const { config, issues } = validateConfig(raw(steps), work);
      if (!config) throw new Error(JSON.stringify(issues));
      const runDir = path.join(work, `run-${frozenFeatures}`);
      fs.mkdirSync(runDir);
      // Steps 2..n by the clock between step events (the events' own imagesPerSec has a 1 ms resolution).
      const times: number[] = [];
      const t0 = Date.now();
      await runTraining({ config, runDir, frozenFeatures, shouldStop: () => false, emit: (e: WorkerEvent) => { if (e.type === 'step') times.push(performance.now()); } });
      const rates = [(times.length - 1) * batch * 3 / ((times[times.length - 1] - times[0]) / 1000)];
      const features = frozenFeatures ? JSON.parse(fs.readFileSync(path.join(runDir, 'features.json'), 'utf8')) as { imagesPerSec: number; seconds: number; computed: number } : undefined;
      return { stepImagesPerSec: median(rates), steps: times.length, wallSeconds: (Date.now() - t0) / 1000, features };
    };
    const cached = await run(true, Number(a.steps));
    const cnn = await run(false, Number(a['cnn-steps']));
    const images = Number(a.classes) * Number(a['per-class']);
    const result = {
      backbone: a.backbone, size, images, batchTuples: batch, imagesPerStep: batch * 3, backend: backend.name, cores: os.cpus().length, load1: os.loadavg()[0],
      featureExtractionImagesPerSec: cached.features!.imagesPerSec, featureExtractionSeconds: cached.features!.seconds,
      headTrainingImagesPerSec: cached.stepImagesPerSec, cnnTrainingImagesPerSec: cnn.stepImagesPerSec,
      speedup: cached.stepImagesPerSec / cnn.stepImagesPerSec, cachedSteps: cached.steps, cnnSteps: cnn.steps,
    };
    console.log(`${a.backbone} ${size}×${size}, ${images} images, ${batch} triplets (${batch * 3} images) a step, ${backend.name}, load ${result.load1.toFixed(1)} on ${result.cores} cores`);
    console.log(`feature extraction (tfjs, inference): ${result.featureExtractionImagesPerSec?.toFixed(0)} images/s`);
    console.log(`head training on cached features:    ${result.headTrainingImagesPerSec.toFixed(0)} images/s (steps 2..${cached.steps}, wall clock)`);
    console.log(`training through the frozen CNN:      ${result.cnnTrainingImagesPerSec.toFixed(1)} images/s (steps 2..${cnn.steps}, wall clock)`);
    console.log(`speed-up: ${result.speedup.toFixed(0)}×`);
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
