import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * Where the API server is and how to authenticate to it, as kubectl finds it: $KUBECONFIG (a
 * list of files, merged, first wins), else ~/.kube/config, else the pod's service account.
 * The common cases (certificates, tokens, token files, basic auth) are read here; only a user
 * with an `exec` or `auth-provider` plugin loads @kubernetes/client-node, which implements
 * them, because that library alone costs the process more memory than the rest of the operator
 * (docs/benchmarks.md, "Operator: 500 ImageServices").
 */

export interface Credentials {
  authorization?: string;
  /** user:password for basic auth. */
  auth?: string;
}

export interface Connection {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** Called per request: tokens may rotate. */
  credentials(): Promise<Credentials>;
}

const ClusterSchema = z.looseObject({
  server: z.string(),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
});
const UserSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: z.unknown().optional(),
  'auth-provider': z.unknown().optional(),
});
const KubeconfigSchema = z.looseObject({
  'current-context': z.string().optional(),
  clusters: z.array(z.looseObject({ name: z.string(), cluster: ClusterSchema })).nullish(),
  users: z.array(z.looseObject({ name: z.string(), user: UserSchema.nullish() })).nullish(),
  contexts: z.array(z.looseObject({ name: z.string(), context: z.looseObject({ cluster: z.string(), user: z.string().optional() }) })).nullish(),
});
type Kubeconfig = z.infer<typeof KubeconfigSchema>;

/**
 * The pod's service-account directory (token, ca.crt, namespace). $SERVICE_ACCOUNT_DIR moves it:
 * the sandbox's kubelet, which has no mount namespaces, points it at the projected volume.
 */
export function serviceAccountDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['SERVICE_ACCOUNT_DIR'] || '/var/run/secrets/kubernetes.io/serviceaccount';
}

export async function loadConnection(env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const files = (env['KUBECONFIG'] ?? '').split(':').filter((f) => f !== '');
  if (files.length > 0) {
    const present = files.filter((f) => existsSync(f));
    if (present.length === 0) throw new Error(`$KUBECONFIG=${env['KUBECONFIG']}: no such file`);
    return fromFiles(present);
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFiles([home]);
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']) return inCluster(env);
  throw new Error('no kubeconfig: set $KUBECONFIG, create ~/.kube/config, or run in a cluster');
}

/** The connection a kubeconfig document describes; relative file paths resolve against baseDir. */
export async function fromKubeconfig(text: string, baseDir: string, origin = 'kubeconfig'): Promise<Connection> {
  return resolve([{ config: parseConfig(text, origin), baseDir, text, origin }]);
}

function parseConfig(text: string, origin: string): Kubeconfig {
  const parsed = KubeconfigSchema.safeParse(parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${origin}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

async function fromFiles(files: string[]): Promise<Connection> {
  return resolve(
    files.map((f) => {
      const text = readFileSync(f, 'utf8');
      return { config: parseConfig(text, f), baseDir: dirname(f), text, origin: f };
    }),
  );
}

type Source = { config: Kubeconfig; baseDir: string; text: string; origin: string };

/** Merges like kubectl: the first file that sets a name (or the current context) wins. */
async function resolve(sources: Source[]): Promise<Connection> {
  const where = sources.map((s) => s.origin).join(':');
  const first = <T>(pick: (s: Source) => T | undefined): { value: T; source: Source } | undefined => {
    for (const s of sources) {
      const value = pick(s);
      if (value !== undefined) return { value, source: s };
    }
    return undefined;
  };
  const current = first((s) => s.config['current-context'] || undefined)?.value;
  if (current === undefined) throw new Error(`${where}: no current-context`);
  const context = first((s) => s.config.contexts?.find((c) => c.name === current)?.context)?.value;
  if (context === undefined) throw new Error(`${where}: context ${current} not found`);
  const cluster = first((s) => s.config.clusters?.find((c) => c.name === context.cluster)?.cluster);
  if (cluster === undefined) throw new Error(`${where}: cluster ${context.cluster} not found`);
  const user = context.user ? first((s) => s.config.users?.find((u) => u.name === context.user)?.user ?? undefined) : undefined;
  const c = cluster.value;
  const u = user?.value ?? {};
  const file = (base: string, path: string | undefined) => (path === undefined ? undefined : readFileSync(isAbsolute(path) ? path : join(base, path)));
  const data = (d: string | undefined) => (d === undefined ? undefined : Buffer.from(d, 'base64'));
  const userBase = user?.source.baseDir ?? cluster.source.baseDir;
  const conn = {
    server: new URL(c.server),
    ca: data(c['certificate-authority-data']) ?? file(cluster.source.baseDir, c['certificate-authority']),
    cert: data(u['client-certificate-data']) ?? file(userBase, u['client-certificate']),
    key: data(u['client-key-data']) ?? file(userBase, u['client-key']),
    ...(c['insecure-skip-tls-verify'] ? { insecureSkipTlsVerify: true } : {}),
    ...(c['tls-server-name'] ? { tlsServerName: c['tls-server-name'] } : {}),
  };
  let credentials: () => Promise<Credentials>;
  if (u.exec !== undefined || u['auth-provider'] !== undefined) {
    credentials = await pluginCredentials(user?.source ?? cluster.source, current);
  } else if (u.token !== undefined) {
    const header = { authorization: `Bearer ${u.token}` };
    credentials = async () => header;
  } else if (u.tokenFile !== undefined) {
    credentials = rotatingToken(isAbsolute(u.tokenFile) ? u.tokenFile : join(userBase, u.tokenFile));
  } else if (u.username !== undefined) {
    const basic = { auth: `${u.username}:${u.password ?? ''}` };
    credentials = async () => basic;
  } else {
    credentials = async () => ({});
  }
  return { ...withoutUndefined(conn), credentials };
}

function inCluster(env: NodeJS.ProcessEnv): Connection {
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${env['KUBERNETES_SERVICE_PORT']}`),
    ca: readFileSync(join(serviceAccountDir(env), 'ca.crt')),
    credentials: rotatingToken(join(serviceAccountDir(env), 'token')),
  };
}

/** A bearer token from a file the kubelet rotates: re-read once a minute. */
function rotatingToken(path: string): () => Promise<Credentials> {
  let cached: { header: Credentials; at: number } | undefined;
  return async () => {
    if (cached === undefined || Date.now() - cached.at > 60_000) {
      cached = { header: { authorization: `Bearer ${readFileSync(path, 'utf8').trim()}` }, at: Date.now() };
    }
    return cached.header;
  };
}

async function pluginCredentials(source: Source, context: string): Promise<() => Promise<Credentials>> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromString(source.text);
  kc.setCurrentContext(context);
  return async () => {
    const opts: { headers?: Record<string, string> } = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    const authorization = opts.headers?.['Authorization'] ?? opts.headers?.['authorization'];
    return authorization === undefined ? {} : { authorization };
  };
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
