/// <reference lib="dom" />
// The dashboard webview in a real Chromium, fed by a real run and a real embedding table made by the CLI in this
// test. Asserts: curve point counts = events; gallery order and distances = `embedlab knn`; one projection point
// per row; the threshold marker at eval's F1-optimal threshold; keyboard and buttons post the right messages; no
// console errors and no CSP violations. Screenshots (dark, light) go to test-artifacts/browser/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, onlyRunDir, smallConfig, tmpDir, writeConfig } from '../integration/helpers';
import { readTable, type Table } from '../../src/core/table';
import type { DistanceName } from '../../src/core/config-types';
import type { EvalView, SnapshotMessage } from '../../src/protocol/webview';
import { DEFAULT_SETTINGS, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import type { WorkerEvent } from '../../src/protocol/events';
import { CHROMIUM, ROOT, setTheme, startHarness, type Harness } from './harness';
import { epochPoint, neighborsOf, parseEvents, projectionView, runView, stepEvents, tableView } from './host-player';

const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');
const haveChromium = fs.existsSync(CHROMIUM);
const work = tmpDir('browser');
const val = path.join(work, 'val');
let events: WorkerEvent[] = [];
let runName = '';
let table: Table;
let tablePath = '';
let evalReport: EvalView & { verification: NonNullable<EvalView['verification']> };
let distance: DistanceName = 'euclidean';
let h: Harness | undefined;

before(async () => {
  if (!haveChromium) return;
  const train = path.join(work, 'train');
  for (const [dir, per, seed] of [[train, '16', '1'], [val, '8', '2']] as const) {
    const r = await cli(['synth', dir, '--classes', '6', '--per-class', per, '--size', '32', '--seed', seed]);
    assert.equal(r.code, 0, r.stderr);
  }
  const runs = path.join(work, 'runs');
  const cfg = writeConfig(work, smallConfig(train, val, {
    loss: { mining: 'semi-hard' }, data: { samplesPerEpoch: 192 },
    training: { epochs: 2, batchSize: 24, classesPerBatch: 6, imagesPerClass: 4 },
  }));
  const t = await cli(['train', cfg, '--out', runs, '--json']);
  assert.equal(t.code, 0, `train failed: ${t.stderr}`);
  const runDir = onlyRunDir(runs);
  runName = path.basename(runDir);
  events = parseEvents(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  tablePath = path.join(work, 'val.parquet');
  const e = await cli(['embed', '--model', runDir, val, '--out', tablePath, '--backend', 'wasm', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = await cli(['eval', tablePath, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  evalReport = JSON.parse(ev.stdout);
  table = await readTable(tablePath);
  distance = (evalReport.distance as DistanceName | undefined) ?? 'euclidean';
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await h?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('dashboard webview in Chromium: real run, table, eval and knn', { skip: haveChromium ? false : `no ${CHROMIUM}` }, async () => {
  let k = 8;
  h = await startHarness({
    imagesRoot: val,
    onMessage: (m) => {
      // The host side: answer queries with core knn over the table, as the extension host does.
      if (m.type === 'selectQuery') void h!.send({ type: 'neighbors', neighbors: neighborsOf(table, m.row, k, distance) });
      if (m.type === 'setK') { k = m.k; }
    },
  });
  const { page } = h;
  await setTheme(page, 'dark');
  const ready = await h.waitFor('ready');
  assert.deepEqual(ready, { type: 'ready', version: WEBVIEW_PROTOCOL_VERSION });

  // Snapshot: the run's first half (as if opened mid-training), then the rest as batched deltas.
  const steps = stepEvents(events);
  assert.ok(steps.length >= 10, `the run has ${steps.length} steps`);
  const cut = events.indexOf(steps[Math.floor(steps.length / 2)]);
  const run = runView(events, runName, cut, 0.2);
  assert.equal(run.status, 'running');
  const snapshot: SnapshotMessage = {
    type: 'snapshot', version: WEBVIEW_PROTOCOL_VERSION, runs: [run], table: tableView(tablePath, table, distance),
    projection: projectionView(table), clusters: null, neighbors: null,
    // eval's perClass carries class indices in first-seen label order (labelIndices); the host names them.
    eval: { ...evalReport, classNames: [...new Set(table.labels.filter((l) => l !== ''))] },
    thumbnails: { base: `${h.origin}/img` }, settings: { ...DEFAULT_SETTINGS, k },
  };
  await h.send(snapshot);
  // Stop is offered for a running run and posts `stop`.
  const nStop = h.received.length;
  await page.click(`button[data-action=stop][data-run="${run.runId}"]`);
  assert.deepEqual(await h.waitFor('stop', nStop), { type: 'stop', runId: run.runId });

  const rest = events.slice(cut);
  for (let i = 0; i < rest.length; i += 5) {
    const chunk = rest.slice(i, i + 5);
    const s = runView([events.find((e) => e.type === 'started')!, ...chunk], runName).steps;
    if (s.step.length) await h.send({ type: 'steps', runId: run.runId, steps: s });
    const ep = chunk.filter((e) => e.type === 'epoch').map((e) => epochPoint(e as Parameters<typeof epochPoint>[0]));
    if (ep.length) await h.send({ type: 'epochs', runId: run.runId, epochs: ep });
  }
  await h.send({ type: 'runStatus', runId: run.runId, status: 'done', resumable: false });
  await page.evaluate(() => (window as unknown as { __embedlab: { flush(): Promise<void> } }).__embedlab.flush());
  const nEpochs = events.filter((e) => e.type === 'epoch' && e.validation).length;
  await page.waitForFunction(({ id, n }) => {
    const c = (window as unknown as { __embedlab: { trainingCounts(): Record<string, number> } }).__embedlab.trainingCounts();
    return c[`${id}:loss`] === n;
  }, { id: run.runId, n: steps.length }, { timeout: 15_000 });
  const counts = await page.evaluate(() => (window as unknown as { __embedlab: { trainingCounts(): Record<string, number> } }).__embedlab.trainingCounts());
  for (const s of ['loss', 'smooth', 'pos', 'neg', 'gap']) assert.equal(counts[`${run.runId}:${s}`], steps.length, `${s} curve has one point per step event`);
  for (const s of ['p1', 'map']) assert.equal(counts[`${run.runId}:${s}`], nEpochs, `${s} has one point per epoch with validation`);
  assert.equal(await page.textContent('#stat-step'), `${steps.at(-1)!.step + 1} / ${run.epochs * run.stepsPerEpoch}`);

  // Explorer: one point per row.
  await page.evaluate(() => (window as unknown as { __embedlab: { rendered(): Promise<unknown> } }).__embedlab.rendered());
  assert.equal(await page.evaluate(() => (window as unknown as { __embedlab: { projectionPoints(): number } }).__embedlab.projectionPoints()), table.paths.length);

  // Click a point in the plot → selectQuery → the host's neighbours → the gallery; compare with `embedlab knn`.
  const target = await page.evaluate(() => {
    type Ax = { _offset: number; l2p(v: number): number };
    const gd = document.getElementById('chart-projection') as unknown as { data: Array<{ uid: string; x: number[]; y: number[]; customdata: number[] }>; _fullLayout: { xaxis: Ax; yaxis: Ax } };
    const pts = gd.data.filter((t) => t.uid.startsWith('pts:')).flatMap((t) => t.x.map((x, i) => ({ x, y: t.y[i], row: t.customdata[i] })));
    // The most isolated point, so that the click cannot land on a neighbour.
    let best = pts[0], bestD = -1;
    for (const p of pts) {
      let d = Infinity;
      for (const q of pts) if (q !== p) d = Math.min(d, Math.hypot(gd._fullLayout.xaxis.l2p(p.x) - gd._fullLayout.xaxis.l2p(q.x), gd._fullLayout.yaxis.l2p(p.y) - gd._fullLayout.yaxis.l2p(q.y)));
      if (d > bestD) { bestD = d; best = p; }
    }
    document.getElementById('chart-projection')!.scrollIntoView({ block: 'center' });
    const box = (document.querySelector('#chart-projection .nsewdrag') as Element).getBoundingClientRect();
    return { row: best.row, px: box.left + gd._fullLayout.xaxis.l2p(best.x), py: box.top + gd._fullLayout.yaxis.l2p(best.y) };
  });
  const nSel = h.received.length;
  await page.mouse.move(target.px - 5, target.py - 5);
  await page.mouse.move(target.px, target.py);
  await page.waitForSelector('#hover-card:not(.hidden)', { timeout: 5000 }).catch(async (err) => {
    await page.screenshot({ path: path.join(ARTIFACTS, 'hover-failure.png'), fullPage: true });
    throw new Error(`${err}\ncsp: ${h!.cspViolations.slice(0, 3).join('\n')}\nconsole errors: ${h!.consoleErrors.join('\n')}\ntarget ${JSON.stringify(target)}`);
  });
  assert.equal(await page.textContent('#hover-card .path'), table.paths[target.row], 'hover shows the path');
  await page.mouse.click(target.px, target.py);
  const sel = await h.waitFor('selectQuery', nSel, 10_000);
  assert.deepEqual(sel, { type: 'selectQuery', row: target.row });
  const queryPath = table.paths[target.row];
  await page.waitForFunction((p) => document.querySelector('#query-path')?.textContent === p, queryPath);
  const kc = await cli(['knn', tablePath, '--query', queryPath, '-k', String(k), '--json']);
  assert.equal(kc.code, 0, kc.stderr);
  const expected = JSON.parse(kc.stdout).neighbors as Array<{ rank: number; path: string; label: string; distance: number }>;
  const shown = await page.$$eval('#gallery li[role=option]', (lis) => lis.map((li) => ({ rank: Number((li as HTMLElement).dataset.rank), path: (li as HTMLElement).dataset.path!, distance: Number((li as HTMLElement).dataset.distance) })));
  assert.equal(shown.length, expected.length);
  shown.forEach((s, i) => {
    assert.equal(s.rank, expected[i].rank);
    assert.equal(s.path, expected[i].path, `gallery position ${i + 1}`);
    assert.ok(Math.abs(s.distance - expected[i].distance) < 1e-6, `distance at ${i + 1}: ${s.distance} vs ${expected[i].distance}`);
  });
  const wrong = expected.filter((e) => e.label !== table.labels[target.row]).length;
  assert.equal(await page.locator('#gallery li.wrong-label').count(), wrong, 'wrong-label neighbours are marked');
  // Thumbnails load from the served image root.
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#gallery img')].every((i) => i.complete && i.naturalWidth > 0));

  // Keyboard: the gallery is one tab stop; ArrowRight moves, Enter makes that neighbour the query.
  await page.focus('#gallery li[tabindex="0"]');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.rank), '2');
  const nKey = h.received.length;
  await page.keyboard.press('Enter');
  const keySel = await h.waitFor('selectQuery', nKey);
  assert.equal(table.paths[(keySel as { row: number }).row], expected[1].path);
  await page.waitForFunction((p) => document.querySelector('#query-path')?.textContent === p, expected[1].path);

  // Threshold: the markers sit at eval's F1-optimal (and target-precision) thresholds.
  const v = evalReport.verification;
  const marker = (name: string) => page.evaluate((n) => (window as unknown as { __embedlab: { markerX(n: string): number | undefined } }).__embedlab.markerX(n), name);
  assert.equal(await marker('best-f1'), v.bestF1.threshold);
  assert.equal(await marker('threshold'), v.bestF1.threshold, 'the working threshold starts at the F1 optimum');
  if (v.atPrecision) assert.equal(await marker('target-precision'), v.atPrecision.threshold);
  const nTh = h.received.length;
  const typed = Number((v.bestF1.threshold / 2).toFixed(4));
  await page.fill('#threshold-input', String(typed));
  await page.press('#threshold-input', 'Enter');
  await page.locator('#threshold-input').blur();
  assert.deepEqual(await h.waitFor('setThreshold', nTh), { type: 'setThreshold', threshold: typed });
  await page.waitForFunction((x) => (window as unknown as { __embedlab: { markerX(n: string): number | undefined } }).__embedlab.markerX('threshold') === x, typed);
  const beyond = (await page.$$eval('#gallery li[role=option]', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.distance)))).filter((d) => d > typed).length;
  assert.equal(await page.locator('#gallery li.beyond-threshold').count(), beyond, 'matches beyond the threshold are marked');
  assert.match((await page.textContent('#threshold-tradeoff')) ?? '', /precision .* recall .* F1/);

  // PNG export posts a PNG data URL.
  const nPng = h.received.length;
  await page.click('button[data-chart=threshold]');
  const png = await h.waitFor('savePng', nPng) as { chart: string; dataUrl: string };
  assert.equal(png.chart, 'threshold');
  assert.ok(png.dataUrl.startsWith('data:image/png;base64,') && png.dataUrl.length > 1000);

  // Screenshots in both themes.
  for (const theme of ['dark', 'light'] as const) {
    await setTheme(page, theme);
    await page.evaluate(() => (window as unknown as { __embedlab: { rendered(): Promise<unknown> } }).__embedlab.rendered());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${theme}.png`), fullPage: true });
  }
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(255, 255, 255)', 'the light theme follows the VS Code variables');

  assert.deepEqual(h.cspViolations, [], 'no CSP violations');
  assert.deepEqual(h.consoleErrors, [], 'no console errors');
  assert.ok(!h.received.some((m) => m.type === 'webviewError'), JSON.stringify(h.received.filter((m) => m.type === 'webviewError')));
});
