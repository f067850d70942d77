// `embedlab env`: which training backends, WebGPU adapters, ONNX Runtime and cached pretrained models are there.
import { printableText } from '../core/printable';
import { defineCommand } from './args';

export const envCommand = defineCommand({
  name: 'env',
  summary: 'Which backends load (and why not, with the fix), ONNX Runtime, and the pretrained models in the hub cache',
  usage: 'embedlab env [--json]',
  positionals: [0, 0],
  options: { json: { type: 'boolean' }, 'backend-path': { type: 'string', multiple: true, hidden: true } },
  async run({ values: v }) {
    const { probeBackends, probeWebGpu } = await import('../engine/backend');
    const searchPaths = v['backend-path'] ?? [];
    const probes = await probeBackends({ searchPaths });
    const webgpu = await probeWebGpu({ searchPaths });
    const { loadOrt } = await import('../engine/onnx-runtime');
    const ortLoad = loadOrt();
    const onnxruntime = ortLoad.ok
      ? { name: 'onnxruntime', available: true, detail: `onnxruntime-node ${ortLoad.version} (CPU; the embedding engine of embed / knn --engine auto|onnx) at ${ortLoad.file}` }
      : { name: 'onnxruntime', available: false, detail: '', reason: `${ortLoad.reason} — embed / knn run on TensorFlow.js`, fix: ortLoad.fix };
    // Pretrained models already in the Hugging Face hub cache (shared with Python's huggingface_hub).
    const { hubCacheDir, scanHubCache } = await import('../engine/pretrained/hub-cache');
    const cacheDir = hubCacheDir(process.env);
    const pretrained = { cacheDir, models: scanHubCache(cacheDir).map((m) => ({ id: `hf:${m.repoId}`, bytes: m.bytes, incompleteBytes: m.incompleteBytes, revisions: Object.keys(m.refs) })) };
    if (v.json) {
      process.stdout.write(JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, backends: [...probes, webgpu], engines: [onnxruntime], pretrained }, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(`node ${process.version} on ${process.platform}-${process.arch}\n`);
    for (const p of [...probes, webgpu]) {
      process.stdout.write(`${p.available ? '✓' : '✗'} ${p.name.padEnd(15)} ${p.available ? p.detail : p.reason ?? ''}\n`);
      if (!p.available && p.fix) process.stdout.write(`  fix: ${p.fix}\n`);
    }
    for (const a of webgpu.adapters) {
      process.stdout.write(`  adapter: ${a.description || a.device} (${a.vendor}/${a.architecture})${a.isFallbackAdapter || a.software ? ' — software fallback, not used by auto' : ''}\n`);
    }
    for (const pr of webgpu.problems) process.stdout.write(`  webgpu: ${pr.reason}${pr.fix ? `\n    fix: ${pr.fix}` : ''}\n`);
    process.stdout.write(`${onnxruntime.available ? '✓' : '✗'} ${'onnxruntime'.padEnd(15)} ${onnxruntime.available ? onnxruntime.detail : onnxruntime.reason}\n`);
    if (!onnxruntime.available && onnxruntime.fix) process.stdout.write(`  fix: ${onnxruntime.fix}\n`);
    process.stdout.write(`pretrained models in ${printableText(cacheDir)}: ${pretrained.models.length ? '' : 'none'}\n`);
    for (const m of pretrained.models) {
      process.stdout.write(`  ${printableText(m.id).padEnd(40)} ${(m.bytes / 1e6).toFixed(1)} MB${m.incompleteBytes ? ` (+${(m.incompleteBytes / 1e6).toFixed(1)} MB unfinished, resumable)` : ''}\n`);
    }
    return 0;
  },
});
