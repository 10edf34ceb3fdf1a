import { z } from 'zod';
import { normalizeUrl, type TenantPolicy } from './policy.ts';

/**
 * The operator's configuration, from its environment (the Helm chart sets these). Every value is
 * validated at start; a bad one stops the process with one line naming the variable.
 */

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:8080 or :8080')
  .transform((v) => {
    const i = v.lastIndexOf(':');
    const host = v.slice(0, i).replace(/^\[|\]$/g, '');
    return { host: host === '' ? '0.0.0.0' : host, port: Number(v.slice(i + 1)) };
  })
  .refine((a) => a.port <= 65535, 'port must be at most 65535');

/** A comma-separated list, blanks dropped, each entry checked by `item`. */
const list = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(item));

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });

const dnsName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name');

export const ConfigSchema = z.object({
  WATCH_NAMESPACES: list(dnsName),
  LEADER_ELECTION: bool.default(false),
  LEASE_NAME: dnsName.default('imageops-operator'),
  LEASE_NAMESPACE: dnsName.optional(),
  LEASE_DURATION_SECONDS: z.coerce.number().int().min(2).max(3600).default(15),
  POD_NAME: z.string().min(1).optional(),
  METRICS_ADDRESS: hostPort.default({ host: '0.0.0.0', port: 8080 }),
  PROMETHEUS_URL: httpUrl.optional().or(z.literal('').transform(() => undefined)),
  /** Further Prometheus base URLs an ImageService may name; PROMETHEUS_URL always may. */
  PROMETHEUS_ALLOWED_URLS: list(httpUrl),
  /** Hook URLs an ImageService may name in spec.canary.webhooks. */
  WEBHOOK_ALLOWED_URLS: list(httpUrl),
  ALLOW_HOST_PATH: bool.default(false),
  ALLOW_CROSS_NAMESPACE_HOSTS: bool.default(false),
  ALLOWED_GATEWAYS: list(z.string().regex(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?))$/, 'entries must be namespace/name, namespace/* or *')),
  ALLOWED_IMAGE_REGISTRIES: list(
    z.string().regex(/^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?(\/[a-z0-9]([-a-z0-9._/]*[a-z0-9])?)?$/, 'entries must be a registry host, optionally with a path: registry.example.com/team'),
  ),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKERS: z.coerce.number().int().min(1).max(64).default(4),
  /** How often every ImageService is reconciled even when nothing changed. */
  RESYNC_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
});

export interface Config {
  watchNamespaces: string[];
  leaderElection: false | { name: string; namespace: string; identity: string; leaseDurationMs: number };
  metrics: { host: string; port: number };
  prometheusUrl: string | undefined;
  policy: TenantPolicy;
  logLevel: z.infer<typeof ConfigSchema>['LOG_LEVEL'];
  workers: number;
  resyncMs: number;
}

export class ConfigError extends Error {}

/** The namespace the pod runs in, when in a cluster. */
export type NamespaceProbe = () => string | undefined;

export function loadConfig(env: NodeJS.ProcessEnv, podNamespace: NamespaceProbe = () => undefined): Config {
  const set = Object.fromEntries(Object.entries(env).filter(([k, v]) => k in ConfigSchema.shape && v !== undefined));
  const parsed = ConfigSchema.safeParse(set);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`${variable}=${JSON.stringify(env[variable] ?? '')}: ${issue?.message ?? 'invalid'}`);
  }
  const c = parsed.data;
  let leaderElection: Config['leaderElection'] = false;
  if (c.LEADER_ELECTION) {
    const namespace = c.LEASE_NAMESPACE ?? podNamespace();
    if (namespace === undefined) {
      throw new ConfigError('LEASE_NAMESPACE: required with LEADER_ELECTION=true outside a cluster');
    }
    leaderElection = {
      name: c.LEASE_NAME,
      namespace,
      identity: c.POD_NAME ?? `${hostnameOr('operator')}-${process.pid}`,
      leaseDurationMs: c.LEASE_DURATION_SECONDS * 1000,
    };
  }
  return {
    watchNamespaces: c.WATCH_NAMESPACES,
    leaderElection,
    metrics: c.METRICS_ADDRESS,
    prometheusUrl: c.PROMETHEUS_URL,
    policy: {
      prometheusUrls: [...new Set([...(c.PROMETHEUS_URL === undefined ? [] : [c.PROMETHEUS_URL]), ...c.PROMETHEUS_ALLOWED_URLS].map(normalizeUrl))],
      webhookUrls: [...new Set(c.WEBHOOK_ALLOWED_URLS.map(normalizeUrl))],
      allowHostPath: c.ALLOW_HOST_PATH,
      allowCrossNamespaceHosts: c.ALLOW_CROSS_NAMESPACE_HOSTS,
      allowedGateways: c.ALLOWED_GATEWAYS,
      imageRegistries: c.ALLOWED_IMAGE_REGISTRIES,
    },
    logLevel: c.LOG_LEVEL,
    workers: c.WORKERS,
    resyncMs: c.RESYNC_SECONDS * 1000,
  };
}

function hostnameOr(fallback: string): string {
  return process.env['HOSTNAME'] || fallback;
}
