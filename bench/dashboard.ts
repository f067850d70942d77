/// <reference lib="dom" />
// Dashboard webview benchmark in Chromium (the browser-test harness): time to first render of N projection points
// (scattergl, no sampling) after the snapshot arrives, and the cost of appending 1,000 training steps (10 batched
// `steps` messages of 100, on top of `--base` existing steps) until the charts have drawn them. Median of --runs,
// a fresh page load per run. Needs dist/webview.js: run `node scripts/build.mjs` first.
//
//   node --import tsx bench/dashboard.ts [--points 50000] [--base 10000] [--append 1000] [--runs 3]
//
// The last line of output is one JSON object.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startHarness } from '../test/browser/harness';
import type { SnapshotMessage, StepSeries } from '../src/protocol/webview';
import { DEFAULT_SETTINGS, emptySeries, WEBVIEW_PROTOCOL_VERSION } from '../src/protocol/webview';

const { values: a } = parseArgs({ options: {
  points: { type: 'string', default: '50000' }, base: { type: 'string', default: '10000' }, append: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' },
} });
const N = Number(a.points), BASE = Number(a.base), APPEND = Number(a.append), RUNS = Number(a.runs);

function steps(from: number, count: number): StepSeries {
  const s = emptySeries();
  const t0 = Date.now();
  for (let i = from; i < from + count; i++) {
    s.step.push(i); s.time.push(t0 + i * 50); s.loss.push(0.2 * Math.exp(-i / 5000) + 0.01 * Math.sin(i));
    s.posDist.push(0.5 + 0.1 * Math.sin(i / 100)); s.negDist.push(1 + 0.1 * Math.cos(i / 100)); s.imagesPerSec.push(600); s.learningRate.push(1e-3);
  }
  return s;
}

function snapshot(): SnapshotMessage {
  let seed = 1;
  const rand = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };
  const classes = 100;
  const x: number[] = [], y: number[] = [], paths: string[] = [], labels: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % classes;
    x.push(Math.cos(c) * 5 + (rand() - 0.5) * 2); y.push(Math.sin(c * 1.3) * 5 + (rand() - 0.5) * 2);
    paths.push(`class-${c}/img_${i}.png`); labels.push(`class-${c}`);
  }
  return {
    type: 'snapshot', version: WEBVIEW_PROTOCOL_VERSION, clusters: null, eval: null, neighbors: null, thumbnails: { base: null }, settings: DEFAULT_SETTINGS,
    runs: [{ runId: 'bench', name: 'bench', status: 'running', lossType: 'triplet', margin: 0.2, epochs: 100, stepsPerEpoch: 1000, resumable: false, steps: steps(0, BASE), epochPoints: [], warnings: [] }],
    table: { file: 'bench.parquet', rows: N, dim: 128, distance: 'euclidean', paths, labels },
    projection: { method: 'pca', x, y, explained: [0.3, 0.2] },
  };
}

const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)];

(async () => {
  const loadStart = loadavg().map((v) => Number(v.toFixed(2)));
  const h = await startHarness();
  const snap = snapshot();
  const batches = Array.from({ length: 10 }, (_, b) => steps(BASE + b * (APPEND / 10), APPEND / 10));
  const render: number[] = [], append: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const from = r === 0 ? 0 : h.received.length;
      if (r > 0) await h.page.reload();
      await h.waitFor('ready', from);
      type Api = { __embedlab: { stats(): { snapshots: number }; rendered(): Promise<unknown>; flush(): Promise<void>; projectionPoints(): number; trainingCounts(): Record<string, number> } };
      const ms = await h.page.evaluate(async (msg) => {
        const w = window as unknown as Api;
        const frame = () => new Promise((res) => requestAnimationFrame(() => res(undefined)));
        const t0 = performance.now();
        window.postMessage(msg, '*');
        while (w.__embedlab.stats().snapshots < 1) await new Promise((res) => setTimeout(res, 0));
        await w.__embedlab.rendered();
        await frame(); await frame();
        return performance.now() - t0;
      }, snap);
      const pts = await h.page.evaluate(() => (window as unknown as Api).__embedlab.projectionPoints());
      if (pts !== N) throw new Error(`rendered ${pts} points, expected ${N}`);
      render.push(ms);
      const ap = await h.page.evaluate(async (bs) => {
        const w = window as unknown as Api;
        const frame = () => new Promise((res) => requestAnimationFrame(() => res(undefined)));
        await w.__embedlab.flush(); await frame();
        const t0 = performance.now();
        for (const steps of bs) window.postMessage({ type: 'steps', runId: 'bench', steps }, '*');
        await new Promise((res) => setTimeout(res, 0)); // the message events run
        await w.__embedlab.flush();
        await frame(); await frame();
        return performance.now() - t0;
      }, batches);
      const counts = await h.page.evaluate(() => (window as unknown as Api).__embedlab.trainingCounts());
      if (counts['bench:loss'] !== BASE + APPEND) throw new Error(`loss curve has ${counts['bench:loss']} points, expected ${BASE + APPEND}`);
      append.push(ap);
      console.log(`run ${r + 1}: first render of ${N} points ${ms.toFixed(0)} ms; append ${APPEND} steps ${ap.toFixed(1)} ms`);
    }
    if (h.cspViolations.length || h.consoleErrors.length) throw new Error(`CSP: ${h.cspViolations.join('; ')} console: ${h.consoleErrors.join('; ')}`);
  } finally {
    await h.close();
  }
  console.log(JSON.stringify({
    bench: 'dashboard', points: N, baseSteps: BASE, appendSteps: APPEND, runs: RUNS,
    firstRenderMs: Math.round(median(render)), appendMs: Number(median(append).toFixed(1)),
    firstRenderAllMs: render.map((v) => Math.round(v)), appendAllMs: append.map((v) => Number(v.toFixed(1))), loadavgStart: loadStart, loadavg: loadavg().map((v) => Number(v.toFixed(2))),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
