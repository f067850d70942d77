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
//     run.lock             the one process writing the run (pid, host, start time); see acquireRunLock
//
// Paths inside the folder's files (config.json's data folders, run.json's configFile, the paths in events.jsonl)
// are stored relative to the run folder, so a run folder moved or committed together with its data still points
// at it; they are resolved against the folder when read, and absolute paths (older runs) read as they are.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackendName, RunStatus, WorkerEvent } from '../protocol/events';
import type { ExperimentConfig } from './config-types';
import { writeJsonAtomic } from './atomic';
import { LabError } from './errors';

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
  lock: path.join(runDir, 'run.lock'),
  reserve: path.join(runDir, '.run.reserve'),
});

// ---------------------------------------------------------------------------------------------------------------
// Paths relative to the run folder

/** `p` as stored in the run folder: relative to it, with '/' separators (absolute only across Windows drives). */
export function toRunRelative(runDir: string, p: string): string {
  if (!path.isAbsolute(p)) return p;
  const rel = path.relative(path.resolve(runDir), p);
  if (path.isAbsolute(rel)) return p; // another drive
  return (rel === '' ? '.' : rel).split(path.sep).join('/');
}

/** A path read from the run folder's files: relative ones resolve against the folder, absolute ones are kept. */
export function fromRunRelative(runDir: string, p: string): string {
  return path.resolve(runDir, p);
}

type PathMap = (p: string) => string;

/** The event with its path fields (runDir, dataset roots, checkpoint path, skipped files) mapped by `f`. */
function mapEventPaths(e: WorkerEvent, f: PathMap): WorkerEvent {
  const g = (p: unknown) => (typeof p === 'string' ? f(p) : p) as string;
  switch (e.type) {
    case 'started':
      return {
        ...e, runDir: g(e.runDir), ...(e.train ? { train: { ...e.train, root: g(e.train.root) } } : {}),
        ...(e.validation ? { validation: { ...e.validation, root: g(e.validation.root) } } : {}),
      };
    case 'checkpoint':
      return { ...e, path: g(e.path) };
    case 'warning':
      return Array.isArray(e.paths) ? { ...e, paths: e.paths.map(g) } : e;
    default:
      return e;
  }
}

/** Writes the config snapshot with its data folders relative to the run folder. */
export async function writeConfigSnapshot(runDir: string, config: ExperimentConfig): Promise<void> {
  const rel = (p: string) => toRunRelative(runDir, p);
  const data = { ...config.data, train: rel(config.data.train), ...(config.data.validation ? { validation: rel(config.data.validation) } : {}) };
  await writeJsonAtomic(runPaths(runDir).config, { ...config, data });
}

/** Reads config.json with its data folders resolved (relative ones against the run folder, where they were written). */
export function readConfigSnapshot(runDir: string): ExperimentConfig {
  const config = JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as ExperimentConfig;
  const abs = (p: string) => fromRunRelative(runDir, p);
  return { ...config, data: { ...config.data, train: abs(config.data.train), ...(config.data.validation ? { validation: abs(config.data.validation) } : {}) } };
}

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
    const info = JSON.parse(fs.readFileSync(runPaths(runDir).run, 'utf8')) as RunInfo;
    return typeof info.configFile === 'string' ? { ...info, configFile: fromRunRelative(runDir, info.configFile) } : info;
  } catch {
    return undefined;
  }
}

export async function writeRunInfo(runDir: string, info: RunInfo): Promise<void> {
  const configFile = typeof info.configFile === 'string' ? toRunRelative(runDir, info.configFile) : info.configFile;
  await writeJsonAtomic(runPaths(runDir).run, { ...info, configFile, updatedAt: new Date().toISOString() });
}

/** Appends one event as one line, its paths relative to the run folder. A single short write is not interleaved. */
export function appendEvent(runDir: string, event: WorkerEvent): void {
  fs.appendFileSync(runPaths(runDir).events, JSON.stringify(mapEventPaths(event, (p) => toRunRelative(runDir, p))) + '\n');
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
      out.push(mapEventPaths(JSON.parse(line) as WorkerEvent, (p) => fromRunRelative(runDir, p)));
    } catch {
      // torn line
    }
  }
  return out;
}

/**
 * A run whose run.json says running but whose process is gone was killed (or crashed): report it as failed. With
 * `runDir`, the run's lock tells a reused pid from the writer itself (by the process's start time).
 */
export function effectiveStatus(info: RunInfo, runDir?: string): RunStatus {
  if (info.status !== 'running' || info.pid === null) return info.status;
  const lock = runDir ? readRunLock(runDir) : undefined;
  if (lock && lock.pid === info.pid) return lockHolderAlive(lock) ? 'running' : 'failed';
  return pidAlive(info.pid) ? 'running' : 'failed';
}

/** run.json says running, but no process is writing the run: it was killed or crashed (the Runs view says so). */
export function isCrashed(info: RunInfo, runDir?: string): boolean {
  return info.status === 'running' && effectiveStatus(info, runDir) !== 'running';
}

/** The position of the last checkpoint (checkpoints/last, or last.old after an interrupted swap), if any. */
export function lastCheckpointState(runDir: string): { epoch: number; step: number } | undefined {
  const last = runPaths(runDir).last;
  for (const dir of [last, `${last}.old`]) {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { epoch?: unknown; globalStep?: unknown };
      if (typeof st.epoch === 'number' && typeof st.globalStep === 'number') return { epoch: st.epoch, step: st.globalStep };
    } catch {
      // not there, or torn: try the other
    }
  }
  return undefined;
}

/**
 * Marks a run whose writer died (SIGKILL, the out-of-memory killer, a crash) as failed, with the step of its last
 * checkpoint (what a resume continues from). Does nothing when run.json no longer says running, or when another
 * live process holds the run's lock (a second writer was refused; the run is not ours to mark).
 */
export async function markRunCrashed(runDir: string, message: string, status: RunStatus = 'failed'): Promise<boolean> {
  const info = readRunInfo(runDir);
  if (!info || info.status !== 'running') return false;
  const lock = readRunLock(runDir);
  if (lock && lock.pid !== process.pid && lockHolderAlive(lock)) return false;
  const ckpt = lastCheckpointState(runDir);
  await writeRunInfo(runDir, {
    ...info, status, pid: null, endedAt: new Date().toISOString(),
    error: status === 'failed' ? message : info.error,
    ...(ckpt ? { epoch: ckpt.epoch, step: ckpt.step } : {}),
  });
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// One writer per run folder: run.lock

export interface RunLockInfo {
  pid: number;
  hostname: string;
  /** When the lock was taken (ISO time). */
  startedAt: string;
  /** The holder's start time in clock ticks since boot (Linux /proc/<pid>/stat field 22): tells a reused pid apart. */
  procStart: string | null;
}

/** A second process tried to write a run folder that a live process is writing. Exit code 1, error code `busy`. */
export class RunBusyError extends LabError {
  constructor(readonly runDir: string, readonly holder: RunLockInfo) {
    super('busy', `run folder ${runDir} is busy: process ${holder.pid}${holder.hostname !== os.hostname() ? ` on ${holder.hostname}` : ''} has been training it since ${holder.startedAt}. ` +
      `Stop that run first (Ctrl-C, or SIGTERM to ${holder.pid}); a lock left by a dead process is taken over by itself` +
      (holder.hostname !== os.hostname() ? ` (on another host it cannot be checked: delete ${path.join(runDir, 'run.lock')} if that host is not training it)` : ''));
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = procStat(pid);
  return !(stat && stat.state === 'Z');
}

function procStat(pid: number): { state: string; start: string } | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields 3… (the name may hold spaces)
    return { state: fields[0], start: fields[19] };
  } catch {
    return undefined;
  }
}

/** Reads run.lock; undefined when there is none or it is unreadable. */
export function readRunLock(runDir: string): RunLockInfo | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(runPaths(runDir).lock, 'utf8')) as RunLockInfo;
    return typeof v.pid === 'number' && typeof v.hostname === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's process still runs (a lock of another host counts as live: it cannot be checked). */
export function lockHolderAlive(lock: RunLockInfo): boolean {
  if (lock.hostname !== os.hostname()) return true;
  if (!pidAlive(lock.pid)) return false;
  const now = procStat(lock.pid);
  return !(lock.procStart && now && now.start !== lock.procStart);
}

export interface RunLock {
  readonly info: RunLockInfo;
  /** Removes run.lock if it is still ours. Also done at process exit. */
  release(): void;
}

/** An unparseable lock younger than this may be one being written right now (O_EXCL create, then write). */
const TORN_LOCK_GRACE_MS = 5000;

/**
 * Takes the run folder's lock: run.lock is created with O_EXCL and holds {pid, hostname, startedAt, procStart}. A
 * lock whose process is dead (same host) is taken over; a live one throws RunBusyError. Takeovers are serialised
 * by a second O_EXCL file (run.lock.takeover), so two processes finding the same dead lock cannot both win.
 * Also removes stale temp folders and files a killed writer left (checkpoints/.last.tmp-*, .run.json.*.tmp).
 */
export function acquireRunLock(runDir: string): RunLock {
  const file = runPaths(runDir).lock;
  const info: RunLockInfo = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), procStart: procStat(process.pid)?.start ?? null };
  const text = JSON.stringify(info) + '\n';
  const tryCreate = (): boolean => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  };
  for (let attempt = 0; ; attempt++) {
    if (tryCreate()) break;
    const holder = readRunLock(runDir);
    if (holder) {
      if (holder.pid === process.pid && holder.hostname === info.hostname) break; // ours already (re-entry)
      if (lockHolderAlive(holder)) throw new RunBusyError(runDir, holder);
    } else {
      // Torn or empty: its writer died between create and write, or is writing it right now.
      let age = Infinity;
      try { age = Date.now() - fs.statSync(file).mtimeMs; } catch { /* gone meanwhile */ }
      if (age < TORN_LOCK_GRACE_MS) {
        throw new RunBusyError(runDir, { pid: 0, hostname: info.hostname, startedAt: 'just now (its lock is being written)', procStart: null });
      }
    }
    if (attempt >= 3) throw new RunBusyError(runDir, holder ?? { pid: 0, hostname: info.hostname, startedAt: 'an unknown time', procStart: null });
    takeOver(file, holder);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (attempt + 1)); // let a concurrent taker finish
  }
  cleanStaleTemps(runDir);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const now = readRunLock(runDir);
    if (now && now.pid === info.pid && now.startedAt === info.startedAt) {
      try { fs.unlinkSync(file); } catch { /* already gone */ }
    }
  };
  process.on('exit', release);
  return { info, release };
}

/** Bytes kept free for the run's last words: enough for run.json, its temp file and an error event. */
const RESERVE_BYTES = 64 * 1024;

/**
 * Sets disk space aside for the run folder's last writes (.run.reserve, written by the lock holder). When the disk
 * fills, the writer frees it (releaseReserve) and can still record the failure in run.json and events.jsonl.
 */
export function reserveSpace(runDir: string): void {
  try {
    fs.writeFileSync(runPaths(runDir).reserve, Buffer.alloc(RESERVE_BYTES));
  } catch {
    fs.rmSync(runPaths(runDir).reserve, { force: true }); // the disk is already full: nothing to set aside
  }
}

export function releaseReserve(runDir: string): void {
  try { fs.rmSync(runPaths(runDir).reserve, { force: true }); } catch { /* best effort */ }
}

/** Removes a dead holder's lock, under run.lock.takeover so that only one process does it. */
function takeOver(file: string, dead: RunLockInfo | undefined): void {
  const guard = `${file}.takeover`;
  let fd: number;
  try {
    fd = fs.openSync(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process is taking over now, or one died doing it (the guard is then old): clear an old guard.
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > TORN_LOCK_GRACE_MS) fs.unlinkSync(guard);
    } catch { /* gone meanwhile */ }
    return;
  }
  try {
    // Still the same dead lock? (Another process may have taken over and created its own meanwhile.)
    const now = readRunLockFile(file);
    const same = dead ? now?.pid === dead.pid && now.startedAt === dead.startedAt : now === undefined;
    if (same) fs.rmSync(file, { force: true });
  } finally {
    fs.closeSync(fd);
    fs.rmSync(guard, { force: true });
  }
}

function readRunLockFile(file: string): RunLockInfo | undefined {
  return readRunLock(path.dirname(file));
}

/** Pid of a temp name `.<name>.<pid>.<hex>.tmp` (atomic.ts) or `.<name>.tmp-<pid>-<time>` (checkpoint folders). */
const TEMP_NAME = /^\.(?:.+\.(\d+)\.[0-9a-f]+\.tmp|.+\.tmp-(\d+)-\d+)$/;

/**
 * Removes temp files and folders that a killed writer left in the run folder, its checkpoints/ and model/ folders.
 * Called by the lock holder, so every checkpoint temp is stale; atomic-write temps (which other tools, such as an
 * `embed` into tables/, also make) only when their pid is dead.
 */
function cleanStaleTemps(runDir: string): void {
  const p = runPaths(runDir);
  for (const dir of [runDir, p.checkpoints, path.dirname(p.branch)]) {
    let names: string[];
    try { names = fs.readdirSync(dir); } catch { continue; }
    for (const n of names) {
      const m = TEMP_NAME.exec(n);
      if (!m) continue;
      const pid = Number(m[1] ?? m[2]);
      if (pid === process.pid || (dir !== p.checkpoints && pidAlive(pid))) continue;
      try { fs.rmSync(path.join(dir, n), { recursive: true, force: true }); } catch { /* best effort */ }
    }
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
