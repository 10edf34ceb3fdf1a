// The rollout view's server: watches ImageServices and their Events through the API server (the
// operator's own client and informer), measures each revision every second with the operator's
// analysis provider (Prometheus when the sandbox runs it, else the pods' own /metrics), and
// serves a static page (page/) that draws it with uPlot. Loopback only, GET only, a fixed set of
// paths; the page puts every fetched string into the DOM as text, never as markup.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { trackName } from '../../operator/src/build/labels.ts';
import { DirectProvider } from '../../operator/src/canary/providers/direct.ts';
import { kubeEndpoints } from '../../operator/src/canary/providers/endpoints.ts';
import { PrometheusProvider } from '../../operator/src/canary/providers/prometheus.ts';
import type { MetricsProvider } from '../../operator/src/canary/providers/provider.ts';
import { KubeClient, resources } from '../../operator/src/kube/client.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import { RolloutModel, TRACKS } from './model.ts';

const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

/** Path -> file and content type: nothing else is served. */
const FILES: Record<string, [string, string]> = {
  '/': [path.join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/view.js': [path.join(PAGE_DIR, 'view.js'), 'text/javascript; charset=utf-8'],
  '/view.css': [path.join(PAGE_DIR, 'view.css'), 'text/css; charset=utf-8'],
  '/uPlot.iife.min.js': [path.join(UPLOT_DIR, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/uPlot.min.css': [path.join(UPLOT_DIR, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

const HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export interface ViewOptions {
  kubeconfigPath: string;
  /** The sandbox's Prometheus; without it the direct provider scrapes the pods. */
  prometheus: string | undefined;
  logger: Logger;
  port?: number;
}

/** How often each revision is measured, and over which window. */
const SAMPLE_MS = 1_000;
const WINDOW_MS = 10_000;

export interface View {
  url: string;
  stop(): Promise<void>;
}

export async function startView(options: ViewOptions): Promise<View> {
  const logger = options.logger.child({ component: 'view' });
  const client = await KubeClient.fromKubeconfig(await fs.promises.readFile(options.kubeconfigPath, 'utf8'), { baseDir: path.dirname(options.kubeconfigPath), userAgent: 'imageops-sandbox-view' });
  const provider: MetricsProvider =
    options.prometheus !== undefined ? new PrometheusProvider({ address: options.prometheus, timeoutMs: 2_000 }) : new DirectProvider({ endpoints: kubeEndpoints(client), timeoutMs: 2_000 });
  const model = new RolloutModel(provider.name);
  const seconds = () => Date.now() / 1000;

  const abort = new AbortController();
  const imageServices = new Informer(client, resources.imageServices, { logger });
  imageServices.on({ add: (o) => model.observe(o, seconds()), update: (o) => model.observe(o, seconds()), delete: (o) => model.forget(o.metadata.namespace ?? 'default', o.metadata.name) });
  const events = new Informer(client, resources.events, { logger, fieldSelector: 'involvedObject.kind=ImageService' });
  const running = [imageServices.run(abort.signal), events.run(abort.signal)];

  const sampler = (async () => {
    while (!abort.signal.aborted) {
      const started = Date.now();
      await Promise.all(
        model.services().flatMap(({ namespace, name }) =>
          TRACKS.map(async (track) => {
            const workload = trackName({ metadata: { name } }, track);
            try {
              const o = await provider.analyse({ target: { namespace, workload, service: workload }, intervalMs: WINDOW_MS, metrics: [], signal: abort.signal });
              model.sample(namespace, name, track, {
                t: started / 1000,
                p99Ms: o.requests > 0 ? o.latencyP99Ms : null,
                errorPercent: o.requests > 0 ? o.errorRatePercent : null,
                rps: o.requests / (WINDOW_MS / 1000),
              });
            } catch {
              // a revision without pods (the idle canary) or a metrics source that failed: no point this second
            }
          }),
        ),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, SAMPLE_MS - (Date.now() - started))));
    }
  })();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://view');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (url.pathname === '/api/state') {
      model.events(events.list());
      res.writeHead(200, { ...HEADERS, 'content-type': 'application/json' }).end(JSON.stringify(model.state(seconds())));
      return;
    }
    const file = FILES[url.pathname];
    if (file === undefined) {
      res.writeHead(404, { ...HEADERS, 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    fs.readFile(file[0], (err, body) => {
      if (err) res.writeHead(500, { ...HEADERS, 'content-type': 'text/plain' }).end('cannot read the page\n');
      else res.writeHead(200, { ...HEADERS, 'content-type': file[1] }).end(body);
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  logger.info({ url }, 'rollout view listening');
  let stopped: Promise<void> | undefined;
  return {
    url,
    stop: () =>
      (stopped ??= (async () => {
        abort.abort();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await Promise.allSettled([...running, sampler]);
        client.close();
      })()),
  };
}
