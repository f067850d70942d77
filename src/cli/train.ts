// `embedlab train`: runs the training worker (dist/worker.js) as a child process and renders its events.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { printableText } from '../core/printable';
import { appendEvent, markRunCrashed } from '../core/run-folder';
import { parseEventLine, type ErrorEvent, type WorkerEvent } from '../protocol/events';
import { defineCommand, UsageError } from './args';
import { ProgressRenderer } from './progress';

/**
 * Runs the training worker as a child process and renders (or forwards) its events. The worker stops by itself
 * when this process goes (kill -9 included: it watches its parent pid and its event pipe). A worker killed by a
 * signal (the out-of-memory killer sends SIGKILL) cannot report; this side says so, records an error event and
 * marks run.json failed.
 */
export async function runWorker(workerArgs: string[], json: boolean, resumeDir?: string): Promise<number> {
  const worker = path.join(__dirname, 'worker.js');
  const child = spawn(process.execPath, [worker, ...workerArgs], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, EMBEDLAB_EVENT_FD: '3' },
  });
  child.stdout!.setEncoding('utf8').on('data', (t: string) => { process.stderr.write(printableText(t)); }); // file names may hold escape codes
  child.stderr!.on('data', (d: Buffer) => {
    // The worker repeats its fatal error on stderr for plain use; the renderer already shows it.
    const text = d.toString();
    if (!/^embedlab: /.test(text)) process.stderr.write(printableText(text));
  });
  const renderer = json ? undefined : new ProgressRenderer(process.stderr);
  const rl = readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream });
  let runDir = resumeDir ? path.resolve(resumeDir) : undefined;
  let sawError = false;
  let sawDone = false;
  rl.on('line', (line) => {
    const ev = parseEventLine(line);
    if (!ev) return;
    if (ev.type === 'started') runDir = ev.runDir;
    else if (ev.type === 'error') sawError = true;
    else if (ev.type === 'done') sawDone = true;
    if (json) process.stdout.write(JSON.stringify(ev) + '\n');
    else renderer!.handle(ev as WorkerEvent);
  });
  const forward = (sig: NodeJS.Signals) => () => { child.kill(sig === 'SIGINT' ? 'SIGTERM' : sig); };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const ended = await new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => { process.stderr.write(`embedlab: cannot start the worker: ${err.message}\n`); resolve({ code: 1, signal: null }); });
    child.on('close', (c, signal) => resolve({ code: c ?? (signal ? 1 : 0), signal }));
  });
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  if (ended.signal && !sawError && !sawDone) {
    const message = `the training worker was killed by ${ended.signal}${ended.signal === 'SIGKILL' ? '; out of memory?' : ''}`;
    const hint = runDir ? `; the last checkpoint is kept: resume with \`embedlab train --resume ${runDir}\`` : '';
    const ev: ErrorEvent = { type: 'error', time: new Date().toISOString(), runId: runDir ? path.basename(runDir) : '', code: 'internal', message };
    if (json) process.stdout.write(JSON.stringify(ev) + '\n');
    renderer?.close();
    process.stderr.write(`embedlab: ${message}${hint}\n`);
    if (runDir) {
      try { appendEvent(runDir, ev); } catch { /* a full disk: stderr said it */ }
      await markRunCrashed(runDir, message).catch(() => undefined);
    }
  }
  renderer?.close();
  return ended.code;
}

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'Train an experiment in a worker process (progress bar, or --json events); resume a run from its last checkpoint',
  usage: 'embedlab train <config.embedding.json> [--out <runsDir>] [--backend auto|wasm|cpu|webgpu|tensorflow|tensorflow-gpu] [--json]\n       embedlab train --resume <runDir> [--json]',
  positionals: [0, 1],
  options: { out: { type: 'string' }, resume: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, 'backend-path': { type: 'string', multiple: true, hidden: true } },
  async run({ values: v, positionals, usage }) {
    const wargs: string[] = [];
    if (v.resume) {
      if (positionals.length) throw new UsageError(`give either a config or --resume, not both\nusage: ${usage}`);
      wargs.push('--resume', v.resume);
    } else {
      if (positionals.length !== 1) throw new UsageError(`missing the config file\nusage: ${usage}`);
      const cfg = positionals[0];
      if (!fs.existsSync(cfg)) throw new UsageError(`config file not found: ${cfg}`);
      wargs.push('--config', cfg);
      if (v.out) wargs.push('--out', v.out);
    }
    if (v.backend) wargs.push('--backend', v.backend);
    for (const p of v['backend-path'] ?? []) wargs.push('--backend-path', p);
    return runWorker(wargs, Boolean(v.json), v.resume);
  },
});
