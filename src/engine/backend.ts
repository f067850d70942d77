// Backend selection for the training engine.
//
// Backends, fastest first (measured speeds: BENCHMARKS.md):
//   tensorflow-gpu  @tensorflow/tfjs-node-gpu (libtensorflow 2.9.1, CUDA 11.2 + cuDNN 8.1) — optional, user-installed
//   tensorflow      @tensorflow/tfjs-node (libtensorflow on the CPU) — optional, user-installed
//   webgpu          @tensorflow/tfjs-backend-webgpu on Dawn (`webgpu` package, Vulkan/Metal/D3D12) — optional; see
//                   ./webgpu.ts and docs/webgpu.md. `auto` takes it only on a hardware adapter.
//   wasm            @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD, 1 thread) + our conv-gradient kernels — default
//   cpu             plain-JS reference backend: slow, used by tests
//
// Rules: an explicitly chosen backend that cannot start throws BackendError (exit code 2) saying why and how to
// fix it; there is never a silent fall back (tfjs itself would quietly stay on `cpu` when wasm fails to
// initialise, so setBackend's result and getBackend() are both checked). Only `auto` falls through its list.
//
// The native packages are looked up with node's normal resolution first, then in each folder of
// `opts.searchPaths` and of env EMBEDLAB_BACKEND_PATHS (path-delimited) — folders with a node_modules/ inside,
// where the VS Code extension installs them on demand. Such a package brings its own tfjs copy, so on success
// the engine switches to it with useTf(); wasm and cpu always run on our bundled tfjs.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs';
import type { BackendChoice } from '../core/config-types';
import type { BackendName } from '../protocol/events';
import { bundledTf, tf, useTf, type TfModule } from './tf';
import { registerAdamKernel } from './kernels/adam';
import { registerBatchNormKernels } from './kernels/batchnorm';
import { registerReluGrad } from './kernels/relu-grad';
import { isOurKernel, naiveConv2DGrads, registerWasmGradKernels, type ConvPad } from './kernels/conv-grad';
import { initWebGpu, resolveWebGpuPackages } from './webgpu';

export { checkModelFits, checkTensorFits, checkWebGpuHealth, probeWebGpu, webGpuLimits, type WebGpuProbe } from './webgpu';

import { BackendError } from './backend-error';
export { BackendError } from './backend-error';

export interface BackendOptions {
  /** Extra folders (each holding node_modules/) searched for @tensorflow/tfjs-node(-gpu). */
  searchPaths?: string[];
  /** Run selfTestKernels after starting wasm (default true; costs a few ms). */
  selfTest?: boolean;
}

export interface BackendInfo {
  name: BackendName;
  detail: string;
}

/** tensorflow-gpu's own answer to "do you run on a GPU" (undefined: it does not say). */
type NativeInfo = BackendInfo & { gpuDevice?: boolean; module?: TfModule };

export interface BackendProbe {
  name: BackendName;
  available: boolean;
  detail: string;
  reason?: string;
  fix?: string;
}

/**
 * `auto` tries these in order: tfjs-node-gpu where it loads AND sees a GPU, then WebGPU on a hardware adapter
 * (never a software one such as lavapipe), then tfjs-node, then wasm.
 */
export const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm'];

type NativeName = 'tensorflow' | 'tensorflow-gpu';
const NATIVE: Record<NativeName, { pkg: string; fix: string }> = {
  'tensorflow-gpu': {
    pkg: '@tensorflow/tfjs-node-gpu',
    fix: 'run `npm install @tensorflow/tfjs-node-gpu` (needs Linux x86_64, CUDA 11.2 + cuDNN 8.1) or use the VS Code '
      + "command 'Embedding Lab: Install GPU Backend'; or choose backend 'auto' or 'wasm'",
  },
  tensorflow: {
    pkg: '@tensorflow/tfjs-node',
    fix: "run `npm install @tensorflow/tfjs-node` (Linux/macOS/Windows x86_64) in the extension's backend folder "
      + "or the project; or choose backend 'auto' or 'wasm'",
  },
};

const WASM_PKG = '@tensorflow/tfjs-backend-wasm';
const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

/** Folders searched for native packages: opts.searchPaths, then EMBEDLAB_BACKEND_PATHS. */
export function backendSearchPaths(opts: BackendOptions = {}): string[] {
  const fromEnv = (process.env.EMBEDLAB_BACKEND_PATHS ?? '').split(path.delimiter);
  return [...(opts.searchPaths ?? []), ...fromEnv].filter((p) => p.trim() !== '').map((p) => path.resolve(p));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------
// Native packages (tfjs-node, tfjs-node-gpu)

type NativeLoad =
  | { ok: true; module: TfModule; file: string }
  | { ok: false; installed: boolean; reason: string; file?: string };

const nativeLoads = new Map<string, NativeLoad>();

/** Finds and requires a native package; the result (success or failure) is cached per package and path list. */
function loadNative(name: NativeName, opts: BackendOptions): NativeLoad {
  const { pkg } = NATIVE[name];
  const paths = backendSearchPaths(opts);
  const key = `${pkg}\0${paths.join('\0')}`;
  const cached = nativeLoads.get(key);
  if (cached) return cached;
  let result: NativeLoad | undefined;
  for (const where of [undefined, ...paths]) {
    let file: string;
    try {
      file = where == null ? require.resolve(pkg) : require.resolve(pkg, { paths: [where] });
    } catch {
      continue; // not in this place
    }
    try {
      result = { ok: true, module: require(file) as TfModule, file };
    } catch (e) {
      // Installed but the native addon did not load (missing libtensorflow, CUDA libraries, wrong ABI …).
      result = { ok: false, installed: true, file, reason: `${pkg} is installed (${file}) but failed to load: ${message(e).split('\n')[0]}` };
    }
    break;
  }
  result ??= {
    ok: false, installed: false,
    reason: `${pkg} is not installed (looked in node's module path${paths.length ? ` and in ${paths.join(', ')}` : ''})`,
  };
  nativeLoads.set(key, result);
  return result;
}

/** `nvidia-smi -L`, if present, with a short timeout: the GPUs the driver sees, or why none are known. */
export function nvidiaSmi(timeoutMs = 3000): { gpus: string[]; note: string } {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { gpus: [], note: code === 'ENOENT' ? 'nvidia-smi not found (no NVIDIA driver?)' : `nvidia-smi failed: ${r.error.message}` };
  }
  if (r.status !== 0) return { gpus: [], note: `nvidia-smi -L exited with ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  const gpus = r.stdout.split('\n').map((l) => l.replace(/\s*\(UUID:.*\)\s*$/, '').trim()).filter((l) => l !== '');
  return { gpus, note: gpus.length ? `nvidia-smi: ${gpus.join('; ')}` : 'nvidia-smi lists no GPU' };
}

async function initNative(name: NativeName, opts: BackendOptions): Promise<NativeInfo> {
  const load = loadNative(name, opts);
  if (!load.ok) {
    const { fix } = NATIVE[name];
    throw new BackendError(`${load.reason}: ${fix}`, name, load.reason, fix);
  }
  const m = load.module;
  let ok: boolean;
  try {
    ok = await m.setBackend('tensorflow');
  } catch (e) {
    throw new BackendError(`backend '${name}': setBackend('tensorflow') failed: ${message(e)}`, name, message(e), NATIVE[name].fix);
  }
  if (!ok || m.getBackend() !== 'tensorflow') {
    const reason = `setBackend('tensorflow') did not take effect (active backend: ${m.getBackend()})`;
    throw new BackendError(`backend '${name}': ${reason}`, name, reason, NATIVE[name].fix);
  }
  useTf(m);
  const versions = (m as unknown as { version?: Record<string, string> }).version ?? {};
  const parts = [`${NATIVE[name].pkg} ${versions['tfjs-node'] ?? versions['tfjs-core'] ?? ''}`.trim(), `from ${path.dirname(load.file)}`];
  if (versions['tfjs-core'] && versions['tfjs-core'] !== bundledTf.version_core) {
    parts.push(`tfjs-core ${versions['tfjs-core']} (bundled: ${bundledTf.version_core})`);
  }
  let gpuDevice: boolean | undefined;
  if (name === 'tensorflow-gpu') {
    gpuDevice = (m.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
    if (gpuDevice === true) parts.push('TensorFlow uses a GPU device');
    else if (gpuDevice === false) parts.push('TensorFlow sees NO GPU device: running on the CPU (check CUDA 11.2 / cuDNN 8.1)');
    parts.push(nvidiaSmi().note);
  }
  return { name, detail: parts.join('; '), gpuDevice, module: m };
}

// ---------------------------------------------------------------------------------------------------------
// wasm and cpu (our bundled tfjs)

function wasmDistDir(): string {
  return path.join(path.dirname(require.resolve(`${WASM_PKG}/package.json`)), 'dist');
}

/** Loads tfjs-backend-wasm (registering the backend with our tfjs-core) and points it at its .wasm files. */
function loadWasm(): { module: WasmModule; dir: string } {
  const module = require(WASM_PKG) as WasmModule;
  const dir = wasmDistDir();
  const map = Object.fromEntries(WASM_BINARIES.map((b) => [b, path.join(dir, b)]));
  try {
    // Explicit paths: a bundled dist/*.js does not sit beside the .wasm files. The paths are absolute files,
    // read with fs by the emscripten loader in Node.
    module.setWasmPaths(map);
  } catch {
    // Throws only after an aborted init; the paths set before still hold.
  }
  return { module, dir };
}

async function switchBundled(name: 'wasm' | 'cpu'): Promise<void> {
  useTf(bundledTf);
  let ok: boolean;
  try {
    ok = await bundledTf.setBackend(name);
  } catch (e) {
    throw new BackendError(`the ${name} backend failed to initialise: ${message(e)}`, name, message(e));
  }
  if (!ok || bundledTf.getBackend() !== name) {
    const reason = `setBackend('${name}') did not take effect (active backend: ${bundledTf.getBackend()})`;
    const fix = name === 'wasm'
      ? `check that ${WASM_PKG} is installed with its dist/*.wasm files and that WebAssembly is enabled`
      : undefined;
    throw new BackendError(`the ${name} backend failed to initialise: ${reason}${fix ? `; ${fix}` : ''}`, name, reason, fix);
  }
}

async function initWasm(opts: BackendOptions): Promise<BackendInfo> {
  let loaded: { module: WasmModule; dir: string };
  try {
    loaded = loadWasm();
  } catch (e) {
    const fix = `reinstall the extension / run \`npm install ${WASM_PKG}\``;
    throw new BackendError(`${WASM_PKG} cannot be loaded: ${message(e)}; ${fix}`, 'wasm', message(e), fix);
  }
  const missing = WASM_BINARIES.filter((b) => !existsSync(path.join(loaded.dir, b)));
  if (missing.length === WASM_BINARIES.length) {
    const reason = `no .wasm binaries in ${loaded.dir}`;
    throw new BackendError(`the wasm backend cannot start: ${reason}; reinstall ${WASM_PKG}`, 'wasm', reason);
  }
  registerWasmGradKernels(bundledTf);
  registerBatchNormKernels(bundledTf, 'wasm');
  registerAdamKernel(bundledTf);
  registerReluGrad(bundledTf);
  await switchBundled('wasm');
  const simd = (await bundledTf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const parts = [`tfjs ${bundledTf.version_core}`, simd ? 'SIMD' : 'no SIMD (slow)', `${loaded.module.getThreadsCount()} thread`,
    `conv-gradient kernels: ours (${isOurKernel(bundledTf, 'Conv2DBackpropInput') ? 'filter + input' : 'filter'})`];
  if (opts.selfTest !== false) {
    const t = selfTestKernels(bundledTf);
    if (!t.ok) {
      const reason = `conv-gradient self-test failed: max relative error ${t.maxRelError.toExponential(2)} (limit ${t.tolerance})`;
      throw new BackendError(`the wasm backend is unusable: ${reason}; choose backend 'cpu' and report a bug`, 'wasm', reason);
    }
    parts.push(`self-test ok (${t.maxRelError.toExponential(1)}, ${t.ms.toFixed(0)} ms)`);
  }
  return { name: 'wasm', detail: parts.join(', ') };
}

async function initCpu(): Promise<BackendInfo> {
  await switchBundled('cpu');
  return { name: 'cpu', detail: `tfjs ${bundledTf.version_core} plain-JS reference backend (slow: for tests, not training)` };
}

async function initWebgpuBackend(opts: BackendOptions, requireHardware: boolean): Promise<BackendInfo> {
  const r = await initWebGpu({ searchPaths: opts.searchPaths, requireHardware });
  return { name: 'webgpu', detail: r.detail };
}

async function initOne(name: BackendName, opts: BackendOptions): Promise<BackendInfo> {
  switch (name) {
    case 'wasm': return initWasm(opts);
    case 'cpu': return initCpu();
    case 'tensorflow':
    case 'tensorflow-gpu': {
      const { name: n, detail } = await initNative(name, opts);
      return { name: n, detail };
    }
    case 'webgpu': return initWebgpuBackend(opts, false);
  }
}

/**
 * Starts the chosen backend and makes the engine's `tf` (./tf) the module it runs on.
 * `auto`: the first of AUTO_ORDER whose package can be loaded and started, else wasm.
 * Throws BackendError (exitCode 2) when an explicitly chosen backend cannot run.
 */
export async function initBackend(choice: BackendChoice, opts: BackendOptions = {}): Promise<BackendInfo> {
  if (choice !== 'auto') return initOne(choice, opts);
  const skipped: string[] = [];
  const done = (info: BackendInfo): BackendInfo =>
    skipped.length ? { name: info.name, detail: `${info.detail} (auto; skipped ${skipped.join(', ')})` } : { name: info.name, detail: info.detail };
  // tfjs-node-gpu that loads but sees no GPU runs on the CPU: kept for the 'tensorflow' slot (tfjs-node and
  // tfjs-node-gpu must not both be loaded in one process), after WebGPU has had its chance.
  let nativeOnCpu: NativeInfo | undefined;
  for (const name of AUTO_ORDER) {
    if (name === 'tensorflow' || name === 'tensorflow-gpu') {
      if (name === 'tensorflow' && nativeOnCpu?.module) {
        useTf(nativeOnCpu.module);
        return done({ name: 'tensorflow-gpu', detail: nativeOnCpu.detail });
      }
      const load = loadNative(name, opts);
      if (!load.ok) {
        skipped.push(`${name}: ${load.installed ? 'failed to load' : 'not installed'}`);
        continue;
      }
    }
    if (name === 'webgpu' && !resolveWebGpuPackages(opts.searchPaths).dawn) {
      skipped.push('webgpu: not installed');
      continue;
    }
    try {
      if (name === 'tensorflow-gpu') {
        const info = await initNative(name, opts);
        if (info.gpuDevice === false) {
          nativeOnCpu = info;
          skipped.push('tensorflow-gpu: sees no GPU device');
          continue;
        }
        return done(info);
      }
      const info = name === 'webgpu' ? await initWebgpuBackend(opts, true) : await initOne(name, opts);
      return done(info);
    } catch (e) {
      if (name === 'webgpu' && !(e instanceof BackendError)) { // an unexpected failure of an optional backend
        skipped.push(`webgpu: ${message(e).split('\n')[0]}`);
        continue;
      }
      if (!(e instanceof BackendError) || name === AUTO_ORDER[AUTO_ORDER.length - 1]) throw e;
      skipped.push(`${name}: ${e.reason ?? e.message}`);
    }
  }
  throw new BackendError('no backend could be started', 'auto'); // unreachable: wasm is last and throws
}

// ---------------------------------------------------------------------------------------------------------
// Probing (`embedlab env`)

/**
 * Reports every backend, available or not, with the reason and fix when it is not. Meant for `embedlab env`
 * in a fresh process: it requires the native packages it finds (which loads libtensorflow and registers their
 * 'tensorflow' backend with their tfjs copy) and briefly starts wasm. The active backend of our bundled tfjs is
 * restored afterwards when there was one; when none was active yet, wasm stays active (it is the default).
 * The engine's `tf` module is left unchanged.
 */
export async function probeBackends(opts: BackendOptions = {}): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  const active = bundledTf.engine().backendName as string | null;

  // wasm
  try {
    const { module, dir } = loadWasm();
    const simd = (await bundledTf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    let ok = active === 'wasm';
    if (!ok) {
      ok = await bundledTf.setBackend('wasm').catch(() => false);
      if (active != null && active !== 'wasm') await bundledTf.setBackend(active);
    }
    out.push(ok
      ? { name: 'wasm', available: true, detail: `${simd ? 'SIMD' : 'no SIMD (slow)'}, ${module.getThreadsCount()} thread, binaries in ${dir}` }
      : { name: 'wasm', available: false, detail: `binaries in ${dir}`, reason: 'the wasm module failed to initialise',
        fix: `reinstall ${WASM_PKG}; check that WebAssembly is enabled` });
  } catch (e) {
    out.push({ name: 'wasm', available: false, detail: '', reason: `${WASM_PKG} cannot be loaded: ${message(e)}`, fix: `npm install ${WASM_PKG}` });
  }

  out.push({ name: 'cpu', available: true, detail: 'plain-JS reference backend (slow: for tests, not training)' });

  // Native packages: the GPU one first; tfjs-node and tfjs-node-gpu must not both be loaded in one process.
  let nativeLoaded = false;
  const gpu = probeNative('tensorflow-gpu', opts);
  out.push(probeNative('tensorflow', opts), gpu);
  function probeNative(name: NativeName, o: BackendOptions): BackendProbe {
    const { pkg, fix } = NATIVE[name];
    const other: NativeName = name === 'tensorflow' ? 'tensorflow-gpu' : 'tensorflow';
    if (nativeLoaded) {
      // Only resolve: the other native package is already loaded into this process.
      const where = [undefined, ...backendSearchPaths(o)].map((p) => {
        try { return p == null ? require.resolve(pkg) : require.resolve(pkg, { paths: [p] }); } catch { return undefined; }
      }).find((f) => f != null);
      return where
        ? { name, available: true, detail: `${pkg} installed at ${path.dirname(where)} (not loaded: ${other} already is)` }
        : { name, available: false, detail: '', reason: `${pkg} is not installed`, fix };
    }
    const load = loadNative(name, o);
    const gpuNote = name === 'tensorflow-gpu' ? nvidiaSmi().note : undefined;
    if (!load.ok) {
      return { name, available: false, detail: gpuNote ?? '', reason: load.reason, fix };
    }
    nativeLoaded = true;
    const v = (load.module as unknown as { version?: Record<string, string> }).version ?? {};
    const detail = [`${pkg} ${v['tfjs-node'] ?? ''}`.trim(), `from ${path.dirname(load.file)}`, gpuNote].filter(Boolean).join('; ');
    return { name, available: true, detail };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Startup self-test of the conv-gradient kernels

export interface SelfTestResult {
  ok: boolean;
  /** Largest max|a−b| / max(1, max|b|) over both kernels and both shapes. */
  maxRelError: number;
  tolerance: number;
  ms: number;
  backend: string;
}

/**
 * Runs whichever Conv2DBackpropFilter / Conv2DBackpropInput kernels the active backend of `m` has on two tiny
 * shapes (3×3 stride 2 'same' on 7×5 input; 2×3 stride 1 'valid') and compares them with a plain-loop reference.
 * Cheap (a few ms); leaves no tensors behind.
 */
export function selfTestKernels(m: TfModule = tf, tolerance = 1e-4): SelfTestResult {
  const t0 = performance.now();
  const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; s: number; pad: ConvPad }> = [
    { x: [2, 7, 5, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
    { x: [1, 6, 7, 2], f: [2, 3, 2, 3], s: 1, pad: 'valid' },
  ];
  let seed = 12345;
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 31 - 1;
  });
  let worst = 0;
  for (const c of cases) {
    const info = m.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
    const dyShape: [number, number, number, number] = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
    const xa = rand(c.x.reduce((a, b) => a * b)), fa = rand(c.f.reduce((a, b) => a * b)), da = rand(dyShape.reduce((a, b) => a * b));
    const ref = naiveConv2DGrads(m, xa, c.x, fa, c.f, da, c.s, c.pad);
    const [dW, dX] = m.tidy(() => {
      const x = m.tensor4d(xa, c.x), f = m.tensor4d(fa, c.f), dy = m.tensor4d(da, dyShape);
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f, inputShape: c.x };
      const w = m.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as Tensor;
      const i = m.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, attrs as never) as Tensor;
      return [w, i];
    });
    const got = [dW.dataSync(), dX.dataSync()];
    m.dispose([dW, dX]);
    worst = Math.max(worst, relError(got[0], ref.dW), relError(got[1], ref.dX));
  }
  return { ok: worst < tolerance, maxRelError: worst, tolerance, ms: performance.now() - t0, backend: m.getBackend() };
}

/** max|a−b| / max(1, max|ref|); Infinity when the lengths differ or a value is not finite. */
export function relError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) return Infinity;
  let diff = 0, scale = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - ref[i]);
    if (!Number.isFinite(d)) return Infinity;
    diff = Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}
