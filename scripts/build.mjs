// Builds one bundle per entry point with esbuild. Native and wasm-carrying packages stay external:
// they are loaded from node_modules at run time (tfjs-backend-wasm finds its .wasm files beside itself).
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { assembleAll } from './assemble-wasm.mjs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const external = ['vscode', 'sharp', '@tensorflow/*', 'webgpu', 'hyparquet', 'hyparquet-writer', '@lancedb/lancedb', 'apache-arrow'];

const nodeEntries = [
  { in: 'src/cli/main.ts', out: 'dist/cli.js' },
  { in: 'src/worker/train-worker.ts', out: 'dist/worker.js' },
  // The `eval` command's second thread (src/core/evaluate-parallel.ts), started by dist/cli.js.
  { in: 'src/core/eval-worker.ts', out: 'dist/eval-worker.js' },
  // The WebGPU probe of `embedlab env` / Check Environment, run as a child process (src/engine/webgpu-probe.ts).
  { in: 'src/engine/webgpu-probe-child.ts', out: 'dist/webgpu-probe.js' },
  { in: 'src/extension/extension.ts', out: 'dist/extension.js' },
  // The explorer's projection worker thread (PCA, t-SNE, UMAP, k-means), started by dist/extension.js.
  { in: 'src/extension/projection-worker.ts', out: 'dist/projection-worker.js' },
  // The custom layers for a stock TensorFlow.js (PairDistance; older exports' layers), shipped for users' own code.
  { in: 'src/engine/tfjs-layers.ts', out: 'dist/tfjs-layers.js' },
].filter((e) => existsSync(e.in));

// keepNames: error classes report their own names (LabError sets name from the class) in minified bundles too.
const common = { bundle: true, sourcemap: !production, minify: production, keepNames: true, sourcesContent: false, logLevel: 'warning' };
// WebAssembly text (.wat) → the committed src/core/*-wasm.ts files that hold its bytes (scripts/assemble-wasm.mjs).
for (const out of await assembleAll()) console.log(`assemble-wasm: wrote ${out}`);

const contexts = await Promise.all(nodeEntries.map((e) => esbuild.context({
  ...common, entryPoints: [e.in], outfile: e.out, platform: 'node', format: 'cjs', target: 'node20', external,
})));
if (existsSync('webview/main.ts')) {
  contexts.push(await esbuild.context({
    ...common, entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'iife', target: 'es2022',
  }));
}
if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
}
