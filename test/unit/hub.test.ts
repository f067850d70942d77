// The hub client through its real code, against a loopback stand-in for the hub (test/unit/hub-fixture.ts): fresh
// download, cache reuse, resume, checksums, errors, offline mode, tokens, proxies, and huggingface_hub's cache layout.
// Never the real hub: every Env names the fixture's endpoint and no proxy unless a test sets one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf, LabError } from '../../src/core/errors';
import { downloadFromHub, type HubProgress, isHubId, parseHubId, scanHubCache, timmArchitecture, timmPreprocessing } from '../../src/engine/pretrained/hub';
import { gitBlobSha1, sha256, startFakeHub, type FakeHub, type FakeHubOptions } from './hub-fixture';

const REPO = 'timm/resnet18.a1_in1k';
const COMMIT = '491b427b45c94c7fb0e78b5474cc919aff584bbf';

const CONFIG = Buffer.from(JSON.stringify({
  architecture: 'resnet18', num_classes: 1000, num_features: 512, global_pool: 'avg',
  pretrained_cfg: {
    tag: 'a1_in1k', input_size: [3, 224, 224], test_input_size: [3, 288, 288], interpolation: 'bicubic',
    crop_pct: 0.95, test_crop_pct: 1.0, crop_mode: 'center', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
    num_classes: 1000, first_conv: 'conv1', classifier: 'fc',
  },
}, null, 2));

/** Deterministic pseudo-random bytes standing in for a safetensors file (the client does not parse it). */
function weights(size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}
const WEIGHTS = weights(300_000);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'elab-hub-'));
}

async function withHub(options: Partial<FakeHubOptions>, body: (hub: FakeHub, dir: string) => Promise<void>): Promise<void> {
  const hub = await startFakeHub({
    repo: REPO, commit: COMMIT,
    files: { 'config.json': { bytes: CONFIG, lfs: false }, 'model.safetensors': { bytes: WEIGHTS, lfs: true } },
    ...options,
  });
  const dir = tempDir();
  try {
    await body(hub, dir);
  } finally {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An environment with nothing but the fixture endpoint and a private cache and HF_HOME. */
function envFor(hub: { url: string }, dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(dir, 'hub'), HF_HOME: join(dir, 'home'), ...extra };
}

const repoRoot = (dir: string): string => join(dir, 'hub', 'models--timm--resnet18.a1_in1k');
const cdnGets = (hub: FakeHub): number => hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/')).length;

test('parseHubId: owner/repo with an optional revision; malformed ids are bad usage', () => {
  assert.deepEqual(parseHubId('hf:timm/resnet18.a1_in1k'), { repoId: 'timm/resnet18.a1_in1k', revision: 'main', label: 'hf:timm/resnet18.a1_in1k' });
  assert.deepEqual(parseHubId('hf:a/b@refs/pr/1').revision, 'refs/pr/1');
  assert.ok(isHubId('hf:a/b') && !isHubId('weights/model.safetensors'));
  for (const bad of ['timm/resnet18', 'hf:resnet18', 'hf:a/b/c', 'hf:a/b@', 'hf:a--x/b', 'hf:a/b..c', 'hf:a/ b', 'hf:a/b@../x', 'hf:/b']) {
    assert.throws(() => parseHubId(bad), (err: unknown) => err instanceof LabError && err.code === 'bad-usage' && exitCodeOf(err) === 2, bad);
  }
});

test('fresh download: files in place, SHA-checked, config parsed, progress up to the total, no token to the CDN', async () => {
  await withHub({}, async (hub, dir) => {
    const progress: HubProgress[] = [];
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir), onProgress: (p) => progress.push({ ...p }) });
    assert.equal(got.commit, COMMIT);
    assert.equal(got.revision, 'main');
    assert.deepEqual(Object.keys(got.files).sort(), ['config.json', 'model.safetensors']);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
    assert.deepEqual(readFileSync(got.files['config.json']), CONFIG);
    assert.equal((got.config as { architecture: string }).architecture, 'resnet18');
    assert.equal(got.downloadedBytes, WEIGHTS.length + CONFIG.length);
    const total = WEIGHTS.length + CONFIG.length;
    assert.ok(progress.length >= 2);
    assert.ok(progress.every((p) => p.total === total));
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].bytes >= progress[i - 1].bytes, 'progress never goes back');
    assert.equal(progress[progress.length - 1].bytes, total);
    // huggingface_hub's request pattern: HEAD each resolve URL (identity encoding), then GET; the LFS file from the CDN.
    const heads = hub.requests.filter((r) => r.method === 'HEAD');
    assert.deepEqual(heads.map((r) => r.path), [`/${REPO}/resolve/main/config.json`, `/${REPO}/resolve/main/model.safetensors`]);
    assert.ok(heads.every((r) => r.headers['accept-encoding'] === 'identity'));
    assert.equal(cdnGets(hub), 1);
  });
});

test('cache layout is huggingface_hub\'s: blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>, refs/main = commit', async () => {
  await withHub({}, async (hub, dir) => {
    await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    const root = repoRoot(dir);
    assert.deepEqual(readdirSync(root).sort(), ['blobs', 'refs', 'snapshots']);
    assert.equal(readFileSync(join(root, 'refs', 'main'), 'utf8'), COMMIT, 'the commit hash, no newline');
    assert.deepEqual(readdirSync(join(root, 'blobs')).sort(), [gitBlobSha1(CONFIG), sha256(WEIGHTS)].sort(), 'no .incomplete left');
    assert.deepEqual(readdirSync(join(root, 'snapshots')), [COMMIT]);
    const snap = join(root, 'snapshots', COMMIT);
    assert.deepEqual(readdirSync(snap).sort(), ['config.json', 'model.safetensors']);
    assert.ok(lstatSync(join(snap, 'model.safetensors')).isSymbolicLink());
    assert.equal(readlinkSync(join(snap, 'model.safetensors')), `../../blobs/${sha256(WEIGHTS)}`);
    assert.equal(readlinkSync(join(snap, 'config.json')), `../../blobs/${gitBlobSha1(CONFIG)}`);
    assert.deepEqual(scanHubCache(join(dir, 'hub')), [{
      repoId: REPO, path: root, bytes: WEIGHTS.length + CONFIG.length, incompleteBytes: 0, refs: { main: COMMIT }, snapshots: [COMMIT],
    }]);
  });
});

test('a cached model is reused: only HEADs the second time, no GET; a commit-hash revision needs no request at all', async () => {
  await withHub({}, async (hub, dir) => {
    const env = envFor(hub, dir);
    const first = await downloadFromHub(`hf:${REPO}`, { env });
    const before = hub.requests.length;
    const second = await downloadFromHub(`hf:${REPO}`, { env });
    const later = hub.requests.slice(before);
    assert.deepEqual(second.files, first.files);
    assert.equal(second.downloadedBytes, 0);
    assert.deepEqual(later.map((r) => r.method), ['HEAD', 'HEAD']);
    const n = hub.requests.length;
    const pinned = await downloadFromHub(`hf:${REPO}@${COMMIT}`, { env });
    assert.equal(hub.requests.length, n);
    assert.equal(pinned.commit, COMMIT);
  });
});

test('a cache laid out by the Python huggingface_hub is reused (no GET), and refs/<revision> picks the snapshot', async () => {
  await withHub({}, async (hub, dir) => {
    const root = repoRoot(dir);
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'refs'), { recursive: true });
    mkdirSync(join(root, 'snapshots', COMMIT), { recursive: true });
    writeFileSync(join(root, 'blobs', sha256(WEIGHTS)), WEIGHTS);
    writeFileSync(join(root, 'blobs', gitBlobSha1(CONFIG)), CONFIG);
    symlinkSync(`../../blobs/${sha256(WEIGHTS)}`, join(root, 'snapshots', COMMIT, 'model.safetensors'));
    symlinkSync(`../../blobs/${gitBlobSha1(CONFIG)}`, join(root, 'snapshots', COMMIT, 'config.json'));
    writeFileSync(join(root, 'refs', 'main'), COMMIT);
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    assert.equal(got.files['model.safetensors'], join(root, 'snapshots', COMMIT, 'model.safetensors'));
    assert.equal(hub.requests.filter((r) => r.method === 'GET').length, 0);
    // A blob without a snapshot entry (another commit had it) gets linked, not downloaded.
    rmSync(join(root, 'snapshots'), { recursive: true });
    await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    assert.equal(hub.requests.filter((r) => r.method === 'GET').length, 0);
    assert.equal(readlinkSync(join(root, 'snapshots', COMMIT, 'model.safetensors')), `../../blobs/${sha256(WEIGHTS)}`);
  });
});

test('a connection dropped mid-body is resumed with a Range request, and the result has the right SHA-256', async () => {
  await withHub({ dropAfter: 100_000 }, async (hub, dir) => {
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir), retryDelayMs: 5 });
    const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
    assert.equal(gets.length, 2);
    assert.equal(gets[0].headers.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(String(gets[1].headers.range))?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${gets[1].headers.range}`);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
    assert.equal(got.downloadedBytes, WEIGHTS.length + CONFIG.length);
  });
});

test('a server that ignores Range (200 to a resume) makes the download start over, not append twice', async () => {
  await withHub({ dropAfter: 100_000, ignoreRange: true }, async (hub, dir) => {
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir), retryDelayMs: 5 });
    const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
    assert.equal(gets.length, 2);
    assert.match(String(gets[1].headers.range), /^bytes=\d+-$/);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
  });
});

test('a hub outage (HTTP 503) is a network error; with a cached copy, the cache answers with a warning', async () => {
  await withHub({}, async (hub, dir) => {
    await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    hub.options.failWith = 503;
    const warnings: string[] = [];
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir), onWarning: (w) => warnings.push(w) });
    assert.equal(got.commit, COMMIT);
    assert.match(warnings.join('\n'), /HTTP 503.*using the cached copy/);
    rmSync(join(dir, 'hub'), { recursive: true });
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) }), (err: unknown) =>
      err instanceof LabError && err.code === 'network' && /HTTP 503/.test(err.message));
  });
});

test('an .incomplete file left by an earlier process is resumed from its length', async () => {
  await withHub({}, async (hub, dir) => {
    const blobs = join(repoRoot(dir), 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha256(WEIGHTS)}.incomplete`), WEIGHTS.subarray(0, 50_000));
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
    assert.deepEqual(gets.map((r) => r.headers.range), ['bytes=50000-']);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
    assert.equal(got.downloadedBytes, WEIGHTS.length - 50_000 + CONFIG.length);
  });
});

test('retries are bounded: a connection that always drops fails with a network error and keeps the .incomplete', async () => {
  await withHub({ dropAfter: 0, drops: 100 }, async (hub, dir) => {
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir), maxRetries: 2, retryDelayMs: 1 }), (err: unknown) => {
      assert.ok(err instanceof LabError);
      assert.equal(err.code, 'network');
      assert.match(err.message, /failed 3 times in a row/);
      assert.match(err.message, /run again to resume/);
      return true;
    });
    assert.equal(cdnGets(hub), 3);
    assert.ok(!existsSync(join(repoRoot(dir), 'snapshots', COMMIT, 'model.safetensors')));
  });
});

test('cancelling with an AbortSignal keeps the .incomplete, and the next call resumes it', async () => {
  await withHub({ slowMs: 5 }, async (hub, dir) => {
    const env = envFor(hub, dir);
    const controller = new AbortController();
    const partial = join(repoRoot(dir), 'blobs', `${sha256(WEIGHTS)}.incomplete`);
    await assert.rejects(downloadFromHub(`hf:${REPO}`, {
      env, signal: controller.signal,
      onProgress: (p) => { if (p.file === 'model.safetensors' && p.fileBytes > 0) controller.abort(); },
    }), (err: unknown) => err instanceof LabError && err.code === 'stopped' && /resumes/.test(err.message));
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept < WEIGHTS.length, `kept ${kept}`);
    assert.ok(!existsSync(join(repoRoot(dir), 'blobs', sha256(WEIGHTS))));
    const got = await downloadFromHub(`hf:${REPO}`, { env });
    const last = hub.requests.filter((r) => r.path.startsWith('/cdn/')).at(-1);
    assert.equal(last?.headers.range, `bytes=${kept}-`);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
  });
});

test('a SHA-256 mismatch deletes the download and says so; nothing of it stays in the cache', async () => {
  await withHub({ corrupt: true }, async (hub, dir) => {
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) }), (err: unknown) => {
      assert.ok(err instanceof LabError);
      assert.equal(err.code, 'bad-data');
      assert.match(err.message, /SHA-256 mismatch for model\.safetensors/);
      assert.match(err.message, new RegExp(sha256(WEIGHTS)));
      assert.match(err.message, /deleted/);
      return true;
    });
    const blobs = readdirSync(join(repoRoot(dir), 'blobs'));
    assert.deepEqual(blobs, [gitBlobSha1(CONFIG)], 'no blob, no .incomplete of the weights');
    assert.ok(!existsSync(join(repoRoot(dir), 'snapshots', COMMIT, 'model.safetensors')));
  });
});

test('404: no such repo, no such file, no such revision — bad usage, exit code 2', async () => {
  await withHub({}, async (hub, dir) => {
    const env = envFor(hub, dir, { HF_TOKEN: 'hf_x' });
    await assert.rejects(downloadFromHub('hf:nobody/nothing', { env }), (err: unknown) =>
      err instanceof LabError && exitCodeOf(err) === 2 && /no such model repo or file on the hub: hf:nobody\/nothing/.test(err.message));
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env, files: ['nope.bin'] }), /no such file on the hub: nope\.bin in hf:timm\/resnet18\.a1_in1k/);
    await assert.rejects(downloadFromHub(`hf:${REPO}@v9`, { env }), /no such revision on the hub: v9/);
    // An optional file may be missing.
    const got = await downloadFromHub(`hf:${REPO}`, { env, files: ['config.json', 'README.md'], optionalFiles: ['README.md'] });
    assert.deepEqual(Object.keys(got.files), ['config.json']);
  });
});

test('401 without a token says to set HF_TOKEN; HF_TOKEN or the token file is sent as Bearer, but not to the CDN', async () => {
  await withHub({ token: 'hf_secret' }, async (hub, dir) => {
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) }), (err: unknown) =>
      err instanceof LabError && err.code === 'bad-usage' && /HTTP 401/.test(err.message) && /set HF_TOKEN/.test(err.message) && /private or gated/.test(err.message));
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir, { HF_TOKEN: 'hf_wrong' }) }), /the token has no access to it/);
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir, { HF_TOKEN: 'hf_secret' }) });
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
    const cdn = hub.requests.filter((r) => r.path.startsWith('/cdn/'));
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].headers.authorization, undefined, 'the token stays with the hub');
    // The token file (HF_TOKEN_PATH, else $HF_HOME/token), as `hf auth login` writes it.
    rmSync(join(dir, 'hub'), { recursive: true });
    mkdirSync(join(dir, 'home'), { recursive: true });
    writeFileSync(join(dir, 'home', 'token'), 'hf_secret\n');
    await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    assert.equal(hub.requests.at(-1)?.headers.authorization, undefined);
    assert.equal(hub.requests.filter((r) => r.method === 'HEAD').at(-1)?.headers.authorization, 'Bearer hf_secret');
  });
});

test('HF_HUB_OFFLINE=1 uses the cache without any request, and without a cache names the cache folder', async () => {
  await withHub({}, async (hub, dir) => {
    const offline = envFor(hub, dir, { HF_HUB_OFFLINE: '1' });
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: offline }), (err: unknown) =>
      err instanceof LabError && err.code === 'network' && err.message.includes(join(dir, 'hub')) && /HF_HUB_OFFLINE/.test(err.message));
    assert.equal(hub.requests.length, 0);
    const online = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    const n = hub.requests.length;
    const got = await downloadFromHub(`hf:${REPO}`, { env: offline });
    assert.equal(hub.requests.length, n, 'no request at all');
    assert.deepEqual(got.files, online.files);
    assert.equal(got.commit, COMMIT);
    assert.equal((got.config as { architecture: string }).architecture, 'resnet18');
    await assert.rejects(downloadFromHub(`hf:${REPO}@dev`, { env: offline }), /no refs\/dev/);
  });
});

test('no network (connection refused): says how to go offline and where the cache is; with a cache, uses it', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await withHub({}, async (hub, dir) => {
    const dead = { url: `http://127.0.0.1:${port}` };
    await assert.rejects(downloadFromHub(`hf:${REPO}`, { env: envFor(dead, dir) }), (err: unknown) => {
      assert.ok(err instanceof LabError);
      assert.equal(err.code, 'network');
      assert.equal(exitCodeOf(err), 1);
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.message, /HF_HUB_OFFLINE=1/);
      assert.ok(err.message.includes(join(dir, 'hub')), err.message);
      return true;
    });
    await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir) });
    const warnings: string[] = [];
    const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(dead, dir), onWarning: (w) => warnings.push(w) });
    assert.equal(got.commit, COMMIT);
    assert.match(warnings.join('\n'), /using the cached copy/);
  });
});

test('a renamed repo (relative redirect on HEAD) is followed', async () => {
  await withHub({ renamedFrom: 'old/name' }, async (hub, dir) => {
    const got = await downloadFromHub('hf:old/name', { env: envFor(hub, dir) });
    assert.equal(got.commit, COMMIT);
    assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
    assert.ok(existsSync(join(dir, 'hub', 'models--old--name', 'refs', 'main')), 'cached under the name asked for, as huggingface_hub does');
  });
});

/** A loopback proxy: forwards absolute-URI requests (http) and opens CONNECT tunnels (https). */
async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const tunnels = new Set<net.Socket>();
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    const [host, port] = String(req.url).split(':');
    const upstream = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const socket of tunnels) socket.destroy();
    }),
  };
}

test('HTTP_PROXY forwards http requests through the proxy; NO_PROXY bypasses it', async () => {
  const proxy = await startProxy();
  try {
    await withHub({}, async (hub, dir) => {
      const got = await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir, { HTTP_PROXY: proxy.url }) });
      assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
      assert.ok(proxy.seen.includes(`HEAD ${hub.url}/${REPO}/resolve/main/model.safetensors`), proxy.seen.join('\n'));
      assert.ok(proxy.seen.some((s) => s.startsWith(`GET ${hub.cdnUrl}/cdn/`)), proxy.seen.join('\n'));
      const n = proxy.seen.length;
      rmSync(join(dir, 'hub'), { recursive: true });
      await downloadFromHub(`hf:${REPO}`, { env: envFor(hub, dir, { http_proxy: proxy.url, no_proxy: 'example.org,127.0.0.1' }) });
      assert.equal(proxy.seen.length, n, 'NO_PROXY: straight to the hub');
    });
  } finally {
    await proxy.close();
  }
});

function selfSignedCert(dir: string): { key: string; cert: string } | undefined {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } catch {
    return undefined;
  }
}

test('HTTPS_PROXY tunnels https through CONNECT, with TLS to the hub end to end', async (t) => {
  const certDir = tempDir();
  const tls = selfSignedCert(certDir);
  if (tls === undefined) { rmSync(certDir, { recursive: true, force: true }); t.skip('openssl is not installed'); return; }
  const proxy = await startProxy();
  try {
    await withHub({ tls }, async (hub, dir) => {
      const env = envFor(hub, dir, { HTTPS_PROXY: proxy.url });
      await assert.rejects(downloadFromHub(`hf:${REPO}`, { env }), /certificate/i, 'an untrusted certificate is refused');
      const got = await downloadFromHub(`hf:${REPO}`, { env, ca: tls.cert });
      assert.equal(sha256(readFileSync(got.files['model.safetensors'])), sha256(WEIGHTS));
      const hubAuthority = new URL(hub.url).host;
      const cdnAuthority = new URL(hub.cdnUrl).host;
      assert.ok(proxy.seen.includes(`CONNECT ${hubAuthority}`), proxy.seen.join('\n'));
      assert.ok(proxy.seen.includes(`CONNECT ${cdnAuthority}`), proxy.seen.join('\n'));
      assert.ok(proxy.seen.every((s) => s.startsWith('CONNECT ')), 'the proxy sees no plaintext request');
    });
  } finally {
    await proxy.close();
    rmSync(certDir, { recursive: true, force: true });
  }
});

test('timmPreprocessing and timmArchitecture read pretrained_cfg (and the older flat layout)', () => {
  const config = JSON.parse(CONFIG.toString('utf8')) as unknown;
  assert.deepEqual(timmPreprocessing(config), {
    inputSize: [3, 224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bicubic',
    cropPct: 0.95, cropMode: 'center', testInputSize: [3, 288, 288], testCropPct: 1,
  });
  assert.equal(timmArchitecture(config), 'resnet18');
  const flat = { architecture: 'resnet50', input_size: [3, 160, 128], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear' };
  assert.deepEqual(timmPreprocessing(flat), { inputSize: [3, 160, 128], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear', cropPct: 0.875, cropMode: 'center' });
  assert.equal(timmPreprocessing({ architecture: 'x', pretrained_cfg: {} }).interpolation, 'bicubic', "timm's defaults");
  assert.throws(() => timmPreprocessing({ pretrained_cfg: { input_size: [3, 224] } }), /pretrained_cfg\.input_size: must be \[channels, height, width\]/);
  assert.throws(() => timmPreprocessing({ pretrained_cfg: { std: [0.2, 0, 0.2] } }), /pretrained_cfg\.std: must be 3 positive numbers/);
  assert.throws(() => timmPreprocessing({ pretrained_cfg: { interpolation: 'cubic' } }), /interpolation: must be one of/);
  assert.throws(() => timmPreprocessing({ pretrained_cfg: { crop_pct: 1.5 } }), /crop_pct: must be a number in \(0, 1\]/);
  assert.throws(() => timmArchitecture({ num_classes: 3 }), (err: unknown) => err instanceof LabError && err.code === 'bad-data' && /no "architecture" field/.test(err.message));
});
