// What can be checked without loading Dawn: the packages, glibc, the Vulkan loader, the Vulkan drivers (ICDs) and
// the container's NVIDIA capabilities. Each problem comes with its fix. docs/webgpu.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundledTf } from './tf';
import { dawnDistDir, resolveWebGpuPackages, TFJS_WEBGPU_PKG, WEBGPU_PKG, type WebGpuPackages } from './webgpu-resolve';

export const MIN_GLIBC = '2.34';

export interface WebGpuProblem { reason: string; fix: string }

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

/** The problems as one reason and one fix. */
export function why(problems: WebGpuProblem[]): { reason: string; fix: string } {
  return { reason: problems.map((p) => p.reason).join('; '), fix: problems.map((p) => p.fix).join('; ') };
}
