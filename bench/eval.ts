// Benchmark of `embedlab eval`: a seeded clustered table written as real Parquet, then readTable + evaluateTable
// (each part timed separately, median of --runs), peak RSS, load averages, and one end-to-end CLI run.
//
//   node --import tsx bench/eval.ts [--n 20000] [--dim 128] [--classes 100] [--runs 3] [--seed 1]
//                                   [--distance euclidean] [--only retrieval] [--no-cli] [--keep] [--threads 2|1]
//
// --only retrieval times readTable + retrievalMetrics alone (what bounds memory at 100k). The CLI run needs
// dist/cli.js: run `node scripts/build.mjs` first. The last line of output is one JSON object.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateTable, retrievalMetrics } from '../src/core/metrics';
import { evaluateTableParallel } from '../src/core/evaluate-parallel';
import { openTableWriter, readTable, type TableRow } from '../src/core/table';
import { knnUsesWasm } from '../src/core/knn';
import type { DistanceName } from '../src/core/config-types';
import { uniformStream } from '../src/core/rng';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' }, dim: { type: 'string', default: '128' }, classes: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' }, seed: { type: 'string', default: '1' }, distance: { type: 'string', default: 'euclidean' },
    only: { type: 'string' }, 'no-cli': { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
  },
});
const n = Number(a.n);
const dim = Number(a.dim);
const nClasses = Number(a.classes);
const runs = Number(a.runs);
const distance = a.distance as DistanceName;
const threads = Number(a.threads);

const rand = uniformStream(Number(a.seed));
const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[s.length >> 1]; };
const la = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);
const mib = (bytes: number): number => Math.round(bytes / 1048576);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'embedlab-bench-'));
  const file = join(dir, `bench-${n}x${dim}.parquet`);
  try {
    // Clustered data: class centres ~ N(0, 1), points = centre + 0.7·N(0, 1); classes interleaved (row i → class i % C).
    const centres = Float32Array.from({ length: nClasses * dim }, gauss);
    const writer = openTableWriter(file, { dim, meta: { distance, bench: true } });
    const batch = 4096;
    for (let i0 = 0; i0 < n; i0 += batch) {
      const m = Math.min(batch, n - i0);
      const rows: TableRow[] = [];
      const vec = new Float32Array(m * dim);
      for (let r = 0; r < m; r++) {
        const c = (i0 + r) % nClasses;
        rows.push({ path: `class${c}/img${i0 + r}.jpg`, label: `class${c}` });
        for (let d = 0; d < dim; d++) vec[r * dim + d] = centres[c * dim + d] + 0.7 * gauss();
      }
      await writer.append(rows, vec);
    }
    await writer.commit();

    const loadBefore = la();
    const times: Record<string, number[]> = { read: [], retrieval: [], clustering: [], verification: [], evaluate: [] };
    let summary: Record<string, unknown> = {};
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now();
      const table = await readTable(file);
      times.read.push(performance.now() - t0);
      const ids = new Map<string, number>();
      const labels = Int32Array.from(table.labels, (l) => {
        if (!l) return -1;
        let c = ids.get(l);
        if (c === undefined) { c = ids.size; ids.set(l, c); }
        return c;
      });
      if (a.only === 'retrieval') {
        const t1 = performance.now();
        const r = retrievalMetrics(table.vectors, table.dim, labels, distance);
        times.retrieval.push(performance.now() - t1);
        summary = { p1: r.precisionAt1, rPrecision: r.rPrecision, mapAtR: r.mapAtR, recallAtK: r.recallAtK };
      } else {
        // As `embedlab eval` does: retrieval here, k-means + verification in a worker thread (--threads 1: one thread).
        const rep = threads === 1
          ? evaluateTable(table.vectors, table.dim, labels, distance, { targetPrecision: 0.95 })
          : await evaluateTableParallel(table.vectors, table.dim, labels, distance, { targetPrecision: 0.95, onNote: (m) => process.stderr.write(m + '\n') });
        times.retrieval.push(rep.timingsMs.retrieval);
        times.clustering.push(rep.timingsMs.clustering);
        times.verification.push(rep.timingsMs.verification);
        times.evaluate.push(rep.timingsMs.total);
        summary = {
          p1: rep.retrieval.precisionAt1, rPrecision: rep.retrieval.rPrecision, mapAtR: rep.retrieval.mapAtR, recallAtK: rep.retrieval.recallAtK,
          nmi: rep.clustering?.nmi, kmeansIter: rep.clustering?.iterations, inertia: rep.clustering?.inertia,
          rocAuc: rep.verification.rocAuc, bestF1: rep.verification.bestF1, atPrecision: rep.verification.atPrecision,
          pairs: [rep.verification.positives, rep.verification.negatives],
        };
      }
      process.stdout.write(`run ${run + 1}/${runs}: ${Object.entries(times).filter(([, v]) => v.length).map(([k, v]) => `${k} ${(v[v.length - 1] / 1000).toFixed(2)} s`).join(', ')}\n`);
    }
    const loadAfter = la();
    const med = Object.fromEntries(Object.entries(times).filter(([, v]) => v.length).map(([k, v]) => [k, Math.round(median(v))]));
    const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);

    let cli: Record<string, unknown> | null = null;
    const cliPath = resolve(__dirname, '..', 'dist', 'cli.js');
    if (!a['no-cli'] && a.only === undefined) {
      if (!existsSync(cliPath)) cli = { skipped: 'dist/cli.js missing: run node scripts/build.mjs' };
      else {
        const cliLoadBefore = la();
        const t0 = performance.now();
        const out = execFileSync(process.execPath, [cliPath, 'eval', file, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
        const wallMs = Math.round(performance.now() - t0);
        const rep = JSON.parse(out.trim().split('\n').pop() as string) as { timingsMs: Record<string, number>; retrieval: { precisionAt1: number } };
        cli = { wallMs, timingsMs: Object.fromEntries(Object.entries(rep.timingsMs).map(([k, v]) => [k, Math.round(v)])), p1: rep.retrieval.precisionAt1, loadBefore: cliLoadBefore, loadAfter: la() };
      }
    }
    console.log(`median of ${runs} (ms): ${JSON.stringify(med)}; peak RSS ${peakRssMiB} MiB; load ${loadBefore.join(' ')} → ${loadAfter.join(' ')}; wasm ${knnUsesWasm()}`);
    if (cli) console.log(`cli: ${JSON.stringify(cli)}`);
    console.log(JSON.stringify({
      n, dim, classes: nClasses, distance, runs, only: a.only ?? null, wasm: knnUsesWasm(), medianMs: med, peakRssMiB,
      heapUsedMiB: mib(process.memoryUsage().heapUsed), loadBefore, loadAfter, cli, results: summary,
    }));
  } finally {
    if (!a.keep) rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${file}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
