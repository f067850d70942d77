// Backend selection (src/engine/backend.ts) and the tfjs module holder (src/engine/tf.ts).
// Native packages are stood in for by small fake packages written to a temp folder and found through
// opts.searchPaths / EMBEDLAB_BACKEND_PATHS, exactly as the VS Code extension's install folder would be.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import { BackendError, initBackend, probeBackends, selfTestKernels } from '../../src/engine/backend';
import { registerWasmGradKernels } from '../../src/engine/kernels/conv-grad';
import { bundledTf, getTf, tf, useTf, type TfModule } from '../../src/engine/tf';

const resolvable = (pkg: string): boolean => {
  try { require.resolve(pkg); return true; } catch { return false; }
};
const gpuInstalled = resolvable('@tensorflow/tfjs-node-gpu');
const cpuNativeInstalled = resolvable('@tensorflow/tfjs-node');

/** A folder holding node_modules/<pkg>/index.js with the given source. */
function fakePackage(pkg: string, source: string): string {
  const root = mkdtempSync(path.join(tmpdir(), 'embedlab-backend-'));
  const dir = path.join(root, 'node_modules', ...pkg.split('/'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg, version: '0.0.0-test', main: 'index.js' }));
  writeFileSync(path.join(dir, 'index.js'), source);
  return root;
}

test('wasm init works, reports wasm, and the self-test passes', async () => {
  const info = await initBackend('wasm');
  assert.equal(info.name, 'wasm');
  assert.equal(tfjs.getBackend(), 'wasm');
  assert.match(info.detail, /SIMD/);
  assert.match(info.detail, /self-test ok/);
  assert.equal(tf, bundledTf);
});

test('tf.ts: the `tf` binding is live under tsx, and getTf() agrees', () => {
  const fake = { ...bundledTf, marker: 1 } as unknown as TfModule;
  const previous = useTf(fake);
  try {
    assert.equal(tf, fake, 'imported binding follows useTf()');
    assert.equal(getTf(), fake);
  } finally {
    useTf(previous);
  }
  assert.equal(tf, bundledTf);
});

test('selfTestKernels is cheap and catches a wrong kernel', () => {
  const ok = selfTestKernels(bundledTf);
  assert.equal(ok.backend, 'wasm');
  assert.ok(ok.ok, `max relative error ${ok.maxRelError}`);
  assert.ok(ok.ms < 500, `self-test took ${ok.ms} ms`); // < 100 ms normally; slack for a loaded machine
  // Swap in a kernel that returns zeros: the self-test must fail.
  const ours = bundledTf.getKernel('Conv2DBackpropFilter', 'wasm');
  assert.ok(ours);
  bundledTf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  bundledTf.registerKernel({
    kernelName: 'Conv2DBackpropFilter', backendName: 'wasm',
    kernelFunc: ({ attrs }) => bundledTf.zeros((attrs as unknown as { filterShape: number[] }).filterShape),
  });
  try {
    const bad = selfTestKernels(bundledTf);
    assert.equal(bad.ok, false);
    assert.ok(bad.maxRelError > 1e-2);
  } finally {
    bundledTf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
    bundledTf.registerKernel(ours);
  }
  assert.deepEqual(registerWasmGradKernels(bundledTf), [], 'our kernels are back');
});

test('tensorflow-gpu where it is not installed: BackendError, exit code 2, names the package, no fall back',
  { skip: gpuInstalled && '@tensorflow/tfjs-node-gpu is installed here' }, async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'embedlab-empty-'));
    await assert.rejects(initBackend('tensorflow-gpu', { searchPaths: [empty] }), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.equal(e.exitCode, 2);
      assert.equal(e.backend, 'tensorflow-gpu');
      assert.match(e.message, /@tensorflow\/tfjs-node-gpu is not installed/);
      assert.match(e.message, /npm install @tensorflow\/tfjs-node-gpu/);
      assert.match(e.message, /CUDA 11\.2/);
      assert.ok(e.message.includes(empty), 'says where it looked');
      return true;
    });
    assert.equal(tfjs.getBackend(), 'wasm', 'still on wasm: no silent switch');
    assert.equal(tf, bundledTf);
  });

test('webgpu is not implemented yet: BackendError', async () => {
  await assert.rejects(initBackend('webgpu'), (e: unknown) => e instanceof BackendError && e.exitCode === 2);
});

test('a native package that is installed but fails to load: the reason says so', { skip: cpuNativeInstalled && 'tfjs-node installed' }, async () => {
  const root = fakePackage('@tensorflow/tfjs-node', "throw new Error('libtensorflow.so.2: cannot open shared object file');");
  await assert.rejects(initBackend('tensorflow', { searchPaths: [root] }), (e: unknown) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /installed .* but failed to load: libtensorflow\.so\.2/);
    return true;
  });
  // auto skips it and lands on wasm, saying why.
  const info = await initBackend('auto', { searchPaths: [root] });
  assert.equal(info.name, 'wasm');
  assert.match(info.detail, /skipped .*tensorflow: failed to load/);
});

test('a native package found through EMBEDLAB_BACKEND_PATHS is used, and useTf switches to its module', async () => {
  // Stands in for tfjs-node: our tfjs with a backend registered as 'tensorflow'.
  const tfjsPath = JSON.stringify(require.resolve('@tensorflow/tfjs'));
  const cpuPath = JSON.stringify(require.resolve('@tensorflow/tfjs-backend-cpu'));
  const root = fakePackage('@tensorflow/tfjs-node', `
    const tf = require(${tfjsPath});
    const { MathBackendCPU } = require(${cpuPath});
    if (!tf.findBackendFactory('tensorflow')) tf.registerBackend('tensorflow', () => new MathBackendCPU(), 0);
    module.exports = Object.assign({}, tf, { version: Object.assign({}, tf.version, { 'tfjs-node': '9.9.9-fake' }) });
  `);
  const saved = process.env.EMBEDLAB_BACKEND_PATHS;
  process.env.EMBEDLAB_BACKEND_PATHS = ['/nonexistent-embedlab', root].join(path.delimiter);
  try {
    const info = await initBackend('tensorflow');
    assert.equal(info.name, 'tensorflow');
    assert.match(info.detail, /9\.9\.9-fake/);
    assert.ok(info.detail.includes(root));
    assert.notEqual(tf, bundledTf, 'engine now uses the package module');
    assert.equal(tf.getBackend(), 'tensorflow');
  } finally {
    if (saved == null) delete process.env.EMBEDLAB_BACKEND_PATHS; else process.env.EMBEDLAB_BACKEND_PATHS = saved;
  }
  // Back to wasm: the engine returns to our bundled module.
  const back = await initBackend('wasm', { selfTest: false });
  assert.equal(back.name, 'wasm');
  assert.equal(tf, bundledTf);
  bundledTf.removeBackend('tensorflow');
});

test('probeBackends lists all four with reasons and leaves the active backend alone', async () => {
  assert.ok(await bundledTf.setBackend('cpu'));
  const empty = mkdtempSync(path.join(tmpdir(), 'embedlab-empty-'));
  const probes = await probeBackends({ searchPaths: [empty] });
  assert.equal(bundledTf.getBackend(), 'cpu', 'still on cpu after probing');
  assert.deepEqual(probes.map((p) => p.name), ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu']);
  const by = Object.fromEntries(probes.map((p) => [p.name, p]));
  assert.equal(by.wasm.available, true);
  assert.match(by.wasm.detail, /SIMD/);
  assert.equal(by.cpu.available, true);
  for (const p of probes) {
    if (!p.available) {
      assert.ok(p.reason && p.reason.length > 0, `${p.name} has a reason`);
      assert.ok(p.fix && p.fix.length > 0, `${p.name} has a fix`);
    }
  }
  if (!gpuInstalled) {
    assert.equal(by['tensorflow-gpu'].available, false);
    assert.match(by['tensorflow-gpu'].reason ?? '', /@tensorflow\/tfjs-node-gpu is not installed/);
    assert.match(by['tensorflow-gpu'].detail, /nvidia-smi/);
  }
  if (!cpuNativeInstalled) assert.match(by.tensorflow.reason ?? '', /@tensorflow\/tfjs-node is not installed/);
});
