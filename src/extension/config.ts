// Typed access to the embeddingLab.* settings (declared in package.json `contributes.configuration`). Every value
// is read through here and sanitised; nothing else calls getConfiguration.
import * as vscode from 'vscode';
import type { BackendSetting } from './logic';

const BACKENDS: readonly BackendSetting[] = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow', 'tensorflow-gpu'];

export interface Settings {
  backend: BackendSetting;
  /** Empty: VS Code's own binary as node (ELECTRON_RUN_AS_NODE=1). Restricted in untrusted workspaces. */
  nodePath: string;
  runsFolder: string;
  maxConcurrentRuns: number;
  stopTimeoutSeconds: number;
}

export function readSettings(scope?: vscode.Uri): Settings {
  const c = vscode.workspace.getConfiguration('embeddingLab', scope);
  const backend = c.get<string>('backend', 'auto');
  const max = c.get<number>('maxConcurrentRuns', 1);
  const stop = c.get<number>('stopTimeoutSeconds', 20);
  return {
    backend: (BACKENDS as readonly string[]).includes(backend) ? (backend as BackendSetting) : 'auto',
    nodePath: (c.get<string>('nodePath', '') ?? '').trim(),
    runsFolder: (c.get<string>('runsFolder', 'runs') ?? '').trim() || 'runs',
    maxConcurrentRuns: Number.isFinite(max) && max >= 1 ? Math.floor(max) : 1,
    stopTimeoutSeconds: Number.isFinite(stop) && stop >= 0 ? stop : 20,
  };
}
