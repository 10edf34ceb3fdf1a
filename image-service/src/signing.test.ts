import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { canonicalize, parseSigningKeys, signUrl, verifySignature } from './signing.ts';

const run = promisify(execFile);

function verify(signed: string, keys: string[]): boolean {
  const url = new URL(signed, 'http://x.test');
  return verifySignature(url.pathname, url.searchParams, keys);
}

describe('signing', () => {
  it('parses comma-separated keys, ignoring blanks', () => {
    expect(parseSigningKeys(undefined)).toEqual([]);
    expect(parseSigningKeys(' a , ,b,')).toEqual(['a', 'b']);
  });

  it('canonicalizes the sorted query without sig', () => {
    const q = new URLSearchParams('w=2&fm=webp&sig=zzz&h=1&a=2&a=1');
    expect(canonicalize('/image/files/x.jpg', q)).toBe('/image/files/x.jpg?a=1&a=2&fm=webp&h=1&w=2');
    expect(canonicalize('/p', new URLSearchParams('sig=1'))).toBe('/p');
  });

  it('verifies its own signatures whatever the parameter order', () => {
    const signed = signUrl('/image/files/a.jpg?w=200&h=100', 'k1');
    expect(verify(signed, ['k1'])).toBe(true);
    const url = new URL(signed, 'http://x.test');
    const reordered = `/image/files/a.jpg?sig=${url.searchParams.get('sig')}&h=100&w=200`;
    expect(verify(reordered, ['k1'])).toBe(true);
  });

  it('refuses a changed parameter, path, missing, duplicated or garbled sig, and unknown keys', () => {
    const signed = signUrl('/image/files/a.jpg?w=200', 'k1');
    const sig = new URL(signed, 'http://x.test').searchParams.get('sig') ?? '';
    expect(verify(`/image/files/a.jpg?w=201&sig=${sig}`, ['k1'])).toBe(false);
    expect(verify(`/image/files/b.jpg?w=200&sig=${sig}`, ['k1'])).toBe(false);
    expect(verify(`/image/files/a.jpg?w=200&q=50&sig=${sig}`, ['k1'])).toBe(false);
    expect(verify('/image/files/a.jpg?w=200', ['k1'])).toBe(false);
    expect(verify(`/image/files/a.jpg?w=200&sig=${sig}&sig=${sig}`, ['k1'])).toBe(false);
    expect(verify(`/image/files/a.jpg?w=200&sig=${sig.slice(0, -2)}`, ['k1'])).toBe(false);
    expect(verify(`/image/files/a.jpg?w=200&sig=${sig}`, ['other'])).toBe(false);
    expect(verify(`/image/files/a.jpg?w=200&sig=${sig}`, [])).toBe(false);
  });

  it('verifies with any listed key during rotation, and the first key signs', () => {
    const old = signUrl('/image/files/a.jpg?w=1', 'old');
    expect(verify(old, ['new', 'old'])).toBe(true);
    expect(verify(signUrl('/image/files/a.jpg?w=1', 'new'), ['new', 'old'])).toBe(true);
  });

  it('replaces an existing sig when re-signing', () => {
    const twice = signUrl(signUrl('/p?w=1', 'a'), 'b');
    expect(new URL(twice, 'http://x.test').searchParams.getAll('sig')).toHaveLength(1);
    expect(verify(twice, ['b'])).toBe(true);
  });

  it('signs from the command line with the first key of IMAGE_SERVICE_SIGNING_KEYS', async () => {
    const cli = new URL('./sign-url.ts', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [cli, '/image/files/a.jpg?w=64'], {
      env: { ...process.env, IMAGE_SERVICE_SIGNING_KEYS: 'first,second' },
    });
    expect(verify(stdout.trim(), ['first'])).toBe(true);
    expect(verify(stdout.trim(), ['second'])).toBe(false);
    await expect(run(process.execPath, [cli, '/x'], { env: { ...process.env, IMAGE_SERVICE_SIGNING_KEYS: '' } })).rejects.toMatchObject({ code: 2 });
  });
});
