// The training worker: a child process that runs one training job and reports JSON-lines events.
//
//   node dist/worker.js --config <file> [--out <runsDir>] [--backend <name>] [--backend-path <dir>]…
//   node dist/worker.js --resume <runDir> [--backend-path <dir>]…
//
// Events go to file descriptor 3 when EMBEDLAB_EVENT_FD=3 (the CLI and the extension open it as a pipe), else to
// stdout. Keeping them off stdout means nothing a native library prints (Dawn writes validation errors there) can
// corrupt the event stream. SIGTERM or SIGINT finishes the current step, writes a checkpoint and exits 0.
// Exit codes: 0 done or stopped, 1 failure, 2 bad usage, bad config or bad data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config';
import type { ExperimentConfig } from '../core/config-types';
import { DatasetError } from '../core/dataset';
import { SamplerError } from '../core/sampler';
import { createRunDir, readRunInfo, runPaths, writeRunInfo } from '../core/run-folder';
import type { ErrorEvent, WorkerEvent } from '../protocol/events';
import { BackendError } from '../engine/backend';
import { runTraining, TrainingError, writeConfigSnapshot } from '../engine/train';

function eventWriter(): (e: WorkerEvent) => void {
  const fd = process.env.EMBEDLAB_EVENT_FD ? Number(process.env.EMBEDLAB_EVENT_FD) : 1;
  return (e) => {
    try {
      fs.writeSync(fd, JSON.stringify(e) + '\n');
    } catch {
      // The reader went away (host closed); the run folder still records everything.
    }
  };
}

function classify(err: unknown): { code: ErrorEvent['code']; exitCode: number; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ConfigError) return { code: 'bad-config', exitCode: 2, message };
  if (err instanceof DatasetError || err instanceof SamplerError) return { code: 'bad-data', exitCode: 2, message };
  if (err instanceof BackendError) return { code: 'backend', exitCode: 2, message };
  if (err instanceof TrainingError) return { code: err.code, exitCode: err.exitCode, message };
  if (err instanceof Error && err.name === 'WebGpuDeviceError') return { code: 'backend', exitCode: 1, message };
  const errno = (err as NodeJS.ErrnoException)?.code;
  if (errno === 'ENOSPC') return { code: 'io', exitCode: 1, message: `disk full: ${message}` };
  if (errno === 'EACCES' || errno === 'EROFS' || errno === 'ENOSPC' || errno === 'EIO') return { code: 'io', exitCode: 1, message };
  return { code: 'internal', exitCode: 1, message: err instanceof Error && err.stack ? err.stack : message };
}

export async function main(argv: string[]): Promise<number> {
  const emit = eventWriter();
  // Anything that prints to stdout (tfjs banners, native libraries) goes to stderr instead.
  console.log = console.error;
  console.info = console.error;

  let stop = false;
  const onSignal = () => { stop = true; };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' }, out: { type: 'string' }, resume: { type: 'string' }, backend: { type: 'string' },
      'backend-path': { type: 'string', multiple: true },
    },
    strict: true,
  });

  let runDir: string | undefined;
  const time = () => new Date().toISOString();
  try {
    let config: ExperimentConfig;
    let configFile: string | undefined;
    if (values.resume) {
      runDir = path.resolve(values.resume);
      if (!fs.existsSync(runPaths(runDir).config)) throw new TrainingError(`cannot resume: ${runDir} is not a run folder (no config.json)`, 'io', 2);
      config = JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as ExperimentConfig;
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
    if (runDir && fs.existsSync(runDir)) {
      try {
        fs.appendFileSync(runPaths(runDir).events, JSON.stringify(ev) + '\n');
        const info = readRunInfo(runDir);
        if (info) await writeRunInfo(runDir, { ...info, status: 'failed', error: message.split('\n')[0], endedAt: time(), pid: null });
      } catch {
        // the disk may be full: the event above is all we can report
      }
    }
    process.stderr.write(`embedlab: ${message.split('\n')[0]}\n`);
    return exitCode;
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
