// Memory while embedding a folder: embedFolder (as `embedlab embed` runs it) with process.memoryUsage() printed every
// --every images, and the peak RSS (maxRSS) at the end. Flat RSS/heap over the run = bounded memory.
//
//   UV_THREADPOOL_SIZE=2 node --import tsx bench/embed-memory.ts --model <runDir|modelDir> --folder <dir> [--engine onnx] [--every 2500]
//
// The benchmark data of bench/embed-throughput.ts: --model $TMPDIR/embedlab-bench/model-resnet18-w0.25-d128-v2
// --folder $TMPDIR/embedlab-bench/shapes-64-png-20x1000-seed7 (20,000 images; run embed-throughput once first).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { embedFolder, openEmbedder } from '../src/engine/embed';

const { values: a } = parseArgs({ options: { model: { type: 'string' }, folder: { type: 'string' }, engine: { type: 'string', default: 'onnx' }, every: { type: 'string', default: '2500' } } });
if (!a.model || !a.folder) throw new Error('usage: bench/embed-memory.ts --model <dir> --folder <dir> [--engine onnx|tfjs] [--every 2500]');

(async () => {
  const opened = await openEmbedder(a.model!, { engine: a.engine as 'onnx' | 'tfjs' });
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-mem-')), 'table.parquet');
  const mib = (n: number) => Math.round(n / 2 ** 20);
  const every = Number(a.every);
  let next = every;
  const res = await embedFolder({
    embedder: opened.embedder, pre: opened.pre, modelDir: opened.dir, folder: a.folder!, out,
    onProgress: (done) => {
      if (done < next) return;
      next += every;
      const m = process.memoryUsage();
      console.log(`${done} images: RSS ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, external ${mib(m.external)} MiB`);
    },
  });
  console.log(`${res.rows} rows; peak RSS (maxRSS) ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB; engine ${opened.embedder.name}`);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  opened.embedder.dispose();
})().catch((e) => { console.error(e); process.exitCode = 1; });
