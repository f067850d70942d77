// The WebGPU probe is a real file run as a child process: dist/webgpu-probe.js beside the bundles (built by
// scripts/build.mjs, shipped in the VSIX), src/engine/webgpu-probe-child.ts through tsx from source. Both answer
// on fd 3 with one JSON object. (Listing real adapters on lavapipe: test/gpu/webgpu-parity.test.ts.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { probeChildCommand } from '../../src/engine/webgpu-probe';

const ROOT = path.join(__dirname, '..', '..');

function runChild(cmd: string[], args: string[]): Promise<{ code: number | null; fd3: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cmd, ...args], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    let fd3 = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => { fd3 += d.toString(); });
    child.on('close', (code) => resolve({ code, fd3 }));
  });
}

test('from source the probe runs the TypeScript child through tsx', () => {
  const cmd = probeChildCommand();
  assert.equal(cmd.at(-1), path.join(ROOT, 'src', 'engine', 'webgpu-probe-child.ts'));
  assert.equal(cmd[0], '--import');
});

for (const [name, cmd] of [
  ['dist/webgpu-probe.js', [path.join(ROOT, 'dist', 'webgpu-probe.js')]],
  ['src/engine/webgpu-probe-child.ts', probeChildCommand()],
] as const) {
  test(`${name}: answers on fd 3, an error as { ok: false } with its first line`, async () => {
    assert.ok(fs.existsSync(cmd.at(-1)!), `${cmd.at(-1)} is missing: run npm run build`);
    const none = await runChild([...cmd], []);
    assert.deepEqual(JSON.parse(none.fd3), { ok: false, error: 'usage: webgpu-probe.js <file URL of the webgpu package>' });
    const missing = pathToFileURL(path.join(ROOT, 'no-such-dawn', 'index.js')).href;
    const bad = await runChild([...cmd], [missing]);
    const r = JSON.parse(bad.fd3) as { ok: boolean; error: string };
    assert.equal(r.ok, false);
    assert.match(r.error, /Cannot find module .*no-such-dawn/);
    assert.doesNotMatch(r.error, /\n/);
  });
}
