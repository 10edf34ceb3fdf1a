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
    throw new Error(`openssl ${args[0]} failed: ${String(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function servingCert(dir: string, name: string, sans: string[]): { certFile: string; keyFile: string } {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  openssl(['req', '-new', ...EC, '-keyout', keyFile, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', certFile, '-days', '365', '-extfile', ext], dir);
  return { certFile, keyFile };
}

/** `apiserverIPs`: more addresses the API server is reached at (the pods' gateway). */
export function makePki(dir: string, identities: Identity[], apiserverIPs: string[] = []): Pki {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(['req', '-x509', '-new', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=imageops-sandbox-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const apiserver = servingCert(dir, 'kube-apiserver', [
    'IP:127.0.0.1', `IP:${KUBERNETES_SERVICE_IP}`, ...apiserverIPs.map((ip) => `IP:${ip}`), 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
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
    serviceAccount,
    tokenFile,
    tokens,
  };
}
