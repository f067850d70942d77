// The harness itself: code-server's extension host runs this suite against the installed extension.
'use strict';
/* global suite, test */
const assert = require('node:assert/strict');
const path = require('node:path');
const vscode = require('vscode');
const { config, e2eLog, extensionDir, extensionId, manifest } = require('./helpers.js');

suite('harness', () => {
  test('runs in code-server against the installed VSIX', () => {
    e2eLog(`vscode ${vscode.version}, ${vscode.env.appName}, uiKind ${vscode.env.uiKind}, remote ${vscode.env.remoteName}, node ${process.version}`);
    assert.match(vscode.version, /^1\.139\./, 'code-server 4.139.1 bundles VS Code 1.139.x');
    assert.equal(path.resolve(extensionDir), path.resolve(config.extensionDir), 'the suite lives inside the installed extension');
    assert.ok(extensionDir.startsWith(path.dirname(config.extensionDir)), 'the extension folder is in the code-server extensions dir');
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext, `extension ${extensionId} is not known to the extension host`);
    assert.equal(path.resolve(ext.extensionPath), path.resolve(extensionDir), 'the extension host runs the installed copy');
    assert.equal(ext.packageJSON.version, manifest.version);
  });

  test('opens the fixture workspace', () => {
    const folders = vscode.workspace.workspaceFolders || [];
    assert.equal(folders.length, 1);
    assert.equal(path.resolve(folders[0].uri.fsPath), path.resolve(config.workspace));
  });
});
