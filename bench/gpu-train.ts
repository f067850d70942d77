// GPU training-throughput benchmark: the standard triplet step (as src/engine/train.ts runs it) of ResNet-18 at
// width 1.0 and 0.25, 64×64, 32 triplets per step, on whichever GPU backend this machine has:
// tensorflow-gpu (tfjs-node-gpu that sees a GPU device), else webgpu on a hardware adapter. `--allow-fallback`
// also accepts a software WebGPU adapter (lavapipe) for a smoke check of the script itself; its numbers say
// nothing about GPU speed. Optionally runs bench/torch_train_cuda.py for the same configs (--torch).
//
//   node --import tsx bench/gpu-train.ts [--backend tensorflow-gpu|webgpu] [--widths 1,0.25] [--batch 32]
//        [--size 64] [--steps 10] [--warmup 3] [--allow-fallback] [--torch] [--python python3]
//
// img/s = 3B / median step time. Prints a human summary per config and, last, one JSON line with every result.
// Exit 2 when no GPU backend is available (the reason is printed).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Scalar, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import { BackendError, initBackend, type BackendInfo } from '../src/engine/backend';
import { tripletLoss } from '../src/engine/losses';
import { buildBranch, parameterCount } from '../src/engine/models';
import { tf } from '../src/engine/tf';
import { checkModelFits, checkWebGpuHealth, webGpuGuardState } from '../src/engine/webgpu';

const { values } = parseArgs({
  options: {
    backend: { type: 'string' }, widths: { type: 'string', default: '1,0.25' }, batch: { type: 'string', default: '32' },
    size: { type: 'string', default: '64' }, steps: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' },
    'allow-fallback': { type: 'boolean', default: false }, torch: { type: 'boolean', default: false }, python: { type: 'string', default: 'python3' },
  },
});
const B = Number(values.batch), S = Number(values.size), steps = Number(values.steps), warmup = Number(values.warmup);
const widths = values.widths!.split(',').map(Number);

const median = (v: number[]): number => {
  const s = v.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function pickBackend(): Promise<BackendInfo> {
  const tried: string[] = [];
  const order = values.backend ? [values.backend] : ['tensorflow-gpu', 'webgpu'];
  for (const name of order) {
    try {
      const info = await initBackend(name as 'tensorflow-gpu' | 'webgpu', { selfTest: false });
      if (name === 'tensorflow-gpu' && !/uses a GPU device/.test(info.detail)) {
        tried.push(`tensorflow-gpu: loads but runs on the CPU (${info.detail})`);
        continue;
      }
      if (name === 'webgpu' && webGpuGuardState().adapter?.software && !values['allow-fallback']) {
        tried.push(`webgpu: only a software adapter (${info.detail}); pass --allow-fallback for a smoke run`);
        continue;
      }
      return info;
    } catch (e) {
      tried.push(`${name}: ${e instanceof BackendError ? e.reason ?? e.message : String(e)}`);
    }
  }
  process.stderr.write(`gpu-train: no GPU backend available:\n  ${tried.join('\n  ')}\n`);
  process.exit(2);
}

async function benchWidth(width: number): Promise<Record<string, unknown>> {
  const branch = buildBranch({ backbone: 'resnet18', width, embeddingDim: 128, normalize: true, inputShape: [S, S, 3], seed: 1 });
  checkModelFits(branch, 3 * B, 'a training batch');
  const optimizer = tf.train.adam(1e-3);
  const vars = branch.trainableWeights.map((w) => (w as unknown as { val: Variable }).val);
  const x = tf.randomUniform([3 * B, S, S, 3], 0, 1, 'float32', 1);
  const times: number[] = [];
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const e = branch.apply(x, { training: true }) as Tensor2D;
      const [a, p, n] = tf.split(e, 3, 0) as Tensor2D[];
      const out = tripletLoss(a, p, n, 0.2, 'euclidean');
      tf.dispose([out.posDist, out.negDist, out.active]);
      return out.loss as Scalar;
    }, vars);
    loss = (await value.data())[0]; // the read waits for the step's work, as in train.ts
    value.dispose();
    optimizer.applyGradients(grads as Record<string, Tensor>);
    tf.dispose(Object.values(grads));
    checkWebGpuHealth();
    const dt = (performance.now() - t0) / 1000;
    if (i >= warmup) times.push(dt);
    process.stderr.write(`  width ${width} step ${i + 1}/${warmup + steps}: ${dt.toFixed(3)} s${i < warmup ? ' (warm-up)' : ''}\n`);
  }
  const med = median(times);
  const r = {
    engine: 'tfjs', backend: tf.getBackend(), width, params: parameterCount(branch), batchTriplets: B, size: S,
    stepSeconds: med, imagesPerSec: (3 * B) / med, tripletsPerSec: B / med, stepsSeconds: times.map((t) => +t.toFixed(4)), lastLoss: loss,
  };
  tf.dispose(x);
  optimizer.dispose();
  branch.dispose();
  return r;
}

function torchCuda(width: number): Record<string, unknown> {
  const script = path.join(__dirname, 'torch_train_cuda.py');
  const r = spawnSync(values.python!, [script, '--width', String(width), '--batch', String(B), '--size', String(S), '--steps', String(Math.max(steps, 10))], { encoding: 'utf8' });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try { return JSON.parse(last) as Record<string, unknown>; } catch { return { engine: 'torch', error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() }; }
}

async function main(): Promise<void> {
  const info = await pickBackend();
  process.stderr.write(`backend ${info.name}: ${info.detail}\n`);
  const results: Record<string, unknown>[] = [];
  for (const w of widths) {
    const r = await benchWidth(w);
    results.push(r);
    process.stdout.write(`tfjs ${info.name} resnet18 w${w} ${S}x${S} batch ${B} triplets: ${(r.imagesPerSec as number).toFixed(1)} img/s (median step ${(r.stepSeconds as number).toFixed(3)} s)\n`);
    if (values.torch) {
      const t = torchCuda(w);
      results.push(t);
      process.stdout.write(typeof t.imagesPerSec === 'number'
        ? `torch ${String(t.deviceName)} w${w}: ${t.imagesPerSec.toFixed(1)} img/s\n` : `torch w${w}: ${String(t.error)}\n`);
    }
  }
  process.stdout.write(JSON.stringify({
    bench: 'gpu-train', backend: info.name, backendDetail: info.detail, software: webGpuGuardState().adapter?.software ?? false,
    host: { cpus: os.cpus().length, loadavg: os.loadavg() }, results,
  }) + '\n');
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`gpu-train: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit((e as { exitCode?: number }).exitCode ?? 1);
});
