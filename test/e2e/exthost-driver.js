// Runs a Mocha suite (exports.run, as with @vscode/test-electron) inside code-server's Node extension host.
//
//   node test/e2e/exthost-driver.js <extensionDevelopmentPath> <extensionTestsPath> <workspaceFolder>
//   env: CS_HOST (127.0.0.1:PORT), E2E_ARTIFACTS, E2E_CHROMIUM, E2E_XDG_CONFIG_HOME, E2E_EXTHOST_TIMEOUT (s, 900)
//
// The workbench honours ?payload=[["extensionDevelopmentPath",…],["extensionTestsPath",…]] only when code-server
// runs with --vscode-option enable-smoke-test-driver; it then loads the development extension in the remote (Node)
// extension host, calls run() of the tests module, and reports the result through window.codeAutomationExit(code),
// which we provide with page.exposeFunction. The extension host's console output reaches the page console.
// Exit code: 0 when the suite passed, 1 otherwise (failures, timeout, driver errors).
'use strict';
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

const HOST = process.env.CS_HOST || '127.0.0.1:8765';
const [devPath, testsPath, folder] = process.argv.slice(2);
const ART = process.env.E2E_ARTIFACTS || path.resolve('test-artifacts/e2e');
const TIMEOUT_S = Number(process.env.E2E_EXTHOST_TIMEOUT || 900);
if (!devPath || !testsPath || !folder) {
  console.error('usage: node test/e2e/exthost-driver.js <extensionDevelopmentPath> <extensionTestsPath> <workspaceFolder>');
  process.exit(2);
}
fs.mkdirSync(ART, { recursive: true });
const logFile = path.join(ART, 'exthost-console.log');
fs.writeFileSync(logFile, '');
const logLine = (s) => fs.appendFileSync(logFile, s + '\n');

(async () => {
  const t0 = Date.now();
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-e2e-chrome-'));
  let ctx;
  let code = 'error';
  try {
    ctx = await chromium.launchPersistentContext(udd, {
      executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      env: { ...process.env, HOME: process.env.E2E_HOME || process.env.HOME, XDG_CONFIG_HOME: process.env.E2E_XDG_CONFIG_HOME || path.resolve('.e2e/xdg/config') },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    let resolveExit;
    const exited = new Promise((r) => { resolveExit = r; });
    await page.exposeFunction('codeAutomationExit', (c) => { resolveExit(c); });
    page.on('console', async (m) => {
      // Extension-host output arrives with its format arguments ('%c INFO', css, fmt, ...args): format it again.
      let args;
      try { args = await Promise.all(m.args().map((a) => a.jsonValue())); } catch { args = [m.text()]; }
      if (typeof args[0] === 'string' && args[0].startsWith('%c')) args = args.slice(2);
      const text = util.format(...args);
      logLine(`[${m.type()}] ${text}`);
      // The suite prefixes its own and Mocha's reporter lines with 'E2E| ' (suite/index.js): those go to the terminal.
      if (text.startsWith('E2E| ')) console.log('[exthost] ' + text.slice(5));
    });
    page.on('pageerror', (e) => logLine(`[pageerror] ${e.message}`));
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', `vscode-remote://${HOST}${devPath}`],
      ['extensionTestsPath', `vscode-remote://${HOST}${testsPath}`],
    ]);
    await page.goto(`http://${HOST}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(payload)}`);
    let timer;
    code = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r('timeout'), TIMEOUT_S * 1000); })]);
    clearTimeout(timer);
    await page.screenshot({ path: path.join(ART, 'exthost-final.png') }).catch(() => {});
  } catch (e) {
    console.error('exthost driver error:', e && e.stack || e);
  } finally {
    console.log(`extension-host tests exit code: ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s (console log: ${logFile})`);
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(udd, { recursive: true, force: true });
  }
  process.exit(code === 0 ? 0 : 1);
})();
