// The committed bytes of the kNN WebAssembly kernel (src/core/knn-kernel-wasm.ts, what `node --import tsx` tests and
// the bundles load) are the assembly of its text, src/core/knn-kernel.wat (scripts/assemble-wasm.mjs, wabt).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KNN_KERNEL_WASM_BASE64 } from '../../src/core/knn-kernel-wasm';
import { knnUsesWasm } from '../../src/core/knn';

const root = path.resolve(__dirname, '..', '..');

interface Assembler {
  WASM_MODULES: { wat: string; out: string; name: string }[];
  assembleWat(wat: string): Promise<Uint8Array>;
  renderModule(m: { wat: string; out: string; name: string }, bytes: Uint8Array): string;
}
const load = async (): Promise<Assembler> => (await import(path.join(root, 'scripts', 'assemble-wasm.mjs'))) as Assembler;

test('src/core/knn-kernel-wasm.ts is the assembly of knn-kernel.wat (run npm run build after editing the .wat)', async () => {
  const asm = await load();
  const m = asm.WASM_MODULES.find((x) => x.wat === 'src/core/knn-kernel.wat');
  assert.ok(m, 'knn-kernel.wat is listed in scripts/assemble-wasm.mjs');
  const bytes = await asm.assembleWat(m.wat);
  assert.deepEqual(new Uint8Array(Buffer.from(KNN_KERNEL_WASM_BASE64, 'base64')), bytes);
  assert.equal(readFileSync(path.join(root, m.out), 'utf8'), asm.renderModule(m, bytes));
});

test('the kernel bytes are a valid SIMD module with the five exports the search calls', () => {
  const bytes = new Uint8Array(Buffer.from(KNN_KERNEL_WASM_BASE64, 'base64'));
  assert.ok(WebAssembly.validate(bytes));
  const mod = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.exports(mod).map((e) => `${e.name}:${e.kind}`).sort(),
    ['exact:function', 'norms:function', 'scan32:function', 'scan32f:function', 'scan64:function']);
  assert.deepEqual(WebAssembly.Module.imports(mod).map((e) => `${e.module}.${e.name}:${e.kind}`), ['e.m:memory']);
  assert.equal(knnUsesWasm(), true, 'Node has WebAssembly SIMD: the search uses the kernel');
});
