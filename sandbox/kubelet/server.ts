// The kubelet's own API, the part kube-apiserver proxies to: container logs (`kubectl logs`,
// with -f, --previous, --tail, --timestamps and --since) at /containerLogs/{namespace}/{pod}/{container}, over TLS with
// a certificate the API server verifies (--kubelet-certificate-authority). Loopback only.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Kubelet } from './kubelet.ts';
import { LogError } from './kubelet.ts';

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

export async function serveKubeletApi(kubelet: Kubelet, tls: { cert: Buffer; key: Buffer }): Promise<KubeletServer> {
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const fail = (status: number, message: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
    };
    if (url.pathname === '/healthz') return void res.writeHead(200).end('ok');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || m === null) return fail(404, 'not found');
    const [namespace, name, container] = [m[1], m[2], m[3]].map((s) => decodeURIComponent(s ?? ''));
    const int = (key: string) => (url.searchParams.get(key) === null ? undefined : Number(url.searchParams.get(key)));
    const r = {
      namespace: namespace ?? '',
      name: name ?? '',
      container,
      previous: url.searchParams.get('previous') === 'true',
      timestamps: url.searchParams.get('timestamps') === 'true',
      tailLines: int('tailLines'),
      sinceSeconds: int('sinceSeconds'),
    };
    try {
      if (url.searchParams.get('follow') !== 'true') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(kubelet.logs(r));
        return;
      }
      kubelet.logs(r); // refuses a bad request before streaming starts
    } catch (err) {
      if (err instanceof LogError) return fail(err.status, err.message);
      return fail(500, String(err));
    }
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    res.writeHead(200, { 'content-type': 'text/plain' });
    void (async () => {
      try {
        for await (const chunk of kubelet.follow(r, abort.signal)) res.write(chunk);
      } catch {
        // the reader left, or the container's log went away
      }
      res.end();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
