// `embedlab`: the command-line interface. Exit codes: 0 success, 1 failure, 2 bad usage, config or data.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { scaffoldConfig, validateConfig } from '../core/config';
import { exitCodeOf, messageOf } from '../core/errors';
import type { BackboneName } from '../core/config-types';
import { printablePath, printableText } from '../core/printable';
import { appendEvent, markRunCrashed } from '../core/run-folder';
import { parseEventLine, type ErrorEvent, type LossType, type WorkerEvent } from '../protocol/events';
import { parse, UsageError } from './args';
import { ProgressRenderer } from './progress';
import { scoringCommands } from './scoring';
import { useModelCommands } from './use-model';

const USAGE = `embedlab — image-embedding experiments (contrastive, triplet, quartet)

Usage:
  embedlab init --type contrastive|triplet|quartet [--train <dir>] [--validation <dir>] [--backbone resnet18|convnet] [--out <file>]
  embedlab train <config.embedding.json> [--out <runsDir>] [--backend <name>] [--json]
  embedlab train --resume <runDir> [--json]
  embedlab export <runDir> --type branch|full [--format tfjs|onnx|both] [--out <dir>]
  embedlab embed --model <runDir|modelDir> <folder> --out <table.parquet|table.csv> [--engine auto|onnx|tfjs] [--threads 1] [--json]
  embedlab eval <table> [--reference <table>] [--precision 0.95] [--save-threshold <runDir|modelDir>] [--json]
  embedlab knn <table> --query <image|path-in-table> [-k 10] [--engine auto|onnx|tfjs] [--json]
  embedlab verify <imageA> <imageB> --model <runDir|modelDir> [--threshold <distance>] [--exit-code] | --pairs <pairs.csv>
  embedlab classify <folder|table> --reference <folder|table> --model <runDir|modelDir> [--method centroid|knn] [--out <results.csv>]
  embedlab duplicates <table> --out <groups.csv> [--threshold <distance>] [--model <runDir|modelDir>]
  embedlab synth <outDir> [--classes 12] [--per-class 40] [--size 64] [--seed 1]
  embedlab env [--json]

Run \`embedlab <command> --help\` for the options of one command.`;

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

async function cmdTrain(args: string[]): Promise<number> {
  const usage = 'embedlab train <config.embedding.json> [--out <runsDir>] [--backend auto|wasm|cpu|webgpu|tensorflow|tensorflow-gpu] [--json]\n       embedlab train --resume <runDir> [--json]';
  const r = parse(args, { out: { type: 'string' }, resume: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, 'backend-path': { type: 'string', multiple: true } }, { min: 0, max: 1, usage });
  if (!r) return 0;
  const v = r.values as { out?: string; resume?: string; backend?: string; json?: boolean; 'backend-path'?: string[] };
  const wargs: string[] = [];
  if (v.resume) {
    if (r.positionals.length) throw new UsageError(`give either a config or --resume, not both\nusage: ${usage}`);
    wargs.push('--resume', v.resume);
  } else {
    if (r.positionals.length !== 1) throw new UsageError(`missing the config file\nusage: ${usage}`);
    const cfg = r.positionals[0];
    if (!fs.existsSync(cfg)) throw new UsageError(`config file not found: ${cfg}`);
    wargs.push('--config', cfg);
    if (v.out) wargs.push('--out', v.out);
  }
  if (v.backend) wargs.push('--backend', v.backend);
  for (const p of v['backend-path'] ?? []) wargs.push('--backend-path', p);
  return runWorker(wargs, Boolean(v.json), v.resume);
}

async function cmdInit(args: string[]): Promise<number> {
  const usage = 'embedlab init --type contrastive|triplet|quartet [--train <dir>] [--validation <dir>] [--backbone resnet18|resnet34|resnet50|convnet] [--pretrained <hf:owner/repo|weights.safetensors>] [--name <name>] [--out <file>] [--force]';
  const r = parse(args, {
    type: { type: 'string' }, train: { type: 'string' }, validation: { type: 'string' }, backbone: { type: 'string' }, pretrained: { type: 'string' },
    name: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' },
  }, { min: 0, max: 0, usage });
  if (!r) return 0;
  const v = r.values as Record<string, string | boolean | undefined>;
  const type = v.type as string | undefined;
  if (type !== 'contrastive' && type !== 'triplet' && type !== 'quartet') {
    throw new UsageError(`--type must be contrastive, triplet or quartet (got ${type === undefined ? 'nothing' : JSON.stringify(type)})\nusage: ${usage}`);
  }
  const name = (v.name as string | undefined) ?? `my-${type}`;
  const out = path.resolve((v.out as string | undefined) ?? `${name}.embedding.json`);
  if (!out.endsWith('.embedding.json')) throw new UsageError(`the config file name must end in .embedding.json (got ${out}) so that editors apply its schema`);
  if (fs.existsSync(out) && !v.force) throw new UsageError(`${out} already exists; pass --force to overwrite it`);
  const schemaPath = path.relative(path.dirname(out), path.join(__dirname, '..', 'schemas', 'embedding.schema.json')).split(path.sep).join('/');
  const obj = scaffoldConfig(type as LossType, {
    name, train: v.train as string | undefined, validation: v.validation as string | undefined,
    backbone: v.backbone as BackboneName | undefined, schema: schemaPath, pretrained: v.pretrained as string | undefined,
  });
  const { issues } = validateConfig(obj, path.dirname(out));
  if (issues.length) throw new UsageError(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  const { writeFileAtomic } = await import('../core/atomic');
  await writeFileAtomic(out, JSON.stringify(obj, null, 2) + '\n');
  process.stdout.write(`wrote ${printablePath(out)}\n`);
  return 0;
}

async function cmdEnv(args: string[]): Promise<number> {
  const r = parse(args, { json: { type: 'boolean' }, 'backend-path': { type: 'string', multiple: true } }, { min: 0, max: 0, usage: 'embedlab env [--json]' });
  if (!r) return 0;
  const { probeBackends, probeWebGpu } = await import('../engine/backend');
  const searchPaths = (r.values['backend-path'] as string[] | undefined) ?? [];
  const probes = await probeBackends({ searchPaths });
  const webgpu = await probeWebGpu({ searchPaths });
  const { loadOrt } = await import('../engine/onnx-runtime');
  const ortLoad = loadOrt();
  const onnxruntime = ortLoad.ok
    ? { name: 'onnxruntime', available: true, detail: `onnxruntime-node ${ortLoad.version} (CPU; the embedding engine of embed / knn --engine auto|onnx) at ${ortLoad.file}` }
    : { name: 'onnxruntime', available: false, detail: '', reason: `${ortLoad.reason} — embed / knn run on TensorFlow.js`, fix: ortLoad.fix };
  // Pretrained models already in the Hugging Face hub cache (shared with Python's huggingface_hub).
  const { hubCacheDir, scanHubCache } = await import('../engine/pretrained/hub-cache');
  const cacheDir = hubCacheDir(process.env);
  const pretrained = { cacheDir, models: scanHubCache(cacheDir).map((m) => ({ id: `hf:${m.repoId}`, bytes: m.bytes, incompleteBytes: m.incompleteBytes, revisions: Object.keys(m.refs) })) };
  if (r.values.json) {
    process.stdout.write(JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, backends: [...probes, webgpu], engines: [onnxruntime], pretrained }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(`node ${process.version} on ${process.platform}-${process.arch}\n`);
  for (const p of [...probes, webgpu]) {
    process.stdout.write(`${p.available ? '✓' : '✗'} ${p.name.padEnd(15)} ${p.available ? p.detail : p.reason ?? ''}\n`);
    if (!p.available && p.fix) process.stdout.write(`  fix: ${p.fix}\n`);
  }
  for (const a of webgpu.adapters) {
    process.stdout.write(`  adapter: ${a.description || a.device} (${a.vendor}/${a.architecture})${a.isFallbackAdapter || a.software ? ' — software fallback, not used by auto' : ''}\n`);
  }
  for (const pr of webgpu.problems) process.stdout.write(`  webgpu: ${pr.reason}${pr.fix ? `\n    fix: ${pr.fix}` : ''}\n`);
  process.stdout.write(`${onnxruntime.available ? '✓' : '✗'} ${'onnxruntime'.padEnd(15)} ${onnxruntime.available ? onnxruntime.detail : onnxruntime.reason}\n`);
  if (!onnxruntime.available && onnxruntime.fix) process.stdout.write(`  fix: ${onnxruntime.fix}\n`);
  process.stdout.write(`pretrained models in ${printableText(cacheDir)}: ${pretrained.models.length ? '' : 'none'}\n`);
  for (const m of pretrained.models) {
    process.stdout.write(`  ${printableText(m.id).padEnd(40)} ${(m.bytes / 1e6).toFixed(1)} MB${m.incompleteBytes ? ` (+${(m.incompleteBytes / 1e6).toFixed(1)} MB unfinished, resumable)` : ''}\n`);
  }
  return 0;
}

const commands: Record<string, (args: string[]) => Promise<number>> = {
  train: cmdTrain,
  init: cmdInit,
  env: cmdEnv,
  ...scoringCommands,
  ...useModelCommands,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const fn = commands[cmd];
  if (!fn) {
    process.stderr.write(`embedlab: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await fn(rest);
  } catch (err) {
    process.stderr.write(`embedlab ${cmd}: ${printableText(messageOf(err))}\n`);
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
