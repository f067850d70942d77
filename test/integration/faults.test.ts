// Promises under faults (docs/faults.md), each through real processes: the real CLI and its real worker, killed with
// real signals; two real resumes racing for one run; a real tmpfs filled to the last byte; a run folder really moved.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, CLI, collect, jsonLines, onlyRunDir, ROOT, smallConfig, startCli as start, tmpDir, writeConfig } from './helpers';

const work = tmpDir('faults');
const data = path.join(work, 'data');

test.before(async () => {
  const r = await cli(['synth', data, '--classes', '4', '--per-class', '8', '--size', '16', '--seed', '1']);
  assert.equal(r.code, 0, r.stderr);
});
/** Every CLI this file starts: killed at the end even when a test failed half-way. */
const children: ChildProcess[] = [];
function startCli(args: string[]): ChildProcess {
  const c = start(args);
  children.push(c);
  return c;
}
test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 3000)); // their workers stop with them
  fs.rmSync(work, { recursive: true, force: true });
});

/** A tiny config whose run lasts as long as we let it (many short epochs, a checkpoint every 2 steps). */
function tinyConfig(dir: string, over: { epochs?: number; samplesPerEpoch?: number; batchSize?: number; name?: string } = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  return writeConfig(dir, smallConfig(path.relative(dir, data), undefined, {
    name: over.name ?? 'fault',
    data: { imageSize: [16, 16], samplesPerEpoch: over.samplesPerEpoch ?? 32, validationLimit: 0 },
    model: { backbone: 'convnet', width: 0.25, embeddingDim: 8 },
    training: { epochs: over.epochs ?? 1000, batchSize: over.batchSize ?? 8, checkpointEverySteps: 2 },
  }));
}

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const events = (runDir: string) => jsonLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
const steps = (runDir: string) => events(runDir).filter((e) => e.type === 'step').map((e) => e.step as number);
/** The steps logged since the last `started` event (one training session). */
function stepsSinceLastStart(runDir: string): number[] {
  const ev = events(runDir);
  let i = ev.length - 1;
  while (i >= 0 && ev[i].type !== 'started') i--;
  return i < 0 ? [] : ev.slice(i).filter((e) => e.type === 'step').map((e) => e.step as number);
}

/** Starts `train` and waits until its worker has done `minStep` steps; returns the child, run folder and worker pid. */
async function trainUntilStep(cfg: string, runs: string, minStep: number): Promise<{ child: ChildProcess; result: ReturnType<typeof collect>; runDir: string; workerPid: number }> {
  const child = startCli(['train', cfg, '--out', runs, '--json']);
  const result = collect(child);
  const runDir = await until('the run folder', () => fs.existsSync(runs) && fs.readdirSync(runs).length === 1 && fs.existsSync(path.join(runs, fs.readdirSync(runs)[0], 'events.jsonl')) && onlyRunDir(runs));
  await until(`step ${minStep}`, () => steps(runDir).some((s) => s >= minStep));
  const workerPid = readJson(path.join(runDir, 'run.json')).pid as number;
  assert.ok(workerPid > 0 && workerPid !== child.pid);
  return { child, result, runDir, workerPid };
}

test('kill -9 of `embedlab train` ends its worker within seconds, with a checkpoint, and frees the run', async () => {
  const dir = path.join(work, 'kill-cli');
  const { child, result, runDir, workerPid } = await trainUntilStep(tinyConfig(dir), path.join(dir, 'runs'), 2);
  assert.equal(readJson(path.join(runDir, 'run.lock')).pid, workerPid, 'the worker holds the run lock');
  child.kill('SIGKILL');
  await result;
  const t0 = Date.now();
  await until('the orphaned worker to end', () => !alive(workerPid), 10_000);
  const gone = Date.now() - t0;
  assert.ok(gone < 10_000, `worker gone after ${gone} ms`);
  const info = readJson(path.join(runDir, 'run.json'));
  assert.equal(info.status, 'stopped');
  const state = readJson(path.join(runDir, 'checkpoints', 'last', 'state.json'));
  assert.equal(info.step, state.globalStep, 'run.json names the checkpoint the worker wrote as it stopped');
  assert.equal(fs.existsSync(path.join(runDir, 'run.lock')), false, 'the lock is released');
  assert.match(JSON.stringify(events(runDir).filter((e) => e.type === 'warning')), /is gone|pipe closed/);
});

test('kill -9 of the extension host (the supervisor that spawned the worker, detached) ends the worker too', async () => {
  const dir = path.join(work, 'kill-host');
  const runs = path.join(dir, 'runs');
  const cfg = tinyConfig(dir);
  // A stand-in for the extension host: the real Supervisor of src/extension, spawning dist/worker.js as the extension does.
  const host = path.join(dir, 'host.ts');
  fs.writeFileSync(host, `import { Supervisor } from ${JSON.stringify(path.join(ROOT, 'src', 'extension', 'supervisor.ts'))};
new Supervisor().start({ node: process.execPath, workerJs: ${JSON.stringify(path.join(ROOT, 'dist', 'worker.js'))}, args: ['--config', ${JSON.stringify(cfg)}, '--out', ${JSON.stringify(runs)}] });
setInterval(() => undefined, 1000);
`);
  const child = spawn(process.execPath, ['--import', 'tsx', host], { cwd: ROOT, stdio: 'ignore' });
  children.push(child);
  const runDir = await until('the run folder', () => fs.existsSync(runs) && fs.readdirSync(runs).length === 1 && fs.existsSync(path.join(runs, fs.readdirSync(runs)[0], 'events.jsonl')) && onlyRunDir(runs));
  await until('step 2', () => steps(runDir).some((s) => s >= 2));
  const workerPid = readJson(path.join(runDir, 'run.json')).pid as number;
  child.kill('SIGKILL');
  await until('the worker of a dead host to end', () => !alive(workerPid), 10_000);
  assert.equal(readJson(path.join(runDir, 'run.json')).status, 'stopped');
  assert.equal(fs.existsSync(path.join(runDir, 'run.lock')), false);
});

test('a worker killed by SIGKILL: the CLI says so, records an error and marks run.json failed at the last checkpoint', async () => {
  const dir = path.join(work, 'kill-worker');
  const { result, runDir, workerPid } = await trainUntilStep(tinyConfig(dir), path.join(dir, 'runs'), 5);
  process.kill(workerPid, 'SIGKILL');
  const r = await result;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the training worker was killed by SIGKILL; out of memory\?/);
  const errs = jsonLines(r.stdout).filter((e) => e.type === 'error');
  assert.equal(errs.length, 1, 'one error event on stdout (--json)');
  assert.ok(events(runDir).some((e) => e.type === 'error' && /killed by SIGKILL/.test(e.message as string)), 'and in events.jsonl');
  const info = readJson(path.join(runDir, 'run.json'));
  assert.equal(info.status, 'failed');
  assert.equal(info.pid, null);
  assert.match(info.error as string, /killed by SIGKILL/);
  const state = readJson(path.join(runDir, 'checkpoints', 'last', 'state.json'));
  assert.equal(info.step, state.globalStep);
  assert.ok((info.step as number) >= 4);

  // The dead worker's lock is taken over by a resume, which goes on from the checkpoint.
  const resumed = startCli(['train', '--resume', runDir, '--json']);
  const res = collect(resumed);
  await until('the resume to take a step', () => events(runDir).filter((e) => e.type === 'started').length === 2 && stepsSinceLastStart(runDir).length >= 1);
  resumed.kill('SIGTERM');
  const rr = await res;
  assert.equal(rr.code, 0, rr.stderr);
  const started = jsonLines(rr.stdout).find((e) => e.type === 'started')!;
  assert.equal((started.resumedFrom as { step: number }).step, state.globalStep);
  assert.equal(stepsSinceLastStart(runDir)[0], state.globalStep, 'it goes on from the checkpoint');
});

test('two resumes of one run at once: one trains, the other is refused as busy and writes nothing', async () => {
  const dir = path.join(work, 'two-resumes');
  const { child, result, runDir } = await trainUntilStep(tinyConfig(dir), path.join(dir, 'runs'), 2);
  child.kill('SIGTERM');
  assert.equal((await result).code, 0);
  const before = steps(runDir);
  const a = startCli(['train', '--resume', runDir, '--json']);
  const b = startCli(['train', '--resume', runDir, '--json']);
  const ra = collect(a);
  const rb = collect(b);
  // The loser ends on its own, busy; then stop the winner.
  const first = await Promise.race([ra.then((r) => ({ r, who: a, other: b, otherResult: rb })), rb.then((r) => ({ r, who: b, other: a, otherResult: ra }))]);
  assert.equal(first.r.code, 1, `the refused resume exits 1: ${first.r.stderr}`);
  const busy = jsonLines(first.r.stdout).find((e) => e.type === 'error')!;
  assert.equal(busy.code, 'busy');
  assert.match(busy.message as string, /run folder .* is busy: process \d+ has been training it since/);
  await until('the other resume to train', () => steps(runDir).length > before.length + 2);
  first.other.kill('SIGTERM');
  const winner = await first.otherResult;
  assert.equal(winner.code, 0, winner.stderr);
  const all = steps(runDir);
  assert.equal(new Set(all).size, all.length, 'no step number twice in events.jsonl');
  assert.deepEqual(all, all.map((_, i) => i), 'steps 0, 1, 2, … with no gap');
  assert.equal(events(runDir).filter((e) => e.type === 'error').length, 0, 'the refused resume wrote nothing into the run');
  assert.equal(readJson(path.join(runDir, 'run.json')).status, 'stopped');
});

test('SIGTERM before the first step (while the backend starts and images decode) stops the run there, exit 0', async () => {
  const dir = path.join(work, 'early-stop');
  const runs = path.join(dir, 'runs');
  const child = startCli(['train', tinyConfig(dir), '--out', runs, '--json']);
  const result = collect(child);
  const runDir = await until('run.json', () => fs.existsSync(runs) && fs.readdirSync(runs).length === 1 && fs.existsSync(path.join(runs, fs.readdirSync(runs)[0], 'run.json')) && onlyRunDir(runs), 60_000);
  child.kill('SIGTERM');
  const r = await result;
  assert.equal(r.code, 0, r.stderr);
  const ev = jsonLines(r.stdout);
  assert.equal(ev.filter((e) => e.type === 'step').length, 0, 'no step was taken after the signal');
  assert.equal(ev.at(-1)!.type, 'done');
  assert.equal(ev.at(-1)!.status, 'stopped');
  assert.deepEqual([readJson(path.join(runDir, 'run.json')).status, readJson(path.join(runDir, 'run.json')).step], ['stopped', 0]);
  // It resumes from the beginning.
  const again = startCli(['train', '--resume', runDir, '--json']);
  const ra = collect(again);
  await until('a resumed step', () => steps(runDir).length >= 2);
  again.kill('SIGTERM');
  assert.equal((await ra).code, 0);
  assert.equal(steps(runDir)[0], 0);
});

test('data.samplesPerEpoch at the schema maximum (1e8) starts at once in bounded memory and stops on SIGTERM', async () => {
  const dir = path.join(work, 'huge-epoch');
  const { child, result, workerPid } = await trainUntilStep(tinyConfig(dir, { samplesPerEpoch: 1e8 }), path.join(dir, 'runs'), 2);
  // The tuples of a 1e8-sample epoch alone are 1.2 GB when drawn at once; drawn per step, the worker stays small.
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${workerPid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  assert.ok(hwm > 0 && hwm < 700 * 1024 * 1024, `worker peak RSS ${(hwm / 2 ** 20).toFixed(0)} MiB`);
  child.kill('SIGTERM');
  const r = await result;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(jsonLines(r.stdout).at(-1)!.status, 'stopped');
}, );

test('a batch that cannot fit in memory is refused before decoding, naming the field to lower (exit 2)', async () => {
  const dir = path.join(work, 'huge-batch');
  const t0 = Date.now();
  const r = await cli(['train', tinyConfig(dir, { batchSize: 100_000_000, samplesPerEpoch: 100_000_000 }), '--out', path.join(dir, 'runs'), '--json']);
  assert.equal(r.code, 2, r.stderr);
  const err = jsonLines(r.stdout).find((e) => e.type === 'error')!;
  assert.match(err.message as string, /training\.batchSize: one training step of 300000000 images .* needs about [\d.]+ GiB, more than the [\d.]+ GiB the wasm backend can use here; lower training\.batchSize to at most \d+/);
  assert.ok(Date.now() - t0 < 30_000, 'refused at once');
  const ev = jsonLines(r.stdout);
  assert.equal(ev.filter((e) => e.type === 'progress').length, 0, 'nothing was decoded');
  assert.equal(err.code, 'bad-config');
});

test('a run folder moved with its data resumes there (paths are stored relative to the run folder)', async () => {
  const dir = path.join(work, 'move-a');
  const { child, result, runDir } = await trainUntilStep(tinyConfig(dir, { epochs: 2 }), path.join(dir, 'runs'), 2);
  child.kill('SIGTERM');
  assert.equal((await result).code, 0);
  for (const f of ['config.json', 'run.json', 'events.jsonl']) {
    assert.equal(fs.readFileSync(path.join(runDir, f), 'utf8').includes(work), false, `${f} holds no absolute path`);
  }
  // Move the experiment folder and its data together; the old place is gone.
  const moved = path.join(work, 'move-b');
  fs.mkdirSync(moved);
  fs.renameSync(dir, path.join(moved, 'exp'));
  fs.renameSync(data, path.join(moved, 'data'));
  try {
    const newRun = path.join(moved, 'exp', 'runs', path.basename(runDir));
    // Stale temps a killed writer left: a checkpoint folder, a run.json temp, and a table's temp beside the table.
    const dead = spawnSync('true').pid!;
    fs.mkdirSync(path.join(newRun, 'checkpoints', `.last.tmp-${dead}-1733500000000`));
    fs.writeFileSync(path.join(newRun, `.run.json.${dead}.0123456789ab.tmp`), '{');
    const r = await cli(['train', '--resume', newRun, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const ev = jsonLines(r.stdout);
    assert.equal(ev.at(-1)!.status, 'done');
    assert.equal((ev.find((e) => e.type === 'started')!.train as { root: string }).root, path.join(moved, 'data'));
    assert.equal(readJson(path.join(newRun, 'run.json')).configFile, '../../exp.embedding.json');
    assert.deepEqual(fs.readdirSync(path.join(newRun, 'checkpoints')).sort(), ['last'], 'the stale checkpoint temp is gone');
    assert.equal(fs.readdirSync(newRun).some((n) => n.endsWith('.tmp')), false, 'the stale run.json temp is gone');

    // A table temp left by a killed `embed` is removed by the next write of that table.
    const table = path.join(moved, 't.csv');
    fs.writeFileSync(path.join(moved, `.t.csv.${dead}.0123456789ab.tmp`), 'partial');
    const e = await cli(['embed', '--model', newRun, path.join(moved, 'data'), '--out', table]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(fs.readdirSync(moved).some((n) => n.startsWith('.t.csv.')), false, 'the stale table temp is gone');
  } finally {
    fs.renameSync(path.join(moved, 'data'), data);
  }
});

/** Whether this machine lets us mount a tmpfs in a user+mount namespace (unshare -rm). */
function canMountTmpfs(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = tmpDir('probe');
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs '${probe}'`], { encoding: 'utf8' });
  fs.rmSync(probe, { recursive: true, force: true });
  return r.status === 0;
}

test('a full disk mid-run: clear error, run.json failed at the last checkpoint\'s step', { skip: !canMountTmpfs() && 'needs unshare -rm (user + mount namespaces) to mount a tmpfs' }, () => {
  const dir = path.join(work, 'disk-full');
  const cfg = tinyConfig(dir);
  const runs = path.join(dir, 'runs');
  const out = path.join(dir, 'out');
  fs.mkdirSync(runs);
  fs.mkdirSync(out);
  // Inside the namespace: a 2 MiB tmpfs for the run folder; once two checkpoints are written, fill it to the last byte.
  const script = `set -u
mount -t tmpfs -o size=2m tmpfs '${runs}'
'${process.execPath}' '${CLI}' train '${cfg}' --out '${runs}' --json > '${out}/stdout' 2> '${out}/stderr' &
pid=$!
n=0
until [ "$(cat '${runs}'/*/events.jsonl 2>/dev/null | grep -c '"kind":"last"')" -ge 2 ] || [ $n -ge 1200 ]; do sleep 0.05; n=$((n+1)); done
dd if=/dev/zero of='${runs}/filler' bs=4096 2>/dev/null
wait $pid
echo $? > '${out}/code'
cp -r '${runs}'/fault-* '${out}/run'`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const code = Number(fs.readFileSync(path.join(out, 'code'), 'utf8'));
  const stderr = fs.readFileSync(path.join(out, 'stderr'), 'utf8');
  assert.equal(code, 1, stderr);
  const err = jsonLines(fs.readFileSync(path.join(out, 'stdout'), 'utf8')).find((e) => e.type === 'error')!;
  assert.equal(err.code, 'io');
  assert.match(err.message as string, /disk full/);
  const info = readJson(path.join(out, 'run', 'run.json'));
  const state = readJson(path.join(out, 'run', 'checkpoints', 'last', 'state.json'));
  assert.equal(info.status, 'failed');
  assert.ok((state.globalStep as number) >= 2);
  assert.equal(info.step, state.globalStep, 'run.json records the step of the last checkpoint');
});
