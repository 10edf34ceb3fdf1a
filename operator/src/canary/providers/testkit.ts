// Test helpers shared by the provider tests: a real Prometheus process scraping loopback
// exporters, and a tiny HTTP server. Only tests and benchmarks import this file.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { MeshTelemetry } from '../../../../sandbox/mesh/telemetry.ts';
import type { SigningKeySource } from '../signing-key.ts';

export interface Served {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function serve(handler: RequestListener, host = '127.0.0.1'): Promise<Served> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A listener answering 200 with a body that never ends, written as fast as the client reads;
 * `sent()` is what it has written (what the client's hanging up bounded).
 */
export function endlessAnswer(chunk: Buffer = Buffer.alloc(64 * 1024, '[')): { listener: RequestListener; sent(): number } {
  let sent = 0;
  const listener: RequestListener = (_req, res) => {
    res.writeHead(200);
    const pump = (): void => {
      while (!res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) break;
      }
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  };
  return { listener, sent: () => sent };
}

async function freePort(): Promise<number> {
  const s = await serve((_req, res) => res.end());
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/** Starts the `prometheus` binary (PROMETHEUS_BIN or PATH) scraping the targets every second. */
export async function startPrometheus(targets: readonly string[]): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'imageops-canary-prom-'));
  const config = [
    'global: {scrape_interval: 1s, evaluation_interval: 1s}',
    'scrape_configs:',
    '  - job_name: test',
    '    scrape_interval: 1s',
    `    static_configs: [{targets: [${targets.map((t) => JSON.stringify(new URL(t).host)).join(', ')}]}]`,
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.env.PROMETHEUS_BIN ?? 'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop };
}

/** Polls until check returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One request as a service saw it. */
export interface SeenRequest {
  ms: number;
  code: number;
}

/**
 * The sandbox mesh's Istio telemetry (reporter="destination"), fed by hand. Every scrape first
 * records each workload's batch again, so every scrape interval carries the same traffic and
 * ratios (quantiles, error shares) come out exact whatever the scrape timing.
 */
export function istioExporter(namespace: string, batches: Record<string, readonly SeenRequest[]>): RequestListener {
  const telemetry = new MeshTelemetry();
  return (_req, res) => {
    for (const [workload, batch] of Object.entries(batches)) {
      for (const r of batch) {
        telemetry.record(
          {
            reporter: 'destination',
            source_workload: 'load',
            source_workload_namespace: namespace,
            source_app: 'load',
            destination_workload: workload,
            destination_workload_namespace: namespace,
            destination_app: workload,
            destination_version: 'unknown',
            destination_service: `${workload}.${namespace}.svc.cluster.local`,
            destination_service_name: workload,
            destination_service_namespace: namespace,
            destination_canonical_service: workload,
            request_protocol: 'http',
            response_code: String(r.code),
            response_flags: '-',
          },
          r.ms,
        );
      }
    }
    void telemetry.metrics().then((text) => res.end(text));
  };
}

/**
 * The image service's own request metrics, as prom-client renders them, fed by hand:
 * `record` adds requests, the listener serves /metrics.
 */
export function imageServiceMetrics(bucketsSeconds: readonly number[]): { record(requests: readonly SeenRequest[], route?: string): void; reset(): void; listener: RequestListener } {
  const registry = new Registry();
  const duration = new Histogram({
    name: 'image_service_http_request_duration_seconds',
    help: 'request duration',
    labelNames: ['route'],
    buckets: [...bucketsSeconds],
    registers: [registry],
  });
  const total = new Counter({ name: 'image_service_http_requests_total', help: 'requests', labelNames: ['route', 'code'], registers: [registry] });
  collectDefaultMetrics({ register: registry });
  return {
    record(requests, route = 'image') {
      for (const r of requests) {
        duration.observe({ route }, r.ms / 1000);
        total.inc({ route, code: String(r.code) });
      }
    },
    reset() {
      duration.reset();
      total.reset();
    },
    listener: (req, res) => {
      if (req.url !== '/metrics') {
        res.statusCode = 404;
        res.end();
        return;
      }
      void registry.metrics().then((text) => {
        res.setHeader('content-type', registry.contentType);
        res.end(text);
      });
    },
  };
}

/** n copies of a request. */
export function times(n: number, request: SeenRequest): SeenRequest[] {
  return Array.from({ length: n }, () => request);
}

/** For tests whose ImageServices have no signed URLs: the output check never asks for a key. */
export const noSigningKey: SigningKeySource = async (namespace, secret) => {
  throw new Error(`this test reads no Secret (asked for ${namespace}/${secret})`);
};
