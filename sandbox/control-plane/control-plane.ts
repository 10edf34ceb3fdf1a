// The real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC and the Node
// authorizer, service-account tokens, the default admission plugins and NodeRestriction),
// kube-controller-manager (every default controller, each with its own service account) and
// kube-scheduler, built from upstream sources by build.sh. What envtest runs, plus the two
// components a cluster that runs pods needs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Connection } from '../../operator/src/kube/kubeconfig.ts';
import { kubeconfigYaml } from '../apiserver/kubeconfig.ts';
import { Daemon, freePort } from '../daemon.ts';
import { FRONT_PROXY_CLIENT, type Identity, makePki, type Pki, SERVICE_CLUSTER_IP_RANGE } from './pki.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ControlPlaneBuild {
  /** Holds bin/ (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, helm) and crds/. */
  dir: string;
  bin(name: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl' | 'etcd' | 'helm'): string;
  /** Upstream CRDs: istio.yaml, gateway-api.yaml, servicemonitor.yaml. */
  crd(name: 'istio' | 'gateway-api' | 'servicemonitor'): string;
}

function built(dir: string): ControlPlaneBuild {
  return { dir, bin: (name) => path.join(dir, 'bin', name), crd: (name) => path.join(dir, 'crds', `${name}.yaml`) };
}

/**
 * Builds (or finds in the cache) the upstream binaries, its progress on stderr; a failure throws
 * one line naming what failed. $IMAGEOPS_CONTROL_PLANE_DIR names a build already made (the tests'
 * global setup sets it).
 */
export async function buildControlPlane(env: NodeJS.ProcessEnv = process.env): Promise<ControlPlaneBuild> {
  const given = env['IMAGEOPS_CONTROL_PLANE_DIR'];
  if (given) return built(given);
  const child = spawn('bash', [path.join(here, 'build.sh')], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let last = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  createInterface({ input: child.stderr }).on('line', (line) => {
    process.stderr.write(`${line}\n`);
    if (line.startsWith('control-plane build:')) last = line;
  });
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('close', (c, signal) => resolve(c ?? signal ?? 'killed'));
  });
  if (code !== 0) throw new Error(last || `the control-plane build (sandbox/control-plane/build.sh) failed: ${code}`);
  return built(stdout.trim().split('\n').at(-1) ?? '');
}

export const ADMIN_USER = 'imageops-admin';

/** One request as kube-apiserver's audit log records it, with the authorizer's verdict. */
export interface AuditedDecision {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  allowed: boolean;
  /**
   * The message of an admission plugin that refused a request the authorizer allowed. Checks an
   * admission plugin makes itself (OwnerReferencesPermissionEnforcement's update on the owner's
   * finalizers) are audited only through such a refusal.
   */
  admissionRefusal?: string;
}

const AuditEvent = z.looseObject({
  auditID: z.string(),
  verb: z.string(),
  user: z.looseObject({ username: z.string().optional() }),
  objectRef: z
    .looseObject({ apiGroup: z.string().optional(), resource: z.string().optional(), subresource: z.string().optional(), namespace: z.string().optional(), name: z.string().optional() })
    .optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  responseStatus: z.looseObject({ code: z.number().optional(), message: z.string().optional() }).optional(),
});

/** The audited decisions for `user` in an audit log (JSON lines; one per request, watches logged twice). */
export function auditedDecisions(log: string, user: string): AuditedDecision[] {
  const seen = new Set<string>();
  const out: AuditedDecision[] = [];
  for (const line of log.split('\n')) {
    if (line === '') continue;
    const e = AuditEvent.safeParse(JSON.parse(line));
    if (!e.success || e.data.user.username !== user || e.data.objectRef?.resource === undefined || seen.has(e.data.auditID)) continue;
    const decision = e.data.annotations?.['authorization.k8s.io/decision'];
    if (decision === undefined) continue;
    seen.add(e.data.auditID);
    const r = e.data.objectRef;
    const admissionRefusal = decision === 'allow' && e.data.responseStatus?.code === 403 ? e.data.responseStatus.message : undefined;
    out.push({
      verb: e.data.verb,
      apiGroup: r.apiGroup ?? '',
      resource: r.resource ?? '',
      subresource: r.subresource ?? '',
      namespace: r.namespace ?? '',
      name: r.name ?? '',
      allowed: decision === 'allow',
      ...(admissionRefusal !== undefined ? { admissionRefusal } : {}),
    });
  }
  return out;
}

// Requests of service accounts (the operator's, and the controller manager's), metadata only.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`;

/** The user a node's kubelet authenticates as, which the Node authorizer recognises. */
export const nodeUser = (node: string): string => `system:node:${node}`;

export interface ControlPlaneOptions {
  stateDir: string;
  /** Nodes whose kubelets get an identity (the kubelet registers them itself). */
  nodes: string[];
  logger: Logger;
  build?: ControlPlaneBuild;
  /**
   * The address pods reach the API server at (the pod network's gateway, relayed to loopback):
   * advertised, so the `kubernetes` Service's endpoint names it, and in the serving certificate.
   */
  advertiseAddress?: string;
}

export interface ControlPlane {
  url: string;
  /** kube-apiserver's port (on 127.0.0.1, and on the advertised address through the pod network's relay). */
  port: number;
  build: ControlPlaneBuild;
  pki: Pki;
  /** A connection as a user: the admin (system:masters) or a node's kubelet. */
  connection(user: string): Connection;
  /** A kubeconfig as one of the identities, or with a bearer token (e.g. a ServiceAccount's from the TokenRequest API). */
  kubeconfig(identity: string | { token: string }, namespace?: string): string;
  /** The authorization decisions kube-apiserver audited for a ServiceAccount user, in order. */
  decisions(user: string): AuditedDecision[];
  pids(): number[];
  /** Compacts etcd to its current revision, as kube-apiserver does every 5 minutes: older resourceVersions are gone. */
  compact(): Promise<void>;
  stop(): Promise<void>;
}

/** etcd's JSON gateway: the current revision, then a physical compaction to it. */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const post = async (rpc: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${etcdUrl}/v3/kv/${rpc}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`etcd ${rpc}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const range = await post('range', { key: Buffer.from('/').toString('base64'), count_only: true });
  const revision = (range['header'] as { revision?: string } | undefined)?.revision;
  if (revision === undefined) throw new Error('etcd range: no revision in the answer');
  await post('compaction', { revision, physical: true });
}

/** The status of a GET; without a CA, the server's self-signed certificate is taken as it is. */
function get(url: string, ca: Buffer | undefined, token?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ...(ca ? { ca } : { rejectUnauthorized: false }), timeout: 2000, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const build = options.build ?? (await buildControlPlane());
  const dir = path.join(options.stateDir, 'control-plane');
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const identities: Identity[] = [
    { user: ADMIN_USER, groups: ['system:masters'] },
    { user: 'system:kube-controller-manager', groups: [] },
    { user: 'system:kube-scheduler', groups: [] },
    ...options.nodes.map((n) => ({ user: nodeUser(n), groups: ['system:nodes'] })),
  ];
  const advertise = options.advertiseAddress ?? '127.0.0.1';
  const pki = makePki(path.join(dir, 'pki'), identities, options.advertiseAddress ? [options.advertiseAddress] : []);
  const daemons: Daemon[] = [];
  const stop = async (): Promise<void> => {
    for (const d of daemons.splice(0).reverse()) await d.stop(d.name === 'etcd' ? 5000 : 10_000);
  };
  try {
    const [etcdPort, peerPort, apiPort, kcmPort, schedulerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdData = path.join(dir, 'etcd');
    daemons.push(
      await Daemon.start({
        name: 'etcd',
        bin: build.bin('etcd'),
        args: [
          `--data-dir=${etcdData}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
        stateDir: options.stateDir,
        logFile: path.join(logs, 'etcd.log'),
        ready: async () => (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(1000) })).ok,
      }),
    );

    const url = `https://127.0.0.1:${apiPort}`;
    const admin = pki.tokens.get(ADMIN_USER) ?? '';
    const auditPolicy = path.join(dir, 'audit-policy.yaml');
    const auditLog = path.join(logs, 'audit.log');
    fs.writeFileSync(auditPolicy, AUDIT_POLICY);
    daemons.push(
      await Daemon.start({
        name: 'kube-apiserver',
        bin: build.bin('kube-apiserver'),
        args: [
          `--etcd-servers=${etcdUrl}`,
          `--secure-port=${apiPort}`,
          '--bind-address=127.0.0.1',
          `--advertise-address=${advertise}`,
          `--cert-dir=${pki.dir}`,
          `--tls-cert-file=${pki.apiserver.certFile}`,
          `--tls-private-key-file=${pki.apiserver.keyFile}`,
          `--client-ca-file=${pki.caFile}`,
          `--token-auth-file=${pki.tokenFile}`,
          // OwnerReferencesPermissionEnforcement, as OpenShift runs it: blockOwnerDeletion needs
          // update on the owner's finalizers, which the chart's RBAC grants.
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement',
          '--allow-privileged=true',
          `--audit-policy-file=${auditPolicy}`,
          `--audit-log-path=${auditLog}`,
          '--audit-log-format=json',
          '--audit-log-mode=blocking',
          '--audit-log-maxsize=200',
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          `--service-account-issuer=${url}`,
          `--service-account-key-file=${pki.serviceAccount.publicFile}`,
          `--service-account-signing-key-file=${pki.serviceAccount.keyFile}`,
          `--kubelet-certificate-authority=${pki.caFile}`,
          '--kubelet-preferred-address-types=InternalIP',
          // The aggregation layer, for the resource metrics API (sandbox/metrics/): kube-apiserver
          // authenticates to an APIService's server with this client certificate and names the
          // user in these headers.
          `--requestheader-client-ca-file=${pki.frontProxy.caFile}`,
          `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          `--proxy-client-cert-file=${pki.frontProxy.client.certFile}`,
          `--proxy-client-key-file=${pki.frontProxy.client.keyFile}`,
          '--profiling=false',
          '--v=1',
        ],
        stateDir: options.stateDir,
        logFile: path.join(logs, 'kube-apiserver.log'),
        ready: async () => (await get(`${url}/readyz`, pki.ca, admin)) === 200,
        readyTimeoutMs: 90_000,
      }),
    );

    const kubeconfigOf = (user: string): string => {
      const file = path.join(dir, `${user.replace(/[^a-z0-9-]/g, '-')}.kubeconfig`);
      fs.writeFileSync(file, kubeconfigYaml(url, { token: pki.tokens.get(user) ?? '', ca: pki.ca }), { mode: 0o600 });
      return file;
    };
    const kcm = kubeconfigOf('system:kube-controller-manager');
    const scheduler = kubeconfigOf('system:kube-scheduler');
    const delegated = (kubeconfig: string) => [`--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`];
    const started = await Promise.all([
      Daemon.start({
        name: 'kube-controller-manager',
        bin: build.bin('kube-controller-manager'),
        args: [
          ...delegated(kcm),
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${pki.serviceAccount.keyFile}`,
          `--root-ca-file=${pki.caFile}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          // The sandbox's nodes answer from one machine: an image service's Deployment scaled by
          // an HPA must see metrics soon after its pods start.
          '--horizontal-pod-autoscaler-sync-period=5s',
          '--profiling=false',
          '--v=1',
        ],
        stateDir: options.stateDir,
        logFile: path.join(logs, 'kube-controller-manager.log'),
        ready: async () => (await get(`https://127.0.0.1:${kcmPort}/healthz`, undefined)) === 200,
        readyTimeoutMs: 60_000,
      }),
      Daemon.start({
        name: 'kube-scheduler',
        bin: build.bin('kube-scheduler'),
        args: [...delegated(scheduler), '--bind-address=127.0.0.1', `--secure-port=${schedulerPort}`, '--leader-elect=false', '--profiling=false', '--v=1'],
        stateDir: options.stateDir,
        logFile: path.join(logs, 'kube-scheduler.log'),
        ready: async () => (await get(`https://127.0.0.1:${schedulerPort}/healthz`, undefined)) === 200,
        readyTimeoutMs: 60_000,
      }),
    ]);
    daemons.push(...started);

    const connection = (user: string): Connection => {
      const token = pki.tokens.get(user);
      if (token === undefined) throw new Error(`the sandbox's control plane has no identity ${user}`);
      return { server: new URL(url), ca: pki.ca, credentials: async () => ({ authorization: `Bearer ${token}` }) };
    };
    return {
      url,
      port: apiPort,
      build,
      pki,
      connection,
      kubeconfig: (identity, namespace) =>
        kubeconfigYaml(url, { token: typeof identity === 'string' ? (pki.tokens.get(identity) ?? '') : identity.token, ca: pki.ca, ...(namespace ? { namespace } : {}) }),
      decisions: (user) => auditedDecisions(fs.existsSync(auditLog) ? fs.readFileSync(auditLog, 'utf8') : '', user),
      pids: () => daemons.flatMap((d) => (d.pid !== undefined && !d.exited ? [d.pid] : [])),
      compact: () => compactEtcd(etcdUrl),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
