// The main workflow through the command contract, on the fixture workspace (run.sh): New Experiment → Train →
// Stop → Resume → Embed Folder → Find Similar Images. Each step needs the one before; a failed step makes the
// later ones fail with "needs …" (never skip).
'use strict';
/* global suite, test, suiteTeardown */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { config, e2eLog, extensionDir, fsPathOf, metric, poll, readJson, samePath, testState } = require('./helpers.js');

const exec = (id, ...args) => vscode.commands.executeCommand(id, ...args);
// A few dozen steps: 4 epochs x 144 triplets / 8 per step = 72 steps, a checkpoint after each (long enough that
// Stop, issued at the first checkpoint, lands before the end even on a fast machine: ~0.1 s per step here).
const SMALL = { epochs: 4, samplesPerEpoch: 144, batchSize: 8 };
const TOTAL_STEPS = SMALL.epochs * SMALL.samplesPerEpoch / SMALL.batchSize;

/** Validates a config against the installed extension's JSON Schema with the project's ajv (draft-07). */
function schemaErrors(cfg) {
  const Ajv = require(config.ajv).default || require(config.ajv);
  const schema = readJson(path.join(extensionDir, 'schemas', 'embedding.schema.json'));
  const validate = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);
  return validate(cfg) ? [] : validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}`);
}

suite('workflow', function () {
  this.timeout(240000);
  const st = {};
  const runJson = () => readJson(path.join(st.runDir, 'run.json'));
  const stateFile = () => path.join(st.runDir, 'checkpoints', 'last', 'state.json');
  const runEntry = async () => (await testState()).runs.find((r) => samePath(r.runDir, st.runDir));

  test('New Experiment writes a config that validates', async () => {
    const res = await exec('embeddingLab.newExperiment', { type: 'triplet', dataFolder: config.dataDir, backbone: 'convnet' });
    const file = fsPathOf(res);
    assert.ok(file, `newExperiment returned ${JSON.stringify(res)}, not the config's Uri`);
    assert.ok(fs.existsSync(file), `the config ${file} does not exist`);
    assert.match(path.basename(file), /\.embedding\.json$/);
    const cfg = readJson(file);
    assert.deepEqual(schemaErrors(cfg), [], 'the written config does not validate against schemas/embedding.schema.json');
    // No machine path (the install folder's name holds the version): jsonValidation contributes the schema.
    assert.equal(cfg.$schema, undefined, `New Experiment wrote "$schema": ${JSON.stringify(cfg.$schema)}`);
    assert.equal(cfg.loss && cfg.loss.type, 'triplet');
    assert.equal(cfg.model && cfg.model.backbone, 'convnet');
    assert.ok(samePath(path.resolve(path.dirname(file), cfg.data.train), config.dataDir), `data.train is ${cfg.data.train}`);
    // Make it small and quick, and check the edited file still validates.
    cfg.name = 'e2e';
    cfg.data = { ...cfg.data, imageSize: [32, 32], channels: 3, samplesPerEpoch: SMALL.samplesPerEpoch };
    delete cfg.data.augment;
    delete cfg.data.validation;
    cfg.model = { ...cfg.model, backbone: 'convnet', width: 0.25, embeddingDim: 16 };
    cfg.loss = { ...cfg.loss, mining: 'none' };
    cfg.training = { ...cfg.training, epochs: SMALL.epochs, batchSize: SMALL.batchSize, backend: 'wasm', checkpointEverySteps: 1 };
    delete cfg.training.classesPerBatch;
    delete cfg.training.imagesPerClass;
    assert.deepEqual(schemaErrors(cfg), [], 'the small config does not validate');
    fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
    st.config = file;
    e2eLog(`config ${file}: ${TOTAL_STEPS} steps`);
  });

  test('Train creates a run folder that reaches the Runs view', async () => {
    assert.ok(st.config, 'needs the config from "New Experiment"');
    const t0 = Date.now();
    const res = await exec('embeddingLab.trainExperiment', vscode.Uri.file(st.config), { force: true });
    st.runDir = fsPathOf(res && res.runDir);
    assert.ok(st.runDir, `trainExperiment returned ${JSON.stringify(res)}, not { runDir }`);
    assert.ok(fs.statSync(st.runDir).isDirectory(), `run folder ${st.runDir} does not exist`);
    st.trainStarted = t0;
    await poll(() => fs.existsSync(path.join(st.runDir, 'run.json')), 'run.json in the run folder', 30000);
    const entry = await poll(runEntry, `${st.runDir} in _testState().runs`, 30000);
    e2eLog(`run ${path.basename(st.runDir)} in the Runs view: ${JSON.stringify(entry)}`);
  });

  test('Stop leaves a checkpoint', async () => {
    assert.ok(st.runDir, 'needs the run from "Train"');
    await poll(() => fs.existsSync(stateFile()), 'the first checkpoint (checkpoints/last/state.json)', 120000, 50);
    const res = await exec('embeddingLab.stopTraining', st.runDir);
    e2eLog(`stopTraining -> ${JSON.stringify(res)}`);
    assert.ok(res && typeof res === 'object', `stopTraining returned ${JSON.stringify(res)}`);
    const run = runJson();
    assert.notEqual(run.status, 'done', `the run finished (${run.step} steps) before Stop: make the e2e config longer`);
    assert.equal(res.status, 'stopped', 'stopTraining result status');
    assert.equal(run.status, 'stopped', 'run.json status after Stop');
    const state = readJson(stateFile());
    assert.ok(Number.isInteger(state.globalStep) && state.globalStep >= 1 && state.globalStep < TOTAL_STEPS, `checkpoint globalStep ${state.globalStep}`);
    st.stoppedAt = state.globalStep;
    const entry = await poll(async () => { const e = await runEntry(); return e && e.status === 'stopped' && e; }, 'status "stopped" in _testState().runs', 30000);
    assert.ok(!(await testState()).running.some((r) => samePath(r, st.runDir)), 'the run is still listed as running');
    e2eLog(`stopped at step ${st.stoppedAt}/${TOTAL_STEPS}; view: ${entry.label} / ${entry.description}`);
  });

  test('Resume continues from the checkpoint to done', async () => {
    assert.ok(st.stoppedAt, 'needs the stopped run from "Stop"');
    const res = await exec('embeddingLab.resumeTraining', st.runDir);
    assert.ok(res && samePath(res.runDir, st.runDir), `resumeTraining returned ${JSON.stringify(res)}, expected { runDir: ${st.runDir} }`);
    const run = await poll(() => { const r = runJson(); if (r.status === 'failed') throw new Error(`run failed: ${r.error}`); return r.status === 'done' && r; },
      'run.json status "done"', 200000, 250);
    const state = readJson(stateFile());
    assert.equal(state.globalStep, TOTAL_STEPS, 'the last checkpoint is at the final step');
    assert.ok(run.step === undefined || run.step === TOTAL_STEPS, `run.json step ${run.step}`);
    await poll(async () => { const e = await runEntry(); return e && e.status === 'done'; }, 'status "done" in _testState().runs', 30000);
    metric('e2eTrainSeconds', Math.round((Date.now() - st.trainStarted) / 100) / 10);
    e2eLog(`resumed from step ${st.stoppedAt}, done at ${state.globalStep}`);
  });

  test('Embed Folder writes one row per readable image, skipped = 1', async () => {
    assert.ok(st.runDir, 'needs a trained run');
    const out = path.join(config.workspace, 'photos-e2e.parquet');
    const res = await exec('embeddingLab.embedFolder', vscode.Uri.file(config.photosDir), { model: st.runDir, out });
    e2eLog(`embedFolder -> ${JSON.stringify(res)}`);
    assert.ok(res && typeof res === 'object', `embedFolder returned ${JSON.stringify(res)}`);
    st.table = fsPathOf(res.table);
    assert.ok(st.table && fs.existsSync(st.table), `table ${st.table} does not exist`);
    assert.ok(samePath(st.table, out), `table written to ${st.table}, asked for ${out}`);
    assert.equal(res.rows, config.photosReadable, 'rows = readable images');
    assert.equal(res.skipped, 1, 'skipped = the one corrupt image');
  });

  test('Find Similar Images leaves the query out', async () => {
    assert.ok(st.table, 'needs the table from "Embed Folder"');
    const cls = fs.readdirSync(config.photosDir).sort()[0];
    const img = path.join(config.photosDir, cls, fs.readdirSync(path.join(config.photosDir, cls)).filter((f) => f !== 'corrupt.png').sort()[0]);
    const res = await exec('embeddingLab.findSimilarImages', vscode.Uri.file(img), { table: st.table, k: 3 });
    e2eLog(`findSimilarImages(${path.relative(config.workspace, img)}) -> ${JSON.stringify(res)}`);
    assert.ok(Array.isArray(res) && res.length === 3, `3 neighbours, got ${JSON.stringify(res)}`);
    assert.ok(res.every((n) => !samePath(fsPathOf(n.path), img)), 'the query is not its own neighbour');
    assert.deepEqual(res.map((n) => n.rank), [1, 2, 3]);
  });

  // The Explorer context menu passes (clicked uri, selectedUris[]). What the user sees: the model pick, then the
  // notification; for Find Similar the neighbours' quick pick (thumbnails), and the picked image opens.
  const shown = async () => { const s = await testState(); return { notifications: s.notifications || [], quickPicks: s.quickPicks || [] }; };
  async function acceptQuickPick(titleRe, before) {
    const qp = await poll(async () => { const q = (await shown()).quickPicks; return q.length > before && titleRe.test(q[q.length - 1].title || '') && q[q.length - 1]; },
      `a quick pick titled ${titleRe}`, 60000);
    await new Promise((r) => setTimeout(r, 500)); // the widget renders its items
    await exec('workbench.action.acceptSelectedQuickOpenItem');
    return qp;
  }

  test('Explorer right-click, one folder: Embed Folder shows its notification', async () => {
    assert.ok(st.runDir, 'needs a trained run');
    const folder = path.join(config.photosDir, fs.readdirSync(config.photosDir).sort()[1]);
    const before = await shown();
    const pending = exec('embeddingLab.embedFolder', vscode.Uri.file(folder), [vscode.Uri.file(folder)]);
    await acceptQuickPick(/^Embed .+ with which model\?$/, before.quickPicks.length);
    const res = await pending;
    assert.ok(res && fs.existsSync(fsPathOf(res.table)), `embedFolder from the menu returned ${JSON.stringify(res)}`);
    const note = await poll(async () => (await shown()).notifications.slice(before.notifications.length).find((n) => /^Embedded \d+ images into /.test(n)), 'the Embed Folder notification', 30000);
    assert.match(note, new RegExp(`Embedded ${res.rows} images into ${path.basename(fsPathOf(res.table)).replace('.', '\\.')}`));
    e2eLog(`menu Embed Folder (one): ${note}`);
  });

  test('Explorer right-click, two folders selected: both embedded, one notification lists both', async () => {
    const [a, b] = fs.readdirSync(config.photosDir).sort().slice(2, 4).map((c) => path.join(config.photosDir, c));
    const before = await shown();
    const pending = exec('embeddingLab.embedFolder', vscode.Uri.file(b), [vscode.Uri.file(a), vscode.Uri.file(b)]);
    await acceptQuickPick(/^Embed 2 folders with which model\?$/, before.quickPicks.length);
    const res = await pending;
    assert.ok(Array.isArray(res) && res.length === 2, `two tables, got ${JSON.stringify(res)}`);
    for (const r of res) assert.ok(fs.existsSync(fsPathOf(r.table)), `${r.table} does not exist`);
    assert.deepEqual(res.map((r) => path.basename(fsPathOf(r.table))).sort(), [a, b].map((f) => `${path.basename(f)}.parquet`).sort());
    const note = await poll(async () => (await shown()).notifications.slice(before.notifications.length).find((n) => /^Embedded 2 folders: /.test(n)), 'the two-folder notification', 30000);
    for (const f of [a, b]) assert.ok(note.includes(`${path.basename(f)}.parquet`), note);
    e2eLog(`menu Embed Folder (two): ${note}`);
  });

  test('Explorer right-click, two images selected: Find Similar shows the first one\'s neighbours with thumbnails and opens the pick', async () => {
    const cls = fs.readdirSync(config.photosDir).sort()[0];
    const imgs = fs.readdirSync(path.join(config.photosDir, cls)).filter((f) => f !== 'corrupt.png').sort().map((f) => path.join(config.photosDir, cls, f));
    const [first, second] = imgs;
    const before = await shown();
    const pending = exec('embeddingLab.findSimilarImages', vscode.Uri.file(first), [vscode.Uri.file(first), vscode.Uri.file(second)]);
    const qp = await acceptQuickPick(new RegExp(`^Similar to ${path.basename(first).replace('.', '\\.')} `), before.quickPicks.length);
    await pending;
    e2eLog(`menu Find Similar: ${qp.title}: ${qp.items.map((i) => i.label).join(', ')}`);
    assert.ok(qp.items.length >= 1, 'no neighbours shown');
    assert.ok(qp.items.every((i) => i.icon && fs.existsSync(i.icon)), 'every item has its image as thumbnail');
    assert.ok(qp.items.every((i) => !samePath(i.icon, first)), 'the query is not among its neighbours');
    const tab = await poll(() => { const t = vscode.window.tabGroups.activeTabGroup.activeTab; const u = t && t.input && t.input.uri; return u && samePath(u.fsPath, qp.items[0].icon) && t; },
      'the first neighbour open in an editor', 30000);
    e2eLog(`opened ${tab.label}`);
    await exec('workbench.action.closeAllEditors');
  });

  test('a config that training refuses is underlined with errors, not warnings', async () => {
    const bad = path.join(config.workspace, 'bad.embedding.json');
    const cfg = readJson(st.config);
    cfg.loss = { ...cfg.loss, type: 'tripplet' };
    cfg.training = { ...cfg.training, epochs: 'ten' };
    fs.writeFileSync(bad, JSON.stringify(cfg, null, 2));
    try {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(bad));
      await vscode.window.showTextDocument(doc);
      const diags = await poll(() => { const d = vscode.languages.getDiagnostics(doc.uri); return d.some((x) => /loss\.type/.test(x.message)) && d.some((x) => /training\.epochs/.test(x.message)) && d; },
        'diagnostics for loss.type and training.epochs', 60000);
      e2eLog(`diagnostics: ${diags.map((d) => `${d.severity}:${d.source}:${d.message.slice(0, 60)}`).join(' | ')}`);
      for (const field of ['loss.type', 'training.epochs']) {
        const mine = diags.filter((d) => d.message.startsWith(`${field}: `));
        assert.ok(mine.length === 1 && mine[0].severity === vscode.DiagnosticSeverity.Error, `${field}: ${JSON.stringify(mine)}`);
        assert.match(doc.getText(mine[0].range), field === 'loss.type' ? /^"tripplet"$/ : /^"ten"$/);
      }
    } finally {
      await exec('workbench.action.closeAllEditors');
      fs.rmSync(bad, { force: true });
    }
  });

  test('Check Environment opens its report rendered, the verdict first', async () => {
    const report = await exec('embeddingLab.checkEnvironment');
    assert.match(report.verdict, /^Ready to train on \S+; GPU: /, JSON.stringify(report.verdict));
    const tab = await poll(() => { const t = vscode.window.tabGroups.activeTabGroup.activeTab; return t && t.input instanceof vscode.TabInputWebview && /markdown/i.test(t.input.viewType) && t; },
      'the markdown preview of the report', 30000);
    e2eLog(`Check Environment: ${report.verdict} (tab "${tab.label}", ${tab.input.viewType})`);
    await exec('workbench.action.closeAllEditors');
  });

  const dashboardEntry = async (runDir) => ((await exec('embeddingLab._dashboardState')) || []).find((e) => samePath(e.runDir, runDir));
  const eventCount = (runDir, type) => fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n')
    .filter((l) => l.includes(`"type":"${type}"`)).length;

  // Use the model (issue 16): a threshold saved by the CLI shows in the Runs view; Compare Images and Classify
  // Folder from the Explorer menu, checked against the table and the results file.
  const cliJs = path.join(extensionDir, 'dist', 'cli.js');
  const runCli = (...args) => {
    const r = require('node:child_process').spawnSync(process.execPath, [cliJs, ...args], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, `embedlab ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  };

  test('a threshold saved with eval --save-threshold shows in the Runs view', async () => {
    assert.ok(st.table && st.runDir, 'needs the table from "Embed Folder" and the trained run');
    const saved = runCli('eval', st.table, '--save-threshold', st.runDir, '--json').find((o) => o.type === 'threshold-saved');
    assert.ok(saved && Number.isFinite(saved.threshold), 'eval --save-threshold wrote a threshold');
    st.threshold = saved.threshold;
    await exec('embeddingLab.refreshRuns');
    const e = await poll(async () => { const x = await runEntry(); return x && /threshold /.test(x.description) && x; }, 'the threshold in the run\'s Runs view item', 30000);
    const shownT = Number(/threshold ([0-9.e+-]+)/.exec(e.description)[1]);
    assert.ok(Math.abs(shownT - st.threshold) <= Math.abs(st.threshold) * 1e-3, `Runs view shows ${shownT}, threshold.json has ${st.threshold}`);
    e2eLog(`Runs view: ${e.description}`);
  });

  test('Explorer right-click, two images selected: Compare Images shows the distance, the threshold and the verdict', async () => {
    assert.ok(st.threshold !== undefined, 'needs the saved threshold');
    const cls = fs.readdirSync(config.photosDir).sort();
    const a = path.join(config.photosDir, cls[0], fs.readdirSync(path.join(config.photosDir, cls[0])).filter((f) => f !== 'corrupt.png').sort()[0]);
    const b = path.join(config.photosDir, cls[1], fs.readdirSync(path.join(config.photosDir, cls[1])).sort()[0]);
    const before = await shown();
    const pending = exec('embeddingLab.compareImages', vscode.Uri.file(a), [vscode.Uri.file(a), vscode.Uri.file(b)]);
    await acceptQuickPick(/^Compare .+ with which model\?$/, before.quickPicks.length);
    const res = await pending;
    e2eLog(`Compare Images -> ${JSON.stringify(res)}`);
    assert.ok(res && typeof res.distance === 'number', `compareImages returned ${JSON.stringify(res)}`);
    assert.equal(res.threshold, st.threshold, 'the model\'s saved threshold');
    assert.equal(res.same, res.distance < res.threshold, 'the verdict is distance < threshold');
    // The distance against the table's rows of the same two images (embedded by Embed Folder), through knn.
    const rel = (p) => path.relative(config.photosDir, p).split(path.sep).join('/');
    const knn = runCli('knn', st.table, '--query', rel(a), '-k', '50', '--json').find((o) => Array.isArray(o.neighbors));
    const row = knn.neighbors.find((n) => n.path === rel(b));
    assert.ok(row, `${rel(b)} among the neighbours of ${rel(a)}`);
    assert.ok(Math.abs(row.distance - res.distance) <= 1e-4 * Math.max(1, row.distance), `verify says ${res.distance}, the table ${row.distance}`);
    const tab = await poll(() => { const t = vscode.window.tabGroups.activeTabGroup.activeTab; return t && t.input instanceof vscode.TabInputWebview && /compareImages/.test(t.input.viewType) && t; },
      'the Compare Images panel', 30000);
    assert.equal(tab.label, `Compare: ${path.basename(a)} ↔ ${path.basename(b)}`);
    await exec('workbench.action.closeAllEditors');
  });

  test('Explorer right-click on a folder: Classify Folder writes the results, opens them, and the dashboard gets the confusion matrix', async () => {
    assert.ok(st.threshold !== undefined, 'needs the saved threshold');
    const before = await shown();
    const pending = exec('embeddingLab.classifyFolder', vscode.Uri.file(config.photosDir), [vscode.Uri.file(config.photosDir)], { reference: config.dataDir });
    await acceptQuickPick(/^Classify photos with which model\?$/, before.quickPicks.length);
    const res = await pending;
    e2eLog(`Classify Folder -> ${JSON.stringify({ ...res, report: undefined, classification: undefined })}`);
    assert.ok(res && res.type === 'classified', `classifyFolder returned ${JSON.stringify(res)}`);
    assert.equal(res.queries, config.photosReadable, 'one prediction per readable image');
    assert.equal(res.skipped, 1, 'the corrupt image is skipped');
    assert.equal(res.threshold, st.threshold, 'open set at the saved threshold');
    // The results file, read here: its rows, and the accuracy the dashboard shows, counted from them.
    const lines = fs.readFileSync(res.table, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    assert.equal(lines.length, res.queries);
    const correct = lines.filter(([, label, predicted]) => label === predicted).length;
    const v = res.classification;
    assert.ok(v, 'labelled queries give a confusion matrix');
    assert.equal(v.correct, correct);
    assert.equal(Object.values(v.confusion).reduce((n, row) => n + Object.values(row).reduce((a, x) => a + x, 0), 0), res.queries);
    await poll(() => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input && t.input.uri && samePath(t.input.uri.fsPath, res.table)), 'the results table open in an editor', 30000);
    assert.equal(res.dashboard, true);
    const d = await poll(async () => { const x = await dashboardEntry(st.runDir); return x && x.classificationRows === Object.keys(v.confusion).length && x; }, 'the confusion matrix posted to the dashboard', 90000);
    assert.deepEqual(d.webviewErrors, []);
    e2eLog(`Classify Folder: ${correct}/${res.queries} correct, dashboard posted ${JSON.stringify(d.posted)}`);
    await exec('workbench.action.closeAllEditors');
  });

  test('Open Dashboard on a finished run shows its curves', async () => {
    assert.ok(st.runDir, 'needs a trained run');
    await poll(async () => (await runJson()).status === 'done', 'the run to be done', 120000);
    const res = await exec('embeddingLab.openDashboard', st.runDir);
    assert.equal(res && res.panel, 'webview', `openDashboard returned ${JSON.stringify(res)}`);
    // ready + snapshot prove that dist/webview.js loaded under the CSP inside the real workbench and talked back.
    const e = await poll(async () => { const x = await dashboardEntry(st.runDir); return x && x.ready >= 1 && x.snapshots >= 1 && x; },
      'the dashboard webview to say ready and get its snapshot', 90000);
    assert.equal(e.stepPoints, eventCount(st.runDir, 'step'), 'one curve point per step event');
    assert.equal(e.epochPoints, eventCount(st.runDir, 'epoch') + eventCount(st.runDir, 'baseline'), 'one point per epoch event, and one for the validation before training');
    assert.equal(e.status, 'done');
    assert.deepEqual(e.webviewErrors, []);
    await exec('embeddingLab.openDashboard', st.runDir);
    const all = (await exec('embeddingLab._dashboardState')).filter((x) => samePath(x.runDir, st.runDir));
    assert.equal(all.length, 1, 'opening it again reveals the same panel');
    e2eLog(`dashboard of the finished run: ${e.stepPoints} step points, ${e.epochPoints} epoch points`);
  });

  test('a running training adds points to the open dashboard live', async () => {
    assert.ok(st.config, 'needs the config');
    // A long run (the small one now finishes in a few seconds, before a panel can open): stopped once deltas arrive.
    const liveConfig = st.config.replace(/\.embedding\.json$/, '-live.embedding.json');
    const cfg = readJson(st.config);
    cfg.name = 'e2e-live';
    cfg.training = { ...cfg.training, epochs: 200, checkpointEverySteps: 50 };
    assert.deepEqual(schemaErrors(cfg), [], 'the live config does not validate');
    fs.writeFileSync(liveConfig, JSON.stringify(cfg, null, 2));
    const res = await exec('embeddingLab.trainExperiment', vscode.Uri.file(liveConfig), { force: true });
    const runDir = fsPathOf(res && res.runDir);
    assert.ok(runDir && !samePath(runDir, st.runDir), `a new run, got ${JSON.stringify(res)}`);
    await exec('embeddingLab.openDashboard', runDir);
    const first = await poll(async () => { const x = await dashboardEntry(runDir); return x && x.snapshots >= 1 && x; }, 'the live dashboard snapshot', 90000);
    assert.equal(first.status, 'running', 'the run is still training when the panel gets its snapshot');
    const s0 = first.stepPoints;
    const live = await poll(async () => { const x = await dashboardEntry(runDir); return x && x.deltaStepPoints > 0 && x.stepPoints > s0 && x; },
      'step points arriving as deltas while training runs', 120000);
    e2eLog(`live dashboard: ${s0} points at the snapshot, ${live.stepPoints} after deltas (${live.deltaStepPoints} by delta)`);
    await exec('embeddingLab.stopTraining', runDir);
    const stopped = await poll(async () => { const x = await dashboardEntry(runDir); return x && x.status !== 'running' && x; }, 'the live run to stop', 120000);
    await poll(async () => { const x = await dashboardEntry(runDir); return x && x.stepPoints === eventCount(runDir, 'step') && x; },
      'every step event on the curve, none twice', 30000);
    assert.deepEqual(stopped.webviewErrors, []);
    // Leave the workspace as the later UI test expects it: one experiment, finished runs only.
    await exec('workbench.action.closeAllEditors');
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(liveConfig, { force: true });
    await exec('embeddingLab.refreshRuns');
  });

  suiteTeardown(async () => {
    // Leave no training worker behind.
    try {
      for (const r of (await testState()).running || []) await exec('embeddingLab.stopTraining', r);
    } catch { /* the extension may be broken: nothing to stop */ }
  });
});
