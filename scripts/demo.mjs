// `npm run demo`: the whole loop on a fresh machine, on the default (wasm) backend.
//  1. generate a seeded dataset of procedurally drawn shapes (16 classes; 12 to train on, 4 held out entirely);
//  2. train a triplet model (semi-hard mining) for about two minutes;
//  3. embed the held-out classes with the trained model and with the untrained network (same seed, same
//     architecture), evaluate both tables, and print the metrics side by side;
//  4. leave the run folder and the tables in demo/ for the dashboard.
// Every step goes through the `embedlab` CLI, so the printed commands can be re-run by hand.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demo = path.resolve(process.env.EMBEDLAB_DEMO_DIR ?? path.join(root, 'demo'));
const cli = path.join(root, 'dist', 'cli.js');
const quick = process.argv.includes('--quick'); // a shorter run, for smoke tests

function run(args, { capture = false } = {}) {
  const shown = ['embedlab', ...args.map((a) => (a.startsWith(root) ? path.relative(process.cwd(), a) || '.' : a))].join(' ');
  process.stderr.write(`\n$ ${shown}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`demo: \`${shown}\` failed with exit code ${r.status}\n`);
    process.exit(r.status ?? 1);
  }
  return r.stdout;
}

const data = path.join(demo, 'data');
const all = path.join(data, 'all');
const train = path.join(data, 'train');
const val = path.join(data, 'val');
const heldout = path.join(data, 'heldout');

if (!fs.existsSync(path.join(data, '.complete'))) {
  fs.rmSync(data, { recursive: true, force: true });
  run(['synth', all, '--classes', '16', '--per-class', '60', '--size', '32', '--seed', '7']);
  const classes = fs.readdirSync(all).sort();
  // Hold out 4 classes the model never sees; split the other 12 into train (48 per class) and validation (12).
  const held = new Set(classes.filter((_, i) => i % 4 === 3));
  for (const c of classes) {
    const files = fs.readdirSync(path.join(all, c)).sort();
    if (held.has(c)) {
      fs.mkdirSync(path.join(heldout, c), { recursive: true });
      for (const f of files) fs.renameSync(path.join(all, c, f), path.join(heldout, c, f));
    } else {
      fs.mkdirSync(path.join(train, c), { recursive: true });
      fs.mkdirSync(path.join(val, c), { recursive: true });
      files.forEach((f, i) => fs.renameSync(path.join(all, c, f), path.join(i < 48 ? train : val, c, f)));
    }
  }
  fs.rmSync(all, { recursive: true, force: true });
  fs.writeFileSync(path.join(data, '.complete'), `held out: ${[...held].join(', ')}\n`);
}

const config = path.join(demo, 'shapes-triplet.embedding.json');
fs.writeFileSync(config, JSON.stringify({
  $schema: path.relative(demo, path.join(root, 'schemas', 'embedding.schema.json')).split(path.sep).join('/'),
  name: 'shapes-triplet',
  data: { train: 'data/train', validation: 'data/val', imageSize: [32, 32], channels: 3, samplesPerEpoch: quick ? 256 : 1536,
    normalize: 'zero-one', augment: { flip: 'horizontal', minCropScale: 0.85, brightness: 0.1, contrast: 0.1 } },
  model: { backbone: 'convnet', width: 0.5, embeddingDim: 32, normalize: true },
  loss: { type: 'triplet', margin: 0.2, distance: 'euclidean', mining: 'semi-hard' },
  training: { epochs: quick ? 2 : 10, batchSize: 48, classesPerBatch: 12, imagesPerClass: 4,
    optimizer: { type: 'adam', learningRate: 0.003 }, seed: 1234, backend: 'auto' },
}, null, 2) + '\n');

const runs = path.join(demo, 'runs');
const before = new Set(fs.existsSync(runs) ? fs.readdirSync(runs) : []);
run(['train', config, '--out', runs]);
const runDir = path.join(runs, fs.readdirSync(runs).find((d) => !before.has(d)));

const tables = path.join(demo, 'tables');
fs.mkdirSync(tables, { recursive: true });
const untrained = path.join(demo, 'untrained-model');
run(['export', runDir, '--type', 'branch', '--untrained', '--out', untrained]);
const tTrained = path.join(tables, 'heldout-trained.parquet');
const tUntrained = path.join(tables, 'heldout-untrained.parquet');
const tVal = path.join(runDir, 'tables', 'val.parquet');
fs.mkdirSync(path.dirname(tVal), { recursive: true });
run(['embed', '--model', runDir, heldout, '--out', tTrained]);
run(['embed', '--model', untrained, heldout, '--out', tUntrained]);
run(['embed', '--model', runDir, val, '--out', tVal]);
const evals = [tUntrained, tTrained].map((t) => JSON.parse(run(['eval', t, '--json'], { capture: true }).trim().split('\n').pop()));

function exampleQuery() {
  const cls = fs.readdirSync(heldout).sort()[0];
  return `${cls}/${fs.readdirSync(path.join(heldout, cls)).sort()[0]}`;
}

const rows = [
  ['Precision@1', (r) => r.retrieval.precisionAt1],
  ['Recall@4', (r) => r.retrieval.recallAtK['4']],
  ['R-Precision', (r) => r.retrieval.rPrecision],
  ['MAP@R', (r) => r.retrieval.mapAtR],
  ['NMI (k-means)', (r) => r.clustering?.nmi ?? NaN],
  ['ROC AUC', (r) => r.verification.rocAuc],
  ['best-F1 threshold', (r) => r.verification.bestF1.threshold],
];
const out = [
  '',
  `Held-out classes (never seen in training): ${fs.readFileSync(path.join(data, '.complete'), 'utf8').trim().replace('held out: ', '')}`,
  `${'metric'.padEnd(20)}${'untrained'.padStart(12)}${'trained'.padStart(12)}`,
  ...rows.map(([name, get]) => `${name.padEnd(20)}${get(evals[0]).toFixed(4).padStart(12)}${get(evals[1]).toFixed(4).padStart(12)}`),
  '',
  `run folder: ${runDir}`,
  `tables:     ${tTrained}, ${tUntrained}, ${tVal}`,
  `try:        node bin/embedlab.js knn ${path.relative(process.cwd(), tTrained)} --query ${exampleQuery()} -k 5`,
];
process.stdout.write(out.join('\n') + '\n');
