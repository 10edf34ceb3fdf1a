import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ISOLATION_MODES } from './cost.ts';
import { parsePresets } from './presets.ts';
import { parseSigningKeys } from './signing.ts';
import { httpEnvSchema, s3EnvSchema } from './sources/env.ts';

/**
 * The service's configuration: the environment contract of docs/architecture.md, validated with
 * zod once at start. Every value a user can get wrong fails here, with one line naming the
 * variable, never later inside a request.
 */

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A whole number from a string, with the bounds in the message a user sees. */
function whole(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`));
}

const AUTO_FORMATS = ['avif', 'webp'] as const;

/** Result cache default: a few hundred thumbnails, small beside a pod's usual memory limit. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

const source = z
  .string()
  .trim()
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a URL such as file:///srv/images' });
      return z.NEVER;
    }
    if (url.protocol === 's3:') return { kind: 's3' as const, url: value };
    if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'http' as const, url: value };
    if (url.protocol !== 'file:') {
      ctx.addIssue({ code: 'custom', message: `unsupported source scheme "${url.protocol}", expected file:///path, s3://bucket/prefix or https://host/base` });
      return z.NEVER;
    }
    return { kind: 'file' as const, root: fileURLToPath(url) };
  });

const presets = z
  .string()
  .optional()
  .transform((value, ctx) => {
    try {
      return parsePresets(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

const env = z.object({
  IMAGE_SOURCE: source,
  IMAGE_SERVICE_HOST: z.string().trim().min(1).default('0.0.0.0'),
  IMAGE_SERVICE_PORT: whole(0, 65535).default(8080),
  IMAGE_SERVICE_MANAGEMENT_PORT: whole(0, 65535).optional(),
  IMAGE_SERVICE_VERSION: z.string().trim().min(1).max(128).default(PACKAGE_VERSION),
  IMAGE_SERVICE_WORKERS: whole(1, 1024).optional(),
  IMAGE_SERVICE_QUEUE_LIMIT: whole(0, 1_000_000).optional(),
  IMAGE_SERVICE_QUEUE_TIMEOUT_MS: whole(1, 600_000).default(5000),
  IMAGE_SERVICE_MAX_INPUT_PIXELS: whole(1, 1_000_000_000).default(50_000_000),
  IMAGE_SERVICE_MAX_SOURCE_BYTES: whole(1, 2 ** 31 - 1).default(52_428_800),
  IMAGE_SERVICE_AUTO_FORMATS: z
    .string()
    .default('webp')
    .transform((value) =>
      value
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(z.enum(AUTO_FORMATS, { error: 'expected a comma-separated list of avif, webp (or empty)' }))),
  IMAGE_SERVICE_CACHE_MAX_AGE_SECONDS: whole(0, 31_536_000).default(86_400),
  IMAGE_SERVICE_DRAIN_SECONDS: whole(0, 3600).default(25),
  IMAGE_SERVICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  IMAGE_SERVICE_INJECT_DELAY_MS: whole(0, 600_000).default(0),
  IMAGE_SERVICE_INJECT_ERROR_PERCENT: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'expected a number from 0 to 100')
    .transform(Number)
    .pipe(z.number().max(100, 'expected a number from 0 to 100'))
    .default(0),
  IMAGE_SERVICE_INJECT_DRIFT: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  IMAGE_SERVICE_SIGNING_KEYS: z.string().optional().transform(parseSigningKeys),
  IMAGE_SERVICE_PRESETS: presets,
  IMAGE_SERVICE_ADMIN_TOKEN_FILE: z.string().trim().min(1).optional(),
  IMAGE_SERVICE_CACHE_BYTES: whole(0, 2 ** 40).default(DEFAULT_CACHE_BYTES),
  IMAGE_SERVICE_MEMORY_LIMIT_BYTES: whole(1, 2 ** 50).optional(),
  IMAGE_SERVICE_TRANSFORM_SECONDS: whole(1, 600).optional(),
  IMAGE_SERVICE_SEND_TIMEOUT_MS: whole(1, 3_600_000).default(30_000),
  IMAGE_SERVICE_ISOLATE: z.enum(ISOLATION_MODES, { error: `expected one of ${ISOLATION_MODES.join(', ')}` }).default('costly'),
  IMAGE_SERVICE_COALESCE: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .default('true')
    .transform((v) => v === 'true'),
  ...s3EnvSchema.shape,
  ...httpEnvSchema.shape,
  UV_THREADPOOL_SIZE: whole(1, 1024).optional(),
  VIPS_CONCURRENCY: whole(0, 1024).optional(),
});

/** The environment as validated; thread counts are resolved from it by threads.ts. */
export type Env = z.infer<typeof env>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws a ConfigError whose message is one line naming the variable. */
export function parseEnv(vars: NodeJS.ProcessEnv): Env {
  // An empty variable means unset, as in most shells' and Kubernetes' practice.
  const present: Record<string, string> = {};
  for (const [key, value] of Object.entries(vars)) if (value !== undefined && value !== '') present[key] = value;
  // IMAGE_SERVICE_AUTO_FORMATS="" deliberately means "negotiate nothing".
  if (vars.IMAGE_SERVICE_AUTO_FORMATS === '') present.IMAGE_SERVICE_AUTO_FORMATS = '';
  const result = env.safeParse(present);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = String(issue.path[0] ?? 'environment');
  const got = present[name];
  const message = got === undefined ? 'is required' : `${issue.message} (got ${JSON.stringify(got.length > 80 ? `${got.slice(0, 80)}…` : got)})`;
  throw new ConfigError(`${name}: ${message}`);
}

/**
 * Waiters per worker when IMAGE_SERVICE_QUEUE_LIMIT is unset. A waiter holds only its request
 * (no source bytes, no pixels), so the queue bounds connection state, not image memory, and the
 * queue timeout bounds the wait. A deep queue keeps the workers busy under a burst: a shallow one
 * answers most of a burst with instant 503s, and clients that retry at once turn those into a
 * busy loop that takes CPU from the resizes (imgproxy, likewise, queues up to 2048 clients).
 * Measured at one worker and 1000 connections: 256 waiters fell to 0.09 of sharp's throughput,
 * 1024 kept the ceiling (docs/benchmarks.md).
 */
export const QUEUE_PER_WORKER = 1024;

export function defaultQueueLimit(workers: number): number {
  return workers * QUEUE_PER_WORKER;
}
