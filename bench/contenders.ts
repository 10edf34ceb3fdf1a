// The HTTP servers the benchmark compares: how each is launched on its cores, how it names a
// resize, and what it needs installed (a missing tool skips that contender with a message
// naming the package).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { threadDefaults, workersForLimit } from '../image-service/src/thread-rule.ts';
import type { Workload } from './workloads.ts';

export interface LaunchContext {
  repoRoot: string;
  corpusRoot: string;
  host: string;
  port: number;
  /** taskset CPU list and how many CPUs it holds. */
  cpus: string;
  cpuCount: number;
}

export interface Launch {
  command: string;
  args: string[];
  /** undefined removes an inherited variable (e.g. MALLOC_ARENA_MAX "unset"). */
  env: Record<string, string | undefined>;
  readyPath: string;
}

export interface Contender {
  id: string;
  label: string;
  /** Why it cannot run here, naming what to install; undefined when it can. */
  missing(repoRoot: string): string | undefined;
  launch(ctx: LaunchContext, firstPath: string): Launch;
  path(workload: Workload, key: string): string;
}

/** The service's own URL scheme, which the naive and PHP servers share. */
export function imagePath(workload: Workload, key: string): string {
  return `/image/files/${encodeURIComponent(key)}?w=${workload.width}&fm=${workload.format}&q=${workload.quality}`;
}

function commandWorks(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export interface ImageServiceSettings {
  workers: number;
  threadpool: number;
  vipsConcurrency: number;
  /** MALLOC_ARENA_MAX, or undefined for glibc's default (8 per core). */
  arenaMax: number | undefined;
}

/** What the operator derives for a CPU limit (the thread rule, docs/architecture.md "Threads from the CPU limit"). */
export function operatorSettings(cpus: number): ImageServiceSettings {
  const workers = workersForLimit(cpus);
  const defaults = threadDefaults(workers);
  return { workers, threadpool: defaults.threadpoolSize, vipsConcurrency: defaults.vipsConcurrency, arenaMax: defaults.mallocArenaMax };
}

export function settingsLabel(s: ImageServiceSettings): string {
  return `w${s.workers} uv${s.threadpool} vips${s.vipsConcurrency} arena${s.arenaMax ?? '-'}`;
}

/** The queue timeout the benchmark runs the service with: "p99 of admitted requests within it". */
export const QUEUE_TIMEOUT_MS = 5000;

/**
 * Started as its container starts it (image-service/Dockerfile): from a compile cache filled
 * beforehand, so that Node's TypeScript stripper is never loaded. Filled once per bench process.
 */
const compileCaches = new Set<string>();
function warmCompileCache(repoRoot: string): string {
  const dir = join(repoRoot, '.bench', 'node-compile-cache');
  if (!compileCaches.has(dir)) {
    execFileSync(process.execPath, [join(repoRoot, 'image-service/src/warm-compile-cache.ts')], { env: { ...process.env, NODE_COMPILE_CACHE: dir }, stdio: 'inherit', timeout: 60_000 });
    compileCaches.add(dir);
  }
  return dir;
}

export function imageServiceEnv(ctx: LaunchContext, s: ImageServiceSettings): Record<string, string | undefined> {
  return {
    NODE_COMPILE_CACHE: warmCompileCache(ctx.repoRoot),
    IMAGE_SOURCE: `file://${ctx.corpusRoot}`,
    IMAGE_SERVICE_HOST: ctx.host,
    IMAGE_SERVICE_PORT: String(ctx.port),
    IMAGE_SERVICE_WORKERS: String(s.workers),
    UV_THREADPOOL_SIZE: String(s.threadpool),
    VIPS_CONCURRENCY: String(s.vipsConcurrency),
    MALLOC_ARENA_MAX: s.arenaMax === undefined ? undefined : String(s.arenaMax),
    // Every request must be a resize, as with every other contender: the result cache and the
    // coalescing of identical concurrent requests would otherwise answer repeats of a key.
    IMAGE_SERVICE_CACHE_BYTES: '0',
    IMAGE_SERVICE_COALESCE: 'false',
    // Fixed rather than left to the service's default, so that the p99 target checks against it.
    IMAGE_SERVICE_QUEUE_TIMEOUT_MS: String(QUEUE_TIMEOUT_MS),
  };
}

export function imageService(s: ImageServiceSettings, id = `image-service ${settingsLabel(s)}`): Contender {
  return {
    id,
    label: `image service (${settingsLabel(s)})`,
    missing: (repoRoot) => (existsSync(join(repoRoot, 'image-service/src/main.ts')) ? undefined : 'image-service/src/main.ts is not in this checkout'),
    launch: (ctx) => ({
      command: process.execPath,
      args: [join(ctx.repoRoot, 'image-service/src/main.ts')],
      env: imageServiceEnv(ctx, s),
      readyPath: '/readyz',
    }),
    path: imagePath,
  };
}

export const naive: Contender = {
  id: 'naive',
  label: 'naive Node + sharp (no admission)',
  missing: () => undefined,
  launch: (ctx, firstPath) => ({
    command: process.execPath,
    args: [join(ctx.repoRoot, 'bench/naive-server.ts')],
    env: { BENCH_IMAGE_ROOT: ctx.corpusRoot, HOST: ctx.host, PORT: String(ctx.port) },
    readyPath: firstPath,
  }),
  path: imagePath,
};

export const ipx: Contender = {
  id: 'ipx',
  label: 'ipx 3 (node adapter)',
  missing: (repoRoot) => (existsSync(join(repoRoot, 'node_modules/ipx/package.json')) ? undefined : 'ipx is not installed: run npm install (it is a devDependency)'),
  launch: (ctx, firstPath) => ({
    command: process.execPath,
    args: [join(ctx.repoRoot, 'bench/ipx-server.ts')],
    env: { BENCH_IMAGE_ROOT: ctx.corpusRoot, HOST: ctx.host, PORT: String(ctx.port) },
    readyPath: firstPath,
  }),
  path: (w, key) => `/w_${w.width},f_${w.format},q_${w.quality}/${encodeURIComponent(key)}`,
};

/** PHP's built-in server forks this many workers per CPU: one computes while another reads. */
const PHP_WORKERS_PER_CPU = 2;

function php(hint: boolean): Contender {
  return {
    id: hint ? 'php-imagick-hint' : 'php-imagick',
    label: hint ? 'PHP + ImageMagick, jpeg:size hint' : 'PHP + ImageMagick',
    missing: () => {
      if (!commandWorks('php', ['-v'])) return 'php is not installed: apt-get install -y php-cli php-imagick';
      if (!commandWorks('php', ['-r', 'exit(extension_loaded("imagick") ? 0 : 1);'])) {
        return 'the imagick PHP extension is missing: apt-get install -y php-imagick';
      }
      return undefined;
    },
    launch: (ctx, firstPath) => ({
      command: 'php',
      args: ['-S', `${ctx.host}:${ctx.port}`, join(ctx.repoRoot, 'bench/php/resize.php')],
      env: {
        BENCH_IMAGE_ROOT: ctx.corpusRoot,
        BENCH_PHP_JPEG_SIZE_HINT: hint ? '1' : '0',
        PHP_CLI_SERVER_WORKERS: String(PHP_WORKERS_PER_CPU * ctx.cpuCount),
      },
      readyPath: firstPath,
    }),
    path: imagePath,
  };
}

/** As such servers are usually written. */
export const phpImagick = php(false);
/** As a careful PHP developer writes it: the JPEG decoder told the size wanted. */
export const phpImagickHint = php(true);

/** One image-service process per core, each pinned to its core, sharing the port through
 *  SO_REUSEPORT (bench/reuse-port.ts); a shell starts them and is the tree's root. */
export function imageServicePerCore(s: ImageServiceSettings, cores: readonly number[]): Contender {
  return {
    id: `image-service ${cores.length}x ${settingsLabel(s)} reusePort`,
    label: `image service, ${cores.length} processes (${settingsLabel(s)} each), reusePort`,
    missing: imageService(s).missing,
    launch: (ctx) => {
      const node = (core: number): string => `taskset -c ${core} "$0" --import "$1" "$2" &`;
      return {
        command: 'bash',
        args: ['-c', `${cores.map(node).join(' ')} wait`, process.execPath, join(ctx.repoRoot, 'bench/reuse-port.ts'), join(ctx.repoRoot, 'image-service/src/main.ts')],
        env: imageServiceEnv(ctx, s),
        readyPath: '/readyz',
      };
    },
    path: imagePath,
  };
}
