// The extension's pure decisions, without VS Code: command enablement (trust, running runs, the concurrency
// limit), Runs view items from run.json, worker command lines and paths, default tables, and the environment
// guidance for a missing driver, CUDA runtime or cuDNN.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunInfo } from '../../src/core/run-folder';
import {
  environmentGuidance,
  environmentMarkdown,
  environmentParts,
  environmentVerdict,
  findCudaLibraries,
  shippedFix,
  parseLdconfig,
  type BackendProbe,
  type CudaLibrary,
} from '../../src/extension/environment';
import { backendPackage, installFailureMessage, npmInstallArgs } from '../../src/extension/install';
import {
  canStartRun,
  chooseNode,
  chooseTableForImage,
  commandEnablement,
  configProblems,
  defaultTableOut,
  evalMarkdown,
  formatAge,
  isOptionsObject,
  isProgrammaticCall,
  jsonPathRange,
  knnQueryFor,
  menuSelection,
  needsTrust,
  runDirOfModel,
  runItemView,
  formatThreshold,
  runsDirFor,
  runSummaryMarkdown,
  statusBarText,
  withoutQuery,
  workerArgs,
} from '../../src/extension/logic';

describe('command enablement', () => {
  const engine = { process: 'cli', doing: 'Embedding a folder' } as const;

  it('untrusted: a command that declares a process is disabled with an explanation; others are not', () => {
    for (const needs of [engine, { process: 'worker' } as const, { process: 'npm', doing: 'Installing' } as const]) {
      const e = commandEnablement('embeddingLab.x', needs, { trusted: false, running: [] });
      assert.equal(e.enabled, false);
      assert.match(e.reason ?? '', /Restricted Mode/);
      assert.match(e.reason ?? '', /Trust the workspace/);
      assert.equal(needsTrust(needs), true);
    }
    assert.match(commandEnablement('embeddingLab.x', engine, { trusted: false, running: [] }).reason ?? '', /^Embedding a folder is disabled/);
    for (const needs of [{}, undefined]) {
      assert.equal(commandEnablement('embeddingLab.openDashboard', needs, { trusted: false, running: [] }).enabled, true);
      assert.equal(needsTrust(needs), false);
    }
  });

  it('trusted: everything is enabled; Stop needs a running run', () => {
    assert.equal(commandEnablement('embeddingLab.embedFolder', engine, { trusted: true, running: [] }).enabled, true);
    const stop = commandEnablement('embeddingLab.stopTraining', {}, { trusted: true, running: [] });
    assert.equal(stop.enabled, false);
    assert.match(stop.reason ?? '', /No training run/);
    assert.equal(commandEnablement('embeddingLab.stopTraining', {}, { trusted: true, running: ['/r/a'] }).enabled, true);
    assert.equal(commandEnablement('embeddingLab.stopTraining', {}, { trusted: true, running: [], hasTarget: true }).enabled, true, 'a run folder given: the command itself checks it');
  });

  it('the concurrency limit refuses with a reason that names the setting', () => {
    assert.equal(canStartRun(0, 1).enabled, true);
    const no = canStartRun(1, 1);
    assert.equal(no.enabled, false);
    assert.match(no.reason ?? '', /1 training run is already running and embeddingLab\.maxConcurrentRuns is 1/);
    assert.equal(canStartRun(1, 2).enabled, true);
    assert.match(canStartRun(3, 2).reason ?? '', /3 training runs are already running/);
    assert.equal(canStartRun(0, 0).enabled, true, 'a nonsense limit falls back to 1');
  });

  it('options objects and strings are programmatic calls; menu arguments are not', () => {
    assert.equal(isProgrammaticCall([{ force: true }]), true);
    assert.equal(isProgrammaticCall(['/runs/a']), true);
    assert.equal(isProgrammaticCall([]), false);
    class FakeUri { fsPath = '/x'; }
    assert.equal(isProgrammaticCall([new FakeUri(), [new FakeUri()]]), false);
    // Editor-title menus pass (uri, { groupId, editorIndex }): a plain object, but not our options.
    assert.equal(isProgrammaticCall([new FakeUri(), { groupId: 1, editorIndex: 0 }]), false);
  });

  it('the Explorer\'s (uri, selectedUris[]) is no options object (the defect: an array was taken for options)', () => {
    class FakeUri { fsPath = '/x'; }
    assert.equal(isOptionsObject([new FakeUri()]), false);
    assert.equal(isOptionsObject(new FakeUri()), false);
    assert.equal(isOptionsObject({ groupId: 2 }), false);
    assert.equal(isOptionsObject({ model: '/m', notify: true }), true);
    assert.equal(isOptionsObject(Object.create(null)), true);
    assert.equal(isOptionsObject(null), false);
  });

  it('menu selection: every selected item with the clicked one first; a click outside the selection acts on it alone', () => {
    assert.deepEqual(menuSelection('/w/b', ['/w/a', '/w/b', '/w/c']), ['/w/b', '/w/a', '/w/c']);
    assert.deepEqual(menuSelection('/w/d', ['/w/a', '/w/b']), ['/w/d']);
    assert.deepEqual(menuSelection('/w/a', ['/w/a']), ['/w/a']);
    assert.deepEqual(menuSelection('/w/a', undefined), ['/w/a']);
    assert.deepEqual(menuSelection(undefined, ['/w/a', '/w/a']), ['/w/a']);
    assert.deepEqual(menuSelection(undefined, undefined), []);
  });

  it('kNN hits without the query: its own row dropped, k kept, ranks from 1', () => {
    const hits = [
      { rank: 1, path: 'cat/a.png', label: 'cat', distance: 0 },
      { rank: 2, path: 'cat/b.png', label: 'cat', distance: 0.1 },
      { rank: 3, path: 'dog/c.png', label: 'dog', distance: 0.5 },
      { rank: 4, path: 'dog/d.png', label: 'dog', distance: 0.7 },
    ];
    assert.deepEqual(withoutQuery(hits, 'cat/a.png', 2), [
      { rank: 1, path: 'cat/b.png', label: 'cat', distance: 0.1 },
      { rank: 2, path: 'dog/c.png', label: 'dog', distance: 0.5 },
    ]);
    assert.deepEqual(withoutQuery(hits, undefined, 2).map((h) => h.path), ['cat/a.png', 'cat/b.png'], 'an image outside the table: nothing to drop');
    assert.deepEqual(withoutQuery(hits, 'elsewhere.png', 10).map((h) => h.rank), [1, 2, 3, 4]);
  });
});

const info = (over: Partial<RunInfo> = {}): RunInfo => ({
  runId: 'shoes-20250101-120000', name: 'shoes', status: 'done', backend: 'wasm', lossType: 'triplet', configFile: '/w/shoes.embedding.json',
  startedAt: '2025-01-01T12:00:00.000Z', updatedAt: '2025-01-01T12:30:00.000Z', endedAt: '2025-01-01T12:30:00.000Z',
  epoch: 10, epochs: 10, step: 640, bestMapAtR: 0.81234, lastMapAtR: 0.8, pid: null, error: null, ...over,
});

describe('Runs view items', () => {
  const now = Date.parse('2025-01-01T12:35:00.000Z');

  it('a finished run: status, backend, best MAP@R and age; contextValue run-done', () => {
    const v = runItemView('/w/runs/shoes-20250101-120000', info(), 'done', now);
    assert.equal(v.label, 'shoes-20250101-120000');
    assert.equal(v.description, 'done · wasm · MAP@R 0.812 · 5 min ago');
    assert.equal(v.contextValue, 'run-done');
    assert.equal(v.icon, 'pass');
    assert.match(v.tooltip, /best MAP@R: 0\.812, last MAP@R: 0\.800/);
  });

  it('a saved threshold is in the description and the tooltip; none saved says how to make one', () => {
    const t = { file: '/w/runs/r/model/threshold.json', threshold: 0.412349, distance: 'euclidean', f1: 0.9123 };
    const v = runItemView('/w/runs/r', info(), 'done', now, t);
    assert.equal(v.description, 'done · wasm · MAP@R 0.812 · threshold 0.4123 · 5 min ago');
    assert.match(v.tooltip, /^threshold: 0\.4123 \(euclidean, F1 0\.912\) from \/w\/runs\/r\/model\/threshold\.json$/m);
    assert.match(runItemView('/w/runs/r', info(), 'done', now).tooltip, /^threshold: none saved .*--save-threshold/m);
    const bad = runItemView('/w/runs/r', info(), 'done', now, { file: '/w/runs/r', error: 'threshold.json is not JSON' });
    assert.equal(bad.description, 'done · wasm · MAP@R 0.812 · 5 min ago');
    assert.match(bad.tooltip, /^threshold: threshold\.json is not JSON$/m);
    assert.equal(formatThreshold(12.3456), '12.35');
  });

  it('a running run shows its current epoch and its age since start', () => {
    const v = runItemView('/w/runs/r', info({ status: 'running', epoch: 2, bestMapAtR: null, endedAt: null, backend: 'tensorflow-gpu' }), 'running', now);
    assert.equal(v.description, 'running · epoch 3/10 · tensorflow-gpu · 35 min ago');
    assert.equal(v.contextValue, 'run-running');
    assert.equal(v.icon, 'sync~spin');
  });

  it('a run whose process died is shown failed, and the tooltip says why', () => {
    const v = runItemView('/w/runs/r', info({ status: 'running', epoch: 4, endedAt: null, error: null }), 'failed', now);
    assert.equal(v.contextValue, 'run-failed');
    assert.match(v.description, /^failed · 4\/10 epochs · wasm/);
    assert.match(v.tooltip, /run\.json says running; its process is gone/);
  });

  it('stopped and failed runs; a backend not chosen yet', () => {
    assert.equal(runItemView('/r', info({ status: 'stopped', epoch: 3 }), 'stopped', now).contextValue, 'run-stopped');
    const failed = runItemView('/r', info({ status: 'failed', backend: null, bestMapAtR: null, error: 'nan-loss at step 7' }), 'failed', now);
    assert.equal(failed.description, 'failed · 10/10 epochs · 5 min ago');
    assert.match(failed.tooltip, /error: nan-loss at step 7/);
  });

  it('ages', () => {
    assert.equal(formatAge(10_000), 'just now');
    assert.equal(formatAge(5 * 60_000), '5 min ago');
    assert.equal(formatAge(3 * 3600_000), '3 h ago');
    assert.equal(formatAge(3 * 86400_000), '3 d ago');
  });

  it('status bar text', () => {
    assert.equal(statusBarText('shoes-1', { epoch: 2, loss: 0.123456, imagesPerSec: 411.6 }, 10), '$(sync~spin) shoes-1: epoch 3/10 · loss 0.1235 · 412 img/s');
    assert.equal(statusBarText('shoes-1', undefined, undefined, 1), '$(sync~spin) shoes-1: starting… (+1)');
  });
});

describe('worker command lines and paths', () => {
  it('node: the setting, else VS Code as node', () => {
    assert.deepEqual(chooseNode('', '/opt/code/code'), { command: '/opt/code/code', env: { ELECTRON_RUN_AS_NODE: '1' } });
    assert.deepEqual(chooseNode(' /usr/bin/node ', '/opt/code/code'), { command: '/usr/bin/node', env: {} });
  });

  it('worker arguments: config + runs folder, backend only when not auto, the backend path always', () => {
    assert.deepEqual(workerArgs({ config: '/w/a.embedding.json', runsDir: '/w/runs', backend: 'auto', backendPaths: ['/gs/backends'] }),
      ['--config', '/w/a.embedding.json', '--out', '/w/runs', '--backend-path', '/gs/backends']);
    assert.deepEqual(workerArgs({ resume: '/w/runs/a-1', backend: 'wasm', backendPaths: ['/gs/backends'] }),
      ['--resume', '/w/runs/a-1', '--backend', 'wasm', '--backend-path', '/gs/backends']);
    assert.throws(() => workerArgs({}));
  });

  it('runs folder: relative to the config, or absolute', () => {
    assert.equal(runsDirFor('/w/exp/a.embedding.json', 'runs'), path.resolve('/w/exp/runs'));
    assert.equal(runsDirFor('/w/exp/a.embedding.json', ''), path.resolve('/w/exp/runs'));
    assert.equal(runsDirFor('/w/exp/a.embedding.json', '../out'), path.resolve('/w/out'));
    assert.equal(runsDirFor('/w/exp/a.embedding.json', '/data/runs'), '/data/runs');
  });
});

describe('tables', () => {
  let dir: string;
  let run: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-logic-'));
    run = path.join(dir, 'runs', 'exp-1');
    fs.mkdirSync(path.join(run, 'tables'), { recursive: true });
    fs.mkdirSync(path.join(run, 'model', 'branch'), { recursive: true });
    fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify(info()));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('Embed Folder writes into <runDir>/tables/<folder>.parquet, also for <run>/model/branch', () => {
    assert.equal(defaultTableOut(run, '/data/shoes/'), path.join(run, 'tables', 'shoes.parquet'));
    assert.equal(defaultTableOut(path.join(run, 'model', 'branch'), '/data/shoes'), path.join(run, 'tables', 'shoes.parquet'));
    assert.equal(runDirOfModel(path.join(run, 'model', 'branch')), run);
    assert.equal(defaultTableOut(path.join(dir, 'foreign-model'), '/data/my shoes'), path.join(dir, 'foreign-model', 'tables', 'my-shoes.parquet'));
  });

  it('Find Similar picks the table whose folder holds the image, and queries it by its path in the table', async () => {
    const images = path.join(dir, 'images');
    const other = path.join(run, 'tables', 'other.parquet');
    const mine = path.join(run, 'tables', 'images.parquet');
    fs.writeFileSync(mine, 'x');
    fs.writeFileSync(`${mine}.meta.json`, JSON.stringify({ folder: images, model: run }));
    await new Promise((r) => setTimeout(r, 20));
    fs.writeFileSync(other, 'x'); // newer, but of another folder
    fs.writeFileSync(`${other}.meta.json`, JSON.stringify({ folder: path.join(dir, 'elsewhere') }));
    const img = path.join(images, 'cat', 'a 1.png');
    assert.equal(chooseTableForImage(img, [run]), mine);
    assert.equal(chooseTableForImage(path.join(dir, 'x.png'), [run]), other, 'else the newest table');
    assert.equal(chooseTableForImage(img, []), undefined);
    assert.equal(knnQueryFor(img, { folder: images }), 'cat/a 1.png');
    assert.equal(knnQueryFor('/abs/q.png', { folder: images }), path.resolve('/abs/q.png'));
    assert.equal(knnQueryFor('/abs/q.png', undefined), path.resolve('/abs/q.png'));
  });
});

describe('reports', () => {
  it('run summary: status, epochs table, events', () => {
    const md = runSummaryMarkdown('/w/runs/exp-1', info(), 'done', [
      { type: 'started', time: 't', runId: 'r', protocolVersion: 1, runDir: '/w/runs/exp-1', backend: 'wasm', backendDetail: 'SIMD', parameters: 12345, lossType: 'triplet', epochs: 2, stepsPerEpoch: 4, batchSize: 32, train: { root: '/d', classes: 3, images: 90, skipped: 0, ignored: 0, classesWithPositives: 3 } },
      { type: 'epoch', time: 't', runId: 'r', epoch: 0, step: 4, trainLoss: 0.5, seconds: 2, best: true, validation: { precisionAt1: 0.9, mapAtR: 0.7, rPrecision: 0.75, count: 30 } },
      { type: 'warning', time: 't', runId: 'r', code: 'skipped-images', message: '1 unreadable image' },
      { type: 'done', time: 't', runId: 'r', status: 'done', epoch: 2, step: 8, bestMapAtR: 0.7, seconds: 4 },
    ]);
    assert.match(md, /\| status \| \*\*done\*\* \|/);
    assert.match(md, /\| 1 \| 0\.5000 \| 0\.9000 \| 0\.7000 \| 0\.7500 \| 2\.0 \| ★ \|/);
    assert.match(md, /90 images in 3 classes/);
    assert.match(md, /skipped-images: 1 unreadable image/);
    assert.match(md, /events\.jsonl/);
  });

  it('run summary: the validation before training and what training gained or lost against it', () => {
    const ev = (epoch: number, mapAtR: number) => ({ type: 'epoch', time: 't', runId: 'r', epoch, step: 4 * (epoch + 1), trainLoss: 0.5, seconds: 2, best: false, validation: { precisionAt1: 0.9, mapAtR, rPrecision: 0.75, count: 30 } }) as const;
    const baseline = { type: 'baseline', time: 't', runId: 'r', step: 0, validation: { precisionAt1: 0.5, mapAtR: 0.4125, rPrecision: 0.4, count: 30 } } as const;
    assert.match(runSummaryMarkdown('/w/runs/x', info(), 'done', [baseline, ev(0, 0.5), ev(1, 0.6)]), /Before training \(step 0\): validation MAP@R 0\.4125; best after training 0\.6000 \(\+0\.1875\)\./);
    assert.match(runSummaryMarkdown('/w/runs/x', info(), 'done', [baseline, ev(0, 0.3)]), /best after training 0\.3000 \(−0\.1125, worse than the network it started from\)/);
    assert.match(runSummaryMarkdown('/w/runs/x', info(), 'running', [baseline]), /Before training \(step 0\): validation MAP@R 0\.4125\.$/m);
    assert.doesNotMatch(runSummaryMarkdown('/w/runs/x', info(), 'done', [ev(0, 0.3)]), /Before training/);
  });

  it('epochs count from 1 wherever a person reads them (run summary, status bar, Runs view)', () => {
    const started = { type: 'started', time: 't', runId: 'r', protocolVersion: 1, runDir: '/w/runs/exp-1', backend: 'wasm', backendDetail: 'SIMD', parameters: 1, lossType: 'triplet', epochs: 10, stepsPerEpoch: 4, batchSize: 8, train: { root: '/d', classes: 3, images: 90, skipped: 0, ignored: 0, classesWithPositives: 3 } } as const;
    // run.json says epoch 2 (two done) while the third trains; the best checkpoint of the first epoch has epoch 0.
    const md = runSummaryMarkdown('/w/runs/exp-1', info({ status: 'running', epoch: 2, step: 9, endedAt: null }), 'running', [
      started,
      { type: 'checkpoint', time: 't1', runId: 'r', epoch: 0, step: 4, path: '/p', kind: 'best' },
      { type: 'checkpoint', time: 't2', runId: 'r', epoch: 1, step: 4, path: '/p', kind: 'last' },
      { type: 'step', time: 't', runId: 'r', epoch: 2, step: 8, loss: 0.1, posDist: 0.2, negDist: 0.5, imagesPerSec: 10, learningRate: 0.001 },
    ]);
    assert.match(md, /\| progress \| epoch 3\/10 \(2 done\), step 9 \|/);
    assert.match(md, /t1 checkpoint \(best\) after step 4, epoch 1$/m);
    assert.match(md, /t2 checkpoint \(last\) after step 4, epoch 1$/m);
    assert.match(md, /Last step 8 \(epoch 3\)/);
    assert.match(runSummaryMarkdown('/w/runs/exp-1', info({ status: 'stopped', epoch: 3 }), 'stopped', []), /\| progress \| 3\/10 epochs done, step 640 \|/);
    assert.match(statusBarText('r', { epoch: 0, loss: 1, imagesPerSec: 1 }, 10), /epoch 1\/10/);
    assert.match(runItemView('/w/runs/r', info({ status: 'running', epoch: 0, endedAt: null }), 'running').description, /epoch 1\/10/);
  });

  it('evaluation report', () => {
    const md = evalMarkdown({ table: '/t/x.parquet', rows: 10, dim: 8, labels: 2, distance: 'euclidean', retrieval: { precisionAt1: 1, recallAtK: { 1: 1 }, rPrecision: 1, mapAtR: 0.95, count: 10 }, clustering: null, verification: { rocAuc: 0.99, bestF1: { threshold: 0.5, f1: 0.9, precision: 0.9, recall: 0.9 }, atPrecision: null, positives: 20, negatives: 25 } });
    assert.match(md, /\| MAP@R \| 0\.9500 \|/);
    assert.match(md, /ROC AUC: 0\.9900/);
    assert.match(md, /not reachable/);
  });
});

describe('environment guidance', () => {
  const backends = (gpu: boolean, cpu = false): BackendProbe[] => [
    { name: 'wasm', available: true, detail: 'SIMD' },
    { name: 'cpu', available: true, detail: 'js' },
    { name: 'tensorflow', available: cpu, detail: '', reason: '@tensorflow/tfjs-node is not installed' },
    { name: 'tensorflow-gpu', available: gpu, detail: '', reason: '@tensorflow/tfjs-node-gpu is not installed' },
  ];
  const libs = (cudart: boolean, cudnn: boolean): CudaLibrary[] => [
    { soname: 'libcudart.so.11.0', what: 'CUDA', found: cudart, where: cudart ? 'ldconfig' : undefined },
    { soname: 'libcudnn.so.8', what: 'cuDNN', found: cudnn, where: cudnn ? 'ldconfig' : undefined },
  ];
  const linux = { platform: 'linux', arch: 'x64' };

  it('an NVIDIA driver but no CUDA runtime and cuDNN: one exact instruction each, then Install GPU Backend', () => {
    const g = environmentGuidance({ ...linux, backends: backends(false), nvidiaSmi: { found: true }, cuda: { checked: true, libraries: libs(false, false) } });
    const gpu = g.filter((s) => s.startsWith('tensorflow-gpu: '));
    assert.equal(gpu.length, 1, 'tensorflow-gpu is listed once');
    assert.match(gpu[0], /libcudart\.so\.11\.0.*CUDA 11\.2.*ldconfig/);
    assert.match(gpu[0], /libcudnn\.so\.8.*cuDNN 8\.1/);
    assert.match(gpu[0], /Install GPU Backend.*tfjs-node-gpu@4\.22\.0/);
  });

  it('only cuDNN missing: no CUDA runtime advice', () => {
    const g = environmentGuidance({ ...linux, backends: backends(false), nvidiaSmi: { found: true }, cuda: { checked: true, libraries: libs(true, false) } });
    assert.equal(g.filter((s) => /libcudart/.test(s)).length, 0);
    assert.equal(g.filter((s) => /libcudnn\.so\.8/.test(s)).length, 1);
  });

  it('everything present: nothing to do', () => {
    assert.deepEqual(environmentGuidance({ ...linux, backends: backends(true, true), nvidiaSmi: { found: true }, cuda: { checked: true, libraries: libs(true, true) } }), []);
  });

  it('CPU-only machine (no nvidia-smi): no driver, CUDA or cuDNN advice; the GPU backend says why it cannot be had', () => {
    const input = { ...linux, backends: backends(false), nvidiaSmi: { found: false }, cuda: { checked: false, libraries: [] } };
    const g = environmentGuidance(input);
    assert.equal(g.filter((s) => /nvidia-smi|libcud|CUDA 11|NVIDIA driver/.test(s)).length, 0, g.join('\n'));
    const gpu = environmentParts(input).find((p) => p.name === 'tensorflow-gpu');
    assert.equal(gpu?.howTo, undefined);
    assert.match(gpu?.state ?? '', /no NVIDIA GPU driver found/);
  });

  it('not Linux x64: says the GPU build needs it, no CUDA advice', () => {
    const input = { platform: 'darwin', arch: 'arm64', backends: backends(false), nvidiaSmi: { found: false }, cuda: { checked: false, libraries: [] } };
    const g = environmentGuidance(input);
    assert.equal(g.filter((s) => /libcud|nvidia-smi/.test(s)).length, 0);
    assert.match(environmentParts(input).find((p) => p.name === 'tensorflow-gpu')?.state ?? '', /needs Linux x86_64 and an NVIDIA GPU; this is darwin-arm64/);
  });

  it('a CLI failure is reported first', () => {
    const g = environmentGuidance({ ...linux, backends: [], nvidiaSmi: { found: true }, cuda: { checked: true, libraries: libs(true, true) }, cliError: 'cannot start node' });
    assert.match(g[0], /could not report its backends \(cannot start node\)/);
  });

  it('ldconfig -p parsing and LD_LIBRARY_PATH lookup', () => {
    const sonames = parseLdconfig('1234 libs found in cache `/etc/ld.so.cache\'\n\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8\n\tlibc.so.6 (libc6,x86-64) => /lib/libc.so.6\n');
    assert.ok(sonames.has('libcudnn.so.8'));
    const found = findCudaLibraries(sonames, ['/opt/cuda/lib64'], (p) => p === '/opt/cuda/lib64/libcudart.so.11.0');
    assert.deepEqual(found.map((l) => [l.soname, l.found, l.where]), [['libcudart.so.11.0', true, '/opt/cuda/lib64'], ['libcudnn.so.8', true, 'ldconfig']]);
    assert.equal(findCudaLibraries(new Set(), [], () => false).every((l) => !l.found), true);
  });

  // `embedlab env --json` of a CPU-only Linux machine (this one, trimmed): webgpu has no Vulkan driver.
  const cpuOnly = {
    backends: [
      ...backends(false),
      { name: 'webgpu', available: false, detail: '', reason: 'no Vulkan driver (ICD manifest) found', fix: "install your GPU's Vulkan driver (NVIDIA: the driver's libnvidia-gl package; AMD/Intel: mesa-vulkan-drivers); for tests without a GPU see scripts/mesa25.sh", adapters: [],
        problems: [{ reason: 'no Vulkan driver (ICD manifest) found', fix: "install your GPU's Vulkan driver (NVIDIA: the driver's libnvidia-gl package; AMD/Intel: mesa-vulkan-drivers); for tests without a GPU see scripts/mesa25.sh" }] },
    ] as BackendProbe[],
    engines: [{ name: 'onnxruntime', available: true, detail: 'onnxruntime-node 1.30.0 (CPU; the embedding engine of embed / knn --engine auto|onnx) at /x/onnxruntime-node/dist/index.js' }],
    nvidiaSmi: { found: false, gpus: [], error: 'not found' }, cuda: { checked: false, libraries: [], ldLibraryPath: [] },
    node: { version: 'v20', platform: 'linux-x64', worker: '/usr/bin/node' },
  };

  it('the report leads with a verdict, lists each part once with its state and how to get it, onnxruntime included', () => {
    const verdict = environmentVerdict(cpuOnly);
    assert.equal(verdict, 'Ready to train on wasm; GPU: none.');
    const md = environmentMarkdown({ ...cpuOnly, verdict, guidance: [] });
    const lines = md.split('\n');
    assert.equal(lines.find((l) => l.trim() && !l.startsWith('#')), '**Ready to train on wasm; GPU: none.**', 'the verdict is the first line after the title');
    for (const name of ['wasm', 'tensorflow', 'tensorflow-gpu', 'webgpu', 'onnxruntime']) {
      assert.equal(lines.filter((l) => l.includes(`| ${name} |`)).length, 1, `${name} is listed exactly once`);
    }
    assert.match(md, /\| ✓ \| onnxruntime \| the engine of Embed Folder/);
    assert.match(md, /\| ✗ \| tensorflow \|.*\| not installed \| run "Embedding Lab: Install Native CPU Backend"/);
    assert.match(md, /\| ✗ \| webgpu \|.*install your GPU's Vulkan driver/);
    assert.doesNotMatch(md, /scripts\//, 'no script of the source checkout (not shipped)');
    assert.doesNotMatch(md, /nvidia-smi|libcudart|libcudnn|LD_LIBRARY_PATH/, 'no GPU probing noise on a CPU-only machine');
    assert.doesNotMatch(md, /## What to do/, 'the backends are not listed a second time');
  });

  it('the report lists the pretrained models of the hub cache with their sizes, and says how to get one when there is none', () => {
    const verdict = environmentVerdict(cpuOnly);
    const withModels = environmentMarkdown({ ...cpuOnly, verdict, guidance: [], pretrained: { cacheDir: '/home/u/.cache/huggingface/hub', models: [
      { id: 'hf:timm/resnet18.a1_in1k', bytes: 46_800_000, incompleteBytes: 0, revisions: ['main'] },
      { id: 'hf:timm/resnet50.a1_in1k', bytes: 1_000, incompleteBytes: 12_500_000, revisions: [] },
    ] } });
    assert.match(withModels, /Hugging Face hub cache: `\/home\/u\/\.cache\/huggingface\/hub`/);
    assert.match(withModels, /\| hf:timm\/resnet18\.a1_in1k \| 46\.8 MB \| main \|/);
    assert.match(withModels, /\| hf:timm\/resnet50\.a1_in1k \| 0\.0 MB \(\+12\.5 MB unfinished, resumable\) \| – \|/);
    const none = environmentMarkdown({ ...cpuOnly, verdict, guidance: [], pretrained: { cacheDir: '/c', models: [] } });
    assert.match(none, /None yet: `model\.pretrained: "hf:/);
  });

  it('with an NVIDIA driver the report shows its GPU and CUDA libraries; auto on tensorflow-gpu names the GPU', () => {
    const withGpu = { ...cpuOnly, nvidiaSmi: { found: true, gpus: ['RTX 4090 (24564 MiB)'], driver: '550.1' }, cuda: { checked: true, libraries: libs(false, true), ldLibraryPath: [] } };
    const md = environmentMarkdown({ ...withGpu, verdict: environmentVerdict(withGpu), guidance: [] });
    assert.match(md, /### NVIDIA GPU/);
    assert.match(md, /✓ nvidia-smi: RTX 4090 \(24564 MiB\) \(driver 550\.1\)/);
    assert.match(md, /- ✗ libcudart\.so\.11\.0/);
    assert.match(environmentVerdict(withGpu), /^Ready to train on wasm; GPU: RTX 4090 \(24564 MiB\), not used yet/);
    const ready = { ...withGpu, backends: backends(true, true) };
    assert.equal(environmentVerdict(ready), 'Ready to train on tensorflow-gpu; GPU: RTX 4090 (24564 MiB) (tensorflow-gpu).');
    assert.match(environmentVerdict({ ...cpuOnly, backends: [], cliError: 'spawn failed' }), /^Not checked/);
  });

  it('fixes that point at files of the checkout are cut, the rest kept', () => {
    assert.equal(shippedFix('install the driver; for tests without a GPU see scripts/mesa25.sh'), 'install the driver');
    assert.equal(shippedFix('see scripts/mesa25.sh'), undefined);
    assert.equal(shippedFix(undefined), undefined);
  });
});

describe('config diagnostics', () => {
  it('a field path maps to its value in the text; unknown paths to the nearest parent', () => {
    const text = '{\n  "name": "x",\n  "loss": { "type": "tripplet", "margin": 0.2 },\n  "data": { "imageSize": [64, "a"] }\n}\n';
    const at = (p: string) => { const r = jsonPathRange(text, p); return text.slice(r.start, r.end); };
    assert.equal(at('loss.type'), '"tripplet"');
    assert.equal(at('loss.margin'), '0.2');
    assert.equal(at('data.imageSize[1]'), '"a"');
    assert.equal(at('data.imageSize'), '[', 'an object or array: its opening bracket');
    assert.equal(at('loss.nothing'), '{', 'a missing key: its parent');
    assert.equal(at('(root)'), '{');
  });

  it('what training refuses is reported at the field, each problem once, with the field in the message', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-diag-'));
    try {
      fs.mkdirSync(path.join(dir, 'data', 'a'), { recursive: true });
      const text = JSON.stringify({ name: 'x', data: { train: './data', imageSize: [64, 64] }, model: { backbone: 'convnet' }, loss: { type: 'tripplet' }, training: { epochs: 'ten' } }, null, 2);
      const problems = configProblems(text, dir, 'x');
      const loss = problems.find((p) => p.message.startsWith('loss.type: '));
      assert.ok(loss, JSON.stringify(problems));
      assert.equal(text.slice(loss.start, loss.end), '"tripplet"');
      const epochs = problems.find((p) => p.message.startsWith('training.epochs: '));
      assert.ok(epochs, JSON.stringify(problems));
      assert.equal(text.slice(epochs.start, epochs.end), '"ten"');
      assert.deepEqual(configProblems('{ not json', dir, 'x'), [], 'syntax errors are the JSON service\'s');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backend install', () => {
  it('npm arguments install the pinned package into the prefix without touching a package.json', () => {
    const a = npmInstallArgs('/gs/backends', 'gpu');
    assert.deepEqual(a.slice(0, 6), ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', '/gs/backends']);
    assert.equal(a[a.length - 1], '@tensorflow/tfjs-node-gpu@4.22.0');
    assert.equal(backendPackage('cpu'), '@tensorflow/tfjs-node@4.22.0');
  });

  it('offline failures say so', () => {
    const m = installFailureMessage('gpu', { code: 1, cancelled: false, stderr: 'npm error code ENOTFOUND\nnpm error network request to https://registry.npmjs.org failed', stdout: '' });
    assert.match(m, /cannot be reached/);
    assert.match(m, /wasm backend/);
    assert.match(installFailureMessage('cpu', { code: null, cancelled: false, spawnError: 'spawn npm ENOENT', stderr: '', stdout: '' }), /Could not run npm/);
    assert.match(installFailureMessage('cpu', { code: 1, cancelled: false, stderr: 'npm error code E403\nnpm error 403 Forbidden', stdout: '' }), /npm error 403 Forbidden/);
  });
});

describe('Check Environment: the WebGPU section', () => {
  it('lists Dawn adapters and turns each missing WebGPU path into guidance', async () => {
    const { environmentGuidance, environmentMarkdown } = await import('../../src/extension/environment');
    const webgpu = {
      name: 'webgpu', available: true, detail: 'lavapipe', adapters: [
        { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true, software: true },
      ],
      problems: [{ reason: 'only a software adapter (lavapipe): auto does not use it', fix: 'install a GPU Vulkan driver' }],
    };
    const missing = { name: 'webgpu', available: false, detail: '', adapters: [], problems: [{ reason: 'the webgpu package is not installed', fix: 'npm install webgpu' }] };
    const base = { platform: 'linux', arch: 'x64', nvidiaSmi: { found: false, gpus: [] }, cuda: { checked: false, libraries: [], ldLibraryPath: [] } } as const;
    const g1 = environmentGuidance({ ...base, backends: [webgpu] } as never);
    assert.ok(g1.some((l: string) => /^webgpu: install a GPU Vulkan driver/.test(l)), g1.join('\n'));
    const g2 = environmentGuidance({ ...base, backends: [missing] } as never);
    assert.ok(g2.some((l: string) => /^webgpu: run "Embedding Lab: Install WebGPU Backend"/.test(l)), g2.join('\n'));
    const md = environmentMarkdown({ node: { version: 'v20', platform: 'linux-x64', worker: 'node' }, backends: [webgpu], guidance: g1, verdict: '', ...base } as never);
    assert.match(md, /### WebGPU adapters \(Dawn\)/);
    assert.match(md, /\| llvmpipe: Mesa 25\.0\.7 \| mesa \/ software \| yes \(software; not used by auto\) \|/);
  });
});
