/// <reference lib="dom" />
// The dashboard webview in a real Chromium, fed by a real run and a real embedding table made by the CLI in this
// test. Asserts: curve point counts = events; gallery order and distances = `embedlab knn`; one projection point
// per row; the threshold marker at eval's F1-optimal threshold; keyboard and buttons post the right messages; no
// console errors and no CSP violations. Screenshots (dark, light) go to test-artifacts/browser/.
// The explorer's second half runs the real host (DashboardSession, with its projection worker thread
// dist/projection-worker.js) behind the page: a mouse lasso filters the gallery to the points inside the drawn
// polygon (computed here independently); colour by k-means shows exactly core's clusters; t-SNE and UMAP chosen in
// the page come back with one point per row, core's numbers; and the high-contrast theme (screenshot
// dashboard-high-contrast.png) draws borders, focus rings, text and the plot's axes in the theme's colours.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { cli, onlyRunDir, smallConfig, tmpDir, writeConfig } from '../integration/helpers';
import { readTable, type Table } from '../../src/core/table';
import type { DistanceName } from '../../src/core/config-types';
import type { EvalView, SnapshotMessage } from '../../src/protocol/webview';
import { DEFAULT_SETTINGS, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import { DEFAULT_PROJECTION_SEED } from '../../src/protocol/projection';
import { clusterAssignments, pca2d, projectionCachePath } from '../../src/core/projection';
import { tsne2d } from '../../src/core/tsne';
import { umap2d } from '../../src/core/umap';
import { DashboardSession } from '../../src/extension/dashboard-state';
import { projectionJob } from '../../src/extension/projection-jobs';
import type { WorkerEvent } from '../../src/protocol/events';
import { CHROMIUM, ROOT, setTheme, startHarness, type Harness } from './harness';
import { epochPoint, neighborsOf, parseEvents, projectionView, runView, stepEvents, tableView } from './host-player';

const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');
const haveChromium = fs.existsSync(CHROMIUM);
const work = tmpDir('browser');
const val = path.join(work, 'val');
let events: WorkerEvent[] = [];
let runName = '';
let runDirPath = '';
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
  runDirPath = runDir;
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
  const baseline = events.find((e) => e.type === 'baseline');
  assert.ok(baseline && baseline.type === 'baseline', 'a run with a validation folder validates before its first step');
  for (const s of ['p1', 'map']) assert.equal(counts[`${run.runId}:${s}`], nEpochs + 1, `${s} has one point per epoch with validation, and the baseline`);
  assert.equal(await page.textContent('#stat-step'), `${steps.at(-1)!.step + 1} / ${run.epochs * run.stepsPerEpoch}`);
  // The validation chart counts epochs from 1 (the events from 0).
  const valX = await page.evaluate((id) => (document.getElementById('chart-validation') as unknown as { data: Array<{ meta?: string; x: number[] }> }).data.find((t) => t.meta === `${id}:map`)?.x, run.runId);
  assert.deepEqual(valX, [0, ...events.filter((e) => e.type === 'epoch' && e.validation).map((e) => (e as { epoch: number }).epoch + 1)], 'the baseline at 0, "before training"');
  // The baseline's level line across the chart, at its MAP@R.
  const level = await page.evaluate((id) => (document.getElementById('chart-validation') as unknown as { data: Array<{ meta?: string; x: number[]; y: number[]; name: string }> }).data.find((t) => t.meta === `${id}:baseline`), run.runId);
  assert.ok(level, 'a baseline trace');
  assert.equal(level.name, 'MAP@R before training');
  assert.deepEqual(level.y, [baseline.validation.mapAtR, baseline.validation.mapAtR]);
  assert.deepEqual(level.x, [0, run.epochs]);

  // Explorer: one point per row.
  await page.evaluate(() => (window as unknown as { __embedlab: { rendered(): Promise<unknown> } }).__embedlab.rendered());
  assert.equal(await page.evaluate(() => (window as unknown as { __embedlab: { projectionPoints(): number } }).__embedlab.projectionPoints()), table.paths.length);

  // Click a point in the plot → selectQuery → the host's neighbours → the gallery; compare with `embedlab knn`.
  const target = await page.evaluate(() => {
    type Ax = { _offset: number; l2p(v: number): number };
    const gd = document.getElementById('chart-projection') as unknown as { data: Array<{ uid: string; x: number[]; y: number[]; customdata: number[] }>; _fullLayout: { xaxis: Ax; yaxis: Ax } };
    const pts = gd.data.filter((t) => t.uid.startsWith('pts-')).flatMap((t) => t.x.map((x, i) => ({ x, y: t.y[i], row: t.customdata[i] })));
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
  // `embedlab knn` for the same path, one more and the query's own row taken out: the gallery never shows the query.
  const kc = await cli(['knn', tablePath, '--query', queryPath, '-k', String(k + 1), '--json']);
  assert.equal(kc.code, 0, kc.stderr);
  const expected = (JSON.parse(kc.stdout).neighbors as Array<{ rank: number; path: string; label: string; distance: number }>)
    .filter((n) => n.path !== queryPath).slice(0, k).map((n, i) => ({ ...n, rank: i + 1 }));
  const shown = await page.$$eval('#gallery li[role=option]', (lis) => lis.map((li) => ({ rank: Number((li as HTMLElement).dataset.rank), path: (li as HTMLElement).dataset.path!, distance: Number((li as HTMLElement).dataset.distance) })));
  assert.equal(shown.length, expected.length);
  assert.ok(!shown.some((s) => s.path === queryPath), 'the query is not in its own gallery');
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

  // Legends name the run once (the title of its group), the series by what they are; positive and negative
  // distances have colours of their own; the margin line carries its value.
  const charts = await page.evaluate(() => Object.fromEntries(['chart-loss', 'chart-distances', 'chart-validation', 'chart-histogram'].map((id) => {
    const gd = document.getElementById(id) as unknown as { data: Array<{ uid: string; meta?: string; name: string; legendgroup?: string; legendgrouptitle?: { text?: string }; line?: { color?: string } }>; layout: { shapes?: Array<{ name?: string; y0?: number; label?: { text?: string } }> } };
    return [id, {
      traces: gd.data.map((t) => ({ uid: t.meta ?? t.uid, name: t.name, group: t.legendgroup, title: t.legendgrouptitle?.text, color: t.line?.color })),
      shapes: (gd.layout.shapes ?? []).map((x) => ({ name: x.name, y0: x.y0, label: x.label?.text })),
      legend: document.querySelector(`#${id} .legend`)?.textContent ?? '', svgText: [...document.querySelectorAll(`#${id} text`)].map((t) => t.textContent),
    }];
  })));
  for (const id of ['chart-loss', 'chart-distances', 'chart-validation']) {
    const c = charts[id];
    assert.ok(c.traces.length >= 2, `${id} has traces`);
    for (const t of c.traces) {
      assert.ok(!t.name.includes(runName), `${id}: the series "${t.name}" does not repeat the run name`);
      assert.equal(t.title, runName, `${id}: ${t.uid} is in its run's legend group, titled by the run name`);
    }
    assert.equal(c.legend.split(runName).length - 1, 1, `${id}: the legend shows the run name once (${c.legend})`);
  }
  const colour = (id: string, uid: string) => charts[id].traces.find((t) => t.uid === uid)?.color;
  assert.notEqual(colour('chart-distances', `${run.runId}:pos`), colour('chart-distances', `${run.runId}:neg`), 'positive and negative distances: two colours');
  assert.notEqual(colour('chart-histogram', 'hist-pos'), colour('chart-histogram', 'hist-neg'), 'positive and negative histograms: two colours');
  const margin = charts['chart-loss'].shapes.filter((x) => x.name?.startsWith('margin'));
  assert.deepEqual(margin.map((x) => [x.y0, x.label]), [[0.2, 'margin 0.2']], 'the margin line is labelled');
  assert.ok(charts['chart-loss'].svgText.includes('margin 0.2'), 'the label is drawn');
  const labelBox = await page.evaluate(() => {
    const text = [...document.querySelectorAll('#chart-loss text')].find((t) => t.textContent === 'margin 0.2')!.getBoundingClientRect();
    const plot = document.querySelector('#chart-loss .nsewdrag')!.getBoundingClientRect();
    return { text: [text.left, text.top, text.right, text.bottom], plot: [plot.left, plot.top, plot.right, plot.bottom] };
  });
  assert.ok(labelBox.text[0] >= labelBox.plot[0] - 1 && labelBox.text[1] >= labelBox.plot[1] - 1 && labelBox.text[2] <= labelBox.plot[2] + 1 && labelBox.text[3] <= labelBox.plot[3] + 1,
    `the margin label lies inside the plot area: ${JSON.stringify(labelBox)}`);

  // The stats are real tables: every value in its name's column (training) or row (evaluation), by geometry.
  const geo = await page.evaluate(() => {
    const rect = (e: Element) => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom, text: e.textContent ?? '' }; };
    const all = (sel: string) => [...document.querySelectorAll(sel)].map(rect);
    const rows = (sel: string) => [...document.querySelectorAll(sel)].map((tr) => [...tr.children].map(rect));
    return {
      trainHead: all('#training-stats thead th'), trainVal: all('#training-stats tbody td'),
      evalRows: rows('#eval-metrics tr'), perClassHead: all('#per-class thead th'), perClassRows: rows('#per-class tbody tr'),
    };
  });
  const near = (a: number, b: number) => Math.abs(a - b) <= 0.5;
  assert.equal(geo.trainHead.length, 6, 'six training stats, each a header cell');
  assert.equal(geo.trainVal.length, geo.trainHead.length, 'one value per header');
  geo.trainHead.forEach((hd, i) => {
    const v = geo.trainVal[i];
    assert.ok(near(hd.l, v.l) && near(hd.r, v.r), `training: "${v.text}" sits under "${hd.text}" (${hd.l}–${hd.r} vs ${v.l}–${v.r})`);
    assert.ok(v.t >= hd.b - 0.5, `training: "${v.text}" below "${hd.text}"`);
  });
  assert.ok(geo.evalRows.length >= 8, `evaluation metrics: ${geo.evalRows.length} rows`);
  for (const [name, value] of geo.evalRows) {
    assert.ok(value, `evaluation: "${name.text}" has a value cell`);
    assert.ok(near(name.t, value.t) && near(name.b, value.b), `evaluation: "${value.text}" on the row of "${name.text}"`);
    assert.ok(near(name.l, geo.evalRows[0][0].l) && near(value.l, geo.evalRows[0][1].l), `evaluation: "${name.text}" and its value in the table's two columns`);
    assert.ok(value.l >= name.r - 0.5, `evaluation: "${value.text}" right of "${name.text}"`);
  }
  assert.equal(geo.perClassHead.length, 4);
  for (const row of geo.perClassRows) row.forEach((c, i) => assert.ok(near(c.l, geo.perClassHead[i].l) && near(c.r, geo.perClassHead[i].r), `per-class: "${c.text}" under "${geo.perClassHead[i].text}"`));

  // k-means' k starts at the number of labels of the table (not a fixed 8).
  assert.equal(await page.inputValue('#cluster-k'), String(new Set(table.labels.filter((l) => l !== '')).size));

  // Screenshots in both themes.
  for (const theme of ['dark', 'light'] as const) {
    await setTheme(page, theme);
    await page.evaluate(() => (window as unknown as { __embedlab: { rendered(): Promise<unknown> } }).__embedlab.rendered());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${theme}.png`), fullPage: true });
  }
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(255, 255, 255)', 'the light theme follows the VS Code variables');

  // The collapse warning: a banner while the distances have collapsed, gone (a quiet note instead) once cleared.
  await h.send({ type: 'warnings', runId: run.runId, warnings: [{ code: 'distance-gap-collapse', message: 'epoch 1: collapsed', time: new Date().toISOString(), step: 3 }] });
  await page.waitForSelector('#training-warnings .warning[data-code=distance-gap-collapse]');
  await h.send({ type: 'warnings', runId: run.runId, warnings: [{ code: 'distance-gap-collapse', message: 'epoch 2: the distances spread again', time: new Date().toISOString(), step: 9, cleared: true }] });
  await page.waitForSelector('#training-warnings .warning[data-code=distance-gap-collapse]', { state: 'detached' });
  assert.match((await page.textContent('#training-warnings .warning-cleared[data-code=distance-gap-collapse]')) ?? '', /over .*step 10.*spread again/);

  // The table picker: the host's list, newest first, the current one selected; a choice posts selectTable.
  const older = path.join(work, 'older.parquet');
  await h.send({ type: 'tables', current: tablePath, tables: [
    { file: tablePath, label: 'val.parquet', mtimeMs: Date.now(), run: runName }, { file: older, label: 'older.parquet', mtimeMs: Date.now() - 60_000 },
  ] });
  await page.waitForFunction(() => document.querySelectorAll('#table-picker option').length === 2);
  assert.deepEqual(await page.$$eval('#table-picker option', (o) => o.map((x) => (x as HTMLOptionElement).value)), [tablePath, older]);
  assert.equal(await page.inputValue('#table-picker'), tablePath);
  const nTab = h.received.length;
  await page.selectOption('#table-picker', older);
  assert.deepEqual(await h.waitFor('selectTable', nTab), { type: 'selectTable', file: older });
  await h.send({ type: 'table', table: tableView(tablePath, table, distance), thumbnails: { base: `${h.origin}/img` } });
  assert.equal(await page.inputValue('#table-picker'), tablePath, 'the picker follows the table the host shows');

  // Compare runs: the host offers another run; ticking it posts compareRuns; the host's run joins the charts with a
  // legend group of its own, and the comparison table shows both runs' final metrics and their config differences.
  const other = { ...runView(events, 'second-run', events.length, 0.3), runId: 'second-run', name: 'second-run', primary: false, runDir: '/runs/second-run',
    config: { 'loss.margin': 0.3, 'training.epochs': 2, 'loss.type': 'triplet', name: 'b' } };
  const mine = { ...runView(events, runName, events.length, 0.2), primary: true, status: 'done' as const, config: { 'loss.margin': 0.2, 'training.epochs': 2, 'loss.type': 'triplet', name: 'a' } };
  await h.send({ type: 'run', run: mine });
  await h.send({ type: 'runChoices', runs: [{ runDir: '/runs/second-run', name: 'second-run', status: 'done' }], compared: [] });
  await page.click('#compare-picker summary');
  const nCmp = h.received.length;
  await page.check('#compare-choices input[data-run-dir="/runs/second-run"]');
  assert.deepEqual(await h.waitFor('compareRuns', nCmp), { type: 'compareRuns', runDirs: ['/runs/second-run'] });
  await h.send({ type: 'run', run: other });
  await h.send({ type: 'runChoices', runs: [{ runDir: '/runs/second-run', name: 'second-run', status: 'done' }], compared: ['/runs/second-run'] });
  await page.waitForSelector('#compare-table');
  const legend = await page.evaluate(() => ['chart-loss', 'chart-validation'].map((id) => {
    const gd = document.getElementById(id) as unknown as { data: Array<{ name: string; legendgrouptitle?: { text?: string } }> };
    return { titles: [...new Set(gd.data.map((t) => t.legendgrouptitle?.text))], names: gd.data.map((t) => t.name), legend: document.querySelector(`#${id} .legend`)?.textContent ?? '' };
  }));
  for (const c of legend) {
    assert.deepEqual(c.titles, [runName, 'second-run'], 'one legend group per run, titled by its name');
    assert.ok(c.names.every((n) => !n.includes(runName) && !n.includes('second-run')), c.names.join(', '));
    assert.equal(c.legend.split('second-run').length - 1, 1, 'each run named once in the legend');
  }
  const counts2 = await page.evaluate(() => (window as unknown as { __embedlab: { trainingCounts(): Record<string, number> } }).__embedlab.trainingCounts());
  assert.equal(counts2['second-run:loss'], steps.length, 'the compared run\'s loss curve');
  assert.equal(counts2['second-run:map'], nEpochs + 1, 'the compared run\'s validation curve (its epochs and its baseline)');
  const cmp = await page.evaluate(() => ({
    head: [...document.querySelectorAll('#compare-table thead th')].map((e) => e.textContent),
    rows: [...document.querySelectorAll('#compare-table tbody tr')].map((tr) => [...tr.children].map((c) => (c.textContent ?? '').trim())),
  }));
  assert.deepEqual(cmp.head, ['run', 'status', 'epochs', 'final loss', 'P@1', 'MAP@R', 'best MAP@R', 'loss.margin'], 'final metrics, then only the config keys that differ (name aside)');
  const lastEpoch = events.filter((e) => e.type === 'epoch').at(-1) as { trainLoss: number; validation?: { precisionAt1: number; mapAtR: number } };
  const maps = events.filter((e) => e.type === 'epoch').map((e) => (e as { validation?: { mapAtR: number } }).validation?.mapAtR ?? -1);
  const f3 = (v: number) => String(Number(v.toFixed(3)));
  assert.deepEqual(cmp.rows, [
    [runName, 'done', `${nEpochs} / 2`, String(Number(lastEpoch.trainLoss.toFixed(4))), f3(lastEpoch.validation!.precisionAt1), f3(lastEpoch.validation!.mapAtR), f3(Math.max(...maps)), '0.2'],
    ['second-run', 'done', `${nEpochs} / 2`, String(Number(lastEpoch.trainLoss.toFixed(4))), f3(lastEpoch.validation!.precisionAt1), f3(lastEpoch.validation!.mapAtR), f3(Math.max(...maps)), '0.3'],
  ]);
  // Two margins: two labelled lines, each naming its run.
  const marginLabels = await page.evaluate(() => ((document.getElementById('chart-loss') as unknown as { layout: { shapes?: Array<{ label?: { text?: string } }> } }).layout.shapes ?? []).map((x) => x.label?.text));
  assert.deepEqual(marginLabels, [`margin 0.2 (${runName})`, 'margin 0.3 (second-run)']);
  await page.locator('#panel-training').screenshot({ path: path.join(ARTIFACTS, 'dashboard-compare.png') });
  // Taken off again: the table goes (one run left).
  await h.send({ type: 'removeRun', runId: 'second-run' });
  await page.waitForSelector('#compare-table', { state: 'detached' });

  assert.deepEqual(h.cspViolations, [], 'no CSP violations');
  assert.deepEqual(h.consoleErrors, [], 'no console errors');
  assert.ok(!h.received.some((m) => m.type === 'webviewError'), JSON.stringify(h.received.filter((m) => m.type === 'webviewError')));
});

// ---------------------------------------------------------------------------------------------------------------
// The explorer with the real host session (and its worker thread) behind the page.

type PlotTrace = { uid: string; meta?: string; x: number[]; y: number[]; customdata: number[]; marker: { color: number[][] | string } };
type Ax = { l2p(v: number): number; _length: number };
interface PlotState { traces: PlotTrace[]; box: { left: number; top: number; width: number; height: number } }

/** The point trace and the plot area's position on the page (after scrolling the chart into view). */
async function plotState(page: Harness['page']): Promise<PlotState & { px: number[]; py: number[] }> {
  return page.evaluate(() => {
    const gd = document.getElementById('chart-projection') as unknown as { data: PlotTrace[]; _fullLayout: { xaxis: Ax; yaxis: Ax } };
    document.getElementById('chart-projection')!.scrollIntoView({ block: 'center' });
    const r = (document.querySelector('#chart-projection .nsewdrag') as Element).getBoundingClientRect();
    const pts = gd.data.find((t) => t.uid.startsWith('pts-'))!;
    return {
      traces: gd.data.map((t) => ({ uid: t.uid, meta: t.meta, x: t.x, y: t.y, customdata: t.customdata, marker: t.marker })),
      box: { left: r.left, top: r.top, width: r.width, height: r.height },
      // Page pixels of every point of the point trace, in trace order.
      px: pts.x.map((v) => r.left + gd._fullLayout.xaxis.l2p(v)), py: pts.y.map((v) => r.top + gd._fullLayout.yaxis.l2p(v)),
    };
  });
}

/** Even–odd point-in-polygon and the distance from a point to the polygon's edges. */
function inside(p: [number, number], poly: Array<[number, number]>): boolean {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}
function edgeDistance(p: [number, number], poly: Array<[number, number]>): number {
  let best = Infinity;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ax, ay] = poly[j], [bx, by] = poly[i];
    const dx = bx - ax, dy = by - ay;
    const t = Math.max(0, Math.min(1, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy || 1)));
    best = Math.min(best, Math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy)));
  }
  return best;
}

describe('explorer with the real host session and projection worker', { skip: haveChromium ? false : `no ${CHROMIUM}` }, () => {
  const WORKER = path.join(ROOT, 'dist', 'projection-worker.js');
  let hs: Harness | undefined;
  let session: DashboardSession;
  let sessionTable = '';
  const hostErrors: string[] = [];
  const api = <T>(page: Harness['page'], fn: string, arg?: unknown) =>
    page.evaluate(({ f, a }) => (window as unknown as { __embedlab: Record<string, (x?: unknown) => unknown> }).__embedlab[f](a), { f: fn, a: arg }) as Promise<T>;

  before(async () => {
    // The table in a folder of its own (its projection caches start from nothing), images from `val`.
    const dir = path.join(work, 'session-table');
    fs.mkdirSync(dir, { recursive: true });
    sessionTable = path.join(dir, 'val.parquet');
    fs.copyFileSync(tablePath, sessionTable);
    const meta = JSON.parse(fs.readFileSync(`${tablePath}.meta.json`, 'utf8')) as { folder?: string };
    fs.writeFileSync(`${sessionTable}.meta.json`, JSON.stringify({ ...meta, folder: path.relative(dir, val) }));
    let started!: (h: Harness) => void;
    const ready = new Promise<Harness>((r) => { started = r; });
    let chain: Promise<unknown> = Promise.resolve();
    session = new DashboardSession(runDirPath, {
      // Posted in order, once the page exists (the webview says `ready` while the harness is still starting).
      post: (m) => (chain = chain.then(() => ready).then((h) => h.send(m)).catch((err: Error) => hostErrors.push(`post ${m.type}: ${err.message}`))),
      log: (level, m) => { if (level === 'error') hostErrors.push(m); },
      isSupervised: () => false,
      webviewUri: () => `${hs!.origin}/img`,
      evalTable: async () => evalReport as unknown as Record<string, unknown>,
      knnImage: async () => { throw new Error('not in this test'); },
      pickImage: async () => undefined,
      saveDialog: async () => undefined,
      stop: async () => undefined,
      resume: async () => undefined,
    }, sessionTable, { workerFile: WORKER });
    hs = await startHarness({ imagesRoot: val, onMessage: (m) => void ready.then(() => session.onMessage(m)) });
    started(hs);
    await setTheme(hs.page, 'dark');
    // The snapshot (no projection cached), then PCA from the worker.
    await hs.page.waitForFunction((n) => (window as unknown as { __embedlab: { projectionPoints(): number } }).__embedlab.projectionPoints() === n, table.paths.length, { timeout: 30_000 });
    await api(hs.page, 'rendered');
  });

  after(async () => {
    session?.dispose();
    await hs?.close();
  });

  it('PCA from the worker thread: one point per row, pca2d\'s coordinates', async () => {
    const st = await plotState(hs!.page);
    const pts = st.traces.find((t) => t.uid.startsWith('pts-'))!;
    const ref = pca2d(table.vectors, table.paths.length, table.dim);
    assert.equal(pts.x.length, table.paths.length);
    pts.customdata.forEach((row, j) => {
      assert.equal(pts.x[j], ref.x[row]);
      assert.equal(pts.y[j], ref.y[row]);
    });
    assert.equal(session.stats.projectionJobs, 1);
  });

  it('"Use as the model\'s threshold" writes the model\'s threshold.json, the same file `eval --save-threshold` writes', async () => {
    const { page } = hs!;
    const file = path.join(runDirPath, 'model', 'threshold.json');
    fs.rmSync(file, { force: true });
    await page.waitForFunction(() => Number((document.getElementById('threshold-input') as HTMLInputElement | null)?.value) > 0, undefined, { timeout: 30_000 });
    const n = hs!.received.length;
    await page.click('#threshold-save');
    // The threshold in force: eval's F1-optimal one (the user has not moved it in this session).
    assert.deepEqual(await hs!.waitFor('saveModelThreshold', n), { type: 'saveModelThreshold', threshold: evalReport.verification.bestF1.threshold });
    await page.waitForFunction(() => /^Saved the model's threshold to .*threshold\.json$/.test(document.getElementById('status-line')?.textContent ?? ''), undefined, { timeout: 10_000 });
    const mine = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown> & { source: Record<string, unknown> };
    fs.rmSync(file);
    const r = await cli(['eval', sessionTable, '--save-threshold', runDirPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const theirs = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof mine;
    const same = (t: typeof mine) => ({ ...t, createdAt: null, source: { ...t.source, table: path.basename(String(t.source.table)) } });
    assert.deepEqual(same(mine), same(theirs));
    assert.equal(mine.threshold, evalReport.verification.bestF1.threshold);
    assert.deepEqual(hostErrors, []);
  });

  it('Classify Folder\'s confusion matrix: one row per true class, each count in its cell, the diagonal marked', async () => {
    const { page } = hs!;
    const confusion = { circle: { circle: 2, square: 1 }, square: { square: 3 }, star: { unknown: 2 } };
    session.showClassification({ table: '/w/photos.classified.csv', queries: 8, classes: ['circle', 'square'], known: 6, correct: 5, accuracy: 5 / 6, unknown: 2, threshold: 0.25, thresholdSource: 't.json', confusion });
    await page.waitForFunction(() => document.querySelectorAll('#confusion-matrix tbody tr').length === 3);
    const cells = await page.$$eval('#confusion-matrix td', (tds) => tds.map((td) => [(td as HTMLElement).dataset.true, (td as HTMLElement).dataset.predicted, td.textContent, td.className]));
    const preds = ['circle', 'square', 'unknown'];
    assert.equal(cells.length, 3 * preds.length);
    for (const [t, p, text, cls] of cells) {
      assert.equal(Number(text), (confusion as Record<string, Record<string, number>>)[t!][p!] ?? 0, `${t} → ${p}`);
      assert.equal(cls, t === p ? 'diagonal' : Number(text) ? 'off-diagonal' : '', `${t} → ${p}`);
    }
    assert.match((await page.textContent('#classification-summary')) ?? '', /accuracy 83\.3 % \(5\/6\), 8 image\(s\) against 2 classes, open set, threshold 0\.25 \(t\.json\): 2 unknown/);
    assert.equal(session.stats.classificationRows, 3);
  });

  it('a mouse lasso selects exactly the points inside it, and the gallery shows only those rows', async () => {
    const { page } = hs!;
    await page.selectOption('#drag-mode', 'lasso');
    const st = await plotState(page);
    const pts = st.traces.find((t) => t.uid.startsWith('pts-'))!;
    const n = pts.x.length;
    const { box } = st;
    // A quadrilateral inside the plot area with no point within 4 px of its edges, holding some points but not all.
    let poly: Array<[number, number]> | null = null;
    for (let attempt = 0; attempt < 200 && !poly; attempt++) {
      const f = (a: number) => ((Math.sin(attempt * 12.9898 + a * 78.233) * 43758.5453) % 1 + 1) % 1;
      const cx = box.left + box.width * (0.3 + 0.4 * f(1)), cy = box.top + box.height * (0.3 + 0.4 * f(2));
      const rx = box.width * (0.15 + 0.25 * f(3)), ry = box.height * (0.15 + 0.25 * f(4));
      const cand: Array<[number, number]> = [[cx - rx, cy - ry * 0.6], [cx + rx * 0.8, cy - ry], [cx + rx, cy + ry * 0.7], [cx - rx * 0.7, cy + ry]]
        .map(([x, y]) => [Math.round(Math.max(box.left + 3, Math.min(box.left + box.width - 3, x))), Math.round(Math.max(box.top + 3, Math.min(box.top + box.height - 3, y)))] as [number, number]);
      const count = st.px.filter((x, j) => inside([x, st.py[j]], cand)).length;
      const margin = Math.min(...st.px.map((x, j) => edgeDistance([x, st.py[j]], cand)));
      if (count >= 3 && count <= n - 3 && margin >= 4) poly = cand;
    }
    assert.ok(poly, 'found a lasso polygon with clear margins');
    const expected = pts.customdata.filter((_, j) => inside([st.px[j], st.py[j]], poly!)).sort((a, b) => a - b);
    const nSel = hs!.received.length;
    await page.mouse.move(poly[0][0], poly[0][1]);
    await page.mouse.down();
    for (const [x, y] of [...poly.slice(1), poly[0]]) await page.mouse.move(x, y, { steps: 12 });
    await page.mouse.up();
    const sel = await hs!.waitFor('selection', nSel, 10_000) as { rows: number[] };
    assert.deepEqual([...sel.rows].sort((a, b) => a - b), expected, 'the rows plotly selected are the points inside the drawn polygon');
    // The points left outside stay visible on the dark background: the pixels at their centres against the
    // background (#1e1e1e), as WCAG's contrast ratio, for the points with no other point within 8 px.
    await page.waitForTimeout(300);
    const shot = await page.screenshot({ clip: { x: box.left, y: box.top, width: box.width, height: box.height } });
    const { data: px, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const lum = (r: number, g: number, b: number) => [r, g, b].map((c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
    const bgL = lum(0x1e, 0x1e, 0x1e);
    const ratios: number[] = [];
    pts.customdata.forEach((row, j) => {
      if (expected.includes(row)) return;
      const x = st.px[j] - box.left, y = st.py[j] - box.top;
      if (st.px.some((ox, o) => o !== j && Math.hypot(ox - st.px[j], st.py[o] - st.py[j]) < 8)) return;
      let best = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const xi = Math.round(x) + dx, yi = Math.round(y) + dy;
        if (xi < 0 || yi < 0 || xi >= info.width || yi >= info.height) continue;
        const o = (yi * info.width + xi) * info.channels;
        best = Math.max(best, (lum(px[o], px[o + 1], px[o + 2]) + 0.05) / (bgL + 0.05));
      }
      ratios.push(best);
    });
    ratios.sort((a, b) => a - b);
    assert.ok(ratios.length >= 3, `${ratios.length} isolated points outside the lasso`);
    const median = ratios[Math.floor(ratios.length / 2)];
    assert.ok(median >= 1.5, `points dimmed by the lasso stay visible in the dark theme: median contrast ${median.toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(' ')})`);
    assert.deepEqual([...session.selectedRows].sort((a, b) => a - b), expected, 'the host got the selection');
    await page.waitForSelector('#selection-box h3');
    assert.equal(await page.textContent('#selection-box h3'), `Lasso selection: ${expected.length} images`);
    const shown = (await page.$$eval('#selection-box .sel-item', (b) => b.map((e) => Number((e as HTMLElement).dataset.row)))).sort((a, b) => a - b);
    assert.deepEqual(shown, expected.slice(0, 60), 'the selection box lists exactly the selected rows');
    // A query inside the selection: the neighbour gallery keeps only neighbours inside the selection.
    const q = expected[0];
    await session.onMessage({ type: 'selectQuery', row: q });
    await page.waitForFunction((p) => document.querySelector('#query-path')?.textContent === p, table.paths[q]);
    const nb = neighborsOf(table, q, DEFAULT_SETTINGS.k, distance).neighbors;
    const inSel = nb.filter((x) => expected.includes(x.row!));
    const gallery = await page.$$eval('#gallery li[role=option]', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.row)));
    assert.deepEqual(gallery, inSel.map((x) => x.row), 'the gallery shows only the selected rows among the neighbours');
    assert.ok(gallery.length < nb.length || inSel.length === nb.length);
    if (inSel.length < nb.length) assert.match((await page.textContent('#gallery'))!, new RegExp(`${nb.length - inSel.length} outside the selection hidden`));
    // Clearing the selection brings every neighbour back, and removes the lasso from the plot (no point dimmed).
    await page.click('#clear-selection');
    await page.waitForFunction((k) => document.querySelectorAll('#gallery li[role=option]').length === k, nb.length);
    await page.waitForFunction(() => {
      const gd = document.getElementById('chart-projection') as unknown as { data: Array<{ selectedpoints?: unknown }>; _fullLayout: { selections?: unknown[] } };
      return (gd._fullLayout.selections ?? []).length === 0 && gd.data.every((t) => t.selectedpoints === undefined || t.selectedpoints === null);
    }, undefined, { timeout: 5000 });
    assert.equal(await page.$('#selection-box h3'), null, 'the selection box is empty');
    await page.selectOption('#drag-mode', 'zoom');
  });

  it('colour by k-means: the points\' colours group exactly as core\'s clusters, k distinct colours', async () => {
    const { page } = hs!;
    const k = 4;
    assert.equal(await page.inputValue('#cluster-k'), String(new Set(table.labels).size), 'k starts at the number of labels');
    await page.fill('#cluster-k', String(k));
    const nReq = hs!.received.length;
    await page.selectOption('#color-by', 'cluster');
    assert.deepEqual(await hs!.waitFor('requestClusters', nReq), { type: 'requestClusters', k });
    const expected = clusterAssignments(table.vectors, table.paths.length, table.dim, k, 1);
    await page.waitForFunction(() => {
      const gd = document.getElementById('chart-projection') as unknown as { data: PlotTrace[] };
      return gd.data.some((t) => t.uid.startsWith('legend-') && String(t.meta).startsWith('cluster '));
    }, undefined, { timeout: 30_000 });
    await api(page, 'rendered');
    const st = await plotState(page);
    const pts = st.traces.find((t) => t.uid.startsWith('pts-'))!;
    assert.ok(Array.isArray(pts.marker.color));
    const colourOf = new Map<number, string>();
    pts.customdata.forEach((row, j) => colourOf.set(row, JSON.stringify((pts.marker.color as number[][])[j])));
    assert.equal(colourOf.size, table.paths.length, 'every row is drawn');
    assert.equal(new Set(colourOf.values()).size, new Set(expected).size, `${k} distinct colours`);
    const clusterOfColour = new Map<string, number>();
    const colourOfCluster = new Map<number, string>();
    for (const [row, c] of colourOf) {
      assert.equal(clusterOfColour.get(c) ?? expected[row], expected[row], `row ${row}: one colour, one cluster`);
      assert.equal(colourOfCluster.get(expected[row]) ?? c, c, `row ${row}: one cluster, one colour`);
      clusterOfColour.set(c, expected[row]);
      colourOfCluster.set(expected[row], c);
    }
    const legend = st.traces.filter((t) => t.uid.startsWith('legend-')).map((t) => t.meta).sort();
    assert.deepEqual(legend, [...new Set(expected)].sort().map((c) => `cluster ${c}`));
    assert.equal(session.stats.clusterJobs, 1, 'computed by the k-means worker');
    // The legend hides a cluster (a click on its entry) and shows it again. Clicks 600 ms apart: plotly counts two
    // legend clicks within 300 ms as a double click (which isolates the group instead).
    const c0 = expected.filter((c) => c === 0).length;
    const toggle = async () => {
      await page.waitForTimeout(600);
      const b = (await page.locator('#chart-projection .legend .traces', { hasText: 'cluster 0' }).locator('.legendtoggle').boundingBox())!;
      await page.mouse.click(b.x + b.width / 2, b.y + b.height / 2);
    };
    const points = (m: number) => page.waitForFunction((k) => (window as unknown as { __embedlab: { projectionPoints(): number } }).__embedlab.projectionPoints() === k, m, { timeout: 10_000 })
      .catch(async (err: Error) => assert.fail(`${err.message}: ${await api<number>(page, 'projectionPoints')} points shown, expected ${m}`));
    await toggle();
    await points(table.paths.length - c0);
    await toggle();
    await points(table.paths.length);
  });

  it('t-SNE and UMAP chosen in the page (keyboard) are computed by the worker and drawn, one point per row, core\'s numbers', async () => {
    const { page } = hs!;
    // Record what the progress bar shows while the host computes.
    await page.evaluate(() => {
      const w = window as unknown as { __progress: string[] };
      w.__progress = [];
      const bar = document.getElementById('projection-progress')!;
      new MutationObserver(() => { if (!bar.classList.contains('hidden')) w.__progress.push(bar.getAttribute('aria-valuetext') ?? ''); })
        .observe(bar, { attributes: true, attributeFilter: ['class', 'aria-valuetext'] });
    });
    for (const method of ['umap', 'tsne'] as const) {
      const nReq = hs!.received.length;
      // Keyboard: the method selector is a native <select> in the tab order; arrows change it.
      await page.focus('#color-by');
      await page.keyboard.press('Shift+Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'projection-method', 'Shift+Tab reaches the method selector');
      const before = await page.$eval('#projection-method', (e) => (e as HTMLSelectElement).value);
      const target = method === 'umap' ? 'umap' : 'tsne';
      for (let i = 0; i < 3 && (await page.$eval('#projection-method', (e) => (e as HTMLSelectElement).value)) !== target; i++) await page.keyboard.press('ArrowDown');
      assert.notEqual(before, target);
      assert.equal(await page.$eval('#projection-method', (e) => (e as HTMLSelectElement).value), target, 'the arrow keys chose the method');
      const req = await hs!.waitFor('requestProjection', nReq) as { method: string };
      assert.equal(req.method, method);
      await page.waitForFunction((m) => {
        const w = window as unknown as { __embedlab: { projectionMethods(): { shown: string; pending: string | null } } };
        const s = w.__embedlab.projectionMethods();
        return s.shown === m && s.pending === null;
      }, method, { timeout: 60_000 });
      await api(page, 'rendered');
      assert.equal(await api<number>(page, 'projectionPoints'), table.paths.length, `${method}: one point per row`);
      // The coordinates drawn are core's, on the fixed seed with the parameters the host recorded.
      const job = projectionJob(method, table.paths.length, distance, DEFAULT_PROJECTION_SEED);
      const xy = job.kind === 'tsne'
        ? tsne2d(table.vectors, table.paths.length, table.dim, { seed: job.seed, perplexity: job.perplexity, iterations: job.iterations, theta: job.theta, distance: job.distance })
        : job.kind === 'umap'
          ? umap2d(table.vectors, table.paths.length, table.dim, { seed: job.seed, nNeighbors: job.nNeighbors, minDist: job.minDist, spread: job.spread, epochs: job.epochs, distance: job.distance })
          : assert.fail('not t-SNE or UMAP');
      const pts = (await plotState(page)).traces.find((t) => t.uid.startsWith('pts-'))!;
      pts.customdata.forEach((row, j) => {
        assert.equal(pts.x[j], xy[2 * row], `${method}: x of row ${row}`);
        assert.equal(pts.y[j], xy[2 * row + 1], `${method}: y of row ${row}`);
      });
      const label = method === 'umap' ? 'UMAP' : 't-SNE';
      assert.match((await page.textContent('#projection-info'))!, new RegExp(`^${table.paths.length} points, ${label} \\(seed ${DEFAULT_PROJECTION_SEED}, `));
      assert.ok(await page.isHidden('#projection-progress'), 'the progress bar is gone');
      assert.ok(fs.existsSync(projectionCachePath(sessionTable, method, DEFAULT_PROJECTION_SEED)), `${method} is cached beside the table`);
    }
    const progress = await page.evaluate(() => (window as unknown as { __progress: string[] }).__progress);
    assert.ok(progress.some((p) => p.startsWith('UMAP')) && progress.some((p) => p.startsWith('t-SNE')), `progress shown: ${progress.join(' | ')}`);
    assert.equal(session.stats.projectionJobs, 3, 'PCA, UMAP and t-SNE: one worker job each');
    // Back to UMAP: from memory, no job.
    const nReq = hs!.received.length;
    await page.selectOption('#projection-method', 'umap');
    await hs!.waitFor('requestProjection', nReq);
    await page.waitForFunction(() => (window as unknown as { __embedlab: { projectionMethods(): { shown: string } } }).__embedlab.projectionMethods().shown === 'umap');
    assert.equal(session.stats.projectionJobs, 3);
    assert.equal(session.currentSettings.projection, 'umap', 'the host keeps the choice (saved for the next time)');
  });

  it('high contrast: text, borders, focus ring and the plot follow the theme\'s variables; screenshot', async () => {
    const { page } = hs!;
    await setTheme(page, 'high-contrast');
    await api(page, 'rendered');
    await page.waitForTimeout(300);
    const styles = await page.evaluate(() => {
      const cs = (sel: string) => getComputedStyle(document.querySelector(sel)!);
      const b = cs('body'), panel = cs('#panel-explorer'), btn = cs('#export-projection'), select = cs('#projection-method'), input = cs('#cluster-k');
      return {
        color: b.color, background: b.backgroundColor,
        panelBorder: [panel.borderTopStyle, panel.borderTopWidth, panel.borderTopColor],
        buttonBorder: [btn.borderTopStyle, btn.borderTopWidth, btn.borderTopColor], buttonColor: btn.color,
        selectBorder: [select.borderTopStyle, select.borderTopWidth, select.borderTopColor], selectColor: select.color, inputBorder: input.borderTopColor,
      };
    });
    assert.equal(styles.color, 'rgb(255, 255, 255)', 'text in --vscode-foreground');
    assert.equal(styles.background, 'rgb(0, 0, 0)', 'background from --vscode-editor-background');
    const cyan = 'rgb(111, 195, 223)';
    assert.deepEqual(styles.panelBorder, ['solid', '1px', cyan], 'panels bordered in --vscode-contrastBorder');
    assert.deepEqual(styles.buttonBorder, ['solid', '1px', cyan], 'buttons bordered');
    assert.deepEqual(styles.selectBorder, ['solid', '1px', cyan], 'selects bordered');
    assert.equal(styles.inputBorder, cyan);
    assert.equal(styles.buttonColor, 'rgb(255, 255, 255)');
    assert.equal(styles.selectColor, 'rgb(255, 255, 255)');
    // Keyboard focus: a 2 px ring in --vscode-contrastActiveBorder.
    await page.focus('#color-by');
    await page.keyboard.press('Shift+Tab');
    const ring = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      const cs = getComputedStyle(e);
      return { id: e.id, style: cs.outlineStyle, width: cs.outlineWidth, color: cs.outlineColor, visible: e.matches(':focus-visible') };
    });
    assert.deepEqual(ring, { id: 'projection-method', style: 'solid', width: '2px', color: 'rgb(243, 133, 24)', visible: true });
    // The plot: font and axes in the foreground colour, grid in the contrast border colour.
    const plot = await page.evaluate(() => {
      const gd = document.getElementById('chart-projection') as unknown as { _fullLayout: { font: { color: string }; xaxis: { color: string; gridcolor: string }; yaxis: { color: string } } };
      const tick = document.querySelector('#chart-projection .xtick text') as SVGTextElement | null;
      return { font: gd._fullLayout.font.color, x: gd._fullLayout.xaxis.color, y: gd._fullLayout.yaxis.color, grid: gd._fullLayout.xaxis.gridcolor, tick: tick ? getComputedStyle(tick).fill : null };
    });
    assert.deepEqual(plot, { font: '#ffffff', x: '#ffffff', y: '#ffffff', grid: '#6fc3df', tick: 'rgb(255, 255, 255)' });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-high-contrast.png'), fullPage: true });
    assert.ok(fs.statSync(path.join(ARTIFACTS, 'dashboard-high-contrast.png')).size > 10_000);

    assert.deepEqual(hs!.cspViolations, [], 'no CSP violations');
    assert.deepEqual(hs!.consoleErrors, [], 'no console errors');
    assert.deepEqual(hostErrors, [], 'no host errors');
    assert.ok(!hs!.received.some((m) => m.type === 'webviewError'), JSON.stringify(hs!.received.filter((m) => m.type === 'webviewError')));
  });
});
