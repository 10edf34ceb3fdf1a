import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_BYTES, parseEnv } from './config.ts';

/** The environment of the sources, signing, presets, management API and cache. */

const base = { IMAGE_SOURCE: 'file:///srv/images' };

describe('parseEnv: sources and features', () => {
  it('picks the source from the IMAGE_SOURCE scheme', () => {
    expect(parseEnv({ IMAGE_SOURCE: 's3://originals/products/' }).IMAGE_SOURCE).toEqual({ kind: 's3', url: 's3://originals/products/' });
    expect(parseEnv({ IMAGE_SOURCE: 'https://img.example.com/base' }).IMAGE_SOURCE).toEqual({ kind: 'http', url: 'https://img.example.com/base' });
    expect(parseEnv(base).IMAGE_SOURCE).toEqual({ kind: 'file', root: '/srv/images' });
  });

  it('has the features off or at their defaults when unset', () => {
    const env = parseEnv(base);
    expect(env).toMatchObject({ IMAGE_SERVICE_SIGNING_KEYS: [], IMAGE_SERVICE_PRESETS: {}, IMAGE_SERVICE_CACHE_BYTES: DEFAULT_CACHE_BYTES, IMAGE_SERVICE_COALESCE: true });
    expect(env.IMAGE_SERVICE_ADMIN_TOKEN_FILE).toBeUndefined();
  });

  it('reads every value it is given', () => {
    const env = parseEnv({
      ...base,
      IMAGE_SERVICE_SIGNING_KEYS: 'k1, k2',
      IMAGE_SERVICE_PRESETS: '{"thumb": {"w": 200, "h": 200, "fit": "cover"}}',
      IMAGE_SERVICE_ADMIN_TOKEN_FILE: '/var/run/secrets/admin/token',
      IMAGE_SERVICE_CACHE_BYTES: '0',
      IMAGE_SERVICE_COALESCE: 'false',
      S3_ENDPOINT: 'http://minio:9000',
      S3_REGION: 'ap-northeast-2',
      S3_FORCE_PATH_STYLE: 'false',
      HTTP_SOURCE_ALLOWED_HOSTS: 'a.example.com',
      HTTP_SOURCE_ALLOW_PRIVATE: 'true',
    });
    expect(env).toMatchObject({
      IMAGE_SERVICE_SIGNING_KEYS: ['k1', 'k2'],
      IMAGE_SERVICE_PRESETS: { thumb: { w: 200, h: 200, fit: 'cover' } },
      IMAGE_SERVICE_ADMIN_TOKEN_FILE: '/var/run/secrets/admin/token',
      IMAGE_SERVICE_CACHE_BYTES: 0,
      IMAGE_SERVICE_COALESCE: false,
      S3_ENDPOINT: 'http://minio:9000',
      S3_REGION: 'ap-northeast-2',
      S3_FORCE_PATH_STYLE: 'false',
      HTTP_SOURCE_ALLOWED_HOSTS: 'a.example.com',
      HTTP_SOURCE_ALLOW_PRIVATE: 'true',
    });
  });

  it.each([
    [{ IMAGE_SOURCE: 'gs://bucket' }, /^IMAGE_SOURCE: unsupported source scheme "gs:"/],
    [{ ...base, IMAGE_SERVICE_PRESETS: '{"thumb": {"w": 0}}' }, /^IMAGE_SERVICE_PRESETS: thumb\.w: /],
    [{ ...base, IMAGE_SERVICE_PRESETS: '{nope' }, /^IMAGE_SERVICE_PRESETS: not valid JSON/],
    [{ ...base, IMAGE_SERVICE_CACHE_BYTES: '64Mi' }, /^IMAGE_SERVICE_CACHE_BYTES: expected a whole number/],
    [{ ...base, IMAGE_SERVICE_COALESCE: 'yes' }, /^IMAGE_SERVICE_COALESCE: expected true or false/],
    [{ ...base, S3_ENDPOINT: 'minio:9000' }, /^S3_ENDPOINT: expected an http\(s\) URL/],
    [{ ...base, S3_FORCE_PATH_STYLE: '1' }, /^S3_FORCE_PATH_STYLE: expected true or false/],
    [{ ...base, HTTP_SOURCE_ALLOW_PRIVATE: 'TRUE' }, /^HTTP_SOURCE_ALLOW_PRIVATE: expected true or false/],
  ])('refuses %j with one line naming the variable', (vars, message) => {
    expect(() => parseEnv(vars)).toThrow(message);
  });
});
