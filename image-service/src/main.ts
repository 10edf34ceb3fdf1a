/**
 * The image service process: configuration, threads, start, SIGTERM drain.
 *
 * Thread settings must be in the environment before the runtimes that read them start: libuv
 * sizes its pool from UV_THREADPOOL_SIZE on the pool's first use, libvips reads VIPS_CONCURRENCY
 * when sharp loads, and glibc reads MALLOC_ARENA_MAX and its thresholds before any JavaScript runs. So when the
 * derived values are missing from the environment, the process replaces itself (execve: same PID,
 * so signals and the kubelet are unaffected) with the same command and the values set. Where
 * execve is unavailable it sets them in process.env before anything touches the pool or loads
 * sharp (enough for libuv and libvips, not for glibc): this file therefore imports the rest of
 * the service only after that point.
 */
import { writeSync } from 'node:fs';
import { ConfigError, defaultQueueLimit, type Env, parseEnv } from './config.ts';
import { workerShare } from './cost.ts';
import { detectCpu, detectMemoryLimit, resolveThreads } from './threads.ts';

const YOUNG_GENERATION = '--max-semi-space-size=4';
/** Below this a worker could not resize even a small photograph. */
const MIN_WORKER_BYTES = 16 * 1024 * 1024;

function fail(message: string): never {
  writeSync(2, `image-service: ${message}\n`);
  process.exit(2);
}

let env: Env;
try {
  env = parseEnv(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

const cpu = detectCpu();
const threads = resolveThreads(process.env, env.IMAGE_SERVICE_WORKERS, cpu.limit, cpu.parallelism);
// V8's young generation grows to two 16 MiB semi-spaces under load; requests here allocate little that
// survives, so smaller semi-spaces cost no throughput and save RSS (docs/benchmarks.md, "Image service: memory at rest").
const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
const execArgv = flags.some((flag) => flag.startsWith('--max-semi-space-size')) ? process.execArgv : [...process.execArgv, YOUNG_GENERATION];
const envMissing = Object.entries(threads.env).some(([name, value]) => process.env[name] !== value);
if ((envMissing || execArgv !== process.execArgv) && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...execArgv, ...process.argv.slice(1)], { ...process.env, ...threads.env });
}
Object.assign(process.env, threads.env);

const [{ pino }, { createImageService }, { openSource }, { configureSharp }, { readAdminToken }] = await Promise.all([
  import('pino'),
  import('./server.ts'),
  import('./sources/open.ts'),
  import('./transform.ts'),
  import('./admin.ts'),
]);

const logger = pino({ level: env.IMAGE_SERVICE_LOG_LEVEL, base: { service: 'image-service', version: env.IMAGE_SERVICE_VERSION } });
const vipsConcurrency = Number(threads.env.VIPS_CONCURRENCY);
configureSharp(vipsConcurrency);

let source: Awaited<ReturnType<typeof openSource>>;
let adminToken: string | undefined;
try {
  source = await openSource(env.IMAGE_SOURCE, env);
  adminToken = env.IMAGE_SERVICE_ADMIN_TOKEN_FILE === undefined ? undefined : readAdminToken(env.IMAGE_SERVICE_ADMIN_TOKEN_FILE);
} catch (error) {
  fail((error as Error).message);
}

// Each worker's share of the memory limit bounds what one image may cost (cost.ts): the limit of
// the cgroup, as the CPU quota sizes the workers, unless the environment names one.
const memoryLimit = env.IMAGE_SERVICE_MEMORY_LIMIT_BYTES ?? detectMemoryLimit();
const memoryPerWorker = workerShare(memoryLimit, env.IMAGE_SERVICE_CACHE_BYTES, threads.workers);
if (memoryPerWorker < MIN_WORKER_BYTES) {
  const from = env.IMAGE_SERVICE_MEMORY_LIMIT_BYTES === undefined ? `unset, so the cgroup's limit of ${memoryLimit} bytes applies` : `${memoryLimit} bytes`;
  fail(
    `IMAGE_SERVICE_MEMORY_LIMIT_BYTES: ${from}; after the process's own memory, its answers, the result cache (IMAGE_SERVICE_CACHE_BYTES) and a transform child per worker that leaves ${memoryPerWorker} bytes to each of ${threads.workers} workers, under the ${MIN_WORKER_BYTES} one needs: raise the limit, or lower the cache or the workers`,
  );
}

const settings = {
  version: env.IMAGE_SERVICE_VERSION,
  workers: threads.workers,
  queueLimit: env.IMAGE_SERVICE_QUEUE_LIMIT ?? defaultQueueLimit(threads.workers),
  queueTimeoutMs: env.IMAGE_SERVICE_QUEUE_TIMEOUT_MS,
  maxInputPixels: env.IMAGE_SERVICE_MAX_INPUT_PIXELS,
  maxSourceBytes: env.IMAGE_SERVICE_MAX_SOURCE_BYTES,
  autoFormats: env.IMAGE_SERVICE_AUTO_FORMATS,
  cacheMaxAgeSeconds: env.IMAGE_SERVICE_CACHE_MAX_AGE_SECONDS,
  injectDelayMs: env.IMAGE_SERVICE_INJECT_DELAY_MS,
  injectErrorPercent: env.IMAGE_SERVICE_INJECT_ERROR_PERCENT,
  injectDrift: env.IMAGE_SERVICE_INJECT_DRIFT,
  presets: env.IMAGE_SERVICE_PRESETS,
  cacheBytes: env.IMAGE_SERVICE_CACHE_BYTES,
  coalesce: env.IMAGE_SERVICE_COALESCE,
  isolate: env.IMAGE_SERVICE_ISOLATE,
  memoryPerWorker,
  // An answer later than the queue timeout is no use to its client: libvips' work is bounded by it.
  transformSeconds: env.IMAGE_SERVICE_TRANSFORM_SECONDS ?? Math.max(1, Math.ceil(env.IMAGE_SERVICE_QUEUE_TIMEOUT_MS / 1000)),
  sendTimeoutMs: env.IMAGE_SERVICE_SEND_TIMEOUT_MS,
  recordRecent: env.IMAGE_SERVICE_MANAGEMENT_PORT !== undefined,
};
// Secrets are passed on, never logged.
const service = createImageService({ ...settings, signingKeys: env.IMAGE_SERVICE_SIGNING_KEYS, adminToken }, source, logger);

const { version: _version, ...shown } = settings; // the version is on every line already
logger.info(
  {
    source: process.env.IMAGE_SOURCE,
    ...shown,
    signedUrls: env.IMAGE_SERVICE_SIGNING_KEYS.length > 0,
    managementApi: adminToken !== undefined,
    workersFrom: threads.workersFrom,
    cpuLimit: cpu.limit,
    memoryLimit,
    cpus: cpu.parallelism,
    threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE),
    vipsConcurrency,
    mallocArenaMax: process.env.MALLOC_ARENA_MAX,
    mallocThresholds: { mmap: process.env.MALLOC_MMAP_THRESHOLD_, trim: process.env.MALLOC_TRIM_THRESHOLD_ },
    nodeOptions: process.env.NODE_OPTIONS ?? null,
    execArgv: process.execArgv,
    drainSeconds: env.IMAGE_SERVICE_DRAIN_SECONDS,
  },
  'effective settings',
);

service.server.on('error', (error) => fail(`cannot listen on ${env.IMAGE_SERVICE_HOST}:${env.IMAGE_SERVICE_PORT}: ${error.message}`));
// A backlog as deep as the work the service holds (Node's default is 511): a burst of connections
// beyond it has its SYNs dropped and retried by the client after a second, which put the p99 of
// admitted requests at 5.8-5.9 s for a 5 s queue timeout when 1000 clients connected at once.
// The kernel caps it at net.core.somaxconn (4096 since Linux 5.4).
const backlog = settings.queueLimit + settings.workers;
service.server.listen({ port: env.IMAGE_SERVICE_PORT, host: env.IMAGE_SERVICE_HOST, backlog }, () => {
  const address = service.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : env.IMAGE_SERVICE_PORT;
  logger.info({ host: env.IMAGE_SERVICE_HOST, port, backlog }, 'listening');
});

if (env.IMAGE_SERVICE_MANAGEMENT_PORT !== undefined) {
  const managementPort = env.IMAGE_SERVICE_MANAGEMENT_PORT;
  service.management.on('error', (error) => fail(`cannot listen on ${env.IMAGE_SERVICE_HOST}:${managementPort} (IMAGE_SERVICE_MANAGEMENT_PORT): ${error.message}`));
  service.management.listen({ port: managementPort, host: env.IMAGE_SERVICE_HOST }, () => {
    const address = service.management.address();
    logger.info({ host: env.IMAGE_SERVICE_HOST, port: typeof address === 'object' && address !== null ? address.port : managementPort }, 'management port listening');
  });
}

function shutdown(signal: NodeJS.Signals): void {
  logger.info({ signal, inflight: service.admission.inflight, queued: service.admission.queued }, 'draining: readiness is false, no new connections');
  void service.drain(env.IMAGE_SERVICE_DRAIN_SECONDS * 1000).then((finished) => {
    if (finished) logger.info('drained, exiting');
    else logger.warn({ drainSeconds: env.IMAGE_SERVICE_DRAIN_SECONDS }, 'drain deadline passed, open connections cut');
    logger.flush();
    process.exit(finished ? 0 : 1);
  });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
