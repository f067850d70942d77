// The training worker: a child process that runs one training job and reports JSON-lines events.
//
//   node dist/worker.js --config <file> [--out <runsDir>] [--backend <name>] [--backend-path <dir>]…
//   node dist/worker.js --resume <runDir> [--backend-path <dir>]…
//
// Events go to file descriptor 3 when EMBEDLAB_EVENT_FD=3 (the CLI and the extension open it as a pipe), else to
// stdout. Keeping them off stdout means nothing a native library prints (Dawn writes validation errors there) can
// corrupt the event stream. SIGTERM or SIGINT finishes the current step, writes a checkpoint and exits 0 (before the
// first step, it stops where it is). The worker also stops so when the process that started it goes away (its
// parent pid changes, or the event pipe breaks): a killed CLI or extension host never leaves an unwatched writer.
// The run folder is locked (run.lock) for as long as the worker runs: a second writer is refused with `busy`.
// Exit codes: 0 done or stopped, 1 failure (busy included), 2 bad usage, bad config or bad data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../core/config';
import type { ExperimentConfig } from '../core/config-types';
import { errorCodeOf, exitCodeOf, LabError, messageOf } from '../core/errors';
import {
  acquireRunLock, appendEvent, createRunDir, markRunCrashed, readConfigSnapshot, readRunInfo, releaseReserve, reserveSpace, RunBusyError, runPaths,
  type RunLock,
} from '../core/run-folder';
import type { ErrorEvent, WorkerEvent } from '../protocol/events';
import { runTraining, TrainingError, writeConfigSnapshot } from '../engine/train';

function eventWriter(onBrokenPipe: () => void): (e: WorkerEvent) => void {
  const fd = process.env.EMBEDLAB_EVENT_FD ? Number(process.env.EMBEDLAB_EVENT_FD) : 1;
  let broken = false;
  return (e) => {
    if (broken) return;
    try {
      fs.writeSync(fd, JSON.stringify(e) + '\n');
    } catch (err) {
      // The reader went away (the CLI or the extension host died); the run folder still records everything.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE' || code === 'EBADF' || code === 'ECONNRESET') {
        broken = true;
        onBrokenPipe();
      }
    }
  };
}

/** How often the worker checks that its parent is still there (a cheap getppid). */
const PARENT_POLL_MS = 500;

/** The error event and exit code for anything thrown: one mapping for every error (src/core/errors.ts). */
function classify(err: unknown): { code: ErrorEvent['code']; exitCode: number; message: string } {
  const code = errorCodeOf(err);
  const known: ReadonlyArray<ErrorEvent['code']> = ['nan-loss', 'bad-config', 'bad-data', 'backend', 'io', 'busy'];
  if (known.includes(code as ErrorEvent['code'])) return { code: code as ErrorEvent['code'], exitCode: exitCodeOf(err), message: messageOf(err) };
  // Anything unexpected keeps its stack for the bug report.
  const message = err instanceof LabError || !(err instanceof Error) || !err.stack ? messageOf(err) : err.stack;
  return { code: 'internal', exitCode: exitCodeOf(err), message };
}

export async function main(argv: string[]): Promise<number> {
  let stop = false;
  let runDir: string | undefined;
  let orphaned = false;
  const time = () => new Date().toISOString();
  const parentGone = (why: string) => {
    if (orphaned) return;
    orphaned = true;
    stop = true;
    if (runDir && fs.existsSync(runPaths(runDir).run)) {
      try {
        appendEvent(runDir, { type: 'warning', code: 'other', time: time(), runId: path.basename(runDir), message: `${why}: stopping at the next step boundary, with a checkpoint` });
      } catch { /* the disk may be full */ }
    }
  };
  const emit = eventWriter(() => parentGone('the event pipe closed (the CLI or the extension host that started this run is gone)'));
  // Anything that prints to stdout (tfjs banners, native libraries) goes to stderr instead.
  console.log = console.error;
  console.info = console.error;
  // Logs to a parent that is gone fail with EPIPE; that must not crash the run before it stops cleanly.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  const onSignal = () => { stop = true; };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const ppid = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== ppid) parentGone(`the process that started this run (pid ${ppid}) is gone`);
  }, PARENT_POLL_MS);
  parentWatch.unref();

  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' }, out: { type: 'string' }, resume: { type: 'string' }, backend: { type: 'string' },
      'backend-path': { type: 'string', multiple: true },
    },
    strict: true,
  });

  let lock: RunLock | undefined;
  try {
    let config: ExperimentConfig;
    let configFile: string | undefined;
    if (values.resume) {
      const dir = path.resolve(values.resume);
      if (!fs.existsSync(runPaths(dir).config)) throw new TrainingError(`cannot resume: ${dir} is not a run folder (no config.json)`, 'io', 2);
      lock = acquireRunLock(dir); // a second writer (a resume of a live run) is refused here: RunBusyError
      runDir = dir;
      reserveSpace(runDir);
      config = readConfigSnapshot(runDir);
      configFile = readRunInfo(runDir)?.configFile ?? undefined;
    } else {
      if (!values.config) throw new TrainingError('missing --config <file> (or --resume <runDir>)', 'io', 2);
      configFile = path.resolve(values.config);
      config = loadConfig(configFile);
      const out = path.resolve(values.out ?? path.join(path.dirname(configFile), 'runs'));
      try {
        runDir = createRunDir(out, config.name);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.code === 'EROFS' ? 'read-only file system' : e.code === 'ENOTDIR' ? 'a path component is not a folder' : e.message;
        throw new TrainingError(`cannot create the run folder in output folder ${out}: ${why}`, 'io', 2);
      }
      lock = acquireRunLock(runDir);
      reserveSpace(runDir);
      await writeConfigSnapshot(runDir, config);
    }
    if (values.backend) config = { ...config, training: { ...config.training, backend: values.backend as ExperimentConfig['training']['backend'] } };
    const nanAt = process.env.EMBEDLAB_TEST_NAN_AT_STEP;
    const result = await runTraining({
      config, runDir, configFile, resume: Boolean(values.resume), emit, shouldStop: () => stop,
      backendSearchPaths: values['backend-path'], nanAtStep: nanAt !== undefined ? Number(nanAt) : undefined,
    });
    return result.status === 'done' || result.status === 'stopped' ? 0 : 1;
  } catch (err) {
    const { code, exitCode, message } = classify(err);
    const runId = runDir ? path.basename(runDir) : '';
    const ev: ErrorEvent = { type: 'error', time: time(), runId, code, message, step: err instanceof TrainingError ? err.step : undefined };
    emit(ev);
    // A refused second writer leaves the run alone: it belongs to the live process that holds its lock.
    if (runDir && fs.existsSync(runDir) && !(err instanceof RunBusyError)) {
      releaseReserve(runDir); // on a full disk, this is the space the records below need
      try {
        appendEvent(runDir, ev);
      } catch {
        // the disk may be full: the event above is all we can report
      }
      // run.json says failed, with the step of the last checkpoint (what a resume continues from).
      await markRunCrashed(runDir, message.split('\n')[0]).catch(() => undefined);
    }
    process.stderr.write(`embedlab: ${message.split('\n')[0]}\n`);
    return exitCode;
  } finally {
    clearInterval(parentWatch);
    if (runDir && lock) releaseReserve(runDir);
    lock?.release();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`embedlab worker: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
