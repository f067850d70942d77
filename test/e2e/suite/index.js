// Entry point of the extension-host suite (extensionTestsPath). test/e2e/run.sh copies this folder into the
// INSTALLED extension (<extensions-dir>/<publisher>.<name>-<version>-<target>/e2e-suite/) with a config.json
// (absolute paths: the project's mocha and ajv, the fixture workspace, the artifacts folder). The extension under
// test is therefore `..` of this file, and the workbench runs it as the development extension.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');

const config = JSON.parse(fs.readFileSync(path.join(__dirname, 'config.json'), 'utf8'));

/** Lines the driver (test/e2e/exthost-driver.js) shows in the terminal; also kept in <artifacts>/exthost-mocha.log. */
function e2eLog(...args) {
  const text = util.format(...args);
  for (const line of text.split('\n')) console.log('E2E| ' + line);
  try { fs.appendFileSync(path.join(config.artifacts, 'exthost-mocha.log'), text + '\n'); } catch { /* artifacts dir gone */ }
}

function run() {
  const Mocha = require(config.mocha);
  // Mocha's reporters print through Base.consoleLog: route them through e2eLog (no colours: it is a log).
  Mocha.reporters.Base.consoleLog = e2eLog;
  Mocha.reporters.Base.useColors = false;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 120000, reporter: 'spec' });
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort();
  for (const f of files) mocha.addFile(path.join(__dirname, f));
  e2eLog(`suite: ${files.join(', ')} (extension under test: ${path.resolve(__dirname, '..')})`);
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => {
        try { fs.writeFileSync(path.join(config.artifacts, 'exthost-result.json'), JSON.stringify({ failures, files }, null, 2)); } catch { /* ignore */ }
        if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
        else resolve();
      });
    } catch (err) {
      e2eLog('mocha crashed: ' + (err && err.stack || err));
      reject(err);
    }
  });
}

module.exports = { run, config, e2eLog };
