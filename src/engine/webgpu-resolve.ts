// Finding the WebGPU packages: Dawn (`webgpu`, ESM only) and @tensorflow/tfjs-backend-webgpu, by node's own
// resolution, then opts.searchPaths / EMBEDLAB_BACKEND_PATHS (the extension's on-demand install folder).
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const WEBGPU_PKG = 'webgpu';
export const TFJS_WEBGPU_PKG = '@tensorflow/tfjs-backend-webgpu';


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
