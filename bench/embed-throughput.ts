// Embedding throughput benchmark: `embedFolder` end to end (decode + normalise + embed + table write), plus a
// decode-only and an inference-only pass so the bottleneck is visible, for each embedding engine (ONNX Runtime and
// TensorFlow.js wasm), plus a PyTorch reference of the same network over the same files (bench/torch_embed.py), all
// in one run.
//
//   node --import tsx bench/embed-throughput.ts [--images 20000] [--source-size 64] [--format png|jpeg]
//        [--runs 2] [--engines onnx,tfjs] [--threads 1,2] [--batch N] [--concurrency N] [--uv N]
//        [--sharp-cache on|off|both] [--embed-module <file.ts>] [--no-torch] [--phases e2e,decode,infer]
//
// --uv: libuv's thread-pool size (sharp decodes there); default as `embedlab embed` sets it: one per core, at least 2.
//
// --engines: the engines measured (e2e and infer run once per engine; decode once). --threads: ONNX Runtime
// intra-op thread counts (each is its own e2e/infer pass). --sharp-cache: libvips' operation cache in the decode
// phase (on: sharp's default; off: sharp.cache(false), as embedFolder sets it; `both`: the decode phase both ways).
// Each measured pass runs in its own child process, so its peak RSS (process.resourceUsage().maxRSS, the same
// number `/usr/bin/time -v` prints) belongs to that pass alone; RSS is also sampled every 50 ms, and the CPU time of
// the pass (process.cpuUsage: this thread, libuv's decoders and ORT's threads) is reported per image. Every pass
// does a warm-up then `--runs` timed runs; the median is reported. The dataset (seeded generateShapes) and the
// model (width-0.25 resnet18, Dense(128) + L2, input 64×64×3, written by src/engine/export.ts's exportModels:
// model.json + weights.bin + model.onnx + preprocessing.json with the width, so the tfjs engine folds BatchNorm as
// `embedlab embed` does) are cached under $TMPDIR/embedlab-bench/.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { exportBenchBranch } from './bench-model';

const { values: a } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    'source-size': { type: 'string', default: '64' },
    format: { type: 'string', default: 'png' },
    runs: { type: 'string', default: '2' },
    batch: { type: 'string' },
    concurrency: { type: 'string' },
    uv: { type: 'string' },
    'embed-module': { type: 'string' },
    engines: { type: 'string', default: 'onnx,tfjs' },
    threads: { type: 'string', default: '1,2' },
    'sharp-cache': { type: 'string', default: 'both' },
    engine: { type: 'string' }, // internal: the child's engine
    'ort-threads': { type: 'string' }, // internal: the child's ORT threads
    'sharp-cache-child': { type: 'string' }, // internal
    'no-torch': { type: 'boolean', default: false },
    phases: { type: 'string', default: 'e2e,decode,infer' },
    'infer-batches': { type: 'string', default: '32,64,128' },
    // internal: run one phase in this (child) process
    child: { type: 'string' },
    folder: { type: 'string' },
    model: { type: 'string' },
  },
});

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(os.tmpdir(), 'embedlab-bench');
const N = Number(a.images);
const SIZE = Number(a['source-size']);
const FORMAT = a.format === 'jpeg' || a.format === 'jpg' ? 'jpeg' : 'png';
const RUNS = Math.max(1, Number(a.runs));
const CLASSES = 20;

const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Samples RSS every 50 ms (a busy event loop delays samples; maxRSS is the exact peak). */
function rssSampler() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  return { stop: () => { clearInterval(t); return Math.max(peak, process.memoryUsage().rss); } };
}

// ---------------------------------------------------------------------------------------------------------
// Child: one phase.

async function child(phase: string): Promise<void> {
  const embedMod = (a['embed-module'] ? await import(path.resolve(a['embed-module'])) : await import('../src/engine/embed')) as typeof import('../src/engine/embed');
  const { decodeImage, normalizeInto } = await import('../src/engine/images');
  const sharp = (await import('sharp')).default;
  if (a['sharp-cache-child'] === 'off') sharp.cache(false);
  const engineName = (a.engine ?? 'tfjs') as 'onnx' | 'tfjs';
  // The tfjs engine on the wasm backend (the default everywhere); ONNX Runtime with the given intra-op threads.
  const opened = await embedMod.openEmbedder(a.model!, { engine: engineName, backend: 'wasm', threads: a['ort-threads'] ? Number(a['ort-threads']) : undefined });
  const { embedder, pre } = opened;
  const spec = embedMod.specOf(pre);
  const per = spec.height * spec.width * spec.channels;
  const rssStart = process.memoryUsage().rss;
  const sampler = rssSampler();
  const times: number[] = [];
  const cpuMsPerImage: number[] = [];
  const extra: Record<string, unknown> = {};
  const batchOpt = a.batch ? Number(a.batch) : undefined;
  const concOpt = a.concurrency ? Number(a.concurrency) : undefined;
  const timed = async (rows: number, fn: () => Promise<void>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    return { s, cpuMs: (c.user + c.system) / 1000 / Math.max(1, rows) };
  };

  if (phase === 'e2e') {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-bench-out-')), 'x.parquet');
    let rows = 0;
    for (let r = 0; r <= RUNS; r++) {
      const { images } = embedMod.listImages(a.folder!, pre.labelLevel);
      const m = await timed(images.length, async () => {
        const res = await embedMod.embedFolder({ embedder, pre, modelDir: opened.dir, folder: a.folder!, out, batchSize: batchOpt, concurrency: concOpt });
        rows = res.rows;
      });
      if (r > 0) { times.push(m.s); cpuMsPerImage.push(m.cpuMs); } // r = 0: warm-up
    }
    extra.rows = rows;
    extra.tableBytes = fs.statSync(out).size;
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  } else if (phase === 'decode') {
    // What embedFolder does minus embed/write: decode every file (K in flight) and normalise into a batch buffer.
    const { images } = embedMod.listImages(a.folder!, pre.labelLevel);
    const K = concOpt ?? 4;
    const batch = batchOpt ?? 64;
    const buf = new Float32Array(batch * per);
    let sum = 0;
    for (let r = 0; r <= RUNS; r++) {
      const m = await timed(images.length, async () => {
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < images.length; i = next++) {
            const px = await decodeImage(images[i].path, spec);
            normalizeInto(buf, (i % batch) * per, px, spec);
            if (i < batch) for (let j = 0; j < per; j += 97) sum += px[j];
          }
        };
        await Promise.all(Array.from({ length: K }, worker));
      });
      if (r > 0) { times.push(m.s); cpuMsPerImage.push(m.cpuMs); }
    }
    extra.inFlight = K;
    extra.rows = images.length;
    extra.checksum = sum; // the same pixels whatever the sharp settings
  } else if (phase === 'infer') {
    // The engine on random normalised batches (no decode): its ceiling.
    const sizes = (a['infer-batches'] ?? '64').split(',').map(Number);
    const perBatch: Record<string, number> = {};
    const cpuPerBatch: Record<string, number> = {};
    const x = new Float32Array(Math.max(...sizes) * per);
    for (let i = 0; i < x.length; i++) x[i] = Math.random() * 4 - 2;
    for (const b of sizes) {
      const n = Math.max(b, Math.floor(Math.min(N, 4096) / b) * b);
      const ts: number[] = [];
      const cs: number[] = [];
      for (let r = 0; r <= RUNS; r++) {
        const m = await timed(n, async () => {
          for (let done = 0; done < n; done += b) await embedder.embed(x.subarray(0, b * per), b);
        });
        if (r > 0) { ts.push(n / m.s); cs.push(m.cpuMs); }
      }
      perBatch[b] = Math.round(median(ts));
      cpuPerBatch[b] = Math.round(median(cs) * 1000) / 1000;
    }
    extra.imagesPerSecByBatch = perBatch;
    extra.cpuMsPerImageByBatch = cpuPerBatch;
    if (embedder.engine === 'tfjs') extra.tensorsLeft = (await import('../src/engine/tf')).tf.memory().numTensors;
  }
  const rssPeakSampled = sampler.stop();
  const rows = (extra.rows as number | undefined) ?? 0;
  const result = {
    phase, engine: embedder.name, engineDetail: embedder.detail, sharpCache: phase === 'decode' ? a['sharp-cache-child'] ?? 'on' : undefined, times,
    imagesPerSec: times.length ? Math.round(rows / median(times)) : undefined,
    cpuMsPerImage: cpuMsPerImage.length ? Math.round(median(cpuMsPerImage) * 1000) / 1000 : undefined,
    rssStartMiB: mib(rssStart), rssPeakSampledMiB: mib(rssPeakSampled), maxRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    ...extra,
  };
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
  await embedder.dispose();
}

// ---------------------------------------------------------------------------------------------------------
// Parent: dataset, model, phases, torch.

async function ensureDataset(): Promise<string> {
  const perClass = Math.ceil(N / CLASSES);
  const dir = path.join(CACHE, `shapes-${SIZE}-${FORMAT}-${CLASSES}x${perClass}-seed7`);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  const { generateShapes } = await import('../src/engine/synth');
  fs.rmSync(dir, { recursive: true, force: true });
  const t0 = performance.now();
  process.stderr.write(`generating ${CLASSES * perClass} ${SIZE}×${SIZE} ${FORMAT} images in ${dir} …\n`);
  await generateShapes(dir, { classes: CLASSES, perClass, size: SIZE, seed: 7, format: FORMAT });
  fs.writeFileSync(path.join(dir, '.complete'), '');
  process.stderr.write(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return dir;
}

async function ensureModel(): Promise<string> {
  // v2: written by exportModels (preprocessing with `width`, so the tfjs engine folds BatchNorm; model.onnx beside).
  const dir = path.join(CACHE, 'model-resnet18-w0.25-d128-v2');
  if (fs.existsSync(path.join(dir, 'preprocessing.json'))) return dir;
  return exportBenchBranch(CACHE, dir);
}

function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', __filename, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`child ${args.join(' ')} exited ${code}: ${out}`));
      else resolve(JSON.parse(line.slice(7)) as Record<string, unknown>);
    });
  });
}

function runTorch(folder: string): Promise<Record<string, unknown> | { error: string }> {
  return new Promise((resolve) => {
    const p = spawn('/usr/bin/python3', [path.join(ROOT, 'bench', 'torch_embed.py'), folder, '--runs', String(RUNS), '--threads', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', (e) => resolve({ error: e.message }));
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve(code === 0 && line ? (JSON.parse(line.slice(7)) as Record<string, unknown>) : { error: `exit ${code}: ${err.trim().split('\n').slice(-1)[0] ?? ''}` });
    });
  });
}

async function main(): Promise<void> {
  if (a.child) return child(a.child);
  const load0 = os.loadavg();
  const folder = await ensureDataset();
  const model = await ensureModel();
  const env = { ...process.env };
  // As `embedlab embed` sizes it (src/cli/scoring.ts), unless --uv or UV_THREADPOOL_SIZE says otherwise.
  const { decodeThreadsDefault } = await import('../src/cli/scoring');
  env.UV_THREADPOOL_SIZE = a.uv ?? env.UV_THREADPOOL_SIZE ?? String(decodeThreadsDefault(os.availableParallelism()));
  const pass = ['--images', String(N), '--runs', String(RUNS), '--folder', folder, '--model', model];
  if (a.batch) pass.push('--batch', a.batch);
  if (a.concurrency) pass.push('--concurrency', a.concurrency);
  if (a['embed-module']) pass.push('--embed-module', a['embed-module']);
  pass.push('--infer-batches', a['infer-batches']!);
  const results: Record<string, unknown> = {};
  const engines = a.engines!.split(',').map((e) => e.trim()).filter(Boolean);
  const threads = a.threads!.split(',').map((t) => t.trim()).filter(Boolean);
  const sharpCache = a['sharp-cache'] === 'both' ? ['on', 'off'] : [a['sharp-cache'] ?? 'on'];
  console.log(`# embed-throughput: ${N} × ${SIZE}px ${FORMAT}, runs ${RUNS} (+1 warm-up), UV_THREADPOOL_SIZE=${env.UV_THREADPOOL_SIZE}, `
    + `embed ${a['embed-module'] ?? 'src/engine/embed.ts'}, engines ${engines.join(', ')} (ORT threads ${threads.join(', ')}), load avg ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const fmt = (r: Record<string, unknown>) => `peak RSS ${r.maxRssMiB} MiB (sampled ${r.rssPeakSampledMiB}, at start ${r.rssStartMiB})`;
  for (const phase of a.phases!.split(',')) {
    // decode does not depend on the engine: once per sharp-cache setting. e2e / infer: once per engine (× ORT threads).
    const variants = phase === 'decode'
      ? sharpCache.map((c) => ({ key: `decode-cache-${c}`, args: ['--engine', engines[0], '--sharp-cache-child', c] }))
      : engines.flatMap((e) => (e === 'onnx' ? threads.map((t) => ({ key: `${phase}-onnx-t${t}`, args: ['--engine', 'onnx', '--ort-threads', t] }))
        : [{ key: `${phase}-${e}`, args: ['--engine', e] }]));
    for (const v of variants) {
      const r = await runChild(['--child', phase, ...v.args, ...pass], env);
      results[v.key] = r;
      const ips = phase === 'infer'
        ? `${JSON.stringify(r.imagesPerSecByBatch)} img/s, CPU ms/img ${JSON.stringify(r.cpuMsPerImageByBatch)}`
        : `${r.imagesPerSec} img/s, CPU ${r.cpuMsPerImage} ms/img (runs ${(r.times as number[]).map((t) => t.toFixed(2)).join(', ')} s)`;
      console.log(`${v.key.padEnd(18)} ${ips}  ${fmt(r)}  [${r.engineDetail}]`);
    }
  }
  if (!a['no-torch']) {
    const t = await runTorch(folder);
    results.torch = t;
    console.log('torch   ' + ('error' in t ? `unavailable: ${t.error}` : `inference ${t.inferImagesPerSec} img/s, end to end ${t.e2eImagesPerSec} img/s (decode: ${t.decoder}; decode-only ${t.decodeImagesPerSec} img/s), peak RSS ${t.maxRssMiB} MiB`));
  }
  const load1 = os.loadavg();
  console.log(`load avg before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(JSON.stringify({
    bench: 'embed-throughput', images: N, sourceSize: SIZE, format: FORMAT, runs: RUNS, uvThreadpool: env.UV_THREADPOOL_SIZE ?? null,
    embedModule: a['embed-module'] ?? 'src/engine/embed.ts', batch: a.batch ?? null, concurrency: a.concurrency ?? null,
    loadBefore: load0, loadAfter: load1, cpus: os.cpus().length, ...results,
  }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
