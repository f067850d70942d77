// The dashboard's host side without VS Code (src/extension/dashboard-state.ts), on a run folder written by the real
// engine (`embedlab synth` + a 1-epoch `train` + `embed` + `eval`, as test/browser/dashboard.test.ts does): the
// snapshot equals the run's events.jsonl, live appends become step/epoch deltas without duplicates, selectQuery
// answers what `embedlab knn` answers, every webview message reaches the right dependency, and the explorer's
// projections (PCA, t-SNE, UMAP) and k-means come from the worker thread (dist/projection-worker.js) with core's
// numbers, are cached beside the table per method, seed and parameters, and are read back without a worker job.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, onlyRunDir, ROOT, smallConfig, tmpDir, writeConfig } from '../integration/helpers';
import { clusterAssignments, pca2d, projectionCachePath } from '../../src/core/projection';
import { tsne2d } from '../../src/core/tsne';
import { runPaths } from '../../src/core/run-folder';
import type { StepEvent, WorkerEvent } from '../../src/protocol/events';
import type { DashboardSettings, EpochsMessage, HostToWebview, RunChoicesMessage, RunMessage, SnapshotMessage, StepsMessage, TablesMessage } from '../../src/protocol/webview';
import { DEFAULT_PROJECTION_SEED, type ProjectionJob } from '../../src/protocol/projection';
import { projectionJob, umapParams } from '../../src/extension/projection-jobs';
import { WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import {
  DashboardSession,
  EventTail,
  loadTable,
  RunSeries,
  type DashboardDeps,
  type LoadedTable,
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
    assert.equal(run.epochPoints.length, events.filter((e) => e.type === 'epoch' || e.type === 'baseline').length, 'a point per epoch, and the baseline');
    assert.equal(run.epochPoints.filter((p) => p.epoch === -1).length, 1, 'the run validated before its first step');
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

describe('dashboard host: the baseline', () => {
  it('the validation before the first step is an epoch point at −1 (drawn at 0), kept on resume, replaced if sent again', () => {
    const base = { time: '2024-01-01T00:00:00.000Z', runId: 'r' };
    const started = { ...base, type: 'started', protocolVersion: 1, runDir: '/r', backend: 'wasm', backendDetail: '', parameters: 1, lossType: 'triplet', epochs: 2, stepsPerEpoch: 3, batchSize: 8, train: { root: '', classes: 2, images: 4, skipped: 0, ignored: 0, classesWithPositives: 2 } } as const;
    const r = new RunSeries('r');
    r.apply(started);
    assert.equal(r.apply({ ...base, type: 'baseline', step: 0, validation: { precisionAt1: 0.5, mapAtR: 0.25, rPrecision: 0.3, count: 10 } }), 'epoch');
    r.apply({ ...base, type: 'epoch', epoch: 0, step: 3, trainLoss: 1, seconds: 1, best: true, validation: { precisionAt1: 0.75, mapAtR: 0.5, rPrecision: 0.5, count: 10 } });
    assert.deepEqual(r.epochPoints.map((p) => [p.epoch, p.mapAtR]), [[-1, 0.25], [0, 0.5]]);
    r.apply({ ...started, resumedFrom: { epoch: 0, step: 0 } });
    assert.deepEqual(r.epochPoints.map((p) => [p.epoch, p.mapAtR]), [[-1, 0.25]], 'a resume from the start keeps the baseline');
    r.apply({ ...base, type: 'baseline', step: 0, validation: { precisionAt1: 0.5, mapAtR: 0.3, rPrecision: 0.3, count: 10 } });
    assert.deepEqual(r.epochPoints.map((p) => [p.epoch, p.mapAtR]), [[-1, 0.3]]);
  });
});

describe('dashboard host: messages', () => {
  it('selectQuery answers what `embedlab knn` answers, without the query itself (as eval); setK re-queries', async () => {
    const f = fake();
    const s = new DashboardSession(runDir, f.deps, table);
    await s.onReady();
    await s.onMessage({ type: 'setK', k: 5 });
    await s.onMessage({ type: 'selectQuery', row: 3 });
    const nb = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb && nb.type === 'neighbors');
    const t = await loadTable(table);
    // The CLI's answer for the path (one more, and the query's own row taken out, whether or not the CLI keeps it).
    const kc = await cli(['knn', table, '--query', t.table.paths[3], '-k', '6', '--json']);
    assert.equal(kc.code, 0, kc.stderr);
    const expected = (JSON.parse(kc.stdout) as { neighbors: Array<{ rank: number; path: string; distance: number }> }).neighbors
      .filter((n) => n.path !== t.table.paths[3]).slice(0, 5);
    assert.equal(nb.neighbors.neighbors.length, 5);
    assert.ok(!nb.neighbors.neighbors.some((n) => n.row === 3), 'the query is not its own neighbour');
    nb.neighbors.neighbors.forEach((n, i) => {
      assert.equal(n.rank, i + 1);
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

  it('an image of the table (Pick image, Find Similar) is left out of its own neighbours: k others, ranked from 1', async () => {
    const t = await loadTable(table);
    const rel = t.table.paths[5];
    const image = path.join(work, 'val', ...rel.split('/'));
    // The CLI as it answers for a path in the table: the image itself first, at distance 0.
    const kc = await cli(['knn', table, '--query', rel, '-k', '4', '--json']);
    assert.equal(kc.code, 0, kc.stderr);
    const cliHits = (JSON.parse(kc.stdout) as { neighbors: Array<{ rank: number; path: string; label: string; distance: number }> }).neighbors;
    const withSelf = [{ rank: 1, path: rel, label: t.table.labels[5], distance: 0 }, ...cliHits.filter((n) => n.path !== rel)];
    const asked: number[] = [];
    const f = fake({
      pickImage: async () => image,
      knnImage: async (_t, _i, k) => { asked.push(k); return { neighbors: withSelf.slice(0, k), distance: 'euclidean' }; },
    });
    const s = new DashboardSession(runDir, f.deps, table);
    await s.onReady();
    await s.onMessage({ type: 'setK', k: 3 });
    await s.onMessage({ type: 'pickImage' });
    assert.deepEqual(asked, [4], 'one more than k, for the image itself');
    const nb = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb && nb.type === 'neighbors');
    assert.equal(nb.neighbors.query.path, rel);
    assert.deepEqual(nb.neighbors.neighbors.map((n) => [n.rank, n.path]), withSelf.slice(1, 4).map((n, i) => [i + 1, n.path]));
    // Find Similar Images' result (the command's k) gets the same treatment.
    s.showImageNeighbors(image, withSelf.slice(0, 3), 'euclidean');
    const nb2 = f.posted.filter((m) => m.type === 'neighbors').pop();
    assert.ok(nb2 && nb2.type === 'neighbors');
    assert.deepEqual(nb2.neighbors.neighbors.map((n) => n.path), withSelf.slice(1, 3).map((n) => n.path));
    assert.ok(!nb2.neighbors.neighbors.some((n) => n.path === rel));
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

describe('dashboard host: the table picker, and a table written while the dashboard is open', () => {
  it('lists the workspace\'s tables newest first; a new table of the run is shown, another run\'s only listed; the shown one rewritten is read again; only listed tables can be picked', async () => {
    const other = path.join(work, 'elsewhere', 'other.parquet');
    fs.mkdirSync(path.dirname(other), { recursive: true });
    fs.copyFileSync(table, other);
    const meta = JSON.parse(fs.readFileSync(`${table}.meta.json`, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(`${other}.meta.json`, JSON.stringify({ ...meta, folder: path.join(work, 'val'), model: path.join(work, 'some-other-model') }));
    const t0 = Date.now() / 1000;
    fs.utimesSync(table, t0 - 300, t0 - 300);
    fs.utimesSync(other, t0 - 200, t0 - 200);
    const f = fake({ listTables: async () => [other, path.join(work, 'gone.parquet')], workspaceRoots: () => [work] });
    const s = new DashboardSession(runDir, f.deps);
    assert.equal(s.table, table);
    await s.onReady();
    await s.refreshTables();
    const lists = () => f.posted.filter((m): m is TablesMessage => m.type === 'tables');
    assert.deepEqual(lists().at(-1)!.tables.map((t) => t.file), [other, table], 'newest first; a listed file that does not exist is left out');
    assert.deepEqual(lists().at(-1)!.tables.map((t) => t.label), ['elsewhere/other.parquet', path.relative(work, table)]);
    assert.equal(lists().at(-1)!.tables[1].run, path.basename(runDir));
    assert.equal(lists().at(-1)!.current, table);

    // Embed Folder writes a new table into the run's tables/: the open dashboard shows it, and lists it first.
    const fresh = path.join(runDir, 'tables', 'fresh.parquet');
    fs.copyFileSync(table, fresh);
    fs.copyFileSync(`${table}.meta.json`, `${fresh}.meta.json`);
    let n = f.posted.length;
    await s.onTableWritten(fresh);
    const shown = f.posted.slice(n).filter((m) => m.type === 'table');
    assert.equal(shown.length, 1);
    assert.equal(shown[0].type === 'table' && shown[0].table?.file, fresh);
    assert.equal(s.table, fresh);
    assert.deepEqual(lists().at(-1)!.tables.map((t) => t.file), [fresh, other, table]);
    assert.equal(lists().at(-1)!.current, fresh);

    // Another run's table rewritten: listed again, not shown.
    fs.utimesSync(other, t0 + 100, t0 + 100);
    n = f.posted.length;
    await s.onTableWritten(other);
    assert.equal(f.posted.slice(n).filter((m) => m.type === 'table').length, 0);
    assert.deepEqual(lists().at(-1)!.tables.map((t) => t.file), [other, fresh, table]);

    // The picker: a listed table is shown; anything else is refused (the webview cannot have the host read a file).
    await s.onMessage({ type: 'selectTable', file: other });
    assert.equal(s.table, other);
    n = f.posted.length;
    await s.onMessage({ type: 'selectTable', file: path.join(work, 'outside.png') });
    assert.equal(s.table, other);
    assert.ok(f.posted.slice(n).some((m) => m.type === 'error' && m.context === 'selectTable' && /not an embedding table of the workspace/.test(m.message)));

    // The table shown rewritten (same path, new content): read again, with a new projection.
    await s.completeTableViews();
    fs.copyFileSync(table, other); // another mtime and, with the sidecar kept, the same rows
    fs.utimesSync(other, t0 + 200, t0 + 200);
    n = f.posted.length;
    await s.onTableWritten(other);
    await s.completeTableViews();
    const after = f.posted.slice(n).map((m) => m.type);
    assert.ok(after.includes('table') && after.includes('projection'), `re-read: ${after.join(', ')}`);
    // Unchanged: nothing re-read.
    n = f.posted.length;
    await s.onTableWritten(other);
    assert.deepEqual(f.posted.slice(n).map((m) => m.type), ['tables']);
    s.dispose();
    fs.rmSync(fresh);
    fs.rmSync(`${fresh}.meta.json`);
  });
});

describe('dashboard host: comparing runs', () => {
  it('runChoices without the run itself; compareRuns posts the other run (config, series), deltas from its events, removeRun; a non-run is refused', async () => {
    // A second run: the first one's folder with another runId and another margin and learning rate.
    const run2 = path.join(work, 'runs2', 'second-run');
    fs.mkdirSync(run2, { recursive: true });
    const id1 = events.find((e) => e.type === 'started')!.runId;
    const lines = fs.readFileSync(runPaths(runDir).events, 'utf8').replaceAll(id1, 'second-run').split('\n').filter((l) => l.trim());
    const firstEpoch = lines.findIndex((l) => l.includes('"type":"epoch"'));
    fs.writeFileSync(runPaths(run2).events, lines.slice(0, firstEpoch).join('\n') + '\n');
    const cfg = JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as { loss: Record<string, unknown>; training: { optimizer: Record<string, unknown> } };
    cfg.loss.margin = 0.3;
    cfg.training.optimizer.learningRate = 0.01;
    fs.writeFileSync(runPaths(run2).config, JSON.stringify(cfg));
    const f = fake({ listRuns: async () => [{ runDir, name: path.basename(runDir) }, { runDir: run2, name: 'second-run', status: 'running' }] });
    const s = new DashboardSession(runDir, f.deps, table);
    await s.onReady();
    await s.refreshRunChoices();
    const choices = f.posted.filter((m): m is RunChoicesMessage => m.type === 'runChoices').at(-1)!;
    assert.deepEqual(choices.runs.map((r) => r.runDir), [run2], 'the dashboard\'s own run is not offered');
    assert.deepEqual(choices.compared, []);

    await s.onMessage({ type: 'compareRuns', runDirs: [run2] });
    const added = f.posted.filter((m): m is RunMessage => m.type === 'run').at(-1)!;
    assert.equal(added.run.runId, 'second-run');
    assert.equal(added.run.primary, false);
    assert.equal(added.run.runDir, run2);
    assert.equal(added.run.config?.['loss.margin'], 0.3);
    assert.equal(added.run.config?.['training.optimizer.learningRate'], 0.01);
    assert.equal(added.run.margin, 0.3);
    assert.deepEqual(added.run.steps.step, steps(events).map((e) => e.step), 'its steps, from its events.jsonl');
    assert.deepEqual(added.run.epochPoints.map((p) => p.epoch), [-1], 'no epoch yet: only its baseline');
    assert.deepEqual(f.posted.filter((m): m is RunChoicesMessage => m.type === 'runChoices').at(-1)!.compared, [run2]);
    assert.deepEqual(s.comparedRuns, [run2]);
    // A reloaded webview's snapshot has both runs, the dashboard's own first.
    s.notReady();
    await s.onReady();
    const snap = f.posted.filter((m): m is SnapshotMessage => m.type === 'snapshot').at(-1)!;
    assert.deepEqual(snap.runs.map((r) => [r.runId, r.primary]), [[id1, true], ['second-run', false]]);
    assert.equal(snap.runs[0].config?.['loss.margin'], 0.2);
    assert.equal(s.stats.stepPoints, steps(events).length, 'the stats count the dashboard\'s own run');

    // The compared run's events grow: its epoch arrives as a delta.
    fs.appendFileSync(runPaths(run2).events, lines.slice(firstEpoch).join('\n') + '\n');
    let n = f.posted.length;
    s.pump();
    s.flush();
    const ep = f.posted.slice(n).filter((m): m is EpochsMessage => m.type === 'epochs');
    assert.deepEqual(ep.map((m) => m.runId), events.filter((e) => e.type === 'epoch').map(() => 'second-run'));

    n = f.posted.length;
    await s.onMessage({ type: 'compareRuns', runDirs: [] });
    assert.deepEqual(f.posted.slice(n).filter((m) => m.type === 'removeRun'), [{ type: 'removeRun', runId: 'second-run' }]);
    n = f.posted.length;
    await s.onMessage({ type: 'compareRuns', runDirs: [path.join(work, 'val')] });
    assert.ok(f.posted.slice(n).some((m) => m.type === 'error' && /not a run of the workspace/.test(m.message)));
    assert.deepEqual(s.comparedRuns, []);
    s.dispose();
  });

  it('a cleared warning (the spread is back) reaches the view with cleared: true, after the warning it ends', () => {
    const base = { time: '2024-01-01T00:00:00.000Z', runId: 'r' };
    const r = new RunSeries('r');
    r.apply({ ...base, type: 'warning', code: 'distance-gap-collapse', message: 'collapsed' });
    r.apply({ ...base, type: 'warning', code: 'distance-gap-collapse', message: 'spread again', cleared: true });
    const v = r.view('running', false);
    assert.deepEqual(v.warnings.map((w) => [w.code, w.cleared ?? false]), [['distance-gap-collapse', false], ['distance-gap-collapse', true]]);
  });
});

describe('dashboard host: projections and k-means in the worker thread, cached beside the table', () => {
  const WORKER = path.join(ROOT, 'dist', 'projection-worker.js');
  let dir = '';
  let copy = '';

  before(() => {
    // A copy of the table in a folder of its own, so its caches start from nothing.
    dir = path.join(work, 'projections');
    fs.mkdirSync(dir, { recursive: true });
    copy = path.join(dir, 'val.parquet');
    fs.copyFileSync(table, copy);
    if (fs.existsSync(`${table}.meta.json`)) fs.copyFileSync(`${table}.meta.json`, `${copy}.meta.json`);
  });

  const session = (f: Fake, o: { settings?: Partial<DashboardSettings>; workerFile?: string } = {}) =>
    new DashboardSession(runDir, f.deps, copy, { workerFile: WORKER, ...o });
  const projections = (f: Fake) => f.posted.filter((m): m is Extract<HostToWebview, { type: 'projection' }> => m.type === 'projection').map((m) => m.projection);
  const errors = (f: Fake) => f.posted.filter((m): m is Extract<HostToWebview, { type: 'error' }> => m.type === 'error');
  const tsneJob = (t: LoadedTable, seed: number) => projectionJob('tsne', t.id.rows, t.distance, seed) as Extract<ProjectionJob, { kind: 'tsne' }>;

  it('PCA and k-means come from the worker thread and equal pca2d and clusterAssignments; PCA is cached beside the table', async () => {
    assert.ok(fs.existsSync(WORKER), 'dist/projection-worker.js: run `npm run build` first');
    const f = fake();
    const s = session(f);
    await s.onReady();
    assert.equal((f.posted[0] as SnapshotMessage).projection, null, 'nothing cached yet');
    await s.completeTableViews();
    const t = await loadTable(copy);
    const ref = pca2d(t.table.vectors, t.id.rows, t.id.dim);
    const [p] = projections(f);
    assert.equal(p.method, 'pca');
    assert.equal(p.cached, undefined);
    assert.deepEqual(p.x, Array.from(ref.x), 'PCA through the worker = pca2d');
    assert.deepEqual(p.y, Array.from(ref.y));
    assert.deepEqual(p.explained, ref.explained);
    assert.equal(s.stats.projectionJobs, 1);
    assert.equal(s.workers.projector.stats.workers, 1, 'one worker thread ran it');
    const cache = JSON.parse(fs.readFileSync(projectionCachePath(copy, 'pca'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual({ version: cache.version, method: cache.method, seed: cache.seed, params: cache.params, table: cache.table },
      { version: 2, method: 'pca', seed: null, params: {}, table: t.id });
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'written atomically: no temp file left');

    await s.onMessage({ type: 'requestClusters', k: 3 });
    const cl = f.posted.filter((m) => m.type === 'clusters').pop();
    assert.ok(cl && cl.type === 'clusters');
    assert.deepEqual(cl.clusters.assignments, Array.from(clusterAssignments(t.table.vectors, t.id.rows, t.id.dim, 3, 1)), 'k-means through the worker = clusterAssignments');
    assert.equal(cl.clusters.k, 3);
    assert.equal(s.stats.clusterJobs, 1);
    assert.equal(s.currentSettings.clusterK, 3);
    s.dispose();
  });

  it('t-SNE and UMAP: progress, then a projection per row on a fixed seed, cached per method and seed; the choice is saved', async () => {
    const saved: DashboardSettings[] = [];
    const f = fake({ saveSettings: (st) => { saved.push(st); } });
    const s = session(f);
    await s.onReady();
    const t = await loadTable(copy);
    for (const method of ['tsne', 'umap'] as const) {
      const before = projections(f).length;
      await s.onMessage({ type: 'requestProjection', method });
      const p = projections(f).slice(before);
      assert.equal(p.length, 1, `${method}: one projection posted`);
      assert.equal(p[0].method, method);
      assert.equal(p[0].seed, DEFAULT_PROJECTION_SEED, `${method}: the fixed seed is recorded`);
      assert.equal(p[0].x.length, t.id.rows, `${method}: one point per row`);
      assert.equal(p[0].y.length, t.id.rows);
      assert.ok([...p[0].x, ...p[0].y].every(Number.isFinite));
      assert.ok(f.posted.some((m) => m.type === 'projectionProgress' && m.method === method), `${method}: progress posted`);
      const file = projectionCachePath(copy, method, DEFAULT_PROJECTION_SEED);
      const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { method: string; seed: number; params: Record<string, unknown>; x: number[] };
      assert.equal(c.method, method);
      assert.equal(c.seed, DEFAULT_PROJECTION_SEED);
      assert.deepEqual(c.params, p[0].params, `${method}: the parameters are part of the cache`);
      assert.deepEqual(c.x, p[0].x);
      assert.equal(saved.at(-1)?.projection, method, `${method}: the choice is saved for the run`);
    }
    assert.equal(s.stats.projectionJobs, 2);
    // t-SNE through the session = core tsne2d with the recorded parameters.
    const tsne = JSON.parse(fs.readFileSync(projectionCachePath(copy, 'tsne', DEFAULT_PROJECTION_SEED), 'utf8')) as { x: number[]; y: number[] };
    const job = tsneJob(t, DEFAULT_PROJECTION_SEED);
    const direct = tsne2d(t.table.vectors, t.id.rows, t.id.dim, { seed: job.seed, perplexity: job.perplexity, iterations: job.iterations, theta: job.theta, distance: job.distance });
    assert.deepEqual(tsne.x, Array.from(direct.filter((_, i) => i % 2 === 0)));
    assert.deepEqual(tsne.y, Array.from(direct.filter((_, i) => i % 2 === 1)));
    s.dispose();
  });

  it('a reopened dashboard restores the chosen method from the cache without a worker job; another seed, method or parameter is computed', async () => {
    const f = fake();
    const s = session(f, { settings: { projection: 'tsne' } });
    await s.onReady();
    const snap = f.posted[0] as SnapshotMessage;
    assert.equal(snap.settings.projection, 'tsne');
    assert.equal(snap.projection?.method, 'tsne');
    assert.equal(snap.projection?.cached, true, 'read from the cache beside the table');
    await s.completeTableViews();
    await s.onMessage({ type: 'requestProjection', method: 'tsne' });
    assert.equal(s.stats.projectionJobs, 0, 'no worker job');
    assert.equal(s.workers.projector.stats.workers, 0, 'not even a worker thread');
    const tsne1 = JSON.parse(fs.readFileSync(projectionCachePath(copy, 'tsne', 1), 'utf8')) as { x: number[] };
    // Another seed: its own cache file, computed; the seed-1 file is untouched.
    await s.onMessage({ type: 'requestProjection', method: 'tsne', seed: 2 });
    assert.equal(s.stats.projectionJobs, 1);
    const p2 = projections(f).at(-1)!;
    assert.equal(p2.seed, 2);
    assert.equal(p2.cached, undefined);
    assert.notDeepEqual(p2.x, tsne1.x);
    assert.ok(fs.existsSync(projectionCachePath(copy, 'tsne', 2)));
    assert.deepEqual((JSON.parse(fs.readFileSync(projectionCachePath(copy, 'tsne', 1), 'utf8')) as { x: number[] }).x, tsne1.x);
    // Back to seed 1: the cache again.
    await s.onMessage({ type: 'requestProjection', method: 'tsne', seed: 1 });
    assert.equal(s.stats.projectionJobs, 1);
    assert.equal(projections(f).at(-1)!.cached, true);
    assert.deepEqual(projections(f).at(-1)!.x, tsne1.x);
    s.dispose();

    // A cache made with other parameters (or for another table) is not used.
    const file = projectionCachePath(copy, 'umap', 1);
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { params: Record<string, number | string>; seed: number };
    fs.writeFileSync(file, JSON.stringify({ ...c, params: { ...c.params, minDist: 0.5 } }));
    const g = fake();
    const s2 = session(g, { settings: { projection: 'umap' } });
    await s2.onReady();
    assert.equal((g.posted[0] as SnapshotMessage).projection?.method, 'pca', 'meanwhile the cached PCA');
    await s2.completeTableViews();
    assert.equal(s2.stats.projectionJobs, 1, 'recomputed');
    assert.equal(projections(g).at(-1)!.method, 'umap');
    assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { params: { minDist: number } }).params.minDist, umapParams(24, 'euclidean').minDist, 'and rewritten');
    // A PCA file holding a UMAP result is not a PCA cache.
    fs.copyFileSync(file, projectionCachePath(copy, 'pca'));
    const h = fake();
    const s3 = session(h);
    await s3.onReady();
    assert.equal((h.posted[0] as SnapshotMessage).projection, null);
    s2.dispose();
    s3.dispose();
  });

  it('a crashed worker becomes an error in the panel, not a hang; closing the panel or a new choice ends a running job', async () => {
    const crashy = path.join(dir, 'exit-worker.js');
    fs.writeFileSync(crashy, `require('node:worker_threads').parentPort.on('message', () => process.exit(9));\n`);
    const f = fake();
    const s = session(f, { workerFile: crashy });
    await s.onReady();
    await s.onMessage({ type: 'requestProjection', method: 'umap', seed: 77 }); // not cached
    const e = errors(f).find((m) => m.context === 'projection');
    assert.ok(e, JSON.stringify(f.posted.map((m) => m.type)));
    assert.equal(e.message, 'UMAP failed: the projection worker stopped unexpectedly (exit code 9) while computing UMAP');
    await s.onMessage({ type: 'requestClusters', k: 4 });
    const ek = errors(f).find((m) => m.context === 'requestClusters');
    assert.ok(ek);
    assert.match(ek.message, /^k-means failed: the projection worker stopped unexpectedly \(exit code 9\) while computing k-means \(k = 4\)$/);
    s.dispose();

    // A worker that never answers: a new choice supersedes it (its thread is terminated), closing the panel ends the next.
    const stuck = path.join(dir, 'stuck-worker.js');
    fs.writeFileSync(stuck, `require('node:worker_threads').parentPort.on('message', () => { for (;;) {} });\n`);
    const g = fake();
    const s2 = session(g, { workerFile: stuck });
    await s2.onReady(); // no PCA cached (it holds a UMAP result now): PCA starts on the stuck worker
    const first = s2.completeTableViews();
    assert.equal(s2.workers.projector.busy, true);
    const thread1 = s2.workers.projector.threadId;
    assert.notEqual(thread1, null);
    await new Promise((r) => setTimeout(r, 100));
    const second = s2.onMessage({ type: 'requestProjection', method: 'umap', seed: 78 });
    await first; // cancelled, not failed
    assert.notEqual(s2.workers.projector.threadId, thread1, 'the first job\'s thread was terminated');
    assert.equal(s2.workers.projector.stats.cancelled, 1, JSON.stringify(s2.workers.projector.stats));
    assert.equal(s2.workers.projector.busy, true, 'the UMAP job runs');
    s2.dispose(); // the panel closes
    await second;
    assert.equal(s2.workers.projector.threadId, null, 'no thread left running');
    assert.equal(s2.workers.projector.stats.cancelled, 2);
    assert.equal(s2.workers.projector.stats.workers, 2);
    assert.deepEqual(errors(g), [], 'cancelled jobs are not errors');
    assert.equal(projections(g).length, 0);
  });
});
