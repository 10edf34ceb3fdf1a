import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { type AddressPolicy, AddressRefused, anyAddress, guardedLookup, hostAllowed, parseAllowedHosts, publicOnly, type Resolver, systemResolver } from '../ssrf.ts';
import { readCapped, tooLarge } from './capped.ts';
import type { HttpEnv } from './env.ts';
import { keyName, type Source, SourceError, type SourceObject } from './source.ts';

/**
 * Originals fetched from an HTTP origin (`IMAGE_SOURCE=https://host/base`), read-only. Every
 * hop, the first and each redirect, must name a host in HTTP_SOURCE_ALLOWED_HOSTS and connect to
 * an address the policy accepts (ssrf.ts); redirects are capped; connect and total timeouts
 * bound every fetch; the byte limit is enforced while streaming.
 */

export interface HttpSourceOptions {
  /** Keys are appended to this URL's path. */
  base: URL;
  /** Canonical host names (see parseAllowedHosts). */
  allowedHosts: string[];
  policy: AddressPolicy;
  resolve: Resolver;
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxRedirects: number;
}

export const HTTP_SOURCE_DEFAULTS = { connectTimeoutMs: 3_000, totalTimeoutMs: 15_000, maxRedirects: 3 };

/**
 * `https://host/base` plus the HTTP_SOURCE_* variables. Without HTTP_SOURCE_ALLOWED_HOSTS only
 * the base URL's own host is allowed, so a redirect can never leave it unless allowed by name.
 */
export function httpOptionsFrom(source: string, env: HttpEnv): HttpSourceOptions {
  const base = new URL(source);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`IMAGE_SOURCE: ${source} is not of the form https://host/base`);
  if (base.search !== '' || base.hash !== '' || base.username !== '') throw new Error(`IMAGE_SOURCE: ${source} must have no query, fragment or credentials`);
  const listed = parseAllowedHosts(env.HTTP_SOURCE_ALLOWED_HOSTS);
  const allowedHosts = listed.length > 0 ? listed : [base.hostname];
  if (!hostAllowed(base.hostname, allowedHosts)) throw new Error(`IMAGE_SOURCE: host ${base.hostname} is not in HTTP_SOURCE_ALLOWED_HOSTS`);
  return {
    base,
    allowedHosts,
    policy: env.HTTP_SOURCE_ALLOW_PRIVATE === 'true' ? anyAddress : publicOnly,
    resolve: systemResolver,
    ...HTTP_SOURCE_DEFAULTS,
  };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function createHttpSource(opts: HttpSourceOptions): Source {
  const lookup = guardedLookup(opts.resolve, opts.policy);
  // Connections are kept alive per source; an address was checked when its socket was opened.
  const agents = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };
  const basePath = opts.base.pathname.endsWith('/') ? opts.base.pathname : `${opts.base.pathname}/`;

  /** Throws when this hop's URL may not be fetched, before any connection. */
  function checkHop(url: URL, key: string): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SourceError('forbidden', `${keyName(key)}: the origin redirected to a URL the service may not follow`, `refused ${url.href}`);
    if (!hostAllowed(url.hostname, opts.allowedHosts)) {
      throw new SourceError('forbidden', `${keyName(key)}: the origin redirected to a host not in HTTP_SOURCE_ALLOWED_HOSTS`, `refused ${url.href}`);
    }
    // An IP literal is never looked up, so the socket's lookup cannot check it: check it here.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    const refusal = isIP(literal) === 0 ? null : opts.policy(literal);
    if (refusal !== null) throw addressRefused(key, `refused ${url.href}: ${refusal}`);
  }

  function fetchOnce(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup,
        signal,
        headers: { accept: 'image/*', 'user-agent': 'imageops-image-service' },
      });
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => req.destroy(new ConnectTimeout()), opts.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end();
    });
  }

  async function get(key: string, maxBytes: number, signal: AbortSignal): Promise<SourceObject> {
    let url = new URL(basePath + key.split('/').map(encodeURIComponent).join('/'), opts.base);
    for (let hop = 0; ; hop += 1) {
      checkHop(url, key);
      const res = await fetchOnce(url, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location !== undefined) {
        res.resume();
        if (hop >= opts.maxRedirects) throw new SourceError('unavailable', `${keyName(key)}: the origin redirected more than ${opts.maxRedirects} times`, url.href);
        url = new URL(location, url);
        continue;
      }
      if (status === 404 || status === 410) {
        res.resume();
        throw new SourceError('not_found', `no image at ${keyName(key)} (the origin answered ${status})`, url.href);
      }
      if (status !== 200) {
        res.resume();
        throw new SourceError('unavailable', `${keyName(key)}: the origin answered ${status}`, url.href);
      }
      const length = Number(res.headers['content-length']);
      if (Number.isFinite(length) && length > maxBytes) {
        res.destroy();
        throw tooLarge(keyName(key), maxBytes);
      }
      const bytes = await readCapped(res, maxBytes, signal, keyName(key));
      const validator = res.headers.etag ?? res.headers['last-modified'];
      return { bytes, version: validator ?? createHash('sha256').update(bytes).digest('base64url').slice(0, 27) };
    }
  }

  return {
    kind: 'http',
    async get(key, { maxBytes, signal }) {
      const deadline = AbortSignal.timeout(opts.totalTimeoutMs);
      try {
        return await get(key, maxBytes, AbortSignal.any([signal, deadline]));
      } catch (err) {
        if (err instanceof SourceError) throw err;
        if (signal.aborted) throw signal.reason;
        throw toSourceError(err, key, deadline);
      }
    },
  };
}

class ConnectTimeout extends Error {
  constructor() {
    super('connect timeout');
    this.name = 'ConnectTimeout';
  }
}

function addressRefused(key: string, detail: string): SourceError {
  return new SourceError(
    'forbidden',
    `${keyName(key)}: the origin's address is not one the service may connect to (loopback, private and link-local addresses need HTTP_SOURCE_ALLOW_PRIVATE)`,
    detail,
  );
}

function toSourceError(err: unknown, key: string, deadline: AbortSignal): SourceError {
  if (err instanceof AddressRefused) return addressRefused(key, err.message);
  if (err instanceof ConnectTimeout) return new SourceError('timeout', `${keyName(key)}: no connection to the origin in time`);
  if (deadline.aborted) return new SourceError('timeout', `${keyName(key)}: the origin did not answer in time`);
  const code = (err as { code?: string }).code;
  return new SourceError('unavailable', `${keyName(key)}: the origin is unreachable${code === undefined ? '' : ` (${code})`}`, (err as Error).message);
}
