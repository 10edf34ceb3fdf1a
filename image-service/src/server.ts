import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Admin } from './admin.ts';
import { serveAdmin } from './admin-route.ts';
import { Admission } from './admission.ts';
import { Answers } from './answers.ts';
import type { Isolation } from './cost.ts';
import { HttpError } from './errors.ts';
import { ImageRoute } from './image-route.ts';
import { Metrics, type Route } from './metrics.ts';
import type { AutoFormat } from './negotiate.ts';
import { TransformPool } from './pool.ts';
import type { Presets } from './presets.ts';
import { RecentRequests } from './recent.ts';
import { RECENT_PATH } from './recent-record.ts';
import type { Source } from './sources/source.ts';
import { Stampede } from './stampede.ts';
import type { WorkLimits } from './transform.ts';

// Not `import { createServer } from 'node:http'`: the ESM view of node:http reads every export,
// and its lazy ones (fetch's and WebSocket's classes) load undici, which the service never uses
// (resident memory at idle for nothing: docs/benchmarks.md, "Results: runs of 2026-12-06").
const { createServer } = process.getBuiltinModule('node:http');

/**
 * The HTTP shell: routing, each request's log line and metrics, and the drain. The routes are
 * apart: images (image-route.ts, over the render pipeline of render.ts), management
 * (admin-route.ts); every answer is written through answers.ts. Plain node:http: a handful of
 * routes do not earn a framework, and the hot path stays visible. A request holds a worker slot
 * from reading its source to the end of its resize, never while it waits in the queue and never
 * while its answer is written to a slow client.
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
  /** IMAGE_SERVICE_INJECT_DRIFT: every resize's colours drift (the sandbox's `-drift` builds); absent: off. */
  injectDrift?: boolean;
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
  /** IMAGE_SERVICE_MANAGEMENT_PORT is set: keep the record of recent requests that `management` serves; absent: off. */
  recordRecent?: boolean;
}

export interface ImageService {
  readonly server: Server;
  /** The management port's server: the record of recent requests (not on the port users reach). */
  readonly management: Server;
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
  const stampede = new Stampede({ cacheBytes: settings.cacheBytes ?? 0, maxAgeMs: settings.cacheMaxAgeSeconds * 1000, coalesce: settings.coalesce ?? true });
  stampede.registerMetrics(metrics.registry);
  const limits: WorkLimits = { maxInputPixels: settings.maxInputPixels, memoryPerWorker: settings.memoryPerWorker, timeoutSeconds: settings.transformSeconds };
  const pool = new TransformPool(settings.workers);
  pool.registerMetrics(metrics.registry);
  const answers = new Answers(settings.sendTimeoutMs, logger);
  const recent = settings.recordRecent === true ? new RecentRequests() : undefined;
  const images = new ImageRoute(
    {
      signingKeys: settings.signingKeys ?? [],
      presets: settings.presets ?? {},
      autoFormats: settings.autoFormats,
      cacheControl: settings.cacheMaxAgeSeconds > 0 ? `public, max-age=${settings.cacheMaxAgeSeconds}` : 'no-cache',
      injectDelayMs: settings.injectDelayMs,
      injectErrorPercent: settings.injectErrorPercent,
    },
    { admission, source, maxSourceBytes: settings.maxSourceBytes, limits, isolation: settings.isolate ?? 'costly', pool, metrics, drift: settings.injectDrift ?? false },
    stampede,
    metrics,
    answers,
    recent,
  );
  const admin = settings.adminToken === undefined ? undefined : new Admin({ token: settings.adminToken, source, maxBodyBytes: settings.maxSourceBytes, limits, admission });
  const health = JSON.stringify({ status: 'ok', version: settings.version });
  let open = 0;
  let onIdle: (() => void) | undefined;

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
      const refusal = answers.wasRefusal(res);
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
        const served = management
          ? serveAdmin(admin, stampede, answers, req, res, path, raw, controller.signal)
          : images.serve(req, res, path, raw, q === -1 ? '' : url.slice(q + 1), controller.signal, started);
        served.catch((error: unknown) => {
          if (!controller!.signal.aborted) answers.sendError(res, error, reqId);
        });
        return;
      }
      case 'healthz':
        answers.send(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, health);
        return;
      case 'readyz':
        answers.send(res, answers.draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify({ status: answers.draining ? 'draining' : 'ready' }));
        return;
      case 'metrics':
        metrics.registry.metrics().then(
          (text) => answers.send(res, 200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }, text),
          (error: unknown) => answers.sendError(res, error, reqId),
        );
        return;
      default:
        answers.sendError(res, new HttpError(404, 'not_found', `no route for ${path.slice(0, 200)}; images are under ${IMAGE_PREFIX}`), reqId);
    }
  }

  const server = createServer(handle);

  /** The management port: GET of the record; nothing else. Not counted in the request metrics, which are traffic. */
  function handleManagement(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const noStore = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    if (path !== RECENT_PATH || recent === undefined) answers.sendError(res, new HttpError(404, 'not_found', `the management port serves ${RECENT_PATH} only`), randomUUID());
    else if (req.method !== 'GET' && req.method !== 'HEAD') answers.sendError(res, new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'GET, HEAD' }), randomUUID());
    else answers.send(res, 200, noStore, JSON.stringify(recent.snapshot()));
  }
  const management = createServer(handleManagement);
  // Longer than the idle timeouts of the proxies in front (Envoy, cloud load balancers, ~60 s):
  // otherwise the service may close a kept-alive connection just as a proxy reuses it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  return {
    server,
    management,
    metrics,
    admission,
    pool,
    get ready() {
      return !answers.draining;
    },
    drain(deadlineMs: number): Promise<boolean> {
      answers.draining = true;
      return new Promise((resolve) => {
        const deadline = setTimeout(() => {
          server.closeAllConnections();
          resolve(false);
        }, deadlineMs);
        const closed = new Promise<void>((done) => server.close(() => done()));
        if (management.listening) management.close();
        management.closeAllConnections();
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
