import { describe, expect, it } from 'vitest';
import { HttpError } from './errors.ts';
import { normalizeParams, parseKey, parseParams } from './params.ts';

function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('parseParams', () => {
  it('means "the original" when there are no parameters', () => {
    expect(parseParams('')).toBeNull();
    expect(parseParams('&')).toBeNull();
  });

  it('applies defaults and reads every parameter', () => {
    expect(parseParams('w=640')).toEqual({ w: 640, fit: 'inside', q: 80, fm: 'auto' });
    expect(parseParams('w=1&h=8192&fit=cover&q=100&fm=webp')).toEqual({ w: 1, h: 8192, fit: 'cover', q: 100, fm: 'webp' });
    for (const fit of ['cover', 'contain', 'fill', 'inside', 'outside']) expect(parseParams(`fit=${fit}`)?.fit).toBe(fit);
    for (const fm of ['auto', 'jpeg', 'png', 'webp', 'avif']) expect(parseParams(`fm=${fm}`)?.fm).toBe(fm);
    expect(parseParams('q=1')?.q).toBe(1);
  });

  it.each([
    ['w=0', 'w'],
    ['w=8193', 'w'],
    ['w=-5', 'w'],
    ['w=1.5', 'w'],
    ['w=abc', 'w'],
    ['w=', 'w'],
    ['w=1e3', 'w'],
    ['w=99999999999', 'w'],
    ['h=0', 'h'],
    ['h=9000', 'h'],
    ['q=0', 'q'],
    ['q=101', 'q'],
    ['q=high', 'q'],
    ['fit=stretch', 'fit'],
    ['fit=', 'fit'],
    ['fm=gif', 'fm'],
    ['fm=JPEG', 'fm'],
    ['width=100', 'width'],
    ['w=1&w=2', 'w'],
    ['w=10&bogus=1', 'bogus'],
  ])('refuses %j with a 400 naming %j', (query, name) => {
    const error = refusal(() => parseParams(query));
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_parameter');
    expect(error.message).toContain(name);
  });

  it('normalizes equal requests to equal text', () => {
    expect(normalizeParams(parseParams('fit=inside&w=10')!)).toBe(normalizeParams(parseParams('w=10&q=80')!));
    expect(normalizeParams(parseParams('w=10')!)).not.toBe(normalizeParams(parseParams('w=10&q=81')!));
  });
});

describe('parseKey', () => {
  it.each([
    ['cat.jpg', 'cat.jpg'],
    ['a/b/c.png', 'a/b/c.png'],
    ['with%20space.jpg', 'with space.jpg'],
    ['caf%C3%A9.jpg', 'café.jpg'],
    ['..foo/x..y.jpg', '..foo/x..y.jpg'],
    ['a'.repeat(1024), 'a'.repeat(1024)],
  ])('accepts %j as %j', (raw, key) => {
    expect(parseKey(raw)).toBe(key);
  });

  it.each([
    '',
    '..',
    '../etc/passwd',
    'a/../../etc/passwd',
    'a/..',
    './a',
    '%2e%2e/etc/passwd',
    '%2E%2E%2fetc',
    'a%2fb',
    'a%2Fb',
    'a%5cb',
    'a\\..\\b',
    '/etc/passwd',
    '%2fetc/passwd',
    'a//b',
    'a/',
    'a%00.jpg',
    'a\u0000b',
    'a%0d%0aX: y',
    '%E0%A4%A',
    'a'.repeat(1025),
    'é'.repeat(513),
  ])('refuses %j with a 400', (raw) => {
    const error = refusal(() => parseKey(raw));
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_key');
  });
});
