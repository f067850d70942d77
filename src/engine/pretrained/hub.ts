// The Hugging Face hub client: `hf:<owner>/<repo>[@revision]` → files in the standard hub cache (docs/pretrained-hub.md).
//
// It follows `huggingface_hub.hf_hub_download`: a HEAD of <endpoint>/<repo>/resolve/<revision>/<file> (relative
// redirects followed, an absolute one — the CDN — taken as the download location) gives X-Repo-Commit, the etag
// (X-Linked-Etag, else ETag) and the size (X-Linked-Size, else Content-Length); then a GET of that location, following
// redirects (Authorization is dropped once the host changes), appends to blobs/<etag>.incomplete and resumes with
// `Range: bytes=N-` after a dropped connection (and in a later process). The finished file is checked against the size
// and the etag (sha256 for LFS files, the git blob sha1 for others) before it is renamed to blobs/<etag>; a mismatch
// deletes it. A connection failure falls back to the cache (refs/<revision> → snapshot) as huggingface_hub does.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { BadDataError, LabError } from '../../core/errors';
import { COMMIT_HASH, type Env, hubCacheDir, isOffline, RepoCache, resolveToken, tokenPath } from './hub-cache';
import { sendRequest } from './hub-http';

export { type CachedRepo, hubCacheDir, RepoCache, scanHubCache } from './hub-cache';
export { type TimmPreprocessing, timmArchitecture, timmPreprocessing } from './hub-timm';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_HUB_FILES: readonly string[] = ['config.json', 'model.safetensors'];

/** A failure of the hub client; `status` is the HTTP status when the hub answered with one. */
export class HubError extends LabError {
  readonly status?: number;
  /** The hub's X-Error-Code (RepoNotFound, EntryNotFound, RevisionNotFound, GatedRepo), when it sent one. */
  readonly hubCode?: string;
  constructor(code: 'network' | 'bad-usage' | 'bad-data' | 'stopped', message: string, options?: { status?: number; hubCode?: string; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.status !== undefined) this.status = options.status;
    if (options?.hubCode !== undefined) this.hubCode = options.hubCode;
  }
}

export interface HubId {
  /** `owner/repo` */
  repoId: string;
  revision: string;
  /** `hf:owner/repo@revision`, for messages. */
  label: string;
}

/** Whether a model source string names the hub (`hf:…`); parse it with parseHubId. */
export function isHubId(source: string): boolean {
  return source.startsWith('hf:');
}

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/** Parses `hf:<owner>/<repo>[@revision]` (revision default `main`); a malformed id is a bad-usage error. */
export function parseHubId(id: string): HubId {
  const usage = 'expected hf:<owner>/<repo>[@revision], e.g. hf:timm/resnet18.a1_in1k';
  if (typeof id !== 'string' || !id.startsWith('hf:')) throw new HubError('bad-usage', `not a hub id: ${JSON.stringify(id)} (${usage})`);
  const rest = id.slice(3);
  const at = rest.indexOf('@');
  const repoId = at < 0 ? rest : rest.slice(0, at);
  const revision = at < 0 ? 'main' : rest.slice(at + 1);
  const parts = repoId.split('/');
  const bad = (why: string): never => { throw new HubError('bad-usage', `malformed hub id ${JSON.stringify(id)}: ${why} (${usage})`); };
  if (parts.length !== 2) bad(parts.length < 2 ? 'no owner/ part' : 'more than one "/" in the repo id');
  for (const part of parts) {
    if (!REPO_PART.test(part)) bad(`${JSON.stringify(part)} may hold only letters, digits, "-", "_" and "." (at most 96)`);
    if (part.includes('--') || part.includes('..') || part.endsWith('.git') || part.endsWith('.')) bad(`${JSON.stringify(part)} may not hold "--" or "..", nor end with "." or ".git"`);
  }
  if (revision === '' || /[\s\\]/.test(revision) || revision.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    bad(`bad revision ${JSON.stringify(revision)}`);
  }
  return { repoId, revision, label: `hf:${repoId}${at < 0 ? '' : `@${revision}`}` };
}

export interface HubProgress {
  /** The file being downloaded now. */
  file: string;
  fileBytes: number;
  fileTotal?: number;
  /** All files of this call that need downloading, together (bytes resumed from an .incomplete count as done). */
  bytes: number;
  total?: number;
}

export interface HubDownloadOptions {
  /** The files to fetch (default config.json and model.safetensors). */
  files?: readonly string[];
  /** Files among `files` that may be absent from the repo (a 404 for them is no error; they are left out). */
  optionalFiles?: readonly string[];
  /** The environment to read HF_* and proxy variables from (default process.env). */
  env?: Env;
  /** Overrides HF_ENDPOINT. */
  endpoint?: string;
  /** Overrides the cache folder. */
  cacheDir?: string;
  /** A token instead of HF_TOKEN / the token file; `false` sends none. */
  token?: string | false;
  /** Overrides HF_HUB_OFFLINE. */
  offline?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: HubProgress) => void;
  /** Non-fatal notes, such as "no network, using the cached copy". */
  onWarning?: (message: string) => void;
  /** Consecutive failed attempts of one file's download before giving up (default 5; progress resets the count). */
  maxRetries?: number;
  /** First pause before a retry, doubled each time up to 8 s (default 1000 ms). */
  retryDelayMs?: number;
  /** Idle-socket timeout (default HF_HUB_DOWNLOAD_TIMEOUT / HF_HUB_ETAG_TIMEOUT seconds, else 10 s). */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) to trust. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface HubDownload {
  repoId: string;
  revision: string;
  /** The commit the files belong to. */
  commit: string;
  /** File name → its path in the cache (snapshots/<commit>/<file>). */
  files: Record<string, string>;
  /** config.json, parsed, when it was among the files. */
  config?: Record<string, unknown>;
  cacheDir: string;
  /** Bytes this call received (0 when everything came from the cache). */
  downloadedBytes: number;
}

interface FileMeta {
  file: string;
  commit: string;
  etag: string;
  size?: number;
  location: URL;
}

interface Context {
  id: HubId;
  endpoint: string;
  cache: RepoCache;
  env: Env;
  headers: Record<string, string>;
  hasToken: boolean;
  options: HubDownloadOptions;
  timeoutMs: number;
}

const SAFE_NAME = /^[A-Za-z0-9._-]+$/;
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const inFlight = new Map<string, Promise<number>>();

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err as { name?: unknown } | null)?.name === 'AbortError';
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

function checkFileName(file: string): void {
  if (file === '' || file.startsWith('/') || file.includes('\\') || file.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new HubError('bad-usage', `not a file name inside a repo: ${JSON.stringify(file)}`);
  }
}

function resolveUrl(ctx: Context, file: string): URL {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return new URL(`${ctx.endpoint}/${ctx.id.repoId}/resolve/${encodeURIComponent(ctx.id.revision)}/${path}`);
}

function tokenHint(ctx: Context): string {
  return `set HF_TOKEN to a token of an account with access (or log in with \`hf auth login\`, which writes ${tokenPath(ctx.env)})`;
}

/** The error for a non-2xx answer, after huggingface_hub's `hf_raise_for_status` (X-Error-Code, X-Error-Message). */
function statusError(res: IncomingMessage, ctx: Context, file: string): HubError {
  const status = res.statusCode ?? 0;
  const code = header(res, 'x-error-code');
  const detail = header(res, 'x-error-message');
  const what = `${ctx.id.label} (${file})`;
  const suffix = detail ? ` — the hub says: ${detail}` : '';
  const hubCode = code;
  if (code === 'EntryNotFound') {
    return new HubError('bad-usage', `no such file on the hub: ${file} in ${ctx.id.label} (HTTP ${status})${suffix}`, { status, hubCode });
  }
  if (code === 'RevisionNotFound') {
    return new HubError('bad-usage', `no such revision on the hub: ${ctx.id.revision} of ${ctx.id.repoId} (HTTP ${status})${suffix}`, { status, hubCode });
  }
  if (code === 'GatedRepo') {
    return new HubError('bad-usage', `${ctx.id.repoId} is gated on the hub: accept its conditions at ${ctx.endpoint}/${ctx.id.repoId}, then ${tokenHint(ctx)} (HTTP ${status})${suffix}`, { status, hubCode });
  }
  if (code === 'RepoNotFound' || status === 401 || status === 403) {
    if (!ctx.hasToken) {
      return new HubError('bad-usage', `cannot download ${what}: the hub refused access without a token (HTTP ${status}): the repo does not exist, or it is private or gated — if it is private or gated, ${tokenHint(ctx)}${suffix}`, { status, hubCode });
    }
    if (status === 401) {
      return new HubError('bad-usage', `cannot download ${what}: the hub refused the token (HTTP 401; invalid or expired?): ${tokenHint(ctx)}${suffix}`, { status, hubCode });
    }
    return new HubError('bad-usage', `no such model repo or file on the hub: ${what} (HTTP ${status}), or the token has no access to it${suffix}`, { status, hubCode });
  }
  if (status === 404) {
    return new HubError('bad-usage', `no such model repo or file on the hub: ${what} (HTTP 404 from ${ctx.endpoint})${suffix}`, { status, hubCode });
  }
  if (status === 416) return new HubError('network', `the server refused the byte range for ${what} (HTTP 416)`, { status });
  return new HubError('network', `the hub answered HTTP ${status} for ${what}${suffix}`, { status });
}

/** A redirect target, which must be http(s). */
function httpUrl(location: string, base: URL): URL {
  const url = new URL(location, base);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new HubError('network', `the hub redirected to a non-HTTP location: ${location}`);
  return url;
}

function isRelativeLocation(location: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');
}

/** HEAD with huggingface_hub's redirect rule: relative redirects (a renamed repo) are followed, absolute ones (the CDN) are the download location. */
async function fetchMeta(ctx: Context, file: string): Promise<FileMeta> {
  let url = resolveUrl(ctx, file);
  for (let hop = 0; hop < 10; hop++) {
    const res = await sendRequest(url, {
      method: 'HEAD', headers: { ...ctx.headers, 'Accept-Encoding': 'identity' }, env: ctx.env,
      signal: ctx.options.signal, timeoutMs: ctx.timeoutMs, ca: ctx.options.ca,
    });
    res.resume();
    const status = res.statusCode ?? 0;
    let location = url;
    if (status >= 300 && status < 400) {
      const raw = header(res, 'location');
      if (raw === undefined) throw new HubError('network', `the hub redirected ${url.href} (HTTP ${status}) without a Location`, { status });
      if (isRelativeLocation(raw)) { url = new URL(raw, url); continue; }
      location = httpUrl(raw, url);
    } else if (status < 200 || status >= 300) {
      throw statusError(res, ctx, file);
    }
    const commit = header(res, 'x-repo-commit');
    const rawEtag = header(res, 'x-linked-etag') ?? header(res, 'etag');
    if (commit === undefined || rawEtag === undefined) {
      throw new HubError('network', `${ctx.endpoint} did not answer like the Hugging Face hub for ${file} (no ${commit === undefined ? 'X-Repo-Commit' : 'ETag'} header): check HF_ENDPOINT and the proxy settings`);
    }
    const etag = normalizeEtag(rawEtag);
    if (!SAFE_NAME.test(commit) || !SAFE_NAME.test(etag) || commit.startsWith('.') || etag.startsWith('.')) {
      throw new HubError('network', `the hub sent an unusable commit or etag for ${file}: ${JSON.stringify(commit)} / ${JSON.stringify(rawEtag)}`);
    }
    const sizeText = header(res, 'x-linked-size') ?? header(res, 'content-length');
    const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
    return { file, commit, etag, size, location };
  }
  throw new HubError('network', `too many redirects for ${file} of ${ctx.id.label}`);
}

/** GET following every redirect; Authorization is dropped once the host differs from the hub's. */
async function getFollowing(ctx: Context, start: URL, extra: Record<string, string>): Promise<IncomingMessage> {
  let url = start;
  const headers: Record<string, string> = { ...ctx.headers, ...extra };
  const hubOrigin = new URL(ctx.endpoint).origin;
  for (let hop = 0; hop < 10; hop++) {
    if (url.origin !== hubOrigin) delete headers.Authorization;
    const res = await sendRequest(url, { method: 'GET', headers, env: ctx.env, signal: ctx.options.signal, timeoutMs: ctx.timeoutMs, ca: ctx.options.ca });
    const status = res.statusCode ?? 0;
    const raw = header(res, 'location');
    if (status >= 300 && status < 400 && raw !== undefined) {
      res.resume();
      url = httpUrl(raw, url);
      continue;
    }
    return res;
  }
  throw new HubError('network', `too many redirects downloading ${start.href}`);
}

async function sizeOf(path: string): Promise<number> {
  try { return (await fsp.stat(path)).size; } catch { return 0; }
}

/** Checks a finished download against its etag: sha256 (LFS), git blob sha1 (40 hex), else nothing to check. */
async function verifyEtag(path: string, etag: string, size: number): Promise<{ algorithm: string; actual: string } | undefined> {
  const algorithm = /^[0-9a-f]{64}$/.test(etag) ? 'sha256' : /^[0-9a-f]{40}$/.test(etag) ? 'sha1' : undefined;
  if (algorithm === undefined) return undefined;
  const hash = createHash(algorithm);
  if (algorithm === 'sha1') hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  return actual === etag ? undefined : { algorithm: algorithm === 'sha1' ? 'git SHA-1' : 'SHA-256', actual };
}

/**
 * Appends the body to the .incomplete file, coalesced into writes of up to 1 MiB; `onBytes` hears of every chunk as it
 * arrives. On a dropped connection what arrived is still written before the error is rethrown, so the file stays a
 * prefix of the blob and the next attempt resumes from its length.
 */
async function appendBody(res: IncomingMessage, path: string, onBytes: (n: number) => void): Promise<number> {
  const fh = await fsp.open(path, 'a');
  let written = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const data = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await fh.write(data);
    written += data.length;
  };
  try {
    for await (const chunk of res) {
      pending.push(chunk as Buffer);
      pendingBytes += (chunk as Buffer).length;
      onBytes((chunk as Buffer).length);
      if (pendingBytes >= 1 << 20) await flush();
    }
    await flush();
    await fh.sync();
    return written;
  } catch (err) {
    await flush().catch(() => undefined);
    throw err;
  } finally {
    await fh.close();
  }
}

function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Downloads one blob into blobs/<etag> (resuming its .incomplete); returns the bytes received. */
async function downloadBlob(ctx: Context, meta: FileMeta, progress: (n: number, fileBytes: number) => void): Promise<number> {
  const { signal } = ctx.options;
  const incomplete = ctx.cache.incomplete(meta.etag);
  const blob = ctx.cache.blob(meta.etag);
  const maxRetries = ctx.options.maxRetries ?? 5;
  const baseDelay = ctx.options.retryDelayMs ?? 1000;
  await fsp.mkdir(ctx.cache.blob(''), { recursive: true });
  let received = 0;
  let failures = 0;
  for (;;) {
    let have = await sizeOf(incomplete);
    if (meta.size !== undefined && have > meta.size) { await fsp.truncate(incomplete, 0); have = 0; }
    if (meta.size !== undefined && have === meta.size) break;
    progress(0, have);
    let gained = 0;
    try {
      if (signal?.aborted) throw signal.reason;
      const res = await getFollowing(ctx, meta.location, have > 0 ? { Range: `bytes=${have}-` } : {});
      const status = res.statusCode ?? 0;
      if (status === 416 && have > 0) { res.resume(); await fsp.truncate(incomplete, 0); throw new HubError('network', `the server refused to resume ${meta.file} at byte ${have}; starting over`); }
      if (status < 200 || status >= 300) { res.resume(); throw statusError(res, ctx, meta.file); }
      if (have > 0) {
        const range = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
        if (status !== 206 || range === null || Number(range[1]) !== have) {
          // The server sent the whole file (or another range): start from zero.
          await fsp.truncate(incomplete, 0);
          if (status !== 200) { res.resume(); throw new HubError('network', `the server answered a resume of ${meta.file} with an unexpected range`); }
          have = 0;
          progress(0, 0);
        }
      }
      let fileBytes = have;
      await appendBody(res, incomplete, (n) => { gained += n; fileBytes += n; received += n; progress(n, fileBytes); });
      if (meta.size === undefined) break;
      const now = await sizeOf(incomplete);
      if (now === meta.size) break;
      if (now > meta.size) {
        await fsp.rm(incomplete, { force: true });
        throw new HubError('bad-data', `the download of ${meta.file} of ${ctx.id.label} is larger than the ${meta.size} bytes the hub states (${now}); the file was deleted — try again`);
      }
      throw Object.assign(new Error(`connection closed after ${now} of ${meta.size} bytes`), { code: 'ECONNRESET' });
    } catch (err) {
      if (isAbort(err, signal)) {
        const kept = await sizeOf(incomplete);
        throw new HubError('stopped', `download of ${meta.file} from ${ctx.id.label} cancelled; ${kept}${meta.size === undefined ? '' : ` of ${meta.size}`} bytes are kept in ${incomplete} and the next download resumes from there`, { cause: err });
      }
      if (err instanceof LabError && err.code !== 'network') throw err;
      if (err instanceof HubError && err.status !== undefined && err.status < 500 && err.status !== 416 && err.status !== 429) throw err;
      failures = gained > 0 ? 1 : failures + 1;
      if (failures > maxRetries) {
        const kept = await sizeOf(incomplete);
        throw new HubError('network', `download of ${meta.file} from ${ctx.id.label} failed ${failures} times in a row (${err instanceof Error ? err.message : String(err)}); ${kept} bytes are kept in ${incomplete} — run again to resume`, { cause: err });
      }
      await wait(Math.min(8000, baseDelay * 2 ** (failures - 1)), signal);
    }
  }
  const size = await sizeOf(incomplete);
  if (meta.size !== undefined && size !== meta.size) {
    await fsp.rm(incomplete, { force: true });
    throw new HubError('bad-data', `the download of ${meta.file} of ${ctx.id.label} has ${size} bytes, the hub states ${meta.size}; the file was deleted — try again`);
  }
  const mismatch = await verifyEtag(incomplete, meta.etag, size);
  if (mismatch) {
    await fsp.rm(incomplete, { force: true });
    throw new HubError('bad-data', `${mismatch.algorithm} mismatch for ${meta.file} of ${ctx.id.label}: the hub states ${meta.etag}, the download has ${mismatch.actual}; the file was deleted — try again (a proxy or a mirror may alter it)`);
  }
  await fsp.rename(incomplete, blob);
  return received;
}

function cacheHint(ctx: Context): string {
  return `the hub cache is ${ctx.cache.cacheDir} (HF_HUB_CACHE / HF_HOME)`;
}

function fromCache(ctx: Context, files: readonly string[]): Record<string, string> | undefined {
  const found: Record<string, string> = {};
  for (const file of files) {
    const path = ctx.cache.cachedFile(ctx.id.revision, file);
    if (path === undefined) {
      if (ctx.options.optionalFiles?.includes(file)) continue;
      return undefined;
    }
    found[file] = path;
  }
  return found;
}

async function finish(ctx: Context, commit: string, files: Record<string, string>, downloadedBytes: number): Promise<HubDownload> {
  const result: HubDownload = { repoId: ctx.id.repoId, revision: ctx.id.revision, commit, files, cacheDir: ctx.cache.cacheDir, downloadedBytes };
  const configPath = files['config.json'];
  if (configPath !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await fsp.readFile(configPath, 'utf8'));
    } catch (err) {
      throw new BadDataError(`${configPath}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadDataError(`${configPath}: expected a JSON object`);
    result.config = parsed as Record<string, unknown>;
  }
  return result;
}

function envSeconds(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n * 1000 : undefined;
}

/**
 * Downloads `files` (default config.json and model.safetensors) of a hub model into the hub cache, or finds them there.
 * Honours HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE, HF_TOKEN / HF_TOKEN_PATH, HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY (from `opts.env`, default process.env).
 */
export async function downloadFromHub(id: string, opts: HubDownloadOptions = {}): Promise<HubDownload> {
  const parsed = parseHubId(id);
  const env = opts.env ?? process.env;
  const files = [...(opts.files ?? DEFAULT_HUB_FILES)];
  if (files.length === 0) throw new HubError('bad-usage', 'no files to download');
  files.forEach(checkFileName);
  const endpoint = (opts.endpoint ?? (env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT)).replace(/\/+$/, '');
  try {
    const u = new URL(endpoint);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new HubError('bad-usage', `HF_ENDPOINT is not an http(s) URL: ${JSON.stringify(endpoint)}`);
  }
  const cache = new RepoCache(opts.cacheDir ?? hubCacheDir(env), parsed.repoId);
  const token = opts.token === false ? undefined : opts.token ?? resolveToken(env);
  const headers: Record<string, string> = { 'User-Agent': `embedding-lab; node/${process.versions.node}` };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const timeoutMs = opts.timeoutMs ?? envSeconds(env.HF_HUB_DOWNLOAD_TIMEOUT) ?? envSeconds(env.HF_HUB_ETAG_TIMEOUT) ?? 10_000;
  const ctx: Context = { id: parsed, endpoint, cache, env, headers, hasToken: token !== undefined, options: opts, timeoutMs };

  // A commit hash whose files are all cached needs no network (huggingface_hub does the same).
  if (COMMIT_HASH.test(parsed.revision)) {
    const cached = fromCache(ctx, files);
    if (cached) return finish(ctx, parsed.revision, cached, 0);
  }
  if (opts.offline ?? isOffline(env)) {
    const cached = fromCache(ctx, files);
    const commit = cache.commitFor(parsed.revision);
    if (cached && commit) return finish(ctx, commit, cached, 0);
    const missing = files.filter((f) => !opts.optionalFiles?.includes(f) && cache.cachedFile(parsed.revision, f) === undefined);
    const why = commit === undefined ? `no refs/${parsed.revision} in ${cache.root}` : `${missing.join(', ')} not in ${cache.root}/snapshots/${commit}`;
    throw new HubError('network', `${parsed.label} is not in the hub cache (${why}) and HF_HUB_OFFLINE is set, so nothing is downloaded: unset HF_HUB_OFFLINE to fetch it; ${cacheHint(ctx)}`);
  }

  // Metadata of every file first (so the progress has a total), with huggingface_hub's fallback to the cache.
  const metas: FileMeta[] = [];
  try {
    for (const file of files) {
      try {
        metas.push(await fetchMeta(ctx, file));
      } catch (err) {
        if (err instanceof HubError && err.status === 404 && opts.optionalFiles?.includes(file)) continue;
        throw err;
      }
    }
  } catch (err) {
    if (isAbort(err, opts.signal)) throw new HubError('stopped', `download of ${parsed.label} cancelled`, { cause: err });
    const code = errno(err);
    const unreachable = code !== undefined && NETWORK_ERRNOS.has(code);
    // As huggingface_hub: any failed HEAD but a missing file or revision may be answered from the cache.
    const fallback = unreachable || (err instanceof HubError && err.status !== undefined && err.hubCode !== 'EntryNotFound' && err.hubCode !== 'RevisionNotFound');
    if (fallback) {
      const cached = fromCache(ctx, files);
      const commit = cache.commitFor(parsed.revision);
      if (cached && commit) {
        opts.onWarning?.(`could not reach the hub for ${parsed.label} (${err instanceof Error ? err.message : String(err)}); using the cached copy at commit ${commit}`);
        return finish(ctx, commit, cached, 0);
      }
    }
    if (unreachable) {
      throw new HubError('network', `cannot reach the hub at ${endpoint} (${code}: ${err instanceof Error ? err.message : String(err)}) to download ${parsed.label}, and it is not in the cache. Check the network (and HTTPS_PROXY / NO_PROXY behind a proxy); to work without network set HF_HUB_OFFLINE=1, which uses only cached files — ${cacheHint(ctx)}`, { cause: err });
    }
    if (err instanceof LabError) throw err;
    throw new HubError('network', `cannot download ${parsed.label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const commit = metas[0]?.commit;
  if (commit === undefined) throw new HubError('bad-usage', `none of ${files.join(', ')} exists in ${parsed.label}`);
  await cache.writeRef(parsed.revision, commit);

  const result: Record<string, string> = {};
  const todo = metas.filter((m) => !existsSync(cache.snapshot(m.commit, m.file)) && !existsSync(cache.blob(m.etag)));
  const sizes = todo.map((m) => m.size);
  const total = sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, s) => a + (s as number), 0) : undefined;
  let bytes = 0;
  let downloaded = 0;
  for (const meta of metas) {
    const pointer = cache.snapshot(meta.commit, meta.file);
    if (!existsSync(pointer)) {
      const blob = cache.blob(meta.etag);
      if (!existsSync(blob)) {
        const base = bytes;
        const key = blob;
        let job = inFlight.get(key);
        if (job === undefined) {
          job = downloadBlob(ctx, meta, (_n, fileBytes) => {
            bytes = base + fileBytes;
            opts.onProgress?.({ file: meta.file, fileBytes, fileTotal: meta.size, bytes, total });
          }).finally(() => inFlight.delete(key));
          inFlight.set(key, job);
        }
        downloaded += await job;
        bytes = base + (meta.size ?? 0);
      }
      await cache.linkSnapshot(meta.commit, meta.file, meta.etag);
    }
    result[meta.file] = pointer;
  }
  return finish(ctx, commit, result, downloaded);
}
