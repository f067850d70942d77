// The training supervisor without VS Code: event lines across chunk boundaries, exit classification, and stopping
// real child processes (one that exits on SIGTERM, one that ignores it and has a child of its own).
import { spawn } from 'node:child_process';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runProcess } from '../../src/extension/cli-runner';
import { classifyExit, EventLineReader, fixRunJson, isAlive, stopPid, Supervisor, WorkerProcess } from '../../src/extension/supervisor';
import type { WorkerEvent } from '../../src/protocol/events';

const posix = process.platform !== 'win32';

describe('EventLineReader', () => {
  const collect = () => {
    const evs: WorkerEvent[] = [];
    const r = new EventLineReader((e) => evs.push(e));
    return { evs, r };
  };

  it('joins a line split across chunks, at every split point', () => {
    const line = JSON.stringify({ type: 'step', time: 't', runId: 'r', epoch: 0, step: 3, loss: 0.5, posDist: 0.1, negDist: 0.9, imagesPerSec: 100, learningRate: 0.001 }) + '\n';
    for (let cut = 1; cut < line.length; cut++) {
      const { evs, r } = collect();
      r.push(Buffer.from(line.slice(0, cut)));
      r.push(Buffer.from(line.slice(cut)));
      assert.equal(evs.length, 1, `cut at ${cut}`);
      assert.equal(evs[0].type, 'step');
    }
  });

  it('reassembles a multi-byte UTF-8 character split between chunks', () => {
    const { evs, r } = collect();
    const bytes = Buffer.from(JSON.stringify({ type: 'warning', time: 't', runId: 'r', code: 'other', message: 'Bildgröße ✓ 画像' }) + '\n', 'utf8');
    const at = bytes.indexOf(0xc3) + 1; // inside "ö"
    r.push(bytes.subarray(0, at));
    r.push(bytes.subarray(at, at + 3));
    r.push(bytes.subarray(at + 3));
    assert.equal(evs.length, 1);
    assert.equal((evs[0] as { message: string }).message, 'Bildgröße ✓ 画像');
  });

  it('skips garbage and blank lines, counts the garbage, and keeps going', () => {
    const { evs, r } = collect();
    r.push('2024-01-01 I tensorflow banner\n\n{"type":"started","runDir":"/x","time":"t","runId":"r"}\n{not json\n');
    r.push('[1,2,3]\n{"no":"type"}\n   \n{"type":"done","status":"done","time":"t","runId":"r"}\r\n');
    assert.deepEqual(evs.map((e) => e.type), ['started', 'done']);
    assert.equal(r.garbage, 4);
    assert.equal(r.events, 2);
  });

  it('parses a last line without a newline at end()', () => {
    const { evs, r } = collect();
    r.push('{"type":"epoch","epoch":0,"time":"t","runId":"r"}\n{"type":"done","sta');
    assert.equal(evs.length, 1);
    r.push('tus":"stopped","time":"t","runId":"r"}');
    r.end();
    assert.deepEqual(evs.map((e) => e.type), ['epoch', 'done']);
  });

  it('drops an overlong unterminated line instead of buffering it', () => {
    const evs: WorkerEvent[] = [];
    const r = new EventLineReader((e) => evs.push(e), 100);
    r.push('x'.repeat(150));
    r.push('y'.repeat(50) + '\n{"type":"done","status":"done","time":"t","runId":"r"}\n');
    assert.deepEqual(evs.map((e) => e.type), ['done']);
    assert.equal(r.garbage, 1);
  });
});

describe('classifyExit', () => {
  it('exit 0 with a done event is done; with done(stopped) is stopped', () => {
    assert.deepEqual(classifyExit({ exitCode: 0, signal: null, stopRequested: false, done: { status: 'done' } }), { status: 'done', crashed: false });
    assert.deepEqual(classifyExit({ exitCode: 0, signal: null, stopRequested: true, done: { status: 'stopped' } }), { status: 'stopped', crashed: false });
  });
  it('exit 0 without a done event follows whether a stop was asked for', () => {
    assert.equal(classifyExit({ exitCode: 0, signal: null, stopRequested: true }).status, 'stopped');
    assert.equal(classifyExit({ exitCode: 0, signal: null, stopRequested: false }).status, 'done');
  });
  it('a non-zero exit is a crash, with the meaning of the code', () => {
    const c = classifyExit({ exitCode: 2, signal: null, stopRequested: false });
    assert.equal(c.status, 'failed');
    assert.equal(c.crashed, true);
    assert.match(c.message ?? '', /code 2 \(bad usage, config or data\)/);
    assert.match(classifyExit({ exitCode: 1, signal: null, stopRequested: false }).message ?? '', /code 1/);
  });
  it('an error event is a crash even with exit 0, and names the error', () => {
    const c = classifyExit({ exitCode: 0, signal: null, stopRequested: false, error: { code: 'nan-loss', message: 'loss became NaN at step 7\nstack…' } });
    assert.equal(c.status, 'failed');
    assert.equal(c.message, 'nan-loss: loss became NaN at step 7');
  });
  it('killed by a signal: stopped when we asked (forced says so), failed otherwise', () => {
    const forced = classifyExit({ exitCode: null, signal: 'SIGKILL', stopRequested: true, forced: true });
    assert.equal(forced.status, 'stopped');
    assert.equal(forced.crashed, false);
    assert.match(forced.message ?? '', /killed \(SIGKILL\) after the stop timeout/);
    const oom = classifyExit({ exitCode: null, signal: 'SIGKILL', stopRequested: false });
    assert.equal(oom.status, 'failed');
    assert.equal(oom.crashed, true);
  });
  it('a spawn failure is a crash that points at the node path', () => {
    const c = classifyExit({ exitCode: null, signal: null, stopRequested: false, spawnError: 'spawn /nope ENOENT' });
    assert.equal(c.status, 'failed');
    assert.match(c.message ?? '', /cannot start the worker: spawn \/nope ENOENT/);
  });
});

describe('WorkerProcess with real child processes', () => {
  let dir: string;
  let runDir: string;
  const script = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };
  // Emits `started` on fd 3 in two chunks (a partial line first), then behaves as `rest` says.
  const prelude = (rd: string) => `
const fs = require('node:fs');
const ev = (o) => fs.writeSync(3, JSON.stringify({ time: new Date().toISOString(), runId: 'r', ...o }) + '\\n');
const line = JSON.stringify({ type: 'started', runDir: ${JSON.stringify(rd)}, time: 't', runId: 'r', epochs: 2, stepsPerEpoch: 3 }) + '\\n';
fs.writeSync(3, line.slice(0, 20));
setTimeout(() => { fs.writeSync(3, line.slice(20)); fs.writeSync(3, 'garbage line\\n'); ev({ type: 'step', epoch: 0, step: 0, loss: 1, imagesPerSec: 10 }); }, 30);
process.stdout.write('hello from stdout\\n');
`;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-sup-'));
    runDir = path.join(dir, 'runs', 'exp-1');
    fs.mkdirSync(runDir, { recursive: true });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('one that exits on SIGTERM: stop resolves with exit 0 and status stopped, not forced', async () => {
    const file = script('graceful.js', prelude(runDir) + `
process.on('SIGTERM', () => { ev({ type: 'checkpoint', kind: 'last', epoch: 0, step: 1, path: 'x' }); ev({ type: 'done', status: 'stopped', epoch: 0, step: 1, bestMapAtR: null, seconds: 1 }); process.exit(0); });
setInterval(() => {}, 1000);
`);
    const events: string[] = [];
    const logs: string[] = [];
    const w = new WorkerProcess({ node: process.execPath, workerJs: file, args: [], fixRunJson: false }, {
      onEvent: (e) => events.push(e.type), onLog: (_s, t) => logs.push(t),
    });
    const started = await w.started;
    assert.equal(started.runDir, runDir);
    assert.equal(w.runDir, runDir);
    await new Promise((r) => setTimeout(r, 100)); // let the step event arrive
    const t0 = Date.now();
    const info = await w.stop(5000);
    assert.ok(Date.now() - t0 < 4000, 'graceful stop should not wait for the timeout');
    assert.equal(info.exitCode, 0);
    assert.equal(info.status, 'stopped');
    assert.equal(info.forced, false);
    assert.equal(info.crashed, false);
    assert.deepEqual(events, ['started', 'step', 'checkpoint', 'done']);
    assert.match(logs.join(''), /hello from stdout/);
    assert.equal(w.running, false);
  });

  it('one that ignores SIGTERM: killed with its child after the timeout; run.json says stopped', { skip: !posix && 'process groups are POSIX' }, async () => {
    fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify({ runId: 'exp-1', name: 'exp', status: 'running', backend: 'wasm', lossType: 'triplet', configFile: null, startedAt: 't', updatedAt: 't', endedAt: null, epoch: 0, epochs: 2, step: 1, bestMapAtR: null, lastMapAtR: null, pid: 1, error: null }));
    const pidFile = path.join(dir, 'grandchild.pid');
    const file = script('stubborn.js', prelude(runDir) + `
const { spawn } = require('node:child_process');
const g = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
fs.writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
process.on('SIGTERM', () => { process.stderr.write('ignoring SIGTERM\\n'); });
setInterval(() => {}, 1000);
`);
    const w = new WorkerProcess({ node: process.execPath, workerJs: file, args: [] });
    await w.started;
    for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(isAlive(grandchild));
    const t0 = Date.now();
    const info = await w.stop(400);
    const waited = Date.now() - t0;
    assert.ok(waited >= 350, `killed too early (${waited} ms)`);
    assert.equal(info.forced, true);
    assert.equal(info.exitCode, null);
    assert.equal(info.signal, 'SIGKILL');
    assert.equal(info.status, 'stopped');
    assert.equal(info.crashed, false);
    for (let i = 0; i < 50 && isAlive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isAlive(grandchild), false, 'the process tree (group) is killed, not only the worker');
    const runJson = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    assert.equal(runJson.status, 'stopped');
    assert.equal(runJson.pid, null);
  });

  it('a crash (error event, exit 1) is classified failed and rejects started when before it', async () => {
    const file = script('crash.js', `
const fs = require('node:fs');
fs.writeSync(3, JSON.stringify({ type: 'error', code: 'bad-config', message: 'loss.margin: must be <= 2', time: 't', runId: '' }) + '\\n');
process.stderr.write('embedlab: loss.margin: must be <= 2\\n');
process.exit(2);
`);
    let exit: unknown;
    const w = new WorkerProcess({ node: process.execPath, workerJs: file, args: [] }, { onExit: (i) => { exit = i; } });
    await assert.rejects(w.started, /bad-config: loss.margin: must be <= 2/);
    const info = await w.exited;
    assert.equal(info.exitCode, 2);
    assert.equal(info.status, 'failed');
    assert.equal(info.crashed, true);
    assert.equal(exit, info);
    assert.match(w.stderr, /must be <= 2/);
  });

  it('a node path that does not exist fails cleanly', async () => {
    const w = new WorkerProcess({ node: path.join(dir, 'no-such-node'), workerJs: 'x.js', args: [] });
    await assert.rejects(w.started, /cannot start the worker/);
    const info = await w.exited;
    assert.equal(info.status, 'failed');
  });

  it('Supervisor.stopAll stops every worker within its bound', { skip: !posix && 'process groups are POSIX' }, async () => {
    const file = script('stubborn2.js', prelude(path.join(dir, 'runs', 'exp-2')) + `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);\n`);
    const exits: string[] = [];
    const sup = new Supervisor({ onExit: (i) => exits.push(i.status) });
    const a = sup.start({ node: process.execPath, workerJs: file, args: [], key: '/cfg/a.embedding.json', fixRunJson: false });
    const b = sup.start({ node: process.execPath, workerJs: file, args: [], key: '/cfg/a.embedding.json', fixRunJson: false });
    await Promise.all([a.started, b.started]);
    assert.equal(sup.running().length, 2);
    assert.equal(sup.byKey('/cfg/a.embedding.json').length, 2);
    const t0 = Date.now();
    await sup.stopAll(10_000, 500);
    await Promise.all([a.exited, b.exited]);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(sup.running().length, 0);
    assert.deepEqual(exits, ['stopped', 'stopped']);
  });

  it('stopPid stops a process this session did not spawn (after a reload), killing it after the timeout', { skip: !posix && 'POSIX signals' }, async () => {
    const ready = path.join(dir, 'foreign.ready');
    const file = script('foreign.js', `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(ready)}, 'x'); setInterval(() => {}, 1000);\n`);
    const p = spawn(process.execPath, [file], { stdio: 'ignore', detached: true });
    for (let i = 0; i < 250 && !fs.existsSync(ready); i++) await new Promise((r) => setTimeout(r, 20));
    const r = await stopPid(p.pid!, 300, undefined, 50);
    assert.equal(r.forced, true);
    assert.equal(isAlive(p.pid!), false);
    const polite = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true });
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(await stopPid(polite.pid!, 5000, undefined, 50), { forced: false });
  });

  it('fixRunJson leaves a finished run.json alone', async () => {
    const d = path.join(dir, 'runs', 'done-1');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'run.json'), JSON.stringify({ status: 'done', pid: null }));
    assert.equal(await fixRunJson(d, 'failed'), false);
    assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'run.json'), 'utf8')).status, 'done');
  });
});

describe('runProcess (the CLI runner)', () => {
  it('parses JSON lines from stdout and logs the rest', async () => {
    const lines: unknown[] = [];
    const r = await runProcess({
      command: process.execPath,
      args: ['-e', 'console.log(JSON.stringify({type:"progress",done:1,total:2})); console.log("plain"); process.stdout.write(JSON.stringify({type:"embedded",rows:2}))'],
      onJson: (o) => lines.push(o),
    });
    assert.equal(r.code, 0);
    assert.deepEqual(r.json.map((o) => o.type), ['progress', 'embedded']);
    assert.equal(lines.length, 2);
    assert.match(r.stdout, /plain/);
  });

  it('cancels through an AbortSignal: SIGTERM, then a kill', { skip: !posix && 'POSIX signals' }, async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const r = await runProcess({
      command: process.execPath, args: ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'],
      signal: ac.signal, killAfterMs: 200, onLog: (_s, t) => { if (/ready/.test(t)) ac.abort(); },
    });
    assert.equal(r.cancelled, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(Date.now() - t0 < 3000);
  });
});
