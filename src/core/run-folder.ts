// The run folder is the single source of truth for a training run: everything the CLI, the extension and the
// dashboard show can be rebuilt from it after a restart.
//
//   runs/<name>-<timestamp>/
//     config.json          the config snapshot, paths resolved
//     run.json             status, backend, progress, best metric — rewritten atomically
//     events.jsonl         append-only, one event per line
//     checkpoints/last/    model + optimizer + state.json, swapped in atomically
//     checkpoints/best/    the best model by validation MAP@R
//     model/branch/, model/full/   exported models
//     tables/              embedding tables made with this model
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendName, RunStatus, WorkerEvent } from '../protocol/events';
import { writeJsonAtomic } from './atomic';

export interface RunInfo {
  runId: string;
  name: string;
  status: RunStatus;
  backend: BackendName | null;
  lossType: string;
  configFile: string | null;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  epoch: number;
  epochs: number;
  step: number;
  bestMapAtR: number | null;
  lastMapAtR: number | null;
  pid: number | null;
  error: string | null;
}

export const runPaths = (runDir: string) => ({
  config: path.join(runDir, 'config.json'),
  run: path.join(runDir, 'run.json'),
  events: path.join(runDir, 'events.jsonl'),
  checkpoints: path.join(runDir, 'checkpoints'),
  last: path.join(runDir, 'checkpoints', 'last'),
  best: path.join(runDir, 'checkpoints', 'best'),
  branch: path.join(runDir, 'model', 'branch'),
  full: path.join(runDir, 'model', 'full'),
  tables: path.join(runDir, 'tables'),
  eval: path.join(runDir, 'eval.json'),
});

function timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Creates `<outDir>/<name>-<timestamp>[-n]/`; the name is made safe for a folder name. */
export function createRunDir(outDir: string, name: string, now = new Date()): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `${safe}-${timestamp(now)}`);
  for (let i = 0; ; i++) {
    const dir = i === 0 ? base : `${base}-${i + 1}`;
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export function readRunInfo(runDir: string): RunInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(runPaths(runDir).run, 'utf8')) as RunInfo;
  } catch {
    return undefined;
  }
}

export async function writeRunInfo(runDir: string, info: RunInfo): Promise<void> {
  await writeJsonAtomic(runPaths(runDir).run, { ...info, updatedAt: new Date().toISOString() });
}

/** Appends one event as one line. A single write of a short line is not interleaved with other appends. */
export function appendEvent(runDir: string, event: WorkerEvent): void {
  fs.appendFileSync(runPaths(runDir).events, JSON.stringify(event) + '\n');
}

/** Reads events.jsonl, skipping a torn last line (a run killed mid-write). */
export function readEvents(runDir: string): WorkerEvent[] {
  let text: string;
  try {
    text = fs.readFileSync(runPaths(runDir).events, 'utf8');
  } catch {
    return [];
  }
  const out: WorkerEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as WorkerEvent);
    } catch {
      // torn line
    }
  }
  return out;
}

/** A run whose run.json says running but whose process is gone was killed: report it as failed. */
export function effectiveStatus(info: RunInfo): RunStatus {
  if (info.status !== 'running' || info.pid === null) return info.status;
  try {
    process.kill(info.pid, 0);
    return 'running';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'failed';
  }
}

/** Lists run folders (those with a run.json) directly under `runsDir`, newest first. */
export function listRuns(runsDir: string): Array<{ dir: string; info: RunInfo }> {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  const runs: Array<{ dir: string; info: RunInfo }> = [];
  for (const n of names) {
    const dir = path.join(runsDir, n);
    const info = readRunInfo(dir);
    if (info) runs.push({ dir, info });
  }
  return runs.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt));
}
