// One HTTP(S) request for the hub client, with Node's own http/https/tls (no dependency), honouring the usual proxy
// variables: HTTPS_PROXY for https URLs (an HTTP CONNECT tunnel, then TLS to the origin through it), HTTP_PROXY for
// http URLs (the request is forwarded with its absolute URL), ALL_PROXY as a fallback for both, NO_PROXY (comma-
// separated host names, domain suffixes, `*`; an entry may carry `:port`). Lower-case spellings win, as in curl.
// Only `http://` proxies are supported (user:password@ in the proxy URL becomes Proxy-Authorization: Basic).
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { LabError } from '../../core/errors';
import type { Env } from './hub-cache';

export interface RequestOptions {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  env: Env;
  signal?: AbortSignal;
  /** Idle-socket timeout in ms: no byte for this long fails the request with ETIMEDOUT. */
  timeoutMs: number;
  /** Extra CA certificates (PEM) to trust besides Node's store, e.g. a company proxy's (NODE_EXTRA_CA_CERTS also works). */
  ca?: string | Buffer | Array<string | Buffer>;
}

function envVar(env: Env, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function defaultPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Whether NO_PROXY exempts this URL. */
export function bypassesProxy(url: URL, env: Env): boolean {
  const noProxy = envVar(env, 'no_proxy');
  if (noProxy === undefined) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = defaultPort(url);
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.includes('::')) { entry = portMatch[1]; entryPort = Number(portMatch[2]); }
    entry = entry.replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy for this URL, if the environment names one and NO_PROXY does not exempt it. */
export function proxyFor(url: URL, env: Env): URL | undefined {
  const raw = envVar(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy') ?? envVar(env, 'all_proxy');
  if (raw === undefined || bypassesProxy(url, env)) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new LabError('bad-usage', `the proxy variable for ${url.protocol.replace(':', '')} is not a URL: ${raw}`);
  }
  if (proxy.protocol !== 'http:') {
    throw new LabError('bad-usage', `proxy ${proxy.protocol}// URLs are not supported (got ${raw}); use an http:// proxy`);
  }
  return proxy;
}

function proxyAuth(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'Proxy-Authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** Opens a CONNECT tunnel through `proxy` to host:port and returns the raw socket. */
function connectTunnel(proxy: URL, target: URL, options: RequestOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const authority = `${target.hostname}:${defaultPort(target)}`;
    const req = http.request({
      host: proxy.hostname, port: defaultPort(proxy), method: 'CONNECT', path: authority,
      headers: { Host: authority, ...proxyAuth(proxy) }, signal: options.signal,
    });
    req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error(`proxy ${proxy.host} did not answer CONNECT in time`), { code: 'ETIMEDOUT' })));
    req.once('connect', (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) { resolve(socket); return; }
      socket.destroy();
      reject(new LabError('network', `proxy ${proxy.host} refused the tunnel to ${authority}: HTTP ${res.statusCode ?? '?'}${res.statusCode === 407 ? ' (proxy authentication required: put user:password@ in the proxy URL)' : ''}`));
    });
    req.once('error', reject);
    req.end();
  });
}

/** Sends one request (no redirect following) and resolves with the response once its headers arrived. */
export async function sendRequest(url: URL, options: RequestOptions): Promise<http.IncomingMessage> {
  const proxy = proxyFor(url, options.env);
  const headers = { Host: url.host, ...options.headers };
  let req: http.ClientRequest;
  if (proxy && url.protocol === 'http:') {
    // Forwarding: the absolute URL in the request line, to the proxy.
    req = http.request({
      host: proxy.hostname, port: defaultPort(proxy), method: options.method, path: url.href,
      headers: { ...headers, ...proxyAuth(proxy) }, signal: options.signal,
    });
  } else if (proxy) {
    const socket = await connectTunnel(proxy, url, options);
    const secure = tls.connect({ socket, host: url.hostname, ca: options.ca, ALPNProtocols: ['http/1.1'], ...(isIP(url.hostname) === 0 ? { servername: url.hostname } : {}) });
    req = http.request({
      host: url.hostname, port: defaultPort(url), method: options.method, path: `${url.pathname}${url.search}`,
      headers, signal: options.signal, createConnection: () => secure,
    });
  } else {
    const mod = url.protocol === 'https:' ? https : http;
    req = mod.request(url, { method: options.method, headers, signal: options.signal, ...(options.ca ? { ca: options.ca } : {}) });
  }
  return new Promise((resolve, reject) => {
    req.setTimeout(options.timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no answer from ${url.host} for ${Math.round(options.timeoutMs / 1000)} s`), { code: 'ETIMEDOUT' }));
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}
