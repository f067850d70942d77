// WebGPU correctness on Mesa 25 lavapipe (no GPU needed): run through scripts/test-webgpu.sh, which sets up
// .cache/mesa25 (scripts/mesa25.sh) and exports VK_ICD_FILENAMES / LD_LIBRARY_PATH / XDG_RUNTIME_DIR.
//
//   1. parity: the same short ResNet-18 (width 0.25) training on webgpu and on the default backend (wasm), each in
//      its own process (test/gpu/parity-driver.ts): losses within 1e-4, final weights within 1e-3, embeddings of the
//      trained model within 1e-3. Plain SGD at lr 1e-3, not Adam: Adam divides each gradient by its own running RMS,
//      so float-summation noise in near-zero gradients becomes lr-sized steps; cpu vs wasm (both exact CPU code)
//      drift apart by 7e-3 in loss within 10 Adam steps on this net (SGD at lr 1e-2: webgpu vs wasm agree to 2e-6
//      for 3 steps, then 1e-2: the 1×1 final maps and batch-12 BN of a 32×32 ResNet-18 amplify round-off), so such
//      a comparison measures chaos, not the backend. Measured (lr 1e-3): |Δloss| ≤ 5e-5, |Δweight| ≤ 5e-5,
//      |Δembedding| ≤ 2.5e-4.
//   2. the device limit: lavapipe's maxStorageBufferBindingSize is 128 MiB; a 160 MiB tensor is refused with the
//      size and the limit, by checkTensorFits and by the allocation guard, instead of a silently wrong result.
//   3. the CLI: `train --backend webgpu` without an adapter exits 2 saying why; a config whose activations exceed
//      the limit fails with the message.
//   4. Check Environment: the probe lists lavapipe as a fallback adapter; without the Mesa env it gives the reason.
//
// Needs dist/ (node scripts/build.mjs) for the CLI tests. Skipped as a whole when the Mesa env is not set.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ParityResult } from './parity-driver';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const DRIVER = path.join(__dirname, 'parity-driver.ts');
const mesa = Boolean(process.env.VK_ICD_FILENAMES && /lvp/.test(process.env.VK_ICD_FILENAMES));
const skip = !mesa && 'run through scripts/test-webgpu.sh (needs the Mesa 25 lavapipe env)';
const STEPS = Number(process.env.EMBEDLAB_PARITY_STEPS ?? 10);

/** The environment without the Mesa lavapipe: no Vulkan driver, so no adapter. */
function noAdapterEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/no_icd.json' };
  delete env.VK_DRIVER_FILES;
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - t0 }); });
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-webgpu-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

function readResult(prefix: string): { json: ParityResult; bin: Float32Array } {
  const json = JSON.parse(fs.readFileSync(`${prefix}.json`, 'utf8')) as ParityResult;
  const buf = fs.readFileSync(`${prefix}.bin`);
  return { json, bin: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4) };
}

test('parity: ResNet-18 w0.25 training on webgpu (lavapipe) matches the default backend', { skip, timeout: 600_000 }, async () => {
  const common = ['--import', 'tsx', DRIVER, '--steps', String(STEPS), '--triplets', '4', '--size', '32', '--width', '0.25', '--optimizer', 'sgd', '--lr', '0.001'];
  const gpu = await run([...common, '--backend', 'webgpu', '--out', path.join(work, 'gpu')]);
  assert.equal(gpu.code, 0, gpu.stderr);
  const ref = await run([...common, '--backend', 'wasm', '--out', path.join(work, 'ref')]);
  assert.equal(ref.code, 0, ref.stderr);
  const g = readResult(path.join(work, 'gpu')), r = readResult(path.join(work, 'ref'));
  assert.equal(g.json.backend, 'webgpu');
  assert.match(g.json.detail, /llvmpipe/);
  assert.equal(r.json.backend, 'wasm');
  process.stderr.write(`parity: webgpu ${gpu.ms} ms (steps ${g.json.stepMs.map((m) => m.toFixed(0)).join(' ')}), wasm ${ref.ms} ms\n`);

  const lossDiff = g.json.losses.map((l, i) => Math.abs(l - r.json.losses[i]));
  assert.equal(g.json.losses.length, STEPS);
  assert.ok(g.json.losses.every(Number.isFinite));
  assert.ok(Math.max(...lossDiff) <= 1e-4, `losses differ by ${Math.max(...lossDiff)}: ${g.json.losses} vs ${r.json.losses}`);

  assert.deepEqual(g.json.weights, r.json.weights);
  assert.equal(g.bin.length, r.bin.length);
  const nWeights = g.json.weights.reduce((n, w) => n + w.size, 0);
  let off = 0, worst = 0, worstName = '';
  for (const w of g.json.weights) {
    for (let i = off; i < off + w.size; i++) {
      const d = Math.abs(g.bin[i] - r.bin[i]);
      if (!(d <= worst)) { worst = d; worstName = w.name; }
    }
    off += w.size;
  }
  assert.ok(worst <= 1e-3, `weights differ by ${worst} (${worstName})`);
  let embWorst = 0;
  for (let i = nWeights; i < g.bin.length; i++) embWorst = Math.max(embWorst, Math.abs(g.bin[i] - r.bin[i]));
  assert.deepEqual(g.json.embeddingShape, [8, 32]);
  assert.ok(embWorst <= 1e-3, `embeddings differ by ${embWorst}`);
  process.stderr.write(`parity: max |Δloss| ${Math.max(...lossDiff).toExponential(2)}, max |Δweight| ${worst.toExponential(2)} (${worstName}), max |Δembedding| ${embWorst.toExponential(2)}\n`);
});

test('device limit: a 160 MiB tensor is refused with the size and the limit, not computed wrong', { skip, timeout: 120_000 }, async () => {
  const script = `
    const { initBackend } = require(${JSON.stringify(path.join(ROOT, 'src/engine/backend.ts'))});
    const { checkTensorFits, webGpuLimits } = require(${JSON.stringify(path.join(ROOT, 'src/engine/webgpu.ts'))});
    const { tf } = require(${JSON.stringify(path.join(ROOT, 'src/engine/tf.ts'))});
    (async () => {
      await initBackend('webgpu');
      const out = { limits: webGpuLimits() };
      try { checkTensorFits([40 * 1024 * 1024], 'a test tensor'); out.guard = 'accepted'; } catch (e) { out.guard = e.message; out.guardName = e.name; }
      try { checkTensorFits([1024, 1024], 'a small tensor'); out.small = 'accepted'; } catch (e) { out.small = e.message; }
      try { const big = tf.fill([40 * 1024 * 1024], 2); out.sum = (await tf.sum(tf.square(big)).data())[0]; } catch (e) { out.alloc = e.message; }
      out.ok = (await tf.sum(tf.square(tf.fill([1024], 2))).data())[0];
      require('node:fs').writeSync(3, JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const file = path.join(work, 'limit.js');
  fs.writeFileSync(file, script);
  const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.resume();
    child.on('close', (code) => resolve({ code, out, err }));
  });
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as Record<string, unknown> & { limits: { maxStorageBufferBindingSize: number } };
  assert.equal(o.limits.maxStorageBufferBindingSize, 128 * 1024 * 1024);
  assert.match(String(o.guard), /160 MiB.*maxStorageBufferBindingSize of 128 MiB/);
  assert.equal(o.guardName, 'BackendError');
  assert.equal(o.small, 'accepted');
  assert.equal(o.sum, undefined, 'the oversized sum must not produce a number');
  assert.match(String(o.alloc), /160 MiB.*maxStorageBufferBindingSize of 128 MiB.*wrong numbers/);
  assert.equal(o.ok, 4096, 'the backend still works for tensors within the limit');
});

test('CLI: --backend webgpu without an adapter exits 2 and says why', { skip: (!fs.existsSync(CLI) && 'dist/cli.js missing: node scripts/build.mjs') || skip, timeout: 180_000 }, async () => {
  const data = path.join(work, 'data');
  const s = await run([CLI, 'synth', data, '--classes', '4', '--per-class', '6', '--size', '32', '--seed', '1']);
  assert.equal(s.code, 0, s.stderr);
  const cfg = path.join(work, 'nogpu.embedding.json');
  fs.writeFileSync(cfg, JSON.stringify({
    name: 'webgpu-none', data: { train: data, imageSize: [32, 32], samplesPerEpoch: 12, validationLimit: 0 },
    model: { backbone: 'convnet', width: 0.25, embeddingDim: 8 }, loss: { type: 'triplet', mining: 'none' },
    training: { epochs: 1, batchSize: 4, backend: 'wasm' },
  }));
  const r = await run([CLI, 'train', cfg, '--backend', 'webgpu', '--out', path.join(work, 'runs-none')], noAdapterEnv());
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /webgpu backend cannot start: no WebGPU adapter: no Vulkan driver \(ICD manifest\) found/);
  assert.match(r.stderr, /Fix: /);
});

test('CLI: a config whose activations exceed maxStorageBufferBindingSize fails with the message', { skip: (!fs.existsSync(CLI) && 'dist/cli.js missing: node scripts/build.mjs') || skip, timeout: 300_000 }, async () => {
  const data = path.join(work, 'data-big');
  const s = await run([CLI, 'synth', data, '--classes', '4', '--per-class', '6', '--size', '32', '--seed', '1']);
  assert.equal(s.code, 0, s.stderr);
  // convnet width 1: the first conv's output is batch × 256 × 256 × 32 floats = 8 MiB per image; 6 triplets =
  // 18 images = 144 MiB > 128 MiB.
  const cfg = path.join(work, 'big.embedding.json');
  fs.writeFileSync(cfg, JSON.stringify({
    name: 'webgpu-big', data: { train: data, imageSize: [256, 256], samplesPerEpoch: 6, validationLimit: 0 },
    model: { backbone: 'convnet', width: 1, embeddingDim: 8 }, loss: { type: 'triplet', mining: 'none' },
    training: { epochs: 1, batchSize: 6, backend: 'webgpu' },
  }));
  const r = await run([CLI, 'train', cfg, '--out', path.join(work, 'runs-big'), '--json']);
  assert.equal(r.code, 2, `expected exit 2; stderr: ${r.stderr}`);
  const err = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; code?: string; message?: string }).find((e) => e.type === 'error');
  assert.ok(err, 'an error event');
  assert.equal(err.code, 'backend');
  assert.match(err.message ?? '', /144 MiB.*maxStorageBufferBindingSize of 128 MiB.*lower training\.batchSize/);
});

test('Check Environment: the probe lists lavapipe as a fallback adapter; without it, the reason', { skip, timeout: 120_000 }, async () => {
  const { probeWebGpu } = await import('../../src/engine/webgpu');
  const p = await probeWebGpu();
  assert.equal(p.available, true, p.reason);
  assert.equal(p.usedByAuto, false, 'a software adapter is not for auto');
  const lvp = p.adapters.find((a) => /llvmpipe/.test(a.description));
  assert.ok(lvp, JSON.stringify(p.adapters));
  assert.equal(lvp.isFallbackAdapter, true);
  assert.equal(lvp.software, true);
  assert.equal(lvp.limits.maxStorageBufferBindingSize, 128 * 1024 * 1024);
  assert.match(p.detail, /llvmpipe.*software.*fallback.*128 MiB/);
  assert.match(p.reason ?? '', /only a software adapter/);
  assert.ok(p.vulkanLoader, 'the Vulkan loader is found');

  const saved = { icd: process.env.VK_ICD_FILENAMES };
  process.env.VK_ICD_FILENAMES = '/nonexistent/no_icd.json';
  try {
    const none = await probeWebGpu();
    assert.equal(none.available, false);
    assert.equal(none.adapters.length, 0);
    assert.match(none.reason ?? '', /no Vulkan driver \(ICD manifest\) found at \/nonexistent/);
    assert.ok(none.fix && none.fix.length > 0);
  } finally {
    process.env.VK_ICD_FILENAMES = saved.icd;
  }
});
