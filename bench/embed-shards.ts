// Embedding throughput with 1 shard and with 2 shards run side by side on this machine (issue 18): the same folder,
// the benchmarks' model (bench/bench-model.ts, ResNet-18 ×0.25 at 64×64), each shard a separate `embedlab embed
// --shard i/N` process (dist/cli.js), wall time from the first start to the last exit. Alternates 1 and 2 shards
// `--rounds` times and prints the medians.
//   npm run build && node --import tsx bench/embed-shards.ts [--images 1200] [--rounds 3]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { exportBenchBranch } from './bench-model';

const { values } = parseArgs({ options: { images: { type: 'string', default: '1200' }, rounds: { type: 'string', default: '3' } } });
const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'embed-shards-'));
  try {
    const n = Number(values.images);
    const model = await exportBenchBranch(path.join(work, 'run'), path.join(work, 'model'));
    await run(['synth', path.join(work, 'images'), '--classes', '4', '--per-class', String(Math.ceil(n / 4)), '--size', '64', '--seed', '1']);
    const shards = async (count: number): Promise<number> => {
      const out = path.join(work, `t${count}-${Date.now()}`);
      const t0 = performance.now();
      await Promise.all(Array.from({ length: count }, (_, i) => run(['embed', '--model', model, path.join(work, 'images'), '--shard', `${i}/${count}`, '--out', out, '--threads', '1'])));
      return (performance.now() - t0) / 1000;
    };
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < Number(values.rounds); r++) { one.push(await shards(1)); two.push(await shards(2)); }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const images = 4 * Math.ceil(n / 4);
    process.stdout.write(JSON.stringify({
      images, cores: os.availableParallelism(), oneShardSeconds: one.map((x) => +x.toFixed(1)), twoShardSeconds: two.map((x) => +x.toFixed(1)),
      oneShardImagesPerSec: +(images / med(one)).toFixed(0), twoShardsImagesPerSec: +(images / med(two)).toFixed(0), speedup: +(med(one) / med(two)).toFixed(2),
      loadavg: os.loadavg().map((x) => +x.toFixed(1)),
    }) + '\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
void main();
