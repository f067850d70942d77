// Builds the production bundles and packages a platform-specific VSIX (sharp is native, so one VSIX per target).
//
//   node scripts/package.mjs [--target linux-x64] [--out dist] [--no-build] [--no-smoke] [--quiet]
//   node scripts/package.mjs --all | --target darwin-arm64,win32-x64 [--out dist] …   (npm run package:all)
//
// With several targets it builds once and packages each target in a child process of this script. A target other
// than this machine's gets sharp's platform packages (@img/sharp-<p>, @img/sharp-libvips-<p>, the versions sharp's
// package.json pins) from `npm pack` into .cache/platform-packages/ (the npm registry or npm's cache; reused), and
// onnxruntime-node's binaries for that platform only. Every VSIX's native files are checked by their headers
// (ELF / Mach-O / PE machine): all for the target, none for another platform (docs/packaging.md).
//
// Writes <out>/embedding-lab-<version>-<target>.vsix (default out: dist/), prints its size and largest entries,
// then checks it from an unpacked copy: nothing of src/, test/, scripts/ … inside, every package that dist/*.js
// require()s at run time resolves inside the VSIX, and `node extension/dist/cli.js env` plus a 2-step synth/train
// run from there. Works offline (vsce only runs `npm list`, which reads node_modules).
//
// How: `vsce package` WITH npm dependency detection (vsce runs `npm list --production` and takes those folders),
// filtered by the whitelist in .vscodeignore. `--no-dependencies` cannot work for us: vsce then never looks inside
// node_modules/ at all, and the worker/CLI need tfjs, sharp and hyparquet from there at run time.
// vsce refuses to package when package.json has a "files" list (kept for `npm pack` of the CLI) AND a
// .vscodeignore exists ("VSCE does not support combining both strategies"), so vsce runs on a staging copy in
// .tmp/vsix-stage-<target>-<pid>/: hard links of what .vscodeignore admits (vsce applies it again there and decides), the
// production dependency tree (`npm ls --omit=dev`; @img/sharp-* reduced to the target's packages), and a
// package.json without "files" (and without "vscode:prepublish": the build already ran).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => {
  const i = argv.findIndex((a) => a === name || a.startsWith(name + '='));
  if (i < 0) return undefined;
  return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
};
if (flag('--help') || flag('-h')) {
  console.log('usage: node scripts/package.mjs [--target <vsce target>[,<target>…] | --all] [--out <dir>] [--no-build] [--no-smoke] [--quiet]');
  process.exit(0);
}
const quiet = flag('--quiet');
const log = (...a) => { if (!quiet) console.log(...a); };
const fail = (msg) => { console.error(`package: ${msg}`); process.exit(1); };

/** Several targets: one production build, then one child process of this script per target; a table of sizes. */
function packageMany(targets) {
  const t0 = Date.now();
  const self = fileURLToPath(import.meta.url);
  const pass = argv.filter((a, i) => !['--all', '--target'].includes(a) && !a.startsWith('--target=') && argv[i - 1] !== '--target');
  if (!flag('--no-build')) {
    log('== build (production)');
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--production'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) fail('the production build failed');
  }
  const pkgJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const outDir = path.resolve(ROOT, option('--out') ?? 'dist');
  const rows = [];
  for (const t of targets) {
    log(`\n======== ${t}`);
    const started = Date.now();
    const r = spawnSync(process.execPath, [self, '--target', t, ...pass.filter((a) => a !== '--no-build'), '--no-build'], { cwd: ROOT, stdio: 'inherit' });
    const vsix = path.join(outDir, `${pkgJson.name}-${pkgJson.version}-${t}.vsix`);
    rows.push({ t, ok: r.status === 0, size: r.status === 0 && fs.existsSync(vsix) ? fs.statSync(vsix).size : 0, s: (Date.now() - started) / 1000, vsix });
  }
  console.log(`\n${targets.length} targets in ${((Date.now() - t0) / 1000).toFixed(0)} s:`);
  for (const r of rows) console.log(`  ${r.t.padEnd(13)} ${r.ok ? (r.size / 1048576).toFixed(1).padStart(6) + ' MB' : ' FAILED  '}  ${r.s.toFixed(0).padStart(4)} s  ${r.ok ? path.relative(ROOT, r.vsix) : ''}`);
  const failed = rows.filter((r) => !r.ok).map((r) => r.t);
  if (failed.length) fail(`packaging failed for ${failed.join(', ')}`);
  process.exit(0);
}

/** The vsce target of this machine (linux-x64, alpine-arm64, darwin-arm64, win32-x64, …). */
function hostTarget() {
  const arch = process.arch === 'arm' ? 'armhf' : process.arch;
  if (process.platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    return `${glibc ? 'linux' : 'alpine'}-${arch}`;
  }
  return `${process.platform}-${arch}`;
}
const TARGETS = ['win32-x64', 'win32-arm64', 'linux-x64', 'linux-arm64', 'linux-armhf', 'darwin-x64', 'darwin-arm64', 'alpine-x64', 'alpine-arm64'];
const requested = flag('--all') ? TARGETS : (option('--target') ?? hostTarget()).split(',').map((t) => t.trim()).filter(Boolean);
for (const t of requested) if (!TARGETS.includes(t)) fail(`unknown --target ${t} (one of ${TARGETS.join(', ')})`);
if (requested.length > 1) packageMany(requested); // exits
const target = requested[0];
/** sharp's platform package suffix for a vsce target (@img/sharp-<p>, @img/sharp-libvips-<p>). */
const sharpPlatform = target.replace(/^alpine-/, 'linuxmusl-').replace(/-armhf$/, '-arm');
/**
 * onnxruntime-node (optional dependency: the embedding engine) ships every platform's binaries in one package
 * (288 MB); the VSIX gets the target's folder only, and of it only the binding and the runtime library it links
 * (ORT_FILES; linux-x64: +17.5 MB compressed). win32: onnxruntime.dll loads DirectML.dll, d3d12.dll and dxgi.dll
 * lazily (its PE delay-import table), only for the DirectML execution provider, and imports dxil.dll /
 * dxcompiler.dll not at all: we run the CPU EP, so those 38 MB stay out. Targets without ORT: alpine (the binaries
 * are glibc builds), darwin-x64 and linux-armhf (none in 1.30). There, and wherever the native library
 * does not load, `embedlab embed --engine auto` runs on TensorFlow.js.
 */
const ORT_PLATFORMS = { 'linux-x64': 'linux/x64', 'linux-arm64': 'linux/arm64', 'darwin-arm64': 'darwin/arm64', 'win32-x64': 'win32/x64', 'win32-arm64': 'win32/arm64' };
const ORT_FILES = ['onnxruntime_binding.node', 'libonnxruntime.so.1', 'libonnxruntime.1.dylib', 'onnxruntime.dll'];
const ortPlatform = ORT_PLATFORMS[target];
const ORT_PACKAGES = ['onnxruntime-node', 'onnxruntime-common'];

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'], encoding: 'utf8', ...opts });
  if (r.error) fail(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    process.stderr.write((r.stdout ?? '') + (r.stderr ?? '')); // what was captured (nothing when inherited)
    fail(`${path.basename(cmd)} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  }
  return r;
};
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';
const mb = (n) => (n / 1048576).toFixed(2) + ' MB';

// ---- 1. production build ---------------------------------------------------------------------------------------
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
if (!flag('--no-build')) {
  log('== build (production)');
  run(process.execPath, ['scripts/build.mjs', '--production']);
}
for (const f of ['dist/cli.js', 'dist/worker.js', 'dist/projection-worker.js']) if (!fs.existsSync(path.join(ROOT, f))) fail(`${f} is missing after the build`);
if (!pkg.main) console.warn('package: warning: package.json has no "main" yet: the VSIX will hold no extension entry point');
else if (!fs.existsSync(path.join(ROOT, pkg.main)) && !fs.existsSync(path.join(ROOT, pkg.main + '.js'))) fail(`"main" ${pkg.main} does not exist after the build`);

// ---- 2. staging copy -------------------------------------------------------------------------------------------
// One folder per run (the e2e suite and a test may package at the same time), removed however the run ends.
const STAGE = path.join(ROOT, '.tmp', `vsix-stage-${target}-${process.pid}`);
fs.rmSync(STAGE, { recursive: true, force: true });
fs.mkdirSync(STAGE, { recursive: true });
if (!flag('--keep-stage')) process.on('exit', () => fs.rmSync(STAGE, { recursive: true, force: true }));
const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
if (!fs.existsSync(vsce)) fail('node_modules/@vscode/vsce is missing (a devDependency): run `npm ci`');
// .vscodeignore, read exactly as vsce reads it (out/package.js collectFiles), with vsce's own minimatch. vsce
// compiles every pattern again for every file (~50 µs each): on the whole production tree (8 600 files x 190
// patterns) that takes 90 s, so the staging copy holds only what the whitelist admits (plus each package's
// package.json, which `npm list` needs); vsce then applies the same file to that and decides.
const { Minimatch } = createRequire(path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'out', 'package.js'))('minimatch');
const rawIgnore = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8').split(/[\n\r]/).map((s) => s.trim()).filter((s) => s && !/^\s*#/.test(s));
const patterns = [...rawIgnore, ...rawIgnore.filter((i) => !/(^|\/)[^/]*\*[^/]*$/.test(i)).map((i) => (/\/$/.test(i) ? `${i}**` : `${i}/**`))];
const ignoreRx = patterns.filter((i) => !i.startsWith('!')).map((i) => new Minimatch(i, { dot: true }));
const negateRx = patterns.filter((i) => i.startsWith('!')).map((i) => new Minimatch(i.slice(1), { dot: true }));
const admitted = (rel) => !ignoreRx.some((m) => m.match(rel)) || negateRx.some((m) => m.match(rel));
/** Hard-links (or copies, across file systems) the admitted files of a tree; `keep(rel)` admits more. */
function linkTree(src, keep = () => false, skipNodeModules = false, want = () => true) {
  const st = fs.lstatSync(src);
  const rel = path.relative(ROOT, src).split(path.sep).join('/');
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(src)) {
      if (skipNodeModules && name === 'node_modules') continue;
      linkTree(path.join(src, name), keep, skipNodeModules, want);
    }
    return;
  }
  if (!(st.isFile() || st.isSymbolicLink()) || !(admitted(rel) || keep(rel)) || !want(rel)) return;
  const dst = path.join(STAGE, rel);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  try { fs.linkSync(src, dst); } catch { fs.copyFileSync(src, dst); }
}
// Everything at the top level except tool state, outputs and the manifest (.vscodeignore filters the rest).
const SKIP = new Set(['.git', 'node_modules', '.e2e', '.tmp', 'test-artifacts', 'runs', 'demo', 'out', 'package.json', 'package-lock.json']);
for (const name of fs.readdirSync(ROOT)) {
  if (!SKIP.has(name) && !name.endsWith('.vsix')) linkTree(path.join(ROOT, name), (rel) => rel === '.vscodeignore');
}
const manifest = { ...pkg };
delete manifest.files;
if (manifest.scripts) { manifest.scripts = { ...manifest.scripts }; delete manifest.scripts['vscode:prepublish']; }
fs.writeFileSync(path.join(STAGE, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');

// Production dependency tree, as npm sees it (the same tree vsce's `npm list --production` reports).
const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--loglevel=error'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
if (ls.status !== 0) fail(`npm ls --omit=dev failed (run \`npm ci\` first):\n${ls.stderr || ls.stdout}`);
const depDirs = ls.stdout.split('\n').map((l) => l.trim()).filter((l) => l && path.isAbsolute(l) && l !== ROOT);
const otherSharp = /[\\/]node_modules[\\/]@img[\\/]sharp-(?:libvips-)?(.+)$/;
const wantSharp = [`@img/sharp-${sharpPlatform}`, `@img/sharp-libvips-${sharpPlatform}`];
const ortBin = /^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/([^/]+\/[^/]+)\//;
for (const dir of depDirs) {
  const m = otherSharp.exec(dir);
  if (m && m[1] !== sharpPlatform) continue; // another platform's sharp binaries (only with a cross --target)
  const rel = path.relative(ROOT, dir).split(path.sep).join('/');
  if (!ortPlatform && ORT_PACKAGES.includes(rel.replace(/^node_modules\//, ''))) continue; // no ORT for this target
  const pkgJson = `${rel}/package.json`;
  if (rel === 'node_modules/onnxruntime-node') {
    // Only the target's binaries (the whitelist admits every platform's: it cannot know the target).
    linkTree(dir, (r) => r === pkgJson, true, (r) => { const b = ortBin.exec(r); return !b || (b[1] === ortPlatform && ORT_FILES.includes(path.posix.basename(r))); });
    continue;
  }
  linkTree(dir, (r) => r === pkgJson, true);
}
// sharp needs @img/sharp-<platform> (and libvips beside it, except on win32/wasm where it is inside). npm installed
// this machine's; another platform's come from `npm pack` (sharp pins their exact versions), cached in .cache/.
const needSharp = wantSharp.filter((p) => !(p.includes('libvips') && target.startsWith('win32')));
const sharpPins = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8')).optionalDependencies ?? {};
for (const name of needSharp.filter((p) => !fs.existsSync(path.join(STAGE, 'node_modules', p, 'package.json')))) {
  const version = sharpPins[name];
  if (!version) fail(`sharp ${JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8')).version} has no optional dependency ${name}: it does not support ${target}`);
  const dir = fetchPackage(name, version);
  const dstRel = `node_modules/${name}`;
  const walk = (src, rel) => {
    for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
      const s = path.join(src, entry.name), r = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(s, r);
      else if (entry.isFile() && (admitted(r) || r === `${dstRel}/package.json`)) {
        fs.mkdirSync(path.dirname(path.join(STAGE, r)), { recursive: true });
        try { fs.linkSync(s, path.join(STAGE, r)); } catch { fs.copyFileSync(s, path.join(STAGE, r)); }
      }
    }
  };
  walk(dir, dstRel);
  log(`  ${name}@${version}: from ${path.relative(ROOT, dir)}`);
}

/** `npm pack name@version` unpacked into .cache/platform-packages/ (once); returns the package folder. */
function fetchPackage(name, version) {
  const home = path.join(ROOT, '.cache', 'platform-packages');
  const dir = path.join(home, `${name.replace('/', '+')}@${version}`);
  if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  fs.mkdirSync(path.dirname(home), { recursive: true });
  const tmp = fs.mkdtempSync(home + '-');
  try {
    const r = run('npm', ['pack', `${name}@${version}`, '--json', '--prefer-offline', '--loglevel=error', '--pack-destination', tmp], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    const tgz = path.join(tmp, JSON.parse(r.stdout)[0].filename);
    run('tar', ['-xzf', tgz, '-C', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    const got = JSON.parse(fs.readFileSync(path.join(tmp, 'package', 'package.json'), 'utf8'));
    if (got.name !== name || got.version !== version) fail(`npm pack ${name}@${version} gave ${got.name}@${got.version}`);
    fs.mkdirSync(home, { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true }); // a broken earlier copy (no package.json)
    try { fs.renameSync(path.join(tmp, 'package'), dir); } catch (err) { if (!fs.existsSync(path.join(dir, 'package.json'))) throw err; } // a parallel run won
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

// ---- 3. vsce package -------------------------------------------------------------------------------------------
const outDir = path.resolve(ROOT, option('--out') ?? 'dist');
fs.mkdirSync(outDir, { recursive: true });
const vsix = path.join(outDir, `${pkg.name}-${pkg.version}-${target}.vsix`);
const hasLicense = fs.readdirSync(ROOT).some((f) => /^licen[sc]e(\.(md|txt))?$/i.test(f));
log(`== vsce package --target ${target} (staged in ${path.relative(ROOT, STAGE)})`);
run(process.execPath, [vsce, 'package', '--target', target, '--allow-missing-repository', '--no-rewrite-relative-links', ...(hasLicense ? [] : ['--skip-license']), '--out', vsix], { cwd: STAGE });

// ---- 4. what is inside ------------------------------------------------------------------------------------------
/** Minimal zip reader (central directory + stored/deflated entries): no unzip binary needed. */
function readZip(file) {
  const buf = fs.readFileSync(file);
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error(`${file} is not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory');
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const mode = buf.readUInt32LE(p + 38) >>> 16;
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    entries.push({
      name, size, csize, mode,
      data: () => {
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + csize);
        return method === 0 ? raw : zlib.inflateRawSync(raw);
      },
    });
    p += 46 + nlen + xlen + clen;
  }
  return entries;
}
const entries = readZip(vsix);
const vsixSize = fs.statSync(vsix).size;
const files = entries.filter((e) => !e.name.endsWith('/'));
const unpacked = files.reduce((s, e) => s + e.size, 0);
console.log(`\n${path.relative(ROOT, vsix)}: ${mb(vsixSize)} (${files.length} files, ${mb(unpacked)} unpacked) in ${secs()}`);
const groups = new Map();
for (const e of files) {
  const parts = e.name.split('/');
  const key = parts[1] === 'node_modules' ? parts.slice(0, parts[2]?.startsWith('@') ? 4 : 3).join('/') : parts.slice(0, 2).join('/');
  const g = groups.get(key) ?? { size: 0, csize: 0, n: 0 };
  g.size += e.size; g.csize += e.csize; g.n++;
  groups.set(key, g);
}
log('\nlargest entries (unpacked / compressed):');
for (const e of [...files].sort((a, b) => b.size - a.size).slice(0, 12)) log(`  ${mb(e.size).padStart(10)}  ${mb(e.csize).padStart(10)}  ${e.name}`);
log('\nby package / folder:');
for (const [k, g] of [...groups].sort((a, b) => b[1].size - a[1].size)) log(`  ${mb(g.size).padStart(10)}  ${mb(g.csize).padStart(10)}  ${String(g.n).padStart(4)} files  ${k}`);

// Every runtime dependency is either shipped or known to be bundled by esbuild (a new dependency needs a decision).
const BUNDLED = {
  ajv: 'bundled into dist/*.js (not external in scripts/build.mjs)',
  'hyparquet-compressors': 'bundled into dist/*.js (not external in scripts/build.mjs)',
  'plotly.js-strict-dist-min': 'bundled into dist/webview.js',
};
// Optional dependencies left out of the VSIX on purpose: the CLI names them and how to install them when asked for.
const NOT_SHIPPED = {
  '@lancedb/lancedb': 'the vector index (embedlab index, knn/classify --index): 155 MB of native code per platform; the extension does not use it',
};
// What the bundles may import without the VSIX holding it: the packages above and what only they bring (apache-arrow
// comes with @lancedb/lancedb); the CLI says how to install them when they are missing (src/core/vector-index.ts).
const OPTIONAL_IMPORTS = new Set([...Object.keys(NOT_SHIPPED), 'apache-arrow']);
const unshipped = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })
  .filter((d) => !BUNDLED[d] && !NOT_SHIPPED[d] && !(ORT_PACKAGES.includes(d) && !ortPlatform) && !files.some((e) => e.name === `extension/node_modules/${d}/package.json`));
if (!ortPlatform) console.log(`note: onnxruntime-node is not shipped for ${target} (see ORT_PLATFORMS): embedding runs on TensorFlow.js there`);
else if (!files.some((e) => e.name.startsWith(`extension/node_modules/onnxruntime-node/bin/napi-v6/${ortPlatform}/`) && e.name.endsWith('.node'))) {
  fail(`the VSIX lacks onnxruntime-node's ${ortPlatform} binding: is the optional dependency installed (npm ci)?`);
}
if (unshipped.length) {
  fail(`dependencies not in the VSIX: ${unshipped.join(', ')}.\n  Add their run-time files to .vscodeignore, or, when esbuild bundles them, add them to BUNDLED in scripts/package.mjs.`);
}
const forbidden = files.filter((e) => /^extension\/(src|test|bench|docs|scripts|webview|demo|runs|\.e2e|\.tmp|\.ci|test-artifacts|out)\//.test(e.name) ||
  /\.map$/.test(e.name) || /(^|\/)\.vscodeignore$/.test(e.name) || /\.d\.[mc]?ts$/.test(e.name) || /^extension\/[^/]+\.ts$/.test(e.name));
if (forbidden.length) fail(`the VSIX holds files it must not:\n  ${forbidden.slice(0, 20).map((e) => e.name).join('\n  ')}`);
for (const need of ['extension/package.json', 'extension/dist/cli.js', 'extension/dist/worker.js', 'extension/dist/projection-worker.js', 'extension/dist/webgpu-probe.js', 'extension/schemas/embedding.schema.json', 'extension/bin/embedlab.js',
  ...(pkg.main ? [`extension/${path.posix.normalize(pkg.main).replace(/^\.\//, '')}`] : [])]) {
  if (!files.some((e) => e.name === need || e.name === need + '.js')) fail(`the VSIX lacks ${need}`);
}

// Native files, by their headers: each is built for the target, and the target's sharp, libvips and (where shipped)
// ONNX Runtime binaries are all there. A VSIX that would load another platform's binary fails here, not on a laptop.
/** The platform an ELF / Mach-O / PE file is built for ("linux-x64", "darwin-arm64", "win32-x64", …), with libc. */
function binaryPlatform(buf) {
  const archOf = { 62: 'x64', 183: 'arm64', 40: 'armhf', 0x01000007: 'x64', 0x0100000c: 'arm64', 0x8664: 'x64', 0xaa64: 'arm64', 0x14c: 'ia32' };
  if (buf.length > 20 && buf.readUInt32BE(0) === 0x7f454c46) {
    const arch = archOf[buf[5] === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18)] ?? 'unknown';
    const libc = buf.includes('libc.musl-') ? 'musl' : buf.includes('libc.so.6') ? 'glibc' : undefined;
    return { os: 'linux', arch, libc };
  }
  if (buf.length > 8 && buf.readUInt32LE(0) === 0xfeedfacf) return { os: 'darwin', arch: archOf[buf.readUInt32LE(4)] ?? 'unknown' };
  if (buf.length > 8 && buf.readUInt32BE(0) === 0xcafebabe) return { os: 'darwin', arch: 'universal' };
  if (buf.length > 0x40 && buf.toString('latin1', 0, 2) === 'MZ') {
    const pe = buf.readUInt32LE(0x3c);
    if (buf.toString('latin1', pe, pe + 4) === 'PE\0\0') return { os: 'win32', arch: archOf[buf.readUInt16LE(pe + 4)] ?? 'unknown' };
  }
  return { os: 'unknown', arch: 'unknown' };
}
const [targetOs, targetArch] = target.replace(/^alpine-/, 'linux-').split('-');
const natives = files.filter((e) => /\.(node|dll|dylib|exe)$|\.so(\.\d+)*$/.test(e.name));
const foreign = [];
for (const e of natives) {
  const b = binaryPlatform(e.data());
  const libcOk = targetOs !== 'linux' || (target.startsWith('alpine-') ? b.libc !== 'glibc' : b.libc !== 'musl');
  if (b.os !== targetOs || b.arch !== targetArch || !libcOk) foreign.push(`${e.name} (${b.os}-${b.arch}${b.libc ? ', ' + b.libc : ''})`);
}
if (foreign.length) fail(`the ${target} VSIX holds native files for another platform:\n  ${foreign.join('\n  ')}`);
const nativePackages = new Set(natives.map((e) => e.name.split('/').slice(0, e.name.split('/')[2].startsWith('@') ? 4 : 3).join('/')));
const expectedPackages = new Set([...needSharp.map((p) => `extension/node_modules/${p}`), ...(ortPlatform ? ['extension/node_modules/onnxruntime-node'] : [])]);
const unexpected = [...nativePackages].filter((p) => !expectedPackages.has(p));
const absent = [...expectedPackages].filter((p) => !nativePackages.has(p));
if (unexpected.length || absent.length) fail(`the ${target} VSIX's native files: ${unexpected.length ? 'unexpected in ' + unexpected.join(', ') : ''}${absent.length ? ' none in ' + absent.join(', ') : ''}`);
if (!natives.some((e) => e.name.startsWith(`extension/node_modules/@img/sharp-${sharpPlatform}/lib/`) && e.name.endsWith('.node'))) fail(`the ${target} VSIX lacks sharp's binding`);
if (!natives.some((e) => /\/libvips-cpp[-.]/.test(e.name))) fail(`the ${target} VSIX lacks libvips`);
if (ortPlatform && natives.filter((e) => e.name.includes('/onnxruntime-node/')).length !== 2) fail(`the ${target} VSIX does not hold exactly onnxruntime-node's binding and runtime library`);
console.log(`native files (${target}): ${natives.map((e) => e.name.replace(/^extension\/node_modules\//, '')).join(', ')}`);

// ---- 5. smoke test from the unpacked VSIX ------------------------------------------------------------------------
if (!flag('--no-smoke') && target !== hostTarget()) console.log(`\n(no smoke test: the ${target} binaries do not run on this ${hostTarget()} machine)`);
else if (!flag('--no-smoke')) {
  // Unpacked OUTSIDE the repo: node's module lookup walks up the folders, and must not reach our node_modules/.
  const SMOKE = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-vsix-'));
  process.on('exit', () => fs.rmSync(SMOKE, { recursive: true, force: true }));
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    const dst = path.join(SMOKE, e.name);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.writeFileSync(dst, e.data(), { mode: e.mode & 0o777 || 0o644 });
  }
  const ext = path.join(SMOKE, 'extension');
  // (a) every bare module that dist/*.js loads at run time must be inside the VSIX
  const builtins = new Set([...builtinModules, 'vscode']);
  const problems = [];
  for (const f of fs.readdirSync(path.join(ext, 'dist')).filter((n) => n.endsWith('.js'))) {
    const code = fs.readFileSync(path.join(ext, 'dist', f), 'utf8');
    const req = createRequire(path.join(ext, 'dist', f));
    // A require()/import() inside a string literal (ajv's code templates: 'require("ajv/dist/runtime/…")') is not a load.
    for (const m of code.matchAll(/(^|[^'"`\w$.])(require|import)\(\s*(["'])([^"'./][^"']*)\3\s*\)/g)) {
      const spec = m[4];
      if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0])) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (OPTIONAL_IMPORTS.has(name)) continue;
      const dir = path.join(ext, 'node_modules', name);
      if (!fs.existsSync(path.join(dir, 'package.json'))) { problems.push(`${f}: ${spec} (no node_modules/${name})`); continue; }
      if (m[2] === 'require') {
        try {
          const resolved = req.resolve(spec);
          if (!resolved.startsWith(ext + path.sep)) problems.push(`${f}: ${spec} resolves outside the VSIX: ${resolved}`);
        } catch (err) { problems.push(`${f}: ${spec}: ${err.code ?? err.message}`); }
      }
    }
  }
  // Packages the engine loads by computed name (require(WASM_PKG), require.resolve(TFJS_WEBGPU_PKG)).
  for (const spec of ['@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-cpu', ...(ortPlatform ? ['onnxruntime-node'] : [])]) {
    try {
      const resolved = createRequire(path.join(ext, 'dist', 'worker.js')).resolve(spec);
      if (!resolved.startsWith(ext + path.sep)) problems.push(`worker.js: ${spec} resolves outside the VSIX: ${resolved}`);
    } catch (err) { problems.push(`worker.js: ${spec}: ${err.code ?? err.message}`); }
  }
  if (problems.length) fail(`modules dist/*.js needs are missing from the VSIX:\n  ${problems.join('\n  ')}`);
  // (b) the packaged CLI runs: env, synth, a 2-step training run
  const cli = path.join(ext, 'dist', 'cli.js');
  const W = path.join(SMOKE, 'ws');
  const env = { ...process.env, NODE_PATH: '' }; // nothing from outside the VSIX
  const step = (args) => run(process.execPath, [cli, ...args], { cwd: SMOKE, env, stdio: ['ignore', 'pipe', 'pipe'] });
  log('\n== smoke test from the unpacked VSIX');
  // the packaged projection worker thread runs a PCA job (the extension host starts it for the explorer)
  const pw = spawnSync(process.execPath, ['-e', `
    const { Worker } = require('node:worker_threads');
    const n = 64, dim = 8, sab = new SharedArrayBuffer(n * dim * 4), v = new Float32Array(sab);
    for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.37) + (i % dim);
    const w = new Worker(process.argv[1], { execArgv: [] });
    const timer = setTimeout(() => { console.error('no answer within 20 s'); process.exit(1); }, 20000);
    w.on('message', (m) => { if (m.type === 'progress') return; clearTimeout(timer);
      if (m.type !== 'projection' || m.x.length !== n || m.y.length !== n) { console.error(JSON.stringify(m)); process.exit(1); }
      console.log('projection worker: PCA of ' + n + ' rows in ' + m.ms + ' ms'); process.exit(0); });
    w.on('error', (e) => { console.error(e); process.exit(1); });
    w.postMessage({ type: 'run', jobId: 1, vectors: sab, n, dim, job: { kind: 'pca' } });`, path.join(ext, 'dist', 'projection-worker.js')],
  { cwd: SMOKE, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  if (pw.status !== 0) fail(`the packaged dist/projection-worker.js does not run:\n${pw.stdout}${pw.stderr}`);
  log('  ' + pw.stdout.trim());
  const envOut = step(['env']).stdout;
  if (!/✓ wasm/.test(envOut) || !envOut.includes(path.join(ext, 'node_modules'))) fail(`\`cli.js env\` from the VSIX does not find the wasm backend inside it:\n${envOut}`);
  if (ortPlatform && !envOut.split('\n').some((l) => l.startsWith('✓ onnxruntime') && l.includes(path.join(ext, 'node_modules')))) {
    fail(`\`cli.js env\` from the VSIX does not load onnxruntime-node inside it:\n${envOut}`);
  }
  log(envOut.split('\n').filter((l) => /^\s*[✓✗]|^node v/.test(l)).map((l) => '  ' + l).join('\n'));
  step(['synth', path.join(W, 'data'), '--classes', '4', '--per-class', '4', '--size', '32', '--seed', '5']);
  const cfgFile = path.join(W, 'smoke.embedding.json');
  step(['init', '--type', 'triplet', '--train', path.join(W, 'data'), '--backbone', 'convnet', '--out', cfgFile]);
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  cfg.name = 'smoke';
  cfg.data = { ...cfg.data, imageSize: [32, 32], samplesPerEpoch: 16 };
  delete cfg.data.augment;
  cfg.loss = { ...cfg.loss, mining: 'none' };
  cfg.training = { ...cfg.training, epochs: 1, batchSize: 8, backend: 'wasm', checkpointEverySteps: 1 };
  delete cfg.training.classesPerBatch;
  delete cfg.training.imagesPerClass;
  fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  step(['train', cfgFile, '--out', path.join(W, 'runs')]);
  const runDir = fs.readdirSync(path.join(W, 'runs')).map((d) => path.join(W, 'runs', d))[0];
  const runJson = runDir && JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
  if (!runJson || runJson.status !== 'done' || runJson.step !== 2) fail(`smoke training did not finish 2 steps: ${JSON.stringify(runJson)}`);
  if (!fs.existsSync(path.join(runDir, 'checkpoints', 'last', 'state.json'))) fail('smoke training wrote no checkpoint');
  // The trained run's branch on the embedding engine: ONNX Runtime where it ships, else the tfjs fallback of auto.
  const embedOut = step(['embed', '--model', runDir, path.join(W, 'data'), '--out', path.join(W, 'smoke.parquet'), '--engine', ortPlatform ? 'onnx' : 'auto', '--json']).stdout;
  const embedded = embedOut.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((o) => o.type === 'embedded');
  if (!embedded || embedded.rows !== 16 || embedded.engine !== (ortPlatform ? 'onnxruntime' : 'tfjs-wasm')) fail(`smoke embed failed: ${embedOut}`);
  log(`  env, synth, init, train (${runJson.step} steps, ${runJson.backend}), embed (${embedded.engine}) ok from ${ext}`);
  fs.rmSync(SMOKE, { recursive: true, force: true });
}
if (!flag('--keep-stage')) fs.rmSync(STAGE, { recursive: true, force: true });
console.log(`\nVSIX ${vsix} (${mb(vsixSize)}) ok after ${secs()}`);
