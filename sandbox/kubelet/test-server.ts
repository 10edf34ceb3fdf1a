// A tiny container for the kubelet's tests (catalogue image `sandbox/test-server`): shows its env,
// reads files, fails on demand, reports SIGTERM, burns CPU and allocates memory on demand, so
// tests can see what the kubelet gave it.
import fs from 'node:fs';
import http from 'node:http';
import { Worker } from 'node:worker_threads';

const env = process.env;
if (env.CRASH === '1') {
  console.log('crashing on purpose');
  process.exit(3);
}
// ALLOCATE_MIB: touch that much memory at start, in the first run only (MARKER_DIR remembers it).
const allocateMib = Number(env.ALLOCATE_MIB ?? 0);
const allocated = `${env.MARKER_DIR ?? '.'}/allocated-${env.POD_NAME ?? 'pod'}`;
if (allocateMib > 0 && !fs.existsSync(allocated)) {
  fs.writeFileSync(allocated, String(allocateMib));
  const held: Buffer[] = [];
  for (let mib = 0; mib < allocateMib; mib += 8) held.push(Buffer.alloc(8 << 20, 1));
  console.log(`allocated ${held.length * 8} MiB`);
}
// BURN_CPU=N: N threads that spin forever, beside a server that still answers.
for (let i = 0; i < Number(env.BURN_CPU ?? 0); i++) new Worker('for (;;) {}', { eval: true });
let healthy = true;
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/env') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(env));
  if (url.pathname === '/file') {
    try {
      return void res.writeHead(200).end(fs.readFileSync(url.searchParams.get('path') ?? ''));
    } catch (err) {
      return void res.writeHead(404).end(String(err));
    }
  }
  if (url.pathname === '/fail') {
    healthy = false;
    return void res.writeHead(200).end('now unhealthy');
  }
  if (url.pathname === '/healthz') return void res.writeHead(healthy ? 200 : 500).end();
  res.writeHead(200).end('ok');
});
server.listen(Number(env.PORT ?? 8080), env.IMAGE_SERVICE_HOST ?? '127.0.0.1', () => console.log(`listening on ${env.IMAGE_SERVICE_HOST}:${env.PORT ?? 8080}`));
process.on('SIGTERM', () => {
  console.log('got SIGTERM');
  if (env.MARKER_DIR !== undefined) fs.writeFileSync(`${env.MARKER_DIR}/sigterm-${env.POD_NAME ?? 'pod'}`, 'SIGTERM');
  if (env.IGNORE_SIGTERM === '1') return;
  server.close();
  setTimeout(() => process.exit(0), 50);
});
