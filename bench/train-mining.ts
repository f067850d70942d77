// Training step time per loss and mining mode, before vs after a change to src/engine/losses.ts, measured in the
// same run (issue 19 item 1), beside PyTorch on the same net and batches (bench/torch_mining.py).
//
//   git worktree add /tmp/mining-before <commit before the change> && ln -s "$PWD/node_modules" /tmp/mining-before/
//   node --import tsx bench/train-mining.ts --before /tmp/mining-before [--shapes 32x32x1,64x64x3] [--steps 10]
//        [--warmup 3] [--classes 6] [--per-class 16] [--modes semi-hard,batch-hard,...] [--no-torch] [--threads 1]
//
// The network, kernels and optimizer are this tree's; only the loss module differs: "before" imports
// <before>/src/engine/losses.ts, "after" ./src/engine/losses.ts. Step as src/engine/train.ts runs it: B images
// → branch.apply(training: true) (ResNet-18 width 0.25, Dense(128) + L2) → the loss inside tf.variableGrads → the
// loss read back (awaited) → Adam 1e-3. Mined modes take one P × K batch (B = P·K); contrastive, triplet (none)
// and quartet split the same B images into 2, 3 or 4 streams. Before and after steps alternate, so load on the
// machine hits both alike; the figure is the median step (wall) over --steps steps of each, after --warmup.
// Before timing, both losses are evaluated on the same embeddings: their values must agree (printed).
// Prints a table and, last, one JSON line.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { fusedAdam } from '../src/engine/kernels/adam';
import * as afterLosses from '../src/engine/losses';
import { buildBranch } from '../src/engine/models';
import { tf } from '../src/engine/tf';

type Losses = typeof afterLosses;
type Mode = 'contrastive' | 'triplet' | 'quartet' | 'batch-all' | 'batch-hard' | 'semi-hard';
const MODES: Mode[] = ['semi-hard', 'batch-hard', 'batch-all', 'triplet', 'contrastive', 'quartet'];

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
const MARGIN = 0.2;

/** The loss of one step under `mode`, from the module `L`, on the embeddings of B images. */
function lossOf(L: Losses, mode: Mode, e: Tensor2D, labels: Tensor1D, y: Tensor1D): Tensor {
  if (mode === 'batch-all' || mode === 'batch-hard' || mode === 'semi-hard') return L.minedTripletLoss(e, labels, MARGIN, 'euclidean', mode).loss;
  const streams = mode === 'contrastive' ? 2 : mode === 'triplet' ? 3 : 4;
  const parts = tf.split(e, streams, 0) as Tensor2D[];
  if (mode === 'contrastive') return L.contrastiveLoss(parts[0], parts[1], y, MARGIN, 'euclidean').loss;
  if (mode === 'triplet') return L.tripletLoss(parts[0], parts[1], parts[2], MARGIN, 'euclidean').loss;
  return L.quartetLoss(parts[0], parts[1], parts[2], parts[3], MARGIN, MARGIN / 2, 'euclidean').loss;
}

async function main(): Promise<void> {
  const o = args();
  if (typeof o.before !== 'string') throw new Error('--before <worktree of the commit before the change> is required');
  const beforeLosses = (await import(path.resolve(o.before, 'src/engine/losses.ts'))) as Losses;
  const steps = Number(o.steps ?? 10);
  const warmup = Number(o.warmup ?? 3);
  const P = Number(o.classes ?? 6), K = Number(o.perClass ?? o['per-class'] ?? 16);
  const B = P * K;
  const threads = Number(o.threads ?? 1);
  const modes = typeof o.modes === 'string' ? (o.modes.split(',') as Mode[]) : MODES;
  const shapes = String(o.shapes ?? '32x32x1,64x64x3').split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
  const python = String(o.python ?? '/usr/bin/python3');

  const loadBefore = load();
  console.log(`loadavg before: ${loadBefore.join(' ')} (${os.cpus().length} CPUs)`);
  const info = await initBackend('wasm');
  console.log(`backend: ${info.name}: ${info.detail}; before = ${o.before}; P×K = ${P}×${K} = ${B} images; steps ${steps} (+${warmup} warm-up) each, alternating`);

  const rows: Array<Record<string, unknown>> = [];
  for (const [h, w, c] of shapes) {
    const branch = buildBranch({ backbone: 'resnet18', width: 0.25, embeddingDim: 128, normalize: true, inputShape: [h, w, c], seed: 1 } as Parameters<typeof buildBranch>[0]);
    const vars = branch.trainableWeights.map((v) => (v as unknown as { val: Variable }).val);
    const optimizer = fusedAdam(tf, 1e-3);
    const x = tf.randomUniform([B, h, w, c], 0, 1, 'float32', 7);
    const labels = tf.tensor1d(Array.from({ length: B }, (_, i) => Math.floor(i / K)), 'int32') as Tensor1D;
    const y = tf.tensor1d(Array.from({ length: B / 2 }, (_, i) => i % 2));

    let torchRows: Record<string, Record<string, unknown>> = {};
    if (o.torch !== false) {
      const r = spawnSync(python, [path.join(__dirname, 'torch_mining.py'), '--size', String(h), '--channels', String(c), '--classes', String(P),
        '--per-class', String(K), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--modes', modes.join(',')],
      { encoding: 'utf8', env: { ...process.env, OPENBLAS_CORETYPE: undefined, OPENBLAS_L2_SIZE: undefined } });
      const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (r.status === 0 && line) torchRows = (JSON.parse(line) as { modes: Record<string, Record<string, unknown>> }).modes;
      else console.log(`torch reference failed (exit ${r.status}): ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }

    for (const mode of modes) {
      // Same embeddings, both modules: the values must agree.
      const [lb, la] = tf.tidy(() => {
        const e = branch.apply(x, { training: false }) as Tensor2D;
        return [lossOf(beforeLosses, mode, e, labels, y).dataSync()[0], lossOf(afterLosses, mode, e, labels, y).dataSync()[0]];
      });
      const step = async (L: Losses): Promise<number> => {
        const { value, grads } = tf.variableGrads(() => lossOf(L, mode, branch.apply(x, { training: true }) as Tensor2D, labels, y) as Scalar, vars);
        const loss = (await value.data())[0];
        optimizer.applyGradients(grads as Record<string, Tensor>);
        tf.dispose([value, ...Object.values(grads)]);
        if (!Number.isFinite(loss)) throw new Error(`${mode}: loss is ${loss}`);
        return loss;
      };
      const times: Record<'before' | 'after', number[]> = { before: [], after: [] };
      for (let i = 0; i < warmup + steps; i++) {
        for (const [name, L] of [['before', beforeLosses], ['after', afterLosses]] as const) {
          const t0 = performance.now();
          await step(L);
          if (i >= warmup) times[name].push((performance.now() - t0) / 1000);
        }
      }
      const before = median(times.before), after = median(times.after);
      const torch = torchRows[mode];
      const row = {
        shape: `${h}x${w}x${c}`, mode, images: B, beforeSeconds: before, afterSeconds: after, speedup: before / after,
        afterImagesPerSec: B / after, lossBefore: lb, lossAfter: la,
        torchSeconds: torch ? torch.stepSeconds as number : null, torchImagesPerSec: torch ? torch.imagesPerSec as number : null,
        tensors: tf.memory().numTensors,
      };
      rows.push(row);
      console.log(`${row.shape} ${mode.padEnd(11)} before ${(before * 1e3).toFixed(1)} ms  after ${(after * 1e3).toFixed(1)} ms  `
        + `×${row.speedup.toFixed(2)}  (${row.afterImagesPerSec.toFixed(0)} img/s)  loss ${lb.toPrecision(7)} vs ${la.toPrecision(7)}`
        + (torch ? `  torch ${((torch.stepSeconds as number) * 1e3).toFixed(1)} ms (${(torch.imagesPerSec as number).toFixed(0)} img/s, ${threads} thread)` : ''));
    }
    tf.dispose([x, labels, y]);
    branch.dispose();
  }
  const loadAfter = load();
  console.log(`loadavg after: ${loadAfter.join(' ')}`);
  console.log(JSON.stringify({ backend: info.detail, P, K, steps, warmup, rows, loadavgBefore: loadBefore, loadavgAfter: loadAfter }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
