// Runs `node dist/cli.js <command> … [--json]` and `npm` as cancellable child processes: JSON lines on stdout are
// parsed one by one (progress), everything else goes to the log. Cancelling sends SIGTERM (the CLI stops
// embedding cleanly), then kills the process tree after a grace period. No vscode import.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { killTree, nodeProcessApi } from './supervisor';

export interface RunProcessOptions {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Each stdout line that parses as a JSON object. */
  onJson?: (obj: Record<string, unknown>) => void;
  /** Raw text for the log (stdout lines that are not JSON, and all of stderr). */
  onLog?: (stream: 'stdout' | 'stderr', text: string) => void;
  signal?: AbortSignal;
  /** Milliseconds between SIGTERM and the tree kill after a cancel. */
  killAfterMs?: number;
  /** Overall limit (0 = none). */
  timeoutMs?: number;
  /** Use a shell (npm on Windows is a .cmd). */
  shell?: boolean;
}

export interface RunProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
  timedOut: boolean;
  stdout: string; // the non-JSON part, bounded
  stderr: string; // bounded
  json: Array<Record<string, unknown>>;
  spawnError?: string;
}

const KEEP = 64 * 1024;

export function runProcess(o: RunProcessOptions): Promise<RunProcessResult> {
  return new Promise((resolve) => {
    const res: RunProcessResult = { code: null, signal: null, cancelled: false, timedOut: false, stdout: '', stderr: '', json: [] };
    const detached = process.platform !== 'win32';
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(o.command, o.args, {
        cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], detached, shell: o.shell, windowsHide: true,
      });
    } catch (err) {
      resolve({ ...res, spawnError: (err as Error).message });
      return;
    }
    let done = false;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const terminate = () => {
      if (child.pid === undefined || done) return;
      try { child.kill('SIGTERM'); } catch { /* gone */ }
      timers.push(setTimeout(() => { if (!done && child.pid !== undefined) killTree(child.pid, nodeProcessApi); }, o.killAfterMs ?? 3000));
    };
    const onAbort = () => { res.cancelled = true; terminate(); };
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.timeoutMs) timers.push(setTimeout(() => { res.timedOut = true; terminate(); }, o.timeoutMs));

    const dec = new StringDecoder('utf8');
    let buf = '';
    const line = (l: string) => {
      const t = l.trim();
      if (t.startsWith('{')) {
        try {
          const obj = JSON.parse(t) as Record<string, unknown>;
          if (obj && typeof obj === 'object') {
            res.json.push(obj);
            o.onJson?.(obj);
            return;
          }
        } catch {
          // not JSON: log it
        }
      }
      if (t) {
        res.stdout = (res.stdout + l + '\n').slice(-KEEP);
        o.onLog?.('stdout', l + '\n');
      }
    };
    child.stdout?.on('data', (d: Buffer) => {
      buf += dec.write(d);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      const t = d.toString();
      res.stderr = (res.stderr + t).slice(-KEEP);
      o.onLog?.('stderr', t);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: string) => {
      if (done) return;
      done = true;
      buf += dec.end();
      if (buf) line(buf);
      for (const t of timers) clearTimeout(t);
      o.signal?.removeEventListener('abort', onAbort);
      resolve({ ...res, code, signal, spawnError });
    };
    child.on('error', (err) => { if (child.pid === undefined) finish(null, null, err.message); });
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** The last meaningful stderr line, without the `embedlab <cmd>: ` prefix, for an error message. */
export function cliErrorMessage(r: RunProcessResult, what: string): string {
  if (r.spawnError) return `${what}: cannot start node (${r.spawnError}); check embeddingLab.nodePath`;
  if (r.cancelled) return `${what}: cancelled`;
  if (r.timedOut) return `${what}: timed out`;
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const last = lines.filter((l) => /^embedlab/.test(l)).pop() ?? lines.pop() ?? `exit code ${r.code ?? r.signal}`;
  return `${what}: ${last.replace(/^embedlab( \w+)?: /, '')}`;
}
