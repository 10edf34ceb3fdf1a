import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { DiffStore } from './canary/diffs.ts';
import { canaryMeasure } from './canary/measure.ts';
import { kubeEndpoints } from './canary/providers/endpoints.ts';
import { Providers } from './canary/providers/select.ts';
import { kubeSigningKey } from './canary/signing-key.ts';
import { checkReady, parseTarget } from './check.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { KubeClient } from './kube/client.ts';
import { serviceAccountDir } from './kube/kubeconfig.ts';
import { Manager } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';
import type { Measure } from './rollout.ts';

/**
 * `npm run operator`: the operator against $KUBECONFIG or the in-cluster config, serving
 * /metrics, /healthz, /readyz and the output check's diffs (canary/diffs.ts) on METRICS_ADDRESS. SIGTERM or SIGINT stops it gracefully:
 * readiness goes false, in-flight reconciles are cancelled, the lease is released.
 */

export interface OperatorHandle {
  manager: Manager;
  metrics: OperatorMetrics;
  /** The address /metrics, /healthz and /readyz are served on. */
  url: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  client?: KubeClient;
  logger?: Logger;
  measure?: Measure;
  /** Where the output check keeps its visual diffs, served on the metrics port. */
  diffs?: DiffStore;
}

export async function startOperator(config: Config, options: StartOptions = {}): Promise<OperatorHandle> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { component: 'imageops-operator' } });
  const client = options.client ?? (await KubeClient.fromDefault());
  const metrics = new OperatorMetrics();
  const diffs = options.diffs ?? new DiffStore();
  const manager = new Manager({
    client,
    logger,
    metrics,
    namespaces: config.watchNamespaces,
    workers: config.workers,
    resyncMs: config.resyncMs,
    leaderElection: config.leaderElection,
    policy: config.policy,
    measure: options.measure ?? canaryMeasure(new Providers({ prometheusUrl: config.prometheusUrl, endpoints: kubeEndpoints(client), signingKey: kubeSigningKey(client) }), diffs),
  });

  let stopping = false;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const diff = diffs.get(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (diff !== undefined) {
      res.writeHead(200, { 'content-type': 'image/png', 'x-content-type-options': 'nosniff' }).end(diff);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const ready = !stopping && manager.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ok' : 'not ready', leader: manager.leading() }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"no such route"}}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.port, config.metrics.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ metrics: `${host}:${address.port}`, namespaces: config.watchNamespaces, leaderElection: Boolean(config.leaderElection) }, 'operator starting');
  // not awaited: until the caches are synced (the API server may be unreachable for a while)
  // /readyz says so, and a SIGTERM meanwhile still stops the operator cleanly
  manager.start().catch((err: unknown) => logger.error({ err: String(err) }, 'operator failed to start'));

  return {
    manager,
    metrics,
    url: `http://${host}:${address.port}`,
    async stop() {
      if (stopping) return;
      stopping = true;
      await manager.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (options.client === undefined) client.close();
      logger.info('operator stopped');
    },
  };
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(join(serviceAccountDir(), 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `check-ready NAMESPACE/SERVICE` (the chart's `helm test` hook): exit 0 when the operator behind the Service is ready. */
async function check(arg: string | undefined): Promise<void> {
  const target = parseTarget(arg);
  if (target === undefined) {
    process.stderr.write(`imageops-operator: check-ready needs NAMESPACE/SERVICE, not "${arg ?? ''}"\n`);
    process.exit(2);
  }
  const client = await KubeClient.fromDefault();
  const result = await checkReady(target, kubeEndpoints(client)).finally(() => client.close());
  process.stdout.write(`${result.lines.join('\n')}\n`);
  process.exit(result.ok ? 0 : 1);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'check-ready') return check(process.argv[3]);
  let config: Config;
  try {
    config = loadConfig(process.env, inClusterNamespace);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`imageops-operator: ${err.message}\n`);
    process.exit(2);
  }
  const handle = await startOperator(config);
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(1);
    process.stderr.write(`imageops-operator: ${signal}: shutting down\n`);
    handle.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`imageops-operator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
