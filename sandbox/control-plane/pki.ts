// The real control plane's credentials, made fresh at every start: a CA (openssl), serving
// certificates it signs for kube-apiserver and the kubelets, the service-account signing key,
// and a static token per identity (kube-apiserver's --token-auth-file), so every client of the
// sandbox authenticates as a distinct user that RBAC and the Node authorizer judge.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface Identity {
  user: string;
  groups: string[];
}

export interface Pki {
  dir: string;
  caFile: string;
  ca: Buffer;
  apiserver: { certFile: string; keyFile: string };
  kubelet: { certFile: string; keyFile: string; cert: Buffer; key: Buffer };
  /** The aggregation layer: the CA of its client certificates, and kube-apiserver's (--proxy-client-cert-file). */
  frontProxy: { caFile: string; ca: Buffer; client: { certFile: string; keyFile: string } };
  /** The metrics APIService's serving certificate (sandbox/metrics/server.ts). */
  metricsServer: { cert: Buffer; key: Buffer };
  serviceAccount: { keyFile: string; publicFile: string };
  tokenFile: string;
  /** Bearer token by user name. */
  tokens: Map<string, string>;
}

/** The Service IP range's first address: the `kubernetes` Service, which in-cluster clients dial. */
export const KUBERNETES_SERVICE_IP = '10.0.0.1';
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/16';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the real control plane needs openssl (apt-get install -y openssl) to make its certificates');
    throw new Error(
      `openssl ${args[0]} failed: ${
        String(e.stderr ?? e.message)
          .trim()
          .split('\n')[0]
      }`,
    );
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A key and a certificate for `name`, signed by the CA `ca` (ca.crt/ca.key, front-proxy-ca.crt/...). */
function signedCert(dir: string, name: string, ca: string, ext: string[]): { certFile: string; keyFile: string } {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, `${ext.join('\n')}\n`);
  openssl(['req', '-new', ...EC, '-keyout', keyFile, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', certFile, '-days', '365', '-extfile', extFile], dir);
  return { certFile, keyFile };
}

function servingCert(dir: string, name: string, sans: string[]): { certFile: string; keyFile: string } {
  return signedCert(dir, name, 'ca', [`subjectAltName=${sans.join(',')}`, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']);
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-new',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=imageops-sandbox-${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

/** The aggregator's client certificate's name (kube-apiserver's --requestheader-allowed-names). */
export const FRONT_PROXY_CLIENT = 'front-proxy-client';
/** The Service the metrics APIService names; its serving certificate is for `<name>.<namespace>.svc`, as the aggregator verifies it. */
export const METRICS_SERVICE = { namespace: 'kube-system', name: 'metrics-server' };

/** `apiserverIPs`: more addresses the API server is reached at (the pods' gateway). */
export function makePki(dir: string, identities: Identity[], apiserverIPs: string[] = []): Pki {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  makeCa(dir, 'ca');
  // The aggregation layer's own CA, apart from the cluster's, as kubeadm makes it: a certificate
  // it signs lets kube-apiserver assert any user to the servers it proxies to.
  makeCa(dir, 'front-proxy-ca');
  const frontProxyClient = signedCert(dir, FRONT_PROXY_CLIENT, 'front-proxy-ca', ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']);
  const metrics = servingCert(dir, 'metrics-server', [`DNS:${METRICS_SERVICE.name}.${METRICS_SERVICE.namespace}.svc`, 'IP:127.0.0.1']);
  const apiserver = servingCert(dir, 'kube-apiserver', [
    'IP:127.0.0.1',
    `IP:${KUBERNETES_SERVICE_IP}`,
    ...apiserverIPs.map((ip) => `IP:${ip}`),
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ]);
  const kubelet = servingCert(dir, 'kubelet', ['IP:127.0.0.1', 'DNS:localhost']);

  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serviceAccount = { keyFile: path.join(dir, 'sa.key'), publicFile: path.join(dir, 'sa.pub') };
  fs.writeFileSync(serviceAccount.keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(serviceAccount.publicFile, publicKey.export({ type: 'spki', format: 'pem' }));

  const tokens = new Map<string, string>();
  const lines = identities.map((id, i) => {
    const token = crypto.randomBytes(24).toString('hex');
    tokens.set(id.user, token);
    return `${token},${id.user},uid-${i},"${id.groups.join(',')}"`;
  });
  const tokenFile = path.join(dir, 'tokens.csv');
  fs.writeFileSync(tokenFile, `${lines.join('\n')}\n`, { mode: 0o600 });

  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    ca: fs.readFileSync(path.join(dir, 'ca.crt')),
    apiserver,
    kubelet: { ...kubelet, cert: fs.readFileSync(kubelet.certFile), key: fs.readFileSync(kubelet.keyFile) },
    frontProxy: { caFile: path.join(dir, 'front-proxy-ca.crt'), ca: fs.readFileSync(path.join(dir, 'front-proxy-ca.crt')), client: frontProxyClient },
    metricsServer: { cert: fs.readFileSync(metrics.certFile), key: fs.readFileSync(metrics.keyFile) },
    serviceAccount,
    tokenFile,
    tokens,
  };
}
