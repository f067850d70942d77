// Benchmark of `embedlab duplicates`' search (src/core/duplicates.ts): a seeded table of unit vectors in classes
// (spread like a trained model's), with planted near-copies (every `--copy-every`-th row gets 1–3 copies jittered
// by --jitter), grouped at --threshold; times duplicateGroups, checks that exactly the planted groups come back, and
// reports peak RSS. The last line of output is one JSON object.
//
//   node --import tsx bench/duplicates.ts [--n 100000] [--dim 128] [--classes 100] [--threshold 0.05] [--seed 1]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { duplicateGroups } from '../src/core/duplicates';
import { knnUsesWasm } from '../src/core/knn';
import { Rng } from '../src/core/rng';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' }, dim: { type: 'string', default: '128' }, classes: { type: 'string', default: '100' },
    threshold: { type: 'string', default: '0.05' }, jitter: { type: 'string', default: '0.002' }, 'copy-every': { type: 'string', default: '50' }, seed: { type: 'string', default: '1' },
  },
});
const n = Number(a.n);
const dim = Number(a.dim);
const threshold = Number(a.threshold);

const rng = new Rng(Number(a.seed));
const rnd = () => rng.next();
const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
const unit = (v: Float32Array, o: number) => {
  let s = 0;
  for (let d = 0; d < dim; d++) s += v[o + d] ** 2;
  const k = 1 / Math.sqrt(s);
  for (let d = 0; d < dim; d++) v[o + d] *= k;
};

const centres = new Float32Array(Number(a.classes) * dim).map(() => gauss());
const vectors = new Float32Array(n * dim);
const planted: number[][] = [];
let i = 0;
while (i < n) {
  const c = Math.floor(rnd() * Number(a.classes));
  for (let d = 0; d < dim; d++) vectors[i * dim + d] = centres[c * dim + d] + 0.6 * gauss();
  unit(vectors, i * dim);
  const base = i++;
  if (base % Number(a['copy-every']) === 0) {
    const group = [base];
    for (let copies = 1 + Math.floor(rnd() * 3); copies > 0 && i < n; copies--, i++) {
      for (let d = 0; d < dim; d++) vectors[i * dim + d] = vectors[base * dim + d] + Number(a.jitter) * gauss();
      unit(vectors, i * dim);
      group.push(i);
    }
    if (group.length > 1) planted.push(group);
  }
}
const load0 = loadavg()[0];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const res = duplicateGroups(vectors, n, dim, threshold, 'euclidean');
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const want = planted.map((g) => g.join(',')).sort();
const got = res.groups.map((g) => g.join(',')).sort();
const exact = want.length === got.length && want.every((w, k) => w === got[k]);
const out = {
  n, dim, threshold, ms: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000), groups: res.groups.length, planted: planted.length, plantedFoundExactly: exact, widenedRows: res.widened,
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), vectorsMiB: Math.round((n * dim * 4) / 2 ** 20), wasm: knnUsesWasm(),
  load: [load0, loadavg()[0]].map((x) => +x.toFixed(2)), time: new Date().toISOString(),
};
console.log(`duplicates of ${n} × ${dim} at t = ${threshold}: ${out.groups} groups (planted ${out.planted}, exact ${exact}) in ${out.ms} ms (CPU ${out.cpuMs} ms), peak RSS ${out.peakRssMiB} MiB`);
console.log(JSON.stringify(out));
