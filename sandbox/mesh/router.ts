// The mesh's data plane: one loopback port, routing by Host through the current RoutingTable to a
// ready pod, like an Istio ingress gateway with sidecars folded in. Its Istio metrics are served on
// a separate admin port, as Envoy serves them on 15090.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Backend, backendsOf, buildRoutingTable, chooseDestination, endpointsOf, type Mirror, type RoutingTable, resolveHost, selectRule } from './table.ts';
import { MeshTelemetry, type RequestLabels } from './telemetry.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Istio's default retry policy retries connection failures twice; we do so for requests without a body. */
const MAX_ATTEMPTS = 3;
const RETRIABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ETIMEDOUT']);
/**
 * Envoy's connect timeout (a DestinationRule's connectTimeout): a pod that went away between an
 * EndpointSlice update and the mesh seeing it fails the attempt, which is retried elsewhere,
 * instead of holding the request through TCP's retransmits.
 */
const CONNECT_TIMEOUT_MS = 2_000;
/** Mirrored requests in flight at most, and how long one may take: a slow mirror costs nothing but these. */
const MAX_SHADOWS = 256;
const SHADOW_TIMEOUT_MS = 30_000;

/** Envoy's shadow authority: `-shadow` after the host, before any port. */
export function shadowHost(host: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(host);
  return `${m?.[1] ?? host}-shadow${m?.[2] ?? ''}`;
}

function forwardHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

/** Istio's standard labels for a request to `destHost`, as the destination's proxy reports it (the source's when no backend took it). */
function labelsOf(destHost: string, b: Backend | undefined, code: number, flags: string): RequestLabels {
  const [name = 'unknown', namespace = 'unknown'] = destHost.split('.');
  return {
    reporter: b === undefined ? 'source' : 'destination',
    source_workload: 'unknown',
    source_workload_namespace: 'unknown',
    source_app: 'unknown',
    destination_workload: b?.workload ?? 'unknown',
    destination_workload_namespace: b?.namespace ?? namespace,
    destination_app: b?.app ?? 'unknown',
    destination_version: b?.version ?? 'unknown',
    destination_service: destHost,
    destination_service_name: name,
    destination_service_namespace: namespace,
    destination_canonical_service: b?.canonicalService ?? 'unknown',
    request_protocol: 'http',
    response_code: String(code),
    response_flags: flags,
  };
}

export interface MeshRouterOptions {
  host?: string;
  port?: number;
  logger?: Logger;
}

export class MeshRouter {
  readonly telemetry = new MeshTelemetry();
  #table: RoutingTable = buildRoutingTable({ virtualServices: [], services: [], endpoints: [], endpointSlices: [], pods: [] });
  readonly #counters = new Map<string, number>();
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });
  readonly #server: http.Server;
  readonly #admin: http.Server;
  readonly #options: MeshRouterOptions;
  #random: () => number = Math.random;
  #shadows = 0;

  constructor(options: MeshRouterOptions = {}) {
    this.#options = options;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 30_000;
    this.#admin = http.createServer((req, res) => {
      if (req.url === '/stats/prometheus' || req.url === '/metrics') {
        this.telemetry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.telemetry.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      } else if (req.url === '/ready') res.writeHead(200).end('LIVE\n');
      else res.writeHead(404).end();
    });
  }

  /** Swap the table; requests already routed keep their backend. */
  setTable(table: RoutingTable): void {
    this.#table = table;
    // As Envoy drains the connection pools of hosts that leave a cluster: an idle keep-alive
    // connection to a gone pod would take the next request into silence.
    const live = endpointsOf(table);
    for (const [name, sockets] of Object.entries(this.#agent.freeSockets)) {
      const [ip, port] = name.split(':');
      if (!live.has(`${ip}:${port}`)) for (const socket of sockets ?? []) socket.destroy();
    }
  }

  /** Inject the weighted-choice randomness (tests). */
  setRandom(random: () => number): void {
    this.#random = random;
  }

  async start(): Promise<{ url: string; metricsUrl: string }> {
    const host = this.#options.host ?? '127.0.0.1';
    const listen = (server: http.Server, port: number): Promise<number> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      });
    const port = await listen(this.#server, this.#options.port ?? 0);
    const adminPort = await listen(this.#admin, 0);
    return { url: `http://${host}:${port}`, metricsUrl: `http://${host}:${adminPort}/stats/prometheus` };
  }

  async stop(): Promise<void> {
    const close = (s: http.Server): Promise<void> => new Promise((resolve) => (s.listening ? s.close(() => resolve()) : resolve()));
    this.#server.closeAllConnections();
    this.#admin.closeAllConnections();
    await Promise.all([close(this.#server), close(this.#admin)]);
    this.#agent.destroy();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    const host = req.headers.host ?? '';
    const route = resolveHost(this.#table, host);
    const rule = route === undefined ? undefined : selectRule(route, req.url ?? '/', req.headers);
    if (rule === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route for host "${host}"\n`);
      return;
    }
    const dest = chooseDestination(rule, this.#random());
    if (dest === undefined) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
      return;
    }
    const labelsFor = (b: Backend | undefined, code: number, flags: string): RequestLabels => labelsOf(dest.host, b, code, flags);
    const bodyless = req.method === 'GET' || req.method === 'HEAD';
    let attempt = 0;
    const tried = new Set<string>();
    const tryOnce = (): void => {
      attempt += 1;
      // Re-read the table on each attempt: a retry after a pod went away sees the new endpoints.
      const { backends } = backendsOf(this.#table, dest);
      if (backends.length === 0) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
        this.telemetry.record(labelsFor(undefined, 503, 'UH'), performance.now() - started);
        return;
      }
      const n = this.#counters.get(dest.host) ?? 0;
      this.#counters.set(dest.host, n + 1);
      // Round-robin, but a retry goes to an endpoint not tried yet when there is one.
      let backend = backends[n % backends.length] as Backend;
      for (let i = 0; i < backends.length && tried.has(`${backend.ip}:${backend.port}`); i++) backend = backends[(n + i + 1) % backends.length] as Backend;
      tried.add(`${backend.ip}:${backend.port}`);
      const headers = forwardHeaders(req);
      const upstream = http.request({ agent: this.#agent, host: backend.ip, port: backend.port, method: req.method, path: req.url, headers });
      let responded = false;
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => upstream.destroy(Object.assign(new Error(`connect timeout after ${CONNECT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      upstream.on('response', (ures) => {
        responded = true;
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(ures.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        const code = ures.statusCode ?? 502;
        res.writeHead(code, out);
        ures.pipe(res);
        let recorded = false;
        const record = (flags: string): void => {
          if (recorded) return;
          recorded = true;
          this.telemetry.record(labelsFor(backend, flags === 'DC' ? 0 : code, flags), performance.now() - started);
        };
        res.on('finish', () => record('-'));
        res.on('close', () => {
          if (!res.writableFinished) {
            ures.destroy();
            record('DC');
          }
        });
        ures.on('error', () => res.destroy());
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        if (responded || res.headersSent) {
          res.destroy();
          return;
        }
        const retriable = bodyless && attempt < MAX_ATTEMPTS && (RETRIABLE.has(err.code ?? '') || err.message === 'socket hang up');
        if (retriable && !res.destroyed) {
          tryOnce();
          return;
        }
        this.#options.logger?.warn({ err: err.message, backend: `${backend.ip}:${backend.port}` }, 'upstream failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`upstream connect error or disconnect/reset before headers. reset reason: ${err.code ?? err.message}`);
        this.telemetry.record(labelsFor(backend, 503, 'UF'), performance.now() - started);
      });
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      if (bodyless) upstream.end();
      else req.pipe(upstream);
    };
    tryOnce();
    // Envoy shadows a request as it forwards it; GET and HEAD only here (no body to copy). After
    // the user's request, so that its upstream write goes first and waits on no copy's.
    if (bodyless) for (const mirror of rule.mirrors) if (this.#random() * 100 < mirror.percent) this.#shadow(req, mirror);
  }

  /** A copy of the request to the mirror's destination: fire and forget, its answer discarded. */
  #shadow(req: http.IncomingMessage, mirror: Mirror): void {
    if (this.#shadows >= MAX_SHADOWS) return; // as Envoy's circuit breaker drops what overflows
    const { backends } = backendsOf(this.#table, { host: mirror.host, weight: 0, port: mirror.port });
    if (backends.length === 0) return;
    const n = this.#counters.get(mirror.host) ?? 0;
    this.#counters.set(mirror.host, n + 1);
    const backend = backends[n % backends.length] as Backend;
    const headers = forwardHeaders(req);
    headers['host'] = shadowHost(req.headers.host ?? '');
    const started = performance.now();
    this.#shadows += 1;
    const shadow = http.request({ agent: this.#agent, host: backend.ip, port: backend.port, method: req.method, path: req.url, headers, timeout: SHADOW_TIMEOUT_MS });
    shadow.on('response', (answer) => {
      answer.resume();
      answer.on('end', () => this.telemetry.record(labelsOf(mirror.host, backend, answer.statusCode ?? 0, '-'), performance.now() - started));
    });
    shadow.on('timeout', () => shadow.destroy());
    shadow.on('error', () => undefined);
    shadow.on('close', () => (this.#shadows -= 1));
    shadow.end();
  }
}
