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

export interface EnvironmentReport {
  backends: BackendProbe[];
  nvidiaSmi: { found: boolean; gpus: string[]; driver?: string; error?: string };
  cuda: { checked: boolean; libraries: CudaLibrary[]; ldLibraryPath: string[] };
  node: { version: string; platform: string; worker: string };
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

/** One exact instruction per thing that is missing. Empty when everything a GPU run needs is present. */
export function environmentGuidance(i: GuidanceInput): string[] {
  const g: string[] = [];
  if (i.cliError) g.push(`The engine could not report its backends (${i.cliError}). Check the "Embedding Lab" output channel; if the worker cannot start, set embeddingLab.nodePath to a Node.js 20+ executable.`);
  const by = new Map(i.backends.map((b) => [b.name, b]));
  const wasm = by.get('wasm');
  if (wasm && !wasm.available) g.push(`The wasm backend is not available (${wasm.reason ?? 'unknown reason'}): ${wasm.fix ?? 'reinstall the extension'}.`);
  const linuxX64 = i.platform === 'linux' && i.arch === 'x64';
  if (!linuxX64) {
    g.push(`GPU training (tensorflow-gpu) needs Linux x86_64; this is ${i.platform}-${i.arch}. Use backend "auto" (wasm), or "tensorflow" after running "Embedding Lab: Install Native CPU Backend".`);
    const cpu = by.get('tensorflow');
    if (cpu && !cpu.available) g.push('For faster CPU training run "Embedding Lab: Install Native CPU Backend" (installs @tensorflow/tfjs-node@4.22.0 into the extension\'s storage).');
    return g;
  }
  if (!i.nvidiaSmi.found) {
    g.push('nvidia-smi was not found: no NVIDIA driver is installed (or it is not on PATH). Install the NVIDIA driver for your GPU (version 460.27 or newer for CUDA 11.2), then run Check Environment again. Without a GPU, use backend "auto" (wasm) or "tensorflow".');
  }
  for (const lib of i.cuda.libraries) {
    if (lib.found) continue;
    if (lib.soname.startsWith('libcudart')) {
      g.push('libcudart.so.11.0 (CUDA 11.2 runtime) was not found by `ldconfig -p` nor in LD_LIBRARY_PATH. Install the CUDA 11.2 toolkit or runtime (e.g. `sudo apt install cuda-cudart-11-2`, or the cuda_11.2 runfile from developer.nvidia.com), then add its lib64 folder to the loader: `echo /usr/local/cuda-11.2/lib64 | sudo tee /etc/ld.so.conf.d/cuda-11-2.conf && sudo ldconfig` (or export LD_LIBRARY_PATH=/usr/local/cuda-11.2/lib64:$LD_LIBRARY_PATH before starting VS Code).');
    } else if (lib.soname.startsWith('libcudnn')) {
      g.push('libcudnn.so.8 (cuDNN 8.1) was not found by `ldconfig -p` nor in LD_LIBRARY_PATH. Install cuDNN 8.1 for CUDA 11.2 (e.g. `sudo apt install libcudnn8=8.1.1.*-1+cuda11.2`, or the cuDNN 8.1.1 archive from developer.nvidia.com copied into /usr/local/cuda-11.2/lib64), then run `sudo ldconfig`.');
    }
  }
  const gpu = by.get('tensorflow-gpu');
  if (gpu && !gpu.available) {
    g.push(`The tensorflow-gpu backend is not available: ${gpu.reason ?? gpu.detail}. Run "Embedding Lab: Install GPU Backend" (installs @tensorflow/tfjs-node-gpu@4.22.0 into the extension's storage; it downloads libtensorflow 2.9 with GPU support, about 400 MB).`);
  }
  const webgpu = by.get('webgpu');
  if (webgpu) {
    const hardware = (webgpu.adapters ?? []).some((a) => !a.isFallbackAdapter && !a.software);
    if (!hardware) {
      for (const p of webgpu.problems ?? []) {
        const fix = /not installed/i.test(p.reason) ? 'Run "Embedding Lab: Install WebGPU Backend" (installs Dawn\'s `webgpu` package into the extension\'s storage).' : p.fix ?? '';
        g.push(`WebGPU: ${p.reason}. ${fix}`.trim());
      }
      if ((webgpu.problems ?? []).length === 0 && !webgpu.available) g.push(`WebGPU: ${webgpu.reason ?? webgpu.detail}${webgpu.fix ? `. ${webgpu.fix}` : ''}`);
    }
  }
  const cpu = by.get('tensorflow');
  if (cpu && !cpu.available && (!gpu || !gpu.available)) {
    g.push('Optional: "Embedding Lab: Install Native CPU Backend" installs @tensorflow/tfjs-node@4.22.0 (libtensorflow on the CPU), usually several times faster than wasm.');
  }
  return g;
}

/** The report shown by Check Environment. */
export function environmentMarkdown(r: EnvironmentReport): string {
  const ok = (b: boolean) => (b ? '✓' : '✗');
  const lines = ['# Embedding Lab environment', '', `Worker node: ${r.node.worker} (${r.node.version}, ${r.node.platform})`, '', '## Backends', '', '| | backend | detail |', '|---|---|---|'];
  for (const b of r.backends) lines.push(`| ${ok(b.available)} | ${b.name} | ${(b.available ? b.detail : b.reason ?? b.detail).replace(/\|/g, '\\|')} |`);
  const adapters = r.backends.find((b) => b.name === 'webgpu')?.adapters ?? [];
  if (adapters.length) {
    lines.push('', '### WebGPU adapters (Dawn)', '', '| adapter | vendor / architecture | fallback |', '|---|---|---|');
    for (const a of adapters) lines.push(`| ${(a.description || a.device).replace(/\|/g, '\\|')} | ${a.vendor} / ${a.architecture} | ${a.isFallbackAdapter || a.software ? 'yes (software; not used by auto)' : 'no'} |`);
  }
  if (r.cliError) lines.push('', `Could not run \`embedlab env --json\`: ${r.cliError}`);
  lines.push('', '## GPU', '', `${ok(r.nvidiaSmi.found)} nvidia-smi${r.nvidiaSmi.found ? `: ${r.nvidiaSmi.gpus.join('; ') || 'no GPU listed'}${r.nvidiaSmi.driver ? ` (driver ${r.nvidiaSmi.driver})` : ''}` : r.nvidiaSmi.error ? ` (${r.nvidiaSmi.error})` : ''}`);
  if (r.cuda.checked) {
    for (const l of r.cuda.libraries) lines.push(`${ok(l.found)} ${l.soname} — ${l.what}${l.found ? ` (${l.where})` : ''}`);
    lines.push('', `LD_LIBRARY_PATH: ${r.cuda.ldLibraryPath.length ? r.cuda.ldLibraryPath.join(':') : '(empty)'}`);
  } else {
    lines.push('', 'CUDA libraries: not checked (only Linux x86_64 has a GPU build of libtensorflow).');
  }
  lines.push('', '## What to do', '');
  if (r.guidance.length === 0) lines.push('Nothing: every backend this machine can use is ready.');
  else for (const g of r.guidance) lines.push(`- ${g}`);
  lines.push('');
  return lines.join('\n');
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
