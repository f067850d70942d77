// A loopback stand-in for the Hugging Face hub, for test/unit/hub.test.ts: it answers
// /<owner>/<repo>/resolve/<revision>/<file> as the hub does (X-Repo-Commit; an LFS file gets a 302 to the "CDN" with
// X-Linked-Etag = its sha256 and X-Linked-Size; a small file is served directly with ETag = its git blob sha1) and
// serves the CDN path with byte ranges. Every request is recorded; knobs make it drop a connection, corrupt a body,
// demand a token or go slow.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface HubFile {
  bytes: Buffer;
  lfs: boolean;
}

export interface FakeHubOptions {
  repo: string;
  commit: string;
  files: Record<string, HubFile>;
  /** Revisions that resolve (default only `main` and the commit itself). */
  revisions?: string[];
  /** The first CDN GET sends this many bytes, then destroys the socket. */
  dropAfter?: number;
  /** How many CDN GETs are dropped that way (default 1). */
  drops?: number;
  /** The CDN serves the LFS bytes with one byte flipped (same length). */
  corrupt?: boolean;
  /** Without `Authorization: Bearer <token>` the hub answers 401 RepoNotFound, as it does for private repos. */
  token?: string;
  /** Pause between 16 KiB chunks of a CDN body, ms. */
  slowMs?: number;
  /** A repo name that answers with a relative 307 to `repo` (a renamed repo). */
  renamedFrom?: string;
  /** The CDN ignores Range headers and always sends the whole file with 200, as some servers do. */
  ignoreRange?: boolean;
  /** The hub answers every resolve request with this status (a 5xx outage). */
  failWith?: number;
  /** Serve https with this key and certificate (both hub and CDN). */
  tls?: { key: string; cert: string };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function gitBlobSha1(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export interface FakeHub {
  url: string;
  /** The CDN's origin: another port, so another origin than the hub's. */
  cdnUrl: string;
  requests: RecordedRequest[];
  options: FakeHubOptions;
  close(): Promise<void>;
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  let drops = options.drops ?? 1;
  let base = '';
  let cdnBase = '';
  const revisions = new Set([...(options.revisions ?? ['main']), options.commit]);

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', base);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) { serveCdn(req, res, cdn[1]); return; }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) { res.writeHead(404).end(); return; }
    const [, repo, revRaw, fileRaw] = m;
    if (options.failWith !== undefined) { res.writeHead(options.failWith).end(); return; }
    const revision = decodeURIComponent(revRaw);
    const file = decodeURIComponent(fileRaw);
    if (options.renamedFrom !== undefined && repo === options.renamedFrom) {
      res.writeHead(307, { Location: `/${options.repo}/resolve/${revRaw}/${fileRaw}` }).end();
      return;
    }
    if (repo !== options.repo || (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`)) {
      const status = req.headers.authorization === undefined ? 401 : 404;
      res.writeHead(status, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }).end();
      return;
    }
    if (!revisions.has(revision)) {
      res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound', 'X-Error-Message': `Invalid rev id: ${revision}` }).end();
      return;
    }
    const entry = options.files[file];
    if (entry === undefined) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'Entry not found', 'X-Repo-Commit': options.commit }).end();
      return;
    }
    if (entry.lfs) {
      const sha = sha256(entry.bytes);
      const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${entry.bytes.length}\n`);
      res.writeHead(302, {
        Location: `${cdnBase}/cdn/${sha}?X-Amz-Signature=abc`,
        'X-Repo-Commit': options.commit,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(entry.bytes.length),
        ETag: `"${gitBlobSha1(pointer)}"`,
        'Content-Length': '0',
      }).end();
      return;
    }
    res.writeHead(200, {
      'X-Repo-Commit': options.commit,
      ETag: `"${gitBlobSha1(entry.bytes)}"`,
      'Content-Length': String(entry.bytes.length),
      'Content-Type': 'application/json',
    });
    res.end(req.method === 'HEAD' ? undefined : entry.bytes);
  };
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);
  const cdnServer = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);

  function serveCdn(req: http.IncomingMessage, res: http.ServerResponse, sha: string): void {
    const entry = Object.values(options.files).find((f) => f.lfs && sha256(f.bytes) === sha);
    if (entry === undefined) { res.writeHead(404).end(); return; }
    let bytes = entry.bytes;
    if (options.corrupt) { bytes = Buffer.from(bytes); bytes[bytes.length >> 1] ^= 0xff; }
    let start = 0;
    const range = options.ignoreRange ? null : /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) {
      start = Number(range[1]);
      if (start >= bytes.length) { res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end(); return; }
      res.writeHead(206, { 'Content-Length': String(bytes.length - start), 'Content-Range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`, 'Accept-Ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'Content-Length': String(bytes.length), 'Accept-Ranges': 'bytes', ETag: `"${sha}"` });
    }
    if (req.method === 'HEAD') { res.end(); return; }
    const body = bytes.subarray(start);
    if (options.dropAfter !== undefined && drops > 0) {
      drops--;
      res.write(body.subarray(0, options.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (options.slowMs === undefined) { res.end(body); return; }
    let offset = 0;
    const step = (): void => {
      if (res.destroyed) return;
      if (offset >= body.length) { res.end(); return; }
      res.write(body.subarray(offset, offset + 16384));
      offset += 16384;
      setTimeout(step, options.slowMs);
    };
    step();
  }

  const scheme = options.tls ? 'https' : 'http';
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => cdnServer.listen(0, '127.0.0.1', resolve));
  base = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cdnBase = `${scheme}://127.0.0.1:${(cdnServer.address() as AddressInfo).port}`;
  const sockets = new Set<Socket>();
  for (const s of [server, cdnServer]) s.on('connection', (socket: Socket) => { sockets.add(socket); socket.once('close', () => sockets.delete(socket)); });
  const closeOne = (s: http.Server): Promise<void> => new Promise((resolve) => { s.close(() => resolve()); for (const socket of sockets) socket.destroy(); });
  return {
    url: base,
    cdnUrl: cdnBase,
    requests,
    options,
    close: async () => { await closeOne(server); await closeOne(cdnServer); },
  };
}
