// Check Environment: what `embedlab env --json` reports about the backends, plus what it cannot see from inside
// node: the NVIDIA driver (nvidia-smi) and the CUDA 11.2 / cuDNN 8.1 libraries that libtensorflow 2.9 (inside
// @tensorflow/tfjs-node-gpu 4.22) loads. The probes take injected runners; `environmentGuidance` and
// `environmentMarkdown` are pure. No vscode import.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BackendProbe {
  name: string;
  available: boolean;
  detail: string;
  reason?: string;
  fix?: string;
  /** webgpu only: the adapters Dawn sees, and what is missing for each path (from `embedlab env --json`). */
  adapters?: Array<{ vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean; software?: boolean }>;
  problems?: Array<{ reason: string; fix?: string }>;
}

export interface CudaLibrary {
  /** The soname libtensorflow asks the loader for. */
  soname: string;
  what: string;
  found: boolean;
  /** Where: "ldconfig" or a folder of LD_LIBRARY_PATH. */
  where?: string;
}

export interface PretrainedCache {
  cacheDir: string;
  models: Array<{ id: string; bytes: number; incompleteBytes: number; revisions: string[] }>;
}

export interface EnvironmentReport {
  backends: BackendProbe[];
  nvidiaSmi: { found: boolean; gpus: string[]; driver?: string; error?: string };
  cuda: { checked: boolean; libraries: CudaLibrary[]; ldLibraryPath: string[] };
  /** Engines other than the training backends (onnxruntime), from `embedlab env --json`. */
  engines?: BackendProbe[];
  /** Pretrained models in the Hugging Face hub cache, from `embedlab env --json`. */
  pretrained?: PretrainedCache;
  node: { version: string; platform: string; worker: string };
  /** The headline ("Ready to train on wasm; GPU: none."). */
  verdict: string;
  guidance: string[];
  /** The CLI's own failure, when `embedlab env --json` could not run. */
  cliError?: string;
}

/** The sonames libtensorflow 2.9 (tfjs-node-gpu 4.22) opens for CUDA 11.2 and cuDNN 8.1. */
export const CUDA_LIBRARIES: ReadonlyArray<{ soname: string; what: string }> = [
  { soname: 'libcudart.so.11.0', what: 'CUDA 11.x runtime (CUDA 11.2)' },
  { soname: 'libcudnn.so.8', what: 'cuDNN 8 (8.1)' },
];

/** Parses `ldconfig -p` output into the set of sonames it lists. */
export function parseLdconfig(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+\(/.exec(line);
    if (m) out.add(m[1]);
  }
  return out;
}

/** Finds each CUDA library through ldconfig's cache, then in the LD_LIBRARY_PATH folders. */
export function findCudaLibraries(ldconfigSonames: ReadonlySet<string>, ldLibraryPath: readonly string[], exists: (p: string) => boolean = fs.existsSync): CudaLibrary[] {
  return CUDA_LIBRARIES.map(({ soname, what }) => {
    if (ldconfigSonames.has(soname)) return { soname, what, found: true, where: 'ldconfig' };
    for (const dir of ldLibraryPath) {
      if (dir && exists(path.join(dir, soname))) return { soname, what, found: true, where: dir };
    }
    return { soname, what, found: false };
  });
}

export interface GuidanceInput {
  platform: string; // process.platform
  arch: string;
  backends: BackendProbe[];
  nvidiaSmi: { found: boolean; error?: string };
  cuda: { checked: boolean; libraries: CudaLibrary[] };
  cliError?: string;
}

/** Fix texts of the engine that point at files of the source checkout (not shipped in the extension) are cut. */
export function shippedFix(fix: string | undefined): string | undefined {
  if (!fix) return undefined;
  const kept = fix.split(/;\s*/).filter((part) => !/\bscripts\/\S+/.test(part)).join('; ').trim();
  return kept || undefined;
}

const CUDART_HOWTO = 'libcudart.so.11.0 (CUDA 11.2 runtime) was not found by `ldconfig -p` nor in LD_LIBRARY_PATH. Install the CUDA 11.2 toolkit or runtime (e.g. `sudo apt install cuda-cudart-11-2`, or the cuda_11.2 runfile from developer.nvidia.com), then add its lib64 folder to the loader: `echo /usr/local/cuda-11.2/lib64 | sudo tee /etc/ld.so.conf.d/cuda-11-2.conf && sudo ldconfig` (or export LD_LIBRARY_PATH=/usr/local/cuda-11.2/lib64:$LD_LIBRARY_PATH before starting VS Code).';
const CUDNN_HOWTO = 'libcudnn.so.8 (cuDNN 8.1) was not found by `ldconfig -p` nor in LD_LIBRARY_PATH. Install cuDNN 8.1 for CUDA 11.2 (e.g. `sudo apt install libcudnn8=8.1.1.*-1+cuda11.2`, or the cuDNN 8.1.1 archive from developer.nvidia.com copied into /usr/local/cuda-11.2/lib64), then run `sudo ldconfig`.';

/** One optional part of the environment (a backend, the embedding engine), listed once: its state and how to get it. */
export interface EnvironmentPart {
  name: string;
  ready: boolean;
  /** What it is for. */
  role: string;
  /** Its state in a few words: the detail when ready, the reason when not. */
  state: string;
  /** What to do to get it; absent when it is ready or cannot be had on this machine. */
  howTo?: string;
}

const hardwareAdapter = (b: BackendProbe | undefined) => (b?.adapters ?? []).find((a) => !a.isFallbackAdapter && !a.software);

/** Each backend and engine once, in the order `auto` prefers them, wasm (the default) first. */
export function environmentParts(i: GuidanceInput & { engines?: BackendProbe[] }): EnvironmentPart[] {
  const by = new Map(i.backends.map((b) => [b.name, b]));
  const linuxX64 = i.platform === 'linux' && i.arch === 'x64';
  const parts: EnvironmentPart[] = [];
  const wasm = by.get('wasm');
  if (wasm) parts.push({ name: 'wasm', ready: wasm.available, role: 'training and embedding on the CPU (WebAssembly SIMD; built in)', state: wasm.available ? wasm.detail : wasm.reason ?? 'does not load', howTo: wasm.available ? undefined : `${shippedFix(wasm.fix) ?? 'reinstall the extension'}` });
  const cpu = by.get('tensorflow');
  if (cpu) parts.push({ name: 'tensorflow', ready: cpu.available, role: 'native libtensorflow on the CPU, usually several times faster than wasm', state: cpu.available ? cpu.detail : 'not installed', howTo: cpu.available ? undefined : 'run "Embedding Lab: Install Native CPU Backend" (installs @tensorflow/tfjs-node@4.22.0 into the extension\'s storage)' });
  const gpu = by.get('tensorflow-gpu');
  if (gpu) {
    let state: string;
    let howTo: string | undefined;
    if (gpu.available) state = gpu.detail;
    else if (!linuxX64) state = `needs Linux x86_64 and an NVIDIA GPU; this is ${i.platform}-${i.arch}`;
    else if (!i.nvidiaSmi.found) state = 'no NVIDIA GPU driver found';
    else {
      const missing = i.cuda.libraries.filter((l) => !l.found);
      state = missing.length ? `missing ${missing.map((l) => l.soname).join(', ')}` : 'not installed';
      const steps = [
        ...missing.map((l) => (l.soname.startsWith('libcudart') ? CUDART_HOWTO : CUDNN_HOWTO)),
        ...(/not installed/i.test(gpu.reason ?? 'not installed') ? ['Then run "Embedding Lab: Install GPU Backend" (installs @tensorflow/tfjs-node-gpu@4.22.0 into the extension\'s storage; it downloads libtensorflow 2.9 with GPU support, about 400 MB).'] : [`${gpu.reason ?? gpu.detail}.`]),
      ];
      howTo = steps.join(' ');
    }
    parts.push({ name: 'tensorflow-gpu', ready: gpu.available, role: 'libtensorflow with CUDA 11.2 / cuDNN 8.1 on an NVIDIA GPU', state, howTo });
  }
  const webgpu = by.get('webgpu');
  if (webgpu) {
    const hw = hardwareAdapter(webgpu);
    const problems = webgpu.problems?.length ? webgpu.problems : webgpu.available ? [] : [{ reason: webgpu.reason ?? webgpu.detail, fix: webgpu.fix }];
    const notInstalled = problems.some((p) => /not installed/i.test(p.reason));
    const fixes = [...new Set(problems.map((p) => shippedFix(p.fix)).filter((f): f is string => Boolean(f)))];
    parts.push({
      name: 'webgpu', ready: Boolean(hw) && webgpu.available, role: 'a GPU through WebGPU (Dawn: Vulkan, Metal, D3D12)',
      state: hw && webgpu.available ? `${hw.description || hw.device}` : problems.map((p) => p.reason).join('; ') || 'only a software adapter',
      howTo: hw && webgpu.available ? undefined : notInstalled ? 'run "Embedding Lab: Install WebGPU Backend" (installs Dawn\'s `webgpu` package into the extension\'s storage)' : fixes.join('; ') || undefined,
    });
  }
  for (const e of i.engines ?? []) {
    if (e.name !== 'onnxruntime') continue;
    parts.push({ name: 'onnxruntime', ready: e.available, role: 'the engine of Embed Folder and Find Similar Images (ONNX Runtime on the CPU); without it they run on TensorFlow.js', state: e.available ? e.detail.replace(/ at \/.*$/, '') : e.reason ?? 'not available', howTo: e.available ? undefined : shippedFix(e.fix) ?? 'reinstall the extension (it ships onnxruntime-node)' });
  }
  return parts;
}

/** The backend `auto` trains on (tensorflow-gpu, webgpu on a hardware adapter, tensorflow, wasm), if any loads. */
export function autoBackend(backends: readonly BackendProbe[]): string | undefined {
  const by = new Map(backends.map((b) => [b.name, b]));
  for (const name of ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm']) {
    const b = by.get(name);
    if (!b?.available) continue;
    if (name === 'webgpu' && !hardwareAdapter(b)) continue;
    return name;
  }
  return undefined;
}

/** The headline: "Ready to train on wasm; GPU: none." */
export function environmentVerdict(r: Pick<EnvironmentReport, 'backends' | 'nvidiaSmi' | 'cliError'>): string {
  if (r.cliError) return `Not checked: the engine could not report its backends (${r.cliError}).`;
  const train = autoBackend(r.backends);
  const by = new Map(r.backends.map((b) => [b.name, b]));
  const hw = hardwareAdapter(by.get('webgpu'));
  let gpu: string;
  if (train === 'tensorflow-gpu') gpu = `${r.nvidiaSmi.gpus[0] ?? 'NVIDIA'} (tensorflow-gpu)`;
  else if (train === 'webgpu' && hw) gpu = `${hw.description || hw.device} (WebGPU)`;
  else if (r.nvidiaSmi.found && r.nvidiaSmi.gpus.length) gpu = `${r.nvidiaSmi.gpus.join('; ')}, not used yet (see tensorflow-gpu below)`;
  else gpu = 'none';
  if (!train) return `Not ready: no training backend loads; GPU: ${gpu}.`;
  return `Ready to train on ${train}; GPU: ${gpu}.`;
}

/** One instruction per part that is missing and can be had, plus a CLI failure first. Empty when nothing is to do. */
export function environmentGuidance(i: GuidanceInput & { engines?: BackendProbe[] }): string[] {
  const g: string[] = [];
  if (i.cliError) g.push(`The engine could not report its backends (${i.cliError}). Check the "Embedding Lab" output channel; if the worker cannot start, set embeddingLab.nodePath to a Node.js 20+ executable.`);
  for (const p of environmentParts(i)) if (!p.ready && p.howTo) g.push(`${p.name}: ${p.howTo}`);
  return g;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The report shown by Check Environment: the verdict, each part once, the GPU details only where there is one. */
export function environmentMarkdown(r: EnvironmentReport): string {
  const ok = (b: boolean) => (b ? '✓' : '✗');
  const parts = environmentParts({ platform: r.node.platform.split('-')[0], arch: r.node.platform.split('-').slice(1).join('-'), backends: r.backends, nvidiaSmi: r.nvidiaSmi, cuda: r.cuda, engines: r.engines });
  const lines = ['# Embedding Lab environment', '', `**${environmentVerdict(r)}**`, ''];
  if (r.cliError) lines.push(`Could not run \`embedlab env --json\`: ${r.cliError}`, '');
  if (parts.length) {
    lines.push('| | part | for | state | how to get it |', '|---|---|---|---|---|');
    for (const p of parts) lines.push(`| ${ok(p.ready)} | ${p.name} | ${cell(p.role)} | ${cell(p.state)} | ${p.ready ? '' : cell(p.howTo ?? '–')} |`);
    lines.push('');
  }
  const adapters = r.backends.find((b) => b.name === 'webgpu')?.adapters ?? [];
  if (adapters.length) {
    lines.push('### WebGPU adapters (Dawn)', '', '| adapter | vendor / architecture | fallback |', '|---|---|---|');
    for (const a of adapters) lines.push(`| ${cell(a.description || a.device)} | ${a.vendor} / ${a.architecture} | ${a.isFallbackAdapter || a.software ? 'yes (software; not used by auto)' : 'no'} |`);
    lines.push('');
  }
  // The NVIDIA details only where there is an NVIDIA driver: on a CPU-only machine they are noise.
  if (r.nvidiaSmi.found) {
    lines.push('### NVIDIA GPU', '', `${ok(r.nvidiaSmi.gpus.length > 0)} nvidia-smi: ${r.nvidiaSmi.gpus.join('; ') || r.nvidiaSmi.error || 'no GPU listed'}${r.nvidiaSmi.driver ? ` (driver ${r.nvidiaSmi.driver})` : ''}`, '');
    if (r.cuda.checked) {
      for (const l of r.cuda.libraries) lines.push(`- ${ok(l.found)} ${l.soname} — ${l.what}${l.found ? ` (${l.where})` : ''}`);
      lines.push('', `LD_LIBRARY_PATH: ${r.cuda.ldLibraryPath.length ? r.cuda.ldLibraryPath.join(':') : '(empty)'}`, '');
    }
  }
  if (r.pretrained) lines.push(...pretrainedMarkdown(r.pretrained));
  lines.push(`Worker: ${r.node.worker} (node ${r.node.version}, ${r.node.platform}).`, '');
  return lines.join('\n');
}

/** The hub cache's models and sizes (a section of the report). */
export function pretrainedMarkdown(c: PretrainedCache): string[] {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const lines = ['### Pretrained models', '', `Hugging Face hub cache: \`${c.cacheDir}\` (shared with Python's huggingface_hub; \`HF_HUB_CACHE\` or \`HF_HOME\` move it).`, ''];
  if (!c.models.length) return [...lines, 'None yet: `model.pretrained: "hf:timm/resnet18.a1_in1k"` downloads one on the first run.', ''];
  lines.push('| model | size | revisions |', '|---|---|---|');
  for (const m of c.models) lines.push(`| ${cell(m.id)} | ${mb(m.bytes)}${m.incompleteBytes ? ` (+${mb(m.incompleteBytes)} unfinished, resumable)` : ''} | ${cell(m.revisions.join(', ') || '–')} |`);
  return [...lines, ''];
}

// ---------------------------------------------------------------------------------------------------------------
// Probes (real processes)

export interface ExecResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  error?: string;
}

export type ExecRunner = (file: string, args: string[], timeoutMs: number) => Promise<ExecResult>;

export const execRunner: ExecRunner = (file, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
      resolve({
        ok: !e, stdout: String(stdout), stderr: String(stderr),
        error: e ? (e.code === 'ENOENT' ? 'not found' : e.killed ? `timed out after ${timeoutMs} ms` : e.message.split('\n')[0]) : undefined,
      });
    });
  });

export async function probeNvidiaSmi(run: ExecRunner = execRunner, timeoutMs = 3000): Promise<EnvironmentReport['nvidiaSmi']> {
  const r = await run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], timeoutMs);
  if (!r.ok) return { found: r.error !== 'not found', gpus: [], error: r.error }; // present but failing: driver trouble
  const rows = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const gpus = rows.map((l) => l.split(',').map((s) => s.trim())).map(([name, , mem]) => `${name}${mem ? ` (${mem})` : ''}`);
  const driver = rows[0]?.split(',')[1]?.trim();
  return { found: true, gpus, driver };
}

export async function probeCuda(run: ExecRunner = execRunner, env: NodeJS.ProcessEnv = process.env, timeoutMs = 3000): Promise<EnvironmentReport['cuda']> {
  const ldLibraryPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  let sonames = new Set<string>();
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const r = await run(ldconfig, ['-p'], timeoutMs);
    if (r.ok) {
      sonames = parseLdconfig(r.stdout);
      break;
    }
  }
  return { checked: true, libraries: findCudaLibraries(sonames, ldLibraryPath), ldLibraryPath };
}
