// Installs a native tfjs backend into the extension's global storage with npm, so the worker can load it with
// `--backend-path <dir>` (the engine looks for <dir>/node_modules/@tensorflow/tfjs-node[-gpu]). Never a hard
// dependency: offline, the install fails and the message says so. No vscode import.
import * as fs from 'node:fs';
import { runProcess, type RunProcessResult } from './cli-runner';

export const TFJS_VERSION = '4.22.0';
/** Dawn's Node bindings for the webgpu backend (131 MB for all platforms, no download script): on demand only. */
export const WEBGPU_VERSION = '0.6.2';
export type NativeBackend = 'gpu' | 'cpu' | 'webgpu';

export function backendPackage(kind: NativeBackend): string {
  if (kind === 'webgpu') return `webgpu@${WEBGPU_VERSION}`;
  return `${kind === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'}@${TFJS_VERSION}`;
}

export function npmInstallArgs(prefix: string, kind: NativeBackend): string[] {
  return [
    'install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix,
    // Fail in seconds, not minutes, when offline.
    '--fetch-retries=1', '--fetch-retry-mintimeout=2000', '--fetch-retry-maxtimeout=10000',
    backendPackage(kind),
  ];
}

export interface InstallResult {
  ok: boolean;
  log: string;
  message: string;
}

/** Why an install failed, in one sentence a user can act on. */
export function installFailureMessage(kind: NativeBackend, r: Pick<RunProcessResult, 'code' | 'cancelled' | 'spawnError' | 'stderr' | 'stdout'>): string {
  const pkg = backendPackage(kind);
  if (r.cancelled) return `Installing ${pkg} was cancelled.`;
  if (r.spawnError) return `Could not run npm (${r.spawnError}). Install Node.js with npm and make sure \`npm\` is on the PATH of VS Code, then try again.`;
  const text = `${r.stderr}\n${r.stdout}`;
  if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network/i.test(text)) {
    return `Installing ${pkg} failed: the npm registry${kind === 'webgpu' ? '' : ' (or the libtensorflow download)'} cannot be reached from this machine. Connect to the network (or configure npm's proxy/registry) and try again; training keeps working with the wasm backend.`;
  }
  const last = text.split('\n').map((l) => l.trim()).filter((l) => /^npm (ERR!|error)/.test(l)).slice(-3).join(' ') || `npm exited with code ${r.code}`;
  return `Installing ${pkg} failed: ${last}. See the "Embedding Lab" output for the full log; training keeps working with the wasm backend.`;
}

export async function installBackend(kind: NativeBackend, prefix: string, o: { signal?: AbortSignal; onLog?: (t: string) => void; npm?: string } = {}): Promise<InstallResult> {
  fs.mkdirSync(prefix, { recursive: true });
  const isWin = process.platform === 'win32';
  const args = npmInstallArgs(prefix, kind);
  o.onLog?.(`$ npm ${args.join(' ')}\n`);
  const r = await runProcess({
    command: o.npm ?? (isWin ? 'npm.cmd' : 'npm'), args, cwd: prefix, shell: isWin, signal: o.signal, killAfterMs: 5000,
    onLog: (_s, t) => o.onLog?.(t),
  });
  const log = `${r.stdout}${r.stderr}`;
  if (r.code === 0 && !r.cancelled) return { ok: true, log, message: `Installed ${backendPackage(kind)} into ${prefix}.` };
  return { ok: false, log, message: installFailureMessage(kind, r) };
}
