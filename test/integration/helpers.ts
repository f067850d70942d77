// Helpers for the CLI integration tests: every step goes through the real `embedlab` CLI (dist/cli.js).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  return spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return collect(startCli(args, opts));
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `embedlab-${prefix}-`));
}

export function jsonLines(text: string): Array<Record<string, unknown> & { type: string }> {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
}

/** A small, fast experiment config for tests (convnet at 32×32). */
export function smallConfig(train: string, validation: string | undefined, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown> | string> = {
    name: 'test-run',
    data: { train, ...(validation ? { validation } : {}), imageSize: [32, 32], channels: 3, samplesPerEpoch: 192, normalize: 'zero-one' },
    model: { backbone: 'convnet', width: 0.5, embeddingDim: 32, normalize: true },
    loss: { type: 'triplet', margin: 0.2, distance: 'euclidean', mining: 'none' },
    training: { epochs: 3, batchSize: 16, optimizer: { type: 'adam', learningRate: 0.003 }, seed: 1234, backend: 'wasm' },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = base[k];
    base[k] = typeof v === 'object' && v !== null && typeof cur === 'object' ? { ...cur, ...(v as object) } : (v as string);
  }
  return base;
}

export function writeConfig(dir: string, cfg: Record<string, unknown>, name = 'exp.embedding.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

export function onlyRunDir(runsDir: string): string {
  const dirs = fs.readdirSync(runsDir).filter((d) => fs.existsSync(path.join(runsDir, d, 'run.json')));
  if (dirs.length !== 1) throw new Error(`expected one run in ${runsDir}, found ${dirs.length}: ${dirs.join(', ')}`);
  return path.join(runsDir, dirs[0]);
}
