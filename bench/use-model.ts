// Benchmarks of "use the model" (issue 16): verify latency for one pair (warm: the model open, median of --runs; and
// one cold `embedlab verify` process), classify throughput (the search alone on --queries random vectors against
// --classes × 5 reference vectors, centroid and 5-NN; and end to end on a synth folder through `embedlab classify`).
// The model is bench/embed-throughput.ts's: an untrained width-0.25 resnet18, Dense(128) + L2, 64×64 input (the
// cost is the network's, not its weights'). The last line of output is one JSON object.
//
//   node --import tsx bench/use-model.ts [--runs 21] [--queries 10000] [--classes 100] [--images 1000]
// Needs dist/cli.js (npm run build).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { classify } from '../src/core/classify';
import { exportBenchBranch } from './bench-model';
import { pairDistance } from '../src/core/threshold';

const { values: a } = parseArgs({ options: { runs: { type: 'string', default: '21' }, queries: { type: 'string', default: '10000' }, classes: { type: 'string', default: '100' }, images: { type: 'string', default: '1000' } } });
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const work = fs.mkdtempSync(path.join(tmpdir(), 'embedlab-bench-use-'));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function model(): Promise<string> {
  return exportBenchBranch(work, path.join(work, 'model'));
}

(async () => {
  const load0 = loadavg()[0];
  const dir = await model();
  const images = Number(a.images);
  const perClass = Math.max(6, Math.ceil(images / 10));
  execFileSync(process.execPath, [CLI, 'synth', path.join(work, 'img'), '--classes', '10', '--per-class', String(perClass), '--size', '64', '--seed', '1']);
  const classes = fs.readdirSync(path.join(work, 'img')).sort();
  const img = (c: string, i: number) => path.join(work, 'img', c, fs.readdirSync(path.join(work, 'img', c)).sort()[i]);

  // Verify, warm: one process, the model open; embed both images and compare, per pair.
  const { openEmbedder, embedFiles } = await import('../src/engine/embed');
  const opened = await openEmbedder(dir, { engine: 'auto' });
  const [pa, pb] = [img(classes[0], 0), img(classes[1], 0)];
  const lat: number[] = [];
  for (let r = 0; r < Number(a.runs); r++) {
    const t0 = performance.now();
    const va = await embedFiles(opened.embedder, opened.pre, [pa]);
    const vb = await embedFiles(opened.embedder, opened.pre, [pb]);
    pairDistance(va, 0, vb, 0, 128, 'euclidean');
    lat.push(performance.now() - t0);
  }
  await opened.embedder.dispose();
  const t1 = performance.now();
  execFileSync(process.execPath, [CLI, 'verify', pa, pb, '--model', dir, '--threshold', '1']);
  const coldMs = performance.now() - t1;

  // Classify, the search alone: random unit vectors, 5 reference vectors per class.
  const nq = Number(a.queries);
  const C = Number(a.classes);
  let s = 1;
  const rnd = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 - 0.5; };
  const q = Float32Array.from({ length: nq * 128 }, rnd);
  const ref = { vectors: Float32Array.from({ length: C * 5 * 128 }, rnd), labels: Array.from({ length: C * 5 }, (_, i) => `c${Math.floor(i / 5)}`), dim: 128 };
  const t2 = performance.now();
  classify(q, nq, ref, 'euclidean', { threshold: 1, unitCentroids: true });
  const centroidMs = performance.now() - t2;
  const t3 = performance.now();
  classify(q, nq, ref, 'euclidean', { method: 'knn', k: 5, threshold: 1 });
  const knnMs = performance.now() - t3;

  // Classify end to end: the synth folder's images against 5 reference images of each of its 10 classes.
  const refDir = path.join(work, 'ref');
  for (const c of classes) { fs.mkdirSync(path.join(refDir, c), { recursive: true }); for (let i = 0; i < 5; i++) fs.copyFileSync(img(c, i), path.join(refDir, c, `r${i}.png`)); }
  const t4 = performance.now();
  execFileSync(process.execPath, [CLI, 'classify', path.join(work, 'img'), '--reference', refDir, '--model', dir, '--closed-set', '--out', path.join(work, 'out.csv')]);
  const e2eMs = performance.now() - t4;
  const e2eImages = classes.length * perClass + classes.length * 5;

  const out = {
    verifyWarmMedianMs: +median(lat).toFixed(1), verifyRuns: lat.length, verifyColdCliMs: Math.round(coldMs), engine: opened.embedder.detail,
    classifySearch: { queries: nq, classes: C, referencePerClass: 5, centroidImagesPerSec: Math.round(nq / (centroidMs / 1000)), knn5ImagesPerSec: Math.round(nq / (knnMs / 1000)) },
    classifyEndToEnd: { images: e2eImages, seconds: +(e2eMs / 1000).toFixed(2), imagesPerSec: Math.round(e2eImages / (e2eMs / 1000)) },
    load: [load0, loadavg()[0]].map((x) => +x.toFixed(2)), time: new Date().toISOString(),
  };
  fs.rmSync(work, { recursive: true, force: true });
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exitCode = 1; });
