// UI test: playwright-core drives code-server's workbench in Debian chromium (started by test/e2e/run.sh).
//   1. "Embedding Lab: Check Environment" from the command palette → a new editor tab or a notification that
//      mentions "Embedding Lab" or "wasm";
//   2. right-click the "data" folder in the Explorer → "Embed Folder…" (a quick pick, e.g. for the model, is
//      answered with Enter on its first item) → a new table file (*.parquet / *.csv) appears in the workspace (e.g. runs/<run>/tables/data.parquet).
//      and the notification naming it (the workbench shows it in the Notifications center: headless, no toasts);
//   3. select two class folders of "data" (click, Ctrl+click), right-click → "Embed Folder…" → both tables and one
//      notification naming both;
//   4. right-click an image → "Find Similar Images" → a quick pick of its neighbours, each with its thumbnail, the
//      query left out; Enter opens the first.
// Screenshots: <artifacts>/ui-*.png; log: <artifacts>/ui.log. Exit code 1 on any failure.
//   env: CS_HOST, E2E_WORKSPACE, E2E_ARTIFACTS, E2E_CHROMIUM, E2E_XDG_CONFIG_HOME, E2E_UI_TIMEOUT (s, 300)
'use strict';
/* global document, getComputedStyle */
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HOST = process.env.CS_HOST || '127.0.0.1:8765';
const WS = process.env.E2E_WORKSPACE || path.resolve('.e2e/ws');
const ART = process.env.E2E_ARTIFACTS || path.resolve('test-artifacts/e2e');
const DATA_FOLDER = process.env.E2E_UI_FOLDER || 'data';
const TIMEOUT_S = Number(process.env.E2E_UI_TIMEOUT || 300);
fs.mkdirSync(ART, { recursive: true });
const logFile = path.join(ART, 'ui.log');
fs.writeFileSync(logFile, '');
const t0 = Date.now();
const mark = (s) => {
  const line = `[${String(Date.now() - t0).padStart(6)} ms] ${s}`;
  console.log('[ui] ' + line);
  fs.appendFileSync(logFile, line + '\n');
};

/** Opens the palette and runs `label`, reopening it until the row is there (the palette snapshots the command
 * list when it opens, and contributed commands appear only once the remote extension host has scanned them). */
async function runCommand(page, label, timeoutMs = 90000) {
  const end = Date.now() + timeoutMs;
  let tries = 0;
  while (Date.now() < end) {
    tries++;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: 10000 });
    await input.fill('>' + label);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    try {
      await row.waitFor({ timeout: 2000 });
      await page.keyboard.press('Enter');
      mark(`palette: ran "${label}" (try ${tries})`);
      return;
    } catch {
      await page.keyboard.press('Escape');
      await page.waitForTimeout(500);
    }
  }
  throw new Error(`command not found in the palette after ${tries} tries: ${label}`);
}

/** Editor tab labels and notification texts now visible. */
async function uiTexts(page) {
  return page.evaluate(() => ({
    tabs: [...document.querySelectorAll('.tabs-container .tab')].map((t) => (t.getAttribute('aria-label') || t.textContent || '').trim()),
    notes: [...document.querySelectorAll('.notifications-toasts .notification-list-item, .notifications-center .notification-list-item')]
      .map((n) => (n.textContent || '').trim()),
  }));
}

/** Table files (*.parquet, *.csv) anywhere in the workspace (Embed Folder writes <runDir>/tables/<folder>.parquet). */
function tables(dir = WS, out = new Set()) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (!['.vscode', 'node_modules'].includes(e.name)) tables(p, out); }
    else if (/\.(parquet|csv)$/i.test(e.name)) out.add(p);
  }
  return out;
}

const shot = (name) => page.screenshot({ path: path.join(ART, name) }).then(() => mark(`screenshot ${name}`));

/** Table files written since `t0` (ms): Embed Folder may overwrite a table of the same name. */
function freshTables(t0) {
  return [...tables()].filter((t) => fs.statSync(t).mtimeMs >= t0 - 1000);
}

let page;

/** Focuses `row` (unless `keepSelection`), reopens its context menu until `label` is there, and clicks it. */
async function contextMenuItem(row, label, focusFirst) {
  const item = page.locator('.monaco-menu .action-item', { hasText: label }).first();
  const menuEnd = Date.now() + 60000;
  for (let tries = 1; ; tries++) {
    if (focusFirst) { await page.keyboard.press('Escape'); await row.click(); await page.waitForTimeout(300); }
    await row.click({ button: 'right' });
    try { await item.waitFor({ timeout: 3000 }); mark(`context menu has ${label} (try ${tries})`); break; } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > menuEnd) throw new Error(`${label} not in the context menu after ${tries} tries`);
    }
  }
  for (let i = 0; i < 6; i++) {
    await page.waitForTimeout(200);
    await item.click({ timeout: 2000 }).catch(() => {});
    try { await page.locator('.monaco-menu').first().waitFor({ state: 'hidden', timeout: 1000 }); break; } catch { /* retry */ }
  }
  mark(`context menu: clicked ${label}`);
}

/** Answers quick picks with Enter until `done()`. */
async function answerQuickInputs(done, timeoutMs) {
  const quickInput = page.locator('.quick-input-widget');
  const end = Date.now() + timeoutMs;
  let answered = 0;
  while (Date.now() < end && !done()) {
    if (await quickInput.isVisible().catch(() => false)) {
      const title = await quickInput.innerText().catch(() => '');
      await page.waitForTimeout(300);
      await page.keyboard.press('Enter');
      answered++;
      mark(`answered a quick input with Enter: ${JSON.stringify(title.replace(/\s+/g, ' ').slice(0, 160))}`);
      if (answered > 6) throw new Error('more than 6 quick inputs in a row');
      await page.waitForTimeout(700);
    } else await page.waitForTimeout(250);
  }
  if (!done()) throw new Error(`not done within ${timeoutMs / 1000} s`);
}

/**
 * A notification matching `pred`: a toast, else (this headless workbench shows no toasts) the Notifications
 * center, opened from the palette and closed again.
 */
async function waitNote(pred) {
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    const n = (await uiTexts(page)).notes.find(pred);
    if (n) return n;
    await page.waitForTimeout(250);
  }
  await runCommand(page, 'Notifications: Show Notifications');
  const end2 = Date.now() + 15000;
  let found;
  while (!found && Date.now() < end2) {
    found = (await uiTexts(page)).notes.find(pred);
    if (!found) await page.waitForTimeout(250);
  }
  await shot(`ui-notifications-${Date.now() - t0}.png`);
  await runCommand(page, 'Notifications: Hide Notifications').catch(() => {});
  return found;
}

async function main() {
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-e2e-chrome-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    env: { ...process.env, HOME: process.env.E2E_HOME || process.env.HOME, XDG_CONFIG_HOME: process.env.E2E_XDG_CONFIG_HOME || path.resolve('.e2e/xdg/config') },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = ctx.pages()[0] || await ctx.newPage();
  let consoleErrors = 0;
  page.on('console', (m) => { if (m.type() === 'error') { consoleErrors++; fs.appendFileSync(logFile, `  [console.error] ${m.text().slice(0, 500)}\n`); } });
  let step = 'start';
  try {
    step = 'open the workbench';
    await page.goto(`http://${HOST}/?folder=${encodeURIComponent(WS)}`, { waitUntil: 'domcontentloaded' });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    mark('workbench present');
    const folderRow = page.locator('.explorer-folders-view .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${DATA_FOLDER}$`) }) }).first();
    await folderRow.waitFor({ timeout: 60000 });
    mark(`explorer shows "${DATA_FOLDER}"`);

    // 1) Check Environment from the palette.
    step = 'Check Environment';
    const before = await uiTexts(page);
    await runCommand(page, 'Embedding Lab: Check Environment');
    const seen = await (async () => {
      const end = Date.now() + 90000;
      while (Date.now() < end) {
        const now = await uiTexts(page);
        const tab = now.tabs.find((t) => !before.tabs.includes(t));
        if (tab) return `new editor tab "${tab}"`;
        const note = now.notes.find((n) => /Embedding Lab|wasm/i.test(n) && !before.notes.includes(n));
        if (note) return `notification "${note.slice(0, 200)}"`;
        await page.waitForTimeout(250);
      }
      return undefined;
    })();
    await shot('ui-1-check-environment.png');
    if (!seen) throw new Error('no new editor tab or notification mentioning "Embedding Lab"/"wasm" within 90 s');
    mark(`Check Environment result: ${seen}`);

    // 2) Explorer context menu on the data folder → Embed Folder…
    step = 'Embed Folder from the Explorer context menu';
    const tablesBefore = tables();
    // Focus the Explorer row first (a right-click while a webview or preview has focus can open a menu built for
    // that context), then reopen the context menu until our item is in it.
    const item = page.locator('.monaco-menu .action-item', { hasText: /Embed Folder/ }).first();
    const menuEnd = Date.now() + 60000;
    for (let tries = 1; ; tries++) {
      await page.keyboard.press('Escape');
      await folderRow.click();
      await page.waitForTimeout(300);
      await folderRow.click({ button: 'right' });
      try { await item.waitFor({ timeout: 3000 }); mark(`context menu has "Embed Folder…" (try ${tries})`); break; } catch {
        const items = await page.locator('.monaco-menu .action-item').allInnerTexts().catch(() => []);
        fs.appendFileSync(logFile, `  context menu try ${tries}: ${items.map((t) => t.split('\n')[0]).filter(Boolean).join(' | ')}\n`);
        if (Date.now() > menuEnd) throw new Error(`"Embed Folder…" not in the Explorer context menu of "${DATA_FOLDER}" after ${tries} tries`);
      }
    }
    // VS Code's menus ignore a click that lands while the menu is still opening: click until it closes.
    for (let i = 0; i < 6; i++) {
      await page.waitForTimeout(200);
      await item.click({ timeout: 2000 }).catch(() => {});
      try { await page.locator('.monaco-menu').first().waitFor({ state: 'hidden', timeout: 1000 }); break; } catch { /* retry */ }
    }
    mark('context menu: clicked "Embed Folder…"');
    // Answer quick picks / inputs (model, output file) with Enter on the first item until the table appears.
    const quickInput = page.locator('.quick-input-widget');
    const end = Date.now() + 120000;
    let answered = 0;
    let table;
    while (Date.now() < end) {
      table = [...tables()].find((t) => !tablesBefore.has(t));
      if (table) break;
      if (await quickInput.isVisible().catch(() => false)) {
        const title = await quickInput.innerText().catch(() => '');
        if (answered === 0) await shot('ui-2-quick-pick.png');
        await page.waitForTimeout(300);
        await page.keyboard.press('Enter');
        answered++;
        mark(`answered a quick input with Enter: ${JSON.stringify(title.replace(/\s+/g, ' ').slice(0, 160))}`);
        if (answered > 6) throw new Error('more than 6 quick inputs in a row');
        await page.waitForTimeout(700);
      } else {
        await page.waitForTimeout(250);
      }
    }
    await page.waitForTimeout(500);
    await shot('ui-3-embed-folder.png');
    if (!table) throw new Error(`no new table file (*.parquet|*.csv) in ${WS} within 120 s`);
    mark(`table written: ${path.relative(WS, table)} (${fs.statSync(table).size} bytes)`);
    // The visible result of the menu click (issue #12 item 1: it used to be skipped): the notification naming the table.
    step = 'the Embed Folder notification';
    const note = await waitNote((n) => /Embedded \d+ images into/.test(n) && n.includes(path.basename(table)));
    await shot('ui-4-embed-notification.png');
    if (!note) throw new Error(`no "Embedded … images into ${path.basename(table)}" notification after the Explorer's Embed Folder…`);
    mark(`notification: ${note.slice(0, 200)}`);

    // 3) Multi-select: two class folders of "data" (click, Ctrl+click), right-click → Embed Folder… → one
    //    notification naming both tables, and both tables written.
    step = 'Embed Folder on two selected folders';
    const row = (name) => page.locator('.explorer-folders-view .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }) }).first();
    const expand = async (r) => { if ((await r.getAttribute('aria-expanded')) === 'false') await r.click(); await page.waitForTimeout(300); };
    await page.keyboard.press('Escape');
    await expand(folderRow);
    const classes = fs.readdirSync(path.join(WS, DATA_FOLDER)).filter((n) => fs.statSync(path.join(WS, DATA_FOLDER, n)).isDirectory()).sort();
    const [c1, c2] = classes;
    await row(c1).waitFor({ timeout: 30000 });
    const t3 = Date.now();
    await row(c1).click();
    await row(c2).click({ modifiers: ['Control'] });
    const selected = await page.locator('.explorer-folders-view .monaco-list-row[aria-selected="true"]').allInnerTexts();
    mark(`selected in the Explorer: ${JSON.stringify(selected.map((t) => t.trim()))}`);
    await contextMenuItem(row(c2), /Embed Folder/, false); // keep the two-item selection
    await answerQuickInputs(() => freshTables(t3).length >= 2, 120000);
    const fresh = freshTables(t3).map((t) => path.basename(t)).sort();
    if (!fresh.includes(`${c1}.parquet`) || !fresh.includes(`${c2}.parquet`)) throw new Error(`tables written: ${fresh.join(', ')}; expected ${c1}.parquet and ${c2}.parquet`);
    const note2 = await waitNote((n) => /Embedded 2 folders/.test(n) && n.includes(`${c1}.parquet`) && n.includes(`${c2}.parquet`));
    await shot('ui-5-embed-two-folders.png');
    if (!note2) throw new Error('no "Embedded 2 folders: …" notification naming both tables');
    mark(`notification: ${note2.slice(0, 200)}`);

    // 4) Right-click an image → Find Similar Images → its neighbours in a quick pick with thumbnails, the query left
    //    out; Enter opens the first.
    step = 'Find Similar Images from the Explorer context menu';
    await page.keyboard.press('Escape');
    await expand(row(c1));
    const img = fs.readdirSync(path.join(WS, DATA_FOLDER, c1)).filter((n) => /\.png$/.test(n)).sort()[0];
    await row(img).waitFor({ timeout: 30000 });
    await contextMenuItem(row(img), /Find Similar Images/, true);
    const qp = page.locator('.quick-input-widget');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: `Similar to ${img}` }).waitFor({ timeout: 120000 });
    await page.waitForTimeout(500);
    const items = await page.evaluate(() => [...document.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row')].map((r) => {
      const icon = r.querySelector('.quick-input-list-icon');
      return { text: (r.textContent || '').trim(), icon: icon ? getComputedStyle(icon).backgroundImage : 'none' };
    }));
    await shot('ui-6-find-similar.png');
    mark(`Find Similar quick pick: ${JSON.stringify(items.slice(0, 4))}`);
    if (items.length === 0) throw new Error('the Find Similar quick pick has no items');
    if (items.some((i) => i.text.includes(img))) throw new Error(`the query ${img} is among its neighbours`);
    if (!items.every((i) => /url\(/.test(i.icon))) throw new Error('not every neighbour has a thumbnail (QuickPickItem.iconPath)');
    const firstName = (items[0].text.match(/^\d+\.\s*(\S+\.png)/) || [])[1];
    await page.keyboard.press('Enter');
    await qp.waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
    const opened = await (async () => {
      const endOpen = Date.now() + 30000;
      while (Date.now() < endOpen) {
        const t = (await uiTexts(page)).tabs.find((x) => firstName && x.includes(firstName));
        if (t) return t;
        await page.waitForTimeout(250);
      }
      return undefined;
    })();
    await shot('ui-7-opened-neighbour.png');
    if (!opened) throw new Error(`picking the first neighbour (${firstName}) opened no tab`);
    mark(`opened the neighbour: ${opened}`);
    mark(`RESULT PASS (console errors: ${consoleErrors}, not counted)`);
    return 0;
  } catch (e) {
    mark(`RESULT FAIL at "${step}": ${e && e.message || e}`);
    await page.screenshot({ path: path.join(ART, 'ui-fail.png') }).catch(() => {});
    const texts = await uiTexts(page).catch(() => ({}));
    fs.appendFileSync(logFile, `visible tabs/notifications at failure: ${JSON.stringify(texts)}\n`);
    return 1;
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(udd, { recursive: true, force: true });
  }
}

let timer;
Promise.race([main(), new Promise((r) => { timer = setTimeout(() => { mark(`RESULT FAIL: timeout after ${TIMEOUT_S} s`); r(1); }, TIMEOUT_S * 1000); })])
  .then((code) => { clearTimeout(timer); process.exit(code); });
