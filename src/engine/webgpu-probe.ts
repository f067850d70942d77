// Probing WebGPU for `embedlab env` / Check Environment: the static diagnosis, then the adapters Dawn sees, listed
// by a child process (src/engine/webgpu-probe-child.ts, built to dist/webgpu-probe.js) so that Dawn's stdout noise
// and any crash stay out of this process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { adapterLabel, formatBytes, isSoftwareAdapter, type WebGpuAdapter } from './webgpu-adapters';
import { diagnoseWebGpu, why, type WebGpuProblem } from './webgpu-diagnose';
import { WEBGPU_PKG } from './webgpu-resolve';


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

/** The probe child: dist/webgpu-probe.js beside the bundles, src/engine/webgpu-probe-child.ts from source (run through tsx). */
export function probeChildCommand(): string[] {
  const bundled = path.join(__dirname, 'webgpu-probe.js');
  if (existsSync(bundled)) return [bundled];
  const source = path.join(__dirname, 'webgpu-probe-child.ts');
  // From source only (tests under tsx); a computed name, so that the bundler leaves tsx out of dist/.
  const tsx = ['tsx'][0];
  if (existsSync(source)) return ['--import', pathToFileURL(require.resolve(tsx)).href, source];
  throw new Error(`the WebGPU probe is missing: neither ${bundled} nor ${source} exists (run \`npm run build\`)`);
}

function runProbeChild(dawnFile: string, timeoutMs: number): Promise<{ ok: boolean; adapters?: Omit<WebGpuAdapter, 'software'>[]; error?: string; log: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...probeChildCommand(), pathToFileURL(dawnFile).href], {
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
