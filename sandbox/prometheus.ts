// Real Prometheus for the sandbox: found on PATH or at $PROMETHEUS_BIN, run with a generated
// config that scrapes the mesh and every annotated pod each second. Pod targets go through a
// file_sd file rewritten on every pod change, so Prometheus follows pods without a reload; the
// sandbox's own processes that serve metrics (the operator) go through a second one.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import type { Informer } from '../operator/src/kube/informer.ts';
import { Daemon, freePort } from './daemon.ts';
import type { Pod } from './kube/types.ts';

/** The prometheus binary: $PROMETHEUS_BIN, else the first `prometheus` on PATH. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PROMETHEUS_BIN !== undefined && env.PROMETHEUS_BIN !== '') return env.PROMETHEUS_BIN;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'prometheus');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** file_sd groups for running pods annotated prometheus.io/scrape=true (port and path from their annotations). */
export function podTargets(pods: Pod[]): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const pod of pods) {
    const a = pod.metadata.annotations ?? {};
    if (a['prometheus.io/scrape'] !== 'true' || pod.metadata.deletionTimestamp !== undefined) continue;
    const ip = pod.status?.podIP;
    if (ip === undefined || pod.status?.phase !== 'Running') continue;
    const port = a['prometheus.io/port'] ?? String(pod.spec.containers[0]?.ports?.[0]?.containerPort ?? '');
    if (!/^\d+$/.test(port)) continue;
    const labels: Record<string, string> = { pod: pod.metadata.name, namespace: pod.metadata.namespace ?? 'default', __metrics_path__: a['prometheus.io/path'] ?? '/metrics' };
    const app = pod.metadata.labels?.['app.kubernetes.io/name'] ?? pod.metadata.labels?.app;
    if (app !== undefined) labels.app = app;
    groups.push({ targets: [`${ip}:${port}`], labels });
  }
  return groups.sort((x, y) => (x.targets[0] ?? '').localeCompare(y.targets[0] ?? ''));
}

export function prometheusConfig(meshTarget: string, meshPath: string, podsFile: string, componentsFile: string): string {
  return stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      { job_name: 'mesh', metrics_path: meshPath, static_configs: [{ targets: [meshTarget] }] },
      { job_name: 'pods', file_sd_configs: [{ files: [podsFile], refresh_interval: '1s' }] },
      { job_name: 'components', file_sd_configs: [{ files: [componentsFile], refresh_interval: '1s' }] },
    ],
  });
}

export interface PrometheusOptions {
  bin: string;
  /** The pods to scrape and their changes (the sandbox's pod informer). */
  pods: Pick<Informer<Pod>, 'list' | 'on'>;
  /** The mesh's metrics URL (http://127.0.0.1:PORT/stats/prometheus). */
  meshMetricsUrl: string;
  stateDir: string;
  logger: Logger;
}

export class Prometheus {
  readonly #o: PrometheusOptions;
  readonly #dir: string;
  readonly #podsFile: string;
  readonly #componentsFile: string;
  /** Targets of the sandbox's own processes, by component name. */
  readonly #components = new Map<string, TargetGroup>();
  readonly #pods: Pick<Informer<Pod>, 'list' | 'on'>;
  #daemon: Daemon | undefined;
  #lastTargets = '';
  #started = false;
  url = '';

  constructor(options: PrometheusOptions) {
    this.#o = options;
    this.#dir = path.join(options.stateDir, 'prometheus');
    this.#podsFile = path.join(this.#dir, 'pods.json');
    this.#componentsFile = path.join(this.#dir, 'components.json');
    this.#pods = options.pods;
    const write = (): void => this.#writeTargets();
    this.#pods.on({ add: write, update: write, delete: write });
  }

  get pid(): number | undefined {
    return this.#daemon?.pid;
  }

  #writeTargets(): void {
    if (!this.#started) return;
    const text = JSON.stringify(podTargets(this.#pods.list()), null, 1);
    if (text === this.#lastTargets) return;
    this.#lastTargets = text;
    writeAtomically(this.#podsFile, text);
  }

  /**
   * Scrapes a process of the sandbox's at `url` (its metrics path included), labelled
   * `component`, until the returned function is called.
   */
  scrape(component: string, url: string): () => void {
    const u = new URL(url);
    const group: TargetGroup = { targets: [u.host], labels: { component, __metrics_path__: u.pathname === '/' ? '/metrics' : u.pathname } };
    this.#components.set(component, group);
    this.#writeComponents();
    return () => {
      if (this.#components.get(component) !== group) return;
      this.#components.delete(component);
      this.#writeComponents();
    };
  }

  #writeComponents(): void {
    if (this.#started) writeAtomically(this.#componentsFile, JSON.stringify([...this.#components.values()], null, 1));
  }

  async start(): Promise<string> {
    fs.mkdirSync(path.join(this.#dir, 'data'), { recursive: true });
    this.#started = true;
    this.#writeTargets();
    this.#writeComponents();
    const mesh = new URL(this.#o.meshMetricsUrl);
    fs.writeFileSync(path.join(this.#dir, 'prometheus.yml'), prometheusConfig(mesh.host, mesh.pathname, this.#podsFile, this.#componentsFile));
    let lastError: unknown;
    // A free port can be taken between the probe and Prometheus binding it: try another.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      try {
        this.#daemon = await Daemon.start({
          name: `Prometheus (${this.#o.bin})`,
          bin: this.#o.bin,
          args: [
            `--config.file=${path.join(this.#dir, 'prometheus.yml')}`,
            `--storage.tsdb.path=${path.join(this.#dir, 'data')}`,
            `--web.listen-address=127.0.0.1:${port}`,
            '--storage.tsdb.retention.time=1d',
            '--log.level=warn',
          ],
          stateDir: this.#o.stateDir,
          logFile: path.join(this.#dir, 'prometheus.log'),
          ready: async () => (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok,
          readyTimeoutMs: 20_000,
        });
        this.url = url;
        return url;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async stop(): Promise<void> {
    this.#started = false;
    await this.#daemon?.stop();
  }
}

/** Prometheus never reads a half-written file. */
function writeAtomically(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}
