// Check Environment and the backend installers.
import * as vscode from 'vscode';
import { cliErrorMessage } from '../cli-runner';
import type { CommandFn } from '../ctx';
import { environmentGuidance, environmentMarkdown, environmentVerdict, probeCuda, probeNvidiaSmi, type BackendProbe, type EnvironmentReport, type PretrainedCache } from '../environment';
import { installBackend, type NativeBackend, backendPackage } from '../install';
import { isObj, opts, withCancellableProgress } from './args';

export const checkEnvironment: CommandFn = async (ctx, a0) => {
  const reveal = opts<{ show: boolean }>(a0).show !== false;
  const node = ctx.node();
  const [cli, nvidiaSmi] = await Promise.all([
    ctx.runCli(['env', '--json', '--backend-path', ctx.backendsDir], { timeoutMs: 60_000 }),
    probeNvidiaSmi(),
  ]);
  // `env --json` prints one indented JSON document (not JSON lines).
  let env: { node?: string; platform?: string; backends?: BackendProbe[]; engines?: BackendProbe[]; pretrained?: PretrainedCache } | undefined = cli.json[0];
  if (!env) {
    try {
      env = JSON.parse(cli.stdout) as typeof env;
    } catch {
      env = undefined;
    }
  }
  const cliError = cli.code === 0 && env ? undefined : cliErrorMessage(cli, 'embedlab env');
  const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
  // The CUDA libraries matter only where there is an NVIDIA driver: no probing (and no noise) on a CPU-only machine.
  const cuda = linuxX64 && nvidiaSmi.found ? await probeCuda() : { checked: false, libraries: [], ldLibraryPath: [] };
  const backends = env?.backends ?? [];
  const engines = env?.engines ?? [];
  const report: EnvironmentReport = {
    backends, engines, nvidiaSmi, cuda, ...(env?.pretrained ? { pretrained: env.pretrained } : {}),
    node: { version: env?.node ?? '?', platform: env?.platform ?? `${process.platform}-${process.arch}`, worker: node.command },
    verdict: environmentVerdict({ backends, nvidiaSmi, cliError }),
    guidance: environmentGuidance({ platform: process.platform, arch: process.arch, backends, engines, nvidiaSmi, cuda, cliError }),
    ...(cliError ? { cliError } : {}),
  };
  await ctx.showReport('environment', environmentMarkdown(report), reveal);
  return report;
};

export function installer(kind: NativeBackend): CommandFn {
  return async (ctx, a0) => {
    const programmatic = isObj(a0);
    const pkg = backendPackage(kind);
    ctx.requireTrust(`Installing ${pkg}`);
  const res = await withCancellableProgress(kind === 'webgpu' ? `Installing ${pkg} (Dawn's WebGPU bindings, about 50 MB to download)` : `Installing ${pkg} (libtensorflow download included; this can take minutes)`, (report, signal) =>
      installBackend(kind, ctx.backendsDir, {
        signal,
        onLog: (t) => {
          ctx.logLines('npm', t);
          const last = t.split('\n').map((l) => l.trim()).filter(Boolean).pop();
          if (last) report(last.slice(0, 120));
        },
      }));
    if (res.ok) {
      ctx.log.info(res.message);
      if (!programmatic) {
        void ctx.notify(`${res.message} Backend "auto" now prefers it; new runs use it.`, 'Check Environment').then((c) => {
          if (c) void vscode.commands.executeCommand('embeddingLab.checkEnvironment');
        });
      }
    } else {
      ctx.log.error(res.message);
      if (!programmatic) ctx.showError(res.message);
    }
    return { ok: res.ok, log: res.log, message: res.message };
  };
}
