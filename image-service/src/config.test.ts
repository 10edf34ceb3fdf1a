import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from './config.ts';

const base = { IMAGE_SOURCE: 'file:///srv/images' };

describe('parseEnv', () => {
  it('applies the documented defaults', () => {
    const env = parseEnv(base);
    expect(env).toMatchObject({
      IMAGE_SOURCE: { kind: 'file', root: '/srv/images' },
      IMAGE_SERVICE_HOST: '0.0.0.0',
      IMAGE_SERVICE_PORT: 8080,
      IMAGE_SERVICE_QUEUE_TIMEOUT_MS: 5000,
      IMAGE_SERVICE_MAX_INPUT_PIXELS: 50_000_000,
      IMAGE_SERVICE_MAX_SOURCE_BYTES: 52_428_800,
      IMAGE_SERVICE_AUTO_FORMATS: ['webp'],
      IMAGE_SERVICE_CACHE_MAX_AGE_SECONDS: 86_400,
      IMAGE_SERVICE_INJECT_DELAY_MS: 0,
      IMAGE_SERVICE_INJECT_ERROR_PERCENT: 0,
      IMAGE_SERVICE_INJECT_DRIFT: false,
      IMAGE_SERVICE_ISOLATE: 'costly',
    });
    expect(env.IMAGE_SERVICE_WORKERS).toBeUndefined();
    expect(env.IMAGE_SERVICE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('reads every value it is given', () => {
    const env = parseEnv({
      ...base,
      IMAGE_SERVICE_PORT: '0',
      IMAGE_SERVICE_WORKERS: '3',
      IMAGE_SERVICE_QUEUE_LIMIT: '0',
      IMAGE_SERVICE_AUTO_FORMATS: 'AVIF, webp',
      IMAGE_SERVICE_INJECT_ERROR_PERCENT: '12.5',
      IMAGE_SERVICE_VERSION: '1.5.0-slow',
      IMAGE_SERVICE_ISOLATE: 'all',
    });
    expect(env).toMatchObject({
      IMAGE_SERVICE_ISOLATE: 'all',
      IMAGE_SERVICE_PORT: 0,
      IMAGE_SERVICE_WORKERS: 3,
      IMAGE_SERVICE_QUEUE_LIMIT: 0,
      IMAGE_SERVICE_INJECT_ERROR_PERCENT: 12.5,
      IMAGE_SERVICE_VERSION: '1.5.0-slow',
    });
    expect(env.IMAGE_SERVICE_AUTO_FORMATS).toEqual(['avif', 'webp']);
    expect(parseEnv({ ...base, IMAGE_SERVICE_AUTO_FORMATS: '' }).IMAGE_SERVICE_AUTO_FORMATS).toEqual([]);
    expect(parseEnv({ ...base, IMAGE_SERVICE_WORKERS: '' }).IMAGE_SERVICE_WORKERS).toBeUndefined();
  });

  it.each([
    [{}, 'IMAGE_SOURCE: is required'],
    [{ IMAGE_SOURCE: 'not a url' }, 'IMAGE_SOURCE: expected a URL'],
    [{ IMAGE_SOURCE: 'ftp://x/y' }, 'IMAGE_SOURCE: unsupported source scheme'],
    [{ ...base, IMAGE_SERVICE_PORT: 'http' }, 'IMAGE_SERVICE_PORT: expected a whole number from 0 to 65535 (got "http")'],
    [{ ...base, IMAGE_SERVICE_PORT: '70000' }, 'IMAGE_SERVICE_PORT: expected a whole number from 0 to 65535'],
    [{ ...base, IMAGE_SERVICE_MANAGEMENT_PORT: 'admin' }, 'IMAGE_SERVICE_MANAGEMENT_PORT: expected a whole number from 0 to 65535'],
    [{ ...base, IMAGE_SERVICE_WORKERS: '0' }, 'IMAGE_SERVICE_WORKERS: expected a whole number from 1'],
    [{ ...base, IMAGE_SERVICE_WORKERS: '1.5' }, 'IMAGE_SERVICE_WORKERS'],
    [{ ...base, IMAGE_SERVICE_QUEUE_TIMEOUT_MS: '-1' }, 'IMAGE_SERVICE_QUEUE_TIMEOUT_MS'],
    [{ ...base, IMAGE_SERVICE_AUTO_FORMATS: 'webp,gif' }, 'IMAGE_SERVICE_AUTO_FORMATS: expected a comma-separated list'],
    [{ ...base, IMAGE_SERVICE_INJECT_ERROR_PERCENT: '101' }, 'IMAGE_SERVICE_INJECT_ERROR_PERCENT: expected a number from 0 to 100'],
    [{ ...base, IMAGE_SERVICE_INJECT_DRIFT: 'yes' }, 'IMAGE_SERVICE_INJECT_DRIFT: expected true or false'],
    [{ ...base, IMAGE_SERVICE_LOG_LEVEL: 'loud' }, 'IMAGE_SERVICE_LOG_LEVEL'],
    [{ ...base, UV_THREADPOOL_SIZE: '2000' }, 'UV_THREADPOOL_SIZE'],
    [{ ...base, IMAGE_SERVICE_ISOLATE: 'some' }, 'IMAGE_SERVICE_ISOLATE: expected one of costly, all, none'],
  ])('refuses %j with one line naming the variable', (vars, message) => {
    let error: unknown;
    try {
      parseEnv(vars);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text.startsWith(message)).toBe(true);
    expect(text).not.toContain('\n');
  });
});
