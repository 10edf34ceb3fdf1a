// The "CDN expiry" scenario: a CDN's cache expires and 1000 clients ask the origin at once for
// the same 20 thumbnails. Runs the image service twice on one pinned core, once with coalescing
// and the result cache off and once with them on, and reports for each: time until every client
// was served, transforms run, answers by status, and the server's peak RSS. Loopback only; every
// request has a deadline, so the run ends by itself.
//
//   node bench/cdn-expiry.ts [--clients 1000] [--thumbnails 20] [--out .bench]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LOAD_CPUS } from './cell.ts';
import { syntheticPhotograph } from './corpus.ts';
import { memoryOf } from './proc-stats.ts';
import { freePort, startServer } from './server.ts';

const SERVER_CPUS = '1';
const REQUEST_DEADLINE_MS = 180_000;
const THUMBNAIL_QUERY = 'w=200&h=200&fit=cover&fm=webp';

interface ModeResult {
  mode: string;
  clients: number;
  seconds: number;
  transforms: number;
  cacheHits: number;
  statuses: Record<string, number>;
  peakRssMiB: number;
}

function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** One GET on its own connection: the status, or 0 when it failed outright. */
function fetchStatus(agent: Agent, origin: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${origin}${path}`, { agent, signal: AbortSignal.timeout(REQUEST_DEADLINE_MS) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function metricValue(origin: string, name: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

async function runMode(mode: string, env: Record<string, string>, root: string, clients: number, thumbnails: number, out: string): Promise<ModeResult> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = await startServer(
    {
      command: process.execPath,
      args: [fileURLToPath(new URL('../image-service/src/main.ts', import.meta.url))],
      env: {
        IMAGE_SOURCE: pathToFileURL(root).href,
        IMAGE_SERVICE_HOST: '127.0.0.1',
        IMAGE_SERVICE_PORT: String(port),
        IMAGE_SERVICE_WORKERS: '1',
        // Deep enough that every client is served: the scenario measures time to serve, not shedding.
        IMAGE_SERVICE_QUEUE_LIMIT: String(clients * 2),
        IMAGE_SERVICE_QUEUE_TIMEOUT_MS: String(REQUEST_DEADLINE_MS),
        IMAGE_SERVICE_LOG_LEVEL: 'warn',
        UV_THREADPOOL_SIZE: undefined,
        VIPS_CONCURRENCY: undefined,
        ...env,
      } as Record<string, string | undefined>,
      cpus: SERVER_CPUS,
      logFile: join(out, `cdn-expiry-${mode}.log`),
    },
    origin,
    '/readyz',
  );
  try {
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const started = performance.now();
    const statuses = await Promise.all(Array.from({ length: clients }, (_, i) => fetchStatus(agent, origin, `/image/files/thumb-${String(i % thumbnails).padStart(2, '0')}.jpg?${THUMBNAIL_QUERY}`)));
    const seconds = (performance.now() - started) / 1000;
    agent.destroy();
    const counts: Record<string, number> = {};
    for (const s of statuses) counts[String(s)] = (counts[String(s)] ?? 0) + 1;
    return {
      mode,
      clients,
      seconds: Math.round(seconds * 100) / 100,
      transforms: await metricValue(origin, 'image_service_transforms_total'),
      cacheHits: await metricValue(origin, 'image_service_cache_hits_total'),
      statuses: counts,
      peakRssMiB: Math.round(((memoryOf(server.pid)?.hwm ?? 0) / 2 ** 20) * 10) / 10,
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, thumbnails: { type: 'string', default: '20' }, out: { type: 'string', default: '.bench' } } });
  const clients = Number(values.clients);
  const thumbnails = Number(values.thumbnails);
  if (!Number.isInteger(clients) || clients < 1 || clients > 10_000 || !Number.isInteger(thumbnails) || thumbnails < 1 || thumbnails > 100) {
    throw new Error('--clients must be 1..10000 and --thumbnails 1..100');
  }
  const out = values.out;
  // The load generator on its own core, the server on the other.
  execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPUS, String(process.pid)], { stdio: 'ignore' });
  const root = join(out, 'cdn-expiry-originals');
  mkdirSync(root, { recursive: true });
  progress(`generating ${thumbnails} originals (1600x1067 JPEG)`);
  for (let i = 0; i < thumbnails; i++) {
    writeFileSync(join(root, `thumb-${String(i).padStart(2, '0')}.jpg`), await syntheticPhotograph(1600, 1067, (i * 37) % 360));
  }
  const results: ModeResult[] = [];
  for (const [mode, env] of [
    ['coalescing and cache off', { IMAGE_SERVICE_CACHE_BYTES: '0', IMAGE_SERVICE_COALESCE: 'false' }],
    ['coalescing and cache on', { IMAGE_SERVICE_CACHE_BYTES: String(64 * 2 ** 20), IMAGE_SERVICE_COALESCE: 'true' }],
  ] as const) {
    progress(`${mode}: ${clients} clients at once for ${thumbnails} thumbnails (${THUMBNAIL_QUERY})`);
    const result = await runMode(mode.replace(/ /g, '-'), env, root, clients, thumbnails, out);
    results.push({ ...result, mode });
    progress(JSON.stringify(result));
  }
  const lines = [
    '| mode | clients | time until all served | transforms run | cache hits | answers | server peak RSS |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: |',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.clients} | ${r.seconds.toFixed(2)} s | ${r.transforms} | ${r.cacheHits} | ${Object.entries(r.statuses)
          .map(([s, n]) => `${n}× ${s}`)
          .join(', ')} | ${r.peakRssMiB} MiB |`,
    ),
  ];
  writeFileSync(join(out, 'cdn-expiry-latest.json'), `${JSON.stringify({ startedAt: new Date().toISOString(), results }, null, 2)}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
