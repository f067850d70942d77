// The WebGPU probe, run as a child process by src/engine/webgpu-probe.ts (built to dist/webgpu-probe.js):
// `node webgpu-probe.js <file URL of the webgpu package's entry>`. Lists the adapters Dawn offers and writes one
// JSON object to fd 3: { ok: true, adapters } or { ok: false, error }. Dawn's own prints go to this process's
// stdout/stderr, which the parent keeps as its log; a crash of Dawn kills only this process.
import * as fs from 'node:fs';
import { dawnFlags, listAdapters, type DawnModule } from './webgpu-adapters';

const out = (o: unknown) => fs.writeSync(3, JSON.stringify(o));

(async () => {
  const url = process.argv[2];
  if (!url) throw new Error('usage: webgpu-probe.js <file URL of the webgpu package>');
  const { create } = (await import(url)) as DawnModule;
  out({ ok: true, adapters: await listAdapters(create(dawnFlags())) });
})().catch((e: unknown) => out({ ok: false, error: String((e as Error)?.message ?? e).split('\n')[0] }));
