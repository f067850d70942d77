// The dashboard's host side without VS Code (src/extension/dashboard-state.ts), on a run folder written by the real
// engine (`embedlab synth` + a 1-epoch `train` + `embed` + `eval`, as test/browser/dashboard.test.ts does): the
// snapshot equals the run's events.jsonl, live appends become step/epoch deltas without duplicates, selectQuery
// answers what `embedlab knn` answers, the sliced PCA is pca2d bit for bit and is cached beside the table, and
// every webview message reaches the right dependency.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, onlyRunDir, smallConfig, tmpDir, writeConfig } from '../integration/helpers';
import { pca2d, projectionCachePath } from '../../src/core/projection';
import { runPaths } from '../../src/core/run-folder';
import type { StepEvent, WorkerEvent } from '../../src/protocol/events';
import type { HostToWebview, SnapshotMessage, StepsMessage } from '../../src/protocol/webview';
import { WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import {
  clustersOf,
  DashboardSession,
  EventTail,
  kmeansSampleSize,
  loadTable,
  pca2dSliced,
  RunSeries,
  type DashboardDeps,
} from '../../src/extension/dashboard-state';

const work = tmpDir('dashboard-host');
let runDir = '';
let table = '';
let events: WorkerEvent[] = [];
let evalReport: Record<string, unknown> = {};

const parse = (text: string) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as WorkerEvent);
const steps = (evs: WorkerEvent[]) => evs.filter((e): e is StepEvent => e.type === 'step');

interface Fake {
  deps: DashboardDeps;
  posted: HostToWebview[];
  logs: string[];
  calls: string[];
  saveTo?: string;
}

function fake(over: Partial<DashboardDeps> = {}, o: { saveTo?: string; supervised?: boolean } = {}): Fake {
  const f: Fake = { posted: [], logs: [], calls: [], saveTo: o.saveTo, deps: undefined as unknown as DashboardDeps };
  f.deps = {
    post: (m) => { f.posted.push(JSON.parse(JSON.stringify(m)) as HostToWebview); return Promise.resolve(true); },
    log: (level, m) => { f.logs.push(`${level}: ${m}`); },
    isSupervised: () => o.supervised ?? false,
    webviewUri: (folder) => `https://webview.test/${encodeURIComponent(folder)}`,
    evalTable: async () => { f.calls.push('eval'); return evalReport; },
    knnImage: async (t, image, k) => { f.calls.push(`knn ${path.basename(t)} ${path.basename(image)} ${k}`); return { neighbors: [{ rank: 1, path: 'x/y.png', label: 'x', distance: 0.5 }], distance: 'euclidean' }; },
    pickImage: async () => { f.calls.push('pick'); return path.join(work, 'outside.png'); },
    saveDialog: async (def) => { f.calls.push(`save ${path.basename(def)}`); return f.saveTo; },
    stop: async (dir) => { f.calls.push(`stop ${path.basename(dir)}`); },
    resume: async (dir) => { f.calls.push(`resume ${path.basename(dir)}`); },
    ...over,
  };
  return f;
}

before(async () => {
  const train = path.join(work, 'train');
  const val = path.join(work, 'val');
  for (const [dir, per, seed] of [[train, '8', '1'], [val, '6', '2']] as const) {
    const r = await cli(['synth', dir, '--classes', '4', '--per-class', per, '--size', '32', '--seed', seed]);
    assert.equal(r.code, 0, r.stderr);
  }
  const runs = path.join(work, 'runs');
  const cfg = writeConfig(work, smallConfig(train, val, { data: { samplesPerEpoch: 96 }, training: { epochs: 1, batchSize: 8 } }));
  const t = await cli(['train', cfg, '--out', runs, '--json']);
  assert.equal(t.code, 0, `train failed: ${t.stderr}`);
  runDir = onlyRunDir(runs);
  events = parse(fs.readFileSync(runPaths(runDir).events, 'utf8'));
  table = path.join(runDir, 'tables', 'val.parquet');
  fs.mkdirSync(path.dirname(table), { recursive: true });
  const e = await cli(['embed', '--model', runDir, val, '--out', table, '--backend', 'wasm', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = await cli(['eval', table, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  evalReport = JSON.parse(ev.stdout) as Record<string, unknown>;
  fs.rmSync(`${table}.eval.json`, { force: true }); // the session must ask for it
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('dashboard host: snapshot from a run folder', () => {
  it('ready → one snapshot equal to events.jsonl, the newest table, thumbnails; then projection and eval', async () => {
    const f = fake();
    const s = new DashboardSession(runDir, f.deps);
    assert.equal(s.table, table, 'the newest table under <run>/tables/');
    await s.onMessage({ type: 'ready', version: WEBVIEW_PROTOCOL_VERSION });
    const snap = f.posted[0] as SnapshotMessage & { host: { runDir: string; table: string } };
    assert.equal(snap.type, 'snapshot');
    assert.deepEqual(snap.host, { runDir, table });
    assert.equal(snap.runs.length, 1);
    const run = snap.runs[0];
    const st = steps(events);
    assert.ok(st.length >= 5, `the run has ${st.length} steps`);
    assert.deepEqual(run.steps.step, st.map((e) => e.step));
    assert.deepEqual(run.steps.loss, st.map((e) => e.loss));
    assert.equal(run.epochPoints.length, events.filter((e) => e.type === 'epoch').length);
    assert.equal(run.status, 'done');
    assert.equal(run.resumable, false);
    assert.equal(run.margin, 0.2);
    assert.equal(run.lossType, 'triplet');
    assert.equal(run.runId, path.basename(runDir));
    assert.equal(snap.table?.rows, 24);
    assert.equal(snap.table?.paths.length, 24);
    const valDir = path.join(work, 'val');
    assert.equal(snap.thumbnails.base, `https://webview.test/${encodeURIComponent(valDir)}`, 'thumbnails come from the table meta folder');
    assert.deepEqual(s.roots().sort(), [runDir, path.dirname(runDir), path.join(work, 'train'), valDir, path.dirname(table)].sort());
    assert.equal(snap.projection, null, 'no cache yet: computed after the snapshot');
    assert.equal(snap.eval, null);
    await s.completeTableViews();
    const proj = f.posted.find((m) => m.type === 'projection');
    assert.ok(proj && proj.type === 'projection');
    assert.equal(proj.projection.x.length, 24);
    const ev = f.posted.find((m) => m.type === 'eval');
    assert.ok(ev && ev.type === 'eval' && ev.eval);
    assert.deepEqual(ev.eval.classNames, [...new Set(snap.table!.labels)], 'class names in eval\'s first-seen order');
    assert.equal(ev.eval.retrieval.count, (evalReport.retrieval as { count: number }).count);
    assert.deepEqual(f.calls, ['eval']);
    assert.ok(fs.existsSync(projectionCachePath(table, 'pca')), 'the projection is cached beside the table');
    assert.equal(s.stats.stepPoints, st.length);
    assert.equal(s.stats.projectionPoints, 24);

    // A second dashboard reads the cache; a re-ready (webview reloaded) gets a complete snapshot again.
    const g = fake();
    const s2 = new DashboardSession(runDir, g.deps, table);
    await s2.onReady();
    const snap2 = g.posted[0] as SnapshotMessage;
    assert.equal(snap2.projection?.cached, true);
    assert.deepEqual(snap2.projection?.x, (proj.projection.x));
    s2.notReady();
    await s2.onReady();
    assert.equal(g.posted.filter((m) => m.type === 'snapshot').length, 2);
    s.dispose();
    s2.dispose();
  });
});

describe('dashboard host: live deltas from events.jsonl', () => {
  it('appends become batched steps, epochs and a status change; nothing twice, nothing lost; torn lines wait', async () => {
    const live = path.join(work, 'live-run');
    fs.mkdirSync(live, { recursive: true });
    fs.copyFileSync(runPaths(runDir).config, runPaths(live).config);
    const lines = fs.readFileSync(runPaths(runDir).events, 'utf8').split('\n').filter((l) => l.trim());
    const firstStep = lines.findIndex((l) => l.includes('"type":"step"'));
    const cut = firstStep + 2;
    fs.writeFileSync(runPaths(live).events, lines.slice(0, cut).join('\n') + '\n');
    const f = fake({}, { supervised: true });
    const s = new DashboardSession(live, f.deps);
    // Before ready nothing is posted (the snapshot will carry it).
    s.pump();
    s.flush();
    assert.equal(f.posted.length, 0);
    await s.onReady();
    const snap = f.posted[0] as SnapshotMessage;
    assert.equal(snap.runs[0].status, 'running');
    assert.equal(snap.runs[0].steps.step.length, 2);
    // The rest arrives in pieces, the last line torn in two.
    const rest = lines.slice(cut);
    for (let i = 0; i < rest.length; i += 3) {
      const chunk = rest.slice(i, i + 3).join('\n') + '\n';
      const half = Math.floor(chunk.length / 2);
      fs.appendFileSync(runPaths(live).events, chunk.slice(0, half));
      s.pump();
      fs.appendFileSync(runPaths(live).events, chunk.slice(half));
      s.pump();
      if (i % 6 === 0) s.flush();
    }
    s.flush();
    const deltaSteps = f.posted.filter((m): m is StepsMessage => m.type === 'steps').flatMap((m) => m.steps.step);
    assert.deepEqual([...snap.runs[0].steps.step, ...deltaSteps], steps(events).map((e) => e.step), 'every step once, in order');
    const epochs = f.posted.filter((m) => m.type === 'epochs');
    assert.equal(epochs.length, events.filter((e) => e.type === 'epoch').length);
    // The worker ended (the supervisor drops it): status comes from the events and run.json.
    const s2 = new DashboardSession(live, fake().deps);
    await s2.onReady();
    assert.equal(s.stats.stepPoints, steps(events).length);
    s.dispose();
    s2.dispose();
  });

  it('EventTail: torn last line, shrink → reset', () => {
    const f = path.join(work, 'tail.jsonl');
    fs.writeFileSync(f, '{"type":"step","step":0}\n{"type":"st');
    const t = new EventTail(f);
    assert.equal(t.readAll().length, 1);
    fs.appendFileSync(f, 'ep","step":1}\n');
    const more = t.readNew();
    assert.ok(Array.isArray(more) && more.length === 1 && (more[0] as { step: number }).step === 1);
    fs.writeFileSync(f, '');
    assert.equal(t.readNew(), 'reset');
  });

  it('a resumed run drops the steps and epochs it redoes', () => {
    const base = { time: '2024-01-01T00:00:00.000Z', runId: 'r' };
    const started = { ...base, type: 'started', protocolVersion: 1, runDir: '/r', backend: 'wasm', backendDetail: '', parameters: 1, lossType: 'triplet', epochs: 2, stepsPerEpoch: 3, batchSize: 8, train: { root: '', classes: 2, images: 4, skipped: 0, ignored: 0, classesWithPositives: 2 } } as const;
    const step = (n: number) => ({ ...base, type: 'step', epoch: Math.floor(n / 3), step: n, loss: n, posDist: 0, negDist: 0, imagesPerSec: 1, learningRate: 0.1 }) as const;
    const r = new RunSeries('r');
    for (const e of [started, step(0), step(1), step(2), { ...base, type: 'epoch', epoch: 0, step: 3, trainLoss: 1, seconds: 1, best: false } as const, step(3), step(4)]) r.apply(e);
    assert.equal(r.apply({ ...started, resumedFrom: { epoch: 1, step: 3 } }), 'restart');
    assert.deepEqual(r.steps.step, [0, 1, 2]);
    assert.equal(r.epochPoints.length, 1);
    r.apply(step(3));
    assert.deepEqual(r.steps.step, [0, 1, 2, 3]);
  });
});

describe('dashboard host: messages', () => {
  it('selectQuery answers what `embedlab knn` answers; setK re-queries', async () => {
    const f = fake();
    const s = new DashboardSession(runDir, f.deps, table);
    await s.onReady();
    await s.onMessage({ type: 'setK', k: 5 });
    await s.onMessage({ type: 'selectQuery', row: 3 });
    const nb = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb && nb.type === 'neighbors');
    const t = await loadTable(table);
    const kc = await cli(['knn', table, '--query', t.table.paths[3], '-k', '5', '--json']);
    assert.equal(kc.code, 0, kc.stderr);
    const expected = (JSON.parse(kc.stdout) as { neighbors: Array<{ rank: number; path: string; distance: number }> }).neighbors;
    assert.equal(nb.neighbors.neighbors.length, 5);
    nb.neighbors.neighbors.forEach((n, i) => {
      assert.equal(n.path, expected[i].path);
      assert.ok(Math.abs(n.distance - expected[i].distance) < 1e-6);
      assert.equal(t.table.paths[n.row!], n.path);
    });
    assert.deepEqual(nb.neighbors.query, { kind: 'row', row: 3, path: t.table.paths[3], label: t.table.labels[3] });
    await s.onMessage({ type: 'setK', k: 2 });
    const nb2 = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb2 && nb2.type === 'neighbors' && nb2.neighbors.neighbors.length === 2);
    s.dispose();
  });

  it('pickImage, stop, resume, exports, PNG, clusters, selection, errors and malformed messages', async () => {
    const out = path.join(work, 'exports');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(work, 'outside.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const f = fake({}, { saveTo: path.join(out, 'a.csv') });
    const s = new DashboardSession(runDir, f.deps, table);
    await s.onReady();
    await s.completeTableViews();
    await s.onMessage({ type: 'pickImage' });
    const nb = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb && nb.type === 'neighbors');
    assert.equal(nb.neighbors.query.kind, 'image');
    assert.match((nb.neighbors.query as { uri?: string }).uri ?? '', /^data:image\/png;base64,/, 'an image outside the roots travels as a data: URL');
    await s.onMessage({ type: 'stop', runId: 'x' });
    await s.onMessage({ type: 'resume', runId: 'x' });
    await s.onMessage({ type: 'exportCsv', what: 'neighbors' });
    assert.match(fs.readFileSync(path.join(out, 'a.csv'), 'utf8'), /^query,rank,path,label,distance/);
    await s.onMessage({ type: 'requestClusters', k: 3 });
    const cl = f.posted.filter((m) => m.type === 'clusters').pop();
    assert.ok(cl && cl.type === 'clusters' && cl.clusters.assignments.length === 24 && cl.clusters.k === 3);
    await s.onMessage({ type: 'exportCsv', what: 'projection' });
    const csv = fs.readFileSync(path.join(out, 'a.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'path,label,x,y,cluster');
    assert.equal(csv.length, 25);
    f.saveTo = path.join(out, 'c.png');
    await s.onMessage({ type: 'savePng', chart: 'loss', dataUrl: 'data:image/png;base64,' + Buffer.from('PNGDATA').toString('base64') });
    assert.equal(fs.readFileSync(path.join(out, 'c.png'), 'utf8'), 'PNGDATA');
    f.saveTo = undefined; // cancelled save dialog: nothing written, nothing posted
    const nSaved = f.posted.filter((m) => m.type === 'saved').length;
    await s.onMessage({ type: 'savePng', chart: 'loss', dataUrl: 'data:image/png;base64,AA==' });
    assert.equal(f.posted.filter((m) => m.type === 'saved').length, nSaved);
    await s.onMessage({ type: 'selection', rows: [1, 2] });
    assert.deepEqual(s.selectedRows, [1, 2]);
    await s.onMessage({ type: 'webviewError', message: 'boom' });
    await s.onMessage({ type: 'selectQuery', row: 9999 });
    await s.onMessage({ type: 'nonsense' });
    await s.onMessage({ type: 'selectQuery', row: -1 });
    assert.deepEqual(f.calls.filter((c) => !c.startsWith('save') && c !== 'eval'), ['pick', 'knn val.parquet outside.png 8', `stop ${path.basename(runDir)}`, `resume ${path.basename(runDir)}`]);
    assert.ok(f.logs.some((l) => /^error: .*boom/.test(l)));
    assert.deepEqual(s.stats.webviewErrors, ['boom']);
    const err = f.posted.filter((m) => m.type === 'error');
    assert.ok(err.some((m) => m.type === 'error' && m.context === 'selectQuery' && /not in the table/.test(m.message)));
    assert.equal(f.logs.filter((l) => l.includes('malformed')).length, 2);
    s.dispose();
  });
});

describe('dashboard host: projection and clusters off the event loop', () => {
  it('pca2dSliced is pca2d bit for bit, and yields', async () => {
    const n = 1003, dim = 17;
    const v = new Float32Array(n * dim);
    let x = 7;
    for (let i = 0; i < v.length; i++) { x = (x * 1103515245 + 12345) >>> 0; v[i] = (x / 2 ** 32) * (1 + (i % dim)); }
    const ref = pca2d(v, n, dim);
    let progress = 0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const got = await pca2dSliced(v, n, dim, { sliceMs: 0, onProgress: () => progress++ });
    clearInterval(timer);
    assert.deepEqual(Array.from(got.x), Array.from(ref.x));
    assert.deepEqual(Array.from(got.y), Array.from(ref.y));
    assert.deepEqual(got.explained, ref.explained);
    assert.ok(progress > 2, `progress reported ${progress} times`);
    assert.ok(ticks > 0, 'timers ran while it computed');
  });

  it('large tables: k-means on a sample, every row assigned', async () => {
    assert.equal(kmeansSampleSize(500, 8, 32), 500);
    assert.ok(kmeansSampleSize(50_000, 8, 128) < 2000);
    const t = await loadTable(table);
    const c = await clustersOf(t, 4, 1);
    assert.equal(c.assignments.length, 24);
    assert.ok(c.assignments.every((a) => a >= 0 && a < 4));
  });
});
