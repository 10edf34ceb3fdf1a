import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Admin } from './admin.ts';
import { Admission } from './admission.ts';
import { ANSWER_BYTES, isolated, type Isolation } from './cost.ts';
import { errorBody, HttpError } from './errors.ts';
import { Metrics, type Route } from './metrics.ts';
import { CONTENT_TYPES, negotiateFormat, type AutoFormat, type OutputFormat } from './negotiate.ts';
import { TransformPool } from './pool.ts';
import { normalizeParams, parseKey, parseParams, type ImageParams } from './params.ts';
import { expandPreset, type Presets } from './presets.ts';
import { verifySignature } from './signing.ts';
import { SourceError, type Source, type SourceObject } from './sources/source.ts';
import { Stampede, type ImageResult } from './stampede.ts';
import { admitWork, decodable, header, inspect, resize, type WorkLimits } from './transform.ts';

// Not `import { createServer } from 'node:http'`: the ESM view of node:http reads every export,
// and its lazy ones (fetch's and WebSocket's classes) load undici, which the service never uses
// (1.5 MiB of resident memory at idle, measured).
const { createServer } = process.getBuiltinModule('node:http');

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
  /** IMAGE_SERVICE_SIGNING_KEYS: when any, every image URL must carry a valid `sig` (403). */
  signingKeys?: readonly string[];
  presets?: Presets;
  /** IMAGE_SERVICE_CACHE_BYTES; absent or 0: no result cache. */
  cacheBytes?: number;
  /** IMAGE_SERVICE_COALESCE; absent: on. */
  coalesce?: boolean;
  /** The token of IMAGE_SERVICE_ADMIN_TOKEN_FILE; absent: PUT and DELETE do not exist (404). */
  adminToken?: string;
  /** Bytes one worker may hold: the memory limit's share (cost.ts, workerShare). */
  memoryPerWorker: number;
  /** IMAGE_SERVICE_TRANSFORM_SECONDS: libvips stops a pipeline that runs longer. */
  transformSeconds: number;
  /** IMAGE_SERVICE_SEND_TIMEOUT_MS: an answer its client has not taken by then is dropped. */
  sendTimeoutMs: number;
  /** IMAGE_SERVICE_ISOLATE: which resizes run in a child process killed when their client leaves; absent: `costly`. */
  isolate?: Isolation;
}

/** A rendered answer; `release` frees an original that no cache or other request shares. */
type Rendered = ImageResult & { release?: () => void };

export interface ImageService {
  readonly server: Server;
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly ready: boolean;
  /** The transform children (costly resizes). */
  readonly pool: TransformPool;
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
  const signingKeys = settings.signingKeys ?? [];
  const presets = settings.presets ?? {};
  const stampede = new Stampede({ cacheBytes: settings.cacheBytes ?? 0, maxAgeMs: settings.cacheMaxAgeSeconds * 1000, coalesce: settings.coalesce ?? true });
  stampede.registerMetrics(metrics.registry);
  const limits: WorkLimits = { maxInputPixels: settings.maxInputPixels, memoryPerWorker: settings.memoryPerWorker, timeoutSeconds: settings.transformSeconds };
  const isolation = settings.isolate ?? 'costly';
  const pool = new TransformPool(settings.workers);
  pool.registerMetrics(metrics.registry);
  const admin = settings.adminToken === undefined ? undefined : new Admin({ token: settings.adminToken, source, maxBodyBytes: settings.maxSourceBytes, limits, admission });
  const cacheControl = settings.cacheMaxAgeSeconds > 0 ? `public, max-age=${settings.cacheMaxAgeSeconds}` : 'no-cache';
  const health = JSON.stringify({ status: 'ok', version: settings.version });
  /** Answers that were admission refusals, until their log line is written. */
  const refused = new WeakSet<ServerResponse>();
  let draining = false;
  let open = 0;
  let onIdle: (() => void) | undefined;

  /** Answers not yet taken by their clients, oldest first, with their bytes. */
  const unsent = new Map<ServerResponse, number>();
  let unsentBytes = 0;
  const forget = (res: ServerResponse) => {
    const bytes = unsent.get(res);
    if (bytes === undefined) return;
    unsent.delete(res);
    unsentBytes -= bytes;
  };

  /**
   * Writes an answer. One its client has not taken within the send timeout is dropped with its
   * connection, which frees the body; so are the oldest unfinished answers when more than
   * ANSWER_BYTES wait for their clients: readers that never read hold a bounded amount of
   * memory, for a bounded time.
   */
  function send(res: ServerResponse, status: number, headers: Readonly<Record<string, string | number>>, body?: Buffer | string, written?: () => void): void {
    res.writeHead(status, draining ? { ...headers, connection: 'close' } : headers);
    res.end(body, written);
    if (res.writableFinished) return;
    const bytes = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    for (const [oldest] of unsent) {
      if (unsentBytes + bytes <= ANSWER_BYTES) break;
      forget(oldest);
      oldest.destroy();
    }
    unsent.set(res, bytes);
    unsentBytes += bytes;
    const timer = setTimeout(() => res.destroy(), settings.sendTimeoutMs);
    res.once('close', () => {
      clearTimeout(timer);
      forget(res);
    });
  }

  /** The answer to each admission refusal, built once: under a refusal storm the 503 path is a write. */
  const refusals = new Map<HttpError, { headers: Record<string, string | number>; body: string }>();
  function errorAnswer(httpError: HttpError): { headers: Record<string, string | number>; body: string } {
    const prepared = refusals.get(httpError);
    if (prepared !== undefined) return prepared;
    const body = errorBody(httpError);
    const answer = { headers: { ...httpError.headers, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }, body };
    if (Admission.isRefusal(httpError)) refusals.set(httpError, answer);
    return answer;
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
    if (Admission.isRefusal(httpError)) refused.add(res);
    // What the client may not see (an origin's URL) is logged for the operator.
    if (error instanceof SourceError && error.detail !== undefined) logger.warn({ reqId, code: error.code, detail: error.detail }, 'source failure');
    const answer = errorAnswer(httpError);
    send(res, httpError.status, answer.headers, answer.body);
  }

  async function serveImage(req: IncomingMessage, res: ServerResponse, path: string, rawKey: string, query: string, signal: AbortSignal, arrivedAt: number): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
    const search = new URLSearchParams(query);
    // Before anything else: an unsigned URL costs no I/O and no parsing beyond its signature.
    if (signingKeys.length > 0 && !verifySignature(path, search, signingKeys)) {
      throw new HttpError(403, 'invalid_signature', search.has('sig') ? 'the URL signature (sig) is not valid' : 'this service needs signed URLs: the sig parameter is missing');
    }
    search.delete('sig');
    if (settings.injectDelayMs > 0) await sleep(settings.injectDelayMs, undefined, { signal });
    if (settings.injectErrorPercent > 0 && Math.random() * 100 < settings.injectErrorPercent) {
      throw new HttpError(500, 'injected_fault', 'fault injected by IMAGE_SERVICE_INJECT_ERROR_PERCENT');
    }
    const key = parseKey(rawKey);
    const params = parseParams(expandPreset(search, presets).toString());
    const accept = req.headers.accept;
    const ifNoneMatch = req.headers['if-none-match'];
    const headers: Record<string, string | number> = { 'cache-control': cacheControl, 'x-content-type-options': 'nosniff' };
    let result: Rendered | undefined;
    // Originals are neither cached nor shared, so each is freed once written.
    if (params === null) result = await render(key, null, undefined, ifNoneMatch, signal, arrivedAt);
    else {
      // The output is fixed by the parameters and the format for an opaque and for an alpha image:
      // requests that agree on those get the same bytes, so they share one cache entry and one resize.
      const opaque = negotiateFormat(params.fm, accept, settings.autoFormats, false);
      const alpha = negotiateFormat(params.fm, accept, settings.autoFormats, true);
      if (opaque.negotiated) headers.vary = 'Accept';
      const cacheKey = Stampede.key(key, `${normalizeParams(params)}&fm=${opaque.format}/${alpha.format}`);
      result = stampede.lookup(cacheKey);
      if (result !== undefined) metrics.cacheHit();
      else {
        const formats = { opaque: opaque.format, alpha: alpha.format };
        if (ifNoneMatch === undefined) result = await stampede.produce(cacheKey, signal, (workSignal) => render(key, params, formats, undefined, workSignal, arrivedAt));
        // A conditional request renders alone, so a matching validator skips the resize.
        else result = stampede.store(cacheKey, await render(key, params, formats, ifNoneMatch, signal, arrivedAt));
      }
    }
    headers.etag = result.etag;
    if (result.body === undefined || matches(ifNoneMatch, result.etag)) {
      result.release?.();
      send(res, 304, headers);
      return;
    }
    headers['content-type'] = result.contentType;
    headers['content-length'] = result.body.length;
    send(res, 200, headers, result.body, result.release);
  }

  /**
   * Source read, header checks and resize, holding a worker slot; no body when `ifNoneMatch`
   * matches. `formats`: the output format for an opaque and for an alpha image. The queue timeout
   * runs from the request's arrival (`arrivedAt`, performance.now()).
   */
  async function render(
    key: string,
    params: ImageParams | null,
    formats: { opaque: OutputFormat; alpha: OutputFormat } | undefined,
    ifNoneMatch: string | undefined,
    signal: AbortSignal,
    arrivedAt: number,
  ): Promise<Rendered> {
    const release = await admission.acquire(signal, arrivedAt);
    let original: SourceObject | undefined;
    try {
      original = await source.get(key, { maxBytes: settings.maxSourceBytes, signal });
      // What libvips sees: a PNG without its text chunks, however the original is sent.
      const bytes = decodable(original.bytes);
      if (params === null || formats === undefined) {
        const info = await inspect(bytes);
        const etag = entityTag(original.version, 'original');
        return { etag, contentType: info.contentType, body: matches(ifNoneMatch, etag) ? undefined : original.bytes, release: original.release?.bind(original) };
      }
      // The header decides what the work may cost before anything is decoded; JPEG's and PNG's
      // are read without libvips.
      const info = await header(bytes);
      const format = info.hasAlpha ? formats.alpha : formats.opaque;
      const etag = entityTag(original.version, `${normalizeParams(params)}&fm=${format}`);
      if (matches(ifNoneMatch, etag)) return { etag, contentType: CONTENT_TYPES[format], body: undefined };
      const inChild = isolated(isolation, info, format);
      admitWork(info, original.bytes.length, params, format, limits, inChild);
      // A client gone by now has nobody to answer. In process, libvips once started stops only at
      // its time limit; a child is killed as soon as the client leaves.
      signal.throwIfAborted();
      const body = inChild ? await pool.run({ bytes, params, format, limits }, signal) : await resize(bytes, params, format, limits);
      metrics.transformed();
      return { etag, contentType: CONTENT_TYPES[format], body };
    } catch (error) {
      if (params === null) original?.release?.(); // on success the caller frees it, once written
      throw error;
    } finally {
      release();
      if (params !== null) original?.release?.(); // resized: nothing reads the original any more
    }
  }

  /** PUT /image/files/{key} and DELETE /image/files: only with an admin token, else no such route. */
  async function serveAdmin(req: IncomingMessage, res: ServerResponse, path: string, rawKey: string, signal: AbortSignal): Promise<void> {
    if (admin === undefined) throw new HttpError(404, 'not_found', `no route for ${req.method} ${path.slice(0, 200)} (the management API is off: IMAGE_SERVICE_ADMIN_TOKEN_FILE is not set)`);
    let answer: { status: number; body: unknown };
    if (req.method === 'PUT' && path !== '/image/files') {
      const uploaded = await admin.put(req, rawKey, signal);
      stampede.invalidate([uploaded.body.key]);
      answer = uploaded;
    } else if (req.method === 'DELETE' && path === '/image/files') {
      const deleted = await admin.bulkDelete(req, signal);
      stampede.invalidate(deleted.body.succeeded_files);
      answer = deleted;
    } else {
      const collection = path === '/image/files';
      throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${collection ? '/image/files (DELETE it with {"files": [...]})' : 'an image (GET, HEAD, PUT)'}`, {
        allow: collection ? 'DELETE' : 'GET, HEAD, PUT',
      });
    }
    const body = JSON.stringify(answer.body);
    send(res, answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }, body);
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
      // Refusals are counted (image_service_rejected_total) and logged at debug: a storm of them
      // must not also be a storm of log lines taking the CPU from the resizes.
      const refusal = refused.delete(res);
      const level = refusal ? 'debug' : status >= 500 ? 'error' : route === 'image' || route === 'other' ? 'info' : 'debug';
      if (logger.isLevelEnabled(level)) logger[level]({ reqId, method: req.method, url, status, ms: Math.round(seconds * 10_000) / 10 }, refusal ? 'request refused' : 'request');
      open--;
      if (open === 0) onIdle?.();
    });

    switch (route) {
      case 'image': {
        controller = new AbortController();
        const raw = path.length > IMAGE_PREFIX.length ? path.slice(IMAGE_PREFIX.length) : '';
        const management = req.method === 'PUT' || req.method === 'DELETE';
        const served = management ? serveAdmin(req, res, path, raw, controller.signal) : serveImage(req, res, path, raw, q === -1 ? '' : url.slice(q + 1), controller.signal, started);
        served.catch((error: unknown) => {
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
    pool,
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
          pool.close();
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
