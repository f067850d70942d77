// The run folder's lock (one writer), its stale temp files, the crashed-run status and the paths stored relative to
// the folder. Real files, real processes (a live `sleep`, a finished `true`) for the lock's liveness checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  acquireRunLock, appendEvent, effectiveStatus, fromRunRelative, isCrashed, markRunCrashed, readConfigSnapshot, readEvents,
  readRunInfo, readRunLock, RunBusyError, runPaths, toRunRelative, writeConfigSnapshot, writeRunInfo, type RunInfo,
} from '../../src/core/run-folder';
import { removeStaleTemps, writeFileAtomic } from '../../src/core/atomic';
import { exitCodeOf, errorCodeOf } from '../../src/core/errors';
import type { ExperimentConfig } from '../../src/core/config-types';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-runfolder-'));

/** A pid that no longer runs: a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync('true');
  assert.ok(r.pid && r.pid > 0);
  return r.pid;
}

function procStart(pid: number): string {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}

function info(over: Partial<RunInfo> = {}): RunInfo {
  return {
    runId: 'r', name: 'r', status: 'running', backend: 'wasm', lossType: 'triplet', configFile: null, startedAt: 't', updatedAt: 't',
    endedAt: null, epoch: 0, epochs: 3, step: 0, bestMapAtR: null, lastMapAtR: null, pid: process.pid, error: null, ...over,
  };
}

describe('run lock', () => {
  it('is created with the pid, host and start time, and released', () => {
    const dir = tmp();
    const lock = acquireRunLock(dir);
    const onDisk = readRunLock(dir)!;
    assert.equal(onDisk.pid, process.pid);
    assert.equal(onDisk.hostname, os.hostname());
    assert.equal(onDisk.procStart, process.platform === 'linux' ? procStart(process.pid) : null);
    lock.release();
    assert.equal(fs.existsSync(runPaths(dir).lock), false);
  });

  it('refuses a second writer while the holder lives (busy, exit code 1), and takes over once it is dead', async () => {
    const dir = tmp();
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => holder.once('spawn', r));
      const pid = holder.pid!;
      fs.writeFileSync(runPaths(dir).lock, JSON.stringify({ pid, hostname: os.hostname(), startedAt: '2026-01-01T00:00:00Z', procStart: process.platform === 'linux' ? procStart(pid) : null }));
      let err: unknown;
      try { acquireRunLock(dir); } catch (e) { err = e; }
      assert.ok(err instanceof RunBusyError, String(err));
      assert.equal(errorCodeOf(err), 'busy');
      assert.equal(exitCodeOf(err), 1);
      assert.match((err as Error).message, new RegExp(`busy: process ${pid} has been training it since 2026-01-01`));
      assert.equal(readRunLock(dir)!.pid, pid, 'the live lock is untouched');
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('close', r));
    }
    const lock = acquireRunLock(dir); // the holder is dead now
    assert.equal(readRunLock(dir)!.pid, process.pid);
    lock.release();
  });

  it('takes over a lock whose pid was reused by another process (its start time differs)', { skip: process.platform !== 'linux' }, () => {
    const dir = tmp();
    // Our own parent is alive, but it is not the process that wrote this lock (another start time).
    fs.writeFileSync(runPaths(dir).lock, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: 'x', procStart: '1' }));
    const lock = acquireRunLock(dir);
    assert.equal(readRunLock(dir)!.pid, process.pid);
    lock.release();
  });

  it('a torn lock: busy while it may be being written, taken over when old', () => {
    const dir = tmp();
    fs.writeFileSync(runPaths(dir).lock, '');
    assert.throws(() => acquireRunLock(dir), RunBusyError);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(runPaths(dir).lock, old, old);
    acquireRunLock(dir).release();
  });

  it('a lock of another host counts as live (it cannot be checked) and says how to clear it', () => {
    const dir = tmp();
    fs.writeFileSync(runPaths(dir).lock, JSON.stringify({ pid: deadPid(), hostname: 'elsewhere', startedAt: 'x', procStart: null }));
    assert.throws(() => acquireRunLock(dir), /on elsewhere .*delete .*run\.lock/);
  });

  it('cleans the temp folders and files that killed writers left', () => {
    const dir = tmp();
    const dead = deadPid();
    const p = runPaths(dir);
    fs.mkdirSync(path.join(p.checkpoints, `.last.tmp-${dead}-1733500000000`), { recursive: true });
    fs.writeFileSync(path.join(p.checkpoints, `.last.tmp-${dead}-1733500000000`, 'weights.bin'), 'x');
    fs.mkdirSync(path.join(p.checkpoints, `.best.tmp-${process.ppid}-1`)); // a checkpoint temp: stale whoever made it (we hold the lock)
    fs.writeFileSync(path.join(dir, `.run.json.${dead}.0123456789ab.tmp`), '{');
    fs.writeFileSync(path.join(dir, `.run.json.${process.ppid}.0123456789ab.tmp`), '{'); // a live writer's: kept
    fs.writeFileSync(path.join(dir, 'notes.tmp'), 'mine'); // not a temp name of ours: kept
    const lock = acquireRunLock(dir);
    assert.deepEqual(fs.readdirSync(p.checkpoints), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), [`.run.json.${process.ppid}.0123456789ab.tmp`, 'checkpoints', 'notes.tmp', 'run.lock'].sort());
    lock.release();
  });
});

describe('atomic writes remove stale temps of the same file', () => {
  it('on the next write of that path, only dead writers\' temps', async () => {
    const dir = tmp();
    const dead = deadPid();
    const target = path.join(dir, 'x.parquet');
    fs.writeFileSync(path.join(dir, `.x.parquet.${dead}.a1b2c3d4e5f6.tmp`), 'partial');
    fs.writeFileSync(path.join(dir, `.x.parquet.${process.ppid}.a1b2c3d4e5f6.tmp`), 'live writer');
    fs.writeFileSync(path.join(dir, `.y.parquet.${dead}.a1b2c3d4e5f6.tmp`), 'another file\'s');
    await writeFileAtomic(target, 'table');
    assert.deepEqual(fs.readdirSync(dir).sort(), [`.x.parquet.${process.ppid}.a1b2c3d4e5f6.tmp`, `.y.parquet.${dead}.a1b2c3d4e5f6.tmp`, 'x.parquet'].sort());
    assert.equal(removeStaleTemps(path.join(dir, 'y.parquet')), 1);
  });
});

describe('crashed runs', () => {
  it('run.json says running with a dead pid: failed (crashed); with a live pid: running', () => {
    const dir = tmp();
    assert.equal(effectiveStatus(info({ pid: deadPid() }), dir), 'failed');
    assert.equal(isCrashed(info({ pid: deadPid() }), dir), true);
    assert.equal(effectiveStatus(info({ pid: process.pid }), dir), 'running');
    assert.equal(isCrashed(info({ status: 'stopped', pid: null }), dir), false);
  });

  it('the lock tells a reused pid from the writer', { skip: process.platform !== 'linux' }, () => {
    const dir = tmp();
    fs.writeFileSync(runPaths(dir).lock, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: 'x', procStart: '1' }));
    assert.equal(effectiveStatus(info({ pid: process.ppid }), dir), 'failed');
    assert.equal(effectiveStatus(info({ pid: process.ppid })), 'running', 'without the folder only the pid can be checked');
  });

  it('markRunCrashed records the last checkpoint\'s step, and leaves a run another live process holds alone', async () => {
    const dir = tmp();
    await writeRunInfo(dir, info({ pid: deadPid(), step: 0 }));
    fs.mkdirSync(runPaths(dir).last, { recursive: true });
    fs.writeFileSync(path.join(runPaths(dir).last, 'state.json'), JSON.stringify({ epoch: 1, stepInEpoch: 3, globalStep: 7, bestMapAtR: null, backend: 'wasm' }));
    // A live other holder (our parent, with its real start time): not ours to mark.
    fs.writeFileSync(runPaths(dir).lock, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: 'x', procStart: process.platform === 'linux' ? procStart(process.ppid) : null }));
    assert.equal(await markRunCrashed(dir, 'killed'), false);
    assert.equal(readRunInfo(dir)!.status, 'running');
    fs.rmSync(runPaths(dir).lock);
    assert.equal(await markRunCrashed(dir, 'the training worker was killed by SIGKILL; out of memory?'), true);
    const after = readRunInfo(dir)!;
    assert.deepEqual([after.status, after.step, after.epoch, after.pid, after.error], ['failed', 7, 1, null, 'the training worker was killed by SIGKILL; out of memory?']);
    assert.equal(await markRunCrashed(dir, 'again'), false, 'a finished run.json is left alone');
  });
});

describe('paths relative to the run folder', () => {
  it('toRunRelative / fromRunRelative', () => {
    const run = path.resolve('/w/runs/a-1');
    assert.equal(toRunRelative(run, path.resolve('/w/data/train')), '../../data/train');
    assert.equal(toRunRelative(run, run), '.');
    assert.equal(toRunRelative(run, path.join(run, 'checkpoints', 'last')), 'checkpoints/last');
    assert.equal(toRunRelative(run, 'already/relative'), 'already/relative');
    assert.equal(fromRunRelative(run, '../../data/train'), path.resolve('/w/data/train'));
    assert.equal(fromRunRelative(run, path.resolve('/abs/data')), path.resolve('/abs/data'), 'absolute paths (older runs) read as they are');
  });

  it('config.json, run.json and events.jsonl store relative paths and read back absolute ones, also after a move', async () => {
    const root = tmp();
    const run = path.join(root, 'runs', 'a-1');
    fs.mkdirSync(run, { recursive: true });
    const data = path.join(root, 'data');
    const config = { name: 'a', data: { train: path.join(data, 'train'), validation: path.join(data, 'val') } } as unknown as ExperimentConfig;
    await writeConfigSnapshot(run, config);
    await writeRunInfo(run, info({ configFile: path.join(root, 'a.embedding.json') }));
    appendEvent(run, { type: 'checkpoint', time: 't', runId: 'a-1', epoch: 1, step: 3, path: path.join(run, 'checkpoints', 'last'), kind: 'last' });
    appendEvent(run, { type: 'warning', time: 't', runId: 'a-1', code: 'skipped-images', message: 'm', paths: [path.join(data, 'train', 'x', 'bad.png')] });
    const raw = fs.readFileSync(runPaths(run).config, 'utf8') + fs.readFileSync(runPaths(run).run, 'utf8') + fs.readFileSync(runPaths(run).events, 'utf8');
    assert.equal(raw.includes(root), false, `no absolute path is stored:\n${raw}`);
    assert.equal(JSON.parse(fs.readFileSync(runPaths(run).config, 'utf8')).data.train, '../../data/train');

    // Move the whole tree; every path read back points into the new place.
    const moved = tmp();
    fs.rmSync(moved, { recursive: true });
    fs.renameSync(root, moved);
    const run2 = path.join(moved, 'runs', 'a-1');
    assert.equal(readConfigSnapshot(run2).data.train, path.join(moved, 'data', 'train'));
    assert.equal(readConfigSnapshot(run2).data.validation, path.join(moved, 'data', 'val'));
    assert.equal(readRunInfo(run2)!.configFile, path.join(moved, 'a.embedding.json'));
    const [ck, warn] = readEvents(run2);
    assert.equal(ck.type === 'checkpoint' && ck.path, path.join(run2, 'checkpoints', 'last'));
    assert.deepEqual(warn.type === 'warning' && warn.paths, [path.join(moved, 'data', 'train', 'x', 'bad.png')]);
  });

  it('reads today\'s absolute paths as they are', () => {
    const run = tmp();
    fs.writeFileSync(runPaths(run).config, JSON.stringify({ name: 'a', data: { train: '/abs/train' } }));
    fs.writeFileSync(runPaths(run).run, JSON.stringify(info({ configFile: '/abs/a.embedding.json' })));
    fs.writeFileSync(runPaths(run).events, JSON.stringify({ type: 'started', time: 't', runId: 'a', runDir: '/abs/runs/a', train: { root: '/abs/train' } }) + '\n');
    assert.equal(readConfigSnapshot(run).data.train, '/abs/train');
    assert.equal(readRunInfo(run)!.configFile, '/abs/a.embedding.json');
    const [started] = readEvents(run);
    assert.ok(started.type === 'started');
    assert.equal(started.runDir, '/abs/runs/a');
    assert.equal(started.train.root, '/abs/train');
  });
});
