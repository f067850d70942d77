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

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LayersModel } from '@tensorflow/tfjs';
import { BackendError } from './backend-error';
import { bundledTf, useTf } from './tf';
import { LabError } from '../core/errors';

export const WEBGPU_PKG = 'webgpu';
export const TFJS_WEBGPU_PKG = '@tensorflow/tfjs-backend-webgpu';
export const MIN_GLIBC = '2.34';

// ---------------------------------------------------------------------------------------------------------
// Minimal structural types of the WebGPU objects we touch (no dependency on @webgpu/types' globals).

interface GpuAdapterInfoLike {
  vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean;
}
type LimitName = 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupsPerDimension';
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  limits: Record<LimitName, number>;
  features: Iterable<string> & { has(f: string): boolean };
}
interface GpuLike {
  requestAdapter(opts?: { powerPreference?: 'low-power' | 'high-performance'; forceFallbackAdapter?: boolean }): Promise<GpuAdapterLike | null>;
}
interface GpuDeviceLike {
  limits: Record<LimitName, number>;
  lost: Promise<{ reason?: string; message?: string }>;
  onuncapturederror: ((ev: { error?: { message?: string; constructor?: { name?: string } } }) => void) | null;
}
interface WebGpuBackendLike {
  device: GpuDeviceLike;
  adapterInfo?: { vendor?: string; architecture?: string };
  bufferManager: { acquireBuffer(size: number, usage: number, ...rest: unknown[]): unknown };
  read(dataId: object): Promise<unknown>;
}
interface DawnModule { create(flags: string[]): GpuLike; globals: Record<string, unknown> }

const STORAGE_USAGE = 0x80; // GPUBufferUsage.STORAGE

// ---------------------------------------------------------------------------------------------------------
// Adapters

export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** Fallback or software (lavapipe/llvmpipe, SwiftShader, WARP): usable when chosen explicitly, never by `auto`. */
  software: boolean;
  limits: Record<LimitName, number>;
  features: string[];
}

/** A software adapter: flagged as fallback, architecture 'software', or a known CPU rasteriser. */
export function isSoftwareAdapter(a: GpuAdapterInfoLike & { isFallbackAdapter?: boolean }): boolean {
  if (a.isFallbackAdapter) return true;
  if ((a.architecture ?? '').toLowerCase() === 'software') return true;
  const text = `${a.vendor ?? ''} ${a.device ?? ''} ${a.description ?? ''}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|softpipe|microsoft basic render|\bwarp\b/.test(text);
}

function describeAdapter(a: GpuAdapterLike): WebGpuAdapter {
  const info = a.info ?? {};
  const limits = {} as Record<LimitName, number>;
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension'] as const) limits[k] = Number(a.limits[k]);
  const features = Array.from(a.features);
  const base = {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter),
  };
  return { ...base, software: isSoftwareAdapter(base), limits, features: features.sort() };
}

/** Every adapter Dawn offers for the usual requests (high-performance, low-power, fallback), without duplicates. */
export async function listAdapters(gpu: GpuLike): Promise<WebGpuAdapter[]> {
  const out: WebGpuAdapter[] = [];
  for (const opts of [{ powerPreference: 'high-performance' as const }, { powerPreference: 'low-power' as const }, { forceFallbackAdapter: true }]) {
    const a = await gpu.requestAdapter(opts).catch(() => null);
    if (!a) continue;
    const d = describeAdapter(a);
    if (!out.some((o) => o.vendor === d.vendor && o.device === d.device && o.description === d.description && o.architecture === d.architecture)) out.push(d);
  }
  return out;
}

export function adapterLabel(a: WebGpuAdapter): string {
  const name = a.description || a.device || 'unnamed adapter';
  return `${name} (${[a.vendor, a.architecture].filter(Boolean).join('/') || 'unknown vendor'}${a.software ? ', software' : ''}${a.isFallbackAdapter ? ', fallback' : ''})`;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n % 2 ** 30 === 0 ? 0 : 2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(n % 2 ** 20 === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

// ---------------------------------------------------------------------------------------------------------
// Static checks: package, glibc, Vulkan loader, Vulkan drivers (ICDs), container capabilities

export interface WebGpuProblem { reason: string; fix: string }

export interface WebGpuPackages {
  /** The `webgpu` package's entry (index.js) and version; undefined when not installed. */
  dawn?: { file: string; dir: string; version: string };
  /** @tensorflow/tfjs-backend-webgpu's entry; undefined when not installed. */
  tfjs?: { file: string; version: string };
  /** Folders searched besides node's own resolution. */
  searched: string[];
}

function searchPathsOf(searchPaths: string[] = []): string[] {
  const fromEnv = (process.env.EMBEDLAB_BACKEND_PATHS ?? '').split(path.delimiter);
  return [...searchPaths, ...fromEnv].filter((p) => p.trim() !== '').map((p) => path.resolve(p));
}

function resolveIn(pkg: string, paths: string[]): string | undefined {
  for (const where of [undefined, ...paths]) {
    try {
      return where == null ? require.resolve(pkg) : require.resolve(pkg, { paths: [where] });
    } catch {
      // not here
    }
  }
  return undefined;
}

function packageRoot(entry: string, name: string): string {
  let dir = path.dirname(entry);
  while (dir !== path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try { if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === name) return dir; } catch { /* keep looking */ }
    }
    dir = path.dirname(dir);
  }
  return path.dirname(entry);
}

function versionOf(dir: string): string {
  try { return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '?'; } catch { return '?'; }
}

export function resolveWebGpuPackages(searchPaths: string[] = []): WebGpuPackages {
  const searched = searchPathsOf(searchPaths);
  const out: WebGpuPackages = { searched };
  const dawn = resolveIn(WEBGPU_PKG, searched);
  if (dawn) { const dir = packageRoot(dawn, WEBGPU_PKG); out.dawn = { file: dawn, dir, version: versionOf(dir) }; }
  const t = resolveIn(TFJS_WEBGPU_PKG, searched);
  if (t) out.tfjs = { file: t, version: versionOf(packageRoot(t, TFJS_WEBGPU_PKG)) };
  return out;
}

/** `dist/<platform>-<arch>` of the webgpu package: where dawn.node lives (and where Dawn looks for libvulkan first). */
export function dawnDistDir(dawnDir: string): string {
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  return path.join(dawnDir, 'dist', `${process.platform}-${arch}`);
}

/** The C library's version on Linux (glibc), or undefined (musl, other platforms). */
export function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number), b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

const MULTIARCH = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';

/** Where Dawn would load libvulkan.so.1 from: beside dawn.node first, then the dynamic linker's search. */
export function findVulkanLoader(dawnDir?: string): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const dirs = [
    ...(dawnDir ? [dawnDistDir(dawnDir)] : []),
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
  ];
  for (const d of dirs) if (existsSync(path.join(d, 'libvulkan.so.1'))) return path.join(d, 'libvulkan.so.1');
  for (const exe of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = spawnSync(exe, ['-p'], { encoding: 'utf8', timeout: 3000 });
    if (r.status === 0) {
      const line = r.stdout.split('\n').find((l) => /^\s*libvulkan\.so\.1 .*\(.*(x86-64|AArch64|aarch64).*\)/.test(l) || /^\s*libvulkan\.so\.1 /.test(l));
      if (line) return line.split('=>').pop()?.trim();
      break;
    }
  }
  for (const d of [`/usr/lib/${MULTIARCH}`, `/lib/${MULTIARCH}`, '/usr/lib64', '/lib64', '/usr/lib', '/usr/local/lib']) {
    if (existsSync(path.join(d, 'libvulkan.so.1'))) return path.join(d, 'libvulkan.so.1');
  }
  return undefined;
}

export interface VulkanIcd { file: string; library: string }

/** The Vulkan driver manifests the loader would read (VK_DRIVER_FILES / VK_ICD_FILENAMES, else the standard folders). */
export function findVulkanIcds(): VulkanIcd[] {
  if (process.platform !== 'linux') return [];
  const explicit = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
  const candidates: string[] = [];
  const addDir = (d: string) => {
    try { for (const f of readdirSync(d).sort()) if (f.endsWith('.json')) candidates.push(path.join(d, f)); } catch { /* absent */ }
  };
  const addList = (list: string) => {
    for (const p of list.split(':').filter(Boolean)) {
      try { if (readdirSync(p)) addDir(p); } catch { candidates.push(p); }
    }
  };
  if (explicit) addList(explicit);
  else {
    const home = os.homedir();
    const config = [process.env.XDG_CONFIG_HOME || path.join(home, '.config'), ...(process.env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'), '/etc'];
    const data = [process.env.XDG_DATA_HOME || path.join(home, '.local/share'), ...(process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':')];
    for (const d of [...config, ...data]) if (d) addDir(path.join(d, 'vulkan', 'icd.d'));
  }
  if (process.env.VK_ADD_DRIVER_FILES) addList(process.env.VK_ADD_DRIVER_FILES);
  const out: VulkanIcd[] = [];
  for (const file of [...new Set(candidates)]) {
    try {
      const j = JSON.parse(readFileSync(file, 'utf8')) as { ICD?: { library_path?: string } };
      if (j.ICD?.library_path) out.push({ file, library: j.ICD.library_path });
    } catch {
      // unreadable or missing manifest: the loader skips it too
    }
  }
  return out;
}

/** NVIDIA device nodes present (a GPU is passed into this machine or container). */
function nvidiaDevicesPresent(): boolean {
  try { return readdirSync('/dev').some((n) => /^nvidia(\d+|ctl)$/.test(n)); } catch { return false; }
}

export interface WebGpuDiagnosis {
  packages: WebGpuPackages;
  glibc?: string;
  loader?: string;
  icds: VulkanIcd[];
  /** Problems that stop Dawn from finding any adapter, each with its fix (empty when nothing is known wrong). */
  problems: WebGpuProblem[];
  /** True when the problems make loading Dawn pointless (package missing, old glibc, no loader). */
  blocking: boolean;
}

/** Checks everything that can be checked without loading Dawn. */
export function diagnoseWebGpu(searchPaths: string[] = []): WebGpuDiagnosis {
  const packages = resolveWebGpuPackages(searchPaths);
  const problems: WebGpuProblem[] = [];
  let blocking = false;
  const where = `node's module path${packages.searched.length ? ` and ${packages.searched.join(', ')}` : ''}`;
  if (!packages.dawn) {
    blocking = true;
    problems.push({
      reason: `the ${WEBGPU_PKG} package (Dawn) is not installed (looked in ${where})`,
      fix: `use the VS Code command 'Embedding Lab: Install WebGPU Backend', or run \`npm install ${WEBGPU_PKG}@0.6.2\` in the backend folder (--backend-path / EMBEDLAB_BACKEND_PATHS); or choose backend 'auto' or 'wasm'`,
    });
  }
  if (!packages.tfjs) {
    blocking = true;
    problems.push({
      reason: `${TFJS_WEBGPU_PKG} is not installed (looked in ${where})`,
      fix: `reinstall the extension, or run \`npm install ${TFJS_WEBGPU_PKG}@${bundledTf.version_core}\` beside @tensorflow/tfjs`,
    });
  }
  const glibc = glibcVersion();
  if (process.platform === 'linux' && glibc && !versionAtLeast(glibc, MIN_GLIBC)) {
    blocking = true;
    problems.push({
      reason: `glibc ${glibc} is older than ${MIN_GLIBC}, which Dawn's dawn.node needs (with libstdc++ GLIBCXX_3.4.30)`,
      fix: 'run on Debian 12+, Ubuntu 22.04+ or RHEL 9+; or choose backend \'tensorflow-gpu\' (CUDA) or \'wasm\'',
    });
  }
  const loader = findVulkanLoader(packages.dawn?.dir);
  const icds = findVulkanIcds();
  if (process.platform === 'linux') {
    if (!loader) {
      blocking = true;
      problems.push({
        reason: 'the Vulkan loader libvulkan.so.1 is missing (Dawn reaches the GPU through Vulkan on Linux)',
        fix: `install it (Debian/Ubuntu: \`sudo apt-get install libvulkan1\`; Fedora/RHEL: \`sudo dnf install vulkan-loader\`), or copy libvulkan.so.1 next to dawn.node${packages.dawn ? ` in ${dawnDistDir(packages.dawn.dir)}` : ''}`,
      });
    }
    const nvidia = nvidiaDevicesPresent();
    const caps = process.env.NVIDIA_DRIVER_CAPABILITIES;
    if (nvidia && caps !== undefined && !/\b(graphics|all)\b/.test(caps)) {
      problems.push({
        reason: `this container has NVIDIA devices but NVIDIA_DRIVER_CAPABILITIES=${caps} lacks 'graphics', so the NVIDIA Vulkan driver is not mounted`,
        fix: 'start the container with NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics (or all), e.g. `docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all …`',
      });
    }
    if (icds.length === 0) {
      problems.push({
        reason: `no Vulkan driver (ICD manifest) found${process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES ? ` at ${process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES}` : ' in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d'}`,
        fix: nvidia
          ? 'install the NVIDIA driver\'s Vulkan/GL userspace (e.g. libnvidia-gl-<version>); on a headless server an ICD json pointing at libEGL_nvidia.so.0 may be needed'
          : 'install your GPU\'s Vulkan driver (NVIDIA: the driver\'s libnvidia-gl package; AMD/Intel: mesa-vulkan-drivers); for tests without a GPU see scripts/mesa25.sh',
      });
    } else if (nvidia && !icds.some((i) => /nvidia/i.test(i.library) || /nvidia/i.test(i.file))) {
      problems.push({
        reason: `an NVIDIA GPU is present but no NVIDIA Vulkan driver is registered (ICDs: ${icds.map((i) => path.basename(i.file)).join(', ')})`,
        fix: 'install the NVIDIA driver\'s Vulkan/GL userspace (e.g. libnvidia-gl-<version>), or write an ICD json for libEGL_nvidia.so.0',
      });
    }
  }
  return { packages, glibc, loader, icds, problems, blocking };
}

function why(problems: WebGpuProblem[]): { reason: string; fix: string } {
  return { reason: problems.map((p) => p.reason).join('; '), fix: problems.map((p) => p.fix).join('; ') };
}

// ---------------------------------------------------------------------------------------------------------
// Loading Dawn and starting the backend

let dawnState: { dawn: DawnModule; gpu: GpuLike; file: string } | undefined;

function dawnFlags(): string[] {
  return (process.env.EMBEDLAB_DAWN_FLAGS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

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

interface ActiveState {
  backend: WebGpuBackendLike;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  adapter: WebGpuAdapter;
  fatal?: string;
  disposing: boolean;
}
let active: ActiveState | undefined;

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
  guardBackend(backend!, adapter);
  const l = active!.limits;
  const parts = [
    `WebGPU on ${adapterLabel(adapter)}`,
    `Dawn (${WEBGPU_PKG} ${dawnPkg.version}), ${TFJS_WEBGPU_PKG} ${tfjsPkg.version}`,
    `maxStorageBufferBindingSize ${formatBytes(l.maxStorageBufferBindingSize)}, maxBufferSize ${formatBytes(l.maxBufferSize)}`,
  ];
  if (adapter.software) parts.push('software adapter: slow, for tests');
  if (bundledTf.env().getBool('WEBGPU_CPU_FORWARD') === false) parts.push('CPU forwarding off');
  return { detail: parts.join('; '), adapter };
}

// ---------------------------------------------------------------------------------------------------------
// Limits and device errors

/** Thrown when a device error or loss was reported: the numbers since then cannot be trusted. */
export class WebGpuDeviceError extends LabError {
  constructor(message: string) {
    super('backend', message, { exitCode: 1 });
  }
}

/** Hooks the device's error reporting and every buffer allocation of the active webgpu backend. */
function guardBackend(backend: WebGpuBackendLike, adapter: WebGpuAdapter): void {
  if (active?.backend === backend) return;
  const device = backend.device;
  const state: ActiveState = {
    backend, adapter, disposing: false,
    limits: { maxStorageBufferBindingSize: Number(device.limits.maxStorageBufferBindingSize), maxBufferSize: Number(device.limits.maxBufferSize) },
  };
  active = state;
  device.onuncapturederror = (ev) => {
    const kind = ev.error?.constructor?.name ?? 'GPUError';
    state.fatal ??= `WebGPU device error (${kind}): ${oneLine(ev.error?.message ?? 'unknown')}`;
  };
  void device.lost.then((info) => {
    if (state.disposing || info.reason === 'destroyed') return;
    state.fatal ??= `WebGPU device lost (${info.reason ?? 'unknown'}): ${oneLine(info.message ?? '')}`.trim();
  }, () => undefined);

  const bm = backend.bufferManager;
  const acquire = bm.acquireBuffer.bind(bm);
  bm.acquireBuffer = (size: number, usage: number, ...rest: unknown[]) => {
    throwIfFatal(state);
    checkBytes(state, size, usage, 'a buffer the webgpu backend was about to allocate');
    return acquire(size, usage, ...rest);
  };
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object) => {
    throwIfFatal(state);
    const v = await read(dataId);
    throwIfFatal(state); // errors reported while the work behind this read ran
    return v;
  };
}

function oneLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

function throwIfFatal(state: ActiveState): void {
  if (state.fatal) {
    throw new WebGpuDeviceError(`${state.fatal}; the results of the WebGPU backend cannot be trusted after this, so training stops (the last checkpoint is kept)`);
  }
}

function checkBytes(state: ActiveState, bytes: number, usage: number, what: string): void {
  const { maxStorageBufferBindingSize: binding, maxBufferSize } = state.limits;
  const storage = (usage & STORAGE_USAGE) !== 0;
  const limitName = storage && bytes > binding ? 'maxStorageBufferBindingSize' : bytes > maxBufferSize ? 'maxBufferSize' : undefined;
  if (!limitName) return;
  const limit = limitName === 'maxBufferSize' ? maxBufferSize : binding;
  const reason = `${what} needs ${formatBytes(bytes)} (${bytes} bytes), more than the device's ${limitName} of ${formatBytes(limit)} (${limit} bytes) on ${adapterLabel(state.adapter)}; WebGPU would compute wrong numbers without an error`;
  const fix = "lower training.batchSize or data.imageSize (or the model's width), or choose another backend ('tensorflow-gpu', 'wasm')";
  throw new BackendError(`${reason}. Fix: ${fix}`, 'webgpu', reason, fix);
}

/** The device limits of the active webgpu backend, or undefined when webgpu is not the active backend. */
export function webGpuLimits(): { maxStorageBufferBindingSize: number; maxBufferSize: number } | undefined {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return undefined;
  return { ...active.limits };
}

/** Throws the pending device error (uncaptured error or loss), if any. A no-op when webgpu is not active. */
export function checkWebGpuHealth(): void {
  if (active && bundledTf.engine().backendName === 'webgpu') throwIfFatal(active);
}

/**
 * Refuses a float32 tensor of `shape` (or `bytes`) that the active webgpu device cannot hold in one storage
 * binding: BackendError (exit 2) naming the size and the limit. A no-op on other backends.
 */
export function checkTensorFits(shapeOrBytes: readonly number[] | number, what = 'a tensor', bytesPerElement = 4): void {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return;
  const bytes = typeof shapeOrBytes === 'number' ? shapeOrBytes : shapeOrBytes.reduce((a, b) => a * b, 1) * bytesPerElement;
  const label = typeof shapeOrBytes === 'number' ? what : `${what} [${shapeOrBytes.join(', ')}]`;
  checkBytes(active, bytes, STORAGE_USAGE, label);
}

export interface ActivationEstimate {
  /** Bytes of the largest single activation (float32) of one forward pass over `batch` images. */
  bytes: number;
  layer: string;
  shape: number[];
}

/** The largest activation of a forward pass over `batch` images: each layer's output shape × batch × 4 bytes. */
export function largestActivation(model: LayersModel, batch: number): ActivationEstimate {
  let best: ActivationEstimate = { bytes: 0, layer: '', shape: [] };
  const consider = (layer: string, shape: ReadonlyArray<number | null>) => {
    const full = shape.map((d, i) => (d == null ? (i === 0 ? batch : 1) : d));
    const bytes = full.reduce((a, b) => a * b, 1) * 4;
    if (bytes > best.bytes) best = { bytes, layer, shape: full };
  };
  for (const layer of model.layers) {
    const out = layer.outputShape as unknown;
    const shapes = (Array.isArray(out) && Array.isArray(out[0]) ? out : [out]) as Array<ReadonlyArray<number | null>>;
    for (const s of shapes) if (Array.isArray(s)) consider(layer.name, s);
  }
  return best;
}

/**
 * For the training loop and embed: refuses a batch whose input or largest activation does not fit the active
 * webgpu device (BackendError naming the layer, the size and the limit). A no-op on other backends.
 */
export function checkModelFits(model: LayersModel, batch: number, what = 'a batch'): void {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return;
  const est = largestActivation(model, batch);
  checkTensorFits(est.bytes, `${what} of ${batch} images: the output of layer '${est.layer}' [${est.shape.join(', ')}]`);
}

/** Test hook: the state of the guard (active adapter and pending fatal message). */
export function webGpuGuardState(): { adapter?: WebGpuAdapter; fatal?: string } {
  return { adapter: active?.adapter, fatal: active?.fatal };
}

// ---------------------------------------------------------------------------------------------------------
// Probing for `embedlab env` / Check Environment

export interface WebGpuProbe {
  name: 'webgpu';
  /** An adapter exists (explicit 'webgpu' works). */
  available: boolean;
  /** A hardware adapter exists (`auto` would pick webgpu after tensorflow-gpu). */
  usedByAuto: boolean;
  detail: string;
  reason?: string;
  fix?: string;
  adapters: WebGpuAdapter[];
  problems: WebGpuProblem[];
  packages: { webgpu?: string; tfjsWebgpu?: string };
  glibc?: string;
  vulkanLoader?: string;
  vulkanDrivers: string[];
  /** What Dawn printed while looking for adapters (it prints on stdout; kept off ours here). */
  dawnLog: string[];
}

// Runs in a child node: lists adapters and writes JSON to fd 3. Dawn's own prints go to the child's stdout/stderr.
const PROBE_SOURCE = `
const fs = require('node:fs');
const out = (o) => fs.writeSync(3, JSON.stringify(o));
(async () => {
  const { create } = await import(process.argv[1]);
  const flags = (process.env.EMBEDLAB_DAWN_FLAGS || '').split(',').map((s) => s.trim()).filter(Boolean);
  const gpu = create(flags);
  const list = [];
  for (const o of [{ powerPreference: 'high-performance' }, { powerPreference: 'low-power' }, { forceFallbackAdapter: true }]) {
    const a = await gpu.requestAdapter(o).catch(() => null);
    if (!a) continue;
    const info = a.info || {};
    const limits = {};
    for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension']) limits[k] = Number(a.limits[k]);
    const features = Array.from(a.features);
    list.push({ vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '', description: info.description || '',
      isFallbackAdapter: Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter), limits, features: features.sort() });
  }
  out({ ok: true, adapters: list });
})().catch((e) => out({ ok: false, error: String(e && e.message || e).split('\\n')[0] }));
`;

function runProbeChild(dawnFile: string, timeoutMs: number): Promise<{ ok: boolean; adapters?: Omit<WebGpuAdapter, 'software'>[]; error?: string; log: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', PROBE_SOURCE, pathToFileURL(dawnFile).href], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: process.env,
    });
    let log = '';
    let result = '';
    child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => { result += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = log.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '' && !/^\s+at /.test(l));
      try {
        resolve({ ...(JSON.parse(result) as { ok: boolean; adapters?: WebGpuAdapter[]; error?: string }), log: lines });
      } catch {
        resolve({ ok: false, error: signal ? `the probe was killed (${signal}${signal === 'SIGKILL' ? `: no answer in ${timeoutMs} ms` : ''})` : `the probe exited with code ${code}`, log: lines });
      }
    });
  });
}

/**
 * The WebGPU section of Check Environment: the adapters Dawn sees (in a child process, so Dawn's stdout noise
 * and any crash stay out of this one) and, when none is usable, each reason with its fix.
 */
export async function probeWebGpu(opts: { searchPaths?: string[]; timeoutMs?: number } = {}): Promise<WebGpuProbe> {
  const diag = diagnoseWebGpu(opts.searchPaths);
  const base = {
    name: 'webgpu' as const, packages: { webgpu: diag.packages.dawn && `${diag.packages.dawn.version} at ${diag.packages.dawn.dir}`, tfjsWebgpu: diag.packages.tfjs && `${diag.packages.tfjs.version}` },
    glibc: diag.glibc, vulkanLoader: diag.loader, vulkanDrivers: diag.icds.map((i) => `${i.library} (${i.file})`),
  };
  const problems = [...diag.problems];
  let adapters: WebGpuAdapter[] = [];
  let dawnLog: string[] = [];
  if (!diag.blocking && diag.packages.dawn) {
    const r = await runProbeChild(diag.packages.dawn.file, opts.timeoutMs ?? 20000);
    dawnLog = r.log;
    if (!r.ok) {
      problems.push({ reason: `Dawn failed: ${r.error}`, fix: `reinstall ${WEBGPU_PKG}; run \`vulkaninfo --summary\` to check the Vulkan driver` });
    } else {
      adapters = (r.adapters ?? []).map((a) => ({ ...a, software: isSoftwareAdapter(a) }));
      if (adapters.length === 0 && problems.length === 0) {
        const said = dawnLog.find((l) => /Warning|Error/i.test(l));
        problems.push({
          reason: `Dawn found no usable adapter${diag.icds.length ? ` (Vulkan drivers: ${diag.icds.map((i) => i.library).join(', ')})` : ''}${said ? `: ${said.replace(/^Warning:\s*/, '')}` : ''}`,
          fix: 'install a GPU Vulkan driver (NVIDIA: the driver\'s libnvidia-gl package; Mesa >= 25 for lavapipe, see scripts/mesa25.sh); run `vulkaninfo --summary` to check',
        });
      }
    }
  }
  const hardware = adapters.filter((a) => !a.software);
  const adapterText = adapters.map((a) => `${adapterLabel(a)}, maxStorageBufferBindingSize ${formatBytes(a.limits.maxStorageBufferBindingSize)}, maxBufferSize ${formatBytes(a.limits.maxBufferSize)}`);
  if (adapters.length) {
    const detail = `${adapterText.join('; ')}${hardware.length ? '' : " — software only: used when 'webgpu' is chosen explicitly, not by 'auto'"}`;
    const softOnly = hardware.length === 0
      ? { reason: `only a software adapter (${adapters.map(adapterLabel).join(', ')})`, fix: problems[0]?.fix ?? "install a GPU's Vulkan driver" }
      : {};
    return { ...base, available: true, usedByAuto: hardware.length > 0, detail, ...softOnly, adapters, problems, dawnLog };
  }
  const w = why(problems.length ? problems : [{ reason: 'no adapter', fix: 'install a GPU Vulkan driver' }]);
  return { ...base, available: false, usedByAuto: false, detail: '', reason: w.reason, fix: w.fix, adapters, problems, dawnLog };
}
