// The installed extension activates and registers its commands; the manifest carries the fixed contract.
'use strict';
/* global suite, test */
const assert = require('node:assert/strict');
const vscode = require('vscode');
const { e2eLog, extensionId, manifest, metric, testState } = require('./helpers.js');

/** The fixed command contract (docs of the extension): every id must be contributed or at least registered. */
const CONTRACT = ['newExperiment', 'trainExperiment', 'stopTraining', 'resumeTraining', 'embedFolder', 'findSimilarImages',
  'evaluateTable', 'exportModel', 'checkEnvironment', 'openDashboard', 'refreshRuns', 'deleteRun', 'revealRun',
  'installGpuBackend', 'installNativeCpuBackend'].map((c) => `embeddingLab.${c}`);
const TITLES = {
  'embeddingLab.newExperiment': 'Embedding Lab: New Experiment…',
  'embeddingLab.trainExperiment': 'Embedding Lab: Train Experiment',
  'embeddingLab.embedFolder': 'Embedding Lab: Embed Folder…',
  'embeddingLab.checkEnvironment': 'Embedding Lab: Check Environment',
};
const norm = (s) => String(s).replace(/\.\.\.$/, '…');

suite('commands', () => {
  test('the extension activates', async () => {
    assert.ok(manifest.main, 'the installed package.json has no "main" (the extension entry point is not written yet)');
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext, `${extensionId} is not installed`);
    const t0 = Date.now();
    await ext.activate();
    assert.ok(ext.isActive, 'extension is not active after activate()');
    e2eLog(`activate() resolved after ${Date.now() - t0} ms (activation events: ${JSON.stringify(manifest.activationEvents || [])})`);
  });

  test('every command in contributes.commands is registered', async () => {
    const contributed = ((manifest.contributes && manifest.contributes.commands) || []).map((c) => c.command);
    assert.ok(contributed.length > 0, 'the installed package.json contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
    e2eLog(`${contributed.length} contributed commands, all registered`);
  });

  test('the command contract is registered (incl. the hidden _testState)', async () => {
    const registered = new Set(await vscode.commands.getCommands(false));
    const missing = [...CONTRACT, 'embeddingLab._testState'].filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `not registered: ${missing.join(', ')}`);
  });

  test('palette titles, view container and views', () => {
    const contributes = manifest.contributes || {};
    const byId = new Map((contributes.commands || []).map((c) => [c.command, c]));
    for (const [id, want] of Object.entries(TITLES)) {
      const c = byId.get(id);
      assert.ok(c, `${id} is not in contributes.commands`);
      const title = typeof c.title === 'string' ? c.title : c.title && c.title.value;
      const category = typeof c.category === 'string' ? c.category : c.category && c.category.value;
      assert.equal(norm(category ? `${category}: ${title}` : title), want, `palette title of ${id}`);
    }
    const containers = Object.values(contributes.viewsContainers || {}).flat();
    assert.ok(containers.some((v) => v.id === 'embeddingLab'), 'view container "embeddingLab" is not contributed');
    const views = ((contributes.views || {}).embeddingLab || []).map((v) => v.id);
    for (const v of ['embeddingLab.experiments', 'embeddingLab.runs']) assert.ok(views.includes(v), `view ${v} is not in the embeddingLab container`);
  });

  test('activation time is recorded', async () => {
    const s = await testState();
    assert.equal(typeof s.activationMs, 'number', `_testState().activationMs is ${JSON.stringify(s.activationMs)}`);
    assert.ok(Array.isArray(s.runs) && Array.isArray(s.running), '_testState() has runs[] and running[]');
    metric('activationMs', Math.round(s.activationMs * 10) / 10);
  });
});
