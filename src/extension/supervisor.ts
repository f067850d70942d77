// Supervises training workers (`node dist/worker.js …`): spawns them with the event pipe on fd 3, parses their
// JSON-lines events, forwards stdout/stderr as logs, stops them (SIGTERM, then a process-tree kill after a
// timeout) and classifies how they ended. No `vscode` import: the process API and the timers are injected, so the
// unit tests drive it with real child processes and fake clocks alike. The VS Code side (notifications, status
// bar, Runs view) subscribes through WorkerHandlers.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn as nodeSpawn } from 'node:child_process';
import * as fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import * as path from 'node:path';
import { markRunCrashed } from '../core/run-folder';
import {
  parseEventLine,
  type DoneEvent,
  type EpochEvent,
  type ErrorEvent,
  type RunStatus,
  type StartedEvent,
  type StepEvent,
  type WorkerEvent,
} from '../protocol/events';

// ---------------------------------------------------------------------------------------------------------------
// JSON lines across chunk boundaries

/**
 * Splits a byte stream into lines and parses each as a worker event. Partial lines wait for the next chunk, and a
 * multi-byte UTF-8 character split across chunks is reassembled. A line that is not an event is counted as
 * garbage and skipped; an overlong unterminated line is dropped rather than buffered without bound.
 */
export class EventLineReader {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private discarding = false;
  garbage = 0;
  events = 0;

  constructor(
    private readonly onEvent: (e: WorkerEvent) => void,
    private readonly maxLineChars = 4 * 1024 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (this.discarding) {
        this.discarding = false; // the tail of an overlong line
        continue;
      }
      this.line(line);
    }
    if (this.buf.length > this.maxLineChars) {
      this.garbage++;
      this.buf = '';
      this.discarding = true;
    }
  }

  /** The stream ended: parse what is left (a last line without a newline). */
  end(): void {
    this.buf += this.decoder.end();
    if (!this.discarding && this.buf.trim() !== '') this.line(this.buf);
    this.buf = '';
    this.discarding = false;
  }

  private line(text: string): void {
    if (text.trim() === '') return;
    const ev = parseEventLine(text);
    if (!ev) {
      this.garbage++;
      return;
    }
    this.events++;
    this.onEvent(ev);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// How a worker ended

export interface ExitClassification {
  status: RunStatus;
  /** True when the user should be told that something went wrong (error message with "Show Logs"). */
  crashed: boolean;
  message?: string;
}

export interface ExitFacts {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stopRequested: boolean;
  /** The process (tree) was killed after the stop timeout. */
  forced?: boolean;
  done?: Pick<DoneEvent, 'status'>;
  error?: Pick<ErrorEvent, 'code' | 'message'>;
  spawnError?: string;
}

const EXIT_MEANING: Record<number, string> = {
  1: 'training failed',
  2: 'bad usage, config or data',
};

/** Maps an exit to a run status. The worker exits 0 when done or stopped, 1 on failure, 2 on bad input. */
export function classifyExit(f: ExitFacts): ExitClassification {
  if (f.spawnError !== undefined) return { status: 'failed', crashed: true, message: `cannot start the worker: ${f.spawnError}` };
  if (f.error) return { status: 'failed', crashed: true, message: `${f.error.code}: ${firstLine(f.error.message)}` };
  if (f.exitCode === 0) {
    const status = f.done?.status ?? (f.stopRequested ? 'stopped' : 'done');
    return { status, crashed: false };
  }
  if (f.exitCode === null) {
    if (f.stopRequested) {
      return { status: 'stopped', crashed: false, message: f.forced ? `killed (${f.signal ?? 'signal'}) after the stop timeout; the last checkpoint is kept` : undefined };
    }
    // SIGKILL that we did not send is, most often, the out-of-memory killer.
    return { status: 'failed', crashed: true, message: `the training worker was killed by ${f.signal ?? 'a signal'}${f.signal === 'SIGKILL' ? '; out of memory?' : ''}` };
  }
  const meaning = EXIT_MEANING[f.exitCode];
  return { status: 'failed', crashed: true, message: `the worker exited with code ${f.exitCode}${meaning ? ` (${meaning})` : ''}` };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Process API (injected)

export interface ProcessApi {
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
  /** process.kill: a negative pid names a process group; signal 0 probes. */
  kill(pid: number, signal: NodeJS.Signals | 0): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  platform: NodeJS.Platform;
}

export const nodeProcessApi: ProcessApi = {
  spawn: (c, a, o) => nodeSpawn(c, a, o),
  kill: (pid, sig) => { process.kill(pid, sig); },
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  platform: process.platform,
};

/**
 * Kills a process and everything it started. On POSIX the worker leads its own process group (spawned detached),
 * so one SIGKILL to -pid takes the tree; on Windows `taskkill /T /F`.
 */
export function killTree(pid: number, api: ProcessApi = nodeProcessApi): void {
  if (api.platform === 'win32') {
    try {
      api.spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true });
    } catch {
      // fall through to a plain kill
    }
    try { api.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    return;
  }
  try {
    api.kill(-pid, 'SIGKILL');
  } catch {
    try { api.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export function isAlive(pid: number, api: ProcessApi = nodeProcessApi): boolean {
  try {
    api.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !(api.platform === 'linux' && isZombie(pid));
}

/** A killed process whose parent has not reaped it yet (containers without an init often leave these). */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One worker

export interface ExitInfo extends ExitClassification {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  forced: boolean;
  runDir?: string;
}

export interface WorkerHandlers {
  onEvent?(ev: WorkerEvent, w: WorkerProcess): void;
  onLog?(stream: 'stdout' | 'stderr', text: string, w: WorkerProcess): void;
  onExit?(info: ExitInfo, w: WorkerProcess): void;
}

export interface WorkerSpawnOptions {
  /** The node executable (or VS Code's own, with ELECTRON_RUN_AS_NODE=1 in env). */
  node: string;
  /** dist/worker.js */
  workerJs: string;
  args: string[];
  cwd?: string;
  /** Extra environment, merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Who this run is for (the config file), to notice a second Train of the same config. */
  key?: string;
  /** Rewrite run.json when the worker left it saying "running" (killed, or crashed before it could). Default true. */
  fixRunJson?: boolean;
}

/** Milliseconds to wait for 'close' (all pipes drained) after 'exit' before finishing anyway. */
const CLOSE_GRACE_MS = 2000;

export class WorkerProcess {
  readonly child: ChildProcess;
  readonly key?: string;
  readonly exited: Promise<ExitInfo>;
  /** Resolves with the `started` event; rejects when the worker ends before starting. */
  readonly started: Promise<StartedEvent>;
  runDir?: string;
  startedEvent?: StartedEvent;
  lastStep?: StepEvent;
  lastEpoch?: EpochEvent;
  done?: DoneEvent;
  error?: ErrorEvent;
  stopRequested = false;
  forced = false;
  exitInfo?: ExitInfo;
  private stderrTail = '';
  private spawnError?: string;
  private finished = false;
  private exitCode: number | null = null;
  private signal: NodeJS.Signals | null = null;
  private resolveExit!: (i: ExitInfo) => void;
  private resolveStarted!: (e: StartedEvent) => void;
  private rejectStarted!: (e: Error) => void;
  private killTimer: unknown;
  private closeTimer: unknown;
  private readonly reader: EventLineReader;

  constructor(
    private readonly opts: WorkerSpawnOptions,
    private readonly handlers: WorkerHandlers = {},
    private readonly api: ProcessApi = nodeProcessApi,
  ) {
    this.key = opts.key;
    this.exited = new Promise((r) => { this.resolveExit = r; });
    this.started = new Promise((res, rej) => { this.resolveStarted = res; this.rejectStarted = rej; });
    this.started.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    this.reader = new EventLineReader((ev) => this.onEvent(ev));
    const detached = api.platform !== 'win32'; // own process group, so the tree can be killed as one
    this.child = api.spawn(opts.node, [opts.workerJs, ...opts.args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, EMBEDLAB_EVENT_FD: '3' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached,
      windowsHide: true,
    });
    const fd3 = this.child.stdio[3] as NodeJS.ReadableStream | null | undefined;
    fd3?.on('data', (d: Buffer) => this.reader.push(d));
    fd3?.on('error', () => undefined);
    this.child.stdout?.on('data', (d: Buffer) => this.handlers.onLog?.('stdout', d.toString(), this));
    this.child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      this.stderrTail = (this.stderrTail + text).slice(-4000);
      this.handlers.onLog?.('stderr', text, this);
    });
    this.child.on('error', (err) => {
      // Spawning failed (ENOENT for a wrong nodePath), or a kill failed; only the former ends the run.
      if (this.child.pid === undefined) {
        this.spawnError = err.message;
        void this.finish();
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exitCode = code;
      this.signal = signal;
      this.api.clearTimeout(this.killTimer);
      this.closeTimer = this.api.setTimeout(() => void this.finish(), CLOSE_GRACE_MS);
    });
    this.child.on('close', (code, signal) => {
      if (this.exitCode === null && this.signal === null) {
        this.exitCode = code;
        this.signal = signal;
      }
      void this.finish();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.finished;
  }

  /** The last lines the worker wrote to stderr (for error messages). */
  get stderr(): string {
    return this.stderrTail;
  }

  /**
   * Asks the worker to stop (SIGTERM: it finishes the step, writes a checkpoint and exits 0); after `timeoutMs`
   * kills its process tree. Resolves when it has exited.
   */
  stop(timeoutMs: number): Promise<ExitInfo> {
    if (this.finished || this.child.pid === undefined) return this.exited;
    if (!this.stopRequested) {
      this.stopRequested = true;
      try {
        this.child.kill('SIGTERM');
      } catch {
        // already gone
      }
      this.killTimer = this.api.setTimeout(() => {
        if (this.finished || this.child.pid === undefined) return;
        this.forced = true;
        killTree(this.child.pid, this.api);
      }, Math.max(0, timeoutMs));
    }
    return this.exited;
  }

  /** Kills the tree now (used after a stop that did not end in time, or on dispose). */
  kill(): void {
    if (this.finished || this.child.pid === undefined) return;
    this.stopRequested = true;
    this.forced = true;
    killTree(this.child.pid, this.api);
  }

  private onEvent(ev: WorkerEvent): void {
    switch (ev.type) {
      case 'started':
        this.startedEvent = ev;
        this.runDir = ev.runDir;
        this.resolveStarted(ev);
        break;
      case 'step':
        this.lastStep = ev;
        break;
      case 'epoch':
        this.lastEpoch = ev;
        break;
      case 'done':
        this.done = ev;
        break;
      case 'error':
        this.error = ev;
        break;
    }
    this.handlers.onEvent?.(ev, this);
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.api.clearTimeout(this.killTimer);
    this.api.clearTimeout(this.closeTimer);
    this.reader.end();
    const c = classifyExit({
      exitCode: this.exitCode, signal: this.signal, stopRequested: this.stopRequested, forced: this.forced,
      done: this.done, error: this.error, spawnError: this.spawnError,
    });
    if (c.crashed && !c.message?.includes(':') && this.stderrTail.trim()) {
      c.message = `${c.message}: ${lastLine(this.stderrTail)}`;
    }
    const info: ExitInfo = { ...c, exitCode: this.exitCode, signal: this.signal, forced: this.forced, runDir: this.runDir };
    if (this.runDir && this.opts.fixRunJson !== false) await fixRunJson(this.runDir, info.status, c.message).catch(() => undefined);
    this.exitInfo = info;
    if (!this.startedEvent) {
      this.rejectStarted(new Error(c.message ?? (this.stopRequested ? 'stopped before training started' : `the worker ended before training started (status ${c.status})`)));
    }
    try {
      this.handlers.onExit?.(info, this);
    } finally {
      this.resolveExit(info);
    }
  }
}

function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/**
 * A worker that was killed cannot update its run.json: record the real outcome (and the step of its last checkpoint)
 * so the Runs view shows it. Leaves the run alone when another live process holds its lock (a refused second writer).
 */
export async function fixRunJson(runDir: string, status: RunStatus, message?: string): Promise<boolean> {
  return markRunCrashed(runDir, message ?? 'the worker ended unexpectedly', status);
}

// ---------------------------------------------------------------------------------------------------------------
// A run not started by this session (after a window reload): stop it by pid

/**
 * Stops a process this session did not spawn: SIGTERM, poll until it is gone, kill its tree after `timeoutMs`.
 * Resolves with whether it had to be killed.
 */
export async function stopPid(pid: number, timeoutMs: number, api: ProcessApi = nodeProcessApi, pollMs = 200): Promise<{ forced: boolean }> {
  try {
    api.kill(pid, 'SIGTERM');
  } catch {
    return { forced: false };
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid, api)) {
    if (Date.now() >= deadline) {
      killTree(pid, api);
      for (let i = 0; i < 25 && isAlive(pid, api); i++) await sleep(api, pollMs);
      return { forced: true };
    }
    await sleep(api, pollMs);
  }
  return { forced: false };
}

function sleep(api: ProcessApi, ms: number): Promise<void> {
  return new Promise((r) => { api.setTimeout(r, ms); });
}

// ---------------------------------------------------------------------------------------------------------------
// All workers of this session

export class Supervisor {
  private readonly workers = new Set<WorkerProcess>();

  constructor(
    private readonly handlers: WorkerHandlers = {},
    private readonly api: ProcessApi = nodeProcessApi,
  ) {}

  start(opts: WorkerSpawnOptions): WorkerProcess {
    const w = new WorkerProcess(opts, {
      onEvent: (ev, p) => this.handlers.onEvent?.(ev, p),
      onLog: (s, t, p) => this.handlers.onLog?.(s, t, p),
      onExit: (info, p) => {
        this.workers.delete(p);
        this.handlers.onExit?.(info, p);
      },
    }, this.api);
    this.workers.add(w);
    return w;
  }

  running(): WorkerProcess[] {
    return [...this.workers].filter((w) => w.running);
  }

  byRunDir(runDir: string): WorkerProcess | undefined {
    const want = path.resolve(runDir);
    return this.running().find((w) => w.runDir !== undefined && path.resolve(w.runDir) === want);
  }

  byKey(key: string): WorkerProcess[] {
    const want = path.resolve(key);
    return this.running().filter((w) => w.key !== undefined && path.resolve(w.key) === want);
  }

  /**
   * Stops every worker (SIGTERM, tree kill after `timeoutMs`) and waits at most `boundMs` in all: used by
   * deactivate(), which VS Code gives only a few seconds.
   */
  async stopAll(timeoutMs: number, boundMs: number): Promise<void> {
    const all = this.running();
    if (all.length === 0) return;
    let timer: unknown;
    const bound = new Promise<void>((r) => { timer = this.api.setTimeout(r, boundMs); });
    await Promise.race([Promise.all(all.map((w) => w.stop(Math.min(timeoutMs, boundMs)))), bound]);
    this.api.clearTimeout(timer);
    for (const w of all) if (w.running) w.kill();
  }
}
