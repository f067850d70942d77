// Shared helpers of the extension-host suite.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { config, e2eLog } = require('./index.js');

/** The extension under test: the installed one this suite was copied into. */
const extensionDir = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(extensionDir, 'package.json'), 'utf8'));
const extensionId = `${manifest.publisher}.${manifest.name}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` (with the last value or error) on timeout. */
async function poll(fn, what, timeoutMs = 60000, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) { last = err; }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

/** A path from whatever a command returned for it: a string, a vscode.Uri or { fsPath }. */
function fsPathOf(x) {
  if (!x) return undefined;
  if (typeof x === 'string') return x.startsWith('file://') ? vscode.Uri.parse(x).fsPath : x;
  if (typeof x.fsPath === 'string') return x.fsPath;
  if (typeof x.path === 'string') return x.path;
  return undefined;
}
const samePath = (a, b) => !!a && !!b && path.resolve(fsPathOf(a)) === path.resolve(fsPathOf(b));

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** The extension's hidden state command: { runs: [{ runDir, status, label, description }], running, activationMs }. */
async function testState() {
  const s = await vscode.commands.executeCommand('embeddingLab._testState');
  if (!s || typeof s !== 'object') throw new Error(`embeddingLab._testState returned ${JSON.stringify(s)}`);
  return s;
}

/** Records a number for BENCHMARKS.md: printed and kept in <artifacts>/metrics.json. */
function metric(name, value) {
  e2eLog(`E2E_METRIC ${name}=${value}`);
  const file = path.join(config.artifacts, 'metrics.json');
  let all = {};
  try { all = readJson(file); } catch { /* first metric */ }
  all[name] = value;
  fs.writeFileSync(file, JSON.stringify(all, null, 2));
}

module.exports = { config, e2eLog, extensionDir, manifest, extensionId, sleep, poll, fsPathOf, samePath, readJson, testState, metric };
