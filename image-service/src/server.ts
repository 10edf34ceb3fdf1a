import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Admission } from './admission.ts';
import { errorBody, HttpError } from './errors.ts';
import { Metrics, type Route } from './metrics.ts';
import { CONTENT_TYPES, negotiateFormat, type AutoFormat, type OutputFormat } from './negotiate.ts';
import { normalizeParams, parseKey, parseParams } from './params.ts';
import type { Source, SourceObject } from './sources/source.ts';
import { checkPixels, inspect, resize } from './transform.ts';

/**
 * The HTTP shell around the pure parts: routes, admission, the source, libvips, headers. Plain
 * node:http: four routes do not earn a framework, and the hot path stays visible. A request
 * holds a worker slot from reading its source to the end of its resize, never while it waits in
 * the queue and never while its answer is written to a slow client.
 */

export interface ServiceSettings {
  version: string;
  workers: number;
  queueLimit: number;
  queueTimeoutMs: number;
  maxInputPixels: number;
  maxSourceBytes: number;
  autoFormats: readonly AutoFormat[];
  cacheMaxAgeSeconds: number;
  injectDelayMs: number;
  injectErrorPercent: number;
}

export interface ImageService {
  readonly server: Server;
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly ready: boolean;
  /**
   * SIGTERM: readiness false at once, stop accepting, let in-flight requests finish (their
   * connections close after the answer), then resolve; connections still open after
   * `deadlineMs` are cut. Resolves true when everything finished in time.
   */
  drain(deadlineMs: number): Promise<boolean>;
}

const IMAGE_PREFIX = '/image/files/';
const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** An answer to a client that went away before it was sent (nginx's convention). */
const CLIENT_CLOSED = 499;

export function createImageService(settings: ServiceSettings, source: Source, logger: Logger): ImageService {
  const admission = new Admission({ slots: settings.workers, queueLimit: settings.queueLimit, queueTimeoutMs: settings.queueTimeoutMs });
  const metrics = new Metrics(settings.version, admission);
  const cacheControl = settings.cacheMaxAgeSeconds > 0 ? `public, max-age=${settings.cacheMaxAgeSeconds}` : 'no-cache';
  const health = JSON.stringify({ status: 'ok', version: settings.version });
  let draining = false;
  let open = 0;
  let onIdle: (() => void) | undefined;

  function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer | string, written?: () => void): void {
    if (draining) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body, written);
  }

  function sendError(res: ServerResponse, error: unknown, reqId: string): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    let httpError: HttpError;
    if (error instanceof HttpError) httpError = error;
    else {
      logger.error({ reqId, err: error }, 'unexpected error');
      httpError = new HttpError(500, 'internal_error', `internal error; request id ${reqId}`);
    }
    const body = errorBody(httpError);
    send(res, httpError.status, { ...httpError.headers, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }, body);
  }

  async function serveImage(req: IncomingMessage, res: ServerResponse, rawKey: string, query: string, signal: AbortSignal): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
    if (settings.injectDelayMs > 0) await sleep(settings.injectDelayMs, undefined, { signal });
    if (settings.injectErrorPercent > 0 && Math.random() * 100 < settings.injectErrorPercent) {
      throw new HttpError(500, 'injected_fault', 'fault injected by IMAGE_SERVICE_INJECT_ERROR_PERCENT');
    }
    const key = parseKey(rawKey);
    const params = parseParams(query);
    const release = await admission.acquire(signal);
    let body: Buffer | undefined;
    let original: SourceObject | undefined;
    const headers: Record<string, string | number> = { 'cache-control': cacheControl, 'x-content-type-options': 'nosniff' };
    try {
      original = await source.get(key, { maxBytes: settings.maxSourceBytes, signal });
      const info = await inspect(original.bytes);
      let etag: string;
      let format: OutputFormat = 'jpeg';
      if (params === null) {
        etag = entityTag(original.version, 'original');
        headers['content-type'] = info.contentType;
      } else {
        checkPixels(info, settings.maxInputPixels);
        const negotiation = negotiateFormat(params.fm, req.headers.accept, settings.autoFormats, info.hasAlpha);
        format = negotiation.format;
        if (negotiation.negotiated) headers.vary = 'Accept';
        etag = entityTag(original.version, `${normalizeParams(params)}&fm=${format}`);
        headers['content-type'] = CONTENT_TYPES[format];
      }
      headers.etag = etag;
      // A matching validator skips the resize: the client already has these bytes.
      if (!matches(req.headers['if-none-match'], etag)) {
        if (params === null) body = original.bytes;
        else {
          body = await resize(original.bytes, params, format, settings.maxInputPixels);
          metrics.transformed();
        }
      }
    } finally {
      release();
      if (body !== original?.bytes) original?.release?.();
    }
    if (body === undefined) {
      delete headers['content-type'];
      send(res, 304, headers);
      return;
    }
    headers['content-length'] = body.length;
    send(res, 200, headers, body, body === original?.bytes ? () => original?.release?.() : undefined);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', reqId);
    open++;

    let route: Route;
    let controller: AbortController | undefined;
    if (path.startsWith(IMAGE_PREFIX) || path === '/image/files') route = 'image';
    else if (path === '/healthz') route = 'healthz';
    else if (path === '/readyz') route = 'readyz';
    else if (path === '/metrics') route = 'metrics';
    else route = 'other';

    res.once('close', () => {
      const finished = res.writableFinished;
      if (!finished) controller?.abort(new HttpError(CLIENT_CLOSED, 'client_closed', 'the client went away'));
      const status = finished ? res.statusCode : CLIENT_CLOSED;
      const seconds = (performance.now() - started) / 1000;
      metrics.observe(route, status, seconds);
      const fields = { reqId, method: req.method, url, status, ms: Math.round(seconds * 10_000) / 10 };
      if (status >= 500) logger.error(fields, 'request');
      else if (route === 'image' || route === 'other') logger.info(fields, 'request');
      else logger.debug(fields, 'request');
      open--;
      if (open === 0) onIdle?.();
    });

    switch (route) {
      case 'image': {
        controller = new AbortController();
        const raw = path.length > IMAGE_PREFIX.length ? path.slice(IMAGE_PREFIX.length) : '';
        serveImage(req, res, raw, q === -1 ? '' : url.slice(q + 1), controller.signal).catch((error: unknown) => {
          if (!controller!.signal.aborted) sendError(res, error, reqId);
        });
        return;
      }
      case 'healthz':
        send(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, health);
        return;
      case 'readyz':
        send(res, draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify({ status: draining ? 'draining' : 'ready' }));
        return;
      case 'metrics':
        metrics.registry.metrics().then(
          (text) => send(res, 200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }, text),
          (error: unknown) => sendError(res, error, reqId),
        );
        return;
      default:
        sendError(res, new HttpError(404, 'not_found', `no route for ${path.slice(0, 200)}; images are under ${IMAGE_PREFIX}`), reqId);
    }
  }

  const server = createServer(handle);
  // Longer than the idle timeouts of the proxies in front (Envoy, cloud load balancers, ~60 s):
  // otherwise the service may close a kept-alive connection just as a proxy reuses it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  return {
    server,
    metrics,
    admission,
    get ready() {
      return !draining;
    },
    drain(deadlineMs: number): Promise<boolean> {
      draining = true;
      return new Promise((resolve) => {
        const deadline = setTimeout(() => {
          server.closeAllConnections();
          resolve(false);
        }, deadlineMs);
        const closed = new Promise<void>((done) => server.close(() => done()));
        const idle = new Promise<void>((done) => {
          if (open === 0) done();
          else onIdle = done;
        });
        // Finished when every request has been answered and every connection is gone.
        void Promise.all([closed, idle]).then(() => {
          clearTimeout(deadline);
          resolve(true);
        });
      });
    },
  };
}

/** A strong ETag from the source's version and what was made of it. */
function entityTag(version: string, variant: string): string {
  return `"${createHash('sha1').update(version).update('\0').update(variant).digest('base64url')}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): `W/` is ignored, `*` matches. */
function matches(header: string | undefined, etag: string | number | undefined): boolean {
  if (header === undefined || etag === undefined) return false;
  for (const candidate of header.split(',')) {
    const tag = candidate.trim();
    if (tag === '*' || tag === etag || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}
