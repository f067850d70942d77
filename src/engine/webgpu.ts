// The WebGPU backend: @tensorflow/tfjs-backend-webgpu on Dawn (the `webgpu` npm package), in Node.
// Facts and pitfalls behind this file: docs/webgpu.md.
//
//   * Dawn (`webgpu`, ESM only, ~131 MB for all platforms) is found like the native tfjs packages: node's own
//     resolution, then opts.searchPaths / EMBEDLAB_BACKEND_PATHS (the extension's on-demand install folder), and
//     loaded with import(). On Linux it needs glibc >= 2.34, the Vulkan loader (libvulkan.so.1, beside dawn.node or
//     from the system) and a Vulkan driver (ICD). Those are checked first, so a missing piece is named with its fix.
//   * navigator.gpu must exist BEFORE @tensorflow/tfjs-backend-webgpu is loaded: it registers its backend only if
//     it sees navigator.gpu at load time. Node >= 21 has a getter-only globalThis.navigator: defineProperty.
//   * tfjs-backend-webgpu registers with the @tensorflow/tfjs-core it resolves; that must be our bundled copy
//     (checked), so it is resolved from here first.
//   * setBackend('webgpu') may resolve false and still leave getBackend() === 'webgpu': both, and the backend
//     object itself, are checked. No silent fall back.
//   * Only async reads work (`await t.data()`); dataSync needs OffscreenCanvas.
//   * A buffer larger than maxStorageBufferBindingSize gives silently WRONG results (Dawn prints a validation error
//     on stdout and carries on). Every buffer the backend allocates is checked against the device limits
//     (guardBackend), and checkTensorFits / checkModelFits let the training loop and embed refuse a batch before
//     allocating it, naming the size and the limit. Uncaptured device errors and device loss are fatal: the next
//     allocation, read or checkWebGpuHealth() throws them.
//   * `auto` takes WebGPU only on a hardware adapter: lavapipe / SwiftShader (isFallbackAdapter, architecture
//     'software', or an llvmpipe/lavapipe/swiftshader device) are used only when 'webgpu' is chosen explicitly.
//
// This file loads Dawn and starts the backend. The rest, one concern a file: webgpu-resolve.ts (finding the
// packages), webgpu-diagnose.ts (glibc, Vulkan loader and drivers), webgpu-adapters.ts (adapter descriptions),
// webgpu-guard.ts (limits and device errors), webgpu-probe.ts + webgpu-probe-child.ts (`embedlab env`).

import { pathToFileURL } from 'node:url';
import { BackendError } from './backend-error';
import { bundledTf, useTf } from './tf';
import { adapterLabel, dawnFlags, describeAdapter, formatBytes, type DawnModule, type GpuLike, type WebGpuAdapter, type WebGpuBackendLike } from './webgpu-adapters';
import { diagnoseWebGpu, why } from './webgpu-diagnose';
import { guardBackend } from './webgpu-guard';
import { TFJS_WEBGPU_PKG, WEBGPU_PKG, type WebGpuPackages } from './webgpu-resolve';

export * from './webgpu-adapters';
export * from './webgpu-diagnose';
export * from './webgpu-guard';
export * from './webgpu-probe';
export * from './webgpu-resolve';

// ---------------------------------------------------------------------------------------------------------
// Loading Dawn and starting the backend

let dawnState: { dawn: DawnModule; gpu: GpuLike; file: string } | undefined;

/** Imports the webgpu package (ESM) once, publishes its globals and navigator.gpu. */
async function loadDawn(file: string): Promise<{ dawn: DawnModule; gpu: GpuLike; file: string }> {
  if (dawnState) return dawnState;
  const dawn = (await import(pathToFileURL(file).href)) as DawnModule;
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v; // GPUBufferUsage, GPUMapMode, …
  const gpu = dawn.create(dawnFlags());
  setNavigatorGpu(gpu);
  dawnState = { dawn, gpu, file };
  return dawnState;
}

/** navigator.gpu = gpu; Node >= 21 has a getter-only globalThis.navigator, so defineProperty. */
function setNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const existing = g.navigator;
  if (existing && typeof existing === 'object') {
    try {
      Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true, writable: true });
    } catch {
      // fall through to replacing navigator
    }
    if (g.navigator?.gpu === gpu) return;
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

export interface WebGpuInitOptions {
  searchPaths?: string[];
  /** `auto`: refuse software/fallback adapters. */
  requireHardware?: boolean;
  /** tfjs WEBGPU_CPU_FORWARD (tfjs default true: small ops on CPU-resident inputs run on the CPU). Tests set false.
   *  Default: env EMBEDLAB_WEBGPU_CPU_FORWARD ('0'/'false' → false), else tfjs's default. */
  cpuForward?: boolean;
}

export interface WebGpuInitResult {
  detail: string;
  adapter: WebGpuAdapter;
}


/**
 * Starts tfjs-backend-webgpu on our bundled tfjs and makes it the engine's module. Throws BackendError (exit 2)
 * saying why and how to fix it when it cannot start; `requireHardware` also refuses software adapters.
 */
export async function initWebGpu(opts: WebGpuInitOptions = {}): Promise<WebGpuInitResult> {
  const diag = diagnoseWebGpu(opts.searchPaths);
  const fail = (reason: string, fix: string): never => {
    throw new BackendError(`the webgpu backend cannot start: ${reason}. Fix: ${fix}`, 'webgpu', reason, fix);
  };
  if (diag.blocking) { const w = why(diag.problems); fail(w.reason, w.fix); }
  const { dawn: dawnPkg, tfjs: tfjsPkg } = diag.packages as Required<WebGpuPackages>;

  let gpu: GpuLike;
  try {
    ({ gpu } = await loadDawn(dawnPkg.file));
  } catch (e) {
    const m = e instanceof Error ? e.message.split('\n')[0] : String(e);
    fail(`${WEBGPU_PKG} ${dawnPkg.version} (${dawnPkg.dir}) failed to load: ${m}`,
      /GLIBC|GLIBCXX/.test(m) ? 'run on a system with glibc >= 2.34 and GCC 12 libstdc++ (Debian 12+, Ubuntu 22.04+)' : `reinstall ${WEBGPU_PKG}`);
  }
  // The same request tfjs-backend-webgpu makes, so this is the adapter it will get.
  let lowPower = false; // the flag exists only once tfjs-backend-webgpu is loaded
  try { lowPower = bundledTf.env().getBool('WEBGPU_USE_LOW_POWER_GPU') === true; } catch { /* not registered yet */ }
  const raw = await gpu!.requestAdapter({ powerPreference: lowPower ? 'low-power' : 'high-performance' }).catch(() => null);
  if (!raw) {
    const problems = diag.problems.length ? diag.problems : [{
      reason: `Dawn found no usable adapter (Vulkan drivers: ${diag.icds.map((i) => i.library).join(', ')}); a driver can be rejected, e.g. Debian 12's Mesa 22.3 lavapipe lacks shader*ArrayDynamicIndexing (Dawn prints the cause on stdout)`,
      fix: 'install a GPU Vulkan driver (NVIDIA: the driver\'s libnvidia-gl package; Mesa >= 25 for lavapipe, see scripts/mesa25.sh); run `vulkaninfo --summary` to check',
    }];
    const w = why(problems);
    fail(`no WebGPU adapter: ${w.reason}`, w.fix);
  }
  const adapter = describeAdapter(raw!);
  if (opts.requireHardware && adapter.software) {
    fail(`only a software adapter is available: ${adapterLabel(adapter)}`,
      "install a GPU's Vulkan driver; a software adapter is used only when backend 'webgpu' is chosen explicitly");
  }

  // Register the backend: navigator.gpu is set (loadDawn), so tfjs-backend-webgpu registers at load time.
  let registered = bundledTf.findBackendFactory('webgpu') != null;
  if (!registered) {
    const cached = require.cache[tfjsPkg.file] != null;
    try {
      require(tfjsPkg.file);
    } catch (e) {
      fail(`${TFJS_WEBGPU_PKG} failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, `reinstall ${TFJS_WEBGPU_PKG}@${bundledTf.version_core}`);
    }
    registered = bundledTf.findBackendFactory('webgpu') != null;
    if (!registered) {
      fail(cached
        ? `${TFJS_WEBGPU_PKG} was loaded before navigator.gpu was set, so it did not register its backend`
        : `${TFJS_WEBGPU_PKG} (${tfjsPkg.file}) registered with a different @tensorflow/tfjs-core than the engine's (${bundledTf.version_core})`,
      cached ? 'load it only through the engine (initBackend)' : `install ${TFJS_WEBGPU_PKG}@${bundledTf.version_core} beside the engine's @tensorflow/tfjs, not in the backend folder`);
    }
  }
  const envForward = process.env.EMBEDLAB_WEBGPU_CPU_FORWARD;
  const cpuForward = opts.cpuForward ?? (envForward === undefined ? undefined : !/^(0|false|no)$/i.test(envForward));
  if (cpuForward !== undefined) bundledTf.env().set('WEBGPU_CPU_FORWARD', cpuForward);

  useTf(bundledTf);
  let ok: boolean;
  try {
    ok = await bundledTf.setBackend('webgpu');
  } catch (e) {
    ok = false;
    fail(`setBackend('webgpu') failed: ${e instanceof Error ? e.message : String(e)}`, 'check the Vulkan driver (vulkaninfo --summary); or choose backend \'wasm\'');
  }
  const backend = ok ? (bundledTf.engine().findBackend('webgpu') as unknown as WebGpuBackendLike | null) : null;
  // A failed setBackend can leave getBackend() === 'webgpu' with no backend behind it: check the object too.
  if (!ok || bundledTf.getBackend() !== 'webgpu' || !backend?.device) {
    fail(`setBackend('webgpu') did not take effect (active backend: ${String(bundledTf.engine().backendName)})`,
      'check the Vulkan driver (vulkaninfo --summary); or choose backend \'wasm\'');
  }
  const l = guardBackend(backend!, adapter);
  const parts = [
    `WebGPU on ${adapterLabel(adapter)}`,
    `Dawn (${WEBGPU_PKG} ${dawnPkg.version}), ${TFJS_WEBGPU_PKG} ${tfjsPkg.version}`,
    `maxStorageBufferBindingSize ${formatBytes(l.maxStorageBufferBindingSize)}, maxBufferSize ${formatBytes(l.maxBufferSize)}`,
  ];
  if (adapter.software) parts.push('software adapter: slow, for tests');
  if (bundledTf.env().getBool('WEBGPU_CPU_FORWARD') === false) parts.push('CPU forwarding off');
  return { detail: parts.join('; '), adapter };
}
