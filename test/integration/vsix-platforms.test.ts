// One VSIX per platform (issue #12, item 14): scripts/package.mjs packages the five main vsce targets from this
// machine (another platform's sharp packages come from npm), and each VSIX holds that platform's native files and
// no other's. Checked from outside the script: `unzip` lists and extracts the VSIX, and each native file's own
// header (ELF e_machine, Mach-O cputype, PE machine) says which platform it is built for.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tmpDir } from './helpers';

const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'] as const;
type Target = (typeof TARGETS)[number];
const SHARP = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8')) as { version: string };
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const v = SHARP.version.replace(/\./g, '\\.');
const ORT = 'onnxruntime-node/bin/napi-v6';

/** Every native file each VSIX must hold (paths below extension/node_modules/), and nothing else native. */
const EXPECTED: Record<Target, RegExp[]> = {
  'linux-x64': [
    new RegExp(`^@img/sharp-linux-x64/lib/sharp-linux-x64-${v}\\.node$`),
    /^@img\/sharp-libvips-linux-x64\/lib\/libvips-cpp\.so\.\d+\.\d+\.\d+$/,
    new RegExp(`^${ORT}/linux/x64/onnxruntime_binding\\.node$`),
    new RegExp(`^${ORT}/linux/x64/libonnxruntime\\.so\\.1$`),
  ],
  'linux-arm64': [
    new RegExp(`^@img/sharp-linux-arm64/lib/sharp-linux-arm64-${v}\\.node$`),
    /^@img\/sharp-libvips-linux-arm64\/lib\/libvips-cpp\.so\.\d+\.\d+\.\d+$/,
    new RegExp(`^${ORT}/linux/arm64/onnxruntime_binding\\.node$`),
    new RegExp(`^${ORT}/linux/arm64/libonnxruntime\\.so\\.1$`),
  ],
  // onnxruntime-node 1.30 has no darwin-x64 binaries: embedding runs on TensorFlow.js there
  'darwin-x64': [
    new RegExp(`^@img/sharp-darwin-x64/lib/sharp-darwin-x64-${v}\\.node$`),
    /^@img\/sharp-libvips-darwin-x64\/lib\/libvips-cpp\.\d+\.\d+\.\d+\.dylib$/,
  ],
  'darwin-arm64': [
    new RegExp(`^@img/sharp-darwin-arm64/lib/sharp-darwin-arm64-${v}\\.node$`),
    /^@img\/sharp-libvips-darwin-arm64\/lib\/libvips-cpp\.\d+\.\d+\.\d+\.dylib$/,
    new RegExp(`^${ORT}/darwin/arm64/onnxruntime_binding\\.node$`),
    new RegExp(`^${ORT}/darwin/arm64/libonnxruntime\\.1\\.dylib$`),
  ],
  // libvips is inside sharp's win32 package; DirectML.dll, dxil.dll, dxcompiler.dll (GPU EPs) stay out
  'win32-x64': [
    new RegExp(`^@img/sharp-win32-x64/lib/sharp-win32-x64-${v}\\.node$`),
    /^@img\/sharp-win32-x64\/lib\/libvips-cpp-\d+\.\d+\.\d+\.dll$/,
    /^@img\/sharp-win32-x64\/lib\/libvips-42\.dll$/,
    new RegExp(`^${ORT}/win32/x64/onnxruntime_binding\\.node$`),
    new RegExp(`^${ORT}/win32/x64/onnxruntime\\.dll$`),
  ],
};

/** Which platform a binary is for, from its header alone. */
function platformOf(buf: Buffer): string {
  if (buf.readUInt32BE(0) === 0x7f454c46) { // ELF, little-endian on all our targets
    const machine = buf.readUInt16LE(18);
    return `linux-${({ 62: 'x64', 183: 'arm64', 40: 'arm' } as Record<number, string>)[machine] ?? `machine ${machine}`}`;
  }
  if (buf.readUInt32LE(0) === 0xfeedfacf) { // Mach-O 64-bit
    const cpu = buf.readUInt32LE(4);
    return `darwin-${({ 0x01000007: 'x64', 0x0100000c: 'arm64' } as Record<number, string>)[cpu] ?? `cpu ${cpu.toString(16)}`}`;
  }
  if (buf.toString('latin1', 0, 2) === 'MZ') {
    const pe = buf.readUInt32LE(0x3c);
    assert.equal(buf.toString('latin1', pe, pe + 4), 'PE\0\0');
    const machine = buf.readUInt16LE(pe + 4);
    return `win32-${({ 0x8664: 'x64', 0xaa64: 'arm64', 0x14c: 'ia32' } as Record<number, string>)[machine] ?? `machine ${machine.toString(16)}`}`;
  }
  return `unknown (${buf.subarray(0, 4).toString('hex')})`;
}

/** A PE file's imported DLL names: those loaded with it, and those delay-loaded on first use. */
function peImports(buf: Buffer): { imports: string[]; delayed: string[] } {
  const pe = buf.readUInt32LE(0x3c);
  const sections = buf.readUInt16LE(pe + 6);
  const opt = pe + 24;
  const dirs = opt + (buf.readUInt16LE(opt) === 0x20b ? 112 : 96); // PE32+ : PE32
  const table: Array<{ va: number; size: number; raw: number }> = [];
  for (let i = 0, sh = opt + buf.readUInt16LE(pe + 20); i < sections; i++, sh += 40) {
    table.push({ va: buf.readUInt32LE(sh + 12), size: Math.max(buf.readUInt32LE(sh + 8), buf.readUInt32LE(sh + 16)), raw: buf.readUInt32LE(sh + 20) });
  }
  const at = (rva: number): number => {
    const sec = table.find((x) => rva >= x.va && rva < x.va + x.size);
    assert.ok(sec, `RVA ${rva} is in no section`);
    return rva - sec.va + sec.raw;
  };
  const cstr = (off: number): string => buf.toString('latin1', off, buf.indexOf(0, off));
  const list = (rva: number, entry: number, nameAt: number): string[] => {
    const names: string[] = [];
    for (let o = rva ? at(rva) : -1; o >= 0 && buf.readUInt32LE(o + nameAt) !== 0; o += entry) names.push(cstr(at(buf.readUInt32LE(o + nameAt))));
    return names;
  };
  return { imports: list(buf.readUInt32LE(dirs + 8), 20, 12), delayed: list(buf.readUInt32LE(dirs + 13 * 8), 32, 4) };
}

const unzip = (args: string[]): string => {
  const r = spawnSync('unzip', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.error, undefined, `unzip: ${r.error?.message} (apt-get install unzip)`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

const out = tmpDir('vsix');
test.after(() => fs.rmSync(out, { recursive: true, force: true }));
const listings = new Map<Target, string[]>();

test('scripts/package.mjs packages linux-x64, linux-arm64, darwin-x64, darwin-arm64 and win32-x64 on one machine', { timeout: 600_000 }, (t) => {
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'cli.js')), 'run `npm run build` first');
  const r = spawnSync(process.execPath, ['scripts/package.mjs', '--target', TARGETS.join(','), '--no-build', '--no-smoke', '--quiet', '--out', out],
    { cwd: ROOT, encoding: 'utf8', timeout: 590_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `package.mjs failed:\n${r.stdout}\n${r.stderr}`);
  for (const line of r.stdout.split('\n').filter((l) => /^\s+\S+\s+[\d.]+ MB/.test(l))) t.diagnostic(line.trim());
  for (const target of TARGETS) {
    const vsix = path.join(out, `${PKG.name}-${PKG.version}-${target}.vsix`);
    assert.ok(fs.existsSync(vsix), `no ${vsix}`);
    listings.set(target, unzip(['-Z1', vsix]).split('\n').filter((l) => l && !l.endsWith('/')));
  }
});

for (const target of TARGETS) {
  test(`the ${target} VSIX holds ${target}'s sharp, libvips and ONNX Runtime binaries and no other platform's`, () => {
    const names = listings.get(target);
    assert.ok(names, 'packaging failed');
    const vsix = path.join(out, `${PKG.name}-${PKG.version}-${target}.vsix`);
    const natives = names.filter((n) => /\.(node|dll|dylib|exe)$|\.so(\.\d+)*$/.test(n)).map((n) => n.replace(/^extension\/node_modules\//, ''));
    // the expected files, each once, and nothing else native
    for (const rx of EXPECTED[target]) assert.equal(natives.filter((n) => rx.test(n)).length, 1, `${target}: ${rx} in ${natives.join(', ')}`);
    assert.deepEqual(natives.filter((n) => !EXPECTED[target].some((rx) => rx.test(n))), [], `${target}: unexpected native files`);
    // no folder of another platform's package at all (its package.json or LICENSE would be dead weight)
    const sharpPackages = [...new Set(names.filter((n) => n.startsWith('extension/node_modules/@img/sharp-')).map((n) => n.split('/')[3]))].sort();
    assert.deepEqual(sharpPackages, (target.startsWith('win32') ? [`sharp-${target}`] : [`sharp-${target}`, `sharp-libvips-${target}`]).sort());
    assert.deepEqual(names.filter((n) => n.includes(`/${ORT}/`) && !n.includes(`/${ORT}/${target.replace('-', '/')}/`)), []);
    // each binary's header agrees with its path
    const dir = path.join(out, target);
    unzip(['-q', '-o', vsix, ...natives.map((n) => `extension/node_modules/${n}`), '-d', dir]);
    for (const n of natives) {
      const buf = fs.readFileSync(path.join(dir, 'extension', 'node_modules', n));
      assert.equal(platformOf(buf), target, `${n} is built for ${platformOf(buf)}`);
      if (target.startsWith('linux')) assert.ok(buf.includes('libc.so.6') && !buf.includes('libc.musl-'), `${n}: not a glibc build`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    // the manifest names the target (VS Code and the Marketplace pick the VSIX by it)
    assert.match(unzip(['-p', vsix, 'extension.vsixmanifest']), new RegExp(`<Identity [^>]*TargetPlatform="${target}"`));
  });
}

test('the VSIXes differ only in their native packages: the same JavaScript, schemas and media in each', () => {
  // (onnxruntime-common ships only beside onnxruntime-node, so both are left out of the comparison)
  const common = (t: Target) => (listings.get(t) ?? []).filter((n) => !/^extension\/node_modules\/(@img\/sharp-|onnxruntime-)/.test(n)).sort();
  const base = common('linux-x64');
  assert.ok(base.includes('extension/dist/cli.js') && base.includes('extension/node_modules/sharp/package.json'), base.join(', '));
  for (const t of TARGETS) {
    const names = common(t);
    assert.deepEqual(names, base, `${t} differs from linux-x64`);
  }
});

test('win32-x64: every DLL a shipped binary loads is shipped beside it or part of Windows / the VC++ runtime', () => {
  const names = listings.get('win32-x64');
  assert.ok(names, 'packaging failed');
  const vsix = path.join(out, `${PKG.name}-${PKG.version}-win32-x64.vsix`);
  const dir = path.join(out, 'win32-imports');
  const natives = names.filter((n) => /\.(node|dll)$/.test(n));
  unzip(['-q', '-o', vsix, ...natives, '-d', dir]);
  // Windows' own DLLs (and API sets), the Visual C++ 2015-2022 runtime onnxruntime needs (docs/packaging.md), and
  // the host process (node.exe / Code.exe, delay-loaded by node-addon-api's hook)
  const SYSTEM = /^(api-ms-win-.*|kernel32|user32|advapi32|shell32|shlwapi|ole32|oleaut32|ws2_32|dnsapi|iphlpapi|bcrypt|bcryptprimitives|ntdll|setupapi|dbghelp|msvcp140(_1|_atomic_wait)?|vcruntime140(_1)?|node\.exe)$/i;
  let checked = 0;
  for (const n of natives) {
    const { imports, delayed } = peImports(fs.readFileSync(path.join(dir, n)));
    const besides = new Set(natives.filter((m) => path.posix.dirname(m) === path.posix.dirname(n)).map((m) => path.posix.basename(m).toLowerCase()));
    const unresolved = imports.filter((d) => !besides.has(d.toLowerCase()) && !SYSTEM.test(d.replace(/\.dll$/i, '')));
    assert.deepEqual(unresolved, [], `${n} imports DLLs that are not in the VSIX`);
    if (n.endsWith('/onnxruntime.dll')) {
      // DirectML (left out) is only loaded on first use of the DirectML execution provider, which we never pick
      assert.ok(delayed.includes('DirectML.dll') && !imports.some((d) => /directml|dxil|dxcompiler/i.test(d)), JSON.stringify({ imports, delayed }));
    }
    checked++;
  }
  assert.equal(checked, 5);
  fs.rmSync(dir, { recursive: true, force: true });
});
