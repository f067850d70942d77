// Training-throughput benchmark: one triplet step of the shared branch (as src/engine/train.ts runs it) on a
// tfjs backend, beside the same network and step in PyTorch (bench/torch_train.py), measured in the same run.
//
//   node --import tsx bench/train-throughput.ts [--width 0.25] [--steps 10] [--warmup 3] [--backend wasm]
//        [--batch 32] [--size 64] [--backbone resnet18] [--threads 2] [--no-torch] [--python /usr/bin/python3]
//
// Step: 3 × [B, S, S, 3] (anchor, positive, negative) concatenated → branch.apply(training: true) → split →
// tripletLoss (euclidean, margin 0.2) inside tf.variableGrads; the loss is read back (awaited), then Adam 1e-3
// applies the gradients. img/s = 3B / median step time; triplets/s = B / median step time.
// Prints a human summary and, last, one JSON line.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Scalar, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { fusedAdam } from '../src/engine/kernels/adam';
import { tripletLoss } from '../src/engine/losses';
import { buildBranch, parameterCount } from '../src/engine/models';
import { tf } from '../src/engine/tf';

type BackendArg = Parameters<typeof initBackend>[0];

function args(): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith('--')) throw new Error(`unexpected argument ${a[i]}`);
    const key = a[i].slice(2);
    if (key.startsWith('no-')) out[key.slice(3)] = false;
    else if (i + 1 < a.length && !a[i + 1].startsWith('--')) out[key] = a[++i];
    else out[key] = true;
  }
  return out;
}

const median = (v: number[]): number => {
  const s = v.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = (): number[] => os.loadavg().map((v) => Math.round(v * 100) / 100);

async function main(): Promise<void> {
  const o = args();
  const width = Number(o.width ?? 0.25);
  const steps = Number(o.steps ?? 10);
  const warmup = Number(o.warmup ?? 3);
  const batch = Number(o.batch ?? 32);
  const sz = Number(o.size ?? 64);
  const threads = Number(o.threads ?? 2);
  const backbone = String(o.backbone ?? 'resnet18') as 'resnet18' | 'convnet';
  const backendName = String(o.backend ?? 'wasm') as BackendArg;
  const python = String(o.python ?? '/usr/bin/python3');
  const runTorch = o.torch !== false && backbone === 'resnet18';

  const loadBefore = load();
  console.log(`loadavg before: ${loadBefore.join(' ')} (${os.cpus().length} CPUs)`);
  const info = await initBackend(backendName);
  console.log(`backend: ${info.name}: ${info.detail}`);

  const branch = buildBranch({
    backbone, width, embeddingDim: 128, normalize: true, inputShape: [sz, sz, 3], seed: 1,
  } as Parameters<typeof buildBranch>[0]);
  const vars = branch.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const optimizer = fusedAdam(tf, 1e-3); // as train.ts: tf.train.adam with the fused update on wasm
  const streams = [0, 1, 2].map((i) => tf.randomUniform([batch, sz, sz, 3], 0, 1, 'float32', 100 + i));
  const nImages = 3 * batch;

  const step = async (): Promise<number> => {
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.concat(streams, 0);
      const e = branch.apply(x, { training: true }) as Tensor2D;
      const [a, p, n] = tf.split(e, 3, 0) as Tensor2D[];
      return tripletLoss(a, p, n, 0.2, 'euclidean').loss as Scalar;
    }, vars);
    const loss = (await value.data())[0];
    optimizer.applyGradients(grads as Record<string, Tensor>);
    tf.dispose([value, ...Object.values(grads)]);
    if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
    return loss;
  };

  const times: number[] = [];
  const cpuTimes: number[] = []; // process CPU seconds per step: far less sensitive to other load than wall time
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    loss = await step();
    const dt = (performance.now() - t0) / 1000, dc = process.cpuUsage(c0);
    if (i >= warmup) { times.push(dt); cpuTimes.push((dc.user + dc.system) / 1e6); }
  }
  const tensorsAfter = tf.memory().numTensors;
  const stepS = median(times);
  const tfjs = {
    engine: `tfjs-${info.name}`, backbone, width, params: parameterCount(branch), batchTriplets: batch, size: sz,
    stepSeconds: stepS, imagesPerSec: nImages / stepS, tripletsPerSec: batch / stepS,
    cpuSecondsPerStep: median(cpuTimes), imagesPerCpuSec: nImages / median(cpuTimes),
    stepsSeconds: times.map((t) => Math.round(t * 1e4) / 1e4), lastLoss: loss, numTensors: tensorsAfter,
  };
  console.log(`tfjs ${info.name} ${backbone} width ${width}: ${tfjs.params} params; median step ${stepS.toFixed(4)} s `
    + `over ${steps} steps (after ${warmup} warm-up) → ${tfjs.imagesPerSec.toFixed(1)} img/s, ${tfjs.tripletsPerSec.toFixed(1)} triplets/s`);
  console.log(`  steps (s): ${tfjs.stepsSeconds.join(' ')}; median process CPU ${tfjs.cpuSecondsPerStep.toFixed(4)} s/step `
    + `→ ${tfjs.imagesPerCpuSec.toFixed(1)} img per CPU-second`);

  let torch: Record<string, unknown> | null = null;
  let ratio: number | null = null;
  if (runTorch) {
    const script = path.join(__dirname, 'torch_train.py');
    const r = spawnSync(python, [script, '--width', String(width), '--steps', String(steps), '--warmup', String(warmup),
      '--threads', String(threads), '--batch', String(batch), '--size', String(sz)], { encoding: 'utf8' });
    const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status === 0 && line) {
      torch = JSON.parse(line) as Record<string, unknown>;
      ratio = stepS / (torch.stepSeconds as number);
      console.log(`torch ${torch.version} ${threads} threads channels_last: ${torch.params} params; median step `
        + `${(torch.stepSeconds as number).toFixed(4)} s → ${(torch.imagesPerSec as number).toFixed(1)} img/s; torch/tfjs = ${ratio.toFixed(1)}×`);
    } else {
      console.log(`torch reference failed (exit ${r.status}): ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  const loadAfter = load();
  console.log(`loadavg after: ${loadAfter.join(' ')}`);
  console.log(JSON.stringify({ tfjs, torch, torchOverTfjs: ratio, loadavgBefore: loadBefore, loadavgAfter: loadAfter }));
  tf.dispose(streams);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
